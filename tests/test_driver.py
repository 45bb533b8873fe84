"""The chunked driver runs the same computation as one scan over all updates."""

import functools

import jax
import numpy as np

from jaxshape import pytree
from jaxshape.algos import PPOConfig, default_hparams, make_ppo
from jaxshape.run.driver import Driver


PPO_SMALL = PPOConfig(num_envs=4, num_steps=16, total_steps=4 * 16 * 6, num_epochs=2, num_minibatches=2)
KEYS = jax.random.split(jax.random.PRNGKey(7), 2)
HPARAMS = pytree.stack([default_hparams(learning_rate=1e-3), default_hparams(learning_rate=3e-4)])


@functools.cache
def run_driver(chunk_size):
    """(final state, metrics by update) of a two-member driver run in chunks of `chunk_size`
    (each size compiled and run once per module)."""
    chunks = []
    driver = Driver(make_ppo(PPO_SMALL), num_updates=6, chunk_size=chunk_size)
    driver.compile(KEYS, HPARAMS)
    assert driver.compile_seconds > 0
    state, _ = driver.run(KEYS, HPARAMS, chunks.append)
    assert len(chunks) == -(-6 // chunk_size)
    return state, {k: np.concatenate([c[k] for c in chunks], axis=1) for k in chunks[0]}


def test_chunked_run_is_bitwise_equal_to_one_scan():
    single_state, single_metrics = run_driver(chunk_size=6)  # one scan over all updates
    for chunk_size in (3, 4):  # 4 does not divide the 6 updates: its last chunk runs 2
        chunked_state, chunked_metrics = run_driver(chunk_size)
        for name, value in single_metrics.items():
            np.testing.assert_array_equal(chunked_metrics[name], value, err_msg=f"{name}, chunks of {chunk_size}")
        jax.tree.map(np.testing.assert_array_equal, chunked_state.params, single_state.params)


def test_driver_agrees_with_the_fused_train_function():
    """`ppo.train` fuses init into the same program, so XLA may round differently in the
    last bits; the trajectories agree to float32 precision."""
    fused_state, fused_metrics = jax.jit(jax.vmap(make_ppo(PPO_SMALL).train))(KEYS, HPARAMS)
    driven_state, driven_metrics = run_driver(chunk_size=3)
    np.testing.assert_array_equal(driven_metrics["episode_return"], fused_metrics["episode_return"])
    np.testing.assert_allclose(driven_metrics["loss_total"], fused_metrics["loss_total"], rtol=1e-4, atol=1e-6)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
                 driven_state.params, fused_state.params)


def test_evaluation_compiled_beside_the_chunk_equals_the_one_jit_compiles_on_first_call():
    """`compile` builds the evaluation on a second thread while it compiles the chunk:
    the same evaluations as a driver that compiles nothing ahead (jit on first call),
    for one member and for two."""
    ppo = make_ppo(PPO_SMALL)
    for keys, hparams in ((KEYS, HPARAMS), (KEYS[:1], pytree.index(HPARAMS, slice(0, 1)))):
        results = []
        for ahead in (True, False):
            driver = Driver(ppo, num_updates=6, chunk_size=3, eval_episodes=3)
            if ahead:
                driver.compile(keys, hparams)
                assert isinstance(driver._evaluate, jax.stages.Compiled)
            state = driver.placeholder_state(keys, hparams)
            evaluations = []
            for first in driver.chunk_starts():
                state, _, _, evaluation = driver.chunk(state, hparams, keys, first, evaluate=True)
                evaluations.append(jax.device_get(evaluation))
            results.append(evaluations)
        for compiled, jitted in zip(*results):
            assert compiled["eval_return"].shape == (keys.shape[0],)
            jax.tree.map(np.testing.assert_array_equal, compiled, jitted)
