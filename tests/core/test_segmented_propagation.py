"""Propagation never crosses a frame marked "no face" (issue 12 §1): each face segment is
propagated from its own keyframes, a segment without one gets no pseudo-labels, no-face frames
never get any, and a re-solve stays inside its segment."""

from __future__ import annotations

import numpy as np

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


def test_export_300vw_writes_one_clip_per_face_segment(tmp_path):
    import csv

    from core.formats.pts import read_pts
    from core.formats.vw300 import export_300vw
    from core.video import VideoReader

    clip = make_clip(tmp_path / "clip001", labelled=(0, 11, 18, 29))
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        [result] = import_300vw(project, clip)
        project.absences.mark(result.video_id, 12, 17)
        propagate_video(project, result.video_id, "interpolation")
        labels = project.runs.pseudo_labels(project.runs.latest(result.video_id).id)
        export_300vw(project, tmp_path / "out")
        export_300vw(project, tmp_path / "gaps", keep_gaps=True)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["clip001_seg01",
                                                                    "clip001_seg02"]
    with (out / "segments.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["folder"], r["first_frame"], r["last_frame"]) for r in rows] == [
        ("clip001_seg01", "1", "12"), ("clip001_seg02", "19", "30")]
    second = out / "clip001_seg02"
    assert len(list((second / "annot").iterdir())) == 12
    # its 000001.pts is source frame 19 (index 18), and its video holds those 12 frames
    np.testing.assert_allclose(read_pts(second / "annot" / "000001.pts"),
                               labels.points[list(labels.frames).index(18)], atol=1e-3)
    with VideoReader(second / "vid.avi") as reader:
        assert reader.frame_count == 12
    with (second / "provenance.csv").open() as handle:
        provenance = list(csv.DictReader(handle))
    assert (provenance[0]["frame"], provenance[0]["source_frame"]) == ("1", "19")

    gaps = tmp_path / "gaps" / "clip001"
    assert len(list((gaps / "annot").iterdir())) == 24  # 30 frames, 6 without a face
    with (gaps / "provenance.csv").open() as handle:
        no_face = [r["frame"] for r in csv.DictReader(handle) if r["source"] == "no_face"]
    assert no_face == ["13", "14", "15", "16", "17", "18"]
    assert not (tmp_path / "gaps" / "segments.csv").exists()


def test_frames_marked_after_a_run_are_left_out_of_coco_and_outside_in_cvat(tmp_path):
    import json
    import re

    from core.formats.coco import export_coco
    from core.formats.cvat import export_cvat

    clip = make_clip(tmp_path / "clip001", labelled=(0, 29))
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        [result] = import_300vw(project, clip)
        propagate_video(project, result.video_id, "interpolation")
        project.absences.mark(result.video_id, 12, 17)  # after the run: its labels are stale
        export_coco(project, tmp_path / "coco")
        export_cvat(project, tmp_path / "cvat")
    data = json.loads((tmp_path / "coco" / "annotations.json").read_text())
    indices = sorted(image["faceprop"]["frame_index"] for image in data["images"])
    assert indices == [*range(12), *range(18, 30)]
    xml = (tmp_path / "cvat" / "clip001" / "annotations.xml").read_text()
    for frame in range(12, 18):
        assert re.search(rf'frame="{frame}"[^>]*outside="1"', xml), frame
    assert re.search(r'frame="18"[^>]*outside="0"', xml)
