"""Adversarial imitation (`rewards.adversarial_imitation`, GAIL and AIRL) and expert
demos (`jaxshape.demos`, `jaxshape eval --save-transitions`)."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxshape import cli, rewards
from jaxshape.demos import episodes_from_rollout, load_demos, rollout_transitions
from jaxshape.envs import make
from jaxshape.rewards.imitation import Discriminator, discriminator_loss, gail_reward
from jaxshape.run.logs import read_metrics
from jaxshape.types import Transition

RNG = np.random.default_rng(0)


def synthetic_demos(n=64, obs_dim=4, discrete=2, shift=0.0, episode_len=16):
    obs = RNG.normal(shift, 1.0, (n, obs_dim)).astype(np.float32)
    action = RNG.integers(0, discrete, n).astype(np.int32) if discrete else RNG.normal(0, 1, (n, 1)).astype(np.float32)
    ends = (np.arange(n) % episode_len) == episode_len - 1
    return {"obs": obs, "action": action, "next_obs": obs + 0.1, "terminated": ends,
            "truncated": np.zeros(n, bool), "reward": np.ones(n, np.float32),
            "episode": (np.arange(n) // episode_len).astype(np.int32)}


def cartpole_heuristic(obs, key):
    """Push toward the side the pole leans to (θ + θ̇/2 > 0): an expert that keeps CartPole up."""
    del key
    return (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(jnp.int32)


@pytest.fixture(scope="module")
def cartpole_expert():
    env, params = make("CartPole-v1")
    steps = jax.jit(lambda k: rollout_transitions(env, params, cartpole_heuristic, k, 4, 500))(jax.random.PRNGKey(0))
    return episodes_from_rollout(steps, "CartPole-v1")


# ------------------------------------------------------------------ formulas
def test_gail_reward_forms_are_the_log_probabilities():
    logit = jnp.array([-3.0, -0.5, 0.0, 2.0])
    d = jax.nn.sigmoid(logit)
    np.testing.assert_allclose(gail_reward(logit, "positive"), -np.log(1 - d), rtol=1e-5)
    np.testing.assert_allclose(gail_reward(logit, "logit"), np.log(d) - np.log(1 - d), rtol=1e-5, atol=1e-6)


def test_discriminator_loss_and_gradient_match_a_hand_computation():
    """A linear D (no hidden layer): ℓ = w·x + b, so every quantity has a closed form,
    the gradient penalty included (∇ₓℓ = w everywhere: penalty (‖w‖ − 1)²)."""
    demos = synthetic_demos(n=32, obs_dim=3, discrete=2)
    disc = Discriminator(demos, "gail", num_actions=2, state_only=True, hidden_sizes=())
    params = disc.init(jax.random.PRNGKey(0))
    w = np.array([0.5, -1.0, 0.25, 2.0, -0.5], np.float32)  # 3 obs dims + 2 one-hot action dims
    b = np.float32(0.3)
    params = {"d": {"params": {"Dense_0": {"kernel": jnp.asarray(w[:, None]), "bias": jnp.asarray([b])}}}}
    x_e, x_p = np.asarray(disc.expert_x[:8]), np.asarray(disc.expert_x[8:16]) * -1.5
    c = np.ones(8, np.float32)
    eps = np.linspace(0.0, 1.0, 8).astype(np.float32)
    lam = 2.0

    (loss, metrics), grads = jax.value_and_grad(disc.loss, has_aux=True)(
        params, (jnp.asarray(x_p), jnp.asarray(c)), (jnp.asarray(x_e), jnp.asarray(c)), jnp.asarray(eps), 0.99, lam)

    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    l_e, l_p = x_e @ w + b, x_p @ w + b
    bce = np.mean(np.log1p(np.exp(-l_e))) + np.mean(np.log1p(np.exp(l_p)))
    norm = np.linalg.norm(w)
    np.testing.assert_allclose(metrics["loss"], bce, rtol=1e-5)
    np.testing.assert_allclose(metrics["grad_penalty"], (norm - 1) ** 2, rtol=1e-4)
    np.testing.assert_allclose(loss, bce + lam * (norm - 1) ** 2, rtol=1e-5)
    np.testing.assert_allclose(metrics["accuracy"], 0.5 * (np.mean(l_e > 0) + np.mean(l_p < 0)))
    np.testing.assert_allclose(metrics["expert_score"], np.mean(sig(l_e)), rtol=1e-5)
    # dL/dw = −mean(σ(−ℓ_E)·x_E) + mean(σ(ℓ_π)·x_π) + λ·2(‖w‖ − 1)·w/‖w‖
    grad_w = (-(sig(-l_e)[:, None] * x_e).mean(0) + (sig(l_p)[:, None] * x_p).mean(0)
              + lam * 2 * (norm - 1) * w / norm)
    grad_b = -sig(-l_e).mean() + sig(l_p).mean()
    np.testing.assert_allclose(grads["d"]["params"]["Dense_0"]["kernel"][:, 0], grad_w, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(grads["d"]["params"]["Dense_0"]["bias"][0], grad_b, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(discriminator_loss(jnp.asarray(l_e), jnp.asarray(l_p)), bce, rtol=1e-5)


# ------------------------------------------------------------------ AIRL shaping
def test_airl_shaped_reward_telescopes_through_termination_truncation_and_learning():
    """Σ_t γ^t (r_t − g(s_t)) = γ^T·h(s_T)·(1 − terminated) − h(s_0) per episode, with h
    learning between two steps of it: h(s) is the value cached when s was entered; a
    termination pays h = 0 at s_T, a truncation h(true s_T)."""
    demos = synthetic_demos(n=64, obs_dim=3)
    kwargs = dict(num_actions=2, hidden_sizes=(8,), lr=0.05, steps=3, minibatch=16)
    transform = rewards.airl(demos, **kwargs)
    disc = Discriminator(demos, "airl", 2, True, (8,))
    gamma, n, T = 0.9, 3, 6
    obs = jnp.asarray(RNG.normal(0, 1, (T + 1, n, 3)), jnp.float32)
    actions = jnp.asarray(RNG.integers(0, 2, (T, n)), jnp.int32)
    ends = np.zeros((T, n), bool)
    terminated, truncated = ends.copy(), ends.copy()
    terminated[-1, 0] = True  # env 0 terminates at its last step, env 1 truncates, env 2 runs on
    truncated[-1, 1] = True

    def step(t):
        return Transition(obs=obs[t], action=actions[t], reward=jnp.ones(n), terminated=jnp.asarray(terminated[t]),
                          truncated=jnp.asarray(truncated[t]), next_obs=obs[t + 1], gamma=gamma)

    state = transform.init(jax.random.PRNGKey(1), step(0))
    apply, update = jax.jit(transform.apply), jax.jit(transform.update)
    h0 = disc.potential(state["params"], disc.inputs.observation(obs[0]))
    shaped = np.zeros(n)
    for t in range(T):
        if t == 3:  # the discriminator learns mid-episode
            batch = jax.tree.map(lambda x: jnp.stack([x, x]), step(t))
            batch = batch.replace(gamma=gamma)
            new, _ = update(state, batch, jax.random.PRNGKey(2), transform.default_hparams)
            assert not np.allclose(new["params"]["h"]["params"]["Dense_0"]["kernel"],
                                   state["params"]["h"]["params"]["Dense_0"]["kernel"])
            state = new
        streams, state_next = apply(state, step(t))
        g = disc.g(state["params"], disc.inputs.observation(obs[t]), None)
        shaped += gamma ** t * np.asarray(streams["airl"] - g)
        assert np.all(streams["extrinsic"] == 0)  # the env's reward is not the learner's
        state = state_next
    h_last = np.asarray(disc.potential(state["params"], disc.inputs.observation(obs[T])))
    expected = gamma ** T * h_last * np.array([0.0, 1.0, 1.0]) - np.asarray(h0)
    np.testing.assert_allclose(shaped, expected, rtol=1e-5, atol=1e-5)
    assert abs(h_last[0]) > 1e-3  # the terminal's zero is the rule, not a coincidence
    # after the episode ended, h(s) of the new episode's first state is computed afresh
    assert list(np.asarray(state["valid"])) == [False, False, True]


# ------------------------------------------------------------------ learning
@pytest.mark.parametrize("kind", ["gail", "airl"])
def test_discriminator_separates_two_known_distributions(kind):
    """Expert observations ~ N(+1, 1), the policy's ~ N(−1, 1): after training, D tells
    them apart and pays the expert's transitions more."""
    expert = synthetic_demos(n=512, obs_dim=4, shift=1.0)
    transform = rewards.adversarial_imitation(expert, kind, num_actions=2, hidden_sizes=(16,), lr=1e-2, steps=25,
                                              minibatch=128)
    policy = synthetic_demos(n=512, obs_dim=4, shift=-1.0)

    def batch(d):  # [T=8, N=64]
        d = {k: jnp.asarray(v).reshape((8, 64) + v.shape[1:]) for k, v in d.items()}
        return Transition(obs=d["obs"], action=d["action"], reward=d["reward"], terminated=d["terminated"],
                          truncated=d["truncated"], next_obs=d["next_obs"], gamma=0.99)

    first = lambda tr: jax.tree.map(lambda x: x[0], tr.replace(gamma=None)).replace(gamma=0.99)  # noqa: E731
    state = transform.init(jax.random.PRNGKey(0), first(batch(policy)))
    update = jax.jit(transform.update)
    accuracies = []
    for i in range(4):
        state, metrics = update(state, batch(policy), jax.random.PRNGKey(i), transform.default_hparams)
        accuracies.append(float(metrics["accuracy"]))
    assert accuracies[-1] > 0.95 and accuracies[-1] > accuracies[0]
    assert metrics["expert_score"] > 0.9 and metrics["policy_score"] < 0.1
    pay = {}
    for name, d in (("expert", expert), ("policy", policy)):
        tr = first(batch(d))
        fresh = {**state, **({"valid": jnp.zeros(64, bool)} if kind == "airl" else {})}
        pay[name] = float(transform.apply(fresh, tr)[0][kind].mean())
    assert pay["expert"] > pay["policy"] + 1.0


def test_gail_learns_cartpole_from_four_expert_episodes(cartpole_expert):
    """PPO on GAIL's reward alone (no env reward) from 4 episodes of a balancing heuristic:
    the greedy return is far above a random policy's (≈ 22)."""
    from jaxshape.algos.ppo import PPOConfig, default_hparams, make_ppo

    transform = rewards.gail(cartpole_expert, num_actions=2, hidden_sizes=(32,))
    config = PPOConfig(env="CartPole-v1", num_envs=16, num_steps=64, total_steps=16 * 64 * 40, num_epochs=4,
                       num_minibatches=4, hidden_sizes=(32,))
    ppo = make_ppo(config, transform=transform)
    hp = default_hparams(transform, learning_rate=1e-3)

    @jax.jit
    def run(key):
        state, metrics = ppo.train(key, hp)
        return ppo.evaluate(state, hp, jax.random.PRNGKey(9), 16)["eval_return"], metrics

    ret, metrics = run(jax.random.PRNGKey(0))
    assert float(ret) > 150.0, float(ret)
    assert float(metrics["reward/extrinsic"].max()) == 0.0  # the learner saw the discriminator's reward only
    assert 0.0 < float(metrics["transform/accuracy"][-1]) < 1.0


# ------------------------------------------------------------------ the CLI round trip
TINY = ["--num-envs", "4", "--num-steps", "16", "--total-steps", "256", "--num-epochs", "1", "--num-minibatches",
        "2", "--hidden-sizes", "8", "--eval-episodes", "2", "--no-progress", "--no-plot"]


def test_gail_trains_from_a_file_and_eval_save_transitions_writes_one_it_reads(tmp_path, capsys, cartpole_expert):
    """The real CLI: `train --reward "gail(demos=FILE, episodes=2)"` on the heuristic's
    episodes, then `eval --save-transitions` of that run writes demos that `gail` reads."""
    from jaxshape.demos import save_demos
    from jaxshape.rewards.spec import parse_reward_spec

    expert_path, run, demos_path = tmp_path / "expert.npz", tmp_path / "gail", tmp_path / "demos.npz"
    save_demos(expert_path, cartpole_expert)
    assert cli.main(["train", *TINY, "--env", "CartPole-v1", "--reward", f"gail(demos={expert_path}, episodes=2)",
                     "--out", str(run)]) == 0, capsys.readouterr().err
    records = read_metrics(run)
    assert all(r["reward/extrinsic"] == 0.0 for r in records)  # the learner's reward is the discriminator's
    assert all(0.0 <= r["transform/accuracy"] <= 1.0 and "transform/expert_score" in r for r in records)
    assert records[-1]["episode_return"] > 0  # the env's return is still logged
    assert json.loads((run / "config.json").read_text())["reward"].startswith("gail(")

    assert cli.main(["eval", str(run), "--episodes", "3", "--save-transitions", str(demos_path), "--sample"]) == 0
    assert "wrote" in capsys.readouterr().out
    demos = load_demos(demos_path)
    m = len(demos["obs"])
    assert int(demos["episodes"]) == 3 and str(demos["policy"]) == "sampled" and str(demos["env"]) == "CartPole-v1"
    assert demos["obs"].shape == (m, 4) and demos["action"].dtype == np.int32 and demos["action"].shape == (m,)
    np.testing.assert_array_equal(np.bincount(demos["episode"]), demos["episode_length"])
    np.testing.assert_allclose(demos["episode_return"], np.bincount(demos["episode"], demos["reward"]))
    ends = demos["terminated"] | demos["truncated"]
    last = np.cumsum(demos["episode_length"]) - 1
    assert ends.sum() == 3 and ends[last].all()  # one end per episode, at its last step
    inner = np.setdiff1d(np.arange(m - 1), last)
    np.testing.assert_array_equal(demos["next_obs"][inner], demos["obs"][inner + 1])  # s′ is the next step's s
    assert len(load_demos(demos_path, episodes=2)["obs"]) == demos["episode_length"][:2].sum()
    assert parse_reward_spec(f"airl(demos={demos_path})", "CartPole-v1").name == "airl"

    # bad input: one line naming the fix, exit 2, before anything compiles
    bad = [
        (["train", "--env", "Pendulum-v1", "--reward", f"airl(demos={demos_path})"], "observes"),
        (["train", "--env", "CartPole-v1", "--reward", "gail"], "demos=FILE"),
        (["train", "--env", "CartPole-v1", "--reward", f"gail(demos={tmp_path}/none.npz)"], "does not exist"),
        (["train", "--env", "CartPole-v1", "--reward", f"gail(demos={demos_path}, episodes=9)"], "holds 3"),
        (["eval", str(run), "--save-transitions", str(tmp_path / "no" / "d.npz")], "does not exist"),
        (["eval", str(run), "--save-transitions", str(tmp_path / "d.txt")], ".npz"),
    ]
    for args, words in bad:
        out = ["--out", str(tmp_path / "x"), *TINY] if args[0] == "train" else []
        assert cli.main([*args, *out]) == 2
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
