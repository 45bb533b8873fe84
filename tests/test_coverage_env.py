"""The native coverage gridworld: registry, auto-reset, truncation, positions in the grid."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxshape.envs import make
from jaxshape.envs.coverage import CoverageGrid


def rollout(env, params, actions, key=0):
    obs, state = env.reset(jax.random.PRNGKey(key), params)

    def step(carry, inp):
        state = carry
        k, a = inp
        obs, state, reward, terminated, truncated, info = env.step(k, state, a, params)
        return state, (obs, state.pos, reward, terminated, truncated, info)

    keys = jax.random.split(jax.random.PRNGKey(key + 1), len(actions))
    _, out = jax.jit(lambda s: jax.lax.scan(step, s, (keys, jnp.asarray(actions, jnp.int32))))(state)
    return obs, out


def test_registered_and_configurable():
    env, params = make("Coverage-grid", size=5, num_actions=5, max_steps=7)
    assert isinstance(env, CoverageGrid) and params.max_steps_in_episode == 7
    assert env.action_space(params).n == 5 and env.observation_space(params).shape == (2,)
    obs, state = env.reset(jax.random.PRNGKey(0), params)
    np.testing.assert_allclose(obs, [0.5, 0.5])  # the centre cell (2, 2) of a 5×5 grid
    with pytest.raises(ValueError, match="num_actions"):
        CoverageGrid(num_actions=3)


def test_truncation_at_the_time_limit_and_auto_reset():
    env, params = make("Coverage-grid", max_steps=5)
    # walk right 4 times from (4, 4) on 8×8: the wall stops the walk at column 7
    obs0, (obs, pos, reward, terminated, truncated, info) = rollout(env, params, [1] * 12)
    np.testing.assert_array_equal(truncated, [0, 0, 0, 0, 1] * 2 + [0, 0])
    assert not np.any(terminated) and np.all(reward == 0.0)
    final = np.asarray(info["final_observation"])
    np.testing.assert_allclose(final[4], [4 / 7, 1.0])  # the true last observation: the wall
    np.testing.assert_allclose(obs[4], obs0)  # the returned obs is the reset one
    np.testing.assert_array_equal(pos[4], [4, 4])
    np.testing.assert_array_equal(info["cell"][:5], [4 * 8 + 5, 4 * 8 + 6, 4 * 8 + 7, 4 * 8 + 7, 4 * 8 + 7])
    np.testing.assert_allclose(obs[5], [4 / 7, 5 / 7])  # the next episode walks again


def test_positions_stay_in_the_grid_and_obs_match_cells():
    env, params = make("Coverage-grid", size=4, num_actions=5, start="random", max_steps=50)
    actions = np.asarray(jax.random.randint(jax.random.PRNGKey(3), (200,), 0, 5))
    _, (obs, pos, _, _, truncated, info) = rollout(env, params, actions, key=7)
    assert pos.min() >= 0 and pos.max() <= 3
    final = np.asarray(info["final_observation"])
    assert final.min() >= 0.0 and final.max() <= 1.0
    cells = np.round(final * 3).astype(int)
    np.testing.assert_array_equal(cells[:, 0] * 4 + cells[:, 1], info["cell"])
    assert truncated.sum() == 4  # 200 steps, 50 per episode
    assert len(np.unique(info["cell"])) > 8  # random actions actually move around
