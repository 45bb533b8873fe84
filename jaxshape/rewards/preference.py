"""A reward learned from pairwise preferences between trajectory segments, on the device,
inside the compiled run (Christiano et al. 2017, "Deep reinforcement learning from human
preferences", arXiv:1706.03741; PEBBLE, Lee, Smith & Abbeel 2021, arXiv:2106.05091;
the synthetic teachers of B-Pref, Lee et al. 2021, arXiv:2111.03026).

A segment σ = ((s_1, a_1), ..., (s_L, a_L)) is L consecutive steps of one env in the
rollout [T, N]. The reward model r_ψ(s, a) (an ensemble of K MLPs) scores it by
R̂_ψ(σ) = Σ_t m_t·r_ψ(s_t, a_t), and the Bradley–Terry model gives

    P_ψ(σ⁰ ≻ σ¹) = exp R̂_ψ(σ⁰) / (exp R̂_ψ(σ⁰) + exp R̂_ψ(σ¹)) = sigmoid(R̂_ψ(σ⁰) − R̂_ψ(σ¹)).

With a label y ∈ {0, ½, 1} (y = 1: σ⁰ preferred; ½: equally preferred) the loss is the
cross-entropy

    ℓ(ψ) = −y·log P_ψ(σ⁰ ≻ σ¹) − (1 − y)·log P_ψ(σ¹ ≻ σ⁰),   ∂ℓ/∂R̂(σ⁰) = P_ψ(σ⁰ ≻ σ¹) − y = −∂ℓ/∂R̂(σ¹),

averaged over pairs drawn from every label given so far (PEBBLE trains on all of them);
each ensemble member draws its own minibatches and starts from its own initialisation.

Segments and episode ends: a segment starts at a uniformly drawn env n and step
t₀ ∈ [0, T − L] (so the rollout needs T ≥ L) and never mixes two episodes: the mask
m_t = 1 up to and including the first step that ended an episode (terminated or
truncated) and 0 after it, in both the model's R̂ and the oracle's score. A segment in
which the episode ends early is therefore a shorter segment (in CartPole, where every step
pays +1, this is what tells a falling pole from a balanced one).

The teacher (B-Pref's synthetic labeller) is a pure function the user gives:
`oracle(segment) -> score`, `segment` a dict of one segment's `obs`, `action`, `reward`
(the env's reward, [L]), `next_obs` and `mask`; `true_return` = Σ_t m_t·r_t. The label is
1[score⁰ > score¹], ½ where |score⁰ − score¹| ≤ `equal_threshold`, and flipped (y → 1 − y)
with probability `mistake` (B-Pref's "mistake" teacher; ½ stays ½).

Queries: each `update` labels `queries` pairs (a static count) sampled from its rollout,
until `budget` labels (a traced hparam) have been given over the run; they go into a ring
buffer of `buffer_size` labelled pairs in the state. With `selection="disagreement"`,
`candidates`·`queries` pairs are sampled and the `queries` with the largest standard
deviation of P_ψ(σ⁰ ≻ σ¹) over the ensemble are labelled (PEBBLE's disagreement sampling);
`"uniform"` labels uniformly sampled pairs.

The reward paid: the `preference` stream r̂ = mean_k r_ψk(s, a) / ς, where
ς = √(mean r̄² + 10⁻⁸) is the root mean square of the ensemble-mean reward r̄ over the
latest rollout's steps, computed after each update's training (with `normalize`). It is a
positive scale with no mean subtraction, so segment preferences and survival incentives
are kept; the RMS rather than the std, so a nearly constant learned reward (CartPole's
+1 per step alive) is not blown up by its tiny spread. The `extrinsic` stream is
rewritten to 0 (`replace_extrinsic`): the learner optimises r̂ only, and the env's reward
is left for evaluation (the learner still logs it as `episode_return`) and for the oracle,
which reads it from `update`'s batch. `r_ψ` ends in tanh (rewards in (−1, 1), as in
PEBBLE) unless `bounded=False` (a linear reward model with `hidden_sizes=()`).

Metrics per update: `labels` (given so far), `labels_new`, `loss` (BT loss of the last
training step), `heldout_accuracy` (after training, on `queries` fresh uniform pairs of
this rollout never trained on, labelled by the noiseless teacher, ties left out),
`heldout_pairs`, `disagreement` (mean ensemble std of P over the labelled queries),
`reward_scale` (ς).

Traced hparams: `lr`, `budget`, `mistake`, `equal_threshold`. Static: `segment_length`,
`queries`, `buffer_size`, `ensemble`, `hidden_sizes`, `epochs`, `batch_size`,
`selection`, `candidates`.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import optax

from jaxshape.errors import ConfigError
from jaxshape.rewards.base import NOT_INVARIANT, RewardTransform, Rewards, Stream
from jaxshape.rewards.counts import action_features, flatten_obs
from jaxshape.rewards.rnd import MLP, adam_init
from jaxshape.types import Transition

Segment = dict[str, jax.Array]


# ----------------------------------------------------------------------------- oracle
def true_return(segment: Segment) -> jax.Array:
    """The env's return over the segment's steps within one episode: Σ_t m_t·r_t."""
    return jnp.sum(segment["mask"] * segment["reward"])


ORACLES: dict[str, Callable[[Segment], jax.Array]] = {"true_return": true_return}


def teacher_labels(score_a: jax.Array, score_b: jax.Array, key: jax.Array, mistake: Any = 0.0,
                   equal_threshold: Any = 0.0) -> jax.Array:
    """B-Pref labels y = P(σ⁰ ≻ σ¹): 1[score_a > score_b], ½ where |score_a − score_b| ≤
    `equal_threshold` (ties always), then flipped to 1 − y with probability `mistake`."""
    y = jnp.where(score_a > score_b, 1.0, 0.0)
    y = jnp.where(jnp.abs(score_a - score_b) <= equal_threshold, 0.5, y)
    flip = jax.random.uniform(key, y.shape) < mistake
    return jnp.where(flip, 1.0 - y, y).astype(jnp.float32)


# ------------------------------------------------------------------------------- loss
def bradley_terry_loss(return_a: jax.Array, return_b: jax.Array, labels: jax.Array,
                       weights: jax.Array | None = None) -> jax.Array:
    """Mean (weighted by `weights`) of −y·log σ(R̂a − R̂b) − (1 − y)·log σ(R̂b − R̂a)."""
    losses = optax.sigmoid_binary_cross_entropy(return_a - return_b, labels)
    if weights is None:
        return losses.mean()
    return (weights * losses).sum() / jnp.maximum(weights.sum(), 1.0)


# --------------------------------------------------------------------------- segments
def segment_mask(done: jax.Array) -> jax.Array:
    """m [..., L]: 1 up to and including the first done step of the segment, 0 after it."""
    ended_before = jnp.cumsum(done.astype(jnp.int32), axis=-1) - done.astype(jnp.int32)
    return (ended_before == 0).astype(jnp.float32)


def sample_segments(key: jax.Array, batch: Transition, num: int, length: int) -> Segment:
    """`num` segments of `length` steps from a rollout [T, N]: each of one env, from a
    uniform start in [0, T − length]; fields [num, length, ...] and the `mask`."""
    steps, envs = batch.reward.shape[:2]
    if length > steps:
        raise ConfigError(f"preference segment_length={length} exceeds the rollout's {steps} steps per env; "
                          "lower segment_length or raise --num-steps")
    env_key, start_key = jax.random.split(key)
    env = jax.random.randint(env_key, (num,), 0, envs)
    start = jax.random.randint(start_key, (num,), 0, steps - length + 1)
    t = start[:, None] + jnp.arange(length)[None, :]  # [num, L]

    def take(x):
        return x[t, env[:, None]]

    segment = {"obs": take(batch.obs), "action": take(batch.action), "reward": take(batch.reward),
               "next_obs": take(batch.next_obs)}
    segment["mask"] = segment_mask(take(batch.done))
    return segment


# ------------------------------------------------------------------------------ model
def preference_reward(
    oracle: Callable[[Segment], jax.Array] | str = "true_return",
    *,
    queries: int = 64,
    budget: float = 2048.0,
    buffer_size: int = 2048,
    segment_length: int = 50,
    ensemble: int = 3,
    hidden_sizes: Sequence[int] = (64, 64),
    bounded: bool = True,
    lr: float = 3e-4,
    epochs: int = 16,
    batch_size: int = 64,
    selection: str = "uniform",
    candidates: int = 4,
    mistake: float = 0.0,
    equal_threshold: float = 0.0,
    normalize: bool = True,
    replace_extrinsic: bool = True,
    use_action: bool = True,
    num_actions: int | None = None,
    coef: float = 1.0,
    name: str = "preference",
) -> RewardTransform:
    """The `preference` stream from a reward model trained on teacher-labelled segment pairs.

    Args:
      oracle: the teacher's score of a segment (a pure function, or a name in `ORACLES`).
      queries: pairs labelled per update (static); `budget`: total labels over the run
        (traced); `buffer_size`: the ring buffer of labelled pairs (static).
      segment_length: L, steps per segment (the rollout needs at least L steps per env).
      ensemble, hidden_sizes, bounded: K reward models, their hidden layers, tanh output.
      lr, epochs, batch_size: Adam rate (traced), steps and pairs per step (static).
      selection: "uniform" or "disagreement" (of `candidates`·`queries` sampled pairs).
      mistake, equal_threshold: the teacher's flip rate and equal-preference threshold.
      normalize: divide r̂ by its root mean square over the latest rollout; replace_extrinsic: set the
        `extrinsic` stream to 0 so the learner sees r̂ only.
      use_action, num_actions: r_ψ(s, a) (discrete actions one-hot over `num_actions`)
        or r_ψ(s).
      coef, name: the stream's default weight and name.
    """
    if isinstance(oracle, str):
        if oracle not in ORACLES:
            raise ConfigError(f"unknown preference oracle {oracle!r}: choose from {', '.join(sorted(ORACLES))}")
        oracle = ORACLES[oracle]
    if selection not in ("uniform", "disagreement"):
        raise ConfigError(f"preference selection={selection!r}: choose uniform or disagreement")
    for label, value in (("queries", queries), ("buffer_size", buffer_size), ("segment_length", segment_length),
                         ("ensemble", ensemble), ("epochs", epochs), ("batch_size", batch_size),
                         ("candidates", candidates)):
        if int(value) < 1:
            raise ConfigError(f"preference {label}={value} must be a positive integer")
    if queries > buffer_size:  # one update's labels would land in the same slots and overwrite each other
        raise ConfigError(f"preference queries={queries} exceeds buffer_size={buffer_size}: one update's labels "
                          f"would overwrite each other; use buffer_size >= {queries}")
    net = MLP(tuple(hidden_sizes), 1)
    num_candidates = queries * candidates if selection == "disagreement" else queries

    def features(obs, action, batch_dims):
        x = flatten_obs(obs, batch_dims)
        if not use_action:
            return x
        discrete = jnp.issubdtype(action.dtype, jnp.integer)
        if discrete and num_actions is None:
            raise ConfigError("preference: discrete actions need num_actions=... (or use_action=False)")
        return jnp.concatenate([x, action_features(action, num_actions if discrete else None, batch_dims)], axis=-1)

    def rewards_of(params, x):
        """r_ψk(x) for every member: [K, ...]."""
        out = jax.vmap(lambda p: net.apply(p, x)[..., 0])(params)
        return jnp.tanh(out) if bounded else out

    def segment_returns(params, x, mask):
        """R̂ of each member: x [..., L, D], mask [..., L] -> [K, ...]."""
        return jnp.sum(rewards_of(params, x) * mask, axis=-1)

    def pair_features(segments: Segment) -> jax.Array:
        return features(segments["obs"], segments["action"], 2)

    def init(key, example: Transition):
        x = features(example.obs, example.action, 1)[:1]
        params = jax.vmap(lambda k: net.init(k, x))(jax.random.split(key, ensemble))
        dim = x.shape[-1]
        return {
            "params": params,
            "opt": jax.vmap(adam_init)(params),  # lr is traced: applied in update
            "x": jnp.zeros((buffer_size, 2, segment_length, dim), jnp.float32),
            "mask": jnp.zeros((buffer_size, 2, segment_length), jnp.float32),
            "label": jnp.zeros((buffer_size,), jnp.float32),
            "labels": jnp.zeros((), jnp.int32),  # labels given so far (may exceed buffer_size)
            "scale": jnp.ones((), jnp.float32),
        }

    def apply_fn(state, transition: Transition, rewards: Rewards, hparams):
        del hparams
        r = rewards_of(state["params"], features(transition.obs, transition.action, 1)).mean(0) / state["scale"]
        out = {**rewards, name: r}
        if replace_extrinsic:
            out["extrinsic"] = jnp.zeros_like(rewards["extrinsic"])
        return out, state

    def label_pairs(key, batch, num):
        """`num` pairs of segments sampled from the batch, with their oracle scores."""
        key_a, key_b = jax.random.split(key)
        seg_a, seg_b = (sample_segments(k, batch, num, segment_length) for k in (key_a, key_b))
        return seg_a, seg_b, jax.vmap(oracle)(seg_a), jax.vmap(oracle)(seg_b)

    def update(state, batch: Transition, key, hparams):
        query_key, noise_key, train_key, held_key = jax.random.split(key, 4)
        params = state["params"]

        # 1. queries: candidates, the most disputed (or all) of them, the teacher's labels
        seg_a, seg_b, score_a, score_b = label_pairs(query_key, batch, num_candidates)
        x_a, x_b = pair_features(seg_a), pair_features(seg_b)
        prob = jax.nn.sigmoid(segment_returns(params, x_a, seg_a["mask"])
                              - segment_returns(params, x_b, seg_b["mask"]))  # [K, C]
        spread = prob.std(axis=0)
        if num_candidates > queries:
            spread, chosen = jax.lax.top_k(spread, queries)
        else:
            chosen = jnp.arange(queries)
        labels = teacher_labels(score_a[chosen], score_b[chosen], noise_key, hparams["mistake"],
                                hparams["equal_threshold"])
        budget_left = jnp.maximum(jnp.asarray(hparams["budget"], jnp.float32) - state["labels"], 0.0)
        labelled = jnp.arange(queries) < budget_left  # shapes static, the count traced
        new = labelled.sum().astype(jnp.int32)
        slot = jnp.where(labelled, (state["labels"] + jnp.arange(queries)) % buffer_size, buffer_size)
        pair_x = jnp.stack([x_a[chosen], x_b[chosen]], axis=1)  # [Q, 2, L, D]
        pair_m = jnp.stack([seg_a["mask"][chosen], seg_b["mask"][chosen]], axis=1)
        buf_x = state["x"].at[slot].set(pair_x, mode="drop")  # unlabelled queries write nowhere
        buf_m = state["mask"].at[slot].set(pair_m, mode="drop")
        buf_y = state["label"].at[slot].set(labels, mode="drop")
        count = state["labels"] + new
        filled = jnp.minimum(count, buffer_size)

        # 2. train every member on minibatches of all labels so far
        def loss_fn(p, idx):
            ret = segment_returns(jax.tree.map(lambda v: v[None], p), buf_x[idx], buf_m[idx])[0]  # [B, 2]
            weight = jnp.full(idx.shape, (filled > 0).astype(jnp.float32))
            return bradley_terry_loss(ret[:, 0], ret[:, 1], buf_y[idx], weight)

        def member_step(p, opt, idx):
            loss, grads = jax.value_and_grad(loss_fn)(p, idx)
            updates, opt = optax.adam(1.0).update(grads, opt, p)
            return optax.apply_updates(p, jax.tree.map(lambda u: hparams["lr"] * u, updates)), opt, loss

        def train_step(carry, step_key):
            p, opt = carry
            idx = jax.random.randint(step_key, (ensemble, batch_size), 0, jnp.maximum(filled, 1))
            p, opt, loss = jax.vmap(member_step)(p, opt, idx)
            return (p, opt), loss.mean()

        (params, opt), losses = jax.lax.scan(train_step, (params, state["opt"]), jax.random.split(train_key, epochs))

        # 3. the reward's scale, and accuracy on fresh pairs never trained on
        step_rewards = rewards_of(params, features(batch.obs, batch.action, 2)).mean(0)
        scale = jnp.sqrt(jnp.mean(step_rewards ** 2) + 1e-8) if normalize else jnp.ones((), jnp.float32)
        h_a, h_b, hs_a, hs_b = label_pairs(held_key, batch, queries)
        pred = (segment_returns(params, pair_features(h_a), h_a["mask"]).mean(0)
                - segment_returns(params, pair_features(h_b), h_b["mask"]).mean(0))
        strict = (hs_a != hs_b).astype(jnp.float32)
        correct = ((pred > 0) == (hs_a > hs_b)).astype(jnp.float32)
        pairs = strict.sum()
        state = {**state, "params": params, "opt": opt, "x": buf_x, "mask": buf_m, "label": buf_y,
                 "labels": count, "scale": scale.astype(jnp.float32)}
        metrics = {
            "labels": count.astype(jnp.float32),
            "labels_new": new.astype(jnp.float32),
            "loss": losses[-1],
            "heldout_accuracy": (strict * correct).sum() / jnp.maximum(pairs, 1.0),
            "heldout_pairs": pairs,
            "disagreement": (labelled * spread).sum() / jnp.maximum(new, 1),
            "reward_scale": scale,
        }
        return state, metrics

    return RewardTransform(
        init=init,
        apply_fn=apply_fn,
        update=update,
        streams=(Stream(name, coef=coef),),
        default_hparams={"lr": lr, "budget": float(budget), "mistake": mistake, "equal_threshold": equal_threshold},
        invariance=NOT_INVARIANT,
        name=name,
    )
