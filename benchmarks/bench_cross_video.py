"""Benchmark: what the project model saves on the next video (issue 13 §2, cross-video effort).

    python benchmarks/bench_cross_video.py [--faces DIR] [--procedural 2] [--frames 300]
                                           [--stride 30] [--rounds 6] [--per-round 5]
                                           [--measure 0,1,2,4] [--work DIR] [--out F.json]

Hard synthetic clips of different faces (``--procedural`` procedural faces of seeds 10, 11, …
and the photos of ``--faces``), labelled one after another in ONE project by the simulated
person of ``simulate-annotator`` (issue 11 §5) with FaceProp's loop: keyframes every
``--stride`` frames, propagate, then rounds of the score strategy's picks until the clip meets
mean NME ≤ 1 % with no frame over 4 % (or ``--rounds`` rounds). After each video the project
model is trained on every keyframe of the project so far (``train-model``); the next video
then starts its keyframes from "Predict keyframe" (in the truth's tight box, what a person
would draw; dragged as the GUI drags a prediction, ``BOX_PREDICTION_UNCERTAINTY``) instead of
the template, and its first propagation starts from the project model.

For n in ``--measure``, video n + 1 is also labelled alone in a fresh project (template starts,
cold training) with the same person: the table compares the two on the same face. Working
seconds are the simulated person's; waiting seconds are wall time on this machine.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_project_model import make_faces
from benchmarks.reporting import emit
from core.formats.vw300 import import_300vw
from core.shape_model import BOX_PREDICTION_UNCERTAINTY
from core.store import Project
from evaluation.bench import read_ground_truth
from evaluation.classic import seconds_to_target
from evaluation.effort import TARGETS, Hands, Tally
from evaluation.loop import LoopSettings, run_rounds, start_loop
from evaluation.person import PersonParams
from trainer.project_jobs import predict_points, train_project_model
from trainer.tsal import project_model


def _import_unlabelled(project: Project, clip: Path) -> tuple[int, np.ndarray]:
    video_id = import_300vw(project, clip)[0].video_id
    for frame in project.labels.frames(video_id):  # annot/ is the clip maker's, not ours
        project.labels.delete(video_id, frame)
    return video_id, read_ground_truth(clip, project.videos.get(video_id).frame_count)


def _predicted_starts(project: Project, video_id: int, gt: np.ndarray,
                      frames: list[int]) -> np.ndarray:
    """Predict keyframe on ``frames`` in their true tight boxes (NaN elsewhere)."""
    starts = np.full(gt.shape, np.nan)
    for frame in frames:
        box = project_model.box_of(gt[frame])
        starts[frame] = predict_points(project, video_id, frame, box)["points"]
    return starts


def label_video(project: Project, clip: Path, args: argparse.Namespace, *,
                use_model: bool) -> dict:
    """Label ``clip`` with the loop in ``project``; its effort and end point."""
    video_id, gt = _import_unlabelled(project, clip)
    keyframes = sorted({*range(0, len(gt), args.stride), len(gt) - 1})
    hands = Hands(PersonParams(), True, 0)
    tally = Tally(clip.name, "faceprop+model" if use_model else "faceprop")
    starts = _predicted_starts(project, video_id, gt, keyframes) if use_model else None
    start_loop(project, video_id, keyframes, gt, hands, tally, "final", detections=starts,
               detection_uncertainty=BOX_PREDICTION_UNCERTAINTY)
    first = tally.points[-1]
    run_rounds(project, video_id, gt, hands, tally,
               LoopSettings("score", args.rounds, args.per_round, "final", True), log=print)
    last = tally.points[-1]
    return {
        "start": {"keyframes": len(keyframes), "drags": first.drags,
                  "working_s": first.working_s, "nme_percent": round(first.nme_percent, 3)},
        "frames_labelled": last.labelled, "reviewed": last.reviewed, "drags": last.drags,
        "working_s": last.working_s, "waiting_s": last.waiting_s,
        "nme_percent": round(last.nme_percent, 3),
        "worst_nme_percent": round(last.worst_nme_percent, 2),
        "seconds_to": {t.label: seconds_to_target(tally.points, t) for t in TARGETS},
        "labelled_to": {t.label: next((p.labelled for p in tally.points
                                       if t.met(p.nme_percent, p.worst_nme_percent)), None)
                        for t in TARGETS}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=Path("../shared/data/faces"))
    parser.add_argument("--procedural", type=int, default=2)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--stride", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--per-round", type=int, default=5)
    parser.add_argument("--measure", default="0,1,2,4",
                        help="n: compare video n + 1 with and without the project model")
    parser.add_argument("--clips", help="comma-separated 300VW clip folders with gt/, in the "
                        "order to label them (instead of the generated faces; e.g. two clips "
                        "of one face)")
    parser.add_argument("--work", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    measure = {int(n) for n in args.measure.split(",")}
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        clips = ([Path(c) for c in args.clips.split(",")] if args.clips
                 else make_faces(work, args.faces, args.procedural, args.frames, 10))
        videos = clips[:max(measure) + 1]
        if len(videos) <= max(measure):
            parser.error(f"--measure needs {max(measure) + 1} faces; there are {len(clips)}")
        shared = work / "project.faceprop.sqlite"
        for stale in work.glob("*.faceprop.sqlite*"):
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
        report: dict[str, object] = {"order": [c.name for c in videos]}
        with Project.create_or_open(shared) as project:
            for n, clip in enumerate(videos):
                row: dict[str, object] = {"video": clip.name}
                row["with_model"] = label_video(project, clip, args, use_model=n > 0)
                print(f"n={n} {clip.name} with the model: {row['with_model']}", flush=True)
                if n > 0 and n in measure:
                    alone = work / f"alone-{clip.name}.faceprop.sqlite"
                    with Project.create_or_open(alone) as fresh:
                        row["alone"] = label_video(fresh, clip, args, use_model=False)
                    print(f"n={n} {clip.name} alone: {row['alone']}", flush=True)
                if n < len(videos) - 1:
                    row["model_after"] = train_project_model(project, device="cpu")
                    print(f"model after {n + 1} videos: {row['model_after']}", flush=True)
                report[f"n={n}"] = row
    emit(report, args.out)


if __name__ == "__main__":
    main()
