"""Decoupled multi-stream advantages on PointGoal-v0: a mis-scaled reward term, summed vs
decoupled (GDPO-style: `PPOConfig(decouple_streams=True)`).

    python experiments/decoupled_streams.py [--total-steps N] [--seeds K] [--scale 1000]

Every condition optimises the env's sparse reward plus potential shaping toward the goal
(Φ = −‖position − goal‖, as in experiments/shaping_goal.py). Two of them add an action
cost −scale·‖a‖²/2 (an energy penalty written at the wrong scale, the kind of term that
breaks learning when many terms are summed):

- `no distractor`: sparse + shaping, summed (the reference);
- `distractor, summed`: sparse + shaping + cost, one value head on the weighted sum;
- `distractor, decoupled`: the same streams, a value head per stream and each stream's
  advantages normalised before the weighted sum (coefficients 1).

Same PPO settings, seeds and budget; the greedy policy plays fresh episodes `--evals`
times during training (success = at the goal when the episode ends).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import jax.numpy as jnp

import experiment_common as ec
from jaxshape import rewards
from jaxshape.algos.ppo import PPOConfig, default_hparams, make_ppo
from jaxshape.envs import make


def goal_distance(obs):
    return -jnp.linalg.norm(obs[..., 0:2] - obs[..., 2:4], axis=-1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--total-steps", type=int, default=327_680)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--evals", type=int, default=20)
    ap.add_argument("--scale", type=float, default=1000.0)
    ap.add_argument("--name", default="decoupled_streams")
    args = ap.parse_args()

    env, params = make("PointGoal-v0")
    params = params.replace(goal_eps=0.15, max_speed=0.2)
    config = PPOConfig(env="PointGoal-v0", num_envs=16, num_steps=64, total_steps=args.total_steps,
                       num_epochs=4, num_minibatches=4, hidden_sizes=(64, 64))
    shaping = rewards.potential_shaping(goal_distance)
    cost = rewards.term("action_cost", lambda t, hp: -hp["scale"] * 0.5 * jnp.sum(t.action ** 2, axis=-1),
                        hparams={"scale": args.scale})
    conditions = {
        "no distractor": (config, shaping),
        "distractor, summed": (config, rewards.chain(shaping, cost)),
        "distractor, decoupled": (dataclasses.replace(config, decouple_streams=True), rewards.chain(shaping, cost)),
    }
    trackers = {"final_success": (lambda r, info, term: info["is_success"], "last")}
    runs, summary = {}, {}
    wall0 = time.perf_counter()
    for label, (cfg, transform) in conditions.items():
        ppo = make_ppo(cfg, env, params, transform)
        hp = default_hparams(ppo.transform, learning_rate=3e-4)
        run = ec.run_condition(ppo, hp, args.seeds, args.evals, 128, trackers=trackers)
        runs[label] = run
        summary[label] = {
            "final_greedy_success": ec.mean_std(run["eval/final_success"][:, -1]),
            "final_greedy_return": ec.mean_std(run["eval/return"][:, -1]),
            "compile_seconds": run["compile_seconds"], "run_seconds": run["run_seconds"],
        }
        print(f"[{label}] final greedy success {ec.fmt(summary[label]['final_greedy_success'])}, extrinsic return "
              f"{ec.fmt(summary[label]['final_greedy_return'])} | compile {run['compile_seconds']:.1f}s "
              f"run {run['run_seconds']:.1f}s", flush=True)
    wall = time.perf_counter() - wall0
    payload = {"experiment": args.name, "machine": ec.machine(), "wall_seconds": wall, "args": vars(args),
               "env_params": {"goal_eps": 0.15, "max_speed": 0.2}, "summary": summary,
               "curves": {k: {m: v for m, v in r.items() if m.startswith(("eval/", "eval_steps"))}
                          for k, r in runs.items()}}
    path = ec.save_results(args.name, payload)
    png = ec.plot_conditions(
        args.name, runs,
        [("eval/final_success", "eval_steps", "greedy success rate (at goal at episode end)"),
         ("eval/return", "eval_steps", "greedy extrinsic return"),
         ("train/episode_return", "update_steps", "training extrinsic return")],
        f"PointGoal-v0: an action cost at {args.scale:g}x scale, summed vs decoupled advantages")
    print(f"wall {wall:.1f}s\n{path}\n{png}")


if __name__ == "__main__":
    main()
