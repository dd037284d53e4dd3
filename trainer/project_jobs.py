"""The project model's jobs on a project (issue 13 §2): train it on every video's keyframes,
and predict a keyframe with it. The network and its training live in
:mod:`trainer.tsal.project_model`; this module reads the store and writes to it.

The model is kept beside the project, ``<project>.checkpoints/project/model.pt``, with the
(video, frame) keyframes it learnt from; a video's first propagation starts from it
(``trainer.jobs.propagate_video``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from core.errors import CancelledError, ValidationError
from core.frame_numbers import frame_label
from core.progress import Progress, ShouldStop
from core.propagation.edits import load_constraints
from core.store import Project
from trainer.jobs import project_model_path


def project_keyframes(project: Project) -> list[tuple[int, int, np.ndarray]]:
    """Every video's keyframes (all points placed or accepted) as (video, frame, points)."""
    found = []
    for video in project.videos.all():
        keyframes, _partial = load_constraints(project, video.id)
        found += [(video.id, frame, np.asarray(pts)) for frame, pts in sorted(keyframes.items())]
    return found


def train_project_model(project: Project, *, preset: str = "fast", device: str = "auto",
                        progress: Progress | None = None,
                        should_stop: ShouldStop | None = None) -> dict[str, Any]:
    """Train the project model on every keyframe of the project and save it; a summary."""
    from trainer.tsal import preset_config, project_model, select_device

    path = project_model_path(project)
    if path is None:
        raise ValidationError("the project model is kept beside the project file; a project "
                              "opened from a database URL has none")
    samples = project_keyframes(project)
    if not samples:
        raise ValidationError("no video of this project has a keyframe (a frame whose every "
                              "point is placed or accepted) to learn from")
    readers: dict[int, Any] = {}
    started = time.perf_counter()
    try:
        def frame_of(i: int) -> np.ndarray:
            video_id, frame, _ = samples[i]
            if video_id not in readers:
                readers[video_id] = project.videos.open_reader(video_id, cache_frames=1)
            return readers[video_id].frame(frame)

        trainer = project_model.train_model(
            frame_of, np.stack([pts for _, _, pts in samples]), preset_config(preset),
            progress, should_stop, select_device(device))
    finally:
        for reader in readers.values():
            reader.close()
    if trainer is None:
        raise CancelledError("stopped: the project model was not changed")
    project_model.save(path, trainer, [(v, f) for v, f, _ in samples])
    return {"model": str(path), "keyframes": len(samples),
            "videos": len({v for v, _, _ in samples}), "steps": trainer.step_count,
            "seconds": round(time.perf_counter() - started, 1)}


def _nearest_keyframe_box(project: Project, video_id: int, frame: int
                          ) -> tuple[float, float, float, float]:
    """The face box of the keyframe nearest ``frame`` (the earlier one on a tie), not
    ``frame`` itself."""
    from trainer.tsal.project_model import box_of

    keyframes, _partial = load_constraints(project, video_id)
    keyframes.pop(frame, None)
    if not keyframes:
        raise ValidationError(f"video {video_id} has no keyframe to take a face box from: "
                              "give one with --box X0 Y0 X1 Y1")
    nearest = min(keyframes, key=lambda f: (abs(f - frame), f > frame))
    return box_of(keyframes[nearest])


def predict_points(project: Project, video_id: int, frame: int,
                   box: Sequence[float] | None = None) -> dict[str, Any]:
    """The project model's 68 points for ``frame`` in ``box`` (default: the box of the
    nearest keyframe): {"points", "box", "trained_on"}; nothing is written."""
    from trainer.tsal import project_model

    video = project.videos.get(video_id)
    if not 0 <= frame < video.frame_count:
        raise ValidationError(f"video {video_id}: {frame_label(frame)} is outside the video "
                              f"(frames 1..{video.frame_count})")
    path = project_model_path(project)
    payload = project_model.load(path) if path else None
    if payload is None:
        raise ValidationError("this project has no project model yet: run `train-model` (or "
                              "Run › Train project model) after labelling some frames")
    if box is None:
        box = _nearest_keyframe_box(project, video_id, frame)
    box = project_model.check_box(box, (video.width, video.height))
    with project.videos.open_reader(video_id, cache_frames=1) as reader:
        image = reader.frame(frame)
    return {"points": project_model.predict(payload, image, box),
            "box": [round(v, 1) for v in box], "trained_on": len(payload.get("seen", []))}


def predict_keyframe(project: Project, video_id: int, frame: int,
                     box: Sequence[float] | None = None, *, replace: bool = False
                     ) -> dict[str, Any]:
    """:func:`predict_points`, stored as a detector label (every point "predicted", for the
    person to correct); refuses a labelled frame unless ``replace``."""
    if project.labels.get(video_id, frame) is not None and not replace:
        raise ValidationError(f"video {video_id} {frame_label(frame)} already has labels; "
                              "use --replace to overwrite them with a prediction")
    result = predict_points(project, video_id, frame, box)
    project.labels.set(video_id, frame, result.pop("points"), source="detector")
    return {"video_id": video_id, "frame": frame, **result}
