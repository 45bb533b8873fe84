"""Session set-up: one persistent XLA compilation cache for the whole test session, and
the grouping that lets `python -m pytest -n 2 --dist loadgroup` (pytest-xdist) split the
suite over two worker processes without building any shared fixture twice.

Many tests (and the CLI subprocesses they start) compile the same small programs; a
cache shared through the environment compiles each once per session. It lives in a fresh
temporary folder, so no entry outlives the session, and executables read from it are the
ones XLA would have built (results are unchanged). A cache the caller configured wins.
The folder is made once, by the process that runs first (xdist's controller, or plain
pytest), before any worker starts: the workers and their subprocesses inherit it. Several
processes may write and read it at once, so it gets a size bound, which makes JAX guard
every read and write with a file lock (without one, a reader can meet a half-written
entry: JAX then warns and recompiles, and a test that turns warnings into errors fails).
"""

import os
import shutil
import tempfile

import pytest

_CACHE = None
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _CACHE = tempfile.mkdtemp(prefix="jaxshape-tests-xla-cache-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _CACHE
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
    os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(16 * 2**30))  # a bound, so a file lock


def pytest_configure(config):
    config.addinivalue_line("markers", "xdist_group(name): tests that one xdist worker runs together")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """A test that uses a module-, class- or session-scoped fixture of this suite goes in
    its module's xdist group, so under `--dist loadgroup` one worker runs all such tests of
    a module back to back and builds the fixture once; every other test is free to run on
    either worker. (Runs before xdist reads the groups; a no-op without xdist.)"""
    for item in items:
        defs = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
        shared = any(d.scope != "function" and d.baseid.startswith("tests")
                     for fixturedefs in defs.values() for d in fixturedefs)
        if shared:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))


def pytest_sessionfinish(session, exitstatus):
    if _CACHE is not None:
        shutil.rmtree(_CACHE, ignore_errors=True)
