"""Exploration via Elliptical Episodic Bonuses (E3B; Henaff et al. 2022, arXiv:2210.05805).

    b_t = φ(s_{t+1})ᵀ C_t⁻¹ φ(s_{t+1}),   C_0 = λI + φ(s_0)φ(s_0)ᵀ (λ = 0.1),   C_{t+1} = C_t + φφᵀ

One C⁻¹ per env, kept in episodic state. The episode's first observation s_0 enters C at
the reset, with no bonus of its own, as in the code released with the paper: a first
step that stays on s_0 pays ‖φ_0‖²/(λ + ‖φ_0‖²) < 1, not the ‖φ_0‖²/λ of a new state. The
transform does not see the reset: where an episode ended it marks C⁻¹ `fresh`, and the
next step, whose `transition.obs` is the new episode's first observation, rebuilds
C⁻¹ = (λI + φ(s_0)φ(s_0)ᵀ)⁻¹ before its bonus. C⁻¹ is updated by the Sherman–Morrison
rank-1 formula (`sherman_morrison`):

    (C + φφᵀ)⁻¹ = C⁻¹ − (C⁻¹φ)(C⁻¹φ)ᵀ / (1 + φᵀC⁻¹φ)

By the matrix determinant lemma det(C + φφᵀ) = det C·(1 + φᵀC⁻¹φ), so
Σ_t log(1 + b_t) = logdet C_T − logdet C_0: the same update gives the marginal gains of
the log-det submodular objective (`submodular.logdet_coverage`).

φ is an `Embedding`: the flattened observation (`"identity"`), a fixed Gaussian random
projection (`"random"`), or an encoder trained by inverse dynamics as in ICM / the paper
(`"inverse_dynamics"`). λ is a traced hparam: C⁻¹ is rebuilt from it at each episode's
first step.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxshape import draws
from jaxshape.rewards.base import NOT_INVARIANT, RewardTransform, Stream
from jaxshape.rewards.counts import flatten_obs
from jaxshape.rewards.icm import ICMCore
from jaxshape.types import Transition


def sherman_morrison(c_inv: jax.Array, phi: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One rank-1 step for one env: (C⁻¹ for C + φφᵀ, b = φᵀC⁻¹φ). C⁻¹ symmetric [d, d], φ [d]."""
    u = c_inv @ phi
    b = phi @ u
    return c_inv - jnp.outer(u, u) / (1.0 + b), b


def elliptical_step(c_inv, fresh, phi_first, phi, done, lam):
    """Batched step over envs: C⁻¹ [N, d, d], φ(s) and φ(s′) [N, d].

    Where `fresh`, C⁻¹ restarts as (λI + φ(s)φ(s)ᵀ)⁻¹, s being the episode's first
    observation (elsewhere the rank-1 step on φ = 0 leaves C⁻¹ as it is). Returns
    (bonus b [N] of s′, new C⁻¹, new fresh = `done`)."""
    eye = jnp.eye(phi.shape[-1], dtype=jnp.float32) / lam
    c_inv = jnp.where(fresh[:, None, None], eye, c_inv)
    c_inv, _ = jax.vmap(sherman_morrison)(c_inv, phi_first * fresh[:, None])
    c_inv, bonus = jax.vmap(sherman_morrison)(c_inv, phi)
    return bonus, c_inv, done


@dataclasses.dataclass(frozen=True)
class Embedding:
    """φ(s): `"identity"`, `"random"` (fixed N(0, 1/D) projection to `dim`), or
    `"inverse_dynamics"` (an ICM encoder to `dim` features trained on the inverse loss)."""

    kind: str = "identity"
    dim: int | None = None
    num_actions: int | None = None
    hidden_sizes: tuple[int, ...] = (64,)

    def __post_init__(self):
        if self.kind not in ("identity", "random", "inverse_dynamics"):
            raise ValueError(f"embedding must be 'identity', 'random' or 'inverse_dynamics', got {self.kind!r}")
        if self.kind != "identity" and not self.dim:
            raise ValueError(f"embedding {self.kind!r} needs dim=<feature size>")

    @property
    def icm(self) -> ICMCore:
        return ICMCore(self.num_actions, self.dim or 1, self.hidden_sizes)

    @property
    def learned(self) -> bool:
        return self.kind == "inverse_dynamics"

    def size(self, example_obs: jax.Array) -> int:
        return int(np.prod(example_obs.shape[1:])) if self.kind == "identity" else int(self.dim)

    def init(self, key: jax.Array, example: Transition) -> Any:
        if self.kind == "identity":
            return ()
        if self.kind == "random":
            d_in = int(np.prod(example.next_obs.shape[1:]))
            return draws.normal(key, (d_in, self.dim), jnp.float32) / np.sqrt(d_in)
        return self.icm.init(key, example)  # (params, Adam state)

    def __call__(self, params: Any, obs: jax.Array) -> jax.Array:
        x = flatten_obs(obs)
        if self.kind == "identity":
            return x
        if self.kind == "random":
            return x @ params
        return jax.lax.stop_gradient(self.icm.embed(params[0], obs))

    def train(self, params: Any, batch: Transition, key: jax.Array, lr: Any):
        if not self.learned:
            return params, {}
        new_params, opt_state, metrics = self.icm.train(params[0], params[1], batch, key, lr, 0.0)
        return (new_params, opt_state), {"inverse_loss": metrics["inverse_loss"]}


@struct.dataclass
class EllipticalState:
    c_inv: jax.Array  # [num_envs, d, d], episodic
    fresh: jax.Array  # [num_envs] bool: the next step starts an episode; C⁻¹ restarts from its s_0
    embed: Any  # embedding parameters, persistent and shared


def elliptical_init(embedding: Embedding, key: jax.Array, example: Transition) -> EllipticalState:
    n, d = example.reward.shape[0], embedding.size(example.next_obs)
    return EllipticalState(
        c_inv=jnp.zeros((n, d, d), jnp.float32),
        fresh=jnp.ones((n,), bool),
        embed=embedding.init(key, example),
    )


def elliptical_apply(embedding: Embedding, state: EllipticalState, transition: Transition, lam):
    """(b = φᵀC⁻¹φ [N], new state) for φ = φ(s′) of this step."""
    phi_first = embedding(state.embed, transition.obs)  # used where `fresh`: s is the episode's s_0
    phi = embedding(state.embed, transition.next_obs)
    bonus, c_inv, fresh = elliptical_step(state.c_inv, state.fresh, phi_first, phi, transition.done, lam)
    return bonus, state.replace(c_inv=c_inv, fresh=fresh)


def elliptical_update(embedding: Embedding, state: EllipticalState, batch: Transition, key, hparams):
    params, metrics = embedding.train(state.embed, batch, key, hparams.get("lr", 0.0))
    return state.replace(embed=params), metrics


def elliptical_transform(emb: Embedding, hparams: dict, to_reward: Callable[[jax.Array, dict], jax.Array],
                         stream: str, coef: float, name: str) -> RewardTransform:
    """A transform paying `to_reward(b, hp)` for the elliptical bonus b = φᵀC⁻¹φ of each
    step (E3B pays b itself, the log-det coverage reward log(1 + b))."""

    def init(key, example):
        return elliptical_init(emb, key, example)

    def apply_fn(state, transition, rewards, hp):
        bonus, state = elliptical_apply(emb, state, transition, hp["lambda"])
        return {**rewards, stream: to_reward(bonus, hp)}, state

    def update(state, batch, key, hp):
        return elliptical_update(emb, state, batch, key, hp)

    return RewardTransform(
        init=init,
        apply_fn=apply_fn,
        update=update,
        streams=(Stream(stream, coef=coef),),
        default_hparams=hparams,
        invariance=NOT_INVARIANT,
        name=name,
    )


def e3b(
    embedding: str = "identity",
    *,
    dim: int | None = None,
    num_actions: int | None = None,
    lam: float = 0.1,
    lr: float = 1e-3,
    hidden_sizes: Sequence[int] = (64,),
    coef: float = 1.0,
    stream: str = "e3b",
    name: str = "e3b",
) -> RewardTransform:
    """E3B episodic elliptical bonus φᵀC⁻¹φ as stream `stream` (Henaff et al. 2022), with
    C = λI + Σ φφᵀ over the episode's observations so far, its first one included.

    Traced hparams: `lambda` (ridge λ of C_0 = λI) and, with a learned embedding, `lr`.
    """
    emb = Embedding(embedding, dim, num_actions, tuple(hidden_sizes))
    hparams = {"lambda": lam, **({"lr": lr} if emb.learned else {})}
    return elliptical_transform(emb, hparams, lambda bonus, hp: bonus, stream, coef, name)
