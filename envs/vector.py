"""Batches of envs: the vmapped `reset`/`step` every learner runs, the step info an env
adds beyond the contract's own fields, and the one place an env step becomes a
`Transition` (PPO, SAC and evaluation all record their steps through `step_transition`)."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from jaxshape.types import Transition

CONTRACT_INFO = ("final_observation", "terminated", "truncated", "discount")


def reset_batch(env: Any, params: Any, keys: jax.Array):
    """`env.reset` for one key per env: (obs [N, ...], states)."""
    return jax.vmap(env.reset, in_axes=(0, None))(keys, params)


def step_batch(env: Any, params: Any, keys: jax.Array, states: Any, actions: jax.Array, auto_reset: bool = True):
    """`env.step` for one key, state and action per env. `auto_reset=False` leaves out the
    reset after an episode's end where the env allows it (`step_without_reset`): for loops
    that stop counting an env once its episode ended, such as evaluation.

    An env whose class defines `reset_key(key)` declares that its `step` is
    `step_without_reset` followed by `auto_reset` from `reset(reset_key(key))`; for it
    only the envs whose episode ended are reset (`sparse_reset`): each from its own key,
    as before, so runs are equal in distribution (bitwise equal where XLA rounds the
    smaller reset batch as it rounded the whole one; see `sparse_reset`)."""
    if auto_reset and getattr(type(env), "reset_key", None) is not None:
        stepped = jax.vmap(functools.partial(step_without_reset, env), in_axes=(0, 0, 0, None))(
            keys, states, actions, params)
        obs, states = sparse_reset(env, params, jax.vmap(env.reset_key)(keys),
                                   jnp.logical_or(stepped[3], stepped[4]), stepped[:2])
        return (obs, states) + stepped[2:]
    step = env.step if auto_reset else functools.partial(step_without_reset, env)
    return jax.vmap(step, in_axes=(0, 0, 0, None))(keys, states, actions, params)


def sparse_reset(env: Any, params: Any, reset_keys: jax.Array, done: jax.Array, stepped: Any,
                 group: int | None = None) -> Any:
    """`auto_reset(done, vmap(env.reset)(reset_keys, params), stepped)`, resetting only
    the envs whose episode ended: their indices are packed to the front and reset
    `group` at a time (default ⌈N/8⌉) in a `while_loop` of ⌈#done/group⌉ rounds, none on
    a step where no episode ended. Worth it where a reset costs many steps (Craftax
    generates a world per reset: under `vmap` the dense form generates N per step).

    Each env is reset from its own key, so the fresh states are those of the dense form
    up to float rounding; XLA may round a batch of `group` resets differently from a
    batch of N (Craftax's world generation does: a batch of 16 and the same keys in
    batches of 8 give different worlds for some keys), and a run then takes another,
    equally likely path."""
    n = done.shape[0]
    group = group or -(-n // 8)
    rounds = -(-n // group)
    ended = jnp.nonzero(done, size=rounds * group, fill_value=n)[0]  # ended envs first, then n (out of range)
    count = done.sum()

    def reset_group(carry):
        r, stepped = carry
        index = jax.lax.dynamic_slice(ended, (r * group,), (group,))
        fresh = jax.vmap(env.reset, in_axes=(0, None))(reset_keys[jnp.minimum(index, n - 1)], params)
        stepped = jax.tree.map(lambda old, new: old.at[index].set(new, mode="drop"), stepped, fresh)
        return r + 1, stepped

    return jax.lax.while_loop(lambda carry: carry[0] * group < count, reset_group, (jnp.int32(0), stepped))[1]


def step_without_reset(env: Any, key: jax.Array, state: Any, action: Any, params: Any):
    """`env.step` less its auto-reset: what `step` returns for an env whose episode goes on,
    and for one that ended, the state it ended in (not a fresh one), with the same key use
    (gymnax splits the step's key into (step, reset) keys). Skips the reset for

    - an env whose class defines `step_without_reset(key, state, action, params)` (the
      brax, Playground and Craftax adapters, `terminate_if`); looked up on the class, so
      a wrapper that forwards unknown attributes to its env never hands over the inner
      env's method in place of its own `step`;
    - a gymnax `Environment` that keeps gymnax's `step`.

    Any other env runs its own `step`."""
    own = getattr(type(env), "step_without_reset", None)
    if own is not None:
        return own(env, key, state, action, params)
    from gymnax.environments import environment  # imported here: a brax-only run need not load gymnax

    if not (isinstance(env, environment.Environment) and type(env).step is environment.Environment.step):
        return env.step(key, state, action, params)
    step_key, _ = jax.random.split(key)
    obs, state, reward, terminated, info = env.step_env(step_key, state, action, params)
    truncated = env.is_truncated(state, params)
    info = {**info, "terminated": terminated, "truncated": truncated, "final_observation": obs}
    return obs, state, reward, terminated, truncated, info


def own_info(info: dict[str, Any]) -> dict[str, Any]:
    """The env's own step info, without the fields the contract already records."""
    return {k: v for k, v in info.items() if k not in CONTRACT_INFO}


def auto_reset(done: jax.Array, fresh: Any, stepped: Any) -> Any:
    """`fresh` (a reset's observation and state) where the episode ended, else `stepped`
    (the step's): the auto-reset an adapter does after each step, from a fresh random
    reset rather than a cached first state."""
    return jax.tree.map(lambda new, old: jnp.where(done, new, old), fresh, stepped)


def reset_where_ended(env: Any, stepped: tuple, reset_key: jax.Array, params: Any) -> tuple:
    """One env's `step_without_reset` outputs with `auto_reset` from `env.reset(reset_key,
    params)` where the episode ended: the adapters' `step`."""
    obs, state, reward, terminated, truncated, info = stepped
    obs, state = auto_reset(jnp.logical_or(terminated, truncated), env.reset(reset_key, params), (obs, state))
    return obs, state, reward, terminated, truncated, info


def step_transition(obs: jax.Array, action: jax.Array, reward: jax.Array, terminated: jax.Array,
                    truncated: jax.Array, info: dict[str, Any], gamma: Any,
                    extras: dict[str, Any] | None = None) -> Transition:
    """The transition of one batched env step, under the termination rule:

    - `next_obs` is the TRUE next observation, `info["final_observation"]` (not the
      observation the env reset to where an episode ended);
    - a step that both terminates and hits the time limit is a termination:
      truncated = truncated ∧ ¬terminated;
    - rewards and observations are float32, the flags bool.
    """
    terminated = terminated.astype(bool)
    return Transition(obs=obs, action=action, reward=reward.astype(jnp.float32), terminated=terminated,
                      truncated=jnp.logical_and(truncated.astype(bool), jnp.logical_not(terminated)),
                      next_obs=info["final_observation"].astype(jnp.float32), gamma=gamma, info=own_info(info),
                      extras=extras or {})


def example_transition(env: Any, params: Any, obs: jax.Array, states: Any, action: jax.Array,
                       gamma: Any = 0.99) -> Transition:
    """A transition of the shapes and dtypes `step_transition` records for these envs
    (zeros; `action` is one action per env): what reward transforms `init` from."""
    n = obs.shape[0]
    keys = jax.random.split(jax.random.PRNGKey(0), n)
    info = jax.eval_shape(lambda k, s, a: step_batch(env, params, k, s, a), keys, states, action)[-1]
    no = jnp.zeros((n,), bool)
    return Transition(obs=obs, action=action, reward=jnp.zeros((n,), jnp.float32), terminated=no, truncated=no,
                      next_obs=obs, gamma=jnp.float32(gamma),
                      info=jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), own_info(info)))
