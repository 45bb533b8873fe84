"""The run folder: `config.json`, `metrics.jsonl` (one object per update), `summary.json`.

Metrics arrive from the driver stacked as [members, updates]; each line of
`metrics.jsonl` is one update, with `episode_return` averaged over the members that
have finished an episode (`null` before any has) and the per-member values beside it.
"""

from __future__ import annotations

import json
import math
import pathlib
from typing import Any

import numpy as np

PER_MEMBER = ("episode_return", "episode_length")


def _clean(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def update_records(metrics: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Turn one chunk's [members, updates] metrics into one dict per update."""
    valid = np.asarray(metrics["episode_valid"], bool)
    records = []
    for u in range(valid.shape[1]):
        record: dict[str, Any] = {"step": int(metrics["step"][0, u])}
        for name in PER_MEMBER:
            values = np.asarray(metrics[name][:, u], np.float64)
            ok = valid[:, u]
            record[name] = _clean(values[ok].mean()) if ok.any() else None
            record[f"{name}_per_seed"] = [_clean(v) if k else None for v, k in zip(values, ok)]
        for name, values in metrics.items():
            if name not in record and name not in ("step", "episode_valid") and not name.endswith("_per_seed"):
                record[name] = _clean(np.mean(values[:, u]))
        records.append(record)
    return records


class RunLog:
    """Writes a run folder. Refuses a folder that already holds a run."""

    def __init__(self, out_dir: str | pathlib.Path):
        self.dir = pathlib.Path(out_dir)
        self.metrics_path = self.dir / "metrics.jsonl"
        self.last: dict[str, Any] | None = None

    def check_free(self) -> str | None:
        """A one-line reason this folder cannot take a new run, or None."""
        if self.metrics_path.exists() or (self.dir / "summary.json").exists():
            return f"{self.dir} already holds a run; choose another --out (nothing was overwritten)"
        return None

    def start(self, config: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self._write_json("config.json", config)
        self.metrics_path.touch()

    def append(self, chunk_metrics: dict[str, np.ndarray]) -> list[dict[str, Any]]:
        records = update_records(chunk_metrics)
        with self.metrics_path.open("a") as f:
            for record in records:
                f.write(json.dumps(record) + "\n")
        self.last = records[-1]
        return records

    def finish(self, summary: dict[str, Any]) -> None:
        self._write_json("summary.json", summary)

    def _write_json(self, name: str, payload: dict[str, Any]) -> None:
        tmp = self.dir / f".{name}.tmp"
        tmp.write_text(json.dumps(payload, indent=2) + "\n")
        tmp.replace(self.dir / name)


def read_metrics(run_dir: str | pathlib.Path) -> list[dict[str, Any]]:
    with (pathlib.Path(run_dir) / "metrics.jsonl").open() as f:
        return [json.loads(line) for line in f if line.strip()]
