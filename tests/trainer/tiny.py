"""What the trainer tests share: the tiny network and schedule, and a small synthetic clip read
into memory."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from core.formats.pts import read_pts
from core.video import VideoReader
from evaluation.synthetic.clip import make_clip
from trainer.tsal import PRESETS

#: The fast preset shrunk to train in a few seconds on a CPU.
TINY = replace(PRESETS["fast"], crop=48, width=8, steps=60, batch_labelled=8, clips_per_step=2,
               clip_len=3, lr=4e-3)


def easy_clip(out: Path, frames: int, seed: int, stride: int = 10) -> dict:
    """An easy 320 × 240 clip with a keyframe every ``stride`` frames, decoded: {"frame", "gt",
    "keys", "n"}."""
    make_clip(out, frames=frames, stride=stride, difficulty="easy", seed=seed, size=(320, 240))
    gt = np.stack([read_pts(p) for p in sorted((out / "gt").glob("*.pts"))])
    keys = {int(p.stem) - 1: read_pts(p) for p in sorted((out / "annot").glob("*.pts"))}
    with VideoReader(out / "vid.avi") as reader:
        decoded = [reader.frame(i) for i in range(len(gt))]
    return {"frame": decoded.__getitem__, "gt": gt, "keys": keys, "n": len(gt)}
