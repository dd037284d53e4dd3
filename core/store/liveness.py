"""Is the process that started a run still there? Decides when a "running" run is shown failed.

A run stores the pid and host of its process. On the same host a run whose pid is gone, or whose
pid now belongs to a process started after the run (the pid was reused), has ended without
finishing. A run of another host (a shared PostgreSQL project) cannot be checked from here and
keeps its stored status.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timezone
from functools import cache

#: A process may appear to start this long after its run row was created (clock granularity).
_START_SLACK_S = 5.0


@cache
def this_host() -> str:
    return socket.gethostname()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return pid > 0
    return True


def _process_started(pid: int) -> datetime | None:
    """When process ``pid`` started (Linux /proc), or None where that cannot be read."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        with open("/proc/stat") as handle:
            boot = next(int(line.split()[1]) for line in handle if line.startswith("btime"))
        ticks = os.sysconf("SC_CLK_TCK")
        return datetime.fromtimestamp(boot + int(fields[19]) / ticks, tz=timezone.utc)
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def process_gone(pid: int | None, host: str | None, started_at: datetime | None) -> bool:
    """Whether the process of a run that says "running" has certainly ended."""
    if host is not None and host != this_host():
        return False
    if pid is None or not pid_alive(pid):
        return True
    if started_at is None:
        return False
    process_start = _process_started(pid)
    if process_start is None:
        return False
    if started_at.tzinfo is None:
        started_at = started_at.replace(tzinfo=timezone.utc)
    return (process_start - started_at).total_seconds() > _START_SLACK_S
