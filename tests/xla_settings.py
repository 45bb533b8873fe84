"""The suite's XLA settings. The suite compiles hundreds of small programs and runs most of
them for a few updates, so compiling is most of its time. XLA's CPU backend at optimisation
level 0 and without its new fusion emitters compiles them about twice as fast (a tiny
`jaxshape train` on CartPole: 6-7 s of compile down to about 3 s) and runs them 2-3x
slower; a program computes the same values up to float rounding. tests/conftest.py turns
these flags on for the whole session (workers and subprocesses inherit them).

The few tests that run long (training to a score) or compare two compiles bitwise compile
with XLA's defaults through `optimised_jit`; a subprocess that learns, times the product's
own compile or compares two compiles bitwise runs with `product_env`, the environment
without these flags.
"""

import os

import jax

FAST_COMPILE_FLAGS = ("--xla_backend_optimization_level=0", "--xla_cpu_use_fusion_emitters=false")
XLA_DEFAULTS = {"xla_backend_optimization_level": 3, "xla_cpu_use_fusion_emitters": True}  # XLA's own defaults


def fast_compile_flags(existing: str) -> str:
    """`existing` XLA_FLAGS with the fast-compile flags added, unless the caller already
    chose either setting (then `existing` unchanged)."""
    if any(name in existing for name in XLA_DEFAULTS):
        return existing
    return " ".join([existing, *FAST_COMPILE_FLAGS]).strip()


def optimised_jit(fn, **jit_kwargs):
    """`jax.jit(fn)` compiled with XLA's default optimisation, whatever XLA_FLAGS say."""
    return jax.jit(fn, compiler_options=XLA_DEFAULTS, **jit_kwargs)


def product_env() -> dict:
    """This process's environment with the fast-compile flags removed from XLA_FLAGS: for a
    subprocess that compiles as a user's `jaxshape` would."""
    env = dict(os.environ)
    kept = [flag for flag in env.get("XLA_FLAGS", "").split() if flag not in FAST_COMPILE_FLAGS]
    env["XLA_FLAGS"] = " ".join(kept)
    return env
