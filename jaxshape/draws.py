"""Random draws that XLA's CPU compiler builds faster, bitwise equal to `jax.random`'s.

With jax's partitionable threefry (the default) a draw of a multi-dimensional shape
compiles about twice as slowly on CPU as a flat draw of the same size, and the flat
draw reshaped gives the very same numbers (each element's bits depend on its position
in row-major order only). Compiling the training program is part of the time a user
waits (6 orthogonal initialisations drawn as matrices took 2.6 s of XLA compile under
`vmap`, 1.3 s drawn flat), so the draws in jaxshape's hot paths go through here.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp


def _flat(draw, key, shape, *args, **kwargs) -> jax.Array:
    shape = tuple(shape)
    return draw(key, (math.prod(shape),), *args, **kwargs).reshape(shape)


def normal(key: jax.Array, shape, dtype=jnp.float32) -> jax.Array:
    """`jax.random.normal(key, shape, dtype)`, drawn flat."""
    return _flat(jax.random.normal, key, shape, dtype)


def uniform(key: jax.Array, shape, dtype=jnp.float32, minval=0.0, maxval=1.0) -> jax.Array:
    """`jax.random.uniform(key, shape, dtype, minval, maxval)`, drawn flat."""
    return _flat(jax.random.uniform, key, shape, dtype, minval, maxval)


def gumbel(key: jax.Array, shape, dtype=jnp.float32) -> jax.Array:
    """`jax.random.gumbel(key, shape, dtype)`, drawn flat."""
    return _flat(jax.random.gumbel, key, shape, dtype)


def categorical(key: jax.Array, logits: jax.Array) -> jax.Array:
    """`jax.random.categorical(key, logits)` over the last axis (the Gumbel-max trick with
    the same Gumbel noise), drawn flat."""
    return jnp.argmax(logits + gumbel(key, logits.shape, logits.dtype), axis=-1)
