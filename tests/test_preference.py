"""`rewards.preference_reward`: the Bradley–Terry loss and its gradient by hand, the
teacher's labels, segments that stop at episode ends, a linear reward model recovering a
known linear reward from noiseless labels, the label budget and ring buffer, and PPO
learning CartPole from the learned reward alone."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxshape import rewards
from jaxshape.errors import ConfigError
from jaxshape.rewards.rnd import MLP
from jaxshape.rewards.preference import sample_segments, segment_mask
from jaxshape.rewards.spec import parse_reward_spec
from jaxshape.types import Transition


def rollout(obs, reward, done=None, action=None):
    """A rollout [T, N] with the given observations and env rewards."""
    steps, envs = reward.shape
    done = jnp.zeros((steps, envs), bool) if done is None else done
    action = jnp.zeros((steps, envs), jnp.int32) if action is None else action
    return Transition(obs=obs, action=action, reward=reward, terminated=done, truncated=jnp.zeros_like(done),
                      next_obs=obs, gamma=jnp.float32(0.99))


def first_step(batch):
    return jax.tree.map(lambda x: x[0] if jnp.ndim(x) else x, batch)


def test_bradley_terry_loss_and_gradient_by_hand():
    r_a = jnp.array([1.0, 0.5, -2.0])
    r_b = jnp.array([0.0, 0.5, 1.0])
    y = jnp.array([1.0, 0.5, 0.0])
    # d = r_a − r_b = [1, 0, −3]: −log σ(1), −½log σ(0) − ½log σ(0) = log 2, −log σ(3)
    by_hand = (np.log1p(np.exp(-1.0)) + np.log(2.0) + np.log1p(np.exp(-3.0))) / 3
    np.testing.assert_allclose(rewards.bradley_terry_loss(r_a, r_b, y), by_hand, rtol=1e-6)
    g_a, g_b = jax.grad(rewards.bradley_terry_loss, argnums=(0, 1))(r_a, r_b, y)
    sigmoid = 1 / (1 + np.exp(-np.array([1.0, 0.0, -3.0])))
    np.testing.assert_allclose(g_a, (sigmoid - [1.0, 0.5, 0.0]) / 3, rtol=1e-6)  # (P − y) / n
    np.testing.assert_allclose(g_b, -(sigmoid - [1.0, 0.5, 0.0]) / 3, rtol=1e-6)
    weighted = rewards.bradley_terry_loss(r_a, r_b, y, jnp.array([1.0, 0.0, 1.0]))
    np.testing.assert_allclose(weighted, (np.log1p(np.exp(-1.0)) + np.log1p(np.exp(-3.0))) / 2, rtol=1e-6)


def test_teacher_labels_threshold_ties_and_mistakes():
    a = jnp.array([3.0, 1.0, 2.0, 2.0, 5.0])
    b = jnp.array([1.0, 3.0, 2.0, 2.5, 4.9])
    key = jax.random.PRNGKey(0)
    np.testing.assert_array_equal(rewards.teacher_labels(a, b, key), [1, 0, 0.5, 0, 1])
    np.testing.assert_array_equal(rewards.teacher_labels(a, b, key, equal_threshold=0.5), [1, 0, 0.5, 0.5, 0.5])
    np.testing.assert_array_equal(rewards.teacher_labels(a, b, key, mistake=1.0), [0, 1, 0.5, 1, 0])
    many_a, many_b = jnp.arange(20_000.0), jnp.zeros(20_000)
    flipped = 1.0 - rewards.teacher_labels(many_a[1:], many_b[1:], key, mistake=0.3)
    assert 0.28 < float(flipped.mean()) < 0.32


def test_segments_stop_at_the_first_episode_end_and_stay_in_one_env():
    np.testing.assert_array_equal(segment_mask(jnp.array([0, 0, 1, 0, 1], bool)), [1, 1, 1, 0, 0])
    np.testing.assert_array_equal(segment_mask(jnp.array([1, 0, 0], bool)), [1, 0, 0])
    steps, envs = 12, 3
    t, n = np.meshgrid(np.arange(steps), np.arange(envs), indexing="ij")
    obs = jnp.asarray((100 * n + t)[..., None], jnp.float32)
    done = jnp.asarray(t % 5 == 4)  # episodes end at t = 4, 9
    seg = sample_segments(jax.random.PRNGKey(1), rollout(obs, jnp.ones((steps, envs)), done), 64, 4)
    first = seg["obs"][:, :1, 0]
    np.testing.assert_array_equal(seg["obs"][..., 0], first + jnp.arange(4))  # consecutive steps of one env
    start = np.asarray(first[:, 0] % 100, int)
    assert start.min() == 0 and start.max() == steps - 4  # starts cover [0, T − L]
    expected = np.array([[1.0 if all((s + j) % 5 != 4 for j in range(k)) else 0.0 for k in range(4)] for s in start])
    np.testing.assert_array_equal(seg["mask"], expected)
    np.testing.assert_array_equal(rewards.true_return({"reward": jnp.ones(4), "mask": seg["mask"][0]}),
                                  expected[0].sum())


def test_a_linear_reward_model_recovers_a_linear_reward_from_noiseless_labels():
    steps, envs, dim = 32, 8, 5
    w_true = jnp.array([1.0, -2.0, 0.5, 0.0, 1.5])
    obs = jax.random.normal(jax.random.PRNGKey(2), (steps, envs, dim))
    batch = rollout(obs, obs @ w_true)  # fixed synthetic segments, the true reward linear in s
    t = rewards.preference_reward(queries=64, budget=512, buffer_size=512, segment_length=4, ensemble=1,
                                  hidden_sizes=(), bounded=False, lr=0.05, epochs=50, batch_size=64,
                                  use_action=False, normalize=False)
    hp = t.default_hparams
    state = t.init(jax.random.PRNGKey(3), first_step(batch))
    update = jax.jit(t.update)
    for k in range(8):
        state, metrics = update(state, batch, jax.random.PRNGKey(10 + k), hp)
    w = np.asarray(state["params"]["params"]["Dense_0"]["kernel"][0, :, 0])
    cosine = w @ np.asarray(w_true) / np.linalg.norm(w) / np.linalg.norm(w_true)
    assert cosine > 0.99, (w, cosine)
    assert float(metrics["heldout_accuracy"]) > 0.95 and float(metrics["heldout_pairs"]) > 50
    assert float(metrics["labels"]) == 512
    streams, _ = t.apply(state, first_step(batch), hp)  # the learner sees r̂ = w·s + b, and 0 as extrinsic
    np.testing.assert_array_equal(streams["extrinsic"], 0.0)
    np.testing.assert_allclose(streams["preference"], obs[0] @ w + state["params"]["params"]["Dense_0"]["bias"][0, 0],
                               rtol=1e-5, atol=1e-5)


def test_label_budget_ring_buffer_and_disagreement_queries():
    steps, envs, queries, candidates = 8, 4, 4, 8
    obs = jax.random.normal(jax.random.PRNGKey(4), (steps, envs, 3))
    batch = rollout(obs, obs.sum(-1), action=jax.random.randint(jax.random.PRNGKey(7), (steps, envs), 0, 2))
    t = rewards.preference_reward(queries=queries, budget=10, buffer_size=5, segment_length=3, hidden_sizes=(8,),
                                  epochs=2, batch_size=4, num_actions=2, ensemble=4, selection="disagreement",
                                  candidates=candidates)
    hp = t.default_hparams
    state = first_state = t.init(jax.random.PRNGKey(5), first_step(batch))
    update = jax.jit(t.update)
    labels, new, first = [], [], None
    for k in range(4):
        state, m = update(state, batch, jax.random.PRNGKey(k), hp)
        labels.append(float(m["labels"]))
        new.append(float(m["labels_new"]))
        first = m if first is None else first
    assert labels == [4, 8, 10, 10] and new == [4, 4, 2, 0]
    assert state["x"].shape == (5, 2, 3, 3 + 2)  # obs and one-hot action per step; the ring holds 5 pairs
    np.testing.assert_array_equal(state["x"][..., 3:].sum(-1), 1.0)  # every slot written (10 labels wrapped)
    x = jnp.concatenate([obs, jax.nn.one_hot(batch.action, 2)], axis=-1)
    mean_reward = jax.vmap(lambda p: jnp.tanh(MLP((8,), 1).apply(p, x)[..., 0]))(state["params"]).mean(0)
    rms = np.sqrt(np.mean(np.asarray(mean_reward) ** 2) + 1e-8)  # ς: the RMS of r̄ over the latest rollout
    np.testing.assert_allclose(state["scale"], rms, rtol=1e-5)
    streams, _ = t.apply(state, first_step(batch), hp)
    np.testing.assert_allclose(streams["preference"], mean_reward[0] / rms, rtol=1e-4, atol=1e-6)
    hp_more = {**hp, "budget": 14.0}  # the budget is traced: raising it resumes querying
    assert float(update(state, batch, jax.random.PRNGKey(9), hp_more)[1]["labels_new"]) == 4

    # the first update's queries are the most disputed of its candidates: redraw them and
    # score them by hand, std over members of σ(R̂a − R̂b)
    key_a, key_b = jax.random.split(jax.random.split(jax.random.PRNGKey(0), 4)[0])
    segs = [sample_segments(k, batch, queries * candidates, 3) for k in (key_a, key_b)]

    def member_returns(params, seg):
        x = jnp.concatenate([seg["obs"], jax.nn.one_hot(seg["action"], 2)], axis=-1)
        return (jnp.tanh(MLP((8,), 1).apply(params, x)[..., 0]) * seg["mask"]).sum(-1)

    returns = [jax.vmap(member_returns, in_axes=(0, None))(first_state["params"], seg) for seg in segs]
    spread = np.sort(np.asarray(jax.nn.sigmoid(returns[0] - returns[1]).std(axis=0)))
    np.testing.assert_allclose(first["disagreement"], spread[-queries:].mean(), rtol=1e-5)
    assert spread[-queries:].mean() > 1.2 * spread.mean()  # the choice matters on this batch


def test_cli_spec_and_bad_input():
    t = parse_reward_spec("preference(oracle=true_return, queries=64)", "CartPole-v1")
    assert t.name == "preference" and t.default_hparams["budget"] == 2048.0
    with pytest.raises(ConfigError, match="unknown preference oracle 'nope'"):
        parse_reward_spec("preference(oracle=nope)", "CartPole-v1")
    with pytest.raises(ConfigError, match="segment_length=5 exceeds the rollout's 4 steps"):
        sample_segments(jax.random.PRNGKey(0), rollout(jnp.zeros((4, 2, 3)), jnp.zeros((4, 2))), 8, 5)
    with pytest.raises(ConfigError, match="selection='best'"):
        rewards.preference_reward(selection="best")
    with pytest.raises(ConfigError, match="queries=64 exceeds buffer_size=32: .* use buffer_size >= 64"):
        parse_reward_spec("preference(queries=64, buffer_size=32)", "CartPole-v1")
