"""At a time limit the learners bootstrap from the ENDING episode's transform features.

A transform that observes (coverage masks, automaton states) resets its episodic state
where an episode ends; the value of the true last observation V(s′) must still see the
features the agent held at s′. On Coverage-grid (it never terminates; every episode
ends at the time limit) the coverage mask at a truncation is the episode's visited
cells, and PPO's target there is r + γ·V(s′, that mask), computed here by hand."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxshape.algos import PPOConfig, SACConfig, default_hparams, make_ppo, make_sac
from jaxshape.algos.sac import default_hparams as sac_hparams
from jaxshape.envs import make
from jaxshape.rewards import reward_machine
from jaxshape.rewards.base import final_features
from jaxshape.rewards.submodular import Locator, coverage, grid_locator, info_locator
from jaxshape.types import Transition

SIZE, LIMIT = 4, 6
CENTRE = (SIZE // 2) * SIZE + SIZE // 2


def episode_masks(cells: np.ndarray, truncated: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
    """(t, env) of each truncation -> the cells that episode visited (start cell included)."""
    out = {}
    for env in range(cells.shape[1]):
        visited = {CENTRE}
        for t in range(cells.shape[0]):
            visited.add(int(cells[t, env]))
            if truncated[t, env]:
                mask = np.zeros(SIZE * SIZE, np.float32)
                mask[sorted(visited)] = 1.0
                out[(t, env)] = mask
                visited = {CENTRE}
    return out


def test_ppo_bootstraps_truncation_from_the_ending_episodes_coverage_mask():
    env, params = make("Coverage-grid", size=SIZE, max_steps=LIMIT)
    transform = coverage((SIZE, SIZE), Locator(info_locator((SIZE, SIZE)).next, start=grid_locator((SIZE, SIZE)).start))
    config = PPOConfig(env="Coverage-grid", num_envs=2, num_steps=16, total_steps=2 * 16 * 2, num_epochs=1,
                       num_minibatches=2, hidden_sizes=(8,))
    ppo = make_ppo(config, env, params, transform)
    hp = default_hparams(transform)
    state = ppo.init(jax.random.PRNGKey(0), hp)
    state, batch, streams = ppo._rollout(state, hp)

    truncated = np.asarray(batch.truncated)
    expected = episode_masks(np.asarray(batch.info["cell"]), truncated)
    assert len(expected) == 4 and not np.asarray(batch.terminated).any()  # 16 steps: ends at t = 5, 11
    features = np.asarray(batch.extras["next_features"])
    for (t, e), mask in expected.items():
        np.testing.assert_array_equal(features[t, e], mask, err_msg=f"truncation at t={t}, env {e}")
        assert mask.sum() >= 2  # the reset state's mask would be empty

    _, targets = ppo._advantages(state, hp, batch, streams)
    reward = np.asarray(streams["extrinsic"]) + np.asarray(streams["coverage"])  # both coefficients are 1
    for (t, e), mask in expected.items():
        next_input = ppo.policy_input(batch.next_obs[t, e][None], jnp.asarray(mask)[None])
        _, value = ppo.policy_value(state.params, state.obs_stats, next_input)
        by_hand = reward[t, e] + 0.99 * float(value[0, 0])  # the trace is cut at the episode's end
        np.testing.assert_allclose(float(targets[t, e, 0]), by_hand, rtol=1e-5, atol=1e-6)


def test_final_features_hold_the_automaton_state_the_episode_ended_in():
    """A key picked up on the last step before the time limit bootstraps as "has key"."""
    label = lambda obs, info: jnp.where(info["key"], 1, 0)  # noqa: E731 - 0 nothing, 1 key
    machine = reward_machine(label, [[0, 1], [1, 1]], [[0, 0], [0, 0]], with_info=True)
    step = Transition(obs=jnp.zeros((1, 2)), action=jnp.zeros((1,), jnp.int32), reward=jnp.zeros(1),
                      terminated=jnp.array([False]), truncated=jnp.array([True]), next_obs=jnp.zeros((1, 2)),
                      info={"key": jnp.array([True])})
    state = machine.init(jax.random.PRNGKey(0), step)
    _, after = machine.apply(state, step)
    np.testing.assert_array_equal(machine.observe(after), [[1.0, 0.0, 0.0]])  # reset: the next episode (last slot: terminal)
    np.testing.assert_array_equal(final_features(machine, state, step, machine.default_hparams), [[0.0, 1.0, 0.0]])


def test_sac_stores_the_ending_episodes_features_with_the_true_next_observation():
    """PointGoal-v0 ends only at its time limit (50 steps); a coverage mask over its
    positions (grid (4, 4) on [-1, 1]^2) is what the replay buffer's next input carries."""
    transform = coverage((4, 4), grid_locator((4, 4), low=-1.0, high=1.0))
    config = SACConfig(env="PointGoal-v0", num_envs=1, total_steps=400, learning_starts=100, steps_per_update=100,
                       minibatch_size=4, buffer_size=128, hidden_sizes=(8,))
    sac = make_sac(config, transform=transform)
    state = sac.init(jax.random.PRNGKey(1), sac_hparams(transform))  # 100 warm-up steps: two episodes end
    data = jax.tree.map(np.asarray, state.buffer.data)
    truncated, next_input = data["truncated"][:100, 0], data["next_obs"][:100, 0]
    assert truncated.sum() == 2
    masks = next_input[:, -16:]
    assert (masks[truncated].sum(-1) >= 1).all()  # the episode's cells; the reset mask is empty
    # elsewhere the next input's mask is the one the policy sees at the next step
    obs_masks = data["obs"][1:100, 0, -16:]
    running = ~truncated[:99]
    np.testing.assert_array_equal(masks[:99][running], obs_masks[running])
