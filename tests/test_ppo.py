"""PPO: learning on real gymnax envs, determinism, and sweeps from one compile."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxshape import pytree
from jaxshape.algos import PPOConfig, default_hparams, make_ppo
from jaxshape.errors import ConfigError
from jaxshape.rewards import term
from toy_envs import MatrixAction
from xla_settings import optimised_jit

SMALL = PPOConfig(num_envs=4, num_steps=32, total_steps=4 * 32 * 3, num_epochs=2, num_minibatches=4)


@pytest.fixture(scope="session")
def cartpole_four_seeds():
    """PPO on CartPole-v1, 4 seeds in one vmapped call, 500k env steps each."""
    ppo = make_ppo(PPOConfig(env="CartPole-v1", total_steps=500_000))
    keys = jax.random.split(jax.random.PRNGKey(42), 4)
    hparams = pytree.stack([default_hparams()] * 4)
    _, metrics = optimised_jit(jax.vmap(ppo.train))(keys, hparams)
    return jax.device_get(metrics)


@pytest.mark.slow
def test_cartpole_every_seed_reaches_475(cartpole_four_seeds):
    returns = cartpole_four_seeds["episode_return"]  # [seeds, updates]
    assert cartpole_four_seeds["step"][0, -1] <= 500_000
    best = returns.max(axis=1)
    assert (best >= 475).all(), f"best mean return per seed: {best}"
    # not a lucky blip: the last tenth of training stays high
    assert (returns[:, -returns.shape[1] // 10:].mean(axis=1) >= 400).all()


def test_cartpole_metrics_flag_episodes_before_the_first_one_ends(cartpole_four_seeds):
    assert cartpole_four_seeds["episode_valid"].all()  # 128 steps > any first random episode
    ppo = make_ppo(PPOConfig(num_envs=2, num_steps=4, total_steps=8))
    _, metrics = jax.jit(ppo.train)(jax.random.PRNGKey(0), default_hparams())
    assert not metrics["episode_valid"][0]  # 4 random steps cannot end a CartPole episode
    assert metrics["episode_return"][0] == 0.0


@pytest.mark.slow
def test_pendulum_continuous_actions_improve_without_nan():
    config = PPOConfig(env="Pendulum-v1", total_steps=300_000, num_epochs=10, normalize_obs=True)
    ppo = make_ppo(config)
    hp = default_hparams(learning_rate=1e-3, ent_coef=0.0, gamma=0.95, gae_lambda=0.9)
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    _, metrics = optimised_jit(jax.vmap(ppo.train))(keys, pytree.stack([hp, hp]))
    returns = np.asarray(metrics["episode_return"])
    assert np.isfinite(np.asarray(metrics["loss_total"])).all()
    start, end = returns[:, 1:4].mean(), returns[:, -5:].mean()
    assert end > start + 400, f"return went from {start:.0f} to {end:.0f}"


def test_same_seed_gives_bitwise_identical_metrics():
    ppo = make_ppo(SMALL)
    train = jax.jit(ppo.train)
    _, a = train(jax.random.PRNGKey(3), default_hparams())
    _, b = jax.jit(make_ppo(SMALL).train)(jax.random.PRNGKey(3), default_hparams())
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    _, c = train(jax.random.PRNGKey(4), default_hparams())
    assert not np.array_equal(a["loss_total"], c["loss_total"])


def test_the_batched_values_are_the_ones_each_step_would_compute():
    """A feed-forward policy's V(s) comes from one forward of the whole rollout after it:
    the values one N-row forward per step gives, with the rollout's params and obs stats
    (to float rounding: a product of T·N rows may round differently from N rows)."""
    ppo, hp = make_ppo(dataclasses.replace(SMALL, normalize_obs=True)), default_hparams()
    state = jax.jit(ppo.init)(jax.random.PRNGKey(0), hp)
    state = state.replace(obs_stats=state.obs_stats.update(jax.random.normal(jax.random.PRNGKey(1), (64, 4))))
    _, batch, _ = jax.jit(ppo._rollout)(state, hp)
    per_step = jax.jit(lambda s, x: jax.lax.map(lambda x_t: ppo.policy_value(s.params, s.obs_stats, x_t)[1], x))(
        state, batch.extras["policy_input"])
    assert batch.extras["values"].shape == (SMALL.num_steps, SMALL.num_envs, 1)
    assert float(jnp.abs(batch.extras["values"]).max()) > 0
    np.testing.assert_allclose(batch.extras["values"], per_step, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("env, condition", [("CartPole-v1", ()), ("Pendulum-v1", ()),
                                            ("CartPole-v1", (("reward_coefs.bonus", 0.5, 2.0),))])
def test_a_rollouts_draws_made_ahead_are_the_ones_each_step_would_make(env, condition):
    """`_rollout_draws` draws every step's action noise and env keys before the rollout:
    step t's key, split as the step split it, and the same action as sampling from it."""
    transform = term("bonus", lambda t, hp: jnp.ones_like(t.reward), coef=1.0)
    ppo = make_ppo(dataclasses.replace(SMALL, env=env, condition=condition), transform=transform)
    key, logits_key = jax.random.PRNGKey(5), jax.random.PRNGKey(6)
    noise, env_keys, coef_keys = jax.jit(ppo._rollout_draws)(key)
    for t, step_key in enumerate(jax.random.split(key, SMALL.num_steps)):
        if condition:
            step_key, coef_key = jax.random.split(step_key)
            np.testing.assert_array_equal(coef_keys[t], coef_key)
        act_key, env_key = jax.random.split(step_key)
        np.testing.assert_array_equal(env_keys[t], jax.random.split(env_key, SMALL.num_envs))
        out = jax.random.normal(jax.random.fold_in(logits_key, t), (SMALL.num_envs, ppo.head.output_size))
        policy = out if env == "CartPole-v1" else (out, jnp.full((ppo.head.output_size,), -0.5))
        np.testing.assert_array_equal(ppo.head.sample_with(noise[t], policy), ppo.head.sample(act_key, policy))
    assert (coef_keys is None) == (not condition)


def test_vmapped_learning_rates_match_separate_runs_and_compile_once():
    ppo = make_ppo(SMALL)
    low, high = default_hparams(learning_rate=1e-4), default_hparams(learning_rate=3e-3)
    key = jax.random.PRNGKey(0)

    train = jax.jit(ppo.train)
    state_low, _ = train(key, low)
    state_high, _ = train(key, high)
    assert train._cache_size() == 1  # a new learning rate did not recompile

    swept = jax.jit(jax.vmap(ppo.train, in_axes=(None, 0)))
    state_both, _ = swept(key, pytree.stack([low, high]))
    for i, separate in enumerate((state_low, state_high)):
        jax.tree.map(
            lambda x, y: np.testing.assert_allclose(x, y, rtol=2e-4, atol=1e-6),
            separate.params, pytree.index(state_both.params, i),
        )
    gap = jax.tree.map(lambda x, y: jnp.abs(x - y).max(), state_low.params, state_high.params)
    assert max(jax.tree.leaves(gap)) > 1e-3  # the two learning rates really differ


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"num_minibatches": 3}, "does not divide the batch"),
        ({"num_envs": 0}, "num_envs must be a positive integer"),
        ({"num_epochs": -1}, "num_epochs must be a positive integer"),
        ({"total_steps": 10}, "less than one batch"),
        ({"activation": "sigmoidal"}, "activation 'sigmoidal' unknown"),
        ({"env": "Cartpole-v1"}, "did you mean CartPole-v1"),
        ({"adam_eps": 0.0}, "adam_eps must be positive"),
        ({"matmul_dtype": "float16"}, "matmul_dtype must be one of float32, bfloat16"),
    ],
)
def test_bad_config_names_the_fix(changes, message):
    with pytest.raises(ConfigError, match=message):
        make_ppo(PPOConfig(**changes))


def _product_dtypes(jaxpr) -> list[str]:
    """The operand dtype of every matrix product in a jaxpr, nested scans and conds included."""
    found = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            found.append(str(eqn.invars[0].aval.dtype))
        for param in eqn.params.values():
            for sub in param if isinstance(param, (tuple, list)) else (param,):
                if hasattr(sub, "eqns") or hasattr(sub, "jaxpr"):
                    found += _product_dtypes(getattr(sub, "jaxpr", sub))
    return found


@pytest.mark.parametrize("gru_size, env", [(0, "CartPole-v1"), (8, "CartPole-v1"), (0, "Pendulum-v1")])
def test_bfloat16_matmuls_keep_float32_parameters_heads_and_outputs(gru_size, env):
    """matmul_dtype="bfloat16": the same float32 parameters; every hidden layer's product in
    bfloat16 (the GRU's too) and the two heads' in float32, in the forward pass and in the
    update; outputs within bfloat16's rounding of float32's but not equal to them; a float32
    update. float32, the default, has no bfloat16 product."""
    config = dataclasses.replace(SMALL, env=env, gru_size=gru_size)
    single, half = make_ppo(config), make_ppo(dataclasses.replace(config, matmul_dtype="bfloat16"))
    key, hp = jax.random.PRNGKey(0), default_hparams()
    state, state_half = single.init(key, hp), half.init(key, hp)
    jax.tree.map(np.testing.assert_array_equal, state.params, state_half.params)
    width = 4 if env == "CartPole-v1" else 3
    obs = 3.0 * jax.random.normal(jax.random.PRNGKey(1), (16, width))
    if gru_size:
        args = (single.network.initial_memory(4), obs.reshape(4, 4, width), jnp.zeros((4, 4), bool))
        forward = [lambda p, net=ppo.network: net.apply(p, *args)[1:] for ppo in (single, half)]
    else:
        forward = [lambda p, net=ppo.network: net.apply(p, obs) for ppo in (single, half)]
    outputs = [jax.tree.leaves(f(state.params)) for f in forward]
    for full, rounded in zip(*outputs):
        assert rounded.dtype == jnp.float32
        np.testing.assert_allclose(rounded, full, rtol=0.05, atol=0.02 * float(np.abs(full).max()))
    assert any(not np.array_equal(f, r) for f, r in zip(*outputs))
    products = _product_dtypes(jax.make_jaxpr(forward[1])(state.params).jaxpr)
    assert products.count("float32") == 2 and products.count("bfloat16") == len(products) - 2 >= 4, products
    assert set(_product_dtypes(jax.make_jaxpr(forward[0])(state.params).jaxpr)) == {"float32"}
    assert "bfloat16" in _product_dtypes(jax.make_jaxpr(half.update)(state_half, hp).jaxpr)
    assert "bfloat16" not in _product_dtypes(jax.make_jaxpr(single.update)(state, hp).jaxpr)
    updated, metrics = jax.jit(half.update)(state_half, hp)
    assert all(x.dtype == jnp.float32 and np.isfinite(x).all() for x in jax.tree.leaves(updated.params))
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(metrics))


def test_bfloat16_matmuls_learn_cartpole():
    """A CartPole run with its products in bfloat16 learns: from ~22 (random) to > 200 in 100k steps."""
    ppo = make_ppo(PPOConfig(env="CartPole-v1", total_steps=100_000, matmul_dtype="bfloat16"))
    _, metrics = jax.jit(ppo.train)(jax.random.PRNGKey(0), default_hparams())
    returns = np.asarray(metrics["episode_return"])
    assert returns[0] < 40 and returns[-3:].mean() > 200, returns


def test_unsupported_action_space_is_refused():
    env = MatrixAction()
    with pytest.raises(ConfigError, match="Discrete or 1-D Box"):
        make_ppo(PPOConfig(), env, env.default_params)


def test_decoupled_streams_give_every_episodic_stream_a_value_head():
    from jaxshape import rewards

    transform = rewards.chain(rewards.term("distractor", lambda t, hp: 1000.0 * t.next_obs[:, 0]),
                              rewards.potential_shaping(lambda obs: -jnp.abs(obs[..., 2])))
    config = PPOConfig(num_envs=4, num_steps=16, total_steps=4 * 16 * 2, num_epochs=1, num_minibatches=2,
                       hidden_sizes=(8,), decouple_streams=True)
    ppo = make_ppo(config, transform=transform)
    assert ppo.episodic_heads == ("extrinsic", "distractor", "shaping") and ppo.network.num_values == 3
    hp = default_hparams(transform)
    state, metrics = jax.jit(ppo.train)(jax.random.PRNGKey(0), hp)
    assert np.isfinite(np.asarray(metrics["loss_total"])).all()
    # each stream's running return scale lives in the state: the 1000x distractor's is the largest
    assert state.stream_scales.returns.shape == (4, 3)
    scales = np.asarray(state.stream_scales.scale)
    assert scales[1] > 10 * max(scales[0], scales[2]) > 0
    plain = make_ppo(dataclasses.replace(config, decouple_streams=False), transform=transform)
    assert plain.init(jax.random.PRNGKey(0), hp).stream_scales is None


def _decoupled(transform, **overrides):
    config = PPOConfig(num_envs=4, num_steps=16, total_steps=4 * 16 * 2, num_epochs=2, num_minibatches=2,
                       hidden_sizes=(8,), decouple_streams=True)
    ppo = make_ppo(dataclasses.replace(config, **overrides), transform=transform)
    return ppo, default_hparams(ppo.transform)


def test_decoupled_training_ignores_a_streams_scale():
    """A stream x1000: its return scale is 1000x, its head predicts in that unit, so after
    two updates (rollouts, GAE, value loss, gradient clipping, Adam) the parameters match."""
    from jaxshape import rewards

    cost = rewards.term("cost", lambda t, hp: -hp["scale"] * (jnp.abs(t.next_obs[:, 0]) + 0.1 * t.action),
                        hparams={"scale": 1.0})
    ppo, hp = _decoupled(cost)
    hps = jax.tree.map(lambda x: jnp.stack([x, x]), hp)
    hps = hps.replace(reward={"scale": jnp.array([1.0, 1000.0])})
    states = jax.jit(jax.vmap(ppo.train, in_axes=(None, 0)))(jax.random.PRNGKey(3), hps)[0]
    base, scaled = (jax.tree.map(lambda x, i=i: x[i], states) for i in (0, 1))
    np.testing.assert_allclose(scaled.stream_scales.scale, base.stream_scales.scale * np.array([1.0, 1000.0]),
                               rtol=1e-5)
    for a, b in zip(jax.tree.leaves(base.params), jax.tree.leaves(scaled.params)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_streams_that_pay_zero_do_not_change_the_decoupled_advantages():
    """Three streams paying exactly 0, each with its own (untrained, noisy) head: the
    combined advantages equal those with the three coefficients set to 0, bitwise."""
    from jaxshape import rewards

    zeros = rewards.chain(*(rewards.term(f"zero{i}", lambda t, hp: jnp.zeros_like(t.reward)) for i in range(3)))
    ppo, hp = _decoupled(zeros, num_steps=32)
    state = ppo.init(jax.random.PRNGKey(0), hp)

    @jax.jit
    def advantages(hp):
        after, batch, streams = ppo._rollout(state, hp)
        after = ppo._scale_streams(after, hp, batch, streams)
        return ppo._advantages(after, hp, batch, streams), after.stream_scales.scale

    (with_zeros, targets), scale = advantages(hp)
    silenced = hp.replace(reward_coefs={**hp.reward_coefs, **{f"zero{i}": jnp.float32(0.0) for i in range(3)}})
    (without, _), _ = advantages(silenced)
    assert float(scale[0]) > 0.0 and np.all(np.asarray(scale[1:]) == 0.0)
    assert float(jnp.std(with_zeros)) > 0.1
    np.testing.assert_array_equal(with_zeros, without)
    assert np.isfinite(np.asarray(targets)).all()


def test_value_loss_is_clipped_around_the_rollout_values_unless_clip_value_is_off():
    """clip_value=True: 0.5·mean max((V − R)², (V_old + clip(V − V_old, ±ε) − R)²);
    clip_value=False: 0.5·mean (V − R)². Checked against the formula on a minibatch whose
    old values sit far from the network's, so the clipped term differs."""
    small = PPOConfig(num_envs=4, num_steps=8, total_steps=4 * 8, num_epochs=1, num_minibatches=1, hidden_sizes=(8,))
    hp = default_hparams(clip_eps=0.2)
    losses = {}
    for clip_value in (True, False):
        ppo = make_ppo(dataclasses.replace(small, clip_value=clip_value))
        state = ppo.init(jax.random.PRNGKey(0), hp)
        obs = jax.random.normal(jax.random.PRNGKey(1), (32, 4))
        policy, values = ppo.policy_value(state.params, state.obs_stats, obs)
        actions = jnp.zeros((32,), jnp.int32)
        old_values = values + jnp.linspace(-1.0, 1.0, 32).reshape(values.shape)
        targets = values + jnp.linspace(2.0, -2.0, 32).reshape(values.shape)
        minibatch = {"policy_input": obs, "raw_action": actions, "log_prob": ppo.head.log_prob(policy, actions),
                     "advantages": jnp.linspace(-1.0, 1.0, 32), "values": old_values, "targets": targets}
        _, info = ppo._loss(state.params, state.obs_stats, hp, minibatch)
        unclipped = (values - targets) ** 2
        clipped = (old_values + jnp.clip(values - old_values, -0.2, 0.2) - targets) ** 2
        expected = 0.5 * (jnp.maximum(unclipped, clipped) if clip_value else unclipped).mean(0).sum()
        np.testing.assert_allclose(info["loss_value"], expected, rtol=1e-6)
        losses[clip_value] = float(info["loss_value"])
    assert losses[True] > losses[False] * 1.01  # the minibatch does reach the clipped branch


def test_adam_eps_reaches_the_optimizer():
    """PPO's optimiser is global-norm clipping then Adam with the config's ε: one step on a
    tiny gradient equals optax's, and ε = 1e-8 and 1e-5 step differently."""
    grads = {"w": jnp.full((3,), 1e-6)}
    steps = {}
    for eps in (1e-5, 1e-8):
        ppo = make_ppo(PPOConfig(adam_eps=eps, anneal_lr=False))
        optimizer = ppo.optimizer(default_hparams(learning_rate=1e-3, max_grad_norm=0.5))
        updates, _ = optimizer.update(grads, optimizer.init(grads))
        reference, _ = optax.adam(1e-3, eps=eps).update(grads, optax.adam(1e-3, eps=eps).init(grads))
        np.testing.assert_allclose(updates["w"], reference["w"], rtol=1e-5)
        steps[eps] = float(updates["w"][0])
    assert abs(steps[1e-8]) > 10 * abs(steps[1e-5])


def test_update_phases_are_the_pieces_of_one_update():
    """`PPO.update_phases` (experiments/profile_ppo.py times them): the whole-update phase is
    `update`, the GAE phase the advantages `update` trains on, the shuffles are
    permutations of the batch, one per epoch, and the minibatch phase runs every step."""
    ppo = make_ppo(SMALL)
    hp = default_hparams()
    state = jax.jit(ppo.init)(jax.random.PRNGKey(0), hp)
    phases = {name: optimised_jit(fn)(*args) for name, (fn, args) in ppo.update_phases(state, hp).items()}
    whole, _ = optimised_jit(ppo.update)(state, hp)  # bitwise only where XLA optimises both alike
    for a, b in zip(jax.tree.leaves(phases["update (whole)"].params), jax.tree.leaves(whole.params)):
        np.testing.assert_array_equal(a, b)
    orders = np.asarray(phases["shuffles: permutations"])
    assert orders.shape == (SMALL.num_epochs, SMALL.batch_size)
    assert (np.sort(orders, axis=1) == np.arange(SMALL.batch_size)).all()
    advantages, targets = phases["GAE (V(s') included)"]
    assert advantages.shape[:2] == (SMALL.num_steps, SMALL.num_envs) and np.isfinite(advantages).all()
    params, _ = phases["minibatch steps: + clip + Adam"]
    assert jax.tree.structure(params) == jax.tree.structure(state.params)
    moved = [not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(state.params))]
    assert all(moved)  # Adam moved every leaf
    with pytest.raises(ConfigError, match="feed-forward"):
        make_ppo(PPOConfig(num_envs=4, num_steps=8, total_steps=32, num_minibatches=2, gru_size=8)).update_phases(state, hp)
