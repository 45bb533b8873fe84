"""Any state a learner or a reward transform carries round-trips through a real orbax
checkpoint on disk: empty leaves, bools, integers, typed PRNG keys, nested dicts. A
write that fails is one line naming the leaf, and the checkpoints before it stay."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxshape.run.checkpoints import CheckpointError, Checkpoints


def odd_state():
    return {
        "params": {"w": jnp.arange(6, dtype=jnp.float32).reshape(2, 3), "b": jnp.ones((3,), jnp.bfloat16)},
        "reward_state": {"projection": jnp.zeros((4, 0), jnp.float32),  # tabular counts carry no projection
                         "visited": jnp.array([[True, False], [False, True]]),
                         "counts": {"table": jnp.arange(5, dtype=jnp.int32), "empty": jnp.zeros((0,), jnp.int32)}},
        "typed_key": jax.random.key(3),
        "raw_key": jax.random.PRNGKey(4),
        "step": jnp.int32(7),
    }


def test_state_with_empty_leaves_keys_and_nested_dicts_round_trips(tmp_path):
    state = odd_state()
    checkpoints = Checkpoints(tmp_path / "checkpoints")
    checkpoints.save(5, state)
    checkpoints.close()
    update, restored = Checkpoints(tmp_path / "checkpoints").restore(jax.eval_shape(lambda: state))
    assert update == 5
    assert jax.tree.structure(restored) == jax.tree.structure(state)
    for name, a, b in zip(range(100), jax.tree.leaves(restored), jax.tree.leaves(state)):
        if jax.dtypes.issubdtype(b.dtype, jax.dtypes.prng_key):
            np.testing.assert_array_equal(jax.random.key_data(a), jax.random.key_data(b))
            assert jax.random.key_impl(a) == jax.random.key_impl(b)
        else:
            assert a.shape == b.shape and a.dtype == b.dtype, name
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_a_write_that_fails_names_the_leaf_and_keeps_earlier_checkpoints(tmp_path):
    checkpoints = Checkpoints(tmp_path / "checkpoints")
    checkpoints.save(1, odd_state())
    checkpoints.wait()
    bad = {**odd_state(), "reward_state": {"labels": np.array(["a", "b"], dtype=object)}}
    with pytest.raises(CheckpointError) as err:
        checkpoints.save(2, bad)
    checkpoints.close()
    message = str(err.value)
    assert "\n" not in message and "update 2" in message and "reward_state.labels" in message
    assert Checkpoints(tmp_path / "checkpoints").updates() == [1]
