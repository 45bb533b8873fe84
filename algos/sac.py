"""Soft Actor-Critic, compiled end to end (Haarnoja et al. 2018, "Soft Actor-Critic:
Off-Policy Maximum Entropy Deep RL with a Stochastic Actor", and "Soft Actor-Critic
Algorithms and Applications" for the learned temperature).

A run is one pure function, `train(key, hparams) -> (state, metrics)`:

    init: networks, optimisers, env states, reward-transform state, replay buffer, then
          `warmup_steps` vectorised steps of uniformly random actions (learning_starts)
    lax.scan over updates, each:
      lax.scan over steps_per_update / train_every blocks of
        collect   train_every steps of  act -> vmapped env.step -> reward transform -> insert
        learn     updates_per_step gradient steps (sample, optional HER, losses, Polyak)
      transform update on the steps collected in this update

Losses, for a minibatch (s, a, r, s′, terminated) with a′ ~ π(·|s′), ã ~ π(·|s):

    y        = r + γ·(1 − terminated)·(min_i Q_targ,i(s′, a′) − α·log π(a′|s′))
    L_Q      = ½ Σ_i mean (Q_i(s, a) − y)²                       (twin critics, clipped double Q)
    L_π      = mean (α·log π(ã|s) − min_i Q_i(s, ã))               (reparameterised ã)
    L_α      = −mean (log α · (log π(ã|s) + H̄)),  H̄ = target_entropy_per_dim · |A|
    θ_targ  ← τ·θ + (1 − τ)·θ_targ

s′ is the TRUE next observation (`final_observation` where the episode ended), so the
target bootstraps through time-limit truncation and stops only at termination
(the rule of `jaxshape.types.Transition`). The actor is a tanh-squashed Gaussian: u ~ N(μ(s), σ(s)),
a = tanh(u) ∈ [−1, 1]^|A|, log π(a|s) = log N(u) − Σ log(1 − tanh²u), and the env receives
low + (a + 1)/2 · (high − low); critics see a (the [−1, 1] action), and log π is that of
a, so H̄ = −|A| means the same for every action range (as in Stable-Baselines3).

Rewards: the reward transform runs at collection time and every stream is stored; the
learner's reward, Σ_k coef_k · r_k, is formed when a minibatch is sampled (so
`reward_coefs` are traced hyperparameters that act on stored experience too). Every
stream is treated as episodic. With hindsight relabelling (algos/her.py) the
`extrinsic` stream of a relabelled sample is recomputed from its next observation.

`SACConfig` holds static settings; `SACHParams` traced ones, so
`jax.vmap(train)(keys, hparams)` sweeps seeds and hyperparameters from one compile.
Only 1-D Box action spaces are handled (no discrete variant).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxshape import draws
from jaxshape.algos import her, replay
from jaxshape.algos.distributions import Gaussian
from jaxshape.algos.networks import ACTIVATIONS, check_shape_settings
from jaxshape.envs import example_transition, reset_batch, resolve, step_batch, step_transition
from jaxshape.envs.registry import ENV_OPTIONS_HELP
from jaxshape.episodes import EpisodeStats
from jaxshape.errors import ConfigError
from jaxshape.evaluation import episode_limit, evaluate
from jaxshape.rewards import RewardTransform, Stream, final_features, identity, weighted_sum
from jaxshape.types import Transition

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


@dataclasses.dataclass(frozen=True)
class SACConfig:
    """Static settings: changing one recompiles.

    Attributes:
      num_envs: parallel envs; one vectorised step is `num_envs` env steps.
      total_steps: env steps per run, warm-up included.
      buffer_size: replay capacity in transitions (`buffer_size // num_envs` rows).
      minibatch_size: transitions sampled per gradient step.
      learning_starts: env steps of uniformly random actions before learning
        (rounded up to whole vectorised steps; run inside `init`).
      updates_per_step, train_every: `updates_per_step` gradient steps every
        `train_every` vectorised env steps, i.e. an update-to-data ratio of
        updates_per_step / (train_every · num_envs) per env step.
      steps_per_update: vectorised env steps per `update` call (the driver's unit).
      her_strategy: "none", "final", "future" or "geometric" (algos/her.py); needs an
        env with `goal_spec(params)`, e.g. PointGoal-v0.
      her_k: relabel fraction k/(k+1) of sampled transitions.
    """

    env: str = "Pendulum-v1"
    env_options: str = dataclasses.field(default="", metadata={"help": ENV_OPTIONS_HELP})
    num_envs: int = 1
    total_steps: int = 50_000
    buffer_size: int = 100_000
    minibatch_size: int = 256
    learning_starts: int = 1_000
    updates_per_step: int = 1
    train_every: int = 1
    steps_per_update: int = 100
    hidden_sizes: tuple[int, ...] = (256, 256)
    activation: str = "relu"
    her_strategy: str = "none"
    her_k: int = 4

    @property
    def warmup_steps(self) -> int:
        """Vectorised steps of random actions run in `init`."""
        return -(-self.learning_starts // self.num_envs)

    @property
    def batch_size(self) -> int:
        """Env steps per `update`, across envs (as PPO's `batch_size`)."""
        return self.num_envs * self.steps_per_update

    @property
    def num_updates(self) -> int:
        return (self.total_steps - self.warmup_steps * self.num_envs) // self.batch_size

    @property
    def buffer_rows(self) -> int:
        return self.buffer_size // self.num_envs

    @property
    def gradient_steps_per_update(self) -> int:
        return self.steps_per_update // self.train_every * self.updates_per_step


@struct.dataclass
class SACHParams:
    """Traced hyperparameters: vmap over them, change them without recompiling.

    `target_entropy_per_dim` sets the entropy target H̄ = target_entropy_per_dim · |A|
    (−|A| by default, Haarnoja et al. 2018b); it is per dimension so that one default
    serves every env and the CLI. `init_alpha` is α at the start (log α is learned).
    """

    actor_lr: Any = 3e-4
    critic_lr: Any = 3e-4
    alpha_lr: Any = 3e-4
    gamma: Any = 0.99
    tau: Any = 0.005
    init_alpha: Any = 1.0
    target_entropy_per_dim: Any = -1.0
    reward: Any = ()
    reward_coefs: Any = None
    reward_gammas: Any = None  # the discount of each non-episodic stream's critic head


def default_hparams(transform: RewardTransform | None = None, **overrides: Any) -> SACHParams:
    """SACHParams as float32 arrays, with the transform's hparams, stream coefficients and
    the discounts of its non-episodic streams."""
    transform = transform or identity()
    hp = SACHParams(
        reward=transform.default_hparams,
        reward_coefs={s.name: s.coef for s in transform.all_streams},
        reward_gammas={s.name: 0.99 if s.gamma is None else s.gamma for s in transform.all_streams if not s.episodic},
    ).replace(**overrides)
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), hp)


# ---------------------------------------------------------------------- networks
class MLP(nn.Module):
    """Dense layers with flax's default (LeCun-normal) initialisation, as in the SAC
    references. Not `networks.Torso`: its orthogonal initialiser runs a batched QR
    under `vmap`, and jaxlib's CPU QR kernel can deadlock the XLA thread pool on a
    2-core machine (observed with jax 0.10.2 when two QR thunks run at once)."""

    hidden_sizes: tuple[int, ...] = (256, 256)
    activation: str = "relu"

    @nn.compact
    def __call__(self, x):
        for width in self.hidden_sizes:
            x = ACTIVATIONS[self.activation](nn.Dense(width)(x))
        return x


class Actor(nn.Module):
    """s -> (μ, log σ) of the pre-tanh Gaussian; log σ squashed into [−5, 2]."""

    action_dim: int
    hidden_sizes: tuple[int, ...] = (256, 256)
    activation: str = "relu"

    @nn.compact
    def __call__(self, x):
        h = MLP(self.hidden_sizes, self.activation)(x)
        mean = nn.Dense(self.action_dim)(h)
        log_std = jnp.tanh(nn.Dense(self.action_dim)(h))
        return mean, LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (log_std + 1.0)


class QNetwork(nn.Module):
    """(s, a) -> [..., heads]: head 0 values the episodic streams, head j ≥ 1 the j-th
    non-episodic stream."""

    hidden_sizes: tuple[int, ...] = (256, 256)
    activation: str = "relu"
    num_heads: int = 1

    @nn.compact
    def __call__(self, obs, action):
        h = MLP(self.hidden_sizes, self.activation)(jnp.concatenate([obs, action], axis=-1))
        return nn.Dense(self.num_heads)(h)


class TwinQ(nn.Module):
    """(s, a) -> [2, ..., heads]: two independently initialised critics, evaluated as one vmap."""

    hidden_sizes: tuple[int, ...] = (256, 256)
    activation: str = "relu"
    num_heads: int = 1
    num_critics: int = 2

    @nn.compact
    def __call__(self, obs, action):
        ensemble = nn.vmap(QNetwork, variable_axes={"params": 0}, split_rngs={"params": True},
                           in_axes=None, out_axes=0, axis_size=self.num_critics)
        return ensemble(self.hidden_sizes, self.activation, self.num_heads)(obs, action)


def soft_target(rewards, terminated, next_q, next_log_prob, alpha, gamma):
    """y = r + γ·(1 − terminated)·(Q′ − α·log π(a′|s′)); truncation is not an input:
    a time-limited step bootstraps from its true next observation like any other."""
    return rewards + gamma * (1.0 - terminated.astype(jnp.float32)) * (next_q - alpha * next_log_prob)


# ------------------------------------------------------------------------ state
@struct.dataclass
class SACState:
    actor_params: Any
    critic_params: Any
    target_params: Any
    log_alpha: jax.Array
    actor_opt: Any
    critic_opt: Any
    alpha_opt: Any
    buffer: replay.ReplayBuffer
    env_state: Any
    obs: jax.Array
    reward_state: Any
    episodes: EpisodeStats
    stream_episodes: dict[str, EpisodeStats]
    successes: EpisodeStats | None
    key: jax.Array
    update_step: jax.Array

    @property
    def params(self) -> dict[str, Any]:
        """Every learned parameter (the run job's NaN guard reads this)."""
        return {"actor": self.actor_params, "critic": self.critic_params, "target": self.target_params,
                "log_alpha": self.log_alpha}


def validate(config: SACConfig, env: Any, env_params: Any) -> None:
    """Raise ConfigError (one line naming the fix) before anything compiles."""
    check_shape_settings(config, ("num_envs", "total_steps", "buffer_size", "minibatch_size", "updates_per_step",
                                  "train_every", "steps_per_update", "her_k"))
    if config.learning_starts < 0:
        raise ConfigError(f"learning_starts must be 0 or more, got {config.learning_starts}")
    if config.steps_per_update % config.train_every:
        raise ConfigError(
            f"train_every={config.train_every} does not divide steps_per_update={config.steps_per_update}; "
            f"pick a divisor of {config.steps_per_update}"
        )
    if config.buffer_rows < 1:
        raise ConfigError(f"buffer_size={config.buffer_size} holds less than one step of {config.num_envs} envs; "
                          "raise buffer_size")
    if config.num_updates < 1:
        raise ConfigError(
            f"total_steps={config.total_steps} leaves no update after the warm-up "
            f"({config.warmup_steps * config.num_envs} steps) of one update ({config.batch_size} steps); "
            "raise total_steps or lower learning_starts, num_envs or steps_per_update"
        )
    if config.her_strategy not in her.STRATEGIES:
        raise ConfigError(f"her_strategy {config.her_strategy!r} unknown; choose one of {', '.join(her.STRATEGIES)}")
    if config.her_strategy != "none" and not hasattr(env, "goal_spec"):
        raise ConfigError(f"her_strategy={config.her_strategy!r} needs a goal-conditioned env with goal_spec(params) "
                          f"(e.g. PointGoal-v0); {getattr(env, 'name', env)} has none: use her_strategy='none'")
    action_bounds(env, env_params)


def action_bounds(env: Any, env_params: Any) -> tuple[tuple[float, ...], tuple[float, ...]]:
    from gymnax.environments import spaces  # imported here: gymnax loads every env it has

    space = env.action_space(env_params)
    if isinstance(space, spaces.Box) and len(space.shape) == 1:
        low = tuple(float(x) for x in jnp.broadcast_to(space.low, space.shape))
        high = tuple(float(x) for x in jnp.broadcast_to(space.high, space.shape))
        if all(math.isfinite(x) for x in low + high):
            return low, high
    raise ConfigError(
        f"SAC handles 1-D Box action spaces with finite bounds; {getattr(env, 'name', env)} has "
        f"{type(space).__name__}{getattr(space, 'shape', '')}: use PPO for discrete actions, or wrap the env"
    )




@dataclasses.dataclass(frozen=True, eq=False)
class SAC:
    """SAC bound to one env, config and reward transform. Build with `make_sac`."""

    config: SACConfig
    env: Any
    env_params: Any
    transform: RewardTransform
    low: tuple[float, ...]
    high: tuple[float, ...]
    goal: her.GoalSpec | None

    @property
    def action_dim(self) -> int:
        return len(self.low)

    @property
    def head(self) -> Gaussian:
        return Gaussian(self.action_dim, -1.0, 1.0, "tanh")

    @property
    def actor(self) -> Actor:
        return Actor(self.action_dim, tuple(self.config.hidden_sizes), self.config.activation)

    @property
    def nonepisodic(self) -> tuple[Stream, ...]:
        """Streams with a critic head of their own (never cut at episode ends)."""
        return tuple(s for s in self.transform.all_streams if not s.episodic)

    @property
    def critic(self) -> TwinQ:
        return TwinQ(tuple(self.config.hidden_sizes), self.config.activation, 1 + len(self.nonepisodic))

    def combined_q(self, q: jax.Array, hp: SACHParams) -> jax.Array:
        """Q = Q_0 + Σ_j c_j·Q_j over the heads ([..., heads] -> [...]): what the actor maximises."""
        coefs = jnp.stack([jnp.float32(1.0)] + [hp.reward_coefs[s.name] for s in self.nonepisodic])
        return (q * coefs).sum(-1)

    @property
    def relabels(self) -> bool:
        return self.goal is not None and self.config.her_strategy != "none"

    # ----------------------------------------------------------------- helpers
    def optimizers(self, hp: SACHParams):
        """(actor, critic, temperature) Adam optimisers reading traced learning rates.

        Adam per parameter leaf, not `optax.flatten`'s one vector: with 256-wide layers the
        concatenation and split in every gradient step halved SAC's speed on CPU."""
        return optax.adam(hp.actor_lr), optax.adam(hp.critic_lr), optax.adam(hp.alpha_lr)

    def to_env(self, action: jax.Array) -> jax.Array:
        """[−1, 1] action -> env action in [low, high]."""
        low, high = jnp.asarray(self.low), jnp.asarray(self.high)
        return low + 0.5 * (action + 1.0) * (high - low)

    def policy_input(self, obs: jax.Array, reward_state: Any) -> jax.Array:
        features = None if self.transform.observe is None else self.transform.observe(reward_state)
        return self.with_features(obs, features)

    @staticmethod
    def with_features(obs: jax.Array, features: jax.Array | None) -> jax.Array:
        """Flattened observations [N, D], with the transform's features appended if any."""
        flat = obs.reshape(obs.shape[:1] + (-1,)).astype(jnp.float32)
        return flat if features is None else jnp.concatenate([flat, features.astype(jnp.float32)], axis=-1)

    def sample_action(self, actor_params, policy_input: jax.Array, key: jax.Array):
        """(a ∈ [−1, 1]^|A|, log π(a|s)) with a reparameterised sample."""
        dist = self.actor.apply(actor_params, policy_input)
        raw = self.head.sample(key, dist)
        return jnp.tanh(raw), self.head.log_prob(dist, raw)

    def act(self, state: SACState, obs: jax.Array, key: jax.Array, deterministic: bool = False) -> jax.Array:
        """Env actions for a batch of observations (transform features included)."""
        dist = self.actor.apply(state.actor_params, self.policy_input(obs, state.reward_state))
        raw = self.head.mode(dist) if deterministic else self.head.sample(key, dist)
        return self.to_env(jnp.tanh(raw))

    def evaluate(self, state: SACState, hp: SACHParams, key: jax.Array, num_episodes: int) -> dict[str, jax.Array]:
        """Mean return and length of `num_episodes` fresh episodes of the greedy policy tanh(μ(s))."""

        def act(obs, features, key):
            del key
            x = self.with_features(obs, features)
            return self.to_env(jnp.tanh(self.head.mode(self.actor.apply(state.actor_params, x))))

        return evaluate(self.env, self.env_params, act, key, num_episodes, episode_limit(self.env, self.env_params),
                        self.transform, hp.reward, jnp.zeros((self.action_dim,), jnp.float32), hp.gamma)

    def _step_envs(self, keys, env_state, action):
        return step_batch(self.env, self.env_params, keys, env_state, action)

    # -------------------------------------------------------------------- init
    def _example_transition(self, obs: jax.Array, env_state: Any) -> Transition:
        action = jnp.zeros((self.config.num_envs, self.action_dim), jnp.float32)
        return example_transition(self.env, self.env_params, obs, env_state, action)

    def _example_item(self, policy_input: jax.Array, example: Transition, reward_state: Any, hp: SACHParams):
        streams = jax.eval_shape(lambda: self.transform.apply(reward_state, example, hp.reward)[0])
        n = self.config.num_envs
        item = {
            "obs": policy_input,
            "action": jnp.zeros((n, self.action_dim), jnp.float32),
            "rewards": jax.tree.map(lambda x: jnp.zeros(x.shape, jnp.float32), streams),
            "terminated": jnp.zeros((n,), bool),
            "truncated": jnp.zeros((n,), bool),
            "next_obs": policy_input,
        }
        if self.relabels:
            item["achieved_goal"] = jnp.zeros_like(example.info["achieved_goal"], jnp.float32)
        return item

    def init(self, key: jax.Array, hp: SACHParams) -> SACState:
        """Networks, optimisers, envs, transform state and buffer; then the random warm-up."""
        cfg = self.config
        key, actor_key, critic_key, env_key, transform_key, warmup_key = jax.random.split(key, 6)
        obs, env_state = reset_batch(self.env, self.env_params, jax.random.split(env_key, cfg.num_envs))
        obs = obs.astype(jnp.float32)
        example = self._example_transition(obs, env_state)
        reward_state = self.transform.init(transform_key, example)
        policy_input = self.policy_input(obs, reward_state)
        actor_params = self.actor.init(actor_key, policy_input[:1])
        critic_params = self.critic.init(critic_key, policy_input[:1], jnp.zeros((1, self.action_dim)))
        log_alpha = jnp.log(jnp.asarray(hp.init_alpha, jnp.float32))
        actor_opt, critic_opt, alpha_opt = self.optimizers(hp)
        has_success = "is_success" in example.info
        state = SACState(
            actor_params=actor_params,
            critic_params=critic_params,
            target_params=critic_params,
            log_alpha=log_alpha,
            actor_opt=actor_opt.init(actor_params),
            critic_opt=critic_opt.init(critic_params),
            alpha_opt=alpha_opt.init(log_alpha),
            buffer=replay.create(self._example_item(policy_input, example, reward_state, hp), cfg.buffer_rows),
            env_state=env_state,
            obs=obs,
            reward_state=reward_state,
            episodes=EpisodeStats.create(cfg.num_envs),
            stream_episodes={name: EpisodeStats.create(cfg.num_envs) for name in self.transform.episode_streams},
            successes=EpisodeStats.create(cfg.num_envs) if has_success else None,
            key=key,
            update_step=jnp.zeros((), jnp.int32),
        )
        state, _ = jax.lax.scan(lambda s, k: self._collect(s, hp, k, explore=True), state,
                                jax.random.split(warmup_key, cfg.warmup_steps))
        return state

    # ----------------------------------------------------------------- collect
    def _collect(self, state: SACState, hp: SACHParams, key: jax.Array, explore: bool = False):
        """One vectorised env step; `explore=True` takes uniformly random actions."""
        n = self.config.num_envs
        act_key, env_key = jax.random.split(key)
        policy_input = self.policy_input(state.obs, state.reward_state)
        if explore:
            action = draws.uniform(act_key, (n, self.action_dim), jnp.float32, -1.0, 1.0)
        else:
            action, _ = self.sample_action(state.actor_params, policy_input, act_key)
        env_action = self.to_env(action)
        next_obs, env_state, reward, terminated, truncated, info = self._step_envs(
            jax.random.split(env_key, n), state.env_state, env_action
        )
        transition = step_transition(state.obs, env_action, reward, terminated, truncated, info, hp.gamma)
        # Q(s′, ·) sees the ending episode's features, not the reset ones
        features = (None if self.transform.observe is None
                    else final_features(self.transform, state.reward_state, transition, hp.reward))
        next_input = self.with_features(transition.next_obs, features)
        streams, reward_state = self.transform.apply(state.reward_state, transition, hp.reward)
        done = transition.done
        item = {
            "obs": policy_input,
            "action": action,
            "rewards": streams,
            "terminated": terminated,
            "truncated": transition.truncated,
            "next_obs": next_input,
        }
        if self.relabels:
            item["achieved_goal"] = info["achieved_goal"].astype(jnp.float32)
        successes = state.successes
        if successes is not None:
            successes = successes.record(jnp.where(done, info["is_success"].astype(jnp.float32), 0.0), done)
        state = state.replace(
            buffer=replay.insert(state.buffer, item, done),
            env_state=env_state,
            obs=next_obs.astype(jnp.float32),
            reward_state=reward_state,
            episodes=state.episodes.record(transition.reward, done),
            stream_episodes={k: e.record(streams[k], done) for k, e in state.stream_episodes.items()},
            successes=successes,
        )
        return state, (transition, streams)

    # ------------------------------------------------------------------- learn
    def targets(self, actor_params, target_params, log_alpha, hp: SACHParams, rewards, terminated, next_obs, key):
        """Soft TD targets [..., heads] from the TRUE next observations: head 0 as in
        `soft_target` on the episodic reward; head j ≥ 1, y_j = r_j + γ_j·Q′_j, its own
        stream and discount, never cut at an episode's end (the stream does not end)."""
        next_action, next_log_prob = self.sample_action(actor_params, next_obs, key)
        next_q = self.critic.apply(target_params, next_obs, next_action).min(axis=0)
        episodic = soft_target(rewards[..., 0], terminated, next_q[..., 0], next_log_prob, jnp.exp(log_alpha), hp.gamma)
        heads = [episodic] + [rewards[..., j] + hp.reward_gammas[s.name] * next_q[..., j]
                              for j, s in enumerate(self.nonepisodic, start=1)]
        return jnp.stack(heads, axis=-1)

    def sample_batch(self, buffer: replay.ReplayBuffer, hp: SACHParams, key: jax.Array):
        """A minibatch from the buffer (hindsight-relabelled if configured) and its reward."""
        sample_key, her_key = jax.random.split(key)
        rows, cols = replay.sample_indices(buffer, sample_key, self.config.minibatch_size)
        batch = replay.gather(buffer, rows, cols)
        relabelled = jnp.zeros(rows.shape, bool)
        if self.relabels:
            batch, relabelled = her.relabel(her_key, buffer, rows, cols, batch, self.goal, self.config.her_strategy,
                                            self.config.her_k, hp.gamma)
        own_head = {s.name for s in self.nonepisodic}
        episodic = weighted_sum({k: r for k, r in batch["rewards"].items() if k not in own_head}, hp.reward_coefs)
        rewards = jnp.stack([episodic] + [batch["rewards"][s.name] for s in self.nonepisodic], axis=-1)
        return batch, rewards, relabelled

    def gradient_step(self, state: SACState, hp: SACHParams, key: jax.Array):
        """One gradient step on a minibatch from the buffer: the critics on the soft target
        y = r + γ(1 − terminated)(min Q̄(s′, a′) − α log π(a′|s′)), then the actor on
        α log π(a|s) − min Q(s, a), then log α, then Polyak-averaged targets (τ).
        Returns (state, metrics)."""
        actor_opt, critic_opt, alpha_opt = self.optimizers(hp)
        batch_key, target_key, actor_key = jax.random.split(key, 3)
        batch, reward, relabelled = self.sample_batch(state.buffer, hp, batch_key)
        alpha = jnp.exp(state.log_alpha)
        target = jax.lax.stop_gradient(self.targets(state.actor_params, state.target_params, state.log_alpha, hp,
                                                    reward, batch["terminated"], batch["next_obs"], target_key))

        def critic_loss(params):
            q = self.critic.apply(params, batch["obs"], batch["action"])
            return 0.5 * ((q - target[None]) ** 2).mean(axis=1).sum(), q

        (loss_critic, q), grads = jax.value_and_grad(critic_loss, has_aux=True)(state.critic_params)
        updates, critic_state = critic_opt.update(grads, state.critic_opt, state.critic_params)
        critic_params = optax.apply_updates(state.critic_params, updates)

        def actor_loss(params):
            action, log_prob = self.sample_action(params, batch["obs"], actor_key)
            q_new = self.combined_q(self.critic.apply(critic_params, batch["obs"], action), hp).min(axis=0)
            return (alpha * log_prob - q_new).mean(), log_prob

        (loss_actor, log_prob), grads = jax.value_and_grad(actor_loss, has_aux=True)(state.actor_params)
        updates, actor_state = actor_opt.update(grads, state.actor_opt, state.actor_params)
        actor_params = optax.apply_updates(state.actor_params, updates)

        target_entropy = hp.target_entropy_per_dim * self.action_dim
        # L_α = −log α · mean(log π + H̄), so ∂L_α/∂log α = −mean(log π + H̄)
        slack = jax.lax.stop_gradient(log_prob + target_entropy).mean()
        loss_alpha, grad = -state.log_alpha * slack, -slack
        updates, alpha_state = alpha_opt.update(grad, state.alpha_opt, state.log_alpha)
        log_alpha = optax.apply_updates(state.log_alpha, updates)

        target_params = jax.tree.map(lambda t, p: hp.tau * p + (1.0 - hp.tau) * t, state.target_params, critic_params)
        state = state.replace(actor_params=actor_params, critic_params=critic_params, target_params=target_params,
                              log_alpha=log_alpha, actor_opt=actor_state, critic_opt=critic_state,
                              alpha_opt=alpha_state)
        return state, {
            "loss_critic": loss_critic,
            "loss_actor": loss_actor,
            "loss_alpha": loss_alpha,
            "alpha": alpha,
            "q_mean": q[..., 0].mean(),
            "q_target_mean": target[..., 0].mean(),
            "entropy": -log_prob.mean(),
            "relabelled_fraction": relabelled.mean(),
        }

    # ------------------------------------------------------------------ update
    def update(self, state: SACState, hp: SACHParams):
        """`steps_per_update` vectorised env steps, with `updates_per_step` gradient steps
        every `train_every` of them, then the reward transform's update."""
        cfg = self.config

        def block(state, _):
            key, collect_key, learn_key = jax.random.split(state.key, 3)
            state = state.replace(key=key)
            state, collected = jax.lax.scan(lambda s, k: self._collect(s, hp, k), state,
                                            jax.random.split(collect_key, cfg.train_every))
            state, info = jax.lax.scan(lambda s, k: self.gradient_step(s, hp, k), state,
                                       jax.random.split(learn_key, cfg.updates_per_step))
            return state, (collected, info)

        state, ((batch, streams), info) = jax.lax.scan(block, state, None,
                                                       length=cfg.steps_per_update // cfg.train_every)
        batch, streams = jax.tree.map(lambda x: x.reshape((cfg.steps_per_update,) + x.shape[2:]), (batch, streams))

        key, transform_key = jax.random.split(state.key)
        reward_state, transform_metrics = self.transform.update(state.reward_state, batch, transform_key, hp.reward)
        state = state.replace(reward_state=reward_state, key=key, update_step=state.update_step + 1)

        metrics = {
            "step": cfg.warmup_steps * cfg.num_envs + state.update_step * cfg.batch_size,
            **state.episodes.summary(),
            **jax.tree.map(jnp.mean, info),
            **{f"reward/{name}": r.mean() for name, r in streams.items()},
            **{f"episode_reward/{name}": e.summary()["episode_return"] for name, e in state.stream_episodes.items()},
            **{f"transform/{name}": v for name, v in transform_metrics.items()},
        }
        if state.successes is not None:
            metrics["episode_success"] = state.successes.summary()["episode_return"]
        return state, metrics

    # ------------------------------------------------------------------- train
    def train(self, key: jax.Array, hp: SACHParams):
        """The whole run: init (with warm-up), then `lax.scan` of `update`."""
        state = self.init(key, hp)
        return jax.lax.scan(lambda s, _: self.update(s, hp), state, None, length=self.config.num_updates)


def make_sac(
    config: SACConfig,
    env: Any = None,
    env_params: Any = None,
    transform: RewardTransform | None = None,
) -> SAC:
    """Validate the config and bind SAC to an env (by default `make(config.env)`)."""
    env, env_params = resolve(config.env, env, env_params, config.env_options)
    validate(config, env, env_params)
    low, high = action_bounds(env, env_params)
    goal = her.GoalSpec(**env.goal_spec(env_params)) if config.her_strategy != "none" else None
    return SAC(config, env, env_params, transform or identity(), low, high, goal)
