"""The learned motion field (trainer.tsal.mfe): ℓE, its refinement of DIS, the deviation term,
tracking with it, and the job's ``flow="mfe"`` switch."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from core.errors import CancelledError, ValidationError
from core.propagation import flow_track, holdout
from tests.trainer.tiny import easy_clip
from trainer.tsal import METHODS, PRESETS, RunOptions, data, mfe, phi, run, validation
from trainer.tsal.optim import AdamW

S = mfe.SIZE
TINY = replace(PRESETS["fast"], crop=48, width=8, steps=20, batch_labelled=6, clips_per_step=2,
               clip_len=3, lr=4e-3, flow="mfe", mfe_steps=12)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks: a second thread only spins when the machine is busy."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _texture(seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.normal(128, 60, (S + 40, S + 40)).astype(np.float32)
    return cv2.normalize(cv2.GaussianBlur(noise, (0, 0), 2.0), None, 0, 255, cv2.NORM_MINMAX)


def _pair(shift: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Two uint8 patches, the second the first's content moved by ``shift`` (patch pixels)."""
    texture = _texture()
    moved = cv2.warpAffine(texture, np.float32([[1, 0, shift[0]], [0, 1, shift[1]]]),
                           texture.shape[::-1], flags=cv2.INTER_CUBIC)
    inner = (slice(20, 20 + S), slice(20, 20 + S))
    return (texture[inner].round().astype(np.uint8), moved[inner].round().astype(np.uint8))


def _window(src: np.ndarray, dst: np.ndarray, start_at_zero: bool = False) -> mfe.Window:
    dis = mfe._dis()
    forward, backward = dis.calc(src, dst, None), dis.calc(dst, src, None)
    if start_at_zero:  # as if DIS had found nothing: the network must find the motion
        forward, backward = 0 * forward, 0 * backward
    x = np.stack([mfe.inputs(src, dst, forward), mfe.inputs(dst, src, backward)])
    return mfe.Window(torch.from_numpy(x), np.full((1, 2), (S - 1) / 2), np.array([S]), None)


def _field_error(net: mfe.MotionNet, window: mfe.Window, shift: tuple[float, float]) -> float:
    """Mean end-point error of both directions' fields away from the patch border."""
    with torch.no_grad():
        v = mfe.field_of(net, window.x)[:, :, 8:-8, 8:-8]
    true = torch.tensor(shift, dtype=torch.float32)[:, None, None]
    return float(((v[0] - true).norm(dim=0).mean() + (v[1] + true).norm(dim=0).mean()) / 2)


def _fit(window: mfe.Window, steps: int) -> tuple[mfe.MotionNet, list[float]]:
    torch.manual_seed(0)
    net = mfe.MotionNet()
    opt = AdamW(net.parameters(), lr=mfe.LR)
    losses = []
    for _ in range(steps):
        loss, _parts = mfe.window_loss(net, window, 1.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return net, losses


# ------------------------------------------------------------------ the field and ℓE


def test_the_loss_is_finite_and_falls_when_the_network_must_find_a_shift() -> None:
    shift = (1.5, -1.0)
    window = _window(*_pair(shift), start_at_zero=True)
    before = _field_error(mfe.MotionNet(), window, shift)
    assert before == pytest.approx(np.hypot(*shift), abs=1e-6)  # zero residual: V = DIS = 0
    net, losses = _fit(window, 30)
    assert all(np.isfinite(losses))
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:3])
    assert _field_error(net, window, shift) < 0.5 * before


def test_training_refines_dis_on_a_sub_pixel_translation() -> None:
    shift = (0.4, -0.3)
    window = _window(*_pair(shift))
    dis_only = _field_error(mfe.MotionNet(), window, shift)
    net, losses = _fit(window, 30)
    refined = _field_error(net, window, shift)
    assert losses[-1] < losses[0]
    assert refined <= dis_only + 0.01, (refined, dis_only)


def test_patches_and_points_share_one_geometry() -> None:
    frame = np.zeros((240, 320), np.uint8)
    dot = np.array([171.3, 96.6])
    cv2.circle(frame, (int(dot[0] * 16), int(dot[1] * 16)), 5 * 16, 255, -1, cv2.LINE_AA, 4)
    box = np.array([[120.0, 60.0], [210.0, 150.0]])
    centre, side = mfe.region(box)
    assert side == int(np.ceil(mfe.PATCH_MARGIN * 90))
    image = mfe.patch(frame, centre, side).astype(np.float64)
    ys, xs = np.mgrid[:S, :S]
    found = np.array([(image * xs).sum(), (image * ys).sum()]) / image.sum()
    np.testing.assert_allclose(found, mfe.to_patch(dot, centre, side), atol=0.05)


def test_points_are_carried_through_the_fields_in_frame_pixels() -> None:
    # two pairs in patches of different sides: a constant field of v patch pixels moves a
    # point by v · side / SIZE frame pixels
    window = mfe.Window(torch.zeros(4, 5, S, S), np.array([[100.0, 80.0], [103.0, 79.0]]),
                        np.array([128.0, 64.0]), None)
    fields = torch.zeros(2, 2, S, S, requires_grad=True)
    v = torch.tensor([[1.0, -2.0], [0.5, 0.25]])
    moved = fields + v[:, :, None, None]
    start = np.array([[100.0, 80.0], [120.0, 70.0]])
    end = mfe.carry(moved, start, window, backwards=False)
    expected = start + 2.0 * v[0].numpy() + 1.0 * v[1].numpy()
    np.testing.assert_allclose(end.detach().numpy(), expected, atol=1e-4)
    end.sum().backward()  # differentiable in the field: this is how the deviation term trains
    assert fields.grad is not None and float(fields.grad.abs().sum()) > 0


def test_windows_keep_validation_keyframes_out_of_the_deviation_term() -> None:
    runs = mfe.windows(100, [5, 15, 25, 60, 70], excluded={25})
    assert (0, 5, False) in runs and (70, 86, False) in runs  # before the first, after the last
    assert (5, 15, True) in runs
    assert (15, 25, False) in runs  # its end is a validation keyframe
    assert (25, 41, False) in runs and (44, 60, False) in runs  # a long gap: its two ends
    assert (60, 70, True) in runs
    assert len(mfe.windows(1000, list(range(0, 1000, 10)), limit=7)) == 7


# ------------------------------------------------------------------ tracking and the job


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return easy_clip(tmp_path_factory.mktemp("mfe_clip"), frames=30, seed=5)


def test_tracking_with_the_field_is_finite_exact_at_keyframes_and_follows_the_face(
        clip: dict) -> None:
    frames = data.FrameReader(clip["frame"], clip["n"])
    lk = flow_track(frames.gray, clip["n"], clip["keys"], method="lk")
    losses: list[dict[str, float]] = []
    field = mfe.train(frames.gray, clip["n"], clip["keys"], lk.points, TINY,
                      tick=lambda step, parts: losses.append(parts))
    assert len(losses) == TINY.mfe_steps and "mfe_deviation" in losses[0]
    assert all(np.isfinite(v) for parts in losses for v in parts.values())
    result = flow_track(frames.gray, clip["n"], clip["keys"], method=field.method())
    assert result.method == mfe.NAME
    assert np.isfinite(result.points).all() and np.isfinite(result.confidence).all()
    for k, pts in clip["keys"].items():
        np.testing.assert_array_equal(result.points[k], pts)
    error = np.linalg.norm(result.points - clip["gt"], axis=-1).mean()
    lk_error = np.linalg.norm(lk.points - clip["gt"], axis=-1).mean()
    assert error < max(2.0 * lk_error, 2.0), (error, lk_error)
    tracks = holdout.track_held_out(frames.gray, clip["keys"], [(0, 10, 20)],
                                    flow=field.method())
    assert len(tracks) == 1 and np.isfinite(tracks[0].points).all()


def test_the_switch_names_every_flow_and_rejects_others(clip: dict) -> None:
    for flow in ("lk", "dis", "mfe"):
        phi.check_flow(flow)
    assert {"teacher-mfe", "final-mfe"} <= set(METHODS)
    assert PRESETS["fast"].flow == "lk"  # off by default
    with pytest.raises(ValidationError, match=r"'farneback'.*lk, dis, mfe"):
        run(clip["frame"], clip["n"], clip["keys"], replace(TINY, flow="farneback"))


def test_teacher_mfe_runs_with_an_mfe_phase_and_ends_at_total(clip: dict) -> None:
    events: list[tuple[int, int, str | None]] = []

    def progress(step: int, total: int, phase: str | None = None, losses=None) -> None:
        events.append((step, total, phase))

    result = METHODS["teacher-mfe"](clip["frame"], clip["n"], clip["keys"], progress,
                                    config=replace(TINY, flow="lk"),
                                    options=RunOptions(device="cpu"))
    assert result.method == "teacher-mfe" and np.isfinite(result.points).all()
    steps = [e[0] for e in events]
    assert steps == sorted(steps) and steps[-1] == events[-1][1]
    assert len({e[1] for e in events}) == 1  # the plan did not change
    phases = list(dict.fromkeys(e[2] for e in events))
    assert phases[:3] == ["flow", "mfe", "held-out"]
    flow_end = max(e[0] for e in events if e[2] == "flow")
    mfe_end = max(e[0] for e in events if e[2] == "mfe")
    assert mfe_end - flow_end == TINY.mfe_steps + clip["n"]  # every step, then every frame


def test_a_stop_while_the_field_trains_cancels_the_job(clip: dict, tmp_path: Path) -> None:
    phases: list[str | None] = []

    def progress(step: int, total: int, phase: str | None = None, losses=None) -> None:
        phases.append(phase)

    with pytest.raises(CancelledError, match="motion field"):
        run(clip["frame"], clip["n"], clip["keys"], TINY, progress, lambda: "mfe" in phases,
            RunOptions(device="cpu", checkpoint_dir=tmp_path / "ckpt"))
    assert phases.count("mfe") == 1 and "held-out" not in phases


def test_the_field_trains_with_the_work_a_video_gives_it() -> None:
    from trainer.tsal.config import mfe_budget

    cfg = replace(PRESETS["fast"], flow="mfe")
    assert [mfe_budget(cfg, n) for n in (30, 300, 3000)] == [20, 100, 100]
    assert phi.phase(cfg, 30) == {"mfe": 20 + 30}
    assert mfe_budget(replace(cfg, mfe_steps=12), 30) == 12  # never past the config's steps


@pytest.mark.parametrize("mfe_better", [False, True])
def test_the_field_is_kept_only_where_it_tracks_the_validation_keyframes_better(
        tmp_path: Path, monkeypatch, mfe_better: bool) -> None:
    from core.propagation import holdout as core_holdout
    from trainer.tsal.progress import JobProgress

    clip = easy_clip(tmp_path / "c", frames=60, seed=2, stride=5)
    keys, n = clip["keys"], clip["n"]
    triples = core_holdout.chosen_triples(list(keys), [(0, n - 1)])
    assert len(validation.validation_set(triples, len(keys), TINY)) >= 3
    said = iter([0.02, 0.01 if mfe_better else 0.03])  # LK's mean error first, then MFE's
    monkeypatch.setattr(phi, "_mean_error", lambda tracks: next(said))
    events = []
    bar = JobProgress({"flow": n, **phi.phase(TINY, n, triples, len(keys))},
                      lambda s, t, **kw: events.append((s, t)))
    frames = data.FrameReader(clip["frame"], n)
    prior, tracker, name = phi.prior(frames, keys, TINY, triples, bar, None)
    bar.finish()
    assert name == ("mfe" if mfe_better else "lk")
    assert isinstance(tracker, str) != mfe_better
    lk = flow_track(frames.gray, n, keys, method="lk").points
    assert np.array_equal(prior.points, lk) != mfe_better
    steps = [s for s, _ in events]
    assert steps == sorted(steps) and events[-1][0] == events[-1][1]
