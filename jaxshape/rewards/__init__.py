"""Pure, stateful, composable reward transforms (see DESIGN.md and REWARDS.md)."""

from jaxshape.rewards.base import (
    NOT_INVARIANT,
    POLICY_INVARIANT,
    POSITIVE_SCALE,
    RewardTransform,
    identity,
    no_update,
    weighted_sum,
)

__all__ = [
    "NOT_INVARIANT",
    "POLICY_INVARIANT",
    "POSITIVE_SCALE",
    "RewardTransform",
    "identity",
    "no_update",
    "weighted_sum",
]
