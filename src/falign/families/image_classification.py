"""What the two deep-network families (LeNet on n-class CIFAR-100, Table 1; ResNet-18 on n-class
Tiny-ImageNet, Table 2) share: the run grid over n, rules and repeats, uint8 images kept on the
device and normalised per batch, the normalisation and augmentation readings, per-layer
alignment measurements, and one resumable training call.

This module is not a family (it has no NAME); each family module states its own protocol and
calls these helpers, so a change here is a change to both tables' code paths.
"""
from __future__ import annotations

import functools
import math
import time
from dataclasses import asdict

import numpy as np
import torch

from ..data import (ImageSubset, cifar100_images, tiny_imagenet_classes,
                    tiny_imagenet_images)
from ..layers import FEEDBACK_LAYERS, xavier_feedback_
from ..measurements import alignment_cosine_from, feedback_of, weight_layers
from ..sweep import RunContext, RunResult
from ..training import TrainConfig, train

PAPER_RULES = ("fa", "adafa", "signfa", "bp")
GRID = ("n_classes", "rules", "repeats")     # protocol fields that span runs
CELL = ("n_classes", "rule")                 # a table cell: its runs differ by repeat only

# Fixed per-channel constants (mean, std) of the inputs in [0, 1], as the paper's package
# normalises its datasets; "train_subset" computes them from each run's training images.
CONSTANTS = {
    "cifar100_constants": ((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)),
    "imagenet_constants": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
# none: the stored images as they are; flip_crop: mirror + a padded crop at the stored size (the
# usual CIFAR recipe); resized_crop_flip: the paper package's ImageNet-folder reading, a random
# resized crop (area 8-100%, aspect 3/4-4/3) + mirror at the training resolution, and at test
# the central 224/256 of the image (its Resize(256/224 x size) + CenterCrop(size)).
AUGMENTATIONS = ("none", "flip_crop", "resized_crop_flip")
TEST_CROP_FRACTION = 224 / 256


def grid_specs(protocol, name: str) -> list[dict]:
    """One specification per run of a protocol with fields n_classes, rules and repeats (the
    grid) and the rest (copied into every spec).  Order: 2 repeats of every rule at each n, n
    ascending, before any cell gets a third, so a partial sweep fills every column early.
    Repeat k draws weights with seed k, FA's feedback with 1000 + k and batches with k."""
    base = {k: v for k, v in asdict(protocol).items() if k not in GRID}
    base["experiment"] = name
    first = [(n, k) for n in protocol.n_classes for k in range(min(2, protocol.repeats))]
    rest = [(n, k) for k in range(2, protocol.repeats) for n in protocol.n_classes]
    specs = []
    for n, k in first + rest:
        subset_seed = (protocol.subset_seed if protocol.class_subsets == "fixed"
                       else protocol.subset_seed + 1 + k)
        for rule in protocol.rules:
            specs.append({**base, "n_classes": n, "rule": rule, "repeat": k,
                          "subset_seed": subset_seed, "init_seed": k,
                          "feedback_seed": 1000 + k, "data_seed": k})
    return specs


def train_config(spec: dict, device: str, progress: bool | None) -> TrainConfig:
    """App. A's optimisation settings of one run (SGD + momentum, step schedule)."""
    return TrainConfig(epochs=spec["epochs"], lr=spec["lr"], momentum=spec["momentum"],
                       weight_decay=spec["weight_decay"], milestones=tuple(spec["milestones"]),
                       gamma=spec["gamma"], batch_size=spec["batch_size"],
                       drop_last=spec["drop_last"], train_metrics="running",
                       data_seed=spec["data_seed"], device=device, progress=progress)


# ------------------------------------------------------------------------------------ inputs
def channel_stats(spec: dict, images: ImageSubset) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the inputs in [0, 1]: the training subset's
    (normalization "train_subset") or the package's fixed constants (CONSTANTS)."""
    reading = spec["normalization"]
    if reading in CONSTANTS:
        mean, std = CONSTANTS[reading]
        return list(mean), list(std)
    if reading != "train_subset":
        raise ValueError(f"unknown normalization {reading!r}; use train_subset or one of "
                         f"{sorted(CONSTANTS)}")
    x = images.train_images.reshape(-1, 3).astype(np.float64) / 255.0
    return x.mean(0).tolist(), x.std(0).tolist()


class ImageTransform:
    """uint8 (N, 3, H, W) on the device -> normalised float32 in channels-last, at `resolution`
    pixels (None: the stored size).  Training batches are augmented as `augmentation` says;
    every random draw comes from the trainer's CPU generator, so a resumed run replays it.
    Resampling is bilinear on the stored uint8 images, batched on the device."""

    def __init__(self, mean, std, augmentation: str, device, resolution: int | None = None) -> None:
        if augmentation not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation {augmentation!r}; use one of {AUGMENTATIONS}")
        self.mean = torch.tensor(mean, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, 3, 1, 1)
        self.augmentation = augmentation
        self.resolution = resolution

    def __call__(self, x: torch.Tensor, augment: bool, gen: torch.Generator) -> torch.Tensor:
        size = self.resolution or x.shape[-1]
        if self.augmentation == "resized_crop_flip":
            n, _, h, w = x.shape
            if augment:
                boxes = random_resized_boxes(n, h, w, gen)
                flips = torch.rand(n, generator=gen) < 0.5
            else:
                boxes = center_boxes(n, h, w, TEST_CROP_FRACTION)
                flips = torch.zeros(n, dtype=torch.bool)
            x = crop_resize(x.float(), boxes, flips, size)
        else:
            if augment and self.augmentation == "flip_crop":
                x = flip_crop(x, gen, pad=x.shape[-1] // 8)
            x = x.float()
            if size != x.shape[-1]:
                x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear",
                                                    align_corners=False)
        x = (x / 255.0 - self.mean) / self.std
        return x.contiguous(memory_format=torch.channels_last)


def random_resized_boxes(n: int, height: int, width: int, gen: torch.Generator,
                         scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), attempts: int = 10
                         ) -> torch.Tensor:
    """Crop boxes (top, left, h, w) in pixels, one per image, drawn as torchvision's
    RandomResizedCrop draws them: area a uniform fraction of the image in `scale`, log aspect
    ratio uniform in `ratio`; the first of `attempts` draws that fits, else the whole image
    (clipped to `ratio`); then a uniform position.  A fixed number of draws per batch, so a
    generator state always gives the same boxes."""
    area = height * width * (scale[0] + (scale[1] - scale[0]) * torch.rand(n, attempts, generator=gen))
    lo, hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(lo + (hi - lo) * torch.rand(n, attempts, generator=gen))
    w = torch.sqrt(area * aspect).round()
    h = torch.sqrt(area / aspect).round()
    fits = (w >= 1) & (w <= width) & (h >= 1) & (h <= height)
    first = fits.float().argmax(1)
    rows = torch.arange(n)
    w, h = w[rows, first], h[rows, first]
    in_ratio = width / height
    fw = width if ratio[0] <= in_ratio <= ratio[1] else (
        width if in_ratio < ratio[0] else round(height * ratio[1]))
    fh = height if ratio[0] <= in_ratio <= ratio[1] else (
        round(width / ratio[0]) if in_ratio < ratio[0] else height)
    none_fit = ~fits.any(1)
    w = torch.where(none_fit, torch.full_like(w, fw), w)
    h = torch.where(none_fit, torch.full_like(h, fh), h)
    u = torch.rand(n, 2, generator=gen)
    top = torch.floor(u[:, 0] * (height - h + 1))
    left = torch.floor(u[:, 1] * (width - w + 1))
    return torch.stack([top, left, h, w], 1)


def center_boxes(n: int, height: int, width: int, fraction: float) -> torch.Tensor:
    """The central box covering `fraction` of each side, as (top, left, h, w) in pixels."""
    h, w = height * fraction, width * fraction
    box = torch.tensor([(height - h) / 2, (width - w) / 2, h, w])
    return box.expand(n, 4).clone()


def crop_resize(x: torch.Tensor, boxes: torch.Tensor, flips: torch.Tensor, size: int
                ) -> torch.Tensor:
    """Each image's box (top, left, h, w; pixel edges) resampled bilinearly to size x size,
    mirrored where `flips`: one affine grid per image and one grid_sample for the batch.
    Samples at the box's border may blend in the pixel just outside it (half a pixel at most),
    where torchvision's crop-then-resize repeats the edge pixel instead."""
    n, _, height, width = x.shape
    top, left, h, w = (boxes[:, k].to(x.dtype) for k in range(4))
    sx = w / width                                   # output [-1, 1] -> input box, per axis
    sy = h / height
    cx = (2 * left + w) / width - 1
    cy = (2 * top + h) / height - 1
    sx = torch.where(flips, -sx, sx)
    theta = torch.zeros(n, 2, 3, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 2] = sx, cx
    theta[:, 1, 1], theta[:, 1, 2] = sy, cy
    grid = torch.nn.functional.affine_grid(theta.to(x.device), (n, x.shape[1], size, size),
                                           align_corners=False)
    return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border",
                                           align_corners=False)


def flip_crop(x: torch.Tensor, gen: torch.Generator, pad: int) -> torch.Tensor:
    """Each image mirrored with probability 1/2, then cut at a random offset out of its
    zero-padded copy; offsets and flips come from `gen` (on the CPU) so a resumed run replays
    them."""
    n, _, h, w = x.shape
    flip = torch.rand(n, generator=gen) < 0.5
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    rows = (dy[:, None] + torch.arange(h)).to(x.device)                       # (n, h)
    cols = dx[:, None] + torch.arange(w)
    cols = torch.where(flip[:, None], cols.flip(1), cols).to(x.device)        # (n, w)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chan = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, chan, rows[:, None, :, None], cols[:, None, None, :]]


# ------------------------------------------------------------------------------------ models
def apply_init_readings(model: torch.nn.Module, spec: dict) -> torch.nn.Module:
    """The bias and feedback readings of a converted model: biases 0 (as built) or 1 (the
    package before September 2021); FA's B Xavier-uniform (the package) or left at
    falign.rules' fan-in scale U[+-1/sqrt(fan_in)]."""
    if spec["bias_init"] not in ("zero", "one"):
        raise ValueError(f"unknown bias_init {spec['bias_init']!r}; use zero or one")
    if spec["feedback_init"] not in ("xavier", "fan_in"):
        raise ValueError(f"unknown feedback_init {spec['feedback_init']!r}; use xavier or fan_in")
    if spec["bias_init"] == "one":
        with torch.no_grad():
            for layer in weight_layers(model):
                if layer.bias is not None:
                    layer.bias.fill_(1.0)
    if spec["feedback_init"] == "xavier":
        xavier_feedback_(model, spec["feedback_seed"])
    return model


def layer_names(model: torch.nn.Module) -> list[str]:
    """The module names of a converted model's feedback layers, input to output."""
    return [name for name, m in model.named_modules() if isinstance(m, FEEDBACK_LAYERS)]


def layer_measurements(model: torch.nn.Module, names) -> dict[str, float]:
    """Per converted layer: ||W||_F and cos(W, B) of the flattened tensors (Definition 4.1,
    the layer-wise alignment of App. B.2).  Backprop's cosine is 1 by definition."""
    row = {}
    for name, layer in zip(names, weight_layers(model), strict=True):
        w = layer.weight.detach()
        row[f"weight_norm_{name}"] = float(w.norm())
        row[f"cos_wb_{name}"] = float(alignment_cosine_from(w.flatten(), feedback_of(layer).flatten(), 1))
    return row


def set_precision(precision: str, device: str) -> None:
    """fp32: full-precision matmuls and convolutions on CUDA (PyTorch lets cuDNN use TF32 by
    default, so fp32 must switch it off); tf32: both allowed."""
    if precision not in ("fp32", "tf32"):
        raise ValueError(f"unknown precision {precision!r}; use fp32 or tf32")
    if device.startswith("cuda"):
        allow = precision == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = allow
        torch.backends.cudnn.allow_tf32 = allow


# ------------------------------------------------------------------------------------ data
RESOLUTION = {"cifar100": 32, "tiny_imagenet_32": 32, "tiny_imagenet_64": 64}


@functools.lru_cache(maxsize=8)        # the runs of a cell share their decoded subset
def subset_images(dataset: str, data_root, n_classes: int, subset_seed: int,
                  per_class: tuple[int | None, int | None], datasets: tuple[str, ...],
                  n_option: str = "n_classes") -> ImageSubset:
    """The uint8 images of an n-class subset of `dataset`, one of the family's `datasets`:
    CIFAR-100, or the Tiny-ImageNet classes present in the data root at 32 or 64 px (the
    stand-in).  Too large an n is an error naming the classes there and the option to lower."""
    if dataset not in datasets:
        raise ValueError(f"unknown dataset {dataset!r}; use one of {', '.join(datasets)}")
    if dataset == "cifar100":
        return cifar100_images(data_root, n_classes=n_classes, subset_seed=subset_seed,
                               per_class=per_class)
    present = tiny_imagenet_classes(data_root, present=True)
    if n_classes > len(present):
        raise ValueError(
            f"n = {n_classes} classes, but the Tiny-ImageNet copy in the data root holds "
            f"{len(present)} classes with training images; lower n ({n_option}) or point "
            "FALIGN_DATA at a fuller copy")
    return tiny_imagenet_images(data_root, n_classes=n_classes, subset_seed=subset_seed,
                                resolution=RESOLUTION[dataset], present=True,
                                per_class=per_class)


# ---------------------------------------------------------------------------------- training
def train_image_run(spec: dict, ctx: RunContext, images: ImageSubset, model: torch.nn.Module,
                    names, extra_record: dict | None = None) -> RunResult:
    """Train one run of an image family (resuming its checkpoint if there is one): the images
    stay uint8 on the device and are normalised per batch; every epoch records train/test loss
    and accuracy and each layer's weight norm and cos(W, B)."""
    set_precision(spec["precision"], ctx.device)
    mean, std = channel_stats(spec, images)
    device = torch.device(ctx.device)

    def to_device(a: np.ndarray) -> torch.Tensor:       # uint8 NHWC -> NCHW on the device
        return torch.from_numpy(a).permute(0, 3, 1, 2).to(device)

    train_data = (to_device(images.train_images), torch.from_numpy(images.train_labels))
    test_data = (to_device(images.test_images), torch.from_numpy(images.test_labels))
    model = model.to(memory_format=torch.channels_last)
    start = time.perf_counter()
    table = train(model, train_data, test_data, train_config(spec, ctx.device, ctx.progress),
                  measure=lambda m, _reference: layer_measurements(m, names),
                  transform=ImageTransform(mean, std, spec["augmentation"], device,
                                           resolution=spec.get("resolution")),
                  name=f"{spec['rule']} n={spec['n_classes']} repeat {spec['repeat']}",
                  checkpoint=ctx.checkpoint(spec), deadline=ctx.deadline)
    wall = table.attrs.get("wall_time_s", time.perf_counter() - start)
    record = {"data": {"dataset": images.dataset, "classes": [str(c) for c in images.classes],
                       "n_train": int(len(images.train_labels)),
                       "n_test": int(len(images.test_labels)),
                       "channel_mean": mean, "channel_std": std, **(extra_record or {})},
              "resumed": int(table.attrs.get("resumed", 0))}
    return RunResult(table, record, wall)


# ---------------------------------------------------------------------- summaries for chapters
def accuracy_verdicts(acc, paper) -> list[str]:
    """A deep-network table's claims (paper_values.TABLE1_CLAIMS, TABLE2_CLAIMS) checked on our accuracy table
    (analysis.accuracy_table), one sentence each, with the numbers; a claim whose cells are
    not trained yet says so instead of guessing."""
    mean = {(r.n_classes, r.rule): r.mean for r in acc.itertuples() if r.mean == r.mean}
    ref = {(r.n_classes, r.rule): r.mean for r in paper.itertuples()}
    ns = sorted({n for n, _ in mean})
    full = [n for n in ns if all((n, r) in mean for r in PAPER_RULES)]
    out = []
    for n in full:
        m = {r: mean[n, r] for r in PAPER_RULES}
        order = " > ".join(r for r in sorted(PAPER_RULES, key=m.get, reverse=True))
        ours = {"GD minus sign-FA": m["bp"] - m["signfa"], "adaFA minus FA": m["adafa"] - m["fa"],
                "GD minus FA": m["bp"] - m["fa"]}
        if (n, "bp") in ref:
            theirs = [ref[n, "bp"] - ref[n, "signfa"], ref[n, "adafa"] - ref[n, "fa"],
                      ref[n, "bp"] - ref[n, "fa"]]
            gaps = "; ".join(f"{k} {v:+.1f} points (paper {p:+.1f})"
                             for (k, v), p in zip(ours.items(), theirs))
            paper_order = "paper: " + " > ".join(sorted(PAPER_RULES, key=lambda r: ref[n, r],
                                                       reverse=True))
        else:
            gaps = "; ".join(f"{k} {v:+.1f} points" for k, v in ours.items())
            paper_order = f"no n = {n} column in the paper"
        out.append(f"n = {n}: our order is {order} ({paper_order}); {gaps}.")
    if len(full) >= 2:
        falls = [r for r in PAPER_RULES if all(mean[a, r] > mean[b, r] for a, b in zip(full, full[1:]))]
        out.append(f"Accuracy falls with n for {len(falls)} of 4 rules ({', '.join(falls) or 'none'}).")
        shrink = [mean[n, "adafa"] - mean[n, "fa"] for n in full]
        out.append("adaFA's advantage over FA " + ("shrinks" if all(a > b for a, b in zip(shrink, shrink[1:]))
                   else "does not shrink monotonically") + " with n: "
                   + ", ".join(f"{d:+.1f}" for d in shrink) + " points.")
    missing = [n for n in sorted(set(acc.n_classes)) if n not in full]
    if missing:
        out.append(f"Not yet trained for every rule: n = {', '.join(map(str, missing))}; the "
                   "claims about how the gaps change with n wait for those columns.")
    return out


# ------------------------------------------------------------------------ readings ablations
def reading_of(spec: dict, readings: dict[str, dict], base) -> str:
    """The name of the reading (a {field: value} change of the `base` protocol) that a run's
    fields match: every field a reading changes has its value, every other field any reading
    changes keeps the base value."""
    fields = {k for change in readings.values() for k in change}
    for name, change in readings.items():
        if all(spec[k] == (change[k] if k in change else getattr(base, k)) for k in fields):
            return name
    raise ValueError(f"run {spec} belongs to no reading of {list(readings)}")


def readings_table(acc, readings: dict[str, dict], base, rules=PAPER_RULES, paper=None,
                   title: str = "reading (n = 10, test accuracy %)"):
    """An accuracy table of a readings family (its cells: the changed fields and rule) as one
    row per reading and one column per rule: 'mean ± se (k/K)', or 'pending (0/K)'; `paper`
    ({rule: 'mean ± se'}) adds the paper's row."""
    import pandas as pd

    rows = {}
    for r in acc.to_dict("records"):
        name = reading_of(r, readings, base)
        done = f"({int(r['stored'])}/{int(r['planned'])})"
        if r["mean"] != r["mean"]:
            cell = f"pending {done}"
        elif r["se"] != r["se"]:
            cell = f"{r['mean']:.1f} {done}"
        else:
            cell = f"{r['mean']:.1f} ± {r['se']:.1f} {done}"
        rows.setdefault(name, {})[r["rule"]] = cell
    order = [n for n in readings if n in rows]
    table = pd.DataFrame.from_dict(rows, orient="index").reindex(order)
    table = table[[r for r in rules if r in table.columns]].fillna("not planned")
    if paper is not None:
        table.loc["the paper"] = [paper.get(r, "-") for r in table.columns]
    table.index.name = title
    return table
