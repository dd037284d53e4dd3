"""``no-face`` through the command line (issue 12 §1): frames numbered as a person reads them,
counted in ``info``, refused over labels with one line and exit 2, and honoured by propagate."""

from __future__ import annotations

import json

from main import run_command
from tests.cli.test_cli import make_clip


def _info(project: str, capsys) -> dict:
    capsys.readouterr()
    assert run_command(["info", "--project", project]) == 0
    return json.loads(capsys.readouterr().out)


def test_mark_clear_info_and_propagate(tmp_path, capsys):
    project = str(tmp_path / "p.faceprop.sqlite")
    assert run_command(["import-300vw", str(make_clip(tmp_path / "clip")), "--project",
                        project]) == 0
    video = _info(project, capsys)["videos"][0]
    assert video["no_face_frames"] == 0 and video["no_face"] == []
    capsys.readouterr()
    assert run_command(["no-face", "13", "18", "--video", str(video["id"]), "--project",
                        project]) == 0
    assert "no-face frames 13–18; 2 face segment(s)" in capsys.readouterr().out
    summary = _info(project, capsys)
    assert summary["videos"][0]["no_face"] == [[12, 17]] and summary["no_face_frames"] == 6
    assert run_command(["no-face", "15", "--clear", "--video", str(video["id"]), "--project",
                        project]) == 0
    assert _info(project, capsys)["videos"][0]["no_face"] == [[12, 13], [15, 17]]

    assert run_command(["propagate", "--method", "interpolation", "--project", project]) == 0
    run = _info(project, capsys)["runs"][-1]
    assert run["status"] == "done"


def test_marking_labelled_frames_is_one_line_and_changes_nothing(tmp_path, capsys):
    project = str(tmp_path / "p.faceprop.sqlite")
    assert run_command(["import-300vw", str(make_clip(tmp_path / "clip")), "--project",
                        project]) == 0
    video = _info(project, capsys)["videos"][0]["id"]
    assert run_command(["no-face", "1", "5", "--video", str(video), "--project", project]) == 2
    err = capsys.readouterr().err
    assert "frame(s) 1 hold labels" in err and "Traceback" not in err
    assert run_command(["no-face", "0", "--video", str(video), "--project", project]) == 2
    assert "outside the video" in capsys.readouterr().err
    assert _info(project, capsys)["videos"][0]["no_face"] == []
