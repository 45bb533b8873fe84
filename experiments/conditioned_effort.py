"""One conditioned agent vs a sweep of agents over an effort weight, on Pendulum-v1.

    python experiments/conditioned_effort.py [--total-steps N] [--seeds K] [--weights 0,0.5,1] [--range 0:1]
                                             [--name conditioned_effort]

The reward is the env's (−(θ² + 0.1·θ̇² + 0.001·u²)) plus w · effort, effort = −u² per
step (`rewards.terms.effort`). Two ways to cover the weights w:

- `separate`: one agent per weight, trained at that fixed w (the sweep, `--grid
  reward_coefs.effort=...`), all weights and seeds in one vmapped call;
- `conditioned`: one agent trained with `PPOConfig(condition=(("reward_coefs.effort", lo,
  hi),))`: w drawn per episode in [lo, hi] and fed to actor and critic; after training it
  is evaluated greedily at each w (as `jaxshape eval RUN --set reward_coefs.effort=w`).

Equal env steps per agent (the conditioned agent gets one agent's budget, not three).
Reported per weight: the task return (the env's own reward), the effort Σu² per episode,
and the objective that weight defines (task − w·Σu²), mean ± std over seeds of the greedy
return over `--episodes` fresh episodes.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

import experiment_common as ec
from jaxshape import pytree
from jaxshape.algos import PPOConfig, default_hparams, make_ppo
from jaxshape.rewards.terms import effort

NAME = "reward_coefs.effort"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--total-steps", type=int, default=409_600)
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--weights", default="0,0.5,1")
    p.add_argument("--range", default="0:1")
    p.add_argument("--episodes", type=int, default=64)
    p.add_argument("--name", default="conditioned_effort", help="results/<name>.json")
    args = p.parse_args()
    weights = [float(w) for w in args.weights.split(",")]
    lo, hi = (float(x) for x in args.range.split(":"))

    base = PPOConfig(env="Pendulum-v1", total_steps=args.total_steps, num_epochs=10, normalize_obs=True)
    hp = default_hparams(effort(), learning_rate=1e-3, ent_coef=0.0, gamma=0.95, gae_lambda=0.9)
    keys = jax.random.split(jax.random.PRNGKey(0), args.seeds)
    eval_key = jax.random.PRNGKey(1)
    with_weight = lambda h, w: h.replace(reward_coefs={**h.reward_coefs, "effort": jnp.float32(w)})  # noqa: E731
    results: dict = {"weights": weights, "range": [lo, hi], "seeds": args.seeds, "total_steps": args.total_steps,
                     "machine": ec.machine()}

    def train_and_evaluate(ppo, members_hp, eval_hps):
        """Train every member (vmapped), then evaluate each at each hparams of `eval_hps`
        [E] (vmapped): task return and effort, [members, E]."""

        def one(key, h):
            state, _ = ppo.train(key, h)
            ev = jax.vmap(lambda e: ppo.evaluate(state, e, eval_key, args.episodes, stream_returns=True))(eval_hps)
            return ev["eval_return"], ev["eval_return/effort"]

        t0 = time.perf_counter()
        out = jax.block_until_ready(jax.jit(jax.vmap(one))(*members_hp))
        return [np.asarray(x) for x in out], time.perf_counter() - t0

    # the sweep: weights x seeds agents, each evaluated at its own weight
    separate = make_ppo(base, transform=effort())
    members = [(k, with_weight(hp, w)) for w in weights for k in keys]
    (task, eff), seconds = train_and_evaluate(
        separate, (jnp.stack([k for k, _ in members]), pytree.stack([h for _, h in members])),
        pytree.stack([with_weight(hp, 0.0)]))  # one eval hparams: the policy does not read w
    task, eff = task[:, 0].reshape(len(weights), args.seeds), eff[:, 0].reshape(len(weights), args.seeds)
    results["separate"] = {"task": task.tolist(), "effort": (-eff).tolist(), "seconds": seconds}

    # one conditioned agent per seed, evaluated at every weight
    conditioned = make_ppo(dataclasses.replace(base, condition=((NAME, lo, hi),)), transform=effort())
    (ctask, ceff), cseconds = train_and_evaluate(
        conditioned, (keys, pytree.stack([with_weight(hp, (lo + hi) / 2)] * args.seeds)),
        pytree.stack([with_weight(hp, w) for w in weights]))
    results["conditioned"] = {"task": ctask.T.tolist(), "effort": (-ceff).T.tolist(), "seconds": cseconds}

    print(f"Pendulum-v1, effort weight w, {args.total_steps:,} env steps per agent, {args.seeds} seeds, "
          f"conditioned on w in [{lo:g}, {hi:g}]")
    print("| w | agent | task return | effort Σu² | task − w·effort |")
    print("|---|---|---|---|---|")
    for i, w in enumerate(weights):
        for label, r in (("separate", results["separate"]), ("conditioned", results["conditioned"])):
            t, e = np.asarray(r["task"][i]), np.asarray(r["effort"][i])
            obj = t - w * e
            print(f"| {w:g} | {label} | {t.mean():.1f} ± {t.std():.1f} | {e.mean():.1f} ± {e.std():.1f} | "
                  f"{obj.mean():.1f} ± {obj.std():.1f} |")
    print(f"wall: separate ({len(weights)}x{args.seeds} agents) {seconds:.0f} s, "
          f"conditioned ({args.seeds} agents) {cseconds:.0f} s (compile included)")
    ec.save_results(args.name, results)


if __name__ == "__main__":
    main()
