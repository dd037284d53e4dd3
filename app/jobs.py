"""The long service calls behind File-menu actions, as jobs for ``JobWorker``.

Each factory returns ``job(project, progress, should_stop)``; tests call the same jobs the dialogs
start, on a project of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.workers import Job, Progress, ShouldStop
from core.store import Project


def add_videos_job(paths: Sequence[str | Path], transcode: bool = False) -> Job:
    def job(project: Project, progress: Progress, should_stop: ShouldStop) -> list[Any]:
        added = []
        for path in paths:
            added.append(project.videos.add(path, transcode=transcode, progress=progress,
                                            should_stop=should_stop))
        return added
    return job


def import_300vw_job(folder: str | Path) -> Job:
    def job(project: Project, progress: Progress, should_stop: ShouldStop) -> list[Any]:
        from core.formats.vw300 import import_300vw

        return import_300vw(project, folder, progress=progress, should_stop=should_stop)
    return job


def export_300vw_job(target: str | Path, *, video_ids: Sequence[int] | None = None,
                     run_id: int | None = None, labelled_only: bool = False,
                     force: bool = False) -> Job:
    def job(project: Project, progress: Progress, should_stop: ShouldStop) -> list[Any]:
        from core.formats.vw300 import export_300vw

        return export_300vw(project, target, video_ids=video_ids, run_id=run_id,
                            labelled_only=labelled_only, force=force, progress=progress,
                            should_stop=should_stop)
    return job
