"""Hindsight experience replay (Andrychowicz et al. 2017, "Hindsight Experience Replay").

A sampled transition (s, a, r, s′, g) is relabelled, with probability k/(k+1), to
(s, a, r′, s′, g′) where g′ = achieved(s_{t+1+Δ}) is a goal achieved at a later step of
the SAME episode and r′ = goal_reward(achieved(s′), g′) is recomputed from the next
observation (never from s). The offset Δ ≥ 0 (Δ = 0 is the transition's own s′) is drawn
over the R steps of the episode stored from the transition on:

    final       Δ = R − 1                          (the last stored step of the episode)
    future      Δ ~ Uniform{0, …, R − 1}           ("future" with k relabels per transition)
    geometric   P(Δ) ∝ γ^Δ on {0, …, R − 1}        (truncated geometric, inverse CDF)

For an episode still running, "the episode" is what the buffer holds of it so far.
Goals come from `algos/replay.py`'s per-env columns, whose episode bookkeeping keeps
every goal inside its own trajectory, also across the buffer's wrap-around.

The environment describes its goals with `goal_spec(params)` (see envs/navigation.py):
where the desired goal sits in the flat observation, the success radius and the reward
kind; `info["achieved_goal"]` of each step is stored in the buffer as `achieved_goal`.
Reward streams other than `extrinsic` (e.g. shaping) keep their stored values.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from jaxshape.algos import replay
from jaxshape.rewards.goals import goal_reward_fn

STRATEGIES = ("none", "final", "future", "geometric")
# the goal reward is shared with the reward transforms (jaxshape/rewards/goals.py)
__all__ = ["STRATEGIES", "GoalSpec", "goal_reward_fn", "hindsight_goals", "relabel", "sample_offsets"]


@dataclasses.dataclass(frozen=True)
class GoalSpec:
    """Where the desired goal sits in a flat observation, and how reaching it pays.

    Attributes:
      obs_slice: (start, stop) of the desired goal in the observation's last axis.
      eps: success radius ε.
      kind: goal-reward kind of `jaxshape.rewards.goals.goal_reward_fn`: "sparse"
        (−1[‖achieved − desired‖ > ε]), "success" (+1[… ≤ ε]) or "dense" (−‖…‖).
    """

    obs_slice: tuple[int, int]
    eps: float
    kind: str = "sparse"

    def with_goal(self, obs: jax.Array, goal: jax.Array) -> jax.Array:
        start, stop = self.obs_slice
        return obs.at[..., start:stop].set(goal.astype(obs.dtype))

    def reward(self, achieved: jax.Array, desired: jax.Array) -> jax.Array:
        return goal_reward_fn(achieved, desired, self.eps, self.kind)


def sample_offsets(key: jax.Array, remaining: jax.Array, strategy: str, gamma: Any) -> jax.Array:
    """Offsets Δ in {0, …, remaining − 1} (int32, shaped like `remaining`) by `strategy`.

    geometric: with c = 1 − γ^R, Δ = ⌊log(1 − u·c) / log γ⌋ for u ~ U[0, 1), so
    P(Δ ≤ d) = (1 − γ^{d+1}) / (1 − γ^R).
    """
    remaining = remaining.astype(jnp.int32)
    u = jax.random.uniform(key, remaining.shape)
    r = remaining.astype(jnp.float32)
    if strategy == "final":
        offset = r - 1.0
    elif strategy == "future":
        offset = jnp.floor(u * r)
    elif strategy == "geometric":
        gamma = jnp.clip(jnp.asarray(gamma, jnp.float32), 1e-6, 1.0 - 1e-6)
        mass = 1.0 - gamma**r
        offset = jnp.floor(jnp.log1p(-u * mass) / jnp.log(gamma))
    else:
        raise ValueError(f"HER strategy {strategy!r} unknown; choose one of {STRATEGIES}")
    return jnp.clip(offset, 0.0, r - 1.0).astype(jnp.int32)


def hindsight_goals(
    key: jax.Array, buffer: replay.ReplayBuffer, rows: jax.Array, cols: jax.Array, strategy: str, k: int, gamma: Any
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """For sampled slots `(rows, cols)`: (goals `[B, G]`, relabel mask `[B]`, goal rows `[B]`).

    Each goal is `achieved_goal` stored at row `(rows + Δ) % buffer.rows` of the same
    column: a later (or the same) step of the same episode. The mask is Bernoulli(k/(k+1)).
    """
    offset_key, mask_key = jax.random.split(key)
    offsets = sample_offsets(offset_key, replay.remaining(buffer, rows, cols), strategy, gamma)
    goal_rows = (rows + offsets) % buffer.rows
    goals = buffer.data["achieved_goal"][goal_rows, cols]
    relabel = jax.random.uniform(mask_key, rows.shape) < k / (k + 1.0)
    return goals, relabel, goal_rows


def relabel(
    key: jax.Array,
    buffer: replay.ReplayBuffer,
    rows: jax.Array,
    cols: jax.Array,
    batch: dict[str, Any],
    spec: GoalSpec,
    strategy: str,
    k: int,
    gamma: Any,
) -> tuple[dict[str, Any], jax.Array]:
    """A gathered batch with hindsight goals written into obs and next_obs and the
    `extrinsic` stream recomputed from the next observation's achieved goal.

    Returns (batch, relabel mask). The env's own reward must be
    `spec.reward(info["achieved_goal"], desired goal)` for the relabelled rewards to
    mean the same thing as the stored ones.
    """
    goals, mask, _ = hindsight_goals(key, buffer, rows, cols, strategy, k, gamma)
    column = mask[:, None]
    obs = jnp.where(column, spec.with_goal(batch["obs"], goals), batch["obs"])
    next_obs = jnp.where(column, spec.with_goal(batch["next_obs"], goals), batch["next_obs"])
    rewards = dict(batch["rewards"])
    rewards["extrinsic"] = jnp.where(mask, spec.reward(batch["achieved_goal"], goals), rewards["extrinsic"])
    return {**batch, "obs": obs, "next_obs": next_obs, "rewards": rewards}, mask
