"""Synthetic benchmark clips with exact ground truth (300VW layout), from photos or drawn faces.

``make_clip`` animates one face (a photo with a ``.pts`` file, or a procedurally drawn face) with
smooth similarity motion and non-rigid expressions through a piecewise-affine mesh warp, adds
illumination changes, blur, noise, compression and (for ``hard``) an occluder, and writes the
video, keyframe annotations and the ground truth of every frame. ``ClipRenderer`` gives the same
frames in memory, in any order.
"""

from __future__ import annotations

from evaluation.synthetic.clip import (
    ClipInfo,
    keyframe_indices,
    load_clip_info,
    make_clip,
    make_clips,
    pts_name,
)
from evaluation.synthetic.face import FaceSource, find_faces, load_face
from evaluation.synthetic.procedural import procedural_face
from evaluation.synthetic.scene import ClipRenderer, RenderedFrame

__all__ = ["ClipInfo", "ClipRenderer", "FaceSource", "RenderedFrame", "find_faces",
           "keyframe_indices", "load_clip_info", "load_face", "make_clip", "make_clips",
           "procedural_face", "pts_name"]
