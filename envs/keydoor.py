"""KeyDoor-grid: a two-stage gridworld for reward machines and subgoal rewards.

An agent walks an N×N grid (default 7×7). It must first step onto the key cell (which
sets `has_key`), then onto the door cell: that step pays reward 1 and terminates the
episode. Reaching the door without the key pays 0 and does nothing. Every other step
pays 0. Episodes are truncated at `max_steps_in_episode` (a time limit, not a
termination).

    actions      0 up, 1 right, 2 down, 3 left (moves into the wall leave the agent in place)
    observation  [row / (N − 1), col / (N − 1), has_key]   (3 floats in [0, 1])
    info         {"at_key": 1. on the key cell, "at_door": 1. on the door cell,
                  "has_key": the flag after the step}    (floats, of the true post-step
                  state, also at the step that ends an episode)

Default layout: start at the top-left corner (0, 0), key at the bottom-left (N − 1, 0),
door at the top-right (0, N − 1): the shortest solution takes 3·(N − 1) steps.
`start="random"` draws the start uniformly over the cells other than key and door.

Subclasses gymnax's `Environment`, so auto-reset, truncation at the time limit and
`info["final_observation"]` come from gymnax.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces

MOVES = np.asarray([[-1, 0], [0, 1], [1, 0], [0, -1]], np.int32)  # up, right, down, left


@struct.dataclass
class KeyDoorState(environment.EnvState):
    pos: jax.Array  # int32 [2]: (row, col)
    has_key: jax.Array  # bool []


@struct.dataclass
class KeyDoorParams(environment.EnvParams):
    max_steps_in_episode: int = 50


class KeyDoorGrid(environment.Environment):
    """N×N key-then-door grid; see the module docstring."""

    def __init__(self, size: int = 7, key: tuple[int, int] | None = None, door: tuple[int, int] | None = None,
                 start: str = "corner", max_steps: int = 50):
        super().__init__()
        if size < 2:
            raise ValueError(f"size must be at least 2, got {size}")
        key = (size - 1, 0) if key is None else tuple(key)
        door = (0, size - 1) if door is None else tuple(door)
        for what, cell in (("key", key), ("door", door)):
            if len(cell) != 2 or not all(0 <= c < size for c in cell):
                raise ValueError(f"{what} must be a (row, col) cell of the {size}×{size} grid, got {cell}")
        if key == door:
            raise ValueError(f"key and door must be different cells, both are {key}")
        if start not in ("corner", "random"):
            raise ValueError(f"start must be 'corner' or 'random', got {start!r}")
        if start == "corner" and (0, 0) in (key, door):
            raise ValueError("start='corner' starts at (0, 0): move the key or the door off it")
        if max_steps < 1:
            raise ValueError(f"max_steps must be positive, got {max_steps}")
        self.size, self.key, self.door, self.start, self.max_steps = size, key, door, start, max_steps

    @property
    def default_params(self) -> KeyDoorParams:
        return KeyDoorParams(max_steps_in_episode=self.max_steps)

    @property
    def name(self) -> str:
        return "KeyDoor-grid"

    @property
    def num_actions(self) -> int:
        return 4

    def reset_env(self, key, params):
        if self.start == "random":
            cells = np.asarray([c for c in range(self.size * self.size)
                                if c not in (self.key[0] * self.size + self.key[1],
                                             self.door[0] * self.size + self.door[1])], np.int32)
            cell = jax.random.choice(key, jnp.asarray(cells))
            pos = jnp.stack([cell // self.size, cell % self.size]).astype(jnp.int32)
        else:
            pos = jnp.zeros((2,), jnp.int32)
        state = KeyDoorState(time=jnp.zeros((), jnp.int32), pos=pos, has_key=jnp.zeros((), bool))
        return self.get_obs(state), state

    def step_env(self, key, state, action, params):
        pos = jnp.clip(state.pos + jnp.asarray(MOVES)[action], 0, self.size - 1)
        at_key = jnp.all(pos == jnp.asarray(self.key, jnp.int32))
        at_door = jnp.all(pos == jnp.asarray(self.door, jnp.int32))
        opened = at_door & state.has_key
        has_key = state.has_key | at_key
        state = KeyDoorState(time=state.time + 1, pos=pos, has_key=has_key)
        info = {"at_key": at_key.astype(jnp.float32), "at_door": at_door.astype(jnp.float32),
                "has_key": has_key.astype(jnp.float32)}
        return self.get_obs(state), state, opened.astype(jnp.float32), opened, info

    def get_obs(self, state, params=None, key=None):
        pos = state.pos.astype(jnp.float32) / (self.size - 1)
        return jnp.concatenate([pos, state.has_key.astype(jnp.float32)[None]])

    def is_terminated(self, state, params):
        # only `step_env` knows whether the door was opened on this step; the env never
        # starts an episode in a terminal state
        return jnp.bool_(False)

    def action_space(self, params=None):
        return spaces.Discrete(4)

    def observation_space(self, params):
        return spaces.Box(0.0, 1.0, (3,), jnp.float32)

    def state_space(self, params):
        return spaces.Dict({
            "pos": spaces.Box(0, self.size - 1, (2,), jnp.int32),
            "has_key": spaces.Discrete(2),
            "time": spaces.Discrete(params.max_steps_in_episode + 1),
        })
