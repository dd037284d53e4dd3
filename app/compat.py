"""Work-around for a reference-count bug of PySide6 6.12 on Python < 3.12.

There, every ``SignalInstance.emit()`` from Python returns ``True`` without taking a reference
(and some calls drop references to ``None``/``False`` the same way), which is harmless where
those objects are immortal (Python >= 3.12) but, on 3.11, ends with "Fatal Python error:
bool_dealloc" after a few hundred emits. We hold a reserve of references to the three
singletons and top it up from a timer, so their counts never reach zero. The reserve is never
released (releasing it would make the counts go negative); it costs 8 bytes per leaked reference.
"""

from __future__ import annotations

import logging
import sys

logger = logging.getLogger(__name__)

NEEDED = sys.version_info < (3, 12)
RESERVE = 1_000_000  # references kept above the leak, per singleton
_pins: list[object] = []
if NEEDED:  # the reserve must outlive interpreter shutdown too: take a reference never dropped
    import ctypes

    ctypes.pythonapi.Py_IncRef(ctypes.py_object(_pins))


def top_up_singleton_refs() -> None:
    """Make sure None, True and False each have at least ``RESERVE`` spare references."""
    if not NEEDED:
        return
    for obj in (None, True, False):
        missing = RESERVE - sys.getrefcount(obj)
        if missing > 0:
            _pins.extend([obj] * (missing + RESERVE // 4))


def install_refcount_guard(parent: object = None, interval_ms: int = 250) -> object | None:
    """Top up now and every ``interval_ms`` from a QTimer owned by ``parent``."""
    if not NEEDED:
        return None
    from PySide6.QtCore import QTimer

    top_up_singleton_refs()
    timer = QTimer(parent)
    timer.setInterval(interval_ms)
    timer.timeout.connect(top_up_singleton_refs)
    timer.start()
    return timer
