"""The measuring loop of experiments/time_to_score.py, shared by every system.

It needs only jax and numpy, so jaxshape's process and rejax's (its own venv) run the
very same code: the systems differ only in the three functions they hand in.

    init()               -> the vmapped training state of every seed
    compile_chunk(state) -> a compiled function state -> state that trains every seed
                            for one chunk of updates (compiled once, called each chunk)
    evaluate(state, i)   -> per-seed mean greedy return after chunk i (numpy, shape [seeds])

Clock: `start` is taken by the caller before the learner is built (after imports).
After each chunk the loop records `seconds`: the time since `start` spent outside
evaluation, i.e. building, initialising, compiling and training (what a run without
evaluations would take to get there), and `wall_seconds`: everything since `start`,
evaluations included. The loop stops early once every seed has reached `target`.
`init_seconds` (building up to an initialised state) and `compile_seconds` (the chunk's
ahead-of-time compile) break the first record's clock down.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import jax
import numpy as np


def race(start: float, init: Callable[[], Any], compile_chunk: Callable[[Any], Callable[[Any], Any]],
         evaluate: Callable[[Any, int], Any], num_chunks: int, steps_per_chunk: int,
         target: float) -> dict[str, Any]:
    """Train in `num_chunks` chunks, evaluate after each; return the records and timings."""
    state = jax.block_until_ready(init())
    before = time.perf_counter()
    init_seconds = before - start  # building the learner and compiling + running its init
    chunk = compile_chunk(state)
    compile_seconds = time.perf_counter() - before
    eval_seconds, records = 0.0, []
    reached = None
    for index in range(num_chunks):
        state = jax.block_until_ready(chunk(state))
        trained = time.perf_counter()
        seconds = trained - start - eval_seconds  # evaluations so far left out
        returns = np.asarray(evaluate(state, index), np.float64).reshape(-1)
        eval_seconds += time.perf_counter() - trained
        records.append({"steps": (index + 1) * steps_per_chunk, "seconds": round(seconds, 3),
                        "wall_seconds": round(time.perf_counter() - start, 3),
                        "greedy_return": [round(float(r), 2) for r in returns]})
        reached = returns >= target if reached is None else reached | (returns >= target)
        if reached.all():
            break
    return {"init_seconds": round(init_seconds, 3), "compile_seconds": round(compile_seconds, 3), "eval_seconds": round(eval_seconds, 3),
            "records": records}
