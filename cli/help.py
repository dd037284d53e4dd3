"""How the command line explains itself: every argument's help ends with its default, method
lists keep their line breaks, and the global options work before or after the subcommand."""

from __future__ import annotations

import argparse

#: Options every subcommand accepts as well as the top-level parser (``main.py propagate --json``
#: and ``main.py --json propagate`` are the same).
GLOBAL_OPTIONS: tuple[tuple[tuple[str, ...], dict], ...] = (
    (("--json",), {"action": "store_true",
                   "help": "machine-readable JSON lines on stdout (progress and result)"}),
    (("--verbose", "-v"), {"action": "store_true", "help": "log debug messages"}),
)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps descriptions and epilogs as written and adds "(default: X)" to every option whose
    help does not already name its default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default is None or isinstance(action.default, bool) \
                or action.default == argparse.SUPPRESS or not action.option_strings:
            return text
        default = action.default
        if isinstance(default, (list, tuple)):
            default = ",".join(str(d) for d in default)
        return f"{text} (default: {default})"


def add_global_options(parser: argparse.ArgumentParser, *, in_subcommand: bool) -> None:
    """The global options; in a subcommand they default to SUPPRESS so that a value given
    before the subcommand is not overwritten by the subcommand's default."""
    for flags, options in GLOBAL_OPTIONS:
        extra = {"default": argparse.SUPPRESS} if in_subcommand else {"default": False}
        parser.add_argument(*flags, **options, **extra)


def finish_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Give every subcommand the global options and the shared help formatter."""
    for parser in subparsers.choices.values():
        parser.formatter_class = HelpFormatter
        add_global_options(parser, in_subcommand=True)
