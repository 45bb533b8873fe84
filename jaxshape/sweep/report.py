"""A sweep's results: per-configuration statistics over seeds (mean, std, interquartile
mean of the final return and of the area under the return curve), `results.csv`,
`results.json`, `best.json` and `sweep_curves.png`.
"""

from __future__ import annotations

import csv
import json
import math
import pathlib
import warnings
from typing import Any

import numpy as np

from jaxshape.run.logs import read_metrics


def write_json(path: pathlib.Path, payload: Any) -> None:
    """Write JSON atomically (a reader never sees half a file)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    tmp.replace(path)


def batch_curves(run_dir: pathlib.Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(steps [U], training return [members, U], final greedy eval return [members]),
    NaN where a member has no finished episode (or no evaluation)."""
    records = read_metrics(run_dir)
    steps = np.array([r["step"] for r in records], np.float64)
    ret = np.array([[np.nan if v is None else v for v in r["episode_return_per_seed"]] for r in records], np.float64)
    evals = [r for r in records if "eval_return_per_seed" in r]
    final_eval = (np.array([np.nan if v is None else v for v in evals[-1]["eval_return_per_seed"]], np.float64)
                  if evals else np.full(ret.shape[1], np.nan))
    return steps, ret.T, final_eval


def iqm(values: np.ndarray) -> float:
    """Interquartile mean: the mean of the middle 50% (finite values only)."""
    x = np.sort(np.asarray(values, np.float64)[np.isfinite(values)])
    if not len(x):
        return float("nan")
    cut = int(np.floor(0.25 * len(x)))
    return float(x[cut:len(x) - cut].mean())


def _stats(prefix: str, values: np.ndarray) -> dict[str, float | None]:
    finite = values[np.isfinite(values)]
    clean = lambda v: float(v) if math.isfinite(v) else None  # noqa: E731
    return {f"{prefix}_mean": clean(finite.mean()) if len(finite) else None,
            f"{prefix}_std": clean(finite.std()) if len(finite) else None,
            f"{prefix}_iqm": clean(iqm(finite))}


def member_results(record: dict, curves: dict) -> tuple[np.ndarray, np.ndarray]:
    """(training return curves [members, U], final eval returns [members]) in member
    order, the padding dropped."""
    num = len(record["members"])
    num_updates = next(iter(curves.values()))[1].shape[1]
    ret, ev = np.full((num, num_updates), np.nan), np.full(num, np.nan)
    for batch in record["batches"]:
        _, batch_ret, batch_ev = curves[batch["name"]]
        real = batch["members"][:batch["real"]]
        ret[real], ev[real] = batch_ret[:batch["real"]], batch_ev[:batch["real"]]
    return ret, ev


def write_results(sweep_dir: pathlib.Path, record: dict, curves: dict, steps: np.ndarray,
                  rank_by: str = "final_return_iqm") -> dict[str, Any]:
    """results.csv, results.json, best.json and sweep_curves.png; returns the best row.

    Final return: a member's training return at the last update. Area under the return
    curve: its trapezoid integral over env steps divided by the steps spanned (the
    average return over training; updates before the first finished episode skipped)."""
    ret, ev = member_results(record, curves)
    seeds = np.array([m["seed"] for m in record["members"]])
    owner = np.array([m["config"] for m in record["members"]])
    rows = []
    for c, values in enumerate(record["configurations"]):
        idx = np.flatnonzero(owner == c)
        finals = ret[idx, -1]
        aucs = np.array([auc(steps, ret[i]) for i in idx])
        rows.append({"config": c, **values, **_stats("final_return", finals), **_stats("auc", aucs),
                     **_stats("final_eval_return", ev[idx]), "num_seeds": len(idx),
                     "seeds": seeds[idx].tolist(), "members": idx.tolist(),
                     "final_return_per_seed": [None if not math.isfinite(v) else float(v) for v in finals],
                     "auc_per_seed": [None if not math.isfinite(v) else float(v) for v in aucs]})
    ranked = [r for r in rows if r[rank_by] is not None]
    best = max(ranked, key=lambda r: r[rank_by]) if ranked else rows[0]
    write_json(sweep_dir / "results.json", {"rank_by": rank_by, "rows": rows})
    write_json(sweep_dir / "best.json", {"rank_by": rank_by, **best})
    flat = [{k: v for k, v in r.items() if not isinstance(v, list)} for r in rows]
    with (sweep_dir / "results.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(flat[0]))
        writer.writeheader()
        writer.writerows(flat)
    plot_sweep(steps, ret, owner, rows, sweep_dir / "sweep_curves.png", rank_by)
    return best


def auc(steps: np.ndarray, curve: np.ndarray) -> float:
    ok = np.isfinite(curve)
    if ok.sum() < 2:
        return float(curve[ok][0]) if ok.any() else float("nan")
    x, y = steps[ok], curve[ok]
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2 / (x[-1] - x[0]))


def plot_sweep(steps: np.ndarray, ret: np.ndarray, owner: np.ndarray, rows: list[dict], out: pathlib.Path,
               rank_by: str, label_top: int = 10) -> pathlib.Path:
    """One curve per configuration (median over seeds, band from the 25th to the 75th
    percentile); the `label_top` best by `rank_by` in colour, the rest in grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = sorted(range(len(rows)), key=lambda c: -(rows[c][rank_by] if rows[c][rank_by] is not None else -np.inf))
    names = [k for k in rows[0] if k not in ("config",) and not k.startswith(("final_", "auc", "num_", "seeds",
                                                                            "members"))]
    fig, ax = plt.subplots(figsize=(8, 5))
    colours = plt.cm.tab10.colors
    for rank, c in reversed(list(enumerate(order))):
        curves = ret[owner == c]
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN updates before any episode ends
            mid = np.nanmedian(curves, axis=0)
            low, high = np.nanpercentile(curves, 25, axis=0), np.nanpercentile(curves, 75, axis=0)
        top = rank < label_top
        colour = colours[rank % len(colours)] if top else "0.6"
        label = ", ".join(f"{n}={rows[c][n]:.3g}" for n in names) if top else None
        ax.plot(steps, mid, color=colour, lw=1.6 if top else 0.8, label=label, zorder=3 if top else 1)
        ax.fill_between(steps, low, high, color=colour, alpha=0.18 if top else 0.06, linewidth=0)
    ax.set_xlabel("env steps per member")
    ax.set_ylabel("training return (median, 25-75% over seeds)")
    ax.set_title(f"{len(rows)} configurations x {rows[0]['num_seeds']} seeds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _member_curves(sweep_dir: pathlib.Path, record: dict, keys: list[str]) -> dict[str, np.ndarray]:
    """key -> [members, updates] of per-member metrics in the batches' metrics.jsonl
    (NaN where missing); each batch's file is read once."""
    num = len(record["members"])
    out: dict[str, np.ndarray] = {}
    for batch in record["batches"]:
        records = read_metrics(sweep_dir / batch["name"])
        real = batch["members"][:batch["real"]]
        for key in keys:
            values = np.array([[np.nan if v is None else v for v in r.get(key, [None] * len(batch["members"]))]
                               for r in records], np.float64).T
            out.setdefault(key, np.full((num, values.shape[1]), np.nan))[real] = values[:batch["real"]]
    return out


def _correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.std(a[ok]) == 0 or np.std(b[ok]) == 0:
        return None
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


FITNESS = ("return", "eval_return", "success")


def write_candidate_report(sweep_dir: pathlib.Path, record: dict, curves: dict, streams: dict[str, float],
                           names: list[str], fitness: str = "return") -> list[dict[str, Any]]:
    """candidates.json: reward candidates ranked by fitness, with per-term statistics an
    outer loop (a person, a language model) can read to write the next candidates.

    Fitness, IQM over the candidate's members (each candidate reports all it has):
    `return`, the env's extrinsic return at the end of training; `eval_return`, that of
    the final greedy evaluation; `success`, the env's `info["is_success"]` at the end of
    episodes (the last update's rate), where the env reports it. Candidates are ranked by
    `fitness`.

    Per term k (a stream the candidate trains on, `extrinsic` included: after the
    candidate's transforms, so `scale("extrinsic", 10)` shows 10x the env return and
    `env_terms` the residual), over the candidate's members, with S_k a member's
    per-episode sum of the term, L its episode length and F its fitness curve over
    training (the training return; the success rate under `fitness="success"`):

      mean                    mean of S_k at the end of training
      rate                    mean of S_k / L at the end of training (per step)
      share                   |c_k·mean_k| / Σ_j |c_j·mean_j| with the default coefficients c
      corr_with_fitness       Pearson corr over training updates of S_k with F, mean over
                              members. Length-confounded: where episode length changes with
                              skill (survival tasks) every per-step term follows the length
      rate_corr_with_fitness  Pearson corr over training updates of S_k / L with F, mean
                              over members: the length-aware association. Near 1 a term
                              that tracks the task, ≤ 0 one the agent collects without
                              solving it

    A stream that is 0 throughout under a candidate (another candidate's term) is left out
    of its terms. Runs that did not log `episode_reward/extrinsic` report the env return
    as the `extrinsic` stream."""
    ret, ev = member_results(record, curves)
    index = [int(round(c.get("reward.index", 0))) for c in record["configurations"]]
    member_candidate = np.array([index[m["config"]] for m in record["members"]])
    read = _member_curves(sweep_dir, record, [f"episode_reward/{k}_per_seed" for k in streams]
                          + ["episode_success_per_seed", "episode_length_per_seed"])
    terms = {k: read[f"episode_reward/{k}_per_seed"] for k in streams}
    if "extrinsic" in terms and not np.isfinite(terms["extrinsic"]).any():
        terms["extrinsic"] = ret  # logged before the learners tracked the extrinsic stream
    success, length = read["episode_success_per_seed"], read["episode_length_per_seed"]
    with np.errstate(all="ignore"):
        rates = {k: v / length for k, v in terms.items()}
    target = success if fitness == "success" else ret
    rows = []
    for candidate in sorted(set(member_candidate.tolist())):
        members = np.flatnonzero(member_candidate == candidate)
        measures = {"return": ret[members, -1], "eval_return": ev[members], "success": success[members, -1]}
        produced = [k for k in streams if k == "extrinsic" or np.nan_to_num(np.abs(terms[k][members])).max() > 0]
        means = {k: _nanmean(terms[k][members, -1]) for k in produced}
        weight = sum(abs(streams[k] * v) for k, v in means.items() if v is not None) or 1.0
        rows.append({
            "candidate": candidate,
            "name": names[candidate],
            **{f"{k}_iqm": (lambda v: None if not math.isfinite(v) else v)(iqm(v)) for k, v in measures.items()},
            "fitness_per_member": [None if not math.isfinite(v) else float(v) for v in measures[fitness]],
            "members": members.tolist(),
            "terms": {k: {"coef": streams[k], "mean": means[k], "rate": _nanmean(rates[k][members, -1]),
                          "share": None if means[k] is None else abs(streams[k] * means[k]) / weight,
                          "corr_with_fitness": _mean_or_none([_correlation(terms[k][m], target[m]) for m in members]),
                          "rate_corr_with_fitness": _mean_or_none([_correlation(rates[k][m], target[m])
                                                                   for m in members])}
                      for k in produced},
        })
    for row in rows:
        row["fitness_iqm"] = row[f"{fitness}_iqm"]
    rows.sort(key=lambda r: np.inf if r["fitness_iqm"] is None else -r["fitness_iqm"])
    for rank, row in enumerate(rows):
        row["rank"] = rank
    write_json(sweep_dir / "candidates.json", {"fitness": fitness, "candidates": rows})
    return rows


def _nanmean(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else None


def _mean_or_none(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None
