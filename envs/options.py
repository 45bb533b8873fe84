"""The domains env options must lie in, checked before an env is built with them.

An option that sets a field of the env's params takes the field's type (an int field
takes an integer that fits int32, a float field a finite number, a bool field True or
False); by its name, a length, step count, interval or size is positive, and so is a
time step or a mass (`dt`, `tau`, `masspole`). A constructor option (brax's
`episode_length`) has no default to read a type from: its name alone decides, and any
float it carries must be finite. An option outside its domain is one `ConfigError` line
naming the option, the value and what it may be: a negative time limit or a NaN physics
constant would otherwise train without a word.
"""

from __future__ import annotations

import math
import re
from typing import Any

from jaxshape.errors import ConfigError

_COUNT = re.compile(r"(^|_)(steps|timesteps|length|interval|num|count|size|horizon)(_|$)")
_SCALE = re.compile(r"(^|_)(dt|tau)(_|$)|^mass")
INT32_MAX = 2**31 - 1
_NO_DEFAULT = object()


def _kind(key: str, default: Any) -> type | None:
    """The type an option's value must have: its field's, else its name's (None: any)."""
    for kind in (bool, int, float):  # bool before int: True is an int too
        if isinstance(default, kind):
            return kind
    if default is _NO_DEFAULT:
        if _COUNT.search(key):
            return int
        if _SCALE.search(key):
            return float
    return None


def _allowed(kind: type | None, positive: bool) -> str:
    if kind is bool:
        return "True or False"
    if kind is int:
        return "a positive integer below 2**31" if positive else "an integer below 2**31"
    return f"a finite {'positive ' if positive else ''}number"


def _fits(value: Any, kind: type | None, positive: bool) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int and not (isinstance(value, int) and number and abs(value) <= INT32_MAX):
        return False
    if kind is float and not number:
        return False
    if number and not math.isfinite(value):
        return False
    return not (positive and number and value <= 0)


def check_option(env: str, key: str, value: Any, default: Any = _NO_DEFAULT) -> None:
    """Raise ConfigError (one line) unless `value` lies in option `key`'s domain;
    `default` is the params field's default value, if the option sets one."""
    kind = _kind(key, default)
    positive = kind in (int, float) and bool(_COUNT.search(key) or _SCALE.search(key))
    if not _fits(value, kind, positive):
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise ConfigError(f"env option {key}={shown} for {env} is out of its domain: give "
                          f"{_allowed(kind, positive)}")
