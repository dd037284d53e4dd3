"""Cut service: the shot cuts of each video (issue 12 §2), found when it is added, editable.

A cut at frame ``c`` (0-based) means frames ``c − 1`` and ``c`` belong to different shots:
propagation, the re-solve and the review queue never reach across it, and the 300VW export
starts a new clip there (``core.segments``). Detection reads the fingerprints the video index
already holds (``core.cuts``), so adding a video decodes it no more than before; ``detect``
redoes it for a video added by an older FaceProp. Every change is one transaction and one
edit-log entry with the cut frames before and after (``replace`` restores them: an undo).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.errors import StoreError, ValidationError
from core.frame_numbers import frame_number
from core.store.marks import change_marks
from core.store.models import CutRow

if TYPE_CHECKING:
    from core.store.project import Project


def cut_frames_in(session: Session, video_id: int) -> list[int]:
    return [int(f) for f in session.scalars(select(CutRow.frame).where(
        CutRow.video_id == video_id).order_by(CutRow.frame))]


def check_cut(frame: int, frame_count: int) -> int:
    frame = int(frame)
    if frame == 0:
        raise ValidationError("a cut at frame 1 means nothing: the video starts there")
    if not 0 < frame < frame_count:
        raise ValidationError(f"a cut at frame {frame_number(frame)} is outside the video "
                              f"(frames 2..{frame_count})")
    return frame


class CutService:
    """Reads and changes the shot cuts of the project's videos."""

    def __init__(self, project: Project) -> None:
        self._project = project

    def frames(self, video_id: int) -> list[int]:
        with self._project.session() as session:
            return cut_frames_in(session, video_id)

    def add(self, video_id: int, frame: int, *, author: str | None = None) -> list[int]:
        """Add a cut at ``frame``; returns the cuts before (for undo)."""
        return self._write(video_id, lambda before, n: sorted({*before, check_cut(frame, n)}),
                           "add_cut", author)

    def remove(self, video_id: int, frame: int, *, author: str | None = None) -> list[int]:
        """Remove the cut at ``frame`` (nothing when there is none); returns the cuts before."""
        return self._write(video_id, lambda before, n: [f for f in before if f != int(frame)],
                           "remove_cut", author)

    def replace(self, video_id: int, frames: Iterable[int], *, author: str | None = None,
                action: str = "set_cuts") -> list[int]:
        """Set a video's cuts to exactly ``frames``; returns those before."""
        wanted = sorted({int(f) for f in frames})
        return self._write(video_id, lambda before, n: [check_cut(f, n) for f in wanted],
                           action, author)

    def detect(self, video_id: int, *, author: str | None = None) -> list[int]:
        """Find the video's cuts again from its index, replacing the detected ones (cuts a
        person added stay); returns the cuts now."""
        from core.cuts import detect_cuts

        index = self._project.videos.frame_index(video_id)
        if index is None:
            raise StoreError(f"{self._project.target}: video {video_id} has no frame index")
        found = detect_cuts(index.fingerprints)
        with self._project.session() as session:
            manual = set(session.scalars(select(CutRow.frame).where(
                CutRow.video_id == video_id, CutRow.source == "manual")))
        self.replace(video_id, {*found, *manual}, author=author, action="detect_cuts")
        return self.frames(video_id)

    def write_detected(self, session: Session, video_id: int, frames: Iterable[int]) -> None:
        """Store the cuts found while the video is added, inside the caller's transaction."""
        session.add_all(CutRow(video_id=video_id, frame=int(f), source="detected")
                        for f in frames)

    def _write(self, video_id: int, change, action: str, author: str | None) -> list[int]:
        source = "detected" if action == "detect_cuts" else "manual"

        def write(session: Session, before: list[int], after: list[int]) -> None:
            # rows that stay keep their source: a detected cut stays "detected"
            session.execute(delete(CutRow).where(CutRow.video_id == video_id,
                                                 CutRow.frame.not_in(after)))
            session.add_all(CutRow(video_id=video_id, frame=f, source=source)
                            for f in after if f not in before)

        return change_marks(self._project, video_id, action, author,
                            read=lambda session: cut_frames_in(session, video_id),
                            change=lambda _session, before, n: change(before, n), write=write)
