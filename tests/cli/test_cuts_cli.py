"""``cuts`` through the command line (issue 12 §2): list, add, remove, detect; 1-based frames."""

from __future__ import annotations

import json

from evaluation.synthetic.clip import make_clip
from main import run_command


def test_cuts_list_add_remove_and_detect(tmp_path, capsys):
    film = tmp_path / "film001"
    make_clip(film, None, frames=60, stride=10, difficulty="easy", seed=3, size=(160, 120),
              cuts=2)
    project = str(tmp_path / "p.faceprop.sqlite")
    assert run_command(["import-300vw", str(film), "--project", project]) == 0
    capsys.readouterr()
    assert run_command(["cuts", "--video", "1", "--project", project]) == 0
    assert "cuts at frames 21, 41; 3 face segment(s)" in capsys.readouterr().out
    assert run_command(["--json", "cuts", "--video", "1", "--add", "51", "--remove", "21",
                        "--project", project]) == 0
    done = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert done["event"] == "done" and done["result"]["cuts"] == [40, 50]
    assert run_command(["cuts", "--video", "1", "--add", "1", "--project", project]) == 2
    assert "a cut at frame 1 means nothing" in capsys.readouterr().err
    assert run_command(["info", "--project", project]) == 0
    assert json.loads(capsys.readouterr().out)["videos"][0]["cuts"] == [40, 50]
    assert run_command(["cuts", "--video", "1", "--detect", "--project", project]) == 0
    assert "cuts at frames 21, 41, 51" in capsys.readouterr().out
