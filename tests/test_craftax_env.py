"""Craftax through envs/craftax_adapter.py: the env contract (truncation apart from
termination, fresh resets, the true final observation), per-achievement reward terms
that sum to the reward, and PPO training on them (`--reward env_terms`) through the CLI."""

import json

import pytest

pytest.importorskip("craftax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from env_contract import assert_step_without_reset_keeps_the_end  # noqa: E402
from jaxshape import envs  # noqa: E402
from jaxshape.errors import ConfigError  # noqa: E402
from jaxshape.rewards.env_terms import term_names  # noqa: E402

NAME = "Craftax-Classic-Symbolic-v1"
N = 8  # every test steps this many envs, so the batched step compiles once


@pytest.fixture(scope="module")
def craftax():
    env, params = envs.make(NAME)
    reset = jax.jit(lambda keys, p: envs.reset_batch(env, p, keys))
    step = jax.jit(lambda keys, states, actions, p: envs.step_batch(env, p, keys, states, actions))
    return env, params, reset, step


_KEPT = {}


def step_without_reset(craftax):
    """The batched step without auto-reset, compiled once per module."""
    env = craftax[0]
    if env not in _KEPT:
        _KEPT[env] = jax.jit(lambda k, s, a, p: envs.step_batch(env, p, k, s, a, auto_reset=False))
    return _KEPT[env]


def keys_of(seed):
    return jax.random.split(jax.random.PRNGKey(seed), N)


def random_actions(seed):
    return jax.random.randint(jax.random.PRNGKey(seed), (N,), 0, 17)


def at_env(tree, i):
    return jax.tree.map(lambda x: x[i], tree)


def test_names_make_and_spaces(craftax):
    env, params, reset, step = craftax
    assert {NAME, "Craftax-Symbolic-v1"} <= set(envs.list_envs())
    assert env.name == NAME and params.max_timesteps == 10000
    from gymnax.environments import spaces

    action_space, obs_space = env.action_space(params), env.observation_space(params)
    assert isinstance(action_space, spaces.Discrete) and action_space.n == 17
    assert isinstance(obs_space, spaces.Box) and obs_space.shape == (1345,)

    obs, states = reset(keys_of(0), params)
    assert obs.shape == (N, *obs_space.shape) and obs.dtype == obs_space.dtype
    assert bool(jnp.all((obs >= obs_space.low) & (obs <= obs_space.high)))
    obs2, _, reward, terminated, truncated, info = step(keys_of(1), states, random_actions(2), params)
    assert obs2.shape == obs.shape and obs2.dtype == obs_space.dtype
    assert reward.shape == (N,) and reward.dtype == jnp.float32
    assert terminated.dtype == jnp.bool_ and truncated.dtype == jnp.bool_ and terminated.shape == (N,)
    assert info["final_observation"].shape == obs.shape
    assert info["achievements"].shape == (N, 22) and info["achievements"].dtype == jnp.bool_
    assert len(info["reward_terms"]) == 23
    assert {"collect_wood", "make_iron_sword", "health"} <= set(info["reward_terms"])
    assert all(v.shape == (N,) and v.dtype == jnp.float32 for v in info["reward_terms"].values())


def test_options_are_craftax_params_and_unknown_ones_are_refused():
    env, params = envs.make(NAME, max_timesteps=50)
    assert params.max_timesteps == 50 and env.default_params.max_timesteps == 50
    with pytest.raises(ConfigError, match="max_timesteps"):
        envs.make(NAME, max_timestep=50)


def test_no_names_without_the_package(monkeypatch):
    import sys

    from jaxshape.envs import craftax_adapter

    monkeypatch.setitem(sys.modules, "craftax", None)  # as if not installed: find_spec gives None
    assert craftax_adapter.names() == [] and NAME not in envs.list_envs()


def test_full_craftax_has_the_same_contract():
    env, params = envs.make("Craftax-Symbolic-v1")
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    obs, states = jax.eval_shape(lambda k: envs.reset_batch(env, params, k), keys)
    actions = jnp.zeros(2, jnp.int32)
    out = jax.eval_shape(lambda k, s, a: envs.step_batch(env, params, k, s, a), keys, states, actions)
    info = out[-1]
    assert obs.shape == (2, *env.observation_space(params).shape) and env.action_space(params).n == 43
    assert info["final_observation"].shape == obs.shape and out[3].dtype == jnp.bool_
    assert len(info["reward_terms"]) == info["achievements"].shape[1] + 1
    assert "defeat_necromancer" in info["reward_terms"]


def test_time_limit_is_truncation_with_a_fresh_reset(craftax):
    env, params, reset, step = craftax
    short = params.replace(max_timesteps=5)
    obs, states = reset(keys_of(3), short)
    noop = jnp.zeros((N,), jnp.int32)
    for t in range(5):
        before = states
        obs, states, reward, terminated, truncated, info = step(keys_of(10 + t), states, noop, short)
        assert not bool(terminated.any())
        assert bool(truncated.all()) if t == 4 else not bool(truncated.any())
    # the un-reset env: the same step (same key, same state) without the time limit
    true_obs, true_state, *_ = step(keys_of(14), before, noop, params)
    assert bool(jnp.all(true_state.timestep == 5))
    np.testing.assert_array_equal(info["final_observation"], true_obs)
    assert bool(jnp.all(jnp.any(obs != info["final_observation"], axis=-1)))  # every env moved on
    assert bool(jnp.all(states.timestep == 0))
    # the next obs is a fresh reset on this step's reset key (the adapter splits the step key)
    reset_keys = jax.vmap(lambda k: jax.random.split(k)[1])(keys_of(14))
    np.testing.assert_array_equal(obs, reset(reset_keys, short)[0])
    # evaluation's step leaves the ended episode as it ended: no world generated
    kept = step_without_reset(craftax)(keys_of(14), before, noop, short)
    assert assert_step_without_reset_keeps_the_end((obs, states, reward, terminated, truncated, info), kept).all()


def test_only_the_ended_envs_get_a_new_world_and_the_step_is_the_dense_one(craftax):
    """`step_batch` resets only the ended envs (envs.vector.sparse_reset, one at a time
    for 8 envs); here the result is bitwise `auto_reset` of every env's reset (a batch
    of 8 resets rounds as a batch of one; larger batches need not)."""
    env, params, reset, step = craftax
    short = params.replace(max_timesteps=5)
    _, states = reset(keys_of(5), short)
    states = states.replace(timestep=jnp.asarray([4, 0, 4, 1, 3, 4, 0, 2], states.timestep.dtype))
    noop = jnp.zeros((N,), jnp.int32)
    out = step(keys_of(20), states, noop, short)
    kept = step_without_reset(craftax)(keys_of(20), states, noop, short)
    done = np.asarray(out[3] | out[4])
    assert done.tolist() == [True, False, True, False, False, True, False, False]
    fresh = reset(jax.vmap(env.reset_key)(keys_of(20)), short)
    dense = jax.tree.map(lambda new, old: np.where(done.reshape((N,) + (1,) * (old.ndim - 1)), new, old),
                         fresh, kept[:2])
    for a, b in zip(jax.tree.leaves((dense, kept[2:])), jax.tree.leaves(out)):
        np.testing.assert_array_equal(a, b)


def test_death_is_termination(craftax):
    env, params, reset, step = craftax
    short = params.replace(max_timesteps=1)  # the death step is also the time limit: still a termination
    _, states = reset(keys_of(4), params)
    dying = states.replace(player_health=states.player_health.at[:2].set(0),
                           player_recover=states.player_recover.at[:2].set(0.0))
    for p, limit in ((params, False), (short, True)):
        obs, after, reward, terminated, truncated, info = step(keys_of(5), dying, jnp.zeros((N,), jnp.int32), p)
        np.testing.assert_array_equal(terminated, np.arange(N) < 2)
        np.testing.assert_array_equal(truncated, np.arange(N) >= 2 if limit else np.zeros(N, bool))
        assert bool(jnp.all(after.timestep[:2] == 0)) and bool(jnp.all(after.player_health[:2] == 9))
        if not limit:
            np.testing.assert_array_equal(after.timestep[2:], 1)


def test_resets_after_episode_ends_are_fresh(craftax):
    env, params, reset, step = craftax
    _, states = reset(keys_of(6), params)
    same = at_env(states, 0)
    states = jax.tree.map(lambda x: jnp.broadcast_to(x, (N, *x.shape)), same)  # N copies of one state
    dead = states.replace(player_health=jnp.zeros_like(states.player_health),
                          player_recover=jnp.zeros_like(states.player_recover))
    obs, after, _, terminated, _, info = step(keys_of(7), dead, jnp.zeros((N,), jnp.int32), params)
    assert bool(terminated.all())
    maps = np.asarray(after.map).reshape(N, -1)
    assert len({m.tobytes() for m in maps}) == N  # N different worlds, not N copies of a cached one
    assert not np.array_equal(maps[0], np.asarray(same.map).ravel())


def test_reward_terms_sum_to_the_reward(craftax):
    env, params, reset, step = craftax
    _, states = reset(keys_of(8), params)
    # half the envs face a tree and take DO: collect_wood unlocks on the first step
    from craftax.craftax_classic.constants import DIRECTIONS, Action, BlockType

    ahead = states.player_position + DIRECTIONS[states.player_direction]
    half = jnp.arange(N) < N // 2
    tree = jnp.where(half, BlockType.TREE.value, states.map[jnp.arange(N), ahead[:, 0], ahead[:, 1]])
    states = states.replace(map=states.map.at[jnp.arange(N), ahead[:, 0], ahead[:, 1]].set(tree),
                            player_health=states.player_health.at[-1].set(5),  # recovers health this step
                            player_recover=states.player_recover.at[-1].set(25.0))
    actions = jnp.where(half, Action.DO.value, Action.NOOP.value).astype(jnp.int32)
    unlocks = health_changes = 0
    for t in range(120):
        _, after, reward, _, _, info = step(keys_of(100 + t), states, actions, params)
        terms = info["reward_terms"]
        np.testing.assert_allclose(sum(terms.values()), reward, rtol=0, atol=1e-6)
        achieved = sum(v for k, v in terms.items() if k != "health")
        unlocks += int(jnp.sum(achieved > 0))
        health_changes += int(jnp.sum(terms["health"] != 0))
        if t == 0:
            np.testing.assert_array_equal(terms["collect_wood"], jnp.where(half, 1.0, 0.0))
            assert float(terms["health"][-1]) == pytest.approx(0.1)
            assert bool(jnp.all(info["achievements"][:, 0] == half))
        states, actions = after, random_actions(200 + t)
    assert unlocks > N // 2 and health_changes >= 1  # random play unlocked some more


def test_ppo_trains_on_craftax_terms_through_the_cli(tmp_path, capsys):
    from jaxshape import cli

    out = tmp_path / "run"
    argv = ["train", "--env", NAME, "--reward", "env_terms", "--total-steps", "2048", "--num-envs", "8",
            "--num-steps", "16", "--num-epochs", "1", "--num-minibatches", "2", "--hidden-sizes", "16,16",
            "--eval-episodes", "1", "--no-plot", "--no-progress", "--out", str(out)]
    assert cli.main(argv) == 0, capsys.readouterr().err
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert records and records[-1]["step"] == 2048
    # env_terms made every achievement and health term a stream of its own, logged per episode
    terms = term_names(*envs.make(NAME))
    assert len(terms) == 23 and "collect_wood" in terms and "health" in terms
    assert {f"episode_reward/{t}" for t in terms} <= set(records[-1]), sorted(records[-1])

    def numbers(value):
        if isinstance(value, dict):
            return [x for v in value.values() for x in numbers(v)]
        if isinstance(value, list):
            return [x for v in value for x in numbers(v)]
        return [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else []

    values = [x for r in records for x in numbers(r)]
    assert values and all(np.isfinite(values))
