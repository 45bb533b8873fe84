"""Running statistics, action heads and random draws against their formulas."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxshape import draws
from jaxshape.algos.distributions import Categorical, Gaussian
from jaxshape.episodes import EpisodeStats
from jaxshape.stats import RunningMeanStd


def test_running_mean_std_matches_numpy_over_all_batches():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(n, 3)).astype(np.float32) for n in (5, 17, 64)]
    stats = RunningMeanStd.create((3,))
    for b in batches:
        stats = stats.update(jnp.asarray(b))
    everything = np.concatenate(batches)
    np.testing.assert_allclose(stats.mean, everything.mean(0), rtol=1e-4)
    np.testing.assert_allclose(stats.var, everything.var(0), rtol=1e-3)


def test_gaussian_log_prob_matches_scipy_and_the_tanh_jacobian():
    from scipy.stats import norm

    mean, log_std = jnp.array([[0.3, -0.2]]), jnp.array([0.1, -0.5])
    u = jnp.array([[0.7, -1.1]])
    plain = Gaussian(2, squash="clip")
    expected = norm.logpdf(np.asarray(u), np.asarray(mean), np.exp(np.asarray(log_std))).sum()
    np.testing.assert_allclose(plain.log_prob((mean, log_std), u), [expected], rtol=1e-5)
    squashed = Gaussian(2, squash="tanh")
    jacobian = np.log(1 - np.tanh(np.asarray(u)) ** 2).sum()
    np.testing.assert_allclose(squashed.log_prob((mean, log_std), u), [expected - jacobian], rtol=1e-5)


def test_action_maps_into_bounds():
    head = Gaussian(1, low=(-2.0,), high=(2.0,), squash="tanh")
    np.testing.assert_allclose(head.to_env(jnp.array([[-50.0], [0.0], [50.0]])), [[-2.0], [0.0], [2.0]])
    clip = Gaussian(1, low=(-2.0,), high=(2.0,), squash="clip")
    np.testing.assert_allclose(clip.to_env(jnp.array([[-3.0], [1.5]])), [[-2.0], [1.5]])


def test_categorical_entropy_and_log_prob():
    head = Categorical(3)
    logits = jnp.log(jnp.array([[0.2, 0.3, 0.5]]))
    np.testing.assert_allclose(head.log_prob(logits, jnp.array([2])), np.log([0.5]), rtol=1e-6)
    np.testing.assert_allclose(head.entropy(logits), [-(0.2 * np.log(0.2) + 0.3 * np.log(0.3) + 0.5 * np.log(0.5))],
                               rtol=1e-6)
    samples = jax.vmap(lambda k: head.sample(k, logits[0]))(jax.random.split(jax.random.PRNGKey(0), 20000))
    np.testing.assert_allclose(np.bincount(samples, minlength=3) / 20000, [0.2, 0.3, 0.5], atol=0.015)


def test_episode_stats_report_completed_episodes_only():
    stats = EpisodeStats.create(2)
    for reward, done in [((1, 2), (0, 0)), ((1, 2), (1, 0)), ((5, 2), (0, 0))]:
        stats = stats.record(jnp.array(reward, jnp.float32), jnp.array(done, bool))
    summary = stats.summary()
    assert bool(summary["episode_valid"])
    assert float(summary["episode_return"]) == 2.0  # env 0 finished with 1+1; env 1 has not finished
    np.testing.assert_array_equal(stats.running_return, [5.0, 6.0])


def test_orthogonal_initialiser_is_orthogonal_without_qr():
    from jaxshape.initializers import orthogonal

    init = orthogonal(2.0)
    for shape in [(64, 64), (4, 64), (64, 2)]:
        kernels = jax.vmap(lambda k: init(k, shape))(jax.random.split(jax.random.PRNGKey(0), 16))
        small = min(shape)
        gram = jnp.einsum("bij,bik->bjk", kernels, kernels) if shape[0] >= shape[1] else \
            jnp.einsum("bji,bki->bjk", kernels, kernels)
        np.testing.assert_allclose(gram, 4.0 * np.broadcast_to(np.eye(small), (16, small, small)), atol=2e-4)
        assert not np.allclose(kernels[0], kernels[1])  # each key its own matrix
    lowered = jax.jit(jax.vmap(lambda k: init(k, (64, 64)))).lower(jax.random.split(jax.random.PRNGKey(0), 2))
    assert "custom_call" not in lowered.as_text()  # matrix products only: no LAPACK QR call


def test_flat_draws_are_bitwise_jax_random():
    """`jaxshape.draws` draws flat and reshapes (cheaper to compile): the numbers are
    exactly jax.random's, for every shape, and under vmap."""
    keys = jax.random.split(jax.random.PRNGKey(7), 3)
    for shape in ((16, 2), (256, 6), (7,), (3, 4, 5)):
        logits = jax.random.normal(keys[0], shape)
        pairs = [(draws.normal(keys[1], shape), jax.random.normal(keys[1], shape)),
                 (draws.uniform(keys[1], shape, jnp.float32, -1.0, 1.0),
                  jax.random.uniform(keys[1], shape, jnp.float32, -1.0, 1.0)),
                 (draws.categorical(keys[2], logits), jax.random.categorical(keys[2], logits)),
                 (jax.vmap(draws.categorical, (0, None))(keys, logits),
                  jax.vmap(jax.random.categorical, (0, None))(keys, logits))]
        for ours, theirs in pairs:
            np.testing.assert_array_equal(ours, theirs)
