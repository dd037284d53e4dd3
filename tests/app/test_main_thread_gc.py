"""While a window is open, cycles are collected on the GUI thread, never in a worker thread
(where finalising a Qt wrapper made on the GUI thread destroys it from the wrong thread)."""

from __future__ import annotations

import gc
import threading

_finalised_in: list[str] = []


class _Cycle:

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        _finalised_in.append(threading.current_thread().name)


_kept: list[list] = []


def _make_cycle_then_allocate() -> None:
    _Cycle()
    # enough container allocations to pass generation 0's threshold many times over: an
    # automatic collection would run here, in this thread (they are kept so the count stays
    # past the threshold for the GUI thread's collector)
    _kept.extend([] for _ in range(20 * gc.get_threshold()[0]))


def test_cycles_are_collected_on_the_gui_thread_while_a_window_is_open(qtbot, window):
    _finalised_in.clear()
    assert not gc.isenabled()
    worker = threading.Thread(target=_make_cycle_then_allocate, name="worker")
    worker.start()
    worker.join()
    assert _finalised_in == []  # nothing collected in the worker
    qtbot.waitUntil(lambda: _finalised_in == [threading.main_thread().name],
                    timeout=5000)
    _kept.clear()


def test_closing_the_window_restores_the_automatic_collector(qtbot, window):
    assert not gc.isenabled()
    window.close()
    assert gc.isenabled()
