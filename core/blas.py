"""One BLAS thread for a thread's small solves (the GUI's drags, the re-solve's completion).

A shape-aware drag solves a 136×136 system on every mouse move, about a millisecond on one core.
Multi-threaded OpenBLAS splits even that over its threads, and on a busy machine (the re-solve
worker tracking, a training run, other programs) its second thread waits for a core: the same
solve then takes 30–200 ms and the drag stutters. ``one_blas_thread_here`` sets OpenBLAS to
one thread *for the calling thread only* (``openblas_set_num_threads_local``, OpenBLAS 0.3.27
and later, as in numpy's and scipy's wheels), so worker threads keep their threads. Where no
such OpenBLAS is loaded (another BLAS, an older OpenBLAS) it changes nothing.

The re-solve (``core.propagation.edits``) has the same need the other way round: its shape
completion (a 136×136 solve per frame) woke OpenBLAS's threads, which then spun on the cores
the next gap's optical flow (OpenCV, two threads) needed: tracking took 56 ms a gap instead
of 42 (docs/MEASUREMENTS.md, "Instant local re-solve"). ``one_blas_thread`` limits it for the
duration of a block and puts the previous setting back.
"""

from __future__ import annotations

import ctypes
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)

_SYMBOL = "openblas_set_num_threads_local"


def _loaded_openblas() -> list[str]:
    """Paths of the OpenBLAS libraries numpy and scipy loaded (Linux: the process's mapped
    files; elsewhere: the libraries their wheels ship)."""
    maps = Path("/proc/self/maps")
    if maps.exists():
        paths = {line.split()[-1] for line in maps.read_text().splitlines()
                 if "openblas" in line.lower() and line.split()[-1].startswith("/")}
        return sorted(paths)
    found: set[str] = set()
    for name in ("numpy", "scipy"):
        module = sys.modules.get(name)
        if module is None or module.__file__ is None:
            continue
        root = Path(module.__file__).parent
        for folder in (root.parent / f"{name}.libs", root / ".dylibs"):
            if folder.is_dir():
                found |= {str(p) for p in folder.iterdir() if "openblas" in p.name.lower()}
    return sorted(found)


def _setters() -> list[ctypes._CFuncPtr]:
    """The per-thread thread-count setter of every loaded OpenBLAS that has one."""
    found = []
    for path in _loaded_openblas():
        try:
            setter = getattr(ctypes.CDLL(path), _SYMBOL)
        except (OSError, AttributeError):
            continue
        setter.argtypes, setter.restype = [ctypes.c_int], ctypes.c_int
        found.append(setter)
    return found


def one_blas_thread_here() -> int:
    """Limit OpenBLAS to one thread for the calling thread; returns how many libraries took
    the limit (0: none could)."""
    setters = _setters()
    for setter in setters:
        setter(1)
    logger.debug("OpenBLAS limited to one thread on this thread in %d libraries", len(setters))
    return len(setters)


@contextmanager
def one_blas_thread() -> Iterator[int]:
    """One OpenBLAS thread for the calling thread inside the block (yields how many libraries
    took the limit); the previous per-thread setting afterwards (the setter returns it)."""
    setters = _setters()
    previous = [setter(1) for setter in setters]
    try:
        yield len(setters)
    finally:
        for setter, value in zip(setters, previous):
            setter(value)
