"""envs/ and algos/ install as jaxshape.envs and jaxshape.algos, never as top-level
`envs` or `algos` packages."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_installed_package_has_no_top_level_envs_or_algos(tmp_path):
    code = (
        "import importlib.util, jaxshape.envs, jaxshape.algos;"
        "assert importlib.util.find_spec('envs') is None;"
        "assert importlib.util.find_spec('algos') is None;"
        "print(jaxshape.envs.__file__, jaxshape.algos.__file__)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    envs_file, algos_file = result.stdout.split()
    assert Path(envs_file).parent.name == "envs" and Path(algos_file).parent.name == "algos"


def test_wheel_puts_everything_under_jaxshape(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("jaxshape-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert top <= {"jaxshape", next(n for n in top if n.endswith(".dist-info"))}, top
    assert "jaxshape/envs/registry.py" in names and "jaxshape/algos/ppo.py" in names
