"""Branches that only an accelerator takes, run on the CPU: memory planning reads
`memory_stats()["bytes_limit"]`, which GPUs and TPUs report and CPUs do not. Here a CPU
device reports one, and a sweep must plan, split and finish its batches by it.
(Sharding over devices and several processes: tests/test_sweep_sharding.py.)"""

import json

import jax
import pytest

from jaxshape import cli, sweep
from jaxshape.algos import PPOConfig, default_hparams, make_ppo
from jaxshape.run import job
from jaxshape.run.driver import Driver
from jaxshape.sweep import plan

CONFIG = PPOConfig(num_envs=4, num_steps=8, total_steps=4 * 8 * 4, num_epochs=1, num_minibatches=2, hidden_sizes=(8,))
TINY = ["--num-envs", "4", "--num-steps", "8", "--total-steps", str(4 * 8 * 4), "--num-epochs", "1",
        "--num-minibatches", "2", "--hidden-sizes", "8", "--chunk-updates", "2", "--no-progress"]


class ReportsMemoryLimit:
    """A real local device that also reports a memory limit, as a GPU's does."""

    def __init__(self, device, bytes_limit):
        self._device, self._limit = device, bytes_limit

    def memory_stats(self):
        return {"bytes_limit": self._limit, "bytes_in_use": 0, "peak_bytes_in_use": 123 * 2**20}

    def __getattr__(self, name):
        return getattr(self._device, name)


def bytes_per_probe():
    driver = Driver(make_ppo(CONFIG), CONFIG.num_updates, 2)
    keys = jax.random.split(jax.random.PRNGKey(0), plan.PROBE_MEMBERS)
    memory = driver.lower_chunk(keys, job.broadcast_hparams(default_hparams(), plan.PROBE_MEMBERS)).compile()
    memory = memory.memory_analysis()
    return memory.temp_size_in_bytes + memory.argument_size_in_bytes + memory.output_size_in_bytes


def test_cpu_reports_no_limit_so_nothing_is_planned():
    assert plan.device_memory_limit() is None
    assert plan.members_that_fit(Driver(make_ppo(CONFIG), CONFIG.num_updates, 2), default_hparams()) is None


def test_sweep_splits_its_members_by_the_device_memory_limit(monkeypatch, tmp_path):
    per_probe = bytes_per_probe()
    # a limit whose planned share holds 3 members and a bit, not 4
    limit = int(3.5 * per_probe / plan.PROBE_MEMBERS / plan.MEMORY_FRACTION)
    real = jax.local_devices()
    monkeypatch.setattr(jax, "local_devices", lambda *a, **k: [ReportsMemoryLimit(d, limit) for d in real])
    assert plan.device_memory_limit() == limit

    out = tmp_path / "sweep"
    argv = ["sweep", *TINY, "--grid", "learning_rate=3e-2,1e-3,1e-4,3e-4", "--num-seeds", "2", "--out", str(out)]
    assert cli.main(argv) == 0
    record = json.loads((out / "sweep.json").read_text())
    assert record["members_per_device_that_fit"] == 3
    assert record["batch_size"] == 3 and len(record["batches"]) == 3  # 8 members in 3 equal batches, one padded
    assert all((out / b["name"] / "summary.json").exists() for b in record["batches"])
    assert record["report"]["peak_memory_per_process"][0] == {
        "peak_bytes": 123 * 2**20, "source": "device memory_stats peak_bytes_in_use"}
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert len(rows) == 4 and all(r["num_seeds"] == 2 for r in rows)


def test_a_limit_below_one_member_still_plans_one_per_batch(monkeypatch):
    real = jax.local_devices()
    monkeypatch.setattr(jax, "local_devices", lambda *a, **k: [ReportsMemoryLimit(d, 1) for d in real])
    driver = Driver(make_ppo(CONFIG), CONFIG.num_updates, 2)
    assert plan.members_that_fit(driver, default_hparams()) == 1
    assert sweep.plan_batches(5, fits=1) == (1, 5)


@pytest.mark.parametrize("members", [1, 3])
def test_memory_probe_lowers_the_chunk_the_driver_runs(members):
    """The probe goes through the driver's own chunk signature (the GPU branch once
    called it with a stale one)."""
    driver = Driver(make_ppo(CONFIG), CONFIG.num_updates, 2)
    keys = jax.random.split(jax.random.PRNGKey(0), members)
    lowered = driver.lower_chunk(keys, job.broadcast_hparams(default_hparams(), members))
    assert lowered.compile().memory_analysis().argument_size_in_bytes > 0
