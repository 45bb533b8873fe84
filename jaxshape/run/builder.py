"""Learners by name, built from (algorithm, config, reward spec): one builder for the
CLI, the run job and sweeps.

Learners are imported lazily (`ALGORITHMS` names the module and its parts), so the CLI
can print `--help` without importing JAX programs it will not run.
"""

from __future__ import annotations

import dataclasses
import importlib
import pathlib
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxshape.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class AlgorithmSpec:
    """Where a learner lives: its module and the names of its parts in it."""

    module: str
    config: str
    hparams: str
    make: str
    default_hparams: str = "default_hparams"

    def load(self, attr: str) -> Any:
        return getattr(importlib.import_module(self.module), getattr(self, attr))


ALGORITHMS: dict[str, AlgorithmSpec] = {
    "ppo": AlgorithmSpec("jaxshape.algos.ppo", "PPOConfig", "PPOHParams", "make_ppo"),
    "sac": AlgorithmSpec("jaxshape.algos.sac", "SACConfig", "SACHParams", "make_sac"),
}


def get(name: str) -> AlgorithmSpec:
    if name not in ALGORITHMS:
        raise ConfigError(f"unknown algo {name!r}: choose one of {', '.join(sorted(ALGORITHMS))}")
    return ALGORITHMS[name]


def builders(name: str) -> tuple[type, type, Callable, Callable]:
    """(Config class, HParams class, make function, default_hparams function)."""
    spec = get(name)
    return spec.load("config"), spec.load("hparams"), spec.load("make"), spec.load("default_hparams")


def make_config(algo: str, settings: dict[str, Any]) -> Any:
    """The algorithm's static config from a dict (JSON lists become tuples); unknown
    names are one line that lists the valid ones."""
    config_cls = builders(algo)[0]
    fields = {f.name for f in dataclasses.fields(config_cls)}
    if unknown := sorted(set(settings) - fields):
        raise ConfigError(f"unknown {algo} setting(s) {', '.join(unknown)}: choose from {', '.join(sorted(fields))}")
    try:
        return config_cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()})
    except TypeError as err:
        raise ConfigError(f"bad {algo} config: {err}") from None


def load_candidates(path: str) -> tuple[list[str], list[Any]]:
    """(names, transforms) from a Python file that defines `CANDIDATES`: a list of reward
    transforms (named by their `name`) or a dict name -> transform."""
    import runpy

    from jaxshape.rewards import RewardTransform
    from jaxshape.rewards.combine import unique_names

    if not pathlib.Path(path).is_file():
        raise ConfigError(f"reward candidates file {path} does not exist; give a .py file that defines CANDIDATES")
    try:
        namespace = runpy.run_path(str(path))
    except (Exception, SystemExit) as err:  # the user's file (even one that calls sys.exit): one line
        reason = str(err).splitlines()[0] if str(err) else "no message"
        raise ConfigError(f"cannot run {path}: {type(err).__name__}: {reason}") from None
    candidates = namespace.get("CANDIDATES")
    if isinstance(candidates, dict):
        names, transforms = list(candidates), list(candidates.values())
    elif isinstance(candidates, (list, tuple)):
        names, transforms = None, list(candidates)
    else:
        raise ConfigError(f"{path} must define CANDIDATES, a list of reward transforms or a dict name -> transform")
    if not transforms or not all(isinstance(t, RewardTransform) for t in transforms):
        raise ConfigError(f"CANDIDATES in {path} must hold at least one reward transform, and only transforms")
    names = names if names is not None else unique_names(transforms)
    if bad := [n for n in names if not str(n).isidentifier()]:
        raise ConfigError(f"candidate names in {path} must be identifiers (they name hyperparameters): {bad}")
    return names, transforms


def build(algo: str, config: Any, reward: str = "", reward_candidates: str = "",
          **hparam_overrides: Any) -> tuple[Any, Any]:
    """(learner, default hparams) for `config` (a config object or dict) and either a
    reward spec such as "count(beta=0.05)+rnd" or a file of reward candidates (the
    transform is then `rewards.select(CANDIDATES)`, the candidate chosen by the traced
    hyperparameter `reward.index`). The learner validates its config and env here,
    before anything compiles. A conditioned coefficient (`config.condition`) starts at
    the middle of its range: the value greedy evaluation feeds unless set otherwise."""
    from jaxshape.rewards import select
    from jaxshape.rewards.spec import parse_reward_spec

    _, _, make, default_hparams = builders(algo)
    if isinstance(config, dict):
        config = make_config(algo, config)
    if reward and reward_candidates:
        raise ConfigError("give either a reward spec or reward candidates, not both (add the spec's terms to each "
                          "candidate instead)")
    transform = None
    if reward_candidates:
        names, candidates = load_candidates(reward_candidates)
        transform = select(candidates, names)
    elif reward:
        transform = parse_reward_spec(reward, config.env)
    learner, hparams = make(config, transform=transform), default_hparams(transform, **hparam_overrides)
    if condition := getattr(config, "condition", ()):  # evaluation feeds these: the middle of each range
        from jaxshape.conditioning import middle

        middles = {name: jnp.float32(value) for name, value in middle(condition).items()}
        hparams = hparams.replace(reward_coefs={**hparams.reward_coefs, **middles})
    return learner, hparams


def reports_success(learner: Any, hparams: Any) -> bool:
    """Whether the env's step info has `is_success`: the learner tracks a success rate
    then, seen in its state's shape (`jax.eval_shape` of `init`: traced, not run)."""
    state = jax.eval_shape(learner.init, jax.random.PRNGKey(0), hparams)
    return getattr(state, "successes", None) is not None


def build_learner(algo: str, config: dict, reward: str = "", reward_candidates: str = "") -> Any:
    """A learner rebuilt from a run folder's saved algorithm, config dict and reward spec
    (or reward candidates file)."""
    saved = {f.name for f in dataclasses.fields(builders(algo)[0])}
    return build(algo, {k: v for k, v in config.items() if k in saved}, reward, reward_candidates)[0]


def hparams_to_json(member_hparams: Any) -> dict:
    """Hyperparameters (a dataclass pytree) as nested lists for config.json."""
    return jax.tree.map(lambda x: np.asarray(x).tolist(), dataclasses.asdict(member_hparams))


def hparams_from_json(algo: str, payload: dict) -> Any:
    """The inverse of `hparams_to_json` (float32 arrays)."""
    hparams_cls = builders(algo)[1]
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), hparams_cls(**payload),
                        is_leaf=lambda x: isinstance(x, list))
