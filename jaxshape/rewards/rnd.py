"""Random Network Distillation (Burda et al. 2018, "Exploration by Random Network
Distillation", arXiv:1810.12894).

    b(s′) = ‖f̂(ĝ(s′)) − f(ĝ(s′))‖²,   ĝ(s) = clip((g(s) − μ) / σ, −5, 5)

f is a randomly initialised network that is never trained (the target), f̂ a predictor
trained to regress f on the rollout's next observations; g flattens the observation and
(μ, σ) are running observation statistics shared across envs. Following the reference
implementation (openai/random-network-distillation, `ppo_agent.py`):

- the intrinsic stream `"rnd"` is non-episodic (never cut at episode ends) and gets its own
  value head in PPO, with γ_int = 0.99;
- the reward paid is b_t / σ_R, σ_R = √(Var R + ε) the running standard deviation of the
  discounted intrinsic return R_t = γ_int·R_{t−1} + b_t (per env, never reset; no mean
  subtraction; statistics shared across envs and kept over the whole run). The statistics
  take in the current returns *before* dividing: at every step the [num_envs] returns R_t
  are merged first, so b_t is divided by the σ_R of every return up to and including
  step t. (The reference merges a whole rollout's returns, then divides that rollout; a
  reward transform pays each step as it happens, so step t cannot see the rollout's later
  returns. Merges are exact: a rollout's last step is divided by the σ_R the reference
  divides that whole rollout by, given the same earlier statistics.)
- warm-up: the first `warmup` rollouts pay nothing. Their next observations initialise
  the observation statistics (μ, σ) (the reference's `collect_random_statistics`, which
  takes 50 × 128 uniformly random steps per env before training: here the rollouts of
  the initial policy, near-uniform, stand in for them, the default is one rollout, and
  the learner still trains on their extrinsic reward); then, with those statistics and
  the untrained f̂, their bonuses are run through the return filter R and merged into the
  return statistics, so the first paid step is divided by the spread of a whole rollout
  of returns rather than of a single step's (the reference has no return warm-up: it
  divides its first rollout by that rollout's own spread). f̂ is not trained during
  warm-up;
- the bonus paid is the one computed during the rollout (recomputing it after the
  predictor update would shrink it);
- in `update` (after warm-up), the observation statistics first absorb the batch, then f̂
  is trained for `epochs` × `minibatches` Adam steps, each sample kept with probability
  `update_proportion` (the predictor sees a fraction of the batch).

`RNDCore` holds the pieces (networks, normalised error, loss, training), reused by NovelD.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxshape import shuffle
from jaxshape.initializers import orthogonal
from jaxshape.rewards.base import NOT_INVARIANT, RewardTransform, Stream
from jaxshape.rewards.counts import flatten_obs
from jaxshape.stats import RunningMeanStd
from jaxshape.types import Transition

OBS_CLIP = 5.0


class MLP(nn.Module):
    """A ReLU MLP with orthogonal initialisation (gain √2 hidden, 1 output)."""

    hidden_sizes: Sequence[int]
    output_size: int

    @nn.compact
    def __call__(self, x):
        for width in self.hidden_sizes:
            x = nn.relu(nn.Dense(width, kernel_init=orthogonal(np.sqrt(2.0)))(x))
        return nn.Dense(self.output_size, kernel_init=orthogonal(1.0))(x)


def adam_init(params: Any) -> Any:
    """Adam's state; its structure does not depend on the learning rate, which `update`
    reads as a traced hparam (`optax.adam(hparams["lr"])`)."""
    return optax.adam(1.0).init(params)


def minibatch_indices(key: jax.Array, size: int, epochs: int, minibatches: int, used: int | None = None) -> jax.Array:
    """Shuffled sample indices, [epochs * minibatches, used // minibatches]: each epoch a
    fresh random subset of `used` of the `size` samples (default all) in minibatches."""
    used = size if used is None else used
    if used % minibatches:
        raise ValueError(f"minibatches={minibatches} does not divide the {used} samples used; pick a divisor")
    orders = jax.vmap(lambda k: shuffle.permutation(k, size)[:used])(jax.random.split(key, epochs))
    return orders.reshape(epochs * minibatches, used // minibatches)


@struct.dataclass
class RNDNets:
    target: Any  # f: fixed at init, never trained
    predictor: Any  # f̂
    opt_state: Any
    obs_rms: RunningMeanStd


@dataclasses.dataclass(frozen=True)
class RNDCore:
    """Static RND pieces: networks, the prediction error N(s), and predictor training."""

    hidden_sizes: tuple[int, ...] = (64, 64)
    output_size: int = 64
    epochs: int = 4
    minibatches: int = 4
    update_proportion: float = 0.25  # of the batch the predictor trains on in each epoch

    def samples_used(self, size: int) -> int:
        """round(update_proportion · size), a multiple of `minibatches` (at least one each)."""
        if size < self.minibatches:
            raise ValueError(f"a batch of {size} samples cannot fill {self.minibatches} predictor minibatches; "
                             "lower minibatches or collect more steps per update")
        used = int(round(self.update_proportion * size)) // self.minibatches * self.minibatches
        return min(size // self.minibatches * self.minibatches, max(self.minibatches, used))

    @property
    def target_net(self) -> MLP:
        return MLP(self.hidden_sizes, self.output_size)

    @property
    def predictor_net(self) -> MLP:
        return MLP(self.hidden_sizes, self.output_size)

    def init(self, key: jax.Array, example_obs: jax.Array) -> RNDNets:
        x = flatten_obs(example_obs)[:1]
        t_key, p_key = jax.random.split(key)
        target = self.target_net.init(t_key, x)
        predictor = self.predictor_net.init(p_key, x)
        return RNDNets(target, predictor, adam_init(predictor), RunningMeanStd.create(x.shape[1:]))

    def normalize(self, obs_rms: RunningMeanStd, obs: jax.Array, batch_dims: int = 1) -> jax.Array:
        return obs_rms.normalize(flatten_obs(obs, batch_dims), clip=OBS_CLIP)

    def _sq_error(self, predictor, target, x):
        f = jax.lax.stop_gradient(self.target_net.apply(target, x))  # no gradient ever reaches f
        return jnp.sum((self.predictor_net.apply(predictor, x) - f) ** 2, axis=-1)

    def error(self, nets: RNDNets, obs: jax.Array, batch_dims: int = 1) -> jax.Array:
        """N(s) = ‖f̂(ĝ(s)) − f(ĝ(s))‖², one per observation."""
        return self._sq_error(nets.predictor, nets.target, self.normalize(nets.obs_rms, obs, batch_dims))

    def loss(self, predictor, target, obs_rms: RunningMeanStd, obs: jax.Array) -> jax.Array:
        """Mean of N over a flat batch `obs` [B, ...]; differentiable in `predictor` only."""
        return jnp.mean(self._sq_error(predictor, target, self.normalize(obs_rms, obs)))

    def train(self, nets: RNDNets, obs: jax.Array, key: jax.Array, lr: Any):
        """Absorb `obs` [B, ...] into the obs statistics, then fit f̂ to f on it: each epoch
        on a fresh random `update_proportion` of the samples. (The reference computes every
        sample and masks all but that proportion out: the same expected gradient for
        1/update_proportion times the compute.)"""
        flat = flatten_obs(obs)
        nets = nets.replace(obs_rms=nets.obs_rms.update(flat))
        idx = minibatch_indices(key, flat.shape[0], self.epochs, self.minibatches, self.samples_used(flat.shape[0]))
        optimizer = optax.adam(lr)
        grad_fn = jax.value_and_grad(self.loss)

        def step(carry, batch_idx):
            predictor, opt_state = carry
            loss, grads = grad_fn(predictor, nets.target, nets.obs_rms, flat[batch_idx])
            updates, opt_state = optimizer.update(grads, opt_state, predictor)
            return (optax.apply_updates(predictor, updates), opt_state), loss

        (predictor, opt_state), losses = jax.lax.scan(step, (nets.predictor, nets.opt_state), idx)
        return nets.replace(predictor=predictor, opt_state=opt_state), {"predictor_loss": losses.mean()}


@struct.dataclass
class RNDState:
    nets: RNDNets
    ret: jax.Array  # [num_envs] discounted intrinsic return R, never reset
    ret_rms: RunningMeanStd  # statistics of R, shared across envs; σ_R = √(var + ε)
    updates: jax.Array  # int32: rollouts seen by `update` (the first `warmup` are warm-up)


RET_EPS = 1e-8


def return_filter(ret: jax.Array, bonuses: jax.Array, gamma: Any) -> tuple[jax.Array, jax.Array]:
    """R_t = γ·R_{t−1} + b_t over the leading (time) axis of `bonuses` [T, N], never reset;
    returns (R_T, every R_t [T, N])."""

    def step(r, b):
        r = gamma * r + b
        return r, r

    return jax.lax.scan(step, ret, bonuses)


def rnd(
    *,
    lr: float = 1e-3,
    update_proportion: float = 0.25,
    gamma: float = 0.99,
    warmup: int = 1,
    coef: float = 1.0,
    hidden_sizes: Sequence[int] = (64, 64),
    output_size: int = 64,
    epochs: int = 4,
    minibatches: int = 4,
    stream: str = "rnd",
    name: str = "rnd",
) -> RewardTransform:
    """RND bonus b_t/σ_R as a non-episodic stream `stream` with its own γ (Burda et al. 2018).

    σ_R = √(Var R + ε), R_t = γ·R_{t−1} + b_t, with the statistics updated by the step's
    returns before dividing (module docstring). `update_proportion` (static) is the share
    of each batch the predictor trains on per epoch. Traced hparams: `lr` (predictor Adam),
    `gamma` (of the return whose std divides the bonus; keep it equal
    to the stream's value-head γ, `reward_gammas`), `warmup` (the number of initial
    rollouts that pay nothing and only initialise the observation and return statistics;
    0 pays from the first step). `coef` is the stream's default weight in the learner
    (`reward_coefs`).

    The default `lr` is 1e-3, ten times the reference's Adam rate of 1e-4 (set there for
    its convolutional networks on Atari): with these MLPs on DeepSea-20's one-hot
    observations, 1e-4 left the bonus too flat to guide PPO (experiments/RESULTS.md,
    experiment 2).
    """
    core = RNDCore(tuple(hidden_sizes), output_size, epochs, minibatches, update_proportion)

    def init(key, example: Transition):
        n = example.reward.shape[0]
        return RNDState(
            nets=core.init(key, example.next_obs),
            ret=jnp.zeros((n,), jnp.float32),
            ret_rms=RunningMeanStd.create(()),
            updates=jnp.zeros((), jnp.int32),
        )

    def warming(state: RNDState, hparams) -> jax.Array:
        return state.updates.astype(jnp.float32) < jnp.asarray(hparams["warmup"], jnp.float32)

    def apply_fn(state: RNDState, transition: Transition, rewards, hparams):
        bonus = core.error(state.nets, transition.next_obs)
        ret = hparams["gamma"] * state.ret + bonus  # non-episodic: no reset at done
        ret_rms = state.ret_rms.update(ret)  # this step's returns first, then divide
        paid = bonus / jnp.sqrt(ret_rms.var + RET_EPS)
        warm = warming(state, hparams)
        keep = lambda old, new: jnp.where(warm, old, new)  # noqa: E731
        state = state.replace(ret=keep(state.ret, ret), ret_rms=jax.tree.map(keep, state.ret_rms, ret_rms))
        return {**rewards, stream: jnp.where(warm, jnp.zeros_like(paid), paid)}, state

    def update(state: RNDState, batch: Transition, key, hparams):
        obs = batch.next_obs.reshape((-1,) + batch.next_obs.shape[2:])

        def warm_up(state):  # the batch only sets the observation and return statistics
            nets = state.nets.replace(obs_rms=state.nets.obs_rms.update(flatten_obs(obs)))
            bonuses = core.error(nets, batch.next_obs, batch_dims=2)  # [T, N]
            ret, rets = return_filter(state.ret, bonuses, hparams["gamma"])
            return state.replace(nets=nets, ret=ret, ret_rms=state.ret_rms.update(rets)), jnp.float32(0.0)

        def train(state):
            nets, metrics = core.train(state.nets, obs, key, hparams["lr"])
            return state.replace(nets=nets), metrics["predictor_loss"]

        warm = warming(state, hparams)
        state, loss = jax.lax.cond(warm, warm_up, train, state)  # a real branch: one of the two runs
        state = state.replace(updates=state.updates + 1)
        ret_std = jnp.sqrt(state.ret_rms.var + RET_EPS)
        return state, {"predictor_loss": loss, "ret_std": ret_std, "warmup": warm.astype(jnp.float32)}

    return RewardTransform(
        init=init,
        apply_fn=apply_fn,
        update=update,
        streams=(Stream(stream, coef=coef, episodic=False, gamma=gamma),),
        default_hparams={"lr": lr, "gamma": gamma, "warmup": float(warmup)},
        invariance=NOT_INVARIANT,
        name=name,
    )
