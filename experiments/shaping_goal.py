"""Potential shaping on PointGoal-v0: PPO with Φ = −‖position − goal‖ vs PPO without.

    python experiments/shaping_goal.py [--total-steps N] [--seeds K]

Both conditions get the same budget, config, hparams and seeds; the only difference is
the shaping stream F = γ·Φ(s′) − Φ(s) (`jaxshape.rewards.potential_shaping`). Every
`--evals`-th of the run, the greedy policy plays fresh episodes (random start and goal):
`success` = the agent is within goal_eps of the goal at the episode's last step (it
reached the goal and stayed), `reached` = it was within goal_eps at some step.

Time to success: the first env step at which the greedy success rate is >= the
`--threshold` (default 0.8) at two consecutive evaluations. The final greedy policy is
also scored by `PPO.evaluate` (mean extrinsic return of fresh episodes: −1 per step
spent outside the goal, so higher is better; an oracle heading straight to the goal
scores about −(distance − ε)/max_speed; `oracle_return` measures a hand-written
controller that moves each axis at full speed toward the goal).
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp

import experiment_common as ec
from jaxshape.algos.ppo import PPOConfig, default_hparams, make_ppo
from jaxshape.envs import make
from jaxshape.rewards import potential_shaping


def goal_distance(obs):
    """Φ(s) = −‖position − goal‖ for PointGoal's obs [p(2), g(2)]."""
    return -jnp.linalg.norm(obs[..., 0:2] - obs[..., 2:4], axis=-1)


def oracle_return(env, params, n=4096, seed=0):
    """Mean return of a hand-written controller a = clip((g − p)/max_speed, −1, 1) (each
    axis at full speed toward the goal) over fresh episodes: a near-optimal reference."""

    def episode(key):
        reset_key, key = jax.random.split(key)
        obs, state = env.reset(reset_key, params)

        def step(carry, k):
            obs, state, ret, running = carry
            action = jnp.clip((obs[2:4] - obs[0:2]) / params.max_speed, -1.0, 1.0)
            obs, state, r, term, trunc, _ = env.step(k, state, action, params)
            ret = ret + jnp.where(running, r, 0.0)
            return (obs, state, ret, running & ~(term | trunc)), None

        (_, _, ret, _), _ = jax.lax.scan(step, (obs, state, 0.0, True), jax.random.split(key, params.max_steps_in_episode))
        return ret

    return float(jax.jit(jax.vmap(episode))(jax.random.split(jax.random.PRNGKey(seed), n)).mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--total-steps", type=int, default=491_520)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--evals", type=int, default=30)
    ap.add_argument("--eval-episodes", type=int, default=128)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--max-steps", type=int, default=50)
    ap.add_argument("--goal-eps", type=float, default=0.15)
    ap.add_argument("--max-speed", type=float, default=0.2)
    ap.add_argument("--name", default="shaping_goal")
    args = ap.parse_args()

    env, params = make("PointGoal-v0")
    params = params.replace(max_steps_in_episode=args.max_steps, goal_eps=args.goal_eps, max_speed=args.max_speed)
    config = PPOConfig(env="PointGoal-v0", num_envs=16, num_steps=64, total_steps=args.total_steps,
                       num_epochs=4, num_minibatches=4, hidden_sizes=(64, 64))
    trackers = {
        "final_success": (lambda r, info, term: info["is_success"], "last"),  # at the goal when the episode ends
        "reached": (lambda r, info, term: info["is_success"], "max"),  # at the goal at some step
    }
    conditions = {
        "sparse": None,
        "sparse + shaping": potential_shaping(goal_distance),
    }
    runs, summary = {}, {}
    wall0 = time.perf_counter()
    for label, transform in conditions.items():
        ppo = make_ppo(config, env, params, transform)
        hp = default_hparams(ppo.transform, learning_rate=3e-4)
        # the final greedy policy is also scored by the library's own PPO.evaluate
        final_eval = (lambda ppo_, hp_: lambda state, key: ppo_.evaluate(state, hp_, key, 256))(ppo, hp)
        run = ec.run_condition(ppo, hp, args.seeds, args.evals, args.eval_episodes, trackers=trackers,
                               final_eval=final_eval)
        runs[label] = run
        steps = run["eval_steps"]
        tts = ec.first_crossing(steps, run["eval/final_success"], args.threshold, sustained=2)
        summary[label] = {
            "time_to_success_steps": ec.mean_std(tts),
            "final_greedy_success": ec.mean_std(run["eval/final_success"][:, -1]),
            "final_greedy_reached": ec.mean_std(run["eval/reached"][:, -1]),
            "final_greedy_return": ec.mean_std(run["eval/return"][:, -1]),
            "final_ppo_evaluate_return": ec.mean_std(run["final/eval_return"]),
            "compile_seconds": run["compile_seconds"], "run_seconds": run["run_seconds"],
        }
        print(f"[{label}] time-to-success {ec.fmt(summary[label]['time_to_success_steps'])} steps | final greedy "
              f"success {ec.fmt(summary[label]['final_greedy_success'])}, return "
              f"{ec.fmt(summary[label]['final_ppo_evaluate_return'])} | compile {run['compile_seconds']:.1f}s "
              f"run {run['run_seconds']:.1f}s", flush=True)
    wall = time.perf_counter() - wall0
    oracle = oracle_return(env, params)
    payload = {
        "experiment": "shaping_goal", "machine": ec.machine(), "wall_seconds": wall, "args": vars(args),
        "env_params": {"max_steps_in_episode": args.max_steps, "goal_eps": args.goal_eps, "max_speed": args.max_speed},
        "ppo_config": config.__dict__, "threshold": args.threshold, "oracle_return": oracle,
        "env_steps_per_seed": runs["sparse"]["env_steps_per_seed"], "summary": summary,
        "curves": {k: {m: v for m, v in r.items() if m.startswith(("eval/", "eval_steps"))} for k, r in runs.items()},
    }
    path = ec.save_results(args.name, payload)
    png = ec.plot_conditions(
        args.name, runs,
        [("eval/final_success", "eval_steps", "greedy success rate (at goal at episode end)"),
         ("eval/return", "eval_steps", f"greedy extrinsic return (controller ≈ {oracle:.1f})"),
         ("train/episode_return", "update_steps", "training extrinsic return")],
        f"PointGoal-v0 (max_speed={args.max_speed}, eps={args.goal_eps}, T={args.max_steps}): "
        f"potential shaping vs none",
        hlines={"eval/final_success": args.threshold})
    print(f"wall {wall:.1f}s  oracle return {oracle:.2f}\n{path}\n{png}")


if __name__ == "__main__":
    main()
