"""COCO keypoints: exports that pycocotools loads and scores, exact round trips, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.errors import FormatError
from core.formats.coco import export_coco, import_coco, read_coco
from core.landmarks import EDGES, N_POINTS, POINT_NAMES, mean_shape
from core.store import Project
from core.store.records import RunResults
from tests.conftest import write_numbered_video

FRAMES = 12
KEYFRAMES = (0, 5, 11)
RUN_FRAMES = tuple(range(0, 9))  # frames 9 and 10 stay without any label


def face(frame: int) -> np.ndarray:
    """Points with awkward float32 values, partly outside the 160x120 frame."""
    rng = np.random.default_rng(frame)
    return (mean_shape() * 50 + [80.123, 50.456] + frame * 0.37
            + rng.normal(0, 0.3, (N_POINTS, 2))).astype(np.float32)


def hidden(frame: int) -> np.ndarray:
    visible = np.ones(N_POINTS, dtype=bool)
    visible[[frame % N_POINTS, 40, 67]] = False
    return visible


def labelled_project(tmp_path: Path, name: str = "p") -> tuple[Path, Path]:
    """A project with one 12-frame video, keyframes 0, 5, 11 (some points hidden) and a
    finished run whose pseudo-labels cover frames 0-8."""
    video = tmp_path / "clip.avi"
    if not video.exists():
        write_numbered_video(video, frames=FRAMES)
    path = tmp_path / f"{name}.faceprop.sqlite"
    with Project.create_or_open(path) as project:
        record = project.videos.add(video)
        for frame in KEYFRAMES:
            project.labels.set(record.id, frame, face(frame), hidden(frame))
        run = project.runs.create(record.id, "interpolation")
        frames = np.array(RUN_FRAMES)
        points = np.stack([face(f) + 0.25 for f in RUN_FRAMES])
        project.runs.finish(run.id, "done", results=RunResults(
            frames, points, np.full((len(frames), N_POINTS), 0.9, dtype=np.float32)))
    return path, video


def test_export_loads_in_pycocotools_and_scores_perfectly_against_itself(tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    project_path, _ = labelled_project(tmp_path)
    with Project.open(project_path) as project:
        [result] = export_coco(project, tmp_path / "out")
    assert (result.frames, result.keyframes, result.pseudo) == (10, 3, 7)
    coco = COCO(str(tmp_path / "out" / "annotations.json"))
    [cat] = coco.loadCats(coco.getCatIds(catNms=["face"]))
    assert cat["keypoints"] == list(POINT_NAMES)
    assert cat["skeleton"] == [[i + 1, j + 1] for i, j in EDGES]
    assert min(min(edge) for edge in cat["skeleton"]) == 1
    assert max(max(edge) for edge in cat["skeleton"]) == N_POINTS
    images = coco.loadImgs(coco.getImgIds())
    assert len(images) == 10  # one image per labelled frame; frames 10 and 11 have none
    by_frame = {img["faceprop"]["frame_index"]: img for img in images}
    assert sorted(by_frame) == [*RUN_FRAMES, 11]
    assert by_frame[0]["file_name"] == "clip/000001.jpg"
    assert (by_frame[0]["width"], by_frame[0]["height"]) == (160, 120)
    for frame, image in by_frame.items():
        [ann] = coco.loadAnns(coco.getAnnIds(imgIds=image["id"]))
        kps = np.array(ann["keypoints"], dtype=np.float64).reshape(N_POINTS, 3)
        expected = face(frame) if frame in KEYFRAMES else face(frame) + 0.25
        np.testing.assert_array_equal(kps[:, :2].astype(np.float32), expected)
        visible = hidden(frame) if frame in KEYFRAMES else np.ones(N_POINTS, dtype=bool)
        np.testing.assert_array_equal(kps[:, 2], np.where(visible, 2, 1))
        assert ann["num_keypoints"] == N_POINTS and ann["iscrowd"] == 0
        lo, hi = kps[:, :2].min(axis=0), kps[:, :2].max(axis=0)
        np.testing.assert_allclose(ann["bbox"], [*lo, *(hi - lo + 1)], atol=1e-3)
        assert ann["area"] == pytest.approx(ann["bbox"][2] * ann["bbox"][3], abs=1e-2)
        assert ann["faceprop"]["keyframe"] == (frame in KEYFRAMES)
        assert ann["faceprop"]["source"] == ("manual" if frame in KEYFRAMES else "pseudo")

    # The ground truth scored as detections: every keypoint matches (OKS 1), so AP is 1.
    detections = coco.loadRes([{"image_id": a["image_id"], "category_id": a["category_id"],
                                "keypoints": a["keypoints"], "score": 1.0}
                               for a in coco.loadAnns(coco.getAnnIds())])
    evaluation = COCOeval(coco, detections, "keypoints")
    evaluation.params.kpt_oks_sigmas = np.full(N_POINTS, 0.025)
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    assert evaluation.stats[0] == pytest.approx(1.0)


def test_round_trip_into_a_new_project_gives_the_same_points(tmp_path):
    project_path, video = labelled_project(tmp_path)
    with Project.open(project_path) as project:
        original = project.labels.all(1)
        export_coco(project, tmp_path / "out", labelled_only=True)
    with Project.create_or_open(tmp_path / "again.faceprop.sqlite") as again:
        [imported] = import_coco(again, tmp_path / "out", videos=[video])
        assert (imported.keyframes, imported.frames, imported.reused_video) == (3, FRAMES, False)
        labels = again.labels.all(imported.video_id)
    assert sorted(labels) == list(KEYFRAMES)
    for frame, annotation in labels.items():
        np.testing.assert_allclose(annotation.points, original[frame].points, atol=1e-3)
        np.testing.assert_array_equal(annotation.points, original[frame].points)  # exact
        np.testing.assert_array_equal(annotation.visible, original[frame].visible)
        assert annotation.source == "imported"


def test_pseudo_labels_of_an_export_are_skipped_unless_asked_for(tmp_path):
    project_path, video = labelled_project(tmp_path)
    with Project.open(project_path) as project:
        export_coco(project, tmp_path / "out")
    coco = read_coco(tmp_path / "out")
    assert coco.skipped_pseudo == 7
    assert sorted(coco.videos["clip"].labels) == list(KEYFRAMES)
    with Project.create_or_open(tmp_path / "all.faceprop.sqlite") as again:
        [imported] = import_coco(again, tmp_path / "out", videos=[video], include_pseudo=True)
        assert sorted(again.labels.frames(imported.video_id)) == [*RUN_FRAMES, 11]
        np.testing.assert_array_equal(again.labels.get(imported.video_id, 3).points,
                                      face(3) + 0.25)


def test_frames_option_writes_each_exported_frame_as_an_image(tmp_path):
    import cv2

    project_path, _ = labelled_project(tmp_path)
    with Project.open(project_path) as project:
        export_coco(project, tmp_path / "out", labelled_only=True, frames="png")
        with project.videos.open_reader(1) as reader:
            decoded = {f: reader.frame(f) for f in KEYFRAMES}
    data = json.loads((tmp_path / "out" / "annotations.json").read_text())
    assert data["faceprop"]["frames_written"] is True
    names = sorted(p.name for p in (tmp_path / "out" / "clip").iterdir())
    assert names == ["000001.png", "000006.png", "000012.png"]
    for image in data["images"]:
        written = cv2.imread(str(tmp_path / "out" / image["file_name"]))
        np.testing.assert_array_equal(written, decoded[image["faceprop"]["frame_index"]])


def test_a_foreign_file_finds_frames_by_number_and_the_video_by_name(tmp_path):
    """A COCO file from another tool: no faceprop fields, 1-based numeric file names."""
    project_path, _ = labelled_project(tmp_path)
    keypoints = np.column_stack([face(2), np.full(N_POINTS, 2.0)]).ravel().tolist()
    data = {"images": [{"id": 7, "file_name": "clip/000003.jpg", "width": 160, "height": 120}],
            "annotations": [{"id": 1, "image_id": 7, "category_id": 3,
                             "keypoints": keypoints, "num_keypoints": 68}],
            "categories": [{"id": 3, "name": "face", "keypoints": [str(i) for i in range(68)]}]}
    (tmp_path / "faces.json").write_text(json.dumps(data))
    with Project.open(project_path) as project:
        [imported] = import_coco(project, tmp_path / "faces.json")  # the project's "clip"
        assert imported.reused_video and imported.video_id == 1
        np.testing.assert_array_equal(project.labels.get(1, 2).points, face(2))
        assert project.labels.get(1, 2).visible.all()


def _damage(data: dict, how: str) -> None:
    ann = data["annotations"][1]
    if how == "short":
        ann["keypoints"] = ann["keypoints"][:201]
    elif how == "visibility":
        ann["keypoints"][2] = 3
    elif how == "partly unlabelled":
        ann["keypoints"][3 * 12 + 2] = 0
    elif how == "not a number":
        ann["keypoints"][4] = "12"
    elif how == "unknown image":
        ann["image_id"] = 99
    elif how == "17 keypoints":
        data["categories"][0]["keypoints"] = data["categories"][0]["keypoints"][:17]
    elif how == "no face":
        data["categories"][0]["name"] = "person"
    elif how == "two faces on a frame":
        data["annotations"].append(dict(ann, id=99))
    elif how == "beyond the end":
        data["images"][1]["faceprop"]["frame_index"] = FRAMES


@pytest.mark.parametrize(("how", "message"), [
    ("short", r"annotations\[1\]\.keypoints has 201 values, expected 204"),
    ("visibility", r"annotations\[1\]\.keypoints\[2\]: visibility 3 of keypoint 1 is not 0"),
    ("partly unlabelled", r"annotations\[1\]\.keypoints: keypoint 13 \(jaw 13\) has v=0"),
    ("not a number", r"annotations\[1\]\.keypoints\[4\] is not a number"),
    ("unknown image", r"annotations\[1\]\.image_id 99 names no image"),
    ("17 keypoints", r"categories\[0\] \('face'\) has 17 keypoints"),
    ("no face", r"no category named 'face' \(found: 'person'\)"),
    ("two faces on a frame", r"annotations\[3\] .* and annotations\[1\] .* both label frame 6"),
    ("beyond the end", r"annotations\[1\] \(images\[1\].*frame 13 is beyond the end of clip"),
])
def test_bad_input_names_the_element_and_leaves_the_project_unchanged(tmp_path, how, message):
    project_path, video = labelled_project(tmp_path)
    with Project.open(project_path) as project:
        export_coco(project, tmp_path / "out", labelled_only=True)
    data = json.loads((tmp_path / "out" / "annotations.json").read_text())
    _damage(data, how)
    bad = tmp_path / "faces.json"
    bad.write_text(json.dumps(data))
    with Project.create_or_open(tmp_path / "fresh.faceprop.sqlite") as fresh:
        with pytest.raises(FormatError, match=f"faces.json: {message}"):
            import_coco(fresh, bad, videos=[video])
        assert fresh.videos.all() == []
    with Project.open(project_path) as project:  # an existing video keeps its labels
        before = {f: a.points.copy() for f, a in project.labels.all(1).items()}
        with pytest.raises(FormatError, match=message):
            import_coco(project, bad)
        after = project.labels.all(1)
        assert sorted(after) == sorted(before)
        assert all(np.array_equal(after[f].points, before[f]) for f in before)


def test_broken_json_and_missing_videos_are_explained(tmp_path):
    bad = tmp_path / "faces.json"
    bad.write_text('{"images": [\n  {"id": 1,}\n]}')
    with pytest.raises(FormatError, match=r"faces.json: line 2 column 12: not valid JSON"):
        read_coco(bad)
    project_path, video = labelled_project(tmp_path)
    with Project.open(project_path) as project:
        export_coco(project, tmp_path / "out", labelled_only=True)
    with Project.create_or_open(tmp_path / "fresh.faceprop.sqlite") as fresh:
        with pytest.raises(FormatError, match=r"no video for the frames of video 'clip'.*"
                                              r"pass --video FILE"):
            import_coco(fresh, tmp_path / "out")
        other = write_numbered_video(tmp_path / "other.avi", frames=5)
        with pytest.raises(FormatError, match=r"other.avi: matches no video labelled in"):
            import_coco(fresh, tmp_path / "out", videos=[video, other])
        with pytest.raises(FormatError, match=r"missing.avi: no such video file"):
            import_coco(fresh, tmp_path / "out", videos=[tmp_path / "missing.avi"])
        assert fresh.videos.all() == []
