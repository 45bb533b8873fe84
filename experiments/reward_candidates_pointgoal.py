"""Four reward candidates for PointGoal-v0, for `jaxshape sweep --reward-candidates` (see README):
the right one (closer to the goal), its sign flipped, the sparse env reward alone, and one
the agent can collect without solving the task (speed)."""

import jax.numpy as jnp
from jaxshape import rewards

def distance(obs):
    return jnp.linalg.norm(obs[:, 0:2] - obs[:, 2:4], axis=-1)

CANDIDATES = {
    "toward_goal": rewards.term("toward", lambda t, hp: -distance(t.next_obs), coef=1.0),
    "away_from_goal": rewards.term("away", lambda t, hp: distance(t.next_obs), coef=1.0),
    "sparse": rewards.identity(),
    "speed": rewards.term("speed", lambda t, hp: jnp.linalg.norm(t.action, axis=-1), coef=1.0),
}
