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
    code = ("from trainer.tsal.devices import usable_cores; import os; "
            "print(usable_cores(), len(os.sched_getaffinity(0)))")
    usable, affinity = _run(code, cores="0").split()
    assert usable == affinity == "1"


def test_trainings_share_the_cores_and_a_dead_ones_file_is_ignored(tmp_path, monkeypatch):
    import torch

    from trainer.tsal import sharing

    monkeypatch.setattr(sharing, "usable_cores", lambda: 4)
    before = torch.get_num_threads()
    try:
        with sharing.CoreShare(4, tmp_path) as share:
            assert (tmp_path / str(os.getpid())).exists()
            assert share.threads() == 4 and torch.get_num_threads() == 4  # alone: every core
            other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
            try:
                (tmp_path / str(other.pid)).touch()  # a second training
                assert share.running() == 2 and share.apply() == 2
                assert torch.get_num_threads() == 2
            finally:
                other.kill()
                other.wait()
            # killed without unregistering: its file is stale, removed, and the cores are back
            assert share.apply() == 4 and not (tmp_path / str(other.pid)).exists()
            (tmp_path / "notes.txt").touch()  # not a training
            assert share.running() == 1
        assert not (tmp_path / str(os.getpid())).exists()
        with sharing.CoreShare(1, tmp_path) as share:  # never more than the config asks
            assert share.threads() == 1
    finally:
        torch.set_num_threads(before)


def test_more_trainings_than_cores_get_one_thread_each(tmp_path, monkeypatch):
    from trainer.tsal import sharing

    monkeypatch.setattr(sharing, "usable_cores", lambda: 2)
    monkeypatch.setattr(sharing, "_alive", lambda pid: True)
    for pid in (11, 12, 13):
        (tmp_path / str(pid)).touch()
    share = sharing.CoreShare(2, tmp_path)
    assert share.running() == 3 and share.threads() == 1


def test_the_registry_follows_the_environment(tmp_path, monkeypatch):
    from trainer.tsal import sharing

    monkeypatch.setenv("FACEPROP_TRAINER_DIR", str(tmp_path / "trainers"))
    assert sharing.registry() == tmp_path / "trainers"
    monkeypatch.delenv("FACEPROP_TRAINER_DIR")
    assert sharing.registry().name.startswith("faceprop-trainers-")
