"""PointGoal-v0: goals re-drawn at every reset, achieved/desired goals exposed, time limit."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxshape.algos.her import GoalSpec
from jaxshape.envs import make


def rollout(steps, seed=0):
    env, params = make("PointGoal-v0")

    def step(carry, key):
        obs, state = carry
        action_key, step_key = jax.random.split(key)
        action = jax.random.uniform(action_key, (2,), minval=-1.0, maxval=1.0)
        next_obs, state, reward, terminated, truncated, info = env.step(step_key, state, action, params)
        return (next_obs, state), (obs, next_obs, reward, terminated, truncated, info)

    key, reset_key = jax.random.split(jax.random.PRNGKey(seed))
    carry = env.reset(reset_key, params)
    _, out = jax.lax.scan(step, carry, jax.random.split(key, steps))
    return env, params, jax.device_get(out)


def test_goal_is_resampled_at_every_reset_and_fixed_within_an_episode():
    env, params, (obs, next_obs, reward, terminated, truncated, info) = rollout(4 * 50)
    horizon = params.max_steps_in_episode
    assert not terminated.any()  # success does not terminate; only the time limit ends episodes
    np.testing.assert_array_equal(np.flatnonzero(truncated), np.arange(horizon - 1, 4 * horizon, horizon))
    goals = obs[:, 2:].reshape(4, horizon, 2)
    assert (goals == goals[:, :1]).all()  # one goal per episode
    first = goals[:, 0]
    assert len({tuple(g) for g in first}) == 4  # a fresh goal each episode, auto-resets included
    # the observation after an auto-reset already carries the new goal
    np.testing.assert_array_equal(next_obs[horizon - 1, 2:], first[1])


def test_achieved_and_desired_goals_are_exposed_and_define_the_reward():
    env, params, (obs, next_obs, reward, terminated, truncated, info) = rollout(120, seed=1)
    np.testing.assert_array_equal(info["desired_goal"], obs[:, 2:])
    np.testing.assert_array_equal(info["achieved_goal"], info["final_observation"][:, :2])
    # before the step: the position of obs; the true next position where the episode ended
    moved = np.linalg.norm(info["achieved_goal"] - obs[:, :2], axis=-1)
    assert (moved <= params.max_speed * np.sqrt(2) + 1e-6).all()
    spec = GoalSpec(**env.goal_spec(params))
    assert spec.obs_slice == (2, 4)
    expected = spec.reward(jnp.asarray(info["achieved_goal"]), jnp.asarray(info["desired_goal"]))
    np.testing.assert_array_equal(reward, expected)
    np.testing.assert_array_equal(info["is_success"], reward + 1.0)


def test_success_inside_eps_gives_reward_zero():
    env, params = make("PointGoal-v0")
    obs, state = env.reset(jax.random.PRNGKey(0), params)
    state = state.replace(position=state.goal - jnp.array([0.05, 0.0]))
    _, _, reward, terminated, _, info = env.step(jax.random.PRNGKey(1), state, jnp.array([0.5, 0.0]), params)
    assert float(reward) == 0.0 and float(info["is_success"]) == 1.0 and not bool(terminated)
