"""What the outer loop costs: a generation of `jaxshape search` against one `jaxshape sweep`
call over the same number of members, at identical settings, each in its own process.

Both train N PPO members on CartPole-v1 (16 envs x 128 steps, 8 epochs x 8 minibatches,
64x64 tanh, `--total-steps` per member) in one compiled, vmapped job with the same job
options (checkpoints, metrics.jsonl, TensorBoard, a greedy evaluation at the end). The
search runs G generations of an OpenAI-ES over two reward coefficients; the sweep a grid
of N points over the same two. Reported: compile seconds, the sweep's wall seconds, the
search's first generation and later generations (they compile nothing), what the search
spends outside training per generation (set-up, ask/tell, the strategy's checkpoint,
best.json, the plot), and the ratio of a later generation plus that share to the sweep's
wall time less its compile, and to the bare `jit(vmap(PPO.train))` run over as many
members (the engine alone, bench_sweep.py's).

    python experiments/bench_search.py                        # 16 members, 3 generations, 100k steps
    python experiments/bench_search.py --members 8 --total-steps 16384 --generations 2   # smoke test
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

CONFIG = dict(env="CartPole-v1", num_envs=16, num_steps=128, num_epochs=8, num_minibatches=8,
              hidden_sizes=[64, 64], activation="tanh")
PARAMS = [("reward_coefs.extrinsic", 0.5, 2.0), ("ent_coef", 1e-4, 1e-1)]


def sweep_row(members: int, total_steps: int) -> dict:
    import numpy as np

    from jaxshape import sweep

    side = int(round(members ** 0.5))
    grid = {PARAMS[0][0]: np.linspace(PARAMS[0][1], PARAMS[0][2], members // side).tolist(),
            PARAMS[1][0]: np.geomspace(PARAMS[1][1], PARAMS[1][2], side).tolist()}
    spec = sweep.spec_from_dict({"algo": "ppo", "config": {**CONFIG, "total_steps": total_steps}, "grid": grid,
                                 "seeds": 1})
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        sweep.run_sweep(spec, Path(tmp) / "sweep", progress=False)
        wall = time.perf_counter() - start
        record = json.loads((Path(tmp) / "sweep" / "sweep.json").read_text())
    report = record["report"]
    return {"system": "jaxshape sweep", "members": len(record["members"]), "wall_seconds": wall,
            "compile_seconds": report["compile_seconds_this_process"], "run_seconds": report["run_seconds_this_process"]}


def search_row(members: int, total_steps: int, generations: int) -> dict:
    from jaxshape import search

    params = tuple(search.SearchParam(name, low, high, log=name == "ent_coef") for name, low, high in PARAMS)
    spec = search.SearchSpec(params=params, config={**CONFIG, "total_steps": total_steps}, population=members,
                             generations=generations)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        search.run_search(spec, Path(tmp) / "search", progress=False)
        wall = time.perf_counter() - start
        lines = [json.loads(line) for line in (Path(tmp) / "search" / "generations.jsonl").read_text().splitlines()]
    first = lines[0]
    later = [r["seconds"] for r in lines[1:]]
    return {"system": "jaxshape search", "members": members, "generations": generations, "wall_seconds": wall,
            "compile_seconds": first["compile_seconds"], "first_generation_seconds": first["seconds"],
            "later_generation_seconds": sum(later) / len(later) if later else None,
            "outer_loop_seconds": (wall - sum(r["seconds"] for r in lines)) / generations}


def bare_row(members: int, total_steps: int) -> dict:
    """The engine alone, one `jit(vmap(PPO.train))` over as many members (bench_sweep's)."""
    from bench_sweep import vmapped_row

    row = vmapped_row(members, total_steps)
    return {"system": row["system"], "members": row["num_agents"], "compile_seconds": row["compile_seconds"],
            "run_seconds": row["run_seconds"]}


def _in_process(kind: str, args: argparse.Namespace) -> dict:
    """Run one row in a fresh process (nothing compiled is shared between systems)."""
    code = (f"import json, sys; sys.path.insert(0, {str(HERE)!r}); import bench_search as b; "
            f"print('ROW', json.dumps(b.{kind}_row({args.members}, {args.total_steps}"
            f"{', ' + str(args.generations) if kind == 'search' else ''})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(next(line for line in out.splitlines() if line.startswith("ROW "))[4:])


def main() -> None:
    from bench_common import machine

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=16)
    parser.add_argument("--total-steps", type=int, default=100_000)
    parser.add_argument("--generations", type=int, default=3)
    parser.add_argument("--out", default=str(HERE / "results" / "bench_search.json"))
    args = parser.parse_args()
    bare, sweep, found = _in_process("bare", args), _in_process("sweep", args), _in_process("search", args)
    # a later generation, charged with its share of everything outside training (set-up, ask/tell,
    # the strategy's checkpoint, best.json and the plot): an upper bound of its cost
    ratio = (found["later_generation_seconds"] + found["outer_loop_seconds"]) / (
        sweep["wall_seconds"] - sweep["compile_seconds"])
    result = {"machine": machine(), "settings": {**CONFIG, "total_steps": args.total_steps}, "bare": bare,
              "sweep": sweep, "search": found, "later_generation_over_sweep_run": ratio,
              "later_generation_over_bare_run": (found["later_generation_seconds"] + found["outer_loop_seconds"])
              / bare["run_seconds"],
              "first_generation_over_sweep_wall": found["first_generation_seconds"] / sweep["wall_seconds"]}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"bare jit(vmap(train)) of {bare['members']}: run {bare['run_seconds']:.1f} s "
          f"(compile {bare['compile_seconds']:.1f} s)")
    print(f"sweep of {sweep['members']}: wall {sweep['wall_seconds']:.1f} s (compile {sweep['compile_seconds']:.1f} s)")
    print(f"search, {found['generations']} generations of {found['members']}: first {found['first_generation_seconds']:.1f}"
          f" s (compile {found['compile_seconds']:.1f} s), later {found['later_generation_seconds']:.1f} s each, "
          f"outer loop {found['outer_loop_seconds']:.2f} s per generation")
    print(f"a later generation / the sweep's wall less compile: {ratio:.3f}x; / the bare run: "
          f"{result['later_generation_over_bare_run']:.3f}x; first generation / sweep wall: "
          f"{result['first_generation_over_sweep_wall']:.3f}x  -> {args.out}")


if __name__ == "__main__":
    main()
