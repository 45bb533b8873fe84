"""Submodular rewards (Prajapat et al. 2024): telescoping sums from S_0 = {s_0},
monotonicity, diminishing returns, episodic reset, the additive baseline and observe."""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxshape.rewards import additive_visits, coverage, facility_location, grid_locator, info_locator, logdet_coverage
from jaxshape.rewards.submodular import coverage_value, facility_value
from jaxshape.types import Transition

SHAPE = (6, 6)


def make_transition(obs, next_obs, done=None, info=None):
    obs, next_obs = jnp.asarray(obs, jnp.float32), jnp.asarray(next_obs, jnp.float32)
    n = next_obs.shape[0]
    done = jnp.zeros((n,), bool) if done is None else jnp.asarray(done, bool)
    return Transition(obs=obs, action=jnp.zeros((n,), jnp.int32), reward=jnp.zeros((n,), jnp.float32),
                      terminated=jnp.zeros((n,), bool), truncated=done, next_obs=next_obs, info=info or {})


def cell_obs(cells):
    """Observations in [0, 1]² for grid cells [(row, col), ...], one env: [len, 1, 2]."""
    return np.asarray(cells, np.float32)[:, None, :] / (np.asarray(SHAPE, np.float32) - 1)


_JITTED = {}


def steps(transform, pairs, state=None, dones=None):
    """Apply `transform` to one env's transitions `pairs` = [(s, s′), ...] (truncated where
    `dones`); returns (rewards [len], state)."""
    state = transform.init(jax.random.PRNGKey(0), make_transition(*pairs[0])) if state is None else state
    apply = _JITTED.setdefault(transform, jax.jit(transform.apply))
    out = []
    for i, (x, y) in enumerate(pairs):
        r, state = apply(state, make_transition(x, y, done=None if dones is None else [dones[i]]))
        out.append(float(r[transform.streams[0].name][0]))
    return np.asarray(out), state


def visit(transform, path, state=None):
    """One env walking `path` = [s_0, s_1, ...] in one episode: len(path) − 1 rewards, and the state."""
    return steps(transform, list(zip(path[:-1], path[1:])), state)


def reference_coverage(cells, radius, weights):
    """F(S) by brute force: the weighted count of cells within `radius` of a visited cell."""
    covered = {(r, c) for r, c in itertools.product(range(SHAPE[0]), range(SHAPE[1]))
               if any((r - a) ** 2 + (c - b) ** 2 <= radius**2 for a, b in cells)}
    return sum(weights[r, c] for r, c in covered)


RNG = np.random.default_rng(0)
WEIGHTS = RNG.integers(1, 4, size=SHAPE).astype(np.float32)


def random_cells(n, rng):
    return [(int(rng.integers(SHAPE[0])), int(rng.integers(SHAPE[1]))) for _ in range(n)]


@pytest.mark.parametrize("radius", [0.0, 1.0, 1.5])
def test_coverage_gains_telescope_to_the_exact_integer_objective(radius):
    rng = np.random.default_rng(1)
    cells = random_cells(25, rng)
    t = coverage(SHAPE, radius=radius, weights=WEIGHTS)
    r, state = visit(t, cell_obs(cells))
    f_final = reference_coverage(cells, radius, WEIGHTS)
    # exact: integer weights, float32 sums of small integers; S_0 = {s_0}
    assert r.sum() == f_final - reference_coverage(cells[:1], radius, WEIGHTS)
    assert float(coverage_value(state.mask, jnp.asarray(WEIGHTS).reshape(-1))[0]) == f_final
    # each step's reward is F(S_{t+1}) − F(S_t) of the brute-force F
    prefix = [reference_coverage(cells[:k], radius, WEIGHTS) for k in range(1, len(cells) + 1)]
    np.testing.assert_array_equal(r, np.diff(prefix))


@functools.cache
def _submodular_objectives():
    points = np.asarray(list(itertools.product(np.linspace(0, 1, 4), repeat=2)), np.float32)
    return {
        "coverage": coverage(SHAPE, radius=1.0, weights=WEIGHTS),
        "facility": facility_location(points, bandwidth=0.2),
        "logdet": logdet_coverage(lam=0.1),
    }


@pytest.mark.parametrize("name", ["coverage", "facility", "logdet"])
def test_monotone_with_diminishing_returns_on_random_subsets(name):
    t = _submodular_objectives()[name]
    rng = np.random.default_rng(2)
    tol = 0.0 if name == "coverage" else 1e-5
    for _ in range(6):
        start = random_cells(1, rng)  # both sets start from the same s_0
        b_cells = random_cells(8, rng)
        a_cells = [c for c in b_cells if rng.random() < 0.5] or b_cells[:1]  # A ⊆ B, same order
        x = cell_obs(random_cells(1, rng))[0]
        a_path, b_path = cell_obs(start + a_cells), cell_obs(start + b_cells)
        r_a, s_a = visit(t, a_path)
        r_b, s_b = visit(t, b_path)
        gain_a, _ = steps(t, [(a_path[-1], x)], state=s_a)
        gain_b, _ = steps(t, [(b_path[-1], x)], state=s_b)
        assert np.all(r_a >= -tol) and np.all(r_b >= -tol)  # monotone: gains are never negative
        assert r_a.sum() <= r_b.sum() + tol  # F(A) ≤ F(B)
        assert gain_a[0] >= gain_b[0] - tol  # F(A ∪ x) − F(A) ≥ F(B ∪ x) − F(B)


def test_facility_and_logdet_gains_telescope():
    rng = np.random.default_rng(3)
    seq = cell_obs(random_cells(12, rng))
    objectives = _submodular_objectives()
    r, state = visit(objectives["facility"], seq)
    points = np.asarray(list(itertools.product(np.linspace(0, 1, 4), repeat=2)))
    x = seq[:, 0, :].astype(np.float64)
    sims = np.exp(-((points[:, None, :] - x[None]) ** 2).sum(-1) / (2 * 0.2**2))  # [V, T + 1]
    np.testing.assert_allclose(facility_value(state.best)[0], sims.max(axis=1).sum(), rtol=1e-5)
    np.testing.assert_allclose(r.sum(), sims.max(axis=1).sum() - sims[:, 0].sum(), rtol=1e-5)  # F(S_T) − F({s_0})

    r, _ = visit(objectives["logdet"], seq)
    c_T, c_0 = 0.1 * np.eye(2) + x.T @ x, 0.1 * np.eye(2) + np.outer(x[0], x[0])
    np.testing.assert_allclose(r.sum(), np.linalg.slogdet(c_T)[1] - np.linalg.slogdet(c_0)[1], rtol=1e-4)


@pytest.mark.parametrize("name", ["coverage", "facility", "logdet"])
def test_set_resets_at_episode_end(name):
    t = _submodular_objectives()[name]
    a, b, c = cell_obs([(1, 1), (2, 2), (4, 1)])
    pairs = [(a, b), (b, c), (a, b), (b, c)]  # the episode ends on c; the env resets to a
    r, _ = steps(t, pairs, dones=[False, True, False, False])
    np.testing.assert_allclose(r[2:], r[:2], rtol=1e-5)  # the new episode starts from S = {a} again
    r_no_reset, _ = steps(t, pairs)
    assert r_no_reset[2] < r[2] - 1e-3  # without the reset the revisit gains (almost) nothing


def test_additive_baseline_pays_every_visit_coverage_pays_once():
    seq = cell_obs([(5, 5), (0, 0), (0, 0), (3, 3), (0, 0)])
    r_add, _ = visit(additive_visits(SHAPE, radius=1.0), seq)
    r_sub, _ = visit(coverage(SHAPE, radius=1.0), seq)
    np.testing.assert_array_equal(r_add, [3, 3, 5, 3])  # patch sizes, repeats included (corner: 3 cells)
    np.testing.assert_array_equal(r_sub, [3, 0, 5, 0])


def test_observe_exposes_the_mask_and_a_downsampled_summary():
    seq = cell_obs([(0, 0), (5, 5)])
    full = coverage(SHAPE)
    _, state = visit(full, seq)
    feats = full.observe(state)
    assert feats.shape == (1, 36)
    assert feats[0, 0] == 1.0 and feats[0, 35] == 1.0 and feats.sum() == 2.0
    coarse = coverage(SHAPE, downsample_factor=3)
    _, state = visit(coarse, seq)
    np.testing.assert_allclose(coarse.observe(state), [[1 / 9, 0, 0, 1 / 9]])
    with pytest.raises(ValueError, match="divide"):
        coverage(SHAPE, downsample_factor=4).observe(state)


def test_info_locator_and_vmapped_scale():
    with pytest.warns(UserWarning, match="first observation"):  # info has no cell for s_0: S_0 = ∅
        t = coverage(SHAPE, locate=info_locator(SHAPE))
    tr = make_transition(np.zeros((2, 2)), np.zeros((2, 2)), info={"cell": jnp.asarray([0, 7])})
    state = t.init(jax.random.PRNGKey(0), tr)
    out, s = jax.vmap(lambda hp: t.apply(state, tr, hp))({"scale": jnp.asarray([1.0, 2.0])})
    np.testing.assert_array_equal(out["coverage"], [[1, 1], [2, 2]])
    assert bool(s.mask[0, 0, 0]) and bool(s.mask[0, 1, 7]) and int(s.mask.sum()) == 4


def test_coverage_transform_trains_inside_ppo_on_the_coverage_grid():
    from jaxshape.algos import PPOConfig, default_hparams, make_ppo

    transform = coverage((8, 8), downsample_factor=2)
    config = PPOConfig(env="Coverage-grid", num_envs=4, num_steps=8, total_steps=64, num_epochs=1,
                       num_minibatches=1, hidden_sizes=(16,))
    ppo = make_ppo(config, transform=transform)
    state, metrics = jax.jit(ppo.train)(jax.random.PRNGKey(0), default_hparams(transform))
    assert np.all(np.asarray(metrics["reward/coverage"]) > 0)
    assert np.all(np.isfinite(np.asarray(metrics["loss_total"])))
    assert state.reward_state.mask.shape == (4, 64)


def test_greedy_evaluation_runs_a_transform_that_reads_env_info():
    """PPO.evaluate replays an observing transform on the eval envs; coverage on the
    coverage grid locates cells through info["cell"], which evaluation must pass on."""
    from jaxshape.algos import PPOConfig, default_hparams, make_ppo
    from jaxshape.rewards.spec import parse_reward_spec

    transform = parse_reward_spec("coverage(radius=0)", "Coverage-grid")
    ppo = make_ppo(PPOConfig(env="Coverage-grid", num_envs=4, num_steps=8, total_steps=32, num_epochs=1,
                             num_minibatches=1, hidden_sizes=(8,)), transform=transform)
    hp = default_hparams(transform)
    state = ppo.init(jax.random.PRNGKey(0), hp)
    result = ppo.evaluate(state, hp, jax.random.PRNGKey(1), 3)
    assert float(result["eval_length"]) == ppo.env.default_params.max_steps_in_episode  # ran to the time limit


@pytest.mark.parametrize("size", [2, 3, 8, 13])
def test_grid_locator_places_coverage_grid_observations_exactly(size):
    """Coverage-grid observes pos / (size − 1): `grid_locator((size, size))` reads the cell
    back from the observation, so it can place an episode's s_0, which info["cell"] cannot."""
    from jaxshape.envs.coverage import CoverageGrid, CoverageState

    env = CoverageGrid(size=size)
    pos = jnp.asarray(list(itertools.product(range(size), repeat=2)), jnp.int32)
    obs = jax.vmap(lambda p: env.get_obs(CoverageState(time=jnp.int32(0), pos=p)))(pos)
    locator = grid_locator((size, size))
    tr = make_transition(obs, obs)
    np.testing.assert_array_equal(locator.start(tr), pos)
    np.testing.assert_array_equal(locator(tr), pos)
