"""SQLAlchemy 2 typed ORM models of a FaceProp project (DESIGN.md §3).

Portable types only (no SQLite-specific columns) so the same models work on PostgreSQL. Points are
little-endian float32 blobs; see ``core.store.blobs``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite itself keeps no time zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect
                             ) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON, datetime: UTCDateTime()}


class MetaRow(Base):
    """Key/value project metadata; holds ``schema_version``."""

    __tablename__ = "project_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class VideoRow(Base):
    __tablename__ = "videos"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(String(255))
    file_size: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    frame_count: Mapped[int] = mapped_column(Integer)
    container_frame_count: Mapped[int] = mapped_column(Integer)
    fps: Mapped[float] = mapped_column(Float)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    index_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    seek_exact: Mapped[bool] = mapped_column(Boolean, default=False)
    frame_index: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    source_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    sample_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class AnnotationRow(Base):
    """One manual (or imported / corrected / detector-started) label per (video, frame)."""

    __tablename__ = "annotations"
    __table_args__ = (UniqueConstraint("video_id", "frame", name="uq_annotation_video_frame"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    frame: Mapped[int] = mapped_column(Integer)
    points: Mapped[bytes] = mapped_column(LargeBinary)
    visible: Mapped[bytes] = mapped_column(LargeBinary)
    #: One uint8 review state per point (core.review_states); NULL only before migration 2 → 3.
    states: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    source: Mapped[str] = mapped_column(String(16))
    author: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RunRow(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    method: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="running")
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    device: Mapped[str] = mapped_column(String(128), default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    timings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    checkpoint_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    parent_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), nullable=True)
    keyframes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    message: Mapped[str] = mapped_column(Text, default="")
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)


class PseudoLabelRow(Base):
    __tablename__ = "pseudo_labels"
    __table_args__ = (Index("ix_pseudo_video_frame", "video_id", "frame"),)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"),
                                        primary_key=True)
    frame: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    points: Mapped[bytes] = mapped_column(LargeBinary)
    confidence: Mapped[bytes] = mapped_column(LargeBinary)


class FrameStatsRow(Base):
    __tablename__ = "frame_stats"
    __table_args__ = (Index("ix_stats_video_frame", "video_id", "frame"),)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"),
                                        primary_key=True)
    frame: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    jitter: Mapped[float] = mapped_column(Float, default=0.0)
    detection_tracking: Mapped[float] = mapped_column(Float, default=0.0)
    teacher_student: Mapped[float] = mapped_column(Float, default=0.0)
    forward_backward: Mapped[float] = mapped_column(Float, default=0.0)
    confidence: Mapped[float] = mapped_column(Float, default=1.0)
    suggestion_score: Mapped[float] = mapped_column(Float, default=0.0)
    #: 1 where tracking probably lost the face (core.face_lost); schema 4 on.
    face_lost: Mapped[float] = mapped_column(Float, default=0.0)


class EditLogRow(Base):
    """Append-only history of every change to labels (who, when, what, before/after)."""

    __tablename__ = "edit_log"
    __table_args__ = (Index("ix_edit_video_frame", "video_id", "frame"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    author: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(32))
    video_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    frame: Mapped[int | None] = mapped_column(Integer, nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AbsenceRow(Base):
    """Frames first … last (0-based, inclusive) of a video show no face to label (issue 12).
    A video's ranges never overlap or touch: the absence service keeps them merged."""

    __tablename__ = "absences"
    __table_args__ = (Index("ix_absence_video", "video_id", "first"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    first: Mapped[int] = mapped_column(Integer)
    last: Mapped[int] = mapped_column(Integer)


class CutRow(Base):
    """A shot cut: ``frame`` (0-based) starts a new shot of the video (issue 12 §2); found
    when the video was added (``source`` "detected") or added by a person ("manual")."""

    __tablename__ = "cuts"
    __table_args__ = (UniqueConstraint("video_id", "frame", name="uq_cut_video_frame"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    frame: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16), default="detected")
