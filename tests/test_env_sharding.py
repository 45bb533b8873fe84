"""One agent split over devices (`Driver(mesh=envs_mesh(...))`, `jaxshape train
--devices N`): on 4 forced CPU devices each device holds a quarter of the envs, the
parameters are replicated, and the updates equal the one-device run's to float rounding.
Each case runs in a subprocess: XLA_FLAGS must be set before jax initialises."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from xla_settings import product_env

ONE_VS_FOUR = textwrap.dedent("""
    import os
    os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
    import json, sys, jax, numpy as np
    from jaxshape import pytree
    from jaxshape.algos import PPOConfig, default_hparams, make_ppo
    from jaxshape.run.driver import Driver, envs_mesh
    assert len(jax.devices()) == 4
    gru, members = int(sys.argv[1]), int(sys.argv[2])
    ppo = make_ppo(PPOConfig(env="CueRecall-v0" if gru else "CartPole-v1", num_envs=8, num_steps=16,
                             total_steps=8 * 16 * 4, num_epochs=2, num_minibatches=2, hidden_sizes=(16,),
                             gru_size=gru))
    keys = jax.random.split(jax.random.PRNGKey(5), members)
    hp = pytree.stack([default_hparams(learning_rate=lr) for lr in (3e-3, 1e-3)[:members]])
    out = {}
    for name, mesh in (("one", None), ("four", envs_mesh(4))):
        driver = Driver(ppo, num_updates=4, chunk_size=2, mesh=mesh)
        driver.compile(keys, hp)
        chunks = []
        state, _ = driver.run(keys, hp, chunks.append)
        obs_shards = sorted({s.data.shape[1] for s in state.obs.addressable_shards})
        param = jax.tree.leaves(state.params)[0]
        out[name] = {"obs_devices": len(state.obs.sharding.device_set), "obs_shard_envs": obs_shards,
                     "param_replicated": bool(param.sharding.is_fully_replicated),
                     "params": [np.asarray(x).tolist() for x in jax.tree.leaves(state.params)],
                     "env_obs": np.asarray(state.obs).tolist(),
                     "loss": np.concatenate([c["loss_total"] for c in chunks], 1).tolist()}
        if gru:
            out[name]["memory_shard_envs"] = sorted({s.data.shape[1] for s in state.memory.addressable_shards})
    print("RESULT" + json.dumps(out))
""")


def _run(code, *args, timeout=600, environ=None):
    env = {**(os.environ if environ is None else environ), "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                            env=env, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _result(stdout):
    return json.loads(next(line for line in stdout.splitlines() if line.startswith("RESULT"))[len("RESULT"):])


@pytest.mark.parametrize("gru, members", [(0, 1), (8, 2)], ids=["feed-forward-one-member", "gru-two-members"])
def test_one_agent_on_four_devices_equals_one_device(gru, members):
    # bitwise below: both compiles at the product's XLA settings (tests/xla_settings.py)
    out = _result(_run(ONE_VS_FOUR, gru, members, environ=product_env()).stdout)
    one, four = out["one"], out["four"]
    assert four["obs_devices"] == 4 and four["obs_shard_envs"] == [2]  # 8 envs, 2 on each device
    assert one["obs_devices"] == 1 and one["obs_shard_envs"] == [8]
    assert four["param_replicated"]
    if gru:
        assert four["memory_shard_envs"] == [2]
    np.testing.assert_array_equal(four["env_obs"], one["env_obs"])  # the same envs stepped the same way
    np.testing.assert_allclose(four["loss"], one["loss"], rtol=1e-4, atol=1e-5)
    for a, b in zip(four["params"], one["params"]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


CLI = textwrap.dedent("""
    import os, sys
    os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
    from jaxshape import cli
    sys.exit(cli.main(sys.argv[1:]))
""")
TINY = ["--num-envs", "8", "--num-steps", "8", "--total-steps", str(8 * 8 * 4), "--num-epochs", "1",
        "--num-minibatches", "2", "--hidden-sizes", "8", "--chunk-updates", "2", "--eval-episodes", "2",
        "--no-progress", "--no-plot", "--checkpoint-seconds", "0", "--no-compile-cache"]


def test_train_devices_flag_splits_the_envs_and_resumes(tmp_path):
    run = tmp_path / "run"
    _run(CLI, "train", *TINY, "--devices", "4", "--out", run)
    assert json.loads((run / "config.json").read_text())["options"]["devices"] == 4
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [64, 128, 192, 256]
    stopped = tmp_path / "stopped"
    shutil.copytree(run, stopped)
    shutil.rmtree(stopped / "checkpoints" / "4")
    (stopped / "summary.json").unlink()
    _run(CLI, "train", "--resume", stopped, "--no-progress")
    assert (stopped / "metrics.jsonl").read_text() == (run / "metrics.jsonl").read_text()


@pytest.mark.parametrize("flags, message", [
    (["--devices", "8"], "this process has 4"),
    (["--devices", "4", "--num-envs", "6", "--num-minibatches", "2"], "split evenly over 4 devices"),
])
def test_bad_device_counts_are_one_line_and_exit_2(tmp_path, flags, message):
    args = [*TINY, *flags, "--out", str(tmp_path / "run")]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", CLI, "train", *args], capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr and "Traceback" not in result.stderr
