"""README cannot drift from the code: every shell command and Python snippet in its code
blocks runs here, in README order, in a fresh folder, at a tiny size (flags appended to
`jaxshape train`/`sweep` and `total_steps=` in snippets shrink the runs; argparse takes
the last value of a flag). What cannot run on a CPU test machine is checked as far as it
can be, and the test says which:

- commands for several hosts (`--coordinator`, `--distributed`, `gcloud`, `srun`) and
  the GPU benchmark script: parsed only (the jaxshape part by jaxshape's own parser,
  the script by `bash -n`);
- installing (`python3 -m venv ... && pip install ...`): CI installs exactly so; here
  only the command after the install runs;
- the test command itself and `tensorboard` (not a dependency): not run.

Every `python experiments/*.py` README names, in code or in prose, must exist and
answer `--help`.
"""

import json
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

from jaxshape import cli

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
TINY_PPO = ["--num-envs", "4", "--num-steps", "8", "--total-steps", "128", "--num-epochs", "1",
            "--num-minibatches", "2", "--hidden-sizes", "8", "--eval-episodes", "2", "--no-progress", "--no-plot"]
TINY_SAC = ["--total-steps", "400", "--learning-starts", "100", "--steps-per-update", "100", "--minibatch-size", "16",
            "--buffer-size", "1000", "--hidden-sizes", "8", "--eval-episodes", "2", "--no-progress", "--no-plot"]
TINY_SWEEP = ["--num-envs", "4", "--num-steps", "8", "--total-steps", "64", "--num-epochs", "1",
              "--num-minibatches", "2", "--hidden-sizes", "8", "--eval-episodes", "2", "--no-progress"]
TINY_SEARCH = TINY_SWEEP + ["--population", "2", "--generations", "1"]
TINY_STEPS = {"PPOConfig": 4096, "SACConfig": 1200}
PARSE_ONLY = ("--coordinator", "--distributed", "gcloud ", "srun ", "experiments/gpu_benchmarks.sh")


def code_blocks() -> list[tuple[str, str]]:
    """(language, text) of every fenced block, in order; plain-text blocks are skipped."""
    return [(lang or "bash", body) for lang, body in re.findall(r"```(\w*)\n(.*?)```", README, re.S)
            if lang in ("", "bash", "python")]


def shell_commands(block: str) -> list[list[str]]:
    """Each command line of a shell block as words (continuations joined, comments dropped)."""
    lines = block.replace("\\\n", " ").splitlines()
    return [words for words in (shlex.split(line, comments=True) for line in lines) if words]


def tiny(argv: list[str]) -> list[str]:
    if argv[0] == "sweep":
        return argv + TINY_SWEEP
    if argv[0] == "search" and "--resume" not in argv:
        return argv + TINY_SEARCH
    if argv[0] == "train" and "--resume" not in argv:
        return argv + (TINY_SAC if "sac" in argv else TINY_PPO)
    return argv


def jaxshape_part(words: list[str]) -> list[str]:
    """The jaxshape command inside `srun ... jaxshape ...` or `--command="jaxshape ..."`."""
    for i, word in enumerate(words):
        if word == "jaxshape":
            return words[i + 1:]
        if word.startswith("--command=jaxshape"):
            return shlex.split(word.split("=", 1)[1])[1:]
    raise AssertionError(f"no jaxshape command in {words!r}")


def parse_sweep_only(argv: list[str]) -> None:
    from jaxshape.cli import sweep as sweep_cli

    argv = [a for a in argv if a != "--distributed"]
    for flag in ("--coordinator", "--num-processes", "--process-id"):  # placeholders such as N, i
        if flag in argv:
            del argv[argv.index(flag):argv.index(flag) + 2]
    args = sweep_cli._parser("ppo").parse_args(argv)
    sweep_cli.build_spec(args)  # reads and validates the spec file too


def split_and(words: list[str]) -> list[list[str]]:
    parts, current = [], []
    for word in words:
        if word == "&&":
            parts.append(current)
            current = []
        else:
            current.append(word)
    return parts + [current]


def run_command(words: list[str], report: list[str]) -> None:
    line = shlex.join(words)
    if any(marker in line for marker in PARSE_ONLY):
        if "gpu_benchmarks.sh" in line:
            assert subprocess.run(["bash", "-n", str(ROOT / "experiments" / "gpu_benchmarks.sh")]).returncode == 0
        else:
            parse_sweep_only(jaxshape_part(words)[1:])
        report.append(f"parsed only (needs several hosts or a GPU): {line}")
        return
    for part in split_and(words):
        text = shlex.join(part)
        if part[0] in ("python3", "pip", ".") or part[:3] == ["python", "-m", "venv"]:
            report.append(f"not run (CI installs exactly so): {text}")
        elif part[:3] == ["python", "-m", "pytest"]:
            report.append(f"not run (the test command itself): {text}")
        elif part[0] == "tensorboard":
            report.append(f"not run (tensorboard is not a dependency): {text}")
        elif part[0] == "jaxshape":
            assert cli.main(tiny(part[1:])) == 0, text
            report.append(f"ran at a tiny size: {text}")
        else:
            raise AssertionError(f"README command {text!r}: teach tests/test_readme.py how to run it")


def run_snippet(code: str, namespace: dict) -> None:
    def shrink(match):
        return f"{match.group(1)}{match.group(2)}total_steps={TINY_STEPS[match.group(1)[:-1]]}"

    code = re.sub(r"(PPOConfig\(|SACConfig\()([^)]*?)total_steps=[0-9_]+", shrink, code)
    exec(compile(code, "README.md", "exec"), namespace)


def test_every_readme_code_block_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "experiments").symlink_to(ROOT / "experiments")
    report, namespace = [], {}
    for lang, body in code_blocks():
        if lang == "python":
            run_snippet(body, namespace)
            report.append(f"ran a Python snippet of {len(body.splitlines())} lines")
        else:
            for command in shell_commands(body):
                run_command(command, report)
    with capsys.disabled():
        print("\nREADME code blocks:\n  " + "\n  ".join(report))
    assert sum(line.startswith("ran at a tiny size: jaxshape") for line in report) >= 8
    assert sum(line.startswith("ran a Python snippet") for line in report) >= 4


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
