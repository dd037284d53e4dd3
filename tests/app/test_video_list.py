"""The Videos dock: a table model over ``VideoService.summaries``; a refresh is one query, and
selecting a row switches the session's video."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from sqlalchemy import event

from app.video_list import COLUMNS, VideoListModel
from core.landmarks import N_POINTS
from core.review_states import after_move
from core.store import Project
from tests.app.conftest import CLIP_FRAMES
from tests.conftest import write_numbered_video


def _row_texts(model: VideoListModel, row: int) -> list[str]:
    return [model.data(model.index(row, c)) for c in range(model.columnCount())]


def test_model_rows_show_name_and_counts(window):
    model = window.video_list.videos
    video = window.session.video
    assert model.rowCount() == 1 and model.columnCount() == len(COLUMNS)
    assert [model.headerData(c, Qt.Orientation.Horizontal) for c in range(len(COLUMNS))] == [
        "Video", "Frames", "Keys", "Pseudo", "Reviewed"]
    assert "every point is placed or accepted" in model.headerData(
        4, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    # "Reviewed" counts frames whose every point a person vouches for: the 4 imported
    # keyframes were placed by a person (core.review_states), so all 4 are reviewed
    assert _row_texts(model, 0) == [video.name, str(CLIP_FRAMES), "4", "0", "4"]
    assert model.data(model.index(0, 4), Qt.ItemDataRole.ToolTipRole).startswith(
        "4 frames fully reviewed (every point placed or accepted), 0 partly reviewed\n")
    index = model.index(0, 2)
    assert model.data(index, Qt.ItemDataRole.UserRole) == video.id
    assert model.data(index, Qt.ItemDataRole.ToolTipRole) == f"{video.name}\n{video.path}"
    assert model.data(index, Qt.ItemDataRole.TextAlignmentRole) & Qt.AlignmentFlag.AlignRight
    assert model.data(model.index(0, 0), Qt.ItemDataRole.TextAlignmentRole) is None
    assert window.video_list.selectionModel().selectedRows()[0].row() == 0


def test_refreshing_the_list_runs_exactly_one_query(window):
    project = window.session.project
    video_id = window.session.video.id
    points = project.labels.get(video_id, 0).points
    project.labels.set(video_id, 3, points, source="corrected",  # one point moved: partly
                       states=after_move(np.zeros(N_POINTS, dtype=np.uint8), [30]))
    statements: list[str] = []
    event.listen(project.engine, "before_cursor_execute",
                 lambda _conn, _cursor, statement, *_rest: statements.append(statement))
    window.video_list.refresh(project, window.session.video.id)
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("SELECT")
    assert window.video_list.videos.text(0, 2) == "5"
    # fully and partly reviewed frames come from the points' states in the same query
    assert window.video_list.videos.text(0, 4) == "4 (+1 partly)"


def test_two_videos_selecting_a_row_switches_video_and_refresh_keeps_it(
        qtbot, empty_window, project_path: Path, tmp_path: Path):
    with Project.open(project_path) as project:
        second = project.videos.add(write_numbered_video(tmp_path / "second.avi", frames=12))
    window = empty_window
    assert window.open_project(project_path)
    model, view = window.video_list.videos, window.video_list
    assert model.rowCount() == 2
    assert _row_texts(model, 1) == ["second", "12", "0", "0", "0"]
    with qtbot.waitSignal(view.video_selected) as selected:
        view.selectRow(1)
    assert selected.args == [second.id]
    assert window.session.video.id == second.id
    window.video_list.refresh(window.session.project, second.id)  # same rows: updated in place
    assert view.selectionModel().selectedRows()[0].row() == 1
    window.video_list.refresh(None, None)
    assert model.rowCount() == 0
