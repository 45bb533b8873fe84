"""Meta-gradient reward learning (algos/meta_reward.py): the unrolled gradient equals finite
differences of the task objective through the real PPO update; the implicit (BARFI)
gradient and its Neumann series are exact on a quadratic problem; φ is state."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxshape import cli, pytree, rewards
from jaxshape.algos import meta_reward
from jaxshape.algos.ppo import PPOConfig, default_hparams, make_ppo
from jaxshape.errors import ConfigError
from jaxshape.run.logs import read_metrics
from resumed_runs import resumed_from_earlier_checkpoint

UPRIGHT = rewards.term("upright", lambda t, hp: 1.0 - jnp.abs(t.next_obs[:, 2]) / 0.21, coef=0.5)


def tiny(**overrides):
    settings = dict(num_envs=4, num_steps=16, total_steps=4 * 16 * 4, num_epochs=1, num_minibatches=2,
                    hidden_sizes=(8,), meta_reward=True, meta_unroll=2)
    return PPOConfig(**{**settings, **overrides})


def test_unrolled_meta_gradient_equals_finite_differences_through_the_real_update():
    """With one epoch and K = every minibatch step, the replay is the whole learn phase: dJ/dφ
    through it must equal central differences of J(θ_n(φ)) where θ_n(φ) comes from the real
    `update` run at φ ± h (meta_lr = 0 keeps φ fixed), J on one fixed fresh batch."""
    ppo = make_ppo(tiny(), transform=UPRIGHT)
    hp = default_hparams(UPRIGHT, meta_lr=0.0, learning_rate=0.05, max_grad_norm=100.0)
    coefs = {"extrinsic": jnp.float32(1.0), "upright": jnp.float32(0.5)}
    h = 1e-2
    perturbed = [{**coefs, name: coefs[name] + sign * h} for name in coefs for sign in (1, -1)]
    with_coefs = lambda s, c: s.replace(meta=s.meta.replace(coefs=c))  # noqa: E731

    @jax.jit  # one program: a compile per piece would dominate the test's time
    def gradient_and_objectives(key):
        previous, _ = ppo.update(ppo.init(key, hp), hp)  # Adam has a history; a replay exists
        current, _ = ppo.update(with_coefs(previous, coefs), hp)
        _, fresh, _ = ppo._rollout(current, hp)
        task_advantages = ppo.task_advantages(current, hp, fresh)[0]

        def objective(c):
            after, _ = ppo.update(with_coefs(previous, c), hp)
            return ppo.task_objective(after.params, current.obs_stats, fresh, task_advantages)

        return ppo.meta_objective_gradient(current, hp, fresh), jax.vmap(objective)(pytree.stack(perturbed))

    gradient, objectives = gradient_and_objectives(jax.random.PRNGKey(3))
    for i, name in enumerate(coefs):
        finite = (objectives[2 * i] - objectives[2 * i + 1]) / (2 * h)
        assert abs(float(gradient[name])) > 1e-6, "the task objective must depend on the coefficient"
        np.testing.assert_allclose(float(gradient[name]), float(finite), rtol=0.05, atol=1e-7)


def test_neumann_series_and_implicit_gradient_are_exact_on_a_quadratic():
    """L(θ, φ) = ½θᵀAθ − θᵀBφ has θ*(φ) = A⁻¹Bφ, so for J = cᵀθ: dJ/dφ = Bᵀ A⁻¹ c."""
    rng = np.random.default_rng(0)
    m = rng.normal(size=(4, 4))
    a = jnp.asarray(m @ m.T / 4 + np.eye(4), jnp.float32)
    b = jnp.asarray(rng.normal(size=(4, 2)), jnp.float32)
    c = jnp.asarray(rng.normal(size=4), jnp.float32)
    alpha = 1.0 / float(jnp.linalg.eigvalsh(a).max())
    hvp = lambda v: a @ v  # noqa: E731
    solved = meta_reward.neumann_inverse_hvp(hvp, c, alpha, terms=400)
    np.testing.assert_allclose(solved, jnp.linalg.solve(a, c), rtol=1e-4)

    def inner_grad(theta, phi):
        return jax.grad(lambda t: 0.5 * t @ a @ t - t @ b @ jnp.stack([phi["u"], phi["v"]]))(theta)

    phi = {"u": jnp.float32(0.3), "v": jnp.float32(-1.0)}
    theta_star = jnp.linalg.solve(a, b @ jnp.stack([phi["u"], phi["v"]]))
    got = meta_reward.implicit_gradient(inner_grad, theta_star, phi, c, alpha, terms=400)
    want = b.T @ jnp.linalg.solve(a, c)
    np.testing.assert_allclose([got["u"], got["v"]], want, rtol=1e-4)


def test_the_implicit_variant_learns_coefficients_in_the_state():
    """φ moves from the run's coefficients, is reported per update, lives in the state."""
    ppo = make_ppo(tiny(meta_gradient="implicit", meta_unroll=2), transform=UPRIGHT)
    state, metrics = jax.jit(ppo.train)(jax.random.PRNGKey(0), default_hparams(UPRIGHT, meta_lr=0.05))
    trace = np.asarray(metrics["meta/upright"])
    assert trace[0] == pytest.approx(0.5)  # no replay before the first update: φ unchanged
    assert np.all(np.abs(np.diff(trace[1:])) > 0)  # Adam moves φ every later update
    assert float(state.meta.coefs["upright"]) == pytest.approx(trace[-1])
    norms = np.asarray(metrics["meta/grad_norm"])
    assert norms[0] == 0.0 and np.all(norms[1:] > 0)


def test_cli_meta_reward_logs_plots_and_resumes_bitwise(tmp_path, capsys):
    """`jaxshape train --meta-reward`: φ per member in metrics.jsonl, a panel per coefficient,
    and a run resumed from an earlier checkpoint ends with the same φ, Adam state and replay."""
    run = tmp_path / "run"
    args = ["train", "--env", "CartPole-v1", "--reward", "shaping(potential=pole_upright)", "--meta-reward",
            "--meta-lr", "0.05", "--meta-unroll", "2", "--num-seeds", "2", "--hidden-sizes", "8", "--num-envs", "4",
            "--num-steps", "8", "--total-steps", str(4 * 8 * 4), "--num-epochs", "1", "--num-minibatches", "2",
            "--chunk-updates", "2", "--eval-episodes", "0", "--no-progress", "--checkpoint-seconds", "0",
            "--out", str(run)]
    assert cli.main(args) == 0, capsys.readouterr().err
    records = read_metrics(run)
    assert [len(r["meta/shaping_per_seed"]) for r in records] == [2] * 4
    assert records[0]["meta/shaping"] == pytest.approx(1.0) and records[-1]["meta/shaping"] != pytest.approx(1.0)
    assert json.loads((run / "config.json").read_text())["config"]["meta_reward"] is True
    assert (run / "learning_curves.png").stat().st_size > 0
    resumed, original = resumed_from_earlier_checkpoint(run, tmp_path, 4, capsys)
    jax.tree.map(np.testing.assert_array_equal, resumed.meta, original.meta)


def test_meta_settings_are_checked_before_compiling():
    with pytest.raises(ConfigError, match="meta_unroll"):
        make_ppo(tiny(meta_unroll=3))
    with pytest.raises(ConfigError, match="gru-size"):
        make_ppo(tiny(gru_size=4, num_envs=4))
    with pytest.raises(ConfigError, match="meta_gradient"):
        make_ppo(tiny(meta_gradient="exact"))
