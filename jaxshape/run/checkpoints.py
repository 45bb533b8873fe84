"""Orbax checkpoints of the whole training state, written between chunks.

The state (networks, optimiser, env states, buffers, reward-transform state, RNG keys,
counters) is copied to the host at a chunk boundary and written by one background
thread, so the next chunk runs meanwhile; at most one write is in flight.

Any pytree a learner or a reward transform carries can be saved: the state is stored as
a flat mapping from each leaf's path (`reward_state.projection`, ...) to its array.
Leaves with no elements are not written (orbax refuses them; their shape and dtype come
back from the abstract state on restore) and typed PRNG keys are stored as their raw
key data. A write that still fails raises `CheckpointError`, one line naming the leaf;
the checkpoints already on disk are untouched.

Orbax writes each checkpoint into a temporary folder and renames it when complete, so a
process killed mid-write leaves only complete checkpoints behind. A checkpoint that is
complete but unreadable (a damaged file) is moved to `damaged_checkpoints/` on restore,
with a warning, and the one before is used; when none is readable, restore raises
`CheckpointsUnreadable` and moves nothing (starting over is the user's choice). The last
`keep` checkpoints are kept.

Format: `CHECKPOINT_FORMAT` names the layout above. The run's config.json records it (see
`format_record`) and each checkpoint carries it in `jaxshape.json`; a checkpoint that
names another format is refused with `FormatMismatch` rather than judged damaged.
Format 1 (jaxshape before the flat leaf dict) stored the state pytree itself and has no
reader here: its state layout is that of learners which have changed since.
"""

from __future__ import annotations

import concurrent.futures
import importlib.metadata
import json
import pathlib
import shutil
import warnings
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from jaxshape.errors import ConfigError
from jaxshape.pytree import host_zeros, is_key, key_impl, leaf_names

CHECKPOINT_FORMAT = 2  # 2: a flat {leaf path: array} dict; 1: the state pytree as is (no reader)
FORMAT_FILE = "jaxshape.json"  # beside orbax's files in each checkpoint folder


class CheckpointError(RuntimeError):
    """A checkpoint could not be written; the message names the leaf."""


class CheckpointsUnreadable(RuntimeError):
    """Every checkpoint of a run failed to restore; nothing was moved or restarted."""


class FormatMismatch(ConfigError):
    """The run folder was written in another checkpoint format than this jaxshape reads."""


def jaxshape_version() -> str:
    try:
        return importlib.metadata.version("jaxshape")
    except importlib.metadata.PackageNotFoundError:  # a source tree without an install
        return "unknown"


def format_record() -> dict[str, Any]:
    """What a run folder records of the writer: its checkpoint format and jaxshape version."""
    return {"checkpoint_format": CHECKPOINT_FORMAT, "jaxshape_version": jaxshape_version()}


def check_format(run_dir: str | pathlib.Path, saved: dict[str, Any]) -> None:
    """Refuse (one line, `FormatMismatch`) a run whose config.json names another checkpoint
    format, or none (the previous release wrote none), before anything is built or moved."""
    found = saved.get("checkpoint_format", 1)
    if found != CHECKPOINT_FORMAT:
        version = saved.get("jaxshape_version")
        writer = f"jaxshape {version}" if version else "a jaxshape release from before format versions"
        raise FormatMismatch(
            f"{run_dir} was written by {writer} in checkpoint format {found}; this is jaxshape "
            f"{jaxshape_version()}, which reads format {CHECKPOINT_FORMAT} only: finish the run with the release "
            f"that wrote it, or start a new run with --out (nothing in {run_dir} was changed)")


def _stored(tree: Any) -> dict[str, Any]:
    """The leaves worth writing: {path: array}, empty leaves left out, keys as data."""
    out = {}
    for name, leaf in zip(leaf_names(tree), jax.tree.leaves(tree)):
        if is_key(leaf):
            leaf = jax.random.key_data(leaf)
        if np.size(leaf):
            out[name] = leaf
    return out


def _abstract_stored(abstract_state: Any) -> dict[str, Any]:
    out = {}
    for name, leaf in zip(leaf_names(abstract_state), jax.tree.leaves(abstract_state)):
        if is_key(leaf):
            leaf = jax.eval_shape(jax.random.key_data, leaf)
        if np.prod(leaf.shape, dtype=int):
            out[name] = jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=getattr(leaf, "sharding", None))
    return out


def _rebuild(abstract_state: Any, stored: dict[str, Any]) -> Any:
    leaves = []
    for name, leaf in zip(leaf_names(abstract_state), jax.tree.leaves(abstract_state)):
        if name in stored:
            value = stored[name]
            leaves.append(jax.random.wrap_key_data(value, impl=key_impl(leaf)) if is_key(leaf) else value)
        else:  # an empty leaf: nothing was written
            leaves.append(host_zeros(leaf))
    return jax.tree.unflatten(jax.tree.structure(abstract_state), leaves)


class Checkpoints:
    """Checkpoints in `directory/<update>`.

    `owner`: this process writes the run's checkpoints (a training job, a search). Its
    manager removes the `<update>.orbax-checkpoint-tmp` folders that writes cut short
    (a killed process, a full disk) leave, never a checkpoint. A reader (`jaxshape eval`
    of a run that may still be training) leaves them: one may be a write in flight."""

    def __init__(self, directory: str | pathlib.Path, keep: int = 3, owner: bool = False):
        self.directory = pathlib.Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True, enable_async_checkpointing=False,
                                               cleanup_tmp_directories=owner)
        if jax.process_count() > 1:  # a job's state lives on its own process: save it there, uncoordinated
            me = jax.process_index()
            self.directory.mkdir(parents=True, exist_ok=True)  # orbax will not create it for one process
            options = ocp.CheckpointManagerOptions(
                max_to_keep=keep, create=False, enable_async_checkpointing=False, cleanup_tmp_directories=owner,
                multiprocessing_options=ocp.options.MultiprocessingOptions(primary_host=me, active_processes={me}),
            )
        self._manager = ocp.CheckpointManager(self.directory, options=options)
        self._writer = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint")
        self._pending: concurrent.futures.Future | None = None

    def save(self, update: int, state: Any) -> None:
        """Copy `state` to the host now and write it in the background."""
        host_state = _stored(jax.device_get(state))
        self.wait()
        for name, leaf in host_state.items():
            dtype = np.dtype(leaf.dtype)
            if not (jax.numpy.issubdtype(dtype, jax.numpy.number) or dtype == np.bool_):
                raise CheckpointError(self._failure(update, name, leaf, f"orbax cannot store {dtype} arrays"))
        self._pending = self._writer.submit(self._write, update, host_state)

    def _write(self, update: int, host_state: dict[str, Any]) -> None:
        try:
            self._manager.save(update, args=ocp.args.StandardSave(host_state))
            (self.directory / str(update) / FORMAT_FILE).write_text(json.dumps(format_record()) + "\n")
        except Exception as err:  # one line, naming the leaf when orbax's message does
            culprit = next((name for name in host_state if name in str(err)), None)
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise CheckpointError(self._failure(update, culprit, host_state.get(culprit), reason)) from err

    def _failure(self, update: int, name: str | None, leaf: Any, reason: str) -> str:
        where = f"leaf {name} ({np.dtype(leaf.dtype)}, shape {np.shape(leaf)})" if name else "the training state"
        return (f"cannot write the checkpoint of update {update}: {where}: {reason}; "
                f"the checkpoints already in {self.directory} are kept")

    def wait(self) -> None:
        """Block until the write in flight, if any, is on disk (re-raising its error)."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def updates(self) -> list[int]:
        """Updates with a complete checkpoint, oldest first."""
        self._manager.reload()
        return sorted(self._manager.all_steps())

    def _check_format(self, update: int) -> None:
        path = self.directory / str(update) / FORMAT_FILE
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):  # killed between orbax's rename and this file: config.json vouches
            return
        if isinstance(record, dict) and record.get("checkpoint_format") != CHECKPOINT_FORMAT:
            check_format(self.directory, record)  # raises, naming both versions

    def restore(self, abstract_state: Any) -> tuple[int, Any] | None:
        """The newest readable checkpoint as (update, state), or None if there is none.

        A damaged checkpoint is moved aside and the one before is used; when every one is
        unreadable, `CheckpointsUnreadable` is raised and all of them stay where they are."""
        abstract = _abstract_stored(abstract_state)
        updates = self.updates()
        for update in updates:
            self._check_format(update)
        failures = []
        for update in reversed(updates):
            try:
                stored = self._manager.restore(update, args=ocp.args.StandardRestore(abstract))
            except Exception as err:  # noqa: BLE001 - judged below, once every checkpoint was tried
                failures.append((update, err))
                continue
            for bad, err in failures:  # damaged ones newer than this: set them aside
                self._set_aside(bad, err)
            return update, _rebuild(abstract_state, stored)
        if failures:
            update, err = failures[0]
            reason = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
            raise CheckpointsUnreadable(
                f"none of the {len(failures)} checkpoints in {self.directory} is readable (update {update}: "
                f"{type(err).__name__}: {reason}); nothing was moved or restarted: resume with --restart to "
                "train this run again from update 0")
        return None

    def _set_aside(self, update: int, err: Exception) -> None:
        aside = self.directory.parent / "damaged_checkpoints" / str(update)
        aside.parent.mkdir(exist_ok=True)
        shutil.move(str(self.directory / str(update)), aside)
        self._manager.reload()
        warnings.warn(f"checkpoint at update {update} is unreadable ({type(err).__name__}); "
                      f"moved it to {aside} and fell back to the previous one", stacklevel=3)

    def discard_all(self) -> None:
        """Move every checkpoint to `discarded_checkpoints/<update>` (an explicit restart)."""
        aside = self.directory.parent / "discarded_checkpoints"
        for update in self.updates():
            aside.mkdir(exist_ok=True)
            target = aside / str(update)
            if target.exists():
                shutil.rmtree(target)
            shutil.move(str(self.directory / str(update)), target)
        self._manager.reload()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._writer.shutdown()
            self._manager.close()
