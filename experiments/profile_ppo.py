"""Where one PPO update's time goes, and the floor this machine sets for it.

Each phase of `PPO.update` is compiled on its own and timed on the same inputs (best of
`--repeats` calls, after a warm-up): the rollout (policy forward, sampling, env step,
reward transform, episode stats), V(s′) of the batch, GAE, the per-epoch shuffles (the
permutations alone, then with the gather of the batch), and the minibatch steps
(forward and backward, then with clipping and Adam). The floor is the time of the
update's matrix products alone, each kernel's product timed on a minibatch in a tight loop:
per sample a forward (rollout), half a forward (V(s′)) and, per epoch, forward and
backward (two products for a first layer, three for later ones). Every phase is lowered
as the product lowers it (`jaxshape.threefry.unrolled_threefry`).

    python experiments/profile_ppo.py                      # CartPole-v1 at the defaults
    python experiments/profile_ppo.py --env Breakout-MinAtar --preset minatar
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def best_seconds(fn, *args, repeats: int) -> float:
    from jaxshape.threefry import unrolled_threefry

    with unrolled_threefry():
        compiled = jax.jit(fn).lower(*args).compile()
    jax.block_until_ready(compiled(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        times.append(time.perf_counter() - start)
    return min(times)


def kernel_shapes(params) -> list[tuple[int, int]]:
    return [x.shape for path, x in jax.tree_util.tree_leaves_with_path(params) if "kernel" in jax.tree_util.keystr(path)]


def matmul_seconds(rows: int, shape: tuple[int, int], repeats: int) -> float:
    """Seconds of one [rows, in] x [in, out] product, timed as 200 in a loop."""
    x = jax.random.normal(jax.random.PRNGKey(0), (200, rows, shape[0]))
    w = jax.random.normal(jax.random.PRNGKey(1), shape) / shape[0]
    loop = lambda x, w: jax.lax.scan(lambda c, xi: (c + jnp.tanh(xi @ w).sum(), None), 0.0, x)[0]  # noqa: E731
    return best_seconds(loop, x, w, repeats=repeats) / 200


def floor_seconds(ppo, params, input_size: int, repeats: int) -> tuple[float, float, float]:
    """(matmul FLOPs, seconds, seconds at the best kernel's rate) of one update's products at this machine's rate for each
    kernel shape on minibatch-sized inputs: the rollout's forwards and V(s′) (counted at
    that rate too), then epochs of forward and backward (a first layer's backward needs
    only its weight gradient: 2 products; later layers' 3)."""
    cfg = ppo.config
    flops = seconds = 0.0
    best_rate = 0.0
    for shape in kernel_shapes(params):
        products = 1.5 + cfg.num_epochs * (2 if shape[0] == input_size else 3)  # per sample; V(s') half a forward
        per_minibatch = matmul_seconds(cfg.minibatch_size, shape, repeats)
        minibatches = cfg.num_minibatches * products
        flops += 2 * cfg.batch_size * shape[0] * shape[1] * products
        seconds += minibatches * per_minibatch
        best_rate = max(best_rate, 2 * cfg.minibatch_size * shape[0] * shape[1] / per_minibatch)
    return flops, seconds, flops / best_rate


def profile(env: str, preset: str | None, repeats: int) -> dict:
    from jaxshape.run import builder, presets

    config = {"env": env}
    applied = presets.apply(preset, "ppo", config) if preset else None
    ppo, hp = builder.build("ppo", applied.config if applied else config, **(applied.hparams if applied else {}))
    cfg = ppo.config
    state = jax.jit(ppo.init)(jax.random.PRNGKey(0), hp)
    phases = ppo.update_phases(state, hp)
    keys = jax.random.split(jax.random.PRNGKey(1), cfg.num_epochs)
    phases["shuffles: permutations (jaxshape.shuffle)"] = phases.pop("shuffles: permutations")
    phases["shuffles: permutations (jax.random.permutation)"] = (
        lambda k: jax.vmap(lambda k: jax.random.permutation(k, cfg.batch_size))(k), (keys,))
    input_size = state.obs_stats.mean.shape[-1]
    rows = {name: 1e3 * best_seconds(fn, *args, repeats=repeats) for name, (fn, args) in phases.items()}
    flops, seconds, ideal = floor_seconds(ppo, state.params, input_size, repeats)
    floor_ms = 1e3 * seconds
    return {"env": env, "preset": preset, "batch_size": cfg.batch_size, "phases_ms": rows,
            "matmul_gflop_per_update": flops / 1e9,
            "matmul_gflops_per_second": flops / seconds / 1e9, "floor_ms_per_update": floor_ms,
            "floor_steps_per_second": cfg.batch_size / floor_ms * 1e3,
            "floor_ms_at_best_kernel_rate": 1e3 * ideal, "best_kernel_gflops_per_second": flops / ideal / 1e9,
            "update_steps_per_second": cfg.batch_size / rows["update (whole)"] * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--preset", default=None)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    from bench_common import machine

    result = {**profile(args.env, args.preset, args.repeats), "machine": machine(), "jax": jax.__version__}
    print(f"{args.env}{' --preset ' + args.preset if args.preset else ''}, batch {result['batch_size']}, "
          f"{result['machine']}\n| phase | ms per update |\n|---|---:|")
    for name, ms in result["phases_ms"].items():
        print(f"| {name} | {ms:.2f} |")
    print(f"matmul FLOPs per update {result['matmul_gflop_per_update']:.3f} G at "
          f"{result['matmul_gflops_per_second']:.0f} GFLOP/s (each kernel's product on a minibatch, timed in a loop): "
          f"floor {result['floor_ms_per_update']:.2f} ms per update = {result['floor_steps_per_second']:,.0f} steps/s; "
          f"all at the best kernel's rate ({result['best_kernel_gflops_per_second']:.0f} GFLOP/s) "
          f"{result['floor_ms_at_best_kernel_rate']:.2f} ms; the update runs at {result['update_steps_per_second']:,.0f} steps/s")
    out = args.out or HERE / "results" / f"profile_ppo_{args.env}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
