"""`jaxshape search`: an evolution strategy over reward parameters (or any traced
hyperparameters); each generation's population trains in one compiled, vmapped call.

    jaxshape search --env CartPole-v1 --reward "SPEC" --param reward_coefs.NAME=0:2 \\
        --strategy openes --population 8 --generations 10 --fitness return --out DIR
    jaxshape search --resume DIR

`--param NAME=LOW:HIGH` (repeatable; `NAME=LOW:HIGH:log` for a log range) names a
hyperparameter as `jaxshape sweep --grid` does: `reward_coefs.<stream>`,
`reward.<transform>.<hparam>`, `learning_rate`, or a vector such as a parametric reward
term's weights. DIR gets generations.jsonl, best.json (with the `jaxshape train` command
that reruns the best member), search_fitness.png and one run folder per generation.
"""

from __future__ import annotations

import argparse
from typing import Sequence

from jaxshape.cli.flags import Parser, add_compile_cache_flag, add_dataclass_flags, configure_compile_cache, given
from jaxshape.errors import ConfigError


def _parser(algo: str) -> argparse.ArgumentParser:
    from jaxshape.run import builder
    from jaxshape.run.job import JobOptions
    from jaxshape.search import FITNESS, STRATEGIES

    config_cls, hparams_cls, _, _ = builder.builders(algo)
    parser = Parser(prog="jaxshape search", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = parser.add_argument_group("search")
    g.add_argument("--algo", default="ppo", help="(default: ppo)")
    g.add_argument("--param", action="append", default=[], metavar="NAME=LOW:HIGH",
                   help="a searched hyperparameter and its range (repeatable; NAME=LOW:HIGH:log for a log range)")
    g.add_argument("--strategy", default="openes", choices=STRATEGIES, help="(default: openes)")
    g.add_argument("--population", type=int, default=8, help="members per generation (default: 8)")
    g.add_argument("--generations", type=int, default=10, help="(default: 10)")
    g.add_argument("--fitness", default="return", choices=FITNESS,
                   help="the task's measure the search maximises (default: return, the extrinsic return at the end)")
    g.add_argument("--sigma", type=float, default=0.2,
                   help="the strategy's initial step size, as a fraction of each range (default: 0.2)")
    g.add_argument("--es-learning-rate", type=float, default=0.1,
                   help="openes's Adam step in units of the range (default: 0.1)")
    g.add_argument("--seeds-per-member", type=int, default=1,
                   help="seeds each member trains; its fitness is their mean (default: 1)")
    g.add_argument("--seed", type=int, default=0, help="seed of the search and the first training seed (default: 0)")
    g.add_argument("--reward", dest="reward_spec", default="", metavar="SPEC", help="reward transforms")
    g.add_argument("--set", dest="assignments", action="append", default=[], metavar="NAME=VALUE",
                   help="hold a traced hyperparameter fixed by its dotted name, e.g. reward_coefs.hurry=0.5 or "
                        "reward.index=1 (repeatable)")
    g.add_argument("--reward-candidates", default="", metavar="FILE.py",
                   help="a Python file defining CANDIDATES, e.g. one parametric reward whose weights you search")
    r = parser.add_argument_group("running")
    r.add_argument("--out", default=None, help="search folder (required unless --resume)")
    r.add_argument("--resume", metavar="SEARCH_DIR", default=None, help="continue an interrupted search")
    add_compile_cache_flag(r)
    add_dataclass_flags(parser.add_argument_group("each generation's job (it evaluates only at the end)"),
                        JobOptions, skip=frozenset({"plot"}))
    add_dataclass_flags(parser.add_argument_group(f"{algo} settings (static)"), config_cls)
    add_dataclass_flags(parser.add_argument_group(f"{algo} hyperparameters (traced, fixed during the search)"),
                        hparams_cls, skip=frozenset({"reward", "reward_coefs", "reward_gammas"}))
    return parser


def build_spec(args: argparse.Namespace):
    """The SearchSpec from the flags (validated again, fully, before anything trains)."""
    import pathlib

    from jaxshape.run import builder
    from jaxshape.run.job import JobOptions
    from jaxshape.search import SearchSpec, parse_param
    from jaxshape.sweep.spec import parse_assignment

    config_cls, hparams_cls, _, _ = builder.builders(args.algo)
    options = given(args, JobOptions)
    options.pop("progress", None)  # how this process shows the search, not part of it
    JobOptions(**options)
    candidates = str(pathlib.Path(args.reward_candidates).resolve()) if args.reward_candidates else ""
    return SearchSpec(params=tuple(parse_param(p) for p in args.param), algo=args.algo,
                      config=given(args, config_cls),
                      hparams={**given(args, hparams_cls), **dict(parse_assignment(t) for t in args.assignments)},
                      reward=args.reward_spec,
                      reward_candidates=candidates, strategy=args.strategy, population=args.population,
                      generations=args.generations, fitness=args.fitness, sigma=args.sigma,
                      es_learning_rate=args.es_learning_rate, seeds_per_member=args.seeds_per_member, seed=args.seed,
                      options=options)


def main(argv: Sequence[str]) -> int:
    """Run `jaxshape search`; returns the exit status (bad input raises ConfigError)."""
    from jaxshape import search

    pre = Parser(prog="jaxshape search", add_help=False)
    pre.add_argument("--algo", default="ppo")
    from jaxshape.run import builder

    builder.get(pre.parse_known_args(argv)[0].algo)
    args = _parser(pre.parse_known_args(argv)[0].algo).parse_args(argv)
    configure_compile_cache(args)
    progress = args.progress is not False
    if args.resume:
        best, out = search.resume_search(args.resume, progress=progress), args.resume
    else:
        if not args.out:
            raise ConfigError("give the search folder with --out DIR (or continue one with --resume DIR)")
        best, out = search.run_search(build_spec(args), args.out, progress=progress), args.out
    print(f"best {best['fitness']} {best['best_fitness']} (generation {best['generation']}, member {best['member']})"
          f": {search.format_values(best['params'])}")
    print(f"rerun it: {' '.join(best['train_command'])}")
    print(f"search folder: {out} (generations.jsonl, best.json, search_fitness.png)")
    return 0
