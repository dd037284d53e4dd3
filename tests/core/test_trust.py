"""Issue 10: no store or format call can lose, misplace or half-write a user's data."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from core.errors import FormatError, StoreError, VideoError
from core.formats.export_target import MANIFEST, clean_stale_staging, safe_folder_name
from core.formats.vw300 import export_300vw, import_300vw
from core.store import Project
from core.store.models import RunRow
from tests.conftest import write_numbered_video
from tests.core.test_video import patch_avi_frame_count
from tests.core.test_vw300 import face, make_clip


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture
def imported(tmp_path):
    """A project next to its clip, with one imported video."""
    clip = make_clip(tmp_path / "clip001")
    project = Project.create_or_open(tmp_path / "p.faceprop.sqlite")
    [result] = import_300vw(project, clip)
    yield project, result.video_id, clip
    project.close()


# -- 1. --force never deletes what is not an export ------------------------------------------
@pytest.mark.parametrize("where", ["project folder", "parent of the project", "media folder",
                                   "video folder"])
def test_force_refuses_a_target_holding_the_project_or_its_videos(imported, tmp_path, where):
    project, _, clip = imported
    project.media_folder.mkdir()
    target = {"project folder": tmp_path, "parent of the project": tmp_path.parent,
              "media folder": project.media_folder, "video folder": clip}[where]
    (target / MANIFEST).write_text("{}")  # even a forged marker does not make it replaceable
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(FormatError, match="belongs to the project"):
        export_300vw(project, target, labelled_only=True, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert project.labels.count() == {1: 4}


def test_force_refuses_the_project_file_itself(imported, tmp_path):
    project, _, _ = imported
    with pytest.raises(FormatError, match="belongs to the project"):
        export_300vw(project, tmp_path / "p.faceprop.sqlite", labelled_only=True, force=True)


def test_an_export_folder_inside_the_project_folder_is_fine(imported, tmp_path):
    project, _, _ = imported
    export_300vw(project, tmp_path / "exports", labelled_only=True)
    assert (tmp_path / "exports" / MANIFEST).is_file()


# -- 2. any legal file name is that file --------------------------------------------------------
@pytest.mark.parametrize("name", ["my%20project.sqlite", "what?mode=ro.sqlite", "a#b.sqlite",
                                  "dir with space/p.sqlite"])
def test_project_paths_with_url_characters_are_that_file(tmp_path, tiny_video, name):
    path = tmp_path / name
    path.parent.mkdir(exist_ok=True)
    with Project.create_or_open(path) as project:
        project.videos.add(tiny_video)
    with Project.open(path) as project:
        assert len(project.videos.all()) == 1
    assert sorted(p.name for p in path.parent.iterdir() if p.suffix == ".sqlite") == [path.name]


@pytest.mark.parametrize(("url", "message"), [
    ("nosuchdb://user@host/db", "unknown database type"),
    ("mysql+nosuchdriver://user@host/db", "unknown database type"),
    ("oracle+oracledb://user@host/db", "driver .* is not installed"),
])
def test_unknown_schemes_and_missing_drivers_are_clear_errors(url, message):
    pytest.importorskip("sqlalchemy")
    try:
        import oracledb  # noqa: F401
        if "oracledb" in url:
            pytest.skip("oracledb is installed here")
    except ImportError:
        pass
    with pytest.raises(StoreError, match=message):
        Project.open(url)


def test_an_sqlite_url_gets_the_same_file_checks(tmp_path):
    with pytest.raises(StoreError, match="no such project file"):
        Project.open(f"sqlite:///{tmp_path / 'missing.sqlite'}")
    assert not (tmp_path / "missing.sqlite").exists()


# -- 3. a foreign database is never touched ---------------------------------------------------
def test_a_foreign_sqlite_database_is_refused_unchanged(tmp_path, tiny_video):
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        connection.execute("INSERT INTO customers (name) VALUES ('Ada')")
    before = digest(path)
    for opener in (Project.open, Project.create_or_open):
        with pytest.raises(StoreError, match=r"another program.*customers.*left unchanged"):
            opener(path)
    assert digest(path) == before
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.sqlite", "tiny.avi"]


def test_opening_a_missing_or_empty_file_creates_nothing(tmp_path):
    missing, empty = tmp_path / "missing.sqlite", tmp_path / "empty.sqlite"
    empty.touch()
    with pytest.raises(StoreError, match="no such project file"):
        Project.open(missing)
    with pytest.raises(StoreError, match="an empty file"):
        Project.open(empty)
    assert not missing.exists() and empty.stat().st_size == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.sqlite"]


# -- 4. export folder names never leave OUT ---------------------------------------------------
def test_folder_names_are_safe_unique_and_readable():
    used: set[str] = set()
    names = [safe_folder_name(n, used) for n in
             ["..", ".", "a/b", "../../etc", ".hidden", "CON", "con.txt", "Interview 1",
              "interview_1", "", "é" * 300]]
    assert len({n.lower() for n in names}) == len(names)
    for name in names:
        assert name and not name.startswith(".") and "/" not in name and "\\" not in name
        assert name.split(".")[0].lower() not in {"con", "prn", "aux", "nul"}
        assert len(name) <= 90
    assert names[7] == "Interview_1" and names[8] == "interview_1-2"


def test_a_video_named_dotdot_exports_inside_out(tmp_path, tiny_video):
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        for name in ("..", "../escape"):
            video = project.videos.add(write_numbered_video(tmp_path / f"{len(name)}.avi",
                                                            frames=8 + len(name)), name=name)
            project.labels.set(video.id, 0, face(0))
        out = tmp_path / "deep" / "out"
        out.parent.mkdir()
        export_300vw(project, out, labelled_only=True)
    inside = sorted(p.name for p in out.iterdir())
    assert len(inside) == 3 and MANIFEST in inside  # two clips and the manifest
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["out"]


# -- 5. a replaced video is refused -----------------------------------------------------------
def test_a_replaced_video_is_refused_by_export_and_propagate(imported, tmp_path):
    from trainer.jobs import propagate_video

    project, video_id, clip = imported
    write_numbered_video(clip / "vid.avi", frames=30, size=(160, 128))  # other content
    with pytest.raises(VideoError, match=r"vid\.avi: this file has changed since it was added"):
        export_300vw(project, tmp_path / "out", labelled_only=True)
    with pytest.raises(VideoError, match=r"vid\.avi: this file has changed"):
        propagate_video(project, video_id, "interpolation")
    assert project.runs.all() == [] and not (tmp_path / "out").exists()


def test_a_same_size_edit_is_caught_by_the_sampled_check(imported):
    project, video_id, clip = imported
    data = bytearray((clip / "vid.avi").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (clip / "vid.avi").write_bytes(bytes(data))
    with pytest.raises(VideoError, match="has changed"):
        project.videos.verify_file(video_id)


def test_a_video_without_a_stored_sample_is_checked_in_full_once(imported):
    project, video_id, _ = imported
    with project.session() as session, session.begin():
        session.execute(__import__("sqlalchemy").update(
            __import__("core.store.models", fromlist=["VideoRow"]).VideoRow).values(
            sample_hash=None))
    project.videos.verify_file(video_id)
    assert project.videos.get(video_id).sample_hash is not None


# -- partial state ------------------------------------------------------------------------------
def test_run_results_and_status_are_one_transaction(imported, monkeypatch):
    from trainer.jobs import propagate_video

    project, video_id, _ = imported

    def broken(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(type(project.runs), "_insert_frame_stats", broken)
    with pytest.raises(OSError):
        propagate_video(project, video_id, "interpolation")
    [run] = project.runs.all()
    assert run.status == "failed"
    assert len(project.runs.pseudo_labels(run.id).frames) == 0


def test_a_failure_after_the_video_row_leaves_no_label_less_video(tmp_path, monkeypatch):
    clip = make_clip(tmp_path / "clip001")
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        def broken(*_args, **_kwargs):
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(type(project.labels), "write_many", broken)
        with pytest.raises(OSError):
            import_300vw(project, clip)
        assert project.videos.all() == []


def test_a_killed_run_reads_as_failed(project_with_video):
    project, video = project_with_video
    gone = project.runs.create(video.id, "final", pid=dead_pid())
    alive = project.runs.create(video.id, "final")
    reused = project.runs.create(video.id, "final")  # our pid, but a run older than us
    with project.session() as session, session.begin():
        row = session.get(RunRow, reused.id)
        row.started_at = row.started_at - timedelta(days=3)
    statuses = {r.id: r.status for r in project.runs.all()}
    assert statuses == {gone.id: "failed", alive.id: "running", reused.id: "failed"}
    assert "ended without finishing" in project.runs.get(gone.id).message
    assert project.runs.get(gone.id).host


def test_a_killed_exports_staging_is_cleaned_and_a_set_aside_export_restored(imported,
                                                                               tmp_path):
    import json

    project, _, _ = imported
    out = tmp_path / "out"
    export_300vw(project, out, labelled_only=True)
    pid = dead_pid()
    staging, backup = tmp_path / f".out.tmp-{pid}-x", tmp_path / f".out.old-{pid}-x"
    staging.mkdir()
    (staging / "half.pts").write_text("x" * 1000)
    out.rename(backup)  # killed between setting the old export aside and moving the new one in
    project.set_meta(f"export-staging-{pid}-x", json.dumps(
        {"staging": str(staging), "target": str(out), "backup": str(backup), "pid": pid,
         "host": None}))
    assert clean_stale_staging(project) == [staging]
    assert not staging.exists() and not backup.exists()
    assert (out / MANIFEST).is_file()
    assert project.meta_items("export-staging-") == []


# -- errors instead of tracebacks -----------------------------------------------------------
def test_a_corrupt_database_names_the_file_and_the_backup(imported, tmp_path):
    project, _, _ = imported
    path = project.path
    project.close()
    (tmp_path / "p.faceprop.sqlite.bak-v1").write_bytes(path.read_bytes())
    data = bytearray(path.read_bytes())
    page = 4096
    for start in range(page, len(data), page):  # every page but the schema's
        data[start:start + 100] = bytes(range(100))
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=r"p\.faceprop\.sqlite: the project database is "
                                         r"damaged.*bak-v1"), Project.open(path) as damaged:
        damaged.labels.count()
        damaged.videos.all()


def test_absurd_coordinates_name_file_and_line(tmp_path):
    clip = make_clip(tmp_path / "clip001")
    pts = clip / "annot" / "000011.pts"
    lines = pts.read_text().splitlines()
    lines[5] = "1e300 12.0"
    pts.write_text("\n".join(lines))
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        with pytest.raises(FormatError, match=r"000011\.pts, line 6: coordinate 1e300"):
            import_300vw(project, clip)
        assert project.videos.all() == []


def test_points_far_outside_the_frame_are_a_warning(tmp_path):
    from core.formats.pts import write_pts

    clip = make_clip(tmp_path / "clip001")
    write_pts(clip / "annot" / "000006.pts", face(5) + np.array([5000.0, 0.0]))
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        [result] = import_300vw(project, clip)
    [warning] = result.warnings
    assert "000006.pts: frame 6 has 68 points far outside the 160x120 frame" in warning


def test_two_files_for_one_frame_are_refused(tmp_path):
    clip = make_clip(tmp_path / "clip001")
    (clip / "annot" / "1.pts").write_text((clip / "annot" / "000001.pts").read_text())
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project, \
            pytest.raises(FormatError, match=r"/1\.pts and 000001\.pts: both are frame 1"):
        import_300vw(project, clip)


def test_a_truncated_video_is_reported_on_import(tmp_path):
    clip = make_clip(tmp_path / "clip001", frames=30, labelled=(0, 10))
    patch_avi_frame_count(clip / "vid.avi", 45)
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        [result] = import_300vw(project, clip)
    assert (result.frames, result.container_frames) == (30, 45)


def test_a_failed_transcode_leaves_no_media_folder(tmp_path, project):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 5000)
    with pytest.raises(VideoError):
        project.videos.add(bad, transcode=True)
    assert not project.media_folder.exists()


def test_an_unwritable_export_folder_is_a_clear_error(imported, tmp_path, monkeypatch):
    project, _, _ = imported
    real_mkdir = Path.mkdir

    def refuse(self, *args, **kwargs):
        if self.name.startswith(".out.tmp-"):
            raise PermissionError(13, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(FormatError, match=r"cannot write the export there \(Permission denied"):
        export_300vw(project, tmp_path / "out", labelled_only=True)
    assert project.meta_items("export-staging-") == []


def test_schema_1_projects_are_migrated(tmp_path, tiny_video):
    from core.store.project import SCHEMA_VERSION

    path = tmp_path / "old.faceprop.sqlite"
    with Project.create_or_open(path) as project:
        project.videos.add(tiny_video)
    with sqlite3.connect(path) as connection:
        connection.execute("ALTER TABLE runs DROP COLUMN host")
        connection.execute("ALTER TABLE videos DROP COLUMN sample_hash")
        connection.execute("ALTER TABLE annotations DROP COLUMN states")
        connection.execute("UPDATE project_meta SET value='1' WHERE key='schema_version'")
    with Project.open(path) as project:
        assert project.schema_version() == SCHEMA_VERSION
        [video] = project.videos.all()
        assert video.sample_hash is None
        project.videos.verify_file(video.id)
    assert (tmp_path / "old.faceprop.sqlite.bak-v1").is_file()
