"""Population-based training against the plain grid sweep at equal compute.

The task: PPO on CartPole-v1 with a constant learning rate (`anneal_lr` off), where the
best rate changes over training: a large one learns fast early but shakes a good policy
apart late, a small one is stable but slow. Both conditions train the same 8 members
(learning rates log-spaced over [1e-4, 1e-2], one seed each) for the same env steps in
one compiled, vmapped job; PBT (`--pbt`, every chunk, the worst quarter copy the best
quarter and perturb the rate by 0.8 or 1.25) may move the rates during training, the grid
may not. Measured per repetition (different seeds): the final greedy evaluation return
(64 episodes) of the member the training return picks, and the population's mean.
IQM and 95% bootstrap interval over repetitions.

    python experiments/pbt_vs_grid.py                       # 4 repetitions, 65,536 steps per member
    python experiments/pbt_vs_grid.py --repetitions 1 --total-steps 32768   # smoke test
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

CONFIG = dict(env="CartPole-v1", num_envs=16, num_steps=128, num_epochs=4, num_minibatches=4,
              hidden_sizes=[64, 64], anneal_lr=False)


def run(pbt: bool, seed: int, total_steps: int, chunk_updates: int, eval_episodes: int) -> dict:
    from jaxshape import sweep

    spec = sweep.spec_from_dict({
        "algo": "ppo", "config": {**CONFIG, "total_steps": total_steps},
        "grid": {"learning_rate": np.geomspace(1e-4, 1e-2, 8).tolist()}, "seeds": [seed],
        "options": {"chunk_updates": chunk_updates, "eval_episodes": eval_episodes, "checkpoint_seconds": 600},
        **({"pbt": {"every": 1, "fraction": 0.25}} if pbt else {}),
    })
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "sweep"
        start = time.perf_counter()
        sweep.run_sweep(spec, out, progress=False)
        wall = time.perf_counter() - start
        summary = json.loads((out / "batch-000" / "summary.json").read_text())
        events = (out / "pbt_events.jsonl").read_text().splitlines() if pbt else []
    train = np.array([np.nan if v is None else v for v in summary["final_return_per_seed"]], float)
    evals = np.array([np.nan if v is None else v for v in summary["final_eval_return_per_seed"]], float)
    picked = int(np.nanargmax(train))
    final_lr = summary.get("final_hparams", {}).get("learning_rate", [None] * 8)
    return {"seed": seed, "picked_member": picked, "picked_eval_return": float(evals[picked]),
            "population_mean_eval_return": float(np.nanmean(evals)), "eval_returns": evals.tolist(),
            "final_learning_rates": final_lr, "pbt_events": len(events), "wall_seconds": wall,
            "compile_seconds": summary["compile_seconds"]}


def main() -> None:
    from bench_common import iqm, iqm_interval, machine

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repetitions", type=int, default=4)
    parser.add_argument("--total-steps", type=int, default=65_536)
    parser.add_argument("--chunk-updates", type=int, default=4, help="updates between PBT steps")
    parser.add_argument("--eval-episodes", type=int, default=64)
    parser.add_argument("--out", default=str(HERE / "results" / "pbt_vs_grid.json"))
    args = parser.parse_args()
    rows = {"grid": [], "pbt": []}
    for rep in range(args.repetitions):
        for name in rows:
            row = run(name == "pbt", rep, args.total_steps, args.chunk_updates, args.eval_episodes)
            rows[name].append(row)
            print(f"{name} seed {rep}: picked member's eval return {row['picked_eval_return']:.1f}, population mean "
                  f"{row['population_mean_eval_return']:.1f}, {row['pbt_events']} copies, {row['wall_seconds']:.0f} s",
                  flush=True)
    summary = {}
    for name, runs in rows.items():
        picked = [r["picked_eval_return"] for r in runs]
        mean = [r["population_mean_eval_return"] for r in runs]
        summary[name] = {"picked_iqm": iqm(picked), "picked_ci": iqm_interval(picked),
                         "population_mean_iqm": iqm(mean), "population_mean_ci": iqm_interval(mean)}
        print(f"{name}: picked member IQM {summary[name]['picked_iqm']:.1f} {summary[name]['picked_ci']}, "
              f"population mean IQM {summary[name]['population_mean_iqm']:.1f} {summary[name]['population_mean_ci']}")
    Path(args.out).write_text(json.dumps({"machine": machine(), "args": vars(args), "config": CONFIG,
                                          "summary": summary, "runs": rows}, indent=2) + "\n")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
