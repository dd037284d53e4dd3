"""The ``resources`` package without Qt: every shipped icon is a well-formed 24×24 SVG drawn in
explicit colours, the style sheet loads, every file is covered by the wheel's package data, and
importing the package pulls in no Qt (core and trainer may read shipped data)."""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import resources

SVG = "{http://www.w3.org/2000/svg}"
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", resources.icon_names())
def test_icon_is_well_formed_svg(name: str) -> None:
    path = resources.icon_path(name)
    root = ET.fromstring(path.read_bytes())
    assert root.tag == f"{SVG}svg"
    side = 64 if name == "faceprop" else 24
    assert root.get("viewBox") == f"0 0 {side} {side}"
    assert (root.get("width"), root.get("height")) == (str(side), str(side))
    text = path.read_text(encoding="utf-8")
    assert "currentColor" not in text  # Qt's SVG renderer needs explicit colours
    assert re.search(r'(stroke|fill)="#[0-9a-f]{6}"', text)
    assert len(list(root.iter())) > 1


def test_the_expected_icons_are_shipped() -> None:
    names = set(resources.icon_names())
    assert {"faceprop", "play", "pause", "propagate", "accept", "open_project"} <= names
    assert all(resources.has_icon(n) for n in names) and not resources.has_icon("no_such")


def test_loader_reads_paths_bytes_and_text() -> None:
    path = resources.icon_path("play")
    assert path.is_file() and path.suffix == ".svg"
    assert resources.data("icons/play.svg") == path.read_bytes()
    assert resources.text("icons/play.svg").startswith("<svg")
    with pytest.raises(FileNotFoundError, match="no_such"):
        resources.path("icons/no_such.svg")


def test_style_sheet_loads_and_references_only_shipped_files() -> None:
    sheet = resources.style_sheet()
    assert "QToolBar#main_toolbar" in sheet
    assert sheet.count("{") == sheet.count("}")
    for reference in re.findall(r"url\(([^)]+)\)", sheet):
        assert resources.path(reference.strip("\"'"))


def test_package_data_ships_every_resource_file() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = config["tool"]["setuptools"]
    assert "resources*" in setuptools["packages"]["find"]["include"]
    patterns = setuptools["package-data"]["resources"]
    folder = Path(resources.__file__).parent
    shipped = [p.relative_to(folder).as_posix() for p in folder.rglob("*")
               if p.is_file() and p.suffix not in (".py", ".pyc")]
    assert shipped
    for name in shipped:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name


def test_resources_import_no_qt() -> None:
    code = ("import sys, resources; resources.style_sheet(); resources.icon_path('play'); "
            "assert not [m for m in sys.modules if m.startswith('PySide6')]")
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)
