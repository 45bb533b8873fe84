"""A learned potential on PointGoal-v0: sparse reward vs shaping by a progress estimator
the agent trains on its own episodes (`rewards.learned_potential`), with hand-written
shaping (Φ = −‖position − goal‖, as in experiments/shaping_goal.py) as the reference.

    python experiments/learned_potential.py [--total-steps N] [--seeds K] [--scale S]

- `sparse`: the env's reward only (−1 per step away from the goal, 0 at it);
- `sparse + learned potential`: Φ = scale·P_θ(s), P_θ fitted in every update to the time
  to success δ^k (success: extrinsic reward > −0.5, i.e. at the goal), paid as potential
  shaping (policy-invariant whatever P_θ learns);
- `sparse + hand-written shaping`: what a designer who knows the task would write.

Same PPO settings, seeds and budget; the greedy policy plays fresh episodes `--evals`
times during training (success = at the goal when the episode ends).
"""

from __future__ import annotations

import argparse
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
    ap.add_argument("--scale", type=float, default=10.0)
    ap.add_argument("--name", default="learned_potential")
    args = ap.parse_args()

    env, params = make("PointGoal-v0")
    params = params.replace(goal_eps=0.15, max_speed=0.2)
    config = PPOConfig(env="PointGoal-v0", num_envs=16, num_steps=64, total_steps=args.total_steps,
                       num_epochs=4, num_minibatches=4, hidden_sizes=(64, 64))
    conditions = {
        "sparse": (config, None),
        "sparse + learned potential": (config, rewards.learned_potential(scale=args.scale, threshold=-0.5)),
        "sparse + hand-written shaping": (config, rewards.potential_shaping(goal_distance)),
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
        f"PointGoal-v0: sparse vs a learned potential (scale {args.scale:g}) vs hand-written shaping")
    print(f"wall {wall:.1f}s\n{path}\n{png}")


if __name__ == "__main__":
    main()
