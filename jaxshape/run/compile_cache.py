"""JAX's persistent compilation cache for the CLI: a second run of the same settings
reads its compiled programs from disk instead of compiling them again.

On by default in a user cache folder (`$XDG_CACHE_HOME/jaxshape/xla`, else
`~/.cache/jaxshape/xla`). `JAXSHAPE_COMPILE_CACHE=0` (or `off`) turns it off, any other
value is the folder to use; `--no-compile-cache` on the command line turns it off too. A
cache folder configured for JAX itself (`JAX_COMPILATION_CACHE_DIR`) is left as it is.
Programs read from the cache are the ones XLA would have built: results do not change.
"""

from __future__ import annotations

import os
import pathlib

ENV_VAR = "JAXSHAPE_COMPILE_CACHE"
OFF = ("0", "off", "false", "no")
MIN_COMPILE_SECONDS = 0.1  # cache every program that takes longer than this to compile


def default_folder() -> pathlib.Path:
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "jaxshape" / "xla"


def configure(enabled: bool = True) -> pathlib.Path | None:
    """Point JAX's persistent cache at the folder the settings above choose; returns it
    (None when the cache is off). Call it before anything compiles."""
    import jax

    choice = os.environ.get(ENV_VAR, "").strip()
    if not enabled or choice.lower() in OFF:
        jax.config.update("jax_enable_compilation_cache", False)
        return None
    if os.environ.get("JAX_COMPILATION_CACHE_DIR") and not choice:
        return pathlib.Path(os.environ["JAX_COMPILATION_CACHE_DIR"])
    folder = pathlib.Path(choice) if choice else default_folder()
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    return folder
