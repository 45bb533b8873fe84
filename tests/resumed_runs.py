"""A finished run, resumed by the CLI from an earlier checkpoint: the check that a resume
repeats the run exactly, shared by the tests of the learners' state."""

import shutil

from jaxshape import cli
from jaxshape.run.logs import read_metrics
from jaxshape.run.policy import restore_run


def resumed_from_earlier_checkpoint(run, tmp_path, last_update: int, capsys):
    """Copy the finished `run`, drop its checkpoint at `last_update` and its summary, resume
    the copy with `jaxshape train --resume`, check that its metrics.jsonl equals the
    original's, and return the (resumed, original) final states."""
    stopped = tmp_path / "stopped"
    shutil.copytree(run, stopped)
    shutil.rmtree(stopped / "checkpoints" / str(last_update))
    (stopped / "summary.json").unlink()
    assert cli.main(["train", "--resume", str(stopped), "--no-progress"]) == 0, capsys.readouterr().err
    assert read_metrics(stopped) == read_metrics(run)
    return restore_run(stopped)[2], restore_run(run)[2]
