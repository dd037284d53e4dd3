"""The store against PostgreSQL: a throwaway local server (initdb + pg_ctl, Unix socket only),
started when the PostgreSQL binaries and psycopg are present; skipped otherwise."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core.errors import StoreError
from core.landmarks import mean_shape
from core.store import Project
from tests.conftest import write_numbered_video

pytest.importorskip("psycopg")
PORT = 54391


def _as_server_user(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as 'nobody' then."""
    if os.geteuid() != 0:
        return args
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL")
    return [runuser, "-u", "nobody", "--", *args]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    root = Path(tempfile.mkdtemp(prefix="faceprop-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "nobody")
    data = root / "data"
    subprocess.run(_as_server_user([initdb, "-D", str(data), "-A", "trust", "-U", "faceprop"]),
                   check=True, capture_output=True)
    options = f"-k {root} -p {PORT} -c listen_addresses=''"
    subprocess.run(_as_server_user([pg_ctl, "-D", str(data), "-o", options, "-l",
                                    str(root / "log"), "-w", "start"]),
                   check=True, capture_output=True)
    try:
        yield f"host={root}&port={PORT}"
    finally:
        subprocess.run(_as_server_user([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _database(server: str, name: str) -> str:
    import psycopg

    host = dict(part.split("=") for part in server.split("&"))
    with psycopg.connect(host=host["host"], port=host["port"], user="faceprop",
                         dbname="postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    return f"postgresql+psycopg://faceprop@/{name}?{server}"


def test_services_round_trip_on_postgres(server: str, tmp_path: Path) -> None:
    from trainer.jobs import propagate_video

    url = _database(server, "fp_round_trip")
    shape = mean_shape() * 40
    with Project.create_or_open(url) as project:
        video = project.videos.add(write_numbered_video(tmp_path / "v.avi", 20))
        project.labels.set(video.id, 0, shape + 50)
        project.labels.set(video.id, 10, shape + 60)
        run = propagate_video(project, video.id, "interpolation")
        assert run.status == "done" and project.runs.latest(video.id).id == run.id
        labels = project.runs.pseudo_labels(run.id)
        np.testing.assert_allclose(labels.points[5], shape + 55, atol=1e-3)
        assert len(project.runs.frame_stats(run.id).frames) == 20
        project.labels.delete(video.id, 10)
        assert project.labels.frames(video.id) == [0]
        assert [e.action for e in project.labels.history(video.id)][-1] == "delete_annotation"
    with Project.open(url) as project:  # reopened: everything was committed
        assert project.labels.count() == {video.id: 1}
        with pytest.raises(DBAPIError, match="append-only"), project.engine.begin() as conn:
            conn.execute(text("DELETE FROM edit_log"))
        assert len(project.labels.history(video.id)) == 4  # add video, two sets, a delete


def test_a_newer_schema_is_refused_on_postgres(server: str) -> None:
    url = _database(server, "fp_newer")
    with Project.create_or_open(url) as project, project.engine.begin() as conn:
        conn.execute(text("UPDATE project_meta SET value = '999' WHERE key = 'schema_version'"))
    started = time.monotonic()
    with pytest.raises(StoreError, match="newer"):
        Project.open(url)
    assert time.monotonic() - started < 30
