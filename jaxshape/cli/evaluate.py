"""`jaxshape eval RUN_DIR`: the greedy return of a run's newest checkpoint."""

from __future__ import annotations

from typing import Sequence

from jaxshape.cli.flags import Parser, add_compile_cache_flag, configure_compile_cache
from jaxshape.errors import ConfigError


def main(argv: Sequence[str]) -> int:
    import jax

    from jaxshape.run.policy import restore_run

    parser = Parser(prog="jaxshape eval", description="Evaluate a run's greedy policy from its last checkpoint.")
    parser.add_argument("run_dir")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    add_compile_cache_flag(parser)
    args = parser.parse_args(argv)
    if args.episodes <= 0:
        raise ConfigError(f"--episodes must be a positive integer, got {args.episodes}")
    configure_compile_cache(args)
    learner, member_hparams, states, _ = restore_run(args.run_dir)
    evaluate = jax.jit(jax.vmap(learner.evaluate, in_axes=(0, 0, None, None)), static_argnums=3)
    result = jax.device_get(evaluate(states, member_hparams, jax.random.PRNGKey(args.seed), args.episodes))
    per_member = ", ".join(f"{r:.1f}" for r in result["eval_return"])
    print(f"greedy return over {args.episodes} episodes per member: {per_member}")
    print(f"mean: {result['eval_return'].mean():.2f}   mean length: {result['eval_length'].mean():.1f}")
    return 0
