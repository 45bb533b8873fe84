"""A training job: members (seeds x hyperparameters) trained in one vmapped, chunked run,
with everything people look at between chunks.

Between two chunks, in Python: the NaN guard, an orbax checkpoint of the whole state,
periodic greedy evaluation, `metrics.jsonl` and TensorBoard events, and the progress
bar. `resume(run_dir)` restores the newest readable checkpoint and continues; on CPU the
resumed run ends bitwise equal to an uninterrupted one (tests/test_job.py).

The run folder:
    config.json          everything needed to rebuild and resume the run
    metrics.jsonl        one line per update (means over members and per-member lists)
    summary.json         final returns, steps/s (run only), compile seconds
    checkpoints/<update> orbax checkpoints (the last `keep_checkpoints`)
    tb/                  TensorBoard event files
    learning_curves.png  the plot of `jaxshape plot`
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import pathlib
import time
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from jaxshape import algorithms
from jaxshape.checkpoint import Checkpoints
from jaxshape.driver import Driver
from jaxshape.errors import ConfigError
from jaxshape.runlog import RunLog, read_config

DEFAULT_CHUNKS = 10  # progress, checkpoints and logs ten times a run unless --chunk-updates says otherwise
EVAL_SEED = 2**31 - 1  # evaluation keys are fold_in(PRNGKey(EVAL_SEED), update): independent of training


class TrainingDiverged(RuntimeError):
    """A NaN or infinity appeared in the losses or the parameters."""


@dataclasses.dataclass(frozen=True)
class JobOptions:
    """How the job runs (none of it changes the training result)."""

    chunk_updates: int | None = None  # updates per compiled chunk (default: a tenth of the run)
    eval_every: int = 5  # evaluate every this many chunks (and at the end); 0: only at the end
    eval_episodes: int = 10
    keep_checkpoints: int = 3
    progress: bool = True
    plot: bool = True


def default_run_dir(algo: str, env: str) -> pathlib.Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return pathlib.Path("runs") / f"{env.replace('/', '_')}-{algo}-{stamp}"


def broadcast_hparams(hparams: Any, num_members: int) -> Any:
    """The same hparams for every member (a leading member axis)."""
    return jax.tree.map(lambda x: jnp.broadcast_to(jnp.asarray(x), (num_members,) + jnp.shape(x)), hparams)


def _hparams_to_json(member_hparams: Any) -> dict:
    return jax.tree.map(lambda x: np.asarray(x).tolist(), dataclasses.asdict(member_hparams))


def _hparams_from_json(algo: str, payload: dict) -> Any:
    _, hparams_cls, _, _ = algorithms.builders(algo)
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), hparams_cls(**payload),
                        is_leaf=lambda x: isinstance(x, list))


def build_learner(algo: str, config: dict, reward: str = "") -> Any:
    """Rebuild a learner from its algorithm name, config dict and reward spec."""
    from jaxshape.rewards.spec import parse_reward_spec

    config_cls, _, make, _ = algorithms.builders(algo)
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in config.items() if k in fields}
    transform = parse_reward_spec(reward, config.get("env")) if reward else None
    return make(config_cls(**kwargs), transform=transform)


def _all_finite(tree: Any) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.floating)]
    return jnp.stack(leaves).all() if leaves else jnp.bool_(True)


class Job:
    """One run folder's training: fresh (`start`) or continued (`resume`)."""

    def __init__(self, log: RunLog, learner: Any, member_hparams: Any, seeds: Sequence[int], options: JobOptions):
        self.log, self.learner, self.options = log, learner, options
        self.member_hparams = member_hparams
        self.keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray(seeds, jnp.uint32))
        config = learner.config
        self.steps_per_update = config.batch_size
        target = options.chunk_updates or -(-config.num_updates // DEFAULT_CHUNKS)
        self.driver = Driver(learner, config.num_updates, target)
        self._checkpoints: Checkpoints | None = None
        self._evaluate = jax.jit(jax.vmap(
            functools.partial(learner.evaluate, num_episodes=options.eval_episodes), in_axes=(0, 0, None)
        )) if hasattr(learner, "evaluate") else None
        self._finite = jax.jit(jax.vmap(lambda state: _all_finite(state.params)))

    @property
    def checkpoints(self) -> Checkpoints:
        if self._checkpoints is None:  # created on first use: a failed compile leaves no folder
            self._checkpoints = Checkpoints(self.log.dir / "checkpoints", keep=self.options.keep_checkpoints)
        return self._checkpoints

    # ------------------------------------------------------------------ compile
    def compile(self) -> float:
        start = time.perf_counter()
        self.driver.compile(self.keys, self.member_hparams)
        abstract = self.driver.state_shape(self.keys, self.member_hparams)
        if self._evaluate is not None:
            eval_key = jax.random.PRNGKey(EVAL_SEED)
            self._evaluate = self._evaluate.lower(abstract, self.member_hparams, eval_key).compile()
        self._finite = self._finite.lower(abstract).compile()
        return time.perf_counter() - start

    # ---------------------------------------------------------------------- run
    def run(self, start_update: int = 0, state: Any = None, compile_seconds: float = 0.0) -> dict[str, Any]:
        cfg, opts = self.learner.config, self.options
        total = cfg.num_updates * self.steps_per_update
        bar = tqdm(total=total, initial=start_update * self.steps_per_update, unit="step",
                   disable=not opts.progress, desc=f"{self.log.algo} {cfg.env}")
        started = time.perf_counter()
        if state is None:
            state = self.driver.init(self.keys, self.member_hparams)
        try:
            for done, state, metrics in self.driver.chunks(state, self.member_hparams, start_update):
                metrics = jax.device_get(metrics)
                self._guard_finite(done, state, metrics)
                self.checkpoints.save(done, state)
                chunk_index = -(-done // self.driver.chunk_size)  # absolute: the same schedule after a resume
                last = done == cfg.num_updates
                if self._evaluate is not None and (last or (opts.eval_every and chunk_index % opts.eval_every == 0)):
                    metrics = self._with_evaluation(done, state, metrics)
                records = self.log.append(metrics)
                bar.update(records[-1]["step"] - bar.n)
                ret = records[-1]["episode_return"]
                bar.set_postfix_str(f"return {ret:.1f}" if ret is not None else "return n/a")
            jax.block_until_ready(state)
        finally:
            bar.close()
            self.checkpoints.close()
            self.log.close()
        run_seconds = time.perf_counter() - started
        return self._finish(start_update, run_seconds, compile_seconds)

    def _guard_finite(self, done: int, state: Any, metrics: dict[str, np.ndarray]) -> None:
        losses = np.stack([np.asarray(v, np.float64) for k, v in metrics.items() if k.startswith("loss")])
        finite_updates = np.isfinite(losses).all(axis=(0, 1))  # per update of the chunk
        params_ok = np.asarray(self._finite(state))
        if finite_updates.all() and params_ok.all():
            return
        chunk_start = done - losses.shape[-1] + 1
        first = chunk_start + int(np.argmin(finite_updates)) if not finite_updates.all() else done
        members = sorted(set(np.flatnonzero(~params_ok).tolist())
                         | set(np.flatnonzero(~np.isfinite(losses).all(axis=(0, 2))).tolist()))
        kept = self.checkpoints.updates()
        raise TrainingDiverged(
            f"NaN or inf at update {first} (members {members}); the last good checkpoint "
            f"(update {kept[-1] if kept else 'none'}) is kept in {self.checkpoints.directory}"
        )

    def _with_evaluation(self, done: int, state: Any, metrics: dict) -> dict:
        key = jax.random.fold_in(jax.random.PRNGKey(EVAL_SEED), done)
        result = jax.device_get(self._evaluate(state, self.member_hparams, key))
        ran = np.shape(metrics["step"])[1]
        for name, per_member in result.items():  # reported on the chunk's last update only
            column = np.full((len(per_member), ran), np.nan, np.float32)
            column[:, -1] = per_member
            metrics[name] = column
        return metrics

    def _finish(self, start_update: int, run_seconds: float, compile_seconds: float) -> dict[str, Any]:
        cfg = self.learner.config
        members = int(self.keys.shape[0])
        steps = (cfg.num_updates - start_update) * self.steps_per_update
        last = self.log.last or {}
        summary = {
            "final_return": last.get("episode_return"),
            "final_return_per_seed": last.get("episode_return_per_seed"),
            "final_eval_return": last.get("eval_return"),
            "final_eval_return_per_seed": last.get("eval_return_per_seed"),
            "steps_per_member": cfg.num_updates * self.steps_per_update,
            "num_members": members,
            "resumed_from_update": start_update,
            "steps_per_second": steps * members / run_seconds if steps else None,
            "run_seconds": run_seconds,
            "compile_seconds": compile_seconds,
            "run_dir": str(self.log.dir),
        }
        self.log.finish(summary)
        if self.options.plot:
            from jaxshape.plotting import plot_runs

            plot_runs([self.log.dir], self.log.dir / "learning_curves.png")
        return summary


def train(
    algo_name: str,
    learner: Any,
    hparams: Any,
    *,
    seed: int = 0,
    num_seeds: int = 1,
    seeds: Sequence[int] | None = None,
    member_hparams: Any = None,
    out_dir: str | pathlib.Path | None = None,
    reward: str = "",
    options: JobOptions = JobOptions(),
    extra_config: dict | None = None,
) -> dict[str, Any]:
    """Train members of `learner` (built by e.g. `make_ppo`) and write a run folder.

    Members are `num_seeds` seeds (`seed`, `seed+1`, ...) of the same `hparams`, or
    explicit `seeds` with per-member `member_hparams` (a leading member axis). `reward`
    is the reward spec the learner was built from (needed to resume from the CLI).
    Returns the summary dict.
    """
    if seeds is None:
        if num_seeds <= 0:
            raise ConfigError(f"num_seeds must be a positive integer, got {num_seeds}")
        seeds = [seed + i for i in range(num_seeds)]
    if member_hparams is None:
        member_hparams = broadcast_hparams(hparams, len(seeds))
    log = RunLog(out_dir or default_run_dir(algo_name, learner.config.env), algo_name)
    if (reason := log.check_free()) is not None:
        raise ConfigError(reason)

    job = Job(log, learner, member_hparams, seeds, options)
    compile_seconds = job.compile()
    log.start({
        "algo": algo_name,
        "config": dataclasses.asdict(learner.config),
        "reward": reward,
        "seeds": list(map(int, seeds)),
        "hparams": _hparams_to_json(member_hparams),
        "options": dataclasses.asdict(options),
        "chunk_updates": job.driver.chunk_size,
        "jax_version": jax.__version__,
        "device": str(jax.devices()[0]),
        **(extra_config or {}),
    })
    return job.run(compile_seconds=compile_seconds)


def resume(run_dir: str | pathlib.Path, learner: Any = None, progress: bool = True) -> dict[str, Any]:
    """Continue a run from its newest readable checkpoint (a fresh start if it has none).

    `learner` rebuilds from config.json by default; pass one for runs whose reward
    transform was built in Python rather than from a reward spec."""
    run_dir = pathlib.Path(run_dir)
    saved = read_config(run_dir)
    algo = saved["algo"]
    learner = learner or build_learner(algo, saved["config"], saved.get("reward", ""))
    options = dataclasses.replace(JobOptions(**saved["options"]), progress=progress)
    member_hparams = _hparams_from_json(algo, saved["hparams"])
    job = Job(RunLog(run_dir, algo), learner, member_hparams, saved["seeds"], options)
    compile_seconds = job.compile()

    abstract = job.driver.state_shape(job.keys, member_hparams)
    restored = job.checkpoints.restore(abstract)
    start_update, state = restored if restored is not None else (0, None)
    summary_path = run_dir / "summary.json"
    if start_update == learner.config.num_updates and summary_path.exists():
        job.checkpoints.close()
        return json.loads(summary_path.read_text())  # already complete: change nothing
    job.log.reopen(keep_through_step=start_update * job.steps_per_update)
    return job.run(start_update, state, compile_seconds)
