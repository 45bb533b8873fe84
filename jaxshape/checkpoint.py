"""Orbax checkpoints of the whole training state, written between chunks.

The state (networks, optimiser, env states, buffers, reward-transform state, RNG keys,
counters) is copied to the host at a chunk boundary and written by one background
thread, so the next chunk starts at once; at most one write is in flight. Orbax writes
each checkpoint into a temporary folder and renames it when complete, so a process
killed mid-write leaves only complete checkpoints behind. A checkpoint that is complete
but unreadable (a damaged file) is moved to `damaged_checkpoints/` on restore, with a
warning, and the one before is used. The last `keep` checkpoints are kept.
"""

from __future__ import annotations

import concurrent.futures
import pathlib
import shutil
import warnings
from typing import Any

import jax
import orbax.checkpoint as ocp


class Checkpoints:
    """Checkpoints in `directory/<update>`."""

    def __init__(self, directory: str | pathlib.Path, keep: int = 3):
        self.directory = pathlib.Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True, enable_async_checkpointing=False)
        if jax.process_count() > 1:  # a job's state lives on its own process: save it there, uncoordinated
            me = jax.process_index()
            self.directory.mkdir(parents=True, exist_ok=True)  # orbax will not create it for one process
            options = ocp.CheckpointManagerOptions(
                max_to_keep=keep, create=False, enable_async_checkpointing=False,
                multiprocessing_options=ocp.options.MultiprocessingOptions(primary_host=me, active_processes={me}),
            )
        self._manager = ocp.CheckpointManager(self.directory, options=options)
        self._writer = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint")
        self._pending: concurrent.futures.Future | None = None

    def save(self, update: int, state: Any) -> None:
        """Copy `state` to the host now and write it in the background."""
        host_state = jax.device_get(state)
        self.wait()
        self._pending = self._writer.submit(self._manager.save, update, args=ocp.args.StandardSave(host_state))

    def wait(self) -> None:
        """Block until the write in flight, if any, is on disk (re-raising its error)."""
        if self._pending is not None:
            self._pending.result()
            self._pending = None

    def updates(self) -> list[int]:
        """Updates with a complete checkpoint, oldest first."""
        self._manager.reload()
        return sorted(self._manager.all_steps())

    def restore(self, abstract_state: Any) -> tuple[int, Any] | None:
        """The newest readable checkpoint as (update, state), or None if there is none."""
        for update in reversed(self.updates()):
            try:
                state = self._manager.restore(update, args=ocp.args.StandardRestore(abstract_state))
            except Exception as err:  # a damaged checkpoint: set it aside, fall back to the one before
                aside = self.directory.parent / "damaged_checkpoints" / str(update)
                aside.parent.mkdir(exist_ok=True)
                shutil.move(str(self.directory / str(update)), aside)
                self._manager.reload()
                warnings.warn(f"checkpoint at update {update} is unreadable ({type(err).__name__}); "
                              f"moved it to {aside} and fell back to the previous one", stacklevel=2)
                continue
            return update, state
        return None

    def close(self) -> None:
        self.wait()
        self._writer.shutdown()
        self._manager.close()
