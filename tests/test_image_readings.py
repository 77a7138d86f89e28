"""The input readings of the deep-network families (Tables 1-2): the package's random resized
crop and its test-time centre crop, resizing to 224 px, flips, normalisation constants, the
last partial batch dropped, the same seed giving the same augmented batch, and a run with
augmentation that pauses and resumes to the uninterrupted result."""
import math
import time
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from falign.families import image_classification as ic
from falign.families import resnet_tiny_imagenet as resnet
from falign.sweep import RunContext
from falign.training import TrainConfig, TrainingPaused, train
from test_lenet_family import make_fake_tiny


def ramp(n=2, size=64) -> torch.Tensor:
    """uint8-valued images whose value is the column index (0..size-1) in every channel."""
    cols = torch.arange(size, dtype=torch.float32)
    return cols.expand(n, 3, size, size).clone()


def test_random_resized_boxes_stay_inside_and_follow_scale_and_ratio():
    gen = torch.Generator().manual_seed(0)
    boxes = ic.random_resized_boxes(4000, 64, 64, gen)
    top, left, h, w = boxes.T
    assert (top >= 0).all() and (left >= 0).all()
    assert (top + h <= 64).all() and (left + w <= 64).all()
    area = h * w / 64 ** 2
    # rounding each side to whole pixels moves the area and ratio a little past the bounds
    assert area.min() >= 0.08 * 0.85 and area.max() <= 1.0
    assert (w / h).min() >= 0.75 * 0.85 and (w / h).max() <= 4 / 3 / 0.85
    # a draw that does not fit is drawn again, so the area is U[0.08, 1] conditioned on fitting:
    # a <= min(r, 1/r) for aspect ratio r, on a square image
    rng = np.random.default_rng(1)
    a = rng.uniform(0.08, 1.0, 10**6)
    r = np.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3), 10**6))
    assert float(area.mean()) == pytest.approx(a[a <= np.minimum(r, 1 / r)].mean(), abs=0.015)
    assert len({tuple(b.tolist()) for b in boxes}) > 3000    # positions and sizes vary
    again = ic.random_resized_boxes(4000, 64, 64, torch.Generator().manual_seed(0))
    assert torch.equal(boxes, again)


def test_crop_resize_samples_the_box_and_mirrors():
    x = ramp()
    boxes = torch.tensor([[0.0, 8.0, 32.0, 32.0], [16.0, 20.0, 40.0, 40.0]])
    out = ic.crop_resize(x, boxes, torch.tensor([False, True]), 64)
    assert out.shape == (2, 3, 64, 64)
    k = torch.arange(64, dtype=torch.float32)
    # output column k samples input column left + (k + 1/2) * w / 64 - 1/2 (pixel centres)
    expect0 = 8 + (k + 0.5) * 32 / 64 - 0.5
    torch.testing.assert_close(out[0, 0, 5], expect0, atol=1e-4, rtol=0)
    expect1 = (20 + (k + 0.5) * 40 / 64 - 0.5).flip(0)     # mirrored
    torch.testing.assert_close(out[1, 2, 30], expect1, atol=1e-4, rtol=0)


def test_package_reading_at_224_px_trains_on_crops_and_tests_on_the_centre():
    mean, std = ic.CONSTANTS["imagenet_constants"]
    t = ic.ImageTransform(mean, std, "resized_crop_flip", "cpu", resolution=224)
    x = ramp(3).to(torch.uint8)
    test = t(x, False, torch.Generator().manual_seed(0))
    assert test.shape == (3, 3, 224, 224) and test.is_contiguous(memory_format=torch.channels_last)
    # test: Resize(256) + CenterCrop(224) of a 64-px image is its central 56 px
    k = torch.arange(224, dtype=torch.float32)
    cols = 4 + (k + 0.5) * 56 / 224 - 0.5
    for c in range(3):
        torch.testing.assert_close(test[1, c, 100], (cols / 255 - mean[c]) / std[c],
                                   atol=1e-4, rtol=0)
    train_a = t(x, True, torch.Generator().manual_seed(5))
    train_b = t(x, True, torch.Generator().manual_seed(5))
    train_c = t(x, True, torch.Generator().manual_seed(6))
    assert train_a.shape == (3, 3, 224, 224)
    assert torch.equal(train_a, train_b) and not torch.equal(train_a, train_c)
    # a ramp stays monotone along each row: increasing, or decreasing where mirrored
    steps = train_a[:, 0, 0, 1:] - train_a[:, 0, 0, :-1]
    assert all((s >= -1e-6).all() or (s <= 1e-6).all() for s in steps)


def test_resolution_and_normalisation_of_the_plain_reading():
    x = torch.full((2, 3, 64, 64), 128, dtype=torch.uint8)
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 0.125)
    out = ic.ImageTransform(mean, std, "none", "cpu", resolution=224)(x, True, torch.Generator())
    assert out.shape == (2, 3, 224, 224)
    for c in range(3):
        assert torch.allclose(out[:, c], torch.tensor((128 / 255 - mean[c]) / std[c]))
    same = ic.ImageTransform(mean, std, "none", "cpu")(x, True, torch.Generator())
    assert same.shape == (2, 3, 64, 64)
    with pytest.raises(ValueError, match="unknown augmentation 'mixup'"):
        ic.ImageTransform(mean, std, "mixup", "cpu")
    with pytest.raises(ValueError, match="unknown normalization 'zca'"):
        ic.channel_stats({"normalization": "zca"}, None)


@pytest.mark.parametrize("drop_last, steps", [(True, 2), (False, 3)])
def test_drop_last_sets_the_steps_per_epoch(drop_last, steps):
    calls = []
    model = nn.Linear(4, 3)
    model.register_forward_hook(lambda m, i, o: calls.append(m.training))
    x, y = torch.randn(10, 4), torch.randint(0, 3, (10,))
    cfg = TrainConfig(epochs=3, lr=0.1, batch_size=4, drop_last=drop_last,
                      train_metrics="running", progress=False)
    train(model, (x, y), None, cfg, measure=None)
    assert sum(calls) == 3 * steps           # forward passes in training mode


def test_augmented_run_pauses_and_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch):
    monkeypatch.setenv("FALIGN_CACHE", str(tmp_path / "cache"))
    make_fake_tiny(tmp_path, n_classes=5, train=6, val=2, present=[f"n{i:08d}" for i in range(8)])
    protocol = replace(resnet.PROFILES["smoke"], rules=("fa",), resolution=64, epochs=3,
                       milestones=(2,), batch_size=8, train_per_class=6, test_per_class=2,
                       augmentation="resized_crop_flip", normalization="imagenet_constants")
    spec = resnet.run_specs(protocol)[0]
    whole = resnet.train_one(spec, RunContext(data_root=str(tmp_path), progress=False))
    ctx = RunContext(data_root=str(tmp_path), progress=False, checkpoints=tmp_path / "ckpt",
                     deadline=time.monotonic())
    with pytest.raises(TrainingPaused):
        resnet.train_one(spec, ctx)
    ctx.deadline = None
    resumed = resnet.train_one(spec, ctx)
    assert resumed.measurements.equals(whole.measurements)
    assert resumed.record["data"]["channel_mean"] == [0.485, 0.456, 0.406]
    assert math.isfinite(whole.measurements.test_loss.iloc[-1])
    assert np.isfinite(whole.measurements.filter(like="cos_wb_").to_numpy()).all()


def test_the_readings_decision_follows_the_numbers():
    import pandas as pd

    from falign import paper_values
    from falign.families import resnet_tiny_imagenet_readings as readings

    def cell(resolution, augmentation, normalization, mean, rule="bp"):
        return dict(resolution=resolution, augmentation=augmentation, normalization=normalization,
                    rule=rule, mean=mean, se=float("nan"), stored=1, planned=4)

    a = cell(64, "none", "train_subset", 48.0)
    b = cell(64, "resized_crop_flip", "train_subset", 60.0)
    c = cell(224, "resized_crop_flip", "imagenet_constants", 66.0)
    paper = paper_values.table2()                       # GD at n = 10: 67.5 ± 0.7
    # one run borrows the paper's standard error: tolerance 2 * sqrt(2) * 0.7 = 1.98 points
    assert readings.matches(66.0, float("nan"), 67.5, 0.7)
    assert not readings.matches(65.4, float("nan"), 67.5, 0.7)
    assert readings.matches(64.5, 1.5, 67.5, 0.7)      # its own SE when it has one: 3.31
    assert not readings.matches(64.0, 1.5, 67.5, 0.7)
    chosen = readings.decision(pd.DataFrame([a, b, c]), paper)
    assert chosen[-1].startswith("Decision: the package's 224-px reading is the only one")
    assert "-19.5 points: differs" in chosen[0] and "-1.5 points: agrees" in chosen[2]
    assert readings.decision(pd.DataFrame([a, b]), paper)[-1].startswith("Decision: pending")
    none = readings.decision(pd.DataFrame([a, b, {**c, "mean": 55.0}]), paper)
    assert none[-1].startswith("Decision: no reading's GD agrees")
    both = readings.decision(pd.DataFrame([a, {**b, "mean": 67.0}, c]), paper)
    assert both[-1].startswith("Decision: open")
