"""`key=value, key=value` text as a dict: a reward term's arguments (`count(beta=0.05)`)
and an env's options (`--env-options max_steps_in_episode=200`) are read the same way."""

from __future__ import annotations

import ast
import re
from typing import Any, Callable

from jaxshape.errors import ConfigError

_SEPARATOR = re.compile(r",(?![^()]*\))")  # a comma outside parentheses


def literal(text: str) -> Any:
    """A Python literal (200, 0.5, True, (1, 2); a list becomes a tuple) or, failing
    that, the bare word as a string."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):  # TypeError: {[]: 1}
        return text.strip()
    return tuple(value) if isinstance(value, list) else value


def parse_key_values(text: str, bad: Callable[[str], str]) -> dict[str, Any]:
    """The `key=value` pairs of `text`; a part that is not one raises ConfigError with the
    line `bad(part)`."""
    pairs: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in _SEPARATOR.split(text))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ConfigError(bad(part))
        pairs[key.strip()] = literal(value)
    return pairs
