"""Combinators: chain transforms like `optax.chain`.

`chain(a, b, c)` applies `a`, then `b` on the streams `a` produced, then `c`. Its state
is the tuple of the members' states; its hparams a dict keyed by member name
(`{"shaping": {...}, "rnd": {...}}`), so a sweep can address `reward.rnd.coef`.
A non-linear transform (clip, symlog) applied to a stream that potential shaping wrote
breaks shaping's policy invariance (Ng et al. 1999); `chain` warns once, when it first
applies (or is traced), if a member does so. Which streams a member writes is seen in
that call: those whose array it replaced. A stream is shaped when a policy-invariant
member with streams of its own (`potential_shaping`, a reward machine paid as shaping)
wrote it, or when a positive-scale member (`sum_streams`) added it after the shaping
(it may hold the shaping term). A non-linear transform on any other stream (clipping
the extrinsic reward, say) keeps the shaping invariant and raises no warning.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import jax

from jaxshape.rewards.base import NOT_INVARIANT, POLICY_INVARIANT, POSITIVE_SCALE, RewardTransform, members_observe

_ORDER = {POLICY_INVARIANT: 0, POSITIVE_SCALE: 1, NOT_INVARIANT: 2}


def unique_names(transforms: Sequence[RewardTransform]) -> list[str]:
    """Each transform's `name`, made distinct by a suffix (`rnd`, `rnd_2`, ...)."""
    names: list[str] = []
    for t in transforms:
        name, i = t.name, 2
        while name in names:
            name, i = f"{t.name}_{i}", i + 1
        names.append(name)
    return names


def chain(*transforms: RewardTransform) -> RewardTransform:
    """Apply `transforms` in order; each sees the streams made before it."""
    transforms = tuple(transforms)
    names = unique_names(transforms)
    warned = []

    def init(key, example):
        keys = jax.random.split(key, len(transforms))
        return tuple(t.init(k, example) for t, k in zip(transforms, keys))

    def apply_fn(state, transition, rewards, hparams):
        new_state, shaped = [], set()
        for t, name, s in zip(transforms, names, state):
            before = rewards
            rewards, s = t.apply_fn(s, transition, rewards, hparams[name])
            new_state.append(s)
            written = {k for k, r in rewards.items() if before.get(k) is not r}
            if t.nonlinear and written & shaped and not warned:
                warned.append(t.name)
                warnings.warn(
                    f"reward chain applies {t.name!r} to the potential-shaped stream(s) {sorted(written & shaped)}: "
                    "a non-linear transform after potential shaping changes the optimal policy; put it before "
                    "the shaping", stacklevel=2)
            if t.invariance == POLICY_INVARIANT and t.streams:
                shaped |= written
            elif t.invariance == POSITIVE_SCALE and shaped:
                shaped |= written - set(before)  # a new stream (a sum) may hold the shaping
        return rewards, tuple(new_state)

    def update(state, batch, key, hparams):
        keys = jax.random.split(key, len(transforms))
        new_state, metrics = [], {}
        for t, name, s, k in zip(transforms, names, state, keys):
            s, m = t.update(s, batch, k, hparams[name])
            new_state.append(s)
            metrics.update({f"{name}/{key_}": v for key_, v in m.items()})
        return tuple(new_state), metrics

    return RewardTransform(
        init=init,
        apply_fn=apply_fn,
        update=update,
        streams=tuple(s for t in transforms for s in t.streams),
        default_hparams={name: t.default_hparams for name, t in zip(names, transforms)},
        invariance=max((t.invariance for t in transforms), key=_ORDER.__getitem__, default=POLICY_INVARIANT),
        nonlinear=any(t.nonlinear for t in transforms),
        observe=members_observe(transforms),
        name="chain",
    )
