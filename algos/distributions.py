"""Action heads: how a network's output becomes an action and a log-probability.

`sample` and `log_prob` work on the *raw* action (the un-squashed Gaussian sample for
continuous actions) so the PPO ratio never goes through `atanh`; `to_env` maps a raw
action to what the environment receives.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from jaxshape import draws

LOG_2PI = math.log(2.0 * math.pi)


@dataclasses.dataclass(frozen=True)
class Categorical:
    """Softmax over `num_actions` logits."""

    num_actions: int

    @property
    def output_size(self) -> int:
        return self.num_actions

    def sample(self, key, logits):
        return draws.categorical(key, logits)

    def noise(self, key, shape):
        """The noise `sample` draws for logits of `shape`: Gumbel, drawn flat."""
        return draws.gumbel(key, shape)

    def sample_with(self, noise, logits):
        """`sample(key, logits)` given `noise(key, logits.shape)`: the same action."""
        return jnp.argmax(logits + noise, axis=-1)

    def log_prob(self, logits, action):
        log_p = jax.nn.log_softmax(logits)
        return jnp.take_along_axis(log_p, action[..., None].astype(jnp.int32), axis=-1)[..., 0]

    def entropy(self, logits):
        log_p = jax.nn.log_softmax(logits)
        return -jnp.sum(jnp.exp(log_p) * log_p, axis=-1)

    def mode(self, logits):
        return jnp.argmax(logits, axis=-1)

    def to_env(self, raw_action):
        return raw_action


@dataclasses.dataclass(frozen=True)
class Gaussian:
    """Diagonal Gaussian with a state-independent log-std, mapped into [low, high].

    `squash="tanh"`: a = low + (tanh(u) + 1)/2 · (high − low); log π includes the
    tanh Jacobian −Σ log(1 − tanh(u)²). `squash="clip"`: a = clip(u, low, high).
    The entropy bonus uses the Gaussian's entropy (the squashed one has no closed form).
    """

    action_dim: int
    low: float | tuple = -1.0
    high: float | tuple = 1.0
    squash: str = "tanh"

    @property
    def output_size(self) -> int:
        return self.action_dim

    @staticmethod
    def _split(params):
        mean, log_std = params
        return mean, jnp.broadcast_to(log_std, mean.shape)

    def sample(self, key, params):
        mean, log_std = self._split(params)
        return mean + jnp.exp(log_std) * draws.normal(key, mean.shape)

    def noise(self, key, shape):
        """The noise `sample` draws for a mean of `shape`: standard normal, drawn flat."""
        return draws.normal(key, shape)

    def sample_with(self, noise, params):
        """`sample(key, params)` given `noise(key, mean.shape)`: the same action."""
        mean, log_std = self._split(params)
        return mean + jnp.exp(log_std) * noise

    def log_prob(self, params, raw_action):
        mean, log_std = self._split(params)
        z = (raw_action - mean) * jnp.exp(-log_std)
        log_p = jnp.sum(-0.5 * z**2 - log_std - 0.5 * LOG_2PI, axis=-1)
        if self.squash == "tanh":
            log_p -= jnp.sum(2.0 * (math.log(2.0) - raw_action - jax.nn.softplus(-2.0 * raw_action)), axis=-1)
        return log_p

    def entropy(self, params):
        _, log_std = self._split(params)
        return jnp.sum(log_std + 0.5 * (1.0 + LOG_2PI), axis=-1)

    def mode(self, params):
        return params[0]

    def to_env(self, raw_action):
        low, high = jnp.asarray(self.low), jnp.asarray(self.high)
        if self.squash == "tanh":
            return low + 0.5 * (jnp.tanh(raw_action) + 1.0) * (high - low)
        return jnp.clip(raw_action, low, high)
