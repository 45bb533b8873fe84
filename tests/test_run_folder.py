"""Nothing lost across versions and failures, through `jaxshape train` itself: a run folder
in another checkpoint format is refused untouched (exit 2), a run whose every checkpoint
is unreadable stops untouched (exit 1) until `--restart`, a damaged last checkpoint falls
back with one warning line, a checkpoint that cannot be written and a diverging run stop
with one line (exit 1), and a resume replaces only the metrics lines after the restored
update."""

import hashlib
import json
import os
import shutil
import shlex
import subprocess
import sys
import time

import pytest

from jaxshape import cli
from jaxshape.run.checkpoints import CHECKPOINT_FORMAT, FORMAT_FILE, Checkpoints
from jaxshape.run.logs import RunLog
from checkpoint_damage import damage

TINY = ["--num-envs", "4", "--num-steps", "16", "--total-steps", "384", "--num-epochs", "1",
        "--num-minibatches", "2", "--hidden-sizes", "8", "--chunk-updates", "2", "--checkpoint-seconds", "0",
        "--eval-episodes", "0", "--no-progress", "--no-plot"]


def jaxshape(capsys, *args):
    """(exit status, stderr lines) of `jaxshape ARGS` run in this process."""
    capsys.readouterr()
    status = cli.main(list(args))
    return status, [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def snapshot(run_dir):
    """Every file of the folder and its bytes' digest."""
    return {str(p.relative_to(run_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run_dir.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run_folder") / "run"
    assert cli.main(["train", *TINY, "--out", str(out)]) == 0
    assert sorted(p.name for p in (out / "checkpoints").iterdir() if p.name.isdigit()) == ["2", "4", "6"]
    return out


def copy(run, tmp_path, name="copy"):
    target = tmp_path / name
    shutil.copytree(run, target)
    return target


def test_config_and_each_checkpoint_record_the_format_and_version(run):
    saved = json.loads((run / "config.json").read_text())
    assert saved["checkpoint_format"] == CHECKPOINT_FORMAT and saved["jaxshape_version"]
    beside = json.loads((run / "checkpoints" / "6" / FORMAT_FILE).read_text())
    assert beside == {"checkpoint_format": CHECKPOINT_FORMAT, "jaxshape_version": saved["jaxshape_version"]}


def test_a_folder_of_the_previous_format_is_refused_untouched(run, tmp_path, capsys):
    old = copy(run, tmp_path)
    saved = json.loads((old / "config.json").read_text())
    del saved["checkpoint_format"], saved["jaxshape_version"]  # what the previous release wrote
    (old / "config.json").write_text(json.dumps(saved))
    before = snapshot(old)
    status, lines = jaxshape(capsys, "train", "--resume", str(old), "--no-progress")
    assert status == 2 and len(lines) == 1, lines
    assert "written by a jaxshape release from before format versions in checkpoint format 1" in lines[0]
    assert f"which reads format {CHECKPOINT_FORMAT} only" in lines[0] and "--out" in lines[0]
    assert snapshot(old) == before


def test_a_checkpoint_naming_another_format_is_refused_not_set_aside(run, tmp_path, capsys):
    other = copy(run, tmp_path)
    (other / "checkpoints" / "6" / FORMAT_FILE).write_text(
        json.dumps({"checkpoint_format": CHECKPOINT_FORMAT + 1, "jaxshape_version": "9.9"}))
    (other / "summary.json").unlink()
    before = snapshot(other)
    status, lines = jaxshape(capsys, "train", "--resume", str(other), "--no-progress")
    assert status == 2 and len(lines) == 1 and "written by jaxshape 9.9 in checkpoint format 3" in lines[0], lines
    assert snapshot(other) == before and not (other / "damaged_checkpoints").exists()


def test_every_checkpoint_unreadable_stops_untouched_until_restart(run, tmp_path, capsys):
    broken = copy(run, tmp_path)
    (broken / "summary.json").unlink()
    for checkpoint in (broken / "checkpoints").iterdir():
        damage(checkpoint)
    before = snapshot(broken)
    status, lines = jaxshape(capsys, "train", "--resume", str(broken), "--no-progress")
    assert status == 1 and len(lines) == 1, lines
    assert "none of the 3 checkpoints" in lines[0] and "--restart" in lines[0]
    assert snapshot(broken) == before  # nothing moved, metrics.jsonl byte for byte

    status, lines = jaxshape(capsys, "train", "--resume", str(broken), "--no-progress", "--restart")
    assert status == 0, lines
    assert sorted(p.name for p in (broken / "discarded_checkpoints").iterdir()) == ["2", "4", "6"]
    assert (broken / "metrics.jsonl").read_text().count("\n") == 6
    assert json.loads((broken / "summary.json").read_text())["resumed_from_update"] == 0


def test_restart_without_resume_is_bad_input(tmp_path, capsys):
    status, lines = jaxshape(capsys, "train", *TINY, "--restart", "--out", str(tmp_path / "new"))
    assert status == 2 and len(lines) == 1 and "--resume RUN_DIR" in lines[0]
    assert not (tmp_path / "new").exists()


def test_a_damaged_last_checkpoint_falls_back_with_one_warning_line(run, tmp_path, capsys):
    resumed = copy(run, tmp_path)
    (resumed / "summary.json").unlink()
    damage(resumed / "checkpoints" / "6")
    earlier = {name: digest for name, digest in snapshot(resumed).items() if name.startswith("checkpoints/2/")}
    metrics = (resumed / "metrics.jsonl").read_bytes().splitlines(keepends=True)
    status, lines = jaxshape(capsys, "train", "--resume", str(resumed), "--no-progress")
    assert status == 0 and len(lines) == 1 and "update 6 is unreadable" in lines[0], lines
    assert lines[0].startswith("jaxshape: warning:")
    after = (resumed / "metrics.jsonl").read_bytes().splitlines(keepends=True)
    assert after[:4] == metrics[:4] and len(after) == 6  # updates 1-4 kept byte for byte, 5-6 redone
    assert {n: d for n, d in snapshot(resumed).items() if n.startswith("checkpoints/2/")} == earlier
    assert (resumed / "damaged_checkpoints" / "6").is_dir()


def test_a_checkpoint_that_cannot_be_written_stops_with_one_line(tmp_path, capsys):
    out = tmp_path / "blocked"
    out.mkdir()
    (out / "checkpoints").write_text("a file where the checkpoints folder must be\n")
    status, lines = jaxshape(capsys, "train", *TINY, "--out", str(out))
    assert status == 1 and len(lines) == 1, lines
    assert lines[0].startswith("jaxshape: training stopped: cannot write the checkpoint of update 2")
    assert (out / "checkpoints").read_text().startswith("a file")
    assert json.loads((out / "config.json").read_text())["checkpoint_format"] == CHECKPOINT_FORMAT


def test_a_resumed_run_whose_checkpoint_cannot_be_written_keeps_the_earlier_ones(run, tmp_path):
    """A real write failure, even for root: files may not grow past 4096 bytes (orbax's
    checkpoint metadata is about 5000), in a process of its own (`ulimit -f`; an ignored
    SIGXFSZ makes the write fail with EFBIG instead of killing the process). The write
    cut short leaves orbax's temporary folder, which the next resume removes and a reader leaves."""
    if shutil.which("bash") is None:
        pytest.skip("needs bash for ulimit")
    stopped = copy(run, tmp_path)
    (stopped / "summary.json").unlink()
    for update in ("4", "6"):  # as if stopped after update 2
        shutil.rmtree(stopped / "checkpoints" / update)
    earlier = snapshot(stopped / "checkpoints" / "2")
    metrics = (stopped / "metrics.jsonl").read_bytes().splitlines(keepends=True)
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}  # no cache entries to write
    command = (f"ulimit -f 4; trap '' XFSZ; exec {shlex.quote(sys.executable)} -m jaxshape train "
               f"--resume {shlex.quote(str(stopped))} --no-progress --no-compile-cache")
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=env, timeout=600)
    lines = result.stderr.splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert lines[0].startswith("jaxshape: training stopped: cannot write the checkpoint of update 4")
    assert snapshot(stopped / "checkpoints" / "2") == earlier
    assert (stopped / "metrics.jsonl").read_bytes().splitlines(keepends=True)[:2] == metrics[:2]
    left = sorted(p.name for p in (stopped / "checkpoints").iterdir())
    assert left[0] == "2" and left[1].startswith("4.orbax-checkpoint-tmp") and len(left) == 2, left
    Checkpoints(stopped / "checkpoints").close()  # a reader (jaxshape eval): it may be a write in flight
    time.sleep(1)
    assert sorted(p.name for p in (stopped / "checkpoints").iterdir()) == left
    Checkpoints(stopped / "checkpoints", owner=True).close()  # a resume: orbax removes it on a thread
    deadline = time.monotonic() + 30
    while len(list((stopped / "checkpoints").iterdir())) > 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(p.name for p in (stopped / "checkpoints").iterdir()) == ["2"]


def test_a_diverging_run_stops_with_one_line_and_no_bad_checkpoint(tmp_path, capsys):
    out = tmp_path / "nan"
    status, lines = jaxshape(capsys, "train", *TINY, "--learning-rate", "1e30", "--max-grad-norm", "1e30",
                             "--out", str(out))
    assert status == 1 and len(lines) == 1 and "NaN or inf at update" in lines[0], lines
    assert not any(p.name.isdigit() for p in (out / "checkpoints").iterdir())
    assert (out / "config.json").exists()


def test_reopen_replaces_only_the_lines_after_the_restored_step(tmp_path):
    log = RunLog(tmp_path)
    lines = [b'{"step": 64, "x": 0.10000000000000001}\n', b'{"step": 128,  "x": 1}\n',
             b'{"step": 192, "x": 2}\n', b'{"step": 256, "x": 3}\n', b'{"step": 32']  # odd spacing, torn tail
    (tmp_path / "metrics.jsonl").write_bytes(b"".join(lines))
    (tmp_path / "config.json").write_text("{}")  # a run folder always has one (its logger is read from it)
    log.reopen(keep_through_step=128)
    log.close()
    assert (tmp_path / "metrics.jsonl").read_bytes() == b"".join(lines[:2])
    assert log.last == {"step": 128, "x": 1}
