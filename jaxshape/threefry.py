"""Random draws without a loop on the CPU: `unrolled_threefry()`.

JAX's random numbers hash counters with Threefry-2x32 (Salmon et al. 2011, "Parallel
random numbers: as easy as 1, 2, 3"): twenty rounds of add-rotate-xor in five groups of
four. On the CPU, JAX lowers the five groups as a `fori_loop` to keep compiles short; on
GPUs it lowers them unrolled. Inside a training scan every draw is then an XLA while loop
of five trips, each trip a dozen kernels on a few dozen words: PPO's rollout makes three
such draws per env step (the action's Gumbel noise, the env's key split and its reset
draw). On CartPole at the defaults the loops cost about 0.6 ms of a 22-25 ms update (the
rollout phase, 4.2 against 3.6 ms on a 2-core CPU; 6% of a whole run in one measurement).

`unrolled_threefry()` is a context manager under which JAX lowers Threefry on the CPU as it
does on GPUs: the same hash, the same bits (`tests/test_threefry.py`), without the loop. It
changes JAX's lowering table only while a program is traced and lowered inside it and puts
the previous rule back after, so code outside it lowers as JAX alone would. The `Driver`
lowers its chunk and evaluation programs under it for a learner that asks (PPO sets
`unrolled_threefry = True`; SAC does not: unrolled, its Pendulum program compiled 30-45%
longer and ran no faster); a bare run can do the same:

    with unrolled_threefry():
        train = jax.jit(ppo.train).lower(key, hparams).compile()

JAX caches a traced function's lowering, so a function object lowered before outside the
context may come back with its loops; lower a fresh one (the Driver builds its own programs
per instance, and `ppo.train` is a new bound method at each access).

It uses JAX's internal lowering table (`jax._src`); where a JAX version no longer has the
rules it looks for, it changes nothing (the programs are then JAX's own, as fast as before).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

_lock = threading.RLock()  # one thread lowers under the swapped rule at a time


def _rules():
    """(primitive, JAX's unrolled rule, JAX's lowering module) or None where this JAX has
    moved them."""
    try:
        from jax._src.interpreters import mlir
        from jax._src.random import threefry2x32
        found = threefry2x32.threefry2x32_p, threefry2x32._threefry2x32_lowering_rule, mlir
    except (ImportError, AttributeError):
        return None
    return found if hasattr(mlir, "_platform_specific_lowerings") else None


def available() -> bool:
    """Whether this JAX has the rules `unrolled_threefry` swaps."""
    return _rules() is not None


@contextlib.contextmanager
def unrolled_threefry() -> Iterator[None]:
    """Lower Threefry on the CPU without its five-trip loop while inside. Re-entrant: a
    nested entry saves and puts back the rule its parent set."""
    found = _rules()
    if found is None:
        yield
        return
    primitive, unrolled, mlir = found
    cpu_rules = mlir._platform_specific_lowerings["cpu"]
    with _lock:
        saved = cpu_rules.get(primitive)
        mlir.register_lowering(primitive, unrolled, platform="cpu")
        try:
            yield
        finally:
            if saved is None:
                cpu_rules.pop(primitive, None)
            else:
                cpu_rules[primitive] = saved
