"""Batches of envs: the vmapped `reset`/`step` every learner runs, and the step info an
env adds beyond the contract's own fields."""

from __future__ import annotations

from typing import Any

import jax

CONTRACT_INFO = ("final_observation", "terminated", "truncated", "discount")


def reset_batch(env: Any, params: Any, keys: jax.Array):
    """`env.reset` for one key per env: (obs [N, ...], states)."""
    return jax.vmap(env.reset, in_axes=(0, None))(keys, params)


def step_batch(env: Any, params: Any, keys: jax.Array, states: Any, actions: jax.Array):
    """`env.step` for one key, state and action per env."""
    return jax.vmap(env.step, in_axes=(0, 0, 0, None))(keys, states, actions, params)


def own_info(info: dict[str, Any]) -> dict[str, Any]:
    """The env's own step info, without the fields the contract already records."""
    return {k: v for k, v in info.items() if k not in CONTRACT_INFO}
