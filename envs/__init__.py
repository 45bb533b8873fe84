"""Environments under one functional contract (gymnax >= 1.0).

    reset(key, params) -> (obs, state)
    step(key, state, action, params) -> (obs, state, reward, terminated, truncated, info)

`step` auto-resets; `info["final_observation"]` is the observation the episode ended on.
`make(name)` returns `(env, params)` for gymnax ids, `brax/<name>` and native envs.
"""

from jaxshape.envs.registry import UnknownEnvError, list_envs, make, register, resolve
from jaxshape.envs.vector import example_transition, own_info, reset_batch, step_batch, step_transition
from jaxshape.envs.wrappers import TerminateIf, terminate_if



def __getattr__(name):
    if name == "LegacyGymnaxAdapter":  # imported on first use: gymnax loads every env it has
        from jaxshape.envs.legacy import LegacyGymnaxAdapter

        return LegacyGymnaxAdapter
    raise AttributeError(f"module 'jaxshape.envs' has no attribute {name!r}")


__all__ = ["LegacyGymnaxAdapter", "TerminateIf", "UnknownEnvError", "example_transition", "list_envs", "make", "own_info",
           "register", "reset_batch", "resolve", "step_batch", "step_transition", "terminate_if"]


def _point_goal(**kwargs):
    from jaxshape.envs.navigation import PointGoal  # goal-conditioned point mass

    return PointGoal(**kwargs)


register("PointGoal-v0", _point_goal)


def _coverage_grid(**kwargs):
    from jaxshape.envs.coverage import CoverageGrid  # coverage gridworld (submodular rewards)

    return CoverageGrid(**kwargs)


register("Coverage-grid", _coverage_grid)


def _keydoor_grid(**kwargs):
    from jaxshape.envs.keydoor import KeyDoorGrid  # key-then-door gridworld (reward machines)

    return KeyDoorGrid(**kwargs)


register("KeyDoor-grid", _keydoor_grid)


def _cue_recall(**kwargs):
    from jaxshape.envs.memory import CueRecall  # remember a cue over blank steps (recurrent policies)

    return CueRecall(**kwargs)


register("CueRecall-v0", _cue_recall)
