"""The `jaxshape` command.

    jaxshape train [--algo ppo] [--env CartPole-v1] [--total-steps N] [--num-seeds S] ...

Every field of the algorithm's static config and every scalar hyperparameter is a flag
of its own (`--num-minibatches`, `--learning-rate`, ...), generated from the dataclasses
so the CLI never falls behind them. Bad input prints one line naming the fix and exits
with status 2 before anything compiles.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing
from typing import Any, Sequence

from jaxshape.errors import ConfigError

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line."""

    def error(self, message: str) -> typing.NoReturn:
        raise ConfigError(f"{message} (see `{self.prog} --help`)")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _field_type(field: dataclasses.Field, default: Any) -> Any:
    hint = field.type if not isinstance(field.type, str) else None
    return type(default) if hint is None else hint


def _int_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 64,64, got {text!r}") from None


def _add_dataclass_flags(group: argparse._ArgumentGroup, cls: type, skip: set[str]) -> None:
    """One flag per field whose default is a bool, int, float, str or tuple of ints."""
    instance = cls()
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        default = getattr(instance, field.name)
        if isinstance(default, bool):
            group.add_argument(_flag(field.name), action=argparse.BooleanOptionalAction, default=None,
                               help=f"(default: {default})")
        elif isinstance(default, (int, float, str)):
            group.add_argument(_flag(field.name), type=type(default), default=None, metavar=type(default).__name__.upper(),
                               help=f"(default: {default})")
        elif isinstance(default, tuple):
            group.add_argument(_flag(field.name), type=_int_tuple, default=None, metavar="W,W",
                               help=f"(default: {','.join(map(str, default))})")


def _given(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in vars(args).items() if k in names and v is not None}


def _train_parser(algo: str) -> argparse.ArgumentParser:
    from jaxshape import algorithms

    config_cls, hparams_cls, _, _ = algorithms.builders(algo)
    parser = _Parser(prog="jaxshape train", description=f"Train {algo.upper()} and write a run folder.")
    run = parser.add_argument_group("run")
    run.add_argument("--algo", default="ppo", help=f"one of {', '.join(sorted(algorithms.ALGORITHMS))} (default: ppo)")
    run.add_argument("--seed", type=int, default=0, help="(default: 0)")
    run.add_argument("--num-seeds", type=int, default=1, help="seeds trained in one vmapped call (default: 1)")
    run.add_argument("--out", default=None, help="run folder (default: runs/<env>-<algo>-<time>)")
    run.add_argument("--chunk-updates", type=int, default=None,
                     help="updates per compiled chunk between progress reports (default: about 1/20 of the run)")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _add_dataclass_flags(parser.add_argument_group(f"{algo} settings (static)"), config_cls, skip=set())
    _add_dataclass_flags(parser.add_argument_group(f"{algo} hyperparameters (traced)"), hparams_cls,
                         skip={"reward", "reward_coefs"})
    return parser


def _train(argv: Sequence[str]) -> int:
    from jaxshape import algorithms, job

    pre = _Parser(prog="jaxshape train", add_help=False)
    pre.add_argument("--algo", default="ppo")
    algo = pre.parse_known_args(argv)[0].algo
    config_cls, hparams_cls, make, default_hparams = algorithms.builders(algo)
    args = _train_parser(algo).parse_args(argv)

    config = config_cls(**_given(args, config_cls))
    learner = make(config)  # validates config and env before compiling
    hparams = default_hparams(**_given(args, hparams_cls))
    summary = job.train(algo, learner, hparams, seed=args.seed, num_seeds=args.num_seeds, out_dir=args.out,
                        chunk_updates=args.chunk_updates, progress=not args.no_progress)
    _print_summary(summary)
    return 0


def _print_summary(summary: dict[str, Any]) -> None:
    per_seed = ", ".join("n/a" if r is None else f"{r:.1f}" for r in summary["final_return_per_seed"])
    print(f"final return per seed: {per_seed}")
    print(f"steps/s (run only): {summary['steps_per_second']:,.0f}   compile: {summary['compile_seconds']:.1f} s"
          f"   run: {summary['run_seconds']:.1f} s")
    print(f"run folder: {summary['run_dir']}")


COMMANDS = {"train": _train}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: jaxshape {train} ...   (jaxshape train --help for its flags)")
        return 0 if argv else EXIT_BAD_INPUT
    command, rest = argv[0], argv[1:]
    try:
        if command not in COMMANDS:
            raise ConfigError(f"unknown command {command!r}: choose one of {', '.join(COMMANDS)}")
        return COMMANDS[command](rest)
    except ConfigError as err:
        print(f"jaxshape: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
