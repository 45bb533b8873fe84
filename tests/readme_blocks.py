"""README cannot drift from the code: every shell command and Python snippet in its code
blocks runs, in README order, in a fresh folder, at a tiny size (flags appended to
`jaxshape train`/`sweep` and `total_steps=` in snippets shrink the runs; argparse takes
the last value of a flag). What cannot run on a CPU test machine is checked as far as it
can be, and the report says which:

- commands for several hosts (`--coordinator`, `--distributed`, `gcloud`, `srun`) and
  the GPU benchmark script: parsed only (the jaxshape part by jaxshape's own parser,
  the script by `bash -n`); the Craftax sweep is parsed and its learner built (every grid
  axis one of its hyperparameters), not run: a minute of compile even at a tiny size
  (tests/test_craftax_env.py trains Craftax through `jaxshape train`);
- installing (`python3 -m venv ... && pip install ...`): CI installs exactly so; here
  only the command after the install runs;
- the test command itself and `tensorboard` (not a dependency): not run.

The README is run in consecutive parts, one test file each (tests/test_readme_*.py, cut
at the headings in PARTS), so that the two pytest-xdist workers share it. A part starts
in its own fresh folder, with the imports of the Python snippets before it already run,
as a reader who skipped ahead would have them.
"""

import ast
import pathlib
import re
import shlex
import subprocess

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
# a minute of compile even at a tiny size: parsed here; tests/test_craftax_env.py trains Craftax's terms
SLOW_TO_COMPILE = ("--env Craftax-",)


# The README's parts, cut at these headings: every code block is in exactly one part.
PARTS = ("## Long runs", "## Sweeps")


def heading_offset(heading: str) -> int:
    found = re.search(rf"^{re.escape(heading)}$", README, re.M)
    assert found, f"README has no heading {heading!r}: update tests/readme_blocks.py PARTS"
    return found.start()


def part_text(part: int) -> tuple[str, str]:
    """(README before part `part`, the part's own text), part in 0..len(PARTS)."""
    cuts = [0, *(heading_offset(h) for h in PARTS), len(README)]
    assert cuts == sorted(cuts), "PARTS out of README order"
    return README[:cuts[part]], README[cuts[part]:cuts[part + 1]]


def code_blocks(text: str = README) -> list[tuple[str, str]]:
    """(language, text) of every fenced block of `text`, in order; plain-text blocks are skipped."""
    return [(lang or "bash", body) for lang, body in re.findall(r"```(\w*)\n(.*?)```", text, re.S)
            if lang in ("", "bash", "python")]


def earlier_imports(text: str) -> str:
    """The top-level import statements of the Python snippets of `text`."""
    return "\n".join(ast.unparse(node) for lang, body in code_blocks(text) if lang == "python"
                     for node in ast.parse(body).body if isinstance(node, (ast.Import, ast.ImportFrom)))


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


def parse_sweep_only(argv: list[str], build: bool = False) -> None:
    """Parse a sweep command (and read its spec file); with `build`, also build its learner
    (env, reward, coefficients; nothing compiles) and check every grid axis names one of
    its hyperparameters."""
    from jaxshape.cli import sweep as sweep_cli
    from jaxshape.run import builder

    argv = [a for a in argv if a != "--distributed"]
    for flag in ("--coordinator", "--num-processes", "--process-id"):  # placeholders such as N, i
        if flag in argv:
            del argv[argv.index(flag):argv.index(flag) + 2]
    args = sweep_cli._parser("ppo").parse_args(argv)
    spec = sweep_cli.build_spec(args)  # reads and validates the spec file too
    if build:
        _, hparams = builder.build(spec.algo, spec.config, spec.reward, spec.reward_candidates, **spec.hparams)
        for axis in spec.grid:
            node = hparams
            for part in axis.split("."):
                found = part in node if isinstance(node, dict) else hasattr(node, part)
                assert found, f"grid axis {axis!r}: the built learner has no hyperparameter {part!r}"
                node = node[part] if isinstance(node, dict) else getattr(node, part)


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
    if any(marker in line for marker in SLOW_TO_COMPILE) and words[:2] == ["jaxshape", "sweep"]:
        parse_sweep_only(words[2:], build=True)
        report.append(f"parsed and built only (a minute of compile; tests/test_craftax_env.py trains it): {line}")
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
            raise AssertionError(f"README command {text!r}: teach tests/readme_blocks.py how to run it")


def run_snippet(code: str, namespace: dict) -> None:
    def shrink(match):
        return f"{match.group(1)}{match.group(2)}total_steps={TINY_STEPS[match.group(1)[:-1]]}"

    code = re.sub(r"(PPOConfig\(|SACConfig\()([^)]*?)total_steps=[0-9_]+", shrink, code)
    exec(compile(code, "README.md", "exec"), namespace)


def run_part(part: int, tmp_path, monkeypatch) -> list[str]:
    """Run every code block of README part `part` in `tmp_path`; the report, one line per command or snippet."""
    before, text = part_text(part)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "experiments").symlink_to(ROOT / "experiments")
    report, namespace = [], {}
    exec(compile(earlier_imports(before), "README.md (earlier imports)", "exec"), namespace)
    for lang, body in code_blocks(text):
        if lang == "python":
            run_snippet(body, namespace)
            report.append(f"ran a Python snippet of {len(body.splitlines())} lines")
        else:
            for command in shell_commands(body):
                run_command(command, report)
    return report


def show(report: list[str], capsys) -> None:
    with capsys.disabled():
        print("\nREADME code blocks:\n  " + "\n  ".join(report))


def count(report: list[str], prefix: str) -> int:
    return sum(line.startswith(prefix) for line in report)
