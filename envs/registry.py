"""`make(name) -> (env, params)`: one registry for gymnax, brax and native envs.

Names:
- every gymnax id (`CartPole-v1`, `DeepSea-bsuite`, ...), returned as gymnax builds it;
- `brax/<name>` for brax's environments (`brax/hopper`), through `BraxEnv`;
- optional families whose package is an extra (`playground/<name>` for MuJoCo Playground,
  craftax's own names such as `Craftax-Classic-Symbolic-v1`): each adapter module offers
  `names()` (empty when its package is not installed) and `make(name, **kwargs)`;
- native jaxshape environments registered with `register`.

Options (`make(name, max_steps_in_episode=200)`, or `resolve(name, options=
"max_steps_in_episode=200")` as a config's `env_options`): a field of the env's params
(gymnax's `max_steps_in_episode`, craftax's `max_timesteps`) is set there; any other
option goes to the env's constructor (brax's and Playground's `episode_length`). Each
option is checked against its domain first (`jaxshape.envs.options`): one line, not a
silently broken env.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any, Callable

from jaxshape.errors import ConfigError
from jaxshape.envs.options import check_option
from jaxshape.keyvalues import parse_key_values

ENV_OPTIONS_HELP = ("env options, key=value,...: a field of the env's params (max_steps_in_episode=200) or an "
                    "argument of its constructor (episode_length=500)")

_NATIVE: dict[str, Callable[..., Any]] = {}

# adapter modules of the optional env families (imported only when a name is looked up)
_FAMILIES = ("jaxshape.envs.playground_adapter", "jaxshape.envs.craftax_adapter")


class UnknownEnvError(ConfigError):
    """An env name that no registry knows."""


def register(name: str, factory: Callable[..., Any]) -> None:
    """Register a native env: `factory(**kwargs)` returns an env with `default_params`."""
    if name in _NATIVE:
        raise ValueError(f"env {name!r} is already registered")
    _NATIVE[name] = factory


def _gymnax_names() -> list[str]:
    import gymnax

    return list(gymnax.registered_envs)


def _brax_names() -> list[str]:
    from brax import envs as brax_envs

    return [f"brax/{name}" for name in brax_envs._envs]  # brax keeps its registry private


def _family_modules() -> list[Any]:
    import importlib

    modules = []
    for name in _FAMILIES:
        try:
            modules.append(importlib.import_module(name))
        except ModuleNotFoundError as error:
            if error.name != name:  # the adapter exists but failed to import: a real error
                raise
    return modules


def _family_of(name: str) -> Any | None:
    return next((module for module in _family_modules() if name in module.names()), None)


def list_envs() -> list[str]:
    """Every name `make` accepts."""
    families = [n for module in _family_modules() for n in module.names()]
    return sorted(_NATIVE) + _gymnax_names() + _brax_names() + families


def make(name: str, /, **kwargs: Any) -> tuple[Any, Any]:
    """Build an environment by name and return `(env, default_params)`.

    Raises `UnknownEnvError` listing the closest names when `name` is unknown.
    """
    if name in _NATIVE:
        return _with_params(name, lambda **rest: _own_params(_NATIVE[name](**rest)), kwargs)
    if name.startswith("brax/") and name in _brax_names():
        from jaxshape.envs.brax_adapter import BraxEnv

        return _with_params(name, lambda **rest: _own_params(BraxEnv(name.removeprefix("brax/"), **rest)), kwargs)
    if name in _gymnax_names():
        import gymnax

        return _with_params(name, lambda **rest: gymnax.make(name, **rest), kwargs)
    if (family := _family_of(name)) is not None:
        for key, value in kwargs.items():  # no params to read types from: the names decide
            check_option(name, key, value)
        return _own_params(family.make(name, **kwargs))  # the adapters place their options themselves
    close = difflib.get_close_matches(name, list_envs(), n=5, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else "see jaxshape.envs.list_envs()"
    raise UnknownEnvError(f"unknown env {name!r}: {hint}")


def _own_params(env: Any) -> tuple[Any, Any]:
    return env, env.default_params


def _param_fields(params: Any) -> list[str]:
    return [f.name for f in dataclasses.fields(params)] if dataclasses.is_dataclass(params) else []


def _with_params(name: str, build: Callable[..., tuple[Any, Any]], options: dict[str, Any]) -> tuple[Any, Any]:
    """`build(**constructor options)`, then the options that name fields of its params set
    there; an option that is neither is one line listing what the env takes."""
    env, params = build()
    fields = _param_fields(params)
    for key, value in options.items():
        check_option(name, key, value, *([getattr(params, key)] if key in fields else []))
    constructor = {k: v for k, v in options.items() if k not in fields}
    if constructor:
        try:
            env, params = build(**constructor)
        except TypeError:
            raise ConfigError(f"{name} takes no option {', '.join(sorted(constructor))}: its params are "
                              f"{', '.join(fields) or 'none'}") from None
    in_params = {k: v for k, v in options.items() if k in fields}
    return env, dataclasses.replace(params, **in_params) if in_params else params


def parse_options(text: str) -> dict[str, Any]:
    """"key=value,key=value" as a dict (`jaxshape.keyvalues`: Python literals such as 200,
    0.5, True, or bare words as strings)."""
    return parse_key_values(text, lambda part: f"bad env option {part!r}: write key=value, "
                                               "e.g. max_steps_in_episode=200")


def resolve(name: str, env: Any = None, params: Any = None, options: str = "") -> tuple[Any, Any]:
    """The env a learner binds to: `make(name, **parse_options(options))` unless `env` is
    given; `params` default to the env's own."""
    if env is None:
        env, default_params = make(name, **parse_options(options))
        return env, default_params if params is None else params
    if options:
        raise ConfigError(f"env options {options!r} apply to envs built by name; set them on the env you pass")
    return env, env.default_params if params is None else params
