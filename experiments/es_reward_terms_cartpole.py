"""Two heuristic reward terms for CartPole-v1 (obs [x, x_dot, theta, theta_dot]), for
`jaxshape search/sweep/train --reward-candidates` (experiments/es_reward_weights.py).

    upright  HELPFUL: -|theta| / 0.2095 (0.2095 rad = 12 deg, where the episode ends):
             0 with the pole straight up, -1 at the failure angle. Aligned with the task
             (the episode ends when the pole falls past that angle) and dense where the
             env's +1 per step says nothing about how close the pole is to falling.
    hurry    MISALIGNED: -1 per step, the "finish quickly" time penalty that is right for
             goal-reaching tasks (MountainCar, mazes) and wrong here: CartPole's task is
             to survive, and at weight >= 1 the penalty cancels the env's +1, so ending
             the episode early becomes optimal.

Candidates (the traced hyperparameter `reward.index` picks one):
    0 heuristics  extrinsic + reward_coefs.upright * upright + reward_coefs.hurry * hurry
    1 shaping     extrinsic + potential shaping with the helpful term as the potential,
                  F = gamma * Phi(s') * (1 - terminated) - Phi(s), Phi = -|theta| / 0.2095
                  (Ng et al. 1999: leaves the optimal policies unchanged)
"""

import jax.numpy as jnp

from jaxshape import rewards

THETA_MAX = 0.2095


def upright(obs):
    return -jnp.abs(obs[..., 2]) / THETA_MAX


CANDIDATES = {
    "heuristics": rewards.chain(
        rewards.term("upright", lambda t, hp: upright(t.next_obs), coef=1.0),
        rewards.term("hurry", lambda t, hp: -jnp.ones_like(t.reward), coef=1.0),
    ),
    "shaping": rewards.potential_shaping(upright, name="shaping", coef=1.0),
}
