"""Reward candidates as a traced choice: `select([t0, t1, ...])` applies the candidate
whose index is the hyperparameter `index`, so K candidate reward functions x seeds train
from ONE compilation (`jax.vmap` over `index`; `jaxshape sweep --reward-candidates`).

    r = t_index(transition)        index = round(hparams["index"]) ∈ {0, ..., K−1}

The selected candidate runs through `lax.switch`; under `vmap` over members with
different indices every candidate is computed and one kept, so the candidates should be
cheap next to the learner (reward terms, shaping, counts are). Each candidate keeps its
own state; only the selected one's advances. The streams are the union of the
candidates' (a stream a candidate does not produce is 0 under it), each with the
coefficient its first candidate declares. Candidates that observe (features for the
policy) have their features concatenated, all of them, whatever the index.

`update` reports every candidate's metrics (`<name>/<metric>`) under every index, with
`<name>/selected` (1 under that candidate's index, else 0): the logs average each
candidate's metrics over the members that selected it (`jaxshape.run.logs`).
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp

from jaxshape.errors import ConfigError
from jaxshape.rewards.base import NOT_INVARIANT, RewardTransform, Stream, members_observe

SELECTED = "selected"  # metric `<candidate>/selected`: 1 where the member runs that candidate


def candidate_index(hparams: Any, count: int) -> jax.Array:
    """The traced hyperparameter `index` as an int32 in [0, count)."""
    return jnp.clip(jnp.round(jnp.asarray(hparams["index"])).astype(jnp.int32), 0, count - 1)


def select(candidates: Sequence[RewardTransform], names: Sequence[str] | None = None,
           name: str = "select") -> RewardTransform:
    """One of `candidates`, chosen by the traced hparam `index` (default 0).

    `names` label the candidates in hparams (`hparams["c<i>"]` by default holds the i-th
    candidate's own hyperparameters) and in a sweep's report."""
    candidates = tuple(candidates)
    if not candidates:
        raise ConfigError("select needs at least one candidate reward transform")
    names = tuple(names) if names is not None else tuple(f"c{i}" for i in range(len(candidates)))
    if len(names) != len(candidates) or len(set(names)) != len(names) or "index" in names:
        raise ConfigError(f"select: give one distinct name per candidate (not 'index'), got {list(names)}")
    streams: dict[str, Stream] = {}
    for candidate in candidates:
        for stream in candidate.streams:
            if stream.name in streams and streams[stream.name].episodic != stream.episodic:
                raise ConfigError(f"select: stream {stream.name!r} is episodic in one candidate and not in another; "
                                  "rename one of them")
            streams.setdefault(stream.name, stream)

    def init(key, example):
        keys = jax.random.split(key, len(candidates))
        return tuple(c.init(k, example) for c, k in zip(candidates, keys))

    def apply_fn(state, transition, rewards, hparams):
        zeros = jnp.zeros_like(transition.reward, jnp.float32)

        def branch(i):
            def run(state):
                out, own = candidates[i].apply_fn(state[i], transition, rewards, hparams[names[i]])
                full = {**{k: zeros for k in streams}, **rewards, **out}
                return {k: jnp.asarray(v, jnp.float32) for k, v in full.items()}, state[:i] + (own,) + state[i + 1:]
            return run

        return jax.lax.switch(candidate_index(hparams, len(candidates)), [branch(i) for i in range(len(candidates))],
                              state)

    def update(state, batch, key, hparams):
        def branch(i):
            def run(state):
                own, metrics = candidates[i].update(state[i], batch, key, hparams[names[i]])
                return state[:i] + (own,) + state[i + 1:], metrics
            return run

        shapes = [jax.eval_shape(branch(i), state)[1] for i in range(len(candidates))]
        every = {f"{names[i]}/{k}": v for i, m in enumerate(shapes) for k, v in m.items()}
        every.update({f"{names[i]}/{SELECTED}": jnp.zeros((), jnp.float32) for i, m in enumerate(shapes) if m})

        def padded(i):  # every branch reports every candidate's metrics (zeros for the others, unselected)
            def run(state):
                state, metrics = branch(i)(state)
                out = {k: jnp.zeros(v.shape, v.dtype) for k, v in every.items()}
                out.update({f"{names[i]}/{k}": v for k, v in metrics.items()})
                if metrics:
                    out[f"{names[i]}/{SELECTED}"] = jnp.ones((), jnp.float32)
                return state, out
            return run

        return jax.lax.switch(candidate_index(hparams, len(candidates)), [padded(i) for i in range(len(candidates))],
                              state)

    return RewardTransform(
        init=init,
        apply_fn=apply_fn,
        update=update,
        streams=tuple(streams.values()),
        default_hparams={"index": 0.0, **{n: c.default_hparams for n, c in zip(names, candidates)}},
        invariance=NOT_INVARIANT,
        observe=members_observe(candidates),
        name=name,
        log_extrinsic=True,
    )
