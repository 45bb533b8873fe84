"""The run driver: a learner's update, compiled once, scanned in chunks, with Python between.

`Driver` vmaps a learner over a leading member axis (seeds x hyperparameters) and
compiles one training program ahead of time, and the evaluation apart:

    chunk(state, hparams, keys, first_update) -> (state, metrics [members, K], params_finite [members])
    evaluate(state, hparams, updates_done)    -> evaluation [members]

The chunk that starts at update 0 initialises the members from `keys` (a `lax.cond` on
the unbatched update index; later chunks continue from `state`, and the first gets a
placeholder of the state's shape), then scans K updates; an update past the end of the
run is skipped by the same kind of `cond`, so K need not divide the number of updates
and nothing recompiles. After the updates it reports whether each member's parameters
are finite (the NaN guard). The chunk compiles about as fast as the bare
`jit(learner.train)`. The greedy evaluation (`learner.evaluate`, key
`fold_in(PRNGKey(EVAL_SEED), updates done)`) is a program of its own, dispatched after
the chunks it follows; XLA compiles it on a second thread while it compiles the chunk,
so it adds little to the compile time and nothing competes with the run
(compiling it during the first chunks cost a 2-core CPU ~8% of a 500k-step run's
steps/s, experiments/bench_driver.py). On CPU, runs with different K are bitwise equal
(tests/test_driver.py).

The chunk does not donate its input state: the job dispatches chunk i+1 while the host
still reads chunk i's state (checkpoint, logs), which keeps the device busy.

With a `mesh` (a `jax.sharding.Mesh` with a "members" axis, see `members_mesh`), the
members are split over its devices: keys, hyperparameters, the training state and the
metrics live on `NamedSharding(mesh, P("members"))` and the compiled program is the same
SPMD program on every device (members never communicate). The member count must then be
a multiple of the device count (`pad_to_devices`).

With an "envs" mesh (`envs_mesh`), ONE agent is split over the devices instead: every
state leaf with an env axis (env states, observations, the recurrent memory, episode
statistics) is split along it, and the program pins that layout at every update
(`with_sharding_constraint`), so each device steps its share of the envs, and the loss,
a mean over the whole batch, sums its gradient across devices (XLA inserts the
all-reduce). Parameters and optimiser state are replicated. The result is the
single-device run's, up to the order of float sums (tests/test_env_sharding.py).

Nothing here is global: a caller that wants to reuse the compiled program (a sweep's
equal batches) keeps the Driver.
"""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxshape.errors import ConfigError
from jaxshape.learner import Learner, params_finite
from jaxshape.pytree import host_zeros
from jaxshape.threefry import unrolled_threefry

MEMBERS = "members"
ENVS = "envs"
EVAL_SEED = 2**31 - 1  # evaluation keys are fold_in(PRNGKey(EVAL_SEED), update): independent of training


def members_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A one-axis mesh named "members" over `devices` (default: this process's devices)."""
    return Mesh(np.asarray(list(devices or jax.local_devices())), (MEMBERS,))


def envs_mesh(devices: Sequence[jax.Device] | int | None = None) -> Mesh:
    """A one-axis mesh named "envs" over `devices` (a list, the first N local devices, or
    None: all of this process's devices): one agent's envs are split over it."""
    if devices is None or isinstance(devices, int):
        available = jax.local_devices()
        count = len(available) if devices is None else devices
        if count > len(available):
            raise ConfigError(f"asked for {count} devices but this process has {len(available)}; "
                              f"use --devices {len(available)} or fewer")
        devices = available[:count]
    return Mesh(np.asarray(list(devices)), (ENVS,))


def env_axis_shardings(tree: Any, mesh: Mesh, num_envs: int, leading: int = 0) -> Any:
    """A `NamedSharding` per leaf of `tree`: split along axis `leading` where that axis is
    the env axis (length `num_envs`), replicated elsewhere. A leaf that only happens to
    have that length there is split too, which changes where it lives, never its value."""

    def spec(leaf):
        shape = jnp.shape(leaf)
        split = len(shape) > leading and shape[leading] == num_envs
        return NamedSharding(mesh, PartitionSpec(*([None] * leading), ENVS) if split else PartitionSpec())

    return jax.tree.map(spec, tree)


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
      mesh: split the members over a "members" mesh (`members_mesh`), or each member's envs
        over an "envs" mesh (`envs_mesh`); None: the default device.
      eval_episodes: episodes per member of the greedy evaluation (0: never evaluate).
    """

    def __init__(self, learner: Learner, num_updates: int, chunk_size: int, mesh: Mesh | None = None,
                 eval_episodes: int = 0):
        self.learner = learner
        self.num_updates = num_updates
        self.chunk_size = max(1, min(chunk_size, num_updates))
        self.eval_episodes = eval_episodes
        self.compile_seconds = 0.0
        self.mesh = mesh
        self.split_envs = mesh is not None and ENVS in mesh.axis_names
        self.sharding = None if mesh is None or self.split_envs else NamedSharding(mesh, PartitionSpec(MEMBERS))
        if self.split_envs:
            num_envs = learner.config.num_envs
            if num_envs % mesh.size:
                raise ConfigError(f"num_envs={num_envs} cannot be split evenly over {mesh.size} devices; "
                                  f"use a multiple of {mesh.size}")
        pin = self._pin_envs
        self._signature: tuple | None = None  # the member shapes compiled for
        self._state_shape: Any = None
        chunk_size = self.chunk_size

        def chunk(state, hparams, key, first_update):
            state = jax.lax.cond(first_update == 0, lambda: learner.init(key, hparams), lambda: state)
            update = jax.jit(learner.update)  # traced once: for the skip's metric shapes and for the updates
            metrics_shape = jax.eval_shape(update, state, hparams)[1]

            def skip(carry):  # an update past the end of the run
                return carry, jax.tree.map(lambda m: jnp.zeros(m.shape, m.dtype), metrics_shape)

            def body(carry, i):
                carry = pin(carry)
                return jax.lax.cond(first_update + i < num_updates, lambda c: update(c, hparams), skip, carry)

            state, metrics = jax.lax.scan(body, state, jnp.arange(chunk_size, dtype=jnp.int32))
            return state, metrics, params_finite(state.params)

        def evaluate(state, hparams, done):
            eval_key = jax.random.fold_in(jax.random.PRNGKey(EVAL_SEED), done)
            return learner.evaluate(state, hparams, eval_key, max(1, eval_episodes))

        def over_members(fn):
            """`fn(state, hparams, *per_member)` for every member; one member runs the
            unbatched program (a vmap over one member ran ~5% slower)."""

            def members_fn(state, hparams, *per_member):
                if jax.tree.leaves(state)[0].shape[0] == 1:
                    squeeze = lambda tree: jax.tree.map(lambda x: x[0], tree)  # noqa: E731
                    out = fn(squeeze(state), squeeze(hparams), *map(squeeze, per_member))
                    return jax.tree.map(lambda x: x[None], out)
                return jax.vmap(fn)(state, hparams, *per_member)

            return members_fn

        def members_chunk(state, hparams, keys, first_update):
            # the update index is shared by all members: its conds stay real conds under vmap
            state, metrics, finite = over_members(lambda s, h, k: chunk(s, h, k, first_update))(state, hparams, keys)
            return pin(state, leading=1), metrics, finite

        def members_evaluate(state, hparams, done):
            return over_members(lambda s, h: evaluate(s, h, done))(state, hparams)

        if self.sharding is None:
            self._chunk = jax.jit(members_chunk)
            self._evaluate = jax.jit(members_evaluate)
        else:  # every member-axis input and output shares one sharding; the scalars are replicated
            shard, replicated = self.sharding, NamedSharding(mesh, PartitionSpec())
            self._chunk = jax.jit(members_chunk, in_shardings=(shard, shard, shard, replicated), out_shardings=shard)
            self._evaluate = jax.jit(members_evaluate, in_shardings=(shard, shard, replicated), out_shardings=shard)

    # ----------------------------------------------------------------- placing
    def _pin_envs(self, state: Any, leading: int = 0) -> Any:
        """With an "envs" mesh, `state` constrained to its env-axis layout; else unchanged."""
        if not self.split_envs:
            return state
        shardings = env_axis_shardings(state, self.mesh, self.learner.config.num_envs, leading)
        return jax.lax.with_sharding_constraint(state, shardings)

    def place(self, tree: Any) -> Any:
        """`tree` (leading member axis) on the members sharding (replicated on an "envs"
        mesh); unchanged without a mesh."""
        if self.split_envs:
            return jax.device_put(tree, NamedSharding(self.mesh, PartitionSpec()))
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
        if self.mesh is None:
            return shapes
        if self.split_envs:
            shardings = env_axis_shardings(shapes, self.mesh, self.learner.config.num_envs, leading=1)
        else:
            shardings = jax.tree.map(lambda _: self.sharding, shapes)
        return jax.tree.map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh), shapes, shardings)

    def placeholder_state(self, keys: jax.Array, hparams: Any) -> Any:
        """Zeros of the state's shape, made on the host (no program runs): the input of the
        chunk that starts at update 0, which initialises the members instead."""
        shapes = self._state_shape if self._signature is not None else self.state_shape(keys, hparams)
        if self.mesh is None:
            return jax.tree.map(host_zeros, shapes)
        return jax.tree.map(lambda s: jax.device_put(host_zeros(s), s.sharding), shapes)

    # --------------------------------------------------------------- compiling
    def _lower(self, state_shape: Any, keys: jax.Array, hparams: Any) -> Any:
        with self._lowering():
            return self._chunk.lower(state_shape, hparams, keys, np.int32(0))

    def _lowering(self) -> Any:
        """The context the Driver lowers its programs in: `unrolled_threefry` for a learner
        that asks for it (jaxshape/learner.py), else JAX's own lowering."""
        asks = getattr(self.learner, "unrolled_threefry", False)
        return unrolled_threefry() if asks else contextlib.nullcontext()

    def lower_chunk(self, keys: jax.Array, hparams: Any) -> Any:
        """The chunk lowered for these members (for memory analysis or compiling)."""
        return self._lower(self.state_shape(keys, hparams), keys, hparams)

    def compile(self, keys: jax.Array, hparams: Any) -> float:
        """Compile the chunk and the evaluation ahead of time, the evaluation on a second
        thread meanwhile; a second call with the same member shapes compiles nothing.
        Returns (and records) the seconds this call took."""
        keys, hparams = self.place(keys), self.place(hparams)
        signature = (jax.tree.structure((keys, hparams)), tuple(jax.typeof(x) for x in jax.tree.leaves((keys, hparams))))
        if signature == self._signature:
            return 0.0
        start = time.perf_counter()
        self._state_shape = self.state_shape(keys, hparams)
        chunk = self._lower(self._state_shape, keys, hparams)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="compile-evaluation") as pool:
            if self.eval_episodes:  # traced and lowered here; only XLA's compile runs on the thread
                with self._lowering():
                    lowered = self._evaluate.lower(self._state_shape, hparams, np.int32(0))
                evaluation = pool.submit(lowered.compile)
            self._chunk = chunk.compile()
            if self.eval_episodes:
                self._evaluate = evaluation.result()
        self._signature = signature
        self.compile_seconds = time.perf_counter() - start
        return self.compile_seconds

    # ----------------------------------------------------------------- running
    def chunk(self, state: Any, hparams: Any, keys: jax.Array, first_update: int,
              evaluate: bool = False) -> tuple[Any, dict, jax.Array, dict]:
        """Dispatch one chunk from update `first_update` (returns at once: JAX dispatches
        asynchronously). At update 0, `state` is `placeholder_state(...)`. Metrics are
        [members, K] on the device; `host_metrics` fetches the updates that ran."""
        with self._lowering():  # lowers as `compile` does where nothing was compiled ahead
            state, metrics, finite = self._chunk(state, hparams, keys, np.int32(first_update))
            evaluation = {}
            if evaluate and self.eval_episodes:
                evaluation = self._evaluate(state, hparams, np.int32(self.updates_done(first_update)))
        return state, metrics, finite, evaluation

    def updates_done(self, first_update: int) -> int:
        """Updates done after the chunk that starts at `first_update`."""
        return min(first_update + self.chunk_size, self.num_updates)

    def host_metrics(self, metrics: dict, first_update: int) -> dict[str, np.ndarray]:
        """A chunk's metrics on the host, cut to the updates that ran: [members, ran]
        (cut after the copy: slicing on the device would compile a program per shape)."""
        ran = self.updates_done(first_update) - first_update
        return {name: value[:, :ran] for name, value in jax.device_get(metrics).items()}

    def chunk_starts(self, start_update: int = 0) -> range:
        return range(start_update, self.num_updates, self.chunk_size)

    def run(self, keys: jax.Array, hparams: Any,
            on_chunk: Callable[[dict[str, np.ndarray]], None] | None = None) -> tuple[Any, float]:
        """Train every member from scratch; `on_chunk(metrics)` gets each chunk's host
        metrics. Returns the final state and the run seconds (compile excluded when
        `compile` was called first)."""
        keys, hparams = self.place(keys), self.place(hparams)
        start = time.perf_counter()
        state = self.placeholder_state(keys, hparams)
        for first in self.chunk_starts():
            state, metrics, _, _ = self.chunk(state, hparams, keys, first)
            if on_chunk is not None:
                on_chunk(self.host_metrics(metrics, first))
        jax.block_until_ready(state)
        return state, time.perf_counter() - start
