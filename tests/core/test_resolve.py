"""Instant local re-solve: an edit recomputes only the frames between its neighbouring
constraints, without training, stored as a derived revision of the latest run."""

from __future__ import annotations

import numpy as np

from core.formats.vw300 import import_300vw
from core.propagation.edits import resolve_edit
from core.propagation.resolve import RESOLVE_METHOD, affected_gaps
from core.review_states import PLACED, PREDICTED
from core.store import Project
from tests.core.test_vw300 import make_clip
from trainer.jobs import propagate_video


def test_affected_gaps_reach_the_neighbouring_constraints():
    assert affected_gaps([15], [0, 10, 20, 29], 30) == [(10, 20)]
    assert affected_gaps([10], [0, 10, 20, 29], 30) == [(0, 20)]
    assert affected_gaps([3, 5], [0, 10], 30) == [(0, 10)]
    assert affected_gaps([25], [10], 30) == [(10, 29)]


def test_an_edit_changes_only_frames_between_its_neighbouring_constraints(tmp_path):
    clip = make_clip(tmp_path / "clip001", labelled=(0, 10, 20, 29))
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        [result] = import_300vw(project, clip)
        video = result.video_id
        first = propagate_video(project, video, "flow")
        before = project.runs.pseudo_labels(first.id)
        moved = before.points[15].copy()
        moved[[48, 54]] += 5.0  # a person moves the mouth corners of frame 16
        states = np.full(68, PREDICTED, np.uint8)
        states[[48, 54]] = PLACED
        project.labels.set(video, 15, moved, source="corrected", states=states)
        revision = resolve_edit(project, video, [15])
        assert revision.method == RESOLVE_METHOD and revision.parent_run_id == first.id
        assert project.runs.latest(video).id == revision.id
        after = project.runs.pseudo_labels(revision.id)
        stats = project.runs.frame_stats(revision.id)
    assert len(after.frames) == 30 and len(stats.frames) == 30
    changed = np.flatnonzero(np.abs(after.points - before.points).max(axis=(1, 2)) > 1e-4)
    assert changed.min() > 10 and changed.max() < 20  # only inside (10, 20)
    np.testing.assert_allclose(after.points[15, [48, 54]], moved[[48, 54]], atol=1e-3)
    assert set(after.run_ids[11:20].tolist()) == {revision.id}
    assert set(after.run_ids[:10].tolist()) == {first.id}
    assert after.run_of(15) == revision.id and after.run_of(3) == first.id


def test_revisions_stack_and_a_new_propagation_is_whole_again(tmp_path):
    clip = make_clip(tmp_path / "clip001", labelled=(0, 10, 20, 29))
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        [result] = import_300vw(project, clip)
        video = result.video_id
        base = propagate_video(project, video, "interpolation")
        points = project.runs.pseudo_labels(base.id).points
        project.labels.set(video, 5, points[5] + 2.0)  # a new whole keyframe
        one = resolve_edit(project, video, [5])
        project.labels.set(video, 25, points[25] - 2.0)
        two = resolve_edit(project, video, [25])
        merged = project.runs.pseudo_labels(two.id)
        # revisions never stack: the second one holds both edits over the whole run
        assert project.runs.lineage(two.id) == [two.id, base.id]
        assert project.runs.lineage(one.id) == [one.id, base.id]
        np.testing.assert_allclose(merged.points[5], points[5] + 2.0, atol=1e-4)
        np.testing.assert_allclose(merged.points[25], points[25] - 2.0, atol=1e-4)
        again = propagate_video(project, video, "interpolation")
        assert project.runs.lineage(again.id) == [again.id]
        assert resolve_edit(project, video, []) is None


def test_nothing_to_revise_without_a_run(project_with_video):
    project, video = project_with_video
    project.labels.set(video.id, 3, np.zeros((68, 2)) + np.arange(68)[:, None])
    assert resolve_edit(project, video.id, [3]) is None
