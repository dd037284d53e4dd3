"""Opening, creating and migrating a project database, and the engine set-up.

A project is one SQLite file in WAL mode (foreign keys on, a busy timeout) or, for teams, a
PostgreSQL URL served by the same models. Each thread or process opens its own ``Project``.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, select, text
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.errors import StoreError
from core.store.models import Base, MetaRow

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SQLITE_MAGIC = b"SQLite format 3\x00"

#: ``MIGRATIONS[v]`` upgrades a database from schema ``v`` to ``v + 1`` inside one transaction.
Migration = Callable[[Session], None]
MIGRATIONS: dict[int, Migration] = {}


def _is_url(target: str) -> bool:
    return "://" in target


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(target: str | os.PathLike[str]) -> Engine:
    """An engine for a project file path or a database URL."""
    target = str(target)
    if _is_url(target):
        return create_engine(target, pool_pre_ping=True)
    engine = create_engine(f"sqlite:///{target}", connect_args={"timeout": 30})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


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
        self.is_sqlite = not _is_url(self.target)
        self.path: Path | None = Path(self.target).resolve() if self.is_sqlite else None
        if self.path is not None:
            self._check_sqlite_file(self.path, create)
        self.engine = make_engine(self.path if self.path is not None else self.target)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        try:
            self._prepare_schema(create)
        except (DatabaseError, OperationalError) as exc:
            self.engine.dispose()
            raise StoreError(f"{self.target}: cannot be opened as a FaceProp project "
                             f"({exc.orig or exc})") from None
        except BaseException:
            self.engine.dispose()
            raise
        from core.store.labels import LabelService
        from core.store.runs import RunService
        from core.store.videos import VideoService

        self.videos = VideoService(self)
        self.labels = LabelService(self)
        self.runs = RunService(self)

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, target: str | os.PathLike[str]) -> Project:
        """Open an existing project; StoreError if it is missing or not a project."""
        return cls(target, create=False)

    @classmethod
    def create_or_open(cls, target: str | os.PathLike[str]) -> Project:
        return cls(target, create=True)

    @staticmethod
    def _check_sqlite_file(path: Path, create: bool) -> None:
        if not path.exists():
            if not create:
                raise StoreError(f"{path}: no such project file")
            if not path.parent.is_dir():
                raise StoreError(f"{path}: folder {path.parent} does not exist")
            return
        if path.is_dir():
            raise StoreError(f"{path}: is a folder, not a project file")
        if path.stat().st_size == 0:
            return
        with path.open("rb") as handle:
            magic = handle.read(len(SQLITE_MAGIC))
        if magic != SQLITE_MAGIC:
            raise StoreError(f"{path}: not a FaceProp project (not an SQLite database file)")

    def _prepare_schema(self, create: bool) -> None:
        with self.session() as session:
            has_meta = self.engine.dialect.has_table(session.connection(), "project_meta")
            version_row = session.get(MetaRow, "schema_version") if has_meta else None
        if version_row is None:
            if not create and self._has_foreign_tables():
                raise StoreError(f"{self.target}: an SQLite database, but not a FaceProp project")
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
        with self._sessions() as session:
            yield session

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
