"""A coverage gridworld for submodular rewards (Prajapat et al. 2024), native to jaxshape.

An agent walks an N×N grid (default 8×8). Actions: 0 up, 1 right, 2 down, 3 left, and with
`num_actions=5`, 4 stay; moves into the wall leave it in place. The observation is the
agent's position (row, col) / (N − 1) in [0, 1]²; the extrinsic reward is 0: the task is
what a reward transform (e.g. `jaxshape.rewards.coverage`) makes of the visited set,
which the transform's `observe` can hand to the policy. Episodes never terminate and are
truncated at `max_steps_in_episode`. `info["cell"]` is the agent's flat cell index
row·N + col after the step (of the true final state where the episode ended).

Subclasses gymnax's `Environment`, so auto-reset and `info["final_observation"]` come
from gymnax.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces

MOVES = np.asarray([[-1, 0], [0, 1], [1, 0], [0, -1], [0, 0]], np.int32)  # up, right, down, left, stay


@struct.dataclass
class CoverageState(environment.EnvState):
    pos: jax.Array  # int32 [2]: (row, col)


@struct.dataclass
class CoverageParams(environment.EnvParams):
    max_steps_in_episode: int = 64


class CoverageGrid(environment.Environment):
    """N×N coverage grid; `start` is "center" (cell (N//2, N//2)) or "random"."""

    def __init__(self, size: int = 8, num_actions: int = 4, start: str = "center", max_steps: int = 64):
        super().__init__()
        if size < 2:
            raise ValueError(f"size must be at least 2, got {size}")
        if num_actions not in (4, 5):
            raise ValueError(f"num_actions must be 4 (moves) or 5 (moves and stay), got {num_actions}")
        if start not in ("center", "random"):
            raise ValueError(f"start must be 'center' or 'random', got {start!r}")
        if max_steps < 1:
            raise ValueError(f"max_steps must be positive, got {max_steps}")
        self.size, self._num_actions, self.start, self.max_steps = size, num_actions, start, max_steps

    @property
    def default_params(self) -> CoverageParams:
        return CoverageParams(max_steps_in_episode=self.max_steps)

    @property
    def name(self) -> str:
        return "Coverage-grid"

    @property
    def num_actions(self) -> int:
        return self._num_actions

    def reset_env(self, key, params):
        if self.start == "random":
            pos = jax.random.randint(key, (2,), 0, self.size, jnp.int32)
        else:
            pos = jnp.full((2,), self.size // 2, jnp.int32)
        state = CoverageState(time=jnp.zeros((), jnp.int32), pos=pos)
        return self.get_obs(state), state

    def step_env(self, key, state, action, params):
        pos = jnp.clip(state.pos + jnp.asarray(MOVES)[action], 0, self.size - 1)
        state = CoverageState(time=state.time + 1, pos=pos)
        info = {"cell": pos[0] * self.size + pos[1]}
        return self.get_obs(state), state, jnp.float32(0.0), jnp.bool_(False), info

    def get_obs(self, state, params=None, key=None):
        return state.pos.astype(jnp.float32) / (self.size - 1)

    def is_terminated(self, state, params):
        return jnp.bool_(False)

    def action_space(self, params=None):
        return spaces.Discrete(self._num_actions)

    def observation_space(self, params):
        return spaces.Box(0.0, 1.0, (2,), jnp.float32)

    def state_space(self, params):
        return spaces.Dict({
            "pos": spaces.Box(0, self.size - 1, (2,), jnp.int32),
            "time": spaces.Discrete(params.max_steps_in_episode + 1),
        })
