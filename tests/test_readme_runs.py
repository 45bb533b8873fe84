"""README, part 1 of tests/readme_blocks.py: from "Long runs" to "Sweeps" (resume, eval,
plot, load_policy, SAC, MinAtar, recurrent); every code block runs."""

from readme_blocks import count, run_part, show


def test_readme_runs_code_blocks_run(tmp_path, monkeypatch, capsys):
    report = run_part(1, tmp_path, monkeypatch)
    show(report, capsys)
    assert count(report, "ran at a tiny size: jaxshape") >= 5
    assert count(report, "ran a Python snippet") >= 1
