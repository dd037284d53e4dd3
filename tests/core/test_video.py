"""Tests of core.video: true frame counts, exact random access, cache, prefetch, transcoding."""

from __future__ import annotations

import hashlib
import struct
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.errors import CancelledError, VideoError
from core.video import (
    VideoIndex,
    VideoReader,
    file_hash,
    probe_video,
    transcode_to_mjpg,
    write_video,
)
from core.video import index as video_index
from core.video import reader as video_reader
from tests.conftest import decode_all

REPO_ROOT = Path(__file__).resolve().parents[2]
REAL_VIDEO = REPO_ROOT / ".." / "shared" / "data" / "videos" / "WolfgangLanger_Pexels.mp4"
SIZE = (160, 120)
N_FRAMES = 90


def make_frames(n: int = N_FRAMES, static: range = range(0), seed: int = 3) -> list[np.ndarray]:
    """Distinguishable frames: the number in big digits, a moving disc, noise. Frames whose index
    is in ``static`` are all copies of the first of them (a frozen shot)."""
    rng = np.random.default_rng(seed)
    width, height = SIZE
    frames: list[np.ndarray] = []
    for i in range(n):
        if i in static and i != static.start:
            frames.append(frames[static.start].copy())
            continue
        image = rng.integers(0, 50, size=(height, width, 3), dtype=np.uint8)
        cv2.putText(image, str(i), (8, height - 20), cv2.FONT_HERSHEY_SIMPLEX, 1.8,
                    (255, 255, 255), 3)
        cv2.circle(image, ((7 + 5 * i) % width, 20 + (3 * i) % 30), 9, (40, 80, 250), -1)
        frames.append(image)
    return frames


def write_with_cv2(path: Path, frames: list[np.ndarray], fourcc: str = "MJPG") -> Path | None:
    """Write with a plain cv2.VideoWriter; None when this OpenCV build cannot use the codec."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25.0, SIZE)
    if not writer.isOpened():
        return None
    for image in frames:
        writer.write(image)
    writer.release()
    return path


def mpeg4_vop_types(path: Path) -> str:
    """Coding type of every MPEG-4 part 2 picture in the file: 'I', 'P', 'B' or 'S'."""
    data = path.read_bytes()
    types, at = [], data.find(b"\x00\x00\x01\xb6")
    while at >= 0:
        types.append("IPBS"[data[at + 4] >> 6])
        at = data.find(b"\x00\x00\x01\xb6", at + 4)
    return "".join(types)


def patch_avi_frame_count(path: Path, count: int) -> None:
    """Overwrite dwTotalFrames in 'avih' (and 'dmlh') and dwLength in 'strh'."""
    data = bytearray(path.read_bytes())
    for tag, offset in ((b"avih", 16), (b"strh", 32), (b"dmlh", 0)):
        at = data.find(tag)
        if at >= 0:
            struct.pack_into("<I", data, at + 8 + offset, count)
    path.write_bytes(bytes(data))


class OffsetSeekCapture:
    """A capture whose container seeks land 2..9 frames before or after the request, as the HEVC
    .mov files seen in the field did."""

    def __init__(self, cap: cv2.VideoCapture) -> None:
        self._cap = cap

    def set(self, prop: int, value: float) -> bool:
        if prop == cv2.CAP_PROP_POS_FRAMES and value > 0:
            t = int(value)
            value = max(0, t + (2 + (7 * t) % 8) * (1 if t % 3 else -1))
        return self._cap.set(prop, value)

    def __getattr__(self, name: str):
        return getattr(self._cap, name)


def use_offset_seeks(monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = video_index._open_capture
    for module in (video_index, video_reader):  # the probe and the reader both seek
        monkeypatch.setattr(module, "_open_capture",
                            lambda *args: OffsetSeekCapture(real_open(*args)))


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    frames = make_frames()
    out = {"mjpg": write_with_cv2(folder / "numbers.avi", frames)}
    for key, name, fourcc in (("mp4v", "numbers.mp4", "mp4v"), ("xvid", "xvid.avi", "XVID")):
        path = write_with_cv2(folder / name, frames, fourcc)
        if path is not None:
            out[key] = path
    out["static"] = write_with_cv2(folder / "frozen.avi", make_frames(100, range(30, 70)))
    return out


def assert_random_access_exact(reader: VideoReader, reference: list[np.ndarray],
                               seed: int = 0) -> None:
    order = np.random.default_rng(seed).permutation(len(reference))
    for i in [*order.tolist(), *range(len(reference) - 1, -1, -1)]:
        assert np.array_equal(reader.frame(i), reference[i]), f"frame {i}"


def test_probe_counts_true_frames_and_hashes(clips: dict[str, Path]) -> None:
    calls: list[tuple[int, int]] = []
    info, index = probe_video(clips["mjpg"], progress=lambda k, n: calls.append((k, n)))
    assert (info.frame_count, info.width, info.height, info.fps) == (N_FRAMES, 160, 120, 25.0)
    assert info.container_frame_count == N_FRAMES
    assert info.seek_exact is True and index.backend == "mjpeg"
    assert info.content_hash == hashlib.sha256(clips["mjpg"].read_bytes()).hexdigest()
    assert info.content_hash == file_hash(clips["mjpg"])
    assert index.fingerprints.shape == (N_FRAMES, 64) and index.frame_count == N_FRAMES
    assert calls[-1] == (N_FRAMES, N_FRAMES) and len(calls) > 2


def test_mjpg_random_access_equals_linear_decode(clips: dict[str, Path]) -> None:
    reference = decode_all(clips["mjpg"], "mjpeg")
    by_ffmpeg = decode_all(clips["mjpg"])
    assert len(reference) == len(by_ffmpeg) == N_FRAMES
    for a, b in zip(reference, by_ffmpeg, strict=True):  # the two JPEG decoders nearly agree
        assert cv2.absdiff(a, b).mean() < 2.5
    with VideoReader(clips["mjpg"], cache_frames=0) as reader:  # every access decodes
        assert_random_access_exact(reader, reference)
        assert reader.stats["seeks"] > 50 and reader.stats["from_start"] == 0
        assert reader.frame(5).flags.writeable is False


@pytest.mark.parametrize("key", ["mp4v", "xvid"])
def test_inter_codec_random_access_is_exact(clips: dict[str, Path], key: str) -> None:
    if key not in clips:
        pytest.skip(f"this OpenCV build cannot write {key}")
    types = mpeg4_vop_types(clips[key])
    assert len(types) == N_FRAMES and 1 < types.count("I") < N_FRAMES // 4  # GOP > 1
    reference = decode_all(clips[key])
    with VideoReader(clips[key], cache_frames=0) as reader:
        sequential = list(reader.frames())
        assert all(np.array_equal(a, b) for a, b in zip(sequential, reference, strict=True))
        assert_random_access_exact(reader, reference, seed=1)
        assert reader.stats["seeks"] > 30


@pytest.mark.parametrize(("fourcc", "lie"), [("MJPG", 64), ("XVID", 64), ("XVID", 50)])
def test_lying_container_frame_count(tmp_path: Path, fourcc: str, lie: int) -> None:
    path = write_with_cv2(tmp_path / "liar.avi", make_frames(60), fourcc)
    if path is None:
        pytest.skip(f"this OpenCV build cannot write {fourcc}")
    patch_avi_frame_count(path, lie)
    cap = cv2.VideoCapture(str(path))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == lie  # the header lies...
    cap.release()
    with VideoReader(path) as reader:
        reference = decode_all(path, reader.index.backend)
        assert reader.frame_count == 60 == len(reference)  # ...the reader counts
        assert reader.info.container_frame_count == lie
        assert reader.index.backend == ("mjpeg" if fourcc == "MJPG" else "ffmpeg")
        for i in (59, 0, 58, 31, 59, 45, 52, 12):
            assert np.array_equal(reader.frame(i), reference[i])
        with pytest.raises(VideoError, match=r"liar\.avi.*frame 61"):
            reader.frame(60)


@pytest.mark.parametrize("key", ["mjpg", "mp4v"])
def test_exact_even_when_container_seeks_land_off(clips: dict[str, Path], key: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    if key not in clips:
        pytest.skip(f"this OpenCV build cannot write {key}")
    _, trusted = probe_video(clips[key])
    use_offset_seeks(monkeypatch)
    info, untrusted = probe_video(clips[key])
    assert trusted.seek_exact is True and info.seek_exact is False  # the probe noticed
    for index in (trusted, untrusted):  # a stale "exact" flag must be caught while reading
        reference = decode_all(clips[key], index.backend)
        with VideoReader(clips[key], index, cache_frames=0) as reader:
            assert_random_access_exact(reader, reference, seed=2)
            assert reader.stats["seeks"] > 50 and reader.stats["from_start"] == 0


def test_frozen_frames_do_not_confuse_seeks(clips: dict[str, Path],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _, index = probe_video(clips["static"])
    reference = decode_all(clips["static"], index.backend)
    assert len(reference) == 100 and np.array_equal(reference[35], reference[60])
    use_offset_seeks(monkeypatch)
    with VideoReader(clips["static"], index, cache_frames=0) as reader:
        # after each landing in the frozen run, stepping on reveals a wrong position
        for i in np.random.default_rng(4).permutation(100).tolist():
            for j in range(i, min(i + 3, 100)):
                assert np.array_equal(reader.frame(j), reference[j]), f"frame {j}"
        assert reader.stats["retries"] > 0


def test_lru_cache_is_bounded(clips: dict[str, Path]) -> None:
    with VideoReader(clips["mjpg"], cache_frames=5) as reader:
        for i in range(20):
            reader.frame(i)
        assert reader.cache_size == 5
        assert [i for i in range(20) if reader.is_cached(i)] == [15, 16, 17, 18, 19]
        hits = reader.stats["hits"]
        reader.frame(16)
        reader.frame(20)  # evicts 15, the least recently used
        assert reader.stats["hits"] == hits + 1
        assert [i for i in range(21) if reader.is_cached(i)] == [16, 17, 18, 19, 20]


def wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_prefetch_fills_cache_and_close_stops_the_thread(clips: dict[str, Path]) -> None:
    before = set(threading.enumerate())
    reader = VideoReader(clips["mp4v" if "mp4v" in clips else "mjpg"], cache_frames=40)
    reference = decode_all(Path(reader.info.path), reader.index.backend)
    reader.frame(50)
    reader.prefetch(50, before=6, after=12)
    assert wait_until(lambda: all(reader.is_cached(j) for j in range(44, 63)))
    assert reader.stats["prefetched"] >= 18
    hits = reader.stats["hits"]
    for j in range(44, 63):
        assert np.array_equal(reader.frame(j), reference[j])
    assert reader.stats["hits"] == hits + 19
    workers = set(threading.enumerate()) - before
    assert len(workers) == 1
    reader.prefetch(10)
    reader.close()
    assert not any(t.is_alive() for t in workers)
    with pytest.raises(VideoError, match="closed"):
        reader.frame(3)


def test_reads_while_prefetching_are_exact(clips: dict[str, Path]) -> None:
    key = "mp4v" if "mp4v" in clips else "mjpg"
    with VideoReader(clips[key], cache_frames=24) as reader:
        reference = decode_all(clips[key], reader.index.backend)
        for i in np.random.default_rng(5).integers(0, N_FRAMES, 120).tolist():
            assert np.array_equal(reader.frame(i), reference[i]), f"frame {i}"
            reader.prefetch(i, before=4, after=10)


def test_frames_iterates_a_range(clips: dict[str, Path]) -> None:
    reference = decode_all(clips["mjpg"], "mjpeg")
    with VideoReader(clips["mjpg"]) as reader:
        reader.frame(60)
        chunk = list(reader.frames(10, 20))
        assert len(chunk) == 10
        assert all(np.array_equal(a, b) for a, b in zip(chunk, reference[10:20], strict=True))
        assert sum(1 for _ in reader.frames()) == N_FRAMES
        with pytest.raises(VideoError, match=r"numbers\.avi"):
            reader.frames(5, N_FRAMES + 1)


def test_transcode_to_mjpg(clips: dict[str, Path], tmp_path: Path) -> None:
    source = clips["mp4v" if "mp4v" in clips else "mjpg"]
    reference = decode_all(source)
    calls: list[tuple[int, int]] = []
    dst = tmp_path / "intra.avi"
    info = transcode_to_mjpg(source, dst, progress=lambda k, n: calls.append((k, n)))
    assert info.frame_count == len(reference) == N_FRAMES and info.seek_exact
    assert info.path == str(dst) and not list(tmp_path.glob("*.part*"))
    assert calls[-1] == (2 * N_FRAMES, 2 * N_FRAMES)
    cap = cv2.VideoCapture(str(dst))
    assert int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little") == b"MJPG"
    cap.release()
    with VideoReader(dst) as reader:
        for i in (0, 45, 89, 13):
            image = reader.frame(i).astype(np.int16)
            diff = np.abs(image - reference[i]).mean()
            assert diff < 6.0, f"frame {i} differs by {diff:.2f} grey levels"
            neighbour = i + 1 if i + 1 < N_FRAMES else i - 1
            assert diff < np.abs(image - reference[neighbour]).mean() / 2
    with pytest.raises(CancelledError):
        transcode_to_mjpg(source, tmp_path / "cancelled.avi", should_stop=lambda: True)
    assert not (tmp_path / "cancelled.avi").exists()
    assert not list(tmp_path.glob("cancelled*"))


def test_write_video_counts_and_rejects_bad_input(tmp_path: Path) -> None:
    frames = make_frames(12)
    assert write_video(tmp_path / "out.avi", iter(frames), 25.0) == 12
    assert len(decode_all(tmp_path / "out.avi")) == 12
    assert write_video(tmp_path / "out.mp4", frames, 25.0, "mp4v") == 12
    grey = [f[:, :, 1] for f in frames[:3]]
    assert write_video(tmp_path / "grey.avi", grey, 25.0) == 3
    with pytest.raises(VideoError, match=r"mixed\.avi: frame 3"):
        write_video(tmp_path / "mixed.avi", [frames[0], frames[1], frames[2][:60]], 25.0)
    assert not (tmp_path / "mixed.avi").exists()
    with pytest.raises(VideoError, match="no frames"):
        write_video(tmp_path / "empty.avi", [], 25.0)
    with pytest.raises(VideoError, match="cannot open a video writer"):
        write_video(tmp_path / "missing" / "dir" / "x.mp4", frames, 25.0, "mp4v")


def test_bad_inputs_raise_video_error_naming_the_file(tmp_path: Path,
                                                      clips: dict[str, Path]) -> None:
    with pytest.raises(VideoError, match=r"not found.*nothere\.avi"):
        probe_video(tmp_path / "nothere.avi")
    with pytest.raises(VideoError, match=r"nothere\.avi"):
        VideoReader(tmp_path / "nothere.avi")
    text = tmp_path / "notes.avi"
    text.write_text("this is not a video\n" * 50)
    with pytest.raises(VideoError, match=r"notes\.avi"):
        probe_video(text)
    empty = tmp_path / "empty.avi"
    cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, SIZE).release()
    with pytest.raises(VideoError, match=r"empty\.avi.*no decodable frames"):
        probe_video(empty)
    with pytest.raises(CancelledError):
        probe_video(clips["mjpg"], should_stop=lambda: True)
    with VideoReader(clips["mjpg"]) as reader:
        for bad in (-1, N_FRAMES, 10**6):
            with pytest.raises(VideoError,
                               match=rf"numbers\.avi: frame {bad + 1} is out of range"):
                reader.frame(bad)


def test_index_round_trip_and_mismatch(clips: dict[str, Path], tmp_path: Path) -> None:
    info, index = probe_video(clips["mjpg"])
    copy = VideoIndex.from_bytes(index.to_bytes())
    assert np.array_equal(copy.fingerprints, index.fingerprints)
    assert copy.fingerprints.dtype == np.float32
    fields = ("fps", "width", "height", "container_frame_count", "seek_exact", "content_hash",
              "file_size")
    assert all(getattr(copy, f) == getattr(index, f) for f in fields)
    with VideoReader(clips["mjpg"], copy) as reader:
        assert reader.info == info
    for blob in (b"", b"garbage", index.to_bytes()[:-4]):
        with pytest.raises(VideoError, match="corrupt video index"):
            VideoIndex.from_bytes(blob)
    other = write_with_cv2(tmp_path / "other.avi", make_frames(N_FRAMES, seed=11))
    _, other_index = probe_video(other)
    stale = VideoIndex(other_index.fingerprints, 25.0, 160, 120, N_FRAMES, True, "", -1)
    with pytest.raises(VideoError, match=r"numbers\.avi: frame 1 does not match"):
        VideoReader(clips["mjpg"], stale)


@pytest.mark.shared_data
def test_real_video_count_and_random_frames() -> None:
    if not REAL_VIDEO.exists():
        pytest.skip(f"{REAL_VIDEO} is not available")
    picks = sorted(np.random.default_rng(6).choice(400, 30, replace=False).tolist())
    cap = cv2.VideoCapture(str(REAL_VIDEO))
    expected: dict[int, np.ndarray] = {}
    count = 0
    while cap.grab():
        if count in picks:
            expected[count] = cap.retrieve()[1]
        count += 1
    cap.release()
    with VideoReader(REAL_VIDEO) as reader:
        assert reader.frame_count == count
        for i in np.random.default_rng(7).permutation(picks).tolist():
            assert np.array_equal(reader.frame(i), expected[i]), f"frame {i}"
