"""Env options (`make(name, **options)`, a config's `env_options`, `--env-options`): a
field of the env's params is set there, anything else goes to the env's constructor, and
the learners, the evaluation and a resumed run all see the configured env."""

import json
import subprocess
import sys

import jax
import numpy as np
import pytest

from jaxshape.algos import PPOConfig, default_hparams, make_ppo
from jaxshape.envs import make
from jaxshape.envs.registry import parse_options, resolve
from jaxshape.errors import ConfigError
from jaxshape.evaluation import episode_limit


def test_params_fields_are_set_in_the_params_and_the_rest_go_to_the_constructor():
    env, params = make("CartPole-v1", max_steps_in_episode=30, gravity=5.0)
    assert params.max_steps_in_episode == 30 and params.gravity == 5.0
    assert make("CartPole-v1")[1].max_steps_in_episode == 500  # the default is untouched
    _, native = make("PointGoal-v0", max_steps_in_episode=7)
    assert native.max_steps_in_episode == 7
    brax_env, _ = make("brax/inverted_pendulum", episode_length=40)  # a constructor argument
    assert brax_env.episode_length == 40 and episode_limit(brax_env, brax_env.default_params) == 40


def test_options_parse_as_python_literals_and_bad_ones_name_the_fix():
    assert parse_options("max_steps_in_episode=30, gravity=9.5,impl=jax,flag=True") == {
        "max_steps_in_episode": 30, "gravity": 9.5, "impl": "jax", "flag": True}
    assert parse_options("") == {}
    with pytest.raises(ConfigError, match="write key=value"):
        parse_options("max_steps_in_episode")
    with pytest.raises(ConfigError, match="CartPole-v1 takes no option horizon: its params are max_steps_in_episode"):
        make("CartPole-v1", horizon=30)
    with pytest.raises(ConfigError, match="set them on the env you pass"):
        resolve("CartPole-v1", *make("CartPole-v1"), options="max_steps_in_episode=3")


def test_ppo_trains_and_evaluates_on_the_configured_time_limit():
    """CartPole cut to 6 steps: every training episode ends by step 6 (truncated unless
    the pole fell), and the greedy evaluation plays 6-step episodes at most."""
    config = PPOConfig(env_options="max_steps_in_episode=6", num_envs=4, num_steps=16, total_steps=4 * 16 * 3,
                       num_epochs=1, num_minibatches=2, hidden_sizes=(8,))
    ppo = make_ppo(config)
    assert ppo.env_params.max_steps_in_episode == 6
    hp = default_hparams()
    state, metrics = jax.jit(ppo.train)(jax.random.PRNGKey(0), hp)
    lengths = np.asarray(metrics["episode_length"])[np.asarray(metrics["episode_valid"])]
    assert lengths.size and lengths.max() <= 6 and lengths.mean() > 5  # random CartPole lasts ~20 steps
    evaluation = jax.jit(lambda s: ppo.evaluate(s, hp, jax.random.PRNGKey(1), 8))(state)
    assert float(evaluation["eval_length"]) <= 6.0


def test_cli_records_the_options_and_resume_rebuilds_the_same_env(tmp_path):
    out = tmp_path / "run"
    tiny = ["--num-envs", "4", "--num-steps", "16", "--total-steps", "384", "--num-epochs", "1",
            "--num-minibatches", "2", "--hidden-sizes", "8", "--no-progress", "--no-plot", "--chunk-updates", "2",
            "--checkpoint-seconds", "0"]
    command = [sys.executable, "-m", "jaxshape", "train", *tiny, "--env-options", "max_steps_in_episode=6",
               "--out", str(out)]
    assert subprocess.run(command, capture_output=True, text=True, timeout=600).returncode == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["config"]["env_options"] == "max_steps_in_episode=6"
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert max(r["episode_length"] for r in records if r["episode_length"] is not None) <= 6
    evaluated = [r["eval_length"] for r in records if "eval_length" in r]
    assert evaluated and max(evaluated) <= 6

    from jaxshape.run import builder

    learner = builder.build_learner("ppo", saved["config"], saved["reward"])
    assert learner.env_params.max_steps_in_episode == 6  # what --resume rebuilds


@pytest.mark.parametrize("env, option, value, allowed", [
    ("CartPole-v1", "max_steps_in_episode", -5, "a positive integer"),
    ("CartPole-v1", "max_steps_in_episode", 0, "a positive integer"),
    ("CartPole-v1", "max_steps_in_episode", 7.5, "a positive integer"),
    ("CartPole-v1", "max_steps_in_episode", "long", "a positive integer"),
    ("CartPole-v1", "max_steps_in_episode", True, "a positive integer"),
    ("CartPole-v1", "max_steps_in_episode", 2**40, "below 2**31"),
    ("CartPole-v1", "gravity", float("nan"), "a finite number"),
    ("CartPole-v1", "gravity", "strong", "a finite number"),
    ("CartPole-v1", "length", -0.5, "a finite positive number"),
    ("CartPole-v1", "tau", 0.0, "a finite positive number"),
    ("DeepSea-bsuite", "deterministic", 1, "True or False"),
    ("brax/inverted_pendulum", "episode_length", -1, "a positive integer"),
])
def test_an_option_outside_its_domain_is_one_line_naming_it(env, option, value, allowed):
    with pytest.raises(ConfigError) as err:
        make(env, **{option: value})
    message = str(err.value)
    assert "\n" not in message and f"env option {option}={value!r} for {env}" in message and allowed in message


def test_every_gymnax_and_native_default_lies_in_its_domain():
    """The rules reject no env's own settings (an option equal to the default is accepted)."""
    import dataclasses

    import gymnax

    from jaxshape.envs.registry import _NATIVE

    for name in [*gymnax.registered_envs, *_NATIVE]:
        if name == "MNISTBandit-bsuite":  # downloads MNIST
            continue
        _, params = make(name)
        scalars = {f.name: getattr(params, f.name) for f in dataclasses.fields(params)
                   if isinstance(getattr(params, f.name), (bool, int, float))}
        _, again = make(name, **scalars)
        assert {k: getattr(again, k) for k in scalars} == scalars, name
