"""The propagation methods a person chooses between, and the ablations kept for the benchmark:
names and one-line descriptions shared by ``propagate --help``, the GUI's Run › Propagation
method menu and the trainer's registry (``trainer.jobs``), which maps each name to its code."""

from __future__ import annotations

from core.protocol import DEFAULT_METHOD

__all__ = ["ABLATIONS", "DEFAULT_METHOD", "USER_METHODS", "methods_epilog"]

#: The methods a user chooses between, one line each (the default first).
USER_METHODS: dict[str, str] = {
    "final": "TSAL teacher fused with flow tracking, smoothed in time (the default, best)",
    "final-mfe": "final with a learned motion field as tracker where it tracks better (1.6x time)",
    "teacher": "the TSAL teacher network alone",
    "teacher+sd": "the teacher after iterative self-distillation (slower)",
    "flow": "bidirectional Lucas-Kanade tracking between keyframes (no training, seconds)",
    "flow_dis": "bidirectional DIS optical-flow tracking between keyframes (no training)",
    "interpolation": "linear interpolation between keyframes (what CVAT does)",
    "dlib": "dlib's face detector on every frame (needs the dlib extra)",
}
#: Ablations of TSAL, for the benchmark rather than for labelling.
ABLATIONS: dict[str, str] = {
    "student": "the TSAL student network alone",
    "supervised": "the same network trained on the keyframes only (no unlabelled frames)",
    "no-sic": "the teacher without the shape-inherent consistency loss",
    "no-mfds": "the teacher without motion-field deviation suppression",
    "no-async": "the teacher trained alone, never filtered towards a student",
    "final-fixed": "final with the smoother's one fixed setting, not chosen per video",
    "final-noshape": "final without the shape model's completion of the fused points",
    "teacher-mfe": "the teacher trained against the learned motion field's tracks",
    "teacher-dsc": "the teacher trained with disturbed-sequence consistency",
    "final-dsc": "final, trained with disturbed-sequence consistency",
    "teacher-shuffle": "the teacher after a shuffle pretext warm-up of its encoder",
    "final-shuffle": "final after a shuffle pretext warm-up of the encoder",
}


def methods_epilog() -> str:
    """The method list for ``--help``: the ones to choose from, then the ablations."""
    width = 2 + max(map(len, (*USER_METHODS, *ABLATIONS)))

    def lines(methods: dict[str, str]) -> str:
        return "\n".join(f"  {name:<{width}}{text}" for name, text in methods.items())
    return f"methods:\n{lines(USER_METHODS)}\n\nablations (for the benchmark):\n" \
           f"{lines(ABLATIONS)}"
