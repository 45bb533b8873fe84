"""Summed vs gated vs multiplicative dense terms on KeyDoor-grid, at two minibatch counts.

    python experiments/gated_rewards.py [--size 7] [--total-steps N] [--seeds K] [--minibatches 4,16]

KeyDoor-grid (envs/keydoor.py): reach the key, then the door (env reward 1,
terminates); a time limit truncates. Two dense terms a designer might write:

- `progress`: route completion, CaRL-style: P(s) = 1 − remaining(s) / L, remaining the
  shortest path left (to the key then the door, or to the door once the key is held), L
  its length from the start; each step pays the new best P of the episode minus the
  previous best, so an episode's progress sums to its best P (1 on success) and
  cannot be farmed by walking back and forth (a stateful transform, below);
- `interior`: a soft rule "keep to the edge of the grid": the interior cells
  (1 ≤ row, col ≤ N − 2) are a hazard. In the default layout a shortest edge-only route
  exists (18 steps on 7×7), so obeying the rule costs nothing; with `--key 3,3` the key
  lies in the interior and the rule conflicts with progress (the case a product is
  meant for: a large summed cost can make the task not worth doing).

Conditions, same PPO config, hparams, seeds and budget:

- `sparse`: the env reward only (reference);
- `summed`: env reward + progress − c·interior (c = `--interior-cost`, 0.02 per
  interior step by default);
- `gated`: env reward + `gate(["progress", "interior"])`: both dense terms are summed
  over the episode and paid at its end only if it opened the door (env reward > 0);
- `gated-rate`: env reward + `gate([...], mode="rate")`: the dense terms scaled by the
  running success rate of the training episodes (momentum 0.9 per update), 0 until
  the first success;
- `multiplicative`: env reward + `multiply("progress", ["edge"])`: progress times the
  factor edge = 1 − 0.5·interior (CaRL's product), the factor stream at coefficient 0.

Each at `num_minibatches` 4 and 16 (minibatches of 256 and 64 of the 1024-step batch).
Success: a greedy eval episode opens the door. Interior: the greedy episode entered an
interior cell. Time to success: the first evaluation at which greedy success is >= 0.9
at two consecutive points.
"""

from __future__ import annotations

import argparse
import time

import jax.numpy as jnp

import experiment_common as ec
from jaxshape import rewards
from jaxshape.algos.ppo import PPOConfig, make_ppo
from jaxshape.envs.keydoor import KeyDoorGrid

EDGE_FACTOR = 0.5


class EdgeKeyDoor(KeyDoorGrid):
    """KeyDoor-grid whose step info also says whether the agent stands in the interior."""

    def step_env(self, key, state, action, params):
        obs, state, reward, terminated, info = super().step_env(key, state, action, params)
        row, col = state.pos[0], state.pos[1]
        inside = (row > 0) & (row < self.size - 1) & (col > 0) & (col < self.size - 1)
        return obs, state, reward, terminated, {**info, "interior": inside.astype(jnp.float32)}


def route_completion(env: KeyDoorGrid, name: str = "progress") -> rewards.RewardTransform:
    """r = max(P(s′) − best, 0), best ← max(best, P(s′)), best = 0 at each episode start."""
    n = env.size - 1
    key, door = jnp.asarray(env.key, jnp.float32), jnp.asarray(env.door, jnp.float32)
    key_to_door = jnp.abs(key - door).sum()
    length = jnp.abs(key - jnp.zeros(2)).sum() + key_to_door  # from the corner start

    def completion(obs):
        pos, has_key = jnp.round(obs[:, :2] * n), obs[:, 2] > 0.5
        remaining = jnp.where(has_key, jnp.abs(pos - door).sum(-1), jnp.abs(pos - key).sum(-1) + key_to_door)
        return 1.0 - remaining / length

    def init(k, example):
        return {"best": jnp.zeros(jnp.shape(example.reward), jnp.float32)}

    def apply_fn(state, transition, streams, hparams):
        p = completion(transition.next_obs)
        paid = jnp.maximum(p - state["best"], 0.0)
        best = jnp.maximum(p, state["best"])
        best = rewards.reset_where(transition.done, best, jnp.zeros_like(best))
        return {**streams, name: paid}, {"best": best}

    return rewards.RewardTransform(init, apply_fn, rewards.no_update, streams=(rewards.Stream(name),),
                                   invariance=rewards.NOT_INVARIANT, name=name)


def conditions(env, interior_cost):
    progress = route_completion(env)
    interior = rewards.term("interior", lambda t, hp: -t.info["interior"], coef=interior_cost)
    edge = rewards.term("edge", lambda t, hp: 1.0 - hp["penalty"] * t.info["interior"], coef=0.0,
                        hparams={"penalty": EDGE_FACTOR})
    return {
        "sparse": None,
        "summed": rewards.chain(progress, interior),
        "gated": rewards.chain(progress, interior, rewards.gate(["progress", "interior"])),
        "gated-rate": rewards.chain(progress, interior, rewards.gate(["progress", "interior"], mode="rate")),
        "multiplicative": rewards.chain(progress, edge, rewards.multiply("progress", ["edge"])),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=7)
    ap.add_argument("--max-steps", type=int, default=50)
    ap.add_argument("--key", default=None, help="key cell 'row,col' (default: bottom-left corner)")
    ap.add_argument("--interior-cost", type=float, default=0.02, help="c, the summed cost per interior step")
    ap.add_argument("--total-steps", type=int, default=409_600)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--evals", type=int, default=25)
    ap.add_argument("--minibatches", default="4,16")
    ap.add_argument("--conditions", default="sparse,summed,gated,gated-rate,multiplicative")
    ap.add_argument("--name", default="gated_rewards")
    args = ap.parse_args()

    key_cell = None if args.key is None else tuple(int(v) for v in args.key.split(","))
    env = EdgeKeyDoor(size=args.size, key=key_cell, max_steps=args.max_steps)
    params = env.default_params
    transforms = conditions(env, args.interior_cost)
    trackers = {"success": (lambda r, info, term: r > 0.5, "max"),
                "interior": (lambda r, info, term: info["interior"], "max")}
    runs, summary = {}, {}
    wall0 = time.perf_counter()
    for mb in [int(m) for m in args.minibatches.split(",")]:
        config = PPOConfig(env="KeyDoor-grid", num_envs=16, num_steps=64, total_steps=args.total_steps,
                           num_epochs=4, num_minibatches=mb, hidden_sizes=(64, 64))
        for key in args.conditions.split(","):
            label = f"{key}, mb={mb}"
            ppo = make_ppo(config, env, params, transforms[key])
            runs[label], summary[label] = ec.success_condition(label, ppo, args.seeds, args.evals, trackers)
    wall = time.perf_counter() - wall0
    payload = {
        "experiment": "gated_rewards", "machine": ec.machine(), "wall_seconds": wall, "args": vars(args),
        "env": {"size": args.size, "key": env.key, "door": env.door, "max_steps_in_episode": args.max_steps,
                "shortest_solution": sum(abs(a - b) for a, b in zip(env.key, (0, 0)))
                + sum(abs(a - b) for a, b in zip(env.key, env.door))},
        "interior_cost": args.interior_cost, "edge_factor": EDGE_FACTOR,
        "env_steps_per_seed": next(iter(runs.values()))["env_steps_per_seed"],
        "summary": summary,
        "curves": {k: {m: v for m, v in r.items() if m.startswith(("eval/", "eval_steps", "update_steps"))
                       or m == "train/episode_return"} for k, r in runs.items()},
    }
    path = ec.save_results(args.name, payload)
    print(f"wall {wall:.1f}s\n{path}")
    for mb in args.minibatches.split(","):
        subset = {k.split(",")[0]: r for k, r in runs.items() if k.endswith(f"mb={mb}")}
        png = ec.plot_conditions(
            f"{args.name}_mb{mb}", subset,
            [("eval/success", "eval_steps", "greedy success (door opened)"),
             ("eval/interior", "eval_steps", "greedy episodes entering the interior"),
             ("train/episode_return", "update_steps", "training extrinsic return")],
            f"KeyDoor-grid {args.size}×{args.size} (key {env.key}, c={args.interior_cost:g}), num_minibatches={mb}: "
            f"summed vs gated vs multiplicative dense terms (thin lines: seeds)", band="seeds")
        print(png)


if __name__ == "__main__":
    main()
