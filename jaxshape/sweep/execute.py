"""Running a sweep: every member (one configuration, one seed) trains from ONE compilation.

Members are stacked along a leading axis and split into equal batches
(`jaxshape.sweep.plan`); one `Driver` compiles the batch programs once and every batch
reuses them, so nothing recompiles. Each batch is an ordinary run folder (`jaxshape
train --resume SWEEP/batch-000` works) and `resume_sweep` continues a sweep.

Members are sharded over this process's devices. With `jax.distributed.initialize`,
batches are dealt out to processes (batch i runs on process i mod P, each on its own
devices; members never communicate), results are gathered with
`multihost_utils.process_allgather`, and only process 0 writes the sweep's outputs.

The sweep folder:
    sweep.json           the space, the configurations, members, batches, and a report
    batch-NNN/           one run folder per batch (metrics.jsonl has per-member curves)
    results.csv/.json    one row per configuration (see jaxshape.sweep.report)
    best.json            the best configuration (by `rank_by`)
    sweep_curves.png     learning curves per configuration with seed bands
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time
from typing import Any

import jax
import numpy as np

from jaxshape import pytree
from jaxshape.errors import ConfigError
from jaxshape.run import builder, job
from jaxshape.run.driver import Driver, members_mesh
from jaxshape.sweep import pbt as population
from jaxshape.sweep import plan as planning
from jaxshape.sweep.report import FITNESS, batch_curves, write_candidate_report, write_json, write_results
from jaxshape.sweep.spec import RANK_KEYS, SweepSpec, configurations, spec_from_dict, with_values


def _options(spec: SweepSpec) -> job.JobOptions:
    return job.JobOptions.from_dict({"plot": False, "eval_every": 0, **spec.options})


def _build(spec: SweepSpec) -> tuple[Any, Any]:
    """(learner, default hparams); validates the config before anything compiles."""
    return builder.build(spec.algo, spec.config, spec.reward, spec.reward_candidates, **spec.hparams)


def _with_candidates(spec: SweepSpec, base: Any) -> SweepSpec:
    """With reward candidates, `reward.index` is a grid axis over all of them (unless
    given: then each value must be an integer in [0, K), K candidates)."""
    if not spec.reward_candidates:
        return spec
    count = len([name for name in base.reward if name != "index"])
    if "reward.index" in spec.random:
        raise ConfigError("reward.index picks a reward candidate: give it as a grid of integers, not a random draw")
    if "reward.index" in spec.grid:
        if bad := [v for v in spec.grid["reward.index"] if not _is_index(v, count)]:
            raise ConfigError(f"reward.index {bad} names no candidate: there are {count}, indices 0 to {count - 1}")
        return spec
    path = str(pathlib.Path(spec.reward_candidates).resolve())
    return dataclasses.replace(spec, reward_candidates=path, grid={"reward.index": list(range(count)), **spec.grid})


def _pbt_config(spec: SweepSpec) -> population.PBTConfig | None:
    if not spec.pbt:
        return None
    try:
        return population.PBTConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec.pbt.items()})
    except TypeError as err:
        raise ConfigError(f"bad pbt settings {spec.pbt!r}: {err}; give every, fraction and perturb") from None


def _boundary(spec: SweepSpec, sweep_dir: pathlib.Path) -> job.Boundary | None:
    """Population-based training between chunks, when the spec asks for it."""
    config = _pbt_config(spec)
    return None if config is None else population.boundary(
        config, population.search_bounds(spec.grid, spec.random), sweep_dir / "pbt_events.jsonl", spec.search_seed)


def _check_pbt(spec: SweepSpec, record: dict) -> None:
    if spec.pbt and len(record["batches"]) > 1:
        raise ConfigError(f"population-based training needs every member in one batch, but the "
                          f"{len(record['members'])} members make {len(record['batches'])} batches: raise --max-batch "
                          f"or train fewer members")


def _is_index(value: Any, count: int) -> bool:
    try:
        return float(value).is_integer() and 0 <= float(value) < count
    except (TypeError, ValueError):
        return False


def _mesh(shard: bool):
    return members_mesh() if shard and jax.local_device_count() > 1 else None


# ------------------------------------------------------------------------ running
def _run_batches(sweep_dir: pathlib.Path, spec: SweepSpec, record: dict, driver: Driver, base: Any,
                 progress: bool, restart: bool = False) -> dict[str, Any]:
    """Train (or resume, or with `restart` train again) this process's unfinished batches with
    one driver; returns timing totals."""
    configs, members = record["configurations"], record["members"]
    options = dataclasses.replace(_options(spec), progress=progress)
    totals = {"compile_seconds": 0.0, "run_seconds": 0.0, "member_steps": 0}
    boundary = _boundary(spec, sweep_dir)
    for batch in record["batches"]:
        out = sweep_dir / batch["name"]
        if batch["process"] != jax.process_index() or (out / "summary.json").exists():
            continue
        if (out / "config.json").exists():
            summary = job.resume(out, learner=driver.learner, progress=progress, driver=driver, restart=restart,
                                 boundary=boundary)
        else:
            seeds = [members[m]["seed"] for m in batch["members"]]
            stacked = pytree.stack([with_values(base, configs[members[m]["config"]]) for m in batch["members"]])
            summary = job.train(spec.algo, driver.learner, base, seeds=seeds, member_hparams=stacked, out_dir=out,
                                reward=spec.reward, options=options, driver=driver,
                                extra_config={"sweep": {"dir": str(sweep_dir), "batch": batch["name"],
                                                        "members": batch["members"], "real": batch["real"]},
                                              "reward_candidates": spec.reward_candidates,
                                              **({"preset": spec.preset} if spec.preset else {})},
                                boundary=boundary)
        totals["compile_seconds"] += summary["compile_seconds"]
        totals["run_seconds"] += summary["run_seconds"]
        totals["member_steps"] += (summary["steps_per_second"] or 0.0) * summary["run_seconds"]
    return totals


def run_sweep(spec: SweepSpec, out_dir: str | pathlib.Path, *, shard: bool = True,
              progress: bool = True) -> dict[str, Any] | None:
    """Run the sweep into `out_dir` and write its outputs; returns the best
    configuration's row (None on processes other than 0)."""
    learner, base = _build(spec)
    spec = _with_candidates(spec, base)
    if spec.rank_by not in RANK_KEYS:
        raise ConfigError(f"rank_by must be one of {', '.join(RANK_KEYS)}, got {spec.rank_by!r}")
    if spec.fitness not in FITNESS:
        raise ConfigError(f"fitness must be one of {', '.join(FITNESS)}, got {spec.fitness!r}")
    if spec.reward_candidates and spec.fitness == "success" and not builder.reports_success(learner, base):
        raise ConfigError(f"--fitness success needs an env that reports info['is_success']; {learner.config.env!r} "
                          "does not: rank by return or eval_return")
    if _options(spec).eval_episodes == 0 and "eval" in spec.fitness + spec.rank_by:
        raise ConfigError("--eval-episodes 0 evaluates nothing, so there is no eval return to rank by: "
                          "give --eval-episodes N or rank by the training return")
    configs = configurations(spec, base, builder.builders(spec.algo)[0])
    sweep_dir = pathlib.Path(out_dir)
    if (sweep_dir / "sweep.json").exists():
        raise ConfigError(f"{sweep_dir} already holds a sweep; choose another --out, or --resume it")
    if jax.process_count() > 1:  # every process checks before process 0 writes (a shared folder would race)
        _wait_for_all_processes("jaxshape-sweep-checked")
    mesh = _mesh(shard)
    devices = mesh.size if mesh is not None else 1
    driver = job.make_driver(learner, _options(spec), mesh)
    per_device = planning.members_that_fit(job.make_driver(learner, _options(spec)), base)
    record = {"spec": {**dataclasses.asdict(spec), "seeds": list(spec.seeds)},
              "space": {"grid": spec.grid, "random": spec.random, "num_samples": spec.num_samples},
              **planning.plan(configs, spec.seeds, spec.max_batch, per_device, devices, jax.process_count()),
              "members_per_device_that_fit": per_device, "shard": shard}
    _pbt_config(spec)  # checked before anything is written
    _check_pbt(spec, record)
    if jax.process_index() == 0:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        write_json(sweep_dir / "sweep.json", record)
    return _execute(sweep_dir, spec, record, driver, base, progress)


def resume_sweep(sweep_dir: str | pathlib.Path, progress: bool = True, restart: bool = False) -> dict[str, Any] | None:
    """Continue a sweep: finished batches are kept, interrupted ones resume from their
    newest checkpoint, missing ones start; then the outputs are (re)written. A batch whose
    every checkpoint is unreadable stops the sweep untouched (`CheckpointsUnreadable`);
    `restart=True` trains every interrupted batch again from update 0 instead, its
    checkpoints moved to `discarded_checkpoints/` (`jaxshape.run.job.resume`)."""
    sweep_dir = pathlib.Path(sweep_dir)
    path = sweep_dir / "sweep.json"
    if not path.exists():
        raise ConfigError(f"{sweep_dir} is not a jaxshape sweep folder (no sweep.json)")
    record = json.loads(path.read_text())
    spec = spec_from_dict(dict(record["spec"]))
    if record["processes"] != jax.process_count():
        raise ConfigError(f"{sweep_dir} ran on {record['processes']} processes; resume it on as many "
                          f"(this is {jax.process_count()})")
    mesh = _mesh(record["shard"])
    if mesh is not None and record["batch_size"] % mesh.size:
        mesh = None  # fewer devices than before: run unsharded (same results)
    learner, base = _build(spec)
    return _execute(sweep_dir, spec, record, job.make_driver(learner, _options(spec), mesh), base, progress, restart)


def _execute(sweep_dir, spec, record, driver, base, progress, restart=False):
    started = time.perf_counter()
    totals = _run_batches(sweep_dir, spec, record, driver, base, progress, restart)
    curves, finals, peaks = _gather(sweep_dir, record)
    best = (_report(sweep_dir, spec, record, totals, curves, finals, peaks, started, driver.learner.transform)
            if jax.process_index() == 0 else None)
    if jax.process_count() > 1:  # leave together: the runtime's shutdown barrier waits only 5 minutes
        _wait_for_all_processes("jaxshape-sweep-written")
    return best


def _report(sweep_dir, spec, record, totals, curves, steps, peaks, started, transform):
    """Process 0: timing and memory into sweep.json, then the results tables and plot."""
    wall = time.perf_counter() - started
    record["report"] = {
        "wall_seconds": wall, "compile_seconds_this_process": totals["compile_seconds"],
        "run_seconds_this_process": totals["run_seconds"],
        "steps_per_second_this_process": totals["member_steps"] / totals["run_seconds"] if totals["run_seconds"] else None,
        "peak_memory_per_process": peaks, "jax_version": jax.__version__, "device": str(jax.local_devices()[0]),
    }
    write_json(sweep_dir / "sweep.json", record)
    best = write_results(sweep_dir, record, curves, steps, spec.rank_by)
    if spec.pbt:
        best = population.write_best_member(sweep_dir, record, spec.rank_by)
    if spec.reward_candidates:
        if jax.process_count() == 1:
            streams = {s.name: s.coef for s in transform.all_streams}
            names = [n for n in transform.default_hparams if n != "index"]  # select's candidates, in order
            write_candidate_report(sweep_dir, record, curves, streams, names, spec.fitness)
        else:
            print("candidates.json needs every batch folder on process 0; rerun the report there")
    return best



# ------------------------------------------------------------------ several processes
def _wait_for_all_processes(name: str, timeout_hours: float = 24.0) -> None:
    """A barrier on the distributed runtime's coordination service, which (unlike the
    collectives' 30 s set-up) waits as long as the slowest process trains."""
    from jax._src import distributed  # the public API has no barrier with a timeout

    distributed.global_state.client.wait_at_barrier(name, int(timeout_hours * 3.6e6))


def _gather(sweep_dir: pathlib.Path, record: dict) -> tuple[dict, np.ndarray, list]:
    """Every batch's curves on process 0 (an all-gather across processes under
    jax.distributed: batch folders need not be on a shared filesystem)."""
    mine = [b for b in record["batches"] if b["process"] == jax.process_index()]
    local = [batch_curves(sweep_dir / b["name"]) for b in mine]
    peak = planning.peak_memory()
    if jax.process_count() == 1:
        return {b["name"]: c for b, c in zip(mine, local)}, local[0][0], [peak]
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
