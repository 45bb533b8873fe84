"""`make(name) -> (env, params)`: one registry for gymnax, brax and native envs.

Names:
- every gymnax id (`CartPole-v1`, `DeepSea-bsuite`, ...), returned as gymnax builds it;
- `brax/<name>` for brax's environments (`brax/hopper`), through `BraxEnv`;
- optional families whose package is an extra (`playground/<name>` for MuJoCo Playground,
  craftax's own names such as `Craftax-Classic-Symbolic-v1`): each adapter module offers
  `names()` (empty when its package is not installed) and `make(name, **kwargs)`;
- native jaxshape environments registered with `register`.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable

from jaxshape.errors import ConfigError

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


def make(name: str, **kwargs: Any) -> tuple[Any, Any]:
    """Build an environment by name and return `(env, default_params)`.

    Raises `UnknownEnvError` listing the closest names when `name` is unknown.
    """
    if name in _NATIVE:
        env = _NATIVE[name](**kwargs)
        return env, env.default_params
    if name.startswith("brax/") and name in _brax_names():
        from jaxshape.envs.brax_adapter import BraxEnv

        env = BraxEnv(name.removeprefix("brax/"), **kwargs)
        return env, env.default_params
    if name in _gymnax_names():
        import gymnax

        env, params = gymnax.make(name, **kwargs)
        return env, params
    if (family := _family_of(name)) is not None:
        env = family.make(name, **kwargs)
        return env, env.default_params
    close = difflib.get_close_matches(name, list_envs(), n=5, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else "see jaxshape.envs.list_envs()"
    raise UnknownEnvError(f"unknown env {name!r}: {hint}")


def resolve(name: str, env: Any = None, params: Any = None) -> tuple[Any, Any]:
    """The env a learner binds to: `make(name)` unless `env` is given; `params` default
    to the env's own."""
    if env is None:
        env, default_params = make(name)
        return env, default_params if params is None else params
    return env, env.default_params if params is None else params
