"""Small environments with known answers, for tests.

`ConstantReward` pays 1 every step, never terminates and is truncated at a time limit:
the discounted value of every state is exactly 1/(1 − γ), so any return estimator that
treats the time limit as termination is visibly wrong.

`LegacyCountdown` is written against the *old* gymnax API (5-tuple with a single
`done`), to exercise `LegacyGymnaxAdapter`: it terminates when its counter reaches 0 and
is also cut by a time limit.
"""

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces


@struct.dataclass
class CounterState:
    position: jax.Array
    time: jax.Array


@struct.dataclass
class TimeLimitParams:
    max_steps_in_episode: int = 5


class ConstantReward(environment.Environment):
    """Observation: [position, time]; reward 1; truncated at max_steps_in_episode."""

    @property
    def default_params(self):
        return TimeLimitParams()

    def reset_env(self, key, params):
        position = jax.random.uniform(key, (), minval=-1.0, maxval=1.0)
        state = CounterState(position, jnp.zeros((), jnp.int32))
        return self.get_obs(state), state

    def step_env(self, key, state, action, params):
        state = CounterState(state.position + 0.1 * (action - 0.5), state.time + 1)
        return self.get_obs(state), state, jnp.float32(1.0), jnp.bool_(False), {}

    def get_obs(self, state, params=None, key=None):
        return jnp.stack([state.position, state.time.astype(jnp.float32)])

    def action_space(self, params=None):
        return spaces.Discrete(2)

    def observation_space(self, params):
        return spaces.Box(-jnp.inf, jnp.inf, (2,), jnp.float32)


@struct.dataclass
class CountdownParams:
    start: int = 3
    max_steps_in_episode: int = 10


class LegacyCountdown:
    """Old gymnax API: `step_env -> (obs, state, reward, done, info)`, `done` merging
    termination (counter reaches 0) and the time limit. Action 1 counts down, 0 waits."""

    name = "LegacyCountdown"
    num_actions = 2

    @property
    def default_params(self):
        return CountdownParams()

    def reset_env(self, key, params):
        state = CounterState(jnp.asarray(params.start, jnp.int32), jnp.zeros((), jnp.int32))
        return self._obs(state), state

    def step_env(self, key, state, action, params):
        state = CounterState(state.position - action, state.time + 1)
        done = jnp.logical_or(state.position <= 0, state.time >= params.max_steps_in_episode)
        info = {"discount": 1.0 - done.astype(jnp.float32)}
        return self._obs(state), state, jnp.float32(1.0), done, info

    def _obs(self, state):
        return jnp.stack([state.position, state.time]).astype(jnp.float32)

    def action_space(self, params=None):
        return spaces.Discrete(2)

    def observation_space(self, params):
        return spaces.Box(-jnp.inf, jnp.inf, (2,), jnp.float32)


class MatrixAction(ConstantReward):
    """A 2-D Box action space, which PPO cannot handle."""

    def action_space(self, params=None):
        return spaces.Box(-1.0, 1.0, (2, 2), jnp.float32)
