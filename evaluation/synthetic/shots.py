"""A synthetic clip of several shots: a film that cuts between faces (issue 12 §2).

``ShotRenderer`` renders frame t of a clip made of ``cuts + 1`` shots of equal length, each its
own ``ClipRenderer`` (another procedural face, or the same photo with other motion, for seed
``seed + 1000 k``). With ``dissolve`` > 0 each cut is a cross-dissolve over that many frames
centred on it; with ``fade`` > 0 a fade through black over that many frames (the outgoing shot
darkens to black at the frame before the cut, the incoming one brightens from black at the cut
frame). The landmarks are those of the outgoing shot before the cut frame and of the incoming
one from it. It stands in for a ``ClipRenderer`` in ``make_clip``.
"""

from __future__ import annotations

import numpy as np

from evaluation.synthetic.face import FaceSource
from evaluation.synthetic.scene import ClipRenderer, RenderedFrame


def shot_starts(frames: int, cuts: int) -> list[int]:
    """The first frame of every shot: 0 and the ``cuts`` cut frames, evenly spaced."""
    return [round(frames * k / (cuts + 1)) for k in range(cuts + 1)]


class ShotRenderer:
    def __init__(self, face: FaceSource | None, frames: int, difficulty: str, seed: int,
                 size: tuple[int, int], cuts: int, dissolve: int = 0,
                 motion: str = "smooth", fade: int = 0) -> None:
        self.starts = shot_starts(frames, cuts)
        self.ends = [*self.starts[1:], frames]
        self.dissolve, self.fade = int(dissolve), int(fade)
        self.shots = [ClipRenderer(face, end - start, difficulty, seed + 1000 * k, size,
                                   motion)
                      for k, (start, end) in enumerate(zip(self.starts, self.ends))]
        first = self.shots[0]
        self.scene, self.settings, self.occluder = first.scene, first.settings, first.occluder
        self.face_name = first.face_name
        self.expression_gains = first.expression_gains

    @property
    def cuts(self) -> list[int]:
        return self.starts[1:]

    def _shot_frame(self, k: int, t: int) -> RenderedFrame:
        start, end = self.starts[k], self.ends[k]
        return self.shots[k].render(min(max(t - start, 0), end - start - 1))

    def render(self, t: int) -> RenderedFrame:
        k = int(np.searchsorted(self.starts, t, side="right")) - 1
        frame = self._shot_frame(k, t)
        half = self.dissolve / 2
        for cut, (before, after) in zip(self.cuts, zip(range(len(self.shots)),
                                                       range(1, len(self.shots)))):
            if self.dissolve and cut - half <= t < cut + half:
                other = self._shot_frame(after if t < cut else before, t)
                mix = (t - (cut - half) + 0.5) / self.dissolve  # share of the incoming shot
                weight = mix if t < cut else 1.0 - mix
                image = (frame.image.astype(np.float32) * (1 - weight)
                         + other.image.astype(np.float32) * weight)
                frame = RenderedFrame(np.clip(image, 0, 255).astype(np.uint8), frame.points,
                                      frame.occluded)
            if self.fade and cut - self.fade / 2 <= t < cut + self.fade / 2:
                # black at cut - 1 and cut, full brightness half the fade away
                level = ((cut - 1 - t) if t < cut else (t - cut)) / (self.fade / 2)
                image = frame.image.astype(np.float32) * level
                frame = RenderedFrame(np.clip(image, 0, 255).astype(np.uint8), frame.points,
                                      frame.occluded)
        return frame
