"""Intrinsic bonuses: counts, RND, ICM, E3B, NovelD."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxshape.rewards import chain, count_bonus, e3b, icm, noveld, rnd, sherman_morrison
from jaxshape.rewards.counts import simhash_index
from jaxshape.rewards.icm import ICMCore
from jaxshape.rewards.rnd import RNDCore
from jaxshape.types import Transition


def make_transition(obs, next_obs, action=None, done=None):
    n = obs.shape[0]
    done = jnp.zeros((n,), bool) if done is None else jnp.asarray(done, bool)
    action = jnp.zeros((n,), jnp.int32) if action is None else action
    return Transition(obs=jnp.asarray(obs, jnp.float32), action=action, reward=jnp.zeros((n,), jnp.float32),
                      terminated=jnp.zeros((n,), bool), truncated=done, next_obs=jnp.asarray(next_obs, jnp.float32))


def stack_transitions(ts):
    return jax.tree.map(lambda *x: jnp.stack(x), *ts)


def run_steps(transform, state, transitions, hparams=None):
    """Apply a transform over a list of transitions; returns (stacked bonuses per stream, state)."""
    hparams = transform.default_hparams if hparams is None else hparams
    apply = jax.jit(lambda s, t: transform.apply(s, t, hparams))
    out = []
    for t in transitions:
        r, state = apply(state, t)
        out.append(r)
    return jax.tree.map(lambda *x: np.stack(x), *out), state


ONE_HOT = np.eye(3, dtype=np.float32)  # a deterministic 3-cycle of one-hot states


# ----------------------------------------------------------------------------- counts
def cycle(laps, n_envs=1, states=ONE_HOT, done_at=()):
    ts = []
    for t in range(laps * len(states)):
        s, s2 = states[t % len(states)], states[(t + 1) % len(states)]
        done = np.full((n_envs,), t in done_at)
        ts.append(make_transition(np.stack([s] * n_envs), np.stack([s2] * n_envs), done=done))
    return ts


# the cycle starts in cell 0, which counts as a visit: each arrival there counts one more
CYCLE_VISITS = [1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5]


def test_count_bonus_on_a_cycle_is_beta_over_sqrt_n():
    beta = 0.3
    t = count_bonus(beta=beta)
    state = t.init(jax.random.PRNGKey(0), cycle(1)[0])
    r, state = run_steps(t, state, cycle(4))
    np.testing.assert_allclose(r["count"][:, 0], beta / np.sqrt(CYCLE_VISITS), rtol=1e-6)
    np.testing.assert_array_equal(state.table, [5, 4, 4])
    np.testing.assert_array_equal(r["extrinsic"], 0.0)


def test_count_bonus_sums_visits_across_envs():
    t = count_bonus(beta=1.0)
    ts = cycle(2, n_envs=2)  # both envs start in cell 0 and step into the same cell each step
    r, state = run_steps(t, t.init(jax.random.PRNGKey(0), ts[0]), ts)
    np.testing.assert_allclose(r["count"], np.repeat(1 / np.sqrt([2, 2, 4, 4, 4, 6]), 2).reshape(6, 2), rtol=1e-6)
    np.testing.assert_array_equal(state.table, [6, 4, 4])


def test_simhash_count_bonus_on_a_cycle():
    states = np.asarray(jax.random.normal(jax.random.PRNGKey(1), (3, 6)))
    t = count_bonus(beta=1.0, hash="simhash", bits=8)
    state = t.init(jax.random.PRNGKey(2), cycle(1, states=states)[0])
    codes = np.asarray((states @ np.asarray(state.projection).T) > 0)
    assert len({c.tobytes() for c in codes}) == 3, "pick states with distinct SimHash codes"
    r, _ = run_steps(t, state, cycle(3, states=states))
    np.testing.assert_allclose(r["count"][:, 0], 1 / np.sqrt(CYCLE_VISITS[:9]), rtol=1e-6)


def test_episodic_counts_reset_at_episode_end_and_beta_is_vmappable():
    t = count_bonus(beta=1.0, episodic=True)
    ts = cycle(2, done_at=(2,))  # the episode ends after the first lap, back in cell 0; the next starts there
    r, _ = run_steps(t, t.init(jax.random.PRNGKey(0), ts[0]), ts)
    # each episode counts from its first observation (cell 0): returning there is a second visit
    np.testing.assert_allclose(r["count"][:, 0], [1, 1, 1 / np.sqrt(2)] * 2, rtol=1e-6)
    state = t.init(jax.random.PRNGKey(0), ts[0])
    betas = {"beta": jnp.asarray([1.0, 2.0])}
    out, _ = jax.vmap(lambda hp: t.apply(state, ts[0], hp))(betas)
    np.testing.assert_allclose(out["count"][:, 0], [1.0, 2.0])


# ----------------------------------------------------------------------------- RND
def rnd_batch(obs):
    """A [T=1, N] batch whose next observations are `obs`."""
    return stack_transitions([make_transition(obs, obs)])


def test_rnd_target_gets_no_gradient_and_update_leaves_it_unchanged():
    core = RNDCore(hidden_sizes=(16,), output_size=8, epochs=2, minibatches=2)
    obs = jax.random.normal(jax.random.PRNGKey(0), (16, 5))
    nets = core.init(jax.random.PRNGKey(1), obs)
    grad_target = jax.grad(lambda tgt: core.loss(nets.predictor, tgt, nets.obs_rms, obs))(nets.target)
    assert all(np.all(np.asarray(g) == 0.0) for g in jax.tree.leaves(grad_target))
    grad_pred = jax.grad(lambda p: core.loss(p, nets.target, nets.obs_rms, obs))(nets.predictor)
    assert any(np.any(np.asarray(g) != 0.0) for g in jax.tree.leaves(grad_pred))

    t = rnd(hidden_sizes=(16,), output_size=8, minibatches=2)
    state = t.init(jax.random.PRNGKey(1), make_transition(obs, obs))
    hp = {**t.default_hparams, "warmup": 0.0}
    new, metrics = jax.jit(t.update)(state, rnd_batch(obs), jax.random.PRNGKey(2), hp)
    for a, b in zip(jax.tree.leaves(state.nets.target), jax.tree.leaves(new.nets.target)):
        np.testing.assert_array_equal(a, b)
    assert any(np.any(a != b) for a, b in zip(jax.tree.leaves(state.nets.predictor), jax.tree.leaves(new.nets.predictor)))
    assert np.isfinite(metrics["predictor_loss"])


def test_rnd_bonus_falls_on_trained_states_and_stays_high_on_unseen():
    t = rnd(hidden_sizes=(32,), output_size=16, epochs=4, minibatches=2, lr=3e-3, update_proportion=1.0)
    seen = jax.random.normal(jax.random.PRNGKey(0), (16, 6))
    unseen = jax.random.normal(jax.random.PRNGKey(1), (16, 6)) + 3.0
    state = t.init(jax.random.PRNGKey(2), make_transition(seen, seen))
    update = jax.jit(t.update)
    state, _ = update(state, rnd_batch(seen), jax.random.PRNGKey(3), t.default_hparams)  # warm-up: obs stats
    core = RNDCore((32,), 16, 4, 2)
    before = core.error(state.nets, seen).mean()
    for i in range(30):
        state, _ = update(state, rnd_batch(seen), jax.random.PRNGKey(4 + i), t.default_hparams)
    after_seen, after_unseen = core.error(state.nets, seen).mean(), core.error(state.nets, unseen).mean()
    assert after_seen < 0.2 * before, (before, after_seen)
    assert after_unseen > 5 * after_seen, (after_seen, after_unseen)


def pooled_stats(samples):
    """Mean and variance of `samples` merged into `RunningMeanStd.create(())` (a prior of
    weight 1e-4 with mean 0 and variance 1), by hand."""
    x, c0 = np.asarray(samples, np.float64).ravel(), 1e-4
    mean = x.sum() / (c0 + x.size)
    return mean, (c0 * 1.0 + c0 * mean**2 + np.sum((x - mean) ** 2)) / (c0 + x.size)


def test_rnd_divides_each_step_by_the_return_std_with_that_steps_returns_merged_first():
    # Burda et al.'s reference merges the rollout's discounted intrinsic returns into the
    # statistics *before* dividing; step by step, b_t / √(Var{R_s : s ≤ t} + ε), R never reset
    t = rnd(hidden_sizes=(8,), output_size=4, minibatches=1, epochs=1)
    (stream,) = t.streams
    assert (stream.name, stream.episodic, stream.gamma) == ("rnd", False, 0.99)
    hp = {**t.default_hparams, "warmup": 0.0}  # pay from the first step
    core = RNDCore((8,), 4, 1, 1)
    obs = jax.random.normal(jax.random.PRNGKey(0), (6, 4, 3))  # [T, N, D]
    state = t.init(jax.random.PRNGKey(1), make_transition(obs[0], obs[0]))
    apply = jax.jit(lambda s, tr: t.apply(s, tr, hp))
    ret, rets = np.zeros(4), []
    for rollout in range(2):
        steps = []
        for i in range(obs.shape[0]):
            tr = make_transition(obs[i - 1], obs[i], done=[i % 2 == 1] * 4)  # done never resets R
            r, state = apply(state, tr)
            b = np.asarray(core.error(state.nets, obs[i]), np.float64)
            ret = 0.99 * ret + b
            rets.append(ret)
            _, var = pooled_stats(rets)
            np.testing.assert_allclose(r["rnd"], b / np.sqrt(var + 1e-8), rtol=1e-5)
            steps.append(tr)
        np.testing.assert_allclose(state.ret, ret, rtol=1e-5)
        if rollout == 0:  # the first rollout pays b / σ of its own returns, never b / 1
            assert not np.allclose(r["rnd"], b, rtol=1e-2)
        state, metrics = t.update(state, stack_transitions(steps), jax.random.PRNGKey(2), hp)
        np.testing.assert_allclose(metrics["ret_std"], np.sqrt(pooled_stats(rets)[1]), rtol=1e-5)


def test_rnd_warmup_rollout_pays_nothing_and_initialises_observation_and_return_statistics():
    t = rnd(hidden_sizes=(8,), output_size=4, minibatches=1, epochs=1)
    assert t.default_hparams["warmup"] == 1.0
    hp = t.default_hparams
    core = RNDCore((8,), 4, 1, 1)
    obs = 2.0 + 3.0 * jax.random.normal(jax.random.PRNGKey(0), (5, 4, 3))  # far from μ = 0, σ = 1
    state = t.init(jax.random.PRNGKey(1), make_transition(obs[0], obs[0]))
    steps = [make_transition(obs[i - 1], obs[i], done=[True] * 4) for i in range(5)]
    s = state
    for tr in steps:
        r, s = t.apply(s, tr, hp)
        np.testing.assert_array_equal(r["rnd"], 0.0)  # warm-up rollout: nothing paid
    np.testing.assert_array_equal(s.ret, 0.0)
    new, metrics = jax.jit(t.update)(s, stack_transitions(steps), jax.random.PRNGKey(2), hp)
    assert float(metrics["warmup"]) == 1.0
    # the observation statistics absorbed the rollout's next observations
    flat = np.asarray(obs, np.float64).reshape(-1, 3)
    np.testing.assert_allclose(new.nets.obs_rms.mean, flat.sum(0) / (1e-4 + 20), rtol=1e-5)
    np.testing.assert_allclose(new.nets.obs_rms.var, [pooled_stats(flat[:, j])[1] for j in range(3)], rtol=1e-4)
    for a, b in zip(jax.tree.leaves(state.nets.predictor), jax.tree.leaves(new.nets.predictor)):
        np.testing.assert_array_equal(a, b)  # f̂ is not trained on warm-up data
    # the return statistics hold the rollout's returns under those observation statistics
    ret, rets = np.zeros(4), []
    for i in range(5):
        ret = 0.99 * ret + np.asarray(core.error(new.nets, obs[i]), np.float64)
        rets.append(ret)
    np.testing.assert_allclose(new.ret, ret, rtol=1e-5)
    np.testing.assert_allclose(new.ret_rms.var, pooled_stats(rets)[1], rtol=1e-4)
    # the first paid step: b / σ of the warm-up returns and its own
    r, s = t.apply(new, steps[0], hp)
    b = np.asarray(core.error(new.nets, obs[0]), np.float64)
    rets.append(0.99 * ret + b)
    np.testing.assert_allclose(r["rnd"], b / np.sqrt(pooled_stats(rets)[1] + 1e-8), rtol=1e-4)
    newer, metrics = t.update(s, stack_transitions(steps), jax.random.PRNGKey(3), hp)
    assert float(metrics["warmup"]) == 0.0
    assert any(np.any(a != b) for a, b in zip(jax.tree.leaves(new.nets.predictor),
                                              jax.tree.leaves(newer.nets.predictor)))


# ----------------------------------------------------------------------------- ICM
def test_icm_forward_loss_sends_no_gradient_to_the_encoder():
    core = ICMCore(num_actions=3, feature_size=4, hidden_sizes=(8,))
    obs = jax.random.normal(jax.random.PRNGKey(0), (6, 5))
    t = make_transition(obs, obs + 1.0, action=jnp.arange(6) % 3)
    params, _ = core.init(jax.random.PRNGKey(1), t)
    g_fwd = jax.grad(lambda p: core.losses(p, t.obs, t.next_obs, t.action)[1])(params)
    g_inv = jax.grad(lambda p: core.losses(p, t.obs, t.next_obs, t.action)[0])(params)
    assert all(np.all(np.asarray(g) == 0.0) for g in jax.tree.leaves(g_fwd["encoder"]))
    assert any(np.any(np.asarray(g) != 0.0) for g in jax.tree.leaves(g_fwd["forward"]))
    assert any(np.any(np.asarray(g) != 0.0) for g in jax.tree.leaves(g_inv["encoder"]))


@pytest.mark.parametrize("discrete", [True, False])
def test_icm_bonus_decays_in_a_deterministic_env(discrete):
    # a deterministic 4-cycle: state i, action i % 2 -> state i + 1
    states = np.eye(4, dtype=np.float32)
    obs, nxt = states, np.roll(states, -1, axis=0)
    action = jnp.arange(4) % 2 if discrete else jnp.asarray(np.arange(4)[:, None] % 2, jnp.float32)
    t = icm(num_actions=2 if discrete else None, eta=1.0, lr=1e-2, feature_size=8, hidden_sizes=(16,), epochs=4)
    trans = make_transition(obs, nxt, action=action)
    state = t.init(jax.random.PRNGKey(0), trans)
    apply, update = jax.jit(t.apply), jax.jit(t.update)
    first = apply(state, trans)[0]["icm"].mean()
    for i in range(60):
        r, state = apply(state, trans)
        state, metrics = update(state, stack_transitions([trans]), jax.random.PRNGKey(i), t.default_hparams)
    last = apply(state, trans)[0]["icm"].mean()
    assert first > 0 and last < 0.1 * first, (first, last)
    assert np.isfinite(metrics["inverse_loss"])


def test_icm_discrete_actions_need_num_actions():
    obs = jnp.zeros((2, 3))
    with pytest.raises(ValueError, match="num_actions"):
        icm().init(jax.random.PRNGKey(0), make_transition(obs, obs))


# ----------------------------------------------------------------------------- E3B
def e3b_run(phis, lam=0.1, done=None, start=None):
    """One env stepping through features `phis` from `start` (default φ = 0, which adds
    nothing to C: C_0 = λI); after a `done` step the env resets to `start`."""
    phis = np.asarray(phis, np.float32)
    start = np.zeros_like(phis[0]) if start is None else np.asarray(start, np.float32)
    done = [False] * len(phis) if done is None else done
    obs = [start] + [start if d else p for p, d in zip(phis[:-1], done[:-1])]
    t = e3b(lam=lam)
    ts = [make_transition(o[None], p[None], done=[d]) for o, p, d in zip(obs, phis, done)]
    r, state = run_steps(t, t.init(jax.random.PRNGKey(0), ts[0]), ts)
    return r["e3b"][:, 0], state


def test_sherman_morrison_running_inverse_matches_direct_inverse():
    lam, phis = 0.1, np.asarray(jax.random.normal(jax.random.PRNGKey(0), (12, 4)))
    bonus, state = e3b_run(phis, lam)
    c = lam * np.eye(4) + phis.T.astype(np.float64) @ phis
    np.testing.assert_allclose(state.c_inv[0], np.linalg.inv(c), rtol=1e-4, atol=1e-5)
    c_inv, b = sherman_morrison(jnp.eye(4) / lam, jnp.asarray(phis[0]))
    np.testing.assert_allclose(b, phis[0] @ phis[0] / lam, rtol=1e-6)


def test_e3b_repeated_unit_feature_gives_one_over_lambda_plus_k():
    lam, unit = 0.1, np.asarray([0.0, 1.0, 0.0], np.float32)
    bonus, _ = e3b_run(np.tile(unit, (6, 1)), lam)
    np.testing.assert_allclose(bonus, 1.0 / (lam + np.arange(6)), rtol=1e-5)
    bonus, _ = e3b_run(np.tile(unit, (6, 1)), lam, start=unit)  # s_0 has the feature: one visit already
    np.testing.assert_allclose(bonus, 1.0 / (lam + np.arange(1, 7)), rtol=1e-5)


def test_e3b_log_bonus_sum_is_log_det():
    lam, phis = 0.1, np.asarray(jax.random.normal(jax.random.PRNGKey(3), (10, 5)))
    bonus, _ = e3b_run(phis, lam)
    c = lam * np.eye(5) + phis.T.astype(np.float64) @ phis
    np.testing.assert_allclose(np.log1p(bonus).sum(), np.linalg.slogdet(c)[1] - 5 * np.log(lam), rtol=1e-4)


def test_e3b_resets_per_env_at_episode_end_and_lambda_is_traced():
    phi = np.asarray([[1.0, 0.0]] * 4, np.float32)
    bonus, _ = e3b_run(phi, 0.1, done=[False, True, False, False])
    np.testing.assert_allclose(bonus, [10.0, 1 / 1.1, 10.0, 1 / 1.1], rtol=1e-5)
    t = e3b()
    tr = make_transition(np.zeros((2, 2)), phi[:2])
    state = t.init(jax.random.PRNGKey(0), tr)
    out, _ = jax.vmap(lambda lam: t.apply(state, tr, {"lambda": lam}))(jnp.asarray([0.1, 0.5]))
    np.testing.assert_allclose(out["e3b"][:, 0], [10.0, 2.0], rtol=1e-5)


def test_e3b_learned_embedding_trains():
    t = e3b("inverse_dynamics", dim=4, num_actions=2)
    obs = jax.random.normal(jax.random.PRNGKey(0), (4, 3))
    tr = make_transition(obs, obs + 1, action=jnp.arange(4) % 2)
    state = t.init(jax.random.PRNGKey(0), tr)
    r, state = t.apply(state, tr)
    assert r["e3b"].shape == (4,) and np.all(np.asarray(r["e3b"]) > 0)
    new, metrics = t.update(state, stack_transitions([tr]), jax.random.PRNGKey(1), t.default_hparams)
    assert np.isfinite(metrics["inverse_loss"])
    assert any(np.any(a != b) for a, b in zip(jax.tree.leaves(state.embed[0]), jax.tree.leaves(new.embed[0])))


# ----------------------------------------------------------------------------- NovelD
def test_noveld_is_zero_on_revisits_within_an_episode_and_never_negative():
    states = np.eye(5, dtype=np.float32)
    t = noveld(hidden_sizes=(16,), output_size=8)
    ts = cycle(3, states=states, done_at=(9,))  # episode 1: steps 0..9, episode 2: 10..14
    r, _ = run_steps(t, t.init(jax.random.PRNGKey(0), ts[0]), ts)
    b = r["noveld"][:, 0]
    assert np.all(b >= 0)
    # lap 1 steps into cells 1..4 then 0: cell 0 was the start, a revisit; lap 2 revisits all
    assert np.all(b[5:10] == 0.0)
    assert b[4] == 0.0
    assert np.count_nonzero(b[:4]) >= 2  # first visits earn a bonus where N(s′) > α·N(s)
    # after the episode ended the same cells pay again
    assert np.count_nonzero(b[10:14]) >= 2


def test_noveld_clips_negative_novelty_to_zero():
    t = noveld(hash="simhash", bits=12, hidden_sizes=(16,), output_size=8, alpha=2.0)
    obs = jax.random.normal(jax.random.PRNGKey(0), (64, 4))
    nxt = jax.random.normal(jax.random.PRNGKey(1), (64, 4))
    tr = make_transition(obs, nxt)
    state = t.init(jax.random.PRNGKey(2), tr)
    r, _ = t.apply(state, tr)
    core = RNDCore((16,), 8, 4, 4)
    raw = core.error(state.nets, nxt) - 2.0 * core.error(state.nets, obs)
    assert np.any(raw < 0) and np.any(raw > 0)
    assert np.all(np.asarray(r["noveld"]) >= 0)
    size = state.visited.shape[-1]
    first = simhash_index(state.projection, state.weights, nxt, size) != simhash_index(
        state.projection, state.weights, obs, size)  # s′ hashed apart from s: a first visit
    assert np.any(first & (raw > 0))
    np.testing.assert_allclose(r["noveld"], np.maximum(raw, 0) * first, rtol=1e-6)


# ----------------------------------------------------------------------------- inside PPO
def test_count_and_rnd_chain_trains_inside_ppo_with_its_own_value_head():
    from jaxshape.algos import PPOConfig, default_hparams, make_ppo

    transform = chain(count_bonus(beta=0.1, hash="simhash", bits=8), rnd(hidden_sizes=(16,), output_size=8))
    config = PPOConfig(env="CartPole-v1", num_envs=4, num_steps=8, total_steps=64, num_epochs=1,
                       num_minibatches=1, hidden_sizes=(16,))
    ppo = make_ppo(config, transform=transform)
    assert ppo.network.num_values == 2  # extrinsic+count head, and the rnd head
    hp = default_hparams(transform)
    assert float(hp.reward_gammas["rnd"]) == pytest.approx(0.99)
    state, metrics = jax.jit(ppo.train)(jax.random.PRNGKey(0), hp)
    assert metrics["reward/rnd"].shape == (2,)
    for key in ("reward/rnd", "reward/count", "transform/rnd/predictor_loss", "loss_total"):
        assert np.all(np.isfinite(np.asarray(metrics[key]))), key
    np.testing.assert_array_equal(metrics["transform/rnd/warmup"], [1.0, 0.0])
    assert float(metrics["reward/rnd"][0]) == 0.0 and float(metrics["reward/rnd"][1]) > 0  # warm-up, then paid
    assert np.all(np.asarray(metrics["reward/count"]) > 0)


def test_learning_rates_are_traced_hparams_vmappable_in_one_compile():
    t = rnd(hidden_sizes=(8,), output_size=4, minibatches=1, epochs=1)
    obs = jax.random.normal(jax.random.PRNGKey(0), (4, 3))
    state = t.init(jax.random.PRNGKey(1), make_transition(obs, obs))
    hps = {**t.default_hparams, "lr": jnp.asarray([0.0, 1e-2]), "warmup": 0.0}
    hps = {k: jnp.broadcast_to(jnp.asarray(v, jnp.float32), (2,)) for k, v in hps.items()}
    new, _ = jax.vmap(t.update, in_axes=(None, None, None, 0))(state, rnd_batch(obs), jax.random.PRNGKey(2), hps)
    old = jax.tree.leaves(state.nets.predictor)
    changed = [any(np.any(np.asarray(a)[i] != np.asarray(b)) for a, b in zip(jax.tree.leaves(new.nets.predictor), old))
               for i in range(2)]
    assert changed == [False, True]
    hps = {**hps, "lr": jnp.full((2,), 1e-2), "warmup": jnp.asarray([0.0, 1.0])}  # the warm-up is traced too
    new, _ = jax.vmap(t.update, in_axes=(None, None, None, 0))(state, rnd_batch(obs), jax.random.PRNGKey(2), hps)
    changed = [any(np.any(np.asarray(a)[i] != np.asarray(b)) for a, b in zip(jax.tree.leaves(new.nets.predictor), old))
               for i in range(2)]
    assert changed == [True, False]


def test_rnd_predictor_trains_on_its_proportion_of_the_batch_only():
    """update_proportion 0.25 of a 64-sample batch: each epoch 16 distinct samples in 4 minibatches."""
    from jaxshape.rewards.rnd import minibatch_indices

    core = RNDCore((8,), 4, epochs=3, minibatches=4, update_proportion=0.25)
    assert core.samples_used(64) == 16 and core.samples_used(6) == 4
    with pytest.raises(ValueError, match="cannot fill 4 predictor minibatches"):
        core.samples_used(2)
    idx = np.asarray(minibatch_indices(jax.random.PRNGKey(0), 64, 3, 4, core.samples_used(64)))
    assert idx.shape == (12, 4)
    for epoch in idx.reshape(3, 16):
        assert len(set(epoch.tolist())) == 16 and epoch.max() < 64  # a fresh subset, no repeats
    assert len({tuple(sorted(e)) for e in idx.reshape(3, 16).tolist()}) == 3
