"""Error types shared by every layer; each message names the file, frame or field at fault."""

from __future__ import annotations

from pathlib import Path


class FacePropError(Exception):
    """Base of every error the user should see as a clear message rather than a traceback."""


class VideoError(FacePropError):
    """A video file is missing, unreadable, empty, or a frame index is out of range."""


class FormatError(FacePropError):
    """A landmark or dataset file on disk does not follow its format."""


class StoreError(FacePropError):
    """The project database refused an operation (bad file, newer schema, bad reference)."""


class ValidationError(FacePropError):
    """A value passed to a service is not acceptable (shape, range, NaN...)."""


class CancelledError(FacePropError):
    """Long work stopped because the caller asked it to."""


def describe_unexpected(exc: BaseException, project: str | None,
                        details: str = "rerun with --verbose to see the details") -> str:
    """One line for an error no layer anticipated, so a person never reads a traceback: the
    file or project it concerns first, then what happened."""
    from sqlalchemy.exc import DatabaseError

    from core.store.opening import corruption_message, is_corruption

    if isinstance(exc, DatabaseError):
        target = project or "the project"
        if is_corruption(exc):
            path = Path(project) if project and "://" not in project else None
            return corruption_message(target, path.resolve() if path else None, exc)
        return f"{target}: the database refused the operation ({exc.orig or exc})"
    if isinstance(exc, MemoryError):
        return "out of memory; close other programs or process fewer frames at once"
    if isinstance(exc, OSError):
        where = exc.filename or project or "a file"
        return f"{where}: {exc.strerror or exc}"
    return (f"unexpected {type(exc).__name__}: {exc}. This is a bug in FaceProp; {details} "
            "and please report it")
