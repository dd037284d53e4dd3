"""The TSAL propagation job as users run it: CLI protocol, checkpoints, warm start, stop and
resume, device errors, out-of-memory retries and a killed trainer (CPU, tiny preset)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import FacePropError
from core.formats.vw300 import import_300vw
from core.store import Project
from evaluation.synthetic.clip import make_clip
from main import run_command
from tests.conftest import REPO_ROOT
from trainer import jobs
from trainer.tsal import PRESETS
from trainer.tsal.loop import Trainer

# a fixed step count (no budget from the frames): these tests count steps across stops
TINY = replace(PRESETS["fast"], crop=48, width=8, steps=24, batch_labelled=6, clips_per_step=2,
               clip_len=3, lr=4e-3, scale_steps=False)


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("job_clip") / "clip"
    make_clip(out, frames=30, stride=10, difficulty="easy", seed=4, size=(240, 180))
    return out


@pytest.fixture
def project_path(tmp_path: Path, clip_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setitem(PRESETS, "fast", TINY)
    path = tmp_path / "p.faceprop.sqlite"
    with Project.create_or_open(path) as project:
        import_300vw(project, clip_dir)
    return path


def training(run) -> dict:
    """How a run trained (its other metrics, e.g. the held-out estimate, aside)."""
    return {key: run.metrics[key] for key in ("start", "steps")}


def _events(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_cli_propagate_reports_phases_losses_and_writes_a_run(project_path, capsys) -> None:
    assert run_command(["--json", "propagate", "--project", str(project_path)]) == 0
    events = _events(capsys.readouterr().out)
    progress = [e for e in events if e["event"] == "progress"]
    assert {"flow", "train", "predict"} <= {e["phase"] for e in progress}
    train = [e for e in progress if e["phase"] == "train"]
    assert all({"step", "total", "eta_s", "losses"} <= set(e) for e in train)
    assert all(math.isfinite(v) for v in train[-1]["losses"].values())
    assert "t_loss" in train[-1]["losses"] and "s_loss" in train[-1]["losses"]
    assert events[-1]["event"] == "done" and events[-1]["result"]["statuses"] == ["done"]
    with Project.open(project_path) as project:
        run = project.runs.latest(1)
        assert run.method == "final" and run.device == "cpu"
        assert run.config["preset"] == "fast" and run.config["steps"] == TINY.steps
        assert training(run) == {"start": "cold", "steps": TINY.steps}
        assert run.metrics["trust"] == [1.0]  # 4 keyframes: too few for a held-out check
        assert run.metrics["phi"] == ["lk"]  # the default tracker, stored per face segment
        assert run.checkpoint_path and Path(run.checkpoint_path).exists()
        labels = project.runs.pseudo_labels(run.id)
        assert labels.points.shape == (30, 68, 2)
        stats = project.runs.frame_stats(run.id)
        for name in ("teacher_student", "detection_tracking", "forward_backward",
                     "suggestion_score"):
            assert name in stats.values and np.all(np.isfinite(stats[name]))


def test_second_propagate_warm_starts_with_a_fraction_of_the_steps(project_path) -> None:
    with Project.open(project_path) as project:
        first = jobs.propagate_video(project, 1, "final")
        # the annotator corrects one frame: a new keyframe
        project.labels.set(1, 5, project.runs.pseudo_labels(first.id).points[5] + 0.5)
        second = jobs.propagate_video(project, 1, "final")
    warm_steps = math.ceil(TINY.steps * TINY.warm_fraction)
    assert first.metrics["start"] == "cold"
    assert training(second) == {"start": "warm", "steps": warm_steps}
    assert second.parent_run_id == first.id and second.status == "done"


def test_stop_keeps_results_and_resume_finishes_the_training(project_path) -> None:
    seen: list[int] = []

    def progress(step: int, total: int, phase: str | None = None, losses=None) -> None:
        if phase == "train":
            seen.append(step)

    with Project.open(project_path) as project:
        stopped = jobs.propagate_video(project, 1, "final", progress=progress,
                                       should_stop=lambda: len(seen) >= 2)
        assert stopped.status == "stopped" and "--resume" in stopped.message
        assert 0 < stopped.metrics["steps"] < TINY.steps
        assert Path(stopped.checkpoint_path).name == "resume.pt"
        assert project.runs.pseudo_labels(stopped.id).points.shape == (30, 68, 2)
        resumed = jobs.propagate_video(project, 1, "final", resume=True)
        assert resumed.status == "done"
        assert training(resumed) == {"start": "resume", "steps": TINY.steps}
        assert not Path(stopped.checkpoint_path).exists()  # consumed; latest.pt replaces it


def test_propagate_after_a_stop_continues_unless_keyframes_changed(project_path) -> None:
    """The GUI's Stop, then Propagate (no --resume): the stopped job goes on; after an edit
    its networks warm-start the new job instead."""
    seen: list[int] = []

    def progress(step: int, total: int, phase: str | None = None, losses=None) -> None:
        if phase == "train":
            seen.append(step)

    def stop_soon() -> bool:
        return len(seen) >= 2

    with Project.open(project_path) as project:
        assert jobs.propagate_video(project, 1, "final", progress=progress,
                                    should_stop=stop_soon).status == "stopped"
        continued = jobs.propagate_video(project, 1, "final")
        assert training(continued) == {"start": "resume", "steps": TINY.steps}
        seen.clear()
        # stop a fresh job, then edit a keyframe: the stopped job is not resumed as it was
        Path(continued.checkpoint_path).unlink()  # no finished training to warm-start from
        assert jobs.propagate_video(project, 1, "final", progress=progress,
                                    should_stop=stop_soon).status == "stopped"
        project.labels.set(1, 5, project.labels.get(1, 0).points + 1.0)
        edited = jobs.propagate_video(project, 1, "final")
    assert training(edited) == {"start": "warm",
                                "steps": math.ceil(TINY.steps * TINY.warm_fraction)}


def test_resume_without_a_stopped_job_is_a_clear_error(project_path, capsys) -> None:
    assert run_command(["propagate", "--project", str(project_path), "--resume"]) == 2
    assert "no stopped propagation to resume" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_requested_but_absent_fails_before_a_run_is_recorded(project_path, capsys) -> None:
    assert run_command(["propagate", "--project", str(project_path), "--device", "cuda"]) == 2
    assert "CUDA was requested" in capsys.readouterr().err
    with Project.open(project_path) as project:
        assert project.runs.all() == []


def test_out_of_memory_halves_the_batch_then_fails_clearly(project_path, monkeypatch) -> None:
    real_step = Trainer.step
    batches: list[int] = []

    def step_with_one_oom(self, batch):
        batches.append(len(batch.images))
        if len(batches) == 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_step(self, batch)

    monkeypatch.setattr(Trainer, "step", step_with_one_oom)
    with Project.open(project_path) as project:
        run = jobs.propagate_video(project, 1, "final", checkpoints=False)
        assert run.status == "done"
        assert batches[0] == TINY.batch_labelled and batches[1] == TINY.batch_labelled // 2

        def always_oom(self, batch):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

        monkeypatch.setattr(Trainer, "step", always_oom)
        with pytest.raises(FacePropError, match="out of GPU memory"):
            jobs.propagate_video(project, 1, "teacher", checkpoints=False, seed=3)
        assert project.runs.all()[-1].status == "failed"
        assert project.runs.latest(1).id == run.id


def test_sigkill_mid_training_leaves_the_project_consistent(project_path) -> None:
    with Project.open(project_path) as project:
        earlier = jobs.propagate_video(project, 1, "interpolation")
    script = ("import sys; from dataclasses import replace; import trainer.tsal as t; "
              "t.PRESETS['fast'] = replace(t.PRESETS['fast'], crop=48, width=8, steps=100000, "
              "batch_labelled=4, clips_per_step=1, clip_len=3); import main; "
              "sys.exit(main.run_command(sys.argv[1:]))")
    proc = subprocess.Popen([sys.executable, "-c", script, "--json", "propagate", "--project",
                             str(project_path)], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    try:
        for line in proc.stdout:
            if '"phase": "train"' in line:
                break
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    with Project.open(project_path) as project:
        # shown as failed at once (its process is gone), before anything marks it so
        assert project.runs.all()[-1].status == "failed"
        assert project.runs.mark_abandoned() == [project.runs.all()[-1].id]
        runs = project.runs.all()
        assert runs[-1].status == "failed"
        assert project.runs.latest(1).id == earlier.id
        assert project.runs.pseudo_labels(earlier.id).points.shape == (30, 68, 2)
