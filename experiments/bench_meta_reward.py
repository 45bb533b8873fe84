"""What one meta-gradient PPO update costs against a plain one, at the same settings.

CartPole-v1 with the helpful `upright` term as a second stream (experiments/
es_reward_terms_cartpole.py), jaxshape's default PPO (16 envs x 128 steps, 8 epochs x 8
minibatches, 64x64): plain PPO, `--meta-reward` (unrolled through K minibatch steps) and
`--meta-gradient implicit` (K Neumann terms). Each variant is compiled once (compile
time reported apart), then `repeats` runs of `updates` updates are timed in turn,
interleaved; the best run of each is kept. Target: a meta update costs <= 2x a plain one.

    python experiments/bench_meta_reward.py

Writes experiments/results/bench_meta_reward.json.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import jax

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_common import machine, peak_memory_mb  # noqa: E402
from es_reward_terms_cartpole import upright  # noqa: E402
from experiment_common import save_results  # noqa: E402

from jaxshape import rewards  # noqa: E402
from jaxshape.algos.ppo import PPOConfig, default_hparams, make_ppo  # noqa: E402


def variants(unroll: int) -> dict[str, dict]:
    return {"plain": {}, f"unrolled K={unroll}": {"meta_reward": True, "meta_unroll": unroll},
            f"implicit K={unroll}": {"meta_reward": True, "meta_gradient": "implicit", "meta_unroll": unroll}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--updates", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--unroll", type=int, nargs="+", default=[1, 4])
    args = p.parse_args()
    transform = rewards.term("upright", lambda t, hp: upright(t.next_obs), coef=1.0)
    programs = {}
    for unroll in args.unroll:
        for name, settings in variants(unroll).items():
            if name in programs:
                continue
            ppo = make_ppo(PPOConfig(env="CartPole-v1", **settings), transform=transform)
            hp = default_hparams(transform)

            def run(state, ppo=ppo, hp=hp):
                return jax.lax.scan(lambda s, _: ppo.update(s, hp), state, None, length=args.updates)

            state = jax.jit(ppo.init)(jax.random.PRNGKey(0), hp)
            started = time.perf_counter()
            compiled = jax.jit(run).lower(state).compile()
            programs[name] = {"compiled": compiled, "state": state, "compile_seconds": time.perf_counter() - started,
                              "runs": []}
    for _ in range(args.repeats):  # interleaved: the machine's load falls on every variant alike
        for program in programs.values():
            started = time.perf_counter()
            jax.block_until_ready(program["compiled"](program["state"]))
            program["runs"].append(time.perf_counter() - started)
    plain = min(programs["plain"]["runs"]) / args.updates
    rows = {}
    for name, program in programs.items():
        per_update = min(program["runs"]) / args.updates
        rows[name] = {"compile_seconds": program["compile_seconds"], "seconds_per_update": per_update,
                      "cost_vs_plain": per_update / plain, "steps_per_second": 2048 / per_update,
                      "runs_seconds": program["runs"]}
        print(f"{name:16s} compile {program['compile_seconds']:6.1f} s   {per_update * 1e3:7.1f} ms/update   "
              f"{per_update / plain:4.2f}x plain", flush=True)
    save_results("bench_meta_reward", {"machine": machine(), "settings": vars(args), "variants": rows,
                                       **peak_memory_mb()})


if __name__ == "__main__":
    main()
