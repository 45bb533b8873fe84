"""MuJoCo Playground under jaxshape's env contract (envs/playground_adapter.py), and its
reward terms as streams (jaxshape/rewards/env_terms.py).

Real envs: the dm_control-suite ones, whose assets ship with the package (CartpoleBalance,
FishSwim). The robot envs need MuJoCo Menagerie from GitHub, so here they only show
their one-line error; the locomotion reward convention (scaled terms · dt, clipped) and
termination, which no suite env does short of NaNs, are exercised on a small
Playground-style env written below."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("mujoco_playground")

from mujoco_playground import State  # noqa: E402
from ml_collections import config_dict  # noqa: E402

from env_contract import assert_step_without_reset_keeps_the_end  # noqa: E402
from jaxshape import cli, rewards  # noqa: E402
from jaxshape.envs import make, reset_batch, step_batch, step_transition  # noqa: E402
from jaxshape.envs import playground_adapter  # noqa: E402
from jaxshape.envs.playground_adapter import PlaygroundEnv  # noqa: E402
from jaxshape.errors import ConfigError  # noqa: E402
from jaxshape.run.logs import read_metrics  # noqa: E402

N = 3
LENGTH = 3


class Rollout:
    """One env's jitted batched reset and step, compiled once per module."""

    def __init__(self, env, params):
        self.env, self.params = env, params
        self.reset = jax.jit(lambda keys: reset_batch(env, params, keys))
        self.step = jax.jit(lambda keys, states, actions: step_batch(env, params, keys, states, actions))
        self.step_without_reset = jax.jit(
            lambda keys, states, actions: step_batch(env, params, keys, states, actions, auto_reset=False))

    def run(self, steps, seed=0, actions=None):
        key = jax.random.PRNGKey(seed)
        obs, states = self.reset(jax.random.split(key, N))
        zeros = jnp.zeros((N,) + self.env.action_space(self.params).shape)
        out = [(obs, None)]
        for t in range(steps):
            key, sub = jax.random.split(key)
            action = zeros if actions is None else actions[t]
            obs, states, reward, terminated, truncated, info = self.step(jax.random.split(sub, N), states, action)
            out.append((obs, (reward, terminated, truncated, info, action)))
        return out


@pytest.fixture(scope="module")
def cartpole():
    env, params = make("playground/CartpoleBalance", episode_length=LENGTH)
    return Rollout(env, params)


@pytest.fixture(scope="module")
def fish():
    env, params = make("playground/FishSwim", episode_length=LENGTH)
    return Rollout(env, params)


def test_names_list_every_registered_env_without_building():
    from mujoco_playground import registry

    names = playground_adapter.names()
    assert names == [f"playground/{n}" for n in registry.ALL_ENVS]
    assert {"playground/CartpoleBalance", "playground/Go1JoystickFlatTerrain"} <= set(names)


def test_robot_envs_without_menagerie_fail_in_one_line_naming_the_fix():
    from mujoco_playground._src import mjx_env

    if mjx_env.MENAGERIE_PATH.exists():
        pytest.skip("MuJoCo Menagerie is installed here")
    with pytest.raises(ConfigError) as error:
        make("playground/Go1JoystickFlatTerrain")
    message = str(error.value)
    assert "\n" not in message and "Menagerie" in message and "git clone" in message
    assert mjx_env.MENAGERIE_COMMIT_SHA in message
    # its term names come from its config, without building it
    assert {"tracking_lin_vel", "feet_air_time"} <= set(
        playground_adapter.reward_term_names("playground/Go1JoystickFlatTerrain"))


def test_shapes_spaces_and_name(cartpole):
    env, params = cartpole.env, cartpole.params
    assert env.name == "playground/CartpoleBalance" and env.episode_length == LENGTH
    assert env.action_space(params).shape == (1,) and env.observation_space(params).shape == (5,)
    (obs0, _), (obs1, (reward, terminated, truncated, info, _)) = cartpole.run(1)
    assert obs0.shape == obs1.shape == info["final_observation"].shape == (N, 5) and obs1.dtype == jnp.float32
    assert reward.shape == terminated.shape == truncated.shape == (N,) and reward.dtype == jnp.float32
    assert np.isfinite(np.asarray(reward)).all() and "reward_terms" not in info  # a product of factors, not a sum


def test_truncation_at_the_episode_length_with_a_fresh_reset(cartpole):
    steps = cartpole.run(2 * LENGTH)
    for t, (obs, (reward, terminated, truncated, info, _)) in enumerate(steps[1:], start=1):
        assert not np.asarray(terminated).any()
        assert np.asarray(truncated).all() == (t % LENGTH == 0) and np.asarray(truncated).any() == (t % LENGTH == 0)
        if t % LENGTH:
            np.testing.assert_array_equal(obs, info["final_observation"])
        else:  # the next episode starts from a fresh random state, not the one the episode ended in
            assert not np.allclose(obs, info["final_observation"])
    first, second = steps[0][0], steps[LENGTH][0]
    assert not np.allclose(first, second)  # a fresh reset, not the cached first state
    assert len({tuple(np.round(np.asarray(o), 6)) for o in second}) == N  # and different in every env


def test_a_step_without_reset_keeps_the_episode_end(cartpole):
    _, states = cartpole.reset(jax.random.split(jax.random.PRNGKey(5), N))
    actions = jnp.zeros((N,) + cartpole.env.action_space(cartpole.params).shape)
    for t in range(LENGTH):  # truncated at the last step
        keys = jax.random.split(jax.random.PRNGKey(t), N)
        step = cartpole.step(keys, states, actions)
        done = assert_step_without_reset_keeps_the_end(step, cartpole.step_without_reset(keys, states, actions))
        states = step[1]
    assert done.all()


def test_fresh_resets_differ_across_envs(cartpole):
    obs, _ = cartpole.reset(jax.random.split(jax.random.PRNGKey(3), N))
    assert len({tuple(np.round(np.asarray(o), 6)) for o in obs}) == N


def test_fish_terms_sum_to_its_reward_and_env_terms_keeps_the_identity(fish):
    env = fish.env
    assert playground_adapter.reward_term_names(env) == ("in_target", "upright")
    actions = jax.random.uniform(jax.random.PRNGKey(1), (LENGTH + 1, N, 5), minval=-1, maxval=1)
    steps = fish.run(LENGTH + 1, actions=actions)
    transform = rewards.env_terms(env=env)
    ones = {s.name: 1.0 for s in transform.all_streams}
    for (obs, _), (_, (reward, terminated, truncated, info, action)) in zip(steps, steps[1:]):
        terms = info["reward_terms"]
        assert sorted(terms) == ["in_target", "upright"] and all(v.dtype == jnp.float32 for v in terms.values())
        np.testing.assert_allclose(terms["in_target"] + terms["upright"], reward, rtol=1e-6, atol=1e-7)
        transition = step_transition(obs, action, reward, terminated, truncated, info, 0.99)
        streams, _ = transform.apply((), transition)
        np.testing.assert_allclose(rewards.weighted_sum(streams, ones), reward, rtol=1e-6, atol=1e-7)
        bumped = rewards.weighted_sum(streams, {**ones, "upright": 1.5})
        np.testing.assert_allclose(bumped - reward, 0.5 * terms["upright"], rtol=1e-5, atol=1e-7)


class Stepper:
    """A Playground-style env (the locomotion convention, no MJX): dict observations,
    terms scaled by `reward_config.scales` in `metrics["reward/<term>"]`, reward =
    clip(Σ terms · dt, 0, ∞); it falls (done) after `fall_at` steps."""

    dt = 0.02
    action_size = 2

    def __init__(self, fall_at):
        self.fall_at = fall_at
        self._config = config_dict.create(episode_length=LENGTH, reward_config=config_dict.create(
            scales=config_dict.create(forward=2.0, torque=-1.0)))

    def _state(self, x, t, reward, done, metrics):
        obs = {"state": jnp.stack([x, t]), "privileged_state": jnp.stack([x, t, -x])}
        return State(data={"x": x}, obs=obs, reward=reward, done=done, metrics=metrics, info={"t": t})

    def reset(self, rng):
        x = jax.random.uniform(rng)
        zero = jnp.zeros(())
        return self._state(x, zero, zero, zero, {"reward/forward": zero, "reward/torque": zero})

    def step(self, state, action):
        x, t = state.data["x"] + action[0], state.info["t"] + 1
        scales = self._config.reward_config.scales
        terms = {"forward": scales.forward * action[0], "torque": scales.torque * jnp.sum(action ** 2)}
        reward = jnp.clip((terms["forward"] + terms["torque"]) * self.dt, 0.0, 1e4)
        done = (t >= self.fall_at).astype(jnp.float32)
        return self._state(x, t, reward, done, {f"reward/{k}": v for k, v in terms.items()})


@pytest.mark.parametrize("fall_at", [2, LENGTH])
def test_termination_precedes_truncation_with_the_policy_observation(fall_at):
    env = PlaygroundEnv("Stepper", env=Stepper(fall_at), reward_terms="scaled_times_dt")
    assert env.episode_length == LENGTH and env.observation_space().shape == (2,)
    rollout = Rollout(env, env.default_params)
    steps = rollout.run(fall_at)
    obs, (_, terminated, truncated, info, _) = steps[-1]
    assert np.asarray(terminated).all() and not np.asarray(truncated).any()  # at LENGTH: both, so terminated
    np.testing.assert_allclose(info["final_observation"][:, 1], fall_at)  # obs["state"] = [x, t]
    np.testing.assert_allclose(obs[:, 1], 0.0)  # a new episode


def test_scaled_terms_enter_with_dt_and_the_clip_is_the_residual():
    env = PlaygroundEnv("Stepper", env=Stepper(fall_at=99), reward_terms="scaled_times_dt")
    assert env.reward_term_names == ("forward", "torque")
    actions = jnp.array([[[0.5, 0.0]] * N, [[0.1, 1.0]] * N])  # the second step's sum is negative: clipped to 0
    steps = Rollout(env, env.default_params).run(2, actions=actions)
    transform = rewards.env_terms(env=env)
    for (obs, _), (_, (reward, terminated, truncated, info, action)) in zip(steps, steps[1:]):
        terms = info["reward_terms"]
        np.testing.assert_allclose(terms["forward"], 2.0 * action[:, 0] * 0.02, rtol=1e-6)
        streams, _ = transform.apply((), step_transition(obs, action, reward, terminated, truncated, info, 0.99))
        total = rewards.weighted_sum(streams, {"extrinsic": 1.0, "forward": 1.0, "torque": 1.0})
        np.testing.assert_allclose(total, reward, atol=1e-7)
    np.testing.assert_allclose(steps[1][1][0], 0.5 * 2.0 * 0.02 - 0.25 * 0.02, rtol=1e-6)
    np.testing.assert_allclose(steps[2][1][0], 0.0)
    np.testing.assert_allclose(steps[2][1][3]["reward_terms"]["torque"], -1.01 * 0.02, rtol=1e-6)


def test_ppo_trains_through_the_cli(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--env", "playground/CartpoleBalance", "--num-envs", "2", "--num-steps", "4", "--total-steps",
            "16", "--num-epochs", "1", "--num-minibatches", "1", "--hidden-sizes", "8", "--chunk-updates", "2",
            "--eval-every", "0", "--eval-episodes", "1", "--no-progress", "--no-plot", "--out", str(run)]
    assert cli.main(args) == 0, capsys.readouterr().err
    records = read_metrics(run)
    assert [r["step"] for r in records] == [8, 16]
    numbers = [v for r in records for v in r.values() if isinstance(v, float)]
    assert numbers and np.isfinite(numbers).all()
