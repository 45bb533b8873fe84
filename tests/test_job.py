"""Long runs: checkpoints, exact resume, SIGKILL, damaged checkpoints, NaN guard, logs,
plots and policy export — all on real files in a temporary folder."""

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

import jaxshape
from jaxshape.run import job
from jaxshape.algos import PPOConfig, default_hparams, make_ppo
from jaxshape.run.checkpoints import Checkpoints
from jaxshape.run.policy import restore_run
from jaxshape.run.logs import read_metrics
from checkpoint_damage import damage

CONFIG = PPOConfig(num_envs=4, num_steps=16, total_steps=4 * 16 * 6, num_epochs=1, num_minibatches=2,
                   hidden_sizes=(16, 16))
OPTIONS = job.JobOptions(chunk_updates=2, eval_every=1, eval_episodes=3, progress=False, checkpoint_seconds=0)
CLI_TINY = ["--num-envs", "4", "--num-steps", "16", "--num-epochs", "1", "--num-minibatches", "2",
            "--hidden-sizes", "16,16", "--chunk-updates", "1", "--eval-every", "3", "--eval-episodes", "2",
            "--no-progress", "--no-plot", "--num-seeds", "2", "--checkpoint-seconds", "0"]


def train(out, **overrides):
    learner = make_ppo(CONFIG)
    options = job.JobOptions(**{**OPTIONS.__dict__, **overrides})
    return job.train("ppo", learner, default_hparams(learning_rate=1e-3), num_seeds=2, out_dir=out, options=options)


def final_params(run_dir):
    _, _, states, _ = restore_run(run_dir)
    return states.params


def comparable(records):
    return [{k: v for k, v in r.items()} for r in records]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("job") / "full"
    train(out)
    return out


def test_run_folder_has_checkpoints_logs_events_and_plot(full_run):
    assert sorted(int(p.name) for p in (full_run / "checkpoints").iterdir() if p.name.isdigit()) == [2, 4, 6]
    records = read_metrics(full_run)
    assert [r["step"] for r in records] == [64 * i for i in range(1, 7)]
    evals = [r for r in records if "eval_return" in r]
    assert [r["step"] for r in evals] == [128, 256, 384]  # evaluated after every chunk
    assert all(len(r["eval_return_per_seed"]) == 2 for r in evals)
    summary = json.loads((full_run / "summary.json").read_text())
    assert summary["final_eval_return_per_seed"] == evals[-1]["eval_return_per_seed"]

    # a real TensorBoard event file: TFRecord frames of Event protos with our scalars
    from tensorboardX.proto import event_pb2

    (events_file,) = (full_run / "tb").glob("events.out.tfevents.*")
    data, scalars, offset = events_file.read_bytes(), {}, 0
    while offset < len(data):
        (length,) = struct.unpack("<Q", data[offset:offset + 8])
        event = event_pb2.Event.FromString(data[offset + 12: offset + 12 + length])
        scalars.update({(v.tag, event.step): v.simple_value for v in event.summary.value})
        offset += 12 + length + 4
    assert {"episode_return", "loss_total", "eval_return"} <= {tag for tag, _ in scalars}
    for record in records:  # every logged scalar of every update, at its step (float32 in the event)
        for name, value in record.items():
            if name != "step" and isinstance(value, float):
                assert scalars[name, record["step"]] == pytest.approx(value, rel=1e-6), (name, record["step"])

    import matplotlib.image

    image = matplotlib.image.imread(full_run / "learning_curves.png")
    assert image.shape[0] > 200 and image.shape[1] > 400 and image[..., :3].std() > 0.05


def test_resume_from_any_chunk_boundary_is_bitwise_equal(full_run, tmp_path):
    for boundary in (2, 4):
        stopped = tmp_path / f"stopped_at_{boundary}"
        shutil.copytree(full_run, stopped)
        for checkpoint in (stopped / "checkpoints").iterdir():
            if checkpoint.name.isdigit() and int(checkpoint.name) > boundary:
                shutil.rmtree(checkpoint)  # as if the process stopped right after `boundary`
        summary = job.resume(stopped, progress=False)
        assert summary["resumed_from_update"] == boundary
        assert comparable(read_metrics(stopped)) == comparable(read_metrics(full_run))
        jax.tree.map(np.testing.assert_array_equal, final_params(stopped), final_params(full_run))


def test_damaged_latest_checkpoint_falls_back_to_the_previous(full_run, tmp_path):
    run = tmp_path / "damaged"
    shutil.copytree(full_run, run)
    damage(run / "checkpoints" / "6")  # every data file of the newest checkpoint
    with pytest.warns(UserWarning, match="update 6 is unreadable"):
        summary = job.resume(run, progress=False)
    assert summary["resumed_from_update"] == 4
    jax.tree.map(np.testing.assert_array_equal, final_params(run), final_params(full_run))


def test_only_the_last_n_checkpoints_are_kept(tmp_path):
    train(tmp_path / "keep", keep_checkpoints=2, chunk_updates=1, eval_every=0, plot=False)
    assert sorted(int(p.name) for p in (tmp_path / "keep" / "checkpoints").iterdir() if p.name.isdigit()) == [5, 6]


def test_checkpoints_are_spaced_in_time_and_the_last_chunk_always_saves(tmp_path):
    train(tmp_path / "spaced", checkpoint_seconds=3600, plot=False)  # the run takes seconds
    assert Checkpoints(tmp_path / "spaced" / "checkpoints").updates() == [6]
    assert [r["step"] for r in read_metrics(tmp_path / "spaced")] == [64 * i for i in range(1, 7)]


def test_nan_stops_the_run_with_the_update_and_keeps_good_checkpoints(tmp_path):
    learner = make_ppo(CONFIG)
    poisoned = default_hparams(learning_rate=1e30, max_grad_norm=1e30)  # parameters overflow at once
    with pytest.raises(job.TrainingDiverged, match=r"NaN or inf at update \d+"):
        job.train("ppo", learner, poisoned, num_seeds=1, out_dir=tmp_path / "nan",
                  options=job.JobOptions(chunk_updates=1, progress=False, plot=False, checkpoint_seconds=0))
    kept = Checkpoints(tmp_path / "nan" / "checkpoints").updates()
    assert kept == []  # the diverged state was never saved


def test_load_policy_acts_like_the_trained_learner(full_run):
    act = jax.jit(jaxshaped_policy := jaxshape.load_policy(full_run, member=1))
    learner, _, states, _ = restore_run(full_run)
    obs = jax.random.normal(jax.random.PRNGKey(0), (32, 4))
    expected = learner.act(jax.tree.map(lambda x: x[1], states), obs, jax.random.PRNGKey(1), deterministic=True)
    np.testing.assert_array_equal(act(obs, jax.random.PRNGKey(1)), expected)
    assert callable(jaxshaped_policy)


def _cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "jaxshape", *args], capture_output=True, text=True, **kwargs)


def test_sigkill_mid_run_loses_at_most_the_current_chunk(tmp_path):
    steps = ["--total-steps", str(64 * 20)]
    reference = tmp_path / "reference"
    assert _cli("train", *CLI_TINY, *steps, "--out", str(reference), timeout=600).returncode == 0

    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "jaxshape", "train", *CLI_TINY, *steps, "--out", str(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline:
        done = [int(p.name) for p in (killed / "checkpoints").glob("*") if p.name.isdigit()]
        if done and max(done) >= 7:  # not a multiple of the evaluation period
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    saved = Checkpoints(killed / "checkpoints").updates()
    assert saved and max(saved) < 20, "the run finished before it could be killed"
    lines_at_kill = len(read_metrics(killed))
    assert lines_at_kill <= max(saved) + 2  # nothing beyond the chunk in flight

    result = _cli("train", "--resume", str(killed), "--no-progress", timeout=600)
    assert result.returncode == 0, result.stderr
    assert comparable(read_metrics(killed)) == comparable(read_metrics(reference))
    jax.tree.map(np.testing.assert_array_equal, final_params(killed), final_params(reference))


def test_resume_with_different_static_config_is_refused(full_run):
    result = _cli("train", "--resume", str(full_run), "--num-envs", "8", "--num-epochs", "3", timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "num_envs (4 -> 8)" in result.stderr and "num_epochs (1 -> 3)" in result.stderr


def test_resume_of_an_older_run_refuses_a_setting_its_config_lacks(full_run, tmp_path, capsys):
    """A run saved before a setting existed was built with its default: asking for another
    value on resume is refused, not silently ignored."""
    from jaxshape import cli

    older = tmp_path / "older"
    shutil.copytree(full_run, older)
    saved = json.loads((older / "config.json").read_text())
    del saved["config"]["matmul_dtype"]
    (older / "config.json").write_text(json.dumps(saved))
    assert cli.main(["train", "--resume", str(older), "--matmul-dtype", "bfloat16", "--no-progress"]) == 2
    assert "matmul_dtype (float32 -> bfloat16)" in capsys.readouterr().err


def test_eval_and_plot_commands(full_run, tmp_path):
    result = _cli("eval", str(full_run), "--episodes", "4", timeout=300)
    assert result.returncode == 0, result.stderr
    assert "greedy return over 4 episodes per member" in result.stdout
    out = tmp_path / "compare.png"
    result = _cli("plot", str(full_run), str(full_run), "--out", str(out), timeout=300)
    assert result.returncode == 0 and out.stat().st_size > 10_000
    bad = _cli("plot", str(tmp_path / "missing"), timeout=300)
    assert bad.returncode == 2 and "not a jaxshape run folder" in bad.stderr
