"""The product against the engine: `jaxshape train` at its defaults (chunks, checkpoints,
evaluation, metrics.jsonl, TensorBoard and the plot, as a user runs it) against the bare
compiled `PPO.train`, at the core benchmark's settings (CartPole-v1, 16 envs x 128
steps, 8 epochs x 8 minibatches, 64x64 tanh, 500k steps, one agent), in one run.

    python experiments/bench_driver.py [--total-steps N] [--repeats R] [--extra-flags "..."]

Each measurement runs in its own process, interleaved, and the best of each kind is
kept. `jaxshape train` runs with the compilation cache off (`--no-compile-cache`), so
its compile time is a cold compile like the bare function's (the job's includes its
evaluation program, compiled beside the chunk); its steps/s and compile seconds are
those it prints in summary.json (run time excludes compiling). Compile + run, the wall
time a user waits, is printed too.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def bare(total_steps: int) -> dict:
    import jax

    from bench_common import time_compiled
    from jaxshape.algos import PPOConfig, default_hparams, make_ppo
    from jaxshape.threefry import unrolled_threefry

    ppo = make_ppo(PPOConfig(env="CartPole-v1", total_steps=total_steps))
    with unrolled_threefry():  # lowered as the product lowers PPO
        timing = time_compiled(ppo.train, jax.random.PRNGKey(0), default_hparams())
    steps = ppo.config.num_updates * ppo.config.batch_size
    return {"kind": "bare jit(PPO.train)", "steps_per_second": steps / timing["run_seconds"],
            "compile_seconds": timing["compile_seconds"], "run_seconds": timing["run_seconds"]}


def product(total_steps: int, extra_flags: str) -> dict:
    import subprocess

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "jaxshape", "train", "--total-steps", str(total_steps), "--no-progress",
               "--no-compile-cache", "--out", str(out), *shlex.split(extra_flags)]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        summary = json.loads((out / "summary.json").read_text())
    return {"kind": f"jaxshape train {extra_flags}".strip(), "steps_per_second": summary["steps_per_second"],
            "compile_seconds": summary["compile_seconds"], "run_seconds": summary["run_seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", choices=["bare", "product"])
    parser.add_argument("--total-steps", type=int, default=500_000)
    parser.add_argument("--extra-flags", default="", help="flags added to `jaxshape train` (default: none)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "bench_driver.json")
    args = parser.parse_args()
    if args.worker == "bare":
        print(json.dumps(bare(args.total_steps)))
        return
    if args.worker == "product":
        print(json.dumps(product(args.total_steps, args.extra_flags)))
        return

    from bench_common import machine, run_json_subprocess, write_results

    best: dict[str, dict] = {}
    for _ in range(args.repeats):
        for kind in ("bare", "product"):
            cmd = [sys.executable, __file__, "--worker", kind, "--total-steps", str(args.total_steps),
                   "--extra-flags", args.extra_flags]
            row = run_json_subprocess(cmd)
            print(json.dumps(row), flush=True)
            if row and (kind not in best or row["steps_per_second"] > best[kind]["steps_per_second"]):
                best[kind] = row
    ratio = best["product"]["steps_per_second"] / best["bare"]["steps_per_second"]
    compile_ratio = best["product"]["compile_seconds"] / best["bare"]["compile_seconds"]
    print(f"machine: {machine()}")
    total = {kind: row["compile_seconds"] + row["run_seconds"] for kind, row in best.items()}
    total_ratio = total["product"] / total["bare"]
    print("| | steps/s (run) | compile s | compile + run s |\n|---|---:|---:|---:|")
    for kind, row in best.items():
        print(f"| {row['kind']} | {row['steps_per_second']:,.0f} | {row['compile_seconds']:.1f} | {total[kind]:.1f} |")
    print(f"jaxshape train / bare: {ratio:.3f}x steps/s, {compile_ratio:.2f}x compile seconds, "
          f"{total_ratio:.2f}x compile + run seconds")
    write_results(args.out, [*best.values(), {"steps_per_second_ratio": ratio, "compile_ratio": compile_ratio,
                                              "total_seconds_ratio": total_ratio, "machine": machine()}])


if __name__ == "__main__":
    main()
