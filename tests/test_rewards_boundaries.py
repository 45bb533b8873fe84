"""Episode boundaries and orders, on hand-computed sequences: the sign of reward-machine
shaping; the episode's first observation s_0 in the episodic set of coverage, facility
location, log-det, E3B and counts (at the first step and after an auto-reset); and the
chain warning about a non-linear transform on a shaped stream."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxshape.errors import ConfigError
from jaxshape.rewards import (
    chain,
    clip,
    count_bonus,
    coverage,
    e3b,
    facility_location,
    grid_locator,
    info_locator,
    logdet_coverage,
    normalize_returns,
    potential_shaping,
    reward_machine,
    sum_streams,
    symlog,
)
from jaxshape.rewards.submodular import Locator
from jaxshape.types import Transition


def tr(obs, next_obs, terminated=False, truncated=False, gamma=0.99):
    """A transition of one env (or of len(obs) envs, with per-env flags)."""
    obs, next_obs = jnp.asarray(obs, jnp.float32), jnp.asarray(next_obs, jnp.float32)
    if obs.ndim == 1:
        obs, next_obs = obs[None], next_obs[None]
    n = obs.shape[0]
    flag = lambda f: jnp.broadcast_to(jnp.asarray(f, bool), (n,))  # noqa: E731
    return Transition(obs=obs, action=jnp.zeros(n, jnp.int32), reward=jnp.zeros(n), terminated=flag(terminated),
                      truncated=flag(truncated), next_obs=next_obs, gamma=jnp.float32(gamma))


def rollout(transform, transitions):
    """Apply `transform` (jitted) along `transitions`; the stream it adds, [T, num_envs], and the states."""
    state = transform.init(jax.random.PRNGKey(0), transitions[0])
    apply = jax.jit(transform.apply)
    out, states = [], []
    for t in transitions:
        rewards, state = apply(state, t)
        out.append(np.asarray(rewards[transform.streams[0].name], np.float64))
        states.append(state)
    return np.stack(out), states


# ------------------------------------------------------------ reward-machine sign
# key-door: states 0 (no key), 1 (key); labels 0 nothing, 1 key, 2 door; the door with
# the key pays 1 and ends the automaton. Value iteration, γ_vi = 0.9: V(1) = 1, V(0) = 0.9.
KEY_DOOR_DELTA = [[0, 1, 0], [1, 1, -1]]
KEY_DOOR_REWARDS = [[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
V = {0: 0.9, 1: 1.0}


def key_door(**kwargs):
    return reward_machine(lambda obs: obs[:, 0].astype(jnp.int32), KEY_DOOR_DELTA, KEY_DOOR_REWARDS,
                          mode="shaping", value_gamma=0.9, **kwargs)


def labelled(labels, **flags):
    labels = jnp.asarray(labels, jnp.float32)[:, None]
    return tr(jnp.zeros_like(labels), labels, **flags)


def test_picking_up_the_key_pays_positive_shaping_by_default_and_negative_with_sign_minus_one():
    gamma = 0.99
    key = [labelled([1.0], gamma=gamma)]
    F_plus, states = rollout(key_door(), key)
    assert int(states[0]["u"][0]) == 1
    np.testing.assert_allclose(F_plus[0, 0], gamma * V[1] - V[0], rtol=1e-6)  # +0.09: progress pays
    F_minus, _ = rollout(key_door(sign=-1), key)
    np.testing.assert_allclose(F_minus[0, 0], -(gamma * V[1] - V[0]), rtol=1e-6)  # −0.09 (Toro Icarte et al.)
    with pytest.raises(ConfigError, match="sign"):
        key_door(sign=2)


@pytest.mark.parametrize("sign", [1, -1])
def test_key_door_shaped_return_telescopes_exactly(sign):
    gamma = 0.99
    # env 0: nothing, key, nothing, door (terminates); env 1: the same but truncated before the door
    labels = [[0, 0], [1, 1], [0, 0], [2, 0]]
    last = len(labels) - 1
    transitions = [labelled(l, terminated=[t == last, False], truncated=[False, t == last], gamma=gamma)
                   for t, l in enumerate(labels)]
    F, _ = rollout(key_door(sign=sign), transitions)
    discounted = (gamma ** np.arange(len(labels)))[:, None] * F
    phi = {u: sign * v for u, v in V.items()}
    np.testing.assert_allclose(discounted[:, 0].sum(), -phi[0], rtol=1e-6)  # Φ(terminal) = 0
    np.testing.assert_allclose(discounted[:, 1].sum(), gamma ** len(labels) * phi[1] - phi[0], rtol=1e-6)


# ------------------------------------------------------------ s_0 in the episodic set
SHAPE = (6, 6)


def cell(r, c):
    """The observation in [0, 1]² of grid cell (r, c), as `grid_locator(SHAPE)` reads it."""
    return [r / (SHAPE[0] - 1), c / (SHAPE[1] - 1)]


# start at A, step to B, back to A (truncated there); the env auto-resets to C (the
# next step's obs), steps to D, back to C, then to A, new in this episode.
A, B, C, D = cell(2, 2), cell(2, 3), cell(4, 4), cell(4, 5)
BACK_TO_START = [tr(A, B), tr(B, A, truncated=True), tr(C, D), tr(D, C), tr(C, A)]


def test_coverage_returning_to_the_start_cell_pays_nothing():
    r, states = rollout(coverage(SHAPE), BACK_TO_START)
    np.testing.assert_array_equal(r[:, 0], [1, 0, 1, 0, 1])  # S_0 = {s_0}: F(S_T) − F({s_0}) per episode
    assert int(states[1].mask.sum()) == 0  # the set is reset at the episode end ...
    assert int(states[2].mask.sum()) == 2  # ... and the next episode's set is {C, D}


def test_coverage_with_an_info_locator_finds_s0_through_a_start_locator():
    """`info_locator` reads s′'s cell from the step's info; s_0 (the reset obs) has none,
    so it is located from the observation by a grid locator's `start`."""
    info_cells = [2 * 6 + 3, 2 * 6 + 2, 4 * 6 + 5, 4 * 6 + 4, 2 * 6 + 2]  # cells of B, A, D, C, A
    transitions = [t.replace(info={"cell": jnp.asarray([c])}) for t, c in zip(BACK_TO_START, info_cells)]
    located = Locator(info_locator(SHAPE), start=grid_locator(SHAPE).start)
    r, _ = rollout(coverage(SHAPE, located), transitions)
    np.testing.assert_array_equal(r[:, 0], [1, 0, 1, 0, 1])
    with pytest.warns(UserWarning, match="first observation"):
        coverage(SHAPE, info_locator(SHAPE))  # no way to place s_0: said at build time


def test_facility_location_returning_to_the_start_pays_nothing():
    points = np.asarray([cell(r, c) for r in range(6) for c in range(6)], np.float32)
    r, _ = rollout(facility_location(points, bandwidth=0.3), BACK_TO_START)
    assert r[0, 0] > 0 and r[2, 0] > 0 and r[4, 0] > 0
    np.testing.assert_allclose(r[[1, 3], 0], 0.0, atol=1e-7)


# E3B and log-det on identity features: φ_0 = (1, 2) and φ_1 = (2, −1) are orthogonal,
# the reset observation is φ_r = (0, 3).
PHI0, PHI1, PHI_R = [1.0, 2.0], [2.0, -1.0], [0.0, 3.0]
ELLIPTICAL = [tr(PHI0, PHI1), tr(PHI1, PHI0, truncated=True), tr(PHI_R, PHI_R)]


def test_e3b_revisiting_s0_pays_the_bonus_of_c_with_s0_in_it():
    lam = 0.1
    b, _ = rollout(e3b(lam=lam), ELLIPTICAL)
    # C_0 = λI + φ_0φ_0ᵀ. φ_1 ⊥ φ_0, so φ_1ᵀC_0⁻¹φ_1 = ‖φ_1‖²/λ; back on s_0, with
    # C = C_0 + φ_1φ_1ᵀ: φ_0ᵀC⁻¹φ_0 = ‖φ_0‖²/(λ + ‖φ_0‖²). After the reset, C = λI + φ_rφ_rᵀ.
    np.testing.assert_allclose(b[:, 0], [5 / lam, 5 / (lam + 5), 9 / (lam + 9)], rtol=1e-5)
    c = lam * np.eye(2) + np.outer(PHI0, PHI0)
    np.testing.assert_allclose(b[0, 0], np.asarray(PHI1) @ np.linalg.inv(c) @ np.asarray(PHI1), rtol=1e-5)


def test_logdet_coverage_counts_s0_and_telescopes_per_episode():
    lam = 0.1
    r, _ = rollout(logdet_coverage(lam=lam), ELLIPTICAL)

    def f(*phis):  # F(S) = logdet(λI + Σ φφᵀ) − d·log λ
        return np.linalg.slogdet(lam * np.eye(2) + sum(np.outer(p, p) for p in phis))[1] - 2 * np.log(lam)

    np.testing.assert_allclose(r[:2, 0].sum(), f(PHI0, PHI1, PHI0) - f(PHI0), rtol=1e-5)
    np.testing.assert_allclose(r[2, 0], f(PHI_R, PHI_R) - f(PHI_R), rtol=1e-5)


def test_e3b_first_observation_enters_per_env():
    """Two envs in one batch: env 0 resets after step 0, env 1 carries on."""
    lam = 0.1
    transitions = [tr([PHI0, PHI0], [PHI1, PHI1], truncated=[True, False]),
                   tr([PHI_R, PHI1], [PHI_R, PHI1])]
    b, _ = rollout(e3b(lam=lam), transitions)
    np.testing.assert_allclose(b[0], [5 / lam, 5 / lam], rtol=1e-5)
    np.testing.assert_allclose(b[1], [9 / (lam + 9), 5 / (lam + 5)], rtol=1e-5)


ONE_HOT = np.eye(4, dtype=np.float32)


@pytest.mark.parametrize("episodic", [False, True])
def test_count_bonus_counts_the_first_observation(episodic):
    # cells 0 → 1 → 0 (truncated), auto-reset to 2 → 3 → 2
    s = ONE_HOT
    transitions = [tr(s[0], s[1]), tr(s[1], s[0], truncated=True), tr(s[2], s[3]), tr(s[3], s[2])]
    b, states = rollout(count_bonus(beta=1.0, episodic=episodic), transitions)
    np.testing.assert_allclose(b[:, 0], [1, 1 / np.sqrt(2), 1, 1 / np.sqrt(2)], rtol=1e-6)
    if not episodic:
        np.testing.assert_array_equal(states[-1].table, [2, 1, 2, 1])


# ------------------------------------------------------------ chain warning
def angle_potential(obs):
    return -jnp.abs(obs[:, 0])


def apply_once(transform):
    t = tr([[0.5, 0.0]], [[0.25, 0.0]])
    return transform.apply(transform.init(jax.random.PRNGKey(0), t), t)


@pytest.mark.parametrize("after", [
    [clip("shaping")],
    [normalize_returns("shaping"), symlog("shaping")],
    [sum_streams(["extrinsic", "shaping"], into="total"), clip("total")],  # the sum holds the shaping
])
def test_nonlinear_transform_on_a_shaped_stream_warns(after):
    with pytest.warns(UserWarning, match="after potential shaping") as record:
        apply_once(chain(potential_shaping(angle_potential), *after))
    assert len([w for w in record if "potential shaping" in str(w.message)]) == 1


def test_nonlinear_transform_on_another_stream_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        apply_once(chain(potential_shaping(angle_potential), clip("extrinsic"), symlog("extrinsic")))
        apply_once(chain(potential_shaping(angle_potential), count_bonus(beta=1.0), clip("count")))
