"""The trainer shares a small CPU: torch never gets more threads than the cores the process may
use (issue 13 §1)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO_ROOT


def _run(code: str, env: dict[str, str] | None = None, cores: str | None = None) -> str:
    command = [sys.executable, "-c", code]
    if cores is not None:
        command = ["taskset", "-c", cores, *command]
    environment = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    environment.update(env or {})
    return subprocess.run(command, cwd=REPO_ROOT, env=environment, capture_output=True,
                          text=True, check=True).stdout.strip()


def test_torch_threads_never_exceed_the_usable_cores():
    code = ("from trainer.tsal.propagate import usable_cores; import os; "
            "print(usable_cores(), len(os.sched_getaffinity(0)))")
    usable, affinity = _run(code, cores="0").split()
    assert usable == affinity == "1"
