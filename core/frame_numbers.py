"""One frame-numbering convention for everything a person reads.

Internally (store, arrays, JSON ``frame`` fields) frames are 0-based indices. Whatever a person
reads (GUI panels, messages, errors, the CLI's text output) names frames 1-based, like the 300VW
file names: ``000001.pts`` is frame 1. Every such text goes through these functions so that no two
panels can disagree.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Added to a 0-based index to get the number a person reads.
DISPLAY_BASE = 1


def frame_number(index: int) -> int:
    """The number a person reads for the 0-based frame ``index`` (frame 0 is frame 1)."""
    return int(index) + DISPLAY_BASE


def frame_index(number: int) -> int:
    """The 0-based index of the frame a person calls ``number``."""
    return int(number) - DISPLAY_BASE


def frame_list(indices: Iterable[int]) -> str:
    """``"27, 61, 121"`` for indices 26, 60, 120: how messages list frames."""
    return ", ".join(str(frame_number(i)) for i in indices)


def frame_label(index: int) -> str:
    """``"frame 27"`` for index 26: how messages name a frame."""
    return f"frame {frame_number(index)}"
