"""How a sweep's members are laid out: equal batches that fit the device's memory, a
batch size that splits evenly over the devices, and a batch count that splits evenly
over the processes.

Memory planning reads the device's `memory_stats()["bytes_limit"]` (GPUs and TPUs report
it; CPUs do not) and the compiled memory use of a small probe batch, so a sweep of
thousands of members never asks for more memory than the device has.
"""

from __future__ import annotations

import resource
from typing import Any

import jax

from jaxshape.errors import ConfigError
from jaxshape.run import job
from jaxshape.run.driver import Driver

MEMORY_FRACTION = 0.6  # of the device's bytes_limit a batch may plan to use
PROBE_MEMBERS = 16


def plan_batches(num_members: int, max_batch: int | None = None, fits: int | None = None,
                 devices: int = 1, processes: int = 1) -> tuple[int, int]:
    """(batch_size, num_batches): the fewest equal batches under the caps, with a batch
    size that is a multiple of `devices` and a batch count that is a multiple of
    `processes` (every process runs the same number of equal batches)."""
    if max_batch is not None and max_batch < devices:
        raise ConfigError(f"max_batch={max_batch} is smaller than the {devices} devices: give at least {devices}")
    caps = [c for c in (max_batch, fits) if c]
    cap = max(devices, (min(caps) if caps else num_members) // devices * devices)
    num_batches = -(-num_members // cap)
    num_batches = -(-num_batches // processes) * processes
    batch_size = -(-num_members // num_batches)
    batch_size = -(-batch_size // devices) * devices
    return batch_size, num_batches


def device_memory_limit() -> int | None:
    """The smallest `bytes_limit` the local devices report, None where they report none."""
    limits = [(d.memory_stats() or {}).get("bytes_limit") for d in jax.local_devices()]
    return None if any(limit is None for limit in limits) else int(min(limits))


def members_that_fit(driver: Driver, hparams: Any, probe: int = PROBE_MEMBERS) -> int | None:
    """Members per device that fit in `MEMORY_FRACTION` of the device's memory, from the
    compiled memory use (arguments, outputs, temporaries) of a `probe`-member chunk;
    None where the device reports no limit."""
    limit = device_memory_limit()
    if limit is None:
        return None
    keys = jax.random.split(jax.random.PRNGKey(0), probe)
    memory = driver.lower_chunk(keys, job.broadcast_hparams(hparams, probe)).compile().memory_analysis()
    used = memory.temp_size_in_bytes + memory.argument_size_in_bytes + memory.output_size_in_bytes
    return max(1, int(MEMORY_FRACTION * limit * probe / max(used, 1)))


def peak_memory() -> dict[str, Any]:
    """Peak device memory (memory_stats' peak_bytes_in_use, max over local devices) when
    the device reports it, else this process's peak host RSS."""
    peaks = [(d.memory_stats() or {}).get("peak_bytes_in_use") for d in jax.local_devices()]
    if all(p is not None for p in peaks):
        return {"peak_bytes": int(max(peaks)), "source": "device memory_stats peak_bytes_in_use"}
    return {"peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "source": "host max RSS"}


def plan(configs: list[dict], seeds: tuple[int, ...], max_batch: int | None, per_device: int | None,
         devices: int, processes: int) -> dict:
    """Members (configuration x seed) dealt into equal batches, the last padded by
    repeating members (their results are dropped); batch i runs on process i mod P."""
    num_members = len(configs) * len(seeds)
    batch_size, num_batches = plan_batches(num_members, max_batch, per_device and per_device * devices,
                                           devices, processes)
    members = [{"config": c, "seed": s} for c in range(len(configs)) for s in seeds]
    padded = [m % num_members for m in range(batch_size * num_batches)]
    batches = [{"name": f"batch-{b:03d}", "members": padded[b * batch_size:(b + 1) * batch_size],
                "real": max(0, min(batch_size, num_members - b * batch_size)), "process": b % processes}
               for b in range(num_batches)]
    return {"configurations": configs, "members": members, "batch_size": batch_size, "batches": batches,
            "devices_per_process": devices, "processes": processes}
