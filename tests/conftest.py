"""Session set-up: one persistent XLA compilation cache for the whole test session.

The suite runs on two pytest-xdist workers (`python -m pytest -x -q -n 2 --dist loadfile`):
each test file runs whole on one worker, so a module- or session-scoped fixture (a trained
run several tests read) is built once, as without xdist. (`--dist loadgroup` would not do:
with pytest 9 its group suffix never reaches the node id, and a module's tests scatter.)

Many tests (and the CLI subprocesses they start) compile the same small programs; a
cache shared through the environment compiles each once per session. It lives in a fresh
temporary folder, so no entry outlives the session, and executables read from it are the
ones XLA would have built (results are unchanged). A cache the caller configured wins.
The folder is made once, by the process that runs first (xdist's controller, or plain
pytest), before any worker starts: the workers and their subprocesses inherit it. Several
processes may write and read it at once, so it gets a size bound, which makes JAX guard
every read and write with a file lock (without one, a reader can meet a half-written
entry: JAX then warns and recompiles, and a test that turns warnings into errors fails).

It also sets XLA_FLAGS for fast compiles (tests/xla_settings.py says why and which tests
opt out).
"""

import os
import shutil
import tempfile

from xla_settings import fast_compile_flags

_CACHE = None
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _CACHE = tempfile.mkdtemp(prefix="jaxshape-tests-xla-cache-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _CACHE
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
    os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(16 * 2**30))  # a bound, so a file lock
os.environ["XLA_FLAGS"] = fast_compile_flags(os.environ.get("XLA_FLAGS", ""))


def pytest_sessionfinish(session, exitstatus):
    if _CACHE is not None:
        shutil.rmtree(_CACHE, ignore_errors=True)
