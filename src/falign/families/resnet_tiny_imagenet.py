"""Robertson & Koyejo Section 6.2, Table 2: torchvision's ResNet-18 trained by FA, adaFA,
sign-FA and backprop on n-class subsets of Tiny-ImageNet, n = 10, 25, 50.

The protocol is App. A's Tiny-ImageNet paragraph; the readings it leaves open are fields,
settled by ../shared/specs/tables-1-2.md: 64-px inputs (the native size; the package's 224-px
loader is a reading of its own), subset statistics for normalisation, no augmentation, the last
partial batch dropped, biases 0, FA's B Xavier-uniform.

Classes are drawn from the 200 wnids of wnids.txt (numpy's permutation with the subset seed), so
a run names the same classes on the full download and on a partial copy that holds them: the
50-class pool under ../shared/data is exactly the first 50 classes of seed 0's draw, so n = 10,
25 and 50 at subset seed 0 train here on the classes the full dataset would give, and n = 50 is
the whole pool.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import torch

from ..data import DatasetError, ImageSubset, class_subset, tiny_imagenet_classes, tiny_imagenet_images
from ..layers import convert
from ..models import resnet18
from ..store import spec_key
from ..sweep import RunContext, RunResult
from . import image_classification as images_common
from .image_classification import CELL, GRID, PAPER_RULES  # noqa: F401

NAME = "resnet_tiny_imagenet"
PAPER_N = (10, 25, 50)
# Network input sizes: 64, the native size; 224, the package's ImageNet-folder loader (images
# upsampled on the fly from the 64-px cache); 32, smoke runs (decoded downsampled).
RESOLUTIONS = (32, 64, 224)
DATASETS = {"tiny_imagenet": "Tiny-ImageNet (training images; validation images as the test set)"}


@dataclass(frozen=True)
class ResNetProtocol:
    """App. A (Tiny-ImageNet paragraph) plus the readings it leaves open, each a field."""
    n_classes: tuple[int, ...] = PAPER_N
    rules: tuple[str, ...] = PAPER_RULES
    repeats: int = 4                    # "repeated four times for each method"
    dataset: str = "tiny_imagenet"
    resolution: int = 64                # 64 native | 224 the package's loader | 32 smoke runs
    epochs: int = 50
    batch_size: int = 512
    drop_last: bool = True              # the package's training loader drops the partial batch
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    milestones: tuple[int, ...] = (20, 40)
    gamma: float = 0.5                  # "decrease by half at the 20th and 40th epochs"
    init: str = "xavier"                # Xavier-uniform forward weights (App. A)
    bias_init: str = "zero"             # only the output layer has a bias
    feedback_init: str = "xavier"       # FA's B Xavier-uniform (the package); fan_in: U[+-1/sqrt(fan_in)]
    normalization: str = "train_subset"  # train_subset | imagenet_constants (the package's)
    augmentation: str = "none"          # none | flip_crop | resized_crop_flip (the package's;
                                        # image_classification.AUGMENTATIONS)
    class_subsets: str = "fixed"        # fixed: one subset per n for all runs | per_repeat
    subset_seed: int = 0
    precision: str = "fp32"             # fp32 | tf32 (GPU only)
    train_per_class: int | None = None  # None: all 500; smoke runs cap the images per class
    test_per_class: int | None = None   # None: all 50 validation images


PAPER = ResNetProtocol()
PROFILES = {
    "paper": PAPER,
    # The paper's schedule, unchanged, on a smaller grid (n = 10, 2 repeats per rule).
    "quick": replace(PAPER, n_classes=(10,), repeats=2),
    # Seconds: 3 classes at 32 px, 16 + 4 images per class, 2 epochs.
    "smoke": replace(PAPER, n_classes=(3,), repeats=1, resolution=32, epochs=2, batch_size=16,
                     milestones=(1,), train_per_class=16, test_per_class=4),
}


def store_name(profile: str) -> str:
    """One store for every profile: quick runs are paper-grid runs (shown as k/K repeats)."""
    return NAME


def run_specs(protocol: ResNetProtocol) -> list[dict]:
    """One specification per run, 2 repeats per column first (image_classification.grid_specs)."""
    if protocol.resolution not in RESOLUTIONS:
        raise ValueError(f"resolution {protocol.resolution} is not a reading of this family; "
                         f"use one of {RESOLUTIONS} (64 native, 224 the package's, 32 smoke)")
    return images_common.grid_specs(protocol, NAME)


def group_key(spec: dict) -> str:
    """One run at a time: each is stored as soon as it finishes."""
    return spec_key(spec)


def describe(protocol: ResNetProtocol) -> dict:
    return {"dataset": f"{DATASETS[protocol.dataset]} at {protocol.resolution}x{protocol.resolution} px",
            "readings": f"resolution {protocol.resolution}, normalisation {protocol.normalization}, "
                        f"augmentation {protocol.augmentation}, drop_last {protocol.drop_last}, "
                        f"class subsets {protocol.class_subsets}, precision {protocol.precision}"}


# ------------------------------------------------------------------------------------ data
@functools.lru_cache(maxsize=2)
def _images(data_root, n_classes: int, subset_seed: int, resolution: int,
            per_class: tuple[int | None, int | None]) -> ImageSubset:
    return tiny_imagenet_images(data_root, n_classes=n_classes, subset_seed=subset_seed,
                                resolution=resolution, present=False, per_class=per_class)


def run_classes(spec: dict, data_root=None) -> list[str]:
    """The wnids of one run's subset, checked against the classes this copy holds: n larger
    than the classes present, or a drawn class that is missing, is named with its fix."""
    if spec["dataset"] not in DATASETS:
        raise ValueError(f"unknown dataset {spec['dataset']!r}; use one of {sorted(DATASETS)}")
    wnids = tiny_imagenet_classes(data_root, present=False)
    present = set(tiny_imagenet_classes(data_root, present=True))
    n = spec["n_classes"]
    if n > len(present):
        raise DatasetError(
            f"n_classes={n} but this copy of Tiny-ImageNet holds {len(present)} of its "
            f"{len(wnids)} classes. Fix: point FALIGN_DATA at the full download, or use "
            f"n <= {len(present)}.")
    chosen = class_subset(wnids, n, spec["subset_seed"])
    missing = [w for w in chosen if w not in present]
    if missing:
        raise DatasetError(
            f"subset seed {spec['subset_seed']} draws {len(missing)} class(es) this copy of "
            f"Tiny-ImageNet lacks ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}). "
            "Fix: point FALIGN_DATA at the full download (a partial pool holds the classes of "
            "the seed it was cut for; ../shared/data's pool: subset seed 0).")
    return chosen


def run_images(spec: dict, data_root=None) -> ImageSubset:
    """The uint8 images of one run: its n classes drawn from wnids.txt, train and val."""
    run_classes(spec, data_root)
    # Decoded once at the native 64 px (or lower, for smoke runs); larger inputs are made on
    # the fly by the batch transform.
    return _images(data_root, spec["n_classes"], spec["subset_seed"], min(spec["resolution"], 64),
                   (spec["train_per_class"], spec["test_per_class"]))


# ----------------------------------------------------------------------------------- models
def build_model(spec: dict) -> torch.nn.Module:
    """torchvision's ResNet-18 with n outputs, Xavier-uniform convolution and linear weights,
    batch-norm at its defaults (scale 1, shift 0), every Conv2d and Linear converted to the
    run's rule (batch norm keeps its own gradient), FA's B Xavier-uniform."""
    model = convert(resnet18(num_classes=spec["n_classes"], seed=spec["init_seed"],
                             init=spec["init"]), spec["rule"], seed=spec["feedback_seed"])
    return images_common.apply_init_readings(model, spec)


@functools.lru_cache(maxsize=1)
def layer_names() -> tuple[str, ...]:
    """The 21 converted layers of ResNet-18, input to output: the stem convolution, two
    convolutions per basic block (8 blocks), the 3 downsampling 1x1 convolutions, fc."""
    return tuple(images_common.layer_names(convert(resnet18(num_classes=2), "fa")))


def layer_depth(name: str) -> int:
    """A layer's position in layer_names() (0: the stem convolution, 20: fc)."""
    return layer_names().index(name)


# --------------------------------------------------------------------------------- training
def train_one(spec: dict, ctx: RunContext) -> RunResult:
    """Train one run (resuming its checkpoint if there is one) and return its measurements."""
    images = run_images(spec, ctx.data_root)
    present = len(tiny_imagenet_classes(ctx.data_root, present=True))
    return images_common.train_image_run(spec, ctx, images, build_model(spec), layer_names(),
                                         extra_record={"classes_present": present})


def train_group(specs: list[dict], ctx: RunContext) -> list[RunResult]:
    return [train_one(spec, ctx) for spec in specs]
