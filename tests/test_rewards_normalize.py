"""Return-std normalisation against a hand-computed sequence, freezing for evaluation,
clip/symlog/scale/sum/schedule, the chain-order warning, and scale vmapped over its
factor in one compile."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxshape.errors import ConfigError
from jaxshape.rewards import (
    NOT_INVARIANT,
    POSITIVE_SCALE,
    chain,
    clip,
    normalize_returns,
    potential_shaping,
    scale,
    schedule,
    sum_streams,
    symlog,
)
from jaxshape.types import Transition


def step(reward, done=None, gamma=0.9, obs=None):
    reward = jnp.asarray(reward, jnp.float32)
    n = reward.shape[0]
    obs = jnp.zeros((n, 2)) if obs is None else obs
    return Transition(obs=obs, action=jnp.zeros(n, jnp.int32), reward=reward,
                      terminated=jnp.zeros(n, bool) if done is None else jnp.asarray(done, bool),
                      truncated=jnp.zeros(n, bool), next_obs=obs, gamma=jnp.float32(gamma))


def test_return_std_normalisation_matches_a_hand_computed_sequence():
    rng = np.random.default_rng(0)
    T, N, gamma, eps = 25, 3, 0.9, 1e-8
    rewards = rng.normal(2.0, 3.0, size=(T, N))
    dones = rng.random((T, N)) < 0.15

    # by hand: G ← γ·G·(1 − done_prev) + r; Var over every G so far (all envs) merged with
    # the prior RunningMeanStd starts from (count 1e-4, mean 0, var 1); r / √(Var + ε)
    prior = 1e-4
    G, seen, expected = np.zeros(N), [], []
    for t in range(T):
        G = gamma * G + rewards[t]
        seen.extend(G)
        count = prior + len(seen)
        mean = np.sum(seen) / count
        var = (prior * 1.0 + np.sum(np.square(seen))) / count - mean**2
        expected.append(rewards[t] / np.sqrt(var + eps))
        G = np.where(dones[t], 0.0, G)

    transform = normalize_returns("extrinsic")
    assert transform.invariance == POSITIVE_SCALE and not transform.nonlinear
    state = transform.init(jax.random.PRNGKey(0), step(rewards[0]))
    apply = jax.jit(transform.apply)
    got = []
    for t in range(T):
        out, state = apply(state, step(rewards[t], dones[t], gamma))
        got.append(np.asarray(out["extrinsic"]))
    np.testing.assert_allclose(np.stack(got), np.stack(expected), rtol=2e-4)
    assert np.all(np.sign(np.stack(got)) == np.sign(rewards))  # no mean subtraction


def test_frozen_statistics_are_used_but_not_updated():
    transform = normalize_returns("extrinsic")
    state = transform.init(jax.random.PRNGKey(0), step([0.0, 0.0]))
    for r in ([1.0, 3.0], [2.0, -1.0], [0.5, 4.0]):
        _, state = transform.apply(state, step(r))
    frozen = {**transform.default_hparams, "frozen": 1.0}
    out, new_state = transform.apply(state, step([10.0, -10.0]), frozen)
    np.testing.assert_array_equal(new_state["rms"].var, state["rms"].var)
    np.testing.assert_array_equal(new_state["rms"].count, state["rms"].count)
    np.testing.assert_allclose(out["extrinsic"], np.array([10.0, -10.0]) / np.sqrt(float(state["rms"].var) + 1e-8),
                               rtol=1e-6)
    _, live_state = transform.apply(state, step([10.0, -10.0]))
    assert float(live_state["rms"].count) > float(state["rms"].count)


def test_non_episodic_return_runs_on_across_resets():
    transform = normalize_returns("extrinsic", gamma=0.5, episodic=False)
    state = transform.init(jax.random.PRNGKey(0), step([0.0]))
    _, state = transform.apply(state, step([2.0], done=[True]))
    _, state = transform.apply(state, step([2.0]))
    np.testing.assert_allclose(state["ret"], [0.5 * 2.0 + 2.0])  # own γ = 0.5, no cut at the done
    episodic = normalize_returns("extrinsic")
    state = episodic.init(jax.random.PRNGKey(0), step([0.0]))
    _, state = episodic.apply(state, step([2.0], done=[True]))
    np.testing.assert_allclose(state["ret"], [0.0])


def test_clip_symlog_scale_values_and_classes():
    tr = step([-5.0, -0.5, 0.0, 3.0])
    for transform, want in (
        (clip("extrinsic", -1.0, 1.0), [-1.0, -0.5, 0.0, 1.0]),
        (symlog(), [-np.log(6.0), -np.log(1.5), 0.0, np.log(4.0)]),
        (scale("extrinsic", 2.0), [-10.0, -1.0, 0.0, 6.0]),
    ):
        out, _ = transform.apply(transform.init(jax.random.PRNGKey(0), tr), tr)
        np.testing.assert_allclose(out["extrinsic"], want, rtol=1e-6, err_msg=transform.name)
    assert clip().nonlinear and symlog().nonlinear and not scale().nonlinear
    assert clip().invariance == NOT_INVARIANT and symlog().invariance == NOT_INVARIANT
    assert scale().invariance == POSITIVE_SCALE


def test_sum_streams_weights_and_schedule_counter():
    tr = step([1.0, 2.0])
    both = chain(scale("extrinsic", 3.0, name="bonus_maker"), sum_streams(["extrinsic"], into="total", weights=[0.5]))
    out, _ = both.apply(both.init(jax.random.PRNGKey(0), tr), tr)
    np.testing.assert_allclose(out["total"], [1.5, 3.0])

    summed = sum_streams(["extrinsic", "shaping"], into="total", weights={"extrinsic": 2.0, "shaping": -1.0})
    rewards = {"extrinsic": jnp.array([1.0, 2.0]), "shaping": jnp.array([4.0, 4.0])}
    out, _ = summed.apply((), tr, rewards=rewards)
    np.testing.assert_allclose(out["total"], [-2.0, 0.0])
    assert set(out) == {"extrinsic", "shaping", "total"}  # every term is kept (and logged)

    ramp = schedule("extrinsic", lambda t: t.astype(jnp.float32))
    state = ramp.init(jax.random.PRNGKey(0), tr)
    seen = []
    for _ in range(3):
        out, state = ramp.apply(state, step([1.0, 1.0]))
        seen.append(np.asarray(out["extrinsic"]))
    np.testing.assert_allclose(np.stack(seen), [[0, 0], [2, 2], [4, 4]])  # env steps before each call


def test_unknown_stream_raises_config_error():
    tr = step([1.0])
    with pytest.raises(ConfigError, match=r"'rnd'.*streams present: \['extrinsic'\]"):
        clip("rnd").apply((), tr)
    with pytest.raises(ConfigError, match="weights"):
        sum_streams(["a", "b"], into="c", weights=[1.0])


def angle_potential(obs):
    return -jnp.abs(obs[:, 0])


def apply_chain(*transforms):
    transform = chain(*transforms)
    tr = step([1.0, -2.0], obs=jnp.asarray([[0.5, 0.0], [-0.25, 0.0]]))
    return transform.apply(transform.init(jax.random.PRNGKey(0), tr), tr)


def test_nonlinear_after_shaping_warns_once_and_before_does_not():
    with pytest.warns(UserWarning, match="after potential shaping") as record:
        apply_chain(potential_shaping(angle_potential), clip("shaping"), symlog("shaping"))
    assert len([w for w in record if "potential shaping" in str(w.message)]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        apply_chain(clip(), symlog(), potential_shaping(angle_potential), normalize_returns("shaping"),
                    scale("shaping"))


def test_scale_is_vmappable_over_its_factor_in_one_compile():
    transform = scale("extrinsic", 1.0)
    tr = step([1.0, -2.0, 3.0])
    traces = []

    def scaled(hparams):
        traces.append(1)
        return transform.apply((), tr, hparams)[0]["extrinsic"]

    batched = jax.jit(jax.vmap(scaled))({"factor": jnp.array([2.0, -0.5])})
    assert len(traces) == 1
    single = jax.jit(scaled)
    separate = [single({"factor": jnp.float32(f)}) for f in (2.0, -0.5)]
    assert len(traces) == 2  # one trace for the vmapped call, one for both separate calls
    np.testing.assert_allclose(batched, np.stack(separate), rtol=1e-6)
    np.testing.assert_allclose(batched[0], [2.0, -4.0, 6.0])
