"""Propagation that never crosses a frame marked "no face" (issue 12 §1).

A video's face segments (``core.segments.face_segments``) are propagated one at a time, each from
its own keyframes, with any propagator (``frame_of``, frame count, keyframes, progress,
should_stop, options → ``Propagation``): the propagator sees a segment as a whole video of its
own, numbered from 0. A segment without a keyframe gets no pseudo-labels. Partly reviewed frames
are applied and the frame statistics computed per segment, so neither reaches across an
absence; frames where tracking probably lost the face are flagged and their confidence capped
(``core.face_lost``). One segment covering the whole video is the plain propagation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.face_lost import cap_lost, face_lost
from core.framestats import run_statistics
from core.landmarks import N_POINTS
from core.progress import Progress, ShouldStop
from core.propagation.common import Propagation
from core.propagation.constraints import PartialReview, apply_partial_reviews
from core.segments import Range

#: With several segments, progress is frames × this, so a segment's own steps stay visible.
_RESOLUTION = 100


@dataclass
class SegmentedResult:
    """The frames that got pseudo-labels (sorted) with their points, confidence and frame
    statistics; the segments propagated and those left without a keyframe; the merged info of
    the propagator's runs (``stopped`` if any stopped, timings summed, lists joined, the last
    checkpoint and training metrics)."""

    frames: np.ndarray
    points: np.ndarray
    confidence: np.ndarray
    stats: dict[str, np.ndarray]
    propagated: list[Range]
    unlabelled: list[Range]
    info: dict[str, Any] = field(default_factory=dict)


def _segment_progress(progress: Progress | None, before: int, length: int, total: int
                      ) -> Progress | None:
    """The whole video's progress as frames done (× ``_RESOLUTION``) while one segment
    reports its own steps; one segment alone reports its propagator's steps unchanged."""
    if progress is None or length == total:
        return progress

    def report(step: int, steps: int, phase: str | None = None,
               losses: Mapping[str, float] | None = None) -> None:
        done = before + length * (step / steps if steps else 1.0)
        progress(round(done * _RESOLUTION), total * _RESOLUTION, phase, losses)
    return report


def _merge_info(merged: dict[str, Any], info: Mapping[str, Any]) -> None:
    timings = merged.setdefault("timings", {})
    for name, value in dict(info.get("timings", {})).items():
        if isinstance(value, (int, float)):
            timings[name] = round(timings.get(name, 0.0) + float(value), 3)
    for name, value in info.items():
        if name == "stopped":
            merged["stopped"] = bool(merged.get("stopped")) or bool(value)
        elif isinstance(value, list):  # one entry per segment (say, its smoother setting)
            merged[name] = [*merged.get(name, []), *value]
        elif name != "timings":
            merged[name] = value


def propagate_segments(propagate: Callable[..., Propagation],
                       frame_of: Callable[[int], np.ndarray], segments: Sequence[Range],
                       keyframes: Mapping[int, np.ndarray],
                       partial: Mapping[int, PartialReview] | None = None, *,
                       progress: Progress | None = None, should_stop: ShouldStop | None = None,
                       frame_size: tuple[int, int] | None = None,
                       **options: Any) -> SegmentedResult:
    """Propagate each segment of ``segments`` that holds a keyframe (see the module
    docstring) in frames of ``frame_size`` (width, height); ``options`` go to ``propagate``
    unchanged."""
    partial = partial or {}
    propagated = [(a, b) for a, b in segments if any(a <= k <= b for k in keyframes)]
    unlabelled = [s for s in segments if s not in propagated]
    total = sum(b - a + 1 for a, b in propagated)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]] = []
    info: dict[str, Any] = {}
    before = 0
    for first, last in propagated:
        if info.get("stopped") or (should_stop is not None and parts and should_stop()):
            break
        keys = {k - first: np.asarray(p) for k, p in keyframes.items() if first <= k <= last}
        pins = {f - first: r for f, r in partial.items() if first <= f <= last}
        length = last - first + 1
        result = propagate(lambda i, first=first: frame_of(first + i), length, keys,
                           progress=_segment_progress(progress, before, length, total),
                           should_stop=should_stop, **options)
        points, confidence = apply_partial_reviews(result.points, result.confidence, keys,
                                                   pins)
        confidence, stats = flag_and_score(points, confidence, keys, frame_size, result.stats)
        parts.append((np.arange(first, last + 1), points, confidence, dict(stats)))
        # frames a method reports are the segment's: make them the video's
        _merge_info(info, {**result.info, "transitions": [
            first + int(f) for f in result.info.get("transitions", [])]})
        before += length
    if not parts:
        empty = np.zeros((0, N_POINTS, 2), np.float32)
        return SegmentedResult(np.zeros(0, np.int64), empty, np.zeros((0, N_POINTS), np.float32),
                               {}, [], unlabelled, info)
    names = set.intersection(*(set(p[3]) for p in parts))
    return SegmentedResult(
        np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
        {name: np.concatenate([np.asarray(p[3][name]) for p in parts]) for name in names},
        propagated[:len(parts)], unlabelled, info)


def flag_and_score(points: np.ndarray, confidence: np.ndarray, keyframes: Iterable[int],
                   frame_size: tuple[int, int] | None,
                   extra: Mapping[str, np.ndarray] | None = None
                   ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One segment's confidence with lost frames capped, and its frame statistics (with
    ``face_lost``); a keyframe is never lost."""
    keys = [int(k) for k in keyframes]
    lost = face_lost(points, confidence, frame_size)
    lost[keys] = False
    confidence = cap_lost(confidence, lost)
    stats = run_statistics(points, confidence, keys, extra)
    stats["face_lost"] = lost.astype(np.float64)
    return confidence, stats


def segment_statistics(points: np.ndarray, confidence: np.ndarray,
                       keyframes: Mapping[int, np.ndarray], segments: Sequence[Range],
                       frame_size: tuple[int, int] | None = None
                       ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """:func:`flag_and_score` of full-length ``points``/``confidence`` within each segment (a
    frame's jitter never looks across an absence); statistics are zero outside them."""
    n = len(points)
    confidence = np.array(confidence, dtype=np.float32, copy=True)
    out: dict[str, np.ndarray] = {}
    for first, last in segments:
        keys = [k - first for k in keyframes if first <= k <= last]
        capped, stats = flag_and_score(points[first:last + 1], confidence[first:last + 1], keys,
                                       frame_size)
        confidence[first:last + 1] = capped
        for name, values in stats.items():
            out.setdefault(name, np.zeros(n))[first:last + 1] = values
    return confidence, out
