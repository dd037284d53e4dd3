"""Absence service: the frames of each video marked "no face" (issue 12), as merged ranges.

A no-face frame is a frame with no points, not a frame of occluded points: marking a range that
holds labelled frames is refused (naming them), and so is labelling a frame marked absent (see
``LabelService``). Every change is one transaction and one edit-log entry with the ranges before
and after, so an undo restores them exactly (``replace``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.errors import ValidationError
from core.frame_numbers import frame_list
from core.segments import (
    Range,
    absent_mask,
    add_range,
    check_range,
    describe_ranges,
    face_segments,
    merge_ranges,
    remove_range,
)
from core.store.marks import change_marks
from core.store.models import AbsenceRow, AnnotationRow

if TYPE_CHECKING:
    from core.store.project import Project


def ranges_in(session: Session, video_id: int) -> list[Range]:
    """A video's absent ranges, sorted (inside the caller's session)."""
    rows = session.execute(select(AbsenceRow.first, AbsenceRow.last).where(
        AbsenceRow.video_id == video_id).order_by(AbsenceRow.first)).all()
    return [(int(a), int(b)) for a, b in rows]


def refuse_absent_frames(session: Session, video_id: int, frames: Iterable[int]) -> None:
    """ValidationError when any of ``frames`` is marked "no face" (a label there is refused)."""
    frames = sorted({int(f) for f in frames})
    ranges = ranges_in(session, video_id)
    if not frames or not ranges:
        return
    mask = absent_mask(ranges, max(frames[-1], ranges[-1][1]) + 1)
    absent = [f for f in frames if f >= 0 and mask[f]]
    if absent:
        shown = frame_list(absent[:5])
        raise ValidationError(f"video {video_id}: frame(s) {shown} are marked 'no face'; clear "
                              "the mark before labelling them")


class AbsenceService:
    """Reads and changes the "no face" ranges of the project's videos."""

    def __init__(self, project: Project) -> None:
        self._project = project

    def ranges(self, video_id: int) -> list[Range]:
        with self._project.session() as session:
            return ranges_in(session, video_id)

    def segments(self, video_id: int, frame_count: int) -> list[Range]:
        """The video's face segments: between its no-face frames and its shot cuts."""
        return face_segments(frame_count, self.ranges(video_id),
                             self._project.cuts.frames(video_id))

    def mask(self, video_id: int, frame_count: int) -> np.ndarray:
        return absent_mask(self.ranges(video_id), frame_count)

    def counts(self) -> dict[int, int]:
        """Absent frames per video (videos with none left out)."""
        with self._project.session() as session:
            rows = session.execute(select(AbsenceRow.video_id, AbsenceRow.first,
                                          AbsenceRow.last)).all()
        counts: dict[int, int] = {}
        for video_id, first, last in rows:
            counts[int(video_id)] = counts.get(int(video_id), 0) + int(last) - int(first) + 1
        return counts

    def mark(self, video_id: int, first: int, last: int, absent: bool = True, *,
             author: str | None = None) -> list[Range]:
        """Mark frames first … last "no face" (``absent``) or clear that mark; returns the
        ranges before (for undo). Marking frames that hold labels is refused, naming them."""
        def change(session: Session, before: list[Range], frame_count: int) -> list[Range]:
            lo, hi = check_range(first, last, frame_count, "frames")
            if not absent:
                return remove_range(before, lo, hi)
            labelled = session.scalars(select(AnnotationRow.frame).where(
                AnnotationRow.video_id == video_id, AnnotationRow.frame >= lo,
                AnnotationRow.frame <= hi).order_by(AnnotationRow.frame)).all()
            if labelled:
                shown = frame_list(labelled[:5])
                more = f" and {len(labelled) - 5} more" if len(labelled) > 5 else ""
                raise ValidationError(f"video {video_id}: frame(s) {shown}{more} hold labels; "
                                      "a frame with no face has no points: delete those "
                                      "labels first")
            return add_range(before, lo, hi)
        return self._write(video_id, change, "mark_absent" if absent else "clear_absent", author)

    def replace(self, video_id: int, ranges: Iterable[Range], *, author: str | None = None
                ) -> list[Range]:
        """Set a video's absent ranges to exactly ``ranges`` (an undo); returns those before."""
        wanted = merge_ranges(ranges)

        def change(session: Session, before: list[Range], frame_count: int) -> list[Range]:
            for lo, hi in wanted:
                check_range(lo, hi, frame_count, "frames")
            return wanted
        return self._write(video_id, change, "set_absent", author)

    def _write(self, video_id: int, change, action: str, author: str | None) -> list[Range]:
        def write(session: Session, _before: list[Range], after: list[Range]) -> None:
            session.execute(delete(AbsenceRow).where(AbsenceRow.video_id == video_id))
            session.add_all(AbsenceRow(video_id=video_id, first=a, last=b) for a, b in after)

        return change_marks(self._project, video_id, action, author,
                            read=lambda session: ranges_in(session, video_id), change=change,
                            write=write, first_frame=lambda first_range: first_range[0],
                            describe=lambda after: {"frames": describe_ranges(after)})
