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


def _varied_faces(count: int, seed: int) -> np.ndarray:
    from core.geometry import apply_affine
    from core.landmarks import mean_shape

    rng = np.random.default_rng(seed)
    faces = []
    for _ in range(count):
        s, a = rng.uniform(90, 110), rng.uniform(-0.2, 0.2)
        pose = np.array([[s * np.cos(a), -s * np.sin(a), rng.uniform(250, 350)],
                         [s * np.sin(a), s * np.cos(a), rng.uniform(200, 260)]])
        faces.append(apply_affine(pose, mean_shape() + rng.normal(0, 0.01, (68, 2))))
    return np.stack(faces)


def test_a_resolve_completes_each_frame_with_the_segments_shape(monkeypatch):
    """A point that both the fresh track and the last run lost (both say so) goes where the
    other points and the keyframes' shapes put it, as in the TSAL run's output; a person's
    pinned points stay exactly where they were put."""
    from core.propagation import resolve
    from core.propagation.common import Propagation
    from core.shape_model import ShapeModel

    faces = _varied_faces(13, seed=3)
    keys, truth = faces[:12], faces[12]
    n = 31
    track = np.repeat(truth[None], n, axis=0).astype(np.float64)
    track[2:29, 57] += (0.0, 25.0)  # under an occluder for most of the gap: lost ...
    confidence = np.full((n, 68), 0.97)
    confidence[2:29, 57] = 0.05  # ... and both trackers know it
    keyframes = {0: truth, n - 1: truth}
    x0, y0, _, _ = resolve._track_window(track, keyframes.values())  # it tracks in a window
    monkeypatch.setattr(resolve, "flow_track", lambda *a, **k: Propagation(
        (track - (x0, y0)).astype(np.float32), confidence.astype(np.float32), "flow"))
    placed = truth.copy()
    placed[[48, 54]] += (0.0, 1.0)  # a person moved the mouth corners of frame 3
    mask = np.zeros(68, bool)
    mask[[48, 54]] = True
    partial = {3: (placed, mask)}
    frame = lambda i: np.zeros((480, 640), np.uint8)  # noqa: E731 (tracking is patched)
    args = (frame, 0, n - 1, keyframes, partial, track, confidence)
    plain = resolve.resolve_gap(*args)
    seen = {}
    real = resolve.complete_track

    def spy(model, points, sigma, skip=(), floor=0.0):
        seen.update(sigma=np.array(sigma), floor=floor)
        return real(model, points, sigma, skip=skip, floor=floor)

    monkeypatch.setattr(resolve, "complete_track", spy)
    shaped = resolve.resolve_gap(*args, shape=ShapeModel.fit(keys))
    # pinned points are observed at PINNED_SIGMA alone (no floor on top): they hold
    assert seen["floor"] == 0.0 and np.all(seen["sigma"][3, [48, 54]] == resolve.PINNED_SIGMA)
    assert seen["sigma"][3, 0] > 1.0  # measured points carry the floor
    assert np.linalg.norm(plain.points[15, 57] - truth[57]) > 15.0
    assert np.linalg.norm(shaped.points[15, 57] - truth[57]) < 5.0
    np.testing.assert_allclose(shaped.points[3, [48, 54]], placed[[48, 54]], atol=1e-3)
    assert shaped.confidence[15, 57] > plain.confidence[15, 57]


def test_re_solving_the_same_edit_again_changes_nothing(tmp_path):
    """Each re-solve starts from the whole run, not from an earlier re-solve's result: fusing
    that again would count its fresh track twice, and a gap edited often grew ever more
    confident."""
    clip = make_clip(tmp_path / "clip001", labelled=(0, 10, 20, 29))
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        [result] = import_300vw(project, clip)
        video = result.video_id
        first = propagate_video(project, video, "flow")
        moved = project.runs.pseudo_labels(first.id).points[15].copy()
        moved[[48, 54]] += 5.0
        states = np.full(68, PREDICTED, np.uint8)
        states[[48, 54]] = PLACED
        project.labels.set(video, 15, moved, source="corrected", states=states)
        once = project.runs.pseudo_labels(resolve_edit(project, video, [15]).id)
        twice = project.runs.pseudo_labels(resolve_edit(project, video, [15]).id)
    np.testing.assert_allclose(twice.points, once.points, atol=1e-4)
    np.testing.assert_allclose(twice.confidence, once.confidence, atol=1e-5)


def test_each_gap_is_completed_with_its_own_segments_model(tmp_path, monkeypatch):
    """A no-face range splits the video: a gap in the second segment gets the model of that
    segment's keyframes, and no model is fitted for a segment without an edit."""
    from core.propagation import edits

    clip = make_clip(tmp_path / "clip001", frames=60, labelled=(0, 10, 20, 35, 45, 59))
    fitted = []
    real = edits._shape_model

    def spy(keyframes, segment):
        fitted.append((segment, sorted(f for f in keyframes if segment[0] <= f <= segment[1])))
        return real(keyframes, segment)

    monkeypatch.setattr(edits, "_shape_model", spy)
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        [result] = import_300vw(project, clip)
        video = result.video_id
        project.absences.mark(video, 25, 30)
        first = propagate_video(project, video, "flow")
        moved = project.runs.pseudo_labels(first.id).points
        frame = int(np.flatnonzero(project.runs.pseudo_labels(first.id).frames == 40)[0])
        states = np.full(68, PREDICTED, np.uint8)
        states[[48, 54]] = PLACED
        project.labels.set(video, 40, moved[frame] + 1.0, source="corrected", states=states)
        assert resolve_edit(project, video, [40]) is not None
    assert fitted == [((31, 59), [35, 45, 59])]
