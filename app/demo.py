"""The demo project: a synthetic 300VW clip with a few keyframes, imported into a new project.

Uses ``evaluation.synthetic.make_clip`` when it exists; otherwise draws a simple moving face itself
(also the small fixture clip the GUI tests use).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np

from core.formats.pts import write_pts
from core.formats.vw300 import frame_file_name, import_300vw
from core.landmarks import EDGES, Box, fit_mean_shape_to_box
from core.store import Project
from core.store.liveness import pid_alive

logger = logging.getLogger(__name__)

DEMO_PREFIX = "faceprop-demo-"  # the temporary folders demo projects live in


def _face_points(t: float, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    face_h = 0.55 * height
    box = Box(0.0, 0.0, face_h * 0.8, face_h)
    shape = fit_mean_shape_to_box(box).astype(np.float64)
    shape -= shape.mean(axis=0)
    angle = 0.12 * math.sin(2 * math.pi * t / 50.0)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    centre = np.array([width / 2 + 0.12 * width * math.sin(2 * math.pi * t / 80.0),
                       height / 2 + 0.05 * height * math.cos(2 * math.pi * t / 60.0)])
    return (shape @ rot.T + centre).astype(np.float32)


def _background(size: tuple[int, int]) -> np.ndarray:
    width, height = size
    ys, xs = np.mgrid[0:height, 0:width]
    base = (60 + 50 * xs / width + 30 * ys / height).astype(np.uint8)
    return np.dstack([base, (base * 0.9).astype(np.uint8), (base * 0.7).astype(np.uint8)])


def _draw(points: np.ndarray, background: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    image = background.copy()
    hull = cv2.convexHull(points.astype(np.int32))
    cv2.fillConvexPoly(image, hull, (120, 160, 215))
    top = points[17:27].mean(axis=0)
    cv2.ellipse(image, (int(top[0]), int(top[1])), (int(np.ptp(points[:, 0]) / 2),
                int(np.ptp(points[:, 1]) / 3)), 0, 180, 360, (40, 50, 70), -1)
    for a, b in EDGES:
        cv2.line(image, tuple(points[a].astype(int)), tuple(points[b].astype(int)),
                 (40, 40, 90), 2, cv2.LINE_AA)
    for eye in (points[36:42], points[42:48]):
        cv2.fillConvexPoly(image, eye.astype(np.int32), (245, 245, 245))
        c = eye.mean(axis=0)
        cv2.circle(image, (int(c[0]), int(c[1])), 3, (40, 30, 20), -1)
    noise = rng.integers(0, 12, size=image.shape, dtype=np.uint8)
    return cv2.subtract(cv2.add(image, noise), np.full_like(image, 6))


def write_fixture_clip(out_dir: str | Path, frames: int = 30, stride: int = 10,
                       size: tuple[int, int] = (320, 240), seed: int = 0) -> Path:
    """A 300VW clip folder: MJPG ``vid.avi``, keyframes every ``stride`` frames in ``annot/``
    (always including the last frame) and every frame in ``gt/``."""
    folder = Path(out_dir)
    (folder / "annot").mkdir(parents=True, exist_ok=True)
    (folder / "gt").mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    background = _background(size)
    writer = cv2.VideoWriter(str(folder / "vid.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25.0,
                             size)
    try:
        for i in range(frames):
            points = _face_points(float(i), size)
            writer.write(_draw(points, background, rng))
            write_pts(folder / "gt" / frame_file_name(i), points)
            if i % stride == 0 or i == frames - 1:
                write_pts(folder / "annot" / frame_file_name(i), points)
    finally:
        writer.release()
    return folder


def make_demo_clip(out_dir: Path, frames: int = 120, stride: int = 15,
                   size: tuple[int, int] = (640, 480)) -> Path:
    try:
        from evaluation.synthetic import make_clip  # type: ignore[attr-defined]
    except ImportError:
        make_clip = None
    if make_clip is not None:
        try:
            result = make_clip(out_dir, frames=frames, stride=stride, size=size, seed=0)
            folder = Path(result) if isinstance(result, (str, Path)) else Path(out_dir)
            if (folder / "annot").is_dir():
                return folder
        except Exception:  # the synthetic package is optional here: fall back, but say so
            logger.exception("evaluation.synthetic.make_clip failed; drawing a simple demo face")
    return write_fixture_clip(out_dir, frames=frames, stride=stride, size=size)


def remove_stale_demo_folders(temp: Path | None = None) -> list[Path]:
    """Remove the demo folders of FaceProp processes that are gone (killed before they could
    clean up): ``faceprop-demo-<pid>-*`` in the temporary folder. Returns what was removed."""
    removed = []
    for folder in Path(temp or tempfile.gettempdir()).glob(f"{DEMO_PREFIX}*-*"):
        pid = folder.name[len(DEMO_PREFIX):].split("-", 1)[0]
        if folder.is_dir() and pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def new_demo_folder() -> Path:
    """A fresh temporary folder for a demo project, named after this process; demo folders
    that killed FaceProp processes left behind are removed first."""
    remove_stale_demo_folders()
    return Path(tempfile.mkdtemp(prefix=f"{DEMO_PREFIX}{os.getpid()}-"))


def create_demo_project(folder: str | Path | None = None) -> Path:
    """A new project in ``folder`` (a fresh temporary folder by default) with the demo clip."""
    root = Path(folder) if folder is not None else new_demo_folder()
    clip = make_demo_clip(root / "demo_clip")
    path = root / "demo.faceprop.sqlite"
    with Project.create_or_open(path) as project:
        import_300vw(project, clip)
    logger.info("demo project at %s", path)
    return path
