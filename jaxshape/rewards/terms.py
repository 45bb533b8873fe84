"""Your own reward term in one line: `term(name, fn)` turns `fn(transition, hparams)`
into a named reward stream.

    upright = rewards.term("upright", lambda t, hp: -jnp.abs(t.next_obs[:, 2]), coef=0.1)

The stream is logged as `reward/upright`, weighted by the traced coefficient
`reward_coefs["upright"]` in the learner's sum, and reads its own traced numbers from
`hparams` (given as `hparams={"scale": 1.0}`, swept as `reward.upright.scale`). A term
keeps no state; for one that does (episodic state reset where an episode ends, a
persistent part trained in `update`), build a `RewardTransform` from `init`, `apply_fn`
and `update` (README, "Write your own transform").
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from jaxshape.errors import ConfigError
from jaxshape.rewards.base import NOT_INVARIANT, RewardTransform, Stream, no_state, no_update
from jaxshape.types import Transition


def term(
    name: str,
    fn: Callable[[Transition, Any], jax.Array],
    coef: float = 1.0,
    episodic: bool = True,
    gamma: float | None = None,
    hparams: dict[str, float] | None = None,
) -> RewardTransform:
    """A stateless stream `name` with r = fn(transition, hparams), one value per env.

    Args:
      name: the stream's name (its key in the rewards dict, metrics and `reward_coefs`).
      fn: `(transition, hparams) -> [num_envs]`; `transition.next_obs` is the true next
        observation, `transition.info` the env's step info.
      coef: default weight in the learner's sum (a traced hyperparameter).
      episodic: False for a stream that must not be cut at episode ends (its own value
        head / critic head, discounted by `gamma`).
      hparams: the term's own traced numbers, passed to `fn`.
    """
    if not name.isidentifier():
        raise ConfigError(f"term name {name!r} must be an identifier (it names a stream and a hyperparameter)")

    def apply_fn(state, transition: Transition, rewards, hp):
        value = fn(transition, hp)
        if jnp.shape(value) != jnp.shape(transition.reward):
            raise ConfigError(f"term {name!r} returned shape {jnp.shape(value)}; it must return one value per env, "
                              f"shape {jnp.shape(transition.reward)}")
        return {**rewards, name: jnp.asarray(value, jnp.float32)}, state

    return RewardTransform(no_state, apply_fn, no_update, streams=(Stream(name, coef, episodic, gamma),),
                           default_hparams=dict(hparams or {}), invariance=NOT_INVARIANT, name=name)


def effort(coef: float = 1.0) -> RewardTransform:
    """The stream `effort`, r = −‖a‖² of the env action (continuous actions): the usual
    energy or control cost, weighted by the traced `reward_coefs["effort"]`, so its weight
    can be swept or conditioned on (`--condition reward_coefs.effort=0:1`)."""

    def cost(transition: Transition, hp: Any) -> jax.Array:
        del hp
        action = jnp.asarray(transition.action, jnp.float32)
        return -jnp.sum(jnp.square(action).reshape(action.shape[0], -1), axis=-1)

    return term("effort", cost, coef=coef)
