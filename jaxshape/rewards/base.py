"""The reward-transform interface (DESIGN.md, "Reward transforms").

A `RewardTransform` is three pure functions, in the way an optax transformation is
`init`/`update`:

    init(key, example_transition) -> state
    apply(state, transition, hparams) -> (rewards, state)   # every rollout step
    update(state, batch, key, hparams) -> (state, metrics)  # once per training update

`rewards` is a dict of named streams, each shaped like `transition.reward`. A learner
optimises the coefficient-weighted sum of the streams; the coefficients and every other
number a transform reads come from `hparams`, a pytree of traced leaves, so sweeping
them under `jax.vmap` never recompiles.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp

from jaxshape.types import Transition

Rewards = dict[str, jax.Array]

POLICY_INVARIANT = "policy-invariant"
POSITIVE_SCALE = "positive-scale"
NOT_INVARIANT = "none"


@dataclasses.dataclass(frozen=True, eq=False)
class RewardTransform:
    """A pure, stateful reward transformation.

    Attributes:
      init, apply, update: the three pure functions above.
      streams: names of the reward streams `apply` returns.
      default_hparams: the transform's own traced hyperparameters (a pytree).
      invariance: which reward changes the transform preserves the optimal policy
        under: `POLICY_INVARIANT`, `POSITIVE_SCALE` or `NOT_INVARIANT`.
    """

    init: Callable[[jax.Array, Transition], Any]
    apply: Callable[[Any, Transition, Any], tuple[Rewards, Any]]
    update: Callable[[Any, Transition, jax.Array, Any], tuple[Any, dict[str, jax.Array]]]
    streams: tuple[str, ...]
    default_hparams: Any = dataclasses.field(default_factory=dict)
    invariance: str = POLICY_INVARIANT


def no_update(state: Any, batch: Transition, key: jax.Array, hparams: Any):
    """`update` for transforms that learn nothing."""
    del batch, key, hparams
    return state, {}


def identity() -> RewardTransform:
    """Pass the environment's reward through as the `extrinsic` stream."""

    def init(key, example):
        del key, example
        return ()

    def apply(state, transition, hparams):
        del hparams
        return {"extrinsic": transition.reward}, state

    return RewardTransform(init, apply, no_update, streams=("extrinsic",))


def weighted_sum(rewards: Rewards, coefs: dict[str, jax.Array]) -> jax.Array:
    """Σ_k coef_k · r_k over the named streams."""
    return sum(jnp.asarray(coefs[name], jnp.float32) * r for name, r in sorted(rewards.items()))
