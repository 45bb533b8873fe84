"""Goal-conditioned rewards.

With d = ‖g_achieved(s′) − g‖₂ and tolerance ε:

    kind="sparse":   r = −1[d > ε]        (0 on success, −1 otherwise; Plappert et al. 2018)
    kind="success":  r = +1[d ≤ ε]        (1 on success, 0 otherwise)
    kind="dense":    r = −d

The reward is always computed from the *next* observation s′ (`transition.next_obs`,
the true one at an episode end), never from s: reaching the goal is what the step did.
`goal_reward_fn` is the pure formula on arrays, reused by hindsight relabelling (HER,
Andrychowicz et al. 2017): relabelling a transition with g := g_achieved(s′) makes it a
success.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from jaxshape.errors import ConfigError
from jaxshape.rewards.base import NOT_INVARIANT, RewardTransform, Rewards, Stream, no_state, no_update
from jaxshape.rewards.shaping import callable_name, check_callable_output
from jaxshape.types import Transition

KINDS = ("sparse", "success", "dense")

GoalSource = Callable[..., jax.Array] | slice | str


def goal_reward_fn(achieved: jax.Array, desired: jax.Array, eps: Any, kind: str = "sparse") -> jax.Array:
    """The goal reward for goals `[..., G]` (returns `[...]` float32); see the module doc."""
    if kind not in KINDS:
        raise ConfigError(f"goal reward kind must be one of {KINDS}, got {kind!r}")
    distance = jnp.linalg.norm(jnp.asarray(achieved, jnp.float32) - jnp.asarray(desired, jnp.float32), axis=-1)
    success = distance <= eps
    if kind == "sparse":
        return success.astype(jnp.float32) - 1.0
    if kind == "success":
        return success.astype(jnp.float32)
    return -distance


def _goal_reader(source: GoalSource, with_info: bool) -> tuple[Callable[[jax.Array, Any], jax.Array], str]:
    """(fn(obs, info) -> goals [N, G], a name) from a callable, an obs slice or an info key."""
    if isinstance(source, slice):
        return (lambda obs, info: obs[..., source]), f"obs[..., {source.start}:{source.stop}]"
    if isinstance(source, str):
        def read(obs, info):
            if source not in info:
                raise ConfigError(f"info has no key {source!r}; the env's info keys are {sorted(info)}")
            return info[source]
        return read, f"info[{source!r}]"
    if callable(source):
        fn = source if with_info else (lambda obs, info: source(obs))
        return fn, callable_name(source)
    raise ConfigError(f"a goal must be a callable, a slice of the observation or an info key, got {source!r}")


def goal_reward(
    achieved_fn: GoalSource,
    desired_fn: GoalSource,
    eps: float = 0.05,
    kind: str = "sparse",
    *,
    with_info: bool = False,
    name: str = "goal",
    coef: float = 1.0,
) -> RewardTransform:
    """Adds stream `name` = goal_reward_fn(g_achieved(s′), g(s′), ε, kind).

    Args:
      achieved_fn, desired_fn: where each goal is read from s′: a callable
        `fn(next_obs) -> [num_envs, G]` (`fn(next_obs, info)` with `with_info=True`), a
        `slice` of the observation's last axis (`slice(0, 3)`), or a key of the env's
        step info (`"achieved_goal"`). Both are checked at `init` (ConfigError naming
        the one whose output is wrong).
      eps: success tolerance ε, the traced hparam `"eps"`.
      kind: "sparse", "success" or "dense" (static).
      name, coef: the stream's name (also the transform's) and default weight.

    Stateless; NOT_INVARIANT (it defines the task).
    """
    if kind not in KINDS:
        raise ConfigError(f"goal reward kind must be one of {KINDS}, got {kind!r}")
    achieved_of, achieved_name = _goal_reader(achieved_fn, with_info)
    desired_of, desired_name = _goal_reader(desired_fn, with_info)

    def init(key, example: Transition):
        n = jnp.shape(example.reward)
        got = check_callable_output(achieved_of, (example.next_obs, example.info), None, "float",
                                    "achieved_fn", name=achieved_name)
        want = check_callable_output(desired_of, (example.next_obs, example.info), None, "float",
                                     "desired_fn", name=desired_name)
        for what, label, out in (("achieved_fn", achieved_name, got), ("desired_fn", desired_name, want)):
            if out.ndim != len(n) + 1 or tuple(out.shape[: len(n)]) != tuple(n):
                raise ConfigError(f"{what} {label!r} must return goals of shape {tuple(n)} + (G,), "
                                  f"got {tuple(out.shape)}")
        if got.shape != want.shape:
            raise ConfigError(f"achieved_fn {achieved_name!r} returns {tuple(got.shape)} but desired_fn "
                              f"{desired_name!r} returns {tuple(want.shape)}; goals must have the same size")
        return no_state(key, example)

    def apply_fn(state, transition: Transition, rewards: Rewards, hparams):
        achieved = achieved_of(transition.next_obs, transition.info)
        desired = desired_of(transition.next_obs, transition.info)
        return {**rewards, name: goal_reward_fn(achieved, desired, hparams["eps"], kind)}, state

    return RewardTransform(
        init=init,
        apply_fn=apply_fn,
        update=no_update,
        streams=(Stream(name, coef=coef),),
        default_hparams={"eps": eps},
        invariance=NOT_INVARIANT,
        nonlinear=False,
        name=name,
    )
