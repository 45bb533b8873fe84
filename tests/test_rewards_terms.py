"""`rewards.term`: a user's stateless stream in one line."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxshape import rewards
from jaxshape.errors import ConfigError
from jaxshape.types import Transition


def transition(n=3):
    return Transition(obs=jnp.zeros((n, 2)), action=jnp.zeros((n,), jnp.int32), reward=jnp.ones(n),
                      terminated=jnp.zeros(n, bool), truncated=jnp.zeros(n, bool),
                      next_obs=jnp.arange(2 * n, dtype=jnp.float32).reshape(n, 2))


def test_term_adds_its_stream_with_its_own_hparams_and_coefficient():
    t = rewards.term("far", lambda tr, hp: hp["scale"] * tr.next_obs[:, 1], coef=0.25, hparams={"scale": 2.0})
    streams, state = t.apply((), transition(), {"scale": jnp.float32(3.0)})
    np.testing.assert_allclose(streams["far"], [3.0, 9.0, 15.0])
    np.testing.assert_allclose(streams["extrinsic"], [1.0, 1.0, 1.0])
    assert state == () and t.streams[0].coef == 0.25 and t.default_hparams == {"scale": 2.0}
    total = rewards.weighted_sum(streams, {"extrinsic": 1.0, "far": 0.25})
    np.testing.assert_allclose(total, [1.75, 3.25, 4.75])


def test_term_chains_and_its_coefficient_vmaps():
    t = rewards.chain(rewards.term("x", lambda tr, hp: tr.next_obs[:, 0]), rewards.scale(stream="x", factor=2.0))
    hp = t.default_hparams
    streams, _ = t.apply(t.init(jax.random.PRNGKey(0), transition()), transition(), hp)
    np.testing.assert_allclose(streams["x"], [0.0, 4.0, 8.0])
    totals = jax.vmap(lambda c: rewards.weighted_sum(streams, {"extrinsic": 1.0, "x": c}))(jnp.array([0.0, 1.0]))
    np.testing.assert_allclose(totals, [[1.0, 1.0, 1.0], [1.0, 5.0, 9.0]])


def test_term_with_the_wrong_shape_names_the_fix():
    t = rewards.term("bad", lambda tr, hp: tr.next_obs)  # [N, 2], not [N]
    with pytest.raises(ConfigError, match=r"term 'bad' returned shape \(3, 2\); it must return one value per env"):
        t.apply((), transition())
    with pytest.raises(ConfigError, match="must be an identifier"):
        rewards.term("not a name", lambda tr, hp: tr.reward)
