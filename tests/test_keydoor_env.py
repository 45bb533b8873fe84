"""The native key-then-door gridworld: reward and termination only after the key,
truncation at the time limit, auto-reset, labels in info."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxshape.envs import make
from jaxshape.envs.keydoor import KeyDoorGrid

UP, RIGHT, DOWN, LEFT = 0, 1, 2, 3


def rollout(env, params, actions, key=0):
    obs, state = env.reset(jax.random.PRNGKey(key), params)

    def step(state, inp):
        k, a = inp
        obs, state, reward, terminated, truncated, info = env.step(k, state, a, params)
        return state, (obs, reward, terminated, truncated, info)

    keys = jax.random.split(jax.random.PRNGKey(key + 1), len(actions))
    _, out = jax.jit(lambda s: jax.lax.scan(step, s, (keys, jnp.asarray(actions, jnp.int32))))(state)
    return obs, jax.tree.map(np.asarray, out)


def test_registered_and_configurable():
    env, params = make("KeyDoor-grid", size=5, max_steps=9)
    assert isinstance(env, KeyDoorGrid) and params.max_steps_in_episode == 9
    assert env.action_space(params).n == 4 and env.observation_space(params).shape == (3,)
    obs, _ = env.reset(jax.random.PRNGKey(0), params)
    np.testing.assert_allclose(obs, [0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="different"):
        KeyDoorGrid(key=(1, 1), door=(1, 1))


def test_key_then_door_pays_one_and_terminates():
    env, params = make("KeyDoor-grid", size=3, max_steps=20)  # key (2, 0), door (0, 2)
    actions = [DOWN, DOWN, UP, UP, RIGHT, RIGHT, RIGHT]
    _, (obs, reward, terminated, truncated, info) = rollout(env, params, actions)
    np.testing.assert_array_equal(reward, [0, 0, 0, 0, 0, 1, 0])
    np.testing.assert_array_equal(terminated, [0, 0, 0, 0, 0, 1, 0])
    assert not truncated.any()
    np.testing.assert_array_equal(info["at_key"], [0, 1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(info["at_door"], [0, 0, 0, 0, 0, 1, 0])
    np.testing.assert_array_equal(obs[1:5, 2], [1, 1, 1, 1])  # has_key in the observation
    # the true final observation is the door with the key; the returned one is the reset
    np.testing.assert_allclose(info["final_observation"][5], [0.0, 1.0, 1.0])
    np.testing.assert_allclose(obs[5], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(obs[6], [0.0, 0.5, 0.0])  # the next episode starts without the key


def test_door_without_key_pays_nothing():
    env, params = make("KeyDoor-grid", size=3, max_steps=20)
    _, (obs, reward, terminated, truncated, info) = rollout(env, params, [RIGHT, RIGHT, RIGHT, LEFT, RIGHT])
    assert reward.sum() == 0 and not terminated.any() and not truncated.any()
    np.testing.assert_array_equal(info["at_door"], [0, 1, 1, 0, 1])
    assert np.all(obs[:, 2] == 0)


def test_truncation_at_the_time_limit_and_auto_reset():
    env, params = make("KeyDoor-grid", size=4, max_steps=5)
    _, (obs, reward, terminated, truncated, info) = rollout(env, params, [DOWN] * 12)
    np.testing.assert_array_equal(truncated, [0, 0, 0, 0, 1] * 2 + [0, 0])
    assert not terminated.any() and reward.sum() == 0
    # the key (3, 0) was picked up on the 3rd step; the truncating step still has it
    np.testing.assert_allclose(info["final_observation"][4], [1.0, 0.0, 1.0])
    np.testing.assert_allclose(obs[4], [0.0, 0.0, 0.0])  # reset: no key, back at the start
    np.testing.assert_allclose(obs[5], [1 / 3, 0.0, 0.0])


def test_random_start_avoids_key_and_door():
    env, params = make("KeyDoor-grid", size=3, start="random")
    starts = jax.vmap(lambda k: env.reset(k, params)[1].pos)(jax.random.split(jax.random.PRNGKey(0), 256))
    cells = {tuple(p) for p in np.asarray(starts).tolist()}
    assert (2, 0) not in cells and (0, 2) not in cells and len(cells) == 7
