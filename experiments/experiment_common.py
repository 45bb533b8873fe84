"""Shared helpers for the reward-transform experiments (shaping, exploration, submodular,
reward machines).

`run_condition` trains K seeds of one PPO config + reward transform in ONE vmapped,
jitted call (compiled once, timed apart from the run). Inside that call the run is a
`lax.scan` over `num_evals` chunks; each chunk is a `lax.scan` of PPO updates followed by
a greedy (and optionally a sampled) evaluation of fresh episodes. The evaluation here
mirrors `jaxshape.evaluation.evaluate` but also hands the env's step `info` to the
reward transform (labelling functions and cell locators read it) and tracks
per-episode quantities the experiments need (success, distinct cells visited).

`save_results` writes experiments/results/<name>.json; `plot_conditions` the PNG.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxshape.algos.ppo import PPO
from jaxshape.types import Transition

RESULTS = Path(__file__).resolve().parent / "results"

# name -> (fn(reward [N], info dict, terminated [N]) -> [N] float, reduction over the episode's
# steps: "max" or "last" (the value at the step that ended the episode))
Trackers = dict[str, tuple[Callable[[jax.Array, dict, jax.Array], jax.Array], str]]


def machine() -> str:
    dev = jax.devices()[0]
    return (f"{dev.platform} ({getattr(dev, 'device_kind', '')}), {os.cpu_count()} cores "
            f"{platform.machine()}, jax {jax.__version__}")


# ----------------------------------------------------------------------- evaluation
def run_episodes(
    ppo: PPO,
    state: Any,
    hp: Any,
    key: jax.Array,
    num_episodes: int,
    deterministic: bool = True,
    trackers: Trackers | None = None,
    num_cells: int | None = None,
) -> dict[str, jax.Array]:
    """Play `num_episodes` fresh episodes (one per env, to their first end).

    Returns means over episodes of: `return` (undiscounted extrinsic), `length`, each
    tracker's per-episode max, and with `num_cells`, `cells` = distinct values of
    `info["cell"]` visited (the start cell included)."""
    env, env_params = ppo.env, ppo.env_params
    trackers = trackers or {}
    max_steps = _episode_limit(env, env_params)
    reset_key, run_key, transform_key = jax.random.split(key, 3)
    obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(reset_key, num_episodes), env_params)
    obs = obs.astype(jnp.float32)
    transform = ppo.transform
    observing = transform.observe is not None
    zeros = jnp.zeros((num_episodes,), jnp.float32)
    no_flag = jnp.zeros((num_episodes,), bool)
    action0 = ppo.example_action((num_episodes,))
    info_shape = jax.eval_shape(
        lambda k, s, a: jax.vmap(env.step, in_axes=(0, 0, 0, None))(k, s, a, env_params),
        jax.random.split(run_key, num_episodes), env_state, action0)[-1]
    info0 = {k: jnp.zeros(v.shape, v.dtype) for k, v in _env_info(info_shape).items()}
    t_state = None
    if observing:
        example = Transition(obs=obs, action=action0, reward=zeros, terminated=no_flag, truncated=no_flag,
                             next_obs=obs, gamma=hp.gamma, info=info0)
        t_state = transform.init(transform_key, example)
    visited = None
    if num_cells is not None:
        # the start cell: the env's info gives the cell after each step, so read the reset state
        start = _start_cells(env_state, env)
        visited = jnp.zeros((num_episodes, num_cells), bool).at[jnp.arange(num_episodes), start].set(True)

    def step(carry, key):
        env_state, obs, t_state, ret, length, running, tracked, visited = carry
        act_key, env_key = jax.random.split(key)
        features = transform.observe(t_state) if observing else None
        policy, _ = ppo.policy_value(state.params, state.obs_stats, ppo.policy_input(obs, features))
        raw = ppo.head.mode(policy) if deterministic else ppo.head.sample(act_key, policy)
        action = ppo.head.to_env(raw)
        next_obs, env_state, reward, terminated, truncated, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
            jax.random.split(env_key, num_episodes), env_state, action, env_params)
        terminated = terminated.astype(bool)
        done = jnp.logical_or(terminated, truncated.astype(bool))
        if observing:
            tr = Transition(obs=obs, action=action, reward=reward.astype(jnp.float32), terminated=terminated,
                            truncated=jnp.logical_and(truncated.astype(bool), ~terminated),
                            next_obs=info["final_observation"].astype(jnp.float32), gamma=hp.gamma,
                            info=_env_info(info))
            _, t_state = transform.apply(t_state, tr, hp.reward)
        ret = ret + jnp.where(running, reward, 0.0)
        length = length + running
        tracked = {k: jnp.where(running, _reduce(how, tracked[k], fn(reward, info, terminated)), tracked[k])
                   for k, (fn, how) in trackers.items()}
        if visited is not None:
            cell = info["cell"].astype(jnp.int32)
            rows = jnp.arange(num_episodes)
            visited = visited.at[rows, cell].set(visited[rows, cell] | running)
        running = jnp.logical_and(running, ~done)
        return (env_state, next_obs.astype(jnp.float32), t_state, ret, length, running, tracked, visited), None

    tracked0 = {k: jnp.full((num_episodes,), -jnp.inf, jnp.float32) for k in trackers}
    carry = (env_state, obs, t_state, zeros, zeros, jnp.ones((num_episodes,), bool), tracked0, visited)
    carry, _ = jax.lax.scan(step, carry, jax.random.split(run_key, max_steps))
    _, _, _, ret, length, _, tracked, visited = carry
    out = {"return": ret.mean(), "length": length.mean(), **{k: v.mean() for k, v in tracked.items()}}
    if visited is not None:
        out["cells"] = visited.sum(-1).astype(jnp.float32).mean()
    return out


def _reduce(how, old, new):
    new = new.astype(jnp.float32)
    return jnp.maximum(old, new) if how == "max" else new


def _start_cells(env_state, env):
    pos = env_state.pos
    return (pos[:, 0] * env.size + pos[:, 1]).astype(jnp.int32)


def _episode_limit(env, env_params) -> int:
    from jaxshape.evaluation import episode_limit

    return episode_limit(env, env_params)


def _env_info(info: dict) -> dict:
    return {k: v for k, v in info.items() if k not in ("final_observation", "terminated", "truncated", "discount")}


# ----------------------------------------------------------------------- training
def run_condition(
    ppo: PPO,
    hp: Any,
    seeds: int,
    num_evals: int,
    eval_episodes: int = 64,
    trackers: Trackers | None = None,
    num_cells: int | None = None,
    sampled_eval: bool = False,
    seed_offset: int = 0,
    final_eval: Callable[[Any, jax.Array], dict[str, jax.Array]] | None = None,
) -> dict[str, Any]:
    """Train `seeds` seeds in one vmapped jit call; evaluate `num_evals` times during it.

    Returns a dict of numpy arrays: `train/<metric>` [seeds, updates], `eval/<metric>`
    and (with `sampled_eval`) `sample/<metric>` [seeds, num_evals], `update_steps`
    [updates], `eval_steps` [num_evals], plus timings. `final_eval(state, key)`, if
    given, scores the final state inside the same call (e.g. `PPO.evaluate`); its
    outputs come back as `final/<metric>` [seeds]."""
    cfg = ppo.config
    per_chunk = cfg.num_updates // num_evals
    if per_chunk < 1:
        raise ValueError(f"num_evals={num_evals} exceeds the {cfg.num_updates} updates; lower it")

    def run(key, hp):
        init_key, eval_key = jax.random.split(key)
        state = ppo.init(init_key, hp)

        def chunk(state, k):
            state, metrics = jax.lax.scan(lambda s, _: ppo.update(s, hp), state, None, length=per_chunk)
            g_key, s_key = jax.random.split(k)
            ev = {"eval": run_episodes(ppo, state, hp, g_key, eval_episodes, True, trackers, num_cells)}
            if sampled_eval:
                ev["sample"] = run_episodes(ppo, state, hp, s_key, eval_episodes, False, trackers, num_cells)
            return state, (metrics, ev)

        chunk_key, final_key = jax.random.split(eval_key)
        state, (metrics, ev) = jax.lax.scan(chunk, state, jax.random.split(chunk_key, num_evals))
        metrics = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), metrics)
        if final_eval is not None:
            ev["final"] = final_eval(state, final_key)
        return metrics, ev

    keys = jax.vmap(jax.random.PRNGKey)(jnp.arange(seed_offset, seed_offset + seeds))
    fn = jax.jit(jax.vmap(run, in_axes=(0, None)))
    t0 = time.perf_counter()
    compiled = fn.lower(keys, hp).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    metrics, ev = jax.block_until_ready(compiled(keys, hp))
    run_s = time.perf_counter() - t0
    out: dict[str, Any] = {f"train/{k}": np.asarray(v) for k, v in metrics.items() if np.ndim(v) == 2}
    for mode, values in ev.items():
        out.update({f"{mode}/{k}": np.asarray(v) for k, v in values.items()})
    updates = np.arange(1, per_chunk * num_evals + 1)
    out["update_steps"] = updates * cfg.batch_size
    out["eval_steps"] = np.arange(1, num_evals + 1) * per_chunk * cfg.batch_size
    out["compile_seconds"], out["run_seconds"] = compile_s, run_s
    out["env_steps_per_seed"] = int(per_chunk * num_evals * cfg.batch_size)
    return out


def first_crossing(steps: np.ndarray, curve: np.ndarray, threshold: float, sustained: int = 1) -> np.ndarray:
    """Per seed (rows of `curve` [seeds, T]): the first step at which the curve is >=
    threshold for `sustained` consecutive points; NaN where it never is."""
    out = []
    for row in np.atleast_2d(curve):
        ok = row >= threshold
        hit = np.nan
        for t in range(len(row) - sustained + 1):
            if ok[t:t + sustained].all():
                hit = float(steps[t])
                break
        out.append(hit)
    return np.asarray(out)


def mean_std(x) -> dict[str, Any]:
    x = np.asarray(x, np.float64)
    finite = x[np.isfinite(x)]
    return {"mean": float(finite.mean()) if finite.size else None,
            "std": float(finite.std()) if finite.size else None,
            "n_finite": int(finite.size), "n": int(x.size), "per_seed": [None if not np.isfinite(v) else float(v)
                                                                       for v in x.ravel()]}


def fmt(stat: dict, digits: int = 3) -> str:
    if stat["mean"] is None:
        return f"never ({stat['n_finite']}/{stat['n']} seeds)"
    s = f"{stat['mean']:.{digits}g} ± {stat['std']:.{digits}g}"
    if stat["n_finite"] < stat["n"]:
        s += f" ({stat['n_finite']}/{stat['n']} seeds)"
    return s


# ----------------------------------------------------------------------- output
def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        return None if not np.isfinite(x) else float(x)
    if isinstance(x, (np.integer, np.bool_)):
        return x.item()
    return x


def save_results(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(_jsonable(payload), indent=1) + "\n")
    return path


def plot_conditions(
    name: str,
    runs: dict[str, dict[str, Any]],
    panels: list[tuple[str, str, str]],
    title: str,
    hlines: dict[str, float] | None = None,
    band: str = "range",
) -> Path:
    """One panel per (metric key, x key, panel title); one colour per condition, mean
    across seeds with a band from the lowest to the highest seed (`band="range"`) or
    with each seed as a thin line (`band="seeds"`, clearer for 0/1 outcomes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(5.0 * len(panels), 3.8), squeeze=False)
    for ax, (metric, xkey, ptitle) in zip(axes.flat, panels):
        for colour, (label, run) in zip(plt.cm.tab10.colors, runs.items()):
            if metric not in run:
                continue
            values = np.asarray(run[metric], np.float64)
            steps = np.asarray(run[xkey], np.float64)
            if metric.startswith("train/") and values.shape[1] > 200:  # smooth long training curves
                w = values.shape[1] // 100
                k = np.ones(w) / w
                values = np.stack([np.convolve(r, k, mode="valid") for r in values])
                steps = steps[w - 1:]
            mean = values.mean(0)
            ax.plot(steps, mean, color=colour, label=f"{label} ({values.shape[0]} seeds)",
                    marker="o" if not metric.startswith("train/") else None, ms=3)
            if band == "seeds":
                for row in values:
                    ax.plot(steps, row, color=colour, alpha=0.35, lw=0.8)
            else:
                ax.fill_between(steps, values.min(0), values.max(0), color=colour, alpha=0.2, linewidth=0)
        if hlines and metric in hlines:
            ax.axhline(hlines[metric], color="grey", ls="--", lw=1, label="threshold")
        ax.set_title(ptitle, fontsize=10)
        ax.set_xlabel("env steps per seed")
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=8, loc="best")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# ------------------------------------------------------------- PointGoal comparisons
POINTGOAL_PARAMS = {"goal_eps": 0.15, "max_speed": 0.2}


def goal_distance(obs):
    """Φ(s) = −‖position − goal‖ for PointGoal's obs [p(2), g(2)]."""
    return -jnp.linalg.norm(obs[..., 0:2] - obs[..., 2:4], axis=-1)


def pointgoal_args(doc: str, name: str, scale: float):
    """The command line of a PointGoal comparison: budget, seeds, evaluations, a scale, a name."""
    import argparse

    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--total-steps", type=int, default=327_680)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--evals", type=int, default=20)
    ap.add_argument("--scale", type=float, default=scale)
    ap.add_argument("--name", default=name)
    return ap.parse_args()


def pointgoal_config(total_steps: int):
    """The PPO settings every PointGoal comparison uses."""
    from jaxshape.algos.ppo import PPOConfig

    return PPOConfig(env="PointGoal-v0", num_envs=16, num_steps=64, total_steps=total_steps, num_epochs=4,
                     num_minibatches=4, hidden_sizes=(64, 64))


def compare_on_pointgoal(name: str, conditions: dict[str, tuple[Any, Any]], args: Any, title: str) -> dict:
    """Train each (PPOConfig, transform or None) condition on PointGoal-v0 (goal_eps 0.15,
    max_speed 0.2), `args.seeds` seeds x `args.evals` greedy evaluations of 128 fresh
    episodes; print a line per condition, write results/<name>.json and .png (greedy
    success, greedy and training extrinsic return). Returns the summary."""
    from jaxshape.algos.ppo import default_hparams, make_ppo
    from jaxshape.envs import make

    env, params = make("PointGoal-v0")
    params = params.replace(**POINTGOAL_PARAMS)
    trackers = {"final_success": (lambda r, info, term: info["is_success"], "last")}
    runs, summary = {}, {}
    wall0 = time.perf_counter()
    for label, (config, transform) in conditions.items():
        ppo = make_ppo(config, env, params, transform)
        run = run_condition(ppo, default_hparams(ppo.transform, learning_rate=3e-4), args.seeds, args.evals, 128,
                            trackers=trackers)
        runs[label] = run
        summary[label] = {
            "final_greedy_success": mean_std(run["eval/final_success"][:, -1]),
            "final_greedy_return": mean_std(run["eval/return"][:, -1]),
            "compile_seconds": run["compile_seconds"], "run_seconds": run["run_seconds"],
        }
        print(f"[{label}] final greedy success {fmt(summary[label]['final_greedy_success'])}, extrinsic return "
              f"{fmt(summary[label]['final_greedy_return'])} | compile {run['compile_seconds']:.1f}s "
              f"run {run['run_seconds']:.1f}s", flush=True)
    wall = time.perf_counter() - wall0
    payload = {"experiment": name, "machine": machine(), "wall_seconds": wall, "args": vars(args),
               "env_params": POINTGOAL_PARAMS, "summary": summary,
               "curves": {k: {m: v for m, v in r.items() if m.startswith(("eval/", "eval_steps"))}
                          for k, r in runs.items()}}
    path = save_results(name, payload)
    png = plot_conditions(
        name, runs,
        [("eval/final_success", "eval_steps", "greedy success rate (at goal at episode end)"),
         ("eval/return", "eval_steps", "greedy extrinsic return"),
         ("train/episode_return", "update_steps", "training extrinsic return")],
        title)
    print(f"wall {wall:.1f}s\n{path}\n{png}")
    return summary


def success_condition(label: str, ppo: PPO, seeds: int, evals: int, trackers: Trackers) -> tuple[dict, dict]:
    """Train one condition of a task scored by a `success` tracker (lr 3e-4, 64 greedy
    episodes per evaluation) and summarise it: the final greedy success and every other
    tracker, the episode length, the steps to greedy success ≥ 0.9 at two evaluations
    running, the final training return. Prints one line; returns (run, summary)."""
    from jaxshape.algos.ppo import default_hparams

    run = run_condition(ppo, default_hparams(ppo.transform, learning_rate=3e-4), seeds, evals, 64, trackers=trackers)
    tts = first_crossing(run["eval_steps"], run["eval/success"], 0.9, sustained=2)
    summary = {
        "final_greedy_success": mean_std(run["eval/success"][:, -1]),
        **{f"final_greedy_{name}": mean_std(run[f"eval/{name}"][:, -1]) for name in trackers if name != "success"},
        "final_greedy_length": mean_std(run["eval/length"][:, -1]),
        "time_to_success_steps": mean_std(tts),
        "final_training_return": mean_std(run["train/episode_return"][:, -10:].mean(1)),
        "compile_seconds": run["compile_seconds"], "run_seconds": run["run_seconds"],
    }
    greedy = ", ".join(f"{k.removeprefix('final_greedy_')} {fmt(v)}" for k, v in summary.items()
                       if k.startswith("final_greedy_"))
    print(f"[{label}] greedy {greedy} | time to 0.9 success {fmt(summary['time_to_success_steps'])} | "
          f"compile {run['compile_seconds']:.1f}s run {run['run_seconds']:.1f}s", flush=True)
    return run, summary
