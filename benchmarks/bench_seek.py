"""Benchmark of core.video random access against plain OpenCV seeking.

Writes a synthetic video (MJPG, and mp4v when this OpenCV can write it), indexes it, reads random
frames through ``VideoReader`` and through ``cv2.VideoCapture.set(CAP_PROP_POS_FRAMES)+read``, and
checks every frame against a linear decode (kept as per-frame hashes to bound memory). Rows marked
"untrusted seeks" force the reader's verify-and-identify path, as for files whose container seeks
are off. Usage: ``python benchmarks/bench_seek.py [--frames 1000] [--size 640x480] [--seeks 200]
[--out FILE.json] [--real VIDEO]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from core.video import VideoIndex, VideoReader, probe_video, write_video  # noqa: E402

DEFAULT_REAL = REPO_ROOT / ".." / "shared" / "data" / "videos" / "WolfgangLanger_Pexels.mp4"


def synthetic_frames(n: int, width: int, height: int, seed: int = 0) -> Iterator[np.ndarray]:
    """A drifting smooth texture, a moving disc and the frame number: every frame differs."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (2 * height, 2 * width, 3), dtype=np.uint8)
    texture = cv2.GaussianBlur(noise, (0, 0), 3)
    texture = cv2.add(texture // 2, rng.integers(0, 24, texture.shape, dtype=np.uint8))
    for i in range(n):
        dy, dx = (7 * i) % height, (5 * i) % width
        image = texture[dy:dy + height, dx:dx + width].copy()
        cv2.circle(image, ((13 * i) % width, height // 3), height // 10, (30, 60, 240), -1)
        cv2.putText(image, f"{i:05d}", (width // 10, 3 * height // 4),
                    cv2.FONT_HERSHEY_SIMPLEX, width / 220, (255, 255, 255), max(2, width // 160))
        yield image


def digest(image: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(image), digest_size=16).digest()


def linear_hashes(path: Path, backend: str = "ffmpeg") -> tuple[list[bytes], float]:
    """Per-frame hashes of a sequential decode, and the seconds spent decoding."""
    api = cv2.CAP_OPENCV_MJPEG if backend == "mjpeg" else cv2.CAP_FFMPEG
    cap = cv2.VideoCapture(str(path), api)
    hashes, decoding = [], 0.0
    while True:
        t0 = time.perf_counter()
        ok, image = cap.read()
        decoding += time.perf_counter() - t0
        if not ok:
            break
        hashes.append(digest(image))
    cap.release()
    return hashes, decoding


def ms(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)) * 1e3, 3)


def bench_one(label: str, path: Path, n_seeks: int, seed: int,
              index: VideoIndex | None = None, untrusted: bool = False) -> dict:
    ffmpeg_hashes, decode_s = linear_hashes(path)
    index_s = 0.0
    if index is None:
        t0 = time.perf_counter()
        _, index = probe_video(path)
        index_s = time.perf_counter() - t0
    hashes = ffmpeg_hashes
    if index.backend != "ffmpeg":  # the reader's own decoder is the reference for the reader
        hashes, _ = linear_hashes(path, index.backend)
    if untrusted:
        index = dataclasses.replace(index, seek_exact=False)
    n = len(hashes)
    targets = np.random.default_rng(seed).choice(n, min(n_seeks, n), replace=False).tolist()
    seek_times, cached_times, wrong = [], [], 0
    with VideoReader(path, index) as reader:
        reader.frame(0)
        for i in targets:
            hit = reader.is_cached(i)
            t0 = time.perf_counter()
            image = reader.frame(i)
            (cached_times if hit else seek_times).append(time.perf_counter() - t0)
            wrong += digest(image) != hashes[i]
        for i in [i for i in targets if reader.is_cached(i)]:
            t0 = time.perf_counter()
            reader.frame(i)
            cached_times.append(time.perf_counter() - t0)
        stats = reader.stats
    base_times, base_wrong = [], 0
    cap = cv2.VideoCapture(str(path))
    for i in targets:
        t0 = time.perf_counter()
        cap.set(cv2.CAP_PROP_POS_FRAMES, i)
        ok, image = cap.read()
        base_times.append(time.perf_counter() - t0)
        base_wrong += not ok or digest(image) != ffmpeg_hashes[i]
    cap.release()
    return {
        "video": label, "path": str(path), "frames": n,
        "container_frames": index.container_frame_count, "size": f"{index.width}x{index.height}",
        "file_mb": round(path.stat().st_size / 2**20, 2), "reader_backend": index.backend,
        "index_s": round(index_s, 3), "linear_decode_s": round(decode_s, 3),
        "seeks": len(targets), "seek_median_ms": ms(seek_times, 50),
        "seek_p95_ms": ms(seek_times, 95),
        "cached_median_us": round(float(np.median(cached_times)) * 1e6, 1),
        "reader_exact": wrong == 0, "reader_wrong": wrong, "seek_exact_flag": index.seek_exact,
        "cv2_median_ms": ms(base_times, 50), "cv2_p95_ms": ms(base_times, 95),
        "cv2_exact": base_wrong == 0, "cv2_wrong": base_wrong, "reader_stats": stats,
    }


def markdown(rows: list[dict]) -> str:
    head = ("| video | frames | index s | linear decode s | seek median ms | seek p95 ms | "
            "cached median µs | cv2 set+read median ms | cv2 exact | reader exact | "
            "reader decoder |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    def exact(ok: bool, wrong: int) -> str:
        return "yes" if ok else f"NO ({wrong} wrong)"

    for r in rows:
        index_s = f"{r['index_s']:.2f}" if r["index_s"] else "(reused)"
        lines.append(
            f"| {r['video']} | {r['frames']} | {index_s} | {r['linear_decode_s']:.2f} | "
            f"{r['seek_median_ms']:.2f} | {r['seek_p95_ms']:.2f} | "
            f"{r['cached_median_us']:.1f} | {r['cv2_median_ms']:.2f} | "
            f"{exact(r['cv2_exact'], r['cv2_wrong'])} | "
            f"{exact(r['reader_exact'], r['reader_wrong'])} | {r['reader_backend']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--seeks", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL,
                        help="also measure this real video when it exists")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_seek_") as tmp:
        for fourcc, name in (("MJPG", "synthetic.avi"), ("mp4v", "synthetic.mp4")):
            path = Path(tmp) / name
            t0 = time.perf_counter()
            try:
                write_video(path, synthetic_frames(args.frames, width, height), 25.0, fourcc)
            except Exception as exc:  # a codec this OpenCV build lacks is reported, not fatal
                print(f"skipping {fourcc}: {exc}", file=sys.stderr)
                continue
            print(f"wrote {path.name} ({fourcc}) in {time.perf_counter() - t0:.1f} s",
                  file=sys.stderr)
            row = bench_one(f"{fourcc} {width}x{height}", path, args.seeks, args.seed)
            rows.append(row)
            _, index = probe_video(path)
            rows.append(bench_one(f"{fourcc} {width}x{height}, untrusted seeks", path,
                                  args.seeks, args.seed, index, untrusted=True))
        if args.real and args.real.exists():
            rows.append(bench_one(f"real: {args.real.name}", args.real.resolve(), args.seeks,
                                  args.seed))
    table = markdown(rows)
    print(table)
    if args.out:
        env = {"python": platform.python_version(), "opencv": cv2.__version__,
               "numpy": np.__version__, "cpus": os.cpu_count(), "machine": platform.machine()}
        report = {"config": {k: str(v) if isinstance(v, Path) else v
                             for k, v in vars(args).items()},
                  "environment": env, "results": rows, "markdown": table}
        args.out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
