"""Combinators: chain transforms like `optax.chain`.

`chain(a, b, c)` applies `a`, then `b` on the streams `a` produced, then `c`. Its state
is the tuple of the members' states; its hparams a dict keyed by member name
(`{"shaping": {...}, "rnd": {...}}`), so a sweep can address `reward.rnd.coef`.
A non-linear transform (clip, symlog) after potential shaping breaks shaping's policy
invariance (Ng et al. 1999); `chain` warns once when it is built that way.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp

from jaxshape.rewards.base import NOT_INVARIANT, POLICY_INVARIANT, POSITIVE_SCALE, RewardTransform

_ORDER = {POLICY_INVARIANT: 0, POSITIVE_SCALE: 1, NOT_INVARIANT: 2}


def _unique_names(transforms: tuple[RewardTransform, ...]) -> list[str]:
    names: list[str] = []
    for t in transforms:
        name, i = t.name, 2
        while name in names:
            name, i = f"{t.name}_{i}", i + 1
        names.append(name)
    return names


def _warn_if_nonlinear_after_shaping(transforms: tuple[RewardTransform, ...]) -> None:
    shaped = False
    for t in transforms:
        if t.nonlinear and shaped:
            warnings.warn(
                f"reward chain applies {t.name!r} after potential shaping: a non-linear transform "
                "after shaping changes the optimal policy; put it before the shaping",
                stacklevel=3,
            )
            return
        shaped = shaped or (t.invariance == POLICY_INVARIANT and bool(t.streams))


def chain(*transforms: RewardTransform) -> RewardTransform:
    """Apply `transforms` in order; each sees the streams made before it."""
    transforms = tuple(transforms)
    names = _unique_names(transforms)
    _warn_if_nonlinear_after_shaping(transforms)

    def init(key, example):
        keys = jax.random.split(key, len(transforms))
        return tuple(t.init(k, example) for t, k in zip(transforms, keys))

    def apply_fn(state, transition, rewards, hparams):
        new_state = []
        for t, name, s in zip(transforms, names, state):
            rewards, s = t.apply_fn(s, transition, rewards, hparams[name])
            new_state.append(s)
        return rewards, tuple(new_state)

    def update(state, batch, key, hparams):
        keys = jax.random.split(key, len(transforms))
        new_state, metrics = [], {}
        for t, name, s, k in zip(transforms, names, state, keys):
            s, m = t.update(s, batch, k, hparams[name])
            new_state.append(s)
            metrics.update({f"{name}/{key_}": v for key_, v in m.items()})
        return tuple(new_state), metrics

    observers = [(i, t.observe) for i, t in enumerate(transforms) if t.observe is not None]

    def observe(state):
        return jnp.concatenate([obs(state[i]) for i, obs in observers], axis=-1)

    return RewardTransform(
        init=init,
        apply_fn=apply_fn,
        update=update,
        streams=tuple(s for t in transforms for s in t.streams),
        default_hparams={name: t.default_hparams for name, t in zip(names, transforms)},
        invariance=max((t.invariance for t in transforms), key=_ORDER.__getitem__, default=POLICY_INVARIANT),
        nonlinear=any(t.nonlinear for t in transforms),
        observe=observe if observers else None,
        name="chain",
    )
