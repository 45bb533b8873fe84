"""A training job: members (seeds x hyperparameters) trained in one vmapped, chunked run,
with everything people look at between chunks.

The compiled chunk (jaxshape/run/driver.py) also checks the parameters for NaNs and runs
the periodic greedy evaluation. After each chunk, on the host: the NaN guard, an orbax
checkpoint of the whole state (at most every `checkpoint_seconds`, and always after the
last chunk), `metrics.jsonl` and TensorBoard events, and the progress bar. The host does
that work for chunk i while the device already runs chunk i+1 (JAX dispatches
asynchronously; metrics are fetched one chunk late), so bookkeeping costs the device
little. `resume(run_dir)` restores the newest readable checkpoint and
continues; on CPU the resumed run ends bitwise equal to an uninterrupted one
(tests/test_job.py). A folder in another checkpoint format is refused before anything is
built, a run whose every checkpoint is unreadable stops without touching anything, and
`resume(run_dir, restart=True)` is the explicit way to train it again from update 0.

The run folder:
    config.json          everything needed to rebuild and resume the run, with the
                         checkpoint format and jaxshape version that wrote it
    metrics.jsonl        one line per update (means over members and per-member lists)
    summary.json         final returns, steps/s (run only), compile seconds
    checkpoints/<update> orbax checkpoints (the last `keep_checkpoints`)
    tb/                  TensorBoard event files
    wandb/, wandb_runs.json  with --logger wandb: one W&B run per member (jaxshape/run/wandb_logger.py)
    learning_curves.png  the plot of `jaxshape plot`
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib.util
import json
import pathlib
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from jaxshape.errors import ConfigError
from jaxshape.run import builder
from jaxshape.run.checkpoints import Checkpoints, check_format, format_record
from jaxshape.run.driver import Driver, envs_mesh
from jaxshape.run.logs import RunLog, read_config

LOGGERS = ("tensorboard", "wandb")
DEFAULT_CHUNKS = 10  # progress and logs ten times a run unless chunk_updates says otherwise


class TrainingDiverged(RuntimeError):
    """A NaN or infinity appeared in the losses or the parameters."""


@dataclasses.dataclass(frozen=True)
class Boundary:
    """A step over all members between chunks (population-based training,
    jaxshape/sweep/pbt.py), on the device: no host round trip of parameters.

    `step(state, hparams, chunk_metrics, updates_done) -> (state, hparams, events)` runs
    after every `every`-th chunk but the last (jitted; the next chunk trains the members
    it returns, with the same compiled program); `record(events, updates_done)` gets the
    events on the host when the job handles that chunk; `rewind(update)` drops what
    `record` wrote after `update` when a run resumes from there. With a boundary the
    checkpoints hold the hyperparameters beside the state, so a resume continues with the
    hyperparameters the members had."""

    every: int
    step: Callable[..., tuple[Any, Any, Any]]
    record: Callable[[Any, int], None]
    rewind: Callable[[int], None]


@dataclasses.dataclass(frozen=True)
class JobOptions:
    """How the job runs (none of it changes the training result). The CLI makes a flag
    of each field (`--chunk-updates`, `--eval-every`, ...)."""

    chunk_updates: int | None = dataclasses.field(
        default=None, metadata={"help": "updates per compiled chunk between logs and checkpoints "
                                        "(default: a tenth of the run)", "type": int})
    eval_every: int = dataclasses.field(
        default=5, metadata={"help": "evaluate every N chunks and at the end; 0: only at the end", "min": 0})
    eval_episodes: int = dataclasses.field(
        default=10, metadata={"help": "greedy episodes per member; 0: never evaluate (nothing compiled for it)",
                              "min": 0})
    keep_checkpoints: int = dataclasses.field(default=3, metadata={"help": "checkpoints kept on disk"})
    checkpoint_seconds: float = dataclasses.field(
        default=30.0, metadata={"help": "checkpoint after a chunk once this many seconds passed since the last "
                                        "checkpoint (and always after the last chunk); 0: after every chunk",
                                "min": 0})
    devices: int = dataclasses.field(
        default=1, metadata={"help": "split each member's envs over this many local devices (one agent on several "
                                     "devices; the result is the one-device result up to float rounding); "
                                     "0: every local device", "min": 0})
    progress: bool = dataclasses.field(default=True, metadata={"help": "show a progress bar"})
    plot: bool = dataclasses.field(default=True, metadata={"help": "write learning_curves.png at the end"})
    logger: str = dataclasses.field(
        default="tensorboard", metadata={"choices": LOGGERS, "help": "tensorboard, or wandb: also one W&B run per member, grouped "
                                                 "(needs pip install -e '.[wandb]'; WANDB_MODE=offline works "
                                                 "without a network). metrics.jsonl and TensorBoard are always "
                                                 "written"})

    def __post_init__(self):
        if self.logger not in LOGGERS:
            raise ConfigError(f"--logger must be one of {', '.join(LOGGERS)}, got {self.logger!r}")
        if self.logger == "wandb" and importlib.util.find_spec("wandb") is None:
            raise ConfigError("--logger wandb needs W&B, which is not installed: pip install -e '.[wandb]'")
        for field in dataclasses.fields(self):
            value, low = getattr(self, field.name), field.metadata.get("min", 1)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value < low:
                bound = "0 or more" if low == 0 else "a positive integer"
                raise ConfigError(f"--{field.name.replace('_', '-')} must be {bound}, got {value}")

    @classmethod
    def from_dict(cls, settings: dict[str, Any]) -> "JobOptions":
        """Options from a spec file's table: an unknown name or a value of the wrong type is
        one line (a ConfigError), like a bad flag."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if unknown := sorted(set(map(str, settings)) - set(fields)):
            raise ConfigError(f"unknown job option(s) {', '.join(unknown)}: choose from {', '.join(fields)}")
        defaults = cls()
        for name, value in settings.items():
            default = getattr(defaults, name)
            kind = fields[name].metadata.get("type", type(default))
            numbers = (int, float) if kind is float else kind
            if not (isinstance(value, numbers) and (kind is bool) == isinstance(value, bool)) and not (
                    value is None and default is None):
                raise ConfigError(f"job option {name} must be {'true or false' if kind is bool else 'a number'}"
                                  f"{' (integer)' if kind is int else ''}, got {value!r:.60}")
        return cls(**settings)

    def chunk_size(self, num_updates: int) -> int:
        return self.chunk_updates or -(-num_updates // DEFAULT_CHUNKS)


def default_run_dir(algo: str, env: str) -> pathlib.Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return pathlib.Path("runs") / f"{env.replace('/', '_')}-{algo}-{stamp}"


def broadcast_hparams(hparams: Any, num_members: int) -> Any:
    """The same hparams for every member (a leading member axis)."""
    return jax.tree.map(lambda x: jnp.broadcast_to(jnp.asarray(x), (num_members,) + jnp.shape(x)), hparams)


def make_driver(learner: Any, options: JobOptions, mesh: Any = None) -> Driver:
    """The driver a job with these options runs (keep it to reuse its compiled programs).
    `mesh` splits the members (a sweep's); `options.devices` splits each member's envs."""
    num_updates = learner.config.num_updates
    if options.devices != 1:
        if mesh is not None:
            raise ConfigError("--devices splits one member's envs over devices; a sweep splits its members "
                              "instead: drop --devices")
        mesh = envs_mesh(options.devices or None)
    return Driver(learner, num_updates, options.chunk_size(num_updates), mesh=mesh,
                  eval_episodes=options.eval_episodes)


class Job:
    """One run folder's training: fresh (`start`) or continued (`resume`)."""

    def __init__(self, log: RunLog, driver: Driver, member_hparams: Any, seeds: Sequence[int], options: JobOptions,
                 boundary: Boundary | None = None):
        self.log, self.driver, self.options, self.boundary = log, driver, options, boundary
        self.learner = driver.learner
        self.member_hparams = driver.place(member_hparams)
        self.keys = driver.place(jax.vmap(jax.random.PRNGKey)(jnp.asarray(seeds, jnp.uint32)))
        self.steps_per_update = self.learner.config.batch_size
        self._checkpoints: Checkpoints | None = None

    @property
    def checkpoints(self) -> Checkpoints:
        if self._checkpoints is None:  # created on first use: a failed compile leaves no folder
            self._checkpoints = Checkpoints(self.log.dir / "checkpoints", keep=self.options.keep_checkpoints,
                                            owner=True)
        return self._checkpoints

    def compile(self) -> float:
        return self.driver.compile(self.keys, self.member_hparams)

    # ---------------------------------------------------------------------- run
    def run(self, start_update: int = 0, state: Any = None, compile_seconds: float = 0.0) -> dict[str, Any]:
        """Run the remaining chunks. Chunk i+1 is dispatched before the host handles
        chunk i (its state is not donated, so both stay readable)."""
        cfg = self.learner.config
        bar = tqdm(total=cfg.num_updates * self.steps_per_update, initial=start_update * self.steps_per_update,
                   unit="step", disable=not self.options.progress, desc=f"{self.log.algo} {cfg.env}")
        started = self._last_checkpoint = time.perf_counter()
        try:
            if state is None:  # the first chunk initialises the members
                state = self.driver.placeholder_state(self.keys, self.member_hparams)
            finished = None  # the chunk the host has yet to handle
            for first in self.driver.chunk_starts(start_update):
                done = self.driver.updates_done(first)
                state, metrics, finite, evaluation = self.driver.chunk(
                    state, self.member_hparams, self.keys, first, evaluate=self._evaluation_due(done))
                events = None
                if self._boundary_due(done):
                    state, hparams, events = self.boundary.step(state, self.member_hparams, metrics, np.int32(done))
                    state, self.member_hparams = self.driver.place(state), self.driver.place(hparams)
                if finished is not None:
                    self._after_chunk(*finished, bar)  # while the device runs this chunk
                finished = (first, state, metrics, finite, evaluation, self.member_hparams, events)
            if finished is not None:
                self._after_chunk(*finished, bar)
            self.checkpoints.wait()
            failed = False
        except BaseException:  # a diverged or interrupted run: its W&B runs are marked failed
            failed = True
            raise
        finally:
            bar.close()
            if self._checkpoints is not None:
                self._checkpoints.close()
            self.log.close(failed=failed)
        run_seconds = time.perf_counter() - started
        return self._finish(start_update, run_seconds, compile_seconds)

    def _boundary_due(self, done: int) -> bool:
        chunk_index = -(-done // self.driver.chunk_size)
        return (self.boundary is not None and done < self.learner.config.num_updates
                and chunk_index % self.boundary.every == 0)

    def checkpoint_payload(self, state: Any, hparams: Any) -> Any:
        """What a checkpoint holds: the state, and with a boundary the hyperparameters too."""
        return state if self.boundary is None else {"state": state, "hparams": hparams}

    def _evaluation_due(self, done: int) -> bool:
        """Greedy evaluation after every `eval_every`-th chunk and after the last."""
        chunk_index = -(-done // self.driver.chunk_size)  # absolute: the same schedule after a resume
        every = self.options.eval_every
        return done == self.learner.config.num_updates or bool(every and chunk_index % every == 0)

    def _after_chunk(self, first: int, state: Any, metrics: dict, finite: jax.Array, evaluation: dict,
                     hparams: Any, events: Any, bar: tqdm) -> None:
        """The host's work at a chunk boundary: guard, boundary events, checkpoint, log
        (events before the checkpoint: a resume rewinds them to the checkpoint it uses)."""
        done = self.driver.updates_done(first)
        metrics, finite = self.driver.host_metrics(metrics, first), jax.device_get(finite)
        self._guard_finite(done, finite, metrics)
        if events is not None:
            self.boundary.record(events, done)
        now = time.perf_counter()
        if done == self.learner.config.num_updates or now - self._last_checkpoint >= self.options.checkpoint_seconds:
            self.checkpoints.save(done, self.checkpoint_payload(state, hparams))
            self._last_checkpoint = now
        if self._evaluation_due(done):
            metrics = _with_evaluation(metrics, jax.device_get(evaluation))
        changing = self.boundary is not None and self.options.logger == "wandb"  # PBT's hparams, for W&B
        records = self.log.append(metrics, _hparams_by_name(hparams) if changing else None)
        bar.update(records[-1]["step"] - bar.n)
        ret = records[-1]["episode_return"]
        bar.set_postfix_str(f"return {ret:.1f}" if ret is not None else "return n/a")

    def _guard_finite(self, done: int, params_ok: np.ndarray, metrics: dict[str, np.ndarray]) -> None:
        losses = np.stack([np.asarray(v, np.float64) for k, v in metrics.items() if k.startswith("loss")])
        finite_updates = np.isfinite(losses).all(axis=(0, 1))  # per update of the chunk
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
        if self.boundary is not None:  # the hyperparameters the members ended with
            summary["final_hparams"] = builder.hparams_to_json(jax.device_get(self.member_hparams))
        self.log.finish(summary)
        if self.options.plot:
            from jaxshape.run.plotting import plot_runs

            plot_runs([self.log.dir], self.log.dir / "learning_curves.png")
        return summary


def _hparams_by_name(hparams: Any) -> dict[str, np.ndarray]:
    """{dotted name: [members]} of the scalar-per-member hyperparameters."""
    from jaxshape.pytree import leaf_names

    leaves = jax.device_get(jax.tree.leaves(hparams))
    return {name: np.asarray(leaf) for name, leaf in zip(leaf_names(hparams), leaves) if np.ndim(leaf) == 1}


def _with_evaluation(metrics: dict, result: dict) -> dict:
    """Evaluation results as metric columns, reported on the chunk's last update only."""
    ran = np.shape(metrics["step"])[1]
    for name, per_member in result.items():
        column = np.full((len(per_member), ran), np.nan, np.float32)
        column[:, -1] = per_member
        metrics[name] = column
    return metrics


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
    driver: Driver | None = None,
    extra_config: dict | None = None,
    boundary: Boundary | None = None,
) -> dict[str, Any]:
    """Train members of `learner` (built by e.g. `make_ppo`) and write a run folder.

    Members are `num_seeds` seeds (`seed`, `seed+1`, ...) of the same `hparams`, or
    explicit `seeds` with per-member `member_hparams` (a leading member axis). `reward`
    is the reward spec the learner was built from (needed to resume from the CLI).
    `driver` (from `make_driver`) reuses programs compiled for an earlier job with the
    same member shapes, or shards the members over its mesh. `boundary` runs between
    chunks (population-based training). Returns the summary dict.
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

    job = Job(log, driver or make_driver(learner, options), member_hparams, seeds, options, boundary)
    compile_seconds = job.compile()
    log.start({
        "algo": algo_name,
        "config": dataclasses.asdict(learner.config),
        "reward": reward,
        "seeds": list(map(int, seeds)),
        "hparams": builder.hparams_to_json(member_hparams),
        "options": dataclasses.asdict(options),
        "chunk_updates": job.driver.chunk_size,
        "jax_version": jax.__version__,
        **format_record(),
        "device": str(jax.devices()[0]),
        **(extra_config or {}),
    })
    return job.run(compile_seconds=compile_seconds)


def resume(run_dir: str | pathlib.Path, learner: Any = None, progress: bool = True,
           driver: Driver | None = None, restart: bool = False, boundary: Boundary | None = None) -> dict[str, Any]:
    """Continue a run from its newest readable checkpoint (from update 0 if it has none).

    A run folder written in another checkpoint format raises `FormatMismatch` (a
    ConfigError) before anything is built; one whose every checkpoint is unreadable
    raises `CheckpointsUnreadable` and nothing is moved or rewritten. `restart=True`
    moves its checkpoints to `discarded_checkpoints/` and trains it again from update 0.
    `learner` rebuilds from config.json by default; pass one for runs whose reward
    transform was built in Python rather than from a reward spec."""
    run_dir = pathlib.Path(run_dir)
    saved = read_config(run_dir)
    check_format(run_dir, saved)
    algo = saved["algo"]
    learner = learner or builder.build_learner(algo, saved["config"], saved.get("reward", ""),
                                               saved.get("reward_candidates", ""))
    options = dataclasses.replace(JobOptions(**saved["options"]), progress=progress)
    member_hparams = builder.hparams_from_json(algo, saved["hparams"])
    job = Job(RunLog(run_dir, algo), driver or make_driver(learner, options), member_hparams, saved["seeds"], options,
              boundary)
    compile_seconds = job.compile()

    if restart:
        job.checkpoints.discard_all()
        restored = None
    else:
        abstract = job.checkpoint_payload(job.driver.state_shape(job.keys, job.member_hparams), job.member_hparams)
        try:
            restored = job.checkpoints.restore(abstract)
        except BaseException:
            job.checkpoints.close()
            raise
    start_update, state = restored if restored is not None else (0, None)
    if boundary is not None:
        if restored is not None:
            state, job.member_hparams = state["state"], job.driver.place(state["hparams"])
        boundary.rewind(start_update)
    summary_path = run_dir / "summary.json"
    if start_update == learner.config.num_updates and summary_path.exists():
        job.checkpoints.close()
        return json.loads(summary_path.read_text())  # already complete: change nothing
    job.log.reopen(keep_through_step=start_update * job.steps_per_update)
    return job.run(start_update, state, compile_seconds)
