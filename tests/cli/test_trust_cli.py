"""Issue 10 through the command line: exit 2 with one line naming the file, never a traceback,
and nothing created or removed that the user did not ask for."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from core.formats.export_target import MANIFEST
from main import run_command
from tests.cli.test_cli import json_lines, make_clip
from tests.conftest import REPO_ROOT, write_numbered_video
from tests.core.test_video import patch_avi_frame_count


def main_py(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "main.py", *args], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def _seconds_to_run(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


@pytest.fixture
def project_file(tmp_path):
    clip = make_clip(tmp_path / "clip")
    project = tmp_path / "p.faceprop.sqlite"
    assert run_command(["import-300vw", str(clip), "--project", str(project)]) == 0
    return project


def test_export_force_into_the_project_folder_is_refused(project_file, tmp_path, capsys):
    capsys.readouterr()
    code = run_command(["export-300vw", str(tmp_path), "--project", str(project_file),
                        "--force", "--labelled-only"])
    assert code == 2
    assert "belongs to the project" in capsys.readouterr().err
    assert project_file.is_file() and (tmp_path / "clip" / "vid.avi").is_file()


def test_export_force_over_an_unmarked_folder_is_refused(project_file, tmp_path, capsys):
    other = tmp_path / "thesis"
    other.mkdir()
    (other / "chapter1.tex").write_text("precious")
    code = run_command(["export-300vw", str(other), "--project", str(project_file), "--force",
                        "--labelled-only"])
    assert code == 2 and "chapter1.tex" in capsys.readouterr().err
    assert (other / "chapter1.tex").read_text() == "precious"
    assert not (other / MANIFEST).exists()


def test_commands_that_fail_create_no_project_file(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    project = tmp_path / "p.faceprop.sqlite"
    assert run_command(["import-300vw", str(empty), "--project", str(project)]) == 2
    assert run_command(["add-video", str(tmp_path / "none.mp4"), "--project", str(project)]) == 2
    assert run_command(["info", "--project", str(project)]) == 2
    assert not project.exists()
    project.touch()
    assert run_command(["info", "--project", str(project)]) == 2
    assert "an empty file" in capsys.readouterr().err
    assert project.stat().st_size == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "p.faceprop.sqlite"]


def test_import_says_when_the_container_claims_more_frames(tmp_path, capsys):
    clip = make_clip(tmp_path / "clip", frames=30, labelled=(0, 9))
    patch_avi_frame_count(clip / "vid.avi", 45)
    assert run_command(["import-300vw", str(clip), "--project",
                        str(tmp_path / "p.faceprop.sqlite")]) == 0
    assert "30 frames (the container claims 45" in capsys.readouterr().out


def test_info_reports_a_killed_run_as_failed(project_file, capsys):
    from core.store import Project

    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    with Project.open(project_file) as project:
        project.runs.create(1, "final", pid=process.pid)
    capsys.readouterr()
    assert run_command(["info", "--project", str(project_file)]) == 0
    [run] = json.loads(capsys.readouterr().out)["runs"]
    assert run["status"] == "failed"


def test_a_corrupt_database_is_one_line_without_traceback(project_file):
    data = bytearray(project_file.read_bytes())
    for start in range(4096, len(data), 4096):
        data[start:start + 100] = bytes(range(100))
    project_file.write_bytes(bytes(data))
    result = main_py("info", "--project", str(project_file))
    _out, err = result.communicate(timeout=120)
    assert result.returncode == 2, err
    assert "Traceback" not in err
    assert f"{project_file}: the project database is damaged" in err


def test_check_finds_a_replaced_video(project_file, tmp_path, capsys):
    assert run_command(["check", "--project", str(project_file)]) == 0
    write_numbered_video(tmp_path / "clip" / "vid.avi", frames=30, size=(160, 128))
    capsys.readouterr()
    assert run_command(["check", "--project", str(project_file)]) == 2
    assert "vid.avi: this file has changed" in capsys.readouterr().out


@pytest.mark.slow
def test_ctrl_c_during_start_up_never_shows_a_traceback(tmp_path):
    # Python's own start-up (site, the editable install's import hooks) comes before main.py
    # can handle a signal: the delays count from when a bare interpreter would be ready
    interpreter = max(_seconds_to_run([sys.executable, "-c", "pass"]) for _ in range(3))
    for delay in (0.05, 0.2, 0.4, 0.7):
        process = main_py("info", "--project", str(tmp_path / "none.sqlite"))
        time.sleep(interpreter + delay)
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=120)
        assert "Traceback" not in err, (delay, err)
        assert process.returncode in (130, 2, -signal.SIGINT), (delay, process.returncode, err)


def test_an_interrupt_python_cannot_raise_still_exits_as_an_interrupt():
    # a Ctrl-C inside an import lock's callback reaches sys.unraisablehook, not main()
    script = ("import sys, weakref; import main; sys.unraisablehook = "
              "main._exit_on_lost_interrupt\n"
              "class Thing: pass\n"
              "def callback(ref): raise KeyboardInterrupt\n"
              "thing = Thing(); ref = weakref.ref(thing, callback); del thing\n"
              "print('went on')\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 130, result
    assert "Traceback" not in result.stderr and "error: interrupted" in result.stderr
    assert "went on" not in result.stdout


def test_a_closed_output_pipe_stops_cleanly(project_file):
    process = main_py("--json", "propagate", "--project", str(project_file), "--method",
                      "flow", bufsize=1)
    first = process.stdout.readline()
    assert json.loads(first)["event"] == "run_created"
    process.stdout.close()  # the reader went away, like `| head -1`
    err = process.stderr.read()
    process.wait(timeout=300)
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert process.returncode == 2
    assert "broken pipe" in err
    result = main_py("--json", "info", "--project", str(project_file))
    out, _ = result.communicate(timeout=120)
    runs = json_lines(out)[-1]["result"]["runs"]
    assert [r["status"] for r in runs] in (["cancelled"], ["done"], ["stopped"])


def test_python_m_trainer_speaks_the_protocol(project_file):
    from core.protocol import Done, ProgressEvent, RunCreated, RunFinished, decode

    result = subprocess.run([sys.executable, "-m", "trainer", "--project", str(project_file),
                             "--method", "flow"], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    events = [decode(line) for line in result.stdout.splitlines()]
    assert None not in events  # nothing but protocol lines on stdout
    assert isinstance(events[0], RunCreated) and events[0].method == "flow"
    progress = [e for e in events if isinstance(e, ProgressEvent)]
    assert progress[-1].step == progress[-1].total
    assert isinstance(events[-2], RunFinished) and events[-2].run_id == events[0].run_id
    assert isinstance(events[-1], Done) and events[-1].result["statuses"] == ["done"]
