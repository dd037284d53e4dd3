"""The project model: trained on every video's keyframes, kept beside the project (written,
loaded, whole after a kill), the start of a new video's first propagation, and Predict
keyframe (CPU, tiny preset)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core.formats.pts import read_pts
from core.formats.vw300 import import_300vw
from core.review_states import PREDICTED
from core.store import Project
from evaluation.synthetic.clip import make_clip
from main import run_command
from tests.conftest import REPO_ROOT
from trainer import jobs
from trainer.jobs import project_model_path
from trainer.project_jobs import predict_keyframe, train_project_model
from trainer.tsal import PRESETS, checkpoint, project_model

TINY = replace(PRESETS["fast"], crop=48, width=8, steps=24, batch_labelled=6, clips_per_step=2,
               clip_len=3, lr=4e-3, scale_steps=False)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("model_clips")
    for seed in (4, 5, 6):  # three procedural faces
        make_clip(root / f"face{seed}", frames=30, stride=10, difficulty="easy", seed=seed,
                  size=(240, 180))
    return [root / f"face{seed}" for seed in (4, 5, 6)]


@pytest.fixture
def project_path(tmp_path: Path, clips: list[Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setitem(PRESETS, "fast", TINY)
    monkeypatch.setattr(project_model, "MIN_STEPS", 20)
    monkeypatch.setattr(project_model, "STEPS_PER_KEYFRAME", 2)  # 8 keyframes: the minimum
    path = tmp_path / "p.faceprop.sqlite"
    with Project.create_or_open(path) as project:
        for clip in clips[:2]:
            import_300vw(project, clip)
    return path


def test_model_config_scales_steps_and_trains_supervised() -> None:
    cfg = project_model.model_config(PRESETS["fast"], 4)
    assert cfg.steps == project_model.MIN_STEPS and not cfg.use_semi and not cfg.stop_early
    assert project_model.model_config(PRESETS["fast"], 10_000).steps == project_model.MAX_STEPS
    assert cfg.aug_rotate_deg > PRESETS["fast"].aug_rotate_deg


def test_train_model_writes_a_checkpoint_with_the_frames_it_saw(project_path, capsys) -> None:
    assert run_command(["--json", "train-model", "--project", str(project_path)]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()
              if line.startswith("{")]
    assert {"crops", "train"} <= {e.get("phase") for e in events if e["event"] == "progress"}
    with Project.open(project_path) as project:
        path = project_model_path(project)
        keyframes = sum(len(project.labels.frames(v.id)) for v in project.videos.all())
    payload = project_model.load(path, TINY)
    assert payload is not None and len(payload["seen"]) == keyframes
    assert payload["step"] == 20 and checkpoint.config_of(payload).crop == TINY.crop


def test_a_new_video_starts_from_the_project_model(project_path, clips) -> None:
    with Project.open(project_path) as project:
        train_project_model(project)
        video_id = import_300vw(project, clips[2])[0].video_id
        first = jobs.propagate_video(project, video_id, "final")
        again = jobs.propagate_video(project, video_id, "final")
    assert first.metrics["start"] == "project"
    assert again.metrics["start"] == "warm"  # then from its own checkpoint


def test_predict_keyframe_places_predicted_points_in_the_box(project_path, clips) -> None:
    with Project.open(project_path) as project:
        with pytest.raises(Exception, match="no project model yet"):
            predict_keyframe(project, 1, 5)
        train_project_model(project)
        video_id = import_300vw(project, clips[2])[0].video_id
        truth = read_pts(clips[2] / "gt" / "000006.pts")
        box = project_model.box_of(truth)
        result = predict_keyframe(project, video_id, 5, box)
        label = project.labels.get(video_id, 5)
        assert label.source == "detector" and np.all(label.states == PREDICTED)
        assert result["trained_on"] > 0
        # inside the box it was given, near the truth's centre (a tiny model: a rough guess)
        centre = label.points.mean(axis=0)
        assert box[0] < centre[0] < box[2] and box[1] < centre[1] < box[3]
        with pytest.raises(Exception, match="already has labels"):
            predict_keyframe(project, video_id, 5, box)
        # the default box is the nearest keyframe's
        assert predict_keyframe(project, video_id, 5, replace=True)["box"] != list(box)
        with pytest.raises(Exception, match="at least 8 pixels"):
            predict_keyframe(project, video_id, 6, (10, 10, 12, 40))
        with pytest.raises(Exception, match="outside the"):
            predict_keyframe(project, video_id, 6, (900, 900, 990, 990))


def test_cli_predict_keyframe_errors_are_clear(project_path, capsys) -> None:
    code = run_command(["predict-keyframe", "7", "--video", "1", "--project", str(project_path)])
    assert code == 2 and "train-model" in capsys.readouterr().err


def test_a_killed_training_leaves_the_previous_model_whole(project_path) -> None:
    with Project.open(project_path) as project:
        train_project_model(project)
        path = project_model_path(project)
    before = path.read_bytes()
    # the real fast preset in a child process: killed as soon as it trains
    proc = subprocess.Popen([sys.executable, "main.py", "--json", "train-model", "--project",
                             str(project_path)], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        for line in proc.stdout:
            if '"train"' in line:
                break
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert path.read_bytes() == before
    assert project_model.load(path, TINY) is not None
