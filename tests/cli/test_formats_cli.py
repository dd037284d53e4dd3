"""``export --format`` and ``import --format``: 300VW (the default, same handlers as the
``export-300vw``/``import-300vw`` aliases), COCO and CVAT end to end, with the export rules
(--force, manifest, verified videos) and clear failures that change nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cli import project_commands
from core.formats.export_target import MANIFEST
from core.formats.pts import read_pts
from core.store import Project
from main import build_parser, run_command
from tests.cli.test_cli import json_lines, make_clip


def imported_clip(tmp_path: Path, capsys) -> tuple[Path, str]:
    clip = make_clip(tmp_path / "clip")
    project = str(tmp_path / "p.faceprop.sqlite")
    assert run_command(["import-300vw", str(clip), "--project", project]) == 0
    capsys.readouterr()
    return clip, project


def test_300vw_is_the_default_and_the_aliases_share_its_handlers(tmp_path, capsys):
    parser = build_parser()
    out = tmp_path / "out"
    assert parser.parse_args(["export", str(out), "-p", "x"]).format == "300vw"
    assert parser.parse_args(["import", "src", "-p", "x"]).format == "300vw"
    assert parser.parse_args(["export-300vw", "o", "-p", "x"]).handler is \
        project_commands.export_300vw
    assert parser.parse_args(["import-300vw", "s", "-p", "x"]).handler is \
        project_commands.import_300vw

    clip = make_clip(tmp_path / "clip")
    project = str(tmp_path / "p.faceprop.sqlite")
    assert run_command(["import", str(clip), "--project", project]) == 0
    assert run_command(["export", str(out), "--project", project, "--labelled-only"]) == 0
    assert run_command(["export-300vw", str(tmp_path / "alias"), "--project", project,
                        "--labelled-only"]) == 0
    capsys.readouterr()
    ours = sorted(p.name for p in (out / "clip" / "annot").iterdir())
    assert ours == sorted(p.name for p in (tmp_path / "alias" / "clip" / "annot").iterdir())
    assert ours == ["000001.pts", "000011.pts", "000021.pts", "000030.pts"]
    np.testing.assert_array_equal(read_pts(out / "clip" / "annot" / "000011.pts"),
                                  read_pts(clip / "annot" / "000011.pts"))


@pytest.mark.parametrize("fmt", ["coco", "cvat"])
def test_export_and_import_round_trip_through_the_cli(tmp_path, capsys, fmt):
    clip, project = imported_clip(tmp_path, capsys)
    out = tmp_path / "out"
    assert run_command(["--json", "export", "--format", fmt, str(out), "--project", project,
                        "--labelled-only"]) == 0
    [result] = json_lines(capsys.readouterr().out)[-1]["result"]
    assert (result["frames"], result["keyframes"], result["pseudo"]) == (4, 4, 0)
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["dataset"] in ("coco-keypoints", "cvat-video-1.1")

    again = str(tmp_path / "again.faceprop.sqlite")
    source = out if fmt == "coco" else out / "clip" / "annotations.xml"
    assert run_command(["--json", "import", "--format", fmt, str(source), "--project", again,
                        "--video", str(clip / "vid.avi")]) == 0
    [imported] = json_lines(capsys.readouterr().out)[-1]["result"]
    assert (imported["keyframes"], imported["frames"]) == (4, 30)
    with Project.open(project) as first, Project.open(again) as second:
        before, after = first.labels.all(1), second.labels.all(imported["video_id"])
    assert sorted(after) == sorted(before) == [0, 10, 20, 29]
    for frame in before:
        np.testing.assert_array_equal(after[frame].points, before[frame].points)


def test_exports_keep_the_force_rules_and_verify_the_videos(tmp_path, capsys):
    clip, project = imported_clip(tmp_path, capsys)
    out = tmp_path / "out"
    assert run_command(["export", "-f", "coco", str(out), "-p", project, "--labelled-only",
                        "--frames", "jpg"]) == 0
    assert sorted(p.name for p in (out / "clip").iterdir())[0] == "000001.jpg"
    assert run_command(["export", "-f", "cvat", str(out), "-p", project]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert run_command(["export", "-f", "cvat", str(out), "-p", project, "--force"]) == 0
    assert (out / "clip" / "annotations.xml").is_file() and not (out / "annotations.json").exists()
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".out")] == []

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    assert run_command(["export", "-f", "coco", str(mine), "-p", project, "--force"]) == 2
    assert "replaces only an earlier FaceProp export" in capsys.readouterr().err
    assert (mine / "notes.txt").read_text() == "keep"

    with (clip / "vid.avi").open("r+b") as handle:  # the video changes after it was added
        handle.seek(-2000, 2)
        handle.write(b"\x00" * 1000)
    for fmt in ("coco", "cvat"):
        assert run_command(["export", "-f", fmt, str(tmp_path / fmt), "-p", project]) == 2
        assert "has changed since it was added" in capsys.readouterr().err
        assert not (tmp_path / fmt).exists()


@pytest.mark.parametrize(("argv", "message"), [
    (["export", "-f", "cvat", "OUT", "--frames", "jpg"], "--frames applies to --format coco"),
    (["export", "OUT", "--frames", "png"], "--frames applies to --format coco"),
    (["import", "SRC", "--video", "v.avi"], "--video applies to --format coco and cvat"),
    (["import", "-f", "cvat", "SRC", "--include-pseudo"], "--include-pseudo applies to"),
])
def test_options_of_another_format_are_refused(tmp_path, capsys, argv, message):
    _, project = imported_clip(tmp_path, capsys)
    argv = [str(tmp_path / a) if a in ("OUT", "SRC") else a for a in argv]
    assert run_command([*argv, "--project", project]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "OUT").exists()


@pytest.mark.parametrize("fmt", ["coco", "cvat"])
def test_a_bad_file_exits_2_naming_it_and_creates_no_project(tmp_path, capsys, fmt):
    clip = make_clip(tmp_path / "clip")
    bad = tmp_path / ("faces.json" if fmt == "coco" else "tracks.xml")
    bad.write_text('{"images": [}' if fmt == "coco" else "<annotations><track></annotations>")
    project = tmp_path / "new.faceprop.sqlite"
    assert run_command(["import", "-f", fmt, str(bad), "-p", str(project),
                        "--video", str(clip / "vid.avi")]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: line 1" in err and "Traceback" not in err
    assert not project.exists()


def test_coco_import_without_a_video_explains_what_to_pass(tmp_path, capsys):
    _, project = imported_clip(tmp_path, capsys)
    out = tmp_path / "out"
    assert run_command(["export", "-f", "coco", str(out), "-p", project, "--labelled-only"]) == 0
    fresh = tmp_path / "fresh.faceprop.sqlite"
    assert run_command(["import", "-f", "coco", str(out), "-p", str(fresh)]) == 2
    assert "pass --video FILE" in capsys.readouterr().err
    assert not fresh.exists()
    # into the project that has the video, no --video is needed (the labels are replaced)
    assert run_command(["import", "-f", "coco", str(out), "-p", project]) == 0
    assert "imported 4 keyframes into video 1 (clip, 30 frames)" in capsys.readouterr().out
