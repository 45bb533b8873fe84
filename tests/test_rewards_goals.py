"""Goal rewards: computed from s′ (never s), the three kinds, goals read from obs slices
or info, relabelling with the achieved goal gives success, the build-time check."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxshape.errors import ConfigError
from jaxshape.rewards import NOT_INVARIANT, goal_reward, goal_reward_fn
from jaxshape.types import Transition

GOAL = [1.0, 1.0]


def goal_obs(positions):
    """obs = [achieved x, y, desired x, y] per env."""
    positions = jnp.asarray(positions, jnp.float32)
    return jnp.concatenate([positions, jnp.broadcast_to(jnp.asarray(GOAL), positions.shape)], axis=-1)


def step(obs, next_obs, info=None):
    n = obs.shape[0]
    return Transition(obs=obs, action=jnp.zeros(n, jnp.int32), reward=jnp.zeros(n), terminated=jnp.zeros(n, bool),
                      truncated=jnp.zeros(n, bool), next_obs=next_obs, info={} if info is None else info)


def rewards_of(transform, tr):
    state = transform.init(jax.random.PRNGKey(0), tr)
    return np.asarray(transform.apply(state, tr)[0][transform.name])


def test_reward_is_computed_from_next_obs_not_obs():
    # env 0 leaves the goal (at it in s, away in s′); env 1 reaches it (away in s, at it in s′)
    tr = step(goal_obs([[1.0, 1.0], [3.0, 1.0]]), goal_obs([[3.0, 1.0], [1.02, 1.0]]))
    expected = {"sparse": [-1.0, 0.0], "success": [0.0, 1.0], "dense": [-2.0, -0.02]}
    for kind, want in expected.items():
        transform = goal_reward(slice(0, 2), slice(2, 4), eps=0.05, kind=kind)
        np.testing.assert_allclose(rewards_of(transform, tr), want, rtol=1e-4, err_msg=kind)
    assert transform.invariance == NOT_INVARIANT


def test_goals_read_from_info_or_callables():
    info = {"achieved_goal": jnp.array([[0.0, 0.0], [1.0, 1.0]]), "desired_goal": jnp.array([[1.0, 1.0]] * 2)}
    tr = step(jnp.zeros((2, 3)), jnp.zeros((2, 3)), info)
    np.testing.assert_allclose(rewards_of(goal_reward("achieved_goal", "desired_goal", kind="success"), tr), [0, 1])

    def achieved_xy(obs):
        return obs[:, :2]

    def desired_xy(obs, info):
        return info["desired_goal"]

    tr = step(goal_obs([[5.0, 5.0], [5.0, 5.0]]), goal_obs([[1.0, 1.0], [1.0, 2.0]]), info)
    transform = goal_reward(achieved_xy, lambda obs, info: info["desired_goal"], kind="dense", with_info=True)
    with pytest.raises(ConfigError, match="achieved_xy"):  # with_info passes (obs, info) to both callables
        rewards_of(transform, tr)
    transform = goal_reward(lambda obs, info: achieved_xy(obs), desired_xy, kind="dense", with_info=True)
    np.testing.assert_allclose(rewards_of(transform, tr), [0.0, -1.0])


def test_relabelling_with_the_achieved_goal_gives_success():
    key_a, key_d = jax.random.split(jax.random.PRNGKey(3))
    achieved = jax.random.normal(key_a, (16, 3))
    desired = jax.random.normal(key_d, (16, 3)) + 5.0
    assert np.all(np.asarray(goal_reward_fn(achieved, desired, 0.05, "sparse")) == -1.0)  # far goals fail
    for kind, success in (("sparse", 0.0), ("success", 1.0), ("dense", 0.0)):
        relabelled = goal_reward_fn(achieved, achieved, 0.05, kind)  # g := g_achieved(s′)
        np.testing.assert_array_equal(np.asarray(relabelled), np.full(16, success))


def test_eps_is_a_vmappable_hparam():
    tr = step(goal_obs([[0.0, 0.0]]), goal_obs([[1.1, 1.0]]))
    transform = goal_reward(slice(0, 2), slice(2, 4), kind="sparse")
    state = transform.init(jax.random.PRNGKey(0), tr)
    out = jax.vmap(lambda hp: transform.apply(state, tr, hp)[0]["goal"])({"eps": jnp.array([0.05, 0.2])})
    np.testing.assert_allclose(out[:, 0], [-1.0, 0.0])


def test_wrong_goal_shapes_raise_config_error_naming_the_callable():
    def scalar_goal(obs):
        return obs[:, 0]

    tr = step(goal_obs([[0.0, 0.0]] * 3), goal_obs([[0.0, 0.0]] * 3))
    with pytest.raises(ConfigError, match=r"scalar_goal.*\(3,\) \+ \(G,\)"):
        goal_reward(scalar_goal, slice(2, 4)).init(jax.random.PRNGKey(0), tr)
    with pytest.raises(ConfigError, match=r"same size"):
        goal_reward(slice(0, 2), slice(1, 4)).init(jax.random.PRNGKey(0), tr)
    with pytest.raises(ConfigError, match=r"no key 'achieved_goal'"):
        goal_reward("achieved_goal", slice(2, 4)).init(jax.random.PRNGKey(0), tr)
    with pytest.raises(ConfigError, match="kind"):
        goal_reward(slice(0, 2), slice(2, 4), kind="shaped")
