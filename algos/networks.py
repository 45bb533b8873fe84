"""Actor-critic MLPs (flax.linen), separate or with a shared torso.

Orthogonal initialisation with gain √2 in hidden layers, 0.01 on the policy output and
1.0 on the value output (Andrychowicz et al. 2021, "What matters in on-policy RL").
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import numpy as np

from jaxshape.initializers import orthogonal

ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu, "gelu": nn.gelu, "silu": nn.silu}


def _dense(features: int, gain: float) -> nn.Dense:
    return nn.Dense(features, kernel_init=orthogonal(gain), bias_init=nn.initializers.zeros)


class Torso(nn.Module):
    hidden_sizes: Sequence[int]
    activation: str = "tanh"

    @nn.compact
    def __call__(self, x):
        act = ACTIVATIONS[self.activation]
        for width in self.hidden_sizes:
            x = act(_dense(width, np.sqrt(2.0))(x))
        return x


class ActorCritic(nn.Module):
    """Maps a flat observation to (policy output, values [..., num_values]).

    The policy output is logits for discrete actions, or (mean, log_std) for continuous.
    """

    action_size: int
    continuous: bool
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"
    shared: bool = False
    num_values: int = 1

    @nn.compact
    def __call__(self, x):
        actor_features = Torso(self.hidden_sizes, self.activation, name="actor_torso")(x)
        critic_features = (
            actor_features if self.shared else Torso(self.hidden_sizes, self.activation, name="critic_torso")(x)
        )
        policy = _dense(self.action_size, 0.01)(actor_features)
        if self.continuous:
            log_std = self.param("log_std", nn.initializers.zeros, (self.action_size,))
            policy = (policy, log_std)
        values = _dense(self.num_values, 1.0)(critic_features)
        return policy, values



def check_shape_settings(config, counts: tuple[str, ...]) -> None:
    """The checks every learner's config shares: `counts` are positive integers, the
    network widths are positive and the activation is known (ConfigError naming the fix)."""
    from jaxshape.errors import ConfigError

    for name in counts:
        value = getattr(config, name)
        if value <= 0:
            raise ConfigError(f"{name} must be a positive integer, got {value}")
    if not config.hidden_sizes or min(config.hidden_sizes) <= 0:
        raise ConfigError(f"hidden_sizes must be positive widths, got {config.hidden_sizes}")
    if config.activation not in ACTIVATIONS:
        raise ConfigError(f"activation {config.activation!r} unknown; choose one of {sorted(ACTIVATIONS)}")
