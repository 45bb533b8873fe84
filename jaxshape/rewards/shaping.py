"""Potential-based reward shaping (Ng, Harada & Russell 1999).

    F(s, a, s′) = γ·Φ(s′)·(1 − terminated) − Φ(s)

is added as its own stream (`"shaping"` by default). The optimal policy is unchanged
and Q′* = Q* − Φ, provided that

- γ is the discount of the return F is added to: `transition.gamma`, the learner's γ;
- Φ(s′) = 0 when s′ is a true terminal state, but at a time-limit truncation Φ is that
  of the *true* next observation (`transition.next_obs`), never of the reset one;
- Φ(s) is the value computed when s was entered. It is cached in episodic state, so a
  potential that changes while the agent learns (Devlin & Kudenko 2012, "dynamic
  potentials") still telescopes: over an episode of T steps
  Σ_t γ^t F_t = γ^T·Φ(s_T)·(1 − terminated) − Φ(s_0) exactly.

After an episode ends the cache is invalid and the next call computes Φ(s_0) from that
call's `transition.obs` (the new episode's first observation).

This module also holds the build-time check every transform here uses on a user
callable (`check_callable_output`): it evaluates the callable abstractly with
`jax.eval_shape` and raises `ConfigError` naming it when its output is not one value of
the right kind per env.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp

from jaxshape.errors import ConfigError
from jaxshape.rewards.base import POLICY_INVARIANT, RewardTransform, Rewards, Stream, no_update
from jaxshape.types import Transition


# ------------------------------------------------------------- user callables
def callable_name(fn: Any) -> str:
    """A readable name for a user callable (unwrapping functools.partial)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return getattr(fn, "__name__", None) or type(fn).__name__


def as_obs_info_fn(fn: Callable, with_info: bool) -> Callable[[jax.Array, Any], jax.Array]:
    """`fn(obs)` or, when `with_info`, `fn(obs, info)`, as a function of (obs, info)."""
    if with_info:
        return fn
    return lambda obs, info: fn(obs)


def _abstract(tree: Any) -> Any:
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(jnp.shape(x), jnp.result_type(x)), tree)


_KINDS = {
    "float": (jnp.floating, "float"),
    "int": (jnp.integer, "integer"),
    "bool": (jnp.bool_, "bool"),
}


def check_callable_output(
    fn: Callable,
    args: tuple,
    expected_shape: tuple[int, ...] | None,
    kind: str,
    what: str,
    name: str | None = None,
    allow_bool_as_int: bool = False,
) -> jax.ShapeDtypeStruct:
    """Evaluate `fn(*args)` abstractly; raise ConfigError unless it returns one array of
    `kind` ("float", "int", "bool") and, if given, shape `expected_shape`.

    `what` says what the callable is for ("potential_fn"); `name` overrides the
    callable's own name in the message. Returns the output's ShapeDtypeStruct.
    """
    name = name or callable_name(fn)
    dtype_class, kind_words = _KINDS[kind]
    want = f"{kind_words} values"
    if expected_shape is not None:
        want += f" of shape {tuple(expected_shape)} (one per env)"
    try:
        out = jax.eval_shape(fn, *_abstract(args))
    except Exception as err:  # the user's callable cannot run on these inputs
        shapes = ", ".join(str(jax.tree.map(jnp.shape, a)) for a in args)
        raise ConfigError(
            f"{what} {name!r} failed on inputs of shape {shapes}: {type(err).__name__}: {err}"
        ) from err
    if not isinstance(out, jax.ShapeDtypeStruct):
        got = jax.tree.map(lambda s: f"{s.shape} {s.dtype}", out)
        raise ConfigError(f"{what} {name!r} must return one array of {want}, got {got}")
    ok_dtype = jnp.issubdtype(out.dtype, dtype_class) or (
        allow_bool_as_int and kind == "int" and out.dtype == jnp.bool_
    )
    ok_shape = expected_shape is None or tuple(out.shape) == tuple(expected_shape)
    if not (ok_dtype and ok_shape):
        raise ConfigError(
            f"{what} {name!r} must return {want}, got shape {tuple(out.shape)} {out.dtype}"
        )
    return out


# ---------------------------------------------------------- potential shaping
def shaping_from_potentials(phi_s: jax.Array, phi_next: jax.Array, terminated: jax.Array, gamma: Any) -> jax.Array:
    """F = γ·Φ(s′)·(1 − terminated) − Φ(s), elementwise (the formula, for reuse)."""
    return jnp.asarray(gamma, jnp.float32) * phi_next * (1.0 - terminated.astype(jnp.float32)) - phi_s


def potential_shaping(
    potential_fn: Callable[..., jax.Array],
    name: str = "shaping",
    coef: float = 1.0,
    with_info: bool = False,
) -> RewardTransform:
    """Potential-based shaping stream F = γ·Φ(s′)·(1 − terminated) − Φ(s) (Ng et al. 1999).

    Args:
      potential_fn: Φ. Called as `potential_fn(obs)` on a batch `[num_envs, ...]` and
        returning `[num_envs]` floats; with `with_info=True` it is called as
        `potential_fn(obs, info)`, `info` being the env's step info of the transition
        that produced `obs` (an explicit flag rather than signature inspection, which
        misreads partials, lambdas with defaults and callable objects). Note that the
        first observation of an episode has no info of its own: Φ(s_0) is then computed
        with the info of the step that leaves s_0, so an info-reading potential should
        only read fields that are fixed within an episode (a goal, a level id).
      name: name of the stream and of the transform.
      coef: the stream's default weight in the learner's sum (`reward_coefs[name]`).
      with_info: see `potential_fn`.

    Checked at `init`: Φ must return one float per env (`ConfigError` naming it
    otherwise). Invariance: POLICY_INVARIANT. The transform has no hparams: its weight
    is the stream coefficient, a traced learner hparam.

    State (episodic, per env): `phi`, the cached Φ of the current observation, and
    `valid`, False at the start and after an episode end, when Φ(s) is recomputed from
    `transition.obs`.
    """
    phi_fn = as_obs_info_fn(potential_fn, with_info)
    fn_name = callable_name(potential_fn)

    def potential(obs, info):
        return jnp.asarray(phi_fn(obs, info), jnp.float32)

    def init(key, example: Transition):
        del key
        check_callable_output(phi_fn, (example.obs, example.info), jnp.shape(example.reward), "float",
                              "potential_fn", name=fn_name)
        n = jnp.shape(example.reward)
        return {"phi": jnp.zeros(n, jnp.float32), "valid": jnp.zeros(n, bool)}

    def apply_fn(state, transition: Transition, rewards: Rewards, hparams):
        del hparams
        phi_s = jnp.where(state["valid"], state["phi"], potential(transition.obs, transition.info))
        phi_next = potential(transition.next_obs, transition.info)  # true next obs at truncation
        shaping = shaping_from_potentials(phi_s, phi_next, transition.terminated, transition.gamma)
        state = {"phi": phi_next, "valid": jnp.logical_not(transition.done)}
        return {**rewards, name: shaping}, state

    return RewardTransform(
        init=init,
        apply_fn=apply_fn,
        update=no_update,
        streams=(Stream(name, coef=coef),),
        default_hparams={},
        invariance=POLICY_INVARIANT,
        nonlinear=False,
        name=name,
    )
