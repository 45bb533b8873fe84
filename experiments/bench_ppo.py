"""PPO speed on CartPole-v1 against rejax and Stable-Baselines3, in one run.

Settings (identical for every system): 16 envs x 128 steps, 8 epochs x 8 minibatches,
64x64 tanh actor and critic, 500k env steps per agent. Each system runs in its own
process (rejax needs gymnax < 1.0, so it lives in its own virtual environment; see
experiments/peers/). Compile time is reported apart from run time.

    python experiments/bench_ppo.py                       # jaxshape 1 and 64 agents + peers
    python experiments/bench_ppo.py --agents 1 64 2048 --no-peers   # e.g. on a GPU
    python experiments/bench_ppo.py --worker --num-agents 64        # one measurement
    python experiments/bench_ppo.py --agents 1 64 --product         # also `jaxshape train --num-seeds N`

With `--product` each agent count also runs the product path, `jaxshape train
--num-seeds N` at the same settings (its defaults: chunks, checkpoints, evaluation,
logs; compile cache and plot off), timed from its summary.json as
experiments/bench_driver.py does.

Peers are looked up in $PEERS_DIR (default /tmp/jaxshape-peers), made by
experiments/peers/setup_peers.sh; a missing peer is skipped with a note.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

TOTAL_STEPS = 500_000


def worker(num_agents: int, total_steps: int, reward: str = "", matmul_dtype: str = "float32") -> dict:
    import jax

    from bench_common import machine, peak_memory_mb, time_compiled
    from jaxshape import pytree
    from jaxshape.algos import PPOConfig, default_hparams, make_ppo
    from jaxshape.rewards.spec import parse_reward_spec
    from jaxshape.threefry import unrolled_threefry

    config = PPOConfig(env="CartPole-v1", num_envs=16, num_steps=128, num_epochs=8, num_minibatches=8,
                       hidden_sizes=(64, 64), activation="tanh", total_steps=total_steps, matmul_dtype=matmul_dtype)
    transform = parse_reward_spec(reward, config.env) if reward else None
    ppo = make_ppo(config, transform=transform)
    hparams = default_hparams(transform)
    if num_agents == 1:
        fn, args = ppo.train, (jax.random.PRNGKey(0), hparams)
    else:
        fn = jax.vmap(ppo.train)
        args = (jax.random.split(jax.random.PRNGKey(0), num_agents), pytree.stack([hparams] * num_agents))
    with unrolled_threefry():  # lowered as the product lowers PPO
        timing = time_compiled(fn, *args)
    _, metrics = timing.pop("result")
    steps = config.num_updates * config.batch_size
    system = f"jaxshape {reward}" if reward else "jaxshape"
    if matmul_dtype != "float32":
        system += f", {matmul_dtype} products"
    return {
        "system": system,
        "reward": reward,
        "matmul_dtype": matmul_dtype,
        "num_agents": num_agents,
        "total_steps_per_agent": steps,
        **timing,
        "steps_per_second": steps * num_agents / timing["run_seconds"],
        "final_return_mean": float(metrics["episode_return"][..., -1].mean()),
        **peak_memory_mb(),
        "device": machine(),
        "jax_version": jax.__version__,
    }


def product_worker(num_agents: int, total_steps: int) -> dict:
    """`jaxshape train --num-seeds N` at the benchmark's settings (its PPO defaults)."""
    import jax

    from bench_common import machine
    from bench_driver import product

    row = product(total_steps, f"--num-seeds {num_agents} --no-plot")
    steps = total_steps // (16 * 128) * 16 * 128
    return {"system": "jaxshape train", "num_agents": num_agents, "total_steps_per_agent": steps,
            "compile_seconds": row["compile_seconds"], "run_seconds": row["run_seconds"],
            "steps_per_second": row["steps_per_second"], "device": machine(), "jax_version": jax.__version__}


def peer_commands(peers_dir: Path, num_agents: int, total_steps: int) -> list[tuple[str, list[str]]]:
    commands = []
    rejax_python = peers_dir / "rejax" / "bin" / "python"
    commands.append(("rejax", [str(rejax_python), str(HERE / "peers" / "rejax_ppo.py"),
                               "--num-agents", str(num_agents), "--total-steps", str(total_steps)]))
    if num_agents == 1:
        sb3_python = peers_dir / "sb3" / "bin" / "python"
        commands.append(("sb3", [str(sb3_python), str(HERE / "peers" / "sb3_ppo.py"),
                                 "--total-steps", str(total_steps)]))
    return commands


def table(rows: list[dict]) -> str:
    lines = ["| system | agents | steps/s (run) | compile s | run s | peak host MB | peak device MB |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r.get('system', r.get('peer'))} | {r['num_agents']} | {r['steps_per_second']:,.0f} | "
            f"{r['compile_seconds']:.1f} | {r['run_seconds']:.1f} | {r.get('peak_host_rss_mb', float('nan')):,.0f} | "
            f"{r.get('peak_device_mb', float('nan')):,.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    from jaxshape.algos.networks import MATMUL_DTYPES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", action="store_true", help="measure jaxshape once and print a JSON line")
    parser.add_argument("--num-agents", type=int, default=1)
    parser.add_argument("--reward", default="", help="reward spec for the worker (see jaxshape.rewards.spec)")
    parser.add_argument("--agents", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--total-steps", type=int, default=TOTAL_STEPS)
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--bare-agents", type=int, nargs="*", default=None,
                        help="with --product: agent counts at which to time the bare function too (default: every "
                             "--agents count; elsewhere only `jaxshape train` runs)")
    parser.add_argument("--product", action="store_true",
                        help="also time `jaxshape train --num-seeds N` (the product path) at each agent count")
    parser.add_argument("--matmul-dtype", default="float32", choices=tuple(MATMUL_DTYPES),
                        help="the dtype of jaxshape's products (PPOConfig.matmul_dtype; default: float32)")
    parser.add_argument("--bfloat16", action="store_true",
                        help="also time the bare function with its products in bfloat16 (matmul_dtype), per agent count")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "bench_ppo.json")
    args = parser.parse_args()

    if args.worker:
        if args.product:
            print(json.dumps(product_worker(args.num_agents, args.total_steps)))
        else:
            print(json.dumps(worker(args.num_agents, args.total_steps, args.reward, args.matmul_dtype)))
        return

    from bench_common import compare, write_results

    peers_dir = Path(os.environ.get("PEERS_DIR", "/tmp/jaxshape-peers"))
    bare_counts = args.agents if args.bare_agents is None else args.bare_agents

    def bare(n: int) -> list[str]:
        return [sys.executable, __file__, "--worker", "--num-agents", str(n), "--total-steps", str(args.total_steps),
                "--matmul-dtype", args.matmul_dtype]

    def ours(n: int) -> list[str]:  # compare() runs this first; the product path where the bare one is skipped
        return bare(n) if n in bare_counts or not args.product else bare(n) + ["--product"]

    def others(n: int) -> list[tuple[str, list[str]]]:
        product = [("jaxshape train", bare(n) + ["--product"])] if args.product and n in bare_counts else []
        half = [("jaxshape, bfloat16 products", bare(n) + ["--matmul-dtype", "bfloat16"])] if args.bfloat16 else []
        return product + half + ([] if args.no_peers else peer_commands(peers_dir, n, args.total_steps))

    rows = compare(args.agents, ours, others)
    write_results(args.out, rows)
    print(table(rows))


if __name__ == "__main__":
    main()
