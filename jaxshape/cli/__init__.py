"""The `jaxshape` command: train, eval, plot and sweep, one module each over the shared
flags of `jaxshape.cli.flags`.

    jaxshape train [--algo ppo] [--env CartPole-v1] [--total-steps N] [--num-seeds S] ...
    jaxshape eval RUN_DIR      jaxshape plot RUN_DIR...      jaxshape sweep --grid ...
    jaxshape search --param reward_coefs.NAME=LOW:HIGH ...   (an evolution strategy over reward parameters)

Bad input prints one line naming the fix and exits with status 2 before anything
compiles (a run folder in another checkpoint format is bad input too); a run that
diverges, cannot write a checkpoint or has no readable checkpoint left to resume from
prints one line and exits 1, leaving its earlier checkpoints and logs as they were.
"""

from __future__ import annotations

import importlib
import logging
import sys
import warnings
from typing import Sequence

from jaxshape.errors import ConfigError

EXIT_BAD_INPUT = 2
EXIT_RUN_STOPPED = 1
COMMANDS = {"train": "jaxshape.cli.train", "eval": "jaxshape.cli.evaluate", "plot": "jaxshape.cli.plot",
            "sweep": "jaxshape.cli.sweep", "search": "jaxshape.cli.search"}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: jaxshape {train,eval,plot,sweep,search} ...   (jaxshape <command> --help for its flags)")
        return 0 if argv else EXIT_BAD_INPUT
    command, rest = argv[0], argv[1:]
    absl = logging.getLogger("absl")  # orbax logs a failed read or write with its traceback: the line says it
    level = absl.level
    absl.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning
            return _run(command, rest)
    finally:
        absl.setLevel(level)


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning (e.g. a damaged checkpoint set aside on resume) as one line, like errors."""
    print(f"jaxshape: warning: {message}", file=sys.stderr if file is None else file)


def _run(command: str, rest: list[str]) -> int:
    try:
        if command not in COMMANDS:
            raise ConfigError(f"unknown command {command!r}: choose one of {', '.join(COMMANDS)}")
        return importlib.import_module(COMMANDS[command]).main(rest)
    except ConfigError as err:
        print(f"jaxshape: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("jaxshape: interrupted; resume with `jaxshape train --resume RUN_DIR`", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - a run that stopped for a reason it can name: one line
        from jaxshape.run.checkpoints import CheckpointError, CheckpointsUnreadable
        from jaxshape.run.job import TrainingDiverged

        if isinstance(err, (TrainingDiverged, CheckpointError, CheckpointsUnreadable)):
            print(f"jaxshape: training stopped: {err}", file=sys.stderr)
            return EXIT_RUN_STOPPED
        raise


if __name__ == "__main__":
    sys.exit(main())
