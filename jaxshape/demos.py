"""Expert demonstrations: transitions of whole episodes in an `.npz` file.

`jaxshape eval RUN --save-transitions FILE` writes one; `rewards.adversarial_imitation`
(`--reward "gail(demos=FILE)"`) reads one. Any other source works if it writes the same
arrays (M transitions, E episodes, stored episode after episode):

    obs          [M, *obs_shape]  float32   s_t
    action       [M] int32 (discrete) or [M, *action_shape] float32 (as the env takes it)
    next_obs     [M, *obs_shape]  float32   the TRUE s_{t+1} (the final observation where it ended)
    terminated   [M] bool         the episode ended in a terminal state at this step
    truncated    [M] bool         the episode hit its time limit at this step (and did not terminate)
    reward       [M] float32      the env's reward
    episode      [M] int32        0 … E−1, the episode each transition belongs to
    episodes     []  int32        E
    episode_return [E] float32, episode_length [E] int32 (undiscounted; for reports)
    env          []  str          the env's registry name ("" when unknown)
    policy       []  str          "greedy" or "sampled": how the actions were chosen

`load_demos(path, episodes=K)` keeps the first K episodes; `check_demos` checks the
arrays against an env's observation and action spaces, one `ConfigError` line per
problem, before anything compiles.
"""

from __future__ import annotations

import pathlib
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxshape.envs.vector import reset_batch, step_batch
from jaxshape.errors import ConfigError

FIELDS = ("obs", "action", "next_obs", "terminated", "truncated", "reward", "episode")


def rollout_transitions(env: Any, env_params: Any, act: Callable[[jax.Array, jax.Array], jax.Array],
                        key: jax.Array, num_episodes: int, max_steps: int) -> dict[str, jax.Array]:
    """`num_episodes` fresh episodes of `act(obs [E, ...], key) -> actions`, one per env,
    `max_steps` steps scanned: every field of the module docstring as [max_steps, E, ...]
    plus `valid` [max_steps, E] (the step belongs to the env's first episode). Jittable
    (`num_episodes` and `max_steps` static); `episodes_from_rollout` flattens it."""
    reset_key, run_key = jax.random.split(key)
    obs, env_state = reset_batch(env, env_params, jax.random.split(reset_key, num_episodes))

    def step(carry, key):
        env_state, obs, running = carry
        act_key, env_key = jax.random.split(key)
        action = act(obs, act_key)
        next_obs, env_state, reward, terminated, truncated, info = step_batch(
            env, env_params, jax.random.split(env_key, num_episodes), env_state, action)
        terminated = terminated.astype(bool)
        truncated = jnp.logical_and(truncated.astype(bool), ~terminated)
        record = {"obs": obs.astype(jnp.float32), "action": action,
                  "next_obs": info["final_observation"].astype(jnp.float32), "terminated": terminated,
                  "truncated": truncated, "reward": reward.astype(jnp.float32), "valid": running}
        running = running & ~(terminated | truncated)
        return (env_state, next_obs, running), record

    carry = (env_state, obs, jnp.ones((num_episodes,), bool))
    return jax.lax.scan(step, carry, jax.random.split(run_key, max_steps))[1]


def episodes_from_rollout(steps: dict[str, Any], env_name: str = "", policy: str = "greedy") -> dict[str, np.ndarray]:
    """The demo arrays (module docstring) of a `rollout_transitions` result: valid steps
    only, episode after episode. An episode still running after `max_steps` ends there
    marked truncated (the env's time limit should be covered by `max_steps`)."""
    steps = {k: np.asarray(v) for k, v in steps.items()}
    valid = steps.pop("valid")  # [T, E]
    num = valid.shape[1]
    last = valid.sum(0) - 1  # index of each episode's last step
    cut = (last, np.arange(num))
    open_end = ~(steps["terminated"][cut] | steps["truncated"][cut])
    steps["truncated"] = steps["truncated"].copy()
    steps["truncated"][cut] |= open_end
    order = np.swapaxes(valid, 0, 1)  # [E, T]
    out = {k: np.swapaxes(v, 0, 1)[order] for k, v in steps.items()}
    out["episode"] = np.repeat(np.arange(num, dtype=np.int32), valid.sum(0))
    out["episodes"] = np.int32(num)
    out["episode_length"] = valid.sum(0).astype(np.int32)
    out["episode_return"] = np.where(valid, steps["reward"], 0.0).sum(0).astype(np.float32)
    out["env"], out["policy"] = np.str_(env_name), np.str_(policy)
    return out


def check_writable(path: str) -> pathlib.Path:
    """A `.npz` path whose folder exists (ConfigError otherwise), checked before compiling."""
    target = pathlib.Path(path)
    if target.suffix != ".npz":
        raise ConfigError(f"--save-transitions {path}: name a .npz file (e.g. demos.npz)")
    if not target.parent.is_dir():
        raise ConfigError(f"--save-transitions {path}: folder {target.parent} does not exist; create it first")
    if target.is_dir():
        raise ConfigError(f"--save-transitions {path} is a folder; name a .npz file")
    return target


def save_demos(path: str | pathlib.Path, demos: dict[str, Any]) -> None:
    np.savez(path, **demos)


def load_demos(path: str | pathlib.Path, episodes: int | None = None) -> dict[str, np.ndarray]:
    """The demo arrays of an `.npz` file (first `episodes` episodes; all by default)."""
    source = pathlib.Path(path)
    if not source.is_file():
        raise ConfigError(f"demos file {path} does not exist; write one with `jaxshape eval RUN --save-transitions "
                          f"{path}`")
    try:
        with np.load(source, allow_pickle=False) as data:
            demos = {k: data[k] for k in data.files}
    except (OSError, ValueError) as err:
        raise ConfigError(f"demos file {path} is not a readable .npz ({str(err).splitlines()[0]})") from None
    if missing := [k for k in FIELDS if k not in demos]:
        raise ConfigError(f"demos file {path} lacks {missing}; it needs {', '.join(FIELDS)} (README, Imitation)")
    count = len(demos["obs"])
    if bad := [k for k in FIELDS if len(demos[k]) != count]:
        raise ConfigError(f"demos file {path}: {bad} do not have one entry per transition ({count} in obs)")
    if count == 0:
        raise ConfigError(f"demos file {path} holds no transitions")
    if episodes is not None:
        available = int(demos["episode"].max()) + 1
        if not isinstance(episodes, int) or not 0 < episodes <= available:
            raise ConfigError(f"episodes={episodes}: the demos file {path} holds {available} episode(s); pick 1 to "
                              f"{available}")
        keep = demos["episode"] < episodes
        demos = {k: (v[keep] if k in FIELDS else v) for k, v in demos.items()}
        demos["episodes"] = np.int32(episodes)
        for k in ("episode_return", "episode_length"):
            if k in demos:
                demos[k] = demos[k][:episodes]
    return demos


def check_demos(demos: dict[str, Any], env: Any, env_params: Any, where: str = "demos") -> None:
    """ConfigError unless the demos' observations and actions fit `env`'s spaces."""
    obs_shape = tuple(env.observation_space(env_params).shape)
    for key in ("obs", "next_obs"):
        shape = tuple(np.shape(demos[key])[1:])
        if shape != obs_shape:
            raise ConfigError(f"{where}: {key} has shape {shape} per transition but the env observes {obs_shape}; "
                              "record the demos on the same env")
    space = env.action_space(env_params)
    action = np.asarray(demos["action"])
    if hasattr(space, "n"):
        if action.ndim != 1 or not np.issubdtype(action.dtype, np.integer):
            raise ConfigError(f"{where}: action must be one integer per transition for this discrete env, got "
                              f"{action.dtype} {action.shape}")
        if action.min() < 0 or action.max() >= int(space.n):
            raise ConfigError(f"{where}: actions run {action.min()}..{action.max()} but the env has {int(space.n)} "
                              "actions; record the demos on the same env")
    else:
        shape = tuple(space.shape)
        if tuple(action.shape[1:]) != shape or not np.issubdtype(action.dtype, np.floating):
            raise ConfigError(f"{where}: action has shape {tuple(action.shape[1:])} ({action.dtype}) per transition "
                              f"but the env takes float actions of shape {shape}")
