"""README, part 2 of tests/readme_blocks.py: from "Sweeps" to the end (sweeps, search,
PBT, meta-reward, environments); every code block runs."""

from readme_blocks import count, run_part, show


def test_readme_sweeps_code_blocks_run(tmp_path, monkeypatch, capsys):
    report = run_part(2, tmp_path, monkeypatch)
    show(report, capsys)
    assert count(report, "ran at a tiny size: jaxshape") >= 5
    assert count(report, "ran a Python snippet") >= 1
