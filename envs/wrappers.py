"""Env wrappers that keep the env contract.

`terminate_if(env, condition)`: end the episode as a TERMINATION where
`condition(obs, info)` holds on a step's true next observation, e.g. a hard constraint
that ends a driving episode at a collision (CaRL, Jaeger et al. 2025), or leaving a safe
region. The learner sees it like any termination: no bootstrap, Φ(s′) = 0, GAE cut.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from jaxshape.envs.vector import auto_reset, step_without_reset


class TerminateIf:
    """`env` whose episodes also terminate where `condition(obs, info)` holds.

    `step(key, state, action, params)` steps `env` (with one half of `key`), then
    evaluates `condition(final_obs, info)` on the TRUE observation the step reached
    (`info["final_observation"]`, before any reset) and the env's step info. Where it
    holds:
    - `terminated` is True and `truncated` False (a termination wins over a time limit
      reached on the same step, as in `step_transition`);
    - `info["final_observation"]` stays the true last observation;
    - the env auto-resets (with the other half of `key`), unless `env` already did
      because its own episode ended on this step.
    Elsewhere the step is `env`'s, flags and all. `info["terminated"]` and
    `info["truncated"]`, where `env` reports them, are rewritten to match.
    The condition is called per env, unbatched (the learner vmaps `step`): `obs` is one
    observation, each info value one env's, and it returns a bool scalar; jnp code only.

    Every other attribute (`reset`, `default_params`, `action_space`, `num_actions`,
    ...) is `env`'s.
    """

    def __init__(self, env: Any, condition: Callable[[jax.Array, dict[str, Any]], jax.Array]):
        if not callable(condition):
            raise TypeError(f"terminate_if needs condition(obs, info) -> bool, got {condition!r}")
        self.env = env
        self.condition = condition

    def __getattr__(self, name: str) -> Any:
        if name in ("env", "condition"):  # not set yet (copy, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.env, name)

    @property
    def name(self) -> str:
        return f"TerminateIf({getattr(self.env, 'name', type(self.env).__name__)})"

    def reset(self, key: jax.Array, params: Any = None):
        return self.env.reset(key, self.env.default_params if params is None else params)

    def step(self, key: jax.Array, state: Any, action: Any, params: Any = None):
        params = self.env.default_params if params is None else params
        step_key, reset_key = jax.random.split(key)
        stepped = self.env.step(step_key, state, action, params)
        hit, env_ended, out = self._terminate(stepped)
        obs, state, reward, terminated, truncated, info = out
        restart = jnp.logical_and(hit, jnp.logical_not(env_ended))
        obs, state = auto_reset(restart, self.env.reset(reset_key, params), (obs, state))
        return obs, state, reward, terminated, truncated, info

    def step_without_reset(self, key: jax.Array, state: Any, action: Any, params: Any = None):
        """`step` without any reset: the env's own `step_without_reset` (envs/vector.py),
        with the condition's terminations added."""
        params = self.env.default_params if params is None else params
        step_key, _ = jax.random.split(key)
        return self._terminate(step_without_reset(self.env, step_key, state, action, params))[2]

    def _terminate(self, stepped):
        """(condition hit, the env's own episode ended, the step with the hit as a termination)."""
        obs, state, reward, terminated, truncated, info = stepped
        final_obs = info["final_observation"]
        hit = jnp.asarray(self.condition(final_obs, info))
        if hit.shape != ():
            raise ValueError(f"terminate_if condition returned shape {hit.shape}; it must return one bool per env "
                             "(it is called per env, unbatched)")
        hit = hit.astype(bool)
        env_ended = jnp.logical_or(terminated, truncated)
        new_terminated = jnp.logical_or(jnp.asarray(terminated, bool), hit)
        new_truncated = jnp.logical_and(jnp.asarray(truncated, bool), jnp.logical_not(new_terminated))
        info = {**info, "final_observation": final_obs}
        if "terminated" in info:
            info["terminated"] = new_terminated
        if "truncated" in info:
            info["truncated"] = new_truncated
        return hit, env_ended, (obs, state, reward, new_terminated, new_truncated, info)


def terminate_if(env: Any, condition: Callable[[jax.Array, dict[str, Any]], jax.Array]) -> TerminateIf:
    """`env` whose episodes terminate where `condition(obs, info)` holds (see `TerminateIf`).

        env, params = jaxshape.envs.make("KeyDoor-grid")
        env = jaxshape.envs.terminate_if(env, lambda obs, info: info["at_door"] > 0.5)
    """
    return TerminateIf(env, condition)
