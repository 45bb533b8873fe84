"""Undiscounted episode returns and lengths, tracked per env inside the scan.

`last_return` holds each env's most recently completed episode; `finished` says whether
the env has completed one yet, so a learner reports a validity flag rather than a fake 0
before the first episode ends.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class EpisodeStats:
    running_return: jax.Array
    running_length: jax.Array
    last_return: jax.Array
    last_length: jax.Array
    finished: jax.Array

    @classmethod
    def create(cls, num_envs: int) -> "EpisodeStats":
        zeros = jnp.zeros((num_envs,), jnp.float32)
        return cls(zeros, zeros, zeros, zeros, jnp.zeros((num_envs,), bool))

    def record(self, reward: jax.Array, done: jax.Array) -> "EpisodeStats":
        ret = self.running_return + reward
        length = self.running_length + 1.0
        return EpisodeStats(
            running_return=jnp.where(done, 0.0, ret),
            running_length=jnp.where(done, 0.0, length),
            last_return=jnp.where(done, ret, self.last_return),
            last_length=jnp.where(done, length, self.last_length),
            finished=self.finished | done,
        )

    def summary(self) -> dict[str, jax.Array]:
        """Mean return and length over envs that have finished an episode."""
        n = self.finished.sum()
        denom = jnp.maximum(n, 1)
        return {
            "episode_return": jnp.where(self.finished, self.last_return, 0.0).sum() / denom,
            "episode_length": jnp.where(self.finished, self.last_length, 0.0).sum() / denom,
            "episode_valid": n > 0,
        }
