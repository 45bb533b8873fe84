"""Members sharded over 4 forced CPU devices equal an unsharded run, and a sweep over two
processes joined by jax.distributed equals a single-process sweep. Each case runs in a
subprocess: XLA_FLAGS must be set before jax initialises."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np

SHARDED_VS_UNSHARDED = textwrap.dedent("""
    import os, sys
    os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
    import json, jax, numpy as np
    from jaxshape import pytree
    from jaxshape.algos import PPOConfig, default_hparams, make_ppo
    from jaxshape.run.driver import Driver, members_mesh
    assert len(jax.devices()) == 4
    ppo = make_ppo(PPOConfig(num_envs=4, num_steps=8, total_steps=4 * 8 * 4, num_epochs=1, num_minibatches=2,
                             hidden_sizes=(8,)))
    keys = jax.random.split(jax.random.PRNGKey(3), 4)
    hp = pytree.stack([default_hparams(learning_rate=lr) for lr in (3e-2, 1e-2, 1e-3, 1e-4)])
    out = {}
    for name, mesh in (("plain", None), ("sharded", members_mesh())):
        driver = Driver(ppo, num_updates=4, chunk_size=2, mesh=mesh)
        driver.compile(keys, hp)
        chunks = []
        state, _ = driver.run(keys, hp, chunks.append)
        leaf = jax.tree.leaves(state.params)[0]
        out[name] = {"devices": len(leaf.sharding.device_set),
                     "shard_rows": sorted({s.data.shape[0] for s in leaf.addressable_shards}),
                     "params": [np.asarray(x).tolist() for x in jax.tree.leaves(state.params)],
                     "loss": np.concatenate([c["loss_total"] for c in chunks], 1).tolist(),
                     "ret": np.concatenate([c["episode_return"] for c in chunks], 1).tolist()}
    print("RESULT" + json.dumps(out))
""")


def _python(code, env_extra=None, timeout=300):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)


def test_sharded_members_equal_unsharded_and_live_on_4_devices():
    done = _python(SHARDED_VS_UNSHARDED)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.split("RESULT", 1)[1])
    plain, sharded = out["plain"], out["sharded"]
    assert plain["devices"] == 1 and sharded["devices"] == 4 and sharded["shard_rows"] == [1]
    np.testing.assert_array_equal(sharded["ret"], plain["ret"])
    # each device runs the same program on 1 member instead of 4: XLA's CPU code for the
    # smaller batch may round differently in the last bits; it holds to float32 precision
    np.testing.assert_allclose(sharded["loss"], plain["loss"], rtol=1e-5, atol=1e-6)
    for a, b in zip(sharded["params"], plain["params"]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


SWEEP = ["--num-envs", "4", "--num-steps", "8", "--total-steps", str(4 * 8 * 4), "--num-epochs", "1",
         "--num-minibatches", "2", "--hidden-sizes", "8", "--chunk-updates", "2", "--no-progress",
         "--grid", "learning_rate=3e-2,1e-3", "--num-seeds", "2", "--max-batch", "2"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# process 1 reaches the sweep late (slow imports, a busy machine): it must still find the
# folder empty, so process 0 may not write sweep.json before every process has checked it
LATE_PROCESS = textwrap.dedent("""
    import sys, time
    import jaxshape.sweep.execute as execute
    build = execute._build
    execute._build = lambda spec: (time.sleep(10), build(spec))[1]
    from jaxshape.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_two_process_sweep_equals_single_process(tmp_path):
    env = {"XLA_FLAGS": os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"}
    args = ["sweep", *SWEEP]
    port = _free_port()
    # no shared compilation cache (tests/conftest.py): process 1 could read an entry that
    # process 0 is still writing
    full_env = {**{k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}, **env}
    launch = {0: [sys.executable, "-m", "jaxshape"], 1: [sys.executable, "-c", LATE_PROCESS]}
    procs = [subprocess.Popen([*launch[i], *args, "--out", str(tmp_path / "multi"), "--coordinator",
                               f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", str(i)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env)
             for i in (0, 1)]
    results = [p.communicate(timeout=400) for p in procs]
    single = subprocess.run([sys.executable, "-m", "jaxshape", *args, "--out", str(tmp_path / "single")],
                            capture_output=True, text=True, env=full_env, timeout=400)
    assert single.returncode == 0, single.stderr[-3000:]
    codes = [p.returncode for p in procs]
    assert codes == [0, 0], "\n".join(f"process {i} exited {c}:\n{err[-2000:]}"
                                       for i, (c, (_, err)) in enumerate(zip(codes, results)))

    multi = json.loads((tmp_path / "multi" / "sweep.json").read_text())
    assert multi["processes"] == 2 and [b["process"] for b in multi["batches"]] == [0, 1]
    assert "best configuration" in results[0][0] and "best configuration" not in results[1][0]  # only process 0
    # both processes trained: each batch folder has its own finished run
    assert all((tmp_path / "multi" / b["name"] / "summary.json").exists() for b in multi["batches"])
    # same batch shapes on 2 devices each: the combined results equal bitwise
    rows = lambda d: json.loads((tmp_path / d / "results.json").read_text())["rows"]  # noqa: E731
    assert rows("multi") == rows("single")
    assert len(rows("multi")) == 2 and all(r["final_return_per_seed"][0] is not None for r in rows("multi"))
