"""An evolution strategy over reward parameters (or any traced hyperparameters): every
generation's population trains in ONE vmapped, compiled call, and the program compiled
for the first generation serves all the others.

Each generation: the strategy asks for `population` points of the unit box
(jaxshape.search.space), each becomes a member's hyperparameters, every member trains
`seeds_per_member` seeds (the generation's seeds are shared by all members: common
random numbers, so members differ only by their parameters), and the members' fitness,
the task's own measure, goes back to the strategy:

    return       the extrinsic return at the end of training (mean over the member's seeds)
    auc          the area under its training-return curve over env steps, divided by the
                 steps spanned (the average return over training)
    eval_return  the final greedy evaluation's return (fixed evaluation seeds)
    success      the env's info["is_success"] rate of the episodes that ended last

The search folder:
    search.json          the spec (everything needed to resume)
    generations/gen-NNNN one run folder per generation (metrics.jsonl has per-member curves;
                         only the newest generation keeps its checkpoints)
    es_state/<g>         the strategy's state after g generations (orbax)
    generations.jsonl    one line per generation: fitness per member, each member's
                         parameters, the strategy's mean after the update, the best
    best.json            the best member found so far and the strategy's last mean, each with
                         the `jaxshape train` command that reruns it (the best member is one
                         noisy draw, picked for its luck as well; the mean is the steadier pick)
    search_fitness.png   fitness over generations, and the mean parameters

A killed search resumes exactly (`resume_search`): the strategy's state after the last
complete generation is restored, the generation in progress resumes from its run folder's
checkpoint (or restarts), and its population is asked again with the same key, so the
next generation is the one an uninterrupted search would have run.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import shutil
import time
from typing import Any

import jax
import numpy as np
from tqdm.auto import tqdm

from jaxshape import pytree
from jaxshape.errors import ConfigError
from jaxshape.run import builder, job
from jaxshape.run.checkpoints import Checkpoints
from jaxshape.run.driver import members_mesh
from jaxshape.run.logs import read_metrics
from jaxshape.search.space import SearchParam, SearchSpace, checked_param
from jaxshape.search.strategies import STRATEGIES, Strategy, make_strategy
from jaxshape.sweep.report import auc, batch_curves, write_json
from jaxshape.sweep.spec import dotted, with_checked_values, with_values

FITNESS = ("return", "auc", "eval_return", "success")


@dataclasses.dataclass(frozen=True)
class SearchSpec:
    """What to search and how. `config` holds static settings, `hparams` traced
    hyperparameters held fixed, by dotted name or nested (`{"learning_rate": 1e-3,
    "reward_coefs.hurry": 0.5, "reward.index": 1}`), `params` the searched ones;
    `options` are the job's options (jaxshape.run.job.JobOptions fields) for every
    generation. `seed` seeds the strategy, and generation g's members train the seeds
    seed + g·seeds_per_member + s (searches whose seeds are close share training seeds,
    shifted: space them by more than generations × seeds_per_member for independent ones)."""

    params: tuple[SearchParam, ...]
    algo: str = "ppo"
    config: dict = dataclasses.field(default_factory=dict)
    hparams: dict = dataclasses.field(default_factory=dict)
    reward: str = ""
    reward_candidates: str = ""
    strategy: str = "openes"
    population: int = 8
    generations: int = 10
    fitness: str = "return"
    sigma: float = 0.2
    es_learning_rate: float = 0.1
    seeds_per_member: int = 1
    seed: int = 0
    options: dict = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "params": [dataclasses.asdict(p) for p in self.params]}

    @classmethod
    def from_json(cls, payload: dict) -> "SearchSpec":
        return cls(**{**payload, "params": tuple(checked_param(SearchParam(**p)) for p in payload["params"])})


@dataclasses.dataclass
class _Search:
    """A search's parts, built and validated before anything trains."""

    spec: SearchSpec
    dir: pathlib.Path
    learner: Any
    base: Any
    space: SearchSpace
    strategy: Strategy
    options: job.JobOptions
    driver: Any


def _prepare(spec: SearchSpec, out: pathlib.Path) -> _Search:
    if spec.fitness not in FITNESS:
        raise ConfigError(f"fitness must be one of {', '.join(FITNESS)}, got {spec.fitness!r}")
    if spec.strategy not in STRATEGIES:
        raise ConfigError(f"unknown strategy {spec.strategy!r}: choose one of {', '.join(STRATEGIES)}")
    for name in ("generations", "seeds_per_member"):
        if getattr(spec, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(spec, name)}")
    fields = {f.name for f in dataclasses.fields(job.JobOptions)}
    if unknown := sorted(set(spec.options) - fields):
        raise ConfigError(f"unknown option(s) {', '.join(unknown)}: choose from {', '.join(sorted(fields))}")
    options = job.JobOptions(**{"plot": False, "eval_every": 0, **spec.options})
    if spec.fitness == "eval_return" and options.eval_episodes == 0:
        raise ConfigError("--fitness eval_return needs the greedy evaluation: give --eval-episodes N (N > 0)")
    learner, base = builder.build(spec.algo, spec.config, spec.reward, spec.reward_candidates)
    base = with_checked_values(base, dotted(spec.hparams), "fixed hyperparameter")
    space = SearchSpace(spec.params, base, builder.builders(spec.algo)[0])
    if spec.fitness == "success" and not builder.reports_success(learner, base):
        raise ConfigError(f"--fitness success needs an env that reports info['is_success']; {learner.config.env!r} "
                          "does not: choose --fitness return, auc or eval_return")
    strategy = make_strategy(spec.strategy, spec.population, space.initial_unit(), spec.sigma, spec.es_learning_rate)
    members = spec.population * spec.seeds_per_member
    devices = jax.local_device_count()
    if devices > 1 and members % devices:
        raise ConfigError(f"{spec.population} members x {spec.seeds_per_member} seeds = {members} runs cannot be "
                          f"split evenly over {devices} devices: give a population that makes a multiple of {devices}")
    mesh = members_mesh() if devices > 1 else None
    return _Search(spec, out, learner, base, space, strategy, options, job.make_driver(learner, options, mesh))


def run_search(spec: SearchSpec, out_dir: str | pathlib.Path, progress: bool = True) -> dict[str, Any]:
    """Run the search into `out_dir`; returns best.json's content."""
    out = pathlib.Path(out_dir)
    if (out / "search.json").exists():
        raise ConfigError(f"{out} already holds a search; choose another --out, or --resume it")
    search = _prepare(spec, out)  # validated before the folder is made
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "search.json", spec.to_json())
    return _generations(search, progress)


def resume_search(search_dir: str | pathlib.Path, progress: bool = True) -> dict[str, Any]:
    """Continue a search from its last complete generation."""
    out = pathlib.Path(search_dir)
    if not (out / "search.json").exists():
        raise ConfigError(f"{out} is not a jaxshape search folder (no search.json)")
    spec = SearchSpec.from_json(json.loads((out / "search.json").read_text()))
    return _generations(_prepare(spec, out), progress)


# ----------------------------------------------------------------------- the loop
def _generation_keys(seed: int, generation: int) -> tuple[jax.Array, jax.Array]:
    ask, tell = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), generation))
    return ask, tell


def _generations(search: _Search, progress: bool) -> dict[str, Any]:
    spec, strategy = search.spec, search.strategy
    states = Checkpoints(search.dir / "es_state", keep=2, owner=True)
    fresh = strategy.init(jax.random.PRNGKey(spec.seed))
    restored = states.restore(fresh)
    done, state = restored if restored is not None else (0, fresh)
    history = _history(search.dir, keep=done)
    try:
        for generation in range(done, spec.generations):
            ask_key, tell_key = _generation_keys(spec.seed, generation)
            population, _ = strategy.ask(ask_key, state)
            started = time.perf_counter()
            summary = _train(search, generation, population, progress)
            fitness = generation_fitness(_run_dir(search.dir, generation), spec.fitness, spec.seeds_per_member)
            state = strategy.tell(tell_key, population, fitness, state)
            record = _record(search, generation, population, fitness, strategy.mean(state), summary,
                             time.perf_counter() - started)
            history.append(record)
            with (search.dir / "generations.jsonl").open("a") as f:
                f.write(json.dumps(record) + "\n")
            states.save(generation + 1, state)
            states.wait()
            _drop_checkpoints(search.dir, generation - 1)
            _write_best(search, history)  # after every generation, so a watcher (or a kill) sees the best so far
            plot_search(history, search.dir / "search_fitness.png")
            if progress:
                tqdm.write(f"generation {generation + 1}/{spec.generations}: fitness mean {record['fitness_mean']:.4g}"
                           f", best {record['best_fitness']:.4g}; mean parameters {format_values(record['mean_params'])}")
    finally:
        states.close()
    return _write_best(search, history)


def _run_dir(search_dir: pathlib.Path, generation: int) -> pathlib.Path:
    return search_dir / "generations" / f"gen-{generation:04d}"


def _train(search: _Search, generation: int, population: np.ndarray, progress: bool) -> dict[str, Any]:
    """Train the generation's members (resume its run folder if it was interrupted)."""
    spec, out = search.spec, _run_dir(search.dir, generation)
    if (out / "summary.json").exists():
        return json.loads((out / "summary.json").read_text())
    if (out / "config.json").exists():
        return job.resume(out, learner=search.learner, progress=progress, driver=search.driver)
    first_seed = spec.seed + generation * spec.seeds_per_member
    seeds = [first_seed + s for s in range(spec.seeds_per_member)]
    members = [with_values(search.base, search.space.values(unit)) for unit in population]
    stacked = pytree.stack([m for m in members for _ in range(spec.seeds_per_member)])
    out.parent.mkdir(parents=True, exist_ok=True)
    return job.train(spec.algo, search.learner, search.base, seeds=seeds * spec.population, member_hparams=stacked,
                     out_dir=out, reward=spec.reward, options=dataclasses.replace(search.options, progress=progress),
                     driver=search.driver,
                     extra_config={"search": {"dir": str(search.dir), "generation": generation},
                                   "reward_candidates": spec.reward_candidates})


def generation_fitness(run_dir: pathlib.Path, measure: str, seeds_per_member: int) -> np.ndarray:
    """Each member's fitness [population] from its generation's run folder: `measure`
    (see the module docstring) averaged over the member's seeds; NaN where none of its
    seeds has a value (no finished episode)."""
    steps, ret, final_eval = batch_curves(run_dir)
    if measure == "return":
        per_run = ret[:, -1]
    elif measure == "auc":
        per_run = np.array([auc(steps, curve) for curve in ret])
    elif measure == "eval_return":
        per_run = final_eval
    elif measure == "success":
        last = read_metrics(run_dir)[-1].get("episode_success_per_seed") or [None] * len(ret)
        per_run = np.array([np.nan if v is None else v for v in last], np.float64)
    else:
        raise ConfigError(f"fitness must be one of {', '.join(FITNESS)}, got {measure!r}")
    per_member = per_run.reshape(-1, seeds_per_member)
    ok = np.isfinite(per_member)
    with np.errstate(invalid="ignore"):
        return np.where(ok.any(axis=1), np.nansum(per_member, axis=1) / np.maximum(ok.sum(axis=1), 1), np.nan)


def _clean(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _record(search: _Search, generation: int, population: np.ndarray, fitness: np.ndarray, mean: np.ndarray,
            summary: dict, seconds: float) -> dict[str, Any]:
    finite = np.isfinite(fitness)
    best = int(np.nanargmax(fitness)) if finite.any() else 0
    return {
        "generation": generation,
        "fitness": [_clean(f) for f in fitness],
        "fitness_mean": _clean(np.nanmean(fitness)) if finite.any() else None,
        "best_fitness": _clean(fitness[best]),
        "best_member": best,
        "best_params": search.space.values(population[best]),
        "mean_params": search.space.values(mean),
        "mean_unit": np.asarray(mean, np.float64).tolist(),  # unclipped: where the strategy's mean really is
        "params": [search.space.values(unit) for unit in population],
        "run_dir": str(_run_dir(search.dir, generation).relative_to(search.dir)),
        "seconds": seconds,
        "compile_seconds": summary.get("compile_seconds", 0.0),
    }


def _history(search_dir: pathlib.Path, keep: int) -> list[dict]:
    """generations.jsonl's first `keep` lines (later ones, from a generation whose state was
    not saved before a kill, are dropped and rewritten)."""
    path = search_dir / "generations.jsonl"
    if not path.exists():
        return []
    lines = [line for line in path.read_text().splitlines() if line.strip()][:keep]
    path.write_text("".join(line + "\n" for line in lines))
    return [json.loads(line) for line in lines]


def _drop_checkpoints(search_dir: pathlib.Path, generation: int) -> None:
    """A finished generation's checkpoints are not needed once the next one has run."""
    if generation >= 0:
        shutil.rmtree(_run_dir(search_dir, generation) / "checkpoints", ignore_errors=True)


def train_command(spec: SearchSpec, values: dict[str, Any]) -> list[str]:
    """The `jaxshape train` arguments that train one member with `values`."""
    args = ["jaxshape", "train", "--algo", spec.algo]
    for name, value in spec.config.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            args.append(flag if value else f"--no-{name.replace('_', '-')}")
        else:
            args += [flag, ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)]
    if spec.reward:
        args += ["--reward", spec.reward]
    if spec.reward_candidates:
        args += ["--reward-candidates", spec.reward_candidates]
    for name, value in {**dotted(spec.hparams), **values}.items():
        shown = ",".join(f"{v:.6g}" for v in value) if isinstance(value, (list, tuple)) else f"{value:.6g}"
        args += ["--set", f"{name}={shown}"]
    return args


def _write_best(search: _Search, history: list[dict]) -> dict[str, Any]:
    best = max((r for r in history if r["best_fitness"] is not None), key=lambda r: r["best_fitness"],
               default=history[-1])
    payload = {"fitness": search.spec.fitness, "best_fitness": best["best_fitness"],
               "generation": best["generation"], "member": best["best_member"], "params": best["best_params"],
               "mean_params": history[-1]["mean_params"], "generations_done": len(history),
               "train_command": train_command(search.spec, best["best_params"]),
               "mean_train_command": train_command(search.spec, history[-1]["mean_params"])}
    write_json(search.dir / "best.json", payload)
    return payload


def format_values(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if not isinstance(v, list) else f"{k}=[{', '.join(f'{x:.3g}' for x in v)}]"
                     for k, v in values.items())


def plot_search(history: list[dict], out: pathlib.Path) -> pathlib.Path:
    """Two panels: every member's fitness per generation with the mean and the best so
    far; and the strategy's mean per generation, each parameter as the fraction of its
    range (so parameters of any scale share one axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gens = np.array([r["generation"] for r in history]) + 1
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
    for g, r in zip(gens, history):
        f = np.array([np.nan if v is None else v for v in r["fitness"]], float)
        top.scatter(np.full(len(f), g), f, s=10, color="0.6", zorder=1)
    means = np.array([np.nan if r["fitness_mean"] is None else r["fitness_mean"] for r in history], float)
    bests = np.array([np.nan if r["best_fitness"] is None else r["best_fitness"] for r in history], float)
    top.plot(gens, means, "o-", color="tab:blue", label="population mean", zorder=3)
    top.plot(gens, np.fmax.accumulate(bests), "s--", color="tab:red", label="best so far", zorder=3)
    top.set_ylabel("fitness")
    top.legend(fontsize=8)
    top.grid(alpha=0.3)
    labels = [name if np.ndim(v) == 0 else f"{name}[{i}]"
              for name, v in history[0]["mean_params"].items() for i in range(max(1, np.size(v)))]
    units = np.array([r["mean_unit"] for r in history], float)
    for i, label in enumerate(labels):
        bottom.plot(gens, units[:, i], "o-", label=label)
    bottom.axhspan(0, 1, color="0.93", zorder=0)  # the box; outside it a member trains at the bound
    bottom.set_ylim(min(-0.05, units.min() - 0.05), max(1.05, units.max() + 0.05))
    bottom.xaxis.get_major_locator().set_params(integer=True)
    bottom.set_xlabel("generation")
    bottom.set_ylabel("strategy mean (fraction of range)")
    bottom.legend(fontsize=7)
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
