"""Peer baseline: rejax PPO on gymnax CartPole-v1 (run with the rejax venv).

    $PEERS_DIR/rejax/bin/python experiments/peers/rejax_ppo.py --num-agents 1
    $PEERS_DIR/rejax/bin/python experiments/peers/rejax_ppo.py --num-agents 64

Prints one JSON line on stdout; progress goes to stderr.  See _rejax_common.py
for how compile/run time are measured and how in-training eval is disabled.

rejax PPO config fields used (rejax 0.1.3, rejax/algos/ppo.py + mixins.py):
  num_envs, num_steps (rollout length), num_epochs, num_minibatches,
  learning_rate, gamma, gae_lambda, clip_eps, ent_coef, vf_coef,
  max_grad_norm, total_timesteps, eval_freq, skip_initial_evaluation,
  normalize_observations / normalize_rewards (off),
  agent_kwargs={"activation": <flax.linen name>, "hidden_layer_sizes": (...)}.
Differences from a "textbook"/SB3 PPO to keep in mind when comparing:
  * actor and critic are separate networks with *separate* Adam optimizers
    (the critic loss is vf_coef * clipped value loss, optimised on its own);
  * ``max_grad_norm`` is applied as ``optax.clip`` = element-wise clipping of
    gradients to [-0.5, 0.5], not global-norm clipping;
  * advantages are normalised per minibatch, value loss is clipped with clip_eps;
  * the learning rate is constant (no annealing), as in SB3's default.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _rejax_common import add_common_args, disable_training_eval, log, run_benchmark  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(p, total_steps_default=500_000)
    p.add_argument("--num-envs", type=int, default=16)
    p.add_argument("--num-steps", type=int, default=128)
    p.add_argument("--num-epochs", type=int, default=8)
    p.add_argument("--num-minibatches", type=int, default=8)
    p.add_argument("--lr", type=float, default=2.5e-4)
    p.add_argument("--hidden", type=str, default="64,64")
    p.add_argument("--activation", type=str, default="tanh")
    args = p.parse_args()

    import rejax

    hidden = tuple(int(h) for h in args.hidden.split(","))
    config = dict(
        env="CartPole-v1",
        num_envs=args.num_envs,
        num_steps=args.num_steps,
        num_epochs=args.num_epochs,
        num_minibatches=args.num_minibatches,
        learning_rate=args.lr,
        gamma=0.99,
        gae_lambda=0.95,
        clip_eps=0.2,
        ent_coef=0.01,
        vf_coef=0.5,
        max_grad_norm=0.5,
        total_timesteps=args.total_steps,
        normalize_observations=False,
        normalize_rewards=False,
        agent_kwargs={"activation": args.activation, "hidden_layer_sizes": hidden},
    )
    algo = rejax.PPO.create(**config)
    algo, eval_cb = disable_training_eval(algo, args.num_envs * args.num_steps)
    log(f"[ppo] rejax PPO CartPole-v1, {args.num_agents} agent(s), "
        f"{args.total_steps} steps requested, eval_freq={algo.eval_freq}")

    run_benchmark(
        peer_algo="ppo", env_name="CartPole-v1", algo=algo, eval_callback=eval_cb,
        num_agents=args.num_agents, seed=args.seed, repeats=args.repeats,
        eval_episodes=args.eval_episodes,
    )


if __name__ == "__main__":
    main()
