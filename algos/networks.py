"""Actor-critic networks (flax.linen): MLPs, separate or with a shared torso, and a
recurrent (GRU) actor-critic whose memory is reset where an episode begins.

Orthogonal initialisation with gain √2 in hidden layers, 0.01 on the policy output and
1.0 on the value output (Andrychowicz et al. 2021, "What matters in on-policy RL").

`dtype` (None: float32 throughout) is the dtype the hidden layers compute in: with bfloat16
their products and activations run in bfloat16 while the parameters stay float32 (flax
casts them per call); the policy and value heads compute in float32 (bfloat16 spaces values
between 8 and 16 by 1/16, a sizeable share of a TD error), so the losses, the log-probabilities
and the optimiser see float32 (mixed precision, Micikevicius et al. 2018, "Mixed precision
training").
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxshape.initializers import orthogonal

ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu, "gelu": nn.gelu, "silu": nn.silu}


MATMUL_DTYPES = {"float32": None, "bfloat16": jnp.bfloat16}  # a config's name -> the layers' dtype


def _dense(features: int, gain: float, dtype: Any = None) -> nn.Dense:
    return nn.Dense(features, kernel_init=orthogonal(gain), bias_init=nn.initializers.zeros, dtype=dtype)


class Torso(nn.Module):
    hidden_sizes: Sequence[int]
    activation: str = "tanh"
    dtype: Any = None

    @nn.compact
    def __call__(self, x):
        act = ACTIVATIONS[self.activation]
        for width in self.hidden_sizes:
            x = act(_dense(width, np.sqrt(2.0), self.dtype)(x))
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
    dtype: Any = None

    @nn.compact
    def __call__(self, x):
        actor_features = Torso(self.hidden_sizes, self.activation, self.dtype, name="actor_torso")(x)
        critic_features = (actor_features if self.shared else
                           Torso(self.hidden_sizes, self.activation, self.dtype, name="critic_torso")(x))
        policy = _dense(self.action_size, 0.01)(actor_features.astype(jnp.float32))  # heads in float32
        values = _dense(self.num_values, 1.0)(critic_features.astype(jnp.float32))
        if self.continuous:
            log_std = self.param("log_std", nn.initializers.zeros, (self.action_size,))
            policy = (policy, log_std)
        return policy, values


class ResetGRU(nn.Module):
    """One GRU step (Cho et al. 2014) whose memory is zeroed first where `reset`: the
    step sees the first observation of a new episode."""

    features: int
    dtype: Any = None

    @nn.compact
    def __call__(self, memory, inputs):
        x, reset = inputs
        memory = jnp.where(reset[:, None], jnp.zeros_like(memory), memory)
        memory = nn.GRUCell(self.features, dtype=self.dtype)(memory, x)[0].astype(jnp.float32)
        return memory, memory  # the carry and the step's output


class RecurrentActorCritic(nn.Module):
    """Maps a sequence of flat observations to (memory after each step, policy output,
    values [..., num_values]): observation -> dense embedding -> GRU -> actor and critic
    heads (an MLP of the remaining `hidden_sizes` each).

    `memory` is [N, gru_size]; `x` is [T, N, F]; `resets` [T, N] marks the steps that begin
    an episode (memory zeroed before them), so one call replays a whole rollout across
    episode boundaries exactly as it was acted.
    """

    action_size: int
    continuous: bool
    gru_size: int
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"
    num_values: int = 1
    dtype: Any = None

    @nn.compact
    def __call__(self, memory, x, resets):
        act = ACTIVATIONS[self.activation]
        embedding = act(_dense(self.hidden_sizes[0], np.sqrt(2.0), self.dtype)(x))
        scan = nn.scan(ResetGRU, variable_broadcast="params", split_rngs={"params": False}, in_axes=0, out_axes=0)
        _, memories = scan(self.gru_size, self.dtype, name="gru")(memory, (embedding, resets))
        actor = Torso(self.hidden_sizes[1:], self.activation, self.dtype, name="actor_torso")(memories)
        critic = Torso(self.hidden_sizes[1:], self.activation, self.dtype, name="critic_torso")(memories)
        policy = _dense(self.action_size, 0.01)(actor.astype(jnp.float32))  # heads in float32
        values = _dense(self.num_values, 1.0)(critic.astype(jnp.float32))
        if self.continuous:
            log_std = self.param("log_std", nn.initializers.zeros, (self.action_size,))
            policy = (policy, jnp.broadcast_to(log_std, policy.shape))
        return memories, policy, values

    def initial_memory(self, batch: int) -> jax.Array:
        return jnp.zeros((batch, self.gru_size), jnp.float32)



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
