"""A TSAL run keeps a shot change its flow prior found (issue 12 §2): the final smoother does
not smooth across it, so the frames around a dissolve follow one face each (CPU, tiny clip)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np

from core import metrics
from core.video import VideoReader
from evaluation.bench import read_ground_truth
from evaluation.synthetic.clip import make_clip
from tests.trainer.test_validation import TINY
from trainer.tsal import run


def test_the_final_track_is_not_smoothed_across_a_dissolve(tmp_path) -> None:
    make_clip(tmp_path, None, frames=40, stride=10, difficulty="easy", seed=2, size=(160, 120),
              cuts=1, dissolve=8)
    with VideoReader(tmp_path / "vid.avi") as reader:
        frames = [reader.frame(i) for i in range(40)]
    gt = read_ground_truth(tmp_path, 40)
    cut = json.loads((tmp_path / "clip.json").read_text())["cuts"][0]
    keys = {t: gt[t] for t in (0, 14, 26, 39)}
    result = run(frames.__getitem__, 40, keys, replace(TINY, steps=20, scale_steps=False))
    final = result["final"]
    [found] = final.info["transitions"]
    assert abs(found - cut) <= 1
    around = np.arange(15, 26)
    assert np.asarray(metrics.nme(final.points[around], gt[around])).max() < 0.1
