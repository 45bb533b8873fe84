"""Peer baseline: rejax PPO on a gymnax env, CartPole-v1 by default (run with the rejax venv).

    $PEERS_DIR/rejax/bin/python experiments/peers/rejax_ppo.py --num-agents 1
    $PEERS_DIR/rejax/bin/python experiments/peers/rejax_ppo.py --num-agents 64
    $PEERS_DIR/rejax/bin/python experiments/peers/rejax_ppo.py --env Breakout-MinAtar --num-agents 4 \
        --key-per-seed --greedy-eval --num-envs 64 --num-epochs 4 --lr 5e-3 --activation relu

Every PPO setting rejax exposes is a flag; the defaults are jaxshape's PPO defaults
(algos/ppo.py), which experiments/bench_ppo.py relies on. experiments/learning_parity.py
passes jaxshape's settings for each env (its `--preset minatar` for MinAtar).

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
  * the learning rate is constant (no annealing), as in SB3's default;
  * networks use flax's default (LeCun-normal) initialisation, not orthogonal, and
    Adam's eps is optax's default 1e-8 (jaxshape: 1e-5);
  * ``done`` merges termination and truncation: no bootstrap at a time limit.
With ``--greedy-eval`` the greedy return (argmax of the policy's logits, discrete
actions only) is measured as well as rejax's own stochastic evaluation.
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
    p.add_argument("--env", type=str, default="CartPole-v1", help="a gymnax id (default: CartPole-v1)")
    p.add_argument("--gamma", type=float, default=0.99)
    p.add_argument("--gae-lambda", type=float, default=0.95)
    p.add_argument("--clip-eps", type=float, default=0.2)
    p.add_argument("--ent-coef", type=float, default=0.01)
    p.add_argument("--vf-coef", type=float, default=0.5)
    p.add_argument("--max-grad-norm", type=float, default=0.5,
                   help="rejax clips each gradient element to [-x, x] (optax.clip)")
    p.add_argument("--greedy-eval", action="store_true",
                   help="also evaluate the greedy policy (discrete actions)")
    args = p.parse_args()

    import rejax

    hidden = tuple(int(h) for h in args.hidden.split(","))
    config = dict(
        env=args.env,
        num_envs=args.num_envs,
        num_steps=args.num_steps,
        num_epochs=args.num_epochs,
        num_minibatches=args.num_minibatches,
        learning_rate=args.lr,
        gamma=args.gamma,
        gae_lambda=args.gae_lambda,
        clip_eps=args.clip_eps,
        ent_coef=args.ent_coef,
        vf_coef=args.vf_coef,
        max_grad_norm=args.max_grad_norm,
        total_timesteps=args.total_steps,
        normalize_observations=False,
        normalize_rewards=False,
        agent_kwargs={"activation": args.activation, "hidden_layer_sizes": hidden},
    )
    algo = rejax.PPO.create(**config)
    algo, eval_cb = disable_training_eval(algo, args.num_envs * args.num_steps)
    log(f"[ppo] rejax PPO {args.env}, {args.num_agents} agent(s), "
        f"{args.total_steps} steps requested, eval_freq={algo.eval_freq}")

    run_benchmark(
        peer_algo="ppo", env_name=args.env, algo=algo, eval_callback=eval_cb,
        num_agents=args.num_agents, seed=args.seed, repeats=args.repeats,
        eval_episodes=args.eval_episodes, key_per_seed=args.key_per_seed,
        greedy_act=greedy_act if args.greedy_eval else None,
        extra={"settings": {k: v for k, v in config.items() if k != "agent_kwargs"}
               | {"hidden_layer_sizes": list(hidden), "activation": args.activation}},
    )


def greedy_act(algo, ts):
    """act(obs, rng) -> the most likely action of rejax's DiscretePolicy."""
    import jax.numpy as jnp

    def act(obs, rng):
        logits = algo.actor.apply(ts.actor_ts.params, jnp.expand_dims(obs, 0),
                                  method=lambda module, x: module._action_dist(x).logits)
        return jnp.squeeze(jnp.argmax(logits, axis=-1))

    return act


if __name__ == "__main__":
    main()
