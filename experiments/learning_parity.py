"""Learning parity: jaxshape PPO against rejax PPO, side by side, at equal env steps.

For each env both systems train the same seeds (agent i from PRNGKey(i), all seeds in
one vmapped call) with the same settings wherever both expose them, then play
`--eval-episodes` fresh episodes per seed with the policy sampled (stochastic, the
headline) and with its most likely action (greedy). Reported per system and env: the
IQM over seeds of each seed's mean return with a 95% percentile-bootstrap interval
(experiments/bench_common.py), and training steps/s with compilation timed apart.

Settings: MinAtar envs use jaxshape's `--preset minatar` (jaxshape/run/presets.py);
CartPole-v1 and Acrobot-v1 use jaxshape's PPO defaults (algos/ppo.py: 16 envs x 128
steps, 8 epochs x 8 minibatches, 64x64 tanh, lr 2.5e-4), as experiments/bench_ppo.py
does. rejax gets the same numbers (experiments/peers/rejax_ppo.py); what it does not
expose or does differently is listed under "differences" in the JSON output. On MinAtar
envs rejax also runs at its own published MinAtar settings (`REJAX_MINATAR` below).

    python experiments/learning_parity.py                      # published step counts (GPU)
    python experiments/learning_parity.py --total-steps 2000000 CartPole-v1=500000 Acrobot-v1=500000
    python experiments/learning_parity.py --envs Breakout-MinAtar --systems rejax-own --append
    python experiments/learning_parity.py --envs CartPole-v1 --total-steps 100000 --seeds 4 --no-peers
    python experiments/learning_parity.py --worker --env Breakout-MinAtar --steps 81920 --seeds 4

Default step counts: 1e7 for MinAtar (the preset's, as published), 5e5 for CartPole and
Acrobot. `--total-steps N` sets every env; `ENV=N` sets one. rejax runs in its own
virtual environment (experiments/peers/setup_peers.sh, found in $PEERS_DIR, default
/tmp/jaxshape-peers); without it, or with --no-peers, only jaxshape runs. Evaluation is
one fresh episode per eval env up to the env's time limit for both systems (jaxshape:
jaxshape/evaluation.py; rejax: its own evaluator), untimed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

ENVS = ("Breakout-MinAtar", "SpaceInvaders-MinAtar", "CartPole-v1", "Acrobot-v1")
CLASSIC_STEPS = 500_000
PUBLISHED_MINATAR_STEPS = 10_000_000
# rejax's published MinAtar PPO settings (Breakout-MinAtar, 1e6 steps; see jaxshape/run/presets.py):
# an extra rejax row on MinAtar envs, rejax at the settings its authors chose for it
REJAX_MINATAR = {"--num-envs": 32, "--num-steps": 32, "--num-epochs": 4, "--num-minibatches": 4, "--hidden": "64,64",
                 "--activation": "tanh", "--lr": 0.00025674088686342003, "--gamma": 0.995, "--gae-lambda": 0.95,
                 "--clip-eps": 0.2, "--ent-coef": 0.01, "--vf-coef": 0.5, "--max-grad-norm": 1.0}
OWN = "rejax (own MinAtar settings)"
# the PPO returns gymnax's README lists for its MinAtar envs (gymnax-blines: 1e7 steps, 64 envs x 128 steps,
# 2x256 MLP, lr 5e-4, gamma 0.999): the "published" column of the table
PUBLISHED_RETURNS = {"Asterix-MinAtar": 15, "Breakout-MinAtar": 28, "Freeway-MinAtar": 58, "SpaceInvaders-MinAtar": 131}
DIFFERENCES = [
    "rejax anneals no learning rate: its lr is constant (jaxshape's anneals linearly to 0 with anneal_lr)",
    "rejax clips each gradient element to [-max_grad_norm, max_grad_norm]; jaxshape clips the global norm",
    "rejax optimises actor and critic with two Adam optimizers (eps 1e-8); jaxshape uses one over both (eps 1e-5)",
    "rejax initialises its MLPs with flax's default (LeCun normal); jaxshape orthogonally (gains sqrt 2, 0.01, 1)",
    "rejax does not bootstrap at time limits (done = terminated or truncated); jaxshape does",
    "rejax needs gymnax 0.0.9, jaxshape gymnax >= 1.0: the same env ids and params, separate implementations",
]


# ------------------------------------------------------------------------ settings
def settings(env: str, total_steps: int) -> tuple[dict, dict, str]:
    """(static config, traced hparams, where they come from) for jaxshape on `env`;
    `total_steps` is rounded down to whole batches, so both systems run exactly it."""
    import dataclasses

    from jaxshape.run import builder, presets

    config_cls, hparams_cls, _, _ = builder.builders("ppo")

    if env in presets.get("minatar").envs:
        applied = presets.apply("minatar", "ppo", {"env": env, "total_steps": total_steps})
        config, hparams, source = applied.config, applied.hparams, "preset minatar"
    else:
        config, source = {"env": env, "total_steps": total_steps}, "PPO defaults"
        defaults = hparams_cls()  # the class defaults, plain floats
        hparams = {k: float(getattr(defaults, k)) for k in ("learning_rate", "gamma", "gae_lambda", "clip_eps",
                                                             "ent_coef", "vf_coef", "max_grad_norm")}
    full = dataclasses.asdict(config_cls(**config))
    full["total_steps"] = total_steps // (full["num_envs"] * full["num_steps"]) * full["num_envs"] * full["num_steps"]
    return full, hparams, source


def rejax_flags(config: dict, hparams: dict) -> list[str]:
    """experiments/peers/rejax_ppo.py's flags for the same settings."""
    pairs = {"--env": config["env"], "--num-envs": config["num_envs"], "--num-steps": config["num_steps"],
             "--num-epochs": config["num_epochs"], "--num-minibatches": config["num_minibatches"],
             "--hidden": ",".join(map(str, config["hidden_sizes"])), "--activation": config["activation"],
             "--lr": hparams["learning_rate"], "--gamma": hparams["gamma"], "--gae-lambda": hparams["gae_lambda"],
             "--clip-eps": hparams["clip_eps"], "--ent-coef": hparams["ent_coef"], "--vf-coef": hparams["vf_coef"],
             "--max-grad-norm": hparams["max_grad_norm"]}
    return [str(x) for pair in pairs.items() for x in pair]


# -------------------------------------------------------------------------- worker
def worker(env: str, total_steps: int, seeds: int, eval_episodes: int) -> dict:
    """Train `seeds` jaxshape PPO agents on `env` in one vmapped call; evaluate them."""
    import jax
    import numpy as np

    from bench_common import machine, time_compiled
    from jaxshape import pytree
    from jaxshape.evaluation import episode_limit, evaluate
    from jaxshape.run import builder

    config, hparams, source = settings(env, total_steps)
    learner, hp = builder.build("ppo", config, **hparams)
    keys = jax.vmap(jax.random.PRNGKey)(np.arange(seeds))
    members = pytree.stack([hp] * seeds)
    timing = time_compiled(jax.vmap(learner.train), keys, members)
    state, metrics = timing.pop("result")
    steps = learner.config.num_updates * learner.config.batch_size

    def returns(deterministic: bool):
        def one(member_state, key):
            act = lambda obs, features, k: learner.act(member_state, obs, k, deterministic)  # noqa: E731
            return evaluate(learner.env, learner.env_params, act, key, eval_episodes,
                            episode_limit(learner.env, learner.env_params))["eval_return"]

        eval_keys = jax.vmap(jax.random.PRNGKey)(np.arange(seeds) + 10_000)
        return [round(float(r), 3) for r in jax.jit(jax.vmap(one))(state, eval_keys)]

    return {
        "system": "jaxshape", "env": env, "num_agents": seeds, "seeds": list(range(seeds)),
        "total_steps_per_agent": steps, **timing, "steps_per_second": steps * seeds / timing["run_seconds"],
        "final_return_per_agent": returns(False), "final_greedy_return_per_agent": returns(True),
        "final_training_return_per_agent": [round(float(r), 3) for r in np.asarray(metrics["episode_return"])[:, -1]],
        "eval_episodes_per_agent": eval_episodes, "settings": {**config, **hparams}, "settings_source": source,
        "device": machine(), "jax_version": jax.__version__,
    }


# ------------------------------------------------------------------------- compare
def parse_steps(items: list[str] | None, envs: list[str]) -> dict[str, int]:
    """`N` for every env, then `ENV=N` for one; unset envs keep their published counts."""
    from jaxshape.run import presets

    minatar = presets.get("minatar")
    steps = {e: minatar.config["total_steps"] if e in minatar.envs else CLASSIC_STEPS for e in envs}
    items = items or []
    for item in sorted(items, key=lambda i: "=" in i):  # plain N first, so ENV=N wins
        name, sep, value = item.rpartition("=")
        if sep and name not in steps:
            raise SystemExit(f"--total-steps {item}: {name} is not in --envs ({', '.join(envs)})")
        number = int(float(value))
        steps.update({name: number} if sep else dict.fromkeys(envs, number))
    return steps


def summarise(row: dict) -> dict:
    from bench_common import iqm_interval

    out = {}
    for key, name in (("final_return_per_agent", "stochastic"), ("final_greedy_return_per_agent", "greedy")):
        if row.get(key):
            value, low, high = iqm_interval(row[key])
            out[f"{name}_iqm"], out[f"{name}_ci95"] = round(value, 2), [round(low, 2), round(high, 2)]
    return out


def table(rows: list[dict]) -> str:
    lines = ["| env | steps/seed | system | return IQM, stochastic [95% CI] | return IQM, greedy [95% CI] | "
             "published PPO (gymnax) | steps/s (run) | compile s |", "|---|---:|---|---:|---:|---:|---:|---:|"]
    def cell(summary: dict, kind: str) -> str:
        if kind + "_iqm" not in summary:
            return "n/a"
        low, high = summary[kind + "_ci95"]
        return f"{summary[kind + '_iqm']:.1f} [{low:.1f}, {high:.1f}]"

    for r in rows:
        lines.append(f"| {r['env']} | {r['total_steps_per_agent']:,} | {r['system']} | "
                     f"{cell(r['summary'], 'stochastic')} | {cell(r['summary'], 'greedy')} | "
                     f"{PUBLISHED_RETURNS.get(r['env'], '')} | {r['steps_per_second']:,.0f} | {r['compile_seconds']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", default=",".join(ENVS),
                        help=f"comma-separated gymnax ids (default: {','.join(ENVS)})")
    parser.add_argument("--total-steps", nargs="+", metavar="N|ENV=N",
                        help="env steps per seed: N for every env, ENV=N for one (default: 1e7 MinAtar, 5e5 others)")
    parser.add_argument("--seeds", type=int, default=4, help="seeds per system and env, vmapped (default: 4)")
    parser.add_argument("--eval-episodes", type=int, default=64, help="evaluation episodes per seed (default: 64)")
    parser.add_argument("--peers", action=argparse.BooleanOptionalAction, default=True,
                        help="run rejax too (default: on when its venv exists)")
    parser.add_argument("--systems", default="jaxshape,rejax,rejax-own",
                        help="which to run: jaxshape, rejax (jaxshape's settings), rejax-own (rejax's MinAtar "
                             "settings) (default: all)")
    parser.add_argument("--append", action="store_true",
                        help="keep --out's rows of other systems and envs, replace those run again")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "learning_parity.json")
    parser.add_argument("--worker", action="store_true", help="train jaxshape on one env and print a JSON line")
    parser.add_argument("--env", default="CartPole-v1", help="the worker's env")
    parser.add_argument("--steps", type=int, default=CLASSIC_STEPS, help="the worker's steps per seed")
    args = parser.parse_args()

    if args.worker:
        print(json.dumps(worker(args.env, args.steps, args.seeds, args.eval_episodes)), flush=True)
        return

    from bench_common import machine, run_json_subprocess, write_results

    envs = [e for e in args.envs.split(",") if e]
    steps = parse_steps(args.total_steps, envs)
    rejax_python = Path(os.environ.get("PEERS_DIR", "/tmp/jaxshape-peers")) / "rejax" / "bin" / "python"
    run_peers = args.peers and rejax_python.exists()
    if args.peers and not run_peers:
        print(f"rejax: no environment at {rejax_python}; run experiments/peers/setup_peers.sh", file=sys.stderr)
    rows = []
    for env in envs:
        config, hparams, _ = settings(env, steps[env])
        steps[env] = config["total_steps"]
        commands = [("jaxshape", [sys.executable, __file__, "--worker", "--env", env, "--steps", str(steps[env]),
                                  "--seeds", str(args.seeds), "--eval-episodes", str(args.eval_episodes)])]
        if run_peers:
            def rejax(flags: list[str]) -> list[str]:
                return [str(rejax_python), str(HERE / "peers" / "rejax_ppo.py"), *flags,
                        "--total-steps", str(steps[env]), "--num-agents", str(args.seeds), "--key-per-seed",
                        "--greedy-eval", "--eval-episodes", str(args.eval_episodes)]

            commands.append(("rejax", rejax(rejax_flags(config, hparams))))
            if env.endswith("-MinAtar"):
                own = {**REJAX_MINATAR, "--env": env}
                commands.append((OWN, rejax([str(x) for pair in own.items() for x in pair])))
        short = {"jaxshape": "jaxshape", "rejax": "rejax", OWN: "rejax-own"}
        for name, cmd in [(n, c) for n, c in commands if short[n] in args.systems.split(",")]:
            print(f"{name} on {env}, {steps[env]:,} steps x {args.seeds} seeds ...", file=sys.stderr, flush=True)
            load = os.getloadavg()[0]  # steps/s on a shared machine depends on what else runs
            row = run_json_subprocess(cmd, timeout=6 * 3600)
            if row:
                row["system"], row["load_average_before"], row["load_average_after"] = name, load, os.getloadavg()[0]
                row["summary"] = summarise(row)
                rows.append(row)
                print(json.dumps({k: row[k] for k in ("system", "env", "summary", "steps_per_second")}), flush=True)
    commands = [" ".join(["python", "experiments/learning_parity.py", *sys.argv[1:]])]
    if args.append and args.out.exists():
        header, *kept = json.loads(args.out.read_text())
        commands = header.get("commands", []) + commands
        ran = {(r["system"], r["env"]) for r in rows}
        rows = [r for r in kept if (r["system"], r["env"]) not in ran] + rows
        order = {e: i for i, e in enumerate(ENVS)}
        rows.sort(key=lambda r: (order.get(r["env"], len(order)), r["system"]))
    short_runs = sorted({r["env"] for r in rows if r["env"].endswith("-MinAtar")
                         and r["total_steps_per_agent"] < PUBLISHED_MINATAR_STEPS})
    note = (f"{', '.join(short_runs)} ran fewer env steps than the 1e7 at which MinAtar PPO returns are published; "
            "rerun at full size with `python experiments/learning_parity.py`") if short_runs else ""
    write_results(args.out, [{
        "machine": machine(), "commands": commands, "seeds": args.seeds, "eval_episodes": args.eval_episodes,
        "headline": "stochastic evaluation: IQM over seeds of each seed's mean return, 95% bootstrap CI",
        "steps_note": note,
        "differences": DIFFERENCES if run_peers else []}] + rows)
    print(table(rows))


if __name__ == "__main__":
    main()
