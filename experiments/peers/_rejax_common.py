"""Shared timing harness for the rejax peer baselines (runs in the rejax venv).

Timing protocol (same for PPO and SAC):
  * compile_seconds: wall time of ``jax.jit(f).lower(keys).compile()``, i.e.
    Python tracing + StableHLO lowering + XLA compilation, done ahead of time.
    Nothing is executed.
  * run_seconds: wall time of calling the *compiled* executable on the keys and
    ``jax.block_until_ready`` on the result.  Because the executable is already
    compiled, this is pure training execution (the "second call" of a plain
    jit).  With --repeats R > 1 the training is run R times and the minimum is
    reported (all values go to stderr).
  * The final return is measured afterwards, outside both timers, with rejax's
    own evaluator (stochastic policy, ``--eval-episodes`` episodes per agent);
    with ``greedy_act`` also with the greedy policy (the same episode count).
  * Seeds: with ``--key-per-seed`` agent i trains from ``PRNGKey(seed + i)``, as
    jaxshape's jobs do; otherwise from ``split(PRNGKey(seed), num_agents)[i]``.

rejax's in-training evaluation: ``Algorithm.train`` is a ``lax.scan`` over
ceil(total_timesteps / eval_freq) chunks, each a ``fori_loop`` of training
iterations followed by ``eval_callback`` (128 full episodes by default), plus
an initial evaluation unless ``skip_initial_evaluation``.  We disable it by
(a) ``skip_initial_evaluation=True``, (b) ``eval_freq`` = the whole run (one
chunk), and (c) replacing ``eval_callback`` with a no-op, so only training is
timed.  Side effect of (b): rejax rounds the step count up to whole training
iterations; the true count is read back from ``ts.global_step``.
"""

from __future__ import annotations

import json
import sys
import time
from importlib.metadata import version

import jax
import numpy as np


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def _noop_eval(algo, ts, rng):
    return ()


def disable_training_eval(algo, steps_per_chunk_rounding: int):
    """Return (algo_without_eval, original_eval_callback)."""
    original = algo.eval_callback
    total = int(np.ceil(algo.total_timesteps / steps_per_chunk_rounding)) * steps_per_chunk_rounding
    algo = algo.replace(
        eval_callback=_noop_eval,
        eval_freq=total,
        skip_initial_evaluation=True,
    )
    return algo, original


def run_benchmark(*, peer_algo: str, env_name: str, algo, eval_callback, num_agents: int,
                  seed: int, repeats: int, eval_episodes: int, extra: dict | None = None, ts_stats=None,
                  key_per_seed: bool = False, greedy_act=None):
    """Compile + time rejax training for ``num_agents`` seeds, print one JSON line.

    ``greedy_act(algo, ts)`` returns an ``act(obs, rng)`` of the greedy policy; when
    given, the greedy return is measured too."""
    if num_agents == 1:
        keys = jax.random.PRNGKey(seed)
        train = jax.jit(lambda k: algo.train(k)[0])
    else:
        if key_per_seed:
            keys = jax.vmap(jax.random.PRNGKey)(jax.numpy.arange(seed, seed + num_agents))
        else:
            keys = jax.random.split(jax.random.PRNGKey(seed), num_agents)
        train = jax.jit(jax.vmap(lambda k: algo.train(k)[0]))

    t0 = time.perf_counter()
    compiled = train.lower(keys).compile()
    compile_seconds = time.perf_counter() - t0
    log(f"[{peer_algo}] lower+compile: {compile_seconds:.2f}s")

    run_times = []
    ts = None
    for r in range(max(1, repeats)):
        del ts  # free the previous result before the next run
        t0 = time.perf_counter()
        ts = jax.block_until_ready(compiled(keys))
        run_times.append(time.perf_counter() - t0)
        log(f"[{peer_algo}] run {r}: {run_times[-1]:.2f}s")
    run_seconds = min(run_times)

    steps_per_agent = int(np.asarray(ts.global_step).reshape(-1)[0])

    # Final evaluation, outside the timers: rejax's own evaluator.
    def eval_one(t, k):
        lengths, returns = eval_callback_with_episodes(algo, eval_callback, t, k, eval_episodes)
        return returns.mean()

    def eval_greedy(t, k):
        from rejax.evaluate import evaluate

        _, returns = evaluate(greedy_act(algo, t), k, algo.env, algo.env_params, eval_episodes,
                              algo.env_params.max_steps_in_episode)
        return returns.mean()

    def per_agent_returns(fn):
        ekey = jax.random.PRNGKey(seed + 10_000)
        if num_agents == 1:
            return np.atleast_1d(np.asarray(jax.jit(fn)(ts, ekey)))
        return np.asarray(jax.jit(jax.vmap(fn))(ts, jax.random.split(ekey, num_agents)))

    per_agent = per_agent_returns(eval_one)
    greedy = per_agent_returns(eval_greedy) if greedy_act is not None else None

    out = {
        "peer": "rejax",
        "algo": peer_algo,
        "env": env_name,
        "num_agents": num_agents,
        "total_steps_per_agent": steps_per_agent,
        "compile_seconds": round(compile_seconds, 3),
        "run_seconds": round(run_seconds, 3),
        "steps_per_second": round(steps_per_agent * num_agents / run_seconds, 1),
        "final_return_mean": round(float(per_agent.mean()), 2),
        "final_return_std_over_agents": round(float(per_agent.std()), 2),
        "final_return_per_agent": [round(float(r), 3) for r in per_agent],
        **({"final_greedy_return_per_agent": [round(float(r), 3) for r in greedy]} if greedy is not None else {}),
        "eval_episodes_per_agent": eval_episodes,
        "jax_version": jax.__version__,
        "rejax_version": version("rejax"),
        "gymnax_version": version("gymnax"),
        "device": str(jax.devices()[0]),
    }
    if extra:
        out.update(extra)
    if ts_stats is not None:
        out.update(ts_stats(ts))
    print(json.dumps(out), flush=True)
    return out


def eval_callback_with_episodes(algo, eval_callback, ts, rng, episodes):
    """rejax's default eval_callback hard-codes 128 episodes; honour ``episodes``."""
    if episodes == 128:
        return eval_callback(algo, ts, rng)
    from rejax.evaluate import evaluate

    act = algo.make_act(ts)
    return evaluate(act, rng, algo.env, algo.env_params, episodes,
                    algo.env_params.max_steps_in_episode)


def add_common_args(p, total_steps_default: int):
    p.add_argument("--num-agents", type=int, default=1,
                   help="independent seeds; 1 = plain jit, >1 = jit(vmap(train))")
    p.add_argument("--total-steps", type=int, default=total_steps_default,
                   help="env steps per agent (rejax rounds up to whole iterations)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=1,
                   help="time the compiled run this many times, report the minimum")
    p.add_argument("--eval-episodes", type=int, default=128,
                   help="episodes per agent for the (untimed) final evaluation")
    p.add_argument("--key-per-seed", action="store_true",
                   help="agent i trains from PRNGKey(seed + i), as jaxshape's jobs do "
                        "(default: split(PRNGKey(seed), num_agents))")
    return p


__all__ = ["add_common_args", "disable_training_eval", "run_benchmark", "log"]
