"""Frames marked "no face" (issue 12 §1): stored as merged ranges, refused over labels (and
labels refused on them), undoable exactly, migrated into older projects, and the face segments
between them."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from core.errors import ValidationError
from core.segments import describe_ranges, face_segments, merge_ranges, remove_range
from core.store import Project
from tests.core.test_review_states import face


@pytest.fixture
def project(tmp_path, tiny_video):
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        project.videos.add(tiny_video)
        yield project


def test_ranges_merge_split_and_segments():
    assert merge_ranges([(5, 7), (0, 2), (3, 3), (9, 12), (10, 11)]) == [(0, 3), (5, 7), (9, 12)]
    assert merge_ranges([(0, 3), (4, 4)]) == [(0, 4)]
    assert remove_range([(0, 9)], 3, 4) == [(0, 2), (5, 9)]
    assert remove_range([(0, 9)], 0, 9) == []
    assert face_segments(10, [(3, 4), (9, 9)]) == [(0, 2), (5, 8)]
    assert face_segments(5, [(0, 4)]) == []
    assert face_segments(4) == [(0, 3)]
    assert describe_ranges([(0, 0), (4, 9)]) == "1, 5–10"


def test_mark_clear_and_undo_exactly(project):
    video = project.videos.all()[0].id
    assert project.absences.mark(video, 3, 5) == []
    assert project.absences.mark(video, 6, 8) == [(3, 5)]
    assert project.absences.ranges(video) == [(3, 8)]  # touching ranges merge
    before = project.absences.mark(video, 5, 5, absent=False)
    assert project.absences.ranges(video) == [(3, 4), (6, 8)]
    project.absences.replace(video, before)  # the undo
    assert project.absences.ranges(video) == [(3, 8)]
    assert project.absences.counts() == {video: 6}
    log = project.labels.history(video)[-4:]  # oldest first
    assert [e.action for e in log] == ["mark_absent", "mark_absent", "clear_absent",
                                       "set_absent"]
    assert log[2].detail["before"] == [[3, 8]] and log[2].detail["after"] == [[3, 4], [6, 8]]


def test_no_face_and_labels_exclude_each_other(project):
    video = project.videos.all()[0]
    project.labels.set(video.id, 4, face())
    with pytest.raises(ValidationError, match="frame\\(s\\) 5 hold labels"):
        project.absences.mark(video.id, 2, 6)
    assert project.absences.ranges(video.id) == []  # nothing changed
    project.absences.mark(video.id, 6, 7)
    with pytest.raises(ValidationError, match="frame\\(s\\) 7 are marked 'no face'"):
        project.labels.set(video.id, 6, face())
    assert project.labels.get(video.id, 6) is None


@pytest.mark.parametrize(("first", "last", "message"), [
    (5, 2, "the first frame comes after the last"),
    (-1, 2, "outside the video"),
    (0, 10_000, "outside the video"),
])
def test_bad_ranges_are_refused_by_name(project, first, last, message):
    video = project.videos.all()[0].id
    with pytest.raises(ValidationError, match=message):
        project.absences.mark(video, first, last)
    assert project.absences.ranges(video) == []


def test_schema_3_projects_gain_the_absences_table(tmp_path, tiny_video):
    path = tmp_path / "v3.faceprop.sqlite"
    with Project.create_or_open(path) as project:
        video = project.videos.add(tiny_video).id
        project.labels.set(video, 0, face())
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TABLE absences")
        connection.execute("UPDATE project_meta SET value='3' WHERE key='schema_version'")
    with Project.open(path) as project:
        assert project.absences.ranges(video) == []
        project.absences.mark(video, 2, 3)
        assert np.flatnonzero(project.absences.mask(video, 6)).tolist() == [2, 3]
    assert (tmp_path / "v3.faceprop.sqlite.bak-v3").is_file()


def test_ranges_split_at_cuts():
    from core.segments import split_at_cuts

    assert split_at_cuts([(0, 9), (12, 20)], [5, 12, 15, 30]) == [(0, 4), (5, 9), (12, 14),
                                                                 (15, 20)]
    assert split_at_cuts([(3, 3)], [3]) == [(3, 3)]
