"""Time to score: wall-clock seconds, compilation included, until PPO's greedy return
first reaches a target, for jaxshape and rejax measured the same way.

Targets: CartPole-v1 475, Acrobot-v1 -100, Breakout-MinAtar 28, SpaceInvaders-MinAtar
131 (the last two: the PPO returns gymnax's README lists). Systems, each in its own
process with all seeds vmapped (seed i from PRNGKey(i)):

  jaxshape   its PPO defaults on CartPole/Acrobot, `--preset minatar` on MinAtar (the
             settings experiments/learning_parity.py uses)
  rejax      rejax PPO at those same settings (experiments/peers/rejax_time_to_score.py)
  rejax-own  rejax PPO at the settings rejax's authors published: its configs/gymnax
             cartpole.yaml and acrobot.yaml (5 envs x 100 steps, 5 epochs x 5
             minibatches, lr 7.5e-4, Acrobot with observation normalisation), and its
             Breakout-MinAtar settings on MinAtar (learning_parity.REJAX_MINATAR)

Protocol (experiments/peers/_time_to_score_loop.py, the same code in both processes):
train in chunks of whole updates of about `--every` env steps with one chunk function
compiled once; after each chunk play `--episodes` fresh episodes per seed with the
greedy policy (each system's own evaluator, vmapped, one episode per env to the time
limit). A seed's time is the training clock at the first evaluation whose mean greedy
return is >= the target: seconds since the learner started being built (after imports),
building, initialising, compiling and training included, the evaluations left out (they
are the measuring instrument; `wall_seconds` in the JSON keeps them in). A seed that
never reaches the target within the budget counts as the clock at the end of its
budget and is reported as not reached. Per system and env: the IQM of the per-seed
times (experiments/bench_common.py).

    python experiments/time_to_score.py                                  # CartPole, Acrobot
    python experiments/time_to_score.py --envs Breakout-MinAtar,SpaceInvaders-MinAtar   # 1e7 steps (GPU)
    python experiments/time_to_score.py --envs CartPole-v1 --budget 200000 --systems jaxshape
    python experiments/time_to_score.py --worker --env CartPole-v1 --budget 100000  # one jaxshape row

Budgets (`--budget N|ENV=N`, env steps per seed): 5e5 on CartPole and Acrobot, 1e7 on
MinAtar, rounded down to whole chunks; jaxshape's learning rate anneals over it, as a
`jaxshape train --total-steps` run of that length would. rejax runs in its own venv
($PEERS_DIR, default /tmp/jaxshape-peers; experiments/peers/setup_peers.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "peers"))

TARGETS = {"CartPole-v1": 475.0, "Acrobot-v1": -100.0, "Breakout-MinAtar": 28.0, "SpaceInvaders-MinAtar": 131.0}
SYSTEMS = ("jaxshape", "rejax", "rejax-own")
# rejax's published PPO settings (configs/gymnax/{cartpole,acrobot}.yaml in its repository)
REJAX_CLASSIC = {"num_envs": 5, "num_steps": 100, "num_epochs": 5, "num_minibatches": 5, "learning_rate": 0.00075,
                 "max_grad_norm": 0.5, "gamma": 0.99, "gae_lambda": 0.95, "clip_eps": 0.2, "ent_coef": 0.01,
                 "vf_coef": 0.5, "agent_kwargs": {"activation": "tanh"}}
REJAX_OWN = {"CartPole-v1": REJAX_CLASSIC, "Acrobot-v1": {**REJAX_CLASSIC, "normalize_observations": True}}


# ------------------------------------------------------------------------ settings
def chunk_updates(batch_size: int, every: int) -> int:
    """Updates per chunk: the whole number closest to `every` env steps (at least one)."""
    return max(1, round(every / batch_size))


def jaxshape_settings(env: str, budget: int, every: int) -> tuple[dict, dict, str, int]:
    """(config, hparams, source, updates per chunk); total_steps is the budget rounded
    down to whole chunks (at least one)."""
    from learning_parity import settings

    config, _, _ = settings(env, budget)
    per_chunk = chunk_updates(config["num_envs"] * config["num_steps"], every)
    chunk_steps = per_chunk * config["num_envs"] * config["num_steps"]
    config, hparams, source = settings(env, max(1, budget // chunk_steps) * chunk_steps)
    return config, hparams, source, per_chunk


def rejax_config(system: str, env: str, budget: int, every: int) -> dict:
    """rejax.PPO.create's keyword arguments for `system` (rejax or rejax-own) on `env`."""
    if system == "rejax-own":
        if env.endswith("-MinAtar"):
            from learning_parity import REJAX_MINATAR

            own = {flag.removeprefix("--").replace("-", "_"): value for flag, value in REJAX_MINATAR.items()}
            hidden, activation = own.pop("hidden"), own.pop("activation")
            own["learning_rate"] = own.pop("lr")
            return {"env": env, **own, "agent_kwargs": {"activation": activation,
                                                        "hidden_layer_sizes": [int(h) for h in hidden.split(",")]}}
        return {"env": env, **REJAX_OWN[env]}
    config, hparams, _, _ = jaxshape_settings(env, budget, every)
    return {"env": env, "num_envs": config["num_envs"], "num_steps": config["num_steps"],
            "num_epochs": config["num_epochs"], "num_minibatches": config["num_minibatches"],
            **{k: hparams[k] for k in ("learning_rate", "gamma", "gae_lambda", "clip_eps", "ent_coef", "vf_coef",
                                       "max_grad_norm")},
            "normalize_observations": False, "normalize_rewards": False,
            "agent_kwargs": {"activation": config["activation"], "hidden_layer_sizes": list(config["hidden_sizes"])}}


# -------------------------------------------------------------------------- worker
def worker(env: str, budget: int, every: int, seeds: int, episodes: int) -> dict:
    """jaxshape PPO on `env`, trained and evaluated chunk by chunk: the JSON row."""
    import gymnax  # noqa: F401  the env library, before the clock, as rejax's worker has it through `import rejax`
    import jax
    import numpy as np

    from _time_to_score_loop import race
    from bench_common import machine
    from jaxshape import pytree
    from jaxshape.run import builder
    from jaxshape.threefry import unrolled_threefry

    start = time.perf_counter()
    config, hparams, source, per_chunk = jaxshape_settings(env, budget, every)
    learner, hp = builder.build("ppo", config, **hparams)
    keys = jax.vmap(jax.random.PRNGKey)(np.arange(seeds))
    members = pytree.stack([hp] * seeds)

    def one_chunk(state, member):
        return jax.lax.scan(lambda s, _: (learner.update(s, member)[0], None), state, None, length=per_chunk)[0]

    train_chunk = jax.jit(jax.vmap(one_chunk))
    evaluate_all = jax.jit(jax.vmap(lambda s, h, k: learner.evaluate(s, h, k, episodes)["eval_return"]))

    def eval_keys(index):
        return jax.vmap(lambda i: jax.random.fold_in(jax.random.PRNGKey(10_000 + i), index))(np.arange(seeds))

    batch = learner.config.batch_size
    with unrolled_threefry():  # every program lowered as the product lowers PPO's (jaxshape/threefry.py)
        result = race(start, lambda: jax.jit(jax.vmap(learner.init))(keys, members),
                      lambda state: (lambda c: lambda s: c(s, members))(train_chunk.lower(state, members).compile()),
                      lambda state, index: evaluate_all(state, members, eval_keys(index)),
                      learner.config.num_updates // per_chunk, per_chunk * batch, TARGETS.get(env, float("inf")))
    return {"system": "jaxshape", "env": env, "seeds": seeds, "target": TARGETS.get(env), "steps_per_chunk":
            per_chunk * batch, "budget_steps": learner.config.num_updates * batch, "eval_episodes": episodes,
            **result, "settings": {**config, **hparams}, "settings_source": source, "device": machine(),
            "jax_version": jax.__version__}


# ------------------------------------------------------------------------- summary
def per_seed(row: dict) -> tuple[list[float], list[int], list[bool]]:
    """Each seed's (seconds, env steps) at its first evaluation at or above the target,
    or the budget's end, and whether it got there."""
    records, seeds = row["records"], row["seeds"]
    seconds, steps, reached = [], [], []
    for seed in range(seeds):
        hit = next((r for r in records if r["greedy_return"][seed] >= row["target"]), None)
        # a run stops once every seed hit the target, so a seed without a hit ran the whole budget
        last = hit or records[-1]
        seconds.append(last["seconds"])
        steps.append(last["steps"])
        reached.append(hit is not None)
    return seconds, steps, reached


def summarise(row: dict) -> dict:
    from bench_common import iqm

    seconds, steps, reached = per_seed(row)
    return {"seconds_iqm": round(iqm(seconds), 1), "seconds_per_seed": seconds, "steps_iqm": round(iqm(steps)),
            "steps_per_seed": steps, "reached_per_seed": reached, "reached": sum(reached),
            "not_reached": len(reached) - sum(reached)}


def label(row: dict) -> str:
    s = row["settings"]
    batch = f"{s['num_envs']}x{s['num_steps']}"
    if row["system"] == "jaxshape":
        return f"jaxshape ({row.get('settings_source', '')}, {batch})"
    return f"{row['system']} ({'rejax' if row['system'] == 'rejax-own' else 'jaxshape'}'s settings, {batch})"


def table(rows: list[dict]) -> str:
    # per seed: * = not reached, counted as the budget's end; first evaluation: the clock after building,
    # initialising, compiling and one chunk, the floor of any time to score at that chunk size
    lines = ["| env (target) | system (settings, envs x steps) | seconds to target, IQM | per seed (s) | "
             "env steps to target, IQM | reached | first evaluation s (steps) | chunk compile s |",
             "|---|---|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        s, first = r["summary"], r["records"][0]
        seeds = ", ".join(f"{t:.0f}" + ("" if ok else "*") for t, ok in zip(s["seconds_per_seed"], s["reached_per_seed"]))
        lines.append(f"| {r['env']} ({r['target']:g}) | {label(r)} | {s['seconds_iqm']:.1f} | {seeds} | "
                     f"{s['steps_iqm']:,} | {s['reached']}/{r['seeds']} | {first['seconds']:.1f} ({first['steps']:,}) | "
                     f"{r['compile_seconds']:.1f} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- main
def commands(env: str, budget: int, args, rejax_python: Path) -> list[tuple[str, list[str]]]:
    """(system, worker command) for every system asked for that can run."""
    common = ["--budget", str(budget), "--every", str(args.every), "--seeds", str(args.seeds),
              "--episodes", str(args.episodes)]
    out = []
    for system in args.systems:
        if system == "jaxshape":
            out.append((system, [sys.executable, __file__, "--worker", "--env", env, *common]))
        elif not rejax_python.exists():
            print(f"{system}: no environment at {rejax_python}; run experiments/peers/setup_peers.sh", file=sys.stderr)
        else:
            out.append((system, [str(rejax_python), str(HERE / "peers" / "rejax_time_to_score.py"), "--config",
                                 json.dumps(rejax_config(system, env, budget, args.every)),
                                 "--target", str(TARGETS[env]), *common]))
    return out


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", default="CartPole-v1,Acrobot-v1",
                        help=f"comma-separated, from {', '.join(TARGETS)} (default: CartPole-v1,Acrobot-v1)")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help=f"from {', '.join(SYSTEMS)} (default: all)")
    parser.add_argument("--budget", nargs="+", metavar="N|ENV=N",
                        help="env steps per seed at most: N for every env, ENV=N for one (default: 1e7 MinAtar, 5e5 others)")
    parser.add_argument("--every", type=int, default=25_000, help="env steps between evaluations (default: 25000)")
    parser.add_argument("--seeds", type=int, default=4, help="seeds per system and env, vmapped (default: 4)")
    parser.add_argument("--episodes", type=int, default=32, help="greedy episodes per seed and evaluation (default: 32)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "time_to_score.json")
    parser.add_argument("--table", action="store_true", help="print the table of --out's results and stop")
    parser.add_argument("--worker", action="store_true", help="run jaxshape on --env and print a JSON line")
    parser.add_argument("--env", default="CartPole-v1", help="the worker's env")
    args = parser.parse_args()
    args.envs = [e for e in args.envs.split(",") if e]
    args.systems = [s for s in args.systems.split(",") if s]
    for name, given, known in (("env", args.envs + [args.env], TARGETS), ("system", args.systems, SYSTEMS)):
        if bad := [g for g in given if g not in known]:
            parser.error(f"unknown {name} {', '.join(bad)}: choose from {', '.join(known)}")
    if min(args.every, args.seeds, args.episodes) < 1:
        parser.error("--every, --seeds and --episodes must be positive")
    return args


def budgets_for(items: list[str] | None, envs: list[str]) -> dict[str, int]:
    """--budget's env steps per env (learning_parity's parser), one error line on bad input."""
    from learning_parity import parse_steps

    try:
        budgets = parse_steps(items, envs)
    except ValueError:
        raise SystemExit(f"--budget {' '.join(items or [])}: give N or ENV=N with N a number of env steps") from None
    except SystemExit as err:  # learning_parity names its own flag
        raise SystemExit(str(err).replace("--total-steps", "--budget")) from None
    if bad := [e for e, n in budgets.items() if n < 1]:
        raise SystemExit(f"--budget: {', '.join(bad)} needs at least one env step")
    return budgets


def main() -> None:
    args = parse_args()
    if args.table:
        if not args.out.exists():
            raise SystemExit(f"--table: no results at {args.out}")
        print(table(json.loads(args.out.read_text())[1:]))
        return
    if args.worker:
        budget = budgets_for(args.budget, [args.env])[args.env]
        print(json.dumps(worker(args.env, budget, args.every, args.seeds, args.episodes)), flush=True)
        return

    from bench_common import machine, run_json_subprocess, write_results

    budgets = budgets_for(args.budget, args.envs)
    rejax_python = Path(os.environ.get("PEERS_DIR", "/tmp/jaxshape-peers")) / "rejax" / "bin" / "python"
    rows = []
    for env in args.envs:
        for system, cmd in commands(env, budgets[env], args, rejax_python):
            print(f"{system} on {env}, budget {budgets[env]:,} steps x {args.seeds} seeds ...", file=sys.stderr,
                  flush=True)
            load = os.getloadavg()[0]
            row = run_json_subprocess(cmd, timeout=6 * 3600)
            if row:
                row.update(system=system, load_average_before=load, load_average_after=os.getloadavg()[0])
                row["summary"] = summarise(row)
                rows.append(row)
                print(json.dumps({k: row[k] for k in ("system", "env", "summary")}), flush=True)
    write_results(args.out, [{"machine": machine(), "command": " ".join(["python", *sys.argv]),
                              "headline": "IQM over seeds of the training clock (build + compile + train, "
                                          "evaluations left out) at the first greedy evaluation >= target",
                              "targets": TARGETS}] + rows)
    print(table(rows))


if __name__ == "__main__":
    main()
