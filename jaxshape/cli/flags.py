"""Flags the commands share: one per field of a settings dataclass (the algorithm's
static config, its traced hyperparameters, the job's options), generated from the
dataclasses so the CLI never falls behind them, and a parser whose usage errors are
one line (the CLI turns them into exit status 2)."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any

from jaxshape.errors import ConfigError


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line."""

    def error(self, message: str) -> typing.NoReturn:
        raise ConfigError(f"{message} (see `{self.prog} --help`)")


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def int_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 64,64, got {text!r}") from None


def add_dataclass_flags(group: argparse._ArgumentGroup, cls: type, skip: frozenset[str] = frozenset()) -> None:
    """One flag per field whose default is a bool, int, float, str or tuple of ints (or
    None with a "type" in the field's metadata; a field with a "parse" function in its
    metadata is a repeatable flag whose values it parses); "help" in the metadata is shown,
    "choices" restricts the values."""
    instance = cls()
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        default = getattr(instance, field.name)
        note = field.metadata.get("help", "")
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        text = f"{note} (default: {shown})" if note else f"(default: {shown})"
        if isinstance(default, bool):
            group.add_argument(flag(field.name), action=argparse.BooleanOptionalAction, default=None, help=text)
        elif isinstance(default, (int, float, str)) or (default is None and "type" in field.metadata):
            kind = field.metadata.get("type", type(default))
            choices = field.metadata.get("choices")
            group.add_argument(flag(field.name), type=kind, default=None, choices=choices,
                               metavar="{" + ",".join(choices) + "}" if choices else kind.__name__.upper(), help=text)
        elif "parse" in field.metadata:  # a repeatable flag, each value parsed on its own
            group.add_argument(flag(field.name), type=field.metadata["parse"], action="append", default=None,
                               metavar=field.metadata.get("metavar"), help=text)
        elif isinstance(default, tuple):
            group.add_argument(flag(field.name), type=int_tuple, default=None, metavar="W,W", help=text)


def given(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The flags of `cls`'s fields that were given on the command line."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in vars(args).items() if k in names and v is not None}


def add_compile_cache_flag(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--compile-cache", action=argparse.BooleanOptionalAction, default=True,
                       help="keep compiled programs on disk so the next run with these settings starts at once "
                            "(default: on; JAXSHAPE_COMPILE_CACHE=0 turns it off, or names the folder)")


def configure_compile_cache(args: argparse.Namespace) -> None:
    from jaxshape.run import compile_cache

    compile_cache.configure(enabled=args.compile_cache)
