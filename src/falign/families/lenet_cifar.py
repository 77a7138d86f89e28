"""Robertson & Koyejo Section 6.2, Table 1 and Appendix B.2 (Figures 5-7): the paper's LeNet
trained by FA, adaFA, sign-FA and backprop on n-class subsets of CIFAR-100, n = 10, 25, 50.

CIFAR-100 is read by its real loader when it is present (or online).  Where it is not, the
stand-in is the Tiny-ImageNet classes present under the data root, downsampled to 32x32: every
run records which dataset it used, and the chapters say so in their captions.

The protocol is App. A's CIFAR-100 paragraph; the readings the text leaves open are fields
named below, settled by ../shared/specs/tables-1-2.md (biotorch's defaults).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from ..data import ImageSubset
from ..layers import convert
from ..models import LeNet, lenet
from ..store import spec_key
from ..sweep import RunContext, RunResult
from . import image_classification as images_common
from .image_classification import (CELL, GRID, PAPER_RULES, ImageTransform,  # noqa: F401
                                   channel_stats, set_precision)

NAME = "lenet_cifar"
PAPER_N = (10, 25, 50)
LAYERS = LeNet.LAYER_NAMES
# With the real CIFAR-100 the package's fixed constants apply (image_classification.CONSTANTS):
# overrides = {"dataset": "cifar100", "normalization": "cifar100_constants"}.
DATASETS = {
    "cifar100": "CIFAR-100",
    "tiny_imagenet_32": "stand-in: Tiny-ImageNet classes downsampled to 32x32",
}


@dataclass(frozen=True)
class LeNetProtocol:
    """App. A (CIFAR-100 paragraph) plus the readings it leaves open, each a field."""
    n_classes: tuple[int, ...] = PAPER_N
    rules: tuple[str, ...] = PAPER_RULES
    repeats: int = 6
    dataset: str = "tiny_imagenet_32"   # cifar100 (the paper's) | tiny_imagenet_32 (stand-in)
    epochs: int = 500
    batch_size: int = 1024
    drop_last: bool = True              # biotorch's training loader drops the partial batch
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    milestones: tuple[int, ...] = (100, 250)
    gamma: float = 0.5                  # "halved at epochs 100 and 250"
    init: str = "xavier"                # forward weights Xavier-uniform (App. A)
    bias_init: str = "zero"             # biotorch's xavier layers: 0 (before Sept 2021: one)
    feedback_init: str = "xavier"       # FA's B Xavier-uniform (biotorch); fan_in: U[+-1/sqrt(fan_in)]
    # sign-FA's |B| is the Xavier standard deviation sqrt(2/(fan_in+fan_out)) (falign.rules).
    normalization: str = "train_subset"  # per-channel mean/std of the training subset |
                                         # cifar100_constants (biotorch's fixed values)
    augmentation: str = "none"          # none (biotorch's CIFAR-100 loader) | flip_crop
    class_subsets: str = "fixed"        # fixed: one subset per n for all runs | per_repeat
    subset_seed: int = 0
    precision: str = "fp32"             # fp32 | tf32 (GPU only; TF32 convolutions and matmuls)
    train_per_class: int | None = None  # None: all; smoke runs cap the images per class
    test_per_class: int | None = None


PAPER = LeNetProtocol()
PROFILES = {
    "paper": PAPER,
    # The paper's schedule, unchanged, on a smaller grid: every column at 2 repeats per rule
    # (n = 10 first; the sweep order fills each column's two repeats before the next).
    "quick": replace(PAPER, repeats=2),
    # Seconds: 3 classes, 20 + 10 images per class, 3 epochs.
    "smoke": replace(PAPER, n_classes=(3,), repeats=1, epochs=3, batch_size=16, milestones=(2,),
                     train_per_class=20, test_per_class=10),
}

# Readings of the ablation chapter, at n = 10 and the paper's schedule: each changes the named
# fields of the paper protocol and nothing else.
READINGS = {
    "paper protocol (fixed subset, no augmentation)": {},
    "a fresh class subset per repeat": dict(class_subsets="per_repeat"),
    "flip and crop augmentation": dict(augmentation="flip_crop"),
}


def reading_protocol(name: str, repeats: int = 1) -> LeNetProtocol:
    return replace(PAPER, n_classes=(10,), repeats=repeats, **READINGS[name])


def store_name(profile: str) -> str:
    """One store for every profile: a quick run is a paper-protocol run, so it counts
    towards the paper grid (shown as repeats done of repeats planned)."""
    return NAME


def run_specs(protocol: LeNetProtocol) -> list[dict]:
    """One specification per run, 2 repeats per column first (image_classification.grid_specs)."""
    return images_common.grid_specs(protocol, NAME)


def group_key(spec: dict) -> str:
    """One run at a time: each is stored as soon as it finishes."""
    return spec_key(spec)


def describe(protocol: LeNetProtocol) -> dict:
    return {"dataset": DATASETS[protocol.dataset],
            "readings": f"normalisation {protocol.normalization}, augmentation "
                        f"{protocol.augmentation}, drop_last {protocol.drop_last}, class subsets "
                        f"{protocol.class_subsets}, precision {protocol.precision}"}


# ------------------------------------------------------------------------------------ data
def run_images(spec: dict, data_root=None) -> ImageSubset:
    """The uint8 images of one run: its n-class subset, train and test."""
    return images_common.subset_images(spec["dataset"], data_root, spec["n_classes"],
                                       spec["subset_seed"],
                                       (spec["train_per_class"], spec["test_per_class"]),
                                       tuple(DATASETS))


# ----------------------------------------------------------------------------------- models
def build_model(spec: dict) -> torch.nn.Module:
    """The converted LeNet of one run: Xavier forward weights, zero biases, the rule's
    feedback (FA's B Xavier-uniform unless feedback_init says otherwise)."""
    model = convert(lenet(num_classes=spec["n_classes"], seed=spec["init_seed"],
                          init=spec["init"]), spec["rule"], seed=spec["feedback_seed"])
    return images_common.apply_init_readings(model, spec)


def layer_measurements(model: torch.nn.Module, reference=None) -> dict[str, float]:
    """Per layer C1..F2: ||W||_F and cos(W, B) (Definition 4.1; Figures 5-7)."""
    return images_common.layer_measurements(model, LAYERS)


# --------------------------------------------------------------------------------- training
def train_one(spec: dict, ctx: RunContext) -> RunResult:
    """Train one run (resuming its checkpoint if there is one) and return its measurements."""
    return images_common.train_image_run(spec, ctx, run_images(spec, ctx.data_root),
                                         build_model(spec), LAYERS)


def train_group(specs: list[dict], ctx: RunContext) -> list[RunResult]:
    return [train_one(spec, ctx) for spec in specs]


# ------------------------------------------------------------------- summaries for chapters
# Table 1's claims (paper_values.TABLE1_CLAIMS) checked on our accuracy table.
table1_verdicts = images_common.accuracy_verdicts


def noise_batch(n: int = 64, seed: int = 0, dtype: torch.dtype = torch.float64):
    """`n` images of Gaussian noise (unit variance per pixel, 3x32x32) with random labels out of
    10: the chapters' exercises probe the initial networks on them, no dataset needed."""
    from ..data import gaussian_data
    noise = gaussian_data(n, 3 * 32 * 32, n_classes=10, seed=seed)
    images = (noise.x * (3 * 32 * 32) ** 0.5).reshape(-1, 3, 32, 32).to(dtype)
    return images, noise.y


def angle_curve(spec: dict, images: torch.Tensor, targets: torch.Tensor, steps: int = 40,
                every: int = 10, lr: float = 0.01, momentum: float = 0.9) -> dict[int, float]:
    """The angle omega (degrees, Eq. 1 of the paper) between the rule's update and the true
    gradient over all weights, every `every` steps of full-batch SGD on (images, targets),
    starting from the initial network of `spec`; computed in the images' dtype.

    In float64 the first records are exact to many digits; later ones are not portable even
    so: with momentum 0.9 a LeNet's trajectory on 64 images amplifies round-off (the CPU's
    kernel choice moves the angle at step 30 by about a degree), so a chapter shows only its
    early values and the ordering the test-suite asserts."""
    import torch.nn.functional as F

    from ..measurements import update_gradient_angle
    model = build_model(spec).to(images.dtype)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)

    def loss(out):
        return F.cross_entropy(out, targets)

    curve = {}
    for step in range(steps + 1):
        if step % every == 0:
            curve[step] = update_gradient_angle(model, loss, images)["all"]
        if step < steps:
            opt.zero_grad()
            loss(model(images)).backward()
            opt.step()
    return curve
