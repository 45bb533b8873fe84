import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxshape import envs
from env_contract import assert_step_without_reset_keeps_the_end
from toy_envs import LegacyCountdown


def rollout(env, params, actions, key=0):
    """Step one env through `actions`; returns the stacked step outputs."""
    obs, state = env.reset(jax.random.PRNGKey(key), params)

    def step(carry, inp):
        state, obs = carry
        k, a = inp
        next_obs, state, reward, terminated, truncated, info = env.step(k, state, a, params)
        return (state, next_obs), (obs, next_obs, reward, terminated, truncated, info["final_observation"])

    keys = jax.random.split(jax.random.PRNGKey(key + 1), len(actions))
    _, out = jax.lax.scan(step, (state, obs), (keys, jnp.asarray(actions)))
    return out


def test_make_returns_gymnax_env_and_params():
    env, params = envs.make("CartPole-v1")
    obs, state = env.reset(jax.random.PRNGKey(0), params)
    assert obs.shape == (4,)
    assert params.max_steps_in_episode == 500


def test_unknown_name_lists_close_names():
    with pytest.raises(envs.UnknownEnvError, match="CartPole-v1"):
        envs.make("CartPol-v1")
    with pytest.raises(envs.UnknownEnvError, match="brax/hopper"):
        envs.make("brax/hoper")


def test_gymnax_time_limit_is_truncation_with_true_final_observation():
    env, params = envs.make("Pendulum-v1")
    params = params.replace(max_steps_in_episode=4)
    obs, next_obs, _, terminated, truncated, final_obs = rollout(env, params, jnp.zeros((9, 1)))
    np.testing.assert_array_equal(truncated, [0, 0, 0, 1, 0, 0, 0, 1, 0])
    assert not terminated.any()
    ended = np.asarray(truncated, bool)
    # where the episode went on, the next observation is the final one; where it ended,
    # the env reset and final_observation keeps the true last observation
    np.testing.assert_array_equal(final_obs[~ended], next_obs[~ended])
    assert not np.allclose(final_obs[ended], next_obs[ended])


def test_legacy_adapter_splits_done_into_termination_and_truncation():
    env = envs.LegacyGymnaxAdapter(LegacyCountdown())
    params = env.default_params
    # count down 3 times: terminates at step 3; then wait 10 steps: truncated at step 13
    actions = [1, 1, 1] + [0] * 10
    obs, next_obs, reward, terminated, truncated, final_obs = rollout(env, params, actions)
    np.testing.assert_array_equal(np.flatnonzero(terminated), [2])
    np.testing.assert_array_equal(np.flatnonzero(truncated), [12])
    np.testing.assert_array_equal(final_obs[2], [0.0, 3.0])  # counter 0 at time 3, before the reset
    np.testing.assert_array_equal(next_obs[2], [3.0, 0.0])  # the reset observation
    np.testing.assert_array_equal(final_obs[12], [3.0, 10.0])


@pytest.fixture(scope="module")
def brax_pendulum():
    return envs.make("brax/inverted_pendulum", episode_length=5)


def test_brax_truncation_is_reported_apart_from_termination(brax_pendulum):
    env, params = brax_pendulum
    _, next_obs, _, terminated, truncated, final_obs = jax.jit(lambda a: rollout(env, params, a))(jnp.zeros((11, 1)))
    np.testing.assert_array_equal(np.flatnonzero(truncated), [4, 9])
    assert not terminated.any()
    np.testing.assert_array_equal(final_obs[:4], next_obs[:4])


def test_brax_termination_is_not_truncation(brax_pendulum):
    env, params = brax_pendulum
    env10 = envs.make("brax/inverted_pendulum", episode_length=1000)[0]
    # full push in one direction topples the pole well before 1000 steps
    _, _, _, terminated, truncated, _ = jax.jit(lambda a: rollout(env10, params, a))(jnp.ones((200, 1)))
    assert terminated.any()
    assert not truncated.any()


def test_brax_resets_are_fresh_and_a_step_without_reset_keeps_the_episode_end(brax_pendulum):
    """Episode starts all differ (no cached first state); without reset the ended
    episode stays as it ended (tests/env_contract.py)."""
    env, params = brax_pendulum
    actions = jnp.zeros((4, 1))
    both = jax.jit(lambda keys, states: (envs.step_batch(env, params, keys, states, actions),
                                          envs.step_batch(env, params, keys, states, actions, auto_reset=False)))
    obs, states = envs.reset_batch(env, params, jax.random.split(jax.random.PRNGKey(0), 4))
    starts = [obs]
    for t in range(10):  # truncated at the fifth and tenth steps
        step, kept = both(jax.random.split(jax.random.PRNGKey(t + 1), 4), states)
        done = assert_step_without_reset_keeps_the_end(step, kept)
        assert done.all() == (t % 5 == 4) and done.any() == (t % 5 == 4)
        if done.all():
            starts.append(step[0])
        states = step[1]
    starts = np.concatenate(starts)  # 3 episode starts in each of 4 envs
    assert len({tuple(np.round(s, 6)) for s in starts}) == len(starts) == 12


def test_step_transition_applies_the_termination_rule():
    """PPO, SAC and evaluation record env steps through this one function."""
    import jax.numpy as jnp

    from jaxshape.envs import step_transition

    final = jnp.array([[1.0], [2.0], [3.0]])
    info = {"final_observation": final, "discount": jnp.ones(3), "cell": jnp.array([4, 5, 6])}
    t = step_transition(jnp.zeros((3, 1)), jnp.array([0, 1, 0]), jnp.array([1, 0, 2]), jnp.array([1, 0, 1]),
                        jnp.array([1, 1, 0]), info, 0.9)
    assert t.terminated.tolist() == [True, False, True]
    assert t.truncated.tolist() == [False, True, False]  # terminating at the time limit is a termination
    assert t.next_obs.tolist() == final.tolist() and t.reward.dtype == jnp.float32
    assert list(t.info) == ["cell"] and t.gamma == 0.9


def test_a_step_without_reset_is_the_step_until_the_episode_ends_and_then_keeps_its_end():
    """`auto_reset=False`, for a gymnax env and for it wrapped in `terminate_if` (whose
    own step adds terminations and resets), with the identity of tests/env_contract.py."""
    env, params = envs.make("CartPole-v1")
    wrapped = envs.terminate_if(env, lambda o, info: o[2] > 0.1)  # the pole leans right: ends before CartPole does
    for env_ in (env, wrapped):
        keys = jax.random.split(jax.random.PRNGKey(0), 64)
        _, state = envs.reset_batch(env_, params, keys)
        actions = jnp.zeros(64, jnp.int32)  # always push left: episodes end within ~10 steps
        ended = np.zeros(64, bool)
        for t in range(30):
            step_keys = jax.random.split(jax.random.PRNGKey(t + 1), 64)
            step = envs.step_batch(env_, params, step_keys, state, actions)
            kept = envs.step_batch(env_, params, step_keys, state, actions, auto_reset=False)
            ended |= assert_step_without_reset_keeps_the_end(step, kept)
            state = step[1]
        assert ended.all()
