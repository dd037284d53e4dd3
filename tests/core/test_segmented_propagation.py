"""Propagation never crosses a frame marked "no face" (issue 12 §1): each face segment is
propagated from its own keyframes, a segment without one gets no pseudo-labels, no-face frames
never get any, and a re-solve stays inside its segment."""

from __future__ import annotations

import numpy as np
import pytest

from core.formats.vw300 import import_300vw
from core.propagation import interpolate
from core.propagation.edits import resolve_edit
from core.propagation.segmented import propagate_segments
from core.review_states import PLACED, PREDICTED
from core.store import Project
from tests.core.test_review_states import face
from tests.core.test_vw300 import make_clip
from trainer.jobs import propagate_video


def test_each_segment_is_propagated_from_its_own_keyframes():
    # keyframes 0 and 9 (segment 0..9), 14 and 19 (segment 14..19); a segment 22..24 has none
    keys = {0: face(), 9: face() + 10, 14: face() + 100, 19: face() + 110}
    calls = []

    def propagate(frame_of, n, keyframes, progress=None, should_stop=None):
        calls.append((n, sorted(keyframes)))
        return interpolate(n, keyframes)

    result = propagate_segments(propagate, lambda i: None, [(0, 9), (14, 19), (22, 24)], keys)
    assert calls == [(10, [0, 9]), (6, [0, 5])]
    assert result.frames.tolist() == [*range(10), *range(14, 20)]
    assert result.propagated == [(0, 9), (14, 19)] and result.unlabelled == [(22, 24)]
    # frame 13 was not in between: frame 14's face never pulls frames 0..9
    np.testing.assert_allclose(result.points[9], keys[9])
    np.testing.assert_allclose(result.points[10], keys[14])
    assert set(result.stats) >= {"jitter", "confidence", "suggestion_score"}
    assert all(len(v) == 16 for v in result.stats.values())


def test_a_project_run_skips_no_face_frames_and_the_re_solve_stays_inside(tmp_path):
    clip = make_clip(tmp_path / "clip001", labelled=(0, 10, 20, 29))
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        [result] = import_300vw(project, clip)
        video = result.video_id
        project.labels.delete(video, 20)
        project.absences.mark(video, 12, 17)  # segments 0..11 and 18..29
        run = propagate_video(project, video, "flow")
        assert run.config["segments"] == [[0, 11], [18, 29]]
        labels = project.runs.pseudo_labels(run.id)
        assert labels.frames.tolist() == [*range(12), *range(18, 30)]
        assert len(project.runs.frame_stats(run.id).frames) == 24

        # an edit next to the absence re-solves its own segment only
        moved = labels.points[list(labels.frames).index(22)].copy()
        moved[[48, 54]] += 5.0
        states = np.full(68, PREDICTED, np.uint8)
        states[[48, 54]] = PLACED
        project.labels.set(video, 22, moved, source="corrected", states=states)
        revision = resolve_edit(project, video, [22])
        assert min(lo for lo, _hi in revision.config["gaps"]) >= 18
        after = project.runs.pseudo_labels(revision.id)
    assert after.frames.tolist() == labels.frames.tolist()  # still nothing on 12..17
    changed = after.frames[np.abs(after.points - labels.points).max(axis=(1, 2)) > 1e-4]
    assert changed.min() >= 18 and changed.max() < 29


def test_a_video_without_absences_runs_as_one_segment(tmp_path):
    clip = make_clip(tmp_path / "clip001", labelled=(0, 29))
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        [result] = import_300vw(project, clip)
        run = propagate_video(project, result.video_id, "interpolation")
        assert "segments" not in run.config
        assert len(project.runs.pseudo_labels(run.id).frames) == 30


def test_export_300vw_names_the_no_face_frames_instead_of_asking_to_propagate(tmp_path):
    from core.errors import StoreError
    from core.formats.vw300 import export_300vw

    clip = make_clip(tmp_path / "clip001", labelled=(0, 29))
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        [result] = import_300vw(project, clip)
        project.absences.mark(result.video_id, 12, 17)
        propagate_video(project, result.video_id, "interpolation")
        with pytest.raises(StoreError, match=r"13–18 are marked 'no face'.*--labelled-only"):
            export_300vw(project, tmp_path / "out")
        export_300vw(project, tmp_path / "out", labelled_only=True)
    assert sorted(p.name for p in (tmp_path / "out" / "clip001" / "annot").iterdir()) == [
        "000001.pts", "000030.pts"]
