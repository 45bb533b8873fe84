"""`make(name) -> (env, params)`: one registry for gymnax, brax and native envs.

Names:
- every gymnax id (`CartPole-v1`, `DeepSea-bsuite`, ...), returned as gymnax builds it;
- `brax/<name>` for brax's environments (`brax/hopper`), through `BraxEnv`;
- native jaxshape environments registered with `register`.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable

from jaxshape.errors import ConfigError

_NATIVE: dict[str, Callable[..., Any]] = {}


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


def list_envs() -> list[str]:
    """Every name `make` accepts."""
    return sorted(_NATIVE) + _gymnax_names() + _brax_names()


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
