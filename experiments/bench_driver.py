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
time a user waits, is printed too. Steps/s are each kind's best run; compile seconds, a
measurement of their own, each kind's least, and the median of the rounds' ratios.

    python experiments/bench_driver.py --in-process [--repeats R]

runs them in ONE process instead, interleaved: `jaxshape train` through `jaxshape.cli.main`
(compiling its programs anew each time), the bare function compiled once, and the Driver's
chunk loop alone (`Driver.run`: the job's chunks, without logs, checkpoints or evaluation),
best run of each. The machine's drift between processes (±10% here) then cancels; what
remains is what the product adds to the run.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import statistics
import sys
import tempfile
import time
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


def in_process(total_steps: int, repeats: int) -> list[dict]:
    """Best of `repeats` of each, interleaved in this process (see the module docstring)."""
    import jax

    from jaxshape import cli, pytree
    from jaxshape.algos import PPOConfig, default_hparams, make_ppo
    from jaxshape.run.driver import Driver
    from jaxshape.run.job import JobOptions
    from jaxshape.threefry import unrolled_threefry

    ppo = make_ppo(PPOConfig(env="CartPole-v1", total_steps=total_steps))
    start = time.perf_counter()
    with unrolled_threefry():  # lowered as the product lowers PPO
        compiled = jax.jit(ppo.train).lower(jax.random.PRNGKey(0), default_hparams()).compile()
    compile_seconds = time.perf_counter() - start
    steps = ppo.config.num_updates * ppo.config.batch_size
    best = {"bare": {"kind": "bare jit(PPO.train)", "steps_per_second": 0.0, "compile_seconds": compile_seconds},
            "product": {"kind": "jaxshape train", "steps_per_second": 0.0},
            "driver": {"kind": "Driver.run (chunks alone)", "steps_per_second": 0.0}}
    keys, hparams = jax.random.split(jax.random.PRNGKey(0), 1), pytree.stack([default_hparams()])
    driver = Driver(ppo, ppo.config.num_updates, JobOptions().chunk_size(ppo.config.num_updates))
    best["driver"]["compile_seconds"] = driver.compile(keys, hparams)
    for repeat in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(compiled(jax.random.PRNGKey(repeat), default_hparams()))
        bare_rate = steps / (time.perf_counter() - start)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "run"
            assert cli.main(["train", "--total-steps", str(total_steps), "--no-progress", "--no-compile-cache",
                             "--seed", str(repeat), "--out", str(out)]) == 0
            summary = json.loads((out / "summary.json").read_text())
        driver_rate = steps / driver.run(keys, hparams, on_chunk=lambda metrics: None)[1]
        print(f"bare {bare_rate:,.0f} steps/s   jaxshape train {summary['steps_per_second']:,.0f}   "
              f"Driver.run {driver_rate:,.0f}", flush=True)
        best["bare"]["steps_per_second"] = max(best["bare"]["steps_per_second"], bare_rate)
        best["driver"]["steps_per_second"] = max(best["driver"]["steps_per_second"], driver_rate)
        if summary["steps_per_second"] > best["product"]["steps_per_second"]:
            best["product"].update(steps_per_second=summary["steps_per_second"],
                                   compile_seconds=summary["compile_seconds"])
    return list(best.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", choices=["bare", "product"])
    parser.add_argument("--total-steps", type=int, default=500_000)
    parser.add_argument("--extra-flags", default="", help="flags added to `jaxshape train` (default: none)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--in-process", action="store_true", help="both in this process, interleaved")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "bench_driver.json")
    args = parser.parse_args()
    if args.worker == "bare":
        print(json.dumps(bare(args.total_steps)))
        return
    if args.worker == "product":
        print(json.dumps(product(args.total_steps, args.extra_flags)))
        return

    from bench_common import machine, run_json_subprocess, write_results

    if args.in_process:
        bare_row, product_row, driver_row = in_process(args.total_steps, args.repeats)
        ratio = product_row["steps_per_second"] / bare_row["steps_per_second"]
        driver_ratio = driver_row["steps_per_second"] / bare_row["steps_per_second"]
        print(f"machine: {machine()}\none process: jaxshape train / bare {ratio:.3f}x steps/s, "
              f"Driver.run / bare {driver_ratio:.3f}x")
        write_results(args.out, [bare_row, product_row, driver_row, {
            "steps_per_second_ratio": ratio, "driver_ratio": driver_ratio, "one_process": True, "machine": machine()}])
        return
    best: dict[str, dict] = {}
    least_compile: dict[str, float] = {}
    paired_compile_ratios = []  # each round's product / bare compile seconds
    for _ in range(args.repeats):
        round_compile = {}
        for kind in ("bare", "product"):
            cmd = [sys.executable, __file__, "--worker", kind, "--total-steps", str(args.total_steps),
                   "--extra-flags", args.extra_flags]
            row = run_json_subprocess(cmd)
            print(json.dumps(row), flush=True)
            if not row:
                continue
            round_compile[kind] = row["compile_seconds"]
            least_compile[kind] = min(least_compile.get(kind, math.inf), row["compile_seconds"])
            if kind not in best or row["steps_per_second"] > best[kind]["steps_per_second"]:
                best[kind] = row
        if len(round_compile) == 2:
            paired_compile_ratios.append(round_compile["product"] / round_compile["bare"])
    ratio = best["product"]["steps_per_second"] / best["bare"]["steps_per_second"]
    # compile is measured apart from the run: each kind's least compile, not the best run's
    compile_ratio = least_compile["product"] / least_compile["bare"]
    paired_compile_ratio = statistics.median(paired_compile_ratios)
    print(f"machine: {machine()}")
    total = {kind: row["compile_seconds"] + row["run_seconds"] for kind, row in best.items()}
    total_ratio = total["product"] / total["bare"]
    print("| | steps/s (run) | compile s | compile + run s |\n|---|---:|---:|---:|")
    for kind, row in best.items():
        print(f"| {row['kind']} | {row['steps_per_second']:,.0f} | {row['compile_seconds']:.1f} | {total[kind]:.1f} |")
    print(f"jaxshape train / bare: {ratio:.3f}x steps/s (best runs), {total_ratio:.2f}x compile + run seconds "
          f"(best runs); compile seconds, least of each {least_compile['product']:.1f} / {least_compile['bare']:.1f} "
          f"= {compile_ratio:.2f}x, median of the rounds' ratios {paired_compile_ratio:.2f}x")
    write_results(args.out, [*best.values(), {
        "steps_per_second_ratio": ratio, "total_seconds_ratio": total_ratio,
        "least_compile_seconds": least_compile, "compile_ratio": compile_ratio,
        "paired_compile_ratios": paired_compile_ratios, "paired_compile_ratio_median": paired_compile_ratio,
        "machine": machine()}])


if __name__ == "__main__":
    main()
