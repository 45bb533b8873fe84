"""Decoupled multi-stream advantages on PointGoal-v0: a mis-scaled reward term, summed vs
decoupled (GDPO-style: `PPOConfig(decouple_streams=True)`).

    python experiments/decoupled_streams.py [--total-steps N] [--seeds K] [--scale 1000]

Every condition optimises the env's sparse reward plus potential shaping toward the goal
(Φ = −‖position − goal‖, as in experiments/shaping_goal.py). Two of them add an action
cost −scale·‖a‖²/2 (an energy penalty written at the wrong scale, the kind of term that
breaks learning when many terms are summed):

- `no distractor`: sparse + shaping, summed (the reference);
- `distractor, summed`: sparse + shaping + cost, one value head on the weighted sum;
- `distractor, decoupled`: the same streams, a value head per stream and each stream's
  advantages normalised before the weighted sum (coefficients 1).

Same PPO settings, seeds and budget; the greedy policy plays fresh episodes `--evals`
times during training (success = at the goal when the episode ends).
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

import experiment_common as ec
from jaxshape import rewards


def main():
    args = ec.pointgoal_args(__doc__, "decoupled_streams", 1000.0)
    config = ec.pointgoal_config(args.total_steps)
    shaping = rewards.potential_shaping(ec.goal_distance)
    cost = rewards.term("action_cost", lambda t, hp: -hp["scale"] * 0.5 * jnp.sum(t.action ** 2, axis=-1),
                        hparams={"scale": args.scale})
    conditions = {
        "no distractor": (config, shaping),
        "distractor, summed": (config, rewards.chain(shaping, cost)),
        "distractor, decoupled": (dataclasses.replace(config, decouple_streams=True), rewards.chain(shaping, cost)),
    }
    ec.compare_on_pointgoal(args.name, conditions, args,
                            f"PointGoal-v0: an action cost at {args.scale:g}x scale, summed vs decoupled advantages")


if __name__ == "__main__":
    main()
