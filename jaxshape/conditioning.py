"""One agent for a coefficient sweep: reward coefficients sampled per episode.

A conditioned learner (`PPOConfig(condition=(("reward_coefs.effort", 0.0, 1.0),))`, or
`jaxshape train --condition reward_coefs.effort=0:1`) draws each conditioned reward
coefficient per env, uniformly in [lo, hi], when an episode starts, keeps it for the
whole episode, weights that env's rewards with it, and shows it to actor and critic
(normalised to [0, 1] over its range). One agent then stands in for a sweep over the
range: evaluated at a coefficient c, it plays the policy it learned for reward weights c
(Universal Value Function Approximators, Schaul et al. 2015; conditioned multi-objective
agents, Abels et al. 2019). The draw is uniform, not log-uniform, so a range that spans
decades spends most episodes near its top; give the range you mean to compare within.

Names are the dotted hyperparameter paths of `jaxshape sweep --grid` and must be reward
coefficients (`reward_coefs.<stream>`). Training ignores a conditioned coefficient's value
in the hparams; greedy evaluation feeds it (`jaxshape train` sets it to the middle of the
range, `jaxshape eval --set` to the value asked for).
"""

from __future__ import annotations

import argparse
from typing import Any, Sequence

import jax
import jax.numpy as jnp

from jaxshape import draws
from jaxshape.errors import ConfigError

Condition = tuple[tuple[str, float, float], ...]  # (hparam path, lo, hi) per conditioned coefficient
PREFIX = "reward_coefs."


def parse_condition(text: str) -> tuple[str, float, float]:
    """`NAME=LO:HI` (a `--condition` flag) as (name, lo, hi)."""
    name, _, bounds = text.partition("=")
    lo, sep, hi = bounds.partition(":")
    try:
        if not (name and sep):
            raise ValueError
        return name.strip(), float(lo), float(hi)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=LO:HI like reward_coefs.effort=0:1, got {text!r}") from None


def as_condition(items: Sequence[Sequence[Any]]) -> Condition:
    """A hashable condition from any sequence of (name, lo, hi) (config.json holds lists)."""
    return tuple((str(name), float(lo), float(hi)) for name, lo, hi in items)


def check(condition: Condition, streams: Sequence[str]) -> None:
    """One-line ConfigError for a name that is not a stream's coefficient, a name given
    twice, or an empty or inverted range."""
    valid = [PREFIX + s for s in streams]
    names = [name for name, _, _ in condition]
    for name, lo, hi in condition:
        if name not in valid:
            raise ConfigError(f"cannot condition on {name!r}: conditioning takes reward coefficients, choose from "
                              f"{', '.join(valid)} (add the stream with --reward)")
        if not lo < hi:
            raise ConfigError(f"condition {name}={lo:g}:{hi:g} is an empty or inverted range: give LO < HI")
    if len(set(names)) != len(names):
        raise ConfigError(f"a coefficient is conditioned twice in {names}")


def sample(key: jax.Array, condition: Condition, num_envs: int) -> jax.Array:
    """Coefficients [num_envs, K], each uniform in its [lo, hi]."""
    lo, hi = bounds(condition)
    return lo + (hi - lo) * draws.uniform(key, (num_envs, len(condition)))


def resample(key: jax.Array, condition: Condition, coefs: jax.Array, done: jax.Array) -> jax.Array:
    """`coefs` [N, K] with fresh draws in the envs whose episode ended (`done` [N])."""
    return jnp.where(done[:, None], sample(key, condition, coefs.shape[0]), coefs)


def bounds(condition: Condition) -> tuple[jax.Array, jax.Array]:
    return (jnp.asarray([lo for _, lo, _ in condition], jnp.float32),
            jnp.asarray([hi for _, _, hi in condition], jnp.float32))


def normalized(condition: Condition, coefs: jax.Array) -> jax.Array:
    """Coefficients mapped to [0, 1] over their ranges: what the networks see."""
    lo, hi = bounds(condition)
    return (coefs - lo) / (hi - lo)


def from_hparams(condition: Condition, reward_coefs: dict[str, jax.Array]) -> jax.Array:
    """The conditioned coefficients' hparam values as a [K] vector (what evaluation feeds)."""
    return jnp.stack([jnp.asarray(reward_coefs[name[len(PREFIX):]], jnp.float32) for name, _, _ in condition])


def middle(condition: Condition) -> dict[str, float]:
    """Each conditioned coefficient's stream name -> the middle of its range."""
    return {name[len(PREFIX):]: (lo + hi) / 2 for name, lo, hi in condition}


def reward_coefs(condition: Condition, reward_coefs: dict[str, jax.Array], coefs: jax.Array) -> dict[str, jax.Array]:
    """`reward_coefs` with each conditioned coefficient replaced by its per-env (and per-step)
    values `coefs[..., k]`, which broadcast against the streams' [T, N] rewards."""
    return {**reward_coefs, **{name[len(PREFIX):]: coefs[..., k] for k, (name, _, _) in enumerate(condition)}}
