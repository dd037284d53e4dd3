"""What the CLI does when the world misbehaves: a closed output pipe, an unexpected error.

``OutputGuard`` stands in for stdout: when the reader goes away (``--json ... | head``) it
swallows further output and asks the command to stop at its next clean point, as Ctrl-C does,
instead of raising BrokenPipeError out of a progress callback mid-write.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO


class OutputGuard:
    """A stdout proxy that survives its reader closing the pipe."""

    def __init__(self, stream: TextIO, reporter: Any) -> None:
        self._stream = stream
        self._reporter = reporter
        self._replaced_stdout = False
        self.closed = False

    @classmethod
    def install(cls, reporter: Any) -> OutputGuard:
        guard = cls(reporter.out, reporter)
        reporter.out = guard
        guard._replaced_stdout = guard._stream is sys.stdout
        if guard._replaced_stdout:
            sys.stdout = guard  # type: ignore[assignment]
        return guard

    def uninstall(self) -> None:
        if self._replaced_stdout and sys.stdout is self:
            sys.stdout = self._stream

    def _pipe_closed(self) -> None:
        self.closed = True
        self._reporter.stop_requested = True
        try:  # the interpreter flushes stdout at exit: point it at nothing
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass

    def write(self, text: str) -> int:
        if self.closed:
            return len(text)
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._pipe_closed()
            return len(text)

    def flush(self) -> None:
        if self.closed:
            return
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._pipe_closed()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
