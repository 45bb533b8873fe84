"""Generalised advantage estimation with termination and truncation kept apart.

Schulman et al. 2016, with the termination rule of `jaxshape.types.Transition`. For step t with true next state s′_t:
    δ_t = r_t + γ·(1 − terminated_t)·V(s′_t) − V(s_t)
    A_t = δ_t + γλ·(1 − done_t)·A_{t+1},   done_t = terminated_t ∨ truncated_t
    target_t = A_t + V(s_t)
At truncation the bootstrap uses V of the true final observation (not of the reset
observation) and the trace is cut; at termination both stop.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def gae(rewards, values, next_values, terminated, truncated, gamma, gae_lambda):
    """Advantages and value targets for arrays shaped [T, ...] (time first)."""
    not_terminated = 1.0 - terminated.astype(jnp.float32)
    not_done = 1.0 - jnp.logical_or(terminated, truncated).astype(jnp.float32)
    deltas = rewards + gamma * not_terminated * next_values - values

    def backward(next_advantage, step):
        delta, continues = step
        advantage = delta + gamma * gae_lambda * continues * next_advantage
        return advantage, advantage

    _, advantages = jax.lax.scan(backward, jnp.zeros_like(deltas[0]), (deltas, not_done), reverse=True)
    return advantages, advantages + values


def normalized(advantages: jax.Array) -> jax.Array:
    """(A − mean A) / (std A + 1e-8) over every element: invariant to a positive scale."""
    return (advantages - advantages.mean()) / (advantages.std() + 1e-8)


def decoupled_advantages(rewards, coefs, values, next_values, terminated, truncated, gamma, gae_lambda):
    """Each stream's GAE normalised on its own, then weighted: A = Σ_k c_k · norm(A_k).

    Decoupled multi-reward advantages (as in GDPO): summing raw rewards lets the stream
    with the largest scale drown the others; normalising each stream's advantages first
    makes every stream count by its coefficient alone, whatever its scale. `rewards` is
    [K] arrays [T, ...]; `values`/`next_values` are [T, ..., K] (a value head per stream).
    Returns (A [T, ...], value targets [T, ..., K])."""
    combined, targets = 0.0, []
    for k, (reward, coef) in enumerate(zip(rewards, coefs)):
        advantage, target = gae(reward, values[..., k], next_values[..., k], terminated, truncated, gamma, gae_lambda)
        combined = combined + coef * normalized(advantage)
        targets.append(target)
    return combined, jnp.stack(targets, axis=-1)
