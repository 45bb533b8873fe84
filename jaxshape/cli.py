"""The `jaxshape` command.

    jaxshape train [--algo ppo] [--env CartPole-v1] [--total-steps N] [--num-seeds S] ...

Every field of the algorithm's static config and every scalar hyperparameter is a flag
of its own (`--num-minibatches`, `--learning-rate`, ...), generated from the dataclasses
so the CLI never falls behind them. Bad input prints one line naming the fix and exits
with status 2 before anything compiles.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from typing import Any, Sequence

from jaxshape.errors import ConfigError

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line."""

    def error(self, message: str) -> typing.NoReturn:
        raise ConfigError(f"{message} (see `{self.prog} --help`)")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _int_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 64,64, got {text!r}") from None


def _add_dataclass_flags(group: argparse._ArgumentGroup, cls: type, skip: set[str]) -> None:
    """One flag per field whose default is a bool, int, float, str or tuple of ints."""
    instance = cls()
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        default = getattr(instance, field.name)
        if isinstance(default, bool):
            group.add_argument(_flag(field.name), action=argparse.BooleanOptionalAction, default=None,
                               help=f"(default: {default})")
        elif isinstance(default, (int, float, str)):
            group.add_argument(_flag(field.name), type=type(default), default=None, metavar=type(default).__name__.upper(),
                               help=f"(default: {default})")
        elif isinstance(default, tuple):
            group.add_argument(_flag(field.name), type=_int_tuple, default=None, metavar="W,W",
                               help=f"(default: {','.join(map(str, default))})")


def _given(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in vars(args).items() if k in names and v is not None}


def _train_parser(algo: str) -> argparse.ArgumentParser:
    from jaxshape import algorithms

    config_cls, hparams_cls, _, _ = algorithms.builders(algo)
    parser = _Parser(prog="jaxshape train", description=f"Train {algo.upper()} and write a run folder.",
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    run = parser.add_argument_group("run")
    run.add_argument("--algo", default="ppo", help=f"one of {', '.join(sorted(algorithms.ALGORITHMS))} (default: ppo)")
    run.add_argument("--seed", type=int, default=0, help="(default: 0)")
    run.add_argument("--num-seeds", type=int, default=1, help="seeds trained in one vmapped call (default: 1)")
    run.add_argument("--out", default=None, help="run folder (default: runs/<env>-<algo>-<time>)")
    run.add_argument("--resume", metavar="RUN_DIR", default=None, help="continue RUN_DIR from its last checkpoint")
    run.add_argument("--reward", dest="reward_spec", default="", metavar="SPEC",
                     help='reward transforms, e.g. "count(beta=0.05)+rnd(coef=0.5)" (see README)')
    run.add_argument("--chunk-updates", type=int, default=None,
                     help="updates per compiled chunk between logs and checkpoints (default: a tenth of the run)")
    run.add_argument("--eval-every", type=int, default=5, help="evaluate every N chunks, 0: at the end (default: 5)")
    run.add_argument("--eval-episodes", type=int, default=10, help="(default: 10)")
    run.add_argument("--keep-checkpoints", type=int, default=3, help="(default: 3)")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    run.add_argument("--no-plot", action="store_true", help="skip learning_curves.png")
    _add_dataclass_flags(parser.add_argument_group(f"{algo} settings (static)"), config_cls, skip=set())
    _add_dataclass_flags(parser.add_argument_group(f"{algo} hyperparameters (traced)"), hparams_cls,
                         skip={"reward", "reward_coefs", "reward_gammas"})
    return parser


def _job_options(args: argparse.Namespace):
    from jaxshape.job import JobOptions

    for name in ("chunk_updates", "eval_episodes", "keep_checkpoints"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
    if args.eval_every < 0:
        raise ConfigError(f"--eval-every must be 0 or more, got {args.eval_every}")
    return JobOptions(chunk_updates=args.chunk_updates, eval_every=args.eval_every, eval_episodes=args.eval_episodes,
                      keep_checkpoints=args.keep_checkpoints, progress=not args.no_progress, plot=not args.no_plot)


def _train(argv: Sequence[str]) -> int:
    from jaxshape import algorithms, job
    from jaxshape.rewards.spec import parse_reward_spec

    pre = _Parser(prog="jaxshape train", add_help=False)
    pre.add_argument("--algo", default="ppo")
    pre.add_argument("--resume", default=None)
    known = pre.parse_known_args(argv)[0]
    if known.resume:
        return _resume(known.resume, argv)
    config_cls, hparams_cls, make, default_hparams = algorithms.builders(known.algo)
    args = _train_parser(known.algo).parse_args(argv)

    config = config_cls(**_given(args, config_cls))
    transform = parse_reward_spec(args.reward_spec, config.env) if args.reward_spec else None
    learner = make(config, transform=transform)  # validates config and env before compiling
    hparams = default_hparams(transform, **_given(args, hparams_cls))
    summary = job.train(args.algo, learner, hparams, seed=args.seed, num_seeds=args.num_seeds, out_dir=args.out,
                        reward=args.reward_spec, options=_job_options(args))
    _print_summary(summary)
    return 0


def _resume(run_dir: str, argv: Sequence[str]) -> int:
    """`train --resume RUN_DIR`: refuse flags that differ from the run's saved settings."""
    from jaxshape import job
    from jaxshape.runlog import read_config

    saved = read_config(run_dir)
    args = _train_parser(saved["algo"]).parse_args(argv)
    stored = {**saved["config"], **{k: v for k, v in saved["hparams"].items() if not isinstance(v, dict)}}
    differing = []
    for name, value in vars(args).items():
        if name in stored and value is not None:
            old = stored[name]
            same = list(value) == old if isinstance(value, tuple) else (
                all(abs(v - value) <= 1e-6 * max(1.0, abs(value)) for v in old) if isinstance(old, list) else old == value)
            if not same:
                differing.append(f"{name} ({old} -> {value})")
    if args.algo != saved["algo"] and "--algo" in argv:
        differing.append(f"algo ({saved['algo']} -> {args.algo})")
    if args.reward_spec and args.reward_spec != saved.get("reward", ""):
        differing.append(f"reward ({saved.get('reward')!r} -> {args.reward_spec!r})")
    if differing:
        raise ConfigError(f"cannot resume {run_dir} with different settings: {', '.join(differing)}; "
                          "drop those flags, or start a new run with --out")
    summary = job.resume(run_dir, progress=not args.no_progress)
    _print_summary(summary)
    return 0


def _eval(argv: Sequence[str]) -> int:
    import jax

    from jaxshape.policy import restore_run

    parser = _Parser(prog="jaxshape eval", description="Evaluate a run's greedy policy from its last checkpoint.")
    parser.add_argument("run_dir")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.episodes <= 0:
        raise ConfigError(f"--episodes must be a positive integer, got {args.episodes}")
    learner, member_hparams, states, _ = restore_run(args.run_dir)
    evaluate = jax.jit(jax.vmap(learner.evaluate, in_axes=(0, 0, None, None)), static_argnums=3)
    result = jax.device_get(evaluate(states, member_hparams, jax.random.PRNGKey(args.seed), args.episodes))
    per_member = ", ".join(f"{r:.1f}" for r in result["eval_return"])
    print(f"greedy return over {args.episodes} episodes per member: {per_member}")
    print(f"mean: {result['eval_return'].mean():.2f}   mean length: {result['eval_length'].mean():.1f}")
    return 0


def _plot(argv: Sequence[str]) -> int:
    import pathlib

    from jaxshape.plotting import plot_runs

    parser = _Parser(prog="jaxshape plot", description="Plot learning curves of one or more run folders.")
    parser.add_argument("run_dirs", nargs="+")
    parser.add_argument("--out", default=None, help="PNG path (default: RUN_DIR/learning_curves.png for one run, "
                                                    "comparison.png for several)")
    args = parser.parse_args(argv)
    for run_dir in args.run_dirs:
        if not (pathlib.Path(run_dir) / "metrics.jsonl").exists():
            raise ConfigError(f"{run_dir} is not a jaxshape run folder (no metrics.jsonl)")
    default = pathlib.Path(args.run_dirs[0]) / "learning_curves.png" if len(args.run_dirs) == 1 else "comparison.png"
    print(plot_runs(args.run_dirs, args.out or default))
    return 0


def _print_summary(summary: dict[str, Any]) -> None:
    def fmt(values):
        return ", ".join("n/a" if r is None else f"{r:.1f}" for r in values or [])

    print(f"final return per seed: {fmt(summary['final_return_per_seed'])}")
    if summary.get("final_eval_return_per_seed"):
        print(f"greedy evaluation return per seed: {fmt(summary['final_eval_return_per_seed'])}")
    sps = summary["steps_per_second"]
    print(f"steps/s (run only): {sps:,.0f}   compile: {summary['compile_seconds']:.1f} s"
          f"   run: {summary['run_seconds']:.1f} s" if sps else "nothing left to run")
    print(f"run folder: {summary['run_dir']}")


def _sweep(argv: Sequence[str]) -> int:
    from jaxshape.sweep_cli import main as sweep_main

    return sweep_main(argv)


COMMANDS = {"train": _train, "eval": _eval, "plot": _plot, "sweep": _sweep}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: jaxshape {train,eval,plot,sweep} ...   (jaxshape <command> --help for its flags)")
        return 0 if argv else EXIT_BAD_INPUT
    command, rest = argv[0], argv[1:]
    try:
        if command not in COMMANDS:
            raise ConfigError(f"unknown command {command!r}: choose one of {', '.join(COMMANDS)}")
        return COMMANDS[command](rest)
    except ConfigError as err:
        print(f"jaxshape: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("jaxshape: interrupted; resume with `jaxshape train --resume RUN_DIR`", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - a diverged run is reported in one line
        from jaxshape.job import TrainingDiverged

        if isinstance(err, TrainingDiverged):
            print(f"jaxshape: training stopped: {err}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
