"""NovelD (Zhang et al. 2021, "NovelD: A Simple yet Effective Exploration Criterion",
NeurIPS 2021).

    b(s, s′) = max(N(s′) − α·N(s), 0) · 1[s′ first visited in this episode],   α = 0.5

N is the RND prediction error (`rnd.RNDCore`: fixed random target, predictor trained in
`update` on the rollout's next observations, observations normalised by running
statistics and clipped to ±5). The episodic visited set is a per-env boolean table over
hash buckets (tabular index or SimHash, as in `counts`), reset where the episode ended.
The state an episode starts in counts as visited, so a step that stays put earns nothing.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
from flax import struct

from jaxshape.rewards.base import NOT_INVARIANT, RewardTransform, Stream, reset_where
from jaxshape.rewards.counts import IndexFn, make_indexer
from jaxshape.rewards.rnd import RNDCore, RNDNets
from jaxshape.types import Transition


@struct.dataclass
class NovelDState:
    nets: RNDNets  # persistent
    visited: jax.Array  # [num_envs, table_size] bool, episodic
    projection: jax.Array  # SimHash A (empty for tabular)
    weights: jax.Array


def noveld(
    hash: str = "tabular",
    *,
    index_fn: IndexFn | None = None,
    table_size: int | None = None,
    bits: int = 16,
    alpha: float = 0.5,
    lr: float = 1e-4,
    update_proportion: float = 0.25,
    hidden_sizes: Sequence[int] = (64, 64),
    output_size: int = 64,
    epochs: int = 4,
    minibatches: int = 4,
    coef: float = 1.0,
    stream: str = "noveld",
    name: str = "noveld",
) -> RewardTransform:
    """NovelD bonus as episodic stream `stream`. Traced hparams: `alpha`, `lr`; static:
    `update_proportion` (of each batch the predictor trains on per epoch). `hash`/`index_fn`/`table_size`/`bits` choose the visited-set key."""
    core = RNDCore(tuple(hidden_sizes), output_size, epochs, minibatches, update_proportion)
    init_index, index = make_indexer(hash, index_fn, table_size, bits)

    def init(key, example: Transition):
        rnd_key, hash_key = jax.random.split(key)
        projection, weights, size = init_index(hash_key, example.next_obs)
        visited = jnp.zeros((example.reward.shape[0], size), bool)
        return NovelDState(core.init(rnd_key, example.next_obs), visited, projection, weights)

    def apply_fn(state: NovelDState, transition: Transition, rewards, hparams):
        size = state.visited.shape[-1]
        envs = jnp.arange(state.visited.shape[0])
        here = index(state.projection, state.weights, transition.obs, size)
        there = index(state.projection, state.weights, transition.next_obs, size)
        visited = state.visited.at[envs, here].set(True)
        first = jnp.logical_not(visited[envs, there])
        visited = visited.at[envs, there].set(True)
        novelty = core.error(state.nets, transition.next_obs) - hparams["alpha"] * core.error(state.nets, transition.obs)
        bonus = jnp.maximum(novelty, 0.0) * first
        visited = reset_where(transition.done, visited, jnp.zeros_like(visited))
        return {**rewards, stream: bonus}, state.replace(visited=visited)

    def update(state: NovelDState, batch: Transition, key, hparams):
        obs = batch.next_obs.reshape((-1,) + batch.next_obs.shape[2:])
        nets, metrics = core.train(state.nets, obs, key, hparams["lr"])
        return state.replace(nets=nets), metrics

    return RewardTransform(
        init=init,
        apply_fn=apply_fn,
        update=update,
        streams=(Stream(stream, coef=coef),),
        default_hparams={"alpha": alpha, "lr": lr},
        invariance=NOT_INVARIANT,
        name=name,
    )
