"""The run driver: the same compiled update, scanned in chunks, with Python between.

`Driver` vmaps an algorithm's `init(key, hparams)` and `update(state, hparams)` over a
leading member axis (seeds x hyperparameters), compiles one chunk of K updates once,
and loops over chunks in Python, where progress, logging, evaluation and checkpoints
live (jaxshape/job.py). Every chunk is the same program: it takes the index of its first
update, and an update past the end of the run is skipped by a `lax.cond` on that
(unbatched) index, so K need not divide the number of updates and nothing recompiles. On
CPU, runs with different K are bitwise equal (tests/test_driver.py).

With a `mesh` (a `jax.sharding.Mesh` with a "members" axis, see `members_mesh`), the
members are split over its devices: keys, hyperparameters, the training state and the
metrics live on `NamedSharding(mesh, P("members"))` and the compiled programs are the
same SPMD program on every device (members never communicate). The member count must
then be a multiple of the device count (`pad_to_devices`); without a mesh nothing
changes. `use_mesh(mesh)` makes a mesh the default of every `Driver` built inside it, so
`jaxshape.job.train`/`resume` shard without knowing about meshes.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from typing import Any, Callable, Iterator, Protocol, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxshape.errors import ConfigError

MEMBERS = "members"
_DEFAULT: contextvars.ContextVar[tuple[Mesh | None, bool]] = contextvars.ContextVar("jaxshape_driver", default=(None, False))
_COMPILED: dict[tuple, tuple] = {}  # see use_mesh(reuse_compiled=True); the newest few only
_KEEP_COMPILED = 4


class Algorithm(Protocol):
    def init(self, key: jax.Array, hparams: Any) -> Any: ...

    def update(self, state: Any, hparams: Any) -> tuple[Any, dict[str, jax.Array]]: ...


def members_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A one-axis mesh named "members" over `devices` (default: this process's devices)."""
    return Mesh(np.asarray(list(devices or jax.local_devices())), (MEMBERS,))


@contextlib.contextmanager
def use_mesh(mesh: Mesh | None, reuse_compiled: bool = False) -> Iterator[Mesh | None]:
    """Within the block, a `Driver` built without `mesh=` shards its members over `mesh`;
    with `reuse_compiled`, a Driver for the same learner object, update count, chunk
    size, mesh and input shapes reuses the executables compiled by an earlier one (a
    sweep's batches compile once)."""
    token = _DEFAULT.set((mesh, reuse_compiled))
    try:
        yield mesh
    finally:
        _DEFAULT.reset(token)


def pad_to_devices(num_members: int, mesh: Mesh | None) -> int:
    """The smallest multiple of the mesh's device count that holds `num_members`."""
    devices = 1 if mesh is None else mesh.size
    return -(-num_members // devices) * devices


class Driver:
    """Runs `num_updates` updates of `algo` for a batch of members, a chunk at a time.

    Args:
      algo: has `init(key, hparams)` and `update(state, hparams)`.
      num_updates: total updates per member.
      chunk_size: updates per chunk (the last chunk may run fewer).
      mesh: shard the members over this mesh's "members" axis (default: the mesh of an
        enclosing `use_mesh`, else none: everything on the default device as before).
    """

    def __init__(self, algo: Algorithm, num_updates: int, chunk_size: int, mesh: Mesh | None = None):
        self.algo = algo
        self.num_updates = num_updates
        self.chunk_size = max(1, min(chunk_size, num_updates))
        self.compile_seconds = 0.0
        default_mesh, self.reuse_compiled = _DEFAULT.get()
        self.mesh = mesh if mesh is not None else default_mesh
        self.sharding = None if self.mesh is None else NamedSharding(self.mesh, PartitionSpec(MEMBERS))

        def chunk(state, hparams, first_update):
            metrics_shape = jax.eval_shape(algo.update, state, hparams)[1]

            def skip(carry):  # an update past the end of the run
                return carry, jax.tree.map(lambda m: jnp.zeros(m.shape, m.dtype), metrics_shape)

            def body(carry, i):
                return jax.lax.cond(first_update + i < num_updates, lambda c: algo.update(c, hparams), skip, carry)

            return jax.lax.scan(body, state, jnp.arange(self.chunk_size, dtype=jnp.int32))

        members_chunk = jax.vmap(chunk, in_axes=(0, 0, None))  # the update index is shared: a real cond
        if self.sharding is None:
            self._init = jax.jit(jax.vmap(algo.init))
            self._chunk = jax.jit(members_chunk, donate_argnums=0)
        else:  # every member-axis input and output shares one sharding; the index is replicated
            shard, replicated = self.sharding, NamedSharding(self.mesh, PartitionSpec())
            self._init = jax.jit(jax.vmap(algo.init), in_shardings=shard, out_shardings=shard)
            self._chunk = jax.jit(members_chunk, in_shardings=(shard, shard, replicated), out_shardings=shard,
                                  donate_argnums=0)

    def place(self, tree: Any) -> Any:
        """`tree` (leading member axis) on the members sharding; unchanged without a mesh."""
        if self.sharding is None:
            return tree
        members = {np.shape(x)[0] for x in jax.tree.leaves(tree)}
        if any(m % self.mesh.size for m in members):
            raise ConfigError(f"{sorted(members)} members cannot be split evenly over {self.mesh.size} devices; "
                              f"pad the members to a multiple of {self.mesh.size} (jaxshape.driver.pad_to_devices)")
        return jax.device_put(tree, self.sharding)

    def compile(self, keys: jax.Array, hparams: Any) -> None:
        """Compile init and the chunk ahead of time; records `compile_seconds`."""
        start = time.perf_counter()
        keys, hparams = self.place(keys), self.place(hparams)
        signature = (id(self.algo), self.num_updates, self.chunk_size, self.mesh,
                     jax.tree.structure((keys, hparams)), tuple(jax.typeof(x) for x in jax.tree.leaves((keys, hparams))))
        cached = _COMPILED.get(signature) if self.reuse_compiled else None
        if cached is not None and cached[0] is self.algo:  # the entry holds the algo: its id is not reused
            self._init, self._chunk = cached[1:]
        else:
            lowered_init = self._init.lower(keys, hparams)
            state_shape = lowered_init.out_info
            self._init = lowered_init.compile()
            self._chunk = self._chunk.lower(state_shape, hparams, np.int32(0)).compile()
            if self.reuse_compiled:
                _COMPILED[signature] = (self.algo, self._init, self._chunk)
                while len(_COMPILED) > _KEEP_COMPILED:
                    _COMPILED.pop(next(iter(_COMPILED)))
        self.compile_seconds = time.perf_counter() - start

    def state_shape(self, keys: jax.Array, hparams: Any) -> Any:
        """The members' training state as shapes and dtypes (nothing is computed); with a
        mesh, each carries the members sharding (checkpoints restore onto it)."""
        shapes = jax.eval_shape(jax.vmap(self.algo.init), keys, hparams)
        if self.sharding is None:
            return shapes
        return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=self.sharding), shapes)

    def init(self, keys: jax.Array, hparams: Any) -> Any:
        """The members' initial training state."""
        return self._init(self.place(keys), self.place(hparams))

    def chunks(self, state: Any, hparams: Any, start_update: int = 0) -> Iterator[tuple[int, Any, dict]]:
        """Run the remaining chunks from `state` (after `start_update` updates), yielding
        `(updates_done, state, metrics)` after each; metrics are [members, updates run].

        The next chunk donates `state`'s buffers: finish with a yielded state (copy,
        checkpoint, evaluate it) before asking for the next one."""
        hparams = self.place(hparams)
        for first in range(start_update, self.num_updates, self.chunk_size):
            state, metrics = self._chunk(state, hparams, np.int32(first))
            ran = min(self.chunk_size, self.num_updates - first)
            if ran < self.chunk_size:
                metrics = jax.tree.map(lambda m: m[:, :ran], metrics)
            yield first + ran, state, metrics

    def run(
        self,
        keys: jax.Array,
        hparams: Any,
        on_chunk: Callable[[dict[str, jax.Array]], None] | None = None,
    ) -> tuple[Any, float]:
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
