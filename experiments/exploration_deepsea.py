"""Exploration on DeepSea-bsuite (size N, default 20): plain PPO vs PPO + a tabular count
bonus vs PPO + RND, at equal budget.

    python experiments/exploration_deepsea.py [--size 20] [--total-steps N] [--seeds K]
    python experiments/exploration_deepsea.py --conditions rnd --rnd-lr 1e-4,1e-3   # an lr sweep

DeepSea's size is a constructor argument (`make("DeepSea-bsuite", size=N)`, which gymnax
forwards to `DeepSea(size=N)`); episodes last exactly N steps. The treasure at the
bottom-right pays 1 and every "right" move costs 0.01/N, so the best return is 0.99 and
the myopic "always left" policy returns 0. With the fixed (deterministic) action map a
random policy finds the treasure with probability 2^−N per episode.

Conditions (same PPO config, hparams, seeds):
- `ppo`: extrinsic reward only;
- `ppo + count`: `count_bonus(beta, hash="tabular")`, b = β/√n(cell of s′), cells indexed
  by the arg-max of the one-hot observation, one table shared by all envs;
- `ppo + rnd`: `rnd()`, non-episodic stream with its own value head (γ_int 0.99); with
  several `--rnd-lr` values (comma-separated), one condition per predictor learning rate.

Success: the greedy policy's episode reaches the treasure (extrinsic reward > 0.5 at some
step). Steps needed: the first evaluation at which every greedy eval episode succeeds.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import experiment_common as ec
from jaxshape.algos.ppo import PPOConfig, default_hparams, make_ppo
from jaxshape.envs import make
from jaxshape.rewards import count_bonus, rnd


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=20)
    ap.add_argument("--total-steps", type=int, default=307_200)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--evals", type=int, default=30)
    ap.add_argument("--beta", type=float, default=0.1, help="count bonus scale")
    ap.add_argument("--rnd-coef", type=float, default=1.0)
    ap.add_argument("--rnd-lr", default=None,
                    help="RND predictor learning rate(s), comma-separated (default: rnd()'s)")
    ap.add_argument("--rnd-warmup", type=int, default=None, help="RND warm-up rollouts (default: rnd()'s)")
    ap.add_argument("--conditions", default="ppo,count,rnd")
    ap.add_argument("--name", default="exploration_deepsea")
    args = ap.parse_args()

    env, params = make("DeepSea-bsuite", size=args.size)
    config = PPOConfig(env="DeepSea-bsuite", num_envs=16, num_steps=4 * args.size, total_steps=args.total_steps,
                       num_epochs=4, num_minibatches=4, hidden_sizes=(64, 64))
    rnd_kwargs = {} if args.rnd_warmup is None else {"warmup": args.rnd_warmup}
    lrs = [None] if args.rnd_lr is None else [float(x) for x in args.rnd_lr.split(",")]
    rnds = [(f"ppo + rnd (lr {lr:g})" if len(lrs) > 1 else "ppo + rnd",
             rnd(coef=args.rnd_coef, **rnd_kwargs, **({} if lr is None else {"lr": lr}))) for lr in lrs]
    all_conditions = {
        "ppo": [("ppo", None)],
        "count": [("ppo + count", count_bonus(beta=args.beta, hash="tabular"))],
        "rnd": rnds,
    }
    trackers = {"success": (lambda r, info, term: r > 0.5, "max")}
    runs, summary = {}, {}
    wall0 = time.perf_counter()
    for label, transform in [c for key in args.conditions.split(",") for c in all_conditions[key]]:
        ppo = make_ppo(config, env, params, transform)
        hp = default_hparams(ppo.transform, learning_rate=3e-4)
        # the greedy policy is deterministic and DeepSea (fixed action map) too: 16 episodes suffice
        run = ec.run_condition(ppo, hp, args.seeds, args.evals, 16, trackers=trackers)
        runs[label] = run
        steps = run["eval_steps"]
        needed = ec.first_crossing(steps, run["eval/success"], 1.0, sustained=2)
        solved_train = ec.first_crossing(run["update_steps"], run["train/episode_return"], 0.9)
        summary[label] = {
            "final_greedy_success": ec.mean_std(run["eval/success"][:, -1]),
            "final_greedy_return": ec.mean_std(run["eval/return"][:, -1]),
            "seeds_solved": int(np.sum(run["eval/success"][:, -1] >= 1.0)),
            "steps_to_greedy_solve": ec.mean_std(needed),
            "steps_to_training_return_0.9": ec.mean_std(solved_train),
            "final_training_return": ec.mean_std(run["train/episode_return"][:, -10:].mean(1)),
            "compile_seconds": run["compile_seconds"], "run_seconds": run["run_seconds"],
        }
        s = summary[label]
        print(f"[{label}] solved {s['seeds_solved']}/{args.seeds} seeds | final greedy return "
              f"{ec.fmt(s['final_greedy_return'])} | steps to solve {ec.fmt(s['steps_to_greedy_solve'])} | "
              f"compile {run['compile_seconds']:.1f}s run {run['run_seconds']:.1f}s", flush=True)
    wall = time.perf_counter() - wall0
    payload = {
        "experiment": "exploration_deepsea", "machine": ec.machine(), "wall_seconds": wall, "args": vars(args),
        "ppo_config": config.__dict__, "rnd_hparams": {label: t.default_hparams for label, t in rnds},
        "env_steps_per_seed": next(iter(runs.values()))["env_steps_per_seed"],
        "summary": summary,
        "curves": {k: {m: v for m, v in r.items() if m.startswith(("eval/", "eval_steps"))} for k, r in runs.items()},
    }
    path = ec.save_results(args.name, payload)
    png = ec.plot_conditions(
        args.name, runs,
        [("eval/success", "eval_steps", "greedy success (reaches the treasure)"),
         ("eval/return", "eval_steps", "greedy extrinsic return (best 0.99)"),
         ("train/episode_return", "update_steps", "training extrinsic return")],
        f"DeepSea-bsuite size {args.size}: exploration bonuses vs plain PPO")
    print(f"wall {wall:.1f}s\n{path}\n{png}")


if __name__ == "__main__":
    main()
