"""What the two deep-network families (LeNet on n-class CIFAR-100, Table 1; ResNet-18 on n-class
Tiny-ImageNet, Table 2) share: the run grid over n, rules and repeats, uint8 images kept on the
device and normalised per batch, the normalisation and augmentation readings, per-layer
alignment measurements, and one resumable training call.

This module is not a family (it has no NAME); each family module states its own protocol and
calls these helpers, so a change here is a change to both tables' code paths.
"""
from __future__ import annotations

import time
from dataclasses import asdict

import numpy as np
import torch

from ..data import ImageSubset
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
AUGMENTATIONS = ("none", "flip_crop")


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
    """uint8 (N, 3, H, W) on the device -> normalised float32 in channels-last; training
    batches optionally flipped and cropped (zero padding of 1/8 of the side, 4 px at 32 px and
    8 px at 64 px, as torchvision's RandomCrop(size, padding) with a horizontal flip)."""

    def __init__(self, mean, std, augmentation: str, device) -> None:
        if augmentation not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation {augmentation!r}; use one of {AUGMENTATIONS}")
        self.mean = torch.tensor(mean, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, 3, 1, 1)
        self.augmentation = augmentation

    def __call__(self, x: torch.Tensor, augment: bool, gen: torch.Generator) -> torch.Tensor:
        if augment and self.augmentation == "flip_crop":
            x = flip_crop(x, gen, pad=x.shape[-1] // 8)
        x = (x.float() / 255.0 - self.mean) / self.std
        return x.contiguous(memory_format=torch.channels_last)


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
                  transform=ImageTransform(mean, std, spec["augmentation"], device),
                  name=f"{spec['rule']} n={spec['n_classes']} repeat {spec['repeat']}",
                  checkpoint=ctx.checkpoint(spec), deadline=ctx.deadline)
    wall = table.attrs.get("wall_time_s", time.perf_counter() - start)
    record = {"data": {"dataset": images.dataset, "classes": [str(c) for c in images.classes],
                       "n_train": int(len(images.train_labels)),
                       "n_test": int(len(images.test_labels)),
                       "channel_mean": mean, "channel_std": std, **(extra_record or {})},
              "resumed": int(table.attrs.get("resumed", 0))}
    return RunResult(table, record, wall)
