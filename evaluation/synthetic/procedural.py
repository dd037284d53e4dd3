"""A procedurally drawn face on a textured background, so clips and tests need no photos.

The landmarks come first (the mean shape with per-seed proportions); every feature is then drawn
*at* them: the jaw is the edge of the head, brows are strokes through 17-26, the pupils are centred
between the lid points, the nostrils sit on 31-35 and the lips are filled between 48-59 and 60-67
with their outline drawn through the points. Skin tone, hair, eye colour, feature sizes and the
background vary with the seed.
"""

from __future__ import annotations

import cv2
import numpy as np

from core.landmarks import mean_shape
from evaluation.synthetic.face import FaceSource

_SHIFT = 4           # sub-pixel bits for cv2 drawing
_ONE = 1 << _SHIFT

_HAIR = np.array([[20, 20, 25], [25, 40, 70], [40, 70, 120], [90, 150, 190], [60, 60, 150],
                  [150, 150, 155]], dtype=np.float64)
_IRIS = np.array([[30, 60, 100], [40, 80, 120], [150, 110, 60], [90, 120, 60], [110, 110, 110]],
                 dtype=np.float64)


def _fix(points: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(points, dtype=np.float64) * _ONE).astype(np.int32)


def smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """Smooth noise in about [-1, 1]: random values on a coarse grid, resized up bicubically."""
    gy, gx = max(2, height * cells // max(height, width) + 2), max(2, width * cells //
                                                                   max(height, width) + 2)
    coarse = rng.standard_normal((gy, gx)).astype(np.float32)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC) / 1.5


def textured_background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A random indoor-ish backdrop: a colour gradient, blotches, shapes and fine grain (BGR)."""
    base = rng.uniform(60, 200, 3)
    other = rng.uniform(40, 220, 3)
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    img = (base * (1 - ramp) + other * ramp).astype(np.float32) * np.ones((1, width, 1),
                                                                           np.float32)
    img += 25 * smooth_noise(rng, height, width, 6)[..., None]
    area = width * height
    for _ in range(int(area / 14000) + 8):
        colour = tuple(float(c) for c in rng.uniform(20, 235, 3))
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(0.01, 0.08) * max(width, height)
        kind = rng.integers(0, 3)
        if kind == 0:
            pts = np.array([[x - r, y - r * rng.uniform(0.3, 1)], [x + r, y + r]])
            cv2.rectangle(img, _fix(pts[0]), _fix(pts[1]), colour, -1, cv2.LINE_AA, _SHIFT)
        elif kind == 1:
            cv2.circle(img, _fix([x, y]), int(r * _ONE), colour, -1, cv2.LINE_AA, _SHIFT)
        else:
            end = np.array([x, y]) + rng.normal(0, r * 2, 2)
            cv2.line(img, _fix([x, y]), _fix(end), colour, int(rng.integers(2, 7)),
                     cv2.LINE_AA, _SHIFT)
    img = cv2.GaussianBlur(img, (0, 0), 1.0)
    img += rng.normal(0, 6, (height, width, 1)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def procedural_shape(rng: np.random.Generator) -> np.ndarray:
    """The mean shape with random proportions, in normalised units (float64 (68, 2))."""
    q = mean_shape().astype(np.float64)
    width, length = rng.uniform(0.9, 1.08), rng.uniform(0.92, 1.08)
    q[0:17, 0] *= width
    q[0:17, 1] = np.where(q[0:17, 1] > 0, q[0:17, 1] * length, q[0:17, 1])
    for eye in (range(36, 42), range(42, 48)):
        idx = list(eye)
        centre = q[idx].mean(axis=0)
        q[idx] = centre + (q[idx] - centre) * [rng.uniform(0.9, 1.1), rng.uniform(1.25, 1.6)]
    q[17:27, 1] += rng.uniform(-0.05, 0.0)
    nose = rng.uniform(0.92, 1.08)
    q[27:36, 1] = q[27, 1] + (q[27:36, 1] - q[27, 1]) * nose
    q[31:36, 0] *= rng.uniform(0.85, 1.2)
    mouth = q[48:68]
    centre = mouth.mean(axis=0)
    mouth[:, 0] = centre[0] + (mouth[:, 0] - centre[0]) * rng.uniform(0.85, 1.15)
    mouth[:, 1] += rng.uniform(-0.02, 0.04) + (nose - 1) * 0.3
    gap = rng.uniform(0.02, 0.05)
    lips = rng.uniform(0.85, 1.3)
    mid = 0.5 * (q[[61, 62, 63], 1].mean() + q[[65, 66, 67], 1].mean())
    q[[61, 62, 63], 1] = mid - gap / 2
    q[[65, 66, 67], 1] = mid + gap / 2
    outer = list(range(49, 54)) + list(range(55, 60))
    q[outer, 1] = mid + (q[outer, 1] - mid) * lips
    return q


def _smooth_closed(points: np.ndarray, per_edge: int = 6) -> np.ndarray:
    """A closed Catmull-Rom curve through ``points`` (it passes through every point)."""
    p = np.asarray(points, dtype=np.float64)
    n = len(p)
    out = []
    for i in range(n):
        p0, p1, p2, p3 = p[i - 1], p[i], p[(i + 1) % n], p[(i + 2) % n]
        for s in np.linspace(0, 1, per_edge, endpoint=False):
            out.append(0.5 * (2 * p1 + (-p0 + p2) * s + (2 * p0 - 5 * p1 + 4 * p2 - p3) * s * s
                              + (-p0 + 3 * p1 - 3 * p2 + p3) * s ** 3))
    return np.array(out)


def _draw_eye(img: np.ndarray, pts: np.ndarray, iod: float, iris: np.ndarray,
              lash: tuple[float, ...]) -> None:
    outline = _smooth_closed(pts, 8)
    h, w = img.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [_fix(outline)], 255, cv2.LINE_AA, _SHIFT)
    eye = img.copy()
    cv2.fillPoly(eye, [_fix(outline)], (225, 232, 238), cv2.LINE_AA, _SHIFT)
    centre = pts[[1, 2, 4, 5]].mean(axis=0)
    r_iris = 0.21 * np.linalg.norm(pts[3] - pts[0])
    cv2.circle(eye, _fix(centre), int(r_iris * _ONE), tuple(iris * 0.6), -1, cv2.LINE_AA, _SHIFT)
    cv2.circle(eye, _fix(centre), int(r_iris * 0.85 * _ONE), tuple(iris), -1, cv2.LINE_AA,
               _SHIFT)
    cv2.circle(eye, _fix(centre), int(r_iris * 0.5 * _ONE), (12, 12, 14), -1, cv2.LINE_AA,
               _SHIFT)
    glint = centre + np.array([0.55, -0.55]) * r_iris
    cv2.circle(eye, _fix(glint), int(max(0.12 * r_iris, 0.6) * _ONE), (250, 250, 250), -1,
               cv2.LINE_AA, _SHIFT)
    alpha = (mask.astype(np.float32) / 255.0)[..., None]
    img[:] = alpha * eye + (1 - alpha) * img
    upper = _smooth_closed(pts, 8)[: 3 * 8 + 1]
    cv2.polylines(img, [_fix(upper)], False, lash, max(1, round(0.03 * iod)), cv2.LINE_AA,
                  _SHIFT)
    cv2.polylines(img, [_fix(outline)], True, tuple(0.5 * np.array(lash) + 60), 1, cv2.LINE_AA,
                  _SHIFT)


def draw_face(img: np.ndarray, pts: np.ndarray, iod: float, rng: np.random.Generator) -> None:
    """Draw into ``img`` (float32 BGR) a face whose features sit on the landmarks ``pts``."""
    h, w = img.shape[:2]
    tone = rng.uniform(0, 1)
    skin = np.array([185, 205, 240]) * (1 - tone) + np.array([60, 88, 128]) * tone
    skin = skin * rng.uniform(0.93, 1.07, 3)
    lips = np.array([0.55 * skin[0], 0.45 * skin[1], min(250.0, 0.9 * skin[2] + 35)])
    hair = _HAIR[rng.integers(len(_HAIR))] * rng.uniform(0.8, 1.2)
    iris = _IRIS[rng.integers(len(_IRIS))] * rng.uniform(0.8, 1.2)
    up = (pts[45] - pts[36]) / np.linalg.norm(pts[45] - pts[36])
    up = np.array([up[1], -up[0]])           # points to the top of the head
    centre = 0.5 * (pts[0] + pts[16])
    half_w = 0.5 * np.linalg.norm(pts[16] - pts[0])
    # Shoulders, neck, ears, back hair.
    cloth = tuple(float(c) for c in rng.uniform(20, 200, 3))
    chin = pts[8]
    cv2.ellipse(img, _fix(chin + (0, 1.45 * iod)), (int(1.9 * iod * _ONE), int(0.9 * iod * _ONE)),
                0, 0, 360, cloth, -1, cv2.LINE_AA, _SHIFT)
    neck = np.array([pts[4] + (0.08 * iod, 0), pts[12] - (0.08 * iod, 0),
                     pts[12] + (-0.12 * iod, 1.2 * iod), pts[4] + (0.12 * iod, 1.2 * iod)])
    cv2.fillPoly(img, [_fix(neck)], tuple(skin * 0.72), cv2.LINE_AA, _SHIFT)
    if rng.uniform() < 0.5:
        cv2.ellipse(img, _fix(centre - up * 0.2 * iod), (int(1.15 * half_w * _ONE),
                    int(1.25 * iod * _ONE)), 0, 0, 360, tuple(hair * 0.8), -1, cv2.LINE_AA,
                    _SHIFT)
    for ear in (pts[1] + (pts[1] - pts[15]) * 0.04, pts[15] + (pts[15] - pts[1]) * 0.04):
        cv2.ellipse(img, _fix(ear - up * 0.05 * iod), (int(0.11 * iod * _ONE),
                    int(0.24 * iod * _ONE)), 0, 0, 360, tuple(skin * 0.85), -1, cv2.LINE_AA,
                    _SHIFT)
    # Head: the jaw contour closed by an arc over the forehead.
    top = np.linspace(0.0, np.pi, 15)[1:-1]
    crown = 1.05 * iod * rng.uniform(0.95, 1.1)
    arc = [centre + half_w * np.cos(a) * (pts[16] - pts[0]) / (2 * half_w) + up * crown *
           np.sin(a) for a in top]
    head = np.vstack([pts[0:17], np.array(arc)])
    face_mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(face_mask, [_fix(head)], 255, cv2.LINE_AA, _SHIFT)
    # Shading: darker towards the contour, plus skin grain and freckles.
    dist = cv2.distanceTransform((face_mask > 127).astype(np.uint8), cv2.DIST_L2, 5)
    shade = 0.72 + 0.28 * np.clip(dist / (0.25 * iod), 0, 1)
    grain = (1.0 + 0.05 * smooth_noise(rng, h, w, max(8, w // 6))
             + 0.04 * smooth_noise(rng, h, w, 24))
    face = skin[None, None, :] * (shade * grain)[..., None]
    for _ in range(int(rng.integers(10, 60))):
        p = centre + rng.normal(0, 0.45 * iod, 2) + up * 0.2 * iod
        cv2.circle(face, _fix(p), int(rng.uniform(0.5, 1.4) * _ONE),
                   tuple(skin * rng.uniform(0.6, 0.85)), -1, cv2.LINE_AA, _SHIFT)
    alpha = (face_mask.astype(np.float32) / 255.0)[..., None]
    img[:] = alpha * face + (1 - alpha) * img
    cv2.polylines(img, [_fix(pts[0:17])], False, tuple(skin * 0.5), max(1, round(0.02 * iod)),
                  cv2.LINE_AA, _SHIFT)
    # Hair on top: a cap whose lower edge is the hairline.
    hairline = [centre + half_w * 1.06 * np.cos(a) * (pts[16] - pts[0]) / (2 * half_w) + up *
                (crown * 1.08 * np.sin(a)) for a in np.linspace(0, np.pi, 17)]
    fringe = [centre + half_w * 1.0 * np.cos(a) * (pts[16] - pts[0]) / (2 * half_w) + up *
              (0.55 * iod + 0.12 * iod * np.sin(3 * a + rng.uniform(0, 6)) + 0.1 * iod *
               np.sin(a)) for a in np.linspace(np.pi, 0, 17)]
    cap = np.vstack([np.array(hairline), np.array(fringe)])
    cv2.fillPoly(img, [_fix(cap)], tuple(hair), cv2.LINE_AA, _SHIFT)
    for _ in range(40):
        a = rng.uniform(0.1, np.pi - 0.1)
        start = centre + half_w * np.cos(a) * (pts[16] - pts[0]) / (2 * half_w) * 0.95 + up * (
            crown * np.sin(a))
        cv2.line(img, _fix(start), _fix(start - up * rng.uniform(0.2, 0.45) * iod),
                 tuple(hair * rng.uniform(0.6, 1.4)), 1, cv2.LINE_AA, _SHIFT)
    # Brows: a thick tapered stroke through the points plus hair strokes.
    brow_colour = tuple(hair * 0.7)
    thick = 0.05 * iod * rng.uniform(0.8, 1.4)
    for brow in (pts[17:22], pts[22:27][::-1]):
        for k in range(4):
            t = int(max(1, thick * (1.2 - 0.2 * k)))
            cv2.line(img, _fix(brow[k]), _fix(brow[k + 1]), brow_colour, t, cv2.LINE_AA, _SHIFT)
        for _ in range(25):
            k = rng.uniform(0, 4)
            i = int(k)
            p = brow[i] + (brow[i + 1] - brow[i]) * (k - i) + rng.normal(0, thick * 0.3, 2)
            d = (brow[-1] - brow[0]) / np.linalg.norm(brow[-1] - brow[0])
            cv2.line(img, _fix(p), _fix(p + d * thick * 1.2 - up * thick * 0.5),
                     tuple(np.array(brow_colour) * 0.6), 1, cv2.LINE_AA, _SHIFT)
    # Eyes: socket shadow, then sclera, iris, pupil, glint and lids.
    lash = (15.0, 15.0, 20.0)
    socket = np.zeros((h, w), np.float32)
    for eye in (pts[36:42], pts[42:48]):
        c = eye.mean(axis=0)
        cv2.ellipse(socket, _fix(c - up * 0.03 * iod), (int(0.22 * iod * _ONE),
                    int(0.12 * iod * _ONE)), 0, 0, 360, 1.0, -1, cv2.LINE_AA, _SHIFT)
    socket = cv2.GaussianBlur(socket, (0, 0), 0.04 * iod)
    img *= (1.0 - 0.18 * socket)[..., None]
    for eye in (pts[36:42], pts[42:48]):
        _draw_eye(img, eye, iod, iris, lash)
    # Nose: side shading along the bridge, the tip, nostrils and the base curve through 31-35.
    across = np.array([up[1], -up[0]])
    for sign in (-1, 1):
        side = pts[27:31] + sign * across * 0.07 * iod
        cv2.polylines(img, [_fix(side)], False, tuple(skin * 0.8), max(1, round(0.03 * iod)),
                      cv2.LINE_AA, _SHIFT)
    cv2.circle(img, _fix(pts[30] + up * 0.03 * iod), int(0.05 * iod * _ONE),
               tuple(np.minimum(skin * 1.12, 255)), -1, cv2.LINE_AA, _SHIFT)
    base = np.vstack([pts[31] + up * 0.08 * iod, pts[31:36], pts[35] + up * 0.08 * iod])
    cv2.polylines(img, [_fix(base)], False, tuple(skin * 0.55), max(1, round(0.025 * iod)),
                  cv2.LINE_AA, _SHIFT)
    for a, b in ((31, 32), (35, 34)):
        c = 0.5 * (pts[a] + pts[b]) + up * 0.02 * iod
        cv2.ellipse(img, _fix(c), (int(0.045 * iod * _ONE), int(0.025 * iod * _ONE)),
                    float(np.degrees(np.arctan2(-up[0], up[1]))), 0, 360, (25, 25, 35), -1,
                    cv2.LINE_AA, _SHIFT)
    # Mouth: dark inside with teeth, lips between the contours, outlines through the points.
    inner = _smooth_closed(pts[60:68], 6)
    cv2.fillPoly(img, [_fix(inner)], (30, 25, 60), cv2.LINE_AA, _SHIFT)
    teeth_edge = pts[[63, 62, 61]] + 0.25 * (pts[[65, 66, 67]] - pts[[63, 62, 61]])
    teeth = np.vstack([pts[60:65], teeth_edge])
    cv2.fillPoly(img, [_fix(teeth)], (215, 225, 230), cv2.LINE_AA, _SHIFT)
    upper = np.vstack([pts[48:55], pts[60:65][::-1]])
    lower = np.vstack([pts[54:60], pts[48:49], pts[[60, 67, 66, 65, 64]]])
    for poly in (upper, lower):
        cv2.fillPoly(img, [_fix(poly)], tuple(lips), cv2.LINE_AA, _SHIFT)
    cv2.polylines(img, [_fix(_smooth_closed(pts[48:60], 6))], True, tuple(lips * 0.7),
                  max(1, round(0.025 * iod)), cv2.LINE_AA, _SHIFT)
    cv2.polylines(img, [_fix(inner)], True, (20, 15, 45), 1, cv2.LINE_AA, _SHIFT)


def procedural_face(seed: int, iod: float = 100.0, size: tuple[int, int] | None = None,
                    centre: tuple[float, float] | None = None) -> FaceSource:
    """A drawn face for ``seed`` with inter-ocular distance ≈ ``iod`` pixels.

    ``size`` is the canvas (width, height), by default 4.5 x 4 inter-ocular distances; ``centre``
    is where the middle between the outer eye corners goes (by default a little above the middle).
    """
    shape_rng, background_rng, draw_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence([seed, 7001]).spawn(3))
    width, height = size if size is not None else (round(4.5 * iod), round(4.0 * iod))
    cx, cy = centre if centre is not None else (width / 2 - 0.5, height / 2 - 0.5 - 0.45 * iod)
    pts = procedural_shape(shape_rng) * iod + np.array([cx, cy])
    img = textured_background(background_rng, width, height).astype(np.float32)
    draw_face(img, pts, iod, draw_rng)
    img = cv2.GaussianBlur(img, (0, 0), 0.5)
    image = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    return FaceSource(name=f"procedural-{seed}", image=image, points=pts.astype(np.float32))
