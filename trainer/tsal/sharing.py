"""CPU trainings that share the machine's cores instead of fighting over them (issue 13 §1).

Each CPU training registers itself as a file named after its pid in one folder per user
(``FACEPROP_TRAINER_DIR``, default ``<tmp>/faceprop-trainers-<uid>``) and, every few steps,
sizes its torch thread pool to its share of the usable cores: all of them alone, half with a
second training, one thread each when there are more trainings than cores. Two trainings that
each run a two-thread pool on two cores spend their time in OpenMP's spin-waits (4.6 x one
alone, docs/MEASUREMENTS.md); two one-thread trainings share the cores. Files of processes that
are gone (a SIGKILL leaves its file) are ignored and removed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from types import TracebackType

import torch

from trainer.tsal.devices import usable_cores


def registry() -> Path:
    """The folder where running CPU trainings register."""
    configured = os.environ.get("FACEPROP_TRAINER_DIR")
    if configured:
        return Path(configured)
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"faceprop-trainers-{uid}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process with that pid: alive
        return True
    return True


class CoreShare:
    """A registration of this training; :meth:`threads` is its share of the cores now."""

    def __init__(self, wanted: int, folder: Path | None = None):
        self.wanted = max(1, int(wanted))
        self.folder = folder or registry()
        self._file = self.folder / str(os.getpid())

    def __enter__(self) -> CoreShare:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._file.touch()
        self.apply()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._file.unlink(missing_ok=True)

    def running(self) -> int:
        """CPU trainings registered and alive, this one included (stale files removed)."""
        count = 0
        for entry in self.folder.glob("*"):
            if not entry.name.isdigit():
                continue
            if _alive(int(entry.name)):
                count += 1
            else:
                entry.unlink(missing_ok=True)
        return max(count, 1)

    def threads(self) -> int:
        """This training's share: the usable cores (at most ``wanted``) over the trainings."""
        return max(1, min(self.wanted, usable_cores()) // self.running())

    def apply(self) -> int:
        """Size torch's thread pool to the share now; returns it."""
        share = self.threads()
        if torch.get_num_threads() != share:
            torch.set_num_threads(share)
        return share
