"""A learned potential: a progress estimator trained from the agent's own episodes and
paid as potential-based shaping, so the shaping keeps the optimal policy whatever it
learns (Ng et al. 1999; dynamic potentials, Devlin & Kudenko 2012; learned progress
estimators as potentials, as in recent work on progress rewards for long tasks).

    F_t = γ·Φ(s_{t+1})·(1 − terminated_t) − Φ(s_t),    Φ(s) = scale · P_θ(s)

P_θ is a small MLP on the flattened observation. Φ(s_t) is the value cached when s_t
was entered (with the parameters of that moment), so an episode's shaped return
telescopes exactly even while θ changes: Σ_t γ^t F_t = γ^T·Φ(s_T)·(1 − terminated) − Φ(s_0).

`update` (once per training update, on the rollout [T, N]) fits P_θ to the time to
success: the target of s_t is δ^k when a success (extrinsic reward > `threshold`) comes
k steps later in the same episode (k = 0: this step succeeds), 0 when the episode ends
first, and s_t is left out when its episode is still running at the end of the rollout:

    y_t = 1 if success_t,  else 0 if done_t,  else δ·y_{t+1}    (δ = the traced `discount`)

minimising the mean of (P_θ(s_t) − y_t)² over the resolved steps with Adam.
Traced hparams: `scale`, `lr`, `discount`, `threshold`.
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxshape.rewards.base import POLICY_INVARIANT, RewardTransform, Rewards, Stream
from jaxshape.rewards.counts import flatten_obs
from jaxshape.rewards.shaping import shaping_from_potentials
from jaxshape.types import Transition


class ProgressNet(nn.Module):
    """obs [N, D] -> progress in (0, 1) [N]."""

    hidden_sizes: Sequence[int] = (64, 64)

    @nn.compact
    def __call__(self, x):
        for width in self.hidden_sizes:
            x = nn.relu(nn.Dense(width)(x))
        return nn.sigmoid(nn.Dense(1)(x))[..., 0]


def time_to_success_targets(success: jax.Array, done: jax.Array, discount: Any) -> tuple[jax.Array, jax.Array]:
    """(targets y [T, N], resolved [T, N]) of the recursion in the module docstring."""

    def backward(carry, step):
        next_target, next_resolved = carry
        succeeded, ended = step
        target = jnp.where(succeeded, 1.0, jnp.where(ended, 0.0, discount * next_target))
        resolved = succeeded | ended | next_resolved
        return (target, resolved), (target, resolved)

    start = (jnp.zeros(success.shape[1:], jnp.float32), jnp.zeros(success.shape[1:], bool))
    _, (targets, resolved) = jax.lax.scan(backward, start, (success, done), reverse=True)
    return targets, resolved


def learned_potential(
    hidden_sizes: Sequence[int] = (64, 64),
    scale: float = 1.0,
    lr: float = 1e-3,
    discount: float = 0.95,
    threshold: float = 0.0,
    epochs: int = 4,
    name: str = "learned_potential",
    coef: float = 1.0,
) -> RewardTransform:
    """Potential-based shaping with Φ = scale · P_θ(s), P_θ trained on time to success.

    Args:
      hidden_sizes: P_θ's hidden layers.
      scale, lr, discount, threshold: defaults of the traced hparams (see module docstring).
      epochs: full-batch Adam steps per training update (static).
      name, coef: the stream's name and default weight.
    """
    net = ProgressNet(tuple(hidden_sizes))

    def init(key, example: Transition):
        n = example.reward.shape[0]
        params = net.init(key, flatten_obs(example.obs))
        return {"params": params, "opt": optax.adam(1.0).init(params),  # lr is traced: applied in update
                "phi": jnp.zeros((n,), jnp.float32), "valid": jnp.zeros((n,), bool)}

    def apply_fn(state, transition: Transition, rewards: Rewards, hparams):
        def potential(obs):
            return hparams["scale"] * net.apply(state["params"], flatten_obs(obs))

        phi_s = jnp.where(state["valid"], state["phi"], potential(transition.obs))
        phi_next = potential(transition.next_obs)  # the TRUE next observation at a time limit
        shaping = shaping_from_potentials(phi_s, phi_next, transition.terminated, transition.gamma)
        return {**rewards, name: shaping}, {**state, "phi": phi_next, "valid": jnp.logical_not(transition.done)}

    def update(state, batch: Transition, key, hparams):
        del key
        targets, resolved = time_to_success_targets(batch.reward > hparams["threshold"], batch.done,
                                                    hparams["discount"])
        obs = flatten_obs(batch.obs.reshape((-1,) + batch.obs.shape[2:]))
        targets, weights = targets.reshape(-1), resolved.reshape(-1).astype(jnp.float32)

        def loss_fn(params):
            error = net.apply(params, obs) - targets
            return (weights * error ** 2).sum() / jnp.maximum(weights.sum(), 1.0)

        def step(carry, _):
            params, opt = carry
            loss, grads = jax.value_and_grad(loss_fn)(params)
            updates, opt = optax.adam(1.0).update(grads, opt, params)
            params = optax.apply_updates(params, jax.tree.map(lambda u: hparams["lr"] * u, updates))
            return (params, opt), loss

        (params, opt), losses = jax.lax.scan(step, (state["params"], state["opt"]), None, length=epochs)
        metrics = {"loss": losses[-1], "resolved_fraction": weights.mean(),
                   "target_mean": (weights * targets).sum() / jnp.maximum(weights.sum(), 1.0)}
        return {**state, "params": params, "opt": opt}, metrics

    return RewardTransform(
        init=init,
        apply_fn=apply_fn,
        update=update,
        streams=(Stream(name, coef=coef),),
        default_hparams={"scale": scale, "lr": lr, "discount": discount, "threshold": threshold},
        invariance=POLICY_INVARIANT,
        name=name,
    )
