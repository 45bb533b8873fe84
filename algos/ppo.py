"""Proximal Policy Optimization, compiled end to end (Schulman et al. 2017).

A run is one pure function, `train(key, hparams) -> (state, metrics)`:

    init: networks, optimiser, env states, reward-transform state
    lax.scan over updates:
      rollout     lax.scan over num_steps of  act -> vmapped env.step -> reward transform
      transform   update (e.g. train a predictor on the batch)
      advantages  GAE with the termination/truncation rule (algos/returns.py)
      learn       lax.scan over epochs x minibatches of the clipped surrogate loss,
                  the value loss clipped the same way unless clip_value=False

With `gru_size > 0` the policy is recurrent (`networks.RecurrentActorCritic`): its GRU
memory is carried through the rollout and zeroed where an episode ends; learning replays
each env's whole rollout from the memory it started with (resets where episodes began),
and minibatches are groups of envs, not of steps.

With `condition` (e.g. `(("reward_coefs.effort", 0.0, 1.0),)`) one agent stands in for a
sweep over reward coefficients (`jaxshape.conditioning`): each env draws them per episode,
its combined reward uses its draw, and the networks see it after the observation.

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
from jax.flatten_util import ravel_pytree

from jaxshape import conditioning, shuffle
from jaxshape.envs import example_transition, reset_batch, resolve, step_batch, step_transition
from jaxshape.envs.registry import ENV_OPTIONS_HELP
from jaxshape.episodes import EpisodeStats
from jaxshape.evaluation import episode_limit, evaluate
from jaxshape.errors import ConfigError
from jaxshape.rewards import RewardTransform, Stream, final_features, identity, weighted_sum
from jaxshape.stats import RunningMeanStd
from jaxshape.types import Transition
from jaxshape.algos.distributions import Categorical, Gaussian
from jaxshape.algos.networks import MATMUL_DTYPES, ActorCritic, RecurrentActorCritic, check_shape_settings
from jaxshape.algos import meta_reward as metagrad
from jaxshape.algos.returns import ReturnScale, decoupled_advantages, gae, normalized, scaled_stream, stream_units


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """Static settings: changing one recompiles."""

    env: str = "CartPole-v1"
    env_options: str = dataclasses.field(default="", metadata={"help": ENV_OPTIONS_HELP})
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
    decouple_streams: bool = False  # a value head per stream, advantages in units of its return's running std
    gru_size: int = 0  # GRU memory units of a recurrent policy; 0: feed-forward
    clip_value: bool = True  # value loss max(unclipped, clipped at ±clip_eps) (PureJaxRL); False: plain (brax)
    adam_eps: float = 1e-5  # Adam's ε (PureJaxRL 1e-5; optax's and brax's default 1e-8)
    matmul_dtype: str = dataclasses.field(default="float32", metadata={
        "choices": tuple(MATMUL_DTYPES),
        "help": "the dtype the networks' hidden layers compute in: bfloat16 runs their products and activations "
                "in bfloat16 (tensor cores on GPUs and TPUs); parameters, the policy and value heads, optimiser and "
                "losses stay float32; on a CPU it is slower (default: float32)"})
    condition: tuple[tuple[str, float, float], ...] = dataclasses.field(default=(), metadata={
        "parse": conditioning.parse_condition, "metavar": "NAME=LO:HI",
        "help": "sample reward coefficient NAME per episode in [LO, HI] and show it to actor and critic, so one "
                "agent stands in for a sweep over it (repeatable; e.g. reward_coefs.effort=0:1)"})
    meta_reward: bool = dataclasses.field(default=False, metadata={
        "help": "learn every stream's coefficient online by the gradient of the env reward's policy-gradient "
                "objective through the agent's update (algos/meta_reward.py); logged as meta/<stream>"})
    meta_gradient: str = dataclasses.field(default="unrolled", metadata={
        "choices": metagrad.GRADIENTS,
        "help": "unrolled: back-propagate through the last --meta-unroll minibatch steps; implicit: BARFI's "
                "implicit gradient with --meta-unroll Neumann terms"})
    meta_unroll: int = dataclasses.field(default=1, metadata={
        "help": "minibatch steps differentiated through (unrolled) or Neumann-series terms (implicit)"})

    def __post_init__(self):  # config.json stores lists: keep the config hashable
        object.__setattr__(self, "condition", conditioning.as_condition(self.condition))

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
    reward_gammas: Any = None
    meta_lr: Any = 0.01  # Adam's step size on the learned coefficients (--meta-reward)
    meta_neumann_alpha: Any = 0.01  # α of the implicit gradient's Neumann series (--meta-gradient implicit)


def default_hparams(transform: RewardTransform | None = None, **overrides: Any) -> PPOHParams:
    """PPOHParams as float32 arrays: the transform's own hparams, each stream's default
    coefficient, and the discount of each non-episodic stream's value head."""
    transform = transform or identity()
    hp = PPOHParams(
        reward=transform.default_hparams,
        reward_coefs={s.name: s.coef for s in transform.all_streams},
        reward_gammas={s.name: 0.99 if s.gamma is None else s.gamma for s in transform.all_streams if not s.episodic},
    ).replace(**overrides)
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), hp)


@struct.dataclass
class PPOState:
    params: Any
    opt_state: Any
    obs_stats: RunningMeanStd
    env_state: Any
    obs: jax.Array
    memory: jax.Array | None  # the recurrent policy's memory per env ([N, gru_size], zeroed at episode ends); None
    coefs: jax.Array | None  # conditioned reward coefficients per env ([N, K], drawn at episode starts); None
    reward_state: Any
    episodes: EpisodeStats
    stream_episodes: dict[str, EpisodeStats]
    successes: EpisodeStats | None  # info["is_success"] at each episode's end, where the env reports it
    key: jax.Array
    update_step: jax.Array
    meta: metagrad.MetaState | None = None  # the learned reward coefficients (meta_reward); None
    stream_scales: ReturnScale | None = None  # decoupled streams: each stream's running return scale; else None


def validate(config: PPOConfig, env: Any, env_params: Any) -> None:
    """Raise ConfigError (one line naming the fix) before anything compiles."""
    check_shape_settings(config, ("num_envs", "num_steps", "total_steps", "num_epochs", "num_minibatches"))
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
    if config.gru_size < 0:
        raise ConfigError(f"gru_size must be 0 (feed-forward) or a positive number of GRU units, got {config.gru_size}")
    if config.gru_size and config.num_envs % config.num_minibatches:
        raise ConfigError(
            f"a recurrent policy is minibatched by envs: num_minibatches={config.num_minibatches} must divide "
            f"num_envs={config.num_envs}"
        )
    if config.continuous_squash not in ("tanh", "clip"):
        raise ConfigError(f"continuous_squash must be 'tanh' or 'clip', got {config.continuous_squash!r}")
    if not config.adam_eps > 0:
        raise ConfigError(f"adam_eps must be positive (e.g. 1e-5 or 1e-8), got {config.adam_eps}")
    if config.matmul_dtype not in MATMUL_DTYPES:
        raise ConfigError(f"matmul_dtype must be one of {', '.join(MATMUL_DTYPES)}, got {config.matmul_dtype!r}")
    if config.meta_reward:
        validate_meta(config)
    action_head(config, env, env_params)


def validate_meta(config: PPOConfig) -> None:
    if config.gru_size or config.condition:
        raise ConfigError("meta_reward learns one set of coefficients for a feed-forward policy: drop --gru-size or "
                          "--condition")
    if config.meta_gradient not in metagrad.GRADIENTS:
        raise ConfigError(f"meta_gradient must be one of {', '.join(metagrad.GRADIENTS)}, "
                          f"got {config.meta_gradient!r}")
    if not 1 <= config.meta_unroll <= config.num_minibatches:
        raise ConfigError(f"meta_unroll={config.meta_unroll} must be between 1 and num_minibatches="
                          f"{config.num_minibatches} (the minibatch steps of the update's last epoch)")


def action_head(config: PPOConfig, env: Any, env_params: Any) -> Categorical | Gaussian:
    from gymnax.environments import spaces  # imported here: gymnax loads every env it has

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
    """PPO bound to one env, config and reward transform. Build with `make_ppo`.

    Value heads: head 0 learns the coefficient-weighted sum of the episodic streams
    with `gamma`; each non-episodic stream (e.g. RND's) gets a head of its own, with its
    own discount from `reward_gammas`, whose trace is never cut at episode ends. The
    policy follows A = A_0 + Σ_j coef_j · A_j (Burda et al. 2018).

    With `config.decouple_streams`, every episodic stream gets a value head of its own
    too, each head predicts its stream's value in units of the running std σ_k of the
    stream's discounted return (`returns.ReturnScale`, in `PPOState.stream_scales`), and
    A = Σ_k coef_k · g_k · A_k / σ_k (`returns.decoupled_advantages`, non-episodic
    streams included): a stream's scale no longer decides its weight, its coefficient
    does (one coefficient weighs one σ of its stream's return), and a stream without
    return signal (σ_k ≈ 0, gain g_k ≈ 0) weighs nothing.
    """

    config: PPOConfig
    env: Any
    env_params: Any
    transform: RewardTransform
    head: Any
    network: ActorCritic | RecurrentActorCritic
    # the Driver lowers PPO's programs under `jaxshape.threefry.unrolled_threefry`: the
    # rollout's three draws per env step then run without their CPU loops (same bits)
    unrolled_threefry = True

    @property
    def recurrent(self) -> bool:
        return self.config.gru_size > 0

    @property
    def nonepisodic(self) -> tuple[Stream, ...]:
        return tuple(s for s in self.transform.all_streams if not s.episodic)

    @property
    def scaled_streams(self) -> tuple[str, ...]:
        """The streams of `PPOState.stream_scales`, in value-head order (`decouple_streams`); else ()."""
        return self.episodic_heads + tuple(s.name for s in self.nonepisodic) if self.episodic_heads else ()

    @property
    def episodic_heads(self) -> tuple[str, ...]:
        """Episodic streams with a value head each (`decouple_streams`); else ()."""
        if not self.config.decouple_streams:
            return ()
        return tuple(s.name for s in self.transform.all_streams if s.episodic)

    # ----------------------------------------------------------------- helpers
    def optimizer(self, hp: PPOHParams) -> optax.GradientTransformation:
        cfg = self.config
        steps_per_update = cfg.num_epochs * cfg.num_minibatches

        def learning_rate(count):
            if not cfg.anneal_lr:
                return hp.learning_rate
            return hp.learning_rate * (1.0 - (count // steps_per_update) / cfg.num_updates)

        # applied to the parameters raveled into one vector (`_minibatch_step`): one Adam, not one per small leaf
        return optax.chain(optax.clip_by_global_norm(hp.max_grad_norm), optax.adam(learning_rate, eps=cfg.adam_eps))

    def policy_input(self, obs: jax.Array, features: jax.Array | None, batch_dims: int = 1,
                     coefs: jax.Array | None = None) -> jax.Array:
        """Flattened observation, with the transform's features and the conditioned reward
        coefficients (`coefs` [..., K], shown normalised to [0, 1]) appended if any."""
        parts = [obs.reshape(obs.shape[:batch_dims] + (-1,)).astype(jnp.float32)]
        if features is not None:
            parts.append(features.astype(jnp.float32))
        if coefs is not None:
            parts.append(conditioning.normalized(self.config.condition, coefs))
        return parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=-1)

    def step_coefs(self, hp: PPOHParams, coefs: jax.Array | None) -> dict[str, jax.Array]:
        """The reward coefficients of each env's combined reward: `hp.reward_coefs`, with the
        conditioned ones replaced by the per-env draws `coefs` [..., K]."""
        if coefs is None:
            return hp.reward_coefs
        return conditioning.reward_coefs(self.config.condition, hp.reward_coefs, coefs)

    def _features(self, reward_state: Any) -> jax.Array | None:
        return None if self.transform.observe is None else self.transform.observe(reward_state)

    def _normalized(self, obs_stats: RunningMeanStd, policy_input: jax.Array) -> jax.Array:
        return obs_stats.normalize(policy_input) if self.config.normalize_obs else policy_input

    def policy_value(self, params, obs_stats: RunningMeanStd, policy_input: jax.Array):
        """(policy output, values [..., num_value_heads]) of a feed-forward policy."""
        return self.network.apply(params, self._normalized(obs_stats, policy_input))

    def sequence(self, params, obs_stats: RunningMeanStd, memory: jax.Array, policy_input: jax.Array,
                 resets: jax.Array):
        """A recurrent policy over [T, N, F] inputs from `memory` [N, H], zeroing the memory
        before the steps `resets` [T, N] marks: (memories [T, N, H], policy, values)."""
        return self.network.apply(params, memory, self._normalized(obs_stats, policy_input), resets)

    def step_policy(self, params, obs_stats: RunningMeanStd, memory: jax.Array | None, policy_input: jax.Array):
        """One acting step on [N, F] inputs: (memory after it or None, policy, values)."""
        if not self.recurrent:
            return (None, *self.policy_value(params, obs_stats, policy_input))
        no_reset = jnp.zeros((1, policy_input.shape[0]), bool)  # the carried memory is already reset
        memories, policy, values = self.sequence(params, obs_stats, memory, policy_input[None], no_reset)
        return memories[0], jax.tree.map(lambda x: x[0], policy), values[0]

    def initial_memory(self, num_envs: int) -> jax.Array | None:
        return self.network.initial_memory(num_envs) if self.recurrent else None

    def act(self, state: PPOState, obs: jax.Array, key: jax.Array, deterministic: bool = False):
        """Environment actions for a batch of observations (transform features included);
        feed-forward policies only (a recurrent one acts through `step_policy`)."""
        if self.recurrent:
            raise ConfigError("a recurrent policy acts with its memory: call step_policy, or evaluate with "
                              "`jaxshape eval`")
        if self.config.condition:
            raise ConfigError("a conditioned policy also reads its reward coefficients: evaluate it with "
                              "`jaxshape eval RUN --set NAME=VALUE`")
        policy, _ = self.policy_value(state.params, state.obs_stats, self.policy_input(obs, self._features(state.reward_state)))
        raw = self.head.mode(policy) if deterministic else self.head.sample(key, policy)
        return self.head.to_env(raw)

    def evaluate(self, state: PPOState, hp: PPOHParams, key: jax.Array, num_episodes: int,
                 stream_returns: bool | None = None) -> dict[str, jax.Array]:
        """Mean return and length of `num_episodes` fresh episodes of the greedy policy. A
        conditioned policy plays at its coefficients' values in `hp.reward_coefs`; the
        return of each reward stream (`eval_return/<stream>`) is reported with
        `stream_returns`, by default for a conditioned policy only."""
        coefs = None
        if self.config.condition:
            fixed = conditioning.from_hparams(self.config.condition, hp.reward_coefs)
            coefs = jnp.broadcast_to(fixed, (num_episodes, fixed.shape[0]))

        def greedy(obs, features, memory, key):
            policy_input = self.policy_input(obs, features, coefs=coefs)
            memory, policy, _ = self.step_policy(state.params, state.obs_stats, memory, policy_input)
            return self.head.to_env(self.head.mode(policy)), memory

        act = greedy if self.recurrent else lambda obs, features, key: greedy(obs, features, None, key)[0]
        return evaluate(
            self.env, self.env_params, act, key, num_episodes, episode_limit(self.env, self.env_params),
            self.transform, hp.reward, self.example_action(), hp.gamma, self.initial_memory(num_episodes),
            stream_returns=bool(self.config.condition) if stream_returns is None else stream_returns,
        )

    def _step_envs(self, keys, env_state, action):
        return step_batch(self.env, self.env_params, keys, env_state, action)

    # -------------------------------------------------------------------- init
    def _example_transition(self, obs: jax.Array, env_state: Any) -> Transition:
        """A zero transition with the exact shapes the rollout produces."""
        action = self.example_action((self.config.num_envs,))
        return example_transition(self.env, self.env_params, obs, env_state, action)

    def init(self, key: jax.Array, hp: PPOHParams) -> PPOState:
        cfg = self.config
        key, net_key, env_key, transform_key = jax.random.split(key, 4)
        obs, env_state = reset_batch(self.env, self.env_params, jax.random.split(env_key, cfg.num_envs))
        obs = obs.astype(jnp.float32)
        example = self._example_transition(obs, env_state)
        reward_state = self.transform.init(transform_key, example)
        coefs = None
        if cfg.condition:
            coefs = conditioning.sample(jax.random.fold_in(transform_key, 1), cfg.condition, cfg.num_envs)
        policy_input = self.policy_input(obs, self._features(reward_state), coefs=coefs)
        if self.recurrent:
            params = self.network.init(net_key, self.initial_memory(1), policy_input[None, :1], jnp.zeros((1, 1), bool))
        else:
            params = self.network.init(net_key, policy_input[:1])
        opt_state = self.optimizer(hp).init(ravel_pytree(params)[0])
        obs_stats = RunningMeanStd.create(policy_input.shape[1:])
        return PPOState(
            params=params,
            opt_state=opt_state,
            obs_stats=obs_stats,
            env_state=env_state,
            obs=obs,
            memory=self.initial_memory(cfg.num_envs),
            coefs=coefs,
            reward_state=reward_state,
            episodes=EpisodeStats.create(cfg.num_envs),
            stream_episodes={name: EpisodeStats.create(cfg.num_envs) for name in self.transform.episode_streams},
            successes=EpisodeStats.create(cfg.num_envs) if "is_success" in example.info else None,
            key=key,
            update_step=jnp.zeros((), jnp.int32),
            meta=self._initial_meta(hp, params, opt_state, obs_stats, policy_input) if cfg.meta_reward else None,
            stream_scales=ReturnScale.create(cfg.num_envs, len(self.scaled_streams)) if self.episodic_heads else None,
        )

    def example_action(self, batch: tuple[int, ...] = ()) -> jax.Array:
        """Zero actions of the env's action shape and dtype, with leading `batch` dims."""
        gaussian = isinstance(self.head, Gaussian)
        return jnp.zeros(batch + ((self.head.action_dim,) if gaussian else ()), jnp.float32 if gaussian else jnp.int32)

    # ----------------------------------------------------------------- rollout
    def _rollout_draws(self, rollout_key: jax.Array):
        """The random draws of a rollout's steps, made before the rollout in one call per
        kind rather than three per step: (action noise [T, N, A], env keys [T, N],
        coefficient keys [T] or None). Step t's key is `split(rollout_key, T)[t]`, split as
        the step would split it, so the draws are bitwise those of drawing step by step
        (the envs still draw their own resets from their keys); threefry hashes every
        element independently, so a batch of T draws costs about the kernels of one."""
        cfg = self.config

        def one_step(key):
            coef_key = None
            if cfg.condition:  # split only here: unconditioned runs keep their random streams
                key, coef_key = jax.random.split(key)
            act_key, env_key = jax.random.split(key)
            noise = self.head.noise(act_key, (cfg.num_envs, self.head.output_size))
            return noise, jax.random.split(env_key, cfg.num_envs), coef_key

        return jax.vmap(one_step)(jax.random.split(rollout_key, cfg.num_steps))

    def _rollout(self, state: PPOState, hp: PPOHParams):
        cfg = self.config

        def step(carry, draws):
            env_state, obs, memory, coefs, reward_state, episodes, stream_episodes, successes = carry
            noise, env_keys, coef_key = draws
            policy_input = self.policy_input(obs, self._features(reward_state), coefs=coefs)
            memory, policy, values = self.step_policy(state.params, state.obs_stats, memory, policy_input)
            raw_action = self.head.sample_with(noise, policy)
            action = self.head.to_env(raw_action)
            next_obs, env_state, reward, terminated, truncated, info = self._step_envs(env_keys, env_state, action)
            transition = step_transition(
                obs, action, reward, terminated, truncated, info, hp.gamma,
                extras={"raw_action": raw_action, "log_prob": self.head.log_prob(policy, raw_action)},
            )
            learner_extras = {"policy_input": policy_input}
            if self.recurrent:  # a feed-forward policy's V(s) comes after the rollout, for the whole batch at once
                learner_extras["values"] = values
            if cfg.condition:  # this step's reward and V(s′) use the ending episode's draw; redraw where it ended
                learner_extras["coefs"] = coefs
                coefs = conditioning.resample(coef_key, cfg.condition, coefs, transition.done)
            if self.recurrent:  # the memory after this step: V(s′) continues from it; a new episode starts from 0
                learner_extras["memory"] = memory
                memory = jnp.where(transition.done[:, None], jnp.zeros_like(memory), memory)
            if self.transform.observe is not None:  # V(s′) sees the ending episode's features, not the reset ones
                learner_extras["next_features"] = final_features(self.transform, reward_state, transition, hp.reward)
            streams, reward_state = self.transform.apply(reward_state, transition, hp.reward)
            episodes = episodes.record(transition.reward, transition.done)
            stream_episodes = {k: e.record(streams[k], transition.done) for k, e in stream_episodes.items()}
            if successes is not None:  # the success flag of the step that ended the episode
                success = jnp.where(transition.done, info["is_success"].astype(jnp.float32), 0.0)
                successes = successes.record(success, transition.done)
            transition = transition.replace(extras={**transition.extras, **learner_extras})
            carry = (env_state, next_obs.astype(jnp.float32), memory, coefs, reward_state, episodes,
                     stream_episodes, successes)
            return carry, (transition, streams)

        key, rollout_key = jax.random.split(state.key)
        carry = (state.env_state, state.obs, state.memory, state.coefs, state.reward_state, state.episodes,
                 state.stream_episodes, state.successes)
        carry, (batch, streams) = jax.lax.scan(step, carry, self._rollout_draws(rollout_key))
        if not self.recurrent:  # V(s) [T, N, V] in one forward of the batch rather than one per step: the same
            # network on the same inputs (the parameters and observation statistics hold still through a rollout),
            # but products of T·N rows run far faster than T products of N rows
            values = self.policy_value(state.params, state.obs_stats, batch.extras["policy_input"])[1]
            batch = batch.replace(extras={**batch.extras, "values": values})
        env_state, obs, memory, coefs, reward_state, episodes, stream_episodes, successes = carry
        state = state.replace(env_state=env_state, obs=obs, memory=memory, coefs=coefs, reward_state=reward_state,
                              episodes=episodes, stream_episodes=stream_episodes, successes=successes, key=key)
        return state, batch, streams

    # -------------------------------------------------------------- advantages
    def _advantages(self, state: PPOState, hp: PPOHParams, batch: Transition, streams,
                    next_values: jax.Array | None = None):
        """GAE per value head; returns (combined advantages [T, N], targets [T, N, V]).
        `next_values`: `_batch_next_values` of the batch, when already computed."""
        values = batch.extras["values"]
        episodic = {k: r for k, r in streams.items() if k not in {s.name for s in self.nonepisodic}}
        coefs = self.step_coefs(hp, batch.extras.get("coefs"))
        if next_values is None:  # V of the true next observation: bootstraps through truncation (episodic heads)
            next_values = self._batch_next_values(state, batch)
        if self.episodic_heads:  # a head per stream, each in units of its return scale
            heads = len(self.episodic_heads)
            unit, gain = stream_units(state.stream_scales.scale)
            advantages, targets = decoupled_advantages(
                [streams[k] for k in self.episodic_heads], [coefs[k] for k in self.episodic_heads],
                values[..., :heads], next_values[..., :heads], batch.terminated, batch.truncated, hp.gamma,
                hp.gae_lambda, unit[:heads], gain[:heads])
            all_targets = [targets[..., k] for k in range(heads)]
        else:
            advantages, targets = gae(
                weighted_sum(episodic, coefs), values[..., 0], next_values[..., 0],
                batch.terminated, batch.truncated, hp.gamma, hp.gae_lambda,
            )
            all_targets = [targets]
        if self.nonepisodic:
            # non-episodic heads follow the stream of experience across resets
            last_input = self.policy_input(state.obs, self._features(state.reward_state), coefs=state.coefs)
            _, _, last_values = self.step_policy(state.params, state.obs_stats, state.memory, last_input)
            following = jnp.concatenate([values[1:], last_values[None]], axis=0)
            never = jnp.zeros_like(batch.terminated)
            for j, stream in enumerate(self.nonepisodic, start=len(all_targets)):
                u_j = unit[j] if self.episodic_heads else 1.0  # decoupled: the head predicts in units of u_j
                adv_j, target_j = gae(streams[stream.name], u_j * values[..., j], u_j * following[..., j], never,
                                      never, hp.reward_gammas[stream.name], hp.gae_lambda)
                if self.episodic_heads:
                    adv_j, target_j = scaled_stream(adv_j, target_j, u_j, gain[j])
                advantages = advantages + coefs[stream.name] * adv_j
                all_targets.append(target_j)
        return advantages, jnp.stack(all_targets, axis=-1)

    def _scale_streams(self, state: PPOState, hp: PPOHParams, batch: Transition, streams) -> PPOState:
        """Merge the rollout's discounted returns into each stream's running return scale
        (`decouple_streams`; the batch's own returns count, so the first update has a scale)."""
        if state.stream_scales is None:
            return state
        gammas = jnp.stack([jnp.asarray(hp.gamma)] * len(self.episodic_heads)
                           + [hp.reward_gammas[s.name] for s in self.nonepisodic])
        episodic = jnp.array([True] * len(self.episodic_heads) + [False] * len(self.nonepisodic))
        resets = jnp.logical_and(batch.done[..., None], episodic)
        rewards = jnp.stack([streams[k] for k in self.scaled_streams], axis=-1)
        return state.replace(stream_scales=state.stream_scales.update(rewards, resets, gammas))

    def _batch_next_values(self, state: PPOState, batch: Transition) -> jax.Array:
        """V(s′) [T, N, V] of the batch's true next observations, seen with the features and
        conditioned coefficients of the episode that step belongs to."""
        step_coefs = batch.extras.get("coefs")  # [T, N, K] of a conditioned run: the ending episode's at its end
        next_input = self.policy_input(batch.next_obs, batch.extras.get("next_features"), batch_dims=2,
                                       coefs=step_coefs)
        return self._next_values(state, batch, next_input)

    def _next_values(self, state: PPOState, batch: Transition, next_input: jax.Array) -> jax.Array:
        """V(s′) [T, N, V] of the true next observations; a recurrent policy takes one more
        step from the memory each step left (the ending episode's, at a truncation)."""
        if not self.recurrent:
            return self.policy_value(state.params, state.obs_stats, next_input)[1]
        one_step = lambda memory, x: self.step_policy(state.params, state.obs_stats, memory, x)[2]  # noqa: E731
        return jax.vmap(one_step)(batch.extras["memory"], next_input)

    # ------------------------------------------------------------------- learn
    def _minibatch_outputs(self, params, obs_stats, minibatch: dict[str, jax.Array]):
        """(policy, values, minibatch) with every array flat over its samples; a recurrent
        policy replays each env's [T] steps from the memory the rollout began with."""
        if not self.recurrent:
            return (*self.policy_value(params, obs_stats, minibatch["policy_input"]), minibatch)
        _, policy, values = self.sequence(params, obs_stats, minibatch["memory"], minibatch["policy_input"],
                                          minibatch["resets"])
        flat = lambda x: x.reshape((-1,) + x.shape[2:])  # noqa: E731  [T, n, ...] -> [T * n, ...]
        samples = {k: flat(v) for k, v in minibatch.items() if k not in ("memory", "resets")}
        return jax.tree.map(flat, policy), flat(values), samples

    def _loss(self, params, obs_stats, hp: PPOHParams, minibatch: dict[str, jax.Array]):
        policy, values, minibatch = self._minibatch_outputs(params, obs_stats, minibatch)
        log_prob = self.head.log_prob(policy, minibatch["raw_action"])
        log_ratio = log_prob - minibatch["log_prob"]
        ratio = jnp.exp(log_ratio)
        advantages = normalized(minibatch["advantages"])
        clipped_ratio = jnp.clip(ratio, 1.0 - hp.clip_eps, 1.0 + hp.clip_eps)
        actor_loss = -jnp.minimum(ratio * advantages, clipped_ratio * advantages).mean()

        old_values, targets = minibatch["values"], minibatch["targets"]
        squared_error = (values - targets) ** 2
        if self.config.clip_value:  # the value may move at most clip_eps from the rollout's before it is free
            clipped_values = old_values + jnp.clip(values - old_values, -hp.clip_eps, hp.clip_eps)
            squared_error = jnp.maximum(squared_error, (clipped_values - targets) ** 2)
        value_loss = 0.5 * squared_error.mean(0).sum()
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

    def _minibatch_step(self, hp: PPOHParams, obs_stats: RunningMeanStd, unravel):
        """`((flat_params, opt_state), minibatch) -> ((flat_params, opt_state), info)`: one
        clipped Adam step on the loss of one minibatch. The parameters travel through the
        minibatch steps raveled into one vector (`jax.flatten_util.ravel_pytree`; `unravel`
        turns it back into the network's tree inside the loss), so clipping, Adam and the
        update are a few kernels over one vector rather than per leaf: the arithmetic of
        `optax.flatten`, without its concatenation and split of the parameters every step."""
        optimizer = self.optimizer(hp)
        grad_fn = jax.value_and_grad(lambda flat, minibatch: self._loss(unravel(flat), obs_stats, hp, minibatch),
                                     has_aux=True)

        def minibatch_step(train, minibatch):
            flat, opt_state = train
            (_, info), grads = grad_fn(flat, minibatch)
            updates, opt_state = optimizer.update(grads, opt_state, flat)
            return (flat + updates, opt_state), info

        return minibatch_step

    def _learn(self, state: PPOState, hp: PPOHParams, batch: Transition, advantages, targets, memory,
               jacobians: dict[str, jax.Array] | None = None):
        """Epochs of minibatch SGD on the batch; `memory` is the recurrent policy's memory
        when the rollout began (None for a feed-forward one). With `jacobians` (meta_reward:
        ∂advantages/∂φ, ∂targets/∂φ) the last `meta_unroll` minibatch steps are kept as the
        next update's `metagrad.Replay`; returns (state, metrics, replay or None)."""
        cfg = self.config
        # only what the loss reads is shuffled into minibatches
        needed = {name: batch.extras[name] for name in ("policy_input", "raw_action", "log_prob", "values")}
        needed.update(advantages=advantages, targets=targets, **(jacobians or {}))
        flat_params, unravel = ravel_pytree(state.params)
        minibatch_step = self._minibatch_step(hp, state.obs_stats, unravel)

        if self.recurrent:  # minibatches of whole env sequences: [M, T, N / M, ...]
            begins = jnp.concatenate([jnp.zeros_like(batch.done[:1]), batch.done[:-1]])  # step t+1 begins an episode
            sequences = {**needed, "resets": begins}
            envs_per_minibatch = cfg.num_envs // cfg.num_minibatches

            shuffled = cfg.num_envs

            def minibatches(order):
                split = lambda x: x.reshape((cfg.num_minibatches, envs_per_minibatch) + x.shape[1:])  # noqa: E731
                minibatches = jax.tree.map(lambda x: jnp.swapaxes(split(jnp.swapaxes(x[:, order], 0, 1)), 1, 2),
                                           sequences)
                return {**minibatches, "memory": split(memory[order])}
        else:
            flat = jax.tree.map(lambda x: x.reshape((cfg.batch_size,) + x.shape[2:]), needed)

            shuffled = cfg.batch_size

            def minibatches(order):
                return jax.tree.map(lambda x: x[order].reshape((cfg.num_minibatches, cfg.minibatch_size) + x.shape[1:]),
                                    flat)

        def epoch(train, order):
            return jax.lax.scan(minibatch_step, train, minibatches(order))

        # every epoch's shuffle drawn at once, before the epochs (the same permutations as one
        # per epoch inside the scan, in one pass of the random-bit loop rather than one per epoch);
        # shuffle.permutation: a uniform shuffle in single-operand sorts (faster on CPU)
        key, epoch_key = jax.random.split(state.key)
        orders = jax.vmap(lambda k: shuffle.permutation(k, shuffled))(jax.random.split(epoch_key, cfg.num_epochs))
        if jacobians is None:
            (flat_params, opt_state), info = jax.lax.scan(epoch, (flat_params, state.opt_state), orders)
            state = state.replace(params=unravel(flat_params), opt_state=opt_state, key=key)
            return state, jax.tree.map(jnp.mean, info), None
        # the same steps, with the last epoch's final K minibatches run (and kept) apart
        train, info = jax.lax.scan(epoch, (flat_params, state.opt_state), orders[:-1])
        last_epoch = minibatches(orders[-1])
        head = cfg.num_minibatches - cfg.meta_unroll
        train, head_info = jax.lax.scan(minibatch_step, train, jax.tree.map(lambda x: x[:head], last_epoch))
        kept = jax.tree.map(lambda x: x[head:], last_epoch)
        replay = metagrad.Replay(params=unravel(train[0]), opt_state=train[1], obs_stats=state.obs_stats,
                                 minibatches=kept)
        (flat_params, opt_state), tail_info = jax.lax.scan(minibatch_step, train, kept)
        parts = [jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), info), head_info, tail_info]
        info = jax.tree.map(lambda *xs: jnp.concatenate(xs).mean(), *parts)
        return state.replace(params=unravel(flat_params), opt_state=opt_state, key=key), info, replay

    # ------------------------------------------------------------- meta reward
    def task_advantages(self, state: PPOState, hp: PPOHParams, batch: Transition,
                        next_values: jax.Array | None = None):
        """GAE of the env's own reward with the task value head (the last one): the meta
        objective's Â_task, and that head's value targets."""
        if next_values is None:
            next_values = self._batch_next_values(state, batch)
        return gae(batch.reward, batch.extras["values"][..., -1], next_values[..., -1], batch.terminated,
                   batch.truncated, hp.gamma, hp.gae_lambda)

    def task_objective(self, params, obs_stats: RunningMeanStd, batch: Transition, task_advantages: jax.Array):
        """J(θ): the policy-gradient surrogate of the env reward on `batch` (collected by
        the policy whose log-probabilities it holds)."""
        policy, _ = self.policy_value(params, obs_stats, batch.extras["policy_input"])
        log_prob = self.head.log_prob(policy, batch.extras["raw_action"])
        return metagrad.task_surrogate(log_prob, batch.extras["log_prob"], task_advantages)

    def _meta_gradient(self, state: PPOState, hp: PPOHParams, batch: Transition, task_advantages: jax.Array):
        """dJ/dφ of the task objective on this (fresh) batch through the previous update
        (`algos/meta_reward.py`: unrolled or implicit)."""
        meta, replay = state.meta, state.meta.replay
        objective = lambda params: self.task_objective(params, state.obs_stats, batch, task_advantages)  # noqa: E731

        if self.config.meta_gradient == "unrolled":
            flat_params, unravel = ravel_pytree(replay.params)
            step = self._minibatch_step(hp, replay.obs_stats, unravel)

            def through_update(coefs):
                minibatches = metagrad.replayed(replay.minibatches, coefs)
                (flat, _), _ = jax.lax.scan(step, (flat_params, replay.opt_state), minibatches)
                return objective(unravel(flat))

            return jax.grad(through_update)(meta.coefs)

        def inner_grad(params, coefs):  # ∇_θ of the PPO loss on the previous update's last minibatches
            minibatches = metagrad.replayed(replay.minibatches, coefs)
            loss = lambda p: jax.vmap(lambda mb: self._loss(p, replay.obs_stats, hp, mb)[0])(minibatches).mean()  # noqa: E731
            return jax.grad(loss)(params)

        return metagrad.implicit_gradient(inner_grad, state.params, meta.coefs, jax.grad(objective)(state.params),
                                             hp.meta_neumann_alpha, self.config.meta_unroll)

    def meta_objective_gradient(self, state: PPOState, hp: PPOHParams, batch: Transition) -> dict[str, jax.Array]:
        """The meta-gradient dJ/dφ for a batch collected at `state` (exposed for tests)."""
        return self._meta_gradient(state, hp, batch, self.task_advantages(state, hp, batch)[0])

    def _meta_update(self, state: PPOState, hp: PPOHParams, batch: Transition, streams):
        """Step φ by the meta-gradient, then this update's advantages and targets at the new
        φ with their Jacobian in φ (kept for the next meta step). The task head's targets
        come last and do not depend on φ."""
        next_values = self._batch_next_values(state, batch)  # the networks do not change before `_learn`
        task_advantages, task_targets = self.task_advantages(state, hp, batch, next_values)
        gradient = self._meta_gradient(state, hp, batch, task_advantages)
        gradient = jax.tree.map(lambda g: jnp.where(state.meta.ready, g, 0.0), gradient)  # no replay yet: no step
        meta = metagrad.step(state.meta, gradient, hp.meta_lr)
        state = state.replace(meta=meta)
        hp = hp.replace(reward_coefs={**hp.reward_coefs, **meta.coefs})
        (advantages, targets), (advantages_jac, targets_jac) = metagrad.coefficient_jacobian(
            lambda coefs: self._advantages(state, hp.replace(reward_coefs=coefs), batch, streams, next_values),
            meta.coefs)
        targets = jnp.concatenate([targets, task_targets[..., None]], axis=-1)
        targets_jac = jnp.concatenate([targets_jac, jnp.zeros_like(targets_jac[..., :1, :])], axis=-2)
        metrics = {"meta/grad_norm": optax.tree.norm(gradient), **{f"meta/{k}": v for k, v in meta.coefs.items()}}
        jacobians = {"advantages_jac": advantages_jac, "targets_jac": targets_jac}
        return state, hp, advantages, targets, jacobians, metrics

    def _initial_meta(self, hp: PPOHParams, params, opt_state, obs_stats, policy_input) -> metagrad.MetaState:
        """φ at the run's coefficients, and an empty replay of the shapes `_learn` keeps."""
        cfg = self.config
        coefs = dict(hp.reward_coefs)
        k, b, v, c = cfg.meta_unroll, cfg.minibatch_size, self.network.num_values, len(coefs)
        zeros = lambda *shape: jnp.zeros((k, b) + shape, jnp.float32)  # noqa: E731
        minibatches = {"policy_input": zeros(policy_input.shape[-1]), "raw_action": self.example_action((k, b)),
                       "log_prob": zeros(), "values": zeros(v), "advantages": zeros(), "targets": zeros(v),
                       "advantages_jac": zeros(c), "targets_jac": zeros(v, c)}
        replay = metagrad.Replay(params=params, opt_state=opt_state, obs_stats=obs_stats, minibatches=minibatches)
        return metagrad.MetaState(coefs=coefs, opt_state=metagrad.optimizer(hp.meta_lr).init(coefs),
                                     replay=replay, ready=jnp.zeros((), bool))

    # ------------------------------------------------------------------ update
    def update(self, state: PPOState, hp: PPOHParams):
        """One PPO update: rollout, reward-transform update, GAE, epochs of SGD."""
        memory = state.memory
        state, batch, streams = self._rollout(state, hp)
        state = self._scale_streams(state, hp, batch, streams)
        jacobians, meta_metrics = None, {}
        if self.config.meta_reward:
            state, hp, advantages, targets, jacobians, meta_metrics = self._meta_update(state, hp, batch, streams)
        else:
            advantages, targets = self._advantages(state, hp, batch, streams)

        key, transform_key = jax.random.split(state.key)
        reward_state, transform_metrics = self.transform.update(state.reward_state, batch, transform_key, hp.reward)
        state = state.replace(reward_state=reward_state, key=key)

        state, learn_metrics, replay = self._learn(state, hp, batch, advantages, targets, memory, jacobians)
        if replay is not None:
            state = state.replace(meta=state.meta.replace(replay=replay, ready=jnp.ones((), bool)))
        if self.config.normalize_obs:
            state = state.replace(obs_stats=state.obs_stats.update(batch.extras["policy_input"]))
        state = state.replace(update_step=state.update_step + 1)

        metrics = {
            "step": state.update_step * self.config.batch_size,
            **state.episodes.summary(),
            **learn_metrics,
            **{f"reward/{name}": r.mean() for name, r in streams.items()},
            **{f"episode_reward/{name}": e.summary()["episode_return"] for name, e in state.stream_episodes.items()},
            **{f"transform/{name}": v for name, v in transform_metrics.items()},
            **meta_metrics,
        }
        if state.stream_scales is not None:  # decoupled: σ_k, the return scale one coefficient unit weighs
            metrics.update({f"return_scale/{k}": v for k, v in zip(self.scaled_streams, state.stream_scales.scale)})
        if state.successes is not None:
            metrics["episode_success"] = state.successes.summary()["episode_return"]
        return state, metrics

    def update_phases(self, state: PPOState, hp: PPOHParams) -> dict[str, tuple[Any, tuple]]:
        """The phases of `update` as functions to compile and time apart (profiling:
        experiments/profile_ppo.py): name -> (fn, args), args from one real rollout of
        `state`. The minibatch phases run every step of an update (epochs x minibatches) on
        the batch in order; the shuffle phase makes an update's permutations. Feed-forward
        policies only."""
        if self.recurrent:
            raise ConfigError("update_phases profiles a feed-forward policy")
        cfg = self.config
        after, batch, streams = jax.jit(lambda s: self._rollout(s, hp))(state)
        advantages, targets = jax.jit(lambda s, b, r: self._advantages(s, hp, b, r))(after, batch, streams)
        needed = {k: batch.extras[k] for k in ("policy_input", "raw_action", "log_prob", "values")}
        flat = jax.tree.map(lambda x: x.reshape((cfg.batch_size,) + x.shape[2:]),
                            {**needed, "advantages": advantages, "targets": targets})
        steps = cfg.num_epochs * cfg.num_minibatches
        minibatches = jax.tree.map(
            lambda x: jnp.tile(x, (cfg.num_epochs,) + (1,) * (x.ndim - 1)).reshape(
                (steps, cfg.minibatch_size) + x.shape[1:]), flat)
        # both minibatch phases on the raveled parameters, as `_learn` runs them
        flat_params, unravel = ravel_pytree(after.params)
        grad = jax.grad(lambda flat, mb: self._loss(unravel(flat), after.obs_stats, hp, mb)[0])
        step = self._minibatch_step(hp, after.obs_stats, unravel)

        def gradients(flat, mbs):
            return jax.lax.scan(lambda total, mb: (total + grad(flat, mb), None), jnp.zeros_like(flat), mbs)[0]

        def adam_steps(flat, opt_state, mbs):  # the parameters after every step, as the network's tree
            flat, opt_state = jax.lax.scan(step, (flat, opt_state), mbs)[0]
            return unravel(flat), opt_state

        def permutations(keys):
            return jax.vmap(lambda k: shuffle.permutation(k, cfg.batch_size))(keys)

        return {
            "update (whole)": (lambda s: self.update(s, hp)[0], (state,)),
            "rollout": (lambda s: self._rollout(s, hp)[1], (state,)),
            "V(s') of the batch": (self._batch_next_values, (after, batch)),
            "GAE (V(s') included)": (lambda s, b, r: self._advantages(s, hp, b, r), (after, batch, streams)),
            "shuffles: permutations": (permutations, (jax.random.split(after.key, cfg.num_epochs),)),
            "minibatch steps: forward + backward": (gradients, (flat_params, minibatches)),
            "minibatch steps: + clip + Adam": (adam_steps, (flat_params, after.opt_state, minibatches)),
        }

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
    env, env_params = resolve(config.env, env, env_params, config.env_options)
    validate(config, env, env_params)
    transform = transform or identity()
    conditioning.check(config.condition, [s.name for s in transform.all_streams])
    head = action_head(config, env, env_params)
    shape = dict(
        action_size=head.output_size,
        continuous=isinstance(head, Gaussian),
        hidden_sizes=tuple(config.hidden_sizes),
        activation=config.activation,
        num_values=(sum(s.episodic for s in transform.all_streams) if config.decouple_streams else 1)
        + sum(not s.episodic for s in transform.all_streams)
        + int(config.meta_reward),  # the task head of the meta objective, last
        dtype=MATMUL_DTYPES[config.matmul_dtype],
    )
    network = (RecurrentActorCritic(gru_size=config.gru_size, **shape) if config.gru_size
               else ActorCritic(shared=config.shared_network, **shape))
    return PPO(config, env, env_params, transform, head, network)
