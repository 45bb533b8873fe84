"""Session set-up: one persistent XLA compilation cache for the whole test session.

Many tests (and the CLI subprocesses they start) compile the same small programs; a
cache shared through the environment compiles each once per session. It lives in a fresh
temporary folder, so no entry outlives the session, and executables read from it are the
ones XLA would have built (results are unchanged). A cache the caller configured wins.
"""

import os
import shutil
import tempfile

_CACHE = None
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _CACHE = tempfile.mkdtemp(prefix="jaxshape-tests-xla-cache-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _CACHE
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")


def pytest_sessionfinish(session, exitstatus):
    if _CACHE is not None:
        shutil.rmtree(_CACHE, ignore_errors=True)
