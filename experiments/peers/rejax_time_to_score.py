"""rejax PPO's time to score, for experiments/time_to_score.py (run with the rejax venv).

    $PEERS_DIR/rejax/bin/python experiments/peers/rejax_time_to_score.py \
        --config '{"env": "CartPole-v1", "num_envs": 16, ...}' --target 475 --budget 500000

`--config` is the keyword arguments of `rejax.PPO.create` (JSON), without
total_timesteps and the evaluation settings, which this script sets. Training goes
through rejax's public API in chunks: `algo.train(train_state=ts)` with
total_timesteps = eval_freq = one chunk (~`--every` env steps, whole iterations),
rejax's in-training evaluation switched off, jit(vmap(...)) over the seeds (seed i from
PRNGKey(i), as jaxshape's jobs do) and compiled once. After each chunk the greedy
policy (argmax of the actor's logits, observations normalised as rejax's own act does)
plays `--episodes` episodes per seed with rejax's evaluator. The loop and its clock are
experiments/peers/_time_to_score_loop.py, the same as jaxshape's. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def greedy_act(algo, ts):
    """act(obs, rng) -> the most likely action of rejax's discrete policy."""
    import jax.numpy as jnp

    def act(obs, rng):
        if getattr(algo, "normalize_observations", False):
            obs = algo.normalize_obs(ts.obs_rms_state, obs)
        logits = algo.actor.apply(ts.actor_ts.params, jnp.expand_dims(obs, 0),
                                  method=lambda module, x: module._action_dist(x).logits)
        return jnp.squeeze(jnp.argmax(logits, axis=-1))

    return act


def chunk_algo(config: dict, every: int):
    """(rejax PPO trained one chunk per `train` call, env steps per chunk)."""
    import rejax

    batch = config["num_envs"] * config["num_steps"]
    steps = max(1, round(every / batch)) * batch
    algo = rejax.PPO.create(**config, total_timesteps=steps, eval_freq=steps, skip_initial_evaluation=True)
    return algo.replace(eval_callback=lambda algo, ts, rng: ()), steps


def run(config: dict, target: float, budget: int, every: int, seeds: int, episodes: int) -> dict:
    """Build, train chunk by chunk, evaluate after each chunk; the worker's JSON row."""
    import jax
    from importlib.metadata import version

    from _time_to_score_loop import race
    from rejax.evaluate import evaluate

    start = time.perf_counter()
    algo, steps = chunk_algo(config, every)
    keys = jax.vmap(jax.random.PRNGKey)(jax.numpy.arange(seeds))
    train_chunk = jax.jit(jax.vmap(lambda ts: algo.train(train_state=ts)[0]))
    limit = algo.env_params.max_steps_in_episode

    def greedy_return(ts, key):
        return evaluate(greedy_act(algo, ts), key, algo.env, algo.env_params, episodes, limit)[1].mean()

    evaluate_all = jax.jit(jax.vmap(greedy_return))

    def eval_keys(index):
        return jax.vmap(lambda i: jax.random.fold_in(jax.random.PRNGKey(10_000 + i), index))(jax.numpy.arange(seeds))

    result = race(start, lambda: jax.jit(jax.vmap(algo.init_state))(keys),
                  lambda ts: train_chunk.lower(ts).compile(),
                  lambda ts, index: evaluate_all(ts, eval_keys(index)),
                  max(1, budget // steps), steps, target)
    return {"system": "rejax", "env": config["env"], "seeds": seeds, "target": target, "steps_per_chunk": steps,
            "budget_steps": max(1, budget // steps) * steps, "eval_episodes": episodes, **result,
            "settings": config, "device": str(jax.devices()[0]), "jax_version": jax.__version__,
            "rejax_version": version("rejax"), "gymnax_version": version("gymnax")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True, help="rejax.PPO.create keyword arguments, JSON")
    p.add_argument("--target", type=float, required=True, help="greedy return to reach")
    p.add_argument("--budget", type=int, required=True, help="env steps per seed at most")
    p.add_argument("--every", type=int, default=25_000, help="env steps between evaluations (whole iterations)")
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--episodes", type=int, default=32, help="greedy episodes per seed per evaluation")
    args = p.parse_args()
    try:
        config = json.loads(args.config)
    except json.JSONDecodeError as err:
        raise SystemExit(f"--config is not JSON: {err}") from None
    print(json.dumps(run(config, args.target, args.budget, args.every, args.seeds, args.episodes)), flush=True)


if __name__ == "__main__":
    main()
