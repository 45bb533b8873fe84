"""Environments under one functional contract (gymnax >= 1.0).

    reset(key, params) -> (obs, state)
    step(key, state, action, params) -> (obs, state, reward, terminated, truncated, info)

`step` auto-resets; `info["final_observation"]` is the observation the episode ended on.
`make(name)` returns `(env, params)` for gymnax ids, `brax/<name>` and native envs.
"""

from jaxshape.envs.legacy import LegacyGymnaxAdapter
from jaxshape.envs.registry import UnknownEnvError, list_envs, make, register

__all__ = ["LegacyGymnaxAdapter", "UnknownEnvError", "list_envs", "make", "register"]
