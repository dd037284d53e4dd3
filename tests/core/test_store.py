"""The project store: schema checks, annotations, runs, pseudo-labels, statistics, edit log."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from sqlalchemy import event, text

from core.errors import StoreError, ValidationError
from core.landmarks import mean_shape
from core.store import Project
from core.store import project as project_module
from tests.conftest import write_numbered_video


def face(offset: float = 0.0) -> np.ndarray:
    return (mean_shape() * 50 + 80 + offset).astype(np.float32)


def test_new_project_uses_wal_foreign_keys_and_schema_version(project):
    with project.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    assert project.schema_version() == project_module.SCHEMA_VERSION


def test_open_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="no such project file"):
        Project.open(tmp_path / "missing.faceprop.sqlite")


def test_a_file_that_is_not_sqlite_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "notes.faceprop.sqlite"
    path.write_text("these are my notes")
    with pytest.raises(StoreError, match="not an SQLite database"):
        Project.open(path)
    assert path.read_text() == "these are my notes"


def test_an_unrelated_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
    with pytest.raises(StoreError, match="not a FaceProp project"):
        Project.open(path)


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "p.faceprop.sqlite"
    Project.create_or_open(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE project_meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(StoreError, match="newer FaceProp"):
        Project.open(path)
    with sqlite3.connect(path) as conn:  # the file is untouched
        assert conn.execute("SELECT value FROM project_meta").fetchone() == ("99",)


def test_an_older_schema_is_backed_up_and_migrated(tmp_path, monkeypatch, tiny_video):
    path = tmp_path / "p.faceprop.sqlite"
    with Project.create_or_open(path) as proj:
        proj.videos.add(tiny_video)
    current = project_module.SCHEMA_VERSION
    steps = []

    def add_note_column(session):
        session.execute(text("ALTER TABLE videos ADD COLUMN note TEXT DEFAULT ''"))
        steps.append("ran")

    monkeypatch.setattr(project_module, "SCHEMA_VERSION", current + 1)
    monkeypatch.setitem(project_module.MIGRATIONS, current, add_note_column)
    with Project.open(path) as proj:
        assert proj.schema_version() == current + 1
        assert len(proj.videos.all()) == 1
    assert steps == ["ran"]
    backup = path.with_name(f"{path.name}.bak-v{current}")
    with sqlite3.connect(backup) as conn:
        assert conn.execute("SELECT value FROM project_meta").fetchone() == (str(current),)


def test_add_video_stores_true_frame_count_and_refuses_duplicates(project, tiny_video):
    video = project.videos.add(tiny_video)
    assert video.frame_count == 40 and (video.width, video.height) == (160, 120)
    assert project.videos.get(video.id) == video
    with pytest.raises(StoreError, match="already in the project"):
        project.videos.add(tiny_video)
    assert len(project.videos.all()) == 1


def test_annotation_round_trip_and_replace_returns_previous(project_with_video):
    project, video = project_with_video
    visible = np.ones(68, dtype=bool)
    visible[3] = False
    assert project.labels.set(video.id, 5, face(), visible) is None
    got = project.labels.get(video.id, 5)
    np.testing.assert_array_equal(got.points, face())
    np.testing.assert_array_equal(got.visible, visible)
    assert got.source == "manual"
    previous = project.labels.set(video.id, 5, face(2.0), source="corrected")
    np.testing.assert_array_equal(previous.points, face())
    assert project.labels.get(video.id, 5).source == "corrected"
    assert project.labels.frames(video.id) == [5]


def test_annotations_survive_reopening_from_another_engine(project_with_video):
    project, video = project_with_video
    project.labels.set(video.id, 0, face())
    with Project.open(project.path) as again:
        np.testing.assert_array_equal(again.labels.get(video.id, 0).points, face())


@pytest.mark.parametrize(("frame", "points", "message"), [
    (40, face(), "frame 41 is outside the video"),
    (-1, face(), "frame 0 is outside the video"),
    (3, face()[:67], r"shape \(68, 2\)"),
    (3, np.where(np.arange(68)[:, None] == 7, np.nan, face()), "point 7 is NaN"),
])
def test_bad_annotations_are_refused_and_change_nothing(project_with_video, frame, points,
                                                        message):
    project, video = project_with_video
    project.labels.set(video.id, 1, face())
    log_before = len(project.labels.history())
    with pytest.raises(ValidationError, match=message):
        project.labels.set_many(video.id, {2: (face(), None), frame: (points, None)})
    assert project.labels.frames(video.id) == [1]
    assert len(project.labels.history()) == log_before


def test_delete_annotation_returns_it_and_logs(project_with_video):
    project, video = project_with_video
    project.labels.set(video.id, 3, face())
    removed = project.labels.delete(video.id, 3)
    np.testing.assert_array_equal(removed.points, face())
    assert project.labels.get(video.id, 3) is None
    assert project.labels.delete(video.id, 3) is None
    actions = [entry.action for entry in project.labels.history(video.id)]
    assert actions == ["add_video", "set_annotation", "delete_annotation"]


def test_edit_log_is_append_only(project_with_video):
    project, video = project_with_video
    project.labels.set(video.id, 3, face())
    with project.engine.begin() as conn, pytest.raises(Exception, match="append-only"):
        conn.execute(text("DELETE FROM edit_log"))
    assert len(project.labels.history()) == 2


def test_pseudo_labels_bulk_round_trip_and_latest_run(project_with_video):
    project, video = project_with_video
    first = project.runs.create(video.id, "interpolation", config={"stride": 10})
    frames = np.arange(40)
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 150, (40, 68, 2)).astype(np.float32)
    confidence = rng.uniform(0, 1, (40, 68)).astype(np.float32)
    assert project.runs.write_pseudo_labels(first.id, frames, points, confidence) == 40
    project.runs.finish(first.id, "done", timings={"total_s": 1.5})
    labels = project.runs.pseudo_labels(first.id)
    np.testing.assert_array_equal(labels.frames, frames)
    np.testing.assert_array_equal(labels.points, points)
    np.testing.assert_array_equal(labels.confidence, confidence)
    np.testing.assert_array_equal(labels.for_frame(7)[0], points[7])
    failed = project.runs.create(video.id, "tsal")
    project.runs.finish(failed.id, "failed", message="boom")
    latest = project.runs.latest(video.id)
    assert latest.id == first.id and latest.timings == {"total_s": 1.5}


def test_pseudo_labels_outside_the_video_are_refused(project_with_video):
    project, video = project_with_video
    run = project.runs.create(video.id, "interpolation")
    with pytest.raises(ValidationError, match="frame 41 is outside"):
        project.runs.write_pseudo_labels(run.id, np.array([39, 40]), np.zeros((2, 68, 2)),
                                         np.zeros((2, 68)))
    assert len(project.runs.pseudo_labels(run.id).frames) == 0


def test_frame_stats_round_trip(project_with_video):
    project, video = project_with_video
    run = project.runs.create(video.id, "tsal")
    frames = np.arange(0, 40, 2)
    score = np.linspace(0, 1, len(frames))
    project.runs.write_frame_stats(run.id, frames, {"suggestion_score": score,
                                                    "jitter": score * 2})
    stats = project.runs.frame_stats(run.id)
    np.testing.assert_array_equal(stats.frames, frames)
    np.testing.assert_allclose(stats["suggestion_score"], score)
    np.testing.assert_allclose(stats["jitter"], score * 2)
    np.testing.assert_allclose(stats["confidence"], 1.0)
    with pytest.raises(ValidationError, match="unknown frame statistics"):
        project.runs.write_frame_stats(run.id, frames, {"wobble": score})


def test_a_killed_run_is_marked_failed_and_earlier_results_keep_serving(project_with_video):
    project, video = project_with_video
    done = project.runs.create(video.id, "interpolation")
    project.runs.finish(done.id, "done")
    killed = project.runs.create(video.id, "tsal", pid=2**22 + 12345)  # no such process
    assert project.runs.mark_abandoned() == [killed.id]
    assert project.runs.get(killed.id).status == "failed"
    assert project.runs.latest(video.id).id == done.id


def test_add_video_with_transcode_keeps_an_mjpg_copy_in_the_media_folder(project, tiny_video):
    video = project.videos.add(tiny_video, transcode=True)
    stored = project.videos.resolve_path(video)
    assert stored.parent == project.media_folder and stored.suffix == ".avi"
    assert video.frame_count == 40 and video.source_path == str(tiny_video.resolve())
    with project.videos.open_reader(video.id) as reader:
        assert reader.frame(39).shape == (120, 160, 3)


def test_video_summaries_count_labels_and_runs_in_one_query(project_with_video, tmp_path):
    project, first = project_with_video
    second = project.videos.add(write_numbered_video(tmp_path / "second.avi", frames=30))
    for frame, source in ((0, "manual"), (3, "corrected"), (5, "accepted"), (7, "imported")):
        project.labels.set(first.id, frame, face(frame), source=source)
    done = project.runs.create(first.id, "interpolation")
    project.runs.finish(done.id, "done")
    project.runs.finish(project.runs.create(first.id, "tsal").id, "failed", message="boom")
    project.runs.create(first.id, "tsal")  # still running: not usable
    stopped = project.runs.create(second.id, "tsal")
    project.runs.write_pseudo_labels(stopped.id, np.arange(12), np.zeros((12, 68, 2)),
                                     np.ones((12, 68)))
    project.runs.finish(stopped.id, "stopped")
    statements: list[str] = []
    event.listen(project.engine, "before_cursor_execute",
                 lambda _conn, _cursor, statement, *_rest: statements.append(statement))
    summaries = project.videos.summaries()
    assert len(statements) == 1
    one, two = summaries
    assert (one.id, one.name, one.path, one.frame_count) == (first.id, first.name, first.path, 40)
    assert (one.keyframes, one.reviewed) == (4, 2)
    assert (one.run_id, one.run_status, one.pseudo_frames) == (done.id, "done", 40)
    assert (two.id, two.frame_count, two.keyframes, two.reviewed) == (second.id, 30, 0, 0)
    assert (two.run_id, two.run_status, two.pseudo_frames) == (stopped.id, "stopped", 12)
    # the same answers the per-video service calls give
    assert {s.id: s.keyframes for s in summaries if s.keyframes} == project.labels.count()
    assert [s.run_id for s in summaries] == [project.runs.latest(v.id).id for v in (first, second)]


def test_video_summaries_of_an_empty_project_and_a_video_without_labels(project, tiny_video):
    assert project.videos.summaries() == []
    video = project.videos.add(tiny_video)
    (summary,) = project.videos.summaries()
    assert (summary.id, summary.keyframes, summary.reviewed) == (video.id, 0, 0)
    assert (summary.run_id, summary.run_status, summary.pseudo_frames) == (None, None, 0)
