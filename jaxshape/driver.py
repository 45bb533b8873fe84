"""The run driver: the same compiled update, scanned in chunks, with Python between.

`Driver` vmaps an algorithm's `init(key, hparams)` and `update(state, hparams)` over a
leading member axis (seeds x hyperparameters), compiles one chunk of K updates once,
and loops over chunks in Python, where progress, logging and (later) evaluation and
checkpoints live. K is a divisor of the number of updates, so every chunk has the same
shape and nothing recompiles; on CPU the chunked run is bitwise equal to one `lax.scan`
over all updates (tests/test_driver.py).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Protocol

import jax


class Algorithm(Protocol):
    def init(self, key: jax.Array, hparams: Any) -> Any: ...

    def update(self, state: Any, hparams: Any) -> tuple[Any, dict[str, jax.Array]]: ...


def chunk_size_for(num_updates: int, target: int) -> int:
    """The divisor of `num_updates` closest to `target` (ties go to the smaller)."""
    divisors = [d for d in range(1, num_updates + 1) if num_updates % d == 0]
    return min(divisors, key=lambda d: (abs(d - target), d))


class Driver:
    """Runs `num_updates` updates of `algo` for a batch of members, a chunk at a time.

    Args:
      algo: has `init(key, hparams)` and `update(state, hparams)`.
      num_updates: total updates per member.
      chunk_size: desired updates per chunk (rounded to a divisor of num_updates).
    """

    def __init__(self, algo: Algorithm, num_updates: int, chunk_size: int):
        self.algo = algo
        self.num_updates = num_updates
        self.chunk_size = chunk_size_for(num_updates, chunk_size)
        self.compile_seconds = 0.0

        def chunk(state, hparams):
            def body(carry, _):
                return algo.update(carry, hparams)

            return jax.lax.scan(body, state, None, length=self.chunk_size)

        self._init = jax.jit(jax.vmap(algo.init))
        self._chunk = jax.jit(jax.vmap(chunk), donate_argnums=0)

    def compile(self, keys: jax.Array, hparams: Any) -> None:
        """Compile init and the chunk ahead of time; records `compile_seconds`."""
        start = time.perf_counter()
        lowered_init = self._init.lower(keys, hparams)
        state_shape = lowered_init.out_info
        self._init = lowered_init.compile()
        self._chunk = self._chunk.lower(state_shape, hparams).compile()
        self.compile_seconds = time.perf_counter() - start

    def run(
        self,
        keys: jax.Array,
        hparams: Any,
        on_chunk: Callable[[dict[str, jax.Array]], None] | None = None,
    ) -> tuple[Any, float]:
        """Train every member; `on_chunk(metrics)` gets each chunk's stacked metrics,
        shaped [members, chunk_size]. Returns the final state and the run seconds
        (compile excluded when `compile` was called first)."""
        start = time.perf_counter()
        state = self._init(keys, hparams)
        pending = None  # report chunk i while chunk i+1 runs
        for _ in range(self.num_updates // self.chunk_size):
            state, metrics = self._chunk(state, hparams)
            if pending is not None and on_chunk is not None:
                on_chunk(jax.device_get(pending))
            pending = metrics
        if on_chunk is not None:
            on_chunk(jax.device_get(pending))
        jax.block_until_ready(state)
        return state, time.perf_counter() - start
