"""The rooms of DESIGN.md §2 hold: the domain loads without Qt or torch, the trainer without Qt.

``lint-imports`` (run by ``make test``) checks every import statement against the contracts in
pyproject.toml; these tests check what actually gets loaded when each layer is imported whole.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

LOAD_ALL = """
import importlib, pkgutil, sys
package = importlib.import_module({package!r})
for info in pkgutil.walk_packages(package.__path__, {package!r} + "."):
    if info.name.endswith("__main__"):
        continue
    importlib.import_module(info.name)
print(" ".join(sorted(m for m in {watch!r} if m in sys.modules)))
"""


def loaded_by(package: str, watch: tuple[str, ...]) -> set[str]:
    result = subprocess.run([sys.executable, "-c", LOAD_ALL.format(package=package, watch=watch)],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


@pytest.mark.parametrize(("package", "forbidden"), [
    ("core", ("PySide6", "pyqtgraph", "torch", "app", "trainer", "evaluation", "cli")),
    ("trainer", ("PySide6", "pyqtgraph", "app", "evaluation", "cli")),
    ("resources", ("PySide6", "torch", "app")),
])
def test_a_layer_loads_nothing_it_must_not(package, forbidden):
    assert loaded_by(package, forbidden) == set()
