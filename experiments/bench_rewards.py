"""Cost of reward transforms: PPO on CartPole-v1 plain, with potential shaping, with RND
and with E3B, at the core benchmark's settings (16 envs x 128 steps, 8 epochs x 8
minibatches, 64x64 tanh, 500k steps), one agent, each in its own process, in one run.

    python experiments/bench_rewards.py [--total-steps N] [--repeats R]

Overhead = 1 − (steps/s with the transform) / (steps/s plain); with --repeats R each
configuration is measured R times, interleaved, and the best run is kept.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_common import run_json_subprocess, write_results  # noqa: E402

SPECS = {"plain": "", "shaping": "shaping(potential=pole_upright)", "rnd": "rnd", "e3b": "e3b"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--total-steps", type=int, default=500_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "bench_rewards.json")
    args = parser.parse_args()

    best: dict[str, dict] = {}
    for _ in range(args.repeats):
        for name, spec in SPECS.items():
            cmd = [sys.executable, str(HERE / "bench_ppo.py"), "--worker", "--total-steps", str(args.total_steps)]
            row = run_json_subprocess(cmd + (["--reward", spec] if spec else []))
            if row and (name not in best or row["steps_per_second"] > best[name]["steps_per_second"]):
                best[name] = {**row, "transform": name}
            print(name, json.dumps(row), flush=True)
    plain = best["plain"]["steps_per_second"]
    print("| transform | steps/s (run) | compile s | overhead vs plain |")
    print("|---|---:|---:|---:|")
    for name, row in best.items():
        row["overhead"] = 1.0 - row["steps_per_second"] / plain
        print(f"| {name} | {row['steps_per_second']:,.0f} | {row['compile_seconds']:.1f} | {row['overhead']:+.1%} |")
    write_results(args.out, list(best.values()))


if __name__ == "__main__":
    main()
