"""Learned reward blends by meta-gradient (`--meta-reward`) against fixed blends, on
CartPole-v1 with a helpful and a misaligned heuristic term (the setting of Gupta et al.
2023, "Behavior Alignment via Reward Function Optimization", BARFI):

    upright  HELPFUL     -|theta| / 0.2095   (experiments/es_reward_terms_cartpole.py)
    hurry    MISALIGNED  -1 per step         (CartPole's task is to survive)

Tasks (the streams the agent is given, each at coefficient 1):
    helpful     extrinsic + upright
    misaligned  extrinsic + hurry
    both        extrinsic + upright + hurry

Methods, each trained by PPO at jaxshape's defaults (16 envs x 128 steps, 8 epochs, 8
minibatches, (64, 64)) for the same env steps per seed:
    fixed        the coefficients stay at 1 (the naive sum)
    unrolled     --meta-reward: coefficients learned through the last minibatch step
    implicit     --meta-reward --meta-gradient implicit (BARFI's Neumann-series gradient)
and, as references, the env reward alone and potential shaping with the helpful term
as the potential (policy-invariant). The claim tested: the learned blend keeps the
helpful term's benefit and recovers from the misaligned one.

    python experiments/meta_reward_blend.py     # the committed numbers (RESULTS.md)

Writes experiments/results/meta_reward_blend.json and .png.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import jax.numpy as jnp
import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_common import iqm_interval  # noqa: E402
from es_reward_terms_cartpole import upright  # noqa: E402
from experiment_common import machine, run_condition, save_results  # noqa: E402

from jaxshape import rewards  # noqa: E402
from jaxshape.algos.ppo import PPOConfig, default_hparams, make_ppo  # noqa: E402

TERMS = {
    "upright": lambda: rewards.term("upright", lambda t, hp: upright(t.next_obs), coef=1.0),
    "hurry": lambda: rewards.term("hurry", lambda t, hp: -jnp.ones_like(t.reward), coef=1.0),
}
TASKS = {"helpful": ("upright",), "misaligned": ("hurry",), "both": ("upright", "hurry")}


def transform_for(task: str | None):
    if task is None:
        return rewards.identity()
    if task == "shaping":
        return rewards.potential_shaping(upright, name="shaping", coef=1.0)
    return rewards.chain(*[TERMS[t]() for t in TASKS[task]])


def stats(values) -> dict:
    x = np.asarray(values, np.float64)
    m, lo, hi = iqm_interval(x)
    return {"iqm": m, "ci95": [lo, hi], "per_seed": x.tolist()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--total-steps", type=int, default=65536)
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--meta-lr", type=float, default=0.05)
    p.add_argument("--meta-unroll", type=int, default=1)
    p.add_argument("--eval-episodes", type=int, default=32)
    p.add_argument("--only", default="", help="comma-separated condition names (default: all)")
    p.add_argument("--name", default="meta_reward_blend")
    args = p.parse_args()

    conditions = [("extrinsic", None, "fixed"), ("shaping", "shaping", "fixed")]
    for task in TASKS:
        conditions += [(f"{task}/fixed", task, "fixed"), (f"{task}/unrolled", task, "unrolled")]
    conditions.append(("both/implicit", "both", "implicit"))
    if args.only:
        conditions = [c for c in conditions if c[0] in args.only.split(",")]

    out = {"machine": machine(), "settings": vars(args), "conditions": {}}
    for label, task, method in conditions:
        transform = transform_for(task)
        meta = method != "fixed"
        cfg = PPOConfig(env="CartPole-v1", total_steps=args.total_steps, meta_reward=meta,
                        meta_gradient=method if meta else "unrolled", meta_unroll=args.meta_unroll)
        ppo = make_ppo(cfg, transform=transform)
        hp = default_hparams(transform, meta_lr=args.meta_lr)
        result = run_condition(ppo, hp, args.seeds, num_evals=4, eval_episodes=args.eval_episodes,
                               final_eval=lambda s, k, ppo=ppo, hp=hp: ppo.evaluate(s, hp, k, args.eval_episodes))
        row = {"final_eval_return": stats(result["final/eval_return"]),
               "final_train_return": stats(result["train/episode_return"][:, -1]),
               "eval_curve_iqm": [iqm_interval(c)[0] for c in result["eval/return"].T],
               "eval_steps": result["eval_steps"].tolist(),
               "compile_seconds": result["compile_seconds"], "run_seconds": result["run_seconds"]}
        if meta:
            row["coefficients"] = {k[len("train/meta/"):]: {"final_mean": float(v[:, -1].mean()),
                                                            "final_per_seed": v[:, -1].tolist(),
                                                            "curve_mean": v.mean(0).tolist()}
                                   for k, v in result.items() if k.startswith("train/meta/") and "grad_norm" not in k}
        out["conditions"][label] = row
        coefs = {k: round(v["final_mean"], 2) for k, v in row.get("coefficients", {}).items()}
        print(f"{label:22s} eval IQM {row['final_eval_return']['iqm']:7.1f} "
              f"[{row['final_eval_return']['ci95'][0]:.1f}, {row['final_eval_return']['ci95'][1]:.1f}]  "
              f"train {row['final_train_return']['iqm']:7.1f}  {coefs}  "
              f"(compile {row['compile_seconds']:.0f} s, run {row['run_seconds']:.0f} s)", flush=True)
        save_results(args.name, out)


if __name__ == "__main__":
    main()
