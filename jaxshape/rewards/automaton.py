"""Reward machines and subgoal sequences (Toro Icarte et al., ICML 2018; JAIR 2022).

A reward machine is a finite automaton over labels of the environment: its state u
(one int per env, episodic) advances by a transition table δ(u, l) on the label
l = L(s′) of each next observation, and an edge reward R(u, l) is attached to each
transition. It is paid in one of two ways:

- `mode="reward"`: the raw edge reward r = R(u, l). This changes the task (it is the
  task when the automaton *is* the specification); NOT_INVARIANT. A raw bonus on an
  automaton with a cycle can be farmed by looping.
- `mode="shaping"`: potential shaping over the automaton state,
  F = γ·Φ(u′)·(1 − terminated) − Φ(u), with Φ(u) = sign·V(u) and V computed at build
  time by value iteration over the automaton treated as a deterministic MDP whose
  actions are the labels: V(u) = max_l [R(u, l) + γ_vi·V(δ(u, l))], V(terminal) = 0
  (the "automated reward shaping" of Toro Icarte et al. 2022). Being potential-based
  (Ng et al. 1999) it is POLICY_INVARIANT for either sign, and no loop can farm it: the
  discounted sum over any stretch telescopes to γ^k·Φ(u_k) − Φ(u_0).

  The sign decides how learning goes. With the default Φ = +V, an optimistic estimate of
  the value still to come, progress through the automaton pays γ·V(u′) − V(u) > 0
  (on a key-door machine with γ_vi = 0.9 and γ = 0.99, picking up the key pays +0.09).
  `sign=-1` gives Φ = −V, the choice of Toro Icarte et al.'s reference code, made for
  tabular Q-learning with optimistically initialised Q-values; for learners whose values
  start near 0 (PPO, SAC) it pays *against* progress (−0.09 for the key).

An extra terminal automaton state (index U, potential 0) is appended: an edge marked
`-1` in the table leads to it, and the automaton goes to it whenever the env
terminates (so Φ(u′) = 0 at a true terminal state, as potential shaping requires). At
an episode end (termination or truncation) u is reset to `initial` for the next
episode. `observe` exposes a one-hot of u (U + 1 features) for the policy.

`subgoal_sequence(p_0, ..., p_{K−1})` is the common special case of K subgoals that
must be reached in order: stage k advances to k + 1 when p_k(s′) holds (at most one
stage per step), and Φ(k) = c·k is paid as shaping: progress as a potential keeps
invariance (Ng et al. 1999); a raw completion bonus does not, and can be farmed. Its
potential grows with progress, like the default Φ = +V of `reward_machine`.

Labelling functions are read from the *next* observation (`transition.next_obs`, the
true one at an episode end), or from `(next_obs, info)` with `with_info=True`.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxshape.errors import ConfigError
from jaxshape.rewards.base import (
    NOT_INVARIANT,
    POLICY_INVARIANT,
    RewardTransform,
    Rewards,
    Stream,
    no_update,
    reset_where,
)
from jaxshape.rewards.shaping import as_obs_info_fn, callable_name, check_callable_output, shaping_from_potentials
from jaxshape.types import Transition

_MODES = ("reward", "shaping")


def automaton_values(delta: np.ndarray, rewards: np.ndarray, gamma: float, tol: float = 1e-10) -> np.ndarray:
    """Value iteration over a deterministic automaton (build time, numpy, float64).

    `delta` [U + 1, L] (row U the absorbing terminal state), `rewards` [U + 1, L].
    Returns V [U + 1] with V(u) = max_l [R(u, l) + γ·V(δ(u, l))] and V(terminal) = 0.
    """
    delta = np.asarray(delta)
    rewards = np.asarray(rewards, np.float64)
    terminal = delta.shape[0] - 1
    values = np.zeros(delta.shape[0])
    for _ in range(100_000):
        new = (rewards + gamma * values[delta]).max(axis=1)
        new[terminal] = 0.0
        if np.max(np.abs(new - values)) < tol:
            return new
        values = new
    return values


def _automaton(
    *,
    name: str,
    num_states: int,
    initial: int,
    label_fn: Callable[[jax.Array, Any], jax.Array],
    check_labels: Callable[[Transition], None],
    advance: Callable[[jax.Array, jax.Array, Any], tuple[jax.Array, jax.Array]],
    potentials: Callable[[Any], jax.Array],
    mode: str,
    coef: float,
    default_hparams: dict[str, float],
) -> RewardTransform:
    """The shared machinery: `num_states` states plus terminal (index num_states).

    `advance(u, labels, hparams) -> (u_edge, edge_reward)` follows one edge;
    `potentials(hparams) -> [num_states + 1]` gives Φ with Φ(terminal) = 0.
    """
    terminal = num_states

    def init(key, example: Transition):
        del key
        check_labels(example)
        return {"u": jnp.full(jnp.shape(example.reward), initial, jnp.int32)}

    def apply_fn(state, transition: Transition, rewards: Rewards, hparams):
        u = state["u"]
        labels = label_fn(transition.next_obs, transition.info)
        u_edge, edge_reward = advance(u, labels, hparams)
        u_next = jnp.where(transition.terminated, terminal, u_edge).astype(jnp.int32)
        if mode == "reward":
            stream = edge_reward.astype(jnp.float32)
        else:
            phi = potentials(hparams)
            stream = shaping_from_potentials(phi[u], phi[u_next], transition.terminated, transition.gamma)
        fresh = {"u": jnp.full_like(u_next, initial)}
        state = reset_where(transition.done, {"u": u_next}, fresh)
        return {**rewards, name: stream}, state

    def observe(state):
        return jax.nn.one_hot(state["u"], num_states + 1, dtype=jnp.float32)

    return RewardTransform(
        init=init,
        apply_fn=apply_fn,
        update=no_update,
        streams=(Stream(name, coef=coef),),
        default_hparams=dict(default_hparams),
        invariance=NOT_INVARIANT if mode == "reward" else POLICY_INVARIANT,
        nonlinear=False,
        observe=observe,
        name=name,
    )


def _check_mode(mode: str) -> None:
    if mode not in _MODES:
        raise ConfigError(f"mode must be one of {_MODES}, got {mode!r}")


def reward_machine(
    label_fn: Callable[..., jax.Array],
    delta: Sequence[Sequence[int]],
    rewards: Sequence[Sequence[float]] | None = None,
    *,
    mode: str = "reward",
    initial: int = 0,
    value_gamma: float = 0.9,
    scale: float = 1.0,
    sign: int = 1,
    with_info: bool = False,
    name: str = "automaton",
    coef: float = 1.0,
) -> RewardTransform:
    """A reward machine paid as raw edge rewards or as potential shaping.

    Args:
      label_fn: L, `label_fn(next_obs) -> [num_envs]` ints in [0, L) (or
        `label_fn(next_obs, info)` with `with_info=True`); bools count as labels 0/1.
        Labels outside [0, L) are clipped into it. Checked at `init` (ConfigError
        naming it).
      delta: the transition table δ [U][L] of next states; `-1` is the terminal state.
      rewards: edge rewards R [U][L] (default 0).
      mode: "reward" pays r = scale·R(u, l) (NOT_INVARIANT); "shaping" pays
        F = γ·Φ(u′)·(1 − terminated) − Φ(u), Φ = scale·sign·V, V from
        `automaton_values` with discount `value_gamma` (POLICY_INVARIANT).
      initial: the automaton state at each episode start.
      value_gamma: discount of the build-time value iteration (not the learner's γ,
        which the shaping formula takes from `transition.gamma`).
      scale: the traced hparam `"scale"` multiplying the edge rewards / the potential.
      sign: +1 (default): Φ = +V, progress pays; -1: Φ = −V, Toro Icarte et al.'s
        variant for optimistically initialised tabular Q-learning (see the module
        docstring). Both keep the optimal policy.
      name, coef: the stream's name (also the transform's) and default weight.

    State (episodic): `u` [num_envs] int32. `observe`: one-hot of u, U + 1 features.
    """
    _check_mode(mode)
    delta = np.asarray(delta)
    if delta.ndim != 2 or delta.size == 0 or not np.issubdtype(delta.dtype, np.integer):
        raise ConfigError(f"delta must be a non-empty [num_states][num_labels] table of ints, got {delta!r}")
    num_states, num_labels = delta.shape
    if delta.min() < -1 or delta.max() >= num_states:
        raise ConfigError(f"delta entries must be automaton states in [0, {num_states}) or -1 (terminal)")
    if not 0 <= initial < num_states:
        raise ConfigError(f"initial={initial} is not an automaton state in [0, {num_states})")
    rewards = np.zeros(delta.shape) if rewards is None else np.asarray(rewards, np.float64)
    if rewards.shape != delta.shape:
        raise ConfigError(f"rewards must have the shape of delta {delta.shape}, got {rewards.shape}")
    if sign not in (1, -1):
        raise ConfigError(f"sign must be +1 (Φ = +V) or -1 (Φ = −V), got {sign!r}")
    if not 0.0 <= value_gamma < 1.0:
        raise ConfigError(f"value_gamma must be in [0, 1) for value iteration to converge, got {value_gamma}")

    terminal = num_states
    full_delta = np.vstack([np.where(delta < 0, terminal, delta), np.full((1, num_labels), terminal)])
    full_rewards = np.vstack([rewards, np.zeros((1, num_labels))])
    table_delta = jnp.asarray(full_delta, jnp.int32)
    table_rewards = jnp.asarray(full_rewards, jnp.float32)
    table_phi = jnp.asarray(sign * automaton_values(full_delta, full_rewards, value_gamma), jnp.float32)

    labels_of = as_obs_info_fn(label_fn, with_info)

    def check_labels(example):
        check_callable_output(labels_of, (example.next_obs, example.info), jnp.shape(example.reward), "int",
                              "label_fn", name=callable_name(label_fn), allow_bool_as_int=True)

    def advance(u, labels, hparams):
        label = jnp.clip(jnp.asarray(labels).astype(jnp.int32), 0, num_labels - 1)
        return table_delta[u, label], hparams["scale"] * table_rewards[u, label]

    return _automaton(
        name=name, num_states=num_states, initial=initial, label_fn=labels_of, check_labels=check_labels,
        advance=advance, potentials=lambda hparams: hparams["scale"] * table_phi, mode=mode, coef=coef,
        default_hparams={"scale": scale},
    )


def subgoal_sequence(
    *predicates: Callable[..., jax.Array],
    c: float = 1.0,
    mode: str = "shaping",
    with_info: bool = False,
    name: str = "subgoals",
    coef: float = 1.0,
) -> RewardTransform:
    """K subgoals reached in order, paid as shaping with Φ(stage k) = c·k.

    Args:
      predicates: p_0 ... p_{K−1}, each `p(next_obs) -> [num_envs]` bool (or
        `p(next_obs, info)` with `with_info=True`); stage k becomes k + 1 when p_k(s′)
        holds, at most one stage per step. Each is checked at `init`.
      c: the traced hparam `"c"`, the potential per stage.
      mode: "shaping" (default) pays F = γ·Φ(k′)·(1 − terminated) − Φ(k), Φ(k) = c·k,
        Φ(terminal) = 0 (POLICY_INVARIANT); "reward" pays a raw bonus c on each stage
        completion (NOT_INVARIANT), for comparison.
      name, coef: the stream's name and default weight.

    State (episodic): the stage, 0..K (K: all done), terminal K + 1 on termination.
    """
    _check_mode(mode)
    if not predicates:
        raise ConfigError("subgoal_sequence needs at least one subgoal predicate")
    num_subgoals = len(predicates)
    fns = [as_obs_info_fn(p, with_info) for p in predicates]
    stage_phi = jnp.concatenate([jnp.arange(num_subgoals + 1, dtype=jnp.float32), jnp.zeros((1,), jnp.float32)])

    def labels_of(obs, info):
        return jnp.stack([jnp.asarray(f(obs, info)).astype(bool) for f in fns], axis=-1)

    def check_labels(example):
        for p, f in zip(predicates, fns):
            check_callable_output(f, (example.next_obs, example.info), jnp.shape(example.reward), "bool",
                                  "subgoal predicate", name=callable_name(p))

    def advance(stage, reached, hparams):
        current = jnp.minimum(stage, num_subgoals - 1)
        hit = jnp.take_along_axis(reached, current[..., None], axis=-1)[..., 0] & (stage < num_subgoals)
        return stage + hit.astype(jnp.int32), hparams["c"] * hit.astype(jnp.float32)

    return _automaton(
        name=name, num_states=num_subgoals + 1, initial=0, label_fn=labels_of, check_labels=check_labels,
        advance=advance, potentials=lambda hparams: hparams["c"] * stage_phi, mode=mode, coef=coef,
        default_hparams={"c": c},
    )
