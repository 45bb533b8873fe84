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
from flax import struct

from jaxshape.stats import RunningMeanStd


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


@struct.dataclass
class ReturnScale:
    """The running scale σ_k of each reward stream's discounted return, for decoupled advantages.

    Per env and stream, G ← r + γ_k·G, reset to 0 after the step that ends an episode for
    an episodic stream and never for a non-episodic one; σ_k² = Var G over every env and
    step seen (Chan et al.'s parallel Welford merge, `RunningMeanStd`, started from zero
    samples so a stream that has only ever paid 0 has σ_k = 0 exactly). The statistic of
    RND's and PPO's reward scaling (Burda et al. 2018; Engstrom et al. 2020), the one
    `rewards.normalize_returns` divides by, kept per stream. `returns`: [N, K]."""

    returns: jax.Array
    stats: RunningMeanStd

    @classmethod
    def create(cls, num_envs: int, num_streams: int) -> "ReturnScale":
        zeros = jnp.zeros((num_streams,), jnp.float32)
        return cls(jnp.zeros((num_envs, num_streams), jnp.float32), RunningMeanStd(zeros, zeros, jnp.zeros(())))

    @property
    def scale(self) -> jax.Array:
        """σ_k [K]."""
        return jnp.sqrt(self.stats.var)

    def update(self, rewards: jax.Array, resets: jax.Array, gammas: jax.Array) -> "ReturnScale":
        """Merge a rollout: `rewards` [T, N, K], `resets` [T, N, K] (True after the step that
        ends the stream's episode), `gammas` [K]."""

        def step(returns, step):
            reward, reset = step
            returns = reward + gammas * returns
            return jnp.where(reset, 0.0, returns), returns

        returns, seen = jax.lax.scan(step, self.returns, (rewards, resets))
        return ReturnScale(returns, self.stats.update(seen))


def stream_units(scale: jax.Array, relative_floor: float = 1e-5) -> tuple[jax.Array, jax.Array]:
    """(unit u_k, signal gain g_k) of each stream from its return scale σ_k [K]:

        u_k = max(σ_k, ε),   g_k = σ_k / u_k = min(σ_k / ε, 1),   ε = ρ·max_j σ_j + 1e-30,  ρ = 1e-5.

    u_k is the stream's value unit (its head predicts returns / u_k). A stream's weight in
    the combined advantage is g_k/u_k: exactly 1/σ_k for every stream within a factor
    1/ρ = 1e5 of the largest (so scaling a stream by 1000 changes nothing), falling as
    σ_k/ε² below that: a stream whose advantages are only its head's noise, of size
    ~σ_k·u_k in reward units, then counts (σ_k/ε)² as much as a stream with signal; one
    that has only ever paid 0 (σ_k = 0) counts exactly 0, and nothing is divided by 0."""
    floor = relative_floor * jnp.max(scale) + 1e-30
    unit = jnp.maximum(scale, floor)
    return unit, scale / unit


def scaled_stream(advantage: jax.Array, target: jax.Array, unit: jax.Array, gain: jax.Array):
    """A stream's advantages g·A/u (in units of its return scale, shrunk by its signal gain)
    and its value targets in head units, target/u."""
    return gain * advantage / unit, target / unit


def decoupled_advantages(rewards, coefs, values, next_values, terminated, truncated, gamma, gae_lambda, unit, gain):
    """Each stream's GAE in units of its own return scale, then weighted:

        A = Σ_k c_k · g_k · A_k / u_k,     (u_k, g_k) = stream_units(σ)

    A_k is stream k's GAE in reward units, bootstrapped from its value head's outputs
    times u_k (head k predicts its stream's value in units of u_k); σ_k is the running std
    of the stream's discounted return (`ReturnScale`). Summing raw rewards lets the stream
    with the largest scale drown the others (as in GDPO); dividing each stream by the
    spread of its *returns* makes it count by its coefficient, whatever its scale. The
    earlier choice, dividing by the batch spread of its *advantages*, blew a stream with
    no signal (a −1-per-step task before its first success, a stream that pays 0) up to
    unit variance made of value-fit noise; here such a stream's advantages stay as small
    as its head's error relative to its returns, and a stream that has only paid 0
    (σ_k = 0, g_k = 0) weighs exactly nothing. The policy follows Σ_k c_k · R_k / σ_k: a
    coefficient is the weight of one σ of its stream's return. `rewards`: [K] arrays
    [T, ...]; `values`/`next_values`: [T, ..., K] in head units; `unit`, `gain`: [K] (of
    these streams, from `stream_units` over all of the learner's streams). Returns
    (A [T, ...], value targets [T, ..., K] in head units)."""
    combined, targets = 0.0, []
    for k, (reward, coef) in enumerate(zip(rewards, coefs)):
        advantage, target = gae(reward, unit[k] * values[..., k], unit[k] * next_values[..., k], terminated,
                                truncated, gamma, gae_lambda)
        advantage, target = scaled_stream(advantage, target, unit[k], gain[k])
        combined = combined + coef * advantage
        targets.append(target)
    return combined, jnp.stack(targets, axis=-1)
