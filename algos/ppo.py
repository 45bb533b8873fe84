"""Proximal Policy Optimization, compiled end to end (Schulman et al. 2017).

A run is one pure function, `train(key, hparams) -> (state, metrics)`:

    init: networks, optimiser, env states, reward-transform state
    lax.scan over updates:
      rollout     lax.scan over num_steps of  act -> vmapped env.step -> reward transform
      transform   update (e.g. train a predictor on the batch)
      advantages  GAE with the termination/truncation rule (algos/returns.py)
      learn       lax.scan over epochs x minibatches of the clipped surrogate loss

`PPOConfig` holds the static settings (shapes, counts) and is hashable; `PPOHParams`
holds every continuous hyperparameter as a traced leaf, so
`jax.vmap(train)(keys, hparams)` sweeps seeds and hyperparameters in one compile.
`PPO.init` and `PPO.update` are exposed separately so a driver can scan chunks of
updates between which it logs and checkpoints.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct
from gymnax.environments import spaces

from jaxshape.episodes import EpisodeStats
from jaxshape.errors import ConfigError
from jaxshape.rewards import RewardTransform, identity, weighted_sum
from jaxshape.stats import RunningMeanStd
from jaxshape.types import Transition
from jaxshape.algos.distributions import Categorical, Gaussian
from jaxshape.algos.networks import ACTIVATIONS, ActorCritic
from jaxshape.algos.returns import gae


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """Static settings: changing one recompiles."""

    env: str = "CartPole-v1"
    num_envs: int = 16
    num_steps: int = 128
    total_steps: int = 500_000
    num_epochs: int = 8
    num_minibatches: int = 8
    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    shared_network: bool = False
    normalize_obs: bool = False
    anneal_lr: bool = True
    continuous_squash: str = "tanh"

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.batch_size


@struct.dataclass
class PPOHParams:
    """Traced hyperparameters: vmap over them, change them without recompiling."""

    learning_rate: Any = 2.5e-4
    gamma: Any = 0.99
    gae_lambda: Any = 0.95
    clip_eps: Any = 0.2
    ent_coef: Any = 0.01
    vf_coef: Any = 0.5
    max_grad_norm: Any = 0.5
    reward: Any = ()
    reward_coefs: Any = None


def default_hparams(transform: RewardTransform | None = None, **overrides: float) -> PPOHParams:
    """PPOHParams with float32 leaves, the transform's hparams and unit stream weights."""
    transform = transform or identity()
    hp = PPOHParams(
        reward=transform.default_hparams,
        reward_coefs={name: 1.0 for name in transform.streams},
    ).replace(**overrides)
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), hp)


@struct.dataclass
class PPOState:
    params: Any
    opt_state: Any
    obs_stats: RunningMeanStd
    env_state: Any
    obs: jax.Array
    reward_state: Any
    episodes: EpisodeStats
    key: jax.Array
    update_step: jax.Array


def validate(config: PPOConfig, env: Any, env_params: Any) -> None:
    """Raise ConfigError (one line naming the fix) before anything compiles."""
    for name in ("num_envs", "num_steps", "total_steps", "num_epochs", "num_minibatches"):
        if getattr(config, name) <= 0:
            raise ConfigError(f"{name} must be a positive integer, got {getattr(config, name)}")
    if not config.hidden_sizes or min(config.hidden_sizes) <= 0:
        raise ConfigError(f"hidden_sizes must be positive widths, got {config.hidden_sizes}")
    if config.batch_size % config.num_minibatches:
        raise ConfigError(
            f"num_minibatches={config.num_minibatches} does not divide the batch "
            f"num_envs*num_steps={config.batch_size}; pick a divisor of {config.batch_size}"
        )
    if config.num_updates < 1:
        raise ConfigError(
            f"total_steps={config.total_steps} is less than one batch ({config.batch_size}); "
            "raise total_steps or lower num_envs*num_steps"
        )
    if config.activation not in ACTIVATIONS:
        raise ConfigError(f"activation {config.activation!r} unknown; choose one of {sorted(ACTIVATIONS)}")
    if config.continuous_squash not in ("tanh", "clip"):
        raise ConfigError(f"continuous_squash must be 'tanh' or 'clip', got {config.continuous_squash!r}")
    action_head(config, env, env_params)


def action_head(config: PPOConfig, env: Any, env_params: Any) -> Categorical | Gaussian:
    space = env.action_space(env_params)
    if isinstance(space, spaces.Discrete):
        return Categorical(int(space.n))
    if isinstance(space, spaces.Box) and len(space.shape) == 1:
        low = tuple(float(x) for x in jnp.broadcast_to(space.low, space.shape))
        high = tuple(float(x) for x in jnp.broadcast_to(space.high, space.shape))
        return Gaussian(space.shape[0], low, high, config.continuous_squash)
    raise ConfigError(
        f"PPO handles Discrete or 1-D Box action spaces; {getattr(env, 'name', env)} has "
        f"{type(space).__name__}{getattr(space, 'shape', '')}: wrap the env to flatten its actions"
    )


@dataclasses.dataclass(frozen=True, eq=False)
class PPO:
    """PPO bound to one env, config and reward transform. Build with `make_ppo`."""

    config: PPOConfig
    env: Any
    env_params: Any
    transform: RewardTransform
    head: Any
    network: ActorCritic

    # ----------------------------------------------------------------- helpers
    def optimizer(self, hp: PPOHParams) -> optax.GradientTransformation:
        cfg = self.config
        steps_per_update = cfg.num_epochs * cfg.num_minibatches

        def learning_rate(count):
            if not cfg.anneal_lr:
                return hp.learning_rate
            return hp.learning_rate * (1.0 - (count // steps_per_update) / cfg.num_updates)

        return optax.chain(optax.clip_by_global_norm(hp.max_grad_norm), optax.adam(learning_rate, eps=1e-5))

    def _normalize(self, obs_stats: RunningMeanStd, obs: jax.Array) -> jax.Array:
        return obs_stats.normalize(obs) if self.config.normalize_obs else obs

    def policy_value(self, params, obs_stats, obs):
        return self.network.apply(params, self._normalize(obs_stats, obs).astype(jnp.float32))

    def act(self, state: PPOState, obs: jax.Array, key: jax.Array, deterministic: bool = False):
        """Environment actions for a batch of observations."""
        policy, _ = self.policy_value(state.params, state.obs_stats, obs)
        raw = self.head.mode(policy) if deterministic else self.head.sample(key, policy)
        return self.head.to_env(raw)

    def _step_envs(self, keys, env_state, action):
        return jax.vmap(self.env.step, in_axes=(0, 0, 0, None))(keys, env_state, action, self.env_params)

    # -------------------------------------------------------------------- init
    def init(self, key: jax.Array, hp: PPOHParams) -> PPOState:
        cfg = self.config
        key, net_key, env_key, transform_key = jax.random.split(key, 4)
        obs, env_state = jax.vmap(self.env.reset, in_axes=(0, None))(
            jax.random.split(env_key, cfg.num_envs), self.env_params
        )
        obs = obs.astype(jnp.float32)
        params = self.network.init(net_key, obs[:1])
        example = Transition(
            obs=obs,
            action=jnp.zeros((cfg.num_envs,) + self._action_shape(), self._action_dtype()),
            reward=jnp.zeros((cfg.num_envs,), jnp.float32),
            terminated=jnp.zeros((cfg.num_envs,), bool),
            truncated=jnp.zeros((cfg.num_envs,), bool),
            next_obs=obs,
        )
        return PPOState(
            params=params,
            opt_state=self.optimizer(hp).init(params),
            obs_stats=RunningMeanStd.create(obs.shape[1:]),
            env_state=env_state,
            obs=obs,
            reward_state=self.transform.init(transform_key, example),
            episodes=EpisodeStats.create(cfg.num_envs),
            key=key,
            update_step=jnp.zeros((), jnp.int32),
        )

    def _action_shape(self) -> tuple[int, ...]:
        return (self.head.action_dim,) if isinstance(self.head, Gaussian) else ()

    def _action_dtype(self):
        return jnp.float32 if isinstance(self.head, Gaussian) else jnp.int32

    # ----------------------------------------------------------------- rollout
    def _rollout(self, state: PPOState, hp: PPOHParams):
        cfg = self.config

        def step(carry, key):
            env_state, obs, reward_state, episodes = carry
            act_key, env_key = jax.random.split(key)
            policy, value = self.policy_value(state.params, state.obs_stats, obs)
            raw_action = self.head.sample(act_key, policy)
            action = self.head.to_env(raw_action)
            next_obs, env_state, reward, terminated, truncated, info = self._step_envs(
                jax.random.split(env_key, cfg.num_envs), env_state, action
            )
            terminated = terminated.astype(bool)
            truncated = jnp.logical_and(truncated.astype(bool), jnp.logical_not(terminated))
            transition = Transition(
                obs=obs,
                action=action,
                reward=reward.astype(jnp.float32),
                terminated=terminated,
                truncated=truncated,
                next_obs=info["final_observation"].astype(jnp.float32),
                extras={"raw_action": raw_action, "log_prob": self.head.log_prob(policy, raw_action), "value": value},
            )
            streams, reward_state = self.transform.apply(reward_state, transition, hp.reward)
            episodes = episodes.record(transition.reward, transition.done)
            carry = (env_state, next_obs.astype(jnp.float32), reward_state, episodes)
            return carry, (transition, streams)

        key, rollout_key = jax.random.split(state.key)
        carry = (state.env_state, state.obs, state.reward_state, state.episodes)
        carry, (batch, streams) = jax.lax.scan(step, carry, jax.random.split(rollout_key, cfg.num_steps))
        env_state, obs, reward_state, episodes = carry
        state = state.replace(env_state=env_state, obs=obs, reward_state=reward_state, episodes=episodes, key=key)
        return state, batch, streams

    # ------------------------------------------------------------------- learn
    def _loss(self, params, obs_stats, hp: PPOHParams, minibatch):
        batch, advantages, targets = minibatch
        policy, values = self.policy_value(params, obs_stats, batch.obs)
        log_prob = self.head.log_prob(policy, batch.extras["raw_action"])
        log_ratio = log_prob - batch.extras["log_prob"]
        ratio = jnp.exp(log_ratio)
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        clipped_ratio = jnp.clip(ratio, 1.0 - hp.clip_eps, 1.0 + hp.clip_eps)
        actor_loss = -jnp.minimum(ratio * advantages, clipped_ratio * advantages).mean()

        old_values = batch.extras["value"]
        clipped_values = old_values + jnp.clip(values - old_values, -hp.clip_eps, hp.clip_eps)
        value_loss = 0.5 * jnp.maximum((values - targets) ** 2, (clipped_values - targets) ** 2).mean()
        entropy = self.head.entropy(policy).mean()

        total = actor_loss + hp.vf_coef * value_loss - hp.ent_coef * entropy
        return total, {
            "loss_total": total,
            "loss_actor": actor_loss,
            "loss_value": value_loss,
            "entropy": entropy,
            "approx_kl": ((ratio - 1.0) - log_ratio).mean(),
            "clip_fraction": (jnp.abs(ratio - 1.0) > hp.clip_eps).mean(),
        }

    def _learn(self, state: PPOState, hp: PPOHParams, batch, advantages, targets):
        cfg = self.config
        optimizer = self.optimizer(hp)
        flat = jax.tree.map(lambda x: x.reshape((cfg.batch_size,) + x.shape[2:]), (batch, advantages, targets))
        grad_fn = jax.value_and_grad(self._loss, has_aux=True)

        def minibatch_step(train, minibatch):
            params, opt_state = train
            (_, info), grads = grad_fn(params, state.obs_stats, hp, minibatch)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), info

        def epoch(train, key):
            order = jax.random.permutation(key, cfg.batch_size)
            minibatches = jax.tree.map(
                lambda x: x[order].reshape((cfg.num_minibatches, cfg.minibatch_size) + x.shape[1:]), flat
            )
            return jax.lax.scan(minibatch_step, train, minibatches)

        key, epoch_key = jax.random.split(state.key)
        (params, opt_state), info = jax.lax.scan(
            epoch, (state.params, state.opt_state), jax.random.split(epoch_key, cfg.num_epochs)
        )
        state = state.replace(params=params, opt_state=opt_state, key=key)
        return state, jax.tree.map(jnp.mean, info)

    # ------------------------------------------------------------------ update
    def update(self, state: PPOState, hp: PPOHParams):
        """One PPO update: rollout, reward-transform update, GAE, epochs of SGD."""
        state, batch, streams = self._rollout(state, hp)

        key, transform_key = jax.random.split(state.key)
        reward_state, transform_metrics = self.transform.update(state.reward_state, batch, transform_key, hp.reward)
        state = state.replace(reward_state=reward_state, key=key)

        rewards = weighted_sum(streams, hp.reward_coefs)
        _, next_values = self.policy_value(state.params, state.obs_stats, batch.next_obs)
        advantages, targets = gae(
            rewards, batch.extras["value"], next_values, batch.terminated, batch.truncated, hp.gamma, hp.gae_lambda
        )
        state, learn_metrics = self._learn(state, hp, batch, advantages, targets)

        if self.config.normalize_obs:
            state = state.replace(obs_stats=state.obs_stats.update(batch.obs))
        state = state.replace(update_step=state.update_step + 1)

        metrics = {
            "step": state.update_step * self.config.batch_size,
            **state.episodes.summary(),
            **learn_metrics,
            **{f"reward/{name}": r.mean() for name, r in streams.items()},
            **{f"transform/{name}": v for name, v in transform_metrics.items()},
        }
        return state, metrics

    # ------------------------------------------------------------------- train
    def train(self, key: jax.Array, hp: PPOHParams):
        """The whole run: init, then `lax.scan` of `update` over all updates."""

        def body(state, _):
            return self.update(state, hp)

        state = self.init(key, hp)
        return jax.lax.scan(body, state, None, length=self.config.num_updates)


def make_ppo(
    config: PPOConfig,
    env: Any = None,
    env_params: Any = None,
    transform: RewardTransform | None = None,
) -> PPO:
    """Validate the config and bind PPO to an env (by default `make(config.env)`)."""
    if env is None:
        from jaxshape.envs import make

        env, default_params = make(config.env)
        env_params = default_params if env_params is None else env_params
    elif env_params is None:
        env_params = env.default_params
    validate(config, env, env_params)
    head = action_head(config, env, env_params)
    network = ActorCritic(
        action_size=head.output_size,
        continuous=isinstance(head, Gaussian),
        hidden_sizes=tuple(config.hidden_sizes),
        activation=config.activation,
        shared=config.shared_network,
    )
    return PPO(config, env, env_params, transform or identity(), head, network)
