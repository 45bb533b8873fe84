"""Peer baseline: Stable-Baselines3 PPO on gymnasium CartPole-v1 (sb3 venv).

    $PEERS_DIR/sb3/bin/python experiments/peers/sb3_ppo.py

Same hyper-parameters as rejax_ppo.py: 16 DummyVecEnv envs x 128 steps,
8 epochs x 8 minibatches (batch_size 256), separate 64x64 tanh MLPs for
policy and value, lr 2.5e-4, gamma 0.99, lambda 0.95, clip 0.2, ent 0.01,
vf 0.5, max_grad_norm 0.5 (SB3: global-norm clipping of the joint loss).

Timing: "compile_seconds" = construction of the vec env + PPO model (there
is no compilation; this is the setup cost); "run_seconds" = model.learn().
SB3 also rounds up to whole rollouts (num_timesteps is read back from the
model).  The final return is measured afterwards, untimed, with
evaluate_policy(deterministic=False) to match rejax's stochastic evaluator.
Prints one JSON line on stdout; progress goes to stderr.
"""

import argparse
import json
import os
import sys
import time
from importlib.metadata import version


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--total-steps", type=int, default=500_000)
    p.add_argument("--num-agents", type=int, default=1, choices=[1],
                   help="SB3 trains one agent per process")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-envs", type=int, default=16)
    p.add_argument("--num-steps", type=int, default=128)
    p.add_argument("--num-epochs", type=int, default=8)
    p.add_argument("--num-minibatches", type=int, default=8)
    p.add_argument("--lr", type=float, default=2.5e-4)
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="torch intra-op threads (default: all cores)")
    p.add_argument("--eval-episodes", type=int, default=128)
    args = p.parse_args()

    import torch
    from torch import nn

    torch.set_num_threads(args.threads)

    import gymnasium as gym
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import DummyVecEnv

    rollout = args.num_envs * args.num_steps
    assert rollout % args.num_minibatches == 0
    batch_size = rollout // args.num_minibatches

    t0 = time.perf_counter()
    env = make_vec_env("CartPole-v1", n_envs=args.num_envs, seed=args.seed,
                       vec_env_cls=DummyVecEnv)
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=args.num_steps,
        batch_size=batch_size,
        n_epochs=args.num_epochs,
        learning_rate=args.lr,
        gamma=0.99,
        gae_lambda=0.95,
        clip_range=0.2,
        ent_coef=0.01,
        vf_coef=0.5,
        max_grad_norm=0.5,
        policy_kwargs=dict(net_arch=dict(pi=[64, 64], vf=[64, 64]),
                           activation_fn=nn.Tanh),
        device="cpu",
        seed=args.seed,
        verbose=0,
    )
    setup_seconds = time.perf_counter() - t0
    log(f"[sb3-ppo] setup: {setup_seconds:.2f}s, threads={torch.get_num_threads()}")

    t0 = time.perf_counter()
    model.learn(total_timesteps=args.total_steps)
    run_seconds = time.perf_counter() - t0
    steps = int(model.num_timesteps)
    log(f"[sb3-ppo] learn: {run_seconds:.2f}s for {steps} steps")

    eval_env = make_vec_env("CartPole-v1", n_envs=16, seed=args.seed + 10_000,
                            vec_env_cls=DummyVecEnv)
    mean_ret, _ = evaluate_policy(model, eval_env, n_eval_episodes=args.eval_episodes,
                                  deterministic=False)

    print(json.dumps({
        "peer": "sb3",
        "algo": "ppo",
        "env": "CartPole-v1",
        "num_agents": 1,
        "total_steps_per_agent": steps,
        "compile_seconds": round(setup_seconds, 3),
        "run_seconds": round(run_seconds, 3),
        "steps_per_second": round(steps / run_seconds, 1),
        "final_return_mean": round(float(mean_ret), 2),
        "eval_episodes_per_agent": args.eval_episodes,
        "sb3_version": version("stable-baselines3"),
        "torch_version": torch.__version__,
        "gymnasium_version": gym.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": "cpu",
    }), flush=True)


if __name__ == "__main__":
    main()
