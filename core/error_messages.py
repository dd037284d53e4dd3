"""One line for an error no layer anticipated, so a person never reads a traceback.

The CLI prints it (exit 2) and the GUI shows it in a message box; both name the file or project
first. Errors the code anticipates are ``core.errors.FacePropError`` and carry their own message.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.exc import DatabaseError

from core.store.opening import corruption_message, is_corruption


def describe_unexpected(exc: BaseException, project: str | None,
                        details: str = "rerun with --verbose to see the details") -> str:
    """One line for an error no layer anticipated, so a person never reads a traceback: the
    file or project it concerns first, then what happened."""
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
