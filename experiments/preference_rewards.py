"""Rewards learned from preferences vs the true reward, at equal env steps and at three
label budgets (the B-Pref curve: return against the number of labels).

    python experiments/preference_rewards.py --env CartPole-v1
    python experiments/preference_rewards.py --env PointGoal-v0

Conditions, each `--seeds` seeds vmapped in one compiled call (experiment_common.run_condition):
  - `true reward`: PPO on the env's reward;
  - `preference, budget B` for each B in `--budgets`: PPO on `rewards.preference_reward`
    only (the extrinsic stream rewritten to 0), whose reward model is trained on pairs of
    segments labelled by the noiseless `true_return` teacher, `--queries` per update until
    B labels have been given. The budget is a traced hparam: the budgets share one program.
The score is the env's own return (greedy evaluation of fresh episodes, and the training
episodes' return), never the learned reward. Writes experiments/results/preference_<env>.json
and .png.
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from experiment_common import (POINTGOAL_PARAMS, fmt, machine, mean_std, plot_conditions, run_condition,
                               save_results)
from jaxshape import rewards
from jaxshape.algos.ppo import PPOConfig, default_hparams, make_ppo
from jaxshape.envs import make


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", default="CartPole-v1", choices=["CartPole-v1", "PointGoal-v0"])
    ap.add_argument("--total-steps", type=int, default=None)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--evals", type=int, default=10)
    ap.add_argument("--queries", type=int, default=16)
    ap.add_argument("--budgets", type=int, nargs="+", default=[32, 128, 512])
    ap.add_argument("--segment-length", type=int, default=25)
    ap.add_argument("--selection", default="uniform", choices=["uniform", "disagreement"])
    ap.add_argument("--rm-epochs", type=int, default=8, help="reward-model Adam steps per update")
    ap.add_argument("--rm-batch", type=int, default=32, help="labelled pairs per reward-model step")
    ap.add_argument("--name", default=None)
    args = ap.parse_args()
    # the budgets differ only in a traced hparam: the same program, compiled once and then
    # read back from this on-disk cache (their "compile" seconds are the cache reads)
    jax.config.update("jax_compilation_cache_dir", "/tmp/jaxshape_preference_cache")
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)

    env, params = make(args.env)
    if args.env == "PointGoal-v0":
        params = params.replace(**POINTGOAL_PARAMS)
        total = args.total_steps or 327_680
        config = PPOConfig(env=args.env, num_envs=16, num_steps=64, total_steps=total, num_epochs=4,
                           num_minibatches=4, hidden_sizes=(64, 64))
        lr = 3e-4
    else:
        total = args.total_steps or 163_840
        config = PPOConfig(env=args.env, num_envs=16, num_steps=64, total_steps=total, num_epochs=4,
                           num_minibatches=4, hidden_sizes=(64, 64))
        lr = 2.5e-4
    num_actions = int(env.action_space(params).n) if hasattr(env.action_space(params), "n") else None
    pref = rewards.preference_reward("true_return", queries=args.queries, budget=max(args.budgets),
                                     buffer_size=max(args.budgets), segment_length=args.segment_length,
                                     selection=args.selection, num_actions=num_actions,
                                     hidden_sizes=(32, 32), epochs=args.rm_epochs, batch_size=args.rm_batch)
    plain = make_ppo(config, env, params)
    learned = make_ppo(config, env, params, pref)
    runs, summary = {}, {}
    wall0 = time.perf_counter()
    conditions = [("true reward", plain, default_hparams(plain.transform, learning_rate=lr))]
    for budget in args.budgets:
        hp = default_hparams(learned.transform, learning_rate=lr)
        hp = hp.replace(reward={**hp.reward, "budget": np.float32(budget)})
        conditions.append((f"preference, {budget} labels", learned, hp))
    for label, ppo, hp in conditions:
        run = run_condition(ppo, hp, args.seeds, args.evals, 64)
        runs[label] = run
        s = {"final_greedy_return": mean_std(run["eval/return"][:, -1]),
             "final_training_return": mean_std(run["train/episode_return"][:, -5:].mean(1)),
             "compile_seconds": run["compile_seconds"], "run_seconds": run["run_seconds"]}
        if "train/transform/labels" in run:
            s["labels"] = mean_std(run["train/transform/labels"][:, -1])
            s["final_heldout_accuracy"] = mean_std(run["train/transform/heldout_accuracy"][:, -5:].mean(1))
        summary[label] = s
        extra = (f" | labels {fmt(s['labels'], 4)}, held-out accuracy {fmt(s['final_heldout_accuracy'])}"
                 if "labels" in s else "")
        print(f"[{label}] greedy return {fmt(s['final_greedy_return'])}, training return "
              f"{fmt(s['final_training_return'])}{extra} | compile {run['compile_seconds']:.1f}s "
              f"run {run['run_seconds']:.1f}s", flush=True)
    wall = time.perf_counter() - wall0
    name = args.name or f"preference_{args.env.split('-')[0].lower()}"
    payload = {"experiment": name, "machine": machine(), "wall_seconds": wall, "args": vars(args),
               "env_steps_per_seed": int(runs["true reward"]["env_steps_per_seed"]), "summary": summary,
               "curves": {k: {m: v for m, v in r.items()
                              if m.startswith(("eval/return", "eval_steps", "train/transform/heldout_accuracy"))}
                          for k, r in runs.items()}}
    path = save_results(name, payload)
    png = plot_conditions(name, runs, [("eval/return", "eval_steps", "greedy extrinsic return"),
                                       ("train/episode_return", "update_steps", "training extrinsic return")],
                          f"{args.env}: preference-learned reward vs the true reward")
    print(f"wall {wall:.1f}s\n{path}\n{png}")


if __name__ == "__main__":
    main()
