"""Every propagation method a person or the benchmark can name is described once (core.methods)
and runs through the trainer's registry (trainer.jobs)."""

from __future__ import annotations

from core.methods import ABLATIONS, DEFAULT_METHOD, USER_METHODS, methods_epilog
from trainer.jobs import PROPAGATORS


def test_the_described_methods_are_the_registered_ones() -> None:
    assert set(USER_METHODS) | set(ABLATIONS) == set(PROPAGATORS)
    assert not set(USER_METHODS) & set(ABLATIONS)
    assert next(iter(USER_METHODS)) == DEFAULT_METHOD
    epilog = methods_epilog()
    assert all(f"  {name} " in epilog for name in PROPAGATORS)
