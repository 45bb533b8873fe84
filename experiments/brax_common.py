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
    longer has; on one device it is a stack of one copy put on that device."""
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


def iqm_interval(values: Sequence[float | None], confidence: float = 0.95) -> dict[str, Any]:
    """{"iqm", "low", "high", "n"} over the seeds that reported a value
    (`bench_common.iqm_interval`; low = high = IQM for one seed)."""
    from bench_common import iqm_interval as interval

    x = [float(v) for v in values if v is not None]
    if len(x) <= 1:
        only = x[0] if x else None
        return {"iqm": only, "low": only, "high": only, "n": len(x)}
    middle, low, high = interval(x, confidence)
    return {"iqm": middle, "low": low, "high": high, "n": len(x)}


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
