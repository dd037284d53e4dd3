"""FaceProp entry point: no arguments opens the GUI; a subcommand runs the same services headless.

    python main.py                       # the labelling GUI
    python main.py --demo                # the GUI on a temporary demo project
    python main.py --open P.faceprop.sqlite
    python main.py import-300vw SRC --project P.faceprop.sqlite
    python main.py <subcommand> --help   # every subcommand documents itself
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from core.errors import CancelledError, FacePropError

logger = logging.getLogger("faceprop")

EXIT_ERROR = 2
EXIT_CANCELLED = 130


def build_parser() -> argparse.ArgumentParser:
    from cli import project_commands

    parser = argparse.ArgumentParser(
        prog="faceprop", description="Label 68-point facial landmarks in video from a few "
                                     "keyframes. Without a subcommand the GUI opens.")
    parser.add_argument("--json", action="store_true",
                        help="machine-readable JSON lines on stdout (progress and result)")
    parser.add_argument("--verbose", "-v", action="store_true", help="log debug messages")
    parser.add_argument("--demo", action="store_true",
                        help="open the GUI on a temporary demo project")
    parser.add_argument("--open", dest="gui_project", metavar="PROJECT",
                        help="open the GUI on this project file")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    project_commands.register(subparsers)
    for name in ("cli.bench_commands", "cli.trainer_commands"):
        try:
            module = __import__(name, fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(subparsers)
    return parser


def run_command(argv: Sequence[str]) -> int:
    from cli.reporting import Reporter

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.command is None:
        return open_gui(args)
    reporter = Reporter(as_json=args.json)
    reporter.install_signal_handlers()
    try:
        return args.handler(args, reporter)
    except CancelledError as exc:
        reporter.error(f"cancelled: {exc}")
        return EXIT_CANCELLED
    except KeyboardInterrupt:
        reporter.error("aborted")
        return EXIT_CANCELLED
    except FacePropError as exc:
        reporter.error(str(exc))
        return EXIT_ERROR


def open_gui(args: argparse.Namespace) -> int:
    try:
        from app.main_window import run_gui
    except ModuleNotFoundError as exc:
        print(f"error: the GUI cannot start ({exc}); install with `make run`", file=sys.stderr)
        return EXIT_ERROR
    return run_gui(project=args.gui_project, demo=args.demo)


def main() -> None:
    sys.exit(run_command(sys.argv[1:]))


if __name__ == "__main__":
    main()
