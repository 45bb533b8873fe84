"""Normalising and combining reward streams.

- `normalize_returns`: divide a stream by the running std of its discounted return
  (Burda et al. 2018, RND; the `VecNormalize`/`NormalizeReward` reward filter):
      G ← γ·G·(1 − done_prev) + r,    r̃ = r / √(Var G + ε),
  no mean subtraction (so the sign and the zero of r are kept), statistics shared over
  the env axis. A positive rescaling: POSITIVE_SCALE.
- `clip`, `symlog`: stateless non-linear squashes (nonlinear=True, NOT_INVARIANT: after
  potential shaping they break its policy invariance, and `chain` warns).
- `scale`: multiply a stream by a traced factor (POSITIVE_SCALE for factor > 0).
- `sum_streams`: a weighted sum of streams as a new stream.
- `schedule`: multiply a stream by fn(env steps seen so far).

Each of these takes the name of the stream it works on; an unknown name raises
`ConfigError` listing the streams present.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

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
from jaxshape.stats import RunningMeanStd
from jaxshape.types import Transition


def get_stream(rewards: Rewards, stream: str, who: str) -> jax.Array:
    """`rewards[stream]`, or a ConfigError naming the transform and the streams present."""
    if stream not in rewards:
        raise ConfigError(
            f"{who} works on stream {stream!r}, which no earlier transform made; "
            f"streams present: {sorted(rewards)} (put {who} after the transform that adds it)"
        )
    return rewards[stream]


def _map_stream(stream: str, name: str, fn: Callable[[jax.Array, Any], jax.Array], default_hparams: dict,
                invariance: str, nonlinear: bool) -> RewardTransform:
    """A stateless transform rewriting one stream as fn(r, hparams)."""

    def apply_fn(state, transition, rewards, hparams):
        del transition
        return {**rewards, stream: fn(get_stream(rewards, stream, name), hparams)}, state

    return RewardTransform(no_state, apply_fn, no_update, default_hparams=default_hparams, invariance=invariance,
                           nonlinear=nonlinear, name=name)


# ------------------------------------------------------------------ stateless
def clip(stream: str = "extrinsic", low: float = -1.0, high: float = 1.0, name: str = "clip") -> RewardTransform:
    """r ← clip(r, low, high) (Mnih et al. 2015); `low`, `high` are traced hparams."""
    return _map_stream(stream, name, lambda r, hp: jnp.clip(r, hp["low"], hp["high"]),
                       {"low": low, "high": high}, NOT_INVARIANT, nonlinear=True)


def symlog(stream: str = "extrinsic", name: str = "symlog") -> RewardTransform:
    """r ← sign(r)·log(1 + |r|) (Hafner et al. 2023, DreamerV3)."""
    return _map_stream(stream, name, lambda r, hp: jnp.sign(r) * jnp.log1p(jnp.abs(r)), {}, NOT_INVARIANT,
                       nonlinear=True)


def scale(stream: str = "extrinsic", factor: float = 1.0, name: str = "scale") -> RewardTransform:
    """r ← factor·r; `factor` is the traced hparam "factor" (vmap over it freely).

    Declared POSITIVE_SCALE: a negative factor reverses preferences, keep it > 0."""
    return _map_stream(stream, name, lambda r, hp: hp["factor"] * r, {"factor": factor}, POSITIVE_SCALE,
                       nonlinear=False)


# ------------------------------------------------------- return normalisation
def normalize_returns(
    stream: str = "extrinsic",
    eps: float = 1e-8,
    gamma: float | None = None,
    episodic: bool = True,
    frozen: bool = False,
    name: str = "normalize",
) -> RewardTransform:
    """r̃ = r / √(Var G + ε), G ← γ·G·(1 − done_prev) + r (Burda et al. 2018).

    In `apply`, per step: G ← γ·G + r per env; the running statistics (a
    `RunningMeanStd`, shared across envs: one merge of the [num_envs] batch of G per
    step) take in G; r̃ = r / √(var + ε) with the updated variance; then G is reset to 0
    where the episode ended (unless `episodic=False`, for non-episodic intrinsic
    streams, whose return runs on across resets as in RND's reward filter).

    Args:
      stream: the stream to normalise, rewritten in place.
      eps: ε, the traced hparam "eps".
      gamma: the return's discount; None (default) uses `transition.gamma`, the learner's
        γ; a float makes it the traced hparam "gamma" (e.g. RND's γ_int = 0.99).
      episodic: reset G at episode ends.
      frozen: default of the traced hparam "frozen". For evaluation set it to 1.0 in the
        hparams passed to `apply` (`hparams["frozen"] = 1.0`, or in a chain
        `hparams[<name>]["frozen"]`): the statistics are then used but not updated.
        Being a traced leaf, flipping it never recompiles.

    State: episodic `ret` (G, [num_envs]); persistent `rms` (shared). POSITIVE_SCALE.
    """
    defaults: dict[str, float] = {"eps": eps, "frozen": float(frozen)}
    if gamma is not None:
        defaults["gamma"] = gamma

    def init(key, example: Transition):
        del key
        return {"ret": jnp.zeros(jnp.shape(example.reward), jnp.float32), "rms": RunningMeanStd.create(())}

    def apply_fn(state, transition: Transition, rewards: Rewards, hparams):
        r = get_stream(rewards, stream, f"normalize_returns({stream!r})").astype(jnp.float32)
        discount = transition.gamma if gamma is None else hparams["gamma"]
        ret = jnp.asarray(discount, jnp.float32) * state["ret"] + r
        updated = state["rms"].update(ret)
        is_frozen = jnp.asarray(hparams["frozen"]) > 0.5
        rms = jax.tree.map(lambda old, new: jnp.where(is_frozen, old, new), state["rms"], updated)
        normalized = r / jnp.sqrt(rms.var + hparams["eps"])
        if episodic:
            ret = reset_where(transition.done, ret, jnp.zeros_like(ret))
        return {**rewards, stream: normalized}, {"ret": ret, "rms": rms}

    return RewardTransform(init, apply_fn, no_update, default_hparams=defaults, invariance=POSITIVE_SCALE,
                           nonlinear=False, name=name)


# ----------------------------------------------------------------- combining
def sum_streams(
    names: Sequence[str],
    into: str,
    weights: Sequence[float] | dict[str, float] | None = None,
    coef: float = 1.0,
    name: str | None = None,
) -> RewardTransform:
    """Adds stream `into` = Σ_k w_k·r_k over `names`; the weights are traced hparams
    keyed by stream name (default 1 each).

    The parts stay in the rewards dict (every term is still logged), and a learner
    weights *every* stream by its own coefficient: to train on the sum alone, set the
    parts' coefficients to 0 (e.g. PPO's `reward_coefs={"extrinsic": 0., "shaping": 0.,
    into: 1.}`). `coef` is the default coefficient of `into`.

    Invariance: POSITIVE_SCALE (for positive weights): summing adds nothing the parts
    did not bring, and a chain reports the parts' own classes through its members
    (a positively weighted shaping stream is still potential-based, with w·Φ).
    """
    names = tuple(names)
    if not names:
        raise ConfigError("sum_streams needs at least one stream name")
    if into in names:
        raise ConfigError(f"sum_streams: `into` ({into!r}) must be a new stream, not one of the parts {names}")
    if weights is None:
        weights = {n: 1.0 for n in names}
    elif not isinstance(weights, dict):
        weights = tuple(weights)
        if len(weights) != len(names):
            raise ConfigError(f"sum_streams got {len(weights)} weights for {len(names)} streams {names}")
        weights = dict(zip(names, weights))
    if set(weights) != set(names):
        raise ConfigError(f"sum_streams weights are keyed {sorted(weights)}, the streams are {sorted(names)}")

    def apply_fn(state, transition, rewards, hparams):
        del transition
        parts = [hparams[n] * get_stream(rewards, n, f"sum_streams(into={into!r})") for n in names]
        return {**rewards, into: sum(parts[1:], parts[0])}, state

    return RewardTransform(no_state, apply_fn, no_update, streams=(Stream(into, coef=coef),),
                           default_hparams=dict(weights), invariance=POSITIVE_SCALE, nonlinear=False,
                           name=name or f"sum_{into}")


def schedule(stream: str, fn: Callable[[jax.Array], jax.Array], name: str = "schedule") -> RewardTransform:
    """r ← fn(t)·r, t the number of env steps seen before this step (summed over envs).

    `fn` maps the int32 step count to a float scalar (e.g. a linear decay of an
    exploration bonus, `lambda t: jnp.maximum(0., 1. - t / 1e6)`); jnp code only, no
    Python branches on `t`. The counter is persistent state, never reset, and grows by
    num_envs per `apply` (int32: good to 2^31 steps). A weight that varies in time
    changes the task: NOT_INVARIANT.
    """

    def init(key, example: Transition):
        del key, example
        return {"steps": jnp.zeros((), jnp.int32)}

    def apply_fn(state, transition: Transition, rewards: Rewards, hparams):
        del hparams
        r = get_stream(rewards, stream, f"schedule({stream!r})")
        weight = jnp.asarray(fn(state["steps"]), jnp.float32)
        steps = state["steps"] + jnp.int32(jnp.size(transition.reward))
        return {**rewards, stream: weight * r}, {"steps": steps}

    return RewardTransform(init, apply_fn, no_update, default_hparams={}, invariance=NOT_INVARIANT,
                           nonlinear=False, name=name)
