"""`unrolled_threefry`: the same random bits as JAX's CPU lowering, without its loop, and
only while inside the context."""

import contextlib

import jax
import jax.numpy as jnp
import numpy as np

from jaxshape.threefry import available, unrolled_threefry
from xla_settings import XLA_DEFAULTS


def draws(key):
    split = jax.random.split(key, 5)
    return {"split": split, "uniform": jax.random.uniform(split[0], (7, 3)), "normal": jax.random.normal(split[1], (4,)),
            "categorical": jax.random.categorical(split[2], jnp.log(jnp.array([0.2, 0.3, 0.5])), shape=(64,)),
            "permutation": jax.random.permutation(split[3], 10), "fold_in": jax.random.fold_in(split[4], 3)}


def loops(lowered) -> int:
    return lowered.as_text().count("stablehlo.while")


def test_unrolled_threefry_draws_the_same_bits_without_a_loop_and_only_inside():
    assert available(), "this JAX moved the threefry lowering rules: update jaxshape/threefry.py"
    key = jax.random.PRNGKey(3)
    rolled = jax.jit(draws).lower(key)
    with unrolled_threefry():
        with unrolled_threefry():  # re-entrant: the inner exit keeps the rule
            pass
        unrolled = jax.jit(lambda k: draws(k)).lower(key)
    after = jax.jit(lambda k: draws(k)).lower(key)
    assert loops(rolled) > 0 and loops(after) == loops(rolled)
    assert loops(unrolled) < loops(rolled)
    assert loops(unrolled) <= 1  # the permutation's own sort loop may remain; no hash loops
    jax.tree.map(np.testing.assert_array_equal, rolled.compile()(key), unrolled.compile()(key))


def test_driver_programs_lower_without_hash_loops():
    """The Driver lowers its chunk under `unrolled_threefry`: a PPO chunk's program has fewer
    loops (the rest are its scans), and at XLA's default optimisation its run is bitwise the
    run of the same chunk lowered as JAX alone would (at the suite's level 0, XLA may round a
    float differently between the two programs)."""
    from jaxshape import pytree
    from jaxshape.algos import PPOConfig, default_hparams, make_ppo
    from jaxshape.run.driver import Driver

    config = PPOConfig(num_envs=4, num_steps=8, total_steps=4 * 8 * 2, num_epochs=1, num_minibatches=2)
    keys, hparams = jax.random.split(jax.random.PRNGKey(0), 1), pytree.stack([default_hparams()])
    driver = Driver(make_ppo(config), num_updates=2, chunk_size=2)
    lowered = driver.lower_chunk(keys, hparams)
    plain_driver = Driver(make_ppo(config), num_updates=2, chunk_size=2)
    plain = plain_driver._chunk.lower(driver.state_shape(keys, hparams), hparams, keys, np.int32(0))
    assert "threefry" in plain.as_text() and loops(lowered) < loops(plain)
    from jaxshape.run import builder  # SAC keeps JAX's lowering (its compile grew, its run did not speed up)
    sac_driver = Driver(builder.build("sac", {"env": "Pendulum-v1"})[0], num_updates=1, chunk_size=1)
    assert isinstance(sac_driver._lowering(), type(contextlib.nullcontext()))
    state = driver.placeholder_state(keys, hparams)
    results = [program.compile(XLA_DEFAULTS)(state, hparams, keys, np.int32(0)) for program in (lowered, plain)]
    jax.tree.map(np.testing.assert_array_equal, *results)
