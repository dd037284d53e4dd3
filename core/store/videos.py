"""Video service: add a video (indexed once, optionally transcoded), list, look up, resolve."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from core.errors import StoreError
from core.store.models import EditLogRow, VideoRow
from core.store.records import VideoRecord

if TYPE_CHECKING:
    from core.store.project import Project
    from core.video import VideoIndex, VideoInfo

Progress = Callable[[int, int], None]
ShouldStop = Callable[[], bool]


def _record(row: VideoRow) -> VideoRecord:
    return VideoRecord(
        id=row.id, path=row.path, name=row.name, file_size=row.file_size,
        content_hash=row.content_hash, frame_count=row.frame_count,
        container_frame_count=row.container_frame_count, fps=row.fps, width=row.width,
        height=row.height, index_verified=row.index_verified, seek_exact=row.seek_exact,
        source_path=row.source_path, added_at=row.added_at)


class VideoService:
    """Adds and describes the project's videos."""

    def __init__(self, project: Project) -> None:
        self._project = project

    def add(self, path: str | os.PathLike[str], *, transcode: bool = False,
            name: str | None = None, author: str = "",
            progress: Progress | None = None, should_stop: ShouldStop | None = None
            ) -> VideoRecord:
        """Index ``path`` by decoding it once and store it; with ``transcode`` first convert it to
        an intra-frame MJPG copy in the project's media folder (exact, instant seeks)."""
        from core.video import file_hash, probe_video, transcode_and_index

        source = Path(path).resolve()
        source_hash = file_hash(source) if source.is_file() else None
        if source_hash is not None:
            existing = self.find_by_hash(source_hash)
            if existing is not None:
                raise StoreError(f"{source}: already in the project as video {existing.id} "
                                 f"({existing.name})")
        stored_path = source
        if transcode:
            media = self._project.media_folder
            media.mkdir(parents=True, exist_ok=True)
            stored_path = _unique_path(media / f"{source.stem}.avi")
            info, index = transcode_and_index(source, stored_path, progress=progress,
                                              should_stop=should_stop)
        else:
            info, index = probe_video(stored_path, progress=progress, should_stop=should_stop)
        return self._insert(info, index, stored_path, name or source.stem,
                            source_path=str(source) if transcode else None, author=author)

    def _insert(self, info: VideoInfo, index: VideoIndex, path: Path, name: str,
                source_path: str | None, author: str) -> VideoRecord:
        row = VideoRow(
            path=self._portable_path(path), name=name, file_size=path.stat().st_size,
            content_hash=info.content_hash, frame_count=info.frame_count,
            container_frame_count=info.container_frame_count, fps=info.fps, width=info.width,
            height=info.height, index_verified=True, seek_exact=info.seek_exact,
            frame_index=index.to_bytes(), source_path=source_path)
        with self._project.session() as session, session.begin():
            session.add(row)
            session.flush()
            session.add(EditLogRow(author=author, action="add_video", video_id=row.id,
                                   detail={"path": row.path, "frames": info.frame_count}))
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
