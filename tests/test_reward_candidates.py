"""Reward candidates as a sweep axis: four PointGoal-v0 reward functions x two seeds
train from ONE compile (`jaxshape sweep --reward-candidates FILE.py`), and
candidates.json ranks them by the env's extrinsic return with per-term statistics."""

import json
import re
import subprocess
import sys
import textwrap

import pytest

from jaxshape import cli
from jaxshape.errors import ConfigError
from jaxshape.run import builder
from xla_settings import product_env

CANDIDATES = textwrap.dedent("""
    import jax.numpy as jnp
    from jaxshape import rewards

    def distance(obs):
        return jnp.linalg.norm(obs[:, 0:2] - obs[:, 2:4], axis=-1)

    CANDIDATES = {
        "toward_goal": rewards.term("toward", lambda t, hp: -distance(t.next_obs)),   # right
        "away_from_goal": rewards.term("away", lambda t, hp: distance(t.next_obs)),   # sign-flipped
        "sparse": rewards.identity(),                                                 # the env's reward only
        "speed": rewards.term("speed", lambda t, hp: jnp.linalg.norm(t.action, axis=-1)),  # can be gamed
    }
""")


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    folder = tmp_path_factory.mktemp("candidates")
    (folder / "candidates.py").write_text(CANDIDATES)
    argv = ["sweep", "--env", "PointGoal-v0", "--reward-candidates", str(folder / "candidates.py"), "--num-seeds", "2",
            "--total-steps", "131072", "--num-envs", "16", "--num-steps", "64", "--num-epochs", "4",
            "--num-minibatches", "4", "--grid", "learning_rate=1e-3", "--out", str(folder / "sweep"), "--no-progress"]
    # a learning run: compiled as the product compiles it (tests/xla_settings.py), in its own process
    done = subprocess.run([sys.executable, "-m", "jaxshape", *argv], capture_output=True, text=True, env=product_env(),
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return folder / "sweep"


def test_candidates_train_from_one_compile_and_rank_in_the_right_order(swept):
    record = json.loads((swept / "sweep.json").read_text())
    assert len(record["batches"]) == 1 and record["batch_size"] == 8  # 4 candidates x 2 seeds, one program
    ranked = json.loads((swept / "candidates.json").read_text())["candidates"]
    order = [c["name"] for c in ranked]
    assert order[0] == "toward_goal" and ranked[0]["fitness_iqm"] > ranked[1]["fitness_iqm"] + 10
    assert order.index("sparse") < order.index("away_from_goal") and order.index("sparse") < order.index("speed")


def test_candidate_report_shows_which_terms_track_the_task(swept):
    ranked = {c["name"]: c for c in json.loads((swept / "candidates.json").read_text())["candidates"]}
    assert set(ranked["sparse"]["terms"]) == {"extrinsic"}
    toward, speed = ranked["toward_goal"]["terms"]["toward"], ranked["speed"]["terms"]["speed"]
    assert set(ranked["speed"]["terms"]) == {"extrinsic", "speed"}
    assert toward["corr_with_fitness"] > 0.3  # getting closer is solving the task
    assert speed["share"] > 0.3 and speed["corr_with_fitness"] < 0.1  # collected without solving it
    shares = [t["share"] for t in ranked["speed"]["terms"].values()]
    assert sum(shares) == pytest.approx(1.0)
    # PointGoal reports info["is_success"]: every candidate has a success rate, the right one the highest
    assert max(ranked, key=lambda n: ranked[n]["success_iqm"]) == "toward_goal"
    assert ranked["toward_goal"]["success_iqm"] > 0.1 and ranked["sparse"]["eval_return_iqm"] is not None


def test_bad_candidates_file_is_one_line(tmp_path):
    (tmp_path / "none.py").write_text("X = 1\n")
    with pytest.raises(ConfigError, match="must define CANDIDATES"):
        builder.load_candidates(str(tmp_path / "none.py"))
    with pytest.raises(ConfigError, match="does not exist"):
        builder.load_candidates(str(tmp_path / "missing.py"))
    with pytest.raises(ConfigError, match="either a reward spec or reward candidates"):
        builder.build("ppo", {"env": "CartPole-v1"}, "rnd", str(tmp_path / "none.py"))


CARTPOLE_CANDIDATES = textwrap.dedent("""
    import jax.numpy as jnp
    from jaxshape import rewards
    from jaxshape.rewards.base import RewardTransform, no_state

    def report(state, batch, key, hp):  # a candidate's own metrics, a float and an int
        return state, {"loss": jnp.float32(0.25), "visits": jnp.int32(7)}

    CANDIDATES = {
        "plain": rewards.identity(),
        "x10": rewards.scale("extrinsic", 10.0),
        "counted": RewardTransform(no_state, lambda s, t, r, hp: (r, s), report, name="counted"),
    }
""")


def tiny_sweep(folder, *extra):
    return ["sweep", "--env", "CartPole-v1", "--reward-candidates", str(folder / "candidates.py"), "--total-steps",
            "1024", "--num-envs", "4", "--num-steps", "32", "--num-epochs", "1", "--num-minibatches", "1",
            "--eval-episodes", "0", "--out", str(folder / "sweep"), "--no-progress", *extra]


@pytest.fixture(scope="module")
def cartpole(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cartpole_candidates")
    (folder / "candidates.py").write_text(CARTPOLE_CANDIDATES)
    assert cli.main(tiny_sweep(folder, "--grid", "learning_rate=1e-3")) == 0
    return folder


def test_extrinsic_row_is_the_candidates_own_stream(cartpole):
    """`scale("extrinsic", 10)` trains on 10x the env return: the learner logs that stream
    (episode_reward/extrinsic) and the report reads it, not the env return."""
    from jaxshape.run.logs import read_metrics

    last = read_metrics(cartpole / "sweep" / "batch-000")[-1]
    env, stream = last["episode_return_per_seed"], last["episode_reward/extrinsic_per_seed"]
    assert stream == pytest.approx([env[0], 10 * env[1], env[2]], rel=1e-5)
    rows = {c["name"]: c for c in json.loads((cartpole / "sweep" / "candidates.json").read_text())["candidates"]}
    assert rows["x10"]["terms"]["extrinsic"]["mean"] == pytest.approx(10 * rows["x10"]["return_iqm"], rel=1e-5)
    assert rows["x10"]["terms"]["extrinsic"]["rate"] == pytest.approx(10.0, rel=1e-5)  # CartPole pays 1 a step


def test_candidate_metrics_average_over_the_members_that_selected_it(cartpole):
    """Every batch mixes candidates: their own metrics must not be NaN- or INT_MIN-padded."""
    from jaxshape.run.logs import read_metrics

    for line in read_metrics(cartpole / "sweep" / "batch-000"):
        assert line["transform/counted/loss"] == 0.25 and line["transform/counted/visits"] == 7
        assert line["transform/counted/selected"] == pytest.approx(1 / 3)


@pytest.mark.parametrize("flags, message", [
    (["--grid", "reward.index=0,3"], r"reward.index \[3.0\] names no candidate: there are 3"),
    (["--grid", "reward.index=0.5"], "names no candidate"),
    (["--fitness", "success"], r"needs an env that reports info\['is_success'\]; 'CartPole-v1' does not"),
])
def test_unusable_candidate_sweeps_are_refused_before_training(tmp_path, capsys, flags, message):
    (tmp_path / "candidates.py").write_text(CARTPOLE_CANDIDATES)
    assert cli.main(tiny_sweep(tmp_path, *flags)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(message, err)
    assert not (tmp_path / "sweep").exists()
