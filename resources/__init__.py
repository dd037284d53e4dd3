"""Shipped files, and the one small module that finds them: the toolbar and application icons
(``icons/<name>.svg``, drawn for FaceProp), the Qt style sheet (``style.qss``), and any data the
program ships (priors, templates; the generic mean shape is still computed in
``core.landmarks``).

This package is Qt-free so that ``core`` and ``trainer`` may read shipped data too; ``app.icons``
turns the SVGs into QIcons. Files are found through ``importlib.resources``, so they load the
same from a checkout and from an installed wheel (``pyproject.toml`` packages them).
"""

from __future__ import annotations

import atexit
from contextlib import ExitStack
from functools import cache
from importlib.resources import as_file, files
from pathlib import Path

ICON_DIR = "icons"
STYLE_SHEET = "style.qss"

# keeps any file extracted from a zipped install alive until exit (a no-op for plain folders)
_extracted = ExitStack()
atexit.register(_extracted.close)


@cache
def path(name: str) -> Path:
    """The file ``name`` ("icons/play.svg", "style.qss") as a real path on disk.
    Raises FileNotFoundError when the package ships no such file."""
    resource = files(__name__).joinpath(*name.split("/"))
    if not resource.is_file():
        raise FileNotFoundError(f"FaceProp ships no resource {name!r}")
    return Path(_extracted.enter_context(as_file(resource)))


def data(name: str) -> bytes:
    """The bytes of the shipped file ``name``."""
    return path(name).read_bytes()


def text(name: str) -> str:
    """The text (UTF-8) of the shipped file ``name``."""
    return path(name).read_text(encoding="utf-8")


@cache
def icon_names() -> tuple[str, ...]:
    """The names of every shipped icon, sorted ("play", "propagate", …)."""
    folder = files(__name__).joinpath(ICON_DIR)
    return tuple(sorted(item.name.removesuffix(".svg") for item in folder.iterdir()
                        if item.name.endswith(".svg")))


def has_icon(name: str) -> bool:
    return name in icon_names()


def icon_path(name: str) -> Path:
    """The SVG of the icon ``name``."""
    return path(f"{ICON_DIR}/{name}.svg")


def style_sheet() -> str:
    """The application's Qt style sheet."""
    return text(STYLE_SHEET)
