"""SAC on a brax locomotion env: jaxshape against brax's own SAC trainer, on one device.

Both systems train brax `hopper` (brax's default pipeline) at the same settings: brax's
training-notebook SAC set-up for hopper (128 envs, minibatch 512, 64 gradient steps per
vectorised step, replay 2^20, 8,192 prefill steps, Adam 6e-4, γ 0.997, τ 0.005,
256x256 ReLU actor and twin critics, learned α starting at 1 with target entropy
−0.5·|A|), except that observations and rewards are not normalised or scaled (jaxshape's
SAC has no observation normaliser).

Speed is measured the same way for both: after the replay prefill, two training epochs
of `--epoch-steps` vectorised steps each; the second epoch's time gives the steady
training steps per second (brax's own `training/sps` of that epoch; for jaxshape the
time of its compiled `update` over the same steps). Compile time: jaxshape's is the
ahead-of-time compile of `init` and `update`; brax's is the first epoch's time minus
the second's (brax compiles inside its first call). Each system runs in its own process.

Differences that remain: brax prefills with its untrained policy and jaxshape with
uniform random actions; brax's AutoReset restores a cached first state while jaxshape's
`BraxEnv` draws a fresh random reset at every episode end (a reset computed every step,
kept where an episode ended); brax's temperature loss is α·(−log π − H̄) with its own
Adam at 3e-4, jaxshape's −log α·(log π + H̄) with `alpha_lr` 3e-4.

    python experiments/bench_brax_sac.py                       # both, default settings (a GPU)
    python experiments/bench_brax_sac.py --smoke               # tiny settings: checks the script on a CPU
    python experiments/bench_brax_sac.py --worker jaxshape     # one measurement, one JSON line
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SETTINGS = dict(env="hopper", backend="positional", num_envs=128, minibatch=512, grad_steps=64, replay=2**20, prefill=8192, lr=6e-4,
                alpha_lr=3e-4, gamma=0.997, tau=0.005, hidden=(256, 256), epoch_steps=50, episode_length=1000)
SMOKE = dict(SETTINGS, num_envs=4, minibatch=16, grad_steps=2, replay=4096, prefill=16, hidden=(16, 16),
             epoch_steps=3, episode_length=50)


def total_steps(s: dict) -> int:
    """Env steps of prefill plus two epochs (the same count for both systems)."""
    return s["num_envs"] * (-(-s["prefill"] // s["num_envs"]) + 2 * s["epoch_steps"])


def measure_jaxshape(s: dict) -> dict:
    import jax

    from bench_common import time_compiled
    from jaxshape.algos.sac import SACConfig, default_hparams, make_sac
    from jaxshape.envs.brax_adapter import BraxEnv

    env = BraxEnv(s["env"], episode_length=s["episode_length"], backend=s["backend"])
    config = SACConfig(env=env.name, num_envs=s["num_envs"], total_steps=total_steps(s), buffer_size=s["replay"],
                       minibatch_size=s["minibatch"], learning_starts=s["prefill"],
                       updates_per_step=s["grad_steps"], steps_per_update=s["epoch_steps"],
                       hidden_sizes=s["hidden"])
    sac = make_sac(config, env, env.default_params)
    hp = default_hparams(actor_lr=s["lr"], critic_lr=s["lr"], alpha_lr=s["alpha_lr"], gamma=s["gamma"],
                         tau=s["tau"], target_entropy_per_dim=-0.5)
    init = time_compiled(sac.init, jax.random.PRNGKey(0), hp)
    state = init.pop("result")
    start = time.perf_counter()
    update = jax.jit(sac.update, donate_argnums=0).lower(state, hp).compile()
    compile_seconds = init["compile_seconds"] + time.perf_counter() - start
    epochs = []
    for _ in range(2):
        start = time.perf_counter()
        state, metrics = jax.block_until_ready(update(state, hp))
        epochs.append(time.perf_counter() - start)
    return {"compile_seconds": compile_seconds, "prefill_seconds": init["run_seconds"], "epoch_seconds": epochs,
            "final_return": float(metrics["episode_return"]), "return_kind": "training episodes, last epoch"}


def measure_brax(s: dict) -> dict:
    from brax import envs
    from brax.training.agents.sac import networks as sac_networks
    from brax.training.agents.sac import train as brax_sac

    from brax_common import replicate_for_old_brax

    replicate_for_old_brax()
    records = []
    start = time.perf_counter()
    brax_sac.train(
        environment=envs.get_environment(s["env"], backend=s["backend"]), num_timesteps=total_steps(s), episode_length=s["episode_length"],
        action_repeat=1, num_envs=s["num_envs"], num_eval_envs=16, learning_rate=s["lr"], discounting=s["gamma"],
        seed=0, batch_size=s["minibatch"], num_evals=3, normalize_observations=False, reward_scaling=1.0,
        tau=s["tau"], min_replay_size=s["prefill"], max_replay_size=s["replay"], grad_updates_per_step=s["grad_steps"],
        deterministic_eval=True, max_devices_per_host=1,
        network_factory=lambda *a, **k: sac_networks.make_sac_networks(*a, hidden_layer_sizes=s["hidden"], **k),
        progress_fn=lambda step, metrics: records.append({k: float(v) for k, v in metrics.items()}),
    )
    wall = time.perf_counter() - start
    epoch_steps = s["num_envs"] * s["epoch_steps"]
    epochs = [epoch_steps / r["training/sps"] for r in records if "training/sps" in r]
    return {"compile_seconds": epochs[0] - epochs[1], "epoch_seconds": epochs, "call_seconds": wall,
            "final_return": records[-1]["eval/episode_reward"], "return_kind": "brax eval, deterministic, 16 envs"}


def worker(system: str, s: dict) -> dict:
    import jax

    from bench_common import machine, peak_memory_mb

    row = measure_jaxshape(s) if system == "jaxshape" else measure_brax(s)
    steady = row["epoch_seconds"][-1]
    return {"system": system, **row, "training_steps_per_second": s["num_envs"] * s["epoch_steps"] / steady,
            "total_steps": total_steps(s), **peak_memory_mb(), "device": machine(), "jax_version": jax.__version__,
            "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in s.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", choices=["jaxshape", "brax"])
    parser.add_argument("--smoke", action="store_true", help="tiny settings, to check the script")
    parser.add_argument("--epoch-steps", type=int, default=None)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "bench_brax_sac.json")
    args = parser.parse_args()
    settings = dict(SMOKE if args.smoke else SETTINGS)
    if args.epoch_steps:
        settings["epoch_steps"] = args.epoch_steps
    if args.worker:
        print(json.dumps(worker(args.worker, settings)))
        return

    from bench_common import run_json_subprocess, write_results

    flags = (["--smoke"] if args.smoke else []) + (["--epoch-steps", str(args.epoch_steps)] if args.epoch_steps else [])
    rows = []
    for system in ("jaxshape", "brax"):
        row = run_json_subprocess([sys.executable, __file__, "--worker", system, *flags], timeout=1200)
        if row:
            rows.append(row)
            print(json.dumps(row), flush=True)
    write_results(args.out, rows)
    for r in rows:
        print(f"{r['system']:9s} training steps/s {r['training_steps_per_second']:>10,.0f}   compile "
              f"{r['compile_seconds']:6.1f} s   final return {r['final_return']:8.1f}   "
              f"peak device MB {r.get('peak_device_mb', float('nan')):,.0f}   {r['device']}")


if __name__ == "__main__":
    main()
