"""Learning curves from run folders: `jaxshape plot RUN_DIR... [--out PNG]`.

One panel for the training return (mean across members, with a band from the lowest
to the highest member), one for the greedy evaluation return when there is one, and one
per named reward stream (its per-episode sum), and one per coefficient a `--meta-reward`
run learns (`meta/<stream>`). Several runs share the panels, one
colour each, labelled by folder name.
"""

from __future__ import annotations

import pathlib
import warnings
from typing import Sequence

import numpy as np

from jaxshape.run.logs import read_metrics


def _series(records: list[dict], name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(steps, values [updates, members]) for a per-member metric, NaN where missing."""
    rows = [(r["step"], r[f"{name}_per_seed"]) for r in records if f"{name}_per_seed" in r]
    if not rows:
        return None
    steps = np.array([s for s, _ in rows], np.float64)
    values = np.array([[np.nan if v is None else v for v in per] for _, per in rows], np.float64)
    return steps, values


def _panels(runs: dict[str, list[dict]]) -> list[tuple[str, str]]:
    names = {key[: -len("_per_seed")] for records in runs.values() for r in records for key in r
             if key.endswith("_per_seed")}
    panels = [("episode_return", "training return")]
    if "eval_return" in names:
        panels.append(("eval_return", "greedy evaluation return"))
    panels += [(n, f"{n.split('/', 1)[1]} (sum per episode)") for n in sorted(names) if n.startswith("episode_reward/")]
    panels += [(n, f"learned coefficient of {n.split('/', 1)[1]}") for n in sorted(names)
               if n.startswith("meta/") and n != "meta/grad_norm"]
    return panels


def plot_runs(run_dirs: Sequence[str | pathlib.Path], out: str | pathlib.Path) -> pathlib.Path:
    """Plot the runs' curves into the PNG `out` and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {pathlib.Path(d).name: read_metrics(d) for d in run_dirs}
    panels = _panels(runs)
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.6 * rows), squeeze=False)
    for ax, (metric, title) in zip(axes.flat, panels):
        for colour, (label, records) in zip(plt.cm.tab10.colors, runs.items()):
            series = _series(records, metric)
            if series is None:
                continue
            steps, values = series
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # updates before any episode ended: all NaN
                mean = np.nanmean(values, axis=1)
                low, high = np.nanmin(values, axis=1), np.nanmax(values, axis=1)
            marker = "o" if metric == "eval_return" else None
            ax.plot(steps, mean, color=colour, label=f"{label} ({values.shape[1]} members)", marker=marker, ms=3)
            ax.fill_between(steps, low, high, color=colour, alpha=0.2, linewidth=0)
        ax.set_title(title)
        ax.set_xlabel("env steps per member")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8, loc="best")
    fig.tight_layout()
    out = pathlib.Path(out)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
