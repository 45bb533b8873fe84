"""PPO learning parity on brax locomotion: jaxshape against brax's own PPO trainer.

Both systems train brax `ant` and `humanoid` (positional backend, 1000-step episodes) at
brax's published PPO settings for those envs: the `train_fn` table of brax's training
notebook (ant: 50M steps, 4096 envs, batch 2048, 32 minibatches, unroll 5, 4 updates per
batch, lr 3e-4, entropy 1e-2, discount 0.97, reward scaling 10, observation
normalisation; humanoid: 50M steps, 2048 envs, batch 1024, 32 minibatches, unroll 10, 8
updates per batch, entropy 1e-3, reward scaling 0.1, the rest the same), with the
defaults of brax 0.14.2's `ppo.train` for what the table leaves out (clip 0.3, GAE λ
0.95, value-loss weight 0.5, no gradient clipping, constant learning rate; policy 4x32
and value 5x256 swish MLPs). `--settings` prints the side-by-side table: every setting,
what differs and why.

How brax's settings map onto jaxshape's PPOConfig / PPOHParams (algos/ppo.py): one brax
training step collects batch_size x num_minibatches unrolls of unroll_length steps from
num_envs envs, i.e. num_envs x (unroll_length x batch_size x num_minibatches / num_envs)
steps; jaxshape's update collects num_envs x num_steps, so num_steps = 80 (ant) or 160
(humanoid) gives the same 327,680-step batch, the same 32 minibatches of 10,240 steps and
the same number of Adam steps. Reward scaling is the reward spec `scale(factor=...)`
(jaxshape/rewards/normalize.py). Both run the same number of steps: brax rounds
`num_timesteps` up to whole epochs (num_evals − 1 of them), and jaxshape trains exactly
that many; one jaxshape chunk = one brax epoch.

Reported per env and system: the final evaluation return, the same protocol for both:
deterministic (the mean action, squashed) episodes of the final policy from fresh resets,
`--eval-episodes` of them (brax: its evaluator, `deterministic_eval=True`,
`num_eval_envs`; jaxshape: `PPO.evaluate`, greedy); steady training steps/s (brax: the
median `training/sps` of its epochs after the first two, where it compiles; jaxshape: the
median time of its ahead-of-time compiled chunks after the first); compile seconds
(brax: what its first two epochs took beyond two steady epochs, as it compiles in
both; jaxshape: the AOT compile of init and the chunk); peak device memory. With
`--seeds N` > 1: the IQM over seeds with a 95% percentile-bootstrap interval. Each
(env, system) runs in a process of its own.

Sizing: brax's notebook reports ant's 50M steps in about 2.6 minutes of training after
33 s of compilation on its GPU, so the default `--total-steps` is the published 5e7 and
one (env, system) fits a 10-minute command with room for a slower system; a run that
would pass `--budget-seconds` of training (default 420) stops at the end of an epoch and
reports the steps it reached (`budget_stopped`).

    python experiments/brax_ppo_parity.py --settings                    # the settings table only
    python experiments/brax_ppo_parity.py                               # both envs, both systems (a GPU)
    python experiments/brax_ppo_parity.py --envs brax/ant --systems brax # one command's share
    python experiments/brax_ppo_parity.py --report                      # the table from the results file
    python experiments/brax_ppo_parity.py --tiny                        # CPU smoke: every code path

Results are merged into experiments/results/brax_ppo_parity_<device kind>.json (rows
keyed by env, system and seed), so separate commands add up to one file.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

ENVS = ("brax/ant", "brax/humanoid")
SYSTEMS = ("brax", "jaxshape")
BACKEND = "positional"  # the notebook's backend


@dataclasses.dataclass(frozen=True)
class BraxPPO:
    """brax `ppo.train` arguments (the notebook's table plus brax 0.14.2's defaults)."""

    num_timesteps: int
    num_envs: int
    batch_size: int
    num_minibatches: int
    unroll_length: int
    num_updates_per_batch: int
    entropy_cost: float
    reward_scaling: float
    learning_rate: float = 3e-4
    discounting: float = 0.97
    episode_length: int = 1000
    action_repeat: int = 1
    normalize_observations: bool = True
    num_evals: int = 10
    # brax 0.14.2 ppo.train defaults the table leaves unset
    clipping_epsilon: float = 0.3
    gae_lambda: float = 0.95
    vf_loss_coefficient: float = 0.5
    max_grad_norm: float | None = None
    normalize_advantage: bool = True
    policy_hidden: tuple[int, ...] = (32,) * 4
    value_hidden: tuple[int, ...] = (256,) * 5

    @property
    def steps_per_training_step(self) -> int:
        return self.batch_size * self.unroll_length * self.num_minibatches * self.action_repeat

    def epochs_and_steps(self, requested: int) -> tuple[int, int]:
        """(training steps per epoch, env steps brax runs) for `requested` steps: brax
        rounds up to whole epochs, num_evals − 1 of them."""
        epochs = max(self.num_evals - 1, 1)
        per_epoch = math.ceil(requested / (epochs * self.steps_per_training_step))
        return per_epoch, epochs * per_epoch * self.steps_per_training_step


PUBLISHED = {
    "ant": BraxPPO(num_timesteps=50_000_000, num_envs=4096, batch_size=2048, num_minibatches=32, unroll_length=5,
                   num_updates_per_batch=4, entropy_cost=1e-2, reward_scaling=10.0),
    "humanoid": BraxPPO(num_timesteps=50_000_000, num_envs=2048, batch_size=1024, num_minibatches=32,
                        unroll_length=10, num_updates_per_batch=8, entropy_cost=1e-3, reward_scaling=0.1),
}
TINY = dict(num_timesteps=2_000, num_envs=8, batch_size=8, num_minibatches=2, unroll_length=5,
            num_updates_per_batch=2, episode_length=50, num_evals=4, policy_hidden=(16, 16), value_hidden=(16, 16))
TINY_EVAL_EPISODES = 4


def brax_settings(env: str, tiny: bool) -> BraxPPO:
    published = PUBLISHED[env.removeprefix("brax/")]
    return dataclasses.replace(published, **TINY) if tiny else published


def jaxshape_settings(b: BraxPPO, hidden: tuple[int, ...] | None = None) -> dict:
    """jaxshape's PPOConfig / PPOHParams / reward spec for brax's settings `b`."""
    rollout = b.steps_per_training_step // b.action_repeat
    if rollout % b.num_envs:
        raise SystemExit(f"batch_size x unroll_length x num_minibatches = {rollout} is not a multiple of "
                         f"num_envs = {b.num_envs}")
    return {
        "config": dict(num_envs=b.num_envs, num_steps=rollout // b.num_envs, num_epochs=b.num_updates_per_batch,
                       num_minibatches=b.num_minibatches, hidden_sizes=tuple(hidden or b.value_hidden),
                       activation="silu", normalize_obs=b.normalize_observations, anneal_lr=False,
                       continuous_squash="tanh", clip_value=False, adam_eps=1e-8),
        "hparams": dict(learning_rate=b.learning_rate, gamma=b.discounting, gae_lambda=b.gae_lambda,
                        clip_eps=b.clipping_epsilon, ent_coef=b.entropy_cost, vf_coef=b.vf_loss_coefficient,
                        max_grad_norm=1e9 if b.max_grad_norm is None else b.max_grad_norm),
        "reward": f"scale(factor={b.reward_scaling})",
    }


def settings_table(env: str, b: BraxPPO, j: dict, requested: int) -> list[tuple[str, str, str, str]]:
    """(setting, brax, jaxshape, note) rows: every setting side by side."""
    c, h = j["config"], j["hparams"]
    per_epoch, steps = b.epochs_and_steps(requested)
    rows = [
        ("env", f"{env.removeprefix('brax/')} ({BACKEND}), {b.episode_length}-step episodes",
         f"{env} (BraxEnv, {BACKEND}), {b.episode_length}", "same env and time limit"),
        ("total env steps", f"{requested:,} asked, {steps:,} run", f"{steps:,}",
         f"brax rounds up to {b.num_evals - 1} epochs x {per_epoch} training steps; jaxshape runs that many"),
        ("envs", str(b.num_envs), f"num_envs={c['num_envs']}", "same"),
        ("steps per update (batch)",
         f"batch_size {b.batch_size} x num_minibatches {b.num_minibatches} x unroll_length {b.unroll_length} "
         f"= {b.steps_per_training_step:,}",
         f"num_envs x num_steps {c['num_steps']} = {c['num_envs'] * c['num_steps']:,}", "same batch"),
        ("minibatches x epochs", f"{b.num_minibatches} x num_updates_per_batch {b.num_updates_per_batch}",
         f"num_minibatches {c['num_minibatches']} x num_epochs {c['num_epochs']}",
         "same Adam steps and minibatch size; brax minibatches whole unrolls, jaxshape single steps"),
        ("advantages (GAE)", f"per minibatch, on its {b.unroll_length}-step unrolls, with the current value net "
         "and V(last next obs) as bootstrap",
         f"once per batch over each env's {c['num_steps']}-step rollout, with the values the rollout recorded",
         "cannot be matched: jaxshape has no per-minibatch GAE; the batch, minibatches and epochs are equal"),
        ("discount γ", str(b.discounting), f"gamma={h['gamma']}", "same"),
        ("GAE λ", f"{b.gae_lambda} (default)", f"gae_lambda={h['gae_lambda']}", "same"),
        ("clip ε", f"{b.clipping_epsilon} (default)", f"clip_eps={h['clip_eps']}", "same for the policy"),
        ("value loss", f"0.5·{b.vf_loss_coefficient}·mean (V − target)², unclipped",
         f"vf_coef={h['vf_coef']}, clip_value={c['clip_value']}: 0.5·coef·mean (V − target)²", "same"),
        ("entropy coef", str(b.entropy_cost), f"ent_coef={h['ent_coef']}",
         "same weight; brax estimates the tanh-squashed entropy from a sample, jaxshape uses the Gaussian's"),
        ("learning rate", f"{b.learning_rate}, constant", f"learning_rate={h['learning_rate']}, anneal_lr=False",
         "same"),
        ("optimizer", "Adam (eps 1e-8), no gradient clipping (max_grad_norm None)",
         f"Adam (adam_eps={c['adam_eps']:g}), max_grad_norm={h['max_grad_norm']:g}", "same (clipping off in effect)"),
        ("advantage normalisation", "per minibatch", "per minibatch", "same"),
        ("reward scaling", f"reward_scaling={b.reward_scaling} (inside the loss)", f"--reward \"{j['reward']}\"",
         "same scaled reward for learning; returns are reported unscaled by both"),
        ("observation normalisation", "running mean/std, updated with the batch before its SGD epochs",
         "normalize_obs=True: running mean/std, updated after the batch's SGD epochs",
         "jaxshape's statistics lag one batch behind"),
        ("networks", f"policy {'x'.join(map(str, b.policy_hidden))}, value {'x'.join(map(str, b.value_hidden))}, "
         "swish", f"actor and critic each {'x'.join(map(str, c['hidden_sizes']))}, activation=silu",
         "jaxshape gives actor and critic one width list; the value net's widths are used for both (--hidden "
         "changes them)"),
        ("policy distribution", "tanh-squashed Gaussian, state-dependent std (softplus + 0.001)",
         "tanh-squashed Gaussian (continuous_squash=tanh), state-independent learned log-std",
         "cannot be matched: jaxshape's std is a parameter vector"),
        ("episode ends", "time limit masked out of the loss (bootstrap_on_timeout=False); AutoReset restores the "
         "env's cached first state", "V(s′) bootstrapped at the time limit; a fresh random reset each episode "
         "(envs/brax_adapter.py)", "cannot be matched without changing either system"),
        ("evaluation", "deterministic_eval=True, num_eval_envs episodes", "PPO.evaluate: greedy (tanh of the mean) "
         "episodes from fresh resets", "same protocol: deterministic, one episode per eval env, unscaled return"),
    ]
    return rows


def print_settings(env: str, b: BraxPPO, j: dict, requested: int) -> None:
    rows = settings_table(env, b, j, requested)
    print(f"\nsettings for {env}: brax ppo.train (its training notebook's table + brax 0.14.2 defaults) vs jaxshape")
    for name, brax, ours, note in rows:
        print(f"  {name}\n      brax:     {brax}\n      jaxshape: {ours}\n      note:     {note}")


# ---------------------------------------------------------------------- workers
class BudgetSpent(Exception):
    """Raised from brax's progress_fn to stop its trainer at an epoch's end."""


def measure_brax(env: str, b: BraxPPO, requested: int, seed: int, eval_episodes: int, budget: float) -> dict:
    from brax import envs
    from brax.training.agents.ppo import networks as ppo_networks
    from brax.training.agents.ppo import train as brax_ppo

    from brax_common import replicate_for_old_brax

    replicate_for_old_brax()
    per_epoch, _ = b.epochs_and_steps(requested)
    records, start = [], time.perf_counter()

    def progress(step, metrics):
        records.append({"step": int(step), "wall": time.perf_counter() - start,
                        **{k: float(v) for k, v in metrics.items() if k in ("training/sps", "eval/episode_reward")}})
        if step and time.perf_counter() - start > budget:
            raise BudgetSpent

    stopped = False
    try:
        brax_ppo.train(
            environment=envs.get_environment(env.removeprefix("brax/"), backend=BACKEND), num_timesteps=requested,
            episode_length=b.episode_length, action_repeat=b.action_repeat, num_envs=b.num_envs,
            learning_rate=b.learning_rate, entropy_cost=b.entropy_cost, discounting=b.discounting,
            unroll_length=b.unroll_length, batch_size=b.batch_size, num_minibatches=b.num_minibatches,
            num_updates_per_batch=b.num_updates_per_batch, normalize_observations=b.normalize_observations,
            reward_scaling=b.reward_scaling, clipping_epsilon=b.clipping_epsilon, gae_lambda=b.gae_lambda,
            vf_loss_coefficient=b.vf_loss_coefficient, max_grad_norm=b.max_grad_norm, seed=seed,
            num_evals=b.num_evals, num_eval_envs=eval_episodes, deterministic_eval=True, max_devices_per_host=1,
            network_factory=lambda *a, **k: ppo_networks.make_ppo_networks(
                *a, policy_hidden_layer_sizes=b.policy_hidden, value_hidden_layer_sizes=b.value_hidden, **k),
            progress_fn=progress,
        )
    except BudgetSpent:
        stopped = True
    epoch_steps = per_epoch * b.steps_per_training_step
    epochs = [epoch_steps / r["training/sps"] for r in records if "training/sps" in r]
    steady = statistics.median(epochs[2:]) if len(epochs) >= 3 else epochs[-1]
    return {"final_eval_return": records[-1]["eval/episode_reward"], "steps": records[-1]["step"],
            "epoch_seconds": epochs, "training_steps_per_second": epoch_steps / steady,
            "compile_seconds": sum(max(e - steady, 0.0) for e in epochs[:2]),
            "wall_seconds": time.perf_counter() - start,
            "budget_stopped": stopped, "eval_curve": [(r["step"], r.get("eval/episode_reward")) for r in records],
            "eval_protocol": f"brax evaluator, deterministic_eval=True, {eval_episodes} envs"}


def measure_jaxshape(env_name: str, b: BraxPPO, j: dict, requested: int, seed: int, eval_episodes: int,
                     budget: float) -> dict:
    import jax

    from bench_common import time_compiled
    from jaxshape.algos.ppo import PPOConfig, default_hparams, make_ppo
    from jaxshape.envs.brax_adapter import BraxEnv
    from jaxshape.rewards.spec import parse_reward_spec

    per_epoch, steps = b.epochs_and_steps(requested)
    env = BraxEnv(env_name.removeprefix("brax/"), episode_length=b.episode_length, action_repeat=b.action_repeat,
                  backend=BACKEND)
    transform = parse_reward_spec(j["reward"], env.name)
    config = PPOConfig(env=env.name, total_steps=steps, **j["config"])
    assert config.batch_size == b.steps_per_training_step // b.action_repeat and config.num_updates * \
        config.batch_size == steps, "one jaxshape update must be one brax training step"
    ppo = make_ppo(config, env, env.default_params, transform)
    hp = default_hparams(transform, **j["hparams"])

    def chunk(state, hp):
        return jax.lax.scan(lambda s, _: ppo.update(s, hp), state, None, length=per_epoch)

    start = time.perf_counter()
    init = time_compiled(ppo.init, jax.random.PRNGKey(seed), hp)
    state = init.pop("result")
    t = time.perf_counter()
    run_chunk = jax.jit(chunk, donate_argnums=0).lower(state, hp).compile()
    compile_seconds = init["compile_seconds"] + time.perf_counter() - t
    evaluate = jax.jit(lambda s, key: ppo.evaluate(s, hp, key, eval_episodes))
    epochs, stopped, curve = [], False, []
    for i in range(config.num_updates // per_epoch):
        t = time.perf_counter()
        state, metrics = jax.block_until_ready(run_chunk(state, hp))
        epochs.append(time.perf_counter() - t)
        curve.append(((i + 1) * per_epoch * config.batch_size, float(metrics["episode_return"][-1])))
        if time.perf_counter() - start > budget and i + 1 < config.num_updates // per_epoch:
            stopped = True
            break
    result = jax.device_get(evaluate(state, jax.random.PRNGKey(10_000 + seed)))
    steady = statistics.median(epochs[1:]) if len(epochs) >= 2 else epochs[0]
    return {"final_eval_return": float(result["eval_return"]), "steps": len(epochs) * per_epoch * config.batch_size,
            "epoch_seconds": epochs, "training_steps_per_second": per_epoch * config.batch_size / steady,
            "compile_seconds": compile_seconds, "wall_seconds": time.perf_counter() - start,
            "budget_stopped": stopped, "train_return_curve": curve,
            "eval_protocol": f"PPO.evaluate, greedy, {eval_episodes} fresh episodes"}


def worker(args: argparse.Namespace) -> None:
    import jax

    from bench_common import machine, peak_memory_mb
    from brax_common import device_kind

    b = brax_settings(args.env, args.tiny)
    j = jaxshape_settings(b, args.hidden)
    requested = args.total_steps or b.num_timesteps
    episodes = TINY_EVAL_EPISODES if args.tiny else args.eval_episodes
    if args.worker == "brax":
        row = measure_brax(args.env, b, requested, args.seed, episodes, args.budget_seconds)
    else:
        row = measure_jaxshape(args.env, b, j, requested, args.seed, episodes, args.budget_seconds)
    print(json.dumps({"env": args.env, "system": args.worker, "seed": args.seed, "requested_steps": requested,
                      "tiny": args.tiny, **row, **peak_memory_mb(), "device": machine(), "device_kind": device_kind(),
                      "jax_version": jax.__version__}))


# ---------------------------------------------------------------------- report
def report(rows: list[dict]) -> None:
    from brax_common import fmt, iqm_interval

    print("\nenv            system    seeds  steps        eval return IQM [95% CI]        steps/s      compile s  "
          "peak device MB  device")
    for env in sorted({r["env"] for r in rows}):
        for system in SYSTEMS:
            mine = [r for r in rows if r["env"] == env and r["system"] == system]
            if not mine:
                continue
            ret = iqm_interval([r["final_eval_return"] for r in mine])
            sps = iqm_interval([r["training_steps_per_second"] for r in mine])
            ci = f"{fmt(ret['iqm'])} [{fmt(ret['low'])}, {fmt(ret['high'])}]"
            stopped = " (budget stop)" if any(r.get("budget_stopped") for r in mine) else ""
            print(f"{env:14s} {system:9s} {len(mine):5d}  {min(r['steps'] for r in mine):>11,}  {ci:31s} "
                  f"{fmt(sps['iqm'], ',.0f'):>10s}  {fmt(statistics.median(r['compile_seconds'] for r in mine)):>9s}  "
                  f"{fmt(max((r.get('peak_device_mb') or 0) for r in mine) or None, ',.0f'):>14s}  "
                  f"{mine[0]['device']}{stopped}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", default=",".join(ENVS), help="comma-separated, from brax/ant, brax/humanoid")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated, from brax, jaxshape")
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 per env and system (default: 1)")
    parser.add_argument("--total-steps", type=float, default=None,
                        help="env steps per run (default: brax's published 5e7; --tiny: 2000)")
    parser.add_argument("--eval-episodes", type=int, default=128, help="deterministic eval episodes (default: 128)")
    parser.add_argument("--budget-seconds", type=float, default=420.0,
                        help="stop a run at the first epoch end past this much wall time (default: 420)")
    parser.add_argument("--hidden", type=lambda s: tuple(int(x) for x in s.split(",")), default=None,
                        help="jaxshape's actor and critic widths, e.g. 256,256 (default: brax's value net's)")
    parser.add_argument("--tiny", action="store_true", help="tiny settings and 50-step episodes: a CPU smoke run")
    parser.add_argument("--settings", action="store_true", help="print the settings tables and exit")
    parser.add_argument("--report", action="store_true", help="print the table from the results file and exit")
    parser.add_argument("--out", type=Path, default=None,
                        help="results JSON (default: experiments/results/brax_ppo_parity_<device kind>[_tiny].json)")
    parser.add_argument("--worker", choices=SYSTEMS, help=argparse.SUPPRESS)
    parser.add_argument("--env", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.total_steps = int(args.total_steps) if args.total_steps else None
    if args.worker:
        worker(args)
        return
    envs = [e.strip() for e in args.envs.split(",") if e.strip()]
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if bad := [e for e in envs if e not in ENVS] + [s for s in systems if s not in SYSTEMS]:
        parser.error(f"unknown env or system {bad}: envs {ENVS}, systems {SYSTEMS}")
    for env in envs:
        b = brax_settings(env, args.tiny)
        print_settings(env, b, jaxshape_settings(b, args.hidden), args.total_steps or b.num_timesteps)
    if args.settings:
        return

    from bench_common import run_json_subprocess
    from brax_common import device_kind, merge_rows

    out = args.out or HERE / "results" / f"brax_ppo_parity_{device_kind()}{'_tiny' if args.tiny else ''}.json"
    if args.report:
        report(json.loads(out.read_text()) if out.exists() else [])
        return
    rows = []
    flags = ["--tiny"] if args.tiny else []
    flags += ["--eval-episodes", str(args.eval_episodes), "--budget-seconds", str(args.budget_seconds / args.seeds)]
    flags += ["--total-steps", str(args.total_steps)] if args.total_steps else []
    flags += ["--hidden", ",".join(map(str, args.hidden))] if args.hidden else []
    for env in envs:
        for system in systems:
            for seed in range(args.seeds):
                cmd = [sys.executable, __file__, "--worker", system, "--env", env, "--seed", str(seed), *flags]
                row = run_json_subprocess(cmd, timeout=3600)
                if row:
                    rows.append(row)
                    print(json.dumps({k: v for k, v in row.items() if not k.endswith("curve")}), flush=True)
    merged = merge_rows(out, rows, key=("env", "system", "seed"))
    print(f"results: {out}")
    report(merged)


if __name__ == "__main__":
    main()
