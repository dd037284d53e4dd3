"""The simulate-annotator report: report.md, report.json and effort curves (PNG) per clip.

For each clip and target, each workflow's working seconds until the whole clip first meets it,
also per minute of video; CVAT counts with its cheapest strategy for that target. Below, every
measured point of every curve (CVAT's chosen strategy, thinned in the Markdown).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from evaluation.classic import seconds_to_target
from evaluation.effort import HEADLINE, TARGETS, ClipResult, EffortPoint, Target
from evaluation.plots import Series, line_chart

#: CVAT's and dlib's curves are listed in the Markdown every this many frames reviewed
#: (their ``round`` counts frames reviewed after the first keyframes).
MD_EVERY = 50


def curves(result: ClipResult) -> dict[str, list[EffortPoint]]:
    """The clip's curves by name: each workflow, CVAT's strategies as ``cvat (<strategy>)``."""
    out: dict[str, list[EffortPoint]] = {}
    for p in result.points:
        name = f"cvat ({p.note})" if p.workflow == "cvat" else p.workflow
        out.setdefault(name, []).append(p)
    return out


def _workflows(named: dict[str, list[EffortPoint]]) -> list[str]:
    return list(dict.fromkeys("cvat" if n.startswith("cvat (") else n for n in named))


def cost(named: dict[str, list[EffortPoint]], workflow: str, target: Target
         ) -> tuple[float | None, str]:
    """(working seconds to ``target``, the curve that reached it) for a workflow; CVAT's
    cheapest strategy."""
    if workflow != "cvat":
        return seconds_to_target(named[workflow], target), workflow
    found = [(s, name) for name, pts in named.items() if name.startswith("cvat (")
             for s in [seconds_to_target(pts, target)] if s is not None]
    return min(found) if found else (None, "cvat")


def chosen_cvat(named: dict[str, list[EffortPoint]]) -> str | None:
    """The CVAT curve to show: the cheapest to the strictest target any strategy met, or the
    one that ended lowest."""
    names = [n for n in named if n.startswith("cvat (")]
    if not names:
        return None
    for target in TARGETS:
        seconds, name = cost(named, "cvat", target)
        if seconds is not None:
            return name
    return min(names, key=lambda n: named[n][-1].nme_percent)


def summarise(result: ClipResult) -> dict:
    """Per target: each workflow's seconds, seconds per minute of video and curve; and the
    ratio FaceProp / CVAT where both met it."""
    named = curves(result)
    out: dict[str, dict] = {}
    for target in TARGETS:
        row: dict[str, dict] = {}
        for workflow in _workflows(named):
            seconds, curve = cost(named, workflow, target)
            last = (named[curve] if curve in named else named[chosen_cvat(named) or ""])[-1]
            row[workflow] = {"seconds": seconds, "curve": curve,
                             "per_minute": None if seconds is None else seconds / result.minutes,
                             "final_nme_percent": last.nme_percent,
                             "final_worst_nme_percent": last.worst_nme_percent}
        fp, cvat = row.get("faceprop", {}).get("seconds"), row.get("cvat", {}).get("seconds")
        out[target.label] = {"workflows": row,
                             "faceprop_over_cvat": fp / cvat if fp is not None and cvat else None,
                             "bound": _bound(named, target, fp) if cvat is None else None}
    return out


def _bound(named: dict[str, list[EffortPoint]], target: Target, faceprop: float | None
           ) -> dict | None:
    """Where FaceProp met ``target`` and CVAT never did: FaceProp's seconds over CVAT's
    seconds to the strictest looser target it met. Meeting ``target`` implies meeting a looser
    one, so CVAT would need at least those seconds: the true ratio is at most this."""
    if faceprop is None or "cvat" not in _workflows(named):
        return None
    looser = [t for t in TARGETS if t != target and t.mean_percent >= target.mean_percent
              and t.worst_percent >= target.worst_percent]
    for t in sorted(looser, key=lambda t: (t.mean_percent, t.worst_percent)):
        seconds, curve = cost(named, "cvat", t)
        if seconds:
            return {"ratio": faceprop / seconds, "cvat_target": t.label, "cvat_seconds": seconds,
                    "cvat_curve": curve}
    return None


def _cell(entry: dict) -> str:
    if entry["seconds"] is None:
        return (f"not met (ends {entry['final_nme_percent']:.2f} % / "
                f"{entry['final_worst_nme_percent']:.1f} %)")
    curve = entry["curve"]
    how = f", {curve[6:-1]}" if curve.startswith("cvat (") else ""
    return f"{entry['per_minute']:.0f} ({entry['seconds']:.0f} s{how})"


def _ratio(row: dict) -> str:
    if row["faceprop_over_cvat"] is not None:
        return f"{row['faceprop_over_cvat']:.2f}"
    bound = row.get("bound")
    if bound is None:
        return "—"
    return f"< {bound['ratio']:.2f} (CVAT not met; its {bound['cvat_seconds']:.0f} s to " \
           f"{bound['cvat_target']})"


def headline_table(results: Sequence[ClipResult], summaries: dict[str, dict],
                   target: Target) -> list[str]:
    """Markdown rows: per clip, each workflow's seconds per minute of video to ``target``."""
    workflows = list(dict.fromkeys(w for s in summaries.values()
                                   for w in s[target.label]["workflows"]))
    lines = ["| clip | video min | " + " | ".join(workflows) + " | faceprop / cvat |",
             "|---|---|" + "---|" * len(workflows) + "---|"]
    for r in results:
        row = summaries[r.clip][target.label]
        cells = [_cell(row["workflows"][w]) if w in row["workflows"] else "—"
                 for w in workflows]
        lines.append(f"| {r.clip} | {r.minutes:.2f} | " + " | ".join(cells)
                     + f" | {_ratio(row)} |")
    return lines


def _keep_in_md(points: list[EffortPoint], i: int, reached: set[Target]) -> bool:
    p = points[i]
    new = {t for t in TARGETS if t.met(p.nme_percent, p.worst_nme_percent)} - reached
    return i in (0, len(points) - 1) or p.round % MD_EVERY == 0 or bool(new)


def clip_table(result: ClipResult) -> list[str]:
    """Markdown rows of every curve point (CVAT's chosen strategy and dlib thinned)."""
    named = curves(result)
    shown = [n for n in named if not n.startswith("cvat (")]
    chosen = chosen_cvat(named)
    shown += [chosen] if chosen else []
    lines = ["| workflow | round | reviewed | labelled | drags | working s | waiting s | NME % "
             "| worst NME % | FR@0.08 | note |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in shown:
        points, reached = named[name], set()
        thin = name.startswith("cvat") or name == "dlib"
        for i, p in enumerate(points):
            if thin and not _keep_in_md(points, i, reached):
                continue
            reached |= {t for t in TARGETS if t.met(p.nme_percent, p.worst_nme_percent)}
            lines.append(f"| {p.workflow} | {p.round} | {p.reviewed} | {p.labelled} | {p.drags} "
                         f"| {p.working_s:.0f} | {p.waiting_s:.0f} | {p.nme_percent:.2f} | "
                         f"{p.worst_nme_percent:.2f} | {p.failure_rate:.3f} | {p.note} |")
    return lines


def cvat_table(result: ClipResult) -> list[str]:
    """Markdown rows: each CVAT strategy's working seconds to each target and where it ended."""
    named = curves(result)
    names = [n for n in named if n.startswith("cvat (")]
    if not names:
        return []
    lines = ["| CVAT strategy | " + " | ".join(f"s to {t.label}" for t in TARGETS)
             + " | reviewed | drags | ends NME % / worst % |",
             "|---|" + "---|" * len(TARGETS) + "---|---|---|"]
    for name in names:
        pts = named[name]
        seconds = [seconds_to_target(pts, t) for t in TARGETS]
        lines.append(f"| {name[6:-1]} | " + " | ".join("—" if v is None else f"{v:.0f}"
                                                       for v in seconds)
                     + f" | {pts[-1].reviewed} | {pts[-1].drags} | {pts[-1].nme_percent:.2f} / "
                       f"{pts[-1].worst_nme_percent:.2f} |")
    return lines


def effort_charts(result: ClipResult, out: Path) -> list[Path]:
    """Mean and worst-frame NME against working seconds (log scale: CVAT's take 10× longer),
    one line per workflow, the target as a flat line."""
    named = curves(result)
    chosen = chosen_cvat(named)
    shown = [n for n in named if not n.startswith("cvat (")] + ([chosen] if chosen else [])
    paths = []
    for field, limit, label, stem in (("nme_percent", HEADLINE.mean_percent, "mean NME %",
                                       "effort"),
                                      ("worst_nme_percent", HEADLINE.worst_percent,
                                       "worst frame's NME %", "effort_worst")):
        series = [Series(n, np.log10(np.maximum([p.working_s for p in named[n]], 1.0)),
                         np.array([getattr(p, field) for p in named[n]], float))
                  for n in shown]
        x_lo = math.floor(min((float(s.x.min()) for s in series if len(s.x)), default=1.0))
        x_hi = math.ceil(max((float(s.x.max()) for s in series if len(s.x)), default=2.0))
        series.append(Series(f"target {limit:g} %", np.array([x_lo, x_hi]),
                             np.array([limit, limit])))
        y_hi = max(limit * 3, min(max(float(np.nanmax(s.y)) for s in series), limit * 5))
        paths.append(line_chart(series, out / f"{stem}_{result.clip}.png",
                                title=f"{result.clip}: {label} against annotator seconds",
                                x_label="log10 annotator (working) seconds: 3 = 1000 s",
                                y_label=label, x_range=(float(x_lo), float(x_hi)),
                                y_range=(0.0, math.ceil(y_hi))))
    return paths


def write_report(results: Sequence[ClipResult], settings: dict, out: Path) -> dict:
    """report.md, report.json and the effort charts of every clip into ``out``."""
    summaries = {r.clip: summarise(r) for r in results}
    person = settings.get("person", {})
    lines = ["# FaceProp simulated annotator: annotator seconds", "",
             f"Settings: {json.dumps(settings)}", "",
             f"The person reviews a frame ({person.get('review_s')} s), drags the worst point "
             f"while any is off by more than {person.get('threshold')} × inter-ocular distance "
             f"({person.get('drag_s')} s a drag, landing with σ = {person.get('drag_noise')} × "
             f"inter-ocular distance), and accepts it ({person.get('accept_s')} s). Working "
             "seconds are the person's; waiting seconds the wall time of propagations and "
             "re-solves. NME and FR@0.08 over every frame. A cell: seconds per minute of video "
             "(working seconds; CVAT's cheapest strategy).", ""]
    for target in TARGETS:
        lines += [f"## Annotator seconds per minute of video to {target.label}", ""]
        lines += headline_table(results, summaries, target) + [""]
    for r in results:
        lines += [f"## {r.clip}", "", *(f"Note: {n}" for n in r.notes), ""]
        lines += clip_table(r) + [""]
        lines += cvat_table(r) + [""]
        effort_charts(r, out)
    (out / "report.md").write_text("\n".join(lines) + "\n")
    report = {"settings": settings, "headline": HEADLINE.label,
              "summary": {r.clip: {"frames": r.frames, "fps": r.fps, "minutes": r.minutes,
                                   "notes": r.notes, "targets": summaries[r.clip]}
                          for r in results},
              "points": [asdict(p) for r in results for p in r.points]}
    (out / "report.json").write_text(json.dumps(report, indent=2))
    return report


def read_results(report: dict) -> tuple[list[ClipResult], dict]:
    """The clip results and settings back from a report.json (to rewrite its report)."""
    results = []
    for clip, info in report["summary"].items():
        points = [EffortPoint(**p) for p in report["points"] if p["clip"] == clip]
        results.append(ClipResult(clip, info["frames"], info["fps"], points, info["notes"]))
    return results, report["settings"]
