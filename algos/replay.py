"""A circular replay buffer that lives in the scan carry.

The buffer is a pytree of preallocated arrays laid out time-major per env,
`[rows, num_envs, ...]`: each vectorised env step writes one row, so column `e` holds
env `e`'s experience in the order it happened, wrapping around at `rows`. `insert`
and the sampling helpers are pure functions; nothing here uses Python control flow on
traced values, so the buffer can be carried through `lax.scan` and `vmap`ped over
seeds.

For hindsight relabelling (algos/her.py) each slot also records which episode of its
env it belongs to and its step within that episode, and the buffer keeps the length of
every finished episode still in it. From these, `remaining(buffer, rows, cols)` tells
how many steps of the same episode are stored from a slot on (the slot included), so a
goal can be drawn from the same trajectory's future without ever crossing into the next
episode, even across the wrap-around.

Why not flashbax: flashbax 0.1.3 declares jax>=0.4.25 and would install, but it pulls
in tensorstore, and neither its flat nor its trajectory buffer tracks episode ids, so
HER's "a later step of the same episode" query would have to be rebuilt on top of it
anyway. The buffer below is about a hundred lines and answers that query directly.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class ReplayBuffer:
    """Preallocated replay storage; build with `create`.

    Attributes:
      data: pytree, each leaf `[rows, num_envs, ...]`.
      episode: `[rows, num_envs]` int32, the id (per env, counting from 0) of the
        episode each slot belongs to.
      step: `[rows, num_envs]` int32, the slot's step within its episode.
      time: `[rows, num_envs]` int32, the row counter when the slot was written
        (chronological order, also across the wrap-around).
      episode_length: `[rows, num_envs]` int32, the length of finished episode `k` of
        env `e` at `[k % rows, e]` (at most `rows` finished episodes overlap the buffer,
        so entries still referenced are never overwritten).
      current_episode, current_step: `[num_envs]` int32, the ongoing episode's id and
        the number of its steps stored so far.
      count: rows written since creation (int32 scalar).
    """

    data: Any
    episode: jax.Array
    step: jax.Array
    time: jax.Array
    episode_length: jax.Array
    current_episode: jax.Array
    current_step: jax.Array
    count: jax.Array

    @property
    def rows(self) -> int:
        return self.episode.shape[0]

    @property
    def num_envs(self) -> int:
        return self.episode.shape[1]

    @property
    def size(self) -> jax.Array:
        """Rows filled so far (at most `rows`)."""
        return jnp.minimum(self.count, self.rows)


def create(example: Any, rows: int) -> ReplayBuffer:
    """An empty buffer of `rows` rows for items shaped like `example` (leaves `[num_envs, ...]`)."""
    num_envs = jax.tree.leaves(example)[0].shape[0]
    data = jax.tree.map(lambda x: jnp.zeros((rows,) + x.shape, x.dtype), example)
    ints = jnp.zeros((rows, num_envs), jnp.int32)
    zeros = jnp.zeros((num_envs,), jnp.int32)
    return ReplayBuffer(data, ints, ints, ints, ints, zeros, zeros, jnp.zeros((), jnp.int32))


def insert(buffer: ReplayBuffer, item: Any, done: jax.Array) -> ReplayBuffer:
    """Write one vectorised step (`item` leaves `[num_envs, ...]`) at the next row.

    `done` (`[num_envs]` bool) marks envs whose episode ended with this step
    (terminated or truncated); their next step starts a new episode id.
    """
    row = buffer.count % buffer.rows
    envs = jnp.arange(buffer.num_envs)
    data = jax.tree.map(lambda store, x: store.at[row].set(x.astype(store.dtype)), buffer.data, item)
    length_slot = buffer.current_episode % buffer.rows
    finished_length = jnp.where(done, buffer.current_step + 1, buffer.episode_length[length_slot, envs])
    return ReplayBuffer(
        data=data,
        episode=buffer.episode.at[row].set(buffer.current_episode),
        step=buffer.step.at[row].set(buffer.current_step),
        time=buffer.time.at[row].set(jnp.full((buffer.num_envs,), buffer.count, jnp.int32)),
        episode_length=buffer.episode_length.at[length_slot, envs].set(finished_length),
        current_episode=buffer.current_episode + done.astype(jnp.int32),
        current_step=jnp.where(done, 0, buffer.current_step + 1),
        count=buffer.count + 1,
    )


def sample_indices(buffer: ReplayBuffer, key: jax.Array, batch_size: int) -> tuple[jax.Array, jax.Array]:
    """(rows, cols), each `[batch_size]` int32: slots drawn uniformly from those filled."""
    row_key, col_key = jax.random.split(key)
    rows = jax.random.randint(row_key, (batch_size,), 0, jnp.maximum(buffer.size, 1))
    cols = jax.random.randint(col_key, (batch_size,), 0, buffer.num_envs)
    return rows, cols


def gather(buffer: ReplayBuffer, rows: jax.Array, cols: jax.Array) -> Any:
    """The stored items at `(rows, cols)`, leaves `[batch, ...]`."""
    return jax.tree.map(lambda x: x[rows, cols], buffer.data)


def remaining(buffer: ReplayBuffer, rows: jax.Array, cols: jax.Array) -> jax.Array:
    """Steps of the same episode stored from slot `(rows, cols)` on, itself included (≥ 1).

    A finished episode's length comes from `episode_length`; the ongoing episode counts
    the steps stored so far.
    """
    episode = buffer.episode[rows, cols]
    finished = episode < buffer.current_episode[cols]
    length = jnp.where(finished, buffer.episode_length[episode % buffer.rows, cols], buffer.current_step[cols])
    return jnp.maximum(length - buffer.step[rows, cols], 1)
