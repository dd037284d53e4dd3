"""FaceProp entry point: no arguments opens the GUI; a subcommand runs the same services headless.

    python main.py                       # the labelling GUI
    python main.py --demo                # the GUI on a temporary demo project
    python main.py --open P.faceprop.sqlite
    python main.py import-300vw SRC --project P.faceprop.sqlite
    python main.py <subcommand> --help   # every subcommand documents itself

A person never sees a traceback: known failures print one line naming the file, frame or field
(exit 2), Ctrl-C exits 130 at any moment (start-up included), and a closed output pipe
(``--json ... | head``) stops the work cleanly. Only ``--verbose`` shows tracebacks of bugs.
"""

from __future__ import annotations

import sys


def build_parser():  # -> argparse.ArgumentParser
    import argparse

    from cli import format_commands, project_commands
    from cli.help import HelpFormatter, add_global_options, finish_subcommands

    parser = argparse.ArgumentParser(
        prog="faceprop", formatter_class=HelpFormatter,
        description="Label 68-point facial landmarks in video from a few keyframes.\n"
                    "Without a subcommand the GUI opens; `faceprop COMMAND --help` explains "
                    "each command.")
    add_global_options(parser, in_subcommand=False)
    parser.add_argument("--demo", action="store_true",
                        help="open the GUI on a temporary demo project")
    parser.add_argument("--open", dest="gui_project", metavar="PROJECT",
                        help="open the GUI on this project file")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    from cli import trainer_commands

    trainer_commands.register(subparsers)  # propagate leads the list: it is what FaceProp is for
    from cli import model_commands

    model_commands.register(subparsers)
    project_commands.register(subparsers)
    format_commands.register(subparsers)  # export/import --format 300vw|coco|cvat
    from cli import absence_commands

    absence_commands.register(subparsers)
    absence_commands.register_cuts(subparsers)
    from cli import bench_commands

    bench_commands.register(subparsers)
    finish_subcommands(subparsers)
    return parser


def run_command(argv) -> int:  # argv: Sequence[str]
    import logging

    from sqlalchemy.exc import DatabaseError

    from cli.reporting import Reporter
    from cli.safety import OutputGuard
    from core.error_messages import describe_unexpected
    from core.errors import CancelledError, FacePropError
    from core.protocol import EXIT_CANCELLED, EXIT_ERROR

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.command is None:
        return open_gui(args)
    reporter = Reporter(as_json=args.json)
    guard = OutputGuard.install(reporter)
    reporter.install_signal_handlers()
    try:
        code = args.handler(args, reporter)
        reporter.out.flush()
    except CancelledError as exc:
        reporter.error(f"cancelled: {exc}")
        code = EXIT_CANCELLED
    except KeyboardInterrupt:
        reporter.error("aborted")
        code = EXIT_CANCELLED
    except FacePropError as exc:
        reporter.error(str(exc))
        code = EXIT_ERROR
    except BrokenPipeError:
        code = EXIT_ERROR
    except (DatabaseError, OSError, MemoryError) as exc:
        reporter.error(describe_unexpected(exc, getattr(args, "project", None)))
        code = EXIT_ERROR
    except Exception as exc:
        if args.verbose:
            raise
        reporter.error(describe_unexpected(exc, getattr(args, "project", None)))
        code = EXIT_ERROR
    finally:
        guard.uninstall()
    if guard.closed:
        reporter.error("standard output was closed before the command finished (broken "
                       "pipe); the work was stopped at a clean point")
        return EXIT_ERROR
    return code


def open_gui(args) -> int:
    from core.protocol import EXIT_ERROR

    try:
        from app.main_window import run_gui
    except ModuleNotFoundError as exc:
        print(f"error: the GUI cannot start ({exc}); install with `make run`", file=sys.stderr)
        return EXIT_ERROR
    return run_gui(project=args.gui_project, demo=args.demo)


#: Top-level packages of ours: a missing module that is not one of these is a dependency.
OWN_PACKAGES = {"app", "cli", "core", "evaluation", "main", "resources", "trainer"}


def _exit_on_lost_interrupt(unraisable) -> None:  # unraisable: sys.UnraisableHookArgs
    """A Ctrl-C that lands in a callback Python cannot raise from (an import lock's, during the
    start-up's imports) would print "Exception ignored ... Traceback" and be lost: exit as an
    interrupt instead, like a Ctrl-C anywhere else (the store survives a kill, issue 10)."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        import os

        print("\nerror: interrupted", file=sys.stderr, flush=True)
        os._exit(130)  # EXIT_CANCELLED; core is not importable from inside the import machinery
    sys.__unraisablehook__(unraisable)


def main() -> None:
    # Nothing is imported at module level: a Ctrl-C at any moment of the start-up lands here.
    sys.unraisablehook = _exit_on_lost_interrupt
    try:
        code = run_command(sys.argv[1:])
    except KeyboardInterrupt:  # Ctrl-C while starting up, before the handlers are installed
        from core.protocol import EXIT_CANCELLED

        print("\nerror: interrupted", file=sys.stderr)
        code = EXIT_CANCELLED
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] in OWN_PACKAGES:
            raise
        from core.protocol import EXIT_ERROR  # standard library only: always importable

        print(f"error: FaceProp's dependencies are not installed for {sys.executable} (no "
              f"module named {exc.name!r}). Run `make run` once in the FaceProp folder, then "
              "start it with `.venv/bin/faceprop` (or `.venv/bin/python main.py`).",
              file=sys.stderr)
        code = EXIT_ERROR
    sys.exit(code)


if __name__ == "__main__":
    main()
