"""`jaxshape train` end to end in a real subprocess, and its bad-input contract."""

import json
import subprocess
import sys

import pytest

TINY = ["--num-envs", "4", "--num-steps", "16", "--total-steps", "640", "--num-epochs", "1",
        "--num-minibatches", "2", "--hidden-sizes", "8,8", "--no-progress"]


def jaxshape(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "jaxshape", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    result = jaxshape("train", *TINY, "--num-seeds", "2", "--learning-rate", "1e-3", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "final return per seed" in result.stdout
    return out


def test_train_writes_config_metrics_and_summary(run_dir):
    config = json.loads((run_dir / "config.json").read_text())
    assert config["config"]["num_envs"] == 4 and config["config"]["hidden_sizes"] == [8, 8]
    assert config["hparams"]["learning_rate"] == pytest.approx([1e-3, 1e-3])  # one value per member
    assert config["seeds"] == [0, 1]

    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [64 * (i + 1) for i in range(10)]
    last = records[-1]
    assert len(last["episode_return_per_seed"]) == 2
    valid = [r for r in last["episode_return_per_seed"] if r is not None]
    assert last["episode_return"] == pytest.approx(sum(valid) / len(valid))

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["final_return_per_seed"] == last["episode_return_per_seed"]
    assert summary["steps_per_second"] > 0 and summary["compile_seconds"] > 0


def test_eval_episodes_0_trains_without_evaluating(tmp_path):
    from jaxshape import cli

    out = tmp_path / "run"
    assert cli.main(["train", *TINY, "--eval-episodes", "0", "--no-plot", "--out", str(out)]) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 10 and not any("eval_return" in r for r in records)
    assert json.loads((out / "summary.json").read_text())["final_eval_return"] is None


BAD_INPUT = [
    (["--env", "CartPol-v1"], "did you mean CartPole-v1"),
    (["--algo", "dqn"], "choose one of ppo"),
    (["--num-minibatches", "3"], "pick a divisor of 64"),
    (["--num-envs", "0"], "num_envs must be a positive integer"),
    (["--num-seeds", "0"], "num_seeds must be a positive integer"),
    (["--learning-rate", "fast"], "invalid float value"),
    (["--env", "brax/hoper"], "did you mean brax/hopper"),
    (["--env-options", "max_steps=9"], "takes no option max_steps: its params are max_steps_in_episode"),
    (["--env-options", "max_steps_in_episode"], "write key=value"),
    (["--env-options", "max_steps_in_episode=-5"], "max_steps_in_episode=-5 for CartPole-v1 is out of its domain"),
]

# All the bad-input cases go through the entry point of `python -m jaxshape` (cli.main, whose
# return value is the exit status) in ONE subprocess, so JAX is imported once, not per case.
# A case that raises shows its traceback in its stderr, as `python -m jaxshape` would print it.
# (test_existing_run_folder_is_never_overwritten checks the status of a real `python -m jaxshape`.)
MAIN_PER_CASE = """
import contextlib, io, json, sys, traceback
from jaxshape.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
    results.append({"returncode": code, "stderr": err.getvalue()})
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def bad_input_results(tmp_path_factory):
    base = tmp_path_factory.mktemp("bad-input")
    argvs = [["train", *TINY, "--out", str(base / str(i) / "run"), *args] for i, (args, _) in enumerate(BAD_INPUT)]
    result = subprocess.run([sys.executable, "-c", MAIN_PER_CASE, json.dumps(argvs)], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return base, json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("case", range(len(BAD_INPUT)), ids=[" ".join(args) for args, _ in BAD_INPUT])
def test_bad_input_is_one_line_and_exit_2(case, bad_input_results):
    base, results = bad_input_results
    fix, result = BAD_INPUT[case][1], results[case]
    assert result["returncode"] == 2
    assert "Traceback" not in result["stderr"]
    lines = [line for line in result["stderr"].splitlines() if line.startswith("jaxshape: error:")]
    assert len(lines) == 1 and fix in lines[0], result["stderr"]
    assert not (base / str(case) / "run").exists()  # refused before anything was written


def test_existing_run_folder_is_never_overwritten(run_dir):
    before = (run_dir / "metrics.jsonl").read_bytes()
    result = jaxshape("train", *TINY, "--out", str(run_dir))
    assert result.returncode == 2 and "already holds a run" in result.stderr
    assert (run_dir / "metrics.jsonl").read_bytes() == before
