"""Running mean and variance, shared across a batch axis (parallel Welford update).

Chan, Golub & LeVeque (1979): merging a batch of size m with mean μ_b and variance σ²_b
into running statistics (n, μ, σ²) gives
    n' = n + m,  δ = μ_b − μ,  μ' = μ + δ·m/n',
    σ²' = (n·σ² + m·σ²_b + δ²·n·m/n') / n'.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class RunningMeanStd:
    mean: jax.Array
    var: jax.Array
    count: jax.Array

    @classmethod
    def create(cls, shape: tuple[int, ...]) -> "RunningMeanStd":
        return cls(jnp.zeros(shape, jnp.float32), jnp.ones(shape, jnp.float32), jnp.asarray(1e-4, jnp.float32))

    def update(self, batch: jax.Array) -> "RunningMeanStd":
        """Merge `batch` (leading axes are samples; trailing axes match `mean`)."""
        sample_axes = tuple(range(batch.ndim - self.mean.ndim))
        batch_mean = batch.mean(axis=sample_axes)
        batch_var = batch.var(axis=sample_axes)
        batch_count = jnp.asarray(batch.size // max(self.mean.size, 1), jnp.float32)
        total = self.count + batch_count
        delta = batch_mean - self.mean
        mean = self.mean + delta * batch_count / total
        m2 = self.var * self.count + batch_var * batch_count + delta**2 * self.count * batch_count / total
        return RunningMeanStd(mean, m2 / total, total)

    def normalize(self, x: jax.Array, clip: float = 10.0, eps: float = 1e-8) -> jax.Array:
        return jnp.clip((x - self.mean) / jnp.sqrt(self.var + eps), -clip, clip)
