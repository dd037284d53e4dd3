"""The benchmark: report structure, exactness of interpolation on linear motion, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.errors import FormatError, ValidationError
from core.formats.pts import write_pts
from core.landmarks import mean_shape
from evaluation.bench import run_benchmark
from main import run_command


def linear_motion_clip(folder: Path, frames: int = 30, stride: int = 10) -> Path:
    """A textured face-sized patch moving at constant velocity, with exact ground truth."""
    (folder / "annot").mkdir(parents=True)
    (folder / "gt").mkdir()
    rng = np.random.default_rng(3)
    texture = cv2.GaussianBlur(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8), (5, 5), 0)
    base = mean_shape() * 60 + [120, 80]
    writer = cv2.VideoWriter(str(folder / "vid.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25,
                             (320, 240))
    for t in range(frames):
        shift = np.array([1.5 * t, 0.5 * t])
        matrix = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
        writer.write(cv2.warpAffine(texture, matrix, (320, 240), borderMode=cv2.BORDER_REFLECT))
        points = base + shift
        write_pts(folder / "gt" / f"{t + 1:06d}.pts", points)
        if t % stride == 0 or t == frames - 1:
            write_pts(folder / "annot" / f"{t + 1:06d}.pts", points)
    writer.release()
    return folder


def test_tiny_bench_writes_a_complete_report(tmp_path, capsys):
    out = tmp_path / "bench"
    code = run_command(["bench", "--frames", "30", "--stride", "10", "--count", "1",
                        "--size", "320x240", "--methods", "interpolation,flow", "--out",
                        str(out)])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["methods"] == ["interpolation", "flow"]
    assert len(report["results"]) == 2
    row = report["results"][0]
    for column in ("nme_percent", "auc", "failure_rate", "sigma1_pred", "sigma1_gt",
                   "error_jitter", "seconds", "s_per_frame", "device"):
        assert column in row
    assert row["scored_frames"] == 30 - 4  # keyframes 0, 10, 20 and the last frame
    markdown = (out / "report.md").read_text()
    assert "## Average over clips" in markdown and "| flow |" in markdown
    for chart in ["ced.png", f"error_{report['clips'][0]}.png"]:
        image = cv2.imread(str(out / chart))
        assert image is not None and image.std() > 10  # something was drawn
    assert "NME %" in capsys.readouterr().out


def test_interpolation_is_exact_on_linear_motion(tmp_path):
    linear_motion_clip(tmp_path / "clips" / "linear")
    report = run_benchmark(tmp_path / "clips", ["interpolation", "flow"], tmp_path / "out",
                           settings={}, log=lambda _m: None)
    by_method = {r["method"]: r for r in report["results"]}
    assert by_method["interpolation"]["nme_percent"] < 1e-3
    assert by_method["interpolation"]["failure_rate"] == 0.0
    assert by_method["flow"]["nme_percent"] < 2.0  # tracking follows a pure translation


def test_bad_clips_and_methods_are_clear_errors(tmp_path):
    clip = linear_motion_clip(tmp_path / "clips" / "linear", frames=12)
    with pytest.raises(ValidationError, match="unknown method 'magic'"):
        run_benchmark(tmp_path / "clips", ["magic"], tmp_path / "out", settings={},
                      log=print)
    (clip / "gt" / "000012.pts").unlink()
    with pytest.raises(FormatError, match=r"gt/ has 11 files but vid\.avi decodes to 12"):
        run_benchmark(tmp_path / "clips", ["interpolation"], tmp_path / "out", settings={},
                      log=print)
    shutil.rmtree(clip / "gt")
    with pytest.raises(FormatError, match="no gt/ folder"):
        run_benchmark(tmp_path / "clips", ["interpolation"], tmp_path / "out", settings={},
                      log=print)
