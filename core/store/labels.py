"""Label service: manual annotations per (video, frame), validated, each change logged.

Every call is one transaction: a failed call leaves the project exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.errors import ValidationError
from core.frame_numbers import frame_label
from core.landmarks import N_POINTS
from core.review_states import STATE_DTYPE, check_states, default_states
from core.store.absences import refuse_absent_frames
from core.store.blobs import pack, unpack, unpack_many
from core.store.marks import default_author, video_frame_count
from core.store.models import AnnotationRow, EditLogRow, utcnow
from core.store.records import ANNOTATION_SOURCES, Annotation, EditRecord

if TYPE_CHECKING:
    from core.store.project import Project

#: One label to write: (points, visible) or (points, visible, states); None picks the default.
LabelInput = tuple[np.ndarray, np.ndarray | None] | tuple[np.ndarray, np.ndarray | None,
                                                          np.ndarray | None]

POINTS_DTYPE = "<f4"
VISIBLE_DTYPE = "u1"


def validate_points(points: np.ndarray, visible: np.ndarray | None, where: str
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Checked float32 ``(68, 2)`` points and bool ``(68,)`` visibility, or ValidationError."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape != (N_POINTS, 2):
        raise ValidationError(f"{where}: points must have shape ({N_POINTS}, 2), got {pts.shape}")
    bad = ~np.isfinite(pts).all(axis=1)
    if bad.any():
        raise ValidationError(f"{where}: point {int(np.argmax(bad))} is NaN or infinite")
    if visible is None:
        vis = np.ones(N_POINTS, dtype=bool)
    else:
        vis = np.asarray(visible, dtype=bool)
        if vis.shape != (N_POINTS,):
            raise ValidationError(f"{where}: visibility must have shape ({N_POINTS},), "
                                  f"got {vis.shape}")
    return pts.astype(np.float32), vis


def _states(blob: bytes | None, source: str, where: str) -> np.ndarray:
    """A stored states blob; a row written before per-point states gets its source's."""
    return default_states(source) if blob is None else unpack(blob, STATE_DTYPE, (N_POINTS,),
                                                              where)


def _states_of(rows, where: str) -> np.ndarray:  # rows: (…, states blob, source) last two
    """``(N, 68)`` states of query rows whose last two columns are the blob and the source."""
    if not rows:
        return np.zeros((0, N_POINTS), dtype=np.uint8)
    return np.stack([_states(row[-2], row[-1], where) for row in rows])


def _annotation(row: AnnotationRow) -> Annotation:
    where = f"annotation of video {row.video_id} {frame_label(row.frame)}"
    states = _states(row.states, row.source, where)
    return Annotation(
        video_id=row.video_id, frame=row.frame,
        points=unpack(row.points, POINTS_DTYPE, (N_POINTS, 2), where),
        visible=unpack(row.visible, VISIBLE_DTYPE, (N_POINTS,), where).astype(bool),
        source=row.source, author=row.author, updated_at=row.updated_at, states=states)


class LabelService:
    """Reads and writes the manual annotations (keyframes) of the project's videos."""

    def __init__(self, project: Project) -> None:
        self._project = project

    @staticmethod
    def _check_frame(frame: int, frame_count: int, video_id: int) -> None:
        if not 0 <= frame < frame_count:
            raise ValidationError(f"video {video_id}: {frame_label(frame)} is outside the video "
                                  f"(frames 1..{frame_count})")

    def set(self, video_id: int, frame: int, points: np.ndarray,
            visible: np.ndarray | None = None, *, source: str = "manual",
            author: str | None = None, states: np.ndarray | None = None
            ) -> Annotation | None:
        """Create or replace the annotation of one frame; returns the previous one (for undo).
        ``states`` are the points' review states (default: what ``source`` implies)."""
        return self.set_many(video_id, {frame: (points, visible, states)}, source=source,
                             author=author, action="set_annotation").get(frame)

    def set_many(self, video_id: int, labels: Mapping[int, LabelInput], *,
                 source: str = "imported", author: str | None = None,
                 action: str = "import_annotations") -> dict[int, Annotation]:
        """Write many frames in one transaction (all or nothing); returns replaced annotations."""
        with self._project.session() as session, session.begin():
            return self.write_many(session, video_id, labels, source=source, author=author,
                                   action=action)

    def write_many(self, session: Session, video_id: int, labels: Mapping[int, LabelInput], *,
                   source: str, author: str | None, action: str) -> dict[int, Annotation]:
        """``set_many`` inside the caller's transaction (so a video and its labels can be
        written together)."""
        if source not in ANNOTATION_SOURCES:
            raise ValidationError(f"source {source!r} is not one of {ANNOTATION_SOURCES}")
        author = default_author() if author is None else author
        checked = {}
        frame_count = video_frame_count(session, self._project.target, video_id)
        for frame, label in labels.items():
            frame = int(frame)
            self._check_frame(frame, frame_count, video_id)
            where = f"video {video_id} {frame_label(frame)}"
            points, visible, states = (*label, None)[:3]
            pts, vis = validate_points(points, visible, where)
            checked[frame] = (pts, vis, default_states(source) if states is None
                              else check_states(states, where))
        refuse_absent_frames(session, video_id, checked)
        existing = {row.frame: row for row in session.scalars(
            select(AnnotationRow).where(AnnotationRow.video_id == video_id,
                                        AnnotationRow.frame.in_(list(checked))))}
        previous = {frame: _annotation(row) for frame, row in existing.items()}
        now = utcnow()
        for frame, (pts, vis, states) in checked.items():
            row = existing.get(frame)
            if row is None:
                row = AnnotationRow(video_id=video_id, frame=frame, created_at=now)
                session.add(row)
            row.points, row.visible = pack(pts, POINTS_DTYPE), pack(vis, VISIBLE_DTYPE)
            row.states = pack(states, STATE_DTYPE)
            row.source, row.author, row.updated_at = source, author, now
        session.add_all(EditLogRow(
            author=author, action=action, video_id=video_id, frame=frame,
            detail={"source": source, "replaced": frame in previous,
                    "points": pts.round(3).tolist(),
                    "hidden": np.flatnonzero(~vis).tolist(),
                    "states": states.tolist()})
            for frame, (pts, vis, states) in checked.items())
        return previous

    def delete(self, video_id: int, frame: int, *, author: str | None = None
               ) -> Annotation | None:
        """Remove a frame's annotation; returns what was removed (None if there was none)."""
        author = default_author() if author is None else author
        with self._project.session() as session, session.begin():
            row = session.scalars(select(AnnotationRow).where(
                AnnotationRow.video_id == video_id, AnnotationRow.frame == frame)).first()
            if row is None:
                return None
            removed = _annotation(row)
            session.execute(delete(AnnotationRow).where(AnnotationRow.id == row.id))
            session.add(EditLogRow(author=author, action="delete_annotation", video_id=video_id,
                                   frame=frame, detail={"source": removed.source}))
            return removed

    def get(self, video_id: int, frame: int) -> Annotation | None:
        with self._project.session() as session:
            row = session.scalars(select(AnnotationRow).where(
                AnnotationRow.video_id == video_id, AnnotationRow.frame == frame)).first()
            return None if row is None else _annotation(row)

    def all(self, video_id: int) -> dict[int, Annotation]:
        """Every annotation of a video, by frame."""
        with self._project.session() as session:
            rows = session.scalars(select(AnnotationRow).where(
                AnnotationRow.video_id == video_id).order_by(AnnotationRow.frame)).all()
            return {row.frame: _annotation(row) for row in rows}

    def arrays(self, video_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        """(frames, points (N,68,2), visible (N,68), sources) for bulk consumers."""
        with self._project.session() as session:
            rows = session.execute(select(
                AnnotationRow.frame, AnnotationRow.points, AnnotationRow.visible,
                AnnotationRow.source).where(AnnotationRow.video_id == video_id)
                .order_by(AnnotationRow.frame)).all()
        where = f"annotations of video {video_id}"
        frames = np.array([r[0] for r in rows], dtype=np.int64)
        points = unpack_many([r[1] for r in rows], POINTS_DTYPE, (N_POINTS, 2), where)
        visible = unpack_many([r[2] for r in rows], VISIBLE_DTYPE, (N_POINTS,), where)
        return frames, points, visible.astype(bool), [r[3] for r in rows]

    def points_and_states(self, video_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(frames, points (N, 68, 2), review states (N, 68)) read in one transaction, so a
        concurrent edit can never pair one frame's points with another version's states."""
        with self._project.session() as session:
            rows = session.execute(select(
                AnnotationRow.frame, AnnotationRow.points, AnnotationRow.states,
                AnnotationRow.source).where(AnnotationRow.video_id == video_id)
                .order_by(AnnotationRow.frame)).all()
        where = f"annotations of video {video_id}"
        frames = np.array([r[0] for r in rows], dtype=np.int64)
        points = unpack_many([r[1] for r in rows], POINTS_DTYPE, (N_POINTS, 2), where)
        return frames, points, _states_of(rows, where)

    def states(self, video_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(frames, review states (N, 68) uint8) of every annotation of a video, by frame."""
        with self._project.session() as session:
            rows = session.execute(select(
                AnnotationRow.frame, AnnotationRow.states, AnnotationRow.source).where(
                AnnotationRow.video_id == video_id).order_by(AnnotationRow.frame)).all()
        where = f"review states of video {video_id}"
        frames = np.array([r[0] for r in rows], dtype=np.int64)
        return frames, _states_of(rows, where)

    def frames(self, video_id: int) -> list[int]:
        """Frame numbers that carry an annotation (the keyframes), ascending."""
        with self._project.session() as session:
            return list(session.scalars(select(AnnotationRow.frame).where(
                AnnotationRow.video_id == video_id).order_by(AnnotationRow.frame)))

    def count(self, video_ids: Iterable[int] | None = None) -> dict[int, int]:
        from sqlalchemy import func

        query = select(AnnotationRow.video_id, func.count()).group_by(AnnotationRow.video_id)
        if video_ids is not None:
            query = query.where(AnnotationRow.video_id.in_(list(video_ids)))
        with self._project.session() as session:
            return {vid: n for vid, n in session.execute(query).all()}

    def history(self, video_id: int | None = None, limit: int | None = None
                ) -> list[EditRecord]:
        """The edit log, oldest first (optionally one video's, optionally the last ``limit``)."""
        query = select(EditLogRow).order_by(EditLogRow.id.desc())
        if video_id is not None:
            query = query.where(EditLogRow.video_id == video_id)
        if limit is not None:
            query = query.limit(limit)
        with self._project.session() as session:
            rows = session.scalars(query).all()
            return [EditRecord(id=r.id, at=r.at, author=r.author, action=r.action,
                               video_id=r.video_id, frame=r.frame, detail=dict(r.detail or {}))
                    for r in reversed(rows)]
