"""The layering rule: the library (envs, algos, rewards and the core modules) never
imports the application layer (run, sweep, search, cli); run never imports sweep, search
or cli; sweep never imports search or cli; search never imports cli. Importing the library loads no application dependency."""

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
APPLICATION = ("jaxshape.run", "jaxshape.sweep", "jaxshape.search", "jaxshape.cli")
LIBRARY_FILES = [*ROOT.glob("envs/*.py"), *ROOT.glob("algos/*.py"), *ROOT.glob("jaxshape/rewards/*.py"),
                 *(p for p in ROOT.glob("jaxshape/*.py") if p.name not in ("__init__.py", "__main__.py"))]
# jaxshape/__init__.py is the package's front door: its `load_policy` imports jaxshape.run
# when called (never on import), and __main__.py starts the CLI.


def imported_modules(path: pathlib.Path) -> set[str]:
    """Every module an `import` or `from ... import` anywhere in the file names."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def uses(path: pathlib.Path, layers: tuple[str, ...]) -> list[str]:
    return sorted(m for m in imported_modules(path) if m.startswith(layers))


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_library_never_imports_the_application_layer(path):
    assert uses(path, APPLICATION) == []


def test_application_layers_point_one_way():
    for path in ROOT.glob("jaxshape/run/*.py"):
        assert uses(path, ("jaxshape.sweep", "jaxshape.search", "jaxshape.cli")) == [], path
    for path in ROOT.glob("jaxshape/sweep/*.py"):
        assert uses(path, ("jaxshape.search", "jaxshape.cli")) == [], path
    for path in ROOT.glob("jaxshape/search/*.py"):
        assert uses(path, ("jaxshape.cli",)) == [], path


def test_experiments_use_no_private_names_of_the_package():
    for path in ROOT.glob("experiments/*.py"):
        tree = ast.parse(path.read_text())
        private = [node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
                   and node.attr.startswith("_") and not node.attr.startswith("__")
                   and isinstance(node.value, ast.Name) and node.value.id in ("ppo", "sac", "learner", "job", "sweep")]
        assert private == [], f"{path.name} uses {private}"


def test_importing_the_library_loads_no_application_dependency():
    code = ("import sys, jaxshape.algos, jaxshape.rewards, jaxshape.envs;"
            "print(sorted(m for m in ('tqdm', 'orbax', 'matplotlib', 'tensorboardX') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
