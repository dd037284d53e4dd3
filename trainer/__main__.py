"""``python -m trainer --project P [--video N] [--method M] ...``: one propagation job.

This is what the GUI starts in a QProcess. It speaks only JSON lines on stdout
(``core.protocol``: progress, run_created, run, done, error) and exits with the protocol's
codes: 0 done (or stopped cleanly with results kept), 2 error, 130 cancelled. SIGTERM or Ctrl-C
stop at a clean point (a TSAL job keeps its results and a checkpoint); a second Ctrl-C aborts.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from core.errors import CancelledError, FacePropError
from core.progress import Progress
from core.protocol import (
    EXIT_CANCELLED,
    EXIT_ERROR,
    Done,
    ErrorEvent,
    Event,
    encode,
    progress_events,
)


class _JsonLines:
    """Protocol events on stdout, a stop flag set by signals."""

    def __init__(self) -> None:
        self.stop_requested = False

    def emit(self, event: Event) -> None:
        try:
            sys.stdout.write(encode(event) + "\n")
            sys.stdout.flush()
        except BrokenPipeError:  # the reader went away: stop at the next clean point
            self.stop_requested = True

    def progress(self, task: str) -> Progress:
        return progress_events(task, self.emit)

    def should_stop(self) -> bool:
        return self.stop_requested

    def handle_signal(self, _signum: int, _frame: object) -> None:
        if self.stop_requested:
            raise KeyboardInterrupt
        self.stop_requested = True


def main(argv: list[str] | None = None) -> int:
    from trainer.runner import add_arguments, run_jobs

    parser = argparse.ArgumentParser(prog="python -m trainer", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", "-p", required=True, help="project file or database URL")
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    out = _JsonLines()
    signal.signal(signal.SIGINT, out.handle_signal)
    signal.signal(signal.SIGTERM, out.handle_signal)
    try:
        _runs, result, code = run_jobs(args, out.progress, out.emit, out.should_stop)
    except (CancelledError, KeyboardInterrupt) as exc:
        out.emit(ErrorEvent(f"cancelled: {exc}" if str(exc) else "cancelled"))
        return EXIT_CANCELLED
    except FacePropError as exc:
        out.emit(ErrorEvent(str(exc)))
        return EXIT_ERROR
    except Exception as exc:
        from core.error_messages import describe_unexpected

        logging.getLogger("trainer").exception("propagation failed")
        out.emit(ErrorEvent(describe_unexpected(exc, args.project, "the details are on stderr")))
        return EXIT_ERROR
    out.emit(Done(result))
    return code


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(EXIT_CANCELLED)
