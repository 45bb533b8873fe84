"""The reward-transform interface.

A `RewardTransform` is a few pure functions, in the way an optax transformation is
`init`/`update`:

    init(key, example_transition) -> state
    apply(state, transition, hparams, rewards=None) -> (rewards, state)  # every step
    update(state, batch, key, hparams) -> (state, metrics)               # every update
    observe(state) -> features [num_envs, F]        # optional: state the policy sees

`rewards` is a dict of named streams, each shaped like `transition.reward`
([num_envs]). `apply` receives the streams made so far (by default
`{"extrinsic": transition.reward}`) and returns them with its own streams added or
rewritten, so transforms chain like optax transformations. A learner optimises the
coefficient-weighted sum of the episodic streams; a stream declared non-episodic gets
its own value head and discount in PPO.

Every number a transform reads at run time (coefficients, scales, learning rates) comes
from `hparams`, a pytree of traced leaves, so sweeping them under `jax.vmap` never
recompiles. State has an episodic part, reset per env where `transition.done`, and a
persistent part (statistics, networks, counts) shared across the env axis; each
transform resets its own episodic part inside `apply` (see `reset_where`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp

from jaxshape.types import Transition

Rewards = dict[str, jax.Array]

POLICY_INVARIANT = "policy-invariant"  # optimal policy unchanged (potential shaping)
POSITIVE_SCALE = "positive-scale"  # a positive rescaling of the reward (return-std normalisation)
NOT_INVARIANT = "none"  # may change the optimal policy (bonuses, clip, symlog)


@dataclasses.dataclass(frozen=True)
class Stream:
    """A named reward stream a transform produces.

    Attributes:
      name: the key in the rewards dict, and in logged metrics (`reward/<name>`).
      coef: default weight in the learner's sum (a traced hparam, `reward_coefs`).
      episodic: False for a stream that must not be cut at episode ends (RND's
        intrinsic reward); PPO gives it its own value head.
      gamma: discount of a non-episodic stream's own value head (None: the learner's).
    """

    name: str
    coef: float = 1.0
    episodic: bool = True
    gamma: float | None = None


EXTRINSIC = Stream("extrinsic")


@dataclasses.dataclass(frozen=True, eq=False)
class RewardTransform:
    """A pure, stateful reward transformation.

    Attributes:
      init, update: as in the module docstring; `update` may be `no_update`.
      apply_fn: `(state, transition, rewards, hparams) -> (rewards, state)`; call it
        through `apply`, which fills in the default incoming streams.
      streams: the streams this transform adds (not those it only rewrites).
      default_hparams: this transform's traced hyperparameters (a dict pytree).
      invariance: `POLICY_INVARIANT`, `POSITIVE_SCALE` or `NOT_INVARIANT`.
      nonlinear: True for a transform that bends rewards non-linearly (clip, symlog):
        placed after potential shaping it breaks policy invariance.
      observe: optional `state -> [num_envs, F]` features appended to the policy's
        observation (a visited-set summary, an automaton state).
      name: a short name, used as this transform's key in a chain's hparams.
      log_extrinsic: learners also log the `extrinsic` stream's per-episode sum
        (`episode_reward/extrinsic`) beside the env's return. `select` sets it, whose
        candidates may rescale or split the env reward; off elsewhere, so a run's state
        (and its checkpoints) keep their shape.
    """

    init: Callable[[jax.Array, Transition], Any]
    apply_fn: Callable[[Any, Transition, Rewards, Any], tuple[Rewards, Any]]
    update: Callable[[Any, Transition, jax.Array, Any], tuple[Any, dict[str, jax.Array]]]
    streams: tuple[Stream, ...] = ()
    default_hparams: Any = dataclasses.field(default_factory=dict)
    invariance: str = POLICY_INVARIANT
    nonlinear: bool = False
    observe: Callable[[Any], jax.Array] | None = None
    name: str = "transform"
    log_extrinsic: bool = False

    def apply(self, state: Any, transition: Transition, hparams: Any = None, rewards: Rewards | None = None):
        """Rewards after this transform, and the new state.

        `hparams` defaults to `default_hparams`; `rewards` to the env reward as the
        `extrinsic` stream."""
        hparams = self.default_hparams if hparams is None else hparams
        rewards = {"extrinsic": transition.reward} if rewards is None else rewards
        return self.apply_fn(state, transition, rewards, hparams)

    @property
    def all_streams(self) -> tuple[Stream, ...]:
        """The extrinsic stream and every stream this transform adds."""
        added = tuple(s for s in self.streams if s.name != "extrinsic")
        return (EXTRINSIC,) + added

    @property
    def episode_streams(self) -> tuple[str, ...]:
        """The streams whose per-episode sums a learner logs as `episode_reward/<name>`."""
        return tuple(s.name for s in self.all_streams if s.name != "extrinsic" or self.log_extrinsic)


def no_update(state: Any, batch: Transition, key: jax.Array, hparams: Any):
    """`update` for transforms that learn nothing."""
    del batch, key, hparams
    return state, {}


def no_state(key: jax.Array, example: Transition) -> tuple:
    """`init` for stateless transforms."""
    del key, example
    return ()


def reset_where(done: jax.Array, state: Any, initial: Any) -> Any:
    """Per env, replace `state` by `initial` where `done` ([num_envs] bool)."""

    def pick(fresh, old):
        mask = done.reshape(done.shape + (1,) * (old.ndim - done.ndim))
        return jnp.where(mask, fresh, old)

    return jax.tree.map(pick, initial, state)


def identity() -> RewardTransform:
    """Pass the environment's reward through as the `extrinsic` stream."""

    def apply_fn(state, transition, rewards, hparams):
        del transition, hparams
        return rewards, state

    return RewardTransform(no_state, apply_fn, no_update, name="identity")


def final_features(transform: RewardTransform, state: Any, transition: Transition, hparams: Any) -> jax.Array:
    """`observe` of the state the episode ENDS in, for the bootstrap V(s′) at a time limit.

    `apply` resets a transform's episodic part where the episode ended, so `observe` of
    its new state describes the next episode (the automaton back in its start state, an
    empty visited set). The value of the true last observation s′ must instead see what
    the agent held at s′: this applies `transform` to `transition` with the end of the
    episode not signalled (no reset) from the state before the step, and observes that.
    Where the episode goes on, it equals `observe` of `apply`'s new state."""
    still_running = transition.replace(terminated=jnp.zeros_like(transition.terminated),
                                       truncated=jnp.zeros_like(transition.truncated))
    return transform.observe(transform.apply(state, still_running, hparams)[1])


def members_observe(members: tuple[RewardTransform, ...]) -> Callable[[Any], jax.Array] | None:
    """`observe` for a combinator whose state is the tuple of its members' states: the
    observing members' features side by side (None when no member observes)."""
    observers = [(i, t.observe) for i, t in enumerate(members) if t.observe is not None]
    if not observers:
        return None

    def observe(state):
        return jnp.concatenate([obs(state[i]) for i, obs in observers], axis=-1)

    return observe


def weighted_sum(rewards: Rewards, coefs: dict[str, jax.Array]) -> jax.Array:
    """Σ_k coef_k · r_k over the named streams that have a coefficient."""
    terms = [jnp.asarray(coefs[name], jnp.float32) * r for name, r in sorted(rewards.items()) if name in coefs]
    return sum(terms[1:], terms[0])
