"""Recurrent PPO (`PPOConfig(gru_size=...)`): the memory is carried through the rollout,
zeroed where an episode ends, and learning replays each env's rollout exactly as it was
acted; on CueRecall (a cue to remember over blank steps) the feed-forward policy stays at
chance and the recurrent one solves it."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxshape import cli
from jaxshape.algos import PPOConfig, default_hparams, make_ppo
from jaxshape.envs import make
from jaxshape.errors import ConfigError
from jaxshape.run.logs import read_metrics
from resumed_runs import resumed_from_earlier_checkpoint

TINY = PPOConfig(env="CueRecall-v0", num_envs=8, num_steps=16, total_steps=8 * 16 * 2, num_epochs=1,
                 num_minibatches=2, hidden_sizes=(16,), gru_size=8)


@pytest.fixture(scope="module")
def rollout():
    ppo = make_ppo(TINY)
    hp = default_hparams()
    state = ppo.init(jax.random.PRNGKey(0), hp)
    state = jax.jit(lambda s: ppo.update(s, hp)[0])(state)  # not the zero memory of a fresh start
    after, batch, _ = jax.jit(lambda s: ppo._rollout(s, hp))(state)
    return ppo, state, after, batch


def test_cue_recall_pays_only_a_right_answer_at_the_query():
    env, params = make("CueRecall-v0", num_cues=3, delay=2)
    obs, state = env.reset(jax.random.PRNGKey(3), params)
    cue = int(state.cue)
    np.testing.assert_array_equal(obs, np.eye(3)[cue].tolist() + [0.0])
    for t in range(1, 4):  # two blank steps, then the query
        obs, state, reward, terminated, truncated, info = env.step(jax.random.PRNGKey(t), state, (cue + 1) % 3, params)
        assert float(reward) == 0.0 and not bool(terminated) and not bool(truncated)
        np.testing.assert_array_equal(obs, [0.0, 0.0, 0.0, float(t == 3)])
    _, _, reward, terminated, truncated, info = env.step(jax.random.PRNGKey(9), state, cue, params)
    assert float(reward) == 1.0 and bool(terminated) and not bool(truncated) and float(info["is_success"]) == 1.0


def test_replaying_the_rollout_from_its_first_memory_reproduces_every_step(rollout):
    """With the resets where episodes began, the sequence replay gives the log-probs and
    values the rollout acted with (several CueRecall episodes end inside the rollout)."""
    ppo, before, _, batch = rollout
    assert int(batch.done.sum()) >= 8
    begins = jnp.concatenate([jnp.zeros_like(batch.done[:1]), batch.done[:-1]])
    _, policy, values = ppo.sequence(before.params, before.obs_stats, before.memory, batch.extras["policy_input"],
                                     begins)
    log_prob = ppo.head.log_prob(policy, batch.extras["raw_action"])
    np.testing.assert_allclose(log_prob, batch.extras["log_prob"], atol=1e-5)
    np.testing.assert_allclose(values, batch.extras["values"], atol=1e-5)
    # without the resets the replay carries memory across episodes and differs
    _, unreset, _ = ppo.sequence(before.params, before.obs_stats, before.memory, batch.extras["policy_input"],
                                 jnp.zeros_like(begins))
    assert not np.allclose(ppo.head.log_prob(unreset, batch.extras["raw_action"]), batch.extras["log_prob"], atol=1e-5)


def test_memory_is_zeroed_where_an_episode_ended_and_kept_elsewhere(rollout):
    """CueRecall episodes last 6 steps: the rollout of steps 16..31 ends mid-episode, the
    next one (32..47) on an episode's last step."""
    ppo, _, after, batch = rollout
    assert not np.asarray(batch.done[-1]).any()
    np.testing.assert_array_equal(after.memory, batch.extras["memory"][-1])
    assert np.abs(np.asarray(after.memory)).min() > 0
    ended, next_batch, _ = jax.jit(lambda s: ppo._rollout(s, default_hparams()))(after)
    assert np.asarray(next_batch.done[-1]).all()
    np.testing.assert_array_equal(ended.memory, 0.0)
    assert np.abs(np.asarray(next_batch.extras["memory"][-1])).sum() > 0


def test_the_first_update_starts_at_ratio_one(rollout):
    """The first minibatch of the first epoch sees the parameters that acted: approx KL 0
    only if the minibatch replay (envs shuffled into groups) matches the rollout."""
    ppo, before, _, _ = rollout
    config = ppo.config
    one_step = make_ppo(PPOConfig(**{**config.__dict__, "num_minibatches": 1}))
    _, metrics = jax.jit(lambda s: one_step.update(s, default_hparams()))(before)
    assert abs(float(metrics["approx_kl"])) < 1e-6


def test_recurrent_settings_are_checked():
    with pytest.raises(ConfigError, match="minibatched by envs"):
        make_ppo(PPOConfig(env="CueRecall-v0", num_envs=6, num_minibatches=4, num_steps=8, gru_size=8))
    with pytest.raises(ConfigError, match="gru_size"):
        make_ppo(PPOConfig(env="CueRecall-v0", gru_size=-1))


def test_feed_forward_stays_at_chance_and_the_gru_solves_cue_recall():
    hp = default_hparams(learning_rate=1e-3)
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    results = {}
    for gru_size in (0, 32):
        ppo = make_ppo(PPOConfig(env="CueRecall-v0", total_steps=24_576, num_envs=16, num_steps=32, num_minibatches=4,
                                 num_epochs=4, gru_size=gru_size))
        states, _ = jax.jit(jax.vmap(ppo.train, in_axes=(0, None)))(keys, hp)
        results[gru_size] = jax.vmap(lambda s: ppo.evaluate(s, hp, jax.random.PRNGKey(1), 128))(states)["eval_return"]
    assert np.all(results[0] < 0.45), results  # chance is 1/4
    assert np.all(results[32] > 0.9), results


def test_a_recurrent_run_checkpoints_evaluates_and_resumes_bitwise(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--env", "CueRecall-v0", "--gru-size", "8", "--hidden-sizes", "16", "--num-envs", "4",
            "--num-steps", "8", "--total-steps", str(4 * 8 * 4), "--num-epochs", "1", "--num-minibatches", "2",
            "--chunk-updates", "2", "--eval-every", "1", "--eval-episodes", "4", "--no-progress", "--no-plot",
            "--checkpoint-seconds", "0", "--out", str(run)]
    assert cli.main(args) == 0, capsys.readouterr().err
    records = read_metrics(run)
    assert sum("eval_return" in r for r in records) == 2
    assert json.loads((run / "config.json").read_text())["config"]["gru_size"] == 8
    resumed, original = resumed_from_earlier_checkpoint(run, tmp_path, 4, capsys)
    assert np.abs(np.asarray(original.memory)).sum() > 0
    jax.tree.map(np.testing.assert_array_equal, resumed, original)
