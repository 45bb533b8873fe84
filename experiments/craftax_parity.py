"""Craftax-Classic-Symbolic-v1: jaxshape PPO + RND at the Craftax baseline's PPO-RND settings.

The settings are the published Craftax baseline's PPO-RND defaults (Matthews et al., 2024,
"Craftax: A Lightning-Fast Benchmark for Open-Ended Reinforcement Learning", ICML; the
baseline code the paper releases): 1024 envs x 64 steps, 4 epochs x 8 minibatches,
Adam 2e-4 annealed to 0, γ 0.99, GAE λ 0.8, clip 0.2, entropy 0.01, value weight 0.5,
gradient norm 1.0, actor and critic 3 x 512 tanh; RND with 3 x 256 ReLU networks and a
512-wide output, Adam 3e-4, one epoch of 8 minibatches over the whole batch per update,
a non-episodic intrinsic stream with γ 0.99 and its advantages weighted 0.01.
`--settings` prints them side by side with jaxshape's flags and what differs.

Training goes through the CLI, `jaxshape train` (and `jaxshape train --resume` for later
parts), so the run folder is an ordinary one. `--total-steps` (default 1e8) sizes the run
and `--chunks K` splits it into K parts, one command each: every call of this script
advances the run by one part (the next K-th of its updates, or until `--part-seconds` of
wall time, whichever comes first; it then stops `jaxshape train` with SIGINT, which keeps
the last checkpoint) and exits; call it again to continue. The call that finds the run
complete evaluates it. `--part all` runs every part in this one process. The run folder
(`--run-dir`, default runs/craftax_parity_<device kind>) must survive between calls.

Evaluation: `--eval-episodes` fresh episodes per seed of the final policy, played to their
end (craftax's 10,000-step time limit), actions SAMPLED from the policy (stochastic), as
the published numbers come from the training policy's episodes. Reported: mean episode
return, the Crafter score (the geometric mean over achievements of 1 + success rate in
percent, minus 1; success rate = the share of episodes in which the achievement was
unlocked, read from `info["achievements"]` at each episode's end, envs/craftax_adapter.py)
and each achievement's success rate; also the training episode return from the run's log
and the steps per second of each part. IQM with a 95% bootstrap interval over seeds
when `--seeds` > 1 (seeds are vmapped in one run: `jaxshape train --num-seeds`).

    python experiments/craftax_parity.py --settings
    python experiments/craftax_parity.py --chunks 3          # call 3 times (GPU); the 3rd evaluates
    python experiments/craftax_parity.py --tiny --part all   # CPU smoke: tiny run, 2 parts, evaluation
    python experiments/craftax_parity.py --evaluate-only     # evaluate the run folder as it stands

Results: experiments/results/craftax_parity_<device kind>[_tiny].json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

ENV = "Craftax-Classic-Symbolic-v1"
MAX_REWARD = 22.0  # Craftax-Classic: 22 achievements, reward 1 each (the "optimal reward" percentages use it)

# (setting, Craftax baseline PPO-RND, jaxshape flag, note)
PPO_FLAGS = {"num-envs": 1024, "num-steps": 64, "num-epochs": 4, "num-minibatches": 8, "learning-rate": 2e-4,
             "gamma": 0.99, "gae-lambda": 0.8, "clip-eps": 0.2, "ent-coef": 0.01, "vf-coef": 0.5,
             "max-grad-norm": 1.0, "hidden-sizes": "512,512,512", "activation": "tanh"}
RND_ARGS = {"hidden_sizes": (256, 256, 256), "output_size": 512, "lr": 3e-4, "epochs": 1, "minibatches": 8,
            "update_proportion": 1.0, "gamma": 0.99, "coef": 0.01}
TINY_FLAGS = {"num-envs": 8, "num-steps": 16, "num-epochs": 1, "num-minibatches": 2, "hidden-sizes": "32,32"}
TINY_RND = {"hidden_sizes": (16, 16), "output_size": 16, "minibatches": 2}
TINY_STEPS, TINY_CHUNKS, TINY_EVAL_STEPS, TINY_EVAL_EPISODES = 2048, 2, 100, 8

SETTINGS = [
    ("envs x steps per rollout", "NUM_ENVS 1024 x NUM_STEPS 64", "--num-envs 1024 --num-steps 64", "same"),
    ("epochs x minibatches", "UPDATE_EPOCHS 4 x NUM_MINIBATCHES 8", "--num-epochs 4 --num-minibatches 8", "same"),
    ("learning rate", "2e-4, linear anneal to 0 (ANNEAL_LR)", "--learning-rate 2e-4 --anneal-lr (default on)",
     "same"),
    ("optimizer", "Adam eps 1e-5, global-norm clip 1.0", "Adam eps 1e-5, --max-grad-norm 1.0", "same"),
    ("γ, GAE λ", "0.99, 0.8", "--gamma 0.99 --gae-lambda 0.8", "same"),
    ("clip ε (policy and value)", "0.2", "--clip-eps 0.2", "same"),
    ("entropy, value weight", "0.01, 0.5", "--ent-coef 0.01 --vf-coef 0.5", "same"),
    ("networks", "actor 3x512 tanh; separate extrinsic and intrinsic critics, 3x512 tanh each",
     "--hidden-sizes 512,512,512 --activation tanh: actor 3x512, one critic torso with an extrinsic and an RND "
     "value head", "jaxshape's value heads share one critic torso"),
    ("RND networks", "target and predictor: 3x256 ReLU, output 512", "rnd(hidden_sizes=(256,256,256), "
     "output_size=512)", "same shape; jaxshape initialises them orthogonally, the baseline with flax's default"),
    ("RND training", "Adam 3e-4 (clip 1.0), 1 epoch x 8 minibatches of the whole batch, loss x 0.01",
     "rnd(lr=3e-4, epochs=1, minibatches=8, update_proportion=1.0)",
     "the baseline's loss weight 0.01 scales Adam's input only; jaxshape does not clip the predictor's gradients"),
    ("RND input", "the raw symbolic observation", "observation normalised by running statistics, clipped to ±5 "
     "(jaxshape/rewards/rnd.py)", "cannot be matched: jaxshape's RND always normalises (the reference RND's "
     "rule)"),
    ("intrinsic reward", "prediction MSE x RND_REWARD_COEFF 1.0, unnormalised, zeroed on episode-end steps",
     "prediction error / running std of the intrinsic return; first rollout pays nothing (warmup=1)",
     "cannot be matched: jaxshape's RND divides by the return std (jaxshape/rewards/rnd.py)"),
    ("intrinsic stream", "non-episodic, γ 0.99 (bootstrapped, by the baseline's code, from the extrinsic head's "
     "last value), advantage weight RND_GAE_COEFF 0.01", "rnd(gamma=0.99, coef=0.01): non-episodic, own value "
     "head, γ 0.99, weight 0.01", "same weight and discount; jaxshape bootstraps from the intrinsic head"),
    ("advantages", "A_ext + 0.01·A_int, normalised per minibatch", "A_0 + coef·A_rnd, normalised per minibatch",
     "same"),
    ("time limit", "an end like any other (no bootstrap)", "truncation: V(s′) bootstrapped "
     "(envs/craftax_adapter.py)", "rare: Classic episodes rarely reach 10,000 steps"),
    ("resets", "optimistic resets (a pool of 1/16 as many fresh resets, shared)", "a fresh reset per ending "
     "episode", "cannot be matched without a new env wrapper"),
]


def reward_spec(tiny: bool) -> str:
    args = {**RND_ARGS, **(TINY_RND if tiny else {})}
    body = ", ".join(f"{k}={v}" if not isinstance(v, tuple) else f"{k}=({','.join(map(str, v))})"
                     for k, v in args.items())
    return f"rnd({body})"


def print_settings(tiny: bool) -> None:
    print("settings: Craftax baseline PPO-RND (Matthews et al. 2024) vs "
          f"jaxshape train --reward \"{reward_spec(tiny)}\"")
    for name, theirs, ours, note in SETTINGS:
        print(f"  {name}\n      baseline: {theirs}\n      jaxshape: {ours}\n      note:     {note}")
    if tiny:
        print(f"  --tiny overrides: {TINY_FLAGS}, rnd {TINY_RND}, {TINY_STEPS} steps, eval cut at {TINY_EVAL_STEPS} "
              "steps")


# Published Craftax-Classic numbers, with where they come from. Only what could be
# checked is quoted; a step count without a checked number is left out, not guessed.
PUBLISHED = [
    {"algorithm": "PPO", "steps": 1_000_000_000, "reward_percent_of_max": 90.0,
     "source": "Matthews et al. 2024, Craftax (ICML), abstract: 'averages 90% of the optimal reward' after 1e9 "
               "steps on Craftax-Classic; the per-method numbers are in the paper's Craftax-Classic results table"},
]


# ---------------------------------------------------------------------- training
def newest_checkpoint(run_dir: Path) -> int:
    folder = run_dir / "checkpoints"
    steps = [int(p.name) for p in folder.iterdir() if p.name.isdigit()] if folder.is_dir() else []
    return max(steps, default=0)


def train_command(args: argparse.Namespace, run_dir: Path) -> list[str]:
    jaxshape = [sys.executable, "-m", "jaxshape", "train"]
    if (run_dir / "config.json").exists():
        return jaxshape + ["--resume", str(run_dir), "--no-progress"]
    flags = {**PPO_FLAGS, **(TINY_FLAGS if args.tiny else {})}
    cmd = jaxshape + ["--env", ENV, "--reward", reward_spec(args.tiny), "--total-steps", str(args.total_steps),
                      "--seed", "0", "--num-seeds", str(args.seeds), "--out", str(run_dir),
                      "--chunk-updates", str(args.chunk_updates),
                      "--checkpoint-seconds", "0" if args.tiny else "20", "--eval-every", "0", "--eval-episodes", "1",
                      "--keep-checkpoints", "2", "--no-progress", "--no-plot"]
    for name, value in flags.items():
        cmd += [f"--{name}", str(value)]
    return cmd


def num_updates(args: argparse.Namespace) -> int:
    flags = {**PPO_FLAGS, **(TINY_FLAGS if args.tiny else {})}
    return args.total_steps // (int(flags["num-envs"]) * int(flags["num-steps"]))


def run_part(args: argparse.Namespace, run_dir: Path) -> dict:
    """Advance the run by one part: to the next K-th of its updates or the time limit."""
    total, start_update = num_updates(args), newest_checkpoint(run_dir)
    unit = total / args.chunks
    target = min(total, math.ceil((math.floor(start_update / unit + 1e-9) + 1) * unit))
    cmd = train_command(args, run_dir)
    print(f"part: updates {start_update} -> {target} of {total}: {' '.join(cmd)}", flush=True)
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    stopped_by = None
    while proc.poll() is None:
        time.sleep(2.0)
        if target < total and newest_checkpoint(run_dir) >= target:
            stopped_by = "part target reached"
        elif time.perf_counter() - started > args.part_seconds:
            stopped_by = f"--part-seconds {args.part_seconds:g} passed"
        if stopped_by:
            proc.send_signal(signal.SIGINT)  # the CLI keeps its checkpoints and exits
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
            break
    seconds = time.perf_counter() - started
    reached = newest_checkpoint(run_dir)
    if proc.returncode not in (0, None) and not stopped_by:
        raise SystemExit(f"jaxshape train failed (exit {proc.returncode}); the run folder {run_dir} keeps its "
                         "checkpoints")
    steps_per_update = num_updates_steps(args)
    part = {"from_update": start_update, "to_update": reached, "wall_seconds": seconds, "stopped_by": stopped_by,
            "steps_per_second_incl_startup": (reached - start_update) * steps_per_update * args.seeds / seconds}
    print(f"part done: update {reached} of {total} in {seconds:.0f} s ({stopped_by or 'run complete'})", flush=True)
    return part


def num_updates_steps(args: argparse.Namespace) -> int:
    flags = {**PPO_FLAGS, **(TINY_FLAGS if args.tiny else {})}
    return int(flags["num-envs"]) * int(flags["num-steps"])


# -------------------------------------------------------------------- evaluation
def evaluate_run(run_dir: Path, episodes: int, max_steps: int | None, seed: int = 0) -> list[dict]:
    """Per member: mean return, Crafter score and success rates of `episodes` fresh
    episodes with sampled actions, each played to its end (or cut at `max_steps`)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxshape.envs import reset_batch, step_batch
    from jaxshape.run.policy import restore_run

    learner, _, states, _ = restore_run(run_dir)
    env, params = learner.env, learner.env_params
    limit = int(params.max_timesteps)
    steps = min(limit, max_steps) if max_steps else limit

    def play(state, key):
        reset_key, run_key = jax.random.split(key)
        obs, env_state = reset_batch(env, params, jax.random.split(reset_key, episodes))
        zeros = jnp.zeros((episodes,), jnp.float32)
        achievements = jnp.zeros((episodes, len(env.achievement_names)), bool)

        def step(carry, key):
            env_state, obs, ret, length, running, achieved = carry
            act_key, env_key = jax.random.split(key)
            action = learner.act(state, obs.astype(jnp.float32), act_key, deterministic=False)
            obs, env_state, reward, terminated, truncated, info = step_batch(
                env, params, jax.random.split(env_key, episodes), env_state, action)
            ret = ret + jnp.where(running, reward, 0.0)
            length = length + running
            achieved = jnp.where(running[:, None], info["achievements"].astype(bool), achieved)
            running = jnp.logical_and(running, jnp.logical_not(jnp.logical_or(terminated, truncated)))
            return (env_state, obs, ret, length, running, achieved), None

        carry = (env_state, obs, zeros, zeros, jnp.ones((episodes,), bool), achievements)
        carry, _ = jax.lax.scan(step, carry, jax.random.split(run_key, steps))
        _, _, ret, length, running, achieved = carry
        return ret, length, running, achieved

    play = jax.jit(play)
    names = [name for name, _ in sorted(env.achievement_names, key=lambda pair: pair[1])]
    rows = []
    members = int(jax.tree.leaves(states)[0].shape[0])
    for m in range(members):
        state = jax.tree.map(lambda x: x[m], states)
        ret, length, running, achieved = jax.device_get(play(state, jax.random.PRNGKey(10_000 + seed + m)))
        rates = np.asarray(achieved, np.float64).mean(axis=0)  # index = achievement enum value
        score = float(np.exp(np.mean(np.log1p(100.0 * rates))) - 1.0)
        rows.append({"member": m, "eval_return": float(np.mean(ret)), "eval_length": float(np.mean(length)),
                     "crafter_score_percent": score, "episodes": episodes, "episodes_cut": int(np.sum(running)),
                     "eval_max_steps": steps, "success_rate_percent": {n: 100.0 * float(rates[i])
                                                                       for i, n in enumerate(names)}})
    return rows


def finish(args: argparse.Namespace, run_dir: Path, parts: list[dict]) -> None:
    from bench_common import machine
    from brax_common import device_kind, fmt, iqm_interval, merge_rows
    from jaxshape.run.logs import read_metrics

    episodes = TINY_EVAL_EPISODES if args.tiny else args.eval_episodes
    max_steps = TINY_EVAL_STEPS if args.tiny else args.eval_max_steps
    t = time.perf_counter()
    evals = evaluate_run(run_dir, episodes, max_steps)
    eval_seconds = time.perf_counter() - t
    records = read_metrics(run_dir)
    last = records[-1] if records else {}
    summary = json.loads((run_dir / "summary.json").read_text()) if (run_dir / "summary.json").exists() else {}
    train_returns = last.get("episode_return_per_seed") or [last.get("episode_return")] * len(evals)
    rows = []
    for e, train_return in zip(evals, train_returns):
        rows.append({"env": ENV, "system": "jaxshape ppo+rnd", "seed": e["member"], "steps": last.get("step"),
                     "tiny": args.tiny, "reward": reward_spec(args.tiny), "train_episode_return": train_return,
                     **e, "eval_protocol": "stochastic (sampled actions), fresh episodes to their end",
                     "eval_seconds": eval_seconds, "last_part_steps_per_second": summary.get("steps_per_second"),
                     "parts": parts, "run_dir": str(run_dir), "device": machine(), "device_kind": device_kind(),
                     "published": PUBLISHED})
    out = args.out or HERE / "results" / f"craftax_parity_{device_kind()}{'_tiny' if args.tiny else ''}.json"
    merge_rows(out, rows, key=("env", "system", "seed", "steps"))
    ret = iqm_interval([r["eval_return"] for r in rows])
    score = iqm_interval([r["crafter_score_percent"] for r in rows])
    print(f"\n{ENV}, jaxshape PPO+RND, {len(rows)} seed(s), {fmt(last.get('step'), ',')} steps, "
          f"{episodes} stochastic eval episodes each:")
    print(f"  eval return      IQM {fmt(ret['iqm'], '.2f')} [{fmt(ret['low'], '.2f')}, {fmt(ret['high'], '.2f')}]"
          f"  = {fmt(None if ret['iqm'] is None else 100 * ret['iqm'] / MAX_REWARD)}% of the max reward {MAX_REWARD:g}")
    print(f"  Crafter score    IQM {fmt(score['iqm'], '.2f')}% "
          f"[{fmt(score['low'], '.2f')}, {fmt(score['high'], '.2f')}]")
    print(f"  training return  {', '.join(fmt(r, '.2f') for r in train_returns)} (last logged update, per seed)")
    print(f"  steps/s          last part (run only): {fmt(summary.get('steps_per_second'), ',.0f')}; per part incl. "
          f"startup: {', '.join(fmt(p['steps_per_second_incl_startup'], ',.0f') for p in parts) or 'n/a'}")
    if any(r["episodes_cut"] for r in rows):
        print(f"  note: {sum(r['episodes_cut'] for r in rows)} episode(s) cut at {rows[0]['eval_max_steps']} steps "
              "(their achievements so far count)")
    print("published (Craftax-Classic):")
    for p in PUBLISHED:
        print(f"  {p['algorithm']} at {p['steps']:.0e} steps: {p['reward_percent_of_max']:g}% of the max reward"
              f" -- {p['source']}")
    print("  (no checked published number at the steps reached here; compare curves at equal steps in the paper)")
    print(f"results: {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--total-steps", type=float, default=None, help="env steps per seed (default: 1e8; "
                        f"--tiny: {TINY_STEPS})")
    parser.add_argument("--chunks", type=int, default=None, help="parts the run is split into, one command each "
                        f"(default: 1; --tiny: {TINY_CHUNKS})")
    parser.add_argument("--part", choices=["next", "all"], default="next",
                        help="next: advance one part, evaluate if the run is then complete (default); all: every part")
    parser.add_argument("--part-seconds", type=float, default=480.0,
                        help="stop a part after this much wall time, keeping its last checkpoint (default: 480)")
    parser.add_argument("--chunk-updates", type=int, default=None,
                        help="updates per compiled chunk of jaxshape train (default: 10; --tiny: 1)")
    parser.add_argument("--seeds", type=int, default=1, help="seeds, vmapped in one run (default: 1)")
    parser.add_argument("--eval-episodes", type=int, default=256,
                        help="stochastic eval episodes per seed (default: 256)")
    parser.add_argument("--eval-max-steps", type=int, default=None,
                        help="cut eval episodes at this many steps (default: the env's 10,000-step limit)")
    parser.add_argument("--run-dir", type=Path, default=None,
                        help="the run folder (default: runs/craftax_parity_<device kind>[_tiny])")
    parser.add_argument("--fresh", action="store_true", help="delete the run folder first")
    parser.add_argument("--evaluate-only", action="store_true", help="evaluate the run folder as it stands")
    parser.add_argument("--tiny", action="store_true", help="tiny settings: a CPU smoke run of every code path")
    parser.add_argument("--settings", action="store_true", help="print the settings table and exit")
    parser.add_argument("--out", type=Path, default=None, help="results JSON (default: "
                        "experiments/results/craftax_parity_<device kind>[_tiny].json)")
    args = parser.parse_args()
    args.total_steps = int(args.total_steps or (TINY_STEPS if args.tiny else 1e8))
    args.chunks = args.chunks or (TINY_CHUNKS if args.tiny else 1)
    args.chunk_updates = args.chunk_updates or (1 if args.tiny else 10)
    print_settings(args.tiny)
    if args.settings:
        return

    from brax_common import device_kind

    run_dir = (args.run_dir or ROOT / "runs" / f"craftax_parity_{device_kind()}{'_tiny' if args.tiny else ''}")
    run_dir = run_dir.absolute()
    if args.fresh and run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)
    parts: list[dict] = []
    parts_file = run_dir / "parity_parts.json"
    if parts_file.exists():
        parts = json.loads(parts_file.read_text())
    if not args.evaluate_only:
        while newest_checkpoint(run_dir) < num_updates(args) or not (run_dir / "summary.json").exists():
            parts.append(run_part(args, run_dir))
            parts_file.write_text(json.dumps(parts, indent=2) + "\n")
            if args.part == "next" or parts[-1]["to_update"] == parts[-1]["from_update"]:
                break
        if newest_checkpoint(run_dir) < num_updates(args) or not (run_dir / "summary.json").exists():
            print(f"run not complete ({newest_checkpoint(run_dir)} of {num_updates(args)} updates): call again to "
                  f"continue; the run folder is {run_dir}")
            return
    finish(args, run_dir, parts)


if __name__ == "__main__":
    main()
