"""`rewards.env_terms`: an env's own reward terms as streams, extrinsic as the residual
(no Playground needed)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct
from gymnax.environments import spaces

from jaxshape import rewards
from jaxshape.errors import ConfigError
from jaxshape.rewards.env_terms import term_names
from jaxshape.types import Transition


def transition(terms, reward):
    n = len(reward)
    return Transition(obs=jnp.zeros((n, 2)), action=jnp.zeros((n,), jnp.int32), reward=jnp.asarray(reward, jnp.float32),
                      terminated=jnp.zeros(n, bool), truncated=jnp.zeros(n, bool), next_obs=jnp.zeros((n, 2)),
                      info={"reward_terms": {k: jnp.asarray(v, jnp.float32) for k, v in terms.items()}})


TERMS = {"speed": [1.0, 2.0, -0.5], "energy": [-0.25, 0.0, -1.0]}
REWARD = [1.0, 2.5, 0.0]  # clipped at 0 in the third env: a residual of 1.5 there; the second has a bonus 0.5


def test_streams_are_the_terms_and_extrinsic_is_the_residual():
    t = rewards.env_terms(["speed", "energy"], coefs={"energy": 0.5})
    assert [(s.name, s.coef, s.episodic) for s in t.all_streams] == [("extrinsic", 1.0, True), ("speed", 1.0, True),
                                                                      ("energy", 0.5, True)]
    streams, state = t.apply(t.init(jax.random.PRNGKey(0), transition(TERMS, REWARD)), transition(TERMS, REWARD))
    np.testing.assert_allclose(streams["speed"], TERMS["speed"])
    np.testing.assert_allclose(streams["energy"], TERMS["energy"])
    np.testing.assert_allclose(streams["extrinsic"], [0.25, 0.5, 1.5])
    ones = {"extrinsic": 1.0, "speed": 1.0, "energy": 1.0}
    np.testing.assert_allclose(rewards.weighted_sum(streams, ones), REWARD, atol=1e-6)  # the identity


def test_a_coefficient_change_moves_the_sum_by_delta_times_the_term_under_vmap():
    t = rewards.env_terms(["speed", "energy"])
    streams, _ = t.apply((), transition(TERMS, REWARD))
    deltas = jnp.array([0.0, 0.5, -2.0])
    totals = jax.vmap(lambda d: rewards.weighted_sum(streams, {"extrinsic": 1.0, "speed": 1.0 + d, "energy": 1.0}))(
        deltas)
    np.testing.assert_allclose(totals, np.asarray(REWARD) + np.asarray(deltas)[:, None] * np.asarray(TERMS["speed"]),
                               atol=1e-6)


def test_a_subset_leaves_the_other_terms_in_the_residual_and_chains():
    t = rewards.chain(rewards.env_terms(["speed"]), rewards.scale(stream="speed", factor=2.0))
    streams, _ = t.apply(t.init(jax.random.PRNGKey(0), transition(TERMS, REWARD)), transition(TERMS, REWARD))
    assert sorted(streams) == ["extrinsic", "speed"]
    np.testing.assert_allclose(streams["extrinsic"], np.asarray(REWARD) - np.asarray(TERMS["speed"]))


def test_no_names_passes_the_reward_through():
    streams, _ = rewards.env_terms(()).apply((), transition({}, REWARD))
    assert list(streams) == ["extrinsic"]
    np.testing.assert_allclose(streams["extrinsic"], REWARD)


@struct.dataclass
class TwoTermState:
    x: jax.Array


class TwoTermEnv:
    """Reward = clip(2·x − 0.1·a², 0, ∞); reports both terms."""

    default_params = None

    def reset(self, key, params=None):
        x = jax.random.uniform(key)
        return jnp.stack([x]), TwoTermState(x)

    def step(self, key, state, action, params=None):
        terms = {"progress": 2.0 * state.x, "effort": -0.1 * action[0] ** 2}
        reward = jnp.maximum(terms["progress"] + terms["effort"], 0.0)
        info = {"final_observation": jnp.stack([state.x]), "reward_terms": terms}
        no = jnp.zeros((), bool)
        return jnp.stack([state.x]), state, reward, no, no, info

    def action_space(self, params=None):
        return spaces.Box(-1.0, 1.0, (1,), jnp.float32)


def test_names_come_from_the_env_by_tracing_one_step():
    env = TwoTermEnv()
    assert term_names(env) == ("effort", "progress")  # sorted, as jax flattens a dict
    t = rewards.env_terms(env=env)
    assert [s.name for s in t.streams] == ["effort", "progress"]


def test_bad_input_names_the_fix():
    with pytest.raises(ConfigError, match="needs names="):
        rewards.env_terms()
    with pytest.raises(ConfigError, match="other than 'extrinsic'"):
        rewards.env_terms(["extrinsic"])
    with pytest.raises(ConfigError, match="not among the terms"):
        rewards.env_terms(["speed"], coefs={"sped": 2.0})
    with pytest.raises(ConfigError, match=r"reports no term \['jump'\]"):
        rewards.env_terms(["jump"]).apply((), transition(TERMS, REWARD))
    no_terms = transition(TERMS, REWARD).replace(info={})
    with pytest.raises(ConfigError, match="has no 'reward_terms'"):
        rewards.env_terms(["speed"]).apply((), no_terms)


def test_the_spec_builds_it():
    from jaxshape.rewards.spec import parse_reward_spec

    t = parse_reward_spec('env_terms(names=("speed", "energy"))')
    assert [s.name for s in t.streams] == ["speed", "energy"]
    assert [s.name for s in parse_reward_spec("env_terms(names=speed)").streams] == ["speed"]
