"""Per-point review states: stored with each annotation, logged, migrated from frame sources."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from core.errors import ValidationError
from core.landmarks import mean_shape
from core.review_states import (
    ACCEPTED,
    PLACED,
    PREDICTED,
    after_accept,
    after_move,
    pinned,
    state_counts,
)
from core.store import Project


def face() -> np.ndarray:
    return (mean_shape() * 30 + 60).astype(np.float32)


def test_states_round_trip_and_default_from_the_source(project_with_video):
    project, video = project_with_video
    states = np.full(68, PREDICTED, np.uint8)
    states[[3, 4]] = PLACED
    project.labels.set(video.id, 5, face(), source="corrected", states=states)
    project.labels.set(video.id, 6, face())  # manual: every point placed
    project.labels.set(video.id, 7, face(), source="detector")  # a machine: predicted
    got = project.labels.get(video.id, 5)
    np.testing.assert_array_equal(got.states, states)
    assert not got.fully_reviewed and got.pinned.sum() == 2
    assert project.labels.get(video.id, 6).fully_reviewed
    assert state_counts(project.labels.get(video.id, 7).states)["predicted"] == 68
    frames, all_states = project.labels.states(video.id)
    assert frames.tolist() == [5, 6, 7] and all_states.shape == (3, 68)
    assert project.labels.history(video.id)[-3].detail["states"] == states.tolist()


def test_bad_states_are_refused(project_with_video):
    project, video = project_with_video
    with pytest.raises(ValidationError, match="frame 6: 7 is not a point state"):
        project.labels.set(video.id, 5, face(), states=np.full(68, 7))
    with pytest.raises(ValidationError, match="shape"):
        project.labels.set(video.id, 5, face(), states=np.zeros(3))
    assert project.labels.count() == {}


def test_moving_and_accepting():
    states = np.full(68, PREDICTED, np.uint8)
    moved = after_move(states, np.array([10, 11]))
    assert state_counts(moved) == {"placed": 2, "accepted": 0, "predicted": 66}
    some = after_accept(moved, np.array([11, 12]))
    assert some[11] == PLACED and some[12] == ACCEPTED and some[13] == PREDICTED
    everything = after_accept(moved)
    assert pinned(everything).all() and state_counts(everything)["placed"] == 2


def test_schema_2_sources_become_point_states(tmp_path, tiny_video):
    path = tmp_path / "v2.faceprop.sqlite"
    with Project.create_or_open(path) as project:
        video = project.videos.add(tiny_video)
        for frame, source in enumerate(("manual", "imported", "corrected", "accepted",
                                        "detector")):
            project.labels.set(video.id, frame, face(), source=source)
    with sqlite3.connect(path) as connection:
        connection.execute("ALTER TABLE annotations DROP COLUMN states")
        connection.execute("UPDATE project_meta SET value='2' WHERE key='schema_version'")
    with Project.open(path) as project:
        _, states = project.labels.states(video.id)
    assert states[:, 0].tolist() == [PLACED, PLACED, ACCEPTED, ACCEPTED, PREDICTED]
    assert (tmp_path / "v2.faceprop.sqlite.bak-v2").is_file()


def test_export_provenance_counts_point_states(tmp_path):
    import csv

    from core.formats.vw300 import export_300vw, import_300vw
    from core.propagation import interpolate
    from tests.core.test_vw300 import make_clip
    from trainer.jobs import propagate_video

    clip = make_clip(tmp_path / "clip001")
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        [result] = import_300vw(project, clip)
        video = result.video_id
        propagate_video(project, video, "interpolation")
        states = np.full(68, PREDICTED, np.uint8)
        states[:5], states[5:9] = PLACED, ACCEPTED
        predicted = interpolate(30, {0: face(), 10: face()}).points[4]
        project.labels.set(video, 4, predicted, source="corrected", states=states)
        export_300vw(project, tmp_path / "out")
    with (tmp_path / "out" / "clip001" / "provenance.csv").open() as handle:
        rows = {int(r["frame"]): r for r in csv.DictReader(handle)}
    assert (rows[5]["placed"], rows[5]["accepted"], rows[5]["predicted"]) == ("5", "4", "59")
    assert (rows[1]["placed"], rows[1]["predicted"]) == ("68", "0")  # an imported keyframe
    assert (rows[2]["placed"], rows[2]["predicted"]) == ("0", "68")  # a pseudo-label


def test_only_whole_reviewed_frames_train_and_placed_points_hold(tmp_path):
    from tests.core.test_vw300 import make_clip
    from trainer.jobs import load_keyframes, propagate_video

    clip = make_clip(tmp_path / "clip001", labelled=(0, 20))
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        from core.formats.vw300 import import_300vw

        [result] = import_300vw(project, clip)
        video = result.video_id
        first = propagate_video(project, video, "interpolation")
        predicted = project.runs.pseudo_labels(first.id).points
        # a person moves two jaw points of frame 10 and leaves the rest predicted
        moved = predicted[10].copy()
        moved[[3, 4]] += 6.0
        states = np.full(68, PREDICTED, np.uint8)
        states[[3, 4]] = PLACED
        project.labels.set(video, 10, moved, source="corrected", states=states)
        project.labels.set(video, 15, predicted[15], source="detector")  # nobody reviewed it
        keyframes, partial = load_keyframes(project, video)
        assert sorted(keyframes) == [0, 20] and sorted(partial) == [10]
        second = propagate_video(project, video, "interpolation")
        points = project.runs.pseudo_labels(second.id).points
    np.testing.assert_allclose(points[10, [3, 4]], moved[[3, 4]], atol=1e-3)  # placed: held
    assert np.abs(points[9, 3] - predicted[9, 3]).max() > 1.0  # its neighbours follow in time
    np.testing.assert_allclose(points[10, 30], predicted[10, 30], atol=0.5)  # predicted: kept
    np.testing.assert_allclose(points[0], keyframes[0], atol=1e-4)
    assert second.keyframes["frames"] == [0, 20]
