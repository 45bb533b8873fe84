"""`jaxshape sweep`: a grid or random search over traced hyperparameters x seeds.

    jaxshape sweep --grid learning_rate=1e-4,3e-4 --grid gamma=0.98,0.99 --num-seeds 4 \\
        --env CartPole-v1 --total-steps 100000 --out DIR [--max-batch N]
    jaxshape sweep --config sweep.toml --out DIR        # or sweep.json
    jaxshape sweep --random ent_coef=log_uniform:1e-4:1e-1 --num-samples 8 ...
    jaxshape sweep --resume DIR [--restart]
    jaxshape sweep --grid learning_rate=1e-4,1e-3 --num-seeds 4 --pbt --pbt-every 2 ...   (population-based training)

Flags override the config file, and both override `--preset NAME` (named settings,
jaxshape/run/presets.py; a spec file may say `preset = "minatar"`). Static settings
(`--num-envs`, `--total-steps`, ...) are flags generated from the algorithm's config
class, as in `jaxshape train`. Multi-host:
`--distributed` calls `jax.distributed.initialize()` (auto-detected on Cloud TPU, SLURM,
...), or give `--coordinator HOST:PORT --num-processes N --process-id I`.
"""

from __future__ import annotations

import argparse
from typing import Sequence

from jaxshape.cli.flags import Parser, add_compile_cache_flag, add_dataclass_flags, configure_compile_cache, given
from jaxshape.errors import ConfigError


def _grid_item(text: str) -> tuple[str, list[str]]:
    name, sep, values = text.partition("=")
    if not sep or not name:
        raise ConfigError(f"--grid expects NAME=V1,V2,..., got {text!r}")
    items = [v for v in values.split(",") if v.strip()]
    if not items:
        raise ConfigError(f"--grid {name} is empty: give at least one value, e.g. {name}=1e-4,3e-4")
    try:
        return name, [float(v) for v in items]
    except ValueError:
        raise ConfigError(f"--grid {name}: {values!r} are not numbers; write e.g. {name}=1e-4,3e-4") from None


def _random_item(text: str) -> tuple[str, dict]:
    name, sep, dist = text.partition("=")
    kind, _, args = dist.partition(":")
    if not sep or not name or not args:
        raise ConfigError(f"--random expects NAME=log_uniform:LOW:HIGH, NAME=uniform:LOW:HIGH or "
                          f"NAME=choice:V1:V2..., got {text!r}")
    try:
        return name, {kind: [float(v) for v in args.split(":")]}
    except ValueError:
        raise ConfigError(f"--random {name}: {args!r} are not numbers; write e.g. {name}=log_uniform:1e-4:1e-1") from None


def _parser(algo: str) -> argparse.ArgumentParser:
    from jaxshape.run import builder, presets
    from jaxshape.run.job import JobOptions

    config_cls = builder.builders(algo)[0]
    parser = Parser(prog="jaxshape sweep", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = parser.add_argument_group("search")
    g.add_argument("--config", dest="spec_file", default=None, metavar="FILE", help="a sweep spec (.json or .toml)")
    g.add_argument("--algo", default=None, help="(default: ppo)")
    g.add_argument("--preset", default=None, metavar="NAME",
                   help=f"start from named settings; the config, grid and random axes override them "
                        f"({presets.describe()})")
    g.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2", help="grid values (repeatable)")
    g.add_argument("--random", action="append", default=[], metavar="NAME=DIST:A:B",
                   help="log_uniform:LOW:HIGH, uniform:LOW:HIGH or choice:V1:V2 (repeatable)")
    g.add_argument("--num-samples", type=int, default=None, help="random draws (per grid point)")
    g.add_argument("--search-seed", type=int, default=None, help="seed of the random search (default: 0)")
    g.add_argument("--num-seeds", type=int, default=None, help="seeds per configuration (default: 1)")
    g.add_argument("--seed", type=int, default=None, help="first seed (default: 0)")
    g.add_argument("--reward", dest="reward_spec", default=None, metavar="SPEC", help="reward transforms")
    g.add_argument("--reward-candidates", default=None, metavar="FILE.py",
                   help="a Python file defining CANDIDATES (a list or dict of reward transforms): every candidate "
                        "x seed trains from one compile; candidates.json ranks them and reports each term")
    g.add_argument("--fitness", default=None, choices=["return", "eval_return", "success"],
                   help="what ranks reward candidates: the extrinsic return (default), the greedy evaluation's, or "
                        "the env's info['is_success'] at episode ends")
    g.add_argument("--rank-by", default=None, help="final_return_iqm (default), final_return_mean, auc_iqm, auc_mean")
    p = parser.add_argument_group("population-based training (exploit and explore between chunks)")
    p.add_argument("--pbt", action="store_true",
                   help="every --pbt-every chunks the worst members copy the state and hyperparameters of the best "
                        "and perturb the searched ones (x0.8 or x1.25, within their ranges); pbt_events.jsonl lists "
                        "every copy")
    p.add_argument("--pbt-every", type=int, default=None, metavar="CHUNKS", help="(default: 1)")
    p.add_argument("--pbt-fraction", type=float, default=None, metavar="F",
                   help="the fraction replaced, and the fraction they copy from (default: 0.25)")
    r = parser.add_argument_group("running")
    r.add_argument("--out", default=None, help="sweep folder (required unless --resume)")
    r.add_argument("--resume", metavar="SWEEP_DIR", default=None, help="continue an interrupted sweep")
    r.add_argument("--restart", action="store_true",
                   help="with --resume: train its interrupted batches again from update 0 (their checkpoints move to "
                        "discarded_checkpoints/), e.g. when none of a batch's checkpoints is readable")
    r.add_argument("--max-batch", type=int, default=None, help="at most this many members per compiled batch")
    r.add_argument("--no-shard", action="store_true", help="keep all members on one device")
    add_compile_cache_flag(r)
    add_dataclass_flags(parser.add_argument_group("each batch's job (a sweep evaluates only at the end unless "
                                                  "--eval-every says otherwise, and plots nothing)"),
                        JobOptions, skip=frozenset({"plot"}))
    d = parser.add_argument_group("multi-host")
    d.add_argument("--distributed", action="store_true", help="jax.distributed.initialize() with auto-detection")
    d.add_argument("--coordinator", default=None, metavar="HOST:PORT")
    d.add_argument("--num-processes", type=int, default=None)
    d.add_argument("--process-id", type=int, default=None)
    add_dataclass_flags(parser.add_argument_group(f"{algo} settings (static)"), config_cls)
    return parser


def build_spec(args: argparse.Namespace):
    """The SweepSpec from the config file (if any) with the flags on top."""
    import dataclasses

    from jaxshape import sweep
    from jaxshape.run import builder
    from jaxshape.run.job import JobOptions

    payload = {}
    if args.spec_file:
        payload = dataclasses.asdict(sweep.load_spec(args.spec_file))
    if applied := payload.get("preset"):  # the file's preset, undone: re-applied below under the flags
        payload["config"] = {k: v for k, v in payload["config"].items() if k not in applied["config"]}
        payload["hparams"] = {k: v for k, v in payload["hparams"].items() if k not in applied["hparams"]}
        payload["preset"] = applied["name"]
    if args.algo:
        payload["algo"] = args.algo
    config_cls = builder.builders(payload.get("algo", "ppo"))[0]
    fields = {f.name for f in dataclasses.fields(config_cls)}
    payload["config"] = {**payload.get("config", {}),
                         **{k: v for k, v in vars(args).items() if k in fields and v is not None}}
    payload["grid"] = {**payload.get("grid", {}), **dict(_grid_item(t) for t in args.grid)}
    payload["random"] = {**payload.get("random", {}), **dict(_random_item(t) for t in args.random)}
    if args.num_seeds is not None or args.seed is not None:
        if args.num_seeds is not None and args.num_seeds <= 0:
            raise ConfigError(f"--num-seeds must be a positive integer, got {args.num_seeds}")
        count = args.num_seeds or len(payload.get("seeds", (0,)))
        payload["seeds"] = list(range(args.seed or 0, (args.seed or 0) + count))
    for flag, key in (("preset", "preset"), ("num_samples", "num_samples"), ("search_seed", "search_seed"),
                      ("reward_spec", "reward"), ("reward_candidates", "reward_candidates"), ("fitness", "fitness"),
                      ("max_batch", "max_batch"), ("rank_by", "rank_by")):
        if getattr(args, flag) is not None:
            payload[key] = getattr(args, flag)
    if args.pbt or args.pbt_every is not None or args.pbt_fraction is not None:
        pbt = {**payload.get("pbt", {}), **({"every": args.pbt_every} if args.pbt_every is not None else {}),
               **({"fraction": args.pbt_fraction} if args.pbt_fraction is not None else {})}
        payload["pbt"] = pbt or {"every": 1}
    if payload.get("max_batch") is not None and payload["max_batch"] <= 0:
        raise ConfigError(f"--max-batch must be a positive integer, got {payload['max_batch']}")
    options = {**payload.get("options", {}), **given(args, JobOptions)}
    options.pop("progress", None)  # how this process shows the run, not part of the sweep
    JobOptions.from_dict(options)  # bad names and values are one line now, before anything compiles
    payload["options"] = options
    return sweep.spec_from_dict(payload)


def _initialize_distributed(args: argparse.Namespace) -> None:
    import jax

    given = [args.coordinator, args.num_processes, args.process_id]
    if any(v is not None for v in given):
        if any(v is None for v in given):
            raise ConfigError("give all of --coordinator, --num-processes and --process-id (or --distributed)")
        jax.distributed.initialize(args.coordinator, num_processes=args.num_processes, process_id=args.process_id)
    elif args.distributed:
        jax.distributed.initialize()


def main(argv: Sequence[str]) -> int:
    """Run `jaxshape sweep`; returns the exit status (bad input raises ConfigError)."""
    from jaxshape import sweep

    pre = Parser(prog="jaxshape sweep", add_help=False)
    pre.add_argument("--algo", default=None)
    pre.add_argument("--config", dest="spec_file", default=None)
    pre.add_argument("--distributed", action="store_true")
    pre.add_argument("--coordinator", default=None)
    pre.add_argument("--num-processes", type=int, default=None)
    pre.add_argument("--process-id", type=int, default=None)
    known = pre.parse_known_args(argv)[0]
    _initialize_distributed(known)  # before anything (even importing a learner) touches a backend
    algo = known.algo or (sweep.load_spec(known.spec_file).algo if known.spec_file else "ppo")
    args = _parser(algo).parse_args(argv)
    configure_compile_cache(args)
    progress = args.progress is not False
    if args.restart and not args.resume:
        raise ConfigError("--restart trains an existing sweep's interrupted batches again: give it with "
                          "--resume SWEEP_DIR")
    if args.resume:
        best = sweep.resume_sweep(args.resume, progress=progress, restart=args.restart)
        out = args.resume
    else:
        if not args.out:
            raise ConfigError("give the sweep folder with --out DIR (or continue one with --resume DIR)")
        spec = build_spec(args)  # validated before anything compiles
        best = sweep.run_sweep(spec, args.out, shard=not args.no_shard, progress=progress)
        out = args.out
    if best is not None:
        values = ", ".join(f"{k}={v:.4g}" for k, v in best.items()
                           if isinstance(v, float) and not k.startswith(("final_", "auc")))
        print(f"best configuration: {values}   final return IQM {best['final_return_iqm']}   "
              f"area under curve IQM {best['auc_iqm']}")
        print(f"sweep folder: {out} (results.csv, best.json, sweep_curves.png)")
    return 0
