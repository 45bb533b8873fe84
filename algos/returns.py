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
