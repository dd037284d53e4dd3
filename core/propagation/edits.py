"""What a project's labels say to propagation, and the re-solve that follows an edit.

``load_constraints`` reads a video's annotations as whole keyframes (every point placed or
accepted) and partly reviewed frames (some points pinned). ``resolve_edit`` recomputes the
frames an edit can change (``core.propagation.resolve``) and stores them as a derived revision of
the video's latest run, so the timeline, suggestions and export see them at once and know what
produced each frame; without a finished run there is nothing to revise and it returns None.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise

import numpy as np

from core.blas import one_blas_thread
from core.landmarks import N_POINTS
from core.propagation.constraints import PartialReview
from core.propagation.resolve import (
    RESOLVE_METHOD,
    ResolvedGap,
    affected_gaps,
    resolve_gap,
    run_accel,
)
from core.propagation.segmented import segment_statistics
from core.review_states import pinned
from core.shape_model import ShapeModel
from core.store import Project, RunRecord, VideoRecord
from core.store.records import RunResults


def load_constraints(project: Project, video_id: int
                     ) -> tuple[dict[int, np.ndarray], dict[int, PartialReview]]:
    """({frame: points} of whole keyframes, {frame: (points, pinned)} of partly reviewed
    frames); frames whose points are all predicted are neither."""
    frames, points, states = project.labels.points_and_states(video_id)
    keyframes: dict[int, np.ndarray] = {}
    partial: dict[int, PartialReview] = {}
    for frame, pts, mask in zip(frames.tolist(), points, pinned(states)):
        if mask.all():
            keyframes[frame] = pts
        elif mask.any():
            partial[frame] = (pts, mask)
    return keyframes, partial


def resolve_edit(project: Project, video_id: int, edited: Iterable[int], *,
                 reader=None) -> RunRecord | None:  # reader: core.video.VideoReader
    """Re-solve the frames around ``edited`` and store them as a revision of the latest run."""
    edited = sorted({int(f) for f in edited})
    latest = project.runs.latest(video_id)
    if latest is None or not edited:
        return None
    video = project.videos.get(video_id)
    keyframes, partial = load_constraints(project, video_id)
    constrained = sorted(set(keyframes) | set(partial))
    prior = project.runs.pseudo_labels(latest.id)
    n = video.frame_count
    covered = np.zeros(n, dtype=bool)
    covered[prior.frames] = True
    segments = [(a, b) for a, b in project.absences.segments(video_id, n)
                if covered[a:b + 1].all()]  # a segment the run left out: propagate first
    gaps = []
    for a, b in segments:
        inside = [c - a for c in constrained if a <= c <= b]
        spans = affected_gaps([e - a for e in edited if a <= e <= b], inside, b - a + 1)
        gaps += [g for lo, hi in spans for g in _split((lo + a, hi + a), constrained)]
    if not gaps:
        return None
    points, confidence = np.zeros((n, N_POINTS, 2), np.float32), np.zeros((n, N_POINTS),
                                                                          np.float32)
    points[prior.frames], confidence[prior.frames] = prior.points, prior.confidence
    own_reader = reader is None
    reader = project.videos.open_reader(video_id) if own_reader else reader
    whole = project.runs.get(project.runs.lineage(latest.id)[-1])
    accel = run_accel(whole.metrics, video.fps)
    base = _whole_run_values(project, whole.id, latest.id, gaps, points, confidence)
    try:
        # the completion's small solves on one BLAS thread: woken, OpenBLAS's threads spin
        # on the cores the next gap's optical flow needs (core.blas)
        with one_blas_thread():
            segment_of = {gap: next(s for s in segments if s[0] <= gap[0] <= s[1])
                          for gap in gaps}
            shapes = {s: _shape_model(keyframes, s) for s in set(segment_of.values())}
            solved = [resolve_gap(reader.frame, lo, hi, keyframes, partial, *base[(lo, hi)],
                                  accel, shapes[segment_of[(lo, hi)]]) for lo, hi in gaps]
    finally:
        if own_reader:
            reader.close()
    return _store(project, video, latest, edited, solved, prior, (points, confidence),
                  keyframes, segments)


def _whole_run_values(project: Project, whole_id: int, latest_id: int,
                      gaps: list[tuple[int, int]], points: np.ndarray, confidence: np.ndarray
                      ) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
    """Each gap's points and confidence as the whole run left them, not as an earlier re-solve
    did: a re-solve fuses them with a fresh track, and fusing a re-solve's own result again
    would count that track twice (the gap grew more confident with every edit). ``points`` /
    ``confidence``: the latest revision's, for frames the whole run lacks."""
    out = {(lo, hi): (points[lo:hi + 1].copy(), confidence[lo:hi + 1].copy())
           for lo, hi in gaps}
    if whole_id == latest_id:
        return out
    stored = project.runs.own_pseudo_labels(whole_id, min(g[0] for g in gaps),
                                            max(g[1] for g in gaps))
    for (lo, hi), (gap_points, gap_confidence) in out.items():
        inside = (stored.frames >= lo) & (stored.frames <= hi)
        gap_points[stored.frames[inside] - lo] = stored.points[inside]
        gap_confidence[stored.frames[inside] - lo] = stored.confidence[inside]
    return out


def _shape_model(keyframes: dict[int, np.ndarray], segment: tuple[int, int]
                 ) -> ShapeModel | None:
    """The shape model of a face segment's keyframes (another shot may hold another face), or
    None without one."""
    inside = [np.asarray(keyframes[f], np.float64) for f in sorted(keyframes)
              if segment[0] <= f <= segment[1]]
    return ShapeModel.fit(np.stack(inside)) if inside else None


def _split(span: tuple[int, int], constrained: list[int]) -> list[tuple[int, int]]:
    """A span cut at the constrained frames inside it, so that each piece is tracked from its
    own two ends."""
    lo, hi = span
    cuts = [lo, *[c for c in constrained if lo < c < hi], hi]
    return [(a, b) for a, b in pairwise(cuts) if b > a]


def _store(project: Project, video: VideoRecord, latest: RunRecord, edited: list[int],
           solved: list[ResolvedGap], prior, full: tuple[np.ndarray, np.ndarray],
           keyframes: dict[int, np.ndarray], segments: list[tuple[int, int]]) -> RunRecord:
    """One revision over the latest *whole* run holding every frame re-solved since it (the
    earlier revision's frames and these), so a revision never sits on a revision and reading
    the latest result costs the same after a hundred edits as after one."""
    points, confidence = full  # every frame, by frame number (zeros where the run has none)
    for gap in solved:
        points[gap.lo:gap.hi + 1], confidence[gap.lo:gap.hi + 1] = gap.points, gap.confidence
    whole = project.runs.lineage(latest.id)[-1]
    earlier = prior.frames[prior.run_ids != whole] if prior.run_ids is not None else []
    frames = np.unique(np.concatenate([np.asarray(earlier, dtype=np.int64),
                                       *(gap.frames for gap in solved)]))
    confidence, stats = segment_statistics(points, confidence, keyframes, segments,
                                           (video.width, video.height))
    run = project.runs.create(video.id, RESOLVE_METHOD, parent_run_id=whole,
                              device="cpu", keyframes={"frames": sorted(keyframes)},
                              config={"edited": edited, "revises": latest.id,
                                      "gaps": [[g.lo, g.hi] for g in solved]})
    results = RunResults(frames, points[frames], confidence[frames],
                         {name: np.asarray(values)[frames] for name, values in stats.items()})
    return project.runs.finish(run.id, "done", results=results,
                               message=f"re-solved after an edit of frame(s) "
                                       f"{', '.join(str(f + 1) for f in edited)}")
