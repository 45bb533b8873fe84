"""SAC speed on Pendulum-v1 against rejax, in one run.

Settings (identical for jaxshape and rejax, the defaults of experiments/peers/rejax_sac.py):
1 env, 50k env steps per agent, 1,000 warm-up steps, replay 100k, minibatch 256, one
gradient step per env step, 256x256 ReLU actor and twin critics, Adam 3e-4, γ 0.99,
τ 0.005, learned α. Each system runs in its own process (rejax needs gymnax < 1.0; see
experiments/peers/). Compile time is reported apart from run time.

Differences that remain: rejax's warm-up acts with the untrained policy, jaxshape's with
uniform random actions; under vmap rejax computes (and discards) gradient steps during
warm-up, jaxshape runs the warm-up inside `init` without any. Final returns differ in kind:
jaxshape's is the mean training-episode return of the last 1,000 steps, rejax's its own
untimed evaluation of the stochastic policy (`--peer-eval-episodes`).

    python experiments/bench_sac.py                          # jaxshape 1 and 64 agents + rejax
    python experiments/bench_sac.py --agents 1 64 1024 --no-peers   # e.g. on a GPU
    python experiments/bench_sac.py --total-steps 3000 --learning-starts 500 --agents 1 2   # smoke test
    python experiments/bench_sac.py --worker --num-agents 64        # one measurement
    python experiments/bench_sac.py --agents 1 --total-steps 5256 --learning-starts 256 --repeats 4  # best of 4
    python experiments/bench_sac.py --floor                  # one gradient step against this machine's floor

The floor: XLA's own count of one gradient step's FLOPs (`cost_analysis` of the compiled
step: critic forward and backward on (s, a), the target's actor and critic forwards on s′,
the actor's loss through the critic, Adam) at the rate this machine sustains in a tight loop
of the step's widest product (256 samples x 256 x 256). Both systems compute the same
networks on the same minibatch, so no engine at these settings runs faster than that.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

TOTAL_STEPS = 50_000
SETTINGS = dict(num_envs=1, buffer_size=100_000, minibatch_size=256, updates_per_step=1, hidden=(256, 256),
                activation="relu", lr=3e-4, tau=0.005)


def worker(num_agents: int, total_steps: int, learning_starts: int) -> dict:
    import jax

    from bench_common import machine, peak_memory_mb, time_compiled
    from jaxshape import pytree

    sac, hp = sac_and_hparams(total_steps, learning_starts)
    config = sac.config
    if num_agents == 1:
        fn, args = sac.train, (jax.random.PRNGKey(0), hp)
    else:
        fn = jax.vmap(sac.train)
        args = (jax.random.split(jax.random.PRNGKey(0), num_agents), pytree.stack([hp] * num_agents))
    timing = time_compiled(fn, *args)
    _, metrics = timing.pop("result")
    steps = config.warmup_steps * config.num_envs + config.num_updates * config.batch_size
    return {
        "system": "jaxshape",
        "num_agents": num_agents,
        "total_steps_per_agent": steps,
        **timing,
        "steps_per_second": steps * num_agents / timing["run_seconds"],
        "final_return_mean": float(metrics["episode_return"][..., -5:].mean()),
        **peak_memory_mb(),
        "device": machine(),
        "jax_version": jax.__version__,
    }


def sac_and_hparams(total_steps: int, learning_starts: int):
    from jaxshape.algos.sac import SACConfig, default_hparams, make_sac

    s = SETTINGS
    config = SACConfig(env="Pendulum-v1", num_envs=s["num_envs"], total_steps=total_steps,
                       buffer_size=s["buffer_size"], minibatch_size=s["minibatch_size"],
                       learning_starts=learning_starts, updates_per_step=s["updates_per_step"],
                       steps_per_update=200, hidden_sizes=s["hidden"], activation=s["activation"])
    hp = default_hparams(actor_lr=s["lr"], critic_lr=s["lr"], alpha_lr=s["lr"], tau=s["tau"], gamma=0.99)
    return make_sac(config), hp


def floor(repeats: int, steps: int = 200) -> dict:
    """One gradient step's FLOPs and time against the machine's matmul rate (module docstring)."""
    import jax

    from bench_common import machine
    from profile_ppo import best_seconds, matmul_seconds

    sac, hp = sac_and_hparams(TOTAL_STEPS, 1_000)
    state = jax.jit(sac.init)(jax.random.PRNGKey(0), hp)
    step = lambda state, key: sac.gradient_step(state, hp, key)[0]  # noqa: E731
    cost = jax.jit(step).lower(state, jax.random.PRNGKey(1)).compile().cost_analysis()
    flops = (cost[0] if isinstance(cost, list) else cost)["flops"]
    keys = jax.random.split(jax.random.PRNGKey(1), steps)
    steps_loop = lambda state, keys: jax.lax.scan(lambda s, k: (step(s, k), None), state, keys)[0]  # noqa: E731
    step_seconds = best_seconds(steps_loop, state, keys, repeats=repeats) / steps
    width = SETTINGS["hidden"][0]
    rate = 2 * SETTINGS["minibatch_size"] * width * width / matmul_seconds(SETTINGS["minibatch_size"], (width, width),
                                                                              repeats)
    return {"mflop_per_gradient_step": flops / 1e6, "gradient_step_ms": 1e3 * step_seconds,
            "matmul_gflops_per_second": rate / 1e9, "floor_ms_per_gradient_step": 1e3 * flops / rate,
            "gradient_step_vs_floor": step_seconds * rate / flops, "machine": machine(), "jax_version": jax.__version__}


def peer_commands(peers_dir: Path, num_agents: int, total_steps: int, learning_starts: int) -> list[tuple[str, list[str]]]:
    s = SETTINGS
    rejax_python = peers_dir / "rejax" / "bin" / "python"
    return [("rejax", [str(rejax_python), str(HERE / "peers" / "rejax_sac.py"),
                       "--num-agents", str(num_agents), "--total-steps", str(total_steps),
                       "--num-envs", str(s["num_envs"]), "--batch-size", str(s["minibatch_size"]),
                       "--buffer-size", str(s["buffer_size"]), "--learning-starts", str(learning_starts),
                       "--gradient-steps", str(s["updates_per_step"]), "--lr", str(s["lr"]),
                       "--tau", str(s["tau"]), "--hidden", ",".join(map(str, s["hidden"])),
                       "--activation", s["activation"]])]


def table(rows: list[dict]) -> str:
    lines = ["| system | agents | steps/agent | steps/s (run) | compile s | run s | final return | peak host MB "
             "| peak device MB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r.get('system', r.get('peer'))} | {r['num_agents']} | {r['total_steps_per_agent']:,} | "
            f"{r['steps_per_second']:,.0f} | {r['compile_seconds']:.1f} | {r['run_seconds']:.1f} | "
            f"{r.get('final_return_mean', float('nan')):.0f} | {r.get('peak_host_rss_mb', float('nan')):,.0f} | "
            f"{r.get('peak_device_mb', float('nan')):,.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", action="store_true", help="measure jaxshape once and print a JSON line")
    parser.add_argument("--floor", action="store_true", help="time one gradient step against the machine's floor")
    parser.add_argument("--num-agents", type=int, default=1)
    parser.add_argument("--agents", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--total-steps", type=int, default=TOTAL_STEPS)
    parser.add_argument("--learning-starts", type=int, default=1_000)
    parser.add_argument("--peer-eval-episodes", type=int, default=16, help="rejax's untimed final evaluation")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--repeats", type=int, default=1, help="systems take turns; each keeps its best (default: 1)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "bench_sac.json")
    args = parser.parse_args()

    if args.worker:
        print(json.dumps(worker(args.num_agents, args.total_steps, args.learning_starts)))
        return
    if args.floor:
        result = floor(repeats=max(args.repeats, 5))
        (HERE / "results" / "bench_sac_floor.json").write_text(json.dumps(result, indent=2) + "\n")
        print(f"one gradient step: {result['mflop_per_gradient_step']:.0f} MFLOP in {result['gradient_step_ms']:.2f} ms; "
              f"256x256 products in a loop: {result['matmul_gflops_per_second']:.0f} GFLOP/s, so the floor is "
              f"{result['floor_ms_per_gradient_step']:.2f} ms; the step runs at {result['gradient_step_vs_floor']:.2f}x it")
        return

    from bench_common import compare, write_results

    peers_dir = Path(os.environ.get("PEERS_DIR", "/tmp/jaxshape-peers"))
    eval_flags = ["--eval-episodes", str(args.peer_eval_episodes)]
    rows = compare(
        args.agents,
        lambda n: [sys.executable, __file__, "--worker", "--num-agents", str(n), "--total-steps", str(args.total_steps),
                   "--learning-starts", str(args.learning_starts)],
        None if args.no_peers else lambda n: [
            (name, cmd + eval_flags) for name, cmd in peer_commands(peers_dir, n, args.total_steps, args.learning_starts)],
        repeats=args.repeats,
    )
    write_results(args.out, rows)
    print(table(rows))


if __name__ == "__main__":
    main()
