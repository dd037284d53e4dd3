"""What the services that change a video's data share: who edits, the video's frame count, and
one transaction that changes a video's list of marks (no-face ranges, shot cuts) and logs it.

``change_marks`` reads the marks, asks ``change`` for the new list (which may refuse with a
ValidationError, naming what is wrong), and, only when the list differs, has ``write`` store it
and adds one edit-log entry with the marks before and after, so an undo can restore them
exactly. It returns the marks before.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import StoreError
from core.store.models import EditLogRow, VideoRow

if TYPE_CHECKING:
    from core.store.project import Project


def default_author() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def video_frame_count(session: Session, target: str, video_id: int) -> int:
    """The video's frame count, or StoreError when the project has no such video."""
    count = session.scalar(select(VideoRow.frame_count).where(VideoRow.id == video_id))
    if count is None:
        raise StoreError(f"{target}: no video with id {video_id}")
    return int(count)


def change_marks(project: Project, video_id: int, action: str, author: str | None, *,
                 read: Callable[[Session], list], change: Callable[[Session, list, int], list],
                 write: Callable[[Session, list, list], None],
                 first_frame: Callable[[Any], int] = int,
                 describe: Callable[[list], dict[str, Any]] | None = None) -> list:
    """See the module docstring. The log entry names the frame ``first_frame(after[0])``;
    ``describe(after)`` adds to its detail."""
    with project.session() as session, session.begin():
        frame_count = video_frame_count(session, project.target, video_id)
        before = read(session)
        after = change(session, before, frame_count)
        if after == before:
            return before
        write(session, before, after)
        session.add(EditLogRow(
            author=default_author() if author is None else author, action=action,
            video_id=video_id, frame=first_frame(after[0]) if after else None,
            detail={"before": before, "after": after,
                    **(describe(after) if describe is not None else {})}))
        return before
