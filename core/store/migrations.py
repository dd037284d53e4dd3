"""Schema versions and the steps between them.

``MIGRATIONS[v]`` upgrades a database from schema ``v`` to ``v + 1`` inside one transaction; the
project backs an SQLite file up to ``*.bak-v{v}`` first. Each step uses portable SQL so that it
runs on SQLite and PostgreSQL alike.

- 1 → 2: ``runs.host`` (the machine a run's process runs on, so a killed run is recognised as
  failed) and ``videos.sample_hash`` (a cheap fingerprint of the video file: its size and sampled
  blocks; filled on the first check of each video, which compares the full hash once).
- 2 → 3: ``annotations.states``, one review state per point (``core.review_states``), filled
  from each frame's source: manual and imported → placed; corrected and accepted → accepted
  (the frame was reviewed, which points moved is not known); detector → predicted.
- 3 → 4: the ``absences`` table: ranges of frames marked "no face" (issue 12), none at first;
  the ``cuts`` table: shot cuts, none at first (``cuts --detect`` finds them for older videos);
  ``frame_stats.face_lost`` (1 where tracking probably lost the face), 0 for earlier runs.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

SCHEMA_VERSION = 4

Migration = Callable[[Session], None]


def _v1_to_v2(session: Session) -> None:
    session.execute(text("ALTER TABLE runs ADD COLUMN host VARCHAR(255)"))
    session.execute(text("ALTER TABLE videos ADD COLUMN sample_hash VARCHAR(64)"))


def _v2_to_v3(session: Session) -> None:
    from core.landmarks import N_POINTS
    from core.review_states import SOURCE_STATES

    session.execute(text("ALTER TABLE annotations ADD COLUMN states BLOB"
                         if session.get_bind().dialect.name == "sqlite" else
                         "ALTER TABLE annotations ADD COLUMN states BYTEA"))
    for source, state in SOURCE_STATES.items():
        session.execute(text("UPDATE annotations SET states = :states WHERE source = :source"),
                        {"states": bytes([state]) * N_POINTS, "source": source})
    session.execute(text("UPDATE annotations SET states = :states WHERE states IS NULL"),
                    {"states": bytes([SOURCE_STATES["manual"]]) * N_POINTS})


def _v3_to_v4(session: Session) -> None:
    from core.store.models import AbsenceRow, CutRow

    connection = session.connection()
    AbsenceRow.__table__.create(bind=connection, checkfirst=True)
    CutRow.__table__.create(bind=connection, checkfirst=True)
    if "face_lost" not in {c["name"] for c in inspect(connection).get_columns("frame_stats")}:
        session.execute(text("ALTER TABLE frame_stats ADD COLUMN face_lost FLOAT DEFAULT 0"))
        session.execute(text("UPDATE frame_stats SET face_lost = 0"))


MIGRATIONS: dict[int, Migration] = {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4}
