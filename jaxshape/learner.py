"""What a learner offers the run layer (the job, the driver, sweeps and the CLI).

PPO (`jaxshape.algos.ppo.PPO`) and SAC (`jaxshape.algos.sac.SAC`) implement it; a new
learner that does can be trained, checkpointed, evaluated and swept by `jaxshape train`
and `jaxshape sweep` without changes there.

Optional: a learner with `unrolled_threefry = True` has the Driver lower its programs under
`jaxshape.threefry.unrolled_threefry` (the same random bits without JAX's CPU loop). PPO sets
it: its rollout makes a few small draws per env step, and CartPole ran 6% faster at the same
compile time. SAC does not: its run was no faster and its compile 30-45% longer (Pendulum).
"""

from __future__ import annotations

from typing import Any, Protocol

import jax
import jax.numpy as jnp


class LearnerConfig(Protocol):
    """The static settings the run layer reads (a frozen, hashable dataclass)."""

    env: str
    num_updates: int  # updates in a whole run
    batch_size: int  # env steps per update


class LearnerState(Protocol):
    params: Any  # every learned parameter: the NaN guard checks them after each chunk


class Learner(Protocol):
    config: LearnerConfig
    transform: Any  # its reward transform (`jaxshape.rewards.RewardTransform`)

    def init(self, key: jax.Array, hparams: Any) -> LearnerState: ...

    def update(self, state: LearnerState, hparams: Any) -> tuple[LearnerState, dict[str, jax.Array]]: ...

    def evaluate(self, state: LearnerState, hparams: Any, key: jax.Array, num_episodes: int) -> dict[str, jax.Array]:
        """Greedy evaluation: {"eval_return", "eval_length"} as scalars."""
        ...

    def act(self, state: LearnerState, obs: jax.Array, key: jax.Array, deterministic: bool = False) -> jax.Array: ...


def params_finite(params: Any) -> jax.Array:
    """True when every floating-point leaf of `params` is finite (a scalar bool)."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(params) if jnp.issubdtype(x.dtype, jnp.floating)]
    return jnp.stack(leaves).all() if leaves else jnp.bool_(True)
