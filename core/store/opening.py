"""How a project target becomes an engine, without ever changing a file that is not ours.

A target is a database URL only when it starts with ``scheme://``; anything else is a file path,
turned into an SQLite URL with SQLAlchemy's URL API so that any legal file name (``%20``, ``?``,
``#`` included) is that file. Before an engine touches an existing file, ``vet_sqlite_file`` reads
it with a read-only connection and refuses anything that is not a FaceProp project (or an empty
database), so a foreign database never gets our tables nor a new journal mode.
"""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, NoSuchModuleError

from core.errors import StoreError

SQLITE_MAGIC = b"SQLite format 3\x00"
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_CORRUPTION_MARKERS = ("malformed", "file is not a database", "disk image",
                       "database corrupt")


def is_url(target: str) -> bool:
    """Whether ``target`` is a database URL (``scheme://...``) rather than a file path."""
    return bool(_URL_SCHEME.match(target))


def sqlite_file_of_url(target: str) -> str | None:
    """The file of an ``sqlite:///file`` URL (so it gets the same checks as a path), else None."""
    try:
        url = make_url(target)
    except ArgumentError:
        return None
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return url.database


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(target: str | os.PathLike[str]) -> Engine:
    """An engine for a project file path or a database URL; StoreError for a URL whose
    database type is unknown or whose driver is not installed."""
    if isinstance(target, Path) or not is_url(str(target)):
        url = URL.create("sqlite", database=str(target))
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    target = str(target)
    try:
        url = make_url(target)
    except ArgumentError:
        raise StoreError(f"{target}: not a valid database URL") from None
    try:
        return create_engine(url, pool_pre_ping=True)
    except NoSuchModuleError:
        raise StoreError(f"{target}: unknown database type {url.drivername!r}; a project is an "
                         "SQLite file or a postgresql+psycopg:// URL") from None
    except ImportError as exc:
        raise StoreError(f"{target}: the database driver for {url.drivername!r} is not "
                         f"installed ({exc.name or exc}); for PostgreSQL run "
                         "`pip install -e .[postgres]`") from None
    except ArgumentError as exc:
        raise StoreError(f"{target}: {exc}") from None


def vet_sqlite_file(path: Path, create: bool) -> None:
    """Refuse, before anything is written, a path that is not (and cannot become) a project.

    A missing file is created only when ``create``; a zero-byte file counts as missing. An
    existing database must hold FaceProp's metadata table, or no table at all.
    """
    if path.is_dir():
        raise StoreError(f"{path}: is a folder, not a project file")
    if not path.exists() or path.stat().st_size == 0:
        if not create:
            what = "no such project file" if not path.exists() else \
                "an empty file, not a FaceProp project"
            raise StoreError(f"{path}: {what}")
        if not path.parent.is_dir():
            raise StoreError(f"{path}: folder {path.parent} does not exist")
        return
    with path.open("rb") as handle:
        magic = handle.read(len(SQLITE_MAGIC))
    if magic != SQLITE_MAGIC:
        raise StoreError(f"{path}: not a FaceProp project (not an SQLite database file)")
    tables = _table_names(path)
    if tables and "project_meta" not in tables:
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise StoreError(f"{path}: an SQLite database of another program (tables: {shown}), "
                         "not a FaceProp project; it was left unchanged")


def _table_names(path: Path) -> set[str]:
    """The tables of an SQLite file, read through a read-only connection."""
    uri = f"file:{quote(str(path))}?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot be read ({exc})") from None
    try:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
    except sqlite3.DatabaseError as exc:
        if any(marker in str(exc).lower() for marker in _CORRUPTION_MARKERS):
            raise StoreError(corruption_message(str(path), path, exc)) from None
        raise StoreError(f"{path}: cannot be read ({exc})") from None
    finally:
        connection.close()
    return {name for (name,) in rows}


def is_corruption(exc: BaseException) -> bool:
    """Whether a database error says the file itself is damaged."""
    if isinstance(exc, DatabaseError):
        exc = exc.orig or exc
    return any(marker in str(exc).lower() for marker in _CORRUPTION_MARKERS)


def corruption_message(target: str, path: Path | None, exc: BaseException) -> str:
    """What to tell a person whose project file is damaged: the file, and where to go next."""
    detail = str(exc.orig if isinstance(exc, DatabaseError) and exc.orig else exc)
    text = f"{target}: the project database is damaged ({detail}); nothing was changed."
    if path is None:
        return text + " Ask the database administrator to restore it."
    backups = sorted(path.parent.glob(f"{path.name}.bak-v*"))
    if backups:
        return (text + f" A backup made before the last upgrade exists: {backups[-1]} (copy it "
                "to a new name and open that; edits made since it are not in it).")
    return (text + f" `sqlite3 {path} .recover` may rescue most of it into a new file.")
