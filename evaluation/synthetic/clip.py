"""Assemble synthetic benchmark clips with exact ground truth, in the 300VW folder layout.

``make_clip`` writes ``vid.avi`` (MJPG, 30 fps), ``annot/NNNNNN.pts`` keyframes every ``stride``
frames plus the last frame, ``gt/NNNNNN.pts`` for every frame (six-digit, 1-based names:
``000001.pts`` is frame 0) and ``clip.json`` describing how the clip was made. The ground truth of
frame t is exactly the landmark positions the mesh warp moved the face to. ``make_clips`` makes one
clip per face photo in a folder, or a number of procedurally drawn ones.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import CancelledError, FormatError, ValidationError, VideoError
from core.formats.pts import write_pts
from core.landmarks import inter_ocular_distance
from core.progress import Progress, ShouldStop
from core.video import write_video
from evaluation.synthetic.face import FaceSource, find_faces, load_face
from evaluation.synthetic.motion import EXPRESSIONS, FPS, MOTIONS, SETTINGS
from evaluation.synthetic.scene import ClipRenderer
from evaluation.synthetic.shots import ShotRenderer

logger = logging.getLogger(__name__)



@dataclass(frozen=True)
class ClipInfo:
    """What ``make_clip`` wrote. ``keyframes`` are 0-based frame indices, ``size`` is (w, h)."""

    path: Path
    frames: int
    stride: int
    keyframes: list[int]
    size: tuple[int, int]
    difficulty: str
    seed: int
    face_name: str
    occluded_frames: range | None


def keyframe_indices(frames: int, stride: int) -> list[int]:
    """Every ``stride``-th frame from 0, plus the last frame."""
    keys = list(range(0, frames, stride))
    if keys[-1] != frames - 1:
        keys.append(frames - 1)
    return keys


def pts_name(frame: int) -> str:
    """The 300VW file name of a 0-based frame: ``000001.pts`` is frame 0."""
    return f"{frame + 1:06d}.pts"


def validate_clip_args(frames: int, stride: int, difficulty: str, size: tuple[int, int],
                       motion: str = "smooth") -> None:
    """Raise ValidationError naming the first bad argument."""
    if difficulty not in SETTINGS:
        raise ValidationError(f"difficulty must be one of {sorted(SETTINGS)}, got {difficulty!r}")
    if motion not in MOTIONS:
        raise ValidationError(f"motion must be one of {list(MOTIONS)}, got {motion!r}")
    if int(frames) < 2:
        raise ValidationError(f"frames must be at least 2, got {frames}")
    if int(stride) < 1:
        raise ValidationError(f"stride must be at least 1, got {stride}")
    if len(size) != 2 or int(size[0]) < 64 or int(size[1]) < 48:
        raise ValidationError(f"size must be (width, height) of at least 64x48, got {size}")


def _clear_previous(out_dir: Path, frames: int, keyframes: list[int]) -> None:
    """Remove what an earlier clip in ``out_dir`` left that this one will not overwrite."""
    wanted = {"annot": {pts_name(t) for t in keyframes},
              "gt": {pts_name(t) for t in range(frames)}}
    for sub, names in wanted.items():
        for old in (out_dir / sub).glob("*.pts"):
            if old.name not in names:
                old.unlink()
    (out_dir / "clip.json").unlink(missing_ok=True)


def make_clip(out_dir: str | os.PathLike[str], face: FaceSource | None = None, frames: int = 300,
              stride: int = 10, difficulty: str = "easy", seed: int = 0,
              size: tuple[int, int] = (640, 480), progress: Progress | None = None,
              should_stop: ShouldStop | None = None,
              leave: tuple[int, int] | None = None, cuts: int = 0, dissolve: int = 0,
              motion: str = "smooth", fade: int = 0) -> ClipInfo:
    """Write one synthetic clip into ``out_dir`` and describe it; same arguments, same files.

    ``face`` None draws a procedural face for ``seed``. ``leave`` (first, last): the camera
    pans away so that the face is out of the image on those frames (it slides out over the
    ``LEAVE_RAMP`` frames before and back in over those after); no keyframe is written where
    any point is outside the image. ``clip.json`` is written last, so a folder without it is an
    interrupted clip. ``cuts`` > 0 makes a film of ``cuts + 1`` shots of other faces
    (``evaluation.synthetic.shots``; ``dissolve`` frames of cross-dissolve or ``fade`` frames
    of fade through black at each cut, 0 for hard cuts), each shot's first frame a keyframe
    (with a fade, the first and last frames at full brightness around it instead). ``motion``
    is one of ``evaluation.synthetic.motion.MOTIONS`` ("shaky": a faster, hand-held motion). Raises
    CancelledError when ``should_stop()`` turns true.
    """
    validate_clip_args(frames, stride, difficulty, size, motion)
    frames, stride, size = int(frames), int(stride), (int(size[0]), int(size[1]))
    if dissolve and fade:
        raise ValidationError("a cut is a dissolve or a fade, not both: give dissolve or fade")
    renderer = (ShotRenderer(face, frames, difficulty, seed, size, cuts, dissolve, motion, fade)
                if cuts else ClipRenderer(face, frames, difficulty, seed, size, motion))
    if leave is not None:
        pan_away(renderer.scene.motion.centre, leave, size)
    out_dir = Path(out_dir)
    (out_dir / "annot").mkdir(parents=True, exist_ok=True)
    (out_dir / "gt").mkdir(parents=True, exist_ok=True)
    keyframes = keyframe_indices(frames, stride)
    if cuts:
        half = (int(fade) + 1) // 2  # a keyframe is never a black frame of a fade
        cuts_at = renderer.cuts
        keyframes = sorted(set(keyframes) | set(renderer.starts) - set(cuts_at)
                           | {c + half for c in cuts_at} | {c - 1 - half for c in cuts_at})
        keyframes = [k for k in keyframes if 0 <= k < frames and not any(
            c - half <= k < c + half for c in cuts_at)]
    _clear_previous(out_dir, frames, keyframes)
    keyset = set(keyframes)
    occluded_points: dict[str, list[int]] = {}
    iods: list[float] = []

    def frames_and_labels() -> Iterator[np.ndarray]:
        for t in range(frames):
            if should_stop is not None and should_stop():
                raise CancelledError(f"{out_dir}: clip cancelled at frame {t}")
            frame = renderer.render(t)
            if len(frame.occluded):
                occluded_points[str(t)] = [int(i) for i in frame.occluded]
            iods.append(inter_ocular_distance(frame.points))
            write_pts(out_dir / "gt" / pts_name(t), frame.points)
            inside = bool(((frame.points >= 0) & (frame.points <= np.array(size) - 1)).all())
            if t in keyset and inside:
                write_pts(out_dir / "annot" / pts_name(t), frame.points)
            elif t in keyset:
                keyframes.remove(t)
            yield frame.image
            if progress is not None:
                progress(t + 1, frames)

    written = write_video(out_dir / "vid.avi", frames_and_labels(), FPS,
                          quality=renderer.settings.jpeg_quality)
    if written != frames:
        raise VideoError(f"{out_dir / 'vid.avi'}: wrote {written} of {frames} frames")
    occluder = renderer.occluder
    occluded = occluder.frames if occluder is not None else None
    cfg = renderer.settings
    meta = {
        "format": "faceprop-synthetic-clip", "version": 1, "seed": int(seed),
        "difficulty": difficulty, "motion": motion, "face": renderer.face_name, "size": list(size),
        "frames": frames, "stride": stride, "fps": FPS, "keyframes": keyframes,
        "occluded_frames": [occluded.start, occluded.stop] if occluded is not None else None,
        "occluder": None if occluder is None else {"kind": occluder.kind,
                                                   "points": occluded_points},
        "expression_gains": {name: round(float(g), 3)
                             for name, g in zip(EXPRESSIONS, renderer.expression_gains)},
        "jpeg_quality": cfg.jpeg_quality, "noise_sigma": cfg.noise_sigma,
        "inter_ocular_px": [round(float(min(iods)), 2), round(float(max(iods)), 2)],
        "leave": None if leave is None else [int(leave[0]), int(leave[1])],
        "cuts": renderer.cuts if cuts else [], "dissolve": int(dissolve) if cuts else 0,
        "fade": int(fade) if cuts else 0,
    }
    (out_dir / "clip.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    logger.info("wrote %s: %d frames, %s, face %s", out_dir, frames, difficulty,
                renderer.face_name)
    return ClipInfo(path=out_dir, frames=frames, stride=stride, keyframes=keyframes, size=size,
                    difficulty=difficulty, seed=int(seed), face_name=renderer.face_name,
                    occluded_frames=occluded)


def load_clip_info(clip_dir: str | os.PathLike[str]) -> ClipInfo:
    """The ClipInfo of a clip folder, from its ``clip.json``."""
    clip_dir = Path(clip_dir)
    path = clip_dir / "clip.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        occ = meta["occluded_frames"]
        return ClipInfo(path=clip_dir, frames=int(meta["frames"]), stride=int(meta["stride"]),
                        keyframes=[int(k) for k in meta["keyframes"]],
                        size=(int(meta["size"][0]), int(meta["size"][1])),
                        difficulty=str(meta["difficulty"]), seed=int(meta["seed"]),
                        face_name=str(meta["face"]),
                        occluded_frames=range(occ[0], occ[1]) if occ else None)
    except FileNotFoundError:
        raise FormatError(f"{path}: no such file (not a finished synthetic clip)") from None
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise FormatError(f"{path}: not a valid clip description ({exc})") from None


#: Frames over which a face slides out of the image before a ``leave`` span (and back in after).
LEAVE_RAMP = 10


def pan_away(centre: np.ndarray, leave: tuple[int, int], size: tuple[int, int]) -> None:
    """Shift the face centres ``(frames, 2)`` in place so the face is a whole image width to the
    right (out of the image) on frames leave[0] … leave[1], easing out and in over
    ``LEAVE_RAMP`` frames either side."""
    first, last = int(leave[0]), int(leave[1])
    if not 0 <= first <= last < len(centre):
        raise ValidationError(f"leave {first}..{last} is outside the clip's {len(centre)} frames")
    t = np.arange(len(centre))
    into = np.clip((t - (first - LEAVE_RAMP)) / LEAVE_RAMP, 0.0, 1.0)
    back = np.clip(((last + LEAVE_RAMP) - t) / LEAVE_RAMP, 0.0, 1.0)
    weight = np.minimum(into, back)
    weight = weight * weight * (3.0 - 2.0 * weight)  # smooth start and stop
    centre[:, 0] += 1.5 * size[0] * weight


def make_clips(out_root: str | os.PathLike[str], faces_dir: str | os.PathLike[str] | None = None,
               count: int | str | None = None, frames: int = 300, stride: int = 10,
               difficulty: str = "easy", seed: int = 0, size: tuple[int, int] = (640, 480),
               progress: Progress | None = None, should_stop: ShouldStop | None = None,
               motion: str = "smooth") -> list[ClipInfo]:
    """Several clips under ``out_root``, one folder each (``<face>_<difficulty>_s<seed>``, with
    ``_shaky`` after the difficulty for that motion).

    With ``faces_dir``: one clip per photo with a same-stem ``.pts`` (``count`` None or "all" =
    all of them; a larger count cycles through the photos). Without: ``count`` procedural faces
    (default 1). Clip i uses seed ``seed + i``. ``progress`` counts frames over all clips.
    """
    validate_clip_args(frames, stride, difficulty, size, motion)
    photos = find_faces(faces_dir) if faces_dir is not None else []
    if faces_dir is not None and not photos:
        raise FormatError(f"{faces_dir}: no *.png/*.jpg with a same-stem .pts file")
    if count == "all":
        count = None
    if count is not None and not isinstance(count, int):
        raise ValidationError(f"count must be a number of clips or 'all', got {count!r}")
    n = count if count is not None else (len(photos) if photos else 1)
    if n < 1:
        raise ValidationError(f"count must be at least 1, got {n}")
    out_root = Path(out_root)
    infos = []
    for i in range(n):
        face = load_face(photos[i % len(photos)]) if photos else None
        clip_seed = seed + i
        name = face.name if face is not None else f"procedural-{clip_seed}"

        def step(done: int, total: int, base: int = i * frames) -> None:
            if progress is not None:
                progress(base + done, n * frames)

        kind = "" if motion == "smooth" else f"_{motion}"
        infos.append(make_clip(out_root / f"{name}_{difficulty}{kind}_s{clip_seed}", face,
                               frames, stride, difficulty, clip_seed, size, step, should_stop,
                               motion=motion))
    return infos
