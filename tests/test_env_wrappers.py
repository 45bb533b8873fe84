"""`jaxshape.envs.terminate_if`: the condition's step becomes a termination, with the true
final observation, and the env resets; by hand on a 3×3 KeyDoor-grid.

Layout: start (0, 0), key (2, 0), door (0, 2); obs = (row/2, col/2, has_key);
actions 0 up, 1 right, 2 down, 3 left."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxshape import envs
from jaxshape.algos.ppo import PPOConfig, default_hparams, make_ppo
from jaxshape.envs.keydoor import KeyDoorGrid
from jaxshape.types import Transition

UP, RIGHT, DOWN = 0, 1, 2


def at_key(obs, info):
    return info["at_key"] > 0.5


def walk(env, actions, params=None):
    """Step one env along `actions`; each step's 6-tuple and the key it used."""
    params = env.default_params if params is None else params
    obs, state = env.reset(jax.random.PRNGKey(0), params)
    out = []
    for i, a in enumerate(actions):
        key = jax.random.PRNGKey(100 + i)
        result = env.step(key, state, jnp.int32(a), params)
        state = result[1]
        out.append((key, result))
    return out


def test_the_condition_step_terminates_with_the_true_final_observation_and_resets():
    env = envs.terminate_if(KeyDoorGrid(size=3), at_key)
    (_, first), (_, second) = walk(env, [DOWN, DOWN])
    obs, state, reward, terminated, truncated, info = first  # on (1, 0): goes on
    np.testing.assert_allclose(obs, [0.5, 0.0, 0.0])
    assert not terminated and not truncated
    obs, state, reward, terminated, truncated, info = second  # on the key (2, 0): ends
    assert bool(terminated) and not bool(truncated)
    assert bool(info["terminated"]) and not bool(info["truncated"])
    np.testing.assert_allclose(info["final_observation"], [1.0, 0.0, 1.0])  # the key cell, key held
    np.testing.assert_allclose(obs, [0.0, 0.0, 0.0])  # reset to the start
    np.testing.assert_array_equal(state.pos, [0, 0])
    assert int(state.time) == 0 and not bool(state.has_key)
    assert float(reward) == 0.0


def test_steps_without_the_condition_are_the_env_own():
    inner = KeyDoorGrid(size=3)
    env = envs.terminate_if(inner, at_key)
    params = env.default_params
    _, state = env.reset(jax.random.PRNGKey(0), params)
    key = jax.random.PRNGKey(7)
    wrapped = env.step(key, state, jnp.int32(RIGHT), params)
    plain = inner.step(jax.random.split(key)[0], state, jnp.int32(RIGHT), params)
    for a, b in zip(jax.tree.leaves(wrapped), jax.tree.leaves(plain)):
        np.testing.assert_array_equal(a, b)


def test_a_condition_at_the_time_limit_is_a_termination():
    env = envs.terminate_if(KeyDoorGrid(size=3, max_steps=2), at_key)
    (_, first), (_, second) = walk(env, [DOWN, DOWN])
    _, state, _, terminated, truncated, info = second
    assert bool(terminated) and not bool(truncated)  # the plain env would say truncated
    np.testing.assert_allclose(info["final_observation"], [1.0, 0.0, 1.0])
    assert int(state.time) == 0 and not bool(state.has_key)  # the env's own reset
    # without the condition the same step is a truncation
    plain = walk(KeyDoorGrid(size=3, max_steps=2), [DOWN, DOWN])[1][1]
    assert not bool(plain[3]) and bool(plain[4])


def test_the_env_own_termination_is_kept():
    # condition: standing in the top row; the door (0, 2) is in it, reached with the key
    env = envs.terminate_if(KeyDoorGrid(size=3), lambda obs, info: obs[0] < 0.25)
    steps = walk(env, [DOWN, DOWN, UP, UP])  # key, then up to (0, 0): the condition ends it
    _, state, reward, terminated, _, info = steps[3][1]
    assert bool(terminated) and float(reward) == 0.0
    np.testing.assert_allclose(info["final_observation"], [0.0, 0.0, 1.0])
    env = envs.terminate_if(KeyDoorGrid(size=3), lambda obs, info: jnp.bool_(False))
    steps = walk(env, [DOWN, DOWN, RIGHT, RIGHT, UP, UP])  # key, then the door at (0, 2)
    _, state, reward, terminated, truncated, info = steps[-1][1]
    assert bool(terminated) and not bool(truncated) and float(reward) == 1.0
    np.testing.assert_allclose(info["final_observation"], [0.0, 1.0, 1.0])
    np.testing.assert_array_equal(state.pos, [0, 0])


def test_batched_steps_give_the_learner_a_termination_per_env():
    env = envs.terminate_if(KeyDoorGrid(size=3), at_key)
    params = env.default_params
    obs, states = envs.reset_batch(env, params, jax.random.split(jax.random.PRNGKey(0), 2))
    keys = jax.random.split(jax.random.PRNGKey(1), 2)
    obs, states, *_ = envs.step_batch(env, params, keys, states, jnp.asarray([DOWN, RIGHT]))
    step = jax.jit(lambda k, s, a: envs.step_batch(env, params, k, s, a))
    next_obs, states, reward, terminated, truncated, info = step(keys, states, jnp.asarray([DOWN, RIGHT]))
    t = envs.step_transition(obs, jnp.asarray([DOWN, RIGHT]), reward, terminated, truncated, info, 0.99)
    assert isinstance(t, Transition)
    np.testing.assert_array_equal(t.terminated, [True, False])
    np.testing.assert_array_equal(t.truncated, [False, False])
    np.testing.assert_allclose(t.next_obs, [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])  # true last obs; env 1 goes on
    np.testing.assert_allclose(next_obs, [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # env 0 reset
    np.testing.assert_array_equal(states.pos, [[0, 0], [0, 2]])


def test_the_wrapper_forwards_the_env_and_checks_the_condition():
    inner = KeyDoorGrid(size=3)
    env = envs.terminate_if(inner, at_key)
    assert isinstance(env, envs.TerminateIf) and env.name == "TerminateIf(KeyDoor-grid)"
    assert env.num_actions == 4 and env.size == 3 and env.default_params == inner.default_params
    assert env.action_space(env.default_params).n == 4
    with pytest.raises(TypeError, match="condition"):
        envs.terminate_if(inner, None)
    bad = envs.terminate_if(inner, lambda obs, info: obs > 0)  # [3], not one bool
    _, state = bad.reset(jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="one bool per env"):
        bad.step(jax.random.PRNGKey(0), state, jnp.int32(DOWN))


def test_ppo_trains_on_the_wrapped_env():
    env = envs.terminate_if(KeyDoorGrid(size=3), at_key)
    config = PPOConfig(env="KeyDoor-grid", num_envs=4, num_steps=8, total_steps=64, num_epochs=1, num_minibatches=2,
                       hidden_sizes=(8,))
    ppo = make_ppo(config, env)
    hp = default_hparams()
    state = ppo.init(jax.random.PRNGKey(0), hp)
    state, metrics = jax.jit(ppo.update)(state, hp)
    assert np.isfinite(float(metrics["loss_total"]))
