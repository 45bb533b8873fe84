"""Pure, stateful, composable reward transforms (see DESIGN.md and REWARDS.md)."""

from jaxshape.rewards.base import (
    EXTRINSIC,
    NOT_INVARIANT,
    POLICY_INVARIANT,
    POSITIVE_SCALE,
    RewardTransform,
    Rewards,
    Stream,
    identity,
    no_state,
    no_update,
    reset_where,
    weighted_sum,
)
from jaxshape.rewards.combine import chain

__all__ = [
    "EXTRINSIC",
    "NOT_INVARIANT",
    "POLICY_INVARIANT",
    "POSITIVE_SCALE",
    "RewardTransform",
    "Rewards",
    "Stream",
    "chain",
    "identity",
    "no_state",
    "no_update",
    "reset_where",
    "weighted_sum",
]
