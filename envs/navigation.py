"""PointGoal-v0: a goal-conditioned 2-D point mass (a native gymnax >= 1.0 environment).

    position p ∈ [−1, 1]², goal g ∈ [−1, 1]², both drawn uniformly at EVERY reset
    action a ∈ [−1, 1]² is a velocity:   p′ = clip(p + max_speed · clip(a, −1, 1), −1, 1)
    observation = concat(p, g)           (4 floats; the goal is obs[2:4])
    reward      = −1[‖p′ − g‖ > ε]       (sparse: 0 once within ε of the goal, −1 before)
    info        = {"achieved_goal": p′, "desired_goal": g, "is_success": ‖p′ − g‖ ≤ ε}

Success does NOT terminate the episode: as in the robotics tasks of Andrychowicz et al.
(2017), an episode ends only at the time limit (`max_steps_in_episode`), which is a
truncation, so `terminated` is always False. Hindsight relabelling can therefore change
a transition's goal and reward without having to change its termination flag.

Subclassing `gymnax.environments.environment.Environment` gives the contract's
auto-reset and `info["final_observation"]`; because `reset_env` draws the goal, every
auto-reset draws a fresh goal (caching the first goal after auto-reset is a known bug
in public goal-conditioned code). `goal_spec(params)` tells goal-aware learners where
the goal sits in the observation and how the reward is computed from it.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces


@struct.dataclass
class PointGoalState(environment.EnvState):
    position: jax.Array
    goal: jax.Array
    time: int


@struct.dataclass
class PointGoalParams(environment.EnvParams):
    max_speed: float = 0.1
    goal_eps: float = 0.1
    max_steps_in_episode: int = 50


class PointGoal(environment.Environment[PointGoalState, PointGoalParams]):
    """A point mass steered by its velocity toward a goal re-drawn at every reset."""

    goal_dim = 2

    @property
    def default_params(self) -> PointGoalParams:
        return PointGoalParams()

    def step_env(self, key: jax.Array, state: PointGoalState, action: jax.Array, params: PointGoalParams):
        del key
        velocity = jnp.clip(jnp.asarray(action, jnp.float32), -1.0, 1.0)
        position = jnp.clip(state.position + params.max_speed * velocity, -1.0, 1.0)
        success = jnp.linalg.norm(position - state.goal) <= params.goal_eps
        state = PointGoalState(position=position, goal=state.goal, time=state.time + 1)
        info = {"achieved_goal": position, "desired_goal": state.goal, "is_success": success.astype(jnp.float32)}
        reward = success.astype(jnp.float32) - 1.0
        return self._obs(state), state, reward, jnp.array(False), info

    def reset_env(self, key: jax.Array, params: PointGoalParams):
        position_key, goal_key = jax.random.split(key)
        state = PointGoalState(
            position=jax.random.uniform(position_key, (2,), jnp.float32, -1.0, 1.0),
            goal=jax.random.uniform(goal_key, (2,), jnp.float32, -1.0, 1.0),
            time=0,
        )
        return self._obs(state), state

    @staticmethod
    def _obs(state: PointGoalState) -> jax.Array:
        return jnp.concatenate([state.position, state.goal])

    def get_obs(self, state: PointGoalState, params: Any = None, key: Any = None) -> jax.Array:
        return self._obs(state)

    def is_terminated(self, state: PointGoalState, params: PointGoalParams) -> jax.Array:
        return jnp.array(False)

    def goal_spec(self, params: PointGoalParams) -> dict[str, Any]:
        """For goal-aware learners (HER): the goal's place in the observation, the
        success radius and the reward kind of `step_env`'s reward."""
        return {"obs_slice": (2, 4), "eps": float(params.goal_eps), "kind": "sparse"}

    @property
    def name(self) -> str:
        return "PointGoal-v0"

    @property
    def num_actions(self) -> int:
        return 2

    def action_space(self, params: PointGoalParams | None = None) -> spaces.Box:
        return spaces.Box(low=-1.0, high=1.0, shape=(2,), dtype=jnp.float32)

    def observation_space(self, params: PointGoalParams | None = None) -> spaces.Box:
        return spaces.Box(low=-1.0, high=1.0, shape=(4,), dtype=jnp.float32)
