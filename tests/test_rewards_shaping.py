"""Potential-based shaping (Ng et al. 1999): invariance on an exactly solved MDP, the
episode-sum identity, terminal and truncation rules, cached dynamic potentials, the
build-time check of the potential, and a chain of transforms inside PPO."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxshape.errors import ConfigError
from jaxshape.rewards import POLICY_INVARIANT, chain, clip, normalize_returns, potential_shaping, scale
from jaxshape.rewards import subgoal_sequence
from jaxshape.types import Transition


def step(obs, next_obs, terminated=None, truncated=None, gamma=0.9, info=None):
    obs, next_obs = jnp.asarray(obs), jnp.asarray(next_obs)
    n = obs.shape[0]
    terminated = jnp.zeros(n, bool) if terminated is None else jnp.asarray(terminated, bool)
    truncated = jnp.zeros(n, bool) if truncated is None else jnp.asarray(truncated, bool)
    return Transition(obs=obs, action=jnp.zeros(n, jnp.int32), reward=jnp.zeros(n, jnp.float32),
                      terminated=terminated, truncated=truncated, next_obs=next_obs,
                      gamma=jnp.float32(gamma), info={} if info is None else info)


def wavy_potential(obs):
    return 2.0 * jnp.sin(obs).sum(-1) + 1.0


# ------------------------------------------------------------ exact tabular MDP
def value_iteration(P, R, terminal, gamma, iters=3000):
    """Q(s,a) = Σ_s' P(s'|s,a)·(R(s,a,s') + γ·(1 − terminal(s'))·max_a' Q(s',a'))."""
    q = np.zeros(P.shape[:2])
    for _ in range(iters):
        v = q.max(axis=1) * (1.0 - terminal)
        q = (P * (R + gamma * v[None, None, :])).sum(-1)
    return q


def test_tabular_mdp_shaping_keeps_argmax_and_shifts_q_by_minus_phi():
    rng = np.random.default_rng(0)
    S, A, gamma = 7, 3, 0.9
    P = rng.dirichlet(np.ones(S) * 0.5, size=(S, A))
    R = rng.normal(size=(S, A, S))
    terminal = np.zeros(S)
    terminal[[5, 6]] = 1.0
    phi = rng.normal(size=S) * 5.0  # non-zero at the terminal states too: the library must zero them
    phi_table = jnp.asarray(phi, jnp.float32)

    def tabular_potential(obs):
        return phi_table[obs]

    # F for every (s, a, s') from the library: one env per triple, fresh state each
    s_idx, _, s2_idx = np.meshgrid(np.arange(S), np.arange(A), np.arange(S), indexing="ij")
    transition = step(s_idx.ravel().astype(np.int32), s2_idx.ravel().astype(np.int32),
                      terminated=terminal[s2_idx.ravel()] > 0, gamma=gamma)
    transform = potential_shaping(tabular_potential)
    assert transform.invariance == POLICY_INVARIANT
    state = transform.init(jax.random.PRNGKey(0), transition)
    rewards, _ = transform.apply(state, transition)
    F = np.asarray(rewards["shaping"], np.float64).reshape(S, A, S)

    q = value_iteration(P, R, terminal, gamma)
    q_shaped = value_iteration(P, R + F, terminal, gamma)
    live = terminal == 0
    np.testing.assert_allclose(q_shaped[live], (q - phi[:, None])[live], atol=1e-4)
    np.testing.assert_array_equal(q_shaped[live].argmax(1), q[live].argmax(1))
    assert not np.allclose(q_shaped[live], q[live], atol=1e-2)  # shaping did change Q

    # teeth: a shaping that does not zero Φ(terminal) breaks Q' = Q − Φ on this MDP
    F_naive = gamma * phi[None, None, :] - phi[:, None, None]
    q_naive = value_iteration(P, R + F_naive, terminal, gamma)
    assert not np.allclose(q_naive[live], (q - phi[:, None])[live], atol=1e-2)


# ------------------------------------------------------------ episode identities
def run(transform, transitions, hparams=None):
    state = transform.init(jax.random.PRNGKey(0), transitions[0])
    out = []
    for tr in transitions:
        rewards, state = transform.apply(state, tr, hparams)
        out.append(np.asarray(rewards["shaping"], np.float64))
    return np.stack(out), state


def test_episode_sum_telescopes_for_terminated_and_truncated_episodes():
    T, gamma = 6, 0.95
    obs = np.asarray(jax.random.normal(jax.random.PRNGKey(1), (T + 1, 2, 3)))
    last = np.arange(T) == T - 1
    transitions = [step(obs[t], obs[t + 1], terminated=[last[t], False], truncated=[False, last[t]], gamma=gamma)
                   for t in range(T)]
    F, _ = run(potential_shaping(wavy_potential), transitions)
    discounted = (gamma ** np.arange(T))[:, None] * F
    phi = np.asarray(wavy_potential(jnp.asarray(obs)), np.float64)  # [T + 1, 2]
    # env 0 terminated: Φ(s_T) is zeroed; env 1 truncated: Φ(s_T) of the true last obs
    np.testing.assert_allclose(discounted[:, 0].sum(), -phi[0, 0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(discounted[:, 1].sum(), gamma**T * phi[T, 1] - phi[0, 1], rtol=1e-5, atol=1e-5)


def test_terminal_potential_is_zeroed():
    obs, final = jnp.array([[0.3, 0.1]]), jnp.array([[1.2, -0.4]])
    assert abs(float(wavy_potential(final)[0])) > 0.5  # Φ(terminal obs) is far from zero
    transform = potential_shaping(wavy_potential)
    tr = step(obs, final, terminated=[True], gamma=0.9)
    rewards, _ = transform.apply(transform.init(jax.random.PRNGKey(0), tr), tr)
    np.testing.assert_allclose(rewards["shaping"], -wavy_potential(obs), rtol=1e-6)


def test_truncation_uses_true_next_obs_then_refreshes_from_the_reset_obs():
    gamma = 0.9
    s0, s1 = jnp.array([[0.2, 0.0]]), jnp.array([[0.9, 0.5]])  # s1: the true last obs, cut by the time limit
    reset, after = jnp.array([[-1.3, 0.7]]), jnp.array([[0.4, -0.8]])  # the next episode
    phi = lambda x: float(wavy_potential(x)[0])  # noqa: E731
    transitions = [step(s0, s1, truncated=[True], gamma=gamma), step(reset, after, gamma=gamma)]
    F, _ = run(potential_shaping(wavy_potential), transitions)
    np.testing.assert_allclose(F[0, 0], gamma * phi(s1) - phi(s0), rtol=1e-5)
    assert abs(F[0, 0] - (gamma * phi(reset) - phi(s0))) > 0.1  # the reset obs would give another value
    assert abs(F[0, 0] - (-phi(s0))) > 0.1  # zeroing at every done would too
    # the new episode's first step uses Φ(reset obs), not the cached Φ(s1)
    np.testing.assert_allclose(F[1, 0], gamma * phi(after) - phi(reset), rtol=1e-5)


def test_dynamic_potential_uses_the_value_cached_when_the_state_was_entered():
    weight = {"w": 1.0}

    def drifting_potential(obs):  # a potential whose parameters change while learning
        return weight["w"] * obs[:, 0]

    gamma = 0.9
    xs = jnp.array([[[1.0]], [[2.0]], [[3.0]], [[5.0]]])
    transform = potential_shaping(drifting_potential)
    tr = [step(xs[t], xs[t + 1], truncated=[t == 2], gamma=gamma) for t in range(3)]
    state = transform.init(jax.random.PRNGKey(0), tr[0])
    r0, state = transform.apply(state, tr[0])  # Φ(s1) = 1·2 cached
    weight["w"] = 3.0
    r1, state = transform.apply(state, tr[1])
    np.testing.assert_allclose(r1["shaping"], [gamma * 3.0 * 3.0 - 1.0 * 2.0])  # not − 3·2
    weight["w"] = -2.0
    r2, state = transform.apply(state, tr[2])
    total = float(r0["shaping"][0] + gamma * r1["shaping"][0] + gamma**2 * r2["shaping"][0])
    # still telescopes: γ^3·Φ_last(s3) − Φ_first(s0)
    np.testing.assert_allclose(total, gamma**3 * (-2.0 * 5.0) - 1.0 * 1.0, rtol=1e-5)


def test_potential_may_read_info():
    def goal_distance(obs, info):
        return -jnp.abs(obs[:, 0] - info["goal"])

    transform = potential_shaping(goal_distance, with_info=True)
    tr = step(jnp.array([[0.0], [1.0]]), jnp.array([[1.0], [3.0]]), gamma=1.0, info={"goal": jnp.array([2.0, 2.0])})
    rewards, _ = transform.apply(transform.init(jax.random.PRNGKey(0), tr), tr)
    np.testing.assert_allclose(rewards["shaping"], [-1.0 - (-2.0), -1.0 - (-1.0)])


# ------------------------------------------------------------ build-time checks
def test_wrong_potential_shape_raises_config_error_naming_it():
    def column_potential(obs):
        return obs[:, :1]

    tr = step(jnp.zeros((4, 3)), jnp.zeros((4, 3)))
    with pytest.raises(ConfigError, match=r"column_potential.*\(4,\).*\(4, 1\)"):
        potential_shaping(column_potential).init(jax.random.PRNGKey(0), tr)


def test_integer_potential_raises_config_error():
    def count_potential(obs):
        return jnp.zeros(obs.shape[0], jnp.int32)

    tr = step(jnp.zeros((4, 3)), jnp.zeros((4, 3)))
    with pytest.raises(ConfigError, match=r"count_potential.*float.*int32"):
        potential_shaping(count_potential).init(jax.random.PRNGKey(0), tr)


def test_potential_that_fails_raises_config_error_naming_it():
    def broken_potential(obs):
        return obs @ jnp.ones(5)  # obs has 3 features

    tr = step(jnp.zeros((4, 3)), jnp.zeros((4, 3)))
    with pytest.raises(ConfigError, match="broken_potential"):
        potential_shaping(broken_potential).init(jax.random.PRNGKey(0), tr)


# ------------------------------------------------------------ inside PPO
def pole_angle_potential(obs):
    return -jnp.abs(obs[:, 2])  # CartPole obs: [x, ẋ, θ, θ̇]


def test_chain_of_transforms_trains_inside_ppo():
    from jaxshape.algos.ppo import PPOConfig, default_hparams, make_ppo

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # clip before shaping, positive scalings after: no warning
        transform = chain(
            clip("extrinsic", -1.0, 1.0),
            potential_shaping(pole_angle_potential),
            subgoal_sequence(lambda obs: jnp.abs(obs[:, 0]) > 0.02, c=0.1),
            normalize_returns("shaping"),
            scale("shaping", 0.5),
        )
    config = PPOConfig(num_envs=4, num_steps=8, total_steps=64, num_epochs=1, num_minibatches=1,
                       hidden_sizes=(8,))
    ppo = make_ppo(config, transform=transform)
    # a sweep of two members over the shaping scale factor, in one compile
    hp = default_hparams(transform)
    hps = jax.tree.map(lambda x: jnp.stack([x, x]), hp)
    hps = hps.replace(reward={**hps.reward, "scale": {"factor": jnp.array([0.5, 2.0])}})
    keys = jnp.stack([jax.random.PRNGKey(0)] * 2)
    _, metrics = jax.jit(jax.vmap(ppo.train))(keys, hps)
    assert metrics["reward/shaping"].shape == (2, 2)  # [members, updates]
    assert metrics["reward/subgoals"].shape == (2, 2)
    for key in ("reward/shaping", "reward/subgoals", "loss_total"):
        assert np.all(np.isfinite(np.asarray(metrics[key]))), key
    shaping = np.asarray(metrics["reward/shaping"])
    assert np.all(shaping != 0.0)
    # same seed: the first update's rollout is the same, so its shaping is 4x apart
    np.testing.assert_allclose(shaping[1, 0], 4.0 * shaping[0, 0], rtol=1e-4)
