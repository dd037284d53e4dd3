"""The progress a real (tiny) propagation reports: monotone steps against a total known before
training, ending exactly at total/total, for TSAL (cold, stopped, resumed, warm-started with
self-distillation) and for the baselines."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from core.formats.vw300 import import_300vw
from core.store import Project
from evaluation.synthetic.clip import make_clip
from main import run_command
from trainer import jobs
from trainer.tsal import PRESETS
from trainer.tsal.propagate import PREDICT_BATCH

TINY = replace(PRESETS["fast"], crop=48, width=8, steps=6, batch_labelled=4, clips_per_step=1,
               clip_len=3, lr=4e-3)
FRAMES = 20
#: Frames the held-out tracking visits: keyframes 0, 10, 19 hold out 10, tracked over 0..19.
HELD_OUT = 20


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("stream_clip") / "clip"
    make_clip(out, frames=FRAMES, stride=10, difficulty="easy", seed=4, size=(200, 150))
    return out


@pytest.fixture
def project_path(tmp_path: Path, clip_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setitem(PRESETS, "fast", TINY)
    path = tmp_path / "p.faceprop.sqlite"
    with Project.create_or_open(path) as project:
        import_300vw(project, clip_dir)
    return path


class Recorder:
    """A progress callback that keeps every (step, total, phase) it is given."""

    def __init__(self, stop_after_train_reports: int | None = None) -> None:
        self.events: list[tuple[int, int, str | None]] = []
        self._stop_after = stop_after_train_reports

    def __call__(self, step: int, total: int, phase: str | None = None, losses=None) -> None:
        self.events.append((step, total, phase))

    def should_stop(self) -> bool:
        trained = sum(phase == "train" for _, _, phase in self.events)
        return self._stop_after is not None and trained >= self._stop_after


def assert_ends_at_total(events: list[tuple[int, int, str | None]], *,
                         constant_total: bool = True) -> None:
    steps = [step for step, _, _ in events]
    totals = [total for _, total, _ in events]
    assert events, "no progress reported"
    assert all(b >= a for a, b in pairwise(steps)), steps
    assert all(0 <= step <= total for step, total, _ in events)
    if constant_total:
        assert len(set(totals)) == 1, totals
    assert steps[-1] == totals[-1]
    assert events.count(events[-1]) == 1  # the end is reported once


def phases(events: list[tuple[int, int, str | None]]) -> list[str | None]:
    """The phases in the order they report, each once."""
    seen: list[str | None] = []
    for _, _, phase in events:
        if not seen or seen[-1] != phase:
            seen.append(phase)
    return seen


def test_cli_events_of_a_tsal_run_are_monotone_and_end_at_total(project_path, capsys) -> None:
    assert run_command(["--json", "propagate", "--project", str(project_path)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()
             if line.startswith("{")]
    progress = [e for e in lines if e["event"] == "progress"]
    events = [(e["step"], e["total"], e["phase"]) for e in progress]
    assert_ends_at_total(events)
    batches = math.ceil(FRAMES / PREDICT_BATCH)
    # flow, held-out tracking, crops, train, predict x2
    assert events[-1][1] == 2 * FRAMES + HELD_OUT + TINY.steps + 2 * batches
    assert phases(events) == ["flow", "held-out", "crops", "train", "predict"]
    assert progress[-1]["eta_s"] == 0.0
    assert all(e["eta_s"] is None or e["eta_s"] >= 0 for e in progress)


def test_stopped_resumed_and_warm_started_runs_end_at_total(project_path) -> None:
    batches = math.ceil(FRAMES / PREDICT_BATCH)
    with Project.open(project_path) as project:
        # stopped: the plan shrinks once to what the job then does, and the stream ends there
        stopping = Recorder(stop_after_train_reports=1)
        stopped = jobs.propagate_video(project, 1, "final", progress=stopping,
                                       should_stop=stopping.should_stop)
        assert stopped.status == "stopped"
        assert_ends_at_total(stopping.events, constant_total=False)
        totals = [total for _, total, _ in stopping.events]
        assert len(set(totals)) == 2 and totals[0] > totals[-1]
        trained = stopped.metrics["steps"]
        assert totals[-1] == 2 * FRAMES + HELD_OUT + trained + 2 * batches

        # resumed: only the steps still to train are planned
        resuming = Recorder()
        resumed = jobs.propagate_video(project, 1, "final", progress=resuming, resume=True)
        assert (resumed.metrics["start"], resumed.metrics["steps"]) == ("resume", TINY.steps)
        assert resumed.metrics["held_out_keyframes"] >= 1  # a finished run has its estimate
        assert "estimated_nme" not in stopped.metrics  # a stopped one has none
        assert_ends_at_total(resuming.events)
        left = TINY.steps - trained
        assert resuming.events[-1][1] == 2 * FRAMES + HELD_OUT + left + 2 * batches

        # warm start with self-distillation: a fraction of the steps, distillation, 3 networks
        project.labels.set(1, 5, project.runs.pseudo_labels(resumed.id).points[5] + 0.5)
        warming = Recorder()
        warm = jobs.propagate_video(project, 1, "teacher+sd", progress=warming)
        assert warm.metrics["start"] == "warm"
    assert_ends_at_total(warming.events)
    assert phases(warming.events) == ["flow", "held-out", "crops", "train", "distill", "predict"]
    warm_steps = math.ceil(TINY.steps * TINY.warm_fraction)
    sd_steps = max(1, round(TINY.steps * TINY.sd_fraction))
    held_out = 11 + 15  # keyframe 5 added: 5 held out over 0..10, 10 over 5..19
    assert warming.events[-1][1] == (2 * FRAMES + held_out + warm_steps + 2 * (batches + sd_steps)
                                     + 3 * batches)


@pytest.mark.parametrize("method", ["interpolation", "flow", "flow_dis"])
def test_baseline_streams_are_monotone_and_end_at_total(project_path, method) -> None:
    recorder = Recorder()
    with Project.open(project_path) as project:
        run = jobs.propagate_video(project, 1, method, progress=recorder)
    assert run.status == "done"
    assert_ends_at_total(recorder.events)


def test_crops_kept_in_a_file_give_the_same_run(project_path) -> None:
    with Project.open(project_path) as project:
        in_memory = jobs.propagate_video(project, 1, "final", checkpoints=False)
        in_a_file = jobs.propagate_video(project, 1, "final", checkpoints=False,
                                         crop_memory_mb=0)
        np.testing.assert_array_equal(project.runs.pseudo_labels(in_memory.id).points,
                                      project.runs.pseudo_labels(in_a_file.id).points)
        # with checkpoints the file goes beside them, in a folder made for it
        assert jobs.propagate_video(project, 1, "final", crop_memory_mb=0).status == "done"
    assert run_command(["propagate", "--project", str(project_path),
                        "--crop-memory", "-1"]) == 2
