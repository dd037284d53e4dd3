"""TSAL: teacher-student asynchronous learning for keyframe propagation (DESIGN.md §4.1).

``METHODS`` maps the bench's stable method names to propagators called as ``f(frame, n_frames,
keyframes, progress=None, should_stop=None, *, config=None, options=None) -> Propagation``:
"supervised" (the same network trained on keyframes only), "student", "teacher", "teacher+sd"
(the teacher after iterative self-distillation), "final" (the teacher fused with bidirectional
flow tracking by estimated error, then smoothed in time) and the ablations "no-sic", "no-mfds",
"no-async" (the teacher trained alone, never filtered towards a student), "final-fixed" (final
with the smoother's fixed setting rather than one chosen from held-out keyframes),
"final-noshape" (final without the shape model's completion of the fused points) and
"teacher-dsc" / "final-dsc" (trained with seed 001's disturbed-sequence consistency,
``trainer.tsal.consistency``), "teacher-shuffle" / "final-shuffle" (a cold start first warmed up
on seed 001's shuffle pretext, ``trainer.tsal.pretext``), "teacher-mfe" / "final-mfe" (the
tracker φ is the learned motion field of ``trainer.tsal.mfe`` rather than Lucas-Kanade). Methods
called with one :class:`RunCache` share a training with the same config.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

import numpy as np

from core.errors import ValidationError
from core.propagation import Propagation
from trainer.tsal.config import PRESETS, TSALConfig
from trainer.tsal.propagate import RunCache, RunOptions, device_name, run, select_device

__all__ = ["METHODS", "PRESETS", "RunCache", "RunOptions", "TSALConfig", "device_name",
           "make_method", "preset_config", "run", "select_device"]

#: Method name -> (config changes from the fast preset, which output of the run it returns).
VARIANTS: dict[str, tuple[dict[str, object], str]] = {
    "supervised": ({"use_semi": False}, "student"),
    "student": ({}, "student"),
    "teacher": ({}, "teacher"),
    "teacher+sd": ({"self_distill": 2}, "teacher+sd"),
    "final": ({}, "final"),
    "no-sic": ({"use_sic": False}, "teacher"),
    "no-mfds": ({"use_mfds": False}, "teacher"),
    "no-async": ({"async_teacher": False}, "teacher"),
    "final-fixed": ({"smooth_choice": "fixed"}, "final"),
    "final-noshape": ({"shape_complete": False}, "final"),
    "teacher-dsc": ({"use_dsc": True}, "teacher"),
    "final-dsc": ({"use_dsc": True}, "final"),
    "teacher-shuffle": ({"shuffle_warmup": 60}, "teacher"),
    "final-shuffle": ({"shuffle_warmup": 60}, "final"),
    "teacher-mfe": ({"flow": "mfe"}, "teacher"),
    "final-mfe": ({"flow": "mfe"}, "final"),
}


def make_method(name: str, cfg: TSALConfig | None = None) -> Callable[..., Propagation]:
    """The propagator for a method name, built on ``cfg`` (default: the fast preset)."""
    changes, output = VARIANTS[name]
    default = cfg if cfg is not None else PRESETS["fast"]

    def method(frame: Callable[[int], np.ndarray], n_frames: int,
               keyframes: Mapping[int, np.ndarray], progress: Callable[..., None] | None = None,
               should_stop: Callable[[], bool] | None = None, *,
               config: TSALConfig | None = None, options: RunOptions | None = None
               ) -> Propagation:
        variant = replace(config if config is not None else default, **changes)
        result = run(frame, n_frames, keyframes, variant, progress, should_stop,
                     options)[output]
        return replace(result, points=result.points.copy(),
                       confidence=result.confidence.copy(), method=name)

    method.__name__ = f"tsal_{name.replace('-', '_')}"
    method.takes_options = True  # type: ignore[attr-defined]
    method.__doc__ = f"TSAL method {name!r}: the {output!r} output of a run with {changes}."
    return method


def preset_config(name: str, seed: int | None = None) -> TSALConfig:
    """A preset by name (ValidationError listing the valid ones), with an optional seed."""
    if name not in PRESETS:
        raise ValidationError(f"unknown preset {name!r}: use one of {', '.join(sorted(PRESETS))}")
    return replace(PRESETS[name], seed=PRESETS[name].seed if seed is None else int(seed))


METHODS: dict[str, Callable[..., Propagation]] = {name: make_method(name) for name in VARIANTS}
