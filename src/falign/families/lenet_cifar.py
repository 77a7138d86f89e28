"""Robertson & Koyejo Section 6.2, Table 1 and Appendix B.2 (Figures 5-7): the paper's LeNet
trained by FA, adaFA, sign-FA and backprop on n-class subsets of CIFAR-100, n = 10, 25, 50.

CIFAR-100 is read by its real loader when it is present (or online).  Where it is not, the
stand-in is the Tiny-ImageNet classes present under the data root, downsampled to 32x32: every
run records which dataset it used, and the chapters say so in their captions.

The protocol is App. A's CIFAR-100 paragraph; the readings the text leaves open are fields
named below, settled by ../shared/specs/tables-1-2.md (biotorch's defaults).
"""
from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

from ..data import ImageSubset, cifar100_images, tiny_imagenet_images
from ..layers import convert, xavier_feedback_
from ..measurements import alignment_cosine_from, feedback_of, weight_layers
from ..models import LeNet, lenet
from ..store import spec_key
from ..sweep import RunContext, RunResult
from ..training import TrainConfig, train

NAME = "lenet_cifar"
PAPER_N = (10, 25, 50)
PAPER_RULES = ("fa", "adafa", "signfa", "bp")
LAYERS = LeNet.LAYER_NAMES
# The fixed CIFAR-100 constants of the paper's package (its loader's Normalize), used with the
# real CIFAR-100: overrides = {"dataset": "cifar100", "normalization": "cifar100_constants"}.
BIOTORCH_CIFAR100_MEAN = (0.5071, 0.4867, 0.4408)
BIOTORCH_CIFAR100_STD = (0.2675, 0.2565, 0.2761)
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

    def config(self, device: str, data_seed: int, progress: bool | None) -> TrainConfig:
        return TrainConfig(epochs=self.epochs, lr=self.lr, momentum=self.momentum,
                           weight_decay=self.weight_decay, milestones=self.milestones,
                           gamma=self.gamma, batch_size=self.batch_size,
                           drop_last=self.drop_last, train_metrics="running",
                           data_seed=data_seed, device=device, progress=progress)


GRID = ("n_classes", "rules", "repeats")     # protocol fields that span runs
CELL = ("n_classes", "rule")                 # a table cell: its runs differ by repeat only

PAPER = LeNetProtocol()
PROFILES = {
    "paper": PAPER,
    # The paper's schedule, unchanged, on a smaller grid (n = 10, 2 repeats per rule).
    "quick": replace(PAPER, n_classes=(10,), repeats=2),
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
    """One specification per run.  Order: 2 repeats of every rule at each n, n ascending,
    before any cell gets a third, so a partial sweep fills every column early."""
    base = {k: v for k, v in asdict(protocol).items() if k not in GRID}
    base["experiment"] = NAME
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


def group_key(spec: dict) -> str:
    """One run at a time: each is stored as soon as it finishes."""
    return spec_key(spec)


def describe(protocol: LeNetProtocol) -> dict:
    return {"dataset": DATASETS[protocol.dataset],
            "readings": f"normalisation {protocol.normalization}, augmentation "
                        f"{protocol.augmentation}, drop_last {protocol.drop_last}, class subsets "
                        f"{protocol.class_subsets}, precision {protocol.precision}"}


# ------------------------------------------------------------------------------------ data
@functools.lru_cache(maxsize=4)
def _images(dataset: str, data_root, n_classes: int, subset_seed: int,
            per_class: tuple[int | None, int | None]) -> ImageSubset:
    if dataset == "cifar100":
        return cifar100_images(data_root, n_classes=n_classes, subset_seed=subset_seed,
                               per_class=per_class)
    if dataset == "tiny_imagenet_32":
        return tiny_imagenet_images(data_root, n_classes=n_classes, subset_seed=subset_seed,
                                    resolution=32, present=True, per_class=per_class)
    raise ValueError(f"unknown dataset {dataset!r}; use one of {sorted(DATASETS)}")


def run_images(spec: dict, data_root=None) -> ImageSubset:
    """The uint8 images of one run: its n-class subset, train and test."""
    return _images(spec["dataset"], data_root, spec["n_classes"], spec["subset_seed"],
                   (spec["train_per_class"], spec["test_per_class"]))


def channel_stats(spec: dict, images: ImageSubset) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the inputs in [0, 1]: the training subset's, or the
    CIFAR-100 constants biotorch uses."""
    if spec["normalization"] == "cifar100_constants":
        return list(BIOTORCH_CIFAR100_MEAN), list(BIOTORCH_CIFAR100_STD)
    if spec["normalization"] != "train_subset":
        raise ValueError(f"unknown normalization {spec['normalization']!r}; use train_subset "
                         "or cifar100_constants")
    x = images.train_images.reshape(-1, 3).astype(np.float64) / 255.0
    return x.mean(0).tolist(), x.std(0).tolist()


class ImageTransform:
    """uint8 (N, 3, H, W) on the device -> normalised float32; training batches optionally
    flipped and cropped (4-pixel zero padding, as torchvision's RandomCrop(32, padding=4))."""

    def __init__(self, mean, std, augmentation: str, device) -> None:
        if augmentation not in ("none", "flip_crop"):
            raise ValueError(f"unknown augmentation {augmentation!r}; use none or flip_crop")
        self.mean = torch.tensor(mean, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, 3, 1, 1)
        self.augmentation = augmentation

    def __call__(self, x: torch.Tensor, augment: bool, gen: torch.Generator) -> torch.Tensor:
        if augment and self.augmentation == "flip_crop":
            x = _flip_crop(x, gen, pad=4)
        x = (x.float() / 255.0 - self.mean) / self.std
        return x.contiguous(memory_format=torch.channels_last)


def _flip_crop(x: torch.Tensor, gen: torch.Generator, pad: int) -> torch.Tensor:
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


# ----------------------------------------------------------------------------------- models
def build_model(spec: dict) -> torch.nn.Module:
    """The converted LeNet of one run: Xavier forward weights, zero biases, the rule's
    feedback (FA's B Xavier-uniform unless feedback_init says otherwise)."""
    if spec["feedback_init"] not in ("xavier", "fan_in"):
        raise ValueError(f"unknown feedback_init {spec['feedback_init']!r}; use xavier or fan_in")
    model = convert(lenet(num_classes=spec["n_classes"], seed=spec["init_seed"],
                          init=spec["init"]), spec["rule"], seed=spec["feedback_seed"])
    if spec["bias_init"] not in ("zero", "one"):
        raise ValueError(f"unknown bias_init {spec['bias_init']!r}; use zero or one")
    if spec["bias_init"] == "one":
        with torch.no_grad():
            for layer in weight_layers(model):
                layer.bias.fill_(1.0)
    if spec["feedback_init"] == "xavier":
        xavier_feedback_(model, spec["feedback_seed"])
    return model


def layer_measurements(model: torch.nn.Module, reference=None) -> dict[str, float]:
    """Per layer C1..F2: ||W||_F and cos(W, B) of the flattened tensors (Definition 4.1;
    App. B.2's layer-wise alignment, Figures 5-7).  Backprop's cosine is 1 by definition."""
    row = {}
    for name, layer in zip(LAYERS, weight_layers(model)):
        w = layer.weight.detach()
        row[f"weight_norm_{name}"] = float(w.norm())
        row[f"cos_wb_{name}"] = float(alignment_cosine_from(w.flatten(), feedback_of(layer).flatten(), 1))
    return row


# --------------------------------------------------------------------------------- training
def set_precision(precision: str, device: str) -> None:
    if precision not in ("fp32", "tf32"):
        raise ValueError(f"unknown precision {precision!r}; use fp32 or tf32")
    if device.startswith("cuda"):
        allow = precision == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = allow
        torch.backends.cudnn.allow_tf32 = allow      # PyTorch's default is True: fp32 means off


def train_one(spec: dict, ctx: RunContext) -> RunResult:
    """Train one run (resuming its checkpoint if there is one) and return its measurements."""
    set_precision(spec["precision"], ctx.device)
    images = run_images(spec, ctx.data_root)
    mean, std = channel_stats(spec, images)
    device = torch.device(ctx.device)

    def to_device(a: np.ndarray) -> torch.Tensor:       # uint8 NHWC -> NCHW, channels-last
        return torch.from_numpy(a).permute(0, 3, 1, 2).to(device)

    train_data = (to_device(images.train_images), torch.from_numpy(images.train_labels))
    test_data = (to_device(images.test_images), torch.from_numpy(images.test_labels))
    model = build_model(spec).to(memory_format=torch.channels_last)
    protocol_fields = {k: spec[k] for k in LeNetProtocol.__dataclass_fields__ if k not in GRID}
    cfg = replace(LeNetProtocol(**protocol_fields), n_classes=(spec["n_classes"],)).config(
        ctx.device, spec["data_seed"], progress=ctx.progress)
    start = time.perf_counter()
    table = train(model, train_data, test_data, cfg, measure=layer_measurements,
                  transform=ImageTransform(mean, std, spec["augmentation"], device),
                  name=f"{spec['rule']} n={spec['n_classes']} repeat {spec['repeat']}",
                  checkpoint=ctx.checkpoint(spec), deadline=ctx.deadline)
    wall = table.attrs.get("wall_time_s", time.perf_counter() - start)
    record = {"data": {"dataset": images.dataset, "classes": [str(c) for c in images.classes],
                       "n_train": int(len(images.train_labels)),
                       "n_test": int(len(images.test_labels)),
                       "channel_mean": mean, "channel_std": std},
              "resumed": int(table.attrs.get("resumed", 0))}
    return RunResult(table, record, wall)


def train_group(specs: list[dict], ctx: RunContext) -> list[RunResult]:
    return [train_one(spec, ctx) for spec in specs]


# ------------------------------------------------------------------- summaries for chapters
def table1_verdicts(acc, paper) -> list[str]:
    """Table 1's claims (paper_values.TABLE1_CLAIMS) checked on our accuracy table
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
