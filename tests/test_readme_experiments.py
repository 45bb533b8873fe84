"""Every `python experiments/*.py` README names, in code or in prose, must exist and
answer `--help`."""

import json
import re
import subprocess
import sys

import pytest

from readme_blocks import README, ROOT

EXPERIMENTS = sorted(set(re.findall(r"python3? (experiments/\w+\.py)", README)))

# Every script runs as `python <script> --help` would (its folder first on sys.path, run as
# __main__, argv = [script, "--help"]), all in ONE subprocess: the JAX/brax imports are paid
# once instead of once per script. Each script's own modules are dropped before the next one.
HELP_ALL = """
import contextlib, io, json, pathlib, runpy, sys, traceback
root, scripts, results = pathlib.Path(sys.argv[1]), sys.argv[2:], {}
folder = str(root / "experiments")
sys.path.insert(0, folder)
for script in scripts:
    out, err, code = io.StringIO(), io.StringIO(), 0
    sys.argv = [str(root / script), "--help"]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            runpy.run_path(str(root / script), run_name="__main__")
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
    for name, module in list(sys.modules.items()):
        if (getattr(module, "__file__", None) or "").startswith(folder):
            del sys.modules[name]
    results[script] = {"returncode": code, "stdout": out.getvalue(), "stderr": err.getvalue()}
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def experiment_help():
    result = subprocess.run([sys.executable, "-c", HELP_ALL, str(ROOT), *EXPERIMENTS], capture_output=True, text=True,
                            timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("script", EXPERIMENTS)
def test_every_experiment_readme_names_exists_and_answers_help(script, experiment_help):
    assert (ROOT / script).is_file(), f"README names {script}, which does not exist"
    result = experiment_help[script]
    assert result["returncode"] == 0 and "usage" in result["stdout"].lower(), result["stderr"][-2000:]
