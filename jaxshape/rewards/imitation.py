"""Adversarial imitation as a reward transform: GAIL (Ho & Ermon 2016, "Generative
Adversarial Imitation Learning", arXiv:1606.03476) and AIRL (Fu, Luo & Levine 2018,
"Learning Robust Rewards with Adversarial Inverse Reinforcement Learning",
arXiv:1710.11248).

A discriminator D = σ(ℓ) (ℓ its logit; D → 1 on expert transitions) lives in the
transform's state with its Adam state, is trained in `update` against the expert's
transitions, and pays its reward per step in `apply`, so it chains with other
transforms and is checkpointed and resumed with the run.

Discriminator logit ℓ:
    GAIL   ℓ(s, a) = D_θ(x(s), x(a))
    AIRL   ℓ(s, a, s′) = f(s, a, s′) = g_θ(x(s)) + γ·(1 − terminated)·h_φ(x(s′)) − h_φ(x(s))
           (g of (s, a) with `state_only=False`; the paper's disentangled form is g(s))
Loss (`update`, `steps` Adam steps, each on `minibatch` policy transitions drawn from the
rollout and `minibatch` expert transitions drawn from the demos, both with replacement):
    L = E_expert[softplus(−ℓ)] + E_policy[softplus(ℓ)]      (= −E log D − E log(1 − D))
      + λ_gp · E_x̂[(‖∇_x̂ ℓ(x̂)‖ − 1)²],  x̂ = ε·x_expert + (1 − ε)·x_policy, ε ~ U(0, 1)
(the gradient penalty of Gulrajani et al. 2017 on interpolates, as GAIL uses it in
Kostrikov et al. 2019, DAC; λ_gp the traced `grad_penalty`, 0 by default).

Reward paid per step (the stream `gail` or `airl`):
    GAIL, form="positive" (default)  r = −log(1 − D) = softplus(ℓ) > 0
    GAIL, form="logit"               r = log D − log(1 − D) = ℓ
    AIRL                             r = f(s, a, s′), the shaped form g + γh(s′) − h(s)
−log(1 − D) is always positive: it pays for surviving, which suits tasks whose failures
terminate (CartPole) and biases tasks whose successes terminate; `form="logit"` has no
sign bias. Ho & Ermon's cost is log D_π with D_π the policy's probability: the same as
the positive form here.

Settled details:
- The learner's reward is the discriminator's: `apply` rewrites the `extrinsic` stream to
  `env_reward` × the env's reward (traced, default 0), so the env's reward reaches the
  learner only if asked; the env's return is still logged as `episode_return`.
- AIRL's D = exp f / (exp f + π(a|s)) needs the current policy's π(a|s) on the expert's
  actions, which a reward transform cannot compute (it knows no learner). Here the
  logit is f alone: log π is dropped from the discriminator (as if π were a constant,
  absorbed by g), and the reward is f, not f − log π (the −log π term is the entropy
  bonus PPO already has through its own entropy coefficient).
- h(s) of a step is the value cached when s was entered (episodic state, reset where an
  episode ends), so the shaped part telescopes over an episode even while h learns:
  Σ_t γ^t (γ·h(s_{t+1})·(1 − terminated_t) − h(s_t)) = γ^T·h(s_T)·(1 − terminated) − h(s_0).
- Terminal handling: masking, no absorbing states. h(s′) is 0 where the episode
  terminated, h(true s′) at a time-limit truncation (the termination rule); GAIL's
  reward depends on (s, a) only and ignores how the episode ends.
- Inputs: observations flattened and normalised by the expert's mean and standard
  deviation (fixed at build time; a dimension constant in the demos keeps scale 1),
  clipped to ±10; continuous actions likewise; discrete actions one-hot (`num_actions`).
- γ in f is the transition's γ (the learner's), on policy and expert samples alike.
- Learners: PPO pays each rollout's rewards from the discriminator of that rollout. SAC
  runs too, but its replay buffer keeps the reward paid when a transition was collected;
  it is not recomputed with the current discriminator (as DAC does). The experiments
  (experiments/RESULTS.md) use PPO only.

Traced hparams: `lr` (Adam), `grad_penalty` (λ_gp), `env_reward`. Static: `kind`,
`form`, `steps` (discriminator steps per update), `minibatch`, `hidden_sizes`,
`state_only`. Metrics per update (logged as `transform/<name>`): `loss` (the cross
entropy), `grad_penalty`, `accuracy` (of D > ½ on expert and D < ½ on policy samples,
averaged), `expert_score` and `policy_score` (mean D on each), measured on each step's
minibatch before its gradient step and averaged over the steps.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxshape.errors import ConfigError
from jaxshape.rewards.base import NOT_INVARIANT, RewardTransform, Rewards, Stream
from jaxshape.rewards.rnd import MLP, adam_init
from jaxshape.rewards.shaping import shaping_from_potentials
from jaxshape.types import Transition

KINDS = ("gail", "airl")
FORMS = ("positive", "logit")
INPUT_CLIP = 10.0


def _scale(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) over the samples of `x` [M, D]; a constant dimension keeps std 1."""
    mean, std = x.mean(0), x.std(0)
    return mean.astype(np.float32), np.where(std > 1e-6, std, 1.0).astype(np.float32)


class Inputs:
    """Flattening, normalisation and one-hot encoding of (s, a, s′) into the
    discriminator's input x = [x(s), x(a), x(s′)] (x(s′) for AIRL only)."""

    def __init__(self, demos: Mapping[str, Any], num_actions: int | None, with_next: bool):
        obs = np.asarray(demos["obs"], np.float32).reshape(len(demos["obs"]), -1)
        self.obs_mean, self.obs_std = _scale(obs)
        action = np.asarray(demos["action"])
        self.discrete = np.issubdtype(action.dtype, np.integer)
        if self.discrete and num_actions is None:
            raise ConfigError("adversarial_imitation: integer (discrete) actions need num_actions=<the env's count> "
                              "for the one-hot encoding")
        self.num_actions = num_actions
        if not self.discrete:
            self.act_mean, self.act_std = _scale(action.astype(np.float32).reshape(len(action), -1))
        self.obs_dim = obs.shape[1]
        self.act_dim = int(num_actions) if self.discrete else int(np.prod(action.shape[1:], dtype=int))
        self.with_next = with_next

    def observation(self, obs: jax.Array) -> jax.Array:
        flat = obs.reshape(obs.shape[:1] + (-1,)).astype(jnp.float32)
        return jnp.clip((flat - self.obs_mean) / self.obs_std, -INPUT_CLIP, INPUT_CLIP)

    def action(self, action: jax.Array) -> jax.Array:
        if self.discrete:
            return jax.nn.one_hot(action.reshape(action.shape[:1]), self.num_actions, dtype=jnp.float32)
        flat = action.reshape(action.shape[:1] + (-1,)).astype(jnp.float32)
        return jnp.clip((flat - self.act_mean) / self.act_std, -INPUT_CLIP, INPUT_CLIP)

    def __call__(self, obs, action, next_obs) -> jax.Array:
        parts = [self.observation(obs), self.action(action)]
        if self.with_next:
            parts.append(self.observation(next_obs))
        return jnp.concatenate(parts, axis=-1)

    def split(self, x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """(x(s), x(a), x(s′)) of an input x [..., F]."""
        o, a = self.obs_dim, self.act_dim
        return x[..., :o], x[..., o:o + a], x[..., o + a:]


def _as_demos(demos: Any, episodes: int | None) -> dict[str, np.ndarray]:
    if isinstance(demos, (str, bytes)) or hasattr(demos, "__fspath__"):
        from jaxshape.demos import load_demos

        return load_demos(demos, episodes)
    if not isinstance(demos, Mapping):
        raise ConfigError("adversarial_imitation: demos must be a path to a .npz file or a dict of arrays "
                          "(obs, action, next_obs, terminated)")
    missing = [k for k in ("obs", "action", "next_obs", "terminated") if k not in demos]
    if missing:
        raise ConfigError(f"adversarial_imitation: demos lack {missing}")
    demos = {k: np.asarray(v) for k, v in demos.items()}
    if episodes is not None:
        if "episode" not in demos:
            raise ConfigError("adversarial_imitation: episodes=... needs an `episode` array in the demos")
        demos = {k: (v[demos["episode"] < episodes] if np.ndim(v) and len(v) == len(demos["obs"]) else v)
                 for k, v in demos.items()}
    if len(demos["obs"]) == 0:
        raise ConfigError("adversarial_imitation: the demos hold no transitions")
    return demos


def discriminator_loss(logit_expert: jax.Array, logit_policy: jax.Array) -> jax.Array:
    """E_expert[softplus(−ℓ)] + E_policy[softplus(ℓ)] = −E log D(expert) − E log(1 − D(policy))."""
    return jnp.mean(jax.nn.softplus(-logit_expert)) + jnp.mean(jax.nn.softplus(logit_policy))


def gail_reward(logit: jax.Array, form: str = "positive") -> jax.Array:
    """−log(1 − σ(ℓ)) = softplus(ℓ) (`positive`) or log σ(ℓ) − log(1 − σ(ℓ)) = ℓ (`logit`)."""
    return jax.nn.softplus(logit) if form == "positive" else logit


class Discriminator:
    """The discriminator's pieces, static: input encoding, network(s), logit and loss.

    `params` is {"d": D's} (GAIL) or {"g": g's, "h": h's} (AIRL). `hidden_sizes=()`
    makes each network linear (the exact hand computations of the tests)."""

    def __init__(self, demos: Mapping[str, Any], kind: str, num_actions: int | None, state_only: bool,
                 hidden_sizes: Sequence[int]):
        self.airl = kind == "airl"
        self.state_only = state_only
        self.inputs = Inputs(demos, num_actions, with_next=self.airl)
        self.net = MLP(tuple(hidden_sizes), 1)
        self.expert_x = jnp.asarray(self.inputs(jnp.asarray(demos["obs"]), jnp.asarray(demos["action"]),
                                                jnp.asarray(demos["next_obs"])))
        self.expert_cont = jnp.asarray(1.0 - np.asarray(demos["terminated"], np.float32))

    def init(self, key: jax.Array) -> dict:
        i = self.inputs
        if not self.airl:
            return {"d": self.net.init(key, jnp.zeros((1, i.obs_dim + i.act_dim)))}
        g_key, h_key = jax.random.split(key)
        width = i.obs_dim + (0 if self.state_only else i.act_dim)
        return {"g": self.net.init(g_key, jnp.zeros((1, width))), "h": self.net.init(h_key, jnp.zeros((1, i.obs_dim)))}

    def potential(self, params: dict, x_obs: jax.Array) -> jax.Array:
        """AIRL's h of encoded observations [B, D]."""
        return self.net.apply(params["h"], x_obs)[..., 0]

    def g(self, params: dict, x_obs: jax.Array, x_act: jax.Array) -> jax.Array:
        """AIRL's g of encoded observations (and actions, unless state-only)."""
        return self.net.apply(params["g"], x_obs if self.state_only else jnp.concatenate([x_obs, x_act], -1))[..., 0]

    def logit(self, params: dict, x: jax.Array, cont: jax.Array | None, gamma: Any) -> jax.Array:
        """ℓ of inputs x [B, F]; AIRL also reads the continuation 1 − terminated [B]."""
        if not self.airl:
            return self.net.apply(params["d"], x)[..., 0]
        x_obs, x_act, x_next = self.inputs.split(x)
        shaped = gamma * cont * self.potential(params, x_next) - self.potential(params, x_obs)
        return self.g(params, x_obs, x_act) + shaped

    def loss(self, params: dict, policy: tuple, expert: tuple, eps: jax.Array, gamma: Any,
             grad_penalty: Any) -> tuple[jax.Array, dict]:
        """(cross entropy + λ_gp · penalty, metrics) on `policy` and `expert` = (x [B, F],
        continuation [B]) with interpolation weights `eps` [B] (module docstring)."""
        (x_p, c_p), (x_e, c_e) = policy, expert
        l_p, l_e = self.logit(params, x_p, c_p, gamma), self.logit(params, x_e, c_e, gamma)
        bce = discriminator_loss(l_e, l_p)
        mixed_x = eps[:, None] * x_e + (1.0 - eps[:, None]) * x_p
        mixed_c = eps * c_e + (1.0 - eps) * c_p
        one = lambda x, c: self.logit(params, x[None], c[None], gamma)[0]  # noqa: E731
        grads = jax.vmap(jax.grad(one))(mixed_x, mixed_c)
        penalty = jnp.mean((jnp.sqrt(jnp.sum(grads ** 2, -1) + 1e-12) - 1.0) ** 2)
        metrics = {"loss": bce, "grad_penalty": penalty,
                   "accuracy": 0.5 * (jnp.mean(l_e > 0) + jnp.mean(l_p < 0)),
                   "expert_score": jnp.mean(jax.nn.sigmoid(l_e)), "policy_score": jnp.mean(jax.nn.sigmoid(l_p))}
        return bce + grad_penalty * penalty, metrics


def adversarial_imitation(
    demos: Any,
    kind: str = "gail",
    *,
    num_actions: int | None = None,
    episodes: int | None = None,
    form: str = "positive",
    state_only: bool = True,
    hidden_sizes: Sequence[int] = (64, 64),
    lr: float = 3e-4,
    grad_penalty: float = 0.0,
    env_reward: float = 0.0,
    steps: int = 4,
    minibatch: int = 256,
    coef: float = 1.0,
    name: str | None = None,
) -> RewardTransform:
    """GAIL or AIRL reward from expert transitions (module docstring for the formulas).

    Args:
      demos: a `.npz` path (`jaxshape.demos`) or a dict with obs, action, next_obs,
        terminated [M, ...] (and `episode` to pick `episodes`).
      kind: "gail" or "airl"; also the stream's and this transform's default name.
      num_actions: the env's action count, for discrete (integer) actions.
      episodes: use the first K expert episodes only.
      form: GAIL's reward, "positive" (−log(1 − D)) or "logit" (log D − log(1 − D)).
      state_only: AIRL's g of s only (True, the paper's disentangled reward) or of (s, a).
      hidden_sizes: hidden layers of D (GAIL) or of each of g and h (AIRL).
      lr, grad_penalty, env_reward: defaults of the traced hparams.
      steps, minibatch: discriminator Adam steps per update, and samples per side per step.
      coef: the stream's default weight in the learner's sum.
    """
    if kind not in KINDS:
        raise ConfigError(f"adversarial_imitation: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if form not in FORMS:
        raise ConfigError(f"adversarial_imitation: form must be one of {', '.join(FORMS)}, got {form!r}")
    if not (isinstance(steps, int) and steps > 0 and isinstance(minibatch, int) and minibatch > 0):
        raise ConfigError(f"adversarial_imitation: steps and minibatch must be positive integers, got {steps}, "
                          f"{minibatch}")
    disc = Discriminator(_as_demos(demos, episodes), kind, num_actions, state_only, hidden_sizes)
    inputs, name = disc.inputs, name or kind
    expert_count = int(disc.expert_x.shape[0])

    def init(key, example: Transition):
        n = example.reward.shape[0]
        params = disc.init(key)
        state = {"params": params, "opt": adam_init(params)}  # lr is traced: read in update
        if disc.airl:
            state.update(h=jnp.zeros((n,), jnp.float32), valid=jnp.zeros((n,), bool))
        return state

    def apply_fn(state, transition: Transition, rewards: Rewards, hparams):
        gamma = jnp.asarray(transition.gamma, jnp.float32)
        rewards = {**rewards, "extrinsic": jnp.asarray(hparams["env_reward"], jnp.float32) * rewards["extrinsic"]}
        params = state["params"]
        if not disc.airl:
            x = inputs(transition.obs, transition.action, transition.next_obs)
            return {**rewards, name: gail_reward(disc.logit(params, x, None, gamma), form)}, state
        x_obs = inputs.observation(transition.obs)
        h_s = jnp.where(state["valid"], state["h"], disc.potential(params, x_obs))  # h(s) cached when s was entered
        h_next = disc.potential(params, inputs.observation(transition.next_obs))  # the TRUE s′ at a time limit
        reward = disc.g(params, x_obs, inputs.action(transition.action)) + shaping_from_potentials(
            h_s, h_next, transition.terminated, gamma)
        return {**rewards, name: reward}, {**state, "h": h_next, "valid": jnp.logical_not(transition.done)}

    def update(state, batch: Transition, key, hparams):
        flat = lambda a: a.reshape((-1,) + a.shape[2:])  # noqa: E731  [T, N, ...] -> [T·N, ...]
        policy_x = inputs(flat(batch.obs), flat(batch.action), flat(batch.next_obs))
        policy_cont = 1.0 - flat(batch.terminated).astype(jnp.float32)
        gamma = jnp.asarray(batch.gamma, jnp.float32).reshape(-1)[0]  # one γ per run
        optimizer = optax.adam(hparams["lr"])

        def step(carry, key):
            params, opt = carry
            p_key, e_key, eps_key = jax.random.split(key, 3)
            p_idx = jax.random.randint(p_key, (minibatch,), 0, policy_x.shape[0])
            e_idx = jax.random.randint(e_key, (minibatch,), 0, expert_count)
            eps = jax.random.uniform(eps_key, (minibatch,))
            grads, metrics = jax.grad(disc.loss, has_aux=True)(
                params, (policy_x[p_idx], policy_cont[p_idx]), (disc.expert_x[e_idx], disc.expert_cont[e_idx]),
                eps, gamma, hparams["grad_penalty"])
            updates, opt = optimizer.update(grads, opt, params)
            return (optax.apply_updates(params, updates), opt), metrics

        (params, opt), metrics = jax.lax.scan(step, (state["params"], state["opt"]), jax.random.split(key, steps))
        return {**state, "params": params, "opt": opt}, jax.tree.map(jnp.mean, metrics)

    return RewardTransform(
        init=init,
        apply_fn=apply_fn,
        update=update,
        streams=(Stream(name, coef=coef),),
        default_hparams={"lr": lr, "grad_penalty": grad_penalty, "env_reward": env_reward},
        invariance=NOT_INVARIANT,
        name=name,
    )


def gail(demos: Any, **kwargs) -> RewardTransform:
    """`adversarial_imitation(demos, kind="gail", ...)`."""
    return adversarial_imitation(demos, "gail", **kwargs)


def airl(demos: Any, **kwargs) -> RewardTransform:
    """`adversarial_imitation(demos, kind="airl", ...)`."""
    return adversarial_imitation(demos, "airl", **kwargs)
