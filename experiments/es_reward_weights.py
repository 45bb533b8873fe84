"""ES over the weights of a helpful and a misaligned heuristic reward term on CartPole-v1
(the setting of Gupta et al. 2023, "Behavior Alignment via Reward Function Optimization":
the outer search should drive the misaligned term's weight to zero and keep the helpful one),
against the naive sum of both terms and potential shaping with the helpful potential.

Public API only: `jaxshape.search.run_search` / `SearchSpec` for the search, the
`jaxshape sweep` and `jaxshape train` CLIs for the baselines and the retraining (the
latter from best.json's own train command). The terms are declared in
experiments/es_reward_terms_cartpole.py:

    upright    HELPFUL     -|theta| / 0.2095   (0 upright, -1 at the failure angle)
    hurry      MISALIGNED  -1 per step         (the goal-task time penalty; CartPole's task is to survive)
    shaping    potential shaping, Phi = upright's function (the `shaping` candidate)

Conditions, each trained by PPO (jaxshape defaults: 16 envs x 128 steps, 8 epochs, (64, 64)):
    extrinsic      env reward only (reference)
    helpful only   + 1.0 * upright (reference)
    misaligned only+ 1.0 * hurry (reference)
    naive sum      + 1.0 * upright + 1.0 * hurry
    shaping        + F(Phi = upright)
    ES             OpenAI-ES over (w_upright, w_hurry) in [0, 2]^2, starting at (1, 1)
                   = the naive sum; fitness = the extrinsic training return at the end of
                   each member's run. Its final agent: the found weights retrained with
                   fresh seeds at the per-member budget (best member, and the final mean).

Budgets: every member of the search trains B env steps (--total-steps). The search spends
S_total = population x generations x seeds_per_member x B. Two comparisons:
    per-member budget  every condition's final agent trains B steps, K fresh seeds (the
                       weights' worth; the search's own cost not charged)
    equal total steps  the naive sum and shaping get S_total steps as LONGER runs:
                       K_eq seeds x (S_total / K_eq) steps each (longer runs rather than more
                       seeds: what the search's budget buys is one better agent, and more
                       seeds of the same budget-B run do not make a better agent)

    python experiments/es_reward_weights.py            # the committed numbers (see RESULTS.md)

Writes experiments/results/es_reward_weights.json and .png; working folders (search,
sweeps, runs) under runs/es_reward_weights/ (git-ignored).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import platform
import subprocess
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_common import iqm_interval  # noqa: E402

TERMS = HERE / "es_reward_terms_cartpole.py"
RESULTS = HERE / "results"
JAXSHAPE = [sys.executable, "-m", "jaxshape"]


def sh(cmd: list[str], log: pathlib.Path) -> float:
    """Run a jaxshape CLI command, its output to `log`; returns its wall seconds."""
    started = time.perf_counter()
    with log.open("w") as f:
        f.write(" ".join(cmd) + "\n")
        f.flush()
        done = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(cmd)}; see {log}")
    return time.perf_counter() - started


def sweep_members(sweep_dir: pathlib.Path) -> list[dict]:
    """Per configuration of a finished sweep: its values and per-seed final training
    return and final greedy evaluation return."""
    record = json.loads((sweep_dir / "sweep.json").read_text())
    rows = json.loads((sweep_dir / "results.json").read_text())["rows"]
    evals = {}
    for batch in record["batches"]:
        summary = json.loads((sweep_dir / batch["name"] / "summary.json").read_text())
        for m, v in zip(batch["members"][:batch["real"]], summary["final_eval_return_per_seed"]):
            evals[m] = v
    out = []
    for row in rows:
        out.append({"values": {k: v for k, v in row.items() if k.startswith("reward")},
                    "seeds": row["seeds"], "final_return": row["final_return_per_seed"],
                    "eval_return": [evals[m] for m in row["members"]]})
    return out


def run_members(run_dir: pathlib.Path) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    return {"final_return": summary["final_return_per_seed"], "eval_return": summary["final_eval_return_per_seed"],
            "compile_seconds": summary["compile_seconds"], "run_seconds": summary["run_seconds"]}


def stats(values: list) -> dict:
    x = np.array([np.nan if v is None else v for v in values], np.float64)
    x = x[np.isfinite(x)]
    m, lo, hi = iqm_interval(x)
    return {"iqm": m, "ci95": [lo, hi], "mean": float(x.mean()), "n": int(x.size)}


def common_flags(args, total_steps: int) -> list[str]:
    return ["--env", "CartPole-v1", "--total-steps", str(total_steps), "--eval-episodes", str(args.eval_episodes),
            "--checkpoint-seconds", "0", "--no-progress"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--total-steps", type=int, default=65536, help="B: env steps per member and per final agent")
    p.add_argument("--population", type=int, default=8)
    p.add_argument("--generations", type=int, default=8)
    p.add_argument("--seeds-per-member", type=int, default=2)
    p.add_argument("--strategy", default="openes")
    p.add_argument("--sigma", type=float, default=0.2)
    p.add_argument("--es-learning-rate", type=float, default=0.1)
    p.add_argument("--seeds", type=int, default=8, help="K: fresh seeds per condition at the per-member budget")
    p.add_argument("--eq-seeds", type=int, default=4, help="K_eq: seeds of the equal-total-steps long runs")
    p.add_argument("--no-equal-total", action="store_true", help="skip the equal-total-steps long runs")
    p.add_argument("--eval-episodes", type=int, default=32)
    p.add_argument("--fresh-seed", type=int, default=1000, help="first seed of the final agents (the search uses 0..)")
    p.add_argument("--extra-search-seeds", default="",
                   help="comma-separated seeds of further searches (the ES is itself random): their weight "
                        "trajectories, and their final means retrained like the first search's")
    p.add_argument("--work", default="runs/es_reward_weights")
    p.add_argument("--name", default="es_reward_weights")
    args = p.parse_args()

    import jax

    from jaxshape.search import SearchSpec, parse_param, run_search, train_command

    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    B = args.total_steps
    wall0 = time.perf_counter()
    previous = RESULTS / f"{args.name}.json"  # a rerun skips finished phases and keeps their timings
    timings: dict = json.loads(previous.read_text())["timings"] if previous.exists() else {}

    # ------------------------------------------------------------- 1. the search
    spec = SearchSpec(
        params=(parse_param("reward_coefs.upright=0:2"), parse_param("reward_coefs.hurry=0:2")),
        config={"env": "CartPole-v1", "total_steps": B}, reward_candidates=str(TERMS),
        strategy=args.strategy, population=args.population, generations=args.generations, fitness="return",
        sigma=args.sigma, es_learning_rate=args.es_learning_rate, seeds_per_member=args.seeds_per_member, seed=0,
        options={"eval_episodes": 0, "checkpoint_seconds": 0.0})
    search_dir = work / "search"
    started = time.perf_counter()
    if (search_dir / "best.json").exists() and json.loads((search_dir / "best.json").read_text())[
            "generations_done"] == args.generations:
        best = json.loads((search_dir / "best.json").read_text())
    else:
        from jaxshape.search import resume_search

        best = (resume_search(search_dir, progress=False) if (search_dir / "search.json").exists()
                else run_search(spec, search_dir, progress=False))
        timings["search_wall_s"] = time.perf_counter() - started
    history = [json.loads(line) for line in (search_dir / "generations.jsonl").read_text().splitlines() if line]
    timings["search_compile_s"] = sum(r["compile_seconds"] for r in history)
    search_steps = args.population * args.generations * args.seeds_per_member * B
    print(f"search: {timings.get('search_wall_s', 0):.0f} s; best {best['params']} "
          f"(fitness {best['best_fitness']:.1f}); "
          f"final mean {best['mean_params']}", flush=True)

    # ------------------------------------------------- 2. per-member budget B, K fresh seeds
    seeds = ["--num-seeds", str(args.seeds), "--seed", str(args.fresh_seed)]
    conditions: dict[str, dict] = {}
    heur = work / "heuristics_B"
    if not (heur / "results.json").exists():
        shutil_rm(heur)
        timings["heuristics_B_wall_s"] = sh(
            JAXSHAPE + ["sweep", *common_flags(args, B), "--reward-candidates", str(TERMS), "--grid", "reward.index=0",
                        "--grid", "reward_coefs.upright=0,1", "--grid", "reward_coefs.hurry=0,1", *seeds,
                        "--out", str(heur)], work / "heuristics_B.log")
    label = {(0, 0): "extrinsic", (1, 0): "helpful only", (0, 1): "misaligned only", (1, 1): "naive sum"}
    for row in sweep_members(heur):
        key = (round(row["values"]["reward_coefs.upright"]), round(row["values"]["reward_coefs.hurry"]))
        conditions[label[key]] = {"budget": B, "weights": {"upright": key[0], "hurry": key[1]}, **row}
    shaped = work / "shaping_B"
    if not (shaped / "results.json").exists():
        shutil_rm(shaped)
        timings["shaping_B_wall_s"] = sh(
            JAXSHAPE + ["sweep", *common_flags(args, B), "--reward-candidates", str(TERMS), "--grid", "reward.index=1",
                        *seeds, "--out", str(shaped)], work / "shaping_B.log")
    conditions["shaping"] = {"budget": B, **sweep_members(shaped)[0]}

    for which, values in (("ES best member", best["params"]), ("ES final mean", best["mean_params"])):
        run = work / ("es_best_B" if which == "ES best member" else "es_mean_B")
        command = best["train_command"] if which == "ES best member" else train_command(spec, values)
        if not (run / "summary.json").exists():
            shutil_rm(run)
            timings[f"{run.name}_wall_s"] = sh(
                JAXSHAPE + command[1:] + common_flags(args, B) + seeds + ["--no-plot", "--out", str(run)],
                work / f"{run.name}.log")
        conditions[which] = {"budget": B, "weights": {k.split(".")[-1]: v for k, v in values.items()},
                             "command": " ".join(command), **run_members(run)}

    # ------------------------------------------------- 3. equal total env steps (long runs)
    equal: dict[str, dict] = {}
    if not args.no_equal_total:
        per_seed = search_steps // args.eq_seeds
        long = work / "equal_total"
        if not (long / "results.json").exists():
            shutil_rm(long)
            # index 0 with both weights 1 = the naive sum; index 1 = shaping (weights unused)
            timings["equal_total_wall_s"] = sh(
                JAXSHAPE + ["sweep", *common_flags(args, per_seed), "--reward-candidates", str(TERMS),
                            "--grid", "reward.index=0,1", "--grid", "reward_coefs.upright=1",
                            "--grid", "reward_coefs.hurry=1", "--num-seeds", str(args.eq_seeds),
                            "--seed", str(args.fresh_seed), "--out", str(long)], work / "equal_total.log")
        for row in sweep_members(long):
            name = "naive sum" if round(row["values"]["reward.index"]) == 0 else "shaping"
            equal[name] = {"budget": per_seed, **row}
            if name == "naive sum":
                equal[name]["weights"] = {"upright": 1, "hurry": 1}

    # ------------------------------------------------- 4. repeats of the search (other ES seeds)
    repeats: dict[str, dict] = {}
    for seed in [int(x) for x in args.extra_search_seeds.split(",") if x]:
        other = dataclasses.replace(spec, seed=seed)
        folder = work / f"search_seed{seed}"
        started = time.perf_counter()
        if (folder / "best.json").exists() and json.loads((folder / "best.json").read_text())[
                "generations_done"] == args.generations:
            found = json.loads((folder / "best.json").read_text())
        else:
            from jaxshape.search import resume_search

            found = (resume_search(folder, progress=False) if (folder / "search.json").exists()
                     else run_search(other, folder, progress=False))
            timings[f"search_seed{seed}_wall_s"] = time.perf_counter() - started
        lines = [json.loads(line) for line in (folder / "generations.jsonl").read_text().splitlines() if line]
        run = work / f"es_mean_B_seed{seed}"
        if not (run / "summary.json").exists():
            shutil_rm(run)
            timings[f"{run.name}_wall_s"] = sh(
                JAXSHAPE + train_command(other, found["mean_params"])[1:] + common_flags(args, B) + seeds
                + ["--no-plot", "--out", str(run)], work / f"{run.name}.log")
        repeats[str(seed)] = {"best": {k: found[k] for k in ("best_fitness", "generation", "params", "mean_params")},
                              "mean_params": [r["mean_params"] for r in lines],
                              "fitness_mean": [r["fitness_mean"] for r in lines]}
        conditions[f"ES final mean (search seed {seed})"] = {
            "budget": B, "weights": {k.split(".")[-1]: v for k, v in found["mean_params"].items()}, **run_members(run)}
        print(f"search seed {seed}: final mean {found['mean_params']}", flush=True)

    # ------------------------------------------------------------- report
    for table in (conditions, equal):
        for c in table.values():
            c["final_return_stats"] = stats(c["final_return"])
            c["eval_return_stats"] = stats(c["eval_return"])
    trajectory = [{"generation": r["generation"], "mean_params": r["mean_params"], "params": r["params"],
                   "fitness": r["fitness"], "fitness_mean": r["fitness_mean"], "best_fitness": r["best_fitness"],
                   "seconds": r["seconds"], "compile_seconds": r["compile_seconds"]} for r in history]
    timings.setdefault("script_wall_s_per_invocation", []).append(time.perf_counter() - wall0)
    payload = {
        "experiment": "ES over a helpful and a misaligned heuristic term's weights, CartPole-v1",
        "command": "python " + " ".join([str(pathlib.Path(sys.argv[0]))] + sys.argv[1:]),
        "machine": f"{os.cpu_count()} shared CPU cores ({platform.machine()}), jax {jax.__version__}, "
                   f"{jax.devices()[0].platform}",
        "search": {**{k: v for k, v in spec.to_json().items() if k != "params"},
                   "params": [p.flag() for p in spec.params], "total_env_steps": search_steps,
                   "best": {k: best[k] for k in ("best_fitness", "generation", "member", "params", "mean_params")},
                   "train_command": " ".join(best["train_command"])},
        "budget_per_member": B, "fresh_seeds": list(range(args.fresh_seed, args.fresh_seed + args.seeds)),
        "per_member_budget": conditions, "equal_total_steps": equal, "trajectory": trajectory,
        "search_repeats": repeats, "timings": timings,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(payload, indent=1) + "\n")
    plot(payload, RESULTS / f"{args.name}.png")
    print_table(payload)


def shutil_rm(path: pathlib.Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def print_table(payload: dict) -> None:
    print("\n| condition | env steps per agent | weights (upright, hurry) | final training return IQM [95% CI] | "
          "greedy eval return IQM [95% CI] | seeds |")
    print("|---|---|---|---|---|---|")
    for section in ("per_member_budget", "equal_total_steps"):
        for name, c in payload[section].items():
            w = c.get("weights")
            shown = f"{w['upright']:.2f}, {w['hurry']:.2f}" if w else "-"
            f, e = c["final_return_stats"], c["eval_return_stats"]
            print(f"| {name} | {c['budget']:,} | {shown} | {f['iqm']:.1f} [{f['ci95'][0]:.1f}, {f['ci95'][1]:.1f}] | "
                  f"{e['iqm']:.1f} [{e['ci95'][0]:.1f}, {e['ci95'][1]:.1f}] | {f['n']} |")


def plot(payload: dict, out: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    traj = payload["trajectory"]
    gens = np.array([r["generation"] for r in traj]) + 1
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
    ax = axes[0]
    for name, color in (("reward_coefs.upright", "tab:green"), ("reward_coefs.hurry", "tab:red")):
        short = name.split(".")[-1]
        label = f"{short} ({'helpful' if short == 'upright' else 'misaligned'})"
        ax.plot(np.concatenate([[0], gens]), [1.0] + [r["mean_params"][name] for r in traj], "o-", color=color,
                label=label + ": ES mean")
        for r in traj:
            ax.scatter([r["generation"] + 1 - 0.5] * len(r["params"]), [m[name] for m in r["params"]], s=8,
                       color=color, alpha=0.35)
    for seed, rep in payload.get("search_repeats", {}).items():
        for name, color in (("reward_coefs.upright", "tab:green"), ("reward_coefs.hurry", "tab:red")):
            ax.plot(np.arange(len(rep["mean_params"]) + 1), [1.0] + [m[name] for m in rep["mean_params"]], ":",
                    color=color, alpha=0.7, label=f"ES mean, search seed {seed}" if name.endswith("upright") else None)
    ax.set(xlabel="generation (mean after the update; dots: the generation's members)", ylabel="weight",
           title="ES: the two weights over generations", ylim=(-0.05, 2.05))
    ax.legend(fontsize=8)
    ax = axes[1]
    for g, r in zip(gens, traj):
        ax.scatter([g] * len(r["fitness"]), [np.nan if f is None else f for f in r["fitness"]], s=10, color="0.5")
    ax.plot(gens, [r["fitness_mean"] for r in traj], "o-", label="population mean")
    ax.plot(gens, [r["best_fitness"] for r in traj], "s--", label="best member")
    ax.set(xlabel="generation", ylabel="fitness: final extrinsic training return",
           title=f"ES fitness ({payload['search']['population']} members x "
                 f"{payload['search']['seeds_per_member']} seeds, {payload['budget_per_member']:,} steps each)")
    ax.legend(fontsize=8)
    ax = axes[2]
    rows = [(n, c) for n, c in payload["per_member_budget"].items()] + \
           [(n + " (equal total)", c) for n, c in payload["equal_total_steps"].items()]
    for i, (name, c) in enumerate(rows):
        for key, dx, marker in (("final_return", -0.15, "o"), ("eval_return", 0.15, "s")):
            s = c[key + "_stats"]
            ax.errorbar(s["iqm"], i + dx, xerr=[[s["iqm"] - s["ci95"][0]], [s["ci95"][1] - s["iqm"]]], fmt=marker,
                        color="tab:blue" if key == "final_return" else "tab:orange", capsize=3,
                        label=None if i else ("training return" if key == "final_return" else "greedy eval return"))
            ax.scatter([np.nan if v is None else v for v in c[key]], [i + dx] * len(c[key]), s=6, color="0.6")
    ax.set_yticks(range(len(rows)), [n for n, _ in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set(xlabel="final extrinsic return (IQM, 95% bootstrap CI; dots: seeds)",
           title="the agents each condition produces")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
