"""Read and write iBUG ``.pts`` landmark files (1-based on disk, 0-based in memory).

The reader is tolerant of layout (``n_points:`` spacing, CRLF, blank lines, a trailing newline or
none) and strict about content (the point count, the braces, finite numbers), so a damaged file is
reported with its path and line instead of becoming a wrong label.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from core.errors import FormatError
from core.landmarks import N_POINTS

#: No frame is this large: a coordinate beyond it is a damaged file, not a label.
MAX_COORDINATE = 1e6


def parse_pts(text: str, source: str = "<text>", expected_points: int | None = N_POINTS
              ) -> np.ndarray:
    """Parse the text of a ``.pts`` file into 0-based float32 points ``(n, 2)``."""
    lines = [(number, line.strip()) for number, line in enumerate(text.splitlines(), start=1)]
    lines = [(number, line) for number, line in lines if line]
    declared: int | None = None
    body_start = None
    for position, (number, line) in enumerate(lines):
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if line == "{":
            body_start = position + 1
            break
        if key == "n_points":
            try:
                declared = int(value.strip())
            except ValueError:
                raise FormatError(f"{source}, line {number}: n_points is not an integer: "
                                  f"{value.strip()!r}") from None
        elif key != "version":
            raise FormatError(f"{source}, line {number}: unexpected header line {line!r}")
    if body_start is None:
        raise FormatError(f"{source}: missing '{{' before the points")
    if declared is None:
        raise FormatError(f"{source}: missing the n_points header")
    close = next((i for i in range(body_start, len(lines)) if lines[i][1] == "}"), None)
    if close is None:
        raise FormatError(f"{source}: missing '}}' after the points")
    trailing = lines[close + 1:]
    if trailing:
        raise FormatError(f"{source}, line {trailing[0][0]}: text after the closing '}}'")
    body = lines[body_start:close]
    if len(body) != declared:
        raise FormatError(f"{source}: n_points says {declared} but the file has {len(body)} "
                          "point lines")
    if expected_points is not None and declared != expected_points:
        raise FormatError(f"{source}: expected {expected_points} points, found {declared}")
    points = np.empty((declared, 2), dtype=np.float64)
    for row, (number, line) in enumerate(body):
        fields = line.split()
        if len(fields) != 2:
            raise FormatError(f"{source}, line {number}: expected 'x y', got {line!r}")
        for col, field in enumerate(fields):
            try:
                value = float(field)
            except ValueError:
                raise FormatError(f"{source}, line {number}: {field!r} is not a number"
                                  ) from None
            if not math.isfinite(value):
                raise FormatError(f"{source}, line {number}: {field!r} is not a finite number")
            if abs(value) > MAX_COORDINATE:
                raise FormatError(f"{source}, line {number}: coordinate {field} is beyond "
                                  f"{MAX_COORDINATE:,.0f} pixels; the file is damaged")
            points[row, col] = value
    return (points - 1.0).astype(np.float32)


def read_pts(path: str | os.PathLike[str], expected_points: int | None = N_POINTS) -> np.ndarray:
    """Read a ``.pts`` file; returns 0-based float32 points ``(n, 2)``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise FormatError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise FormatError(f"{path}: not a text file") from None
    except OSError as exc:
        raise FormatError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return parse_pts(text, source=str(path), expected_points=expected_points)


def format_pts(points: np.ndarray) -> str:
    """The text of a ``.pts`` file for 0-based points (written 1-based, 3 decimals are not enough
    for a lossless round trip, so 6 are used)."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise FormatError(f"points must have shape (n, 2), got {pts.shape}")
    if not np.all(np.isfinite(pts)):
        raise FormatError("points contain NaN or infinite values")
    rows = "\n".join(f"{x + 1.0:.6f} {y + 1.0:.6f}" for x, y in pts)
    return f"version: 1\nn_points:  {len(pts)}\n{{\n{rows}\n}}\n"


def write_pts(path: str | os.PathLike[str], points: np.ndarray) -> None:
    """Write 0-based points to a ``.pts`` file (1-based on disk)."""
    Path(path).write_text(format_pts(points), encoding="utf-8")
