"""TSAL: losses, the queue teacher, crop geometry, and the propagation job end to end (CPU)."""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise

import numpy as np
import pytest
import torch

from core.errors import CancelledError, ValidationError
from core.geometry import apply_affine, compose_affine, invert_affine
from core.landmarks import FLIP_PERMUTATION, mean_shape
from core.metrics import nme
from core.propagation import interpolate
from tests.trainer.tiny import TINY, easy_clip
from trainer.tsal import (
    METHODS,
    PRESETS,
    RunCache,
    RunOptions,
    consistency,
    data,
    device_name,
    losses,
    run,
    select_device,
)
from trainer.tsal.loop import Trainer
from trainer.tsal.models import LandmarkNet, decode
from trainer.tsal.ramps import omega
from trainer.tsal.teacher import QueueTeacher


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return easy_clip(tmp_path_factory.mktemp("tsal_clip"), frames=40, seed=3)


def crop_store(clip: dict, affines: np.ndarray, cfg=TINY, **kwargs) -> data.CropStore:
    store = data.CropStore(clip["n"], cfg.crop, **kwargs)
    assert store.fill(data.FrameReader(clip["frame"], clip["n"]), affines)
    return store


def _fixed_batch(clip: dict, cfg=TINY) -> data.Batch:
    prior = interpolate(clip["n"], clip["keys"]).points.astype(np.float64)
    affines = data.align_affines(prior, cfg.crop, cfg.margin)
    frames = crop_store(clip, affines, cfg)
    sampler = data.Sampler(frames, clip["keys"], prior, affines, cfg, np.random.default_rng(0))
    return sampler.batch()


# ------------------------------------------------------------------ geometry


def test_crop_uncrop_is_exact_to_1e4_px() -> None:
    rng = np.random.default_rng(1)
    shapes = rng.uniform(50, 400, size=(5, 68, 2))
    affines = data.align_affines(shapes, 64, 1.45)
    back = invert_affine(affines)
    pts = rng.uniform(0, 640, size=(5, 68, 2))
    assert np.abs(apply_affine(back, apply_affine(affines, pts)) - pts).max() < 1e-4
    geometry, _ = data.random_geometry(rng, PRESETS["fast"])
    m = compose_affine(geometry, affines[0])
    assert np.abs(apply_affine(invert_affine(m), apply_affine(m, pts[0])) - pts[0]).max() < 1e-4


def test_crop_puts_a_bright_dot_where_the_affine_says() -> None:
    ys, xs = np.mgrid[:240, :320]
    image = (255 * np.exp(-((xs - 150.0) ** 2 + (ys - 100.0) ** 2) / 18.0)).astype(np.uint8)
    shape = mean_shape() * 40.0 + np.array([140.0, 90.0])
    m = data.align_affines(shape[None], 64, 1.45)[0]
    crop = data.warp(image, m, 64)
    expect = apply_affine(m, np.array([[150.0, 100.0]]))[0]
    ys, xs = np.mgrid[:64, :64]
    centre = np.array([(crop * xs).sum(), (crop * ys).sum()]) / crop.sum()
    assert np.abs(centre - expect).max() < 0.1


@pytest.mark.parametrize("memory", [data.CROP_MEMORY, 0])
def test_crops_come_from_the_context_crop_as_from_the_frame(clip: dict, memory: int) -> None:
    """An unaugmented crop is the frame's aligned crop (to one grey level of fixed-point
    rounding); an augmented one matches a warp
    of the whole frame up to the second interpolation; in memory or in a file alike."""
    cfg = PRESETS["fast"]
    prior = interpolate(clip["n"], clip["keys"]).points.astype(np.float64)
    affines = data.align_affines(prior, cfg.crop, cfg.margin)
    store = crop_store(clip, affines, cfg, memory_bytes=memory)
    assert store.on_disk == (memory == 0)
    reader = data.FrameReader(clip["frame"], clip["n"])
    for t in (0, 7, clip["n"] - 1):
        direct = data.warp(reader.gray(t), affines[t], cfg.crop)
        np.testing.assert_allclose(store.crops([t])[0, 0], direct, atol=1.01 / 255, rtol=0)
        geometry, _ = data.random_geometry(np.random.default_rng(t), cfg)
        moved = data.warp(reader.gray(t), compose_affine(geometry, affines[t]), cfg.crop)
        assert np.abs(store.warp(t, geometry) - moved).mean() < 0.02
        assert np.abs(store.crops([t])[0, 0] - moved).mean() > 0.03  # the geometry matters
    store.close()


def test_mirrored_augmentation_permutes_landmarks(clip: dict) -> None:
    cfg = replace(TINY, aug_flip=1.0, aug_rotate_deg=0.0, aug_scale=0.0, aug_shift=0.0)
    prior = interpolate(clip["n"], clip["keys"]).points.astype(np.float64)
    affines = data.align_affines(prior, cfg.crop, cfg.margin)
    frames = crop_store(clip, affines, cfg)
    sampler = data.Sampler(frames, {0: clip["keys"][0]}, prior, affines, cfg,
                           np.random.default_rng(0))
    _, targets = sampler.labelled(1)
    plain = apply_affine(affines[0], clip["keys"][0])
    mirrored = plain.copy()
    mirrored[:, 0] = cfg.crop - 1 - mirrored[:, 0]
    np.testing.assert_allclose(targets[0], mirrored[FLIP_PERMUTATION], atol=1e-3)


# ------------------------------------------------------------------ losses and the teacher


def test_soft_argmax_decodes_a_peaked_heatmap() -> None:
    logits = torch.full((1, 68 + 1 + 136, 12, 12), -30.0)
    logits[0, :68, 5, 7] = 30.0
    logits[0, 68, 6, 6] = 30.0
    d = decode((logits[:, :68], logits[:, 68:69], logits[:, 69:] * 0), 48)
    np.testing.assert_allclose(d.pm[0, 0].numpy(), [(7 + 0.5) * 4 - 0.5, (5 + 0.5) * 4 - 0.5],
                               atol=1e-3)
    np.testing.assert_allclose(d.pc[0, 3].numpy(), [25.5, 25.5], atol=1e-3)


@pytest.mark.parametrize("part", ["lm", "centre", "pseudo", "sic", "mfds", "dsc"])
def test_each_loss_is_finite_and_falls_on_a_fixed_batch(clip: dict, part: str) -> None:
    torch.manual_seed(0)
    trainer = Trainer(TINY)
    b = trainer._tensors(_fixed_batch(clip))
    model = trainer.student
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    values = []
    for _ in range(12):
        d, n_lab, c = trainer._run(model, b)
        k = TINY.clip_len
        cl = slice(n_lab, n_lab + c * k)
        if part == "lm":
            loss = losses.heatmap_loss(d.heat[:n_lab], d.pm[:n_lab], b["targets"], TINY.crop,
                                       TINY.heat_sigma)
        elif part == "centre":
            loss = losses.centre_loss(d, torch.cat([b["targets"],
                                      b["clip_phi"].reshape(-1, 68, 2)]), TINY.crop)
        elif part == "pseudo":
            loss = losses.heatmap_loss(d.heat[cl], d.pm[cl], b["clip_phi"].reshape(-1, 68, 2),
                                       TINY.crop, TINY.heat_sigma)
        elif part == "sic":
            phi = b["clip_phi"]
            loss = losses.sic_loss(d.offsets[cl].reshape(c, k, 68, 2),
                                   phi[..., 0].amax(-1) - phi[..., 0].amin(-1))
        elif part == "mfds":
            loss = losses.mfds_loss(d.pm[cl].reshape(c, k, 68, 2), b["clip_to_frame"],
                                    b["clip_delta"], b["clip_scale"])
        else:  # the same disturbance every time: the loss must fall on it
            torch.manual_seed(7)
            clean = b["clip_images"].reshape(c * k, *b["clip_images"].shape[2:])
            disturbed, forward = consistency.disturb(clean, c)
            moved = decode(model(disturbed), TINY.crop)
            loss = consistency.dsc_loss(moved.pm, d.pm[cl], forward, TINY.crop)
        assert torch.isfinite(loss)
        values.append(float(loss.detach()))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert values[-1] < values[0], values


def test_full_step_returns_finite_losses_for_both_models(clip: dict) -> None:
    trainer = Trainer(TINY)
    out = trainer.step(_fixed_batch(clip))
    for name in ("s_loss", "t_loss", "s_sic", "t_mfds", "s_pseudo", "omega"):
        assert np.isfinite(out[name]), name
    assert trainer.step_count == 1


def test_teacher_update_matches_a_hand_computation() -> None:
    teacher, student = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    with torch.no_grad():
        teacher.weight[:] = torch.tensor([[1.0, 2.0]])
        teacher.bias[:] = 0.0
    q = QueueTeacher(teacher, queue=2, lam=0.9)
    snapshots = [([3.0, 4.0], 1.0), ([5.0, 0.0], -1.0), ([1.0, 1.0], 2.0)]
    w, b, seen = np.array([1.0, 2.0]), 0.0, []
    for sw, sb in snapshots:
        with torch.no_grad():
            student.weight[:] = torch.tensor([sw])
            student.bias[:] = sb
        q.update(student)
        seen = (seen + [(np.array(sw), sb)])[-2:]
        w = 0.9 * w + 0.1 * np.mean([s[0] for s in seen], axis=0)
        b = 0.9 * b + 0.1 * np.mean([s[1] for s in seen])
    np.testing.assert_allclose(teacher.weight.detach().numpy()[0], w, rtol=1e-6)
    np.testing.assert_allclose(float(teacher.bias.detach()), b, rtol=1e-6)
    assert len(q) == 2


def test_omega_ramps_up_holds_and_decays() -> None:
    values = [omega(t, 100, peak=2.0, up=0.3, down=0.2, end=0.5) for t in range(101)]
    assert values[0] == pytest.approx(2.0 * np.exp(-5.0))
    assert all(a <= b + 1e-12 for a, b in pairwise(values[:31]))
    assert values[50] == 2.0
    assert values[100] == pytest.approx(1.0)


def test_network_output_shapes() -> None:
    net = LandmarkNet(8)
    heat, centre, offsets = net(torch.rand(2, 1, 48, 48))
    assert heat.shape == (2, 68, 12, 12) and centre.shape == (2, 1, 12, 12)
    assert offsets.shape == (2, 136, 12, 12)


# ------------------------------------------------------------------ the job


def test_end_to_end_final_beats_interpolation_and_keeps_keyframes(clip: dict) -> None:
    calls: list[tuple[int, int]] = []
    result = run(clip["frame"], clip["n"], clip["keys"], TINY,
                 progress=lambda s, t, **_: calls.append((s, t)))
    gt, keys = clip["gt"], clip["keys"]
    mask = np.ones(clip["n"], bool)
    mask[list(keys)] = False
    interp = np.mean(nme(interpolate(clip["n"], keys).points, gt)[mask])
    for name in ("teacher", "student", "final"):
        prop = result[name]
        assert prop.points.shape == (clip["n"], 68, 2) and prop.points.dtype == np.float32
        assert prop.confidence.shape == (clip["n"], 68)
        assert np.all((prop.confidence >= 0) & (prop.confidence <= 1))
        for k, pts in keys.items():
            np.testing.assert_array_equal(prop.points[k], pts)
            assert np.all(prop.confidence[k] == 1.0)
    final = np.mean(nme(result["final"].points, gt)[mask])
    assert final < interp, (final, interp)
    assert calls and calls[-1][0] == calls[-1][1]
    # no hidden cache: the same call trains again; with one RunCache the calls share a training
    cache = RunCache()
    shared = run(clip["frame"], clip["n"], keys, TINY, options=RunOptions(cache=cache))
    phases: list[str | None] = []
    again = run(clip["frame"], clip["n"], keys, TINY, options=RunOptions(cache=cache),
                progress=lambda s, t, phase=None, **_: phases.append(phase))
    assert phases == ["cached"]  # no flow, no training
    np.testing.assert_array_equal(again["final"].points, shared["final"].points)
    # the smoother's setting acts after training: a fixed one shares the training too
    fixed = run(clip["frame"], clip["n"], keys, replace(TINY, smooth_choice="fixed"),
                options=RunOptions(cache=cache))
    assert len(cache) == 1
    np.testing.assert_array_equal(fixed["teacher"].points, shared["teacher"].points)
    assert fixed["final"].info["smooth_choice"] == "fixed"
    assert fixed["final"].info["smooth_accel"] == [TINY.smooth_accel]
    # so does the shape model's completion of the fused points, which changes the final
    # output, and the estimate with it, but no network's
    plain = run(clip["frame"], clip["n"], keys, replace(TINY, shape_complete=False),
                options=RunOptions(cache=cache))
    assert len(cache) == 1
    np.testing.assert_array_equal(plain["teacher"].points, shared["teacher"].points)
    assert not np.allclose(plain["final"].points, shared["final"].points)
    for k, pts in keys.items():
        np.testing.assert_array_equal(shared["final"].points[k], pts)
    if shared["final"].info["held_out_errors"]:
        assert shared["final"].info["held_out_errors"] != plain["final"].info["held_out_errors"]


def test_deterministic_for_a_seed(clip: dict) -> None:
    cfg = replace(TINY, steps=4, seed=5)
    a = run(clip["frame"], clip["n"], clip["keys"], cfg)["teacher"].points
    b = run(clip["frame"], clip["n"], clip["keys"], cfg)["teacher"].points
    np.testing.assert_array_equal(a, b)


def test_should_stop_raises_cancelled(clip: dict) -> None:
    with pytest.raises(CancelledError):
        run(clip["frame"], clip["n"], clip["keys"], replace(TINY, seed=9),
            should_stop=lambda: True)


def test_methods_registry_and_errors(clip: dict) -> None:
    assert {"supervised", "student", "teacher", "final", "no-sic", "no-mfds",
            "no-async"} <= set(METHODS)
    assert device_name(torch.device("cpu")) == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert select_device("auto").type == expected == select_device(None).type
    if not torch.cuda.is_available():
        with pytest.raises(ValidationError, match="CUDA was requested"):
            select_device("cuda")
    with pytest.raises(ValidationError, match="auto, cpu or cuda"):
        select_device("tpu")
    with pytest.raises(ValidationError, match="no keyframes"):
        METHODS["teacher"](clip["frame"], clip["n"], {})
    with pytest.raises(ValidationError, match="frame 99"):
        METHODS["teacher"](clip["frame"], clip["n"], {99: clip["keys"][0]})


def test_sct_spread_by_hand_and_self_distillation_runs(clip: dict) -> None:
    from trainer.tsal.distill import elt_transform, spread

    pts = torch.tensor([[[0.0, 0.0], [2.0, 0.0], [1.0, 3.0]]])  # mean (1, 1)
    # |−1|+|−1| + |1|+|−1| + |0|+|2| = 6
    assert float(spread(pts)[0]) == pytest.approx(6.0)
    t = elt_transform(np.random.default_rng(0), TINY)
    assert abs(np.linalg.det(t[:, :2])) == pytest.approx(1.0, abs=0.36)  # scale 0.8–1.0
    cfg = replace(TINY, steps=8, self_distill=1, sd_fraction=0.5, seed=2)
    result = run(clip["frame"], clip["n"], clip["keys"], cfg)
    sd = result["teacher+sd"]
    assert np.all(np.isfinite(sd.points)) and sd.points.shape == (clip["n"], 68, 2)
    assert not np.array_equal(sd.points, result["teacher"].points)


def test_a_damaged_checkpoint_is_set_aside_and_training_goes_on_cold(tmp_path, caplog):
    from trainer.tsal import checkpoint

    path = tmp_path / "latest.pt"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with caplog.at_level("WARNING"):
        assert checkpoint.load_or_set_aside(path) is None
    assert not path.exists() and (tmp_path / "latest.pt.corrupt").is_file()
    assert "latest.pt: not a readable TSAL checkpoint" in caplog.text
    assert checkpoint.load_or_set_aside(path) is None  # nothing there now: a cold start


def test_frame_reader_keeps_grey_frames_within_its_budget() -> None:
    calls: list[int] = []

    def frame(i: int) -> np.ndarray:
        calls.append(i)
        return np.full((10, 20, 3), i, np.uint8)

    reader = data.FrameReader(frame, 5, cache_bytes=3 * 200)  # three 10x20 grey frames
    first = reader.gray(0)
    assert reader.gray(0) is first and calls == [0]  # decoded once
    assert not first.flags.writeable  # shared: nobody may draw on it
    for i in (1, 2, 3):  # the fourth frame pushes out the least recently used (0)
        reader.gray(i)
    reader.gray(0)
    assert calls == [0, 1, 2, 3, 0]
    reader.gray(3)
    assert calls == [0, 1, 2, 3, 0]  # still held
    nothing = data.FrameReader(frame, 5, cache_bytes=0)
    nothing.gray(1)
    nothing.gray(1)
    assert calls[-2:] == [1, 1]


def test_the_bf16_path_trains_and_predicts_with_float32_outputs(clip: dict, monkeypatch) -> None:
    """The quality preset's bf16 autocast runs only on CUDA, which no CI machine has: the same
    code under CPU autocast (bfloat16 there too) must give finite losses, float32 decoded
    points and a step that learns, so a dtype slip in the networks or losses shows here."""
    from trainer.tsal import loop, models

    def on_any_device(device: torch.device, enabled: bool) -> torch.autocast:
        return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16,
                              enabled=bool(enabled))

    monkeypatch.setattr(loop, "mixed_precision", on_any_device)
    monkeypatch.setattr(models, "mixed_precision", on_any_device)
    cfg = replace(TINY, bf16=True)
    trainer = Trainer(cfg)
    batch = _fixed_batch(clip)
    first = trainer.step(batch)
    for name in ("s_loss", "t_loss", "s_sic", "t_mfds", "s_pseudo"):
        assert np.isfinite(first[name]), name
    for _ in range(15):
        last = trainer.step(batch)
    assert last["s_loss"] < first["s_loss"]
    # prediction under bf16 lands where float32's does (0.006 crop pixels apart here)
    half = models.infer(trainer.student, batch.images, cfg.crop, "cpu", True)[0]
    full = models.infer(trainer.student, batch.images, cfg.crop, "cpu", False)[0]
    assert np.isfinite(half).all() and np.abs(half - full).mean() < 0.05
