"""Decoupled multi-stream advantages (`PPOConfig(decouple_streams=True)`) against the plain
sum of streams, on three tasks.

    python experiments/decoupled_streams.py --task acrobot     [--total-steps N] [--seeds K]
    python experiments/decoupled_streams.py --task cartpole    [--total-steps N] [--seeds K]
    python experiments/decoupled_streams.py --task pointgoal   [--total-steps N] [--seeds K] [--scale 1000]

Decoupled: a value head per stream, predicting in units of the running std σ_k of the
stream's discounted return, and A = Σ_k c_k · g_k · A_k / σ_k (algos/returns.py).
Summed: one value head on Σ_k c_k · r_k. Every coefficient is 1.

- `acrobot`: Acrobot-v1 (a swing-up paying −1 per step until the tip is high enough, 500
  steps at most: no signal before the first success) plus an effort cost
  −scale·w·torque² (torque ∈ {−1, 0, 1}, w = `--effort`) at scale 1 and 1000. Summed and
  decoupled at each; `--coef` sets the effort's coefficient in the decoupled runs
  (there a coefficient weighs one σ of its stream's return, not one unit of reward).
- `cartpole`: CartPole-v1 with three streams that pay exactly 0 (a stream without
  signal), summed and decoupled, and CartPole alone.
- `pointgoal`: PointGoal-v0, the sparse reward + potential shaping toward the goal, with
  and without an action cost −scale·‖a‖²/2, summed and decoupled (see
  experiment_common.compare_on_pointgoal).

acrobot and cartpole: PPO's defaults (16 envs x 128 steps, 8 epochs x 8 minibatches,
64x64, lr 2.5e-4); seeds vmapped in one compile per condition; the greedy policy plays
32 fresh episodes at each of `--evals` points. Reported per condition: the IQM over seeds
of the final greedy return with a 95% percentile-bootstrap interval (bench_common) and
the per-seed values. Writes results/decoupled_streams_<task>.json (pointgoal:
decoupled_streams.json and .png).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import jax.numpy as jnp
import numpy as np

import experiment_common as ec
from bench_common import iqm_interval
from jaxshape import rewards
from jaxshape.algos.ppo import PPOConfig, default_hparams, make_ppo


def torque_effort(transition, hp):
    """−scale·torque², Acrobot's torque = action − 1 ∈ {−1, 0, 1}."""
    torque = transition.action.astype(jnp.float32) - 1.0
    return -hp["scale"] * torque ** 2


def zero(transition, hp):
    del hp
    return jnp.zeros(transition.reward.shape, jnp.float32)


def conditions(task: str, effort_weight: float, scale: float, coef_decoupled: float = 1.0,
               hows=("summed", "decoupled")) -> dict:
    if task == "acrobot":
        def effort(s, how):
            coef = coef_decoupled if how == "decoupled" else 1.0
            return rewards.term("effort", torque_effort, coef=coef, hparams={"scale": s * effort_weight})

        tag = lambda how: f"decoupled (coef {coef_decoupled:g})" if how == "decoupled" else how  # noqa: E731
        return {f"{tag(how)}, effort {s:g}x": (how == "decoupled", effort(s, how)) for s in (1.0, scale)
                for how in hows}
    zeros = rewards.chain(*(rewards.term(f"zero{i}", zero) for i in range(3)))
    return {"CartPole alone": (False, None), "3 zero streams, summed": (False, zeros),
            "3 zero streams, decoupled": (True, zeros)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", choices=("acrobot", "cartpole", "pointgoal"), default="acrobot")
    ap.add_argument("--total-steps", type=int, default=None,
                    help="env steps per seed (default: acrobot 262144, cartpole 151552, pointgoal 327680)")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--evals", type=int, default=8)
    ap.add_argument("--scale", type=float, default=1000.0)
    ap.add_argument("--effort", type=float, default=1.0, help="acrobot: the effort cost's weight at 1x")
    ap.add_argument("--coef", type=float, default=1.0, help="acrobot: the effort stream's coefficient, decoupled")
    ap.add_argument("--only", choices=("summed", "decoupled"), default=None, help="acrobot: run these only")
    ap.add_argument("--name", default=None)
    args = ap.parse_args()
    if args.task == "pointgoal":
        return pointgoal(args)
    env = {"acrobot": "Acrobot-v1", "cartpole": "CartPole-v1"}[args.task]
    args.total_steps = args.total_steps or {"acrobot": 262_144, "cartpole": 151_552}[args.task]
    name = args.name or f"decoupled_streams_{args.task}"
    config = PPOConfig(env=env, total_steps=args.total_steps)
    summary, wall0 = {}, time.perf_counter()
    hows = (args.only,) if args.only else ("summed", "decoupled")
    for label, (decoupled, transform) in conditions(args.task, args.effort, args.scale, args.coef, hows).items():
        ppo = make_ppo(dataclasses.replace(config, decouple_streams=decoupled), transform=transform)
        run = ec.run_condition(ppo, default_hparams(ppo.transform), args.seeds, args.evals, 32)
        final = run["eval/return"][:, -1]
        mid, low, high = iqm_interval(final)
        summary[label] = {"final_greedy_return_iqm": [mid, low, high], "per_seed": final.tolist(),
                          "curve_mean": run["eval/return"].mean(0).tolist(), "eval_steps": run["eval_steps"],
                          "final_greedy_length": run["eval/length"][:, -1].tolist(),
                          "compile_seconds": run["compile_seconds"], "run_seconds": run["run_seconds"]}
        print(f"[{label}] final greedy return IQM {mid:.1f} [{low:.1f}, {high:.1f}], per seed "
              f"{np.round(final, 1).tolist()} | compile {run['compile_seconds']:.0f}s run {run['run_seconds']:.0f}s",
              flush=True)
    wall = time.perf_counter() - wall0
    path = ec.save_results(name, {"experiment": name, "machine": ec.machine(), "wall_seconds": wall,
                                  "args": vars(args), "summary": summary})
    print(f"wall {wall:.0f}s\n{path}")


def pointgoal(args):
    args.total_steps = args.total_steps or 327_680
    args.evals = 20 if args.evals == 8 else args.evals
    args.name = args.name or "decoupled_streams"
    config = ec.pointgoal_config(args.total_steps)
    shaping = rewards.potential_shaping(ec.goal_distance)
    cost = rewards.term("action_cost", lambda t, hp: -hp["scale"] * 0.5 * jnp.sum(t.action ** 2, axis=-1),
                        hparams={"scale": args.scale})
    runs = {
        "no distractor": (config, shaping),
        "distractor, summed": (config, rewards.chain(shaping, cost)),
        "distractor, decoupled": (dataclasses.replace(config, decouple_streams=True), rewards.chain(shaping, cost)),
    }
    ec.compare_on_pointgoal(args.name, runs, args,
                            f"PointGoal-v0: an action cost at {args.scale:g}x scale, summed vs decoupled advantages")


if __name__ == "__main__":
    main()
