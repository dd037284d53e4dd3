"""Error types shared by every layer; each message names the file, frame or field at fault."""

from __future__ import annotations


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
