"""One agent for a coefficient sweep (`PPOConfig.condition`, `train --condition`,
`eval --set`): per-episode draws, what the networks see, what the reward and the
bootstrap use, evaluation at a chosen value, and the bad-input contract."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxshape import cli
from jaxshape.algos import PPOConfig, default_hparams, make_ppo
from jaxshape.algos.returns import gae
from jaxshape.errors import ConfigError
from jaxshape.rewards import term, weighted_sum
from jaxshape.rewards.terms import effort
from jaxshape.types import Transition

LO, HI = 0.5, 2.0
# CartPole cut at 15 steps: random play ends episodes both by termination and by truncation
CONFIG = PPOConfig(env="CartPole-v1", env_options="max_steps_in_episode=15", num_envs=8, num_steps=64,
                   total_steps=8 * 64, num_epochs=1, num_minibatches=2, hidden_sizes=(8,),
                   condition=(("reward_coefs.bonus", LO, HI),))
BONUS = term("bonus", lambda t, hp: jnp.ones_like(t.reward), coef=1.0)


@pytest.fixture(scope="module")
def rollout():
    ppo = make_ppo(CONFIG, transform=BONUS)
    hp = default_hparams(BONUS)
    state = ppo.init(jax.random.PRNGKey(0), hp)
    after, batch, streams = jax.jit(ppo._rollout)(state, hp)
    return ppo, hp, state, after, batch, streams


def test_coefficient_is_constant_within_an_episode_and_redrawn_where_one_ends(rollout):
    _, _, state, after, batch, _ = rollout
    coefs = np.asarray(batch.extras["coefs"][..., 0])  # [T, N]: the coefficient each step's reward used
    terminated, truncated = np.asarray(batch.terminated), np.asarray(batch.truncated)
    assert terminated.any() and truncated.any()
    np.testing.assert_array_equal(coefs[0], np.asarray(state.coefs[:, 0]))
    following = np.concatenate([coefs[1:], np.asarray(after.coefs[None, :, 0])])  # the next step's coefficient
    done = terminated | truncated
    np.testing.assert_array_equal(following[~done], coefs[~done])
    assert (following[terminated] != coefs[terminated]).all()
    assert (following[truncated] != coefs[truncated]).all()
    assert ((coefs >= LO) & (coefs <= HI)).all() and len(np.unique(coefs)) > done.sum() // 2


def test_networks_see_the_coefficient_normalised_to_its_range(rollout):
    _, _, _, _, batch, _ = rollout
    seen = np.asarray(batch.extras["policy_input"])
    assert seen.shape[-1] == 4 + 1  # CartPole's observation, then the coefficient
    np.testing.assert_allclose(seen[..., -1], (np.asarray(batch.extras["coefs"][..., 0]) - LO) / (HI - LO),
                               rtol=1e-6)


def test_each_env_reward_uses_its_draw_and_truncation_bootstraps_with_the_ending_episode(rollout):
    ppo, hp, _, after, batch, streams = rollout
    advantages, _ = ppo._advantages(after, hp, batch, streams)
    coefs = batch.extras["coefs"]
    reward = streams["extrinsic"] + coefs[..., 0] * streams["bonus"]  # per env, per step
    next_values = ppo.policy_value(after.params, after.obs_stats,
                                   ppo.policy_input(batch.next_obs, None, batch_dims=2, coefs=coefs))[1][..., 0]
    expected, _ = gae(reward, batch.extras["values"][..., 0], next_values, batch.terminated, batch.truncated,
                      hp.gamma, hp.gae_lambda)
    np.testing.assert_allclose(advantages, expected, rtol=1e-5, atol=1e-5)
    # the coefficient in hparams plays no part in training (it is what evaluation feeds)
    other = hp.replace(reward_coefs={**hp.reward_coefs, "bonus": jnp.float32(100.0)})
    np.testing.assert_allclose(ppo._advantages(after, other, batch, streams)[0], advantages, rtol=1e-6)
    assert not np.allclose(weighted_sum(streams, hp.reward_coefs), reward)


def test_evaluation_feeds_the_hparams_value_and_reports_each_stream(rollout):
    ppo, hp, state, _, _, _ = rollout
    seen = []

    class Spy:  # the real network, recording the conditioning column it is fed
        def apply(self, params, x):
            jax.debug.callback(lambda col: seen.append(np.asarray(col)), x[..., -1])
            return ppo.network.apply(params, x)

    spied = dataclasses.replace(ppo, network=Spy())
    at = hp.replace(reward_coefs={**hp.reward_coefs, "bonus": jnp.float32(1.7)})
    result = jax.jit(spied.evaluate, static_argnums=3)(state, at, jax.random.PRNGKey(1), 3)
    jax.effects_barrier()
    assert seen and all(np.allclose(col, (1.7 - LO) / (HI - LO)) for col in seen)
    assert float(result["eval_return/extrinsic"]) == pytest.approx(float(result["eval_return"]))
    assert float(result["eval_return/bonus"]) == pytest.approx(float(result["eval_length"]))


def test_effort_term_is_minus_the_squared_action():
    t = Transition(obs=jnp.zeros((2, 3)), action=jnp.array([[1.0, 2.0], [0.0, -3.0]]), reward=jnp.zeros(2),
                   terminated=jnp.zeros(2, bool), truncated=jnp.zeros(2, bool), next_obs=jnp.zeros((2, 3)))
    rewards, _ = effort().apply(None, t)
    np.testing.assert_allclose(rewards["effort"], [-5.0, -9.0])


@pytest.mark.parametrize("condition, message", [
    ((("reward_coefs.nope", 0.0, 1.0),), "choose from reward_coefs.extrinsic, reward_coefs.bonus"),
    ((("learning_rate", 0.0, 1.0),), "conditioning takes reward coefficients"),
    ((("reward_coefs.bonus", 1.0, 1.0),), "empty or inverted range"),
    ((("reward_coefs.bonus", 2.0, 1.0),), "empty or inverted range"),
])
def test_bad_conditions_are_one_line_errors(condition, message):
    with pytest.raises(ConfigError, match=message) as err:
        make_ppo(dataclasses.replace(CONFIG, condition=condition), transform=BONUS)
    assert "\n" not in str(err.value)


TINY = ["--env", "Pendulum-v1", "--reward", "effort", "--num-envs", "4", "--num-steps", "8", "--total-steps", "64",
        "--num-epochs", "1", "--num-minibatches", "2", "--hidden-sizes", "8", "--no-progress", "--no-plot",
        "--eval-episodes", "0"]


@pytest.mark.parametrize("flag", ["reward_coefs.effort=1:0", "reward_coefs.nope=0:1", "reward_coefs.effort=0-1",
                                  "reward_coefs.effort"])
def test_cli_bad_condition_exits_2_with_one_line(flag, tmp_path, capsys):
    assert cli.main(["train", *TINY, "--condition", flag, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("jaxshape: error:"), err


def test_cli_trains_a_conditioned_agent_and_evaluates_it_where_set(tmp_path, capsys):
    run = tmp_path / "run"
    assert cli.main(["train", *TINY, "--condition", "reward_coefs.effort=0:2",
                     "--out", str(run)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert cli.main(["eval", str(run), "--episodes", "2", "--set", "reward_coefs.effort=0.3"]) == 0
    out = capsys.readouterr().out
    assert "reward_coefs.effort = 0.3 (--set)" in out and "mean return per stream: effort" in out
    assert cli.main(["eval", str(run), "--episodes", "2"]) == 0
    assert "reward_coefs.effort = 1 (the middle of 0:2" in capsys.readouterr().out
    assert cli.main(["eval", str(run), "--set", "reward_coefs.extrinsic=1"]) == 2
    assert "this run is conditioned on reward_coefs.effort" in capsys.readouterr().err


def test_eval_set_puts_exactly_that_value_in_every_member():
    from jaxshape.cli.evaluate import conditioned_hparams

    learner = make_ppo(CONFIG, transform=BONUS)
    members = jax.tree.map(lambda x: jnp.stack([x, x]), default_hparams(BONUS))
    hp, lines = conditioned_hparams(learner, members, [("reward_coefs.bonus", 0.3)])
    np.testing.assert_array_equal(hp.reward_coefs["bonus"], np.float32([0.3, 0.3]))
    np.testing.assert_array_equal(hp.reward_coefs["extrinsic"], members.reward_coefs["extrinsic"])
    assert lines == ["reward_coefs.bonus = 0.3 (--set, outside the trained range 0.5:2)"]


def test_resume_compares_condition_flags_with_the_saved_lists():
    import argparse

    from jaxshape.cli.train import _differing

    saved = {"algo": "ppo", "config": {"condition": [["reward_coefs.effort", 0.0, 2.0]]}, "hparams": {}}
    same = argparse.Namespace(algo="ppo", reward_spec="", reward_candidates="", assignments=[], preset=None,
                              condition=[("reward_coefs.effort", 0.0, 2.0)])
    assert _differing(same, [], saved) == []
    other = argparse.Namespace(**{**vars(same), "condition": [("reward_coefs.effort", 0.0, 1.0)]})
    assert [d.split(" ")[0] for d in _differing(other, [], saved)] == ["condition"]
