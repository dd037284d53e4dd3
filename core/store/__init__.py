"""The project database: SQLAlchemy 2 models, the engine set-up and the services the app and the
trainer call. Callers get plain dataclasses and numpy arrays, never ORM rows or sessions."""

from core.store.project import SCHEMA_VERSION, Project
from core.store.records import (
    Annotation,
    EditRecord,
    FrameStats,
    PseudoLabels,
    RunRecord,
    VideoRecord,
    VideoSummary,
)

__all__ = [
    "SCHEMA_VERSION",
    "Annotation",
    "EditRecord",
    "FrameStats",
    "Project",
    "PseudoLabels",
    "RunRecord",
    "VideoRecord",
    "VideoSummary",
]
