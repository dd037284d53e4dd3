"""Editing rules, Qt-free: which source an edited frame's annotation gets, and the point
transforms behind the edit gestures (move, rotate, scale, visibility) on a ``(68, 2)`` shape.

The GUI's undo commands call these and write the result through the label service; tests check
the rules without a window.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.store.records import REVIEWED_SOURCES

__all__ = [
    "KEYFRAME_SOURCES",
    "REVIEWED_SOURCES",
    "TRANSFORM_KINDS",
    "combine_amounts",
    "edited_source",
    "is_reviewed",
    "move_points",
    "toggle_visibility",
    "transform_points",
]

#: The source of an annotation started from scratch, by how it was started.
KEYFRAME_SOURCES = {"template": "manual", "copy": "manual", "accept": "accepted",
                    "detect": "detector"}
TRANSFORM_KINDS = ("rotate", "scale")


def edited_source(previous_source: str | None) -> str:
    """The source an edited frame gets: manual stays manual; anything else (an imported,
    detector or accepted label, or no annotation at all: a pseudo-label) becomes corrected."""
    return "manual" if previous_source == "manual" else "corrected"


def is_reviewed(source: str) -> bool:
    """Whether an annotation records a machine label the annotator corrected or accepted."""
    return source in REVIEWED_SOURCES


def move_points(points: np.ndarray, indices: Sequence[int], positions: np.ndarray
                ) -> np.ndarray:
    """A float32 copy of ``points`` with ``indices`` moved to ``positions`` (one drag)."""
    out = np.array(points, dtype=np.float32)
    out[list(indices)] = np.asarray(positions, dtype=np.float32)
    return out


def transform_points(points: np.ndarray, indices: Sequence[int], kind: str,
                     amount: float) -> np.ndarray:
    """A copy of ``points`` with ``indices`` rotated by ``amount`` degrees (clockwise on screen,
    where y points down) or scaled by the factor ``amount``, about their centroid."""
    out = np.array(points, dtype=np.float64)
    idx = list(indices)
    centre = out[idx].mean(axis=0)
    offsets = out[idx] - centre
    if kind == "rotate":
        a = np.deg2rad(amount)
        rotation = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        offsets = offsets @ rotation.T
    elif kind == "scale":
        offsets = offsets * amount
    else:
        raise ValueError(f"unknown transform {kind!r}")
    out[idx] = centre + offsets
    return out.astype(np.float32)


def combine_amounts(kind: str, first: float, second: float) -> float:
    """One transform equal to ``first`` then ``second`` about the same centroid: rotations add,
    scale factors multiply."""
    if kind == "rotate":
        return first + second
    if kind == "scale":
        return first * second
    raise ValueError(f"unknown transform {kind!r}")


def toggle_visibility(visible: np.ndarray, indices: Sequence[int]) -> np.ndarray:
    """A bool copy of ``visible`` with ``indices`` flipped (occluded <-> visible)."""
    out = np.array(visible, dtype=bool)
    idx = list(indices)
    out[idx] = ~out[idx]
    return out
