"""Deterministic evaluation: run N fresh episodes of a policy, one per env, to the end.

Each of `num_episodes` envs plays exactly one episode (its first); steps after an env's
episode ended are masked out, and the loop stops once every episode has ended: a
`lax.while_loop` over blocks of `BLOCK` scanned steps, so a 10,000-step limit costs only
the blocks the longest episode takes (a step-by-step while loop ran slower than a scan
on CPU). Episodes still running after `max_steps` are counted as they stand (they cannot
be longer than the env's time limit, which `max_steps` should cover). A transform that
exposes features to the policy (`observe`) is run alongside on its own fresh state, so
the policy sees what it saw in training; with `stream_returns` it also reports the
undiscounted return of each of the transform's reward streams.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from jaxshape.envs.vector import example_transition, reset_batch, step_batch, step_transition
from jaxshape.rewards import RewardTransform

BLOCK = 100  # steps scanned between checks that some episode still runs


def episode_limit(env: Any, env_params: Any, default: int = 1000) -> int:
    """The env's time limit, read from its params (gymnax, craftax) or itself (brax)."""
    for source in (env_params, env):
        for name in ("max_steps_in_episode", "episode_length", "max_timesteps"):
            value = getattr(source, name, None)
            if isinstance(value, int) and value > 0:
                return value
    return default


def evaluate(
    env: Any,
    env_params: Any,
    act: Callable[[jax.Array, jax.Array | None, jax.Array], jax.Array],
    key: jax.Array,
    num_episodes: int,
    max_steps: int,
    transform: RewardTransform | None = None,
    transform_hparams: Any = None,
    example_action: jax.Array | None = None,
    gamma: Any = 0.99,
    initial_memory: Any = None,
    stream_returns: bool = False,
) -> dict[str, jax.Array]:
    """Mean undiscounted return and length of `num_episodes` episodes.

    `act(obs, features, key)` maps a batch of observations (and the transform's
    features, or None) to env actions; pass a deterministic policy. A policy with memory
    (a recurrent one) gives its `initial_memory` for the batch and is called as
    `act(obs, features, memory, key) -> (actions, memory)`. With a transform
    that observes, `example_action` (one env's action) shapes its example transition and
    `gamma` is the learner's discount its transitions carry (`stream_returns` needs a
    transform too: the returns of its streams are `eval_return/<stream>`).
    """
    reset_key, run_key, transform_key = jax.random.split(key, 3)
    obs, env_state = reset_batch(env, env_params, jax.random.split(reset_key, num_episodes))
    observing = transform is not None and transform.observe is not None
    tracking = observing or (transform is not None and stream_returns)  # the transform runs alongside
    zeros = jnp.zeros((num_episodes,), jnp.float32)
    transform_state, stream_ret = None, None
    if stream_returns and transform is not None:
        stream_ret = {s.name: zeros for s in transform.all_streams}
    if tracking:
        actions = jnp.broadcast_to(example_action, (num_episodes,) + jnp.shape(example_action))
        transform_state = transform.init(transform_key, example_transition(env, env_params, obs, env_state, actions,
                                                                           gamma))

    def step(carry, key):
        t, env_state, obs, memory, transform_state, stream_ret, ret, length, running = carry
        running = jnp.logical_and(running, t < max_steps)  # the last block may pass the limit
        act_key, env_key = jax.random.split(key)
        features = transform.observe(transform_state) if observing else None
        if initial_memory is None:
            action = act(obs, features, act_key)
        else:  # each env plays one episode, so its memory is never reset
            action, memory = act(obs, features, memory, act_key)
        next_obs, env_state, reward, terminated, truncated, info = step_batch(  # no reset: one episode per env
            env, env_params, jax.random.split(env_key, num_episodes), env_state, action, auto_reset=False
        )
        done = jnp.logical_or(terminated, truncated)
        if tracking:
            transition = step_transition(obs, action, reward, terminated, truncated, info, gamma)
            streams, transform_state = transform.apply(transform_state, transition, transform_hparams)
            if stream_ret is not None:
                stream_ret = {k: r + jnp.where(running, streams[k], 0.0) for k, r in stream_ret.items()}
        ret = ret + jnp.where(running, reward, 0.0)
        length = length + running
        running = jnp.logical_and(running, jnp.logical_not(done))
        return (t + 1, env_state, next_obs, memory, transform_state, stream_ret, ret, length, running), None

    block = min(max_steps, BLOCK)

    def run_block(carry):
        t = carry[0]
        keys = jax.random.split(jax.random.fold_in(run_key, t // block), block)
        return jax.lax.scan(step, carry, keys)[0]

    def playing(carry):
        t, *_, running = carry
        return jnp.logical_and(t < max_steps, running.any())

    carry = (jnp.int32(0), env_state, obs, initial_memory, transform_state, stream_ret, zeros, zeros,
             jnp.ones((num_episodes,), bool))
    *_, stream_ret, ret, length, _ = jax.lax.while_loop(playing, run_block, carry)
    out = {"eval_return": ret.mean(), "eval_length": length.mean()}
    return {**out, **{f"eval_return/{k}": r.mean() for k, r in (stream_ret or {}).items()}}
