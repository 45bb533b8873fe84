"""Overhead of the run driver: `jaxshape train`'s chunked job (checkpoints, evaluation,
metrics.jsonl, TensorBoard, progress between chunks) against the single-scan
`PPO.train` function, at the core benchmark's settings (CartPole-v1, 16 envs x 128
steps, 8 epochs x 8 minibatches, 64x64 tanh, 500k steps, one agent), in one run.

    python experiments/bench_driver.py [--total-steps N] [--chunk-updates K] [--repeats R]

Each measurement runs in its own process; with --repeats R they are interleaved and the
best of each kind is kept.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def worker(kind: str, total_steps: int, chunk_updates: int | None) -> dict:
    import jax

    from bench_common import time_compiled
    from jaxshape import job
    from jaxshape.algos import PPOConfig, default_hparams, make_ppo

    ppo = make_ppo(PPOConfig(env="CartPole-v1", total_steps=total_steps))
    steps = ppo.config.num_updates * ppo.config.batch_size
    if kind == "scan":
        timing = time_compiled(ppo.train, jax.random.PRNGKey(0), default_hparams())
        return {"kind": "single scan (PPO.train)", "steps_per_second": steps / timing["run_seconds"],
                "compile_seconds": timing["compile_seconds"], "run_seconds": timing["run_seconds"]}
    with tempfile.TemporaryDirectory() as tmp:
        options = job.JobOptions(chunk_updates=chunk_updates, progress=False, plot=False)
        summary = job.train("ppo", ppo, default_hparams(), out_dir=Path(tmp) / "run", options=options)
    return {"kind": "driver (jaxshape train)", "steps_per_second": summary["steps_per_second"],
            "compile_seconds": summary["compile_seconds"], "run_seconds": summary["run_seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", choices=["scan", "driver"])
    parser.add_argument("--total-steps", type=int, default=500_000)
    parser.add_argument("--chunk-updates", type=int, default=None, help="(default: the job's, a tenth of the run)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "bench_driver.json")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.total_steps, args.chunk_updates)))
        return

    from bench_common import run_json_subprocess, write_results

    best: dict[str, dict] = {}
    for _ in range(args.repeats):
        for kind in ("scan", "driver"):
            cmd = [sys.executable, __file__, "--worker", kind, "--total-steps", str(args.total_steps)]
            if args.chunk_updates:
                cmd += ["--chunk-updates", str(args.chunk_updates)]
            row = run_json_subprocess(cmd)
            print(json.dumps(row), flush=True)
            if row and (kind not in best or row["steps_per_second"] > best[kind]["steps_per_second"]):
                best[kind] = row
    overhead = 1.0 - best["driver"]["steps_per_second"] / best["scan"]["steps_per_second"]
    print("| | steps/s (run) | compile s |\n|---|---:|---:|")
    for row in best.values():
        print(f"| {row['kind']} | {row['steps_per_second']:,.0f} | {row['compile_seconds']:.1f} |")
    print(f"driver overhead: {overhead:+.1%} of steps/s")
    write_results(args.out, [*best.values(), {"driver_overhead": overhead}])


if __name__ == "__main__":
    main()
