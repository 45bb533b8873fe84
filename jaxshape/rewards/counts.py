"""Count-based exploration bonus (#Exploration, Tang et al. 2017, arXiv:1611.04717).

    b(s′) = β / √n(φ(s′))

`n` counts visits of the hash bucket φ(s′), the visit of this step included (so the n-th
visit of a cell pays β/√n). The first observation s_0 of each episode counts as a visit
too: the transform does not see the reset, so where an episode ended it marks the env
`fresh`, and the next step, whose `transition.obs` is the new episode's s_0, counts that
observation before its own s′. φ is either

- `"tabular"`: an index function of the observation (default: the arg-max of the
  flattened observation, which is the cell of a one-hot grid such as DeepSea), or
- `"simhash"`: SimHash φ(s) = sgn(A·g(s)) ∈ {−1, 1}^k with A a k×D Gaussian matrix drawn
  once at `init` and g the flattened observation; the k sign bits select a bucket of a
  table of `table_size` entries (exactly, when k ≤ log2(table_size)).

Counts are summed across the env axis with `.at[].add` (two envs landing in one bucket on
the same step both count). With `episodic=False` (default) there is one table shared by
all envs and never reset (persistent state); with `episodic=True` each env has its own
table, reset where its episode ends.

The hashing helpers here (`flatten_obs`, `argmax_index`, `simhash_init`, `simhash_index`)
are shared with the NovelD visited-set.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxshape import draws
from jaxshape.rewards.base import NOT_INVARIANT, RewardTransform, Stream, no_update, reset_where
from jaxshape.types import Transition

IndexFn = Callable[[jax.Array], jax.Array]


def flatten_obs(obs: jax.Array, batch_dims: int = 1) -> jax.Array:
    """Observations (images included) as float32 vectors: [*batch, D]."""
    return obs.reshape(obs.shape[:batch_dims] + (-1,)).astype(jnp.float32)


def action_features(action: jax.Array, num_actions: int | None, batch_dims: int = 1) -> jax.Array:
    """A learned reward's action input: one-hot [*batch, num_actions] of a discrete action
    (`num_actions` given), else the continuous action flattened to float32 [*batch, A]."""
    if num_actions is not None:
        return jax.nn.one_hot(action.reshape(action.shape[:batch_dims]), num_actions, dtype=jnp.float32)
    return flatten_obs(action, batch_dims)


def argmax_index(obs: jax.Array) -> jax.Array:
    """Tabular index of a batch of one-hot observations: the arg-max of each flattened obs."""
    return jnp.argmax(flatten_obs(obs), axis=-1).astype(jnp.int32)


def simhash_init(key: jax.Array, input_dim: int, bits: int, table_size: int) -> tuple[jax.Array, jax.Array]:
    """SimHash projection A ~ N(0, 1)^{k×D} and the per-bit weights that fold bits into a bucket.

    With k ≤ log2(table_size) the weights are 2^i (a collision-free bucket per code);
    otherwise random odd 32-bit multipliers, summed modulo 2^32, then modulo table_size."""
    a_key, w_key = jax.random.split(key)
    projection = draws.normal(a_key, (bits, input_dim), jnp.float32)
    if 2**bits <= table_size:
        weights = jnp.asarray(2 ** np.arange(bits), jnp.uint32)
    else:
        weights = jax.random.bits(w_key, (bits,), jnp.uint32) | jnp.uint32(1)
    return projection, weights


def simhash_index(projection: jax.Array, weights: jax.Array, obs: jax.Array, table_size: int) -> jax.Array:
    """Bucket of sgn(A·g(s)) for a batch of observations: int32 [batch]."""
    bits = (flatten_obs(obs) @ projection.T > 0).astype(jnp.uint32)
    code = jnp.sum(bits * weights, axis=-1, dtype=jnp.uint32)  # wraps modulo 2^32
    return (code % jnp.uint32(table_size)).astype(jnp.int32)


@struct.dataclass
class CountState:
    table: jax.Array  # int32 [table_size] (global) or [num_envs, table_size] (episodic)
    fresh: jax.Array  # [num_envs] bool: this env's next `transition.obs` starts an episode
    projection: jax.Array  # SimHash A, [k, D] ([0, 0] for tabular)
    weights: jax.Array  # SimHash bit weights, [k]


def make_indexer(hash: str, index_fn: IndexFn | None, table_size: int | None, bits: int):
    """(init(key, example_obs) -> (projection, weights, table_size), index(projection, weights, obs))."""
    if hash not in ("tabular", "simhash"):
        raise ValueError(f"hash must be 'tabular' or 'simhash', got {hash!r}")
    if hash == "simhash" and bits <= 0:
        raise ValueError(f"simhash needs bits > 0, got {bits}")

    def init(key, example_obs):
        if hash == "tabular":
            size = table_size or int(np.prod(example_obs.shape[1:]))
            return jnp.zeros((0, 0), jnp.float32), jnp.zeros((0,), jnp.uint32), size
        size = table_size or 2**bits
        projection, weights = simhash_init(key, int(np.prod(example_obs.shape[1:])), bits, size)
        return projection, weights, size

    def index(projection, weights, obs, size):
        if hash == "tabular":
            return jnp.clip((index_fn or argmax_index)(obs).astype(jnp.int32), 0, size - 1)
        return simhash_index(projection, weights, obs, size)

    return init, index


def count_bonus(
    beta: float = 0.01,
    hash: str = "tabular",
    *,
    index_fn: IndexFn | None = None,
    table_size: int | None = None,
    bits: int = 16,
    episodic: bool = False,
    stream: str = "count",
    name: str = "count",
) -> RewardTransform:
    """Count bonus b = β/√n(φ(s′)) as stream `stream` (Tang et al. 2017).

    Args:
      beta: default bonus scale β (traced hparam `beta`).
      hash: `"tabular"` (index_fn of the observation) or `"simhash"` (k = `bits` sign bits).
      index_fn: tabular only, `[num_envs, ...] obs -> int [num_envs]`; default arg-max of
        the flattened observation (one-hot grids).
      table_size: number of buckets; default the flattened obs size (tabular) or 2^bits.
      episodic: per-env tables reset at episode end instead of one global table.
    """
    init_index, index = make_indexer(hash, index_fn, table_size, bits)

    def init(key, example: Transition):
        projection, weights, size = init_index(key, example.next_obs)
        shape = (example.reward.shape[0], size) if episodic else (size,)
        fresh = jnp.ones(example.reward.shape, bool)
        return CountState(jnp.zeros(shape, jnp.int32), fresh, projection, weights)

    def apply_fn(state: CountState, transition: Transition, rewards, hparams):
        size = state.table.shape[-1]
        firsts = index(state.projection, state.weights, transition.obs, size)  # counted where `fresh`
        cells = index(state.projection, state.weights, transition.next_obs, size)
        at = (jnp.arange(cells.shape[0]),) if episodic else ()
        table = state.table.at[at + (firsts,)].add(state.fresh.astype(jnp.int32))
        table = table.at[at + (cells,)].add(1)
        n = table[at + (cells,)]
        bonus = hparams["beta"] * jax.lax.rsqrt(n.astype(jnp.float32))
        if episodic:  # the visit that ended the episode counted; the next episode starts empty
            table = reset_where(transition.done, table, jnp.zeros_like(table))
        return {**rewards, stream: bonus}, state.replace(table=table, fresh=transition.done)

    def update(state, batch, key, hparams):
        state, _ = no_update(state, batch, key, hparams)
        return state, {"buckets_visited": jnp.sum(state.table > 0, axis=-1).mean()}

    return RewardTransform(
        init=init,
        apply_fn=apply_fn,
        update=update,
        streams=(Stream(stream),),
        default_hparams={"beta": beta},
        invariance=NOT_INVARIANT,
        name=name,
    )
