"""Hyperparameter sweeps: grid or random search over traced hyperparameters x seeds.

Every member (one configuration, one seed) trains from ONE compilation: members are
stacked along a leading axis and go through `jaxshape.job.train(..., seeds=...,
member_hparams=...)`. Members that do not fit at once are split into batches of equal
size (the last one padded by repeating members, whose results are dropped), so every
batch has the same shapes and nothing recompiles; each batch is an ordinary run folder
(`jaxshape train --resume SWEEP/batch-000` works) and `resume_sweep` continues a sweep.

Members are sharded over this process's devices (`jaxshape.driver.members_mesh`). With
`jax.distributed.initialize`, batches are dealt out to processes (batch i runs on
process i mod P, each on its own devices; members never communicate), results are
gathered with `multihost_utils.process_allgather`, and only process 0 writes the
sweep's outputs. See experiments/SWEEPS.md.

The sweep folder:
    sweep.json           the space, the configurations, members, batches, and a report
    batch-NNN/           one run folder per batch (metrics.jsonl has per-member curves)
    results.csv/.json    one row per configuration: mean, std, IQM over seeds of the
                         final return and of the area under the return curve
    best.json            the best configuration (by `rank_by`)
    sweep_curves.png     learning curves per configuration with seed bands

Hyperparameters are addressed by dotted paths into the algorithm's hparams pytree:
`learning_rate`, `gamma`, `reward_coefs.rnd`, `reward.lr`, ... (`hparam_names`).
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import math
import pathlib
import resource
import time
import warnings
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxshape import algorithms, job, pytree
from jaxshape.driver import members_mesh, use_mesh
from jaxshape.errors import ConfigError
from jaxshape.runlog import read_metrics

DISTRIBUTIONS = ("uniform", "log_uniform", "choice")
RANK_KEYS = ("final_return_iqm", "final_return_mean", "auc_iqm", "auc_mean")


# ------------------------------------------------------------------------- the spec
@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """What to sweep. `config` holds static settings (changing them recompiles), `grid`
    maps hyperparameter paths to value lists, `random` maps paths to
    `{"uniform"|"log_uniform": [low, high]}` or `{"choice": [...]}` drawn `num_samples`
    times (per grid point). Each configuration trains once per seed."""

    algo: str = "ppo"
    config: dict = dataclasses.field(default_factory=dict)
    reward: str = ""
    grid: dict = dataclasses.field(default_factory=dict)
    random: dict = dataclasses.field(default_factory=dict)
    num_samples: int = 0
    seeds: tuple[int, ...] = (0,)
    search_seed: int = 0
    max_batch: int | None = None
    rank_by: str = "final_return_iqm"
    options: dict = dataclasses.field(default_factory=dict)


def spec_from_dict(payload: dict) -> SweepSpec:
    """A SweepSpec from the JSON/TOML form: `{"algo", "env", "config", "reward", "grid",
    "random": {..., "num_samples": N}, "seeds": S | [..], "seed", "max_batch", ...}`."""
    payload = dict(payload)
    known = {f.name for f in dataclasses.fields(SweepSpec)} | {"env", "seed"}
    if unknown := sorted(set(payload) - known):
        raise ConfigError(f"unknown sweep key(s) {', '.join(unknown)}: use {', '.join(sorted(known))}")
    config = dict(payload.pop("config", {}) or {})
    if "env" in payload:
        config["env"] = payload.pop("env")
    random = dict(payload.pop("random", {}) or {})
    num_samples = int(random.pop("num_samples", payload.pop("num_samples", 0)) or 0)
    seeds = payload.pop("seeds", 1)
    base = int(payload.pop("seed", 0))
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds <= 0:
            raise ConfigError(f"seeds must be a positive count or a list of seeds, got {seeds}")
        seeds = tuple(range(base, base + seeds))
    elif isinstance(seeds, (list, tuple)) and seeds and all(isinstance(s, int) for s in seeds):
        seeds = tuple(seeds)
    else:
        raise ConfigError(f"seeds must be a positive count or a non-empty list of integers, got {seeds!r}")
    return SweepSpec(config=config, random=random, num_samples=num_samples, seeds=seeds, **payload)


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
def _path_name(path: tuple) -> str:
    parts = []
    for key in path:
        for attr in ("name", "key", "idx"):
            if hasattr(key, attr):
                parts.append(str(getattr(key, attr)))
                break
    return ".".join(parts)


def hparam_names(hparams: Any) -> dict[str, float]:
    """Every scalar (sweepable) hyperparameter as dotted path -> default value."""
    leaves = jax.tree_util.tree_flatten_with_path(hparams)[0]
    return {_path_name(p): float(x) for p, x in leaves if np.ndim(x) == 0}


def with_values(hparams: Any, values: dict[str, float]) -> Any:
    """`hparams` with the leaves at the dotted paths in `values` replaced (float32)."""
    def replace(path, leaf):
        name = _path_name(path)
        return jnp.asarray(values[name], jnp.float32) if name in values else leaf

    return jax.tree_util.tree_map_with_path(replace, hparams)


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


# ------------------------------------------------------------------------ batches
def plan_batches(num_members: int, max_batch: int | None = None, fits: int | None = None,
                 devices: int = 1, processes: int = 1) -> tuple[int, int]:
    """(batch_size, num_batches): the fewest equal batches under the caps, with a batch
    size that is a multiple of `devices` and a batch count that is a multiple of
    `processes` (every process runs the same number of equal batches)."""
    if max_batch is not None and max_batch < devices:
        raise ConfigError(f"max_batch={max_batch} is smaller than the {devices} devices: give at least {devices}")
    caps = [c for c in (max_batch, fits) if c]
    cap = max(devices, (min(caps) if caps else num_members) // devices * devices)
    num_batches = -(-num_members // cap)
    num_batches = -(-num_batches // processes) * processes
    batch_size = -(-num_members // num_batches)
    batch_size = -(-batch_size // devices) * devices
    return batch_size, num_batches


def members_that_fit(learner: Any, hparams: Any, num_updates_per_chunk: int, probe: int = 16) -> int | None:
    """Members per device that fit in 60% of the device's memory, from the compiled
    memory use of a `probe`-member chunk; None where the device reports no limit (CPU)."""
    from jaxshape.driver import Driver

    stats = jax.local_devices()[0].memory_stats() or {}
    if "bytes_limit" not in stats:
        return None
    driver = Driver(learner, learner.config.num_updates, num_updates_per_chunk, mesh=None)
    keys = jax.random.split(jax.random.PRNGKey(0), probe)
    member_hparams = job.broadcast_hparams(hparams, probe)
    state = driver.state_shape(keys, member_hparams)
    memory = driver._chunk.lower(state, member_hparams).compile().memory_analysis()
    used = memory.temp_size_in_bytes + memory.argument_size_in_bytes + memory.output_size_in_bytes
    return max(1, int(0.6 * stats["bytes_limit"] * probe / max(used, 1)))


def peak_memory() -> dict[str, Any]:
    """Peak device memory (memory_stats' peak_bytes_in_use, max over local devices) when
    the device reports it, else this process's peak host RSS."""
    peaks = [(d.memory_stats() or {}).get("peak_bytes_in_use") for d in jax.local_devices()]
    if all(p is not None for p in peaks):
        return {"peak_bytes": int(max(peaks)), "source": "device memory_stats peak_bytes_in_use"}
    return {"peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "source": "host max RSS"}


# ---------------------------------------------------------------------- building
def _build(spec: SweepSpec) -> tuple[Any, Any, type]:
    from jaxshape.rewards.spec import parse_reward_spec

    config_cls, _, make, default_hparams = algorithms.builders(spec.algo)
    fields = {f.name for f in dataclasses.fields(config_cls)}
    if unknown := sorted(set(spec.config) - fields):
        raise ConfigError(f"unknown {spec.algo} setting(s) {', '.join(unknown)}: choose from {', '.join(sorted(fields))}")
    try:
        config = config_cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec.config.items()})
    except TypeError as err:
        raise ConfigError(f"bad {spec.algo} config: {err}") from None
    transform = parse_reward_spec(spec.reward, config.env) if spec.reward else None
    learner = make(config, transform=transform)  # validates before anything compiles
    return learner, default_hparams(transform), config_cls


def _options(spec: SweepSpec) -> job.JobOptions:
    fields = {f.name for f in dataclasses.fields(job.JobOptions)}
    if unknown := sorted(set(spec.options) - fields):
        raise ConfigError(f"unknown option(s) {', '.join(unknown)}: choose from {', '.join(sorted(fields))}")
    return job.JobOptions(**{"plot": False, "eval_every": 0, **spec.options})


def _plan(spec: SweepSpec, learner: Any, base: Any, config_cls: type, devices: int, processes: int) -> dict:
    configs = configurations(spec, base, config_cls)
    num_members = len(configs) * len(spec.seeds)
    target = _options(spec).chunk_updates or -(-learner.config.num_updates // job.DEFAULT_CHUNKS)
    per_device = members_that_fit(learner, base, target)
    batch_size, num_batches = plan_batches(num_members, spec.max_batch, per_device and per_device * devices,
                                           devices, processes)
    members = [{"config": c, "seed": s} for c in range(len(configs)) for s in spec.seeds]
    padded = [m % num_members for m in range(batch_size * num_batches)]  # padding repeats members
    batches = [{"name": f"batch-{b:03d}", "members": padded[b * batch_size:(b + 1) * batch_size],
                "real": max(0, min(batch_size, num_members - b * batch_size)), "process": b % processes}
               for b in range(num_batches)]
    return {"configurations": configs, "members": members, "batch_size": batch_size, "batches": batches,
            "devices_per_process": devices, "processes": processes}


def _write_json(path: pathlib.Path, payload: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    tmp.replace(path)


# ------------------------------------------------------------------------ running
def _run_batches(sweep_dir: pathlib.Path, spec: SweepSpec, plan: dict, learner: Any, base: Any,
                 mesh: Any, progress: bool) -> dict[str, Any]:
    """Train (or resume) this process's unfinished batches; returns timing totals."""
    configs, members = plan["configurations"], plan["members"]
    options = dataclasses.replace(_options(spec), progress=progress)
    totals = {"compile_seconds": 0.0, "run_seconds": 0.0, "member_steps": 0}
    for batch in plan["batches"]:
        out = sweep_dir / batch["name"]
        if batch["process"] != jax.process_index() or (out / "summary.json").exists():
            continue
        with use_mesh(mesh, reuse_compiled=True):
            if (out / "config.json").exists():
                summary = job.resume(out, learner=learner, progress=progress)
            else:
                seeds = [members[m]["seed"] for m in batch["members"]]
                stacked = pytree.stack([with_values(base, configs[members[m]["config"]]) for m in batch["members"]])
                summary = job.train(spec.algo, learner, base, seeds=seeds, member_hparams=stacked, out_dir=out,
                                    reward=spec.reward, options=options,
                                    extra_config={"sweep": {"dir": str(sweep_dir), "batch": batch["name"]}})
        totals["compile_seconds"] += summary["compile_seconds"]
        totals["run_seconds"] += summary["run_seconds"]
        totals["member_steps"] += (summary["steps_per_second"] or 0.0) * summary["run_seconds"]
    return totals


def run_sweep(spec: SweepSpec, out_dir: str | pathlib.Path, *, shard: bool = True,
              progress: bool = True) -> dict[str, Any] | None:
    """Run the sweep into `out_dir` and write its outputs; returns the best
    configuration's row (None on processes other than 0)."""
    learner, base, config_cls = _build(spec)
    if spec.rank_by not in RANK_KEYS:
        raise ConfigError(f"rank_by must be one of {', '.join(RANK_KEYS)}, got {spec.rank_by!r}")
    sweep_dir = pathlib.Path(out_dir)
    if (sweep_dir / "sweep.json").exists():
        raise ConfigError(f"{sweep_dir} already holds a sweep; choose another --out, or --resume it")
    if jax.process_count() > 1:  # every process checks before process 0 writes (a shared folder would race)
        _wait_for_all_processes("jaxshape-sweep-checked")
    mesh = members_mesh() if shard and jax.local_device_count() > 1 else None
    plan = _plan(spec, learner, base, config_cls, mesh.size if mesh is not None else 1, jax.process_count())
    record = {"spec": {**dataclasses.asdict(spec), "seeds": list(spec.seeds)},
              "space": {"grid": spec.grid, "random": spec.random, "num_samples": spec.num_samples},
              **plan, "shard": shard}
    if jax.process_index() == 0:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        _write_json(sweep_dir / "sweep.json", record)
    return _execute(sweep_dir, spec, record, learner, base, mesh, progress)


def resume_sweep(sweep_dir: str | pathlib.Path, progress: bool = True) -> dict[str, Any] | None:
    """Continue a sweep: finished batches are kept, interrupted ones resume from their
    newest checkpoint, missing ones start; then the outputs are (re)written."""
    sweep_dir = pathlib.Path(sweep_dir)
    path = sweep_dir / "sweep.json"
    if not path.exists():
        raise ConfigError(f"{sweep_dir} is not a jaxshape sweep folder (no sweep.json)")
    record = json.loads(path.read_text())
    spec = spec_from_dict({k: v for k, v in record["spec"].items()})
    if record["processes"] != jax.process_count():
        raise ConfigError(f"{sweep_dir} ran on {record['processes']} processes; resume it on as many "
                          f"(this is {jax.process_count()})")
    mesh = members_mesh() if record["shard"] and jax.local_device_count() > 1 else None
    devices = mesh.size if mesh is not None else 1
    if record["batch_size"] % devices:
        mesh = None  # fewer devices than before: run unsharded (same results)
    learner, base, _ = _build(spec)
    return _execute(sweep_dir, spec, record, learner, base, mesh, progress)


def _execute(sweep_dir, spec, record, learner, base, mesh, progress):
    started = time.perf_counter()
    totals = _run_batches(sweep_dir, spec, record, learner, base, mesh, progress)
    curves, finals, peaks = _gather(sweep_dir, record)
    best = _report(sweep_dir, spec, record, totals, curves, finals, peaks, started) if jax.process_index() == 0 else None
    if jax.process_count() > 1:  # leave together: the runtime's shutdown barrier waits only 5 minutes
        _wait_for_all_processes("jaxshape-sweep-written")
    return best


def _report(sweep_dir, spec, record, totals, curves, finals, peaks, started):
    """Process 0: timing and memory into sweep.json, then the results tables and plot."""
    wall = time.perf_counter() - started
    record["report"] = {
        "wall_seconds": wall, "compile_seconds_this_process": totals["compile_seconds"],
        "run_seconds_this_process": totals["run_seconds"],
        "steps_per_second_this_process": totals["member_steps"] / totals["run_seconds"] if totals["run_seconds"] else None,
        "peak_memory_per_process": peaks, "jax_version": jax.__version__, "device": str(jax.local_devices()[0]),
    }
    _write_json(sweep_dir / "sweep.json", record)
    return write_results(sweep_dir, record, curves, finals, spec.rank_by)


# ------------------------------------------------------------------------ results
def _batch_curves(run_dir: pathlib.Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(steps [U], training return [members, U], final greedy eval return [members]),
    NaN where a member has no finished episode (or no evaluation)."""
    records = read_metrics(run_dir)
    steps = np.array([r["step"] for r in records], np.float64)
    ret = np.array([[np.nan if v is None else v for v in r["episode_return_per_seed"]] for r in records], np.float64)
    evals = [r for r in records if "eval_return_per_seed" in r]
    final_eval = (np.array([np.nan if v is None else v for v in evals[-1]["eval_return_per_seed"]], np.float64)
                  if evals else np.full(ret.shape[1], np.nan))
    return steps, ret.T, final_eval


def _wait_for_all_processes(name: str, timeout_hours: float = 24.0) -> None:
    """A barrier on the distributed runtime's coordination service, which (unlike the
    collectives' 30 s set-up) waits as long as the slowest process trains."""
    from jax._src import distributed  # the public API has no barrier with a timeout

    distributed.global_state.client.wait_at_barrier(name, int(timeout_hours * 3.6e6))


def _gather(sweep_dir: pathlib.Path, record: dict) -> tuple[dict, np.ndarray, list]:
    """Every batch's curves on process 0 (an all-gather across processes under
    jax.distributed: batch folders need not be on a shared filesystem)."""
    mine = [b for b in record["batches"] if b["process"] == jax.process_index()]
    local = [_batch_curves(sweep_dir / b["name"]) for b in mine]
    peak = peak_memory()
    if jax.process_count() == 1:
        steps = local[0][0]
        return {b["name"]: c for b, c in zip(mine, local)}, steps, [peak]
    from jax.experimental import multihost_utils

    # float32 on the wire: returns are float32 on device already, so nothing is lost
    ret = np.stack([c[1] for c in local]).astype(np.float32)
    ev = np.stack([c[2] for c in local]).astype(np.float32)
    _wait_for_all_processes("jaxshape-sweep-trained")  # batches take uneven time; gloo waits only 30 s
    allret, allev, allpeak = multihost_utils.process_allgather(
        (ret, ev, np.array([peak["peak_bytes"] / 2**20], np.float32)))  # MiB: float32 holds it
    out = {}
    for b, batch in enumerate(record["batches"]):
        p, i = batch["process"], b // record["processes"]
        out[batch["name"]] = (local[0][0], np.asarray(allret[p, i], np.float64), np.asarray(allev[p, i], np.float64))
    peaks = [{"peak_bytes": int(x[0] * 2**20), "source": peak["source"]} for x in np.asarray(allpeak)]
    return out, local[0][0], peaks


def iqm(values: np.ndarray) -> float:
    """Interquartile mean: the mean of the middle 50% (finite values only)."""
    x = np.sort(np.asarray(values, np.float64)[np.isfinite(values)])
    if not len(x):
        return float("nan")
    cut = int(np.floor(0.25 * len(x)))
    return float(x[cut:len(x) - cut].mean())


def _stats(prefix: str, values: np.ndarray) -> dict[str, float | None]:
    finite = values[np.isfinite(values)]
    clean = lambda v: float(v) if math.isfinite(v) else None  # noqa: E731
    return {f"{prefix}_mean": clean(finite.mean()) if len(finite) else None,
            f"{prefix}_std": clean(finite.std()) if len(finite) else None,
            f"{prefix}_iqm": clean(iqm(finite))}


def member_results(record: dict, curves: dict) -> tuple[np.ndarray, np.ndarray]:
    """(training return curves [members, U], final eval returns [members]) in member
    order, the padding dropped."""
    num = len(record["members"])
    num_updates = next(iter(curves.values()))[1].shape[1]
    ret, ev = np.full((num, num_updates), np.nan), np.full(num, np.nan)
    for batch in record["batches"]:
        _, batch_ret, batch_ev = curves[batch["name"]]
        real = batch["members"][:batch["real"]]
        ret[real], ev[real] = batch_ret[:batch["real"]], batch_ev[:batch["real"]]
    return ret, ev


def write_results(sweep_dir: pathlib.Path, record: dict, curves: dict, steps: np.ndarray,
                  rank_by: str = "final_return_iqm") -> dict[str, Any]:
    """results.csv, results.json, best.json and sweep_curves.png; returns the best row.

    Final return: a member's training return at the last update. Area under the return
    curve: its trapezoid integral over env steps divided by the steps spanned (the
    average return over training; updates before the first finished episode skipped)."""
    ret, ev = member_results(record, curves)
    seeds = np.array([m["seed"] for m in record["members"]])
    owner = np.array([m["config"] for m in record["members"]])
    rows = []
    for c, values in enumerate(record["configurations"]):
        idx = np.flatnonzero(owner == c)
        finals = ret[idx, -1]
        aucs = np.array([_auc(steps, ret[i]) for i in idx])
        rows.append({"config": c, **values, **_stats("final_return", finals), **_stats("auc", aucs),
                     **_stats("final_eval_return", ev[idx]), "num_seeds": len(idx),
                     "seeds": seeds[idx].tolist(), "members": idx.tolist(),
                     "final_return_per_seed": [None if not math.isfinite(v) else float(v) for v in finals],
                     "auc_per_seed": [None if not math.isfinite(v) else float(v) for v in aucs]})
    ranked = [r for r in rows if r[rank_by] is not None]
    best = max(ranked, key=lambda r: r[rank_by]) if ranked else rows[0]
    _write_json(sweep_dir / "results.json", {"rank_by": rank_by, "rows": rows})
    _write_json(sweep_dir / "best.json", {"rank_by": rank_by, **best})
    flat = [{k: v for k, v in r.items() if not isinstance(v, list)} for r in rows]
    with (sweep_dir / "results.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(flat[0]))
        writer.writeheader()
        writer.writerows(flat)
    plot_sweep(steps, ret, owner, rows, sweep_dir / "sweep_curves.png", rank_by)
    return best


def _auc(steps: np.ndarray, curve: np.ndarray) -> float:
    ok = np.isfinite(curve)
    if ok.sum() < 2:
        return float(curve[ok][0]) if ok.any() else float("nan")
    x, y = steps[ok], curve[ok]
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2 / (x[-1] - x[0]))


def plot_sweep(steps: np.ndarray, ret: np.ndarray, owner: np.ndarray, rows: list[dict], out: pathlib.Path,
               rank_by: str, label_top: int = 10) -> pathlib.Path:
    """One curve per configuration (median over seeds, band from the 25th to the 75th
    percentile); the `label_top` best by `rank_by` in colour, the rest in grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = sorted(range(len(rows)), key=lambda c: -(rows[c][rank_by] if rows[c][rank_by] is not None else -np.inf))
    names = [k for k in rows[0] if k not in ("config",) and not k.startswith(("final_", "auc", "num_", "seeds",
                                                                            "members"))]
    fig, ax = plt.subplots(figsize=(8, 5))
    colours = plt.cm.tab10.colors
    for rank, c in reversed(list(enumerate(order))):
        curves = ret[owner == c]
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN updates before any episode ends
            mid = np.nanmedian(curves, axis=0)
            low, high = np.nanpercentile(curves, 25, axis=0), np.nanpercentile(curves, 75, axis=0)
        top = rank < label_top
        colour = colours[rank % len(colours)] if top else "0.6"
        label = ", ".join(f"{n}={rows[c][n]:.3g}" for n in names) if top else None
        ax.plot(steps, mid, color=colour, lw=1.6 if top else 0.8, label=label, zorder=3 if top else 1)
        ax.fill_between(steps, low, high, color=colour, alpha=0.18 if top else 0.06, linewidth=0)
    ax.set_xlabel("env steps per member")
    ax.set_ylabel("training return (median, 25-75% over seeds)")
    ax.set_title(f"{len(rows)} configurations x {rows[0]['num_seeds']} seeds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
