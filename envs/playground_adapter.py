"""MuJoCo Playground environments (`playground/<name>`) under the gymnax >= 1.0 contract.

    reset(key, params) -> (obs, state)
    step(key, state, action, params) -> (obs, state, reward, terminated, truncated, info)

Install with `pip install jaxshape[playground]`. Names are `playground/` + a name from
Playground's own registry (`playground/CartpoleBalance`, `playground/Go1JoystickFlatTerrain`);
`names()` lists them all without building any.

What `PlaygroundEnv` adds to a Playground env (the model is `envs/brax_adapter.py`):

- truncation: the adapter counts steps and truncates at the env config's
  `episode_length` (or the `episode_length` argument); the env's own `done` is the
  termination, and a step that is both is a termination;
- auto-reset with a FRESH random reset where an episode ends (Playground's training
  wrappers restore a cached first state instead); `info["final_observation"]` is the
  observation the episode ended on;
- observations: where the env returns a dict of observations (locomotion envs return
  `state` and `privileged_state`), the policy sees `obs["state"]`; the rest is dropped;
- `info["reward_terms"]`: the env's named reward terms, each as it enters the reward
  (its scale and the env's `dt` factor applied), one float32 per env, for the envs
  whose reward is a sum of terms (`reward_term_names`). Where the env clips that sum
  or adds an unnamed bonus, reward − Σ terms is not zero; `jaxshape.rewards.env_terms`
  keeps that difference as the `extrinsic` stream.
- MJX implementation: on a CPU backend the env's `impl` defaults to "jax" (the
  Playground default, "warp", compiles its own kernels on first use, slowly on a CPU);
  on an accelerator the env's own default is kept. Pass `impl=` to choose.

Domain randomisation (Playground's `get_domain_randomizer`) and vision envs are not
wired in.

Robot envs (locomotion, manipulation) read their meshes from MuJoCo Menagerie, which
Playground clones from GitHub on first load. This adapter does not download: where the
assets are missing, `make` raises one `ConfigError` that names the folder and the
commit to put there.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import spaces

from jaxshape.envs.vector import reset_where_ended
from jaxshape.errors import ConfigError

PREFIX = "playground/"

# How `state.metrics["reward/<term>"]` enters the reward, read from each env's `step`.
# SCALED_TIMES_DT: the metric holds the scaled term and the reward is (a clip of)
# Σ terms · dt; the terms are the keys of the config's `reward_config.scales`.
_SCALED_TIMES_DT = frozenset({
    "ApolloJoystickFlatTerrain", "BarkourJoystick", "BerkeleyHumanoidJoystickFlatTerrain",
    "BerkeleyHumanoidJoystickRoughTerrain", "G1JoystickFlatTerrain", "G1JoystickRoughTerrain",
    "Go1JoystickFlatTerrain", "Go1JoystickRoughTerrain", "Go1Getup", "Go1Handstand", "Go1Footstand",
    "H1JoystickGaitTracking", "Op3Joystick", "SpotFlatTerrainJoystick", "SpotGetup", "T1JoystickFlatTerrain",
    "T1JoystickRoughTerrain", "LeapCubeReorient", "LeapCubeRotateZAxis", "AeroCubeRotateZAxis",
})
# WEIGHTED: reward = Σ weight · metric, fixed weights.
_WEIGHTED: dict[str, dict[str, float]] = {
    "FishSwim": {"in_target": 7.0 / 8.0, "upright": 1.0 / 8.0},
}
# Other envs (the dm_control suite's products of factors, gait tracking's r_pos · r_neg,
# the manipulation envs' progress rewards) report no reward terms.


def _installed() -> bool:
    return importlib.util.find_spec("mujoco_playground") is not None


@functools.lru_cache(maxsize=1)
def _registry_names() -> tuple[str, ...]:
    from mujoco_playground import registry

    return tuple(registry.ALL_ENVS)


def names() -> list[str]:
    """Every registered Playground env as `playground/<name>` ([] without the package)."""
    if not _installed():
        return []
    return [PREFIX + n for n in _registry_names()]


def _needs_menagerie(name: str) -> bool:
    from mujoco_playground import locomotion, manipulation

    return name in locomotion.ALL_ENVS or name in manipulation.ALL_ENVS


def _missing_assets(name: str, detail: str) -> ConfigError:
    from mujoco_playground._src import mjx_env

    return ConfigError(
        f"playground/{name} needs the MuJoCo Menagerie robot assets, {detail} {mjx_env.MENAGERIE_PATH}: "
        f"git clone https://github.com/google-deepmind/mujoco_menagerie {mjx_env.MENAGERIE_PATH} && "
        f"git -C {mjx_env.MENAGERIE_PATH} checkout {mjx_env.MENAGERIE_COMMIT_SHA} "
        f"(the dm_control-suite envs, e.g. playground/CartpoleBalance, need no download)")


def _load(name: str, config_overrides: dict[str, Any]) -> Any:
    from mujoco_playground import registry
    from mujoco_playground._src import mjx_env

    if not _needs_menagerie(name):
        return registry.load(name, config_overrides=config_overrides or None)
    if not mjx_env.MENAGERIE_PATH.exists():  # Playground would `git clone` it here
        raise _missing_assets(name, "not found at")
    try:
        return registry.load(name, config_overrides=config_overrides or None)
    except (FileNotFoundError, ValueError) as error:  # a partial clone: MuJoCo cannot read a mesh
        raise _missing_assets(name, f"incomplete ({str(error).splitlines()[0][:120]}) at") from None


def reward_term_names(env: Any) -> tuple[str, ...]:
    """The names of the terms `env` reports in `info["reward_terms"]` (() for an env
    whose reward is not a sum of named terms). `env` is a `PlaygroundEnv` or a
    Playground registry name (with or without `playground/`); a name is not built."""
    if isinstance(env, PlaygroundEnv):
        return env.reward_term_names
    name = str(env).removeprefix(PREFIX)
    if name in _WEIGHTED:
        return tuple(_WEIGHTED[name])
    if name in _SCALED_TIMES_DT:
        from mujoco_playground import registry

        return tuple(registry.get_default_config(name).reward_config.scales.keys())
    return ()


@struct.dataclass
class PlaygroundParams:
    """Playground envs take no runtime parameters; the episode length is static."""


@struct.dataclass
class PlaygroundState:
    env_state: Any  # Playground's `State` (mjx data, obs, reward, done, metrics, info)
    time: jax.Array  # steps taken in this episode


class PlaygroundEnv:
    """A Playground env with truncation, fresh resets, the policy observation and
    named reward terms (module docstring).

    Args:
      name: a Playground registry name (`CartpoleBalance`; `playground/` is stripped).
      episode_length: steps before truncation; default the env config's `episode_length`.
      impl: MJX implementation ("jax", "warp"); default "jax" on a CPU backend, else the
        env's own.
      config_overrides: passed to Playground's `registry.load`.
      env: an already built Playground env (anything with `reset(rng)`, `step(state,
        action)`, `action_size` and `dt`) to wrap instead of loading `name`; then
        `episode_length` is required unless the env has a config with one, and
        `reward_terms` ({term: weight}, or "scaled_times_dt" for terms named by the
        config's `reward_config.scales`) says how its metrics enter its reward.
    """

    def __init__(self, name: str, episode_length: int | None = None, impl: str | None = None,
                 config_overrides: dict[str, Any] | None = None, env: Any = None,
                 reward_terms: dict[str, float] | str | None = None):
        self.playground_name = name.removeprefix(PREFIX)
        overrides = dict(config_overrides or {})
        if env is None:
            if not _installed():
                raise ConfigError(f"playground/{self.playground_name} needs MuJoCo Playground: "
                                  "pip install 'jaxshape[playground]'")
            if self.playground_name not in _registry_names():
                raise ConfigError(f"unknown Playground env {self.playground_name!r}: see "
                                  "jaxshape.envs.playground_adapter.names()")
            from mujoco_playground import registry

            default = registry.get_default_config(self.playground_name)
            if impl is None and "impl" in default and jax.default_backend() == "cpu":
                impl = "jax"
            if impl is not None:
                overrides["impl"] = impl
            env = _load(self.playground_name, overrides)
        config = getattr(env, "_config", None)  # Playground keeps an env's config there
        if episode_length is None:
            episode_length = getattr(config, "episode_length", None)
        if episode_length is None:
            raise ConfigError(f"playground/{self.playground_name}: pass episode_length= (its config has none)")
        self.episode_length = int(episode_length)
        self._env = env
        if reward_terms is None:
            reward_terms = (_WEIGHTED.get(self.playground_name)
                            or ("scaled_times_dt" if self.playground_name in _SCALED_TIMES_DT else {}))
        if reward_terms == "scaled_times_dt":
            self._term_weights = {k: float(env.dt) for k in config.reward_config.scales.keys()}
        else:
            self._term_weights = {k: float(w) for k, w in dict(reward_terms).items()}

    @property
    def name(self) -> str:
        return PREFIX + self.playground_name

    @property
    def unwrapped(self) -> Any:
        """The Playground env itself."""
        return self._env

    @property
    def reward_term_names(self) -> tuple[str, ...]:
        """The keys of `info["reward_terms"]` (() where the env's reward is not a sum of terms)."""
        return tuple(self._term_weights)

    @property
    def default_params(self) -> PlaygroundParams:
        return PlaygroundParams()

    def _policy_obs(self, obs: Any) -> jax.Array:
        if isinstance(obs, Mapping):
            if "state" not in obs:
                raise ConfigError(f"{self.name} observes {sorted(obs)}; the adapter feeds the policy obs['state'] "
                                  "and this env has none (vision envs are not supported)")
            obs = obs["state"]
        return obs.astype(jnp.float32)

    def _terms(self, metrics: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
        return {k: (metrics[f"reward/{k}"] * w).astype(jnp.float32) for k, w in self._term_weights.items()}

    def reset(self, key: jax.Array, params: PlaygroundParams | None = None):
        env_state = self._env.reset(key)
        return self._policy_obs(env_state.obs), PlaygroundState(env_state, jnp.zeros((), jnp.int32))

    def step(self, key: jax.Array, state: PlaygroundState, action: jax.Array, params: PlaygroundParams | None = None):
        """`step_without_reset`, then a fresh reset (on `key`) where the episode ended."""
        return reset_where_ended(self, self.step_without_reset(key, state, action, params), key, params)

    def step_without_reset(self, key: jax.Array, state: PlaygroundState, action: jax.Array,
                           params: PlaygroundParams | None = None):
        """One Playground step and its flags, the state left where the episode ended (for
        evaluation, which stops counting an env there). `key` is unused: the step is
        deterministic."""
        del key, params
        stepped = self._env.step(state.env_state, action)
        time = state.time + 1
        terminated = stepped.done > 0.5
        truncated = jnp.logical_and(time >= self.episode_length, jnp.logical_not(terminated))
        final_obs = self._policy_obs(stepped.obs)
        info = {"final_observation": final_obs, "terminated": terminated, "truncated": truncated}
        if self._term_weights:
            info["reward_terms"] = self._terms(stepped.metrics)
        return final_obs, PlaygroundState(stepped, time), stepped.reward.astype(jnp.float32), terminated, truncated, info

    def action_space(self, params: Any = None) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (self._env.action_size,), jnp.float32)

    @functools.cached_property
    def _obs_shape(self) -> tuple[int, ...]:
        return jax.eval_shape(lambda k: self.reset(k)[0], jax.random.PRNGKey(0)).shape

    def observation_space(self, params: Any = None) -> spaces.Box:
        return spaces.Box(-jnp.inf, jnp.inf, self._obs_shape, jnp.float32)


def make(name: str, **kwargs: Any) -> PlaygroundEnv:
    """`PlaygroundEnv(name, **kwargs)` for a `playground/<name>` from `names()`."""
    return PlaygroundEnv(name, **kwargs)
