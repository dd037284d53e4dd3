"""Video service: add a video (indexed once, optionally transcoded), list, look up, resolve."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from core.errors import StoreError, VideoError
from core.progress import Progress, ShouldStop
from core.review_states import ACCEPTED, PLACED, PREDICTED, SOURCE_STATES
from core.store.models import AnnotationRow, EditLogRow, PseudoLabelRow, RunRow, VideoRow
from core.store.records import (
    REVIEWED_SOURCES,
    USABLE_RUN_STATUSES,
    VideoRecord,
    VideoSummary,
)

if TYPE_CHECKING:
    from core.store.project import Project
    from core.video import VideoIndex, VideoInfo

LabelInput = tuple[np.ndarray, np.ndarray | None]


class _BlobFind(FunctionElement[int]):
    """``_BlobFind(blob, needle)``: 1 + the offset of ``needle`` in ``blob``, 0 when absent
    (SQLite ``instr``, PostgreSQL ``position``): lets one query ask which review states a
    frame's 68-byte states blob holds."""

    type = Integer()
    inherit_cache = True


@compiles(_BlobFind)
def _blob_find_sqlite(element: _BlobFind, compiler: SQLCompiler, **kw: object) -> str:
    return f"instr({compiler.process(element.clauses, **kw)})"


@compiles(_BlobFind, "postgresql")
def _blob_find_postgres(element: _BlobFind, compiler: SQLCompiler, **kw: object) -> str:
    blob, needle = element.clauses
    return f"position({compiler.process(needle, **kw)} in {compiler.process(blob, **kw)})"


def _holds_state(state: int) -> ColumnElement[bool]:
    """Whether an annotation's states blob holds at least one point in ``state``."""
    return _BlobFind(AnnotationRow.states, literal(bytes([state]))) > 0


def _review_counts() -> tuple[ColumnElement[int], ColumnElement[int]]:
    """SUM expressions counting a video's fully and partly reviewed annotations from their
    states (a NULL blob, only before migration 2 → 3, counts by its source)."""
    predicted = _holds_state(PREDICTED)
    pinned = or_(_holds_state(PLACED), _holds_state(ACCEPTED))
    pinned_source = AnnotationRow.source.in_(
        [source for source, state in SOURCE_STATES.items() if state != PREDICTED])
    fully = case((AnnotationRow.states.is_(None), case((pinned_source, 1), else_=0)),
                 (predicted, 0), else_=1)
    partly = case((and_(AnnotationRow.states.is_not(None), predicted, pinned), 1), else_=0)
    return func.sum(fully), func.sum(partly)


def _record(row: VideoRow) -> VideoRecord:
    return VideoRecord(
        id=row.id, path=row.path, name=row.name, file_size=row.file_size,
        content_hash=row.content_hash, frame_count=row.frame_count,
        container_frame_count=row.container_frame_count, fps=row.fps, width=row.width,
        height=row.height, index_verified=row.index_verified, seek_exact=row.seek_exact,
        source_path=row.source_path, added_at=row.added_at, sample_hash=row.sample_hash)


class VideoService:
    """Adds and describes the project's videos."""

    def __init__(self, project: Project) -> None:
        self._project = project

    def add(self, path: str | os.PathLike[str], *, transcode: bool = False,
            name: str | None = None, author: str = "",
            progress: Progress | None = None, should_stop: ShouldStop | None = None,
            labels: Mapping[int, LabelInput] | None = None,
            check: Callable[[VideoInfo], None] | None = None) -> VideoRecord:
        """Index ``path`` by decoding it once and store it; with ``transcode`` first convert it to
        an intra-frame MJPG copy in the project's media folder (exact, instant seeks).

        ``labels`` ({frame: (points, visible)}) are written with the video in one transaction,
        so a kill never leaves the video without them; ``check`` sees the decoded facts (true
        frame count, size) first and may raise to refuse the video before anything is written.
        """
        from core.video import file_hash, probe_video, transcode_and_index

        source = Path(path).resolve()
        source_hash = file_hash(source) if source.is_file() else None
        if source_hash is not None:
            existing = self.find_by_hash(source_hash)
            if existing is not None:
                raise StoreError(f"{source}: already in the project as video {existing.id} "
                                 f"({existing.name})")
        if not transcode:
            info, index = probe_video(source, progress=progress, should_stop=should_stop)
            if check is not None:
                check(info)
            return self._insert(info, index, source, name or source.stem, source_path=None,
                                author=author, labels=labels)
        media = self._project.media_folder
        created_media = not media.exists()
        media.mkdir(parents=True, exist_ok=True)
        stored_path = _unique_path(media / f"{source.stem}.avi")
        try:
            info, index = transcode_and_index(source, stored_path, progress=progress,
                                              should_stop=should_stop)
            if check is not None:
                check(info)
            return self._insert(info, index, stored_path, name or source.stem,
                                source_path=str(source), author=author, labels=labels)
        except BaseException:
            # a failed transcode leaves neither a half file nor an empty media folder behind
            stored_path.unlink(missing_ok=True)
            stored_path.with_name(f"{stored_path.stem}.part{stored_path.suffix}").unlink(
                missing_ok=True)
            if created_media and not any(media.iterdir()):
                media.rmdir()
            raise

    def _insert(self, info: VideoInfo, index: VideoIndex, path: Path, name: str,
                source_path: str | None, author: str,
                labels: Mapping[int, LabelInput] | None = None) -> VideoRecord:
        from core.cuts import detect_cuts
        from core.video import sample_hash

        row = VideoRow(
            path=self._portable_path(path), name=name, file_size=path.stat().st_size,
            content_hash=info.content_hash, frame_count=info.frame_count,
            container_frame_count=info.container_frame_count, fps=info.fps, width=info.width,
            height=info.height, index_verified=True, seek_exact=info.seek_exact,
            frame_index=index.to_bytes(), source_path=source_path,
            sample_hash=sample_hash(path))
        with self._project.session() as session, session.begin():
            session.add(row)
            session.flush()
            session.add(EditLogRow(author=author, action="add_video", video_id=row.id,
                                   detail={"path": row.path, "frames": info.frame_count}))
            self._project.cuts.write_detected(session, row.id, detect_cuts(index.fingerprints))
            if labels:
                self._project.labels.write_many(session, row.id, labels, source="imported",
                                                author=author or None,
                                                action="import_annotations")
            return _record(row)

    def _portable_path(self, path: Path) -> str:
        """Relative to the project folder when inside it, so a project folder can be moved."""
        try:
            return path.resolve().relative_to(self._project.folder).as_posix()
        except ValueError:
            return str(path.resolve())

    def remove(self, video_id: int, *, author: str = "") -> None:
        """Forget a video and everything attached to it (labels, runs); the file stays on disk."""
        with self._project.session() as session, session.begin():
            row = session.get(VideoRow, video_id)
            if row is None:
                raise StoreError(f"{self._project.target}: no video with id {video_id}")
            session.execute(delete(VideoRow).where(VideoRow.id == video_id))
            session.add(EditLogRow(author=author, action="remove_video", video_id=video_id,
                                   detail={"path": row.path}))

    def all(self) -> list[VideoRecord]:
        with self._project.session() as session:
            rows = session.scalars(select(VideoRow).order_by(VideoRow.id)).all()
            return [_record(row) for row in rows]

    def summaries(self) -> list[VideoSummary]:
        """Every video with its keyframe, reviewed (by source, and fully / partly by the points'
        review states) and pseudo-label counts and its latest usable run, in one query (grouped
        subqueries joined to the videos), ordered by id."""
        fully, partly = _review_counts()
        labels = (select(AnnotationRow.video_id.label("video_id"),
                         func.count().label("keyframes"),
                         func.sum(case((AnnotationRow.source.in_(REVIEWED_SOURCES), 1),
                                       else_=0)).label("reviewed"),
                         fully.label("fully"), partly.label("partly"))
                  .group_by(AnnotationRow.video_id).subquery("labels"))
        latest = (select(RunRow.video_id.label("video_id"), func.max(RunRow.id).label("run_id"))
                  .where(RunRow.status.in_(USABLE_RUN_STATUSES))
                  .group_by(RunRow.video_id).subquery("latest"))
        # a done run labels every frame; only a stopped run's frames are counted (a count of
        # 100k rows costs milliseconds, and the list refreshes at every edit)
        pseudo = case((RunRow.status == "done", VideoRow.frame_count),
                      else_=select(func.count()).select_from(PseudoLabelRow)
                      .where(PseudoLabelRow.run_id == latest.c.run_id).scalar_subquery())
        query = (select(VideoRow.id, VideoRow.name, VideoRow.path, VideoRow.frame_count,
                        func.coalesce(labels.c.keyframes, 0), func.coalesce(labels.c.reviewed, 0),
                        latest.c.run_id, RunRow.status, pseudo,
                        func.coalesce(labels.c.fully, 0), func.coalesce(labels.c.partly, 0))
                 .outerjoin(labels, labels.c.video_id == VideoRow.id)
                 .outerjoin(latest, latest.c.video_id == VideoRow.id)
                 .outerjoin(RunRow, RunRow.id == latest.c.run_id)
                 .order_by(VideoRow.id))
        with self._project.session() as session:
            rows = session.execute(query).all()
        return [VideoSummary(id=r[0], name=r[1], path=r[2], frame_count=r[3],
                             keyframes=int(r[4]), reviewed=int(r[5]), run_id=r[6],
                             run_status=r[7], pseudo_frames=int(r[8] or 0),
                             fully_reviewed=int(r[9]), partly_reviewed=int(r[10]))
                for r in rows]

    def get(self, video_id: int) -> VideoRecord:
        with self._project.session() as session:
            row = session.get(VideoRow, video_id)
            if row is None:
                raise StoreError(f"{self._project.target}: no video with id {video_id}")
            return _record(row)

    def find_by_hash(self, content_hash: str) -> VideoRecord | None:
        with self._project.session() as session:
            row = session.scalars(
                select(VideoRow).where(VideoRow.content_hash == content_hash)).first()
            return None if row is None else _record(row)

    def frame_index(self, video_id: int) -> VideoIndex | None:
        """The stored frame index (fingerprints) so a reader need not decode the file again."""
        from core.video import VideoIndex

        with self._project.session() as session:
            blob = session.scalar(select(VideoRow.frame_index).where(VideoRow.id == video_id))
        return None if blob is None else VideoIndex.from_bytes(blob)

    def resolve_path(self, video: VideoRecord) -> Path:
        """The video file on disk; relative paths are relative to the project folder."""
        path = Path(video.path)
        return path if path.is_absolute() else self._project.folder / path

    def verify_file(self, video_id: int, *, full: bool = False) -> Path:
        """The video's file, after checking it is still the file that was added; VideoError
        naming the file when it is missing or its content changed (labels would then sit on
        other images). The cheap check compares the size and sampled blocks; ``full`` (and the
        first check of a video added before samples were stored) compares the whole hash."""
        from core.video import file_hash, sample_hash

        video = self.get(video_id)
        path = self.resolve_path(video)
        where = f"video {video.id} ({video.name})"
        if not path.is_file():
            raise VideoError(f"{path}: the file of {where} is missing; put it back (or move the "
                             "project next to it) before exporting or propagating")
        changed = (f"{path}: this file has changed since it was added as {where}; its "
                   "labels belong to the old content. Restore the original file, or add the "
                   "new one as a new video.")
        if path.stat().st_size != video.file_size:
            raise VideoError(changed)
        if video.sample_hash is not None and sample_hash(path) != video.sample_hash:
            raise VideoError(changed)
        if full or video.sample_hash is None:
            if file_hash(path) != video.content_hash:
                raise VideoError(changed)
            if video.sample_hash is None:
                with self._project.session() as session, session.begin():
                    session.execute(update(VideoRow).where(VideoRow.id == video_id)
                                    .values(sample_hash=sample_hash(path)))
        return path

    def open_reader(self, video_id: int, cache_frames: int = 96):  # -> core.video.VideoReader
        """A frame-exact reader that reuses the stored index (no second decode pass)."""
        from core.video import VideoReader

        video = self.get(video_id)
        return VideoReader(self.resolve_path(video), index=self.frame_index(video_id),
                           cache_frames=cache_frames)


def _unique_path(path: Path) -> Path:
    candidate, n = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return candidate
