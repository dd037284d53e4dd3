"""One BLAS thread for small solves (core.blas): the setting inside a block, what comes back
after it, blocks on two threads at once, and a limit made permanent."""

from __future__ import annotations

import ctypes
import threading

import numpy as np  # noqa: F401  (loads numpy's OpenBLAS)
import pytest

from core import blas


def _threads() -> int:
    """OpenBLAS's thread count as every thread sees it (numpy's OpenBLAS)."""
    [path] = blas._loaded_openblas()[:1] or [None]
    if path is None:
        pytest.skip("no OpenBLAS loaded")
    library = ctypes.CDLL(path)
    # numpy's wheels rename the public symbols (scipy_..._64_); the setter keeps its name
    for name in ("openblas_get_num_threads", "scipy_openblas_get_num_threads64_"):
        getter = getattr(library, name, None)
        if getter is not None:
            getter.restype = ctypes.c_int
            return int(getter())
    pytest.skip("this OpenBLAS has no thread-count getter we know")


@pytest.fixture
def two_threads(monkeypatch):
    if not blas._setters():
        pytest.skip("no OpenBLAS with a per-thread setter")
    monkeypatch.setattr(blas, "_for_good", False)
    before = _threads()
    for setter in blas._setters():
        setter(2)
    yield
    for setter in blas._setters():
        setter(before)


def test_a_block_limits_blas_and_puts_the_setting_back(two_threads):
    with blas.one_blas_thread() as limited:
        assert limited >= 1 and _threads() == 1
        with blas.one_blas_thread():  # nested: still one, and not restored on leaving
            pass
        assert _threads() == 1
    assert _threads() == 2


def test_blocks_on_two_threads_restore_only_when_the_last_one_closes(two_threads):
    inside, leave = threading.Event(), threading.Event()

    def worker():
        with blas.one_blas_thread():
            inside.set()
            leave.wait(5)

    thread = threading.Thread(target=worker)
    thread.start()
    inside.wait(5)
    with blas.one_blas_thread():
        leave.set()
        thread.join(5)
        assert _threads() == 1  # the worker left first: the setting is still held here
    assert _threads() == 2


def test_a_limit_made_permanent_inside_a_block_is_not_undone(two_threads):
    with blas.one_blas_thread():
        blas.one_blas_thread_here()  # the GUI's drags start while a re-solve runs
    assert _threads() == 1
