"""Orthogonal initialisation from matrix products only (no QR decomposition).

`flax`'s orthogonal initialiser takes the QR decomposition of a Gaussian matrix. Under
`jax.vmap` (a sweep initialises every member's networks at once) that becomes a batched
QR custom call, which on a 2-core CPU with jax 0.10 was seen to deadlock the XLA thread
pool. This initialiser computes the same distribution with matrix products alone:

the polar factor U = G(GᵀG)^(-1/2) of a Gaussian matrix G is uniformly (Haar)
distributed on the orthogonal matrices / the Stiefel manifold, and the Newton–Schulz
iteration X ← 1.5·X − 0.5·X·XᵀX, started from G/‖G‖_F (all singular values in (0, 1]),
converges to it (Higham, "Functions of Matrices", 2008, §8.3): each step multiplies a
small singular value by about 1.5 and squares the error of one near 1.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxshape import draws

NEWTON_SCHULZ_STEPS = 80  # enough for singular values down to 1e-12 of the largest


def polar_factor(matrix: jax.Array, steps: int = NEWTON_SCHULZ_STEPS) -> jax.Array:
    """The orthonormal-column factor U of a tall matrix (rows ≥ columns)."""
    x = matrix / jnp.linalg.norm(matrix)

    def step(_, x):
        return 1.5 * x - 0.5 * x @ (x.T @ x)

    return jax.lax.fori_loop(0, steps, step, x)


def orthogonal(scale: float = 1.0):
    """A flax-compatible kernel initialiser: `scale` × a Haar-random orthogonal matrix
    (orthonormal rows or columns for a rectangular kernel)."""

    def init(key: jax.Array, shape, dtype=jnp.float32) -> jax.Array:
        rows, cols = math.prod(shape[:-1]), shape[-1]
        tall = (max(rows, cols), min(rows, cols))
        q = polar_factor(draws.normal(key, tall, jnp.float32))
        q = q if rows >= cols else q.T
        return (scale * q).reshape(shape).astype(dtype)

    return init
