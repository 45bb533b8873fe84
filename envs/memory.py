"""CueRecall: the smallest task that needs memory.

At the first step of an episode the agent sees a cue, one of `num_cues`; for the next
`delay` steps it sees nothing (zeros); at the step after those it is asked (the query
flag is 1) and must answer with the action equal to the cue. The answer pays 1 if right
and 0 if wrong, and ends the episode (a termination). Actions before the query do nothing.

    actions      num_cues answers (0 .. num_cues − 1)
    observation  [one-hot cue (only at the first step, else zeros), query flag]
    info         {"is_success": 1. where the query step answered right}

A feed-forward policy sees the same observation at every query whatever the cue, so it
cannot beat chance (expected return 1 / num_cues); a policy with memory reaches 1.

Subclasses gymnax's `Environment`, so auto-reset and `info["final_observation"]` come
from gymnax; an episode always ends by termination at step delay + 1, inside the time
limit `max_steps_in_episode` (delay + 3).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces


@struct.dataclass
class CueRecallState(environment.EnvState):
    cue: jax.Array  # int32 []


@struct.dataclass
class CueRecallParams(environment.EnvParams):
    max_steps_in_episode: int = 7


class CueRecall(environment.Environment):
    """Remember a cue over `delay` blank steps; see the module docstring."""

    def __init__(self, num_cues: int = 4, delay: int = 4):
        super().__init__()
        if num_cues < 2:
            raise ValueError(f"num_cues must be at least 2, got {num_cues}")
        if delay < 0:
            raise ValueError(f"delay must be 0 or more, got {delay}")
        self.num_cues, self.delay = num_cues, delay

    @property
    def default_params(self) -> CueRecallParams:
        return CueRecallParams(max_steps_in_episode=self.delay + 3)

    @property
    def name(self) -> str:
        return "CueRecall-v0"

    @property
    def num_actions(self) -> int:
        return self.num_cues

    def reset_env(self, key, params):
        cue = jax.random.randint(key, (), 0, self.num_cues)
        state = CueRecallState(time=jnp.zeros((), jnp.int32), cue=cue)
        return self.get_obs(state), state

    def step_env(self, key, state, action, params):
        asked = state.time == self.delay + 1  # this step answers the query its observation showed
        right = asked & (action == state.cue)
        state = state.replace(time=state.time + 1)
        return self.get_obs(state), state, right.astype(jnp.float32), asked, {"is_success": right.astype(jnp.float32)}

    def get_obs(self, state, params=None, key=None):
        shown = jax.nn.one_hot(state.cue, self.num_cues) * (state.time == 0)
        query = (state.time == self.delay + 1).astype(jnp.float32)
        return jnp.concatenate([shown, query[None]])

    def is_terminated(self, state, params):
        return jnp.bool_(False)  # only `step_env` knows a query was answered

    def action_space(self, params=None):
        return spaces.Discrete(self.num_cues)

    def observation_space(self, params):
        return spaces.Box(0.0, 1.0, (self.num_cues + 1,), jnp.float32)

    def state_space(self, params):
        return spaces.Dict({"cue": spaces.Discrete(self.num_cues),
                            "time": spaces.Discrete(params.max_steps_in_episode + 1)})
