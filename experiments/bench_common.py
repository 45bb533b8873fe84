"""Shared timing helpers for the benchmarks: compile apart from run, peak memory."""

from __future__ import annotations

import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import jax


def time_compiled(fn: Callable, *args: Any) -> dict[str, float]:
    """Compile `jax.jit(fn)` for `args` ahead of time, then run it once.

    Returns compile_seconds (lower + compile) and run_seconds (the call, blocked until
    ready, compile excluded), and the result."""
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    result = jax.block_until_ready(compiled(*args))
    return {"compile_seconds": compile_seconds, "run_seconds": time.perf_counter() - start, "result": result}


def peak_memory_mb() -> dict[str, float]:
    """Peak host RSS of this process and, on an accelerator, peak device memory."""
    out = {"peak_host_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    stats = jax.devices()[0].memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        out["peak_device_mb"] = stats["peak_bytes_in_use"] / 2**20
    return out


def machine() -> str:
    device = jax.devices()[0]
    cpu = platform.processor() or platform.machine()
    try:
        import os

        cores = os.cpu_count()
    except Exception:  # pragma: no cover
        cores = "?"
    return f"{device.platform}:{getattr(device, 'device_kind', device)} ({cores} cores {cpu})"


def run_json_subprocess(cmd: list[str], timeout: float = 3600) -> dict[str, Any] | None:
    """Run a benchmark command that prints one JSON line last; None if it fails."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as err:
        print(f"  skipped {' '.join(cmd[:2])}: {err}", file=sys.stderr)
        return None
    if done.returncode != 0:
        print(f"  failed {' '.join(cmd)}:\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else None


def write_results(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=2) + "\n")


def compare(agent_counts: list[int], ours: Callable[[int], list[str]],
            peers: Callable[[int], list[tuple[str, list[str]]]] | None, repeats: int = 1) -> list[dict[str, Any]]:
    """For each agent count: measure jaxshape (`ours(n)`, a worker command), then each
    peer command from `peers(n)` whose interpreter exists; each in its own process.
    With `repeats` > 1 the systems take turns that many times and each keeps its best
    steps/s (the others' noise on a shared machine only slows a run down). Prints every
    row as it arrives and returns the kept ones."""
    best: dict[tuple[str, int], dict[str, Any]] = {}
    for _ in range(repeats):
        for n in agent_counts:
            commands = [("jaxshape", ours(n))] + (peers(n) if peers else [])
            for name, cmd in commands:
                if name != "jaxshape" and not Path(cmd[0]).exists():
                    print(f"  {name}: no environment at {cmd[0]}; run experiments/peers/setup_peers.sh",
                          file=sys.stderr)
                    continue
                row = run_json_subprocess(cmd)
                if row:
                    row.setdefault("system", row.get("peer", name))
                    print(json.dumps(row), flush=True)
                    kept = best.get((name, n))
                    if kept is None or row["steps_per_second"] > kept["steps_per_second"]:
                        best[name, n] = {**row, "repeats": repeats}
    return list(best.values())


def iqm(values) -> float:
    """Interquartile mean: the mean of the middle 50% of the values (25% cut each side)."""
    import numpy as np

    x = np.sort(np.asarray(values, np.float64))
    cut = int(np.floor(0.25 * len(x)))
    return float(x[cut:len(x) - cut].mean())


def iqm_interval(values, confidence: float = 0.95, resamples: int = 10_000,
                 seed: int = 0) -> tuple[float, float, float]:
    """(IQM, low, high): the IQM over seeds and a percentile-bootstrap interval, from
    `resamples` draws of the seeds with replacement."""
    import numpy as np

    x = np.asarray(values, np.float64)
    draws = np.sort(x[np.random.default_rng(seed).integers(len(x), size=(resamples, len(x)))], axis=1)
    cut = int(np.floor(0.25 * len(x)))
    boot = draws[:, cut:len(x) - cut].mean(axis=1)
    tail = 100 * (1 - confidence) / 2
    return iqm(x), float(np.percentile(boot, tail)), float(np.percentile(boot, 100 - tail))
