"""`rewards.gate`, `rewards.multiply` and the `rewards.terminate_if` pointer: hand-computed
small episodes."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxshape import rewards
from jaxshape.errors import ConfigError
from jaxshape.types import Transition


def step(reward, terminated=(False, False), truncated=(False, False), success=(0.0, 0.0)):
    """One step of 2 envs: the env reward, the flags and an info success flag."""
    return Transition(obs=jnp.zeros((2, 1)), action=jnp.zeros((2,), jnp.int32),
                      reward=jnp.asarray(reward, jnp.float32), terminated=jnp.asarray(terminated),
                      truncated=jnp.asarray(truncated), next_obs=jnp.zeros((2, 1)),
                      info={"success": jnp.asarray(success, jnp.float32)})


def run(transform, steps, streams, hparams=None):
    """Apply `transform` along `steps`, feeding the given incoming streams; stacked outputs."""
    state = transform.init(jax.random.PRNGKey(0), steps[0])
    out = []
    for t, incoming in zip(steps, streams):
        incoming = {"extrinsic": t.reward, **{k: jnp.asarray(v, jnp.float32) for k, v in incoming.items()}}
        r, state = transform.apply(state, t, hparams, rewards=incoming)
        out.append(r)
    return jax.tree.map(lambda *x: np.stack(x), *out), state


# ------------------------------------------------------------------ episode gate
# env 0: one episode of 3 steps that opens the door (env reward 1 on its last step), then
#        a new episode;
# env 1: an episode truncated after 2 steps without success, then one of 2 steps that
#        terminates with reward 1.
EPISODES = [
    step([0.0, 0.0]),
    step([0.0, 0.0], truncated=(False, True)),
    step([1.0, 0.0], terminated=(True, False)),
    step([0.0, 1.0], terminated=(False, True)),
]
SHAPING = [{"shaping": [0.1, 1.0]}, {"shaping": [0.2, 2.0]}, {"shaping": [0.3, 4.0]}, {"shaping": [0.5, 8.0]}]


def test_episode_gate_pays_the_sum_at_a_successful_end_and_zero_at_a_failed_one():
    out, state = run(rewards.gate("shaping"), EPISODES, SHAPING)
    np.testing.assert_allclose(out["shaping"][:, 0], [0.0, 0.0, 0.6, 0.0], rtol=1e-6)  # 0.1 + 0.2 + 0.3
    np.testing.assert_allclose(out["shaping"][:, 1], [0.0, 0.0, 0.0, 12.0])  # 1 + 2 lost; 4 + 8 paid
    np.testing.assert_allclose(out["extrinsic"], np.stack([t.reward for t in EPISODES]))  # untouched
    np.testing.assert_allclose(state["shaping"], [0.5, 0.0])  # env 0's new episode has begun; env 1 reset


def test_episode_gate_reads_the_outcome_from_info_with_a_traced_threshold():
    steps = [step([0.0, 0.0]), step([0.0, 0.0], terminated=(True, True), success=(0.4, 0.9))]
    streams = [{"a": [1.0, 1.0], "b": [10.0, 10.0]}, {"a": [2.0, 2.0], "b": [20.0, 20.0]}]
    gate = rewards.gate(["a", "b"], outcome=lambda t: t.info["success"], threshold=0.5)
    out, _ = run(gate, steps, streams)
    np.testing.assert_allclose(out["a"][-1], [0.0, 3.0])
    np.testing.assert_allclose(out["b"][-1], [0.0, 30.0])  # each stream gated on its own sum

    def last_a(threshold):
        return run(gate, steps, streams, {"threshold": threshold})[0]["a"][-1]

    np.testing.assert_allclose(last_a(0.3), [3.0, 3.0])
    apply = jax.jit(jax.vmap(lambda th: gate.apply(gate.init(None, steps[1]), steps[1], {"threshold": th},
                                                   {"a": jnp.ones(2), "b": jnp.ones(2)})[0]["a"]))
    np.testing.assert_allclose(apply(jnp.asarray([0.3, 0.5, 0.95])), [[1.0, 1.0], [0.0, 1.0], [0.0, 0.0]])


def test_episode_gate_is_jittable_and_resets_per_env_under_scan():
    gate = rewards.gate("shaping")
    steps = jax.tree.map(lambda *x: jnp.stack(x), *EPISODES)
    shaping = jnp.asarray([s["shaping"] for s in SHAPING], jnp.float32)

    def body(state, xs):
        t, r = xs
        out, state = gate.apply(state, t, None, {"extrinsic": t.reward, "shaping": r})
        return state, out["shaping"]

    _, paid = jax.jit(lambda: jax.lax.scan(body, gate.init(None, EPISODES[0]), (steps, shaping)))()
    np.testing.assert_allclose(paid, [[0, 0], [0, 0], [0.6, 0], [0, 12.0]], rtol=1e-6)


# --------------------------------------------------------------------- rate gate
def batch(rewards_, done):
    """A [T, 2] rollout batch with env rewards and episode ends (terminations)."""
    r = jnp.asarray(rewards_, jnp.float32)
    return Transition(obs=jnp.zeros(r.shape + (1,)), action=jnp.zeros(r.shape, jnp.int32), reward=r,
                      terminated=jnp.asarray(done), truncated=jnp.zeros(r.shape, bool),
                      next_obs=jnp.zeros(r.shape + (1,)), gamma=0.99, info={})


def test_rate_gate_scales_by_the_running_success_rate():
    gate = rewards.gate("dense", mode="rate", momentum=0.5, full_at=0.5)
    hp = gate.default_hparams
    t = step([0.0, 0.0])
    state = gate.init(jax.random.PRNGKey(0), t)
    dense = {"extrinsic": t.reward, "dense": jnp.asarray([2.0, -4.0])}
    np.testing.assert_allclose(gate.apply(state, t, hp, dense)[0]["dense"], [0.0, 0.0])  # nothing succeeded yet

    # 4 episodes end, 1 succeeds: x = 0.25; e = 0.5·0 + 0.5·0.25, w = 0.5, ρ = 0.25, factor 0.25/0.5
    first = batch([[0, 0], [1, 0], [0, 0]], [[False, True], [True, False], [True, True]])
    state, metrics = gate.update(state, first, None, hp)
    np.testing.assert_allclose([metrics["success_rate"], metrics["factor"], metrics["episodes"]], [0.25, 0.5, 4])
    np.testing.assert_allclose(gate.apply(state, t, hp, dense)[0]["dense"], [1.0, -2.0])

    # no episode ends: unchanged
    state, metrics = gate.update(state, batch([[1, 1]], [[False, False]]), None, hp)
    np.testing.assert_allclose(metrics["success_rate"], 0.25)

    # 2 end, both succeed: e = 0.5·0.125 + 0.5, w = 0.75, ρ = 0.75, factor clip(1.5) = 1
    state, metrics = gate.update(state, batch([[1, 1]], [[True, True]]), None, hp)
    np.testing.assert_allclose([metrics["success_rate"], metrics["factor"]], [0.75, 1.0])
    np.testing.assert_allclose(gate.apply(state, t, hp, dense)[0]["dense"], [2.0, -4.0])
    # full_at, momentum and threshold are traced: full_at = 1 pays 0.75 of the stream
    np.testing.assert_allclose(gate.apply(state, t, {**hp, "full_at": jnp.float32(1.0)}, dense)[0]["dense"],
                               [1.5, -3.0])


def test_rate_gate_outcome_sees_one_step_of_envs_at_a_time():
    seen = []

    def outcome(t):
        seen.append(t.reward.shape)
        return t.info["success"]

    gate = rewards.gate("dense", outcome=outcome, mode="rate", momentum=0.0)
    b = batch([[0, 0], [0, 0]], [[True, False], [False, True]])
    b = b.replace(info={"success": jnp.asarray([[1.0, 0.0], [0.0, 0.0]])})
    state, metrics = jax.jit(lambda s: gate.update(s, b, None, gate.default_hparams))(gate.init(None, step([0, 0])))
    assert seen == [(2,)]
    np.testing.assert_allclose(metrics["success_rate"], 0.5)


def test_gate_rejects_bad_settings():
    with pytest.raises(ConfigError, match="mode must be 'episode' or 'rate'"):
        rewards.gate("x", mode="always")
    with pytest.raises(ConfigError, match="at least one stream"):
        rewards.gate([])
    gate = rewards.gate("missing")
    with pytest.raises(ConfigError, match="no earlier transform made"):
        gate.apply(gate.init(None, EPISODES[0]), EPISODES[0])
    bad = rewards.gate("extrinsic", outcome=lambda t: t.obs)  # [N, 1], not [N]
    with pytest.raises(ConfigError, match="one value per env"):
        bad.apply(bad.init(None, EPISODES[0]), EPISODES[0])


def test_episode_gate_after_potential_shaping_warns_and_rate_gate_does_not():
    shaping = rewards.potential_shaping(lambda obs: obs[:, 0])
    t = EPISODES[0]
    with pytest.warns(UserWarning, match="non-linear transform after potential shaping"):
        chain = rewards.chain(shaping, rewards.gate("shaping"))
        chain.apply(chain.init(jax.random.PRNGKey(0), t), t)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        chain = rewards.chain(shaping, rewards.gate("shaping", mode="rate"))
        chain.apply(chain.init(jax.random.PRNGKey(0), t), t)
    assert rewards.gate("x", mode="rate").invariance == rewards.POSITIVE_SCALE
    assert rewards.gate("x").invariance == rewards.NOT_INVARIANT


# ---------------------------------------------------------------------- multiply
def test_multiply_is_progress_times_clipped_factors_in_place():
    t = step([0.0, 0.0])
    incoming = {"extrinsic": t.reward, "progress": jnp.asarray([0.5, -2.0]), "lane": jnp.asarray([0.5, 1.0]),
                "speed": jnp.asarray([0.2, 1.7])}  # 1.7 is clipped to 1
    out, _ = rewards.multiply("progress", ["lane", "speed"]).apply((), t, rewards=incoming)
    np.testing.assert_allclose(out["progress"], [0.5 * 0.5 * 0.2, -2.0])
    np.testing.assert_allclose(out["lane"], [0.5, 1.0])  # factors stay, for logging
    assert rewards.multiply("progress", "lane").streams == ()


def test_multiply_into_a_new_stream_and_the_learners_sum():
    t = step([1.0, 0.0])
    progress = rewards.term("progress", lambda tr, hp: jnp.asarray([0.4, 0.8]), coef=0.0)
    lane = rewards.term("lane", lambda tr, hp: jnp.asarray([0.5, 0.0]), coef=0.0)
    chain = rewards.chain(progress, lane, rewards.multiply("progress", ["lane"], into="carl", coef=2.0))
    out, _ = chain.apply(chain.init(jax.random.PRNGKey(0), t), t)
    np.testing.assert_allclose(out["carl"], [0.2, 0.0])
    np.testing.assert_allclose(out["progress"], [0.4, 0.8])
    coefs = {s.name: s.coef for s in chain.all_streams}
    assert coefs == {"extrinsic": 1.0, "progress": 0.0, "lane": 0.0, "carl": 2.0}
    np.testing.assert_allclose(rewards.weighted_sum(out, coefs), [1.0 + 0.4, 0.0])


def test_multiply_rejects_bad_names():
    with pytest.raises(ConfigError, match="also among the penalty factors"):
        rewards.multiply("a", ["a", "b"])
    with pytest.raises(ConfigError, match="must not be one of the penalty factors"):
        rewards.multiply("a", ["b"], into="b")
    with pytest.raises(ConfigError, match="no earlier transform made"):
        rewards.multiply("progress", ["lane"]).apply((), step([0.0, 0.0]))


def test_rewards_terminate_if_points_to_the_env_wrapper():
    with pytest.raises(ConfigError, match=r"jaxshape\.envs\.terminate_if\(env, condition\)"):
        rewards.terminate_if(lambda obs, info: True)
