"""GAE with termination and truncation apart."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxshape.algos import PPOConfig, default_hparams, make_ppo
from jaxshape.algos.returns import gae
from toy_envs import ConstantReward

GAMMA, LAMBDA = 0.9, 0.95


def reference_gae(rewards, values, next_values, terminated, truncated, gamma, lam):
    """A plain Python loop over the definition, for one env."""
    advantages = np.zeros(len(rewards))
    running = 0.0
    for t in reversed(range(len(rewards))):
        delta = rewards[t] + gamma * (1 - terminated[t]) * next_values[t] - values[t]
        running = delta + gamma * lam * (1 - max(terminated[t], truncated[t])) * running
        advantages[t] = running
    return advantages


def test_gae_matches_the_definition():
    rng = np.random.default_rng(0)
    T = 12
    rewards, values, next_values = rng.normal(size=(3, T)).astype(np.float32)
    terminated = np.zeros(T, np.float32)
    truncated = np.zeros(T, np.float32)
    terminated[3], truncated[7] = 1, 1
    adv, targets = gae(*map(jnp.asarray, (rewards, values, next_values, terminated, truncated)), GAMMA, LAMBDA)
    expected = reference_gae(rewards, values, next_values, terminated, truncated, GAMMA, LAMBDA)
    np.testing.assert_allclose(adv, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(targets, expected + values, rtol=1e-5, atol=1e-6)


def test_time_limit_targets_bootstrap_through_truncation():
    """On a never-terminating env paying 1 per step, V*(s) = 1/(1−γ) everywhere.

    With the true value as critic, correct targets equal V* at every step, the steps cut
    by the time limit included. Treating truncation as termination makes those targets
    1 instead: wrong.
    """
    env = ConstantReward()
    config = PPOConfig(num_envs=3, num_steps=17, num_minibatches=1)
    ppo = make_ppo(config, env, env.default_params)
    state = ppo.init(jax.random.PRNGKey(0), default_hparams())
    _, batch, streams = ppo._rollout(state, default_hparams())

    assert batch.truncated.any() and not batch.terminated.any()
    true_value = 1.0 / (1.0 - GAMMA)
    values = jnp.full(batch.reward.shape, true_value)

    _, ours = gae(streams["extrinsic"], values, values, batch.terminated, batch.truncated, GAMMA, LAMBDA)
    np.testing.assert_allclose(ours, true_value, rtol=1e-6)

    as_termination = batch.terminated | batch.truncated
    _, wrong = gae(streams["extrinsic"], values, values, as_termination, jnp.zeros_like(as_termination), GAMMA, LAMBDA)
    cut = np.asarray(batch.truncated)
    np.testing.assert_allclose(np.asarray(wrong)[cut], 1.0)
    assert np.abs(np.asarray(wrong) - true_value).max() > 8.0


def test_rollout_records_the_true_next_observation():
    env = ConstantReward()
    ppo = make_ppo(PPOConfig(num_envs=2, num_steps=12, num_minibatches=1), env, env.default_params)
    state = ppo.init(jax.random.PRNGKey(1), default_hparams())
    _, batch, _ = ppo._rollout(state, default_hparams())
    time_of_next = np.asarray(batch.next_obs[..., 1])
    # the episode's last observation has time 5 (the limit), never the reset's time 0
    np.testing.assert_array_equal(time_of_next[np.asarray(batch.truncated)], 5.0)
    np.testing.assert_array_equal(np.asarray(batch.obs[1:]), np.where(
        np.asarray(batch.truncated[:-1])[..., None], batch.obs[1:], batch.next_obs[:-1]))
    assert (np.asarray(batch.obs[1:, :, 1])[np.asarray(batch.truncated[:-1])] == 0).all()


def test_decoupled_advantages_ignore_a_streams_scale():
    """Scaling one stream (and its value head) by 1000 leaves the combined advantage as it was."""
    from jaxshape.algos.returns import decoupled_advantages

    key = jax.random.PRNGKey(0)
    k1, k2, k3, k4 = jax.random.split(key, 4)
    T, N = 16, 4
    task, distractor = jax.random.normal(k1, (T, N)), jax.random.normal(k2, (T, N))
    values, next_values = jax.random.normal(k3, (T, N, 2)), jax.random.normal(k4, (T, N, 2))
    terminated = jnp.zeros((T, N), bool).at[5, 1].set(True)
    truncated = jnp.zeros((T, N), bool).at[9, 2].set(True)
    args = (terminated, truncated, 0.99, 0.95)
    combined, targets = decoupled_advantages([task, distractor], [1.0, 0.5], values, next_values, *args)
    scale = jnp.array([1.0, 1000.0])
    scaled, scaled_targets = decoupled_advantages([task, 1000.0 * distractor], [1.0, 0.5], values * scale,
                                                  next_values * scale, *args)
    np.testing.assert_allclose(scaled, combined, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(scaled_targets[..., 1], 1000.0 * targets[..., 1], rtol=1e-5)
    # a plain sum is dominated by the scaled stream
    plain = gae(task + 0.5 * 1000.0 * distractor, values[..., 0], next_values[..., 0], *args)[0]
    distractor_alone = gae(distractor, 0.0 * values[..., 0], 0.0 * next_values[..., 0], *args)[0]
    assert float(jnp.corrcoef(plain.ravel(), distractor_alone.ravel())[0, 1]) > 0.99
