"""README, part 0 of tests/readme_blocks.py: from the top to "Long runs" (install, quick
start, reward transforms, imitation, your own transform); every code block runs."""

from readme_blocks import count, run_part, show


def test_readme_start_code_blocks_run(tmp_path, monkeypatch, capsys):
    report = run_part(0, tmp_path, monkeypatch)
    show(report, capsys)
    assert count(report, "ran at a tiny size: jaxshape") >= 5
    assert count(report, "ran a Python snippet") >= 3
