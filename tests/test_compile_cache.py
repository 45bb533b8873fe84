"""JAX's persistent compilation cache, on by default for the CLI: a second run of the
same settings reads its programs from the user cache folder instead of compiling them;
`JAXSHAPE_COMPILE_CACHE=0` and `--no-compile-cache` turn it off."""

import json
import os
import subprocess
import sys

from xla_settings import product_env

TINY = ["--num-envs", "4", "--num-steps", "8", "--total-steps", str(4 * 8 * 4), "--num-epochs", "1",
        "--num-minibatches", "2", "--hidden-sizes", "8", "--no-progress", "--no-plot"]


def train(out, home, *flags, **env):
    # the product's own XLA settings: the test times its compile
    base = {k: v for k, v in product_env().items() if not k.startswith(("JAX_COMPILATION_CACHE", "JAXSHAPE_"))}
    result = subprocess.run([sys.executable, "-m", "jaxshape", "train", *TINY, *flags, "--out", str(out)],
                            capture_output=True, text=True, timeout=600,
                            env={**base, "XDG_CACHE_HOME": str(home), **env})
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads((out / "summary.json").read_text())


def entries(folder):
    return sorted(p.name for p in folder.rglob("*-cache")) if folder.exists() else []


def test_second_run_reads_its_programs_from_the_user_cache(tmp_path):
    home = tmp_path / "home"
    first = train(tmp_path / "first", home)
    cached = entries(home / "jaxshape" / "xla")
    assert any(name.startswith("jit_members_chunk") for name in cached), cached  # the driver's one program
    second = train(tmp_path / "second", home)
    assert second["compile_seconds"] < 0.5 * first["compile_seconds"], (first["compile_seconds"],
                                                                         second["compile_seconds"])
    assert entries(home / "jaxshape" / "xla") == cached  # nothing new was compiled
    # the cached programs are the ones XLA builds: the same result
    assert second["final_return_per_seed"] == first["final_return_per_seed"]


def probe(home, **env):
    """`compile_cache.configure()` (what every CLI command calls first) then one small
    compile, in a fresh process: where the cache lands, without a training run."""
    code = ("from jaxshape.run import compile_cache; import jax, jax.numpy as jnp; compile_cache.configure(); "
            "jax.jit(lambda x: jnp.tanh(x @ x.T).sum())(jnp.ones((64, 64))).block_until_ready()")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_COMPILATION_CACHE", "JAXSHAPE_"))}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env={**base, "XDG_CACHE_HOME": str(home), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
                                 **env})
    assert result.returncode == 0, result.stderr[-2000:]


def test_cache_is_off_by_environment_variable_or_flag(tmp_path):
    train(tmp_path / "flag_off", tmp_path / "home_flag", "--no-compile-cache")
    assert entries(tmp_path / "home_flag") == []
    probe(tmp_path / "home_on")  # the control: by default the probe's program is cached
    assert entries(tmp_path / "home_on" / "jaxshape" / "xla")
    probe(tmp_path / "home_off", JAXSHAPE_COMPILE_CACHE="0")
    assert entries(tmp_path / "home_off") == []
    probe(tmp_path / "home_elsewhere", JAXSHAPE_COMPILE_CACHE=str(tmp_path / "mine"))
    assert entries(tmp_path / "home_elsewhere") == [] and entries(tmp_path / "mine")
