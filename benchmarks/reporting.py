"""What every benchmark script ends with: its report as JSON on stdout, and in ``--out``."""

from __future__ import annotations

import json
from pathlib import Path


def emit(report: dict, out: Path | None) -> None:
    """Print ``report`` as indented JSON and, with ``out``, write the same text there."""
    text = json.dumps(report, indent=1)
    print(text)
    if out:
        out.write_text(text + "\n")
