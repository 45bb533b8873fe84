"""Gated and multiplicative combinations of reward streams.

- `gate(streams, outcome, mode="episode")`: credit a stream's step rewards only when the
  episode's outcome holds. Per env, with s = 1[outcome(final transition) > threshold]:
      A_t = A_{t−1} + r_t   (A reset to 0 after an episode ends),
      r̃_t = done_t · s_t · A_t,
  i.e. 0 on every step, and the undiscounted sum of the episode's step rewards on its last
  step if it succeeded, 0 if it failed (a time limit ends an episode too: the outcome is
  judged on that last step). Credit stays inside the episode.
- `gate(streams, outcome, mode="rate")`: scale the step rewards by a running success rate
      r̃_t = clip(ρ / full_at, 0, 1) · r_t,
  ρ an exponential moving average, over updates, of the fraction of the rollout's ended
  episodes that succeeded (bias-corrected, 0 before any episode ended), so dense terms
  fade in only once the agent succeeds.
- `multiply(progress, penalties)`: r̃ = r_progress · Π_k clip(p_k, 0, 1), a progress
  reward times penalty factors in [0, 1] instead of a sum (CaRL, Jaeger et al. 2025):
  a penalty can take progress reward away but never pay for itself, so it cannot be
  traded against progress.
- `terminate_if`: not a reward transform (see its docstring): ending an episode is the
  env's job, `jaxshape.envs.terminate_if(env, condition)`.

Invariance: the episode gate and the product are NOT_INVARIANT (non-linear in the
streams: `chain` warns when they rewrite a potential-shaped stream; gating Σ F_t on
success is no longer a potential difference). The rate gate multiplies by a factor ≥ 0
shared by all envs that changes only in `update`, between rollouts: POSITIVE_SCALE, a
potential-shaped stream stays potential-based (with potential factor·Φ) within a rollout.
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp

from jaxshape.errors import ConfigError
from jaxshape.rewards.base import (
    NOT_INVARIANT,
    POSITIVE_SCALE,
    RewardTransform,
    Rewards,
    Stream,
    no_state,
    no_update,
    reset_where,
)
from jaxshape.rewards.normalize import get_stream
from jaxshape.types import Transition

Outcome = Callable[[Transition], jax.Array]


def extrinsic_reward(transition: Transition) -> jax.Array:
    """The default outcome score: the env's reward on the episode's last step."""
    return transition.reward


def _stream_names(streams: str | Sequence[str], who: str) -> tuple[str, ...]:
    names = (streams,) if isinstance(streams, str) else tuple(streams)
    if not names:
        raise ConfigError(f"{who} needs at least one stream name")
    if len(set(names)) != len(names):
        raise ConfigError(f"{who} got a stream name twice: {names}")
    return names


def _succeeded(outcome: Outcome, transition: Transition, threshold) -> jax.Array:
    """1[outcome(transition) > threshold] per env, a bool [num_envs]."""
    score = jnp.asarray(outcome(transition))
    if jnp.shape(score) != jnp.shape(transition.reward):
        raise ConfigError(f"gate outcome returned shape {jnp.shape(score)}; it must return one value per env, "
                          f"shape {jnp.shape(transition.reward)}")
    return score.astype(jnp.float32) > threshold


def gate(
    streams: str | Sequence[str],
    outcome: Outcome = extrinsic_reward,
    mode: str = "episode",
    threshold: float = 0.0,
    momentum: float = 0.9,
    full_at: float = 1.0,
    name: str = "gate",
) -> RewardTransform:
    """Credit the step rewards of `streams` only when an outcome holds (rewritten in place).

    Args:
      streams: the stream name(s) to gate; each is gated on its own, by the same outcome.
      outcome: `transition -> [num_envs]` score of an episode's last transition (bool or
        float; `transition.info` holds the env's step info, `transition.reward` its
        reward); the episode succeeded where score > threshold. Default: the env reward.
        jnp code, elementwise over envs: in the rate mode `update` calls it once per
        rollout step of the batch.
      mode: "episode": pay each episode's sum of step rewards on its last step if it
        succeeded, else 0 (formula in the module docstring). "rate": scale every step
        reward by clip(ρ / full_at, 0, 1), ρ the running success rate.
      threshold: traced hparam "threshold" (both modes).
      momentum: traced hparam "momentum" (rate mode), m in ρ's moving average: per
        update with n > 0 ended episodes, of which a fraction x succeeded,
        e ← m·e + (1 − m)·x, w ← m·w + (1 − m), ρ = e / w (0 while w = 0).
      full_at: traced hparam "full_at" (rate mode): the success rate at and above which
        the stream is paid in full.

    State: "episode" mode keeps the running sums A (episodic, [num_envs] per stream,
    reset where `transition.done`); "rate" mode keeps e and w (persistent scalars,
    shared across envs, updated only in `update`, from the batch's ended episodes:
    `batch` leaves [T, num_envs, ...]).

    Not policy-invariant in "episode" mode: a failed episode's penalties and bonuses
    vanish, a successful one's are all paid at its end (undiscounted: the discounted
    value at the start is γ^T·Σ_t r_t, so a term that grows with episode length rewards
    dawdling before success), and the paid sum depends on the history, which the policy's
    observation does not show. "rate" mode is a non-negative rescaling (POSITIVE_SCALE).
    """
    names = _stream_names(streams, "gate")
    who = f"gate({list(names)})"
    if mode == "episode":
        return _episode_gate(names, outcome, threshold, who, name)
    if mode == "rate":
        return _rate_gate(names, outcome, threshold, momentum, full_at, who, name)
    raise ConfigError(f"gate mode must be 'episode' or 'rate', got {mode!r}")


def _episode_gate(names, outcome, threshold, who, name) -> RewardTransform:
    def init(key, example: Transition):
        del key
        return {n: jnp.zeros(jnp.shape(example.reward), jnp.float32) for n in names}

    def apply_fn(state, transition: Transition, rewards: Rewards, hparams):
        done = transition.done
        paid_out = done & _succeeded(outcome, transition, hparams["threshold"])
        new_rewards, new_state = dict(rewards), {}
        for n in names:
            total = state[n] + get_stream(rewards, n, who).astype(jnp.float32)
            new_rewards[n] = jnp.where(paid_out, total, 0.0)
            new_state[n] = reset_where(done, total, jnp.zeros_like(total))
        return new_rewards, new_state

    return RewardTransform(init, apply_fn, no_update, default_hparams={"threshold": threshold},
                           invariance=NOT_INVARIANT, nonlinear=True, name=name)


def _rate_gate(names, outcome, threshold, momentum, full_at, who, name) -> RewardTransform:
    def init(key, example: Transition):
        del key, example
        return {"ema": jnp.zeros((), jnp.float32), "weight": jnp.zeros((), jnp.float32)}

    def success_rate(state):
        return jnp.where(state["weight"] > 0, state["ema"] / jnp.maximum(state["weight"], 1e-12), 0.0)

    def factor(state, hparams):
        return jnp.clip(success_rate(state) / hparams["full_at"], 0.0, 1.0)

    def apply_fn(state, transition: Transition, rewards: Rewards, hparams):
        del transition
        f = factor(state, hparams)
        return {**rewards, **{n: f * get_stream(rewards, n, who) for n in names}}, state

    def update(state, batch: Transition, key, hparams):
        del key
        axes = jax.tree.map(lambda x: 0 if jnp.ndim(x) >= 1 else None, batch)  # over time; γ may be a scalar
        success = jax.vmap(lambda t: _succeeded(outcome, t, hparams["threshold"]), in_axes=(axes,))(batch)
        ended = batch.done.astype(jnp.float32)
        n = ended.sum()
        rate = (ended * success).sum() / jnp.maximum(n, 1.0)
        m = jnp.asarray(hparams["momentum"], jnp.float32)
        seen = n > 0
        new = {"ema": jnp.where(seen, m * state["ema"] + (1 - m) * rate, state["ema"]),
               "weight": jnp.where(seen, m * state["weight"] + (1 - m), state["weight"])}
        return new, {"success_rate": success_rate(new), "factor": factor(new, hparams), "episodes": n}

    return RewardTransform(init, apply_fn, update,
                           default_hparams={"threshold": threshold, "momentum": momentum, "full_at": full_at},
                           invariance=POSITIVE_SCALE, nonlinear=False, name=name)


def multiply(
    progress: str,
    penalties: str | Sequence[str],
    into: str | None = None,
    coef: float = 1.0,
    name: str = "multiply",
) -> RewardTransform:
    """r̃ = r_progress · Π_k clip(p_k, 0, 1): progress times penalty factors (CaRL-style).

    What the learner then trains on:
    - `into=None` (default): the product is written over the `progress` stream, which
      keeps its own coefficient: the product takes the place of progress in the learner's
      sum, e.g. `multiply("extrinsic", ["lane", "speed"])`.
    - `into="name"`: the product is a new stream of default coefficient `coef`; the raw
      `progress` stream stays (logged), so set its coefficient to 0 to train on the
      product alone (as with `sum_streams`).
    - The penalty streams are factors, not rewards: make them with coefficient 0
      (`term("lane", fn, coef=0.0)`), else the learner also adds them to its sum. They
      stay in the rewards dict and are logged as `reward/<name>`. Values outside [0, 1]
      are clipped, so a factor can only take reward away.

    Stateless, no hparams. NOT_INVARIANT: the factors depend on the state, so the
    product is not a potential difference even when `progress` is.
    """
    factors = _stream_names(penalties, "multiply")
    if progress in factors:
        raise ConfigError(f"multiply: progress stream {progress!r} is also among the penalty factors {factors}")
    target = progress if into is None else into
    if target in factors:
        raise ConfigError(f"multiply: `into` ({into!r}) must not be one of the penalty factors {factors}")
    who = f"multiply({progress!r}, {list(factors)})"

    def apply_fn(state, transition, rewards: Rewards, hparams):
        del transition, hparams
        product = get_stream(rewards, progress, who).astype(jnp.float32)
        for f in factors:
            product = product * jnp.clip(get_stream(rewards, f, who), 0.0, 1.0)
        return {**rewards, target: product}, state

    added = () if target == progress else (Stream(target, coef=coef),)
    return RewardTransform(no_state, apply_fn, no_update, streams=added, default_hparams={},
                           invariance=NOT_INVARIANT, nonlinear=True, name=name)


def terminate_if(*args, **kwargs):
    """Not a reward transform: use `jaxshape.envs.terminate_if(env, condition)`.

    A transform returns reward streams; it cannot end an episode. A termination the
    learner sees (no bootstrap, GAE cut, Φ = 0) must come out of the env step as
    `terminated`, and the env must then reset, which only the env can do. This name
    exists so that the search for it ends in one line that names the fix."""
    del args, kwargs
    raise ConfigError(
        "rewards.terminate_if does not exist as a reward transform (a transform returns rewards, it cannot end "
        "an episode or reset the env): wrap the env, env = jaxshape.envs.terminate_if(env, condition) with "
        "condition(obs, info) -> bool, and pass that env to the learner")
