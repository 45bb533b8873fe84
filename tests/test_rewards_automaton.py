"""Reward machines and subgoal sequences: value-iteration potentials, the telescoping
identity, farming a cycle under raw rewards vs shaping, termination and reset, the
labelling-function check."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxshape.errors import ConfigError
from jaxshape.rewards import NOT_INVARIANT, POLICY_INVARIANT, reward_machine, subgoal_sequence
from jaxshape.rewards.automaton import automaton_values
from jaxshape.types import Transition

# labels: 0 nothing, 1 "a", 2 "b".  u0 -a-> u1 (pays 1), u1 -b-> u0 (a loop), u1 -a-> goal (pays 5)
DELTA = [[0, 1, 0],
         [1, -1, 0]]
EDGE_REWARDS = [[0.0, 1.0, 0.0],
                [0.0, 5.0, 0.0]]
# value iteration by hand, γ_vi = 0.9: V(u1) = max(0.9·V(u1), 5, 0.9·V(u0)) = 5,
# V(u0) = 1 + 0.9·V(u1) = 5.5 (> 0.9·V(u0)), V(goal) = 0; Φ = +V (the default sign)
PHI = {0: 5.5, 1: 5.0, 2: 0.0}


def label_of_obs(obs):
    return obs[:, 0].astype(jnp.int32)


def step(labels, terminated=None, truncated=None, gamma=0.9):
    labels = jnp.asarray(labels, jnp.float32)
    n = labels.shape[0]
    obs = jnp.stack([labels, jnp.zeros(n)], axis=-1)
    return Transition(obs=jnp.zeros_like(obs), action=jnp.zeros(n, jnp.int32), reward=jnp.zeros(n),
                      terminated=jnp.zeros(n, bool) if terminated is None else jnp.asarray(terminated, bool),
                      truncated=jnp.zeros(n, bool) if truncated is None else jnp.asarray(truncated, bool),
                      next_obs=obs, gamma=jnp.float32(gamma))


def machine(mode):
    return reward_machine(label_of_obs, DELTA, EDGE_REWARDS, mode=mode, value_gamma=0.9)


def run(transform, transitions):
    state = transform.init(jax.random.PRNGKey(0), transitions[0])
    out, states = [], []
    for tr in transitions:
        rewards, state = transform.apply(state, tr)
        out.append(np.asarray(rewards[transform.name], np.float64))
        states.append(state)
    return np.stack(out), states


def test_value_iteration_matches_hand_computation():
    delta = np.array([[0, 1, 0], [1, 2, 0], [2, 2, 2]])
    values = automaton_values(delta, np.vstack([EDGE_REWARDS, np.zeros((1, 3))]), 0.9)
    np.testing.assert_allclose(values, [5.5, 5.0, 0.0], atol=1e-8)


def test_invariance_classes():
    assert machine("reward").invariance == NOT_INVARIANT
    assert machine("shaping").invariance == POLICY_INVARIANT
    assert subgoal_sequence(lambda o: o[:, 0] > 0).invariance == POLICY_INVARIANT


def test_shaping_sum_telescopes_for_terminated_and_truncated_episodes():
    gamma = 0.95
    seq = [1, 0, 2, 1, 0, 2, 1, 2]  # u: 0 →1 →1 →0 →1 →1 →0 →1 →0
    u_T = 0
    last = len(seq) - 1
    transitions = [step([l, l], terminated=[t == last, False], truncated=[False, t == last], gamma=gamma)
                   for t, l in enumerate(seq)]
    F, _ = run(machine("shaping"), transitions)
    discounted = (gamma ** np.arange(len(seq)))[:, None] * F
    np.testing.assert_allclose(discounted[:, 0].sum(), -PHI[0], rtol=1e-5)  # terminated: Φ(terminal) = 0
    np.testing.assert_allclose(discounted[:, 1].sum(), gamma ** len(seq) * PHI[u_T] - PHI[0], rtol=1e-5)


def test_raw_bonus_on_a_cycle_is_farmed_but_shaping_nets_zero():
    def loops(n):
        return [step([l]) for l in [1, 2] * n]  # a, b, a, b, ...: u0 → u1 → u0 ...

    raw5, _ = run(machine("reward"), loops(5))
    raw10, _ = run(machine("reward"), loops(10))
    assert raw5.sum() == 5.0 and raw10.sum() == 10.0  # grows without bound with the loops

    undiscounted = [step([l], gamma=1.0) for l in [1, 2] * 10]
    shaped, _ = run(machine("shaping"), undiscounted)
    assert np.all(shaped != 0.0)  # each edge is paid something ...
    np.testing.assert_allclose(shaped.reshape(10, 2).sum(1), 0.0, atol=1e-6)  # ... every loop nets zero


def test_env_termination_sends_the_automaton_to_terminal_and_episode_end_resets_it():
    transform = machine("shaping")
    transitions = [
        step([1, 1]),  # both envs: u0 → u1
        step([0, 0], terminated=[True, False]),  # env 0 terminates without reaching the goal
        step([0, 0], truncated=[False, True]),  # env 1 truncated
    ]
    F, states = run(transform, transitions)
    gamma = 0.9
    np.testing.assert_allclose(F[1, 0], 0.0 - PHI[1], rtol=1e-6)  # Φ(terminal) = 0, not Φ(u1)
    np.testing.assert_allclose(F[1, 1], gamma * PHI[1] - PHI[1], rtol=1e-6)
    np.testing.assert_allclose(F[2, 1], gamma * PHI[1] - PHI[1], rtol=1e-6)  # truncation keeps Φ(u′)
    np.testing.assert_array_equal(states[0]["u"], [1, 1])
    np.testing.assert_array_equal(states[1]["u"], [0, 1])  # env 0 reset, env 1 carries on
    np.testing.assert_array_equal(states[2]["u"], [0, 0])
    np.testing.assert_array_equal(transform.observe(states[0]), [[0, 1, 0], [0, 1, 0]])
    np.testing.assert_array_equal(transform.observe(states[1]), [[1, 0, 0], [0, 1, 0]])


def test_goal_edge_reaches_terminal_and_stays_there():
    raw, states = run(machine("reward"), [step([1]), step([1]), step([1]), step([2])])
    np.testing.assert_array_equal(raw[:, 0], [1.0, 5.0, 0.0, 0.0])
    assert int(states[-1]["u"][0]) == 2


def test_wrong_labelling_output_raises_config_error_naming_it():
    def two_labels(obs):
        return obs[:, :2].astype(jnp.int32)

    def float_labels(obs):
        return obs[:, 0]

    tr = step([0, 1, 2])
    with pytest.raises(ConfigError, match=r"two_labels.*\(3,\).*\(3, 2\)"):
        reward_machine(two_labels, DELTA).init(jax.random.PRNGKey(0), tr)
    with pytest.raises(ConfigError, match=r"float_labels.*integer.*float32"):
        reward_machine(float_labels, DELTA).init(jax.random.PRNGKey(0), tr)


def test_bad_tables_are_refused():
    with pytest.raises(ConfigError, match="delta"):
        reward_machine(label_of_obs, [[0, 3]])
    with pytest.raises(ConfigError, match="rewards"):
        reward_machine(label_of_obs, DELTA, [[1.0]])
    with pytest.raises(ConfigError, match="mode"):
        reward_machine(label_of_obs, DELTA, mode="bonus")


# ------------------------------------------------------------ subgoal sequences
def past_one(obs):
    return obs[:, 0] > 1.0


def past_two(obs):
    return obs[:, 0] > 2.0


def xstep(x, terminated=False, gamma=1.0):
    obs = jnp.asarray([[x, 0.0]], jnp.float32)
    return Transition(obs=obs, action=jnp.zeros(1, jnp.int32), reward=jnp.zeros(1), terminated=jnp.array([terminated]),
                      truncated=jnp.zeros(1, bool), next_obs=obs, gamma=jnp.float32(gamma))


def test_subgoal_sequence_pays_stage_progress_as_shaping():
    transform = subgoal_sequence(past_one, past_two, c=2.0)
    xs = [3.0, 3.0, 0.0, 3.0]  # at most one stage per step: 0 → 1 → 2, then stays at 2
    F, states = run(transform, [xstep(x) for x in xs])
    np.testing.assert_allclose(F[:, 0], [2.0, 2.0, 0.0, 0.0])  # γ = 1: Φ(k′) − Φ(k), Φ = 2k
    assert [int(s["u"][0]) for s in states] == [1, 2, 2, 2]
    # termination zeroes Φ: F = −Φ(2) = −4, so the episode nets 0 as the telescoping sum says
    F_end, _ = run(transform, [xstep(3.0), xstep(3.0), xstep(0.0, terminated=True)])
    np.testing.assert_allclose(F_end[:, 0], [2.0, 2.0, -4.0])


def test_subgoal_raw_bonus_vs_shaping_and_vmapped_c():
    raw, _ = run(subgoal_sequence(past_one, past_two, c=2.0, mode="reward"), [xstep(3.0)] * 3)
    np.testing.assert_allclose(raw[:, 0], [2.0, 2.0, 0.0])

    transform = subgoal_sequence(past_one, past_two)
    tr = xstep(3.0, gamma=0.5)
    state = transform.init(jax.random.PRNGKey(0), tr)
    apply = jax.vmap(lambda hp: transform.apply(state, tr, hp)[0]["subgoals"])
    np.testing.assert_allclose(apply({"c": jnp.array([1.0, 3.0])})[:, 0], [0.5, 1.5])  # γ·c·1 − c·0


def test_wrong_subgoal_predicate_raises_config_error_naming_it():
    def distance_not_flag(obs):
        return obs[:, 0]

    with pytest.raises(ConfigError, match=r"distance_not_flag.*bool"):
        subgoal_sequence(past_one, distance_not_flag).init(jax.random.PRNGKey(0), xstep(0.0))
