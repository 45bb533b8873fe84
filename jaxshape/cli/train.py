"""`jaxshape train`: train a learner and write a run folder; `--resume RUN_DIR` continues one.

Every field of the algorithm's static config, every scalar hyperparameter and every job
option is a flag of its own (`--num-minibatches`, `--learning-rate`, `--eval-every`, ...).
`--preset NAME` starts from named settings (jaxshape/run/presets.py) that the flags
override; config.json records the preset and what it set.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, Sequence

from jaxshape.cli.flags import Parser, add_compile_cache_flag, add_dataclass_flags, configure_compile_cache, given
from jaxshape.errors import ConfigError


def parser(algo: str) -> argparse.ArgumentParser:
    from jaxshape.run import builder, presets
    from jaxshape.run.job import JobOptions

    config_cls, hparams_cls, _, _ = builder.builders(algo)
    p = Parser(prog="jaxshape train", description=f"Train {algo.upper()} and write a run folder.",
               formatter_class=argparse.RawDescriptionHelpFormatter)
    run = p.add_argument_group("run")
    run.add_argument("--algo", default="ppo", help=f"one of {', '.join(sorted(builder.ALGORITHMS))} (default: ppo)")
    run.add_argument("--seed", type=int, default=0, help="(default: 0)")
    run.add_argument("--num-seeds", type=int, default=1, help="seeds trained in one vmapped call (default: 1)")
    run.add_argument("--out", default=None, help="run folder (default: runs/<env>-<algo>-<time>)")
    run.add_argument("--resume", metavar="RUN_DIR", default=None, help="continue RUN_DIR from its last checkpoint")
    run.add_argument("--restart", action="store_true",
                     help="with --resume: train RUN_DIR again from update 0 with its saved settings (its checkpoints "
                          "move to discarded_checkpoints/), e.g. when none of them is readable")
    run.add_argument("--preset", default=None, metavar="NAME",
                     help=f"start from named settings; flags override them ({presets.describe()})")
    run.add_argument("--reward", dest="reward_spec", default="", metavar="SPEC",
                     help='reward transforms, e.g. "count(beta=0.05)+rnd(coef=0.5)" (see README)')
    run.add_argument("--reward-candidates", default="", metavar="FILE.py",
                     help="a Python file defining CANDIDATES; the run trains the one --set reward.index=K picks")
    run.add_argument("--set", dest="assignments", action="append", default=[], metavar="NAME=VALUE",
                     help="any traced hyperparameter by its dotted path, e.g. reward_coefs.effort=0.3 or "
                          "reward.shaping.scale=2 (V1,V2,... for a vector; repeatable; best.json of "
                          "`jaxshape search` gives these)")
    add_compile_cache_flag(run)
    add_dataclass_flags(p.add_argument_group("job"), JobOptions)
    add_dataclass_flags(p.add_argument_group(f"{algo} settings (static)"), config_cls)
    add_dataclass_flags(p.add_argument_group(f"{algo} hyperparameters (traced)"), hparams_cls,
                        skip=frozenset({"reward", "reward_coefs", "reward_gammas"}))
    return p


def main(argv: Sequence[str]) -> int:
    import pathlib

    from jaxshape.run import builder, job, presets
    from jaxshape.sweep.spec import assigned

    pre = Parser(prog="jaxshape train", add_help=False)
    pre.add_argument("--algo", default="ppo")
    pre.add_argument("--resume", default=None)
    pre.add_argument("--restart", action="store_true")
    known = pre.parse_known_args(argv)[0]
    if known.resume:
        return resume(known.resume, argv)
    if known.restart:
        raise ConfigError("--restart trains an existing run folder again: give it with --resume RUN_DIR")
    builder.get(known.algo)
    args = parser(known.algo).parse_args(argv)
    config_cls, hparams_cls, _, _ = builder.builders(args.algo)
    options = job.JobOptions(**given(args, job.JobOptions))
    config, hparam_flags, extra = given(args, config_cls), given(args, hparams_cls), None
    if args.preset is not None:
        applied = presets.apply(args.preset, args.algo, config, hparam_flags)
        config, hparam_flags, extra = applied.config, applied.hparams, {"preset": applied.record}
    learner, hparams = builder.build(args.algo, config_cls(**config), args.reward_spec, args.reward_candidates,
                                     **hparam_flags)  # validates config and env before compiling
    hparams = assigned(hparams, args.assignments)
    if args.reward_candidates:
        extra = {**(extra or {}), "reward_candidates": str(pathlib.Path(args.reward_candidates).resolve())}
    configure_compile_cache(args)
    summary = job.train(args.algo, learner, hparams, seed=args.seed, num_seeds=args.num_seeds, out_dir=args.out,
                        reward=args.reward_spec, options=options, extra_config=extra)
    print_summary(summary)
    return 0


def _differing(args: argparse.Namespace, argv: Sequence[str], saved: dict) -> list[str]:
    """The given flags whose values differ from the run's saved settings (a setting an
    older run's config.json lacks counts as its default, which the run was built with)."""
    from jaxshape.run import builder

    defaults = {f.name: f.default for f in dataclasses.fields(builder.builders(saved["algo"])[0])
                if f.default is not dataclasses.MISSING}
    stored = {**defaults, **saved["config"], **{k: v for k, v in saved["hparams"].items() if not isinstance(v, dict)}}
    out = []
    for name, value in vars(args).items():
        if name in stored and value is not None:
            old = stored[name]
            if isinstance(value, list):  # a repeatable flag's values (--condition); JSON holds them as lists
                value = [list(v) for v in value]
            same = list(value) == old if isinstance(value, (tuple, list)) else (
                all(abs(v - value) <= 1e-6 * max(1.0, abs(value)) for v in old) if isinstance(old, list) else old == value)
            if not same:
                out.append(f"{name} ({old} -> {value})")
    if args.algo != saved["algo"] and "--algo" in argv:
        out.append(f"algo ({saved['algo']} -> {args.algo})")
    if args.reward_spec and args.reward_spec != saved.get("reward", ""):
        out.append(f"reward ({saved.get('reward')!r} -> {args.reward_spec!r})")
    if args.assignments:
        out.append(f"--set {' '.join(args.assignments)} (the run's hyperparameters are in its config.json)")
    if args.reward_candidates and args.reward_candidates != saved.get("reward_candidates", ""):
        out.append(f"reward candidates ({saved.get('reward_candidates')!r} -> {args.reward_candidates!r})")
    saved_preset = (saved.get("preset") or {}).get("name")
    if args.preset is not None and args.preset != saved_preset:
        out.append(f"preset ({saved_preset!r} -> {args.preset!r})")
    return out


def resume(run_dir: str, argv: Sequence[str]) -> int:
    """`train --resume RUN_DIR`: refuse flags that differ from the run's saved settings."""
    from jaxshape.run import job
    from jaxshape.run.checkpoints import check_format
    from jaxshape.run.logs import read_config

    saved = read_config(run_dir)
    check_format(run_dir, saved)  # before its settings are read as this release's
    args = parser(saved["algo"]).parse_args(argv)
    if differing := _differing(args, argv, saved):
        raise ConfigError(f"cannot resume {run_dir} with different settings: {', '.join(differing)}; "
                          "drop those flags, or start a new run with --out")
    configure_compile_cache(args)
    summary = job.resume(run_dir, progress=args.progress is not False, restart=args.restart)
    print_summary(summary)
    return 0


def print_summary(summary: dict[str, Any]) -> None:
    def fmt(values):
        return ", ".join("n/a" if r is None else f"{r:.1f}" for r in values or [])

    print(f"final return per seed: {fmt(summary['final_return_per_seed'])}")
    if summary.get("final_eval_return_per_seed"):
        print(f"greedy evaluation return per seed: {fmt(summary['final_eval_return_per_seed'])}")
    sps = summary["steps_per_second"]
    print(f"steps/s (run only): {sps:,.0f}   compile: {summary['compile_seconds']:.1f} s"
          f"   run: {summary['run_seconds']:.1f} s" if sps else "nothing left to run")
    print(f"run folder: {summary['run_dir']}")
