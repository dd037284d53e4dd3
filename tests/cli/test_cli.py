"""The headless CLI: every subcommand documents itself, works end to end and fails clearly."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from core.formats.pts import read_pts, write_pts
from core.landmarks import mean_shape
from main import build_parser, run_command
from tests.conftest import REPO_ROOT, write_numbered_video


def make_clip(folder, frames=30, labelled=(0, 10, 20, 29)):
    (folder / "annot").mkdir(parents=True)
    write_numbered_video(folder / "vid.avi", frames=frames)
    for f in labelled:
        write_pts(folder / "annot" / f"{f + 1:06d}.pts", mean_shape() * 40 + 70 + f)
    return folder


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


@pytest.mark.parametrize("command", subcommands())
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_command([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_import_info_propagate_export_round_trip(tmp_path, capsys):
    clip = make_clip(tmp_path / "clip")
    project = str(tmp_path / "p.faceprop.sqlite")
    assert run_command(["--json", "import-300vw", str(clip), "--project", project]) == 0
    events = json_lines(capsys.readouterr().out)
    assert events[-1]["event"] == "done"
    assert events[-1]["result"][0]["keyframes"] == 4
    assert any(e["event"] == "progress" for e in events)

    assert run_command(["info", "--project", project]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["frames"], info["keyframes"], info["runs"]) == (30, 4, [])

    assert run_command(["--json", "propagate", "--project", project,
                        "--method", "interpolation"]) == 0
    done = json_lines(capsys.readouterr().out)[-1]
    assert done["event"] == "done" and done["result"]["statuses"] == ["done"]

    out = tmp_path / "export"
    assert run_command(["export-300vw", str(out), "--project", project]) == 0
    annots = sorted((out / "clip" / "annot").glob("*.pts"))
    assert len(annots) == 30
    # Frame 5 is interpolated halfway between keyframes 0 and 10.
    np.testing.assert_allclose(read_pts(annots[5]), mean_shape() * 40 + 75, atol=1e-3)

    # a method that tracks reports its estimated accuracy (keyframes 10 and 20 held out)
    assert run_command(["propagate", "--project", project, "--method", "flow"]) == 0
    assert "estimated NME ≈ " in capsys.readouterr().out
    assert run_command(["info", "--project", project]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert runs[-1]["metrics"]["held_out_keyframes"] == 2


def test_errors_exit_non_zero_with_the_message(tmp_path, capsys):
    missing = tmp_path / "missing.faceprop.sqlite"
    assert run_command(["info", "--project", str(missing)]) == 2
    assert f"{missing}: no such project file" in capsys.readouterr().err
    assert run_command(["--json", "add-video", str(tmp_path / "none.mp4"),
                        "--project", str(tmp_path / "p.faceprop.sqlite")]) == 2
    captured = capsys.readouterr()
    assert json_lines(captured.out)[-1]["event"] == "error"
    assert "none.mp4" in captured.err


def test_propagate_without_keyframes_is_a_clear_error(tmp_path, capsys):
    video = write_numbered_video(tmp_path / "v.avi")
    project = str(tmp_path / "p.faceprop.sqlite")
    assert run_command(["add-video", str(video), "--project", project]) == 0
    assert run_command(["propagate", "--project", project, "--video", "1"]) == 2
    assert "has no keyframe" in capsys.readouterr().err


def test_main_module_runs_as_a_program(tmp_path):
    result = subprocess.run([sys.executable, "main.py", "info", "--project",
                             str(tmp_path / "none.sqlite")], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "no such project file" in result.stderr
