"""The command line explains itself: every argument has help, defaults are shown, propagate
comes first, user methods are listed apart from the ablations, --json works on either side."""

from __future__ import annotations

import argparse
import json

from cli.help import HelpFormatter
from main import build_parser, run_command
from tests.cli.test_cli import make_clip


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_propagate_leads_the_subcommand_list():
    assert next(iter(subparsers())) == "propagate"


def test_every_argument_has_help_and_options_show_their_default():
    for name, parser in subparsers().items():
        assert parser.formatter_class is HelpFormatter, name
        formatter = parser._get_formatter()
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"{name} {action.dest}: no help text"
            shown = formatter._get_help_string(action)
            if action.option_strings and action.default not in (None, argparse.SUPPRESS) \
                    and not isinstance(action.default, bool):
                assert "default" in shown, f"{name} {action.dest}: {shown!r}"


def test_methods_are_listed_apart_from_ablations(capsys):
    text = subparsers()["propagate"].format_help()
    methods, ablations = text.split("methods:")[1].split("ablations (for the benchmark):")
    assert "final" in methods and "interpolation" in methods and "no-sic" not in methods
    assert "no-sic" in ablations and "supervised" in ablations


def test_json_works_before_or_after_the_subcommand(tmp_path, capsys):
    clip = make_clip(tmp_path / "clip")
    project = str(tmp_path / "p.faceprop.sqlite")
    assert run_command(["import-300vw", str(clip), "--project", project]) == 0
    capsys.readouterr()
    for argv in (["--json", "info", "--project", project],
                 ["info", "--json", "--project", project],
                 ["info", "--project", project, "--json"]):
        assert run_command(argv) == 0
        [line] = capsys.readouterr().out.splitlines()
        assert json.loads(line)["event"] == "done"
    assert run_command(["info", "--project", project]) == 0
    assert json.loads(capsys.readouterr().out)["frames"] == 30  # plain JSON, not events


def test_a_python_without_the_dependencies_gets_a_friendly_message():
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    # -S: no site-packages, as when `python main.py` runs outside the venv
    result = subprocess.run([sys.executable, "-S", "main.py", "--demo"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "dependencies are not installed" in result.stderr and "make run" in result.stderr
