"""Small pytree helpers: stacking members for `jax.vmap`, and leaves by dotted path."""

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


def _key_name(key: Any) -> str:
    for attr in ("name", "key", "idx"):
        if hasattr(key, attr):
            return str(getattr(key, attr))
    return str(key)


def leaf_names(tree: Any) -> list[str]:
    """Each leaf's path as a dotted name (`reward_coefs.rnd`, `params.actor.0.w`), in
    `jax.tree.leaves` order."""
    return [".".join(_key_name(k) for k in path) or "root" for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]
