"""What a sweep searches: the spec (from flags, JSON or TOML), hyperparameters addressed
by dotted paths into the algorithm's hparams pytree (`learning_rate`, `gamma`,
`reward_coefs.rnd`, `reward.lr`, ...), and the list of configurations a grid or random
search produces.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import pathlib
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxshape.errors import ConfigError
from jaxshape.pytree import leaf_names

DISTRIBUTIONS = ("uniform", "log_uniform", "choice")
RANK_KEYS = ("final_return_iqm", "final_return_mean", "auc_iqm", "auc_mean", "final_eval_return_iqm",
             "final_eval_return_mean")


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """What to sweep. `config` holds static settings (changing them recompiles), `grid`
    maps hyperparameter paths to value lists, `random` maps paths to
    `{"uniform"|"log_uniform": [low, high]}` or `{"choice": [...]}` drawn `num_samples`
    times (per grid point). Each configuration trains once per seed. `hparams` are the
    traced hyperparameters every configuration starts from (the search overrides them);
    `preset` records what a named preset (jaxshape/run/presets.py) set."""

    algo: str = "ppo"
    config: dict = dataclasses.field(default_factory=dict)
    hparams: dict = dataclasses.field(default_factory=dict)
    preset: dict = dataclasses.field(default_factory=dict)
    reward: str = ""
    reward_candidates: str = ""  # a .py file defining CANDIDATES: swept as the hparam reward.index
    fitness: str = "return"  # what ranks reward candidates: return, eval_return or success
    grid: dict = dataclasses.field(default_factory=dict)
    random: dict = dataclasses.field(default_factory=dict)
    num_samples: int = 0
    seeds: tuple[int, ...] = (0,)
    search_seed: int = 0
    max_batch: int | None = None
    rank_by: str = "final_return_iqm"
    options: dict = dataclasses.field(default_factory=dict)
    pbt: dict = dataclasses.field(default_factory=dict)  # population-based training (sweep/pbt.py): off when empty


def spec_from_dict(payload: dict) -> SweepSpec:
    """A SweepSpec from the JSON/TOML form: `{"algo", "env", "preset", "config", "hparams",
    "reward", "grid", "random": {..., "num_samples": N}, "seeds": S | [..], "seed",
    "max_batch", ...}`. A preset given by name is applied under `config`, `hparams` and
    the search's axes; one given as a record (a sweep.json's) is already applied."""
    if not isinstance(payload, dict):
        raise ConfigError(f"a sweep spec is a table of key = value, got {_shown(payload)}")
    payload = dict(payload)
    known = {f.name for f in dataclasses.fields(SweepSpec)} | {"env", "seed"}
    if unknown := sorted(set(map(str, payload)) - known):
        raise ConfigError(f"unknown sweep key(s) {', '.join(unknown)}: use {', '.join(sorted(known))}")
    for key, value in list(payload.items()):
        _check_type(key, value)
        if value is None:  # null (JSON) counts as left out
            del payload[key]
    if payload.get("options"):
        from jaxshape.run.job import JobOptions

        JobOptions.from_dict(payload["options"])
    config = dict(payload.pop("config", {}) or {})
    if "env" in payload:
        config["env"] = payload.pop("env")
    random = dict(payload.pop("random", {}) or {})
    num_samples = random.pop("num_samples", payload.pop("num_samples", 0)) or 0
    _check_type("num_samples", num_samples)
    hparams = dict(payload.pop("hparams", {}) or {})
    preset = payload.pop("preset", None) or {}
    if isinstance(preset, str):
        from jaxshape.run import presets

        applied = presets.apply(preset, payload.get("algo", "ppo"), config, hparams,
                                searched=[*(payload.get("grid") or {}), *random])
        config, hparams, preset = applied.config, applied.hparams, applied.record
    if hparams:
        _check_hparams(payload.get("algo", "ppo"), hparams)
    seeds = payload.pop("seeds", 1)
    base = payload.pop("seed", 0) or 0
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds <= 0:
            raise ConfigError(f"seeds must be a positive count or a list of seeds, got {seeds}")
        seeds = tuple(range(base, base + seeds))
    elif isinstance(seeds, (list, tuple)) and seeds and all(isinstance(s, int) for s in seeds):
        seeds = tuple(seeds)
    else:
        raise ConfigError(f"seeds must be a positive count or a non-empty list of integers, got {seeds!r}")
    return SweepSpec(config=config, hparams=hparams, preset=preset, random=random, num_samples=num_samples,
                     seeds=seeds, **payload)


_TYPES = {  # what each key of the JSON/TOML form holds (None: left out)
    "config": (dict, "a table"), "hparams": (dict, "a table"), "grid": (dict, "a table of name = [values]"),
    "random": (dict, "a table of name = {distribution = [...]}"), "options": (dict, "a table"),
    "preset": ((str, dict), "a preset name"), "algo": (str, "a name"), "env": (str, "an env name"),
    "reward": (str, "a reward spec"), "reward_candidates": (str, "a file path"), "fitness": (str, "a name"),
    "rank_by": (str, "a name"), "seed": (int, "an integer"), "search_seed": (int, "an integer"),
    "num_samples": (int, "an integer"), "max_batch": (int, "a positive integer"),
}


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_type(key: str, value: Any) -> None:
    """One line for a key whose value has the wrong type (before anything reads it)."""
    kinds, what = _TYPES.get(key, (object, ""))
    if value is not None and (not isinstance(value, kinds) or (isinstance(value, bool) and kinds is int)):
        raise ConfigError(f"sweep key {key} must be {what}, got {_shown(value)}")


def _check_hparams(algo: str, hparams: dict) -> None:
    from jaxshape.run import builder

    names = {f.name for f in dataclasses.fields(builder.builders(algo)[1])}
    if unknown := sorted(set(hparams) - names):
        raise ConfigError(f"unknown {algo} hyperparameter(s) {', '.join(unknown)} in \"hparams\": choose from "
                          f"{', '.join(sorted(names))}")


def load_spec(path: str | pathlib.Path) -> SweepSpec:
    """Read a sweep spec from a .json or .toml file."""
    path = pathlib.Path(path)
    if not path.exists():
        raise ConfigError(f"sweep config {path} does not exist; give the path of a .json or .toml file")
    try:
        if path.suffix == ".toml":
            import tomllib

            payload = tomllib.loads(path.read_text())
        else:
            payload = json.loads(path.read_text())
    except ValueError as err:
        raise ConfigError(f"cannot parse {path}: {err}; fix the file's syntax") from None
    return spec_from_dict(payload)


# ------------------------------------------------------------------ hparams by path
def hparam_names(hparams: Any) -> dict[str, float]:
    """Every scalar (sweepable) hyperparameter as dotted path -> default value."""
    return {name: float(x) for name, x in zip(leaf_names(hparams), jax.tree.leaves(hparams)) if np.ndim(x) == 0}


def with_values(hparams: Any, values: dict[str, float]) -> Any:
    """`hparams` with the leaves at the dotted paths in `values` replaced (float32)."""
    leaves = [jnp.asarray(values[name], jnp.float32) if name in values else leaf
              for name, leaf in zip(leaf_names(hparams), jax.tree.leaves(hparams))]
    return jax.tree.unflatten(jax.tree.structure(hparams), leaves)


def parse_assignment(text: str, flag: str = "--set") -> tuple[str, float | list[float]]:
    """`NAME=VALUE` or `NAME=V1,V2,...` (a vector hyperparameter) as (name, value)."""
    name, sep, value = text.partition("=")
    try:
        numbers = [float(v) for v in value.split(",")]
    except ValueError:
        numbers = []
    if not sep or not name or not numbers or not all(math.isfinite(v) for v in numbers):
        raise ConfigError(f"{flag} expects NAME=NUMBER (or NAME=V1,V2 for a vector), got {text!r}")
    return name, numbers[0] if len(numbers) == 1 else numbers


def assigned(hparams: Any, texts: Sequence[str], flag: str = "--set") -> Any:
    """`hparams` with the `NAME=VALUE` assignments applied (names and shapes checked)."""
    return with_checked_values(hparams, dict(parse_assignment(t, flag) for t in texts), flag)


def dotted(values: dict, prefix: str = "") -> dict[str, Any]:
    """A nested dict of hyperparameters ({"reward_coefs": {"rnd": 0.5}}) by dotted name."""
    out = {}
    for name, value in values.items():
        if isinstance(value, dict):
            out.update(dotted(value, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = value
    return out


def with_checked_values(hparams: Any, values: dict[str, Any], flag: str = "--set") -> Any:
    """`with_values` after checking that each dotted name exists and each value has its
    leaf's shape (one line naming the fix otherwise)."""
    leaves = dict(zip(leaf_names(hparams), jax.tree.leaves(hparams)))
    for name, value in values.items():
        if name not in leaves:
            raise ConfigError(f"{flag}: unknown hyperparameter {name!r}: choose from {', '.join(leaves)}")
        try:
            finite = np.isfinite(np.asarray(value, np.float64)).all()
        except (TypeError, ValueError):
            finite = False
        if not finite:
            raise ConfigError(f"{flag} {name}: {value!r} is not a finite number (or list of numbers)")
        if np.shape(leaves[name]) != np.shape(value):
            raise ConfigError(f"{flag} {name}: give {np.size(leaves[name])} value(s), got {np.size(value)}")
    return with_values(hparams, values)


def _check_names(names: Sequence[str], valid: dict[str, float], static: type) -> None:
    static_fields = {f.name for f in dataclasses.fields(static)}
    for name in names:
        if name in static_fields:
            raise ConfigError(f"{name} is a static setting (changing it recompiles): put it in \"config\", "
                              f"not in the search; sweepable: {', '.join(valid)}")
        if name not in valid:
            raise ConfigError(f"unknown hyperparameter {name!r}: choose from {', '.join(valid)}")


def _numbers(name: str, values: Any) -> list[float]:
    if not isinstance(values, (list, tuple)) or not values:
        raise ConfigError(f"grid {name!r} is empty: give at least one value, e.g. {name}=1e-4,3e-4")
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        raise ConfigError(f"grid {name!r} has a value that is not a number: {values!r}") from None
    if not all(math.isfinite(v) for v in out):
        raise ConfigError(f"grid {name!r} has a non-finite value: {values!r}")
    return out


def _sampler(name: str, dist: Any):
    if not isinstance(dist, dict) or len(dist) != 1 or next(iter(dist)) not in DISTRIBUTIONS:
        raise ConfigError(f"random {name!r} must be one of {{\"uniform\": [low, high]}}, "
                          f"{{\"log_uniform\": [low, high]}}, {{\"choice\": [...]}}; got {dist!r}")
    kind, args = next(iter(dist.items()))
    values = _numbers(name, args)
    if kind == "choice":
        return lambda rng: values[int(rng.integers(len(values)))]
    if len(values) != 2 or not values[0] < values[1] or (kind == "log_uniform" and values[0] <= 0):
        raise ConfigError(f"random {name!r}: {kind} needs [low, high] with low < high"
                          f"{' and low > 0' if kind == 'log_uniform' else ''}, got {args!r}")
    low, high = values
    if kind == "uniform":
        return lambda rng: float(rng.uniform(low, high))
    return lambda rng: float(np.exp(rng.uniform(np.log(low), np.log(high))))


def configurations(spec: SweepSpec, base: Any, static: type) -> list[dict[str, float]]:
    """The search's configurations (hyperparameter path -> value), grid-major order."""
    valid = hparam_names(base)
    _check_names([*spec.grid, *spec.random], valid, static)
    if not spec.grid and not spec.random:
        raise ConfigError("the search is empty: give --grid NAME=V1,V2 or a \"random\" distribution")
    if spec.random and spec.num_samples <= 0:
        raise ConfigError(f"random search needs num_samples >= 1, got {spec.num_samples}")
    if overlap := sorted(set(spec.grid) & set(spec.random)):
        raise ConfigError(f"{', '.join(overlap)} is both in the grid and random: keep it in one of them")
    grid = {name: _numbers(name, values) for name, values in spec.grid.items()}
    samplers = {name: _sampler(name, dist) for name, dist in spec.random.items()}
    rng = np.random.default_rng(spec.search_seed)
    out = []
    for point in itertools.product(*grid.values()):
        for _ in range(max(1, spec.num_samples) if samplers else 1):
            out.append({**dict(zip(grid, point)), **{n: s(rng) for n, s in samplers.items()}})
    return out


