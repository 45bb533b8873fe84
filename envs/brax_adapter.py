"""Brax environments under the gymnax >= 1.0 contract.

Brax's `EpisodeWrapper` counts steps and raises its own `truncation` flag at the
episode length; `BraxEnv` reports it apart from termination
(`terminated = done & ~truncation`) and auto-resets with a *fresh random* reset at every
episode end. (Brax's training `AutoResetWrapper` instead restores a cached first
state, so every episode of an env would start identically.)
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import spaces

from jaxshape.envs.vector import reset_where_ended


@struct.dataclass
class BraxParams:
    """Brax envs take no runtime parameters; the episode length is static."""


@struct.dataclass
class BraxEnvState:
    brax_state: Any


class BraxEnv:
    """`brax.envs.get_environment(name)` with truncation and fresh resets."""

    def __init__(self, name: str, episode_length: int = 1000, action_repeat: int = 1, **kwargs: Any):
        from brax import envs as brax_envs
        from brax.envs.wrappers.training import EpisodeWrapper

        self.brax_name = name
        self.episode_length = episode_length
        self._env = EpisodeWrapper(brax_envs.get_environment(name, **kwargs), episode_length, action_repeat)

    @property
    def name(self) -> str:
        return f"brax/{self.brax_name}"

    @property
    def default_params(self) -> BraxParams:
        return BraxParams()

    def reset(self, key: jax.Array, params: BraxParams | None = None):
        state = self._env.reset(key)
        return state.obs, BraxEnvState(state)

    def step(self, key: jax.Array, state: BraxEnvState, action: jax.Array, params: BraxParams | None = None):
        """`step_without_reset`, then a fresh reset (on `key`) where the episode ended."""
        return reset_where_ended(self, self.step_without_reset(key, state, action, params), key, params)

    def step_without_reset(self, key: jax.Array, state: BraxEnvState, action: jax.Array,
                           params: BraxParams | None = None):
        """One brax step and its flags, the state left where the episode ended (for
        evaluation, which stops counting an env there). `key` is unused: brax steps are
        deterministic."""
        del key, params
        stepped = self._env.step(state.brax_state, action)
        truncated = stepped.info["truncation"] > 0.5
        terminated = jnp.logical_and(stepped.done > 0.5, jnp.logical_not(truncated))
        info = {"final_observation": stepped.obs, "terminated": terminated, "truncated": truncated}
        return stepped.obs, BraxEnvState(stepped), stepped.reward, terminated, truncated, info

    def action_space(self, params: Any = None) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (self._env.action_size,), jnp.float32)

    def observation_space(self, params: Any = None) -> spaces.Box:
        return spaces.Box(-jnp.inf, jnp.inf, (self._env.observation_size,), jnp.float32)
