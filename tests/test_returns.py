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


def _streams_and_heads(k=3):
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    T, N = 16, 4
    task, distractor = jax.random.normal(keys[0], (T, N)), jax.random.normal(keys[1], (T, N))
    values, next_values = jax.random.normal(keys[2], (T, N, k)), jax.random.normal(keys[3], (T, N, k))
    terminated = jnp.zeros((T, N), bool).at[5, 1].set(True)
    truncated = jnp.zeros((T, N), bool).at[9, 2].set(True)
    return task, distractor, values, next_values, (terminated, truncated, 0.99, 0.95)


def test_decoupled_advantages_ignore_a_streams_scale():
    """Scaling one stream by 1000 scales its return std by 1000, and the combined advantage
    and the head-unit targets stay as they were (the heads' outputs are the same)."""
    from jaxshape.algos.returns import ReturnScale, decoupled_advantages, stream_units

    task, distractor, values, next_values, args = _streams_and_heads(2)
    done = jnp.logical_or(args[0], args[1])[..., None]

    def combined(distractor):
        rewards = jnp.stack([task, distractor], -1)
        scale = ReturnScale.create(4, 2).update(rewards, jnp.broadcast_to(done, rewards.shape), jnp.full(2, 0.99))
        unit, gain = stream_units(scale.scale)
        return decoupled_advantages([task, distractor], [1.0, 0.5], values, next_values, *args, unit, gain), scale

    (base, targets), scale = combined(distractor)
    (scaled, scaled_targets), scaled_scale = combined(1000.0 * distractor)
    np.testing.assert_allclose(scaled_scale.scale, scale.scale * jnp.array([1.0, 1000.0]), rtol=1e-5)
    np.testing.assert_allclose(scaled, base, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(scaled_targets, targets, rtol=1e-5, atol=1e-5)
    # a plain sum is dominated by the scaled stream
    plain = gae(task + 0.5 * 1000.0 * distractor, values[..., 0], next_values[..., 0], *args)[0]
    distractor_alone = gae(distractor, 0.0 * values[..., 0], 0.0 * next_values[..., 0], *args)[0]
    assert float(jnp.corrcoef(plain.ravel(), distractor_alone.ravel())[0, 1]) > 0.99


def test_a_stream_that_pays_zero_weighs_nothing_and_a_small_signal_keeps_its_weight():
    """σ = 0 gives gain 0: the zero stream's head noise adds exactly nothing (per-batch
    advantage normalisation, the earlier method, gave that noise unit variance, as much
    as the task's); a stream up to 1e5x smaller than the largest keeps weight 1/σ."""
    from jaxshape.algos.returns import decoupled_advantages, stream_units

    task, distractor, values, next_values, args = _streams_and_heads(3)
    unit, gain = stream_units(jnp.array([2.0, 0.5, 0.0]))
    assert float(gain[2]) == 0.0 and float(unit[2]) > 0.0
    np.testing.assert_allclose(unit[:2], [2.0, 0.5], rtol=1e-6)
    with_zero, targets = decoupled_advantages([task, distractor, jnp.zeros_like(task)], [1.0, 1.0, 1.0], values,
                                              next_values, *args, unit, gain)
    without, _ = decoupled_advantages([task, distractor], [1.0, 1.0], values[..., :2], next_values[..., :2], *args,
                                      unit[:2], gain[:2])
    np.testing.assert_array_equal(with_zero, without)
    assert np.isfinite(np.asarray(targets)).all()
    # by hand: A = Σ_k A_k / σ_k for the streams with signal (gain 1 to float precision)
    by_hand = sum(gae(r, s * values[..., k], s * next_values[..., k], *args)[0] / s
                  for k, (r, s) in enumerate([(task, 2.0), (distractor, 0.5)]))
    np.testing.assert_allclose(without, by_hand, rtol=1e-5, atol=1e-6)
    # gain: exactly 1 down to ρ·σ_max = 1e-2 here (σ 1e5x below the largest), then σ/(ρ·σ_max)
    units, gains = stream_units(jnp.array([1000.0, 1.0, 1e-2, 1e-4, 0.0]))
    np.testing.assert_array_equal(gains[:3], [1.0, 1.0, 1.0])
    np.testing.assert_allclose(gains[3:], [1e-2, 0.0], rtol=1e-5)
    np.testing.assert_allclose(units, [1000.0, 1.0, 1e-2, 1e-2, 1e-2], rtol=1e-5)


def test_return_scale_is_the_std_of_the_discounted_return_by_hand():
    """G ← r + γG, reset after an episodic stream's episode ends, never for a non-episodic
    one (γ 0.5 and 0.9 by stream); σ² = Var of every G seen, across two merged rollouts."""
    from jaxshape.algos.returns import ReturnScale

    rewards = jnp.array([[1.0, 2.0], [1.0, 0.0], [1.0, 4.0], [1.0, 0.0]])[:, None, :]  # [T=4, N=1, K=2]
    ends = jnp.array([False, True, False, False])[:, None, None]
    resets = jnp.logical_and(ends, jnp.array([True, False]))
    scale = ReturnScale.create(1, 2).update(rewards[:2], resets[:2], jnp.array([0.5, 0.9]))
    scale = scale.update(rewards[2:], resets[2:], jnp.array([0.5, 0.9]))
    g0 = [1.0, 1.5, 1.0, 1.5]  # reset after step 1
    g1 = [2.0, 1.8, 4.0 + 0.9 * 1.8, 0.9 * (4.0 + 0.9 * 1.8)]
    np.testing.assert_allclose(scale.scale, [np.std(g0), np.std(g1)], rtol=1e-5)
    np.testing.assert_allclose(scale.returns, [[1.5, g1[-1]]], rtol=1e-6)
    zero = ReturnScale.create(1, 1).update(jnp.zeros((4, 1, 1)), jnp.zeros((4, 1, 1), bool), jnp.array([0.9]))
    assert float(zero.scale[0]) == 0.0
