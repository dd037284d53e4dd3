"""Opening, creating and migrating a project database, and the engine set-up.

A project is one SQLite file in WAL mode (foreign keys on, a busy timeout) or, for teams, a
PostgreSQL URL served by the same models. Each thread or process opens its own ``Project``.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import delete, select, text
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.errors import StoreError
from core.store.migrations import MIGRATIONS, SCHEMA_VERSION, Migration
from core.store.models import Base, MetaRow
from core.store.opening import (
    corruption_message,
    is_corruption,
    is_url,
    make_engine,
    sqlite_file_of_url,
    vet_sqlite_file,
)

logger = logging.getLogger(__name__)

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Migration", "Project", "make_engine"]


_EDIT_LOG_GUARDS = (
    "CREATE TRIGGER IF NOT EXISTS edit_log_no_update BEFORE UPDATE ON edit_log "
    "BEGIN SELECT RAISE(ABORT, 'edit_log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS edit_log_no_delete BEFORE DELETE ON edit_log "
    "BEGIN SELECT RAISE(ABORT, 'edit_log is append-only'); END",
)
_EDIT_LOG_GUARDS_POSTGRES = (
    "CREATE OR REPLACE FUNCTION edit_log_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'edit_log is append-only'; END; $$ LANGUAGE plpgsql",
    "CREATE TRIGGER edit_log_no_change BEFORE UPDATE OR DELETE ON edit_log "
    "FOR EACH ROW EXECUTE FUNCTION edit_log_append_only()",
)


class Project:
    """An open project: its engine, a session factory and the services over them."""

    def __init__(self, target: str | os.PathLike[str], *, create: bool = False) -> None:
        self.target = str(target)
        file_of_url = sqlite_file_of_url(self.target) if is_url(self.target) else None
        self.is_sqlite = file_of_url is not None or not is_url(self.target)
        self.path: Path | None = None
        if self.is_sqlite:
            self.path = Path(file_of_url or self.target).expanduser().resolve()
            vet_sqlite_file(self.path, create)  # reads only: refuses before changing anything
        self.engine = make_engine(self.path if self.path is not None else self.target)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        try:
            self._prepare_schema(create)
        except StoreError:
            self.engine.dispose()
            raise
        except (DatabaseError, OperationalError) as exc:
            self.engine.dispose()
            if is_corruption(exc):
                raise StoreError(corruption_message(self.target, self.path, exc)) from None
            raise StoreError(f"{self.target}: cannot be opened as a FaceProp project "
                             f"({exc.orig or exc})") from None
        except BaseException:
            self.engine.dispose()
            raise
        from core.store.absences import AbsenceService
        from core.store.cuts import CutService
        from core.store.labels import LabelService
        from core.store.runs import RunService
        from core.store.videos import VideoService

        self.videos = VideoService(self)
        self.labels = LabelService(self)
        self.runs = RunService(self)
        self.absences = AbsenceService(self)
        self.cuts = CutService(self)

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, target: str | os.PathLike[str]) -> Project:
        """Open an existing project; StoreError if it is missing or not a project."""
        return cls(target, create=False)

    @classmethod
    def create_or_open(cls, target: str | os.PathLike[str]) -> Project:
        return cls(target, create=True)

    def _prepare_schema(self, create: bool) -> None:
        with self.session() as session:
            has_meta = self.engine.dialect.has_table(session.connection(), "project_meta")
            version_row = session.get(MetaRow, "schema_version") if has_meta else None
        if version_row is None:
            if self._has_foreign_tables():
                raise StoreError(f"{self.target}: a database that holds other tables but is not "
                                 "a FaceProp project; FaceProp will not add its tables to it")
            if not create:
                raise StoreError(f"{self.target}: not a FaceProp project (no schema version)")
            self._create_schema()
            return
        try:
            version = int(version_row.value)
        except ValueError:
            raise StoreError(f"{self.target}: schema_version {version_row.value!r} is not a "
                             "number") from None
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.target}: written by a newer FaceProp (schema {version}; "
                             f"this version reads up to {SCHEMA_VERSION}). Upgrade FaceProp "
                             "to open it.")
        if version < SCHEMA_VERSION:
            self._migrate(version)

    def _has_foreign_tables(self) -> bool:
        with self.engine.connect() as conn:
            return bool(self.engine.dialect.get_table_names(conn))

    def _create_schema(self) -> None:
        Base.metadata.create_all(self.engine)
        with self.session() as session, session.begin():
            session.merge(MetaRow(key="schema_version", value=str(SCHEMA_VERSION)))
            guards = {"sqlite": _EDIT_LOG_GUARDS,
                      "postgresql": _EDIT_LOG_GUARDS_POSTGRES}.get(self.engine.dialect.name, ())
            for statement in guards:
                session.execute(text(statement))
        logger.info("created project %s (schema %d)", self.target, SCHEMA_VERSION)

    def _migrate(self, version: int) -> None:
        """Upgrade step by step; an SQLite file is copied to ``*.bak-v{N}`` first."""
        if self.path is not None:
            backup = self.path.with_name(f"{self.path.name}.bak-v{version}")
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            shutil.copy2(self.path, backup)
            logger.info("backed up %s to %s before migrating", self.path, backup)
        while version < SCHEMA_VERSION:
            step = MIGRATIONS.get(version)
            if step is None:
                raise StoreError(f"{self.target}: no migration from schema {version}")
            with self.session() as session, session.begin():
                step(session)
                session.merge(MetaRow(key="schema_version", value=str(version + 1)))
            version += 1
        Base.metadata.create_all(self.engine)  # tables added since, if any

    # -- sessions --------------------------------------------------------------------------
    @contextmanager
    def session(self) -> Iterator[Session]:
        """A fresh session; use ``with project.session() as s, s.begin():`` to write."""
        try:
            with self._sessions() as session:
                yield session
        except DatabaseError as exc:
            if is_corruption(exc):
                raise StoreError(corruption_message(self.target, self.path, exc)) from None
            raise

    def schema_version(self) -> int:
        with self.session() as session:
            row = session.execute(
                select(MetaRow.value).where(MetaRow.key == "schema_version")).scalar_one()
        return int(row)

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        with self.session() as session:
            row = session.get(MetaRow, key)
            return default if row is None else row.value

    def set_meta(self, key: str, value: str) -> None:
        with self.session() as session, session.begin():
            session.merge(MetaRow(key=key, value=value))

    def delete_meta(self, key: str) -> None:
        with self.session() as session, session.begin():
            session.execute(delete(MetaRow).where(MetaRow.key == key))

    def meta_items(self, prefix: str) -> list[tuple[str, str]]:
        """Every (key, value) of the project metadata whose key starts with ``prefix``."""
        with self.session() as session:
            rows = session.execute(select(MetaRow.key, MetaRow.value)
                                   .where(MetaRow.key.startswith(prefix, autoescape=True)))
            return [(key, value) for key, value in rows]

    def integrity_problems(self) -> list[str]:
        """SQLite's own integrity check of the file (empty when intact; nothing for servers)."""
        if not self.is_sqlite:
            return []
        with self.engine.connect() as conn:
            rows = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check").all()]
        return [] if rows == ["ok"] else [f"{self.target}: {row}" for row in rows]

    @property
    def folder(self) -> Path:
        """Where relative video paths and checkpoints live: the project file's folder."""
        return self.path.parent if self.path is not None else Path.cwd()

    @property
    def media_folder(self) -> Path:
        """Folder for transcoded videos and checkpoints that belong to this project."""
        stem = self.path.name if self.path is not None else "project"
        return self.folder / f"{stem}.media"

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
