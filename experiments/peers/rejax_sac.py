"""Peer baseline: rejax SAC on gymnax Pendulum-v1 (run with the rejax venv).

    $PEERS_DIR/rejax/bin/python experiments/peers/rejax_sac.py --num-agents 1
    $PEERS_DIR/rejax/bin/python experiments/peers/rejax_sac.py --num-agents 16

Prints one JSON line on stdout; progress goes to stderr.  See _rejax_common.py
for how compile/run time are measured and how in-training eval is disabled.

rejax SAC config fields (rejax 0.1.3, rejax/algos/sac.py + mixins.py), and the
flag that sets each:
  num_envs             --num-envs        parallel envs; one train_iteration
                                         = one step of each env
  total_timesteps      --total-steps     rounded up to a multiple of num_envs
  buffer_size          --buffer-size     replay capacity (transitions)
  batch_size           --batch-size
  fill_buffer          --learning-starts updates run only once
                                         global_step > fill_buffer.  NB: the
                                         warm-up actions come from the (untrained)
                                         policy, not uniform random actions.
  num_epochs           --gradient-steps  gradient updates per train_iteration,
                                         i.e. per num_envs env steps
                                         (updates per env step = this / num_envs)
  learning_rate        --lr              one Adam per actor / critics / alpha
  gamma                (0.99)
  polyak               --tau             polyak = 1 - tau (target <- polyak*target + (1-polyak)*online)
  target_update_freq   (1)               in env steps
  num_critics          (2)               clipped double-Q
  target_entropy_ratio (only used for discrete actions; continuous uses -|A|)
  max_grad_norm        (inf)             NB: applied as element-wise optax.clip
  hidden_layer_sizes   --hidden          a *top-level* key for SAC (PPO takes it
                                         inside agent_kwargs), shared by actor and critics
  agent_kwargs         {"activation": --activation}
  normalize_observations / normalize_rewards (off)
  eval_freq, skip_initial_evaluation (eval disabled, see _rejax_common.py)
The entropy coefficient alpha is always learned (log_alpha starts at 0).

vmap caveat: the "start training?" switch is a ``lax.cond`` on global_step,
which lives in the per-agent state; under ``jax.vmap`` (num_agents > 1) it
becomes a select, so both branches run and gradient updates are *computed*
(and discarded) during the learning-starts phase too.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _rejax_common import add_common_args, disable_training_eval, log, run_benchmark  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(p, total_steps_default=50_000)
    p.add_argument("--num-envs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--buffer-size", type=int, default=100_000)
    p.add_argument("--learning-starts", type=int, default=1_000,
                   help="env steps (per agent) before gradient updates begin")
    p.add_argument("--gradient-steps", "--updates-per-step", dest="gradient_steps",
                   type=int, default=1,
                   help="gradient updates per vector-env step (rejax num_epochs)")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--tau", type=float, default=0.005)
    p.add_argument("--hidden", type=str, default="256,256")
    p.add_argument("--activation", type=str, default="relu")
    args = p.parse_args()

    import rejax

    hidden = tuple(int(h) for h in args.hidden.split(","))
    config = dict(
        env="Pendulum-v1",
        num_envs=args.num_envs,
        total_timesteps=args.total_steps,
        buffer_size=args.buffer_size,
        batch_size=args.batch_size,
        fill_buffer=args.learning_starts,
        num_epochs=args.gradient_steps,
        learning_rate=args.lr,
        gamma=0.99,
        polyak=1.0 - args.tau,
        target_update_freq=1,
        num_critics=2,
        normalize_observations=False,
        normalize_rewards=False,
        hidden_layer_sizes=hidden,
        agent_kwargs={"activation": args.activation},
    )
    algo = rejax.SAC.create(**config)
    algo, eval_cb = disable_training_eval(algo, args.num_envs)
    log(f"[sac] rejax SAC Pendulum-v1, {args.num_agents} agent(s), "
        f"{args.total_steps} steps requested, eval_freq={algo.eval_freq}")

    result = run_benchmark(
        peer_algo="sac", env_name="Pendulum-v1", algo=algo, eval_callback=eval_cb,
        num_agents=args.num_agents, seed=args.seed, repeats=args.repeats,
        eval_episodes=args.eval_episodes,
        extra={
            "num_envs": args.num_envs,
            "batch_size": args.batch_size,
            "buffer_size": args.buffer_size,
            "learning_starts": args.learning_starts,
            "gradient_steps_per_env_step": args.gradient_steps / args.num_envs,
        },
        # actor TrainState.step counts the gradient updates actually applied
        ts_stats=lambda ts: {"gradient_updates_per_agent": int(ts.actor_ts.step.reshape(-1)[0])},
    )
    return result


if __name__ == "__main__":
    main()
