"""Learners by name, imported lazily (the CLI and run job look them up here)."""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable

from jaxshape.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class AlgorithmSpec:
    """Where a learner lives: its module and the names of its parts in it."""

    module: str
    config: str
    hparams: str
    make: str
    default_hparams: str = "default_hparams"

    def load(self, attr: str) -> Any:
        return getattr(importlib.import_module(self.module), getattr(self, attr))


ALGORITHMS: dict[str, AlgorithmSpec] = {
    "ppo": AlgorithmSpec("jaxshape.algos.ppo", "PPOConfig", "PPOHParams", "make_ppo"),
    "sac": AlgorithmSpec("jaxshape.algos.sac", "SACConfig", "SACHParams", "make_sac"),
}


def get(name: str) -> AlgorithmSpec:
    if name not in ALGORITHMS:
        raise ConfigError(f"unknown algo {name!r}: choose one of {', '.join(sorted(ALGORITHMS))}")
    return ALGORITHMS[name]


def builders(name: str) -> tuple[type, type, Callable, Callable]:
    """(Config class, HParams class, make function, default_hparams function)."""
    spec = get(name)
    return spec.load("config"), spec.load("hparams"), spec.load("make"), spec.load("default_hparams")
