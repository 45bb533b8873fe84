"""`jaxshape plot RUN_DIR... [--out PNG]`: learning curves of one or more run folders."""

from __future__ import annotations

import pathlib
from typing import Sequence

from jaxshape.cli.flags import Parser
from jaxshape.errors import ConfigError


def main(argv: Sequence[str]) -> int:
    from jaxshape.run.plotting import plot_runs

    parser = Parser(prog="jaxshape plot", description="Plot learning curves of one or more run folders.")
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
