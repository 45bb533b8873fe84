"""Imitation from 1, 4 and 16 expert episodes: GAIL and AIRL (`rewards.adversarial_imitation`,
PPO on the discriminator's reward only) against behaviour cloning and the expert.

    python experiments/imitation.py [--env CartPole-v1] [--seeds 4] [--episodes 1,4,16]
                                    [--expert-steps N] [--total-steps N] [--methods bc,gail,airl]
                                    [--form positive|logit] [--grad-penalty L]

1. The expert: `jaxshape train` (PPO on the env's reward), then `jaxshape eval RUN
   --episodes 16 --save-transitions demos.npz` (greedy), both through the real CLI.
2. GAIL and AIRL from the first K of those episodes: PPO trained on the discriminator's
   reward alone (the env's reward is rewritten to 0 for the learner); `--seeds` seeds
   in one vmapped call per (method, K); the greedy policy plays 32 fresh episodes
   `--evals` times during training.
3. Behaviour cloning (BC): an MLP policy (64x64, ReLU) fitted to the same K episodes'
   (s, a) by maximum likelihood (cross entropy for discrete actions, squared error on
   the action for continuous ones), full batch, Adam 1e-3, 2000 steps, seeds vmapped;
   its greedy policy plays 32 fresh episodes.
4. References: the expert's greedy return over its 16 demo episodes, a uniform random policy.

Scores are the env's own return (never the imitation reward). Writes
experiments/results/<name>.json.
"""

from __future__ import annotations

import argparse
import pathlib
import tempfile
import time

import experiment_common as ec
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxshape import cli, rewards
from jaxshape.algos.ppo import PPOConfig, default_hparams, make_ppo
from jaxshape.demos import load_demos
from jaxshape.envs import make
from jaxshape.evaluation import episode_limit, evaluate

SETTINGS = {  # env -> (expert CLI flags, learner PPOConfig kwargs, learner lr)
    "CartPole-v1": (["--num-envs", "16", "--num-steps", "64", "--num-epochs", "4", "--num-minibatches", "4",
                     "--learning-rate", "1e-3"],
                    dict(num_envs=16, num_steps=64, num_epochs=4, num_minibatches=4, hidden_sizes=(64, 64)), 1e-3),
    "Pendulum-v1": (["--num-envs", "16", "--num-steps", "128", "--num-epochs", "10", "--num-minibatches", "8",
                     "--learning-rate", "1e-3", "--gamma", "0.95", "--gae-lambda", "0.9", "--ent-coef", "0",
                     "--normalize-obs"],
                    dict(num_envs=16, num_steps=128, num_epochs=10, num_minibatches=8, hidden_sizes=(64, 64),
                         normalize_obs=True), 1e-3),
}
EVAL_EPISODES = 32


class BCPolicy(nn.Module):
    out: int

    @nn.compact
    def __call__(self, x):
        for width in (64, 64):
            x = nn.relu(nn.Dense(width)(x))
        return nn.Dense(self.out)(x)


def behaviour_cloning(env, params, demos, seeds: int, steps: int = 2000) -> np.ndarray:
    """Greedy return per seed of BC policies fitted to `demos` (module docstring)."""
    space = env.action_space(params)
    discrete = hasattr(space, "n")
    obs = jnp.asarray(demos["obs"]).reshape(len(demos["obs"]), -1)
    mean, std = obs.mean(0), jnp.where(obs.std(0) > 1e-6, obs.std(0), 1.0)
    action = jnp.asarray(demos["action"])
    net = BCPolicy(int(space.n) if discrete else int(np.prod(space.shape)))
    low, high = (None, None) if discrete else (jnp.asarray(space.low), jnp.asarray(space.high))
    max_steps = episode_limit(env, params)

    def loss(p):
        out = net.apply(p, (obs - mean) / std)
        if discrete:
            return optax.softmax_cross_entropy_with_integer_labels(out, action).mean()
        return jnp.mean((out - action.reshape(out.shape)) ** 2)

    def one(key):
        init_key, eval_key = jax.random.split(key)
        p = net.init(init_key, obs[:1])
        opt = optax.adam(1e-3)

        def step(carry, _):
            p, s = carry
            g = jax.grad(loss)(p)
            u, s = opt.update(g, s, p)
            return (optax.apply_updates(p, u), s), None

        (p, _), _ = jax.lax.scan(step, (p, opt.init(p)), None, length=steps)

        def act(o, features, k):
            out = net.apply(p, (o.reshape(o.shape[0], -1) - mean) / std)
            return jnp.argmax(out, -1) if discrete else jnp.clip(out.reshape((o.shape[0],) + space.shape), low, high)

        return evaluate(env, params, act, eval_key, EVAL_EPISODES, max_steps)["eval_return"]

    keys = jax.vmap(jax.random.PRNGKey)(jnp.arange(seeds))
    return np.asarray(jax.jit(jax.vmap(one))(keys))


def random_return(env, params) -> float:
    space = env.action_space(params)

    def act(o, features, k):
        return jax.vmap(space.sample)(jax.random.split(k, o.shape[0]))

    return float(jax.jit(lambda k: evaluate(env, params, act, k, 64, episode_limit(env, params))["eval_return"])(
        jax.random.PRNGKey(0)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", default="CartPole-v1", choices=sorted(SETTINGS))
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--episodes", default="1,4,16")
    ap.add_argument("--methods", default="bc,gail,airl")
    ap.add_argument("--expert-steps", type=int, default=200_704)
    ap.add_argument("--total-steps", type=int, default=102_400)
    ap.add_argument("--evals", type=int, default=5)
    ap.add_argument("--form", default="positive", choices=["positive", "logit"], help="GAIL's reward form")
    ap.add_argument("--grad-penalty", type=float, default=0.0, help="the discriminator's gradient penalty")
    ap.add_argument("--name", default=None)
    args = ap.parse_args()
    name = args.name or f"imitation_{args.env.split('-')[0].lower()}"
    expert_flags, ppo_kwargs, lr = SETTINGS[args.env]
    counts = [int(k) for k in args.episodes.split(",")]
    methods = args.methods.split(",")
    env, params = make(args.env)
    num_actions = int(env.action_space(params).n) if hasattr(env.action_space(params), "n") else None
    wall0 = time.perf_counter()

    work = pathlib.Path(tempfile.mkdtemp(prefix="jaxshape-imitation-"))
    run, demos_path = work / "expert", work / "demos.npz"
    t0 = time.perf_counter()
    assert cli.main(["train", "--env", args.env, *expert_flags, "--total-steps", str(args.expert_steps),
                     "--no-progress", "--no-plot", "--out", str(run)]) == 0
    assert cli.main(["eval", str(run), "--episodes", str(max(counts)), "--save-transitions", str(demos_path)]) == 0
    expert_seconds = time.perf_counter() - t0
    demos = load_demos(demos_path)
    expert = ec.mean_std(demos["episode_return"])
    rand = random_return(env, params)
    print(f"[expert] greedy return over {max(counts)} demo episodes {ec.fmt(expert)} ({expert_seconds:.0f}s); "
          f"random policy {rand:.1f}", flush=True)

    summary: dict = {}
    for k in counts:
        subset = load_demos(demos_path, k)
        for method in methods:
            label = f"{method}/{k}"
            t0 = time.perf_counter()
            if method == "bc":
                final = behaviour_cloning(env, params, subset, args.seeds)
                extra = {}
            else:
                transform = rewards.adversarial_imitation(subset, method, num_actions=num_actions, form=args.form,
                                                          grad_penalty=args.grad_penalty)
                config = PPOConfig(env=args.env, total_steps=args.total_steps, **ppo_kwargs)
                ppo = make_ppo(config, env, params, transform)
                hp = default_hparams(transform, learning_rate=lr,
                                     **({"gamma": 0.95, "gae_lambda": 0.9, "ent_coef": 0.0}
                                        if args.env == "Pendulum-v1" else {}))
                out = ec.run_condition(ppo, hp, args.seeds, args.evals, EVAL_EPISODES)
                final = out["eval/return"][:, -1]
                extra = {"greedy_return_curve": out["eval/return"], "eval_steps": out["eval_steps"],
                         "final_disc_accuracy": ec.mean_std(out["train/transform/accuracy"][:, -5:].mean(1)),
                         "compile_seconds": out["compile_seconds"], "run_seconds": out["run_seconds"]}
            summary[label] = {"final_greedy_return": ec.mean_std(final), "transitions": int(len(subset["obs"])),
                              "seconds": time.perf_counter() - t0, **extra}
            acc = f", disc accuracy {ec.fmt(extra['final_disc_accuracy'], 2)}" if extra else ""
            print(f"[{label}] greedy return {ec.fmt(summary[label]['final_greedy_return'])}{acc} "
                  f"({summary[label]['seconds']:.0f}s)", flush=True)

    payload = {"experiment": name, "machine": ec.machine(), "wall_seconds": time.perf_counter() - wall0,
               "args": vars(args), "expert_greedy_return": expert, "random_return": rand,
               "expert_flags": expert_flags, "ppo": {**ppo_kwargs, "learning_rate": lr}, "summary": summary}
    print(ec.save_results(name, payload))


if __name__ == "__main__":
    main()
