"""One BLAS thread for a thread's small solves (the GUI's drags, the re-solve's completion).

A shape-aware drag solves a 136×136 system on every mouse move, about a millisecond on one core.
Multi-threaded OpenBLAS splits even that over its threads, and on a busy machine (the re-solve
worker tracking, a training run, other programs) its second thread waits for a core: the same
solve then takes 30–200 ms and the drag stutters. ``one_blas_thread_here`` sets OpenBLAS to
one thread for good (``openblas_set_num_threads_local``, OpenBLAS 0.3.27 and later, as in
numpy's and scipy's wheels). Despite its name that call acts on the whole process in numpy's
pthreads builds (it sets the global count and returns the old one), so the GUI process's BLAS
is then single-threaded everywhere; its solves are all small. Where no such OpenBLAS is
loaded (another BLAS, an older OpenBLAS) it changes nothing.

The re-solve (``core.propagation.edits``) has the same need the other way round: its shape
completion (a 136×136 solve per frame) woke OpenBLAS's threads, which then spun on the cores
the next gap's optical flow (OpenCV, two threads) needed: tracking took 56 ms a gap instead
of 42 (docs/MEASUREMENTS.md, "Instant local re-solve"). ``one_blas_thread`` limits it for the
duration of a block and puts the previous setting back. Because the setting may be the
process's, blocks on several threads share it under a lock, the first one in saving the
setting and the last one out restoring it, and a limit set for good is never undone.
"""

from __future__ import annotations

import ctypes
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)

_SYMBOL = "openblas_set_num_threads_local"

_lock = threading.Lock()
_blocks = 0  # one_blas_thread blocks open, on any thread
_saved: list[int] = []  # the settings before the first of them
_for_good = False  # one_blas_thread_here was called: nothing restores


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
    """Limit OpenBLAS to one thread for good (see the module docstring); returns how many
    libraries took the limit (0: none could)."""
    global _for_good
    with _lock:
        _for_good = True
        setters = _setters()
        for setter in setters:
            setter(1)
    logger.debug("OpenBLAS limited to one thread in %d libraries", len(setters))
    return len(setters)


@contextmanager
def one_blas_thread() -> Iterator[int]:
    """One OpenBLAS thread inside the block (yields how many libraries took the limit); the
    setting from before the first open block once the last one closes, unless
    :func:`one_blas_thread_here` made the limit permanent meanwhile."""
    global _blocks, _saved
    with _lock:
        setters = _setters()
        if _blocks == 0:
            _saved = [setter(1) for setter in setters]
        _blocks += 1
    try:
        yield len(setters)
    finally:
        with _lock:
            _blocks -= 1
            if _blocks == 0 and not _for_good:
                for setter, value in zip(setters, _saved):
                    setter(value)
