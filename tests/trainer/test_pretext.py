"""The shuffle pretext warm-up (trainer.tsal.pretext): loss, head, warm-up stage and the job."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import CancelledError, ValidationError
from core.propagation import interpolate
from tests.trainer.tiny import TINY, easy_clip
from trainer.tsal import METHODS, PRESETS, RunOptions, TSALConfig, data, pretext
from trainer.tsal.loop import Trainer
from trainer.tsal.optim import AdamW


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return easy_clip(tmp_path_factory.mktemp("pretext_clip"), frames=40, seed=3)


def sampler_of(clip: dict, cfg: TSALConfig = TINY, seed: int = 0) -> data.Sampler:
    prior = interpolate(clip["n"], clip["keys"]).points.astype(np.float64)
    affines = data.align_affines(prior, cfg.crop, cfg.margin)
    store = data.CropStore(clip["n"], cfg.crop)
    assert store.fill(data.FrameReader(clip["frame"], clip["n"]), affines)
    return data.Sampler(store, clip["keys"], prior, affines, cfg, np.random.default_rng(seed))


def encoder_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()
            if k.split(".")[0] in ("stem", "enc2", "enc4", "enc8")}


# ------------------------------------------------------------------ pieces


def test_shuffle_loss_is_bce_and_finite_on_real_clips(clip: dict) -> None:
    # by hand: logit 0 -> ln 2 whatever the label; a confident right answer costs little
    zero = pretext.shuffle_loss(torch.zeros(4), torch.tensor([1.0, 0.0, 1.0, 0.0]))
    assert float(zero) == pytest.approx(math.log(2.0), rel=1e-6)
    right = pretext.shuffle_loss(torch.tensor([5.0, -5.0]), torch.tensor([1.0, 0.0]))
    wrong = pretext.shuffle_loss(torch.tensor([-5.0, 5.0]), torch.tensor([1.0, 0.0]))
    assert float(right) < 0.01 < 5.0 < float(wrong)
    torch.manual_seed(0)
    trainer = Trainer(TINY)
    sampler = sampler_of(clip)
    head = pretext.ShuffleHead(pretext.encode_width(TINY), TINY.clip_len)
    clips = torch.from_numpy(pretext.clip_batch(sampler, 4))
    perms = torch.from_numpy(pretext.permutations(TINY.clip_len, 4, sampler.rng))
    logits, labels = pretext.order_logits(trainer.student, head, clips, perms)
    assert logits.shape == labels.shape == (8,)
    assert labels.tolist() == [1.0] * 4 + [0.0] * 4
    loss = pretext.shuffle_loss(logits, labels)
    assert torch.isfinite(loss) and 0.3 < float(loss.detach()) < 1.5  # near chance at first


def test_encode_is_the_landmark_networks_encoder_path() -> None:
    torch.manual_seed(1)
    trainer = Trainer(TINY)
    seen: list[torch.Tensor] = []
    trainer.student.enc8.register_forward_hook(lambda m, i, out: seen.append(out))
    images = torch.rand(3, 1, TINY.crop, TINY.crop)
    trainer.student(images)
    pooled = pretext.encode(trainer.student, images)
    assert pooled.shape == (3, pretext.encode_width(TINY))
    torch.testing.assert_close(pooled, seen[0].mean(dim=(2, 3)))


def test_shuffles_are_neither_in_order_nor_reversed() -> None:
    perms = pretext.permutations(4, 200, np.random.default_rng(0))
    for perm in perms:
        assert sorted(perm.tolist()) == [0, 1, 2, 3]
        assert perm.tolist() not in ([0, 1, 2, 3], [3, 2, 1, 0])
    assert len({tuple(p) for p in perms.tolist()}) == 22  # all the others turn up
    with pytest.raises(ValidationError, match="3 frames"):
        pretext.permutations(2, 1, np.random.default_rng(0))


def test_the_head_learns_to_tell_order_from_shuffle_on_a_fixed_batch(clip: dict) -> None:
    torch.manual_seed(0)
    trainer = Trainer(TINY)
    model = trainer.student
    sampler = sampler_of(clip)
    head = pretext.ShuffleHead(pretext.encode_width(TINY), TINY.clip_len)
    clips = torch.from_numpy(pretext.clip_batch(sampler, 8))
    perms = torch.from_numpy(pretext.permutations(TINY.clip_len, 8, sampler.rng))
    params = [p for m in pretext.encoder_modules(model) for p in m.parameters()]
    opt = AdamW([*params, *head.parameters()], lr=TINY.lr)
    values = []
    for _ in range(25):
        logits, labels = pretext.order_logits(model, head, clips, perms)
        loss = pretext.shuffle_loss(logits, labels)
        assert torch.isfinite(loss)
        values.append(float(loss.detach()))
        opt.zero_grad()
        loss.backward()
        opt.step()
    logits, labels = pretext.order_logits(model, head, clips, perms)
    assert values[-1] < 0.5 * values[0], values
    assert bool(((logits > 0).float() == labels).all()), (logits, labels)


# ------------------------------------------------------------------ the warm-up stage


def test_the_option_is_off_by_default_and_only_a_cold_start_warms_up() -> None:
    assert TSALConfig().shuffle_warmup == 0
    assert all(cfg.shuffle_warmup == 0 for cfg in PRESETS.values())
    on = replace(TINY, shuffle_warmup=7)
    assert pretext.phase(on, "cold") == {"pretext": 7}
    for start in ("warm", "resume", "project"):
        assert pretext.phase(on, start) == {}
    assert pretext.phase(TINY, "cold") == {}
    with pytest.raises(ValidationError, match="3 frames"):  # before the job's flow and crops
        pretext.phase(replace(on, clip_len=2), "cold")


def test_warm_up_changes_the_encoder_and_the_teacher_starts_from_it(clip: dict) -> None:
    torch.manual_seed(0)
    trainer = Trainer(TINY)
    before = encoder_state(trainer.student)
    decoder = trainer.student.head.weight.detach().clone()
    ticks: list[dict[str, float] | None] = []
    done = pretext.warm_up(trainer, sampler_of(clip), TINY, 4, tick=ticks.append)
    assert done == 4 and len(ticks) == 4
    assert all(t is not None and math.isfinite(t["shuffle_loss"]) for t in ticks)
    after = encoder_state(trainer.student)
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert len(changed) >= len(before) // 2, changed
    assert torch.equal(trainer.student.head.weight, decoder)  # no gradient reaches it
    for (name, s), t in zip(trainer.student.state_dict().items(),
                            trainer.teacher.state_dict().values(), strict=True):
        assert torch.equal(s, t), name


def test_warm_up_stops_when_asked_and_needs_unlabelled_frames(clip: dict) -> None:
    trainer = Trainer(TINY)
    calls = iter(range(100))
    assert pretext.warm_up(trainer, sampler_of(clip), TINY, 10,
                           should_stop=lambda: next(calls) >= 3) == 3
    every = {t: clip["keys"].get(t, clip["keys"][0]) for t in range(clip["n"])}
    prior = np.stack([every[t] for t in range(clip["n"])]).astype(np.float64)
    affines = data.align_affines(prior, TINY.crop, TINY.margin)
    store = data.CropStore(clip["n"], TINY.crop)
    store.fill(data.FrameReader(clip["frame"], clip["n"]), affines)
    labelled_only = data.Sampler(store, every, prior, affines, TINY, np.random.default_rng(0))
    assert pretext.warm_up(trainer, labelled_only, TINY, 10) == 0  # nothing to make clips of


# ------------------------------------------------------------------ the job


def test_teacher_shuffle_runs_reports_its_pretext_phase_and_ends_at_total(
        clip: dict, tmp_path: Path) -> None:
    events: list[tuple[int, int, str | None]] = []

    def progress(step: int, total: int, phase: str | None = None, losses=None) -> None:
        events.append((step, total, phase))

    options = RunOptions(device="cpu", checkpoint_dir=tmp_path / "ckpt")
    result = METHODS["teacher-shuffle"](clip["frame"], clip["n"], clip["keys"], progress,
                                        config=TINY, options=options)
    assert result.method == "teacher-shuffle" and result.info["start"] == "cold"
    assert np.isfinite(result.points).all()
    steps = [e[0] for e in events]
    assert steps == sorted(steps) and steps[-1] == events[-1][1]
    assert len({e[1] for e in events}) == 1  # the plan did not change
    phases = list(dict.fromkeys(e[2] for e in events))
    assert phases.index("crops") < phases.index("pretext") < phases.index("train")
    crops_end = max(e[0] for e in events if e[2] == "crops")
    pretext_end = max(e[0] for e in events if e[2] == "pretext")
    assert pretext_end - crops_end == 60  # the variant's steps, all reported
    # a warm start from that checkpoint does not warm up again
    events.clear()
    again = METHODS["teacher-shuffle"](clip["frame"], clip["n"], clip["keys"], progress,
                                       config=TINY, options=options)
    assert again.info["start"] == "warm"
    assert "pretext" not in {e[2] for e in events}
    assert events[-1][0] == events[-1][1]


def test_a_stop_during_the_warm_up_cancels_the_job_cleanly(clip: dict, tmp_path: Path) -> None:
    phases: list[str | None] = []

    def progress(step: int, total: int, phase: str | None = None, losses=None) -> None:
        phases.append(phase)

    folder = tmp_path / "ckpt"
    with pytest.raises(CancelledError, match="pretext"):
        METHODS["teacher-shuffle"](clip["frame"], clip["n"], clip["keys"], progress,
                                   lambda: "pretext" in phases, config=TINY,
                                   options=RunOptions(device="cpu", checkpoint_dir=folder))
    assert phases.count("pretext") == 1 and "train" not in phases
    assert not list(folder.glob("*.pt"))  # nothing half-warmed is kept to resume from
