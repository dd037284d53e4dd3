"""Python's cyclic garbage collector runs on the GUI thread only, while a window is open.

The automatic collector runs in whichever thread happens to allocate when a generation passes
its threshold. In the GUI that is often a worker (the frame loader, a re-solve, a job), and a
collection there finalises every unreachable cycle, Qt wrappers made on the GUI thread
included: their C++ objects are then destroyed from the wrong thread, which Qt does not allow
and which can crash or deadlock against the GUI thread (pyqtgraph ships a collector like this
for the same reason). While a window is open the automatic collector is off and a timer on the
GUI thread collects each generation that has passed its threshold, as the automatic one would.
Reference counting, which frees everything not in a cycle, is untouched.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

_holders = 0  # open collectors: the automatic collector stays off while any is running
_was_enabled = True


class MainThreadCollector(QObject):
    """Turns the automatic collector off and collects from a timer on this (the GUI) thread
    every ``interval_ms``; ``stop()`` collects once more and restores the collector."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = 500) -> None:
        super().__init__(parent)
        global _holders, _was_enabled
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
        self._running = True
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.collect_due)
        self.timer.start()

    @staticmethod
    def collect_due() -> int:
        """Collect the oldest generation whose count passed its threshold (none: nothing);
        returns the number of unreachable objects found."""
        counts, thresholds = gc.get_count(), gc.get_threshold()
        for generation in (2, 1, 0):
            if thresholds[generation] and counts[generation] > thresholds[generation]:
                return gc.collect(generation)
        return 0

    def stop(self) -> None:
        global _holders
        if not self._running:
            return
        self._running = False
        self.timer.stop()
        gc.collect()
        _holders -= 1
        if _holders == 0 and _was_enabled:
            gc.enable()
