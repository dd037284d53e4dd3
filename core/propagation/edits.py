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

from core.framestats import run_statistics
from core.propagation.constraints import PartialReview
from core.propagation.resolve import RESOLVE_METHOD, ResolvedGap, affected_gaps, resolve_gap
from core.review_states import pinned
from core.store import Project, RunRecord
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
    if len(prior.frames) != video.frame_count:
        return None  # a partial run: propagate first
    gaps = [g for span in affected_gaps(edited, constrained, video.frame_count)
            for g in _split(span, constrained)]
    own_reader = reader is None
    reader = project.videos.open_reader(video_id) if own_reader else reader
    try:
        solved = [resolve_gap(reader.frame, lo, hi, keyframes, partial,
                              prior.points[lo:hi + 1], prior.confidence[lo:hi + 1])
                  for lo, hi in gaps]
    finally:
        if own_reader:
            reader.close()
    return _store(project, video_id, latest, edited, solved, prior, keyframes)


def _split(span: tuple[int, int], constrained: list[int]) -> list[tuple[int, int]]:
    """A span cut at the constrained frames inside it, so that each piece is tracked from its
    own two ends."""
    lo, hi = span
    cuts = [lo, *[c for c in constrained if lo < c < hi], hi]
    return [(a, b) for a, b in pairwise(cuts) if b > a]


def _store(project: Project, video_id: int, latest: RunRecord, edited: list[int],
           solved: list[ResolvedGap], prior, keyframes: dict[int, np.ndarray]) -> RunRecord:
    """One revision over the latest *whole* run holding every frame re-solved since it (the
    earlier revision's frames and these), so a revision never sits on a revision and reading
    the latest result costs the same after a hundred edits as after one."""
    points, confidence = prior.points.copy(), prior.confidence.copy()
    for gap in solved:
        points[gap.lo:gap.hi + 1], confidence[gap.lo:gap.hi + 1] = gap.points, gap.confidence
    whole = project.runs.lineage(latest.id)[-1]
    earlier = prior.frames[prior.run_ids != whole] if prior.run_ids is not None else []
    frames = np.unique(np.concatenate([np.asarray(earlier, dtype=np.int64),
                                       *(gap.frames for gap in solved)]))
    stats = run_statistics(points, confidence, keyframes)
    run = project.runs.create(video_id, RESOLVE_METHOD, parent_run_id=whole,
                              device="cpu", keyframes={"frames": sorted(keyframes)},
                              config={"edited": edited, "revises": latest.id,
                                      "gaps": [[g.lo, g.hi] for g in solved]})
    results = RunResults(frames, points[frames], confidence[frames],
                         {name: np.asarray(values)[frames] for name, values in stats.items()})
    return project.runs.finish(run.id, "done", results=results,
                               message=f"re-solved after an edit of frame(s) "
                                       f"{', '.join(str(f + 1) for f in edited)}")
