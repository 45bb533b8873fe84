"""Reward coefficients learned by gradient through the agent's learning (bi-level).

The agent minimises its PPO loss L(θ; φ) on a reward r_φ = Σ_k φ_k · r_k (the coefficients
of the named streams); the coefficients φ follow the gradient of the task's objective
J(θ) — the policy-gradient surrogate of the env's own reward — through the agent's update
θ′(φ), as in meta-gradient RL (Xu et al. 2018, "Meta-Gradient Reinforcement Learning") and
LIRPG (Zheng et al. 2018, "On Learning Intrinsic Rewards for Policy Gradient Methods"):

    dJ(θ′(φ))/dφ = ∂J/∂θ′ · dθ′/dφ,      J(θ) = E_{τ′ ~ π_θ′}[ π_θ(a|s) / π_θ′(a|s) · Â_task(s, a) ]

τ′ is FRESH data: the rollout of update n+1, collected by θ′ = θ_{n+1}, judges the update
that produced θ_{n+1} from update n's batch. Â_task is GAE of the env reward with a value
head of its own (the task head, trained beside the others), normalised over τ′.

Two estimators of dθ′/dφ:

* "unrolled" (Xu et al.; LIRPG): differentiate through the last K minibatch steps of the
  previous update (Adam and gradient clipping included), holding the parameters before
  them fixed — truncated back-propagation through learning. The previous update's
  advantages and value targets are affine in φ (GAE is linear in the rewards, and the
  per-stream normalisation of decoupled streams scales each stream's advantages apart
  from its coefficient), so the update keeps them with their Jacobian ∂(A, targets)/∂φ
  and the replay is A(φ) = A(φ₀) + ∂A/∂φ · (φ − φ₀), exact in value and first derivative.
* "implicit" (BARFI, Gupta et al. 2023, "Behavior Alignment via Reward Function
  Optimization"): at a stationary point of the inner loss ∇_θ L(θ*, φ) = 0, the implicit
  function theorem gives dθ*/dφ = −H⁻¹ ∂²L/∂θ∂φ with H = ∂²L/∂θ², so

      dJ/dφ = −(∂²L/∂φ∂θ) · H⁻¹ · ∇_θ J,      H⁻¹ v ≈ α Σ_{i=0}^{P−1} (I − αH)^i v   (Neumann series)

  with Hessian-vector products of L on the previous update's last K minibatches at the
  current θ, α = `meta_neumann_alpha`, P = `meta_unroll`.

φ and its Adam state live in the training state (`MetaState`), so they are checkpointed,
resumed and vmapped over seeds with the rest of the run. `φ` are the coefficients of
every stream, the extrinsic one included; a linear parametric reward Σ_i w_i f_i(s, a) is
learned the same way by declaring each feature f_i as a stream (`rewards.term`).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxshape.algos.returns import normalized


GRADIENTS = ("unrolled", "implicit")


@struct.dataclass
class Replay:
    """What the meta step needs of the previous update: the parameters and optimiser
    state before its last K minibatch steps, the observation statistics it learned with,
    and those K minibatches with the Jacobian of their advantages and value targets with
    respect to the coefficients (`advantages_jac` [K, B, C], `targets_jac` [K, B, V, C])."""

    params: Any
    opt_state: Any
    obs_stats: Any
    minibatches: dict[str, jax.Array]


@struct.dataclass
class MetaState:
    """The learned coefficients φ ({stream: scalar}), their Adam state, the previous
    update's `Replay`, and whether it holds one yet (not before the first update)."""

    coefs: dict[str, jax.Array]
    opt_state: Any
    replay: Replay
    ready: jax.Array


def optimizer(learning_rate: Any) -> optax.GradientTransformation:
    """Adam on φ (ascent on J is descent on −J)."""
    return optax.adam(learning_rate)


def names(coefs: dict[str, Any]) -> tuple[str, ...]:
    """The coefficients' order in every Jacobian: sorted by stream name."""
    return tuple(sorted(coefs))


def as_vector(coefs: dict[str, jax.Array]) -> jax.Array:
    return jnp.stack([jnp.asarray(coefs[k], jnp.float32) for k in names(coefs)])


def coefficient_jacobian(fn: Callable[[dict[str, jax.Array]], Any], coefs: dict[str, jax.Array]):
    """(fn(coefs), ∂fn/∂coefs with the coefficient axis last, in `names` order), by forward
    mode: one tangent per coefficient, nothing recomputed for parts that do not depend on them."""
    order = names(coefs)
    as_dict = lambda vector: {**coefs, **{k: vector[i] for i, k in enumerate(order)}}  # noqa: E731
    vector = as_vector(coefs)
    def value_twice(v):
        value = fn(as_dict(v))
        return value, value

    jac, value = jax.jacfwd(value_twice, has_aux=True)(vector)
    return value, jac


def replayed(minibatches: dict[str, jax.Array], coefs: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """The stored minibatches with advantages and targets as functions of `coefs`:
    A(φ) = A(φ₀) + ∂A/∂φ · (φ − φ₀), evaluated at φ = φ₀ (its value is the stored one,
    its derivative the stored Jacobian)."""
    vector = as_vector(coefs)
    delta = vector - jax.lax.stop_gradient(vector)
    out = {k: v for k, v in minibatches.items() if not k.endswith("_jac")}
    out["advantages"] = minibatches["advantages"] + minibatches["advantages_jac"] @ delta
    out["targets"] = minibatches["targets"] + minibatches["targets_jac"] @ delta
    return out


def task_surrogate(log_prob: jax.Array, old_log_prob: jax.Array, task_advantages: jax.Array) -> jax.Array:
    """J(θ) = mean[ exp(log π_θ − log π_old) · norm(Â_task) ] over the fresh batch; its
    gradient at θ = θ_old is the policy gradient of the task reward."""
    ratio = jnp.exp(log_prob - jax.lax.stop_gradient(old_log_prob))
    return jnp.mean(ratio * normalized(task_advantages))


def neumann_inverse_hvp(hvp: Callable[[Any], Any], vector: Any, alpha: Any, terms: int) -> Any:
    """H⁻¹ v ≈ α Σ_{i=0}^{terms−1} (I − αH)^i v (converges when 0 < α·λ(H) < 2)."""

    def body(carry, _):
        term, total = carry
        term = jax.tree.map(lambda t, h: t - alpha * h, term, hvp(term))
        return (term, jax.tree.map(jnp.add, total, term)), None

    (_, total), _ = jax.lax.scan(body, (vector, vector), None, length=terms - 1)
    return jax.tree.map(lambda t: alpha * t, total)


def implicit_gradient(inner_grad: Callable[[Any, dict[str, jax.Array]], Any], params: Any,
                      coefs: dict[str, jax.Array], task_grad: Any, alpha: Any, terms: int):
    """dJ/dφ = −(∂²L/∂φ∂θ) H⁻¹ ∇_θ J at `params`, where `inner_grad(θ, φ)` = ∇_θ L(θ, φ)."""
    hvp = lambda v: jax.jvp(lambda p: inner_grad(p, coefs), (params,), (v,))[1]  # noqa: E731
    solved = jax.lax.stop_gradient(neumann_inverse_hvp(hvp, task_grad, alpha, terms))

    def mixed(phi):
        grads = inner_grad(params, phi)
        return sum(jnp.vdot(g, s) for g, s in zip(jax.tree.leaves(grads), jax.tree.leaves(solved)))

    return jax.tree.map(jnp.negative, jax.grad(mixed)(coefs))


def step(meta: MetaState, gradient: dict[str, jax.Array], learning_rate: Any) -> MetaState:
    """One Adam step of ascent on J, applied only once a replay exists."""
    updates, opt_state = optimizer(learning_rate).update(jax.tree.map(jnp.negative, gradient), meta.opt_state)
    coefs = optax.apply_updates(meta.coefs, updates)
    keep = lambda new, old: jnp.where(meta.ready, new, old)  # noqa: E731
    return meta.replace(coefs=jax.tree.map(keep, coefs, meta.coefs),
                        opt_state=jax.tree.map(keep, opt_state, meta.opt_state))
