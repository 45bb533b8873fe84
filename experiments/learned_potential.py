"""A learned potential on PointGoal-v0: sparse reward vs shaping by a progress estimator
the agent trains on its own episodes (`rewards.learned_potential`), with hand-written
shaping (Φ = −‖position − goal‖, as in experiments/shaping_goal.py) as the reference.

    python experiments/learned_potential.py [--total-steps N] [--seeds K] [--scale S]

- `sparse`: the env's reward only (−1 per step away from the goal, 0 at it);
- `sparse + learned potential`: Φ = scale·P_θ(s), P_θ fitted in every update to the time
  to success δ^k (success: extrinsic reward > −0.5, i.e. at the goal), paid as potential
  shaping (policy-invariant whatever P_θ learns);
- `sparse + hand-written shaping`: what a designer who knows the task would write.

Same PPO settings, seeds and budget; the greedy policy plays fresh episodes `--evals`
times during training (success = at the goal when the episode ends).
"""

from __future__ import annotations

import experiment_common as ec
from jaxshape import rewards


def main():
    args = ec.pointgoal_args(__doc__, "learned_potential", 10.0)
    config = ec.pointgoal_config(args.total_steps)
    conditions = {
        "sparse": (config, None),
        "sparse + learned potential": (config, rewards.learned_potential(scale=args.scale, threshold=-0.5)),
        "sparse + hand-written shaping": (config, rewards.potential_shaping(ec.goal_distance)),
    }
    ec.compare_on_pointgoal(args.name, conditions, args, f"PointGoal-v0: sparse vs a learned potential "
                            f"(scale {args.scale:g}) vs hand-written shaping")


if __name__ == "__main__":
    main()
