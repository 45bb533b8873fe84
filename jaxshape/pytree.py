"""Small pytree helpers: stacking members for `jax.vmap`, and leaves by dotted path."""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np


def stack(trees: Sequence[Any]) -> Any:
    """Stack same-structured pytrees along a new leading axis (for `jax.vmap`)."""
    return jax.tree.map(lambda *leaves: jnp.stack([jnp.asarray(x) for x in leaves]), *trees)


def index(tree: Any, i: int) -> Any:
    """The `i`-th member of a stacked pytree."""
    return jax.tree.map(lambda x: x[i], tree)


def _key_name(key: Any) -> str:
    for attr in ("name", "key", "idx"):
        if hasattr(key, attr):
            return str(getattr(key, attr))
    return str(key)


def leaf_names(tree: Any) -> list[str]:
    """Each leaf's path as a dotted name (`reward_coefs.rnd`, `params.actor.0.w`), in
    `jax.tree.leaves` order."""
    return [".".join(_key_name(k) for k in path) or "root" for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]


def is_key(leaf: Any) -> bool:
    """True for a typed PRNG key array (or its abstract shape)."""
    return jax.dtypes.issubdtype(getattr(leaf, "dtype", np.float32), jax.dtypes.prng_key)


def key_impl(leaf: Any) -> Any:
    """The PRNG implementation of a typed key array or of its abstract shape."""
    return jax.random.key_impl(jnp.zeros((), leaf.dtype))


def host_zeros(leaf: Any) -> Any:
    """Zeros of `leaf`'s shape and dtype made on the host (no program compiles); a typed
    key becomes the key of all-zero key data."""
    if is_key(leaf):
        data = jax.eval_shape(jax.random.key_data, leaf)
        return jax.random.wrap_key_data(np.zeros(data.shape, data.dtype), impl=key_impl(leaf))
    return np.zeros(leaf.shape, leaf.dtype)
