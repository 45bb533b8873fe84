"""One agent on 1, 2, 4, ... devices: `jaxshape train --devices N` (each member's envs
split over N local devices), the product as a user runs it, one process per count.

    python experiments/bench_devices.py [--devices 1,2,4,8] [--env brax/ant] [--num-envs 4096]
                                        [--total-steps N] [--extra-flags "..."] [--force-host-devices K]
                                        [--out results.json]

Prints compile seconds, run seconds, steps/s (run time only, from summary.json) and the
speed-up over one device. On a CPU, `--force-host-devices K` makes K host devices (they
share the same cores, so expect no speed-up there: it checks the path, not the speed).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path


def run(devices: int, args: argparse.Namespace) -> dict:
    env = dict(os.environ)
    if args.force_host_devices:
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={args.force_host_devices}"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "jaxshape", "train", "--env", args.env, "--num-envs", str(args.num_envs),
               "--total-steps", str(args.total_steps), "--devices", str(devices), "--no-progress", "--no-plot",
               "--no-compile-cache", "--eval-every", "0", "--out", str(out), *shlex.split(args.extra_flags)]
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
        summary = json.loads((out / "summary.json").read_text())
        summary["device"] = json.loads((out / "config.json").read_text())["device"]
    return {"devices": devices, "compile_seconds": summary["compile_seconds"], "run_seconds": summary["run_seconds"],
            "steps_per_second": summary["steps_per_second"], "device": summary["device"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--devices", default="1,2,4,8", help="device counts to run (default: 1,2,4,8, capped at the "
                                                        "devices present)")
    p.add_argument("--env", default="CartPole-v1")
    p.add_argument("--num-envs", type=int, default=1024)
    p.add_argument("--total-steps", type=int, default=2_000_000)
    p.add_argument("--extra-flags", default="--num-steps 32 --num-minibatches 32",
                   help="more `jaxshape train` flags (default: %(default)s)")
    p.add_argument("--force-host-devices", type=int, default=0, help="make this many CPU devices (checks the path)")
    p.add_argument("--out", type=Path, default=None, help="also write the rows here (JSON)")
    args = p.parse_args()

    import jax

    if args.force_host_devices:
        available = args.force_host_devices
    else:
        available = len(jax.local_devices())
    counts = [n for n in map(int, args.devices.split(",")) if n <= available]
    rows = [run(n, args) for n in counts]
    base = rows[0]["steps_per_second"]
    print(f"{'devices':>7} {'compile s':>9} {'run s':>7} {'steps/s':>12} {'speed-up':>8}   ({rows[0]['device']})")
    for row in rows:
        print(f"{row['devices']:>7} {row['compile_seconds']:>9.1f} {row['run_seconds']:>7.1f} "
              f"{row['steps_per_second']:>12,.0f} {row['steps_per_second'] / base:>7.2f}x")
    print(json.dumps(rows))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
