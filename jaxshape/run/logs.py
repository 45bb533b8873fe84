"""The run folder's logs: `config.json`, `metrics.jsonl`, TensorBoard events, `summary.json`.

Metrics arrive stacked as [members, updates]; each line of `metrics.jsonl` is one
update with `step` (env steps per member so far), each metric's mean over members and,
for returns and learned coefficients (`meta/`), the per-member values (`<name>_per_seed`, `null` for a member that has
not finished an episode yet). `episode_return` averages only the members that have.
`metrics.jsonl` is written after every chunk; TensorBoard gets one event per update
holding all of that update's scalars (one event per scalar cost ~4% of a 2-core CPU run's
time), queued and flushed by tensorboardX's writer every 10 s and when the run ends (a full
queue would block the training loop). With `--logger wandb` (`JobOptions.logger`) each member
is also its own W&B run (jaxshape/run/wandb_logger.py, imported only then).
"""

from __future__ import annotations

import json
import math
import pathlib
from typing import Any

import numpy as np

PER_MEMBER_PREFIXES = ("episode_return", "episode_length", "episode_success", "episode_reward/", "eval_", "meta/")


def _clean(x: Any) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _selectors(metrics: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """prefix -> [members, updates] mask, from reward candidates' `<prefix>selected`
    metrics (`jaxshape.rewards.select`): 1 where a member runs that candidate."""
    return {name[:-len("selected")]: np.asarray(v) > 0 for name, v in metrics.items()
            if name.startswith("transform/") and name.endswith("/selected")}


def update_records(metrics: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Turn one chunk's [members, updates] metrics into one dict per update.

    A reward candidate's metric (`transform/.../<candidate>/<metric>`) is the mean over
    the members that selected that candidate (null where none did)."""
    valid = np.asarray(metrics["episode_valid"], bool)
    selectors = _selectors(metrics)
    owner = {name: next((p for p in selectors if name.startswith(p) and not name.endswith("/selected")), None)
             for name in metrics}
    records = []
    for u in range(valid.shape[1]):
        record: dict[str, Any] = {"step": int(metrics["step"][0, u])}
        ok = valid[:, u]
        for name, values in sorted(metrics.items()):
            if name in ("step", "episode_valid"):
                continue
            column = np.asarray(values[:, u], np.float64)
            if owner[name] is not None:
                chosen = selectors[owner[name]][:, u]
                record[name] = _clean(column[chosen].mean()) if chosen.any() else None
                continue
            if name.startswith("eval_") and not np.isfinite(column).any():
                continue  # no evaluation at this update
            if name.startswith(PER_MEMBER_PREFIXES):
                member_ok = ok if name.startswith("episode_") else np.isfinite(column)
                record[name] = _clean(column[member_ok].mean()) if member_ok.any() else None
                record[f"{name}_per_seed"] = [_clean(v) if k else None for v, k in zip(column, member_ok)]
            else:
                record[name] = _clean(column.mean())
        records.append(record)
    return records


def read_config(run_dir: str | pathlib.Path) -> dict[str, Any]:
    from jaxshape.errors import ConfigError

    path = pathlib.Path(run_dir) / "config.json"
    if not path.exists():
        raise ConfigError(f"{run_dir} is not a jaxshape run folder (no config.json)")
    return json.loads(path.read_text())


def read_metrics(run_dir: str | pathlib.Path) -> list[dict[str, Any]]:
    with (pathlib.Path(run_dir) / "metrics.jsonl").open() as f:
        return [json.loads(line) for line in f if line.strip()]


class RunLog:
    """Writes a run folder's logs. Never overwrites another run's folder."""

    def __init__(self, out_dir: str | pathlib.Path, algo: str = ""):
        self.dir = pathlib.Path(out_dir)
        self.algo = algo
        self.metrics_path = self.dir / "metrics.jsonl"
        self.last: dict[str, Any] | None = None
        self._tb = None
        self._wandb = None

    def check_free(self) -> str | None:
        """A one-line reason this folder cannot take a new run, or None."""
        if (self.dir / "config.json").exists() or self.metrics_path.exists():
            return f"{self.dir} already holds a run; choose another --out, or --resume it (nothing was overwritten)"
        return None

    def start(self, config: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self._write_json("config.json", config)
        self.metrics_path.touch()
        self._open_tensorboard(purge_step=None)
        self._open_tracker(config, resume_after_step=None)

    def reopen(self, keep_through_step: int) -> None:
        """Continue a run: the lines through `keep_through_step` stay byte for byte; only
        those after it (they are redone) and a torn last line are dropped."""
        lines = self.metrics_path.read_bytes().splitlines(keepends=True) if self.metrics_path.exists() else []
        kept, self.last = [], None
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:  # a line cut short by a kill: it is redone
                break
            if not line.endswith(b"\n") or record["step"] > keep_through_step:
                break
            kept.append(line)
            self.last = record
        if len(kept) < len(lines):
            tmp = self.dir / ".metrics.jsonl.tmp"
            tmp.write_bytes(b"".join(kept))
            tmp.replace(self.metrics_path)
        (self.dir / "summary.json").unlink(missing_ok=True)
        self._open_tensorboard(purge_step=keep_through_step + 1)
        self._open_tracker(read_config(self.dir), resume_after_step=keep_through_step)

    def _open_tensorboard(self, purge_step: int | None) -> None:
        from tensorboardX import SummaryWriter

        self._tb = SummaryWriter(str(self.dir / "tb"), purge_step=purge_step, max_queue=100_000, flush_secs=10)

    def _open_tracker(self, config: dict[str, Any], resume_after_step: int | None) -> None:
        if config.get("options", {}).get("logger") == "wandb":
            from jaxshape.run.wandb_logger import WandbLogger

            self._wandb = WandbLogger(self.dir, config, resume_after_step)

    def append(self, chunk_metrics: dict[str, np.ndarray],
               hparams: dict[str, np.ndarray] | None = None) -> list[dict[str, Any]]:
        """Log one chunk. `hparams` ({dotted name: [members]}) are the members' current
        hyperparameters where they change during the run (population-based training):
        W&B logs them as metrics; the other logs have them in pbt_events.jsonl."""
        from tensorboardX.proto.summary_pb2 import Summary

        records = update_records(chunk_metrics)
        with self.metrics_path.open("a") as f:
            for record in records:
                f.write(json.dumps(record) + "\n")
        for record in records:
            scalars = [Summary.Value(tag=name, simple_value=value)
                       for name, value in record.items() if name != "step" and isinstance(value, float)]
            self._tb.file_writer.add_summary(Summary(value=scalars), record["step"])
        if self._wandb is not None:
            self._wandb.log(chunk_metrics, hparams)
        self.last = records[-1]
        return records

    def finish(self, summary: dict[str, Any]) -> None:
        self._write_json("summary.json", summary)

    def close(self, failed: bool = False) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self._wandb is not None:
            self._wandb.close(exit_code=1 if failed else 0)
            self._wandb = None

    def _write_json(self, name: str, payload: dict[str, Any]) -> None:
        tmp = self.dir / f".{name}.tmp"
        tmp.write_text(json.dumps(payload, indent=2) + "\n")
        tmp.replace(self.dir / name)
