"""Helpers the learning-parity scripts share (experiments/brax_ppo_parity.py,
experiments/craftax_parity.py): brax 0.14.2 on a current jax, IQM with a bootstrap
interval, results files named by the device kind, and rows merged across commands."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable, Sequence


def replicate_for_old_brax() -> None:
    """brax 0.14.2's trainers call `jax.device_put_replicated`, which jax >= 0.10 no
    longer has; on one device it is a stack of one copy put on that device (the same
    shim as experiments/bench_brax_sac.py's `_replicate_for_old_brax`)."""
    import jax
    import jax.numpy as jnp

    def device_put_replicated(x, devices):
        if len(devices) != 1:
            raise NotImplementedError("this shim replicates over one device (max_devices_per_host=1)")
        return jax.device_put(jax.tree.map(lambda a: jnp.asarray(a)[None], x), devices[0])

    if not hasattr(jax, "device_put_replicated"):  # the deprecation shim raises AttributeError
        jax.device_put_replicated = device_put_replicated


def device_kind() -> str:
    """The first device's kind as a file-name slug: 'nvidia-h100-80gb-hbm3', 'cpu'."""
    import jax

    device = jax.devices()[0]
    kind = device.platform if device.platform == "cpu" else getattr(device, "device_kind", device.platform)
    return re.sub(r"[^a-z0-9]+", "-", str(kind).lower()).strip("-") or "unknown"


def iqm(values: Sequence[float]) -> float:
    """Interquartile mean: the mean of the middle half (a quarter cut from each end,
    rounded down, so 1-3 values keep them all)."""
    import numpy as np

    x = np.sort(np.asarray(values, np.float64))
    cut = len(x) // 4
    return float(x[cut:len(x) - cut].mean())


def iqm_interval(values: Sequence[float], confidence: float = 0.95, resamples: int = 10_000,
                 seed: int = 0) -> dict[str, Any]:
    """{"iqm", "low", "high", "n"}: the IQM over seeds and a percentile-bootstrap interval
    from `resamples` draws of the seeds with replacement (low = high = IQM for one seed)."""
    import numpy as np

    x = np.asarray([v for v in values if v is not None], np.float64)
    if len(x) == 0:
        return {"iqm": None, "low": None, "high": None, "n": 0}
    if len(x) == 1:
        return {"iqm": float(x[0]), "low": float(x[0]), "high": float(x[0]), "n": 1}
    draws = np.sort(x[np.random.default_rng(seed).integers(len(x), size=(resamples, len(x)))], axis=1)
    cut = len(x) // 4
    boot = draws[:, cut:len(x) - cut].mean(axis=1)
    tail = 100 * (1 - confidence) / 2
    return {"iqm": iqm(x), "low": float(np.percentile(boot, tail)), "high": float(np.percentile(boot, 100 - tail)),
            "n": int(len(x))}


def merge_rows(path: Path, rows: Iterable[dict[str, Any]], key: Sequence[str]) -> list[dict[str, Any]]:
    """Rows already in `path` (a JSON list) with `rows` replacing those of the same key;
    written back and returned. Lets each system and env run in a command of its own."""
    old = json.loads(path.read_text()) if path.exists() else []
    new = list(rows)
    fresh = {tuple(r.get(k) for k in key) for r in new}
    merged = [r for r in old if tuple(r.get(k) for k in key) not in fresh] + new
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(merged, indent=2) + "\n")
    return merged


def fmt(x: Any, spec: str = ",.1f") -> str:
    return "n/a" if x is None else format(x, spec)
