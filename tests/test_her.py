"""Hindsight relabelling (algos/her.py) on the circular replay buffer (algos/replay.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxshape.algos import her, replay

N = 200_000


def offsets(strategy, remaining, gamma=0.9, seed=0):
    remaining = jnp.full((N,), remaining, jnp.int32)
    return np.asarray(jax.jit(her.sample_offsets, static_argnums=2)(jax.random.PRNGKey(seed), remaining, strategy, gamma))


def chi_square(samples, probs):
    counts = np.bincount(samples, minlength=len(probs))
    expected = N * np.asarray(probs)
    return ((counts - expected) ** 2 / expected).sum()


def test_future_offsets_are_uniform_over_the_remaining_steps():
    r = 12
    sample = offsets("future", r)
    assert sample.min() == 0 and sample.max() == r - 1
    # chi-square with 11 degrees of freedom: 31.3 is the 0.999 quantile
    assert chi_square(sample, np.full(r, 1 / r)) < 31.3


def test_geometric_offsets_fit_the_truncated_geometric_law():
    r, gamma = 15, 0.8
    sample = offsets("geometric", r, gamma)
    law = gamma ** np.arange(r)
    law /= law.sum()
    assert sample.min() == 0 and sample.max() <= r - 1
    assert chi_square(sample, law) < 36.1  # 14 degrees of freedom, 0.999 quantile
    # and not uniform: a test that could not fail would be no test
    assert chi_square(offsets("future", r), law) > 1000


def test_final_offset_is_the_last_stored_step():
    assert (offsets("final", 7) == 6).all()
    assert (offsets("geometric", 1) == 0).all() and (offsets("future", 1) == 0).all()


def fill(lengths_per_env, rows, steps):
    """A buffer of `rows` rows written for `steps` steps, env e's episodes lasting
    lengths_per_env[e] steps; `achieved_goal` stores (episode id, step) so a goal names
    the slot it came from."""
    lengths = jnp.asarray(lengths_per_env)
    n = len(lengths_per_env)
    buffer = replay.create({"achieved_goal": jnp.zeros((n, 2))}, rows)

    def step(carry, _):
        buffer, episode, t = carry
        done = t + 1 == lengths
        item = {"achieved_goal": jnp.stack([episode, t], axis=-1).astype(jnp.float32)}
        buffer = replay.insert(buffer, item, done)
        return (buffer, episode + done, jnp.where(done, 0, t + 1)), None

    zeros = jnp.zeros((n,), jnp.int32)
    (buffer, _, _), _ = jax.lax.scan(step, (buffer, zeros, zeros), None, length=steps)
    return buffer


@pytest.mark.parametrize("strategy", ["final", "future", "geometric"])
def test_goals_never_cross_a_trajectory_boundary_even_across_the_wrap_around(strategy):
    # 37 rows, 3 envs with episodes of 5, 11 and 50 steps, 120 steps written: the buffer
    # has wrapped more than three times and env 2's oldest episode is cut at its start
    buffer = fill([5, 11, 50], rows=37, steps=120)
    rows, cols = replay.sample_indices(buffer, jax.random.PRNGKey(1), 20_000)
    goals, mask, goal_rows = her.hindsight_goals(jax.random.PRNGKey(2), buffer, rows, cols, strategy, 4, 0.7)
    source = replay.gather(buffer, rows, cols)["achieved_goal"]
    goals, source = np.asarray(goals), np.asarray(source)
    assert (goals[:, 0] == source[:, 0]).all(), "a goal came from another episode"
    assert (goals[:, 1] >= source[:, 1]).all(), "a goal came from the past"
    later = np.asarray(buffer.time)[np.asarray(goal_rows), np.asarray(cols)]
    now = np.asarray(buffer.time)[np.asarray(rows), np.asarray(cols)]
    assert (later >= now).all() and (later < 120).all()
    # the goal's episode was the slot's: ids agree in the bookkeeping as well
    episode = np.asarray(buffer.episode)
    assert (episode[np.asarray(goal_rows), np.asarray(cols)] == episode[np.asarray(rows), np.asarray(cols)]).all()
    if strategy == "final":  # the finished episodes' last steps, the running one's latest
        length = np.array([5, 11, 50])[np.asarray(cols)]
        finished = source[:, 0] < np.array([120 // 5, 120 // 11, 120 // 50])[np.asarray(cols)]
        assert (goals[finished, 1] == length[finished] - 1).all()
    assert abs(float(np.asarray(mask).mean()) - 0.8) < 0.02  # k = 4: 4/5 relabelled


def test_relabelling_with_the_achieved_goal_of_the_next_state_pays_success():
    spec = her.GoalSpec(obs_slice=(2, 4), eps=0.05, kind="sparse")
    buffer = replay.create({
        "obs": jnp.zeros((1, 4)), "next_obs": jnp.zeros((1, 4)), "achieved_goal": jnp.zeros((1, 2)),
        "rewards": {"extrinsic": jnp.zeros((1,))},
    }, rows=8)
    far_goal = jnp.array([0.9, 0.9])
    positions = jnp.array([[-0.5, 0.0], [-0.3, 0.1], [0.0, 0.2]])
    for t in range(2):  # two steps of one episode, never reaching the desired goal
        item = {"obs": jnp.concatenate([positions[t], far_goal])[None],
                "next_obs": jnp.concatenate([positions[t + 1], far_goal])[None],
                "achieved_goal": positions[t + 1][None],
                "rewards": {"extrinsic": spec.reward(positions[t + 1], far_goal)[None]}}
        buffer = replay.insert(buffer, item, jnp.array([t == 1]))
    rows, cols = jnp.array([0, 1]), jnp.array([0, 0])
    batch = replay.gather(buffer, rows, cols)
    assert (np.asarray(batch["rewards"]["extrinsic"]) == -1.0).all()
    # "final" relabels every sample of step 1 with its own achieved goal, g := achieved(s′)
    relabelled, mask = her.relabel(jax.random.PRNGKey(0), buffer, rows, cols, batch, spec, "final", 10**6, 0.9)
    assert np.asarray(mask).all()
    np.testing.assert_array_equal(relabelled["obs"][:, 2:], np.tile(positions[2], (2, 1)))
    np.testing.assert_array_equal(relabelled["next_obs"][:, 2:], np.tile(positions[2], (2, 1)))
    np.testing.assert_array_equal(relabelled["next_obs"][:, :2], batch["next_obs"][:, :2])
    # step 1 reached its own hindsight goal: success (0); step 0 did not (its s′ is 0.36 away)
    np.testing.assert_array_equal(relabelled["rewards"]["extrinsic"], [-1.0, 0.0])
    achieved = replay.gather(buffer, rows, cols)["achieved_goal"]
    assert (her.goal_reward_fn(achieved, achieved, 0.05, "sparse") == 0.0).all()
    assert (her.goal_reward_fn(achieved, achieved, 0.05, "success") == 1.0).all()


def test_remaining_counts_the_running_episode_so_far():
    buffer = fill([4], rows=10, steps=6)  # one finished episode of 4, then 2 steps of the next
    rows = jnp.arange(6)
    np.testing.assert_array_equal(replay.remaining(buffer, rows, jnp.zeros(6, jnp.int32)), [4, 3, 2, 1, 2, 1])
