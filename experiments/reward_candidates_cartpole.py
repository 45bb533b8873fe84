"""Two reward candidates for CartPole-v1, a survival task (a longer episode is a higher
return), for `jaxshape sweep --reward-candidates` (see README): a helpful per-step penalty
on the pole's tilt and a per-step bonus for cart speed the agent can collect without
balancing. Both per-episode sums grow with the episode length; candidates.json's
`rate_corr_with_fitness` (per-step rate vs return) tells them apart."""

import jax.numpy as jnp
from jaxshape import rewards

CANDIDATES = {
    "upright": rewards.term("tilt", lambda t, hp: -5.0 * jnp.abs(t.next_obs[:, 2])),
    "speed": rewards.term("speed", lambda t, hp: 0.5 * jnp.abs(t.next_obs[:, 1])),
}
