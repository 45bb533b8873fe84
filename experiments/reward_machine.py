"""Reward machines on KeyDoor-grid: sparse reward vs a subgoal automaton paid as shaping.

    python experiments/reward_machine.py [--size 7] [--total-steps N] [--seeds K] [--conditions ...]

KeyDoor-grid (envs/keydoor.py): reach the key, then the door (reward 1, terminates);
time limit → truncation. Conditions, same PPO config, hparams, seeds and budget:

- `sparse`: the env reward only;
- `sparse + subgoals`: `subgoal_sequence(at_key, at_door, c=C, with_info=True)`, labels
  read from the env's info; its stream is potential shaping over the automaton stage,
  Φ(k) = c·k, Φ(terminal) = 0 (policy-invariant), and its one-hot stage is appended to
  the policy input (`observe`);
- optionally (`--conditions ...,rm`) `sparse + rm(+V)`: `reward_machine(..., mode="shaping")`
  on the same key/door automaton, whose potential is Φ(u) = +V(u) (progress pays);
- optionally (`rm_icarte`) `sparse + rm(-V)`: the same with `sign=-1`, Φ(u) = −V(u), the
  variant of Toro Icarte et al.'s code (see RESULTS.md).

Success: a greedy eval episode opens the door (extrinsic reward 1). Time to success: the
first evaluation at which the greedy success rate is >= 0.9 at two consecutive points.
"""

from __future__ import annotations

import argparse
import time


import experiment_common as ec
from jaxshape.algos.ppo import PPOConfig, make_ppo
from jaxshape.envs import make
from jaxshape.rewards import reward_machine, subgoal_sequence


def at_key(obs, info):
    return info["at_key"] > 0.5


def at_door(obs, info):
    return info["at_door"] > 0.5


def key_door_label(obs, info):
    """0: nothing, 1: on the key, 2: on the door."""
    return (info["at_key"] > 0.5).astype("int32") + 2 * (info["at_door"] > 0.5).astype("int32")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=7)
    ap.add_argument("--max-steps", type=int, default=50)
    ap.add_argument("--start", default="corner", choices=("corner", "random"))
    ap.add_argument("--total-steps", type=int, default=409_600)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--evals", type=int, default=25)
    ap.add_argument("--c", type=float, default=0.5, help="potential per subgoal stage")
    ap.add_argument("--conditions", default="sparse,subgoals")
    ap.add_argument("--name", default="reward_machine")
    args = ap.parse_args()

    env, params = make("KeyDoor-grid", size=args.size, max_steps=args.max_steps, start=args.start)
    config = PPOConfig(env="KeyDoor-grid", num_envs=16, num_steps=64, total_steps=args.total_steps,
                       num_epochs=4, num_minibatches=4, hidden_sizes=(64, 64))
    # states 0 (no key), 1 (key); labels 0 nothing, 1 key, 2 door; door with key -> terminal
    delta = [[0, 1, 0], [1, 1, -1]]
    rm_rewards = [[0, 0, 0], [0, 0, 1]]
    all_conditions = {
        "sparse": ("sparse", None),
        "subgoals": ("sparse + subgoals", subgoal_sequence(at_key, at_door, c=args.c, with_info=True)),
        "rm": ("sparse + rm(+V)", reward_machine(key_door_label, delta, rm_rewards, mode="shaping",
                                                  with_info=True)),
        "rm_icarte": ("sparse + rm(-V)", reward_machine(key_door_label, delta, rm_rewards, mode="shaping",
                                                         sign=-1, with_info=True)),
    }
    trackers = {"success": (lambda r, info, term: r > 0.5, "max"), "got_key": (lambda r, info, term: info["has_key"], "max")}
    runs, summary = {}, {}
    wall0 = time.perf_counter()
    for key in args.conditions.split(","):
        label, transform = all_conditions[key]
        ppo = make_ppo(config, env, params, transform)
        runs[label], summary[label] = ec.success_condition(label, ppo, args.seeds, args.evals, trackers)
    wall = time.perf_counter() - wall0
    payload = {
        "experiment": "reward_machine", "machine": ec.machine(), "wall_seconds": wall, "args": vars(args),
        "env": {"size": args.size, "key": env.key, "door": env.door, "start": args.start,
                "max_steps_in_episode": args.max_steps, "shortest_solution": 3 * (args.size - 1)},
        "ppo_config": config.__dict__, "env_steps_per_seed": next(iter(runs.values()))["env_steps_per_seed"],
        "summary": summary,
        "curves": {k: {m: v for m, v in r.items() if m.startswith(("eval/", "eval_steps", "update_steps"))
                       or m == "train/episode_return"} for k, r in runs.items()},
    }
    path = ec.save_results(args.name, payload)
    png = plot(args, runs)
    print(f"wall {wall:.1f}s\n{path}\n{png}")


def plot(args, runs):
    return ec.plot_conditions(
        args.name, runs,
        [("eval/success", "eval_steps", "greedy success (door opened)"),
         ("eval/got_key", "eval_steps", "greedy episodes that picked up the key"),
         ("train/episode_return", "update_steps", "training extrinsic return (success rate)")],
        f"KeyDoor-grid {args.size}×{args.size} (T={args.max_steps}, start {args.start}, c={args.c:g}): "
        f"subgoal automaton vs sparse (thin lines: seeds)", band="seeds")


if __name__ == "__main__":
    main()
