"""`jaxshape train`'s job: train `num_seeds` members in one vmapped, chunked run and
write the run folder (see `runlog.py`)."""

from __future__ import annotations

import dataclasses
import datetime
import pathlib
from typing import Any

import jax
import numpy as np
from tqdm.auto import tqdm

from jaxshape.driver import Driver
from jaxshape.errors import ConfigError
from jaxshape.runlog import RunLog


def default_run_dir(algo: str, env: str) -> pathlib.Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return pathlib.Path("runs") / f"{env.replace('/', '_')}-{algo}-{stamp}"


def _json_ready(hparams: Any) -> Any:
    return jax.tree.map(lambda x: np.asarray(x).tolist(), dataclasses.asdict(hparams))


def train(
    algo_name: str,
    learner: Any,
    hparams: Any,
    *,
    seed: int = 0,
    num_seeds: int = 1,
    out_dir: str | pathlib.Path | None = None,
    chunk_updates: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train `num_seeds` seeds of `learner` (a built algorithm, e.g. `make_ppo(...)`) with
    the same `hparams`, writing config.json, metrics.jsonl and summary.json.

    Returns the summary dict.
    """
    if num_seeds <= 0:
        raise ConfigError(f"num_seeds must be a positive integer, got {num_seeds}")
    config = learner.config
    log = RunLog(out_dir or default_run_dir(algo_name, config.env))
    if (reason := log.check_free()) is not None:
        raise ConfigError(reason)

    keys = jax.random.split(jax.random.PRNGKey(seed), num_seeds)
    member_hparams = jax.tree.map(lambda x: np.broadcast_to(x, (num_seeds,) + np.shape(x)), hparams)
    driver = Driver(learner, config.num_updates, chunk_updates or max(1, config.num_updates // 20))

    driver.compile(keys, member_hparams)
    log.start({
        "algo": algo_name,
        "seed": seed,
        "num_seeds": num_seeds,
        "chunk_updates": driver.chunk_size,
        "config": dataclasses.asdict(config),
        "hparams": _json_ready(hparams),
        "jax_version": jax.__version__,
        "device": str(jax.devices()[0]),
    })

    steps_per_member = config.num_updates * config.batch_size
    bar = tqdm(total=steps_per_member, unit="step", disable=not progress, desc=f"{algo_name} {config.env}")

    def on_chunk(metrics):
        records = log.append(metrics)
        bar.update(records[-1]["step"] - bar.n)
        ret = records[-1]["episode_return"]
        bar.set_postfix_str(f"return {ret:.1f}" if ret is not None else "return n/a")

    _, run_seconds = driver.run(keys, member_hparams, on_chunk)
    bar.close()

    summary = {
        "final_return": log.last["episode_return"],
        "final_return_per_seed": log.last["episode_return_per_seed"],
        "steps_per_member": steps_per_member,
        "num_seeds": num_seeds,
        "steps_per_second": steps_per_member * num_seeds / run_seconds,
        "run_seconds": run_seconds,
        "compile_seconds": driver.compile_seconds,
        "run_dir": str(log.dir),
    }
    log.finish(summary)
    return summary
