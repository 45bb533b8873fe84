"""PPO speed against rejax at identical settings, the product included, in one run.

For each env: `jaxshape train` as a user runs it (chunks, checkpoints, evaluation, logs;
compile cache off; steps/s and compile seconds from its summary.json), the bare compiled
`PPO.train` at the same settings lowered as the product lowers it (under
`jaxshape.threefry.unrolled_threefry`), the bare function as JAX alone lowers it (its
Threefry draws as five-trip loops: jaxshape before `jaxshape/threefry.py`), and rejax's PPO
(its own venv, experiments/peers/) at the same settings. `--kinds` adds
`bare-jax-permutation` (the bare function, lowered as the product lowers it, with
`jax.random.permutation` as its per-epoch shuffle: jaxshape's shuffle before
`jaxshape/shuffle.py`). Each `bare-*` kind differs from `bare` in that one thing. Every measurement runs in its own process;
the kinds are interleaved and the best of `--repeats` is kept.

    python experiments/bench_peers.py                      # CartPole-v1 and Breakout-MinAtar
    python experiments/bench_peers.py --envs CartPole-v1 --repeats 3

Settings: CartPole-v1 at jaxshape's defaults (16 envs x 128 steps, 8 epochs x 8
minibatches, 64x64 tanh, Adam 2.5e-4), 500k steps; Breakout-MinAtar at `--preset minatar`
(64 envs x 128 steps, 4 epochs x 8 minibatches, 64x64 ReLU, Adam 5e-3), 1M steps. rejax
gets the same numbers; what it cannot be given is listed in experiments/peers/rejax_ppo.py
(its element-wise gradient clipping, two Adams, no learning-rate annealing).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SETTINGS = {
    "CartPole-v1": dict(preset=None, total_steps=500_000, rejax=dict(num_envs=16, num_steps=128, num_epochs=8,
                                                                   num_minibatches=8, lr=2.5e-4, activation="tanh")),
    "Breakout-MinAtar": dict(preset="minatar", total_steps=1_000_000,
                             rejax=dict(num_envs=64, num_steps=128, num_epochs=4, num_minibatches=8, lr=5e-3,
                                        activation="relu")),
}
KINDS = ("product", "bare", "bare-rolled-threefry", "bare-jax-permutation", "rejax")
DEFAULT_KINDS = ("product", "bare", "bare-rolled-threefry", "rejax")


def bare(env: str, kind: str) -> dict:
    import contextlib

    import jax

    from bench_common import time_compiled
    from jaxshape import shuffle
    from jaxshape.run import builder, presets
    from jaxshape.threefry import unrolled_threefry

    if kind == "bare-jax-permutation":
        shuffle.permutation = jax.random.permutation
    setting = SETTINGS[env]
    config = {"env": env, "total_steps": setting["total_steps"]}
    applied = presets.apply(setting["preset"], "ppo", config) if setting["preset"] else None
    learner, hparams = builder.build("ppo", applied.config if applied else config,
                                     **(applied.hparams if applied else {}))
    with contextlib.nullcontext() if kind == "bare-rolled-threefry" else unrolled_threefry():
        timing = time_compiled(learner.train, jax.random.PRNGKey(0), hparams)
    steps = learner.config.num_updates * learner.config.batch_size
    return {"steps_per_second": steps / timing["run_seconds"], "compile_seconds": timing["compile_seconds"],
            "run_seconds": timing["run_seconds"]}


def command(kind: str, env: str, peers_dir: Path) -> list[str]:
    setting = SETTINGS[env]
    if kind == "rejax":
        r = setting["rejax"]
        return [str(peers_dir / "rejax" / "bin" / "python"), str(HERE / "peers" / "rejax_ppo.py"), "--env", env,
                "--total-steps", str(setting["total_steps"]), "--num-envs", str(r["num_envs"]),
                "--num-steps", str(r["num_steps"]), "--num-epochs", str(r["num_epochs"]),
                "--num-minibatches", str(r["num_minibatches"]), "--lr", str(r["lr"]),
                "--activation", r["activation"]]
    if kind == "product":
        flags = f"--env {env} --total-steps {setting['total_steps']}"
        flags += f" --preset {setting['preset']}" if setting["preset"] else ""
        return [sys.executable, str(HERE / "bench_driver.py"), "--worker", "product", "--extra-flags", flags]
    return [sys.executable, __file__, "--worker", kind, "--envs", env]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", choices=[k for k in KINDS if k.startswith("bare")])
    parser.add_argument("--envs", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--kinds", nargs="+", default=list(DEFAULT_KINDS), choices=KINDS)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "bench_peers.json")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(bare(args.envs[0], args.worker)))
        return

    from bench_common import machine, run_json_subprocess, write_results

    peers_dir = Path(os.environ.get("PEERS_DIR", "/tmp/jaxshape-peers"))
    best: dict[tuple[str, str], dict] = {}
    for _ in range(args.repeats):
        for env in args.envs:
            for kind in args.kinds:
                row = run_json_subprocess(command(kind, env, peers_dir))
                print(env, kind, json.dumps(row), flush=True)
                if row and ((env, kind) not in best or row["steps_per_second"] > best[env, kind]["steps_per_second"]):
                    best[env, kind] = {"env": env, "kind": kind, **{k: row[k] for k in
                                       ("steps_per_second", "compile_seconds", "run_seconds")}}
    print(f"machine: {machine()}")
    print("| env | system | steps/s (run) | compile s | vs rejax | vs bare |\n|---|---|---:|---:|---:|---:|")
    for (env, kind), row in best.items():
        rejax = best.get((env, "rejax"), {}).get("steps_per_second")
        own = best.get((env, "bare"), {}).get("steps_per_second")
        row["vs_rejax"] = row["steps_per_second"] / rejax if rejax else None
        row["vs_bare"] = row["steps_per_second"] / own if own else None
        ratio = lambda x: f"{x:.2f}x" if x else "—"  # noqa: E731
        print(f"| {env} | {kind} | {row['steps_per_second']:,.0f} | {row['compile_seconds']:.1f} | "
              f"{ratio(row['vs_rejax'])} | {ratio(row['vs_bare'])} |")
    write_results(args.out, [*best.values(), {"machine": machine(), "repeats": args.repeats}])


if __name__ == "__main__":
    main()
