"""The sweep job against the engine: a PPO sweep on CartPole-v1 run by
`jaxshape.sweep.run_sweep` (checkpoints after every chunk, greedy evaluation at the end,
metrics.jsonl and TensorBoard logs per batch, results tables and plot) against the bare
`jit(vmap(PPO.train))` over the same members, sequential runs, and rejax.

Settings (identical for every system): 16 envs x 128 steps, 8 epochs x 8 minibatches,
64x64 tanh actor and critic, 500k env steps per member. The members are learning rates x
entropy coefficients, one seed each. "Sequential" trains the same code one member at a
time; only `--sequential-runs` of them are timed and the total for all members is
extrapolated (the output says so). rejax's vmapped PPO runs in its own virtual
environment ($PEERS_DIR/rejax, default /tmp/jaxshape-peers; see experiments/peers/).
Every system runs in its own process; compile time is reported apart from run time.

    python experiments/bench_sweep.py                          # 64 members
    python experiments/bench_sweep.py --members 512 2048       # e.g. on a GPU
    python experiments/bench_sweep.py --members 8 --total-steps 8192 --sequential-runs 1 --no-peers  # smoke test
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

CONFIG = dict(env="CartPole-v1", num_envs=16, num_steps=128, num_epochs=8, num_minibatches=8,
              hidden_sizes=[64, 64], activation="tanh")


def _grid(members: int) -> dict:
    """learning_rate x ent_coef on log scales, as square as `members` allows."""
    import numpy as np

    a = 2 ** math.ceil(math.log2(members) / 2)
    b = max(1, members // a)
    return {"learning_rate": np.geomspace(1e-4, 3e-3, a).tolist(), "ent_coef": np.geomspace(1e-4, 1e-1, b).tolist()}


def sweep_row(members: int, total_steps: int, max_batch: int | None) -> dict:
    from bench_common import machine

    from jaxshape import sweep

    spec = sweep.spec_from_dict({"algo": "ppo", "config": {**CONFIG, "total_steps": total_steps},
                                 "grid": _grid(members), "seeds": 1, "max_batch": max_batch})
    with tempfile.TemporaryDirectory() as tmp:
        sweep.run_sweep(spec, Path(tmp) / "sweep", progress=False)
        record = json.loads((Path(tmp) / "sweep" / "sweep.json").read_text())
    report = record["report"]
    steps = len(record["members"]) * (total_steps // (16 * 128)) * 16 * 128
    return {"system": "jaxshape sweep", "num_agents": len(record["members"]), "batches": len(record["batches"]),
            "batch_size": record["batch_size"], "compile_seconds": report["compile_seconds_this_process"],
            "run_seconds": report["run_seconds_this_process"],
            "steps_per_second": steps / report["run_seconds_this_process"],
            "peak_memory_mb": report["peak_memory_per_process"][0]["peak_bytes"] / 2**20,
            "peak_memory_source": report["peak_memory_per_process"][0]["source"], "device": machine()}


def vmapped_row(members: int, total_steps: int) -> dict:
    """The engine alone: one `jit(vmap(PPO.train))` call over the same members."""
    import jax

    from bench_common import machine, peak_memory_mb, time_compiled
    from jaxshape import pytree, sweep
    from jaxshape.algos import PPOConfig, default_hparams, make_ppo
    from jaxshape.threefry import unrolled_threefry

    config = PPOConfig(**{**CONFIG, "hidden_sizes": tuple(CONFIG["hidden_sizes"]), "total_steps": total_steps})
    grid = _grid(members)
    spec = sweep.spec_from_dict({"grid": grid, "seeds": 1})
    configs = sweep.configurations(spec, default_hparams(), PPOConfig)
    hparams = pytree.stack([sweep.with_values(default_hparams(), c) for c in configs])
    keys = jax.vmap(jax.random.PRNGKey)(jax.numpy.zeros(len(configs), jax.numpy.uint32))
    with unrolled_threefry():  # lowered as the product lowers PPO
        timing = time_compiled(jax.vmap(make_ppo(config).train), keys, hparams)
    steps = len(configs) * config.num_updates * config.batch_size
    memory = peak_memory_mb()
    return {"system": "bare jit(vmap(PPO.train))", "num_agents": len(configs),
            "compile_seconds": timing["compile_seconds"], "run_seconds": timing["run_seconds"],
            "steps_per_second": steps / timing["run_seconds"],
            "peak_memory_mb": memory.get("peak_device_mb", memory["peak_host_rss_mb"]), "device": machine()}


def sequential_row(members: int, total_steps: int, runs: int) -> dict:
    """Train `runs` single members one after another (same code, one compilation) and
    extrapolate to `members`."""
    import jax

    from bench_common import machine, peak_memory_mb
    from jaxshape.algos import PPOConfig, default_hparams, make_ppo
    from jaxshape.threefry import unrolled_threefry

    config = PPOConfig(**{**CONFIG, "hidden_sizes": tuple(CONFIG["hidden_sizes"]), "total_steps": total_steps})
    start = time.perf_counter()
    with unrolled_threefry():  # lowered as the product lowers PPO
        train = jax.jit(make_ppo(config).train).lower(jax.random.PRNGKey(0), default_hparams()).compile()
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(runs):
        jax.block_until_ready(train(jax.random.PRNGKey(i), default_hparams(learning_rate=1e-4 * (i + 1))))
    per_run = (time.perf_counter() - start) / runs
    steps = config.num_updates * config.batch_size
    return {"system": f"sequential (timed {runs}, extrapolated to {members})", "num_agents": members,
            "compile_seconds": compile_seconds, "run_seconds": per_run * members,
            "steps_per_second": steps / per_run, "peak_memory_mb": peak_memory_mb().get(
                "peak_device_mb", peak_memory_mb()["peak_host_rss_mb"]), "device": machine()}


def reused_rejax_row(path: Path, members: int, total_steps: int) -> dict | None:
    """rejax's row at `members` agents from a bench_ppo.py results file, when it ran the
    same command (rejax_ppo.py at these agents and steps; rejax rounds the steps up to
    whole 16 x 128 iterations), so one measurement serves both tables."""
    rows = json.loads(path.read_text()) if path.exists() else []
    for row in rows:
        if (row.get("system") == "rejax" and row.get("num_agents") == members
                and 0 <= row.get("total_steps_per_agent", -1) - total_steps < 16 * 128):
            return {**row, "system": "rejax vmapped", "reused_from": str(path),
                    "peak_memory_mb": row.get("peak_device_mb", row.get("peak_host_rss_mb"))}
    return None


def rejax_row(members: int, total_steps: int, reuse: Path | None = None) -> dict | None:
    from bench_common import run_json_subprocess

    if reuse and (row := reused_rejax_row(reuse, members, total_steps)):
        print(f"  rejax at {members}: reused from {reuse}", file=sys.stderr)
        return row

    peers = Path(os.environ.get("PEERS_DIR", "/tmp/jaxshape-peers"))
    python = peers / "rejax" / "bin" / "python"
    if not python.exists():
        print(f"  rejax skipped: {python} not found (run experiments/peers/setup_peers.sh)", file=sys.stderr)
        return None
    row = run_json_subprocess([str(python), str(HERE / "peers" / "rejax_ppo.py"), "--num-agents", str(members),
                               "--total-steps", str(total_steps)])
    if row:
        row["system"] = "rejax vmapped"
        row["peak_memory_mb"] = row.get("peak_device_mb", row.get("peak_host_rss_mb"))
    return row


def table(rows: list[dict]) -> str:
    lines = ["| system | members | steps/s (run) | compile s | run s | peak MB |", "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        number = lambda key: r.get(key) if r.get(key) is not None else float("nan")  # noqa: E731  (a peer may lack one)
        lines.append(f"| {r['system']} | {r['num_agents']} | {number('steps_per_second'):,.0f} | "
                     f"{number('compile_seconds'):.1f} | {number('run_seconds'):.1f} | {number('peak_memory_mb'):,.0f} |")
    return "\n".join(lines)


WORKERS = {"sweep": lambda a: sweep_row(a.members[0], a.total_steps, a.max_batch),
           "vmap": lambda a: vmapped_row(a.members[0], a.total_steps),
           "sequential": lambda a: sequential_row(a.members[0], a.total_steps, a.sequential_runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, nargs="+", default=[64], help="sweep sizes (64, 512, 2048 on GPU)")
    parser.add_argument("--total-steps", type=int, default=500_000)
    parser.add_argument("--max-batch", type=int, default=None, help="cap on members per compiled batch")
    parser.add_argument("--sequential-runs", type=int, default=3, help="sequential runs timed (then extrapolated)")
    parser.add_argument("--no-peers", action="store_true", help="skip rejax")
    parser.add_argument("--json", default=None, help="also write the rows here")
    parser.add_argument("--reuse-rejax", type=Path, default=None, metavar="BENCH_PPO_JSON",
                        help="take rejax's rows from this bench_ppo.py results file where it ran the same agents "
                             "and steps, instead of running rejax again")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return

    from bench_common import run_json_subprocess

    rows = []
    for members in args.members:
        kinds = ["sweep", "vmap"] + (["sequential"] if members == args.members[0] else [])
        measured = {}
        for kind in kinds:
            cmd = [sys.executable, __file__, "--worker", kind, "--members", str(members), "--total-steps",
                   str(args.total_steps), "--sequential-runs", str(args.sequential_runs)]
            if args.max_batch:
                cmd += ["--max-batch", str(args.max_batch)]
            if row := run_json_subprocess(cmd):
                measured[kind] = row
                rows.append(row)
        if "sweep" in measured and "vmap" in measured:
            ratio = measured["sweep"]["steps_per_second"] / measured["vmap"]["steps_per_second"]
            measured["sweep"]["ratio_to_bare_vmap"] = ratio
            print(f"{members} members: sweep job / bare vmap = {ratio:.3f}x steps/s", flush=True)
        if not args.no_peers and (peer := rejax_row(members, args.total_steps, args.reuse_rejax)):
            rows.append(peer)
        print(table(rows), flush=True)
    print("sequential steps/s is one member at a time; its run seconds are extrapolated from "
          f"{args.sequential_runs} timed runs")
    if args.json:
        from bench_common import write_results

        write_results(Path(args.json), rows)


if __name__ == "__main__":
    main()
