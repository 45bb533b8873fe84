"""Adapter for environments written against the old gymnax API (gymnax < 1.0).

Old gymnax envs return a 5-tuple `(obs, state, reward, done, info)` whose single `done`
merges natural termination with the time limit, and their auto-reset overwrites the
last observation. `LegacyGymnaxAdapter` calls the old env's `step_env`/`reset_env`
itself, so it can keep the true final observation, and splits `done` into
`terminated = done & ~truncated` and `truncated = time >= max_steps_in_episode`.
A step that both terminates and hits the time limit is reported as truncated: the old
API does not say which came first.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from gymnax.environments import environment


class LegacyGymnaxAdapter(environment.Environment):
    """Presents an old-API gymnax env through the gymnax >= 1.0 contract."""

    def __init__(self, legacy_env: Any):
        super().__init__()
        self.legacy_env = legacy_env

    @property
    def default_params(self) -> Any:
        return self.legacy_env.default_params

    @property
    def name(self) -> str:
        return f"Legacy({self.legacy_env.name})"

    def step_env(self, key: jax.Array, state: Any, action: Any, params: Any):
        obs, state, reward, done, info = self.legacy_env.step_env(key, state, action, params)
        truncated = self.is_truncated(state, params)
        terminated = jnp.logical_and(done, jnp.logical_not(truncated))
        info = {k: v for k, v in info.items() if k != "discount"}
        return obs, state, reward, terminated, info

    def reset_env(self, key: jax.Array, params: Any):
        return self.legacy_env.reset_env(key, params)

    def action_space(self, params: Any = None):
        return self.legacy_env.action_space(params)

    def observation_space(self, params: Any):
        return self.legacy_env.observation_space(params)

    @property
    def num_actions(self) -> int:
        return self.legacy_env.num_actions
