"""Scratch projects that benchmarks propagate in, re-made on every run."""

from __future__ import annotations

import shutil
from pathlib import Path


def fresh_project(path: Path) -> Path:
    """``path`` with any earlier project there removed, its -wal/-shm files and its
    ``.checkpoints`` folder included (a leftover checkpoint would make the next run a warm
    start)."""
    for stale in path.parent.glob(f"{path.name}*"):
        if stale.is_dir():
            shutil.rmtree(stale)
        else:
            stale.unlink()
    return path
