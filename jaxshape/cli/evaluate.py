"""`jaxshape eval RUN_DIR`: the greedy return of a run's newest checkpoint.

A conditioned run (`train --condition NAME=LO:HI`) plays at the coefficients given with
`--set NAME=VALUE`, each of the others at the middle of its range; the return of each
reward stream is printed beside the task's.

`--save-transitions FILE.npz` also plays `--episodes` fresh episodes with one member's
policy (`--member`, default 0), greedy or, with `--sample`, sampled from the policy,
and writes their transitions for imitation (`--reward "gail(demos=FILE.npz)"`; the
format is `jaxshape.demos`)."""

from __future__ import annotations

from typing import Any, Sequence

from jaxshape.cli.flags import Parser, add_compile_cache_flag, configure_compile_cache
from jaxshape.errors import ConfigError


def parse_set(text: str) -> tuple[str, float]:
    import argparse

    name, sep, value = text.partition("=")
    try:
        if not (name and sep):
            raise ValueError
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE like reward_coefs.effort=0.3, got {text!r}") from None


def conditioned_hparams(learner: Any, member_hparams: Any, given: list[tuple[str, float]]) -> tuple[Any, list[str]]:
    """(member_hparams with the conditioned coefficients at the `--set` values, else at the
    middle of their ranges; a line per coefficient saying which value it plays at)."""
    import jax
    import jax.numpy as jnp

    from jaxshape.sweep.spec import with_values

    condition = getattr(learner.config, "condition", ())
    ranges = {name: (lo, hi) for name, lo, hi in condition}
    values = dict(given)
    for name in values:
        if name not in ranges:
            conditioned = ", ".join(ranges) or "nothing (train with --condition NAME=LO:HI)"
            raise ConfigError(f"--set {name}: this run is conditioned on {conditioned}")
    lines = []
    for name, (lo, hi) in ranges.items():
        if name in values:
            outside = "" if lo <= values[name] <= hi else f", outside the trained range {lo:g}:{hi:g}"
            lines.append(f"{name} = {values[name]:g} (--set{outside})")
        else:
            values[name] = (lo + hi) / 2
            lines.append(f"{name} = {values[name]:g} (the middle of {lo:g}:{hi:g}; choose with --set {name}=VALUE)")
    new = with_values(member_hparams, values)  # a scalar at each set path: broadcast over the members
    return jax.tree.map(lambda x, old: jnp.broadcast_to(x, old.shape), new, member_hparams), lines


def main(argv: Sequence[str]) -> int:
    import jax

    from jaxshape.run.policy import restore_run

    parser = Parser(prog="jaxshape eval", description="Evaluate a run's greedy policy from its last checkpoint.")
    parser.add_argument("run_dir")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", dest="set_values", type=parse_set, action="append", default=[],
                        metavar="NAME=VALUE", help="a conditioned run's reward coefficient to play at (repeatable)")
    parser.add_argument("--save-transitions", metavar="FILE.npz", default=None,
                        help="also write the transitions of --episodes fresh episodes of one member's policy to this "
                             ".npz (expert demos for gail/airl)")
    parser.add_argument("--member", type=int, default=0, help="the member whose transitions --save-transitions "
                        "writes (default 0)")
    parser.add_argument("--sample", action="store_true", help="--save-transitions samples actions from the policy "
                        "(default: greedy, the policy's mode)")
    add_compile_cache_flag(parser)
    args = parser.parse_args(argv)
    if args.episodes <= 0:
        raise ConfigError(f"--episodes must be a positive integer, got {args.episodes}")
    if args.save_transitions is not None:
        from jaxshape.demos import check_writable

        check_writable(args.save_transitions)
    configure_compile_cache(args)
    learner, member_hparams, states, saved = restore_run(args.run_dir)
    if args.save_transitions is not None:
        save_transitions(learner, states, saved, args)
    member_hparams, lines = conditioned_hparams(learner, member_hparams, args.set_values)
    for line in lines:
        print(line)
    evaluate = jax.jit(jax.vmap(learner.evaluate, in_axes=(0, 0, None, None)), static_argnums=3)
    result = jax.device_get(evaluate(states, member_hparams, jax.random.PRNGKey(args.seed), args.episodes))
    per_member = ", ".join(f"{r:.1f}" for r in result["eval_return"])
    print(f"greedy return over {args.episodes} episodes per member: {per_member}")
    print(f"mean: {result['eval_return'].mean():.2f}   mean length: {result['eval_length'].mean():.1f}")
    streams = sorted(k for k in result if k.startswith("eval_return/"))
    if streams:
        print("mean return per stream: " + ", ".join(f"{k.split('/', 1)[1]} {result[k].mean():.2f}" for k in streams))
    return 0


def save_transitions(learner: Any, states: Any, saved: dict, args: Any) -> None:
    """Write the transitions of `args.episodes` episodes of member `args.member` (module docstring)."""
    import jax

    from jaxshape.demos import episodes_from_rollout, rollout_transitions, save_demos
    from jaxshape.evaluation import episode_limit

    members = len(saved["seeds"])
    if not 0 <= args.member < members:
        raise ConfigError(f"--member {args.member}: this run has members 0 to {members - 1}")
    if learner.transform.observe is not None or getattr(learner, "recurrent", False) or getattr(
            learner.config, "condition", ()):
        raise ConfigError("--save-transitions plays a feed-forward policy that reads only the observation; this "
                          "run's policy also reads its reward transform's state, a memory or its coefficients")
    state = jax.tree.map(lambda x: x[args.member], states)
    deterministic = not args.sample

    def act(obs, key):
        return learner.act(state, obs, key, deterministic=deterministic)

    limit = episode_limit(learner.env, learner.env_params)
    rollout = jax.jit(lambda key: rollout_transitions(learner.env, learner.env_params, act, key, args.episodes, limit))
    steps = rollout(jax.random.PRNGKey(args.seed + 1))
    demos = episodes_from_rollout(jax.device_get(steps), saved["config"].get("env", ""),
                                  "sampled" if args.sample else "greedy")
    save_demos(args.save_transitions, demos)
    print(f"wrote {len(demos['obs'])} transitions of {args.episodes} {demos['policy']} episodes of member "
          f"{args.member} (mean return {demos['episode_return'].mean():.2f}) to {args.save_transitions}")
