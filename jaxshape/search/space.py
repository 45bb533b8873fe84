"""What an evolution strategy searches: traced hyperparameters addressed by dotted paths
(`reward_coefs.effort`, `reward.shaping.scale`, `learning_rate`, or a vector such as the
weights of a parametric reward term, `reward.linear.weights`), each within a range.

The strategy works in the unit box: coordinate u of a parameter maps to

    value = low + clip(u, 0, 1) · (high − low)                 (linear range)
    value = low · (high / low) ** clip(u, 0, 1)                 (`log` range, low > 0)

so one step size suits every parameter whatever its scale, and a sample that leaves the
box trains at the nearest bound (the strategy still sees the unclipped sample). A vector
leaf of k entries takes k coordinates, each in the same range.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import jax
import numpy as np

from jaxshape.errors import ConfigError
from jaxshape.pytree import leaf_names


@dataclasses.dataclass(frozen=True)
class SearchParam:
    """One searched hyperparameter: its dotted path and range."""

    name: str
    low: float
    high: float
    log: bool = False

    def value(self, unit: np.ndarray) -> np.ndarray:
        u = np.clip(np.asarray(unit, np.float64), 0.0, 1.0)
        if self.log:
            return self.low * (self.high / self.low) ** u
        return self.low + u * (self.high - self.low)

    def unit(self, value: np.ndarray) -> np.ndarray:
        v = np.clip(np.asarray(value, np.float64), self.low, self.high)
        if self.log:
            return np.log(v / self.low) / np.log(self.high / self.low)
        return (v - self.low) / (self.high - self.low)

    def flag(self) -> str:
        return f"{self.name}={self.low:g}:{self.high:g}{':log' if self.log else ''}"


def parse_param(text: str) -> SearchParam:
    """`NAME=LOW:HIGH` or `NAME=LOW:HIGH:log` as a SearchParam (one-line error otherwise)."""
    name, sep, rest = text.partition("=")
    parts = rest.split(":")
    log = len(parts) == 3 and parts[2] == "log"
    if not sep or not name or len(parts) != 2 + log:
        raise ConfigError(f"--param expects NAME=LOW:HIGH or NAME=LOW:HIGH:log, got {text!r}")
    try:
        low, high = float(parts[0]), float(parts[1])
    except ValueError:
        raise ConfigError(f"--param {name}: {rest!r} are not numbers; write e.g. {name}=0:1") from None
    return checked_param(SearchParam(name, low, high, log))


def checked_param(param: SearchParam) -> SearchParam:
    if not (math.isfinite(param.low) and math.isfinite(param.high)) or not param.low < param.high:
        raise ConfigError(f"--param {param.name}: the range {param.low:g}:{param.high:g} is empty; "
                          f"give LOW < HIGH, e.g. {param.name}=0:1")
    if param.log and param.low <= 0:
        raise ConfigError(f"--param {param.name}: a log range needs LOW > 0, got {param.low:g}")
    return param


class SearchSpace:
    """The searched parameters laid out as one vector of unit coordinates."""

    def __init__(self, params: Sequence[SearchParam], base: Any, static: type | None = None):
        if not params:
            raise ConfigError("nothing to search: give at least one --param NAME=LOW:HIGH")
        names = [p.name for p in params]
        if duplicated := sorted({n for n in names if names.count(n) > 1}):
            raise ConfigError(f"--param {', '.join(duplicated)} is given twice: keep one range per parameter")
        leaves = dict(zip(leaf_names(base), jax.tree.leaves(base)))
        static_fields = {f.name for f in dataclasses.fields(static)} if static else set()
        self.params = tuple(params)
        self.shapes: dict[str, tuple[int, ...]] = {}
        for p in params:
            if p.name in static_fields:
                raise ConfigError(f"{p.name} is a static setting (changing it recompiles): set it with its flag; "
                                  f"searchable: {', '.join(leaves)}")
            if p.name not in leaves:
                raise ConfigError(f"unknown hyperparameter {p.name!r}: choose from {', '.join(leaves)}")
            leaf = np.asarray(leaves[p.name])
            if not np.issubdtype(leaf.dtype, np.floating) or leaf.ndim > 1:
                raise ConfigError(f"{p.name} is not a continuous scalar or vector hyperparameter; search those")
            self.shapes[p.name] = leaf.shape
        self.base = base
        self._base_values = {p.name: np.asarray(leaves[p.name], np.float64) for p in params}

    @property
    def num_dims(self) -> int:
        return sum(int(np.prod(s, dtype=int)) for s in self.shapes.values())

    def initial_unit(self) -> np.ndarray:
        """The start of the search: each parameter's base value where it lies in its range,
        else the middle of the range."""
        parts = []
        for p in self.params:
            v = np.broadcast_to(self._base_values[p.name], self.shapes[p.name]).ravel()
            inside = (v >= p.low) & (v <= p.high)
            parts.append(np.where(inside, p.unit(v), 0.5))
        return np.concatenate(parts).astype(np.float32)

    def values(self, unit: np.ndarray) -> dict[str, float | list[float]]:
        """Unit coordinates [D] -> {name: value} (scalars as floats, vectors as lists)."""
        unit, out, at = np.asarray(unit, np.float64), {}, 0
        for p in self.params:
            size = int(np.prod(self.shapes[p.name], dtype=int))
            v = p.value(unit[at:at + size])
            out[p.name] = float(v[0]) if self.shapes[p.name] == () else v.tolist()
            at += size
        return out
