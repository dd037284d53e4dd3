"""Schema versions and the steps between them.

``MIGRATIONS[v]`` upgrades a database from schema ``v`` to ``v + 1`` inside one transaction; the
project backs an SQLite file up to ``*.bak-v{v}`` first. Each step uses portable SQL so that it
runs on SQLite and PostgreSQL alike.

- 1 → 2: ``runs.host`` (the machine a run's process runs on, so a killed run is recognised as
  failed) and ``videos.sample_hash`` (a cheap fingerprint of the video file: its size and sampled
  blocks; filled on the first check of each video, which compares the full hash once).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.orm import Session

SCHEMA_VERSION = 2

Migration = Callable[[Session], None]


def _v1_to_v2(session: Session) -> None:
    session.execute(text("ALTER TABLE runs ADD COLUMN host VARCHAR(255)"))
    session.execute(text("ALTER TABLE videos ADD COLUMN sample_hash VARCHAR(64)"))


MIGRATIONS: dict[int, Migration] = {1: _v1_to_v2}
