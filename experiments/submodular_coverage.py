"""Submodular vs additive rewards on Coverage-grid (Prajapat et al. 2024, SubPO).

    python experiments/submodular_coverage.py [--size 8] [--total-steps N] [--seeds K]

Coverage-grid (envs/coverage.py): an N×N grid, start in the centre, 4 moves, episodes
truncated after `--max-steps` (default 64) steps, extrinsic reward 0. Conditions, same
PPO config, hparams, seeds and budget:

- `submodular`: `coverage(shape, info_locator, radius, observe=True)`: the marginal gain
  r_t = |cells newly covered by s_{t+1}|; the visited mask is appended to the policy input;
- `additive`: `additive_visits(shape, info_locator, radius)`: r_t = |patch(s_{t+1})| at
  every visit, repeats included (with radius 0 that is exactly 1 per step: a constant).

In both, a `coverage(..., observe=False)` stream with coefficient 0 is chained on as a
logger only (it changes nothing the learner sees), so the training-time coverage per
episode is measured identically. The trained policies are also evaluated on fresh
episodes, sampled (the stochastic policy PPO trained) and greedy (arg-max): `cells` is
the number of distinct cells the episode visited, start cell included (max N²).
"""

from __future__ import annotations

import argparse
import time


import experiment_common as ec
from jaxshape.algos.ppo import PPOConfig, default_hparams, make_ppo
from jaxshape.envs import make
from jaxshape.rewards import additive_visits, chain, coverage, info_locator


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=8)
    ap.add_argument("--max-steps", type=int, default=64)
    ap.add_argument("--radius", type=float, default=0.0)
    ap.add_argument("--total-steps", type=int, default=327_680)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--evals", type=int, default=20)
    ap.add_argument("--name", default="submodular_coverage")
    args = ap.parse_args()

    env, params = make("Coverage-grid", size=args.size, max_steps=args.max_steps)
    shape = (args.size, args.size)
    locate = info_locator(shape, key="cell")
    config = PPOConfig(env="Coverage-grid", num_envs=16, num_steps=64, total_steps=args.total_steps,
                       num_epochs=4, num_minibatches=4, hidden_sizes=(128, 128))

    def logger():
        return coverage(shape, locate, radius=args.radius, observe=False, coef=0.0, stream="logged_coverage",
                        name="logged_coverage")

    conditions = {
        "submodular (coverage gain)": chain(coverage(shape, locate, radius=args.radius, observe=True), logger()),
        "additive (every visit)": chain(additive_visits(shape, locate, radius=args.radius), logger()),
    }
    runs, summary = {}, {}
    wall0 = time.perf_counter()
    for label, transform in conditions.items():
        ppo = make_ppo(config, env, params, transform)
        hp = default_hparams(ppo.transform, learning_rate=3e-4)
        run = ec.run_condition(ppo, hp, args.seeds, args.evals, 64, num_cells=args.size ** 2, sampled_eval=True)
        runs[label] = run
        train_cov = run["train/episode_reward/logged_coverage"]
        summary[label] = {
            "final_sampled_cells": ec.mean_std(run["sample/cells"][:, -1]),
            "final_greedy_cells": ec.mean_std(run["eval/cells"][:, -1]),
            "final_training_coverage_gain": ec.mean_std(train_cov[:, -10:].mean(1)),
            "initial_training_coverage_gain": ec.mean_std(train_cov[:, :3].mean(1)),
            "compile_seconds": run["compile_seconds"], "run_seconds": run["run_seconds"],
        }
        s = summary[label]
        print(f"[{label}] cells/episode sampled {ec.fmt(s['final_sampled_cells'])}, greedy "
              f"{ec.fmt(s['final_greedy_cells'])}, training coverage gain {ec.fmt(s['final_training_coverage_gain'])} "
              f"(start {ec.fmt(s['initial_training_coverage_gain'])}) | compile {run['compile_seconds']:.1f}s "
              f"run {run['run_seconds']:.1f}s", flush=True)
    wall = time.perf_counter() - wall0
    payload = {
        "experiment": "submodular_coverage", "machine": ec.machine(), "wall_seconds": wall, "args": vars(args),
        "ppo_config": config.__dict__, "env_steps_per_seed": next(iter(runs.values()))["env_steps_per_seed"],
        "max_cells": args.size ** 2, "summary": summary,
        "curves": {k: {m: v for m, v in r.items() if m.startswith(("eval/", "sample/", "eval_steps"))}
                   for k, r in runs.items()},
    }
    path = ec.save_results(args.name, payload)
    png = ec.plot_conditions(
        args.name, runs,
        [("sample/cells", "eval_steps", "distinct cells per episode (sampled policy)"),
         ("eval/cells", "eval_steps", "distinct cells per episode (greedy policy)"),
         ("train/episode_reward/logged_coverage", "update_steps", "training: new cells per episode (logged)")],
        f"Coverage-grid {args.size}×{args.size}, T={args.max_steps}, radius {args.radius:g}: "
        f"submodular marginal gain vs additive reward")
    print(f"wall {wall:.1f}s\n{path}\n{png}")


if __name__ == "__main__":
    main()
