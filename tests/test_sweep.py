"""Sweeps: the search space, batching with padding, one compilation, outputs, resume and
bad input — on one device (sharding and multi-host: tests/test_sweep_sharding.py)."""

import json
import shutil

import numpy as np
import pytest

from jaxshape import cli, sweep
from jaxshape.algos import PPOConfig, default_hparams
from jaxshape.errors import ConfigError
from jaxshape.run.logs import read_config, read_metrics
from checkpoint_damage import damage

TINY = ["--num-envs", "4", "--num-steps", "8", "--total-steps", str(4 * 8 * 4), "--num-epochs", "1",
        "--num-minibatches", "2", "--hidden-sizes", "8", "--chunk-updates", "2", "--no-progress",
        "--checkpoint-seconds", "0"]


def test_plan_batches_equal_sizes_device_and_process_multiples():
    assert sweep.plan_batches(9, max_batch=5) == (5, 2)  # 10 slots: one padded member
    assert sweep.plan_batches(9) == (9, 1)
    assert sweep.plan_batches(9, max_batch=5, devices=4) == (4, 3)  # 4 | batch size <= max_batch
    assert sweep.plan_batches(9, max_batch=8, fits=4, devices=2, processes=2) == (4, 4)
    assert sweep.plan_batches(3, devices=4, processes=2) == (4, 2)
    with pytest.raises(ConfigError, match="at least 4"):
        sweep.plan_batches(9, max_batch=3, devices=4)


def test_configurations_grid_times_random_and_paths():
    base = default_hparams()
    names = sweep.hparam_names(base)
    assert {"learning_rate", "gamma", "ent_coef", "reward_coefs.extrinsic"} <= set(names)
    spec = sweep.spec_from_dict({"grid": {"learning_rate": [1e-4, 3e-4], "gamma": [0.98, 0.99]},
                                 "random": {"ent_coef": {"log_uniform": [1e-4, 1e-1]}, "num_samples": 3},
                                 "seeds": 2})
    configs = sweep.configurations(spec, base, PPOConfig)
    assert len(configs) == 12 and spec.seeds == (0, 1)
    assert [c["learning_rate"] for c in configs[:6]] == [1e-4] * 6
    ent = np.array([c["ent_coef"] for c in configs])
    assert (ent >= 1e-4).all() and (ent <= 1e-1).all() and len(set(ent)) == 12
    hp = sweep.with_values(base, {"gamma": 0.5, "reward_coefs.extrinsic": 2.0})
    assert float(hp.gamma) == 0.5 and float(hp.reward_coefs["extrinsic"]) == 2.0 and hp.learning_rate == np.float32(2.5e-4)
    assert sweep.iqm(np.array([100.0, 1.0, 2.0, 3.0, 4.0, -50.0, 5.0, 6.0])) == pytest.approx(3.5)


@pytest.mark.parametrize("payload, match", [
    ({"grid": {"learning_rat": [1e-3]}}, r"unknown hyperparameter 'learning_rat': choose from learning_rate, gamma"),
    ({"grid": {"learning_rate": []}}, r"grid 'learning_rate' is empty"),
    ({"grid": {"learning_rate": ["fast"]}}, r"not a number"),
    ({"grid": {"num_envs": [4, 8]}}, r"num_envs is a static setting"),
    ({}, r"the search is empty"),
    ({"random": {"ent_coef": {"log_uniform": [0.1, 0.01]}}, "num_samples": 2}, r"low < high"),
    ({"random": {"ent_coef": {"uniform": [0.0, 0.1]}}}, r"num_samples >= 1"),
])
def test_bad_search_raises_one_line(payload, match):
    with pytest.raises(ConfigError, match=match) as err:
        sweep.configurations(sweep.spec_from_dict(payload), default_hparams(), PPOConfig)
    assert "\n" not in str(err.value)


def test_cli_bad_input_exits_2_without_traceback(capsys, tmp_path):
    for argv, match in ([["--grid", "learning_rate=1e-4,abc"], "are not numbers"],
                        [["--grid", "learning_rate="], "is empty"],
                        [["--grid", "lr=1e-3"], "unknown hyperparameter 'lr'"],
                        [["--num-seeds", "0", "--grid", "gamma=0.9"], "--num-seeds must be a positive"]):
        assert cli.main(["sweep", *TINY, "--out", str(tmp_path / "bad"), *argv]) == 2
        err = capsys.readouterr().err
        assert match in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "bad").exists()


def test_spec_file_of_wrong_types_or_unknown_options_exits_2_in_one_line(capsys, tmp_path):
    """Found by tests/test_fuzz_inputs.py: these were tracebacks (int("x"), JobOptions(bogus=1))."""
    for text, match in (('seed = "x"\n[grid]\ngamma = [0.9]', "sweep key seed must be an integer"),
                        ('grid = [1]', "sweep key grid must be a table"),
                        ('[grid]\ngamma = [0.9]\n[options]\nbogus = 1', "unknown job option(s) bogus"),
                        ('[grid]\ngamma = [0.9]\n[options]\neval_every = "often"', "job option eval_every must be")):
        spec = tmp_path / "sweep.toml"
        spec.write_text(text)
        assert cli.main(["sweep", *TINY, "--config", str(spec), "--out", str(tmp_path / "bad")]) == 2
        err = capsys.readouterr().err
        assert match in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "bad").exists()


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "lr"
    argv = ["sweep", *TINY, "--grid", "learning_rate=3e-2,1e-3,1e-4", "--num-seeds", "3", "--max-batch", "5",
            "--out", str(out)]
    assert cli.main(argv) == 0
    return out


def test_sweep_batches_pad_compile_once_and_write_outputs(swept):
    record = json.loads((swept / "sweep.json").read_text())
    assert record["batch_size"] == 5 and [b["members"] for b in record["batches"]] == [[0, 1, 2, 3, 4],
                                                                                      [5, 6, 7, 8, 0]]
    first, second = (json.loads((swept / f"batch-00{i}" / "summary.json").read_text()) for i in (0, 1))
    # the second batch runs the programs the sweep's driver compiled for the first
    assert first["compile_seconds"] > 0 and second["compile_seconds"] == 0
    assert record["report"]["peak_memory_per_process"][0]["peak_bytes"] > 50 * 2**20

    # each batch folder holds its members' hyperparameters and seeds
    config = read_config(swept / "batch-001")
    np.testing.assert_allclose(config["hparams"]["learning_rate"], [1e-3, 1e-4, 1e-4, 1e-4, 3e-2], rtol=1e-6)
    assert config["seeds"] == [2, 0, 1, 2, 0]

    # the padding member (member 0 again) trains exactly like member 0
    curve = lambda run, m: [r["episode_return_per_seed"][m] for r in read_metrics(swept / run)]  # noqa: E731
    assert curve("batch-001", 4) == curve("batch-000", 0)

    rows = json.loads((swept / "results.json").read_text())["rows"]
    assert [r["learning_rate"] for r in rows] == pytest.approx([3e-2, 1e-3, 1e-4])
    last = read_metrics(swept / "batch-001")[-1]["episode_return_per_seed"]
    assert rows[2]["final_return_per_seed"] == last[1:4]  # members 6, 7, 8
    finals = np.array(rows[2]["final_return_per_seed"], float)
    assert rows[2]["final_return_mean"] == pytest.approx(finals.mean())
    assert rows[2]["final_return_iqm"] == pytest.approx(finals.mean())  # scipy trim_mean(0.25): 3 seeds trim none
    best = json.loads((swept / "best.json").read_text())
    assert best["final_return_iqm"] == max(r["final_return_iqm"] for r in rows)
    header = (swept / "results.csv").read_text().splitlines()[0].split(",")
    assert header[:3] == ["config", "learning_rate", "final_return_mean"] and "auc_iqm" in header
    assert len((swept / "results.csv").read_text().splitlines()) == 4
    import matplotlib.image

    image = matplotlib.image.imread(swept / "sweep_curves.png")
    assert image.shape[0] > 300 and image[..., :3].std() > 0.05


def test_resume_sweep_finishes_an_interrupted_batch_identically(swept, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(swept, copy)
    batch = copy / "batch-001"
    (batch / "summary.json").unlink()  # as if killed after the first chunk
    shutil.rmtree(batch / "checkpoints" / "4")
    for name in ("results.json", "best.json"):
        (copy / name).unlink()
    assert cli.main(["sweep", "--resume", str(copy), "--no-progress"]) == 0
    assert json.loads((batch / "summary.json").read_text())["resumed_from_update"] == 2
    assert read_metrics(batch) == read_metrics(swept / "batch-001")
    assert (json.loads((copy / "results.json").read_text())["rows"]
            == json.loads((swept / "results.json").read_text())["rows"])


def test_a_batch_with_no_readable_checkpoint_stops_the_resume_untouched_until_restart(swept, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(swept, copy)
    batch = copy / "batch-001"
    (batch / "summary.json").unlink()  # interrupted, and every checkpoint damaged
    for checkpoint in (batch / "checkpoints").iterdir():
        damage(checkpoint)
    assert cli.main(["sweep", "--resume", str(copy), "--no-progress"]) == 1
    assert "--restart" in capsys.readouterr().err and not (batch / "discarded_checkpoints").exists()
    assert cli.main(["sweep", "--resume", str(copy), "--restart", "--no-progress"]) == 0
    assert json.loads((batch / "summary.json").read_text())["resumed_from_update"] == 0
    assert sorted(p.name for p in (batch / "discarded_checkpoints").iterdir()) == ["2", "4"]
    assert read_metrics(batch) == read_metrics(swept / "batch-001")  # trained again, the same run
    assert cli.main(["sweep", *TINY, "--restart", "--out", str(tmp_path / "new")]) == 2
    assert "give it with --resume SWEEP_DIR" in capsys.readouterr().err
