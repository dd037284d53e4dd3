"""One BLAS thread for the GUI thread's small solves.

A shape-aware drag solves a 136×136 system on every mouse move, about a millisecond on one core.
Multi-threaded OpenBLAS splits even that over its threads, and on a busy machine (the re-solve
worker tracking, a training run, other programs) its second thread waits for a core: the same
solve then takes 30–200 ms and the drag stutters. ``one_blas_thread_here`` sets OpenBLAS to
one thread *for the calling thread only* (``openblas_set_num_threads_local``, OpenBLAS 0.3.27
and later, as in numpy's and scipy's wheels), so worker threads keep their threads. Where no
such OpenBLAS is loaded (another BLAS, an older OpenBLAS) it changes nothing.
"""

from __future__ import annotations

import ctypes
import logging
import sys
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


def one_blas_thread_here() -> int:
    """Limit OpenBLAS to one thread for the calling thread; returns how many libraries took
    the limit (0: none could)."""
    limited = 0
    for path in _loaded_openblas():
        try:
            setter = getattr(ctypes.CDLL(path), _SYMBOL)
        except (OSError, AttributeError):
            continue
        setter.argtypes, setter.restype = [ctypes.c_int], ctypes.c_int
        setter(1)
        limited += 1
    logger.debug("OpenBLAS limited to one thread on this thread in %d libraries", limited)
    return limited
