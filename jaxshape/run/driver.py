"""The run driver: a learner's update, compiled once, scanned in chunks, with Python between.

`Driver` vmaps a learner's `init(key, hparams)` and `update(state, hparams)` over a
leading member axis (seeds x hyperparameters) and compiles three programs ahead of time,
in parallel threads (XLA compiles without holding the GIL):

    init(keys, hparams)                  -> state
    chunk(state, hparams, first_update)  -> (state, metrics [members, K], params_finite [members])
    evaluate(state, hparams, key)        -> greedy-evaluation metrics [members]

Every chunk is the same program: it takes the index of its first update, and an update
past the end of the run is skipped by a `lax.cond` on that (unbatched) index, so K need
not divide the number of updates and nothing recompiles. On CPU, runs with different K
are bitwise equal (tests/test_driver.py). The chunk also reports whether each member's
parameters are finite, so the NaN guard needs no program of its own.

The chunk does not donate its input state: the job dispatches chunk i+1 while the host
still reads chunk i's state (checkpoint, evaluation), which keeps the device busy.

With a `mesh` (a `jax.sharding.Mesh` with a "members" axis, see `members_mesh`), the
members are split over its devices: keys, hyperparameters, the training state and the
metrics live on `NamedSharding(mesh, P("members"))` and the compiled programs are the
same SPMD program on every device (members never communicate). The member count must
then be a multiple of the device count (`pad_to_devices`). Nothing here is global: a
caller that wants to reuse compiled programs (a sweep's equal batches) keeps the Driver.
"""

from __future__ import annotations

import concurrent.futures
import time
from typing import Any, Callable, Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxshape.errors import ConfigError
from jaxshape.learner import Learner, params_finite

MEMBERS = "members"


def members_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A one-axis mesh named "members" over `devices` (default: this process's devices)."""
    return Mesh(np.asarray(list(devices or jax.local_devices())), (MEMBERS,))


def pad_to_devices(num_members: int, mesh: Mesh | None) -> int:
    """The smallest multiple of the mesh's device count that holds `num_members`."""
    devices = 1 if mesh is None else mesh.size
    return -(-num_members // devices) * devices


class Driver:
    """Runs `num_updates` updates of `learner` for a batch of members, a chunk at a time.

    Args:
      learner: implements `jaxshape.learner.Learner`.
      num_updates: total updates per member.
      chunk_size: updates per chunk (the last chunk may run fewer).
      mesh: shard the members over this mesh's "members" axis (None: the default device).
      eval_episodes: episodes per member of the greedy evaluation (0: no evaluate program).
    """

    def __init__(self, learner: Learner, num_updates: int, chunk_size: int, mesh: Mesh | None = None,
                 eval_episodes: int = 0):
        self.learner = learner
        self.num_updates = num_updates
        self.chunk_size = max(1, min(chunk_size, num_updates))
        self.eval_episodes = eval_episodes
        self.compile_seconds = 0.0
        self.mesh = mesh
        self.sharding = None if mesh is None else NamedSharding(mesh, PartitionSpec(MEMBERS))
        self._signature: tuple | None = None

        def chunk(state, hparams, first_update):
            metrics_shape = jax.eval_shape(learner.update, state, hparams)[1]

            def skip(carry):  # an update past the end of the run
                return carry, jax.tree.map(lambda m: jnp.zeros(m.shape, m.dtype), metrics_shape)

            def body(carry, i):
                return jax.lax.cond(first_update + i < num_updates, lambda c: learner.update(c, hparams), skip, carry)

            state, metrics = jax.lax.scan(body, state, jnp.arange(self.chunk_size, dtype=jnp.int32))
            return state, metrics, params_finite(state.params)

        def evaluate(state, hparams, key):
            return learner.evaluate(state, hparams, key, eval_episodes)

        members_chunk = jax.vmap(chunk, in_axes=(0, 0, None))  # the update index is shared: a real cond
        members_evaluate = jax.vmap(evaluate, in_axes=(0, 0, None))
        if self.sharding is None:
            self._init = jax.jit(jax.vmap(learner.init))
            self._chunk = jax.jit(members_chunk)
            self._evaluate = jax.jit(members_evaluate)
        else:  # every member-axis input and output shares one sharding; the index and key are replicated
            shard, replicated = self.sharding, NamedSharding(mesh, PartitionSpec())
            self._init = jax.jit(jax.vmap(learner.init), in_shardings=shard, out_shardings=shard)
            self._chunk = jax.jit(members_chunk, in_shardings=(shard, shard, replicated), out_shardings=shard)
            self._evaluate = jax.jit(members_evaluate, in_shardings=(shard, shard, replicated), out_shardings=shard)

    # ----------------------------------------------------------------- placing
    def place(self, tree: Any) -> Any:
        """`tree` (leading member axis) on the members sharding; unchanged without a mesh."""
        if self.sharding is None:
            return tree
        members = {np.shape(x)[0] for x in jax.tree.leaves(tree)}
        if any(m % self.mesh.size for m in members):
            raise ConfigError(f"{sorted(members)} members cannot be split evenly over {self.mesh.size} devices; "
                              f"pad the members to a multiple of {self.mesh.size} (jaxshape.run.driver.pad_to_devices)")
        return jax.device_put(tree, self.sharding)

    def state_shape(self, keys: jax.Array, hparams: Any) -> Any:
        """The members' training state as shapes and dtypes (nothing is computed); with a
        mesh, each carries the members sharding (checkpoints restore onto it)."""
        shapes = jax.eval_shape(jax.vmap(self.learner.init), keys, hparams)
        if self.sharding is None:
            return shapes
        return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=self.sharding), shapes)

    # --------------------------------------------------------------- compiling
    def lower_chunk(self, keys: jax.Array, hparams: Any) -> Any:
        """The chunk lowered for these members (for memory analysis or compiling)."""
        return self._chunk.lower(self.state_shape(keys, hparams), hparams, np.int32(0))

    def compile(self, keys: jax.Array, hparams: Any) -> float:
        """Compile init, the chunk and evaluate ahead of time, in parallel; a second call
        with the same member shapes compiles nothing. Returns (and records) the seconds."""
        keys, hparams = self.place(keys), self.place(hparams)
        signature = (jax.tree.structure((keys, hparams)), tuple(jax.typeof(x) for x in jax.tree.leaves((keys, hparams))))
        if signature == self._signature:
            return 0.0
        start = time.perf_counter()
        state = self.state_shape(keys, hparams)
        jobs = {"_init": lambda: self._init.lower(keys, hparams).compile(),
                "_chunk": lambda: self._chunk.lower(state, hparams, np.int32(0)).compile()}
        if self.eval_episodes:
            jobs["_evaluate"] = lambda: self._evaluate.lower(state, hparams, jax.random.PRNGKey(0)).compile()
        with concurrent.futures.ThreadPoolExecutor(len(jobs), thread_name_prefix="compile") as pool:
            compiled = {name: pool.submit(build) for name, build in jobs.items()}
            for name, future in compiled.items():
                setattr(self, name, future.result())
        self._signature = signature
        self.compile_seconds = time.perf_counter() - start
        return self.compile_seconds

    # ----------------------------------------------------------------- running
    def init(self, keys: jax.Array, hparams: Any) -> Any:
        """The members' initial training state."""
        return self._init(self.place(keys), self.place(hparams))

    def chunk(self, state: Any, hparams: Any, first_update: int) -> tuple[Any, dict, jax.Array]:
        """Dispatch one chunk from update `first_update` (returns at once: JAX dispatches
        asynchronously). Metrics cover the updates that ran: [members, min(K, left)]."""
        state, metrics, finite = self._chunk(state, hparams, np.int32(first_update))
        ran = min(self.chunk_size, self.num_updates - first_update)
        if ran < self.chunk_size:
            metrics = jax.tree.map(lambda m: m[:, :ran], metrics)
        return state, metrics, finite

    def evaluate(self, state: Any, hparams: Any, key: jax.Array) -> dict[str, jax.Array]:
        if not self.eval_episodes:
            raise ConfigError("this driver was built with eval_episodes=0; give it a positive count")
        return self._evaluate(state, hparams, key)

    def chunk_starts(self, start_update: int = 0) -> range:
        return range(start_update, self.num_updates, self.chunk_size)

    def chunks(self, state: Any, hparams: Any, start_update: int = 0) -> Iterator[tuple[int, Any, dict]]:
        """Run the remaining chunks from `state` (after `start_update` updates), yielding
        `(updates_done, state, metrics)` after each (metrics on the device)."""
        hparams = self.place(hparams)
        for first in self.chunk_starts(start_update):
            state, metrics, _ = self.chunk(state, hparams, first)
            yield min(first + self.chunk_size, self.num_updates), state, metrics

    def run(self, keys: jax.Array, hparams: Any,
            on_chunk: Callable[[dict[str, np.ndarray]], None] | None = None) -> tuple[Any, float]:
        """Train every member from scratch; `on_chunk(metrics)` gets each chunk's host
        metrics. Returns the final state and the run seconds (compile excluded when
        `compile` was called first)."""
        start = time.perf_counter()
        state = self.init(keys, hparams)
        for _, state, metrics in self.chunks(state, hparams):
            if on_chunk is not None:
                on_chunk(jax.device_get(metrics))
        jax.block_until_ready(state)
        return state, time.perf_counter() - start
