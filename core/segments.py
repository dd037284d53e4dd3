"""Face segments: the maximal runs of frames between frames marked "no face" and shot cuts
(issue 12).

Propagation never crosses an absence: each segment is propagated from its own keyframes, and a
segment with no keyframe gets no pseudo-labels. Ranges are 0-based and inclusive, as stored.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from core.errors import ValidationError
from core.frame_numbers import frame_number

Range = tuple[int, int]


def merge_ranges(ranges: Iterable[Range]) -> list[Range]:
    """Sorted ranges with overlapping and touching ones merged."""
    merged: list[Range] = []
    for first, last in sorted((int(a), int(b)) for a, b in ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(last, merged[-1][1]))
        else:
            merged.append((first, last))
    return merged


def check_range(first: int, last: int, frame_count: int, what: str = "range") -> Range:
    """``(first, last)`` as ints, or a ValidationError naming the frames as a person reads them."""
    first, last = int(first), int(last)
    if first > last:
        raise ValidationError(f"{what} {frame_number(first)}–{frame_number(last)}: the first "
                              "frame comes after the last")
    if first < 0 or last >= frame_count:
        raise ValidationError(f"{what} {frame_number(first)}–{frame_number(last)} is outside "
                              f"the video (frames 1..{frame_count})")
    return first, last


def add_range(ranges: Iterable[Range], first: int, last: int) -> list[Range]:
    return merge_ranges([*ranges, (first, last)])


def remove_range(ranges: Iterable[Range], first: int, last: int) -> list[Range]:
    """``ranges`` without the frames first … last (a range may split in two)."""
    kept: list[Range] = []
    for a, b in merge_ranges(ranges):
        if b < first or a > last:
            kept.append((a, b))
            continue
        if a < first:
            kept.append((a, first - 1))
        if b > last:
            kept.append((last + 1, b))
    return kept


def absent_mask(ranges: Iterable[Range], frame_count: int) -> np.ndarray:
    """Bool ``(frame_count,)``: True on the frames of ``ranges``."""
    mask = np.zeros(frame_count, dtype=bool)
    for first, last in ranges:
        mask[max(first, 0):min(last, frame_count - 1) + 1] = True
    return mask


def face_segments(frame_count: int, absences: Iterable[Range] = (),
                  cuts: Iterable[int] = ()) -> list[Range]:
    """The runs of frames that are not absent, split at each shot cut (a cut at ``c`` ends a
    segment at ``c − 1`` and starts the next at ``c``), in order."""
    present = ~absent_mask(absences, frame_count)
    frames = np.flatnonzero(present)
    if len(frames) == 0:
        return []
    starts_shot = np.isin(frames[1:], np.fromiter((int(c) for c in cuts), dtype=np.int64))
    breaks = np.flatnonzero((np.diff(frames) != 1) | starts_shot)
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [len(frames) - 1]])
    return [(int(frames[s]), int(frames[e])) for s, e in zip(starts, ends)]


def split_at_cuts(ranges: Iterable[Range], cuts: Iterable[int]) -> list[Range]:
    """``ranges`` with each one split before every cut inside it (a cut at ``c`` ends a piece
    at ``c − 1``)."""
    cuts = sorted(int(c) for c in cuts)
    pieces: list[Range] = []
    for first, last in ranges:
        start = first
        for cut in (c for c in cuts if first < c <= last):
            pieces.append((start, cut - 1))
            start = cut
        pieces.append((start, last))
    return pieces


def describe_ranges(ranges: Iterable[Range]) -> str:
    """``"12–40, 77"`` in frame numbers as a person reads them."""
    return ", ".join(str(frame_number(a)) if a == b else f"{frame_number(a)}–{frame_number(b)}"
                     for a, b in ranges)
