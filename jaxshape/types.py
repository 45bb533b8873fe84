"""The transition every rollout step records.

`next_obs` is the *true* next observation: where an episode ended it is
`info["final_observation"]`, never the observation the env reset to. `info` holds the
env's other step info (e.g. achieved and desired goals); `extras` the learner's
(log-probability, value, ...). `gamma` is the discount of the return the rewards feed
(the learner's γ): potential shaping must use exactly this γ (Ng et al. 1999).
"""

from __future__ import annotations

from typing import Any

import jax
from flax import struct


@struct.dataclass
class Transition:
    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    next_obs: jax.Array
    gamma: Any = 0.99
    info: dict[str, Any] = struct.field(default_factory=dict)
    extras: dict[str, Any] = struct.field(default_factory=dict)

    @property
    def done(self) -> jax.Array:
        """The episode ended, by termination or by truncation."""
        return self.terminated | self.truncated
