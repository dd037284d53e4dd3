"""300VW import and export: lossless round trips, atomic exports, clear errors on bad input."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.errors import FormatError, StoreError
from core.formats.pts import read_pts, write_pts
from core.formats.vw300 import export_300vw, import_300vw
from core.landmarks import mean_shape
from core.store import Project
from tests.conftest import write_numbered_video


def face(frame: int) -> np.ndarray:
    return (mean_shape() * 40 + [80.123, 60.456] + frame * 0.37).astype(np.float32)


def make_clip(folder: Path, frames: int = 30, labelled: tuple[int, ...] = (0, 10, 20, 29)
              ) -> Path:
    (folder / "annot").mkdir(parents=True)
    write_numbered_video(folder / "vid.avi", frames=frames)
    for f in labelled:
        write_pts(folder / "annot" / f"{f + 1:06d}.pts", face(f))
    return folder


def decoded_frame_count(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.grab():
        count += 1
    capture.release()
    return count


def test_import_then_export_labelled_only_reproduces_the_labels(tmp_path):
    source = make_clip(tmp_path / "clip001")
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        [clip] = import_300vw(project, source)
        assert (clip.frames, clip.keyframes) == (30, 4)
        assert project.labels.get(clip.video_id, 10).source == "imported"
        out = tmp_path / "out"
        export_300vw(project, out, labelled_only=True)
    exported = out / "clip001"
    names = sorted(p.name for p in (exported / "annot").iterdir())
    assert names == ["000001.pts", "000011.pts", "000021.pts", "000030.pts"]
    for name in names:
        np.testing.assert_allclose(read_pts(exported / "annot" / name),
                                   read_pts(source / "annot" / name), atol=1e-3)
    with Project.create_or_open(tmp_path / "again.faceprop.sqlite") as again:
        [clip] = import_300vw(again, exported)
        np.testing.assert_allclose(again.labels.get(clip.video_id, 20).points, face(20),
                                   atol=1e-3)


def test_full_export_writes_every_frame_with_manual_labels_winning(tmp_path):
    source = make_clip(tmp_path / "clip001")
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        [clip] = import_300vw(project, source)
        run = project.runs.create(clip.video_id, "test")
        pseudo = np.stack([face(f) + 5 for f in range(30)])
        project.runs.write_pseudo_labels(run.id, np.arange(30), pseudo,
                                         np.full((30, 68), 0.5, np.float32))
        project.runs.finish(run.id, "done")
        export_300vw(project, tmp_path / "out")
    exported = tmp_path / "out" / "clip001"
    annots = sorted((exported / "annot").iterdir())
    assert len(annots) == 30 == decoded_frame_count(exported / "vid.avi")
    np.testing.assert_allclose(read_pts(exported / "annot" / "000011.pts"), face(10), atol=1e-3)
    np.testing.assert_allclose(read_pts(exported / "annot" / "000006.pts"), face(5) + 5,
                               atol=1e-3)
    with (exported / "provenance.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows[10]["source"] == "imported" and rows[5]["source"] == "pseudo"
    assert rows[5]["run"] == str(run.id) and float(rows[5]["mean_confidence"]) == 0.5


def test_full_export_without_a_run_explains_what_to_do(tmp_path):
    source = make_clip(tmp_path / "clip001")
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        import_300vw(project, source)
        with pytest.raises(StoreError, match="propagate first or export with --labelled-only"):
            export_300vw(project, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_import_a_folder_of_clips(tmp_path):
    make_clip(tmp_path / "all" / "a", labelled=(0, 5))
    make_clip(tmp_path / "all" / "b", frames=20, labelled=(3,))
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        clips = import_300vw(project, tmp_path / "all")
        assert [(c.folder.name, c.keyframes) for c in clips] == [("a", 2), ("b", 1)]
        assert len(project.videos.all()) == 2


@pytest.mark.parametrize(("damage", "message"), [
    ("67 points", "expected 68 points|says 68 but"),
    ("beyond end", r"frame 31 is beyond the end of vid.avi \(30 decodable frames\)"),
    ("bad name", "must be 1-based frame numbers"),
])
def test_a_bad_clip_leaves_the_project_unchanged(tmp_path, damage, message):
    source = make_clip(tmp_path / "clip001")
    annot = source / "annot"
    if damage == "67 points":
        lines = (annot / "000011.pts").read_text().splitlines()
        (annot / "000011.pts").write_text("\n".join(lines[:3] + lines[4:]))
    elif damage == "beyond end":
        write_pts(annot / "000031.pts", face(0))
    else:
        write_pts(annot / "frame.pts", face(0))
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        with pytest.raises(FormatError, match=message):
            import_300vw(project, source)
        assert project.videos.all() == []


def test_export_refuses_a_non_empty_target_and_force_replaces_only_an_export(tmp_path):
    source = make_clip(tmp_path / "clip001")
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        import_300vw(project, source)
        with pytest.raises(FormatError, match="exists and is not empty"):
            export_300vw(project, target, labelled_only=True)
        with pytest.raises(FormatError, match="replaces only an earlier FaceProp export"):
            export_300vw(project, target, labelled_only=True, force=True)
        assert (target / "keep.txt").read_text() == "mine"
        exported = tmp_path / "exported"
        export_300vw(project, exported, labelled_only=True)
        (exported / "stale.txt").write_text("from the first export")
        export_300vw(project, exported, labelled_only=True, force=True)
    assert not (exported / "stale.txt").exists()
    assert (exported / "clip001" / "annot").is_dir()


@pytest.mark.parametrize(("error", "message"), [
    (OSError(28, "No space left on device"), "No space left on device"),
    (PermissionError(13, "Permission denied"), "Permission denied"),
])
def test_a_failure_mid_export_keeps_the_previous_export(tmp_path, monkeypatch, error, message):
    source = make_clip(tmp_path / "clip001")
    target = tmp_path / "out"
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        import_300vw(project, source)
        export_300vw(project, target, labelled_only=True)
        before = sorted(p.relative_to(target) for p in target.rglob("*"))
        written = []

        def failing_write(path, points):
            if len(written) == 2:
                raise error
            written.append(path)
            Path(path).write_text("x")

        monkeypatch.setattr("core.formats.vw300.write_pts", failing_write)
        with pytest.raises(FormatError, match=f"{message}.*nothing was changed"):
            export_300vw(project, target, labelled_only=True, force=True)
    assert sorted(p.relative_to(target) for p in target.rglob("*")) == before
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".out")] == []
