"""Craftax (the `craftax` extra) under the gymnax >= 1.0 contract.

Names are craftax's own: `Craftax-Classic-Symbolic-v1`, `Craftax-Symbolic-v1` and their
`-Pixels-` versions. `CraftaxEnv` wraps craftax's *non-resetting* env (its `step_env` and
`reset_env`) and adds what the contract asks for:

- craftax ends an episode with one `done` (`is_game_over`: time limit, death, lava, and
  in Craftax the beaten boss). Here the time limit (`params.max_timesteps`) is
  `truncated`, every other end `terminated`; a step that is both is a termination
  (`terminated` = craftax's own check with the time limit lifted).
- where an episode ends the env auto-resets with a FRESH random reset (`reset_env` on
  this step's key), and `info["final_observation"]` is the observation it ended on.
  Batched (`envs.step_batch`), only the envs whose episode ended generate a world.
- `info["reward_terms"]`: the step's reward split into named streams,
  {achievement name (craftax's `Achievement` enum, lower_snake_case): its reward
  (1 in Classic, craftax's `ACHIEVEMENT_REWARD_MAP` weight in Craftax) on the step it is
  first unlocked, else 0; "health": 0.1 × change in health}. The values sum to the
  step's reward (tests/test_craftax_env.py checks it).
- `info["achievements"]`: bool per achievement (by enum value), unlocked in the
  episode so far, the ending step included (read before the reset).

`make(name, **kwargs)` takes craftax's `EnvParams` fields (the env's `default_params`,
e.g. `max_timesteps=1000`) and `StaticEnvParams` fields (static shapes, e.g. `map_size`).
The `-Pixels-` envs give (H, W, 3) images; on their first use craftax renders its textures
once (tens of seconds on a CPU) and caches them inside its own installed package.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from typing import Any

import jax
import jax.numpy as jnp
from gymnax.environments import spaces

from jaxshape.envs.vector import reset_where_ended
from jaxshape.errors import ConfigError

NAMES = ("Craftax-Classic-Symbolic-v1", "Craftax-Symbolic-v1", "Craftax-Classic-Pixels-v1", "Craftax-Pixels-v1")


def names() -> list[str]:
    """The craftax env names `make` accepts; empty when craftax is not installed."""
    return list(NAMES) if importlib.util.find_spec("craftax") is not None else []


def make(name: str, **kwargs: Any) -> "CraftaxEnv":
    """`CraftaxEnv(name, **kwargs)`."""
    return CraftaxEnv(name, **kwargs)


def _achievements_and_weights(classic: bool) -> tuple[tuple[str, int], ...]:
    """(term name, index into `state.achievements`) per achievement, and its reward weight."""
    if classic:
        from craftax.craftax_classic.constants import Achievement

        weights = jnp.ones((len(Achievement),), jnp.float32)
    else:
        from craftax.craftax.constants import ACHIEVEMENT_REWARD_MAP, Achievement

        weights = jnp.asarray(ACHIEVEMENT_REWARD_MAP, jnp.float32)
    order = tuple(sorted(((a.name.lower(), a.value) for a in Achievement), key=lambda pair: pair[1]))
    return order, weights


def _space(space: Any) -> Any:
    """A craftax space as the gymnax space of the same kind."""
    if hasattr(space, "n"):
        return spaces.Discrete(int(space.n))
    return spaces.Box(space.low, space.high, tuple(space.shape), space.dtype)


def _second_half(key: jax.Array) -> jax.Array:
    """The second of two keys split from `key`: the reset's half of a step's key."""
    return jax.random.split(key)[1]


class CraftaxEnv:
    """A craftax env with truncation, fresh resets and per-achievement reward terms."""

    def __init__(self, name: str, **kwargs: Any):
        if name not in NAMES:
            raise ConfigError(f"unknown craftax env {name!r}: choose one of {', '.join(NAMES)}")
        from craftax.craftax_env import make_craftax_env_from_name

        base = make_craftax_env_from_name(name, auto_reset=False)
        runtime = {f.name for f in dataclasses.fields(type(base.default_params))}
        static = {f.name for f in dataclasses.fields(type(base.static_env_params))}
        unknown = sorted(set(kwargs) - runtime - static)
        if unknown:
            raise ConfigError(f"{name} takes no option {', '.join(unknown)}: its options are craftax's EnvParams "
                              f"({', '.join(sorted(runtime))}) and StaticEnvParams ({', '.join(sorted(static))})")
        static_kwargs = {k: v for k, v in kwargs.items() if k in static}
        if static_kwargs:
            base = type(base)(base.static_env_params.replace(**static_kwargs))
        self.craftax_env = base  # craftax's own non-resetting env (its step_env, reset_env, get_obs)
        self._name = name
        self._params = base.default_params.replace(**{k: v for k, v in kwargs.items() if k in runtime})
        self.classic = "Classic" in name
        self.achievement_names, self._weights = _achievements_and_weights(self.classic)

    @property
    def name(self) -> str:
        return self._name

    @property
    def default_params(self) -> Any:
        return self._params

    @property
    def num_actions(self) -> int:
        return int(self.craftax_env.num_actions)

    def reset(self, key: jax.Array, params: Any = None):
        params = self._params if params is None else params
        obs, state = self.craftax_env.reset_env(key, params)
        # strong dtypes (craftax's world generation leaves some Python-int fields weakly typed):
        # the state `step` returns has the same types, so a scan carrying it compiles once
        return obs, jax.tree.map(lambda x: jax.lax.convert_element_type(x, jnp.result_type(x)), state)

    def reward_terms(self, before: Any, after: Any) -> dict[str, jax.Array]:
        """The step `before -> after`'s reward as named terms (they sum to craftax's reward)."""
        unlocked = after.achievements.astype(jnp.float32) - before.achievements.astype(jnp.float32)
        per_achievement = unlocked * self._weights
        terms = {term: per_achievement[index] for term, index in self.achievement_names}
        terms["health"] = ((after.player_health - before.player_health) * 0.1).astype(jnp.float32)
        return terms

    def _terminated(self, state: Any, params: Any) -> jax.Array:
        """craftax's own end-of-episode check with the time limit lifted: death, lava, the boss."""
        return self.craftax_env.is_terminal(state, params.replace(max_timesteps=jnp.iinfo(jnp.int32).max))

    def step(self, key: jax.Array, state: Any, action: jax.Array, params: Any = None):
        """`step_without_reset`, then a fresh reset where the episode ended (the step
        and the reset each take one half of `key`; `reset_key` is the second)."""
        params = self._params if params is None else params
        return reset_where_ended(self, self.step_without_reset(key, state, action, params), _second_half(key), params)

    # The key of `step`'s reset. Defining it lets `envs.step_batch` reset only the envs whose
    # episode ended (one world generated per ended episode, not per env); without it (as
    # experiments/bench_craftax_resets.py sets for comparison) every env's step resets.
    reset_key = staticmethod(_second_half)

    def step_without_reset(self, key: jax.Array, state: Any, action: jax.Array, params: Any = None):
        """One craftax step and its flags, the state left where the episode ended (for
        evaluation, which stops counting an env there: no world is generated)."""
        params = self._params if params is None else params
        key_step, _ = jax.random.split(key)
        obs, stepped, reward, _, _ = self.craftax_env.step_env(key_step, state, action, params)
        terminated = jnp.asarray(self._terminated(stepped, params), bool)
        truncated = jnp.logical_and(stepped.timestep >= params.max_timesteps, jnp.logical_not(terminated))
        info = {"final_observation": obs, "terminated": terminated, "truncated": truncated,
                "reward_terms": self.reward_terms(state, stepped), "achievements": stepped.achievements}
        return obs, stepped, jnp.asarray(reward, jnp.float32), terminated, truncated, info

    def action_space(self, params: Any = None) -> spaces.Discrete:
        return _space(self.craftax_env.action_space(self._params if params is None else params))

    def observation_space(self, params: Any = None) -> spaces.Box:
        return _space(self.craftax_env.observation_space(self._params if params is None else params))
