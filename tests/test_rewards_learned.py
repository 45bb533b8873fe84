"""`rewards.learned_potential`: a progress estimator trained on time to success, paid as
potential-based shaping that telescopes exactly while the estimator learns."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxshape import rewards
from jaxshape.rewards.counts import flatten_obs
from jaxshape.rewards.learned import ProgressNet, time_to_success_targets
from jaxshape.types import Transition

GAMMA = 0.9


def step(obs, next_obs, reward=0.0, terminated=False, truncated=False):
    return Transition(obs=obs[None], action=jnp.zeros((1,), jnp.int32), reward=jnp.array([reward], jnp.float32),
                      terminated=jnp.array([terminated]), truncated=jnp.array([truncated]), next_obs=next_obs[None],
                      gamma=jnp.float32(GAMMA))


def test_time_to_success_targets_by_hand():
    # env 0: success at t=3; env 1: the episode ends at t=1 without success, then runs on unresolved
    success = jnp.array([[0, 0], [0, 0], [0, 0], [1, 0], [0, 0]], bool)
    done = jnp.array([[0, 0], [0, 1], [0, 0], [1, 0], [0, 0]], bool)
    targets, resolved = time_to_success_targets(success, done, 0.5)
    np.testing.assert_allclose(targets[:, 0], [0.125, 0.25, 0.5, 1.0, 0.0])
    np.testing.assert_array_equal(resolved[:, 0], [1, 1, 1, 1, 0])
    np.testing.assert_allclose(targets[:2, 1], [0.0, 0.0])
    np.testing.assert_array_equal(resolved[:, 1], [1, 1, 0, 0, 0])


def test_shaped_return_telescopes_exactly_while_the_potential_learns():
    t = rewards.learned_potential(hidden_sizes=(8,), scale=2.0, lr=0.05)
    hp = t.default_hparams
    states = jax.random.normal(jax.random.PRNGKey(0), (7, 3))
    state = t.init(jax.random.PRNGKey(1), step(states[0], states[1]))
    params_at_start = state["params"]
    total, changed = 0.0, False
    for k in range(6):
        streams, state = t.apply(state, step(states[k], states[k + 1], truncated=(k == 5)), hp)
        total += GAMMA ** k * float(streams["learned_potential"][0])
        if k == 2:  # the estimator learns in the middle of the episode
            batch = jax.tree.map(lambda x: jnp.stack([x] * 4), step(states[0], states[1], reward=1.0, terminated=True))
            new_state, _ = t.update(state, batch, jax.random.PRNGKey(2), hp)
            changed = any(jax.tree.leaves(jax.tree.map(lambda a, b: bool(jnp.any(a != b)), new_state["params"],
                                                       state["params"])))
            state = new_state
    assert changed
    phi_end = float(state["phi"][0])  # Φ(s_T), computed when s_T was entered (with the newer θ)
    phi_start = float(hp["scale"] * ProgressNet((8,)).apply(params_at_start, flatten_obs(states[0][None]))[0])
    np.testing.assert_allclose(total, GAMMA ** 6 * phi_end - phi_start, rtol=1e-5, atol=1e-6)
    assert abs(phi_end) > 1e-3 and abs(phi_start) > 1e-3  # both ends count: a real test of the identity


def test_update_moves_the_estimator_toward_time_to_success():
    t = rewards.learned_potential(hidden_sizes=(16,), lr=0.01, epochs=50)
    hp = t.default_hparams
    obs = jax.random.normal(jax.random.PRNGKey(3), (5, 1, 3))
    batch = Transition(obs=obs, action=jnp.zeros((5, 1), jnp.int32),
                       reward=jnp.array([[0.0], [0.0], [0.0], [1.0], [0.0]]),
                       terminated=jnp.array([[0], [0], [0], [1], [0]], bool), truncated=jnp.zeros((5, 1), bool),
                       next_obs=obs, gamma=jnp.float32(GAMMA))
    state = t.init(jax.random.PRNGKey(4), jax.tree.map(lambda x: x[0] if jnp.ndim(x) else x, batch))
    _, first = t.update(state, batch, jax.random.PRNGKey(5), hp)
    trained, metrics = t.update(_, batch, jax.random.PRNGKey(5), hp)
    assert float(metrics["loss"]) < float(first["loss"])
    assert float(metrics["resolved_fraction"]) == pytest.approx(0.8)  # the last step is still running
