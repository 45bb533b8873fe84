"""Submodular rewards (Prajapat et al. 2024, "Submodular Reinforcement Learning", ICLR).

The objective of an episode is F(S), S the set of states visited, for a monotone
submodular F with F(∅) = 0. The per-step reward is the marginal gain

    r_t = F(S_t ∪ {s_{t+1}}) − F(S_t),    S_0 = {s_0},    S in episodic state,

so Σ_t r_t = F(S_T) − F({s_0}) telescopes; policy gradient on these rewards is SubPO.
The episode's first observation s_0 is in S, so stepping back onto it pays nothing. The
transforms do not see the reset: at an episode end S is emptied, and the next step,
whose `transition.obs` is the new episode's s_0, puts that observation in S before it
pays for s′. (Coverage and facility location add `obs` at every step, which later in the
episode changes nothing; log-det adds it at the episode's first step only, as E3B does.)

Because r depends on history, each transform can expose a summary of S to the policy
(`observe`); at s_0 itself, before its first step, that summary is the empty set's.
Objectives:

- `coverage`: weighted coverage F(S) = Σ_c w_c·1[c covered], a boolean mask over the
  cells of a grid (or a discretised continuous space); a visit covers the cells within
  Euclidean `radius` (in cells) of the visited cell.
- `facility_location`: F(S) = Σ_v w_v·max_{s∈S} k(v, φ(s)) over fixed points v, with
  k(v, x) = exp(−‖v − x‖² / (2σ²)) ∈ (0, 1].
- `logdet_coverage`: F(S) = logdet(λI + Σ_{s∈S} φφᵀ) − d·log λ, whose marginal gain is
  log(1 + φᵀC⁻¹φ): the E3B bonus through the same Sherman–Morrison update (`e3b`).
- `additive_visits`: the additive (modular) baseline, paying F({s′}) at every visit,
  repeats included.
"""

from __future__ import annotations

import dataclasses
import itertools
import warnings
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxshape.rewards.base import NOT_INVARIANT, RewardTransform, Stream, no_state, no_update, reset_where
from jaxshape.rewards.counts import flatten_obs
from jaxshape.rewards.e3b import Embedding, elliptical_transform
from jaxshape.types import Transition

Locate = Callable[[Transition], jax.Array]


# ------------------------------------------------------------------ locating cells
@dataclasses.dataclass(frozen=True)
class Locator:
    """Grid cells [N, ndim] of a transition's states: `locator(transition)` those of the
    next observation s′, `locator.start(transition)` those of the observation s (used for
    an episode's first observation s_0). `start` is None where s cannot be located: a
    cell the env reports in the step's info exists for s′ only."""

    next: Locate
    start: Locate | None = None

    def __call__(self, transition: Transition) -> jax.Array:
        return self.next(transition)


def grid_locator(shape: Sequence[int], low: Any = 0.0, high: Any = 1.0, dims: Sequence[int] | None = None) -> Locator:
    """Cell coordinates [N, len(shape)] of an observation in a box [low, high] cut into
    `shape` cells: of s′ when called, of s through `start`.

    Reads the features `dims` (default the first len(shape)) of the flattened obs;
    positions outside the box go to the border cells."""
    shape_arr = np.asarray(shape, np.int32)
    dims = tuple(range(len(shape))) if dims is None else tuple(dims)

    def cells(obs: jax.Array) -> jax.Array:
        x = flatten_obs(obs)[:, dims]
        frac = (x - jnp.asarray(low, jnp.float32)) / (jnp.asarray(high, jnp.float32) - jnp.asarray(low, jnp.float32))
        return jnp.clip(jnp.floor(frac * shape_arr).astype(jnp.int32), 0, shape_arr - 1)

    return Locator(next=lambda t: cells(t.next_obs), start=lambda t: cells(t.obs))


def info_locator(shape: Sequence[int], key: str = "cell") -> Locator:
    """Cell coordinates of s′ from a flat cell index the env reports in `info[key]`.

    No `start`: the info belongs to s′, and s_0 has none. Where the observation gives
    the cell, add one: `Locator(info_locator(shape), start=grid_locator(shape).start)`."""

    def locate(transition: Transition) -> jax.Array:
        return jnp.stack(jnp.unravel_index(transition.info[key].astype(jnp.int32), tuple(shape)), axis=-1)

    return Locator(next=locate)


def patch_offsets(radius: float, ndim: int) -> np.ndarray:
    """Integer offsets o with ‖o‖₂ ≤ radius: the patch one visit covers, [P, ndim]."""
    r = int(np.floor(radius))
    offsets = [o for o in itertools.product(range(-r, r + 1), repeat=ndim) if np.sum(np.square(o)) <= radius**2]
    return np.asarray(offsets, np.int32).reshape(-1, ndim)


def patch_cells(coords: jax.Array, shape: Sequence[int], offsets: np.ndarray) -> jax.Array:
    """Flat indices [N, P] of the patch cells around `coords` [N, ndim]; cells off the
    grid get index prod(shape) (dropped by `.at[..., mode="drop"]`)."""
    shape_arr = np.asarray(shape, np.int32)
    strides = np.asarray([int(np.prod(shape[i + 1:])) for i in range(len(shape))], np.int32)
    cells = coords[:, None, :] + offsets[None]
    inside = jnp.all((cells >= 0) & (cells < shape_arr), axis=-1)
    return jnp.where(inside, jnp.sum(cells * strides, axis=-1), int(np.prod(shape)))


def coverage_value(mask: jax.Array, weights: jax.Array | None = None) -> jax.Array:
    """F(S) = Σ_c w_c·mask_c over the last axis (a flat mask)."""
    m = mask.astype(jnp.float32)
    return m.sum(-1) if weights is None else (m * weights).sum(-1)


def downsample(mask: jax.Array, shape: Sequence[int], factor: int) -> jax.Array:
    """Block means of a flat mask [N, C] over factor^ndim blocks, flattened: [N, C / factor^ndim]."""
    if any(s % factor for s in shape):
        raise ValueError(f"downsample factor {factor} must divide the grid shape {tuple(shape)}")
    split = [d for s in shape for d in (s // factor, factor)]
    x = mask.astype(jnp.float32).reshape((mask.shape[0],) + tuple(split))
    x = x.mean(axis=tuple(range(2, 2 + 2 * len(shape), 2)))
    return x.reshape(mask.shape[0], -1)


def _check_weights(weights, shape):
    if weights is None:
        return None
    w = np.asarray(weights, np.float32).reshape(-1)
    if w.size != int(np.prod(shape)):
        raise ValueError(f"cell weights have {w.size} entries; the grid {tuple(shape)} has {int(np.prod(shape))} cells")
    return jnp.asarray(w)


# ------------------------------------------------------------------ coverage
@struct.dataclass
class CoverageState:
    mask: jax.Array  # [num_envs, prod(shape)] bool, episodic


def coverage(
    shape: Sequence[int],
    locate: Locate | None = None,
    *,
    radius: float = 0.0,
    weights: Any = None,
    observe: bool = True,
    downsample_factor: int = 1,
    coef: float = 1.0,
    stream: str = "coverage",
    name: str = "coverage",
) -> RewardTransform:
    """Weighted-coverage marginal gains r_t = Σ_c w_c·1[c newly covered by s_{t+1}].

    Args:
      shape: the grid of cells, e.g. (8, 8).
      locate: `transition -> int [N, len(shape)]` cell of s′; default `grid_locator(shape)`
        (obs positions in [0, 1]). Its `start` (see `Locator`) places the episode's
        first observation in S; a locator without one (`info_locator`, a plain
        function) leaves S_0 = ∅, so returning to the start cell pays, with a warning.
      radius: each visit covers the cells within this Euclidean distance (in cells).
      weights: per-cell weights (default 1: integer rewards, F = number of cells covered).
      observe: expose the mask (flattened, block-averaged by `downsample_factor`) to the policy.
    Traced hparam `scale` multiplies the reward.
    """
    shape = tuple(int(s) for s in shape)
    locate = locate or grid_locator(shape)
    offsets = patch_offsets(radius, len(shape))
    w = _check_weights(weights, shape)
    num_cells = int(np.prod(shape))
    locate_start = getattr(locate, "start", None)
    if locate_start is None:
        warnings.warn("coverage: the cell locator has no `start` to place an episode's first observation, so "
                      "S_0 = ∅ and returning to the start cell pays; see `submodular.Locator`", stacklevel=2)

    def init(key, example: Transition):
        del key
        return CoverageState(jnp.zeros((example.reward.shape[0], num_cells), bool))

    def apply_fn(state: CoverageState, transition: Transition, rewards, hparams):
        envs = jnp.arange(transition.reward.shape[0])[:, None]
        mask = state.mask
        if locate_start is not None:  # s: the episode's s_0 at its first step, already in S later
            mask = mask.at[envs, patch_cells(locate_start(transition), shape, offsets)].set(True, mode="drop")
        covered = mask.at[envs, patch_cells(locate(transition), shape, offsets)].set(True, mode="drop")
        gain = coverage_value(covered & ~mask, w)
        covered = reset_where(transition.done, covered, jnp.zeros_like(covered))
        return {**rewards, stream: hparams["scale"] * gain}, CoverageState(covered)

    def observe_fn(state: CoverageState):
        if downsample_factor == 1:
            return state.mask.astype(jnp.float32)
        return downsample(state.mask, shape, downsample_factor)

    return RewardTransform(
        init=init,
        apply_fn=apply_fn,
        update=no_update,
        streams=(Stream(stream, coef=coef),),
        default_hparams={"scale": 1.0},
        invariance=NOT_INVARIANT,
        observe=observe_fn if observe else None,
        name=name,
    )


def additive_visits(
    shape: Sequence[int],
    locate: Locate | None = None,
    *,
    radius: float = 0.0,
    weights: Any = None,
    coef: float = 1.0,
    stream: str = "visits",
    name: str = "visits",
) -> RewardTransform:
    """Additive baseline of `coverage`: r_t = F({s_{t+1}}) = Σ_{c ∈ patch(s_{t+1})} w_c at
    every visit, repeats included (no state). Traced hparam `scale`."""
    shape = tuple(int(s) for s in shape)
    locate = locate or grid_locator(shape)
    offsets = patch_offsets(radius, len(shape))
    w = _check_weights(weights, shape)
    w_padded = jnp.concatenate([jnp.ones(int(np.prod(shape)), jnp.float32) if w is None else w, jnp.zeros(1)])

    def apply_fn(state, transition: Transition, rewards, hparams):
        cells = patch_cells(locate(transition), shape, offsets)
        return {**rewards, stream: hparams["scale"] * w_padded[cells].sum(-1)}, state

    return RewardTransform(
        init=no_state,
        apply_fn=apply_fn,
        update=no_update,
        streams=(Stream(stream, coef=coef),),
        default_hparams={"scale": 1.0},
        invariance=NOT_INVARIANT,
        name=name,
    )


# ------------------------------------------------------------------ facility location
@struct.dataclass
class FacilityState:
    best: jax.Array  # [num_envs, V]: max_{s∈S} k(v, φ(s)), 0 for S = ∅ (after an episode end); episodic


def facility_location(
    points: Any,
    *,
    embed: Callable[[jax.Array], jax.Array] | None = None,
    bandwidth: float = 0.1,
    weights: Any = None,
    observe: bool = False,
    coef: float = 1.0,
    stream: str = "facility",
    name: str = "facility",
) -> RewardTransform:
    """Facility-location marginal gains r_t = Σ_v w_v·(max(m_v, k(v, φ(s′))) − m_v),
    m_v = max_{s∈S_t} k(v, φ(s)).

    Args:
      points: the fixed points v, [V, d].
      embed: `[N, ...] next obs -> [N, d]`; default the flattened observation.
      bandwidth: default σ of the Gaussian kernel (traced hparam `bandwidth`).
      observe: expose m [N, V] to the policy.
    Traced hparams: `bandwidth`, `scale`.
    """
    pts = jnp.asarray(points, jnp.float32)
    w = None if weights is None else jnp.asarray(weights, jnp.float32).reshape(pts.shape[0])
    embed = embed or flatten_obs

    def init(key, example: Transition):
        del key
        return FacilityState(jnp.zeros((example.reward.shape[0], pts.shape[0]), jnp.float32))

    def apply_fn(state: FacilityState, transition: Transition, rewards, hparams):
        def similarity(obs):  # k(v, φ(obs)) [N, V]
            sq = jnp.sum((embed(obs)[:, None, :] - pts[None]) ** 2, axis=-1)
            return jnp.exp(-sq / (2.0 * hparams["bandwidth"] ** 2))

        before = jnp.maximum(state.best, similarity(transition.obs))  # s: the episode's s_0 at its first step
        best = jnp.maximum(before, similarity(transition.next_obs))
        inc = best - before
        gain = inc.sum(-1) if w is None else (inc * w).sum(-1)
        best = reset_where(transition.done, best, jnp.zeros_like(best))
        return {**rewards, stream: hparams["scale"] * gain}, FacilityState(best)

    return RewardTransform(
        init=init,
        apply_fn=apply_fn,
        update=no_update,
        streams=(Stream(stream, coef=coef),),
        default_hparams={"bandwidth": bandwidth, "scale": 1.0},
        invariance=NOT_INVARIANT,
        observe=(lambda s: s.best) if observe else None,
        name=name,
    )


def facility_value(best: jax.Array, weights: jax.Array | None = None) -> jax.Array:
    """F(S) = Σ_v w_v·m_v from a facility-location state's `best` [..., V]."""
    return best.sum(-1) if weights is None else (best * weights).sum(-1)


# ------------------------------------------------------------------ log-det
def logdet_coverage(
    embedding: str = "identity",
    *,
    dim: int | None = None,
    num_actions: int | None = None,
    lam: float = 0.1,
    lr: float = 1e-3,
    coef: float = 1.0,
    stream: str = "logdet",
    name: str = "logdet",
) -> RewardTransform:
    """Log-det marginal gains r_t = log(1 + φᵀC_t⁻¹φ), C_0 = λI + φ(s_0)φ(s_0)ᵀ, sharing
    E3B's rank-1 update (and its handling of the episode's first observation).

    Traced hparams: `lambda`, `scale` (and `lr` with a learned embedding)."""
    emb = Embedding(embedding, dim, num_actions)
    hparams = {"lambda": lam, "scale": 1.0, **({"lr": lr} if emb.learned else {})}
    return elliptical_transform(emb, hparams, lambda bonus, hp: hp["scale"] * jnp.log1p(bonus), stream, coef, name)
