"""SAC: learning on Pendulum, HER on PointGoal, the truncation rule in the targets,
determinism, sweeps from one compile, and config errors."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxshape import pytree
from jaxshape.algos.sac import SACConfig, default_hparams, make_sac, soft_target
from jaxshape.run.driver import Driver
from jaxshape.errors import ConfigError
from toy_envs import MatrixAction
from xla_settings import optimised_jit

SMALL = SACConfig(num_envs=2, total_steps=2 * 40 + 2 * 20 * 3, learning_starts=80, steps_per_update=20,
                  hidden_sizes=(16, 16), minibatch_size=16, buffer_size=400)


@pytest.mark.slow
def test_pendulum_every_seed_reaches_minus_250():
    """4 seeds in one vmapped call; 15k env steps each (the bar is 50k)."""
    config = SACConfig(env="Pendulum-v1", num_envs=1, total_steps=15_000, learning_starts=1_000,
                       steps_per_update=200, hidden_sizes=(64, 64), minibatch_size=128)
    sac = make_sac(config)
    hp = default_hparams(actor_lr=1e-3, critic_lr=1e-3, alpha_lr=1e-3)
    _, metrics = optimised_jit(jax.vmap(sac.train))(jax.random.split(jax.random.PRNGKey(0), 4), pytree.stack([hp] * 4))
    metrics = jax.device_get(metrics)
    assert metrics["step"][0, -1] <= 50_000
    # one env, 200-step episodes, 200 steps per update: the last 10 entries are the last 10 episodes
    final = metrics["episode_return"][:, -10:].mean(axis=1)
    print(f"Pendulum-v1 mean return of the last 10 episodes per seed, 15k steps: {np.round(final, 1)}")
    assert (final >= -250).all(), f"mean return of the last 10 episodes per seed: {final}"
    assert np.isfinite(metrics["loss_critic"]).all()


@pytest.mark.slow
def test_her_at_least_doubles_the_success_rate_on_point_goal():
    def success(strategy):
        config = SACConfig(env="PointGoal-v0", num_envs=4, total_steps=12_000, learning_starts=1_000,
                           steps_per_update=50, hidden_sizes=(64, 64), minibatch_size=128, buffer_size=12_000,
                           her_strategy=strategy)
        hp = default_hparams(actor_lr=1e-3, critic_lr=1e-3, alpha_lr=1e-3, gamma=0.95)
        _, metrics = jax.jit(jax.vmap(make_sac(config).train))(jax.random.split(jax.random.PRNGKey(0), 2),
                                                               pytree.stack([hp] * 2))
        # last 10 updates = 2000 steps = 40 episodes per seed
        return float(np.asarray(metrics["episode_success"])[:, -10:].mean())

    with_her, without = success("future"), success("none")
    print(f"PointGoal-v0 success rate, 12k steps: HER {with_her:.2f}, no HER {without:.2f}")
    assert with_her >= 2 * without and with_her >= 0.5, (with_her, without)


def test_targets_bootstrap_through_truncation_and_stop_at_termination():
    sac = make_sac(SMALL)
    hp = default_hparams(gamma=0.9)
    state = jax.jit(sac.init)(jax.random.PRNGKey(0), hp)
    next_obs = jnp.tile(jnp.array([[0.3, -0.9, 1.5]]), (3, 1))  # the TRUE next observation, same for all rows
    rewards = jnp.array([-1.0, -1.0, -1.0])
    terminated = jnp.array([False, True, False])
    truncated = jnp.array([False, False, True])  # the target must not read it
    del truncated
    key = jax.random.PRNGKey(7)
    y = sac.targets(state.actor_params, state.target_params, state.log_alpha, hp, rewards[:, None], terminated,
                    next_obs, key)[:, 0]  # head 0: the episodic streams
    # by hand: min over the target critics of Q(s′, a′) − α log π(a′|s′), a′ from the same key
    action, log_prob = sac.sample_action(state.actor_params, next_obs, key)
    soft_value = (sac.critic.apply(state.target_params, next_obs, action).min(axis=0)[:, 0]
                  - jnp.exp(state.log_alpha) * log_prob)
    rows = np.array([0, 2])
    np.testing.assert_allclose(np.asarray(y)[rows], -1.0 + 0.9 * np.asarray(soft_value)[rows], rtol=1e-6)
    assert y[1] == -1.0  # termination: no bootstrap
    # truncation bootstraps exactly like a step that did not end
    y_running = sac.targets(state.actor_params, state.target_params, state.log_alpha, hp, rewards[:, None],
                            jnp.zeros(3, bool), next_obs, key)[:, 0]
    assert y[2] == y_running[2] and y[0] == y_running[0] and y[1] != y_running[1]
    assert abs(float(soft_value[0])) > 1e-3  # so the two cases really differ
    np.testing.assert_allclose(soft_target(jnp.array([1.0, 1.0]), jnp.array([False, True]), jnp.array([2.0, 2.0]),
                                           jnp.array([0.5, 0.5]), 0.2, 0.5), [1.0 + 0.5 * 1.9, 1.0])


def test_truncated_rows_are_stored_with_the_true_next_observation():
    config = SACConfig(num_envs=2, total_steps=2 * 200 + 2 * 20, learning_starts=400, steps_per_update=20,
                       hidden_sizes=(8, 8), minibatch_size=8, buffer_size=1000)
    state = jax.jit(make_sac(config).init)(jax.random.PRNGKey(1), default_hparams())
    data, reset_obs = jax.device_get((state.buffer.data, state.obs))
    # Pendulum truncates at step 200: row 199 ends both envs' episodes
    assert data["truncated"][199].all() and not data["truncated"][:199].any() and not data["terminated"].any()
    # the stored next observation continues the trajectory (not the reset observation) ...
    cos_sin = data["next_obs"][199, :, :2]
    np.testing.assert_allclose((cos_sin**2).sum(-1), 1.0, rtol=1e-5)
    assert not np.allclose(data["next_obs"][199], reset_obs)
    # ... and, elsewhere, next_obs is the following row's obs
    np.testing.assert_array_equal(data["next_obs"][:199], data["obs"][1:200])


def test_same_seed_gives_bitwise_identical_metrics():
    train = jax.jit(make_sac(SMALL).train)
    _, a = train(jax.random.PRNGKey(3), default_hparams())
    _, b = train(jax.random.PRNGKey(3), default_hparams())
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    _, c = train(jax.random.PRNGKey(4), default_hparams())
    assert not np.array_equal(a["loss_critic"], c["loss_critic"])


def test_vmapped_hparams_compile_once_and_match_separate_runs():
    sac = make_sac(SMALL)
    low, high = default_hparams(actor_lr=1e-4, tau=0.01), default_hparams(actor_lr=3e-3, tau=0.05)
    key = jax.random.PRNGKey(0)
    train = jax.jit(sac.train)
    state_low, _ = train(key, low)
    state_high, _ = train(key, high)
    assert train._cache_size() == 1  # new values did not recompile

    swept = jax.jit(jax.vmap(sac.train, in_axes=(None, 0)))
    state_both, _ = swept(key, pytree.stack([low, high]))
    assert swept._cache_size() == 1
    for i, separate in enumerate((state_low, state_high)):
        jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=2e-4, atol=1e-5),
                     separate.actor_params, pytree.index(state_both.actor_params, i))
    gap = jax.tree.map(lambda x, y: jnp.abs(x - y).max(), state_low.actor_params, state_high.actor_params)
    assert max(jax.tree.leaves(gap)) > 1e-3


def run_driver(config, chunk_size, keys, hparams):
    chunks = []
    state, _ = Driver(make_sac(config), config.num_updates, chunk_size).run(keys, hparams, chunks.append)
    return state, {k: np.concatenate([c[k] for c in chunks], axis=1) for k in chunks[0]}


def test_chunked_driver_is_bitwise_equal_to_one_scan_and_counts_steps():
    config = dataclasses.replace(SMALL, total_steps=80 + 40 * 4)
    assert config.batch_size == 2 * 20 and config.num_updates == 4 and config.warmup_steps == 40
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    hparams = pytree.stack([default_hparams(), default_hparams(actor_lr=1e-3)])
    single_state, single = run_driver(config, 4, keys, hparams)  # one scan over all updates
    chunked_state, chunked = run_driver(config, 2, keys, hparams)
    for name, value in single.items():
        np.testing.assert_array_equal(chunked[name], value, err_msg=name)
    jax.tree.map(np.testing.assert_array_equal, chunked_state.params, single_state.params)
    np.testing.assert_array_equal(single["step"][0], [80 + 40, 80 + 80, 80 + 120, 80 + 160])  # warm-up counted
    for name in ("loss_critic", "loss_actor", "loss_alpha", "alpha", "q_mean", "episode_return", "episode_valid"):
        assert single[name].shape == (2, 4), name


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"num_envs": 0}, "num_envs must be a positive integer"),
        ({"minibatch_size": -1}, "minibatch_size must be a positive integer"),
        ({"learning_starts": -5}, "learning_starts must be 0 or more"),
        ({"steps_per_update": 10, "train_every": 3}, "pick a divisor of 10"),
        ({"total_steps": 500}, "leaves no update after the warm-up"),
        ({"activation": "sigmoidal"}, "activation 'sigmoidal' unknown"),
        ({"her_strategy": "futur"}, "her_strategy 'futur' unknown"),
        ({"her_strategy": "future"}, "needs a goal-conditioned env"),
        ({"env": "Pendulum-v2"}, "did you mean Pendulum-v1"),
        ({"env": "CartPole-v1"}, "SAC handles 1-D Box action spaces"),
    ],
)
def test_bad_config_names_the_fix(changes, message):
    with pytest.raises(ConfigError, match=message):
        make_sac(SACConfig(**changes))


def test_unsupported_action_space_is_refused():
    env = MatrixAction()
    with pytest.raises(ConfigError, match="1-D Box"):
        make_sac(SACConfig(), env, env.default_params)


def test_nonepisodic_streams_get_their_own_critic_head_discount_and_no_cut():
    """RND's stream is non-episodic: its head bootstraps with its own γ even where the
    episode terminated, and the actor maximises Q_0 + c·Q_rnd."""
    from jaxshape.rewards import rnd

    transform = rnd(coef=0.5)
    sac = make_sac(SMALL, transform=transform)
    hp = default_hparams(transform, gamma=0.9, reward_gammas={"rnd": 0.5})
    state = jax.jit(sac.init)(jax.random.PRNGKey(0), hp)
    next_obs = jnp.tile(jnp.array([[0.3, -0.9, 1.5]]), (2, 1))
    rewards = jnp.array([[-1.0, 2.0], [-1.0, 2.0]])  # [episodic, rnd]
    terminated = jnp.array([False, True])
    key = jax.random.PRNGKey(7)
    y = np.asarray(sac.targets(state.actor_params, state.target_params, state.log_alpha, hp, rewards, terminated,
                               next_obs, key))
    action, log_prob = sac.sample_action(state.actor_params, next_obs, key)
    next_q = np.asarray(sac.critic.apply(state.target_params, next_obs, action).min(axis=0))
    assert next_q.shape == (2, 2)
    soft = next_q[:, 0] - np.exp(float(state.log_alpha)) * np.asarray(log_prob)
    np.testing.assert_allclose(y[:, 0], [-1.0 + 0.9 * soft[0], -1.0], rtol=1e-5)  # cut at termination
    np.testing.assert_allclose(y[:, 1], 2.0 + 0.5 * next_q[:, 1], rtol=1e-5)  # never cut, own γ
    q = jnp.array([[1.0, 4.0]])
    np.testing.assert_allclose(sac.combined_q(q, hp), [1.0 + 0.5 * 4.0])
    state, metrics = jax.jit(sac.update)(state, hp)
    assert np.isfinite(float(metrics["loss_critic"])) and "reward/rnd" in metrics
