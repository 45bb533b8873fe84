"""Small pytree helpers for sweeps."""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp


def stack(trees: Sequence[Any]) -> Any:
    """Stack same-structured pytrees along a new leading axis (for `jax.vmap`)."""
    return jax.tree.map(lambda *leaves: jnp.stack([jnp.asarray(x) for x in leaves]), *trees)


def index(tree: Any, i: int) -> Any:
    """The `i`-th member of a stacked pytree."""
    return jax.tree.map(lambda x: x[i], tree)
