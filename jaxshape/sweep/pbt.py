"""Population-based training (Jaderberg et al. 2017) between the chunks of one compiled,
vmapped run: no recompilation, no host round trip of parameters.

Every `every` chunks, with the members' fitness f (the extrinsic training return of the
episodes that ended last, per member; −∞ before a member's first episode):

    exploit  the bottom `fraction` of members (by f) each copy the whole training state
             (network parameters, optimiser state, normaliser and reward-transform state,
             env states) and the hyperparameters of a member drawn uniformly from the top
             `fraction`, when that donor's fitness is higher; the recipient keeps its own
             RNG key, so it continues from the donor's exact state with its own randomness;
    explore  each copied hyperparameter the sweep searches (reward coefficients included)
             is multiplied by a factor drawn from `perturb` (default 0.8 or 1.25) and
             clipped to the range the sweep gave it.

`exploit_explore` is a pure function of the stacked members; `boundary` makes the jitted
step the job runs between chunks and the host callback that writes `pbt_events.jsonl`
(one line per copy: update, member, from, both fitnesses, the hyperparameters before and
after).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxshape.errors import ConfigError
from jaxshape.pytree import leaf_names
from jaxshape.run.job import Boundary
from jaxshape.sweep.report import write_json


@dataclasses.dataclass(frozen=True)
class PBTConfig:
    """How often and how much: `every` chunks, the `fraction` replaced (and the same
    fraction of donors), the multiplicative `perturb` factors."""

    every: int = 1
    fraction: float = 0.25
    perturb: tuple[float, ...] = (0.8, 1.25)

    def __post_init__(self):
        if not (isinstance(self.every, int) and self.every >= 1):
            raise ConfigError(f"--pbt-every must be a positive number of chunks, got {self.every!r}")
        if not (isinstance(self.fraction, (int, float)) and 0 < self.fraction <= 0.5):
            raise ConfigError(f"--pbt-fraction must be in (0, 0.5], got {self.fraction!r}")
        if not self.perturb or not all(isinstance(p, (int, float)) and math.isfinite(p) and p > 0
                                       for p in self.perturb):
            raise ConfigError(f"pbt perturb factors must be positive numbers, got {self.perturb!r}")


def chunk_fitness(metrics: dict[str, jax.Array]) -> jax.Array:
    """[members]: the training return at the chunk's last update, −∞ for a member with no
    finished episode yet."""
    return jnp.where(metrics["episode_valid"][:, -1], metrics["episode_return"][:, -1], -jnp.inf)


def exploit_explore(state: Any, hparams: Any, fitness: jax.Array, key: jax.Array, config: PBTConfig,
                    bounds: dict[str, tuple[float, float]]) -> tuple[Any, Any, dict[str, jax.Array]]:
    """One PBT step on stacked members (leading axis N). `bounds` maps the perturbed
    hyperparameters' dotted paths to their (low, high). Returns the new state, the new
    hyperparameters and the events: `member` and `source` [k] (the bottom k members and
    their donors), `copied` [k] (whether the donor was fitter), `fitness` [N]."""
    n = fitness.shape[0]
    k = max(1, int(config.fraction * n))
    order = jnp.argsort(fitness)  # ascending: the worst first
    bottom, top = order[:k], order[n - k:]
    pick_key, perturb_key = jax.random.split(key)
    donors = top[jax.random.randint(pick_key, (k,), 0, k)]
    copied = fitness[donors] > fitness[bottom]
    source = jnp.arange(n).at[bottom].set(jnp.where(copied, donors, bottom))
    moved = source != jnp.arange(n)

    def take(tree):
        return jax.tree.map(lambda x: x[source], tree)

    new_state = take(state)
    if hasattr(state, "key"):  # the recipient keeps its own randomness
        new_state = new_state.replace(key=state.key)
    factors = jnp.asarray(config.perturb, jnp.float32)
    names = leaf_names(hparams)
    leaves = jax.tree.leaves(take(hparams))
    draws = jax.random.randint(perturb_key, (len(names), n), 0, len(config.perturb))
    out = []
    for i, (name, leaf) in enumerate(zip(names, leaves)):
        if name in bounds:
            low, high = bounds[name]
            leaf = jnp.where(moved, jnp.clip(leaf * factors[draws[i]], low, high), leaf)
        out.append(leaf)
    new_hparams = jax.tree.unflatten(jax.tree.structure(hparams), out)
    return new_state, new_hparams, {"member": bottom, "source": donors, "copied": copied, "fitness": fitness}


def search_bounds(grid: dict, random: dict) -> dict[str, tuple[float, float]]:
    """The perturbed hyperparameters and their ranges: the sweep's grid and random axes
    (min to max of the values), except the candidate index (not a quantity to scale)."""
    bounds = {}
    for name, values in grid.items():
        bounds[name] = (min(values), max(values))
    for name, dist in random.items():
        values = next(iter(dist.values()))
        bounds[name] = (min(values), max(values))
    bounds.pop("reward.index", None)
    return bounds


def boundary(config: PBTConfig, bounds: dict[str, tuple[float, float]], events_path: pathlib.Path,
             seed: int = 0) -> Boundary:
    """The job's between-chunk step: jitted exploit/explore (key fold_in(seed, update)),
    and the host callback appending `events_path`."""

    @jax.jit
    def step(state, hparams, metrics, done):
        key = jax.random.fold_in(jax.random.PRNGKey(seed), done)
        state, new_hparams, events = exploit_explore(state, hparams, chunk_fitness(metrics), key, config, bounds)
        before = {name: leaf for name, leaf in zip(leaf_names(hparams), jax.tree.leaves(hparams)) if name in bounds}
        after = {name: leaf for name, leaf in zip(leaf_names(new_hparams), jax.tree.leaves(new_hparams))
                 if name in bounds}
        return state, new_hparams, {**events, "before": before, "after": after}

    return Boundary(every=config.every, step=step, record=lambda events, done: write_events(events_path, events, done),
                    rewind=lambda update: trim_events(events_path, update))


def write_events(path: pathlib.Path, events: dict[str, Any], done: int) -> None:
    """One JSON line per member that copied another."""
    events = jax.device_get(events)
    lines = []
    for member, source, copied in zip(events["member"], events["source"], events["copied"]):
        if not copied:
            continue
        lines.append(json.dumps({
            "update": int(done), "member": int(member), "from": int(source),
            "fitness": _finite(events["fitness"][member]), "from_fitness": _finite(events["fitness"][source]),
            "before": {k: float(v[member]) for k, v in events["before"].items()},
            "after": {k: float(v[member]) for k, v in events["after"].items()},
            "donor": {k: float(v[source]) for k, v in events["before"].items()},
        }))
    with path.open("a") as f:
        f.write("".join(line + "\n" for line in lines))


def trim_events(path: pathlib.Path, through_update: int) -> None:
    """Drop the events after `through_update` (a resume replays them)."""
    if path.exists():
        kept = [line for line in path.read_text().splitlines()
                if line.strip() and json.loads(line)["update"] <= through_update]
        path.write_text("".join(line + "\n" for line in kept))


def write_best_member(sweep_dir: pathlib.Path, record: dict, rank_by: str) -> dict[str, Any]:
    """With PBT the configurations are only where members started: best.json gains the
    fittest member at the end (by final training return), the hyperparameters it ended
    with (its lineage is in pbt_events.jsonl) and its starting configuration."""
    batch = record["batches"][0]
    summary = json.loads((sweep_dir / batch["name"] / "summary.json").read_text())
    finals = np.array([np.nan if v is None else v for v in summary["final_return_per_seed"]], float)[:batch["real"]]
    member = int(np.nanargmax(finals)) if np.isfinite(finals).any() else 0
    searched = search_bounds(record["spec"]["grid"], record["spec"]["random"])
    final = {name: functools.reduce(lambda d, part: d[part], name.split("."), summary["final_hparams"])
             for name in searched}
    best = json.loads((sweep_dir / "best.json").read_text())
    best["pbt_best_member"] = {
        "member": member, "seed": record["members"][member]["seed"], "final_return": _finite(finals[member]),
        "started_as": record["configurations"][record["members"][member]["config"]],
        "final_hparams": {name: float(np.ravel(final[name])[member]) for name in searched},
    }
    write_json(sweep_dir / "best.json", best)
    return best


def _finite(x: Any) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None
