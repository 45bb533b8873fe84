"""`jaxshape search`: evolution strategies (evosax) over reward parameters. The space's
mapping, the strategies' fitness sign, one compile for every generation, fitness read
from the generation's own run folder, an exact resume after a kill, a parametric reward's
weights searched and rerun by `jaxshape train`, and bad input in one line."""

import json
import shutil

import jax
import numpy as np
import pytest

from jaxshape import cli, search
from jaxshape.algos import default_hparams
from jaxshape.errors import ConfigError
from jaxshape.run.logs import read_config, read_metrics
from jaxshape.sweep.report import auc

TINY = ["--num-envs", "4", "--num-steps", "8", "--total-steps", str(4 * 8 * 4), "--num-epochs", "1",
        "--num-minibatches", "2", "--hidden-sizes", "8", "--chunk-updates", "2", "--no-progress",
        "--checkpoint-seconds", "0", "--eval-episodes", "0"]
LINEAR_REWARD = """
import jax.numpy as jnp
from jaxshape import rewards

# a parametric reward: a linear function of the next observation whose weights are searched
CANDIDATES = {"linear": rewards.term("linear", lambda t, hp: t.next_obs @ hp["weights"],
                                     hparams={"weights": jnp.zeros(4)})}
"""


def test_space_maps_the_unit_box_onto_each_range():
    lin, log = search.parse_param("reward_coefs.extrinsic=0:2"), search.parse_param("learning_rate=1e-4:1e-2:log")
    assert (lin.low, lin.high, lin.log, log.log) == (0.0, 2.0, False, True)
    np.testing.assert_allclose(lin.value(np.array([-0.5, 0.25, 1.7])), [0.0, 0.5, 2.0])  # clipped at the bounds
    np.testing.assert_allclose(log.value(np.array([0.0, 0.5, 1.0])), [1e-4, 1e-3, 1e-2], rtol=1e-12)
    np.testing.assert_allclose(log.unit(log.value(np.array([0.3]))), [0.3])
    space = search.SearchSpace([lin, log], default_hparams())
    # starts at the base values that lie inside their range (extrinsic 1.0; the default lr 2.5e-4)
    np.testing.assert_allclose(space.initial_unit(), [0.5, np.log(2.5) / np.log(100)], rtol=1e-6)
    assert space.values(np.array([1.0, 0.0])) == {"reward_coefs.extrinsic": 2.0, "learning_rate": pytest.approx(1e-4)}


def test_strategies_maximise_our_fitness():
    """evosax minimises; ours is maximised: a quadratic fitness peaked at 0.8 must pull
    every strategy's mean from 0.2 towards it. A NaN fitness counts as the worst."""
    for name in search.STRATEGIES:
        strategy = search.make_strategy(name, 8, np.array([0.2], np.float32), sigma=0.2, learning_rate=0.05)
        state = strategy.init(jax.random.PRNGKey(0))
        for g in range(15):
            population, state = strategy.ask(jax.random.PRNGKey(2 * g + 1), state)
            fitness = -((population[:, 0] - 0.8) ** 2)
            fitness[0] = np.nan
            state = strategy.tell(jax.random.PRNGKey(2 * g + 2), population, fitness, state)
        assert abs(strategy.mean(state)[0] - 0.8) < 0.25, name


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    out = tmp_path_factory.mktemp("search") / "es"
    argv = ["search", *TINY, "--param", "learning_rate=1e-4:3e-2:log", "--param", "reward_coefs.extrinsic=0.5:2",
            "--population", "4", "--generations", "3", "--seeds-per-member", "2", "--fitness", "auc", "--out", str(out)]
    assert cli.main(argv) == 0
    return out


def test_each_generation_trains_its_population_in_one_compiled_call(searched):
    lines = [json.loads(line) for line in (searched / "generations.jsonl").read_text().splitlines()]
    assert [r["generation"] for r in lines] == [0, 1, 2]
    summaries = [json.loads((searched / r["run_dir"] / "summary.json").read_text()) for r in lines]
    assert summaries[0]["compile_seconds"] > 0 and [s["compile_seconds"] for s in summaries[1:]] == [0.0, 0.0]
    assert all(s["num_members"] == 8 for s in summaries)  # 4 members x 2 seeds in one vmapped run
    for record in lines:
        run = searched / record["run_dir"]
        config = read_config(run)
        # member m's parameters are in the run's hparams, once per seed; seeds shared by the members
        lr = np.repeat([p["learning_rate"] for p in record["params"]], 2)
        np.testing.assert_allclose(config["hparams"]["learning_rate"], lr, rtol=1e-6)
        assert config["seeds"] == [2 * record["generation"], 2 * record["generation"] + 1] * 4
        # fitness: the area under each run's return curve, averaged over the member's seeds
        records = read_metrics(run)
        steps = np.array([r["step"] for r in records], float)
        curves = np.array([[np.nan if v is None else v for v in r["episode_return_per_seed"]] for r in records]).T
        expected = np.array([auc(steps, c) for c in curves]).reshape(4, 2).mean(axis=1)
        np.testing.assert_allclose(record["fitness"], expected, rtol=1e-9)
        assert record["best_fitness"] == max(record["fitness"])
    assert not (searched / lines[0]["run_dir"] / "checkpoints").exists()  # only the newest keeps its checkpoints
    best = json.loads((searched / "best.json").read_text())
    assert best["best_fitness"] == max(r["best_fitness"] for r in lines) and best["generations_done"] == 3
    assert best["train_command"][:2] == ["jaxshape", "train"] and "--set" in best["train_command"]
    import matplotlib.image

    image = matplotlib.image.imread(searched / "search_fitness.png")
    assert image.shape[0] > 400 and image[..., :3].std() > 0.05


def test_a_killed_search_resumes_to_the_same_next_generation(searched, tmp_path):
    """As a kill during generation 3 leaves it: two generations told and saved, the third's
    run folder at its first checkpoint, no summary. The resumed third generation, the
    strategy's state and best.json equal the uninterrupted search's."""
    copy = tmp_path / "killed"
    shutil.copytree(searched, copy)
    lines = (copy / "generations.jsonl").read_text().splitlines()
    (copy / "generations.jsonl").write_text("\n".join(lines[:2]) + "\n")
    shutil.rmtree(copy / "es_state" / "3")
    third = copy / "generations" / "gen-0002"
    (third / "summary.json").unlink()
    shutil.rmtree(third / "checkpoints" / "4")  # its last checkpoint was not written yet
    (copy / "best.json").unlink()
    assert cli.main(["search", "--resume", str(copy), "--no-progress"]) == 0
    assert json.loads((third / "summary.json").read_text())["resumed_from_update"] == 2
    resumed = [json.loads(line) for line in (copy / "generations.jsonl").read_text().splitlines()]
    original = [json.loads(line) for line in lines]
    drop = ("seconds", "compile_seconds")
    assert [{k: v for k, v in r.items() if k not in drop} for r in resumed] == [
        {k: v for k, v in r.items() if k not in drop} for r in original]
    assert json.loads((copy / "best.json").read_text()) == json.loads((searched / "best.json").read_text())


def test_a_parametric_rewards_weights_are_searched_and_rerun_by_train(tmp_path, capsys):
    """A linear reward term declared in a file: its weight vector is 4 coordinates of the
    search, and best.json's command trains exactly the best member's weights."""
    reward = tmp_path / "linear.py"
    reward.write_text(LINEAR_REWARD)
    out = tmp_path / "es"
    assert cli.main(["search", *TINY, "--reward-candidates", str(reward), "--param", "reward.linear.weights=-1:1",
                     "--set", "reward_coefs.linear=0.5", "--strategy", "cma_es", "--population", "4",
                     "--generations", "1", "--out", str(out)]) == 0
    trained = read_config(out / "generations" / "gen-0000")["hparams"]["reward_coefs"]["linear"]
    assert trained == [0.5] * 4  # held fixed for every member
    best = json.loads((out / "best.json").read_text())
    weights = best["params"]["reward.linear.weights"]
    assert len(weights) == 4 and all(-1 <= w <= 1 for w in weights)
    command = best["train_command"]
    assert command[:2] == ["jaxshape", "train"]
    assert cli.main([*command[1:], "--out", str(tmp_path / "rerun"), "--no-progress", "--eval-episodes", "0"]) == 0
    saved = read_config(tmp_path / "rerun")["hparams"]
    np.testing.assert_allclose(saved["reward"]["linear"]["weights"][0], weights, rtol=1e-5)
    assert saved["reward_coefs"]["linear"] == [0.5]


def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path):
    out = tmp_path / "bad"
    for argv, match in ([["--param", "reward_coefs.effort=0:1"], "unknown hyperparameter 'reward_coefs.effort'"],
                        [["--param", "learning_rate=1:1"], "is empty"],
                        [["--param", "learning_rate=0:1e-3:log"], "needs LOW > 0"],
                        [["--param", "learning_rate"], "expects NAME=LOW:HIGH"],
                        [["--param", "num_envs=1:8"], "static setting"],
                        [["--param", "gamma=0.9:0.99", "--population", "5"], "even --population"],
                        [["--param", "gamma=0.9:0.99", "--fitness", "eval_return"], "--eval-episodes"],
                        [["--param", "gamma=0.9:0.99", "--fitness", "success"], "reports info['is_success']"],
                        [[], "nothing to search"]):
        assert cli.main(["search", *TINY, "--out", str(out), *argv]) == 2
        err = capsys.readouterr().err
        assert match in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()
    param = (search.parse_param("gamma=0.9:0.99"),)
    for fixed, match in (({"reward.index": 1}, "unknown hyperparameter 'reward.index'"),
                         ({"reward_coefs": {"extrinsic": "high"}}, "not a finite number")):
        with pytest.raises(ConfigError, match=match):
            search.run_search(search.SearchSpec(params=param, hparams=fixed), out)
    with pytest.raises(ConfigError, match="not a jaxshape search folder"):
        search.resume_search(tmp_path)


TWO_DEVICES = """
import os, sys
os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
import json, jax
from jaxshape import cli
assert len(jax.devices()) == 2
tiny = {tiny!r}
out = {out!r}
odd = cli.main(["search", *tiny, "--param", "gamma=0.9:0.99", "--strategy", "snes", "--population", "3",
                "--out", out + "/odd"])
es = cli.main(["search", *tiny, "--param", "gamma=0.9:0.99", "--population", "4", "--generations", "2",
               "--out", out + "/es"])
pbt = cli.main(["sweep", *tiny, "--grid", "learning_rate=1e-4,1e-3,1e-2,3e-2", "--pbt", "--out", out + "/pbt"])
print("RESULT" + json.dumps([odd, es, pbt]))
"""


def test_population_and_pbt_are_sharded_over_two_devices(tmp_path):
    """With 2 (forced) CPU devices: a population that does not split evenly is one line,
    exit 2; an ES generation and a PBT sweep run their members sharded (the PBT step's
    output goes back onto the members sharding the compiled chunk expects)."""
    import subprocess
    import sys

    code = TWO_DEVICES.format(tiny=TINY, out=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.split("RESULT", 1)[1]) == [2, 0, 0]
    assert "cannot be split evenly over 2 devices" in done.stderr
    assert len((tmp_path / "es" / "generations.jsonl").read_text().splitlines()) == 2
    assert (tmp_path / "pbt" / "pbt_events.jsonl").exists()  # the boundary ran; whether a member copied is chance
    assert json.loads((tmp_path / "pbt" / "sweep.json").read_text())["devices_per_process"] == 2
