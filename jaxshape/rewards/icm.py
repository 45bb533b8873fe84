"""Intrinsic Curiosity Module (Pathak et al. 2017, "Curiosity-driven Exploration by
Self-supervised Prediction", arXiv:1705.05363).

    φ = encoder(s),  φ′ = encoder(s′)
    inverse model  â = g(φ, φ′)                    L_I = CE(â, a)  (½‖â − a‖² if continuous)
    forward model  φ̂′ = h(sg(φ), a)                L_F = ½‖φ̂′ − sg(φ′)‖²
    loss           (1 − β)·L_I + β·L_F,  β = 0.2
    bonus          b = η/2·‖φ̂′ − φ′‖²

The encoder learns only through the inverse loss: the forward loss sees the features
through `stop_gradient`, so the encoder cannot collapse φ to make prediction trivial.
Discrete actions enter the forward model one-hot (`num_actions` given); continuous
actions as their flattened vector. Observations are flattened (images included). The
networks are persistent state, shared across envs, trained in `update` on the rollout.
`ICMCore` (encoder + inverse dynamics) is reused by E3B's learned embedding.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxshape.rewards.base import NOT_INVARIANT, RewardTransform, Stream
from jaxshape.rewards.counts import action_features, flatten_obs
from jaxshape.rewards.rnd import MLP, adam_init, minibatch_indices
from jaxshape.types import Transition


@dataclasses.dataclass(frozen=True)
class ICMCore:
    """Static ICM pieces. `num_actions=None` means continuous actions."""

    num_actions: int | None = None
    feature_size: int = 32
    hidden_sizes: tuple[int, ...] = (64,)
    epochs: int = 1
    minibatches: int = 1

    @property
    def encoder(self) -> MLP:
        return MLP(self.hidden_sizes, self.feature_size)

    def _inverse(self, action_size: int) -> MLP:
        return MLP(self.hidden_sizes, action_size)

    @property
    def forward_model(self) -> MLP:
        return MLP(self.hidden_sizes, self.feature_size)

    def action_input(self, action: jax.Array, batch_dims: int = 1) -> jax.Array:
        return action_features(action, self.num_actions, batch_dims)

    def init(self, key: jax.Array, example: Transition) -> tuple[Any, Any]:
        """(params {"encoder", "inverse", "forward"}, Adam state)."""
        if self.num_actions is None and jnp.issubdtype(example.action.dtype, jnp.integer):
            raise ValueError("integer (discrete) actions: pass num_actions=<number of actions>")
        x = flatten_obs(example.obs)[:1]
        a = self.action_input(example.action)[:1]
        e_key, i_key, f_key = jax.random.split(key, 3)
        phi = jnp.zeros((1, self.feature_size), jnp.float32)
        params = {
            "encoder": self.encoder.init(e_key, x),
            "inverse": self._inverse(a.shape[-1]).init(i_key, jnp.concatenate([phi, phi], -1)),
            "forward": self.forward_model.init(f_key, jnp.concatenate([phi, a], -1)),
        }
        return params, adam_init(params)

    def embed(self, params, obs: jax.Array, batch_dims: int = 1) -> jax.Array:
        return self.encoder.apply(params["encoder"], flatten_obs(obs, batch_dims))

    def predict_next(self, params, phi: jax.Array, action_in: jax.Array) -> jax.Array:
        """φ̂′ = h(sg(φ), a)."""
        return self.forward_model.apply(params["forward"], jnp.concatenate([jax.lax.stop_gradient(phi), action_in], -1))

    def losses(self, params, obs, next_obs, action) -> tuple[jax.Array, jax.Array]:
        """(L_I, L_F) averaged over a flat batch [B, ...]."""
        phi, phi_next = self.embed(params, obs), self.embed(params, next_obs)
        a = self.action_input(action)
        pred = self._inverse(a.shape[-1]).apply(params["inverse"], jnp.concatenate([phi, phi_next], -1))
        if self.num_actions is not None:
            inverse = optax.softmax_cross_entropy(pred, a).mean()
        else:
            inverse = 0.5 * jnp.sum((pred - a) ** 2, axis=-1).mean()
        phi_hat = self.predict_next(params, phi, a)
        forward = 0.5 * jnp.sum((phi_hat - jax.lax.stop_gradient(phi_next)) ** 2, axis=-1).mean()
        return inverse, forward

    def bonus(self, params, obs, next_obs, action, eta) -> jax.Array:
        """b = η/2·‖φ̂′ − φ′‖² per transition."""
        phi, phi_next = self.embed(params, obs), self.embed(params, next_obs)
        phi_hat = self.predict_next(params, phi, self.action_input(action))
        return 0.5 * eta * jnp.sum((phi_hat - phi_next) ** 2, axis=-1)

    def train(self, params, opt_state, batch: Transition, key, lr, beta):
        """`epochs` × `minibatches` Adam steps on (1 − β)·L_I + β·L_F over the batch."""
        flat = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), (batch.obs, batch.next_obs, batch.action))
        idx = minibatch_indices(key, flat[0].shape[0], self.epochs, self.minibatches)
        optimizer = optax.adam(lr)

        def loss_fn(p, obs, next_obs, action):
            inverse, forward = self.losses(p, obs, next_obs, action)
            return (1.0 - beta) * inverse + beta * forward, (inverse, forward)

        def step(carry, batch_idx):
            p, s = carry
            (_, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(p, *(x[batch_idx] for x in flat))
            updates, s = optimizer.update(grads, s, p)
            return (optax.apply_updates(p, updates), s), aux

        (params, opt_state), (inverse, forward) = jax.lax.scan(step, (params, opt_state), idx)
        return params, opt_state, {"inverse_loss": inverse.mean(), "forward_loss": forward.mean()}


@struct.dataclass
class ICMState:
    params: Any
    opt_state: Any


def icm(
    num_actions: int | None = None,
    *,
    eta: float = 0.01,
    beta: float = 0.2,
    lr: float = 1e-3,
    feature_size: int = 32,
    hidden_sizes: Sequence[int] = (64,),
    epochs: int = 1,
    minibatches: int = 1,
    episodic: bool = True,
    coef: float = 1.0,
    stream: str = "icm",
    name: str = "icm",
) -> RewardTransform:
    """ICM bonus η/2·‖φ̂(s′) − φ(s′)‖² as stream `stream` (Pathak et al. 2017).

    Traced hparams: `eta` (bonus scale η; 0.01 in the reference code), `beta` (forward vs
    inverse loss weight), `lr`. `num_actions` for discrete actions, None for continuous.
    """
    core = ICMCore(num_actions, feature_size, tuple(hidden_sizes), epochs, minibatches)

    def init(key, example: Transition):
        return ICMState(*core.init(key, example))

    def apply_fn(state: ICMState, transition: Transition, rewards, hparams):
        bonus = core.bonus(state.params, transition.obs, transition.next_obs, transition.action, hparams["eta"])
        return {**rewards, stream: bonus}, state

    def update(state: ICMState, batch: Transition, key, hparams):
        params, opt_state, metrics = core.train(state.params, state.opt_state, batch, key, hparams["lr"], hparams["beta"])
        return ICMState(params, opt_state), metrics

    return RewardTransform(
        init=init,
        apply_fn=apply_fn,
        update=update,
        streams=(Stream(stream, coef=coef, episodic=episodic),),
        default_hparams={"eta": eta, "beta": beta, "lr": lr},
        invariance=NOT_INVARIANT,
        name=name,
    )
