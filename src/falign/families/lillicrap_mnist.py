"""Lillicrap et al. 2016, Supplementary Note 5 (extended MNIST results), the autoencoders of
Supplementary Note 9 and the receptive fields of Supplementary Figure 5: tanh networks trained
on MNIST by backprop (bp), feedback alignment (fa) and, for the 784-1000-10 net, the "shallow"
control in which only the output layer learns.

One run = one (architecture, rule, repeat).  Every run stores its per-epoch measurements and,
in its record, the input weights of 100 fixed hidden units of the first layer at
initialisation and after training (Supp. Fig. 5's receptive fields).

The schedule is the text's rule (Supp. Note 5: eta "reduced by an order of magnitude once
progress had slowed substantially, e.g. from 10^-2 -> 10^-3 -> 10^-4"), read as a plateau rule
on the training error (falign.training.PlateauRule).  The runs first stored with 12 epochs and
fixed drops after epochs 8 and 10 stay in the store as the named reading "twelve_epochs",
under their old keys (store.without_added_defaults).

What the text states is a protocol field with the text's value; what it leaves open is a field
too, named below as a reading, with the value we chose and why (the chapters print the list).
"""
from __future__ import annotations

import base64
import functools
import math
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..data import mnist
from ..layers import convert, feedback_layers
from ..measurements import alignment_cosine_from, feedback_of, weight_layers
from ..models import init_uniform_
from ..rules import layer_seed
from ..store import spec_key, without_added_defaults
from ..sweep import RunContext, RunResult
from ..training import (PlateauRule, TrainConfig, TrainingDiverged, TrainingStalled,
                        diverged_measurements, remove_checkpoint, train)

NAME = "lillicrap_mnist"
GRID = ("nets", "repeats")          # protocol fields that span runs
CELL = ("arch", "rule")             # a table cell: its runs differ by repeat only
RULES = ("fa", "bp", "shallow")     # shallow: only the output layer learns (bp's output update)

# Every architecture of the text: the layer sizes and the task.  "x k" repeats a hidden layer.
ARCHITECTURES = {
    "784-1000-10": ((784, 1000, 10), "classify"),                       # Supp. Note 5, Fig. 5
    "784-1500x3-10": ((784, 1500, 1500, 1500, 10), "classify"),         # Supp. Note 5
    "784-1000x10-10": ((784,) + (1000,) * 10 + (10,), "classify"),      # Supp. Note 5
    "784-1000-500-10-500-1000-784": ((784, 1000, 500, 10, 500, 1000, 784), "autoencode"),  # Note 9
    "784-1000x5-784": ((784,) + (1000,) * 5 + (784,), "autoencode"),    # Supp. Note 9
}
PAPER_NETS = (
    ("784-1000-10", ("fa", "bp", "shallow")),
    ("784-1500x3-10", ("fa", "bp")),
    ("784-1000x10-10", ("fa", "bp")),
    ("784-1000-500-10-500-1000-784", ("fa", "bp")),
    ("784-1000x5-784", ("fa", "bp")),
)


@dataclass(frozen=True)
class LillicrapMNISTProtocol:
    """Supp. Note 5's protocol (stated fields) plus the readings it leaves open."""
    nets: tuple = PAPER_NETS            # ((architecture, rules), ...): the grid
    repeats: int = 5                    # "ran five repeats ... and report mean results"
    batch_size: int = 100               # minibatches of 100 (main text, Methods)
    lr: float = 1e-2                    # first rate: the text's example (PAPER: see STEP_RULE)
    gamma: float = 0.1                  # "reduced by an order of magnitude"
    weight_decay: float = 1e-6          # gamma = 1e-6
    target: float = 0.9                 # one-hot targets in {-0.9, +0.9}
    activation: str = "tanh"            # tanh units
    # The schedule (Supp. Note 5, "once progress had slowed substantially"), read as a plateau
    # rule: a stage at one rate lasts until the running training error of an epoch has not
    # fallen below (1 - plateau_margin) x its best so far for plateau_patience epochs in a row;
    # then the rate drops tenfold; three stages (lr, lr/10, lr/100), then training stops.
    # Margin and patience were fixed before any converged run was looked at: a stage ends once
    # the error falls by less than 5% of its value over 3 epochs.
    schedule: str = "plateau"           # plateau | milestones (the 12-epoch reading)
    plateau_margin: float | None = 0.05
    plateau_patience: int | None = 3
    plateau_stages: int = 3             # lr, lr/10, lr/100 (the text: three rates)
    # A run whose first stage ends without progress restarts from the same initialisation at
    # a tenth of its first rate, at most stalled_restarts times: the text's "trial and
    # error", written as a rule that reads the training data only.  No progress: a
    # classifier's training error never below start_fraction x its value at initialisation
    # (chance), an autoencoder's loss never 1% below the mean image's (start_reference); the
    # usual cause is tanh units that saturate at once and pass no error on.  Judged when the
    # first stage ends, not after a fixed number of epochs: an autoencoder can sit at the
    # mean image for a few epochs before it leaves it.  Every run stored before these fields met both at its first rate (tested), so
    # the fields' values are theirs.  start_fraction 0.5: every stored run that went on to fit
    # its training set was below 0.11 of its initial error by then; a deep FA net whose units
    # saturated in its first epoch froze at 0.89 of it, which a mere fall below accepted.
    stalled_restarts: int = 2
    start_fraction: float = 0.5
    epochs: int = 300                   # plateau: a cap the runs are not meant to reach (the
                                        # chapter counts any that do); milestones: the length
    milestones: tuple = ()              # milestones only: epochs after which lr drops
    output_activation: str = "tanh"     # tanh outputs (targets +-0.9 sit inside tanh's range)
    loss_reduction: str = "sum"         # 1/2 sum of squared errors summed over the minibatch
    momentum: float = 0.0               # none mentioned
    input_scaling: str = "pixel"        # z-score per pixel with training statistics | global
    init: str = "fan_in"                # W, b ~ U[+-1/sqrt(fan_in)]
    feedback_init: str = "unit_gain"    # B ~ U[+-sqrt(3/n_out)]: the error keeps its size
    width_scale: float = 1.0            # hidden widths multiplied by this (smoke only)
    rf_units: int = 100                 # receptive fields kept: 100 random first-layer units
    rf_seed: int = 0
    n_train: int | None = None          # None: all 60000 (smoke: a few hundred)
    n_test: int | None = None           # None: all 10000

    def __post_init__(self) -> None:
        if self.schedule == "plateau":
            if self.milestones or self.plateau_margin is None or self.plateau_patience is None:
                raise ValueError("the plateau schedule takes plateau_margin and plateau_patience "
                                 "and no milestones (milestones=())")
        elif self.schedule == "milestones":
            if self.plateau_margin is not None or self.plateau_patience is not None:
                raise ValueError("a milestones schedule takes no plateau_margin or "
                                 "plateau_patience: set them to None")
        else:
            raise ValueError(f"unknown schedule {self.schedule!r}; use plateau or milestones")

    def run_specs(self) -> list[dict]:
        """One spec per run; repeat-major, the 784-1000-10 runs of each repeat first."""
        base = {k: v for k, v in asdict(self).items() if k not in GRID}
        base["experiment"] = NAME
        specs = []
        for k in range(self.repeats):
            for arch, rules in self.nets:
                for rule in rules:
                    spec = {**base, "arch": arch, "rule": rule, "repeat": k,
                            "init_seed": k, "feedback_seed": 1000 + k, "data_seed": k}
                    specs.append(without_added_defaults(spec, ADDED))
        return specs


# Fields added after the first runs were stored, with the value those runs used: a spec holds
# them (and its key changes) only where they differ, so the stored 12-epoch runs keep their keys.
ADDED = {"schedule": "milestones", "plateau_margin": None, "plateau_patience": None,
         "plateau_stages": 3, "stalled_restarts": 2, "start_fraction": 0.5}
ONE_HIDDEN = (("784-1000-10", ("fa", "bp", "shallow")),)

# The text's example rates, 1e-2 -> 1e-3 -> 1e-4: the book's protocol until its first step
# was chosen by STEP_RULE; its runs stay in the store as the reading "first_step_1e-2".
TEXT_EXAMPLE = LillicrapMNISTProtocol()

# The first step, chosen by a rule that never sees test data (step_selection): among the two
# first rates the text names, 1e-2 and 1e-3 (its "e.g." leaves the start open, and with the
# loss summed over 100 examples the step's size depends on the batch), the one whose repeat-0
# runs of the 784-1000-10 net, FA and BP, end with the lower mean training error, the quantity
# the schedule itself watches.  The test error is shown beside it and used for nothing.
STEP_CANDIDATES = (1e-2, 1e-3)
STEP_RULE = ("the first rate of the two the text names (1e-2, 1e-3) whose repeat-0 runs of "
             "the 784-1000-10 net (FA and BP) end with the lower mean training error")
PAPER = replace(TEXT_EXAMPLE, lr=1e-3)

# Named readings, each stored beside the protocol's runs under keys of its own.
READINGS = {
    # The book's first schedule: 12 epochs, lr drops after epochs 8 and 10 (a CPU budget).
    "twelve_epochs": replace(TEXT_EXAMPLE, nets=ONE_HIDDEN, repeats=2, schedule="milestones",
                             plateau_margin=None, plateau_patience=None, epochs=12,
                             milestones=(8, 10)),
    # The plateau rule from the text's example rate 1e-2 (the protocol before the step was
    # chosen), at the paper's five repeats.
    "first_step_1e-2": replace(TEXT_EXAMPLE, nets=ONE_HIDDEN),
    # The sensitivity check of the rule: a smaller margin and a longer patience (a stage ends
    # once the error falls by less than 2% over 5 epochs), one repeat ...
    "patient_plateau": replace(PAPER, nets=ONE_HIDDEN, repeats=1, plateau_margin=0.02,
                               plateau_patience=5),
    # ... and the same check from 1e-2 (FA's run of it was stored before the step was chosen).
    "patient_plateau_1e-2": replace(TEXT_EXAMPLE, nets=ONE_HIDDEN, repeats=1,
                                    plateau_margin=0.02, plateau_patience=5),
    # What could separate the one-hidden-layer FA net from the printed 2.1% under the text's
    # example rate (one repeat each): the step ten times smaller (1e-3 -> 1e-4 -> 1e-5 on the
    # summed loss; its runs are the protocol's repeat 0 since the step was chosen),
    "initial_step": replace(TEXT_EXAMPLE, nets=(("784-1000-10", ("fa", "bp")),), repeats=1,
                            lr=1e-3),
    # the loss averaged over the minibatch ("standard mean squared error"),
    "mean_loss": replace(TEXT_EXAMPLE, nets=(("784-1000-10", ("fa", "bp")),), repeats=1,
                         loss_reduction="mean"),
    # B at the forward weights' scale U[+-1/sqrt(fan_in)] instead of unit gain (FA only),
    "feedback_fan_in": replace(TEXT_EXAMPLE, nets=(("784-1000-10", ("fa",)),), repeats=1,
                               feedback_init="fan_in"),
    # linear output units instead of tanh (at 1e-2 the summed loss of linear outputs can
    # overflow in the first epoch; such a run is stored as diverged) ...
    "linear_outputs": replace(TEXT_EXAMPLE, nets=(("784-1000-10", ("fa", "bp")),), repeats=1,
                              output_activation="linear"),
    # ... and linear outputs at the protocol's first rate 1e-3 (beside its repeat 0).
    "linear_outputs_1e-3": replace(PAPER, nets=(("784-1000-10", ("fa", "bp")),), repeats=1,
                                   output_activation="linear"),
}
ITEM5_READINGS = ("initial_step", "mean_loss", "feedback_fan_in", "linear_outputs",
                  "linear_outputs_1e-3")

# One training epoch of every network on the machine that trains the queue, one core of an
# Intel Xeon (AVX-512) while its other core trained: 60 of the 600 minibatches after 5 warm-up
# steps (time_epoch), x 10.  Core-seconds (process time) decide what trains on the CPU; the
# wall-clock seconds were measured while the machine was heavily shared (load average about 9
# on 2 cores) and show how far sharing stretches a run.
EPOCH_CPU_SECONDS = {
    ("784-1000-10", "fa"): 4.6,
    ("784-1000-10", "bp"): 4.7,
    ("784-1000-10", "shallow"): 2.3,
    ("784-1500x3-10", "fa"): 30.9,
    ("784-1500x3-10", "bp"): 30.1,
    ("784-1000x10-10", "fa"): 53.0,
    ("784-1000x10-10", "bp"): 55.2,
    ("784-1000-500-10-500-1000-784", "fa"): 16.0,
    ("784-1000-500-10-500-1000-784", "bp"): 15.1,
    ("784-1000x5-784", "fa"): 32.0,
    ("784-1000x5-784", "bp"): 31.2,
}
EPOCH_WALL_SECONDS = {
    ("784-1000-10", "fa"): 9.5,
    ("784-1000-10", "bp"): 9.0,
    ("784-1000-10", "shallow"): 4.0,
    ("784-1500x3-10", "fa"): 88.4,
    ("784-1500x3-10", "bp"): 87.8,
    ("784-1000x10-10", "fa"): 335.7,
    ("784-1000x10-10", "bp"): 207.5,
    ("784-1000-500-10-500-1000-784", "fa"): 57.2,
    ("784-1000-500-10-500-1000-784", "bp"): 66.1,
    ("784-1000x5-784", "fa"): 153.8,
    ("784-1000x5-784", "bp"): 130.9,
}
EPOCH_CPU = "Intel Xeon (AVX-512), one core, the other core busy training"
CPU_HOURS_LIMIT = 6.0               # a deeper net trains on the CPU if its run fits in this


def estimated_run_hours(arch: str, epochs: float | None = None) -> float:
    """Core-hours of one run of `arch` (its slower rule): measured core-seconds per epoch
    times `epochs`; by default the protocol's cap, so an upper bound for a run under the rule."""
    seconds = max(v for (a, _), v in EPOCH_CPU_SECONDS.items() if a == arch)
    return seconds * (PAPER.epochs if epochs is None else epochs) / 3600


def cpu_nets() -> tuple:
    """The deeper nets (and autoencoders) whose estimated converged run fits CPU_HOURS_LIMIT."""
    return tuple((a, r) for a, r in PAPER_NETS[1:] if estimated_run_hours(a) < CPU_HOURS_LIMIT)


PROFILES = {
    "paper": PAPER,
    # The paper's rule on the CPU's share of the grid: the 784-1000-10 net at the paper's five
    # repeats (a few minutes a run), the rule's sensitivity check, then 2 repeats of every
    # deeper net whose converged run is estimated under CPU_HOURS_LIMIT (see run_specs).
    "quick": replace(PAPER, nets=cpu_nets(), repeats=2),
    # The readings that could separate FA from the printed 2.1% (ITEM5_READINGS), one repeat.
    "readings": replace(PAPER, nets=ONE_HIDDEN, repeats=1),
    # Seconds: 300 + 200 images, hidden widths / 10, the rule with a 20% margin and patience
    # 1 (so that all three stages pass in a few epochs), capped at 20 epochs; started once
    # below the initial error (one epoch of 300 images need not halve it).
    "smoke": replace(PAPER, repeats=1, epochs=20, plateau_margin=0.2, plateau_patience=1,
                     width_scale=0.1, n_train=300, n_test=200, start_fraction=1.0),
}


def store_name(profile: str) -> str:
    """quick's and the readings' runs live in the paper's store (quick's are paper runs)."""
    return f"{NAME}_{'smoke' if profile == 'smoke' else 'paper'}"


def run_specs(protocol: LillicrapMNISTProtocol) -> list[dict]:
    """The protocol's runs in training order.  quick: the 784-1000-10 runs of the paper's five
    repeats (repeat-major), the patient_plateau reading, then the CPU's deeper nets (2 repeats,
    repeat-major).  readings: the ITEM5_READINGS, one repeat each."""
    if protocol == PROFILES["quick"]:
        return (replace(PAPER, nets=ONE_HIDDEN).run_specs()
                + READINGS["patient_plateau"].run_specs() + protocol.run_specs())
    if protocol == PROFILES["readings"]:
        return [s for name in ITEM5_READINGS for s in READINGS[name].run_specs()]
    return protocol.run_specs()


def group_key(spec: dict) -> str:
    """One run at a time, each stored (and checkpointed) on its own."""
    return spec_key(spec)


def schedule_text(protocol: LillicrapMNISTProtocol) -> str:
    """The schedule in words, for the chapters and the provenance card."""
    if protocol.schedule == "milestones":
        return (f"{protocol.epochs} epochs, lr drops tenfold after epochs "
                f"{', '.join(map(str, protocol.milestones))}")
    return (f"lr {protocol.lr:g}, dropped tenfold when the epoch's training error has not fallen "
            f"below {1 - protocol.plateau_margin:g} x its best for {protocol.plateau_patience} "
            f"epochs in a row, {protocol.plateau_stages} stages, at most {protocol.epochs} epochs; "
            f"a run whose first stage ends without its training error below "
            f"{protocol.start_fraction:g} x its initial value (autoencoders: loss 1% below the "
            f"mean image's) restarts at a tenth of its first rate, at most "
            f"{protocol.stalled_restarts} times")


def describe(protocol: LillicrapMNISTProtocol) -> dict:
    n_train = 60000 if protocol.n_train is None else protocol.n_train
    n_test = 10000 if protocol.n_test is None else protocol.n_test
    return {"dataset": f"MNIST (official files): the first {n_train} training and {n_test} test "
                       "images",
            "readings": f"{schedule_text(protocol)}; {protocol.output_activation} "
                        f"outputs, loss summed as '{protocol.loss_reduction}' over the batch, "
                        f"inputs z-scored per {protocol.input_scaling}, forward init "
                        f"{protocol.init}, B {protocol.feedback_init}"}


# ----------------------------------------------------------------------------- architecture
def layer_sizes(arch: str, width_scale: float = 1.0) -> tuple[int, ...]:
    """The unit counts of a named architecture, hidden widths scaled by `width_scale` (never
    below 10, so the autoencoder's 10-unit bottleneck stays 10)."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; valid architectures are: "
                         f"{', '.join(ARCHITECTURES)}")
    sizes = ARCHITECTURES[arch][0]
    hidden = [max(10, round(w * width_scale)) if w != 10 else 10 for w in sizes[1:-1]]
    return (sizes[0], *hidden, sizes[-1])


def task_of(arch: str) -> str:
    layer_sizes(arch)
    return ARCHITECTURES[arch][1]


def build_model(spec: dict) -> nn.Sequential:
    """The converted tanh network of one run: Linear layers with tanh between them and (reading
    output_activation) on the output; W, b ~ U[+-1/sqrt(fan_in)]; FA's B as feedback_init says.
    The shallow control is backprop's network with every layer but the output frozen."""
    if spec["rule"] not in RULES:
        raise ValueError(f"unknown rule {spec['rule']!r} for {NAME}; use one of {RULES}")
    if spec["activation"] != "tanh" or spec["output_activation"] not in ("tanh", "linear"):
        raise ValueError("activation must be 'tanh' and output_activation 'tanh' or 'linear', "
                         f"not {spec['activation']!r} / {spec['output_activation']!r}")
    if spec["init"] != "fan_in":
        raise ValueError(f"unknown init {spec['init']!r}; use fan_in")
    sizes = layer_sizes(spec["arch"], spec["width_scale"])
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or spec["output_activation"] == "tanh":
            layers.append(nn.Tanh())
    model = init_uniform_(nn.Sequential(*layers), spec["init_seed"])
    rule = "bp" if spec["rule"] == "shallow" else spec["rule"]
    model = convert(model, rule, seed=spec["feedback_seed"])
    if rule == "fa":
        draw_feedback_(model, spec["feedback_init"], spec["feedback_seed"])
    if spec["rule"] == "shallow":
        for layer in weight_layers(model)[:-1]:
            layer.requires_grad_(False)          # no gradient, so SGD leaves them untouched
    return model


def draw_feedback_(model: nn.Module, reading: str, seed: int) -> nn.Module:
    """Redraw FA's B of every layer, uniform and centred on zero, then scaled (Lillicrap et al.
    2016, Supp. Note 5: "scaled by a constant to allow good gradient flow").

    unit_gain: B ~ U[+-sqrt(3/n_out)], so Var(B) = 1/n_out and the error e B sent to a layer
    has, per unit, the size of the error e it came from ("roughly the same magnitude of error
    arrived at each layer").  fan_in: falign's default U[+-1/sqrt(fan_in)], the scale of the
    forward weights (backprop's error size at initialisation)."""
    if reading == "fan_in":
        return model                              # as falign.convert drew it
    if reading != "unit_gain":
        raise ValueError(f"unknown feedback_init {reading!r}; use unit_gain or fan_in")
    for index, layer in enumerate(feedback_layers(model)):
        gen = torch.Generator().manual_seed(layer_seed(seed, index, 2 * 10**6))
        bound = math.sqrt(3.0 / layer.weight.shape[0])
        fresh = torch.rand(layer.weight.shape, generator=gen, dtype=layer.weight.dtype)
        layer.feedback_store.copy_(fresh.mul_(2 * bound).sub_(bound))
    return model


# --------------------------------------------------------------------------------- the loss
def pm_targets(labels: torch.Tensor, n_classes: int = 10, value: float = 0.9) -> torch.Tensor:
    """One-hot targets in {-value, +value} (Lillicrap et al. 2016, Supp. Note 5, after LeCun
    et al. 2012)."""
    t = torch.full((labels.shape[0], n_classes), -value)
    t[torch.arange(labels.shape[0]), labels] = value
    return t


def squared_error(target_value: float):
    """The loss 1/2 ||y - t||^2 per example (Lillicrap et al. 2016, Supp. Note 5: squared error
    of the outputs), reduced over the batch by mean or sum.  Integer targets are labels, turned
    into {-v, +v} one-hot vectors; float targets are used as they are (autoencoders)."""
    def loss(output: torch.Tensor, target: torch.Tensor, reduction: str) -> torch.Tensor:
        if not target.is_floating_point():
            target = pm_targets(target.cpu(), output.shape[-1], target_value).to(output.device)
        per_example = 0.5 * (output - target).pow(2).sum(-1)
        return per_example.mean() if reduction == "mean" else per_example.sum()
    return loss


# ------------------------------------------------------------------------------------- data
def zscore(train_x: torch.Tensor, test_x: torch.Tensor, per: str = "pixel"
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs with mean 0 and standard deviation 1 under the TRAINING set's statistics
    (Lillicrap et al. 2016, Supp. Note 5), per pixel or over all pixels.  Pixels constant over
    the training set (std 0) are only centred."""
    if per == "pixel":
        mean, std = train_x.mean(0), train_x.std(0)
        std = torch.where(std > 0, std, torch.ones_like(std))
    elif per == "global":
        mean, std = train_x.mean(), train_x.std()
    else:
        raise ValueError(f"unknown input_scaling {per!r}; use pixel or global")
    return (train_x - mean) / std, (test_x - mean) / std


def to_pm09(x: torch.Tensor) -> torch.Tensor:
    """Pixels 0..255 -> [-0.9, 0.9], the autoencoders' inputs and targets (Supp. Note 9)."""
    return x / 255.0 * 1.8 - 0.9


# The trivial reconstructions an autoencoder must beat to have learned a code at all.
BLANK, MEAN_IMAGE, PCA10 = ("blank image (every pixel -0.9)", "mean training image",
                            "10 principal components")


def reconstruction_baselines(data_root=None) -> dict[str, float]:
    """Test reconstruction errors (summed over the 784 pixels, mean over the 10000 test images,
    images in [-0.9, 0.9], the unit of test_sse) of three codes that need no training beyond
    the training set's statistics: every pixel at the background value -0.9, the mean training
    image, and the projection on the training images' top 10 principal components (the best
    linear code of the bottleneck's size).  Float64 throughout, so the digits do not depend
    on the CPU."""
    return baseline_errors(to_pm09(mnist(data_root, train=True).x.double()),
                           to_pm09(mnist(data_root, train=False).x.double()))


def baseline_errors(x: torch.Tensor, xt: torch.Tensor) -> dict[str, float]:
    """reconstruction_baselines on any images (rows) x (training) and xt (test)."""
    x, xt = x.double(), xt.double()
    mean = x.mean(0)
    centred = x - mean
    _, vectors = torch.linalg.eigh(centred.T @ centred)        # ascending eigenvalues
    top = vectors[:, -10:]
    codes = {BLANK: torch.full_like(xt, -0.9), MEAN_IMAGE: mean.expand_as(xt),
             PCA10: (xt - mean) @ top @ top.T + mean}
    return {name: float(((xt - rec) ** 2).sum(1).mean()) for name, rec in codes.items()}


BEAT_MARGIN = 0.01        # a code is beaten only by an error at least 1% below it


def below_baseline(values, baselines: dict[str, float]) -> str:
    """The best trivial code of `baselines` that every final test reconstruction error in
    `values` beats by BEAT_MARGIN, or 'none' (the runs learned no code beyond them)."""
    v = np.asarray(values, dtype=np.float64)
    beaten = [name for name, b in sorted(baselines.items(), key=lambda kv: kv[1])
              if len(v) and (v < (1.0 - BEAT_MARGIN) * b).all()]
    return beaten[0] if beaten else "none"


@functools.lru_cache(maxsize=4)
def run_data(task: str, input_scaling: str, n_train: int | None, n_test: int | None,
             data_root=None):
    """((x, y), (xt, yt)) of a task: z-scored inputs and labels (classify), or images in
    [-0.9, 0.9] as both input and target (autoencode)."""
    tr, te = mnist(data_root, train=True), mnist(data_root, train=False)
    x, y = tr.x[:n_train], tr.y[:n_train]
    xt, yt = te.x[:n_test], te.y[:n_test]
    if task == "autoencode":
        x, xt = to_pm09(x), to_pm09(xt)
        return (x, x), (xt, xt)
    x, xt = zscore(x, xt, input_scaling)
    return (x, y), (xt, yt)


# -------------------------------------------------------------------------- receptive fields
def rf_units(spec: dict) -> list[int]:
    """The fixed random first-layer units whose receptive fields are kept."""
    width = layer_sizes(spec["arch"], spec["width_scale"])[1]
    gen = torch.Generator().manual_seed(spec["rf_seed"])
    return sorted(torch.randperm(width, generator=gen)[:spec["rf_units"]].tolist())


def receptive_fields(model: nn.Module, units: list[int]) -> np.ndarray:
    """The 28x28 input weights of `units` of the first layer (Supp. Fig. 5), float32."""
    w = weight_layers(model)[0].weight.detach().cpu()
    return w[units].reshape(len(units), 28, 28).numpy().astype(np.float32)


def encode_array(a: np.ndarray) -> str:
    """float16 bytes in base64: a run's record keeps 100 x 784 weights in ~200 kB."""
    return base64.b64encode(np.ascontiguousarray(a, dtype=np.float16).tobytes()).decode()


def decode_array(text: str, shape) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.float16).reshape(shape).astype(np.float32)


def stored_receptive_fields(record_or_provenance: dict) -> dict[int, np.ndarray]:
    """{epoch: (units, 28, 28)} from a stored run's record (or its provenance)."""
    prov = record_or_provenance.get("provenance", record_or_provenance)
    rf = prov["receptive_fields"]
    return {int(e): decode_array(t, rf["shape"]) for e, t in rf["data"].items()}


# ---------------------------------------------------------------------------------- training
def full_spec(spec: dict) -> dict:
    """A stored spec with the fields added later restored (ADDED's values where absent)."""
    return {**ADDED, **spec}


def plateau_rule(spec: dict, start: tuple[float | None, float] = (None, 1.0)
                 ) -> PlateauRule | None:
    """The spec's plateau rule (None for a milestones schedule): the training error monitored
    for classification, the training loss (half the reconstruction error) for autoencoders.
    start: (start_below, start_fraction) of PlateauRule, what a run must beat to have started
    learning (start_reference)."""
    spec = full_spec(spec)
    if spec["schedule"] != "plateau":
        return None
    monitor = "train_error" if task_of(spec["arch"]) == "classify" else "train_loss"
    return PlateauRule(margin=spec["plateau_margin"], patience=spec["plateau_patience"],
                       stages=spec["plateau_stages"], monitor=monitor, start_below=start[0],
                       start_fraction=start[1])


def mean_image_loss(x: torch.Tensor) -> float:
    """The autoencoders' training loss (1/2 the squared error summed over pixels, mean over
    images) of the best constant output, the mean of the images x; float64."""
    x = x.double()
    return float(0.5 * ((x - x.mean(0)) ** 2).sum(1).mean())


def start_reference(spec: dict, train_x: torch.Tensor) -> tuple[float | None, float]:
    """What a run must beat to have started learning, as (start_below, start_fraction) of
    PlateauRule: a classifier, the spec's start_fraction of its own error at initialisation;
    an autoencoder, the mean training image's loss less BEAT_MARGIN, since from random
    weights its loss falls far below its initial value by merely outputting a constant
    image, which is no code."""
    if task_of(spec["arch"]) == "classify":
        return None, full_spec(spec)["start_fraction"]
    return mean_image_loss(train_x), 1.0 - BEAT_MARGIN


def train_config(spec: dict, device: str, progress: bool | None, lr: float | None = None,
                 start: tuple[float | None, float] = (None, 1.0)) -> TrainConfig:
    """The spec's optimisation settings; `lr` replaces its first rate (a restart); `start`
    goes to the plateau rule."""
    return TrainConfig(epochs=spec["epochs"], lr=spec["lr"] if lr is None else lr,
                       momentum=spec["momentum"],
                       weight_decay=spec["weight_decay"], milestones=tuple(spec["milestones"]),
                       gamma=spec["gamma"], batch_size=spec["batch_size"],
                       train_metrics="running", loss_reduction=spec["loss_reduction"],
                       data_seed=spec["data_seed"], device=device, progress=progress,
                       plateau=plateau_rule(spec, start))


def first_rates(spec: dict) -> list[float]:
    """The first rates a run may try in turn: its own, then a tenth of it per allowed restart
    (a milestones schedule has no stall rule, so only its own)."""
    spec = full_spec(spec)
    if spec["schedule"] != "plateau":
        return [spec["lr"]]
    return [float(f"{spec['lr'] * spec['gamma'] ** k:.12g}")      # 1e-4, not 1.0000000000000002e-4
            for k in range(spec["stalled_restarts"] + 1)]


def layer_measurements(model: nn.Module) -> dict[str, float]:
    """Per layer (1 = input side): ||W||_F and cos(W, B) of the flattened matrices."""
    row = {}
    for i, layer in enumerate(weight_layers(model), 1):
        w = layer.weight.detach()
        row[f"weight_norm_{i}"] = float(w.norm())
        row[f"cos_wb_{i}"] = float(alignment_cosine_from(w.flatten(),
                                                         feedback_of(layer).flatten(), 1))
    return row


SATURATION_LEVEL = 0.99             # a tanh unit counts as saturated where |h| > 0.99
SATURATION_IMAGES = 1000            # the first 1000 training images, the same every epoch


def saturated_fractions(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """Per hidden layer l (1 = input side): the fraction of (image, unit) pairs with
    |h_l| > SATURATION_LEVEL on the images `x`, where tanh'(a) = 1 - h^2 < 0.02 and a unit
    passes on less than 2% of the error it receives (Supp. Note 5's tanh units; the chapter's
    saturation hypothesis).  Output units are not counted."""
    layers = list(model)
    hidden = [i for i, m in enumerate(layers[:-1]) if isinstance(m, nn.Tanh)]  # not the output
    row, h = {}, x
    with torch.no_grad():
        for i, module in enumerate(layers):
            h = module(h)
            if i in hidden:
                row[f"saturated_{hidden.index(i) + 1}"] = float(
                    (h.abs() > SATURATION_LEVEL).double().mean())
    return row


def saturation_by_layer(table):
    """Per (arch, rule) of every net: the saturated fraction (|h| >
    SATURATION_LEVEL) of each hidden layer after the last epoch, mean over the stored runs that
    measured it, and how many runs that is, in the text's order of nets and rules.  Layers are
    numbered from the input side; a net with fewer hidden layers has NaN beyond its last."""
    columns = sorted((c for c in table.columns if c.startswith("saturated_")),
                     key=lambda c: int(c.split("_")[1])) if len(table) else []
    if not columns:
        return pd.DataFrame(columns=["arch", "rule", "runs"])
    measured = table.dropna(subset=["saturated_1"])
    final = final_rows(measured) if len(measured) else measured
    out = final.groupby(["arch", "rule"], sort=False)[columns].mean()
    out.insert(0, "runs", final.groupby(["arch", "rule"], sort=False).size())
    out = out.rename(columns=lambda c: c.replace("saturated_", "layer ")
                     if c.startswith("saturated_") else c).reset_index()
    nets = [a for a, _ in PAPER_NETS]                   # the text's order, then FA, BP, shallow
    order = out.arch.map(nets.index) * len(RULES) + out.rule.map(RULES.index)
    return out.iloc[order.argsort(kind="stable")].reset_index(drop=True)


def autoencoder_codes(table, baselines: dict[str, float]):
    """One row per stored autoencoder run: its first rate, outcome (trained under the rule, or
    NOT_STARTED: the last stalled attempt's epochs), final test reconstruction error,
    the best trivial code of `baselines` it beats (below_baseline; 'none': no code learned)
    and the saturated fraction of its narrowest hidden layer after the last epoch (the
    10-unit bottleneck of the narrow net; for equal widths the first such layer)."""
    columns = ["arch", "rule", "repeat", "first rate", "outcome", "test reconstruction error",
               "best trivial code beaten", "narrowest layer", "saturated there"]
    runs = table[table.arch.map(task_of) == "autoencode"] if len(table) else table
    if not len(runs):
        return pd.DataFrame(columns=columns)
    rows = []
    for _, run in runs[runs.epoch > 0].groupby("run_key", sort=False):
        last = run.loc[run.epoch.idxmax()]
        hidden = layer_sizes(last.arch)[1:-1]
        narrow = hidden.index(min(hidden)) + 1                    # layers counted from 1
        rows.append({"arch": last.arch, "rule": last.rule, "repeat": int(last["repeat"]),
                     "first rate": float(run.rate.max()) if "rate" in run else float("nan"),
                     "outcome": NOT_STARTED if "not_started" in run and
                     run.not_started.max() == 1 else "trained",
                     "test reconstruction error": float(last.test_sse),
                     "best trivial code beaten": below_baseline([last.test_sse], baselines),
                     "narrowest layer": f"{narrow} ({hidden[narrow - 1]} units)",
                     "saturated there": float(last.get(f"saturated_{narrow}", float("nan")))})
    out = pd.DataFrame(rows, columns=columns)
    nets = [a for a, _ in PAPER_NETS]
    order = (out.arch.map(nets.index) * len(RULES) + out.rule.map(RULES.index)) * 100 \
        + out["repeat"]
    return out.iloc[order.argsort(kind="stable")].reset_index(drop=True)


def attempt_checkpoint(ctx: RunContext, spec: dict, attempt: int):
    """Each attempt keeps its own checkpoint, so that a restart never resumes a stalled one."""
    path = ctx.checkpoint(spec)
    if path is None or attempt == 0:
        return path
    return path.with_name(f"{path.stem}.start{attempt}{path.suffix}")


def train_one(spec: dict, ctx: RunContext) -> RunResult:
    """Train one run (resuming its checkpoint if there is one).  Measurements per epoch: lr,
    running train loss/accuracy, test loss/accuracy, test error (%) or the autoencoder's
    summed squared reconstruction error per image, per-layer norms and cosines, and the
    saturated share of each hidden layer.  A run that stalls restarts at a tenth of its rate
    (first_rates); the record lists the stalled attempts.  The record keeps the receptive
    fields at epoch 0 and at the end."""
    task = task_of(spec["arch"])
    train_data, test_data = run_data(task, spec["input_scaling"], spec["n_train"],
                                     spec["n_test"], ctx.data_root)
    sample = train_data[0][:SATURATION_IMAGES].to(ctx.device)
    units = rf_units(spec)
    stalled: list[dict] = []
    rates = first_rates(spec)
    start = start_reference(spec, train_data[0])
    for attempt, lr in enumerate(rates):
        model = build_model(spec)
        before = receptive_fields(model, units)
        # A run paused in a restart repeats its stalled attempts when resumed (a few epochs,
        # deterministic), so that the record lists them all.
        checkpoint = attempt_checkpoint(ctx, spec, attempt)
        try:
            table = train(model, train_data, test_data,
                          train_config(spec, ctx.device, ctx.progress, lr=lr,
                                       start=start),
                          measure=lambda m, _ref: {**layer_measurements(m),
                                                   **saturated_fractions(m, sample)},
                          loss_fn=squared_error(spec["target"]),
                          name=f"{spec['arch']} {spec['rule']} repeat {spec['repeat']}",
                          checkpoint=checkpoint, deadline=ctx.deadline)
        except TrainingDiverged as err:
            # A reading whose loss overflows is a result (e.g. linear outputs at the text's
            # rate): stored with the epochs measured before it and the epoch it diverged in,
            # so that the queue goes on and the chapter can say so.
            return diverged_result(err, task, units, before)
        except TrainingStalled as err:
            stalled.append(stall_summary(err, lr, task, start))
            remove_checkpoint(checkpoint)
            if attempt + 1 < len(rates):
                continue
            return stalled_result(err, task, units, before, stalled)
        if attempt > 0:                   # the sweep removes attempt 0's only
            remove_checkpoint(checkpoint)
        break
    table = add_errors(table, task)
    # The rate of each epoch under a name of its own: the store's tables put the spec's fields
    # beside the measurements, and the spec's lr (the first rate) would hide the column lr.
    attrs = dict(table.attrs)
    table = table.assign(rate=table.lr)
    table.attrs.update(attrs)
    after = receptive_fields(model, units)
    last = int(table.epoch.max())
    if "plateau_converged" in table.attrs:
        stopped = "plateau rule" if table.attrs["plateau_converged"] else "epoch cap"
    else:
        stopped = "fixed schedule"
    schedule = {"epochs_used": last, "stopped_by": stopped}
    if "plateau_converged" in table.attrs:          # what counted as having started
        schedule["start"] = start_record(start)
    if stalled:
        schedule.update(first_rate=lr, stalled_attempts=stalled)
    record = {"receptive_fields": {"units": units, "shape": list(before.shape), "dtype": "float16",
                                   "data": {"0": encode_array(before),
                                            str(last): encode_array(after)}},
              "data": {"n_train": len(train_data[1]), "n_test": len(test_data[1]), "task": task},
              "resumed": int(table.attrs.get("resumed", 0)),
              "schedule": schedule}
    return RunResult(table, record, table.attrs.get("wall_time_s"))


def start_ratios(table):
    """Per stored classification run under the plateau rule that was not stopped by a stall
    or divergence: the lowest training error of its first plateau_patience epochs as a
    fraction of its error at initialisation (what start_fraction is compared with).  A
    Series indexed by run_key."""
    if not len(table):
        return pd.Series(dtype=float)
    runs = table[(table.arch.map(task_of) == "classify") & (table.schedule == "plateau")]
    if "not_started" in runs:
        runs = runs[runs.not_started.isna()]
    if "diverged_epoch" in runs:
        runs = runs[runs.diverged_epoch.isna()]
    out = {}
    for key, run in runs.sort_values("epoch").groupby("run_key"):
        error = 1.0 - run.train_acc.to_numpy(np.float64)
        patience = int(run.plateau_patience.iloc[0])
        out[key] = float(error[1:patience + 1].min() / error[0])
    return pd.Series(out, dtype=float)


def start_record(start: tuple[float | None, float]) -> dict:
    """start_reference's (start_below, start_fraction) as a run's record keeps it."""
    below, fraction = start
    return {"reference": "initial value" if below is None else round(below, 4),
            "fraction": fraction}


def stall_summary(err: TrainingStalled, lr: float, task: str,
                  start: tuple[float | None, float] = (None, 1.0)) -> dict:
    """What the record keeps of a stalled attempt: its first rate, epochs, the monitored
    training quantity at initialisation and at the end (and the reference it had to beat,
    where not the initial value), the last hidden layer's saturated share (the usual cause:
    units pinned at +-1 pass no error on) and every hidden layer's."""
    first, last = err.rows[0], err.rows[-1]
    summary = {"lr": lr, "epochs": int(err.epoch)}
    if task == "classify":
        summary.update(train_error_initial=round(100 * (1 - first["train_acc"]), 3),
                       train_error_last=round(100 * (1 - last["train_acc"]), 3))
    else:
        summary.update(train_loss_initial=first["train_loss"], train_loss_last=last["train_loss"])
    summary["start"] = start_record(start)
    saturated = sorted((k for k in last if k.startswith("saturated_")),
                       key=lambda k: int(k.split("_")[1]))
    if saturated:
        summary["saturated_last_hidden"] = round(float(last[saturated[-1]]), 4)
        summary["saturated_hidden"] = [round(float(last[k]), 4) for k in saturated]
    return summary


NOT_STARTED = "did not start learning"


def ended_early(table, task: str, units, before, schedule: dict) -> RunResult:
    """The stored form of a run that ended without a trained network (divergence, or a stall
    at every allowed rate): its measured epochs, the receptive fields at epoch 0 only, and
    `schedule` with the epochs used."""
    table = add_errors(table, task)
    table = table.assign(rate=table.lr)
    record = {"receptive_fields": {"units": units, "shape": list(before.shape), "dtype": "float16",
                                   "data": {"0": encode_array(before)}},
              "data": {"task": task},
              "resumed": 0,
              "schedule": {"epochs_used": int(table.epoch.max()), **schedule}}
    return RunResult(table, record, None)


def not_started_runs(table, arch: str, rule: str) -> int:
    """How many stored (arch, rule) runs stalled at every first rate they may try (marked
    not_started = 1 by stalled_result)."""
    if not len(table) or "not_started" not in table:
        return 0
    rows = table[(table.arch == arch) & (table.rule == rule)]
    return int(rows.groupby("run_key").not_started.max().fillna(0).sum())


def stalled_result(err: TrainingStalled, task: str, units, before,
                   stalled: list[dict]) -> RunResult:
    """A run that stalled at every first rate it may try: the last attempt's epochs, marked
    with a column not_started = 1, stopped by NOT_STARTED, every attempt listed."""
    return ended_early(pd.DataFrame(err.rows).assign(not_started=1), task, units, before,
                       {"stopped_by": NOT_STARTED, "first_rate": stalled[-1]["lr"],
                        "stalled_attempts": stalled})


def diverged_result(err: TrainingDiverged, task: str, units, before) -> RunResult:
    """A run whose training loss overflowed: the epochs measured before it (epoch 0 at least)
    with a column diverged_epoch (the 1-based epoch the loss overflowed in), stopped by
    divergence."""
    return ended_early(diverged_measurements(err), task, units, before,
                       {"stopped_by": "divergence", "diverged_epoch": int(err.epoch)})


def add_errors(table, task: str):
    """test_error (%, classification) or test_sse / train_sse (autoencoders: the squared
    reconstruction error summed over the 784 pixels, mean over images; the loss is half that)."""
    attrs = dict(table.attrs)
    if task == "classify":
        table = table.assign(test_error=100.0 * (1.0 - table.test_acc),
                             train_error=100.0 * (1.0 - table.train_acc))
    else:
        table = table.assign(test_sse=2.0 * table.test_loss, train_sse=2.0 * table.train_loss)
    table.attrs.update(attrs)
    return table


def train_group(specs: list[dict], ctx: RunContext) -> list[RunResult]:
    return [train_one(spec, ctx) for spec in specs]


# ------------------------------------------------------------------- summaries for chapters
SHALLOW_COLOR = "#949494"           # the shallow control has no falign rule: a neutral grey
SHALLOW_LABEL = "shallow (output layer only)"

# Every MNIST number of Supp. Notes 5 and 9 for the networks of this family: (architecture,
# rule, quantity, printed value).  Test errors in %; the autoencoders' "MSE" as printed (its
# normalisation is not stated; ours is the squared error summed over the 784 pixels).
PRINTED = (
    ("784-1000-10", "fa", "test error (%)", 2.1),
    ("784-1500x3-10", "bp", "test error (%)", 1.62),
    ("784-1500x3-10", "fa", "test error (%)", 1.32),
    ("784-1000x10-10", "fa", "test error (%)", 1.45),
    ("784-1000x10-10", "bp", "test error (%)", 1.65),
    ("784-1000-500-10-500-1000-784", "bp", "test reconstruction error", 8.6),
    ("784-1000-500-10-500-1000-784", "fa", "test reconstruction error", 30.2),
    ("784-1000x5-784", "fa", "test reconstruction error", 0.72),
    ("784-1000x5-784", "bp", "test reconstruction error", 1.5),
)

# Short names of the architectures, for glue keys and labels.
SHORT = {"784-1000-10": "h1000", "784-1500x3-10": "h3x1500", "784-1000x10-10": "h10x1000",
         "784-1000-500-10-500-1000-784": "ae_narrow", "784-1000x5-784": "ae_wide"}


def printed_values() -> dict[str, float]:
    """{"printed_<net>_<rule>": value} of PRINTED, for gluing the paper's numbers."""
    return {f"printed_{SHORT[a]}_{r}": v for a, r, _, v in PRINTED}


# The MNIST results of Supp. Note 5 that this family does not reproduce, and why.
NOT_REPRODUCED = (
    ("FA + dropout, one hidden layer", "1.2%",
     "variant not built: dropout rate, which layers, and the width are not stated"),
    ("FA, piecewise-linear units f(x) = x/20 (x <= 0), x (x > 0)", "1.1%",
     "variant not built: the network it was used in is not stated (one hidden layer, or the "
     "3x1500 net?); a 5-repeat grid of a 1500-wide net needs GPU time"),
    ("FA, locally connected 784-3174-1500-1500-10 (6 maps of 6x6 patches)", "0.8%",
     "variant not built: falign has no locally connected layer; stride and the units it was "
     "combined with are not stated (6 x 23 x 23 = 3174 fits stride 1, no padding)"),
    ("FA, the above + elastic distortions", "0.5%",
     "variant not built: the distortion parameters (sigma, alpha, translations) are not stated"),
    ("mnist-back-image, 784-1500x3-10: BP / FA", "21.5% / 20.66%",
     "data unavailable here (the LISA MNIST-variations files)"),
)


def final_rows(table):
    """The last measured epoch of every run."""
    last = table.groupby("run_key").epoch.transform("max")
    return table[table.epoch == last]


def results_table(table, cells):
    """Printed vs ours for every MNIST number of Supp. Notes 5 and 9 and the shallow control:
    ours is the mean +- standard error over the stored repeats of the final epoch, with
    (stored/planned) repeats; 'pending' where no run is stored."""
    import pandas as pd

    final = final_rows(table) if len(table) else table
    planned = {(c.arch, c.rule): (int(c.stored), int(c.planned)) for c in cells.itertuples()}
    printed = {(a, r): (q, v) for a, r, q, v in PRINTED}
    order = [(a, r) for a, rules in PAPER_NETS for r in rules]
    rows = []
    for arch, rule in order:
        task = task_of(arch)
        quantity = ("test error (%)" if task == "classify"
                    else "test reconstruction error (printed unit)")
        column = compared_column(arch)
        stored_here = len(final) and column in final
        values = final[(final.arch == arch) & (final.rule == rule)][column].dropna() \
            if stored_here else []
        stuck = not_started_runs(final, arch, rule)
        stored, total = planned.get((arch, rule), (0, 0))
        if total == 0:
            ours = "not in this profile"
        elif len(values) == 0:
            ours = f"pending (0/{total})"
        elif len(values) == 1:
            ours = f"{values.mean():.2f} (1/{total})"
        else:
            se = values.std(ddof=1) / len(values) ** 0.5
            ours = f"{values.mean():.2f} ± {se:.2f} ({len(values)}/{total})"
        if stuck:                 # the protocol's outcome, but not a trained network's error
            ours += f"; {stuck} of them did not start learning at any allowed rate"
        rows.append({"network": arch, "rule": rule, "quantity": quantity,
                     "printed": printed.get((arch, rule), (None, "not printed"))[1],
                     "ours": ours})
    return pd.DataFrame(rows)


def final_summary(table, arch: str, column: str = "test_error"):
    """Per rule: mean, standard error and number of stored runs of `column` at the last epoch."""
    final = final_rows(table[table.arch == arch])
    g = final.groupby("rule")[column]
    return g.agg(["mean", "count"]).assign(se=g.std(ddof=1) / g.count() ** 0.5)


def rf_smoothness(fields: np.ndarray) -> float:
    """Mean correlation of horizontally and vertically neighbouring pixel weights over a set of
    receptive fields (units, 28, 28): about 0 for independent random weights, near 1 for smooth
    stroke-like fields.  A summary of what Supp. Fig. 5 shows by eye."""
    f = np.asarray(fields, dtype=np.float64)
    pairs = [(f[:, :, :-1], f[:, :, 1:]), (f[:, :-1, :], f[:, 1:, :])]
    corrs = []
    for a, b in pairs:
        a = a.reshape(len(f), -1) - a.reshape(len(f), -1).mean(1, keepdims=True)
        b = b.reshape(len(f), -1) - b.reshape(len(f), -1).mean(1, keepdims=True)
        corrs.append((a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1)))
    return float(np.mean(corrs))


def rf_change(before: np.ndarray, after: np.ndarray) -> float:
    """||W_after - W_before||_F / ||W_before||_F over the kept units' input weights, in float64
    (the stored fields are float32, whose BLAS norm moved the 7th digit between CPUs)."""
    before, after = np.asarray(before, np.float64), np.asarray(after, np.float64)
    return float(np.linalg.norm(after - before) / np.linalg.norm(before))


def stored_fields(sweep, arch: str = "784-1000-10", repeat: int | None = None,
                  table=None) -> dict:
    """{"initial": (100, 28, 28), rule: (100, 28, 28), ...} of one repeat (the lowest stored
    one unless given) of `arch`, read from the runs' records, the fields after each run's last
    epoch; also {"repeat": k}.  `table`: the runs to take (default: the sweep's)."""
    keys = set((sweep.table if table is None else table).run_key)
    if not keys:
        return {}
    records = [r for r in sweep.store.records() if r["key"] in keys and r["spec"]["arch"] == arch]
    if not records:
        return {}
    k = min(r["spec"]["repeat"] for r in records) if repeat is None else repeat
    out = {"repeat": k}
    for r in sorted(records, key=lambda r: r["spec"]["rule"]):
        if r["spec"]["repeat"] != k:
            continue
        rf = stored_receptive_fields(r)
        out.setdefault("initial", rf[0])
        out[r["spec"]["rule"]] = rf[max(rf)]         # after the run's last epoch
    return out


READINGS_TABLE = (
    ("epochs", "not stated", "as many as the schedule rule takes, capped at 300",
     "the rule ends training when the third stage levels off; the cap only bounds a run "
     "that never levels off (the chapter counts runs that reach it)"),
    ("when the lr steps", "'once progress had slowed substantially', 1e-2 -> 1e-3 -> 1e-4",
     "when an epoch's running training error has not fallen below 0.95 x its best for 3 "
     "epochs in a row", "the common plateau reading of the sentence; margin and patience fixed "
     "before any converged run was seen; a second setting (0.98, 5 epochs) checks the "
     "sensitivity; the first runs' 12 epochs with drops after 8 and 10 are kept as a reading"),
    ("loss reduction over the batch", "'standard mean squared error of the outputs'",
     "1/2 sum over outputs, summed over the 100 examples",
     "averaged over the batch, eta = 1e-2 left BP at 12.5% test error after 2 epochs in "
     "our trial (linear outputs); summed, BP and FA reach 6-7% in 2 epochs"),
    ("output units", "'tanh units', targets {-0.9, 0.9}", "tanh",
     "targets at +-0.9 lie inside tanh's range (LeCun et al. 2012's advice)"),
    ("B's distribution", "uniform, centred, 'scaled ... by trial and error'",
     "U[+-sqrt(3/n_out)], Var(B) = 1/n_out",
     "the error e B reaching a layer has the size of e: 'roughly the same magnitude of error "
     "arrived at each layer'"),
    ("forward initialisation", "not stated", "W, b ~ U[+-1/sqrt(fan_in)]",
     "the common default; the text notes small forward weights slow BP but not FA"),
    ("z-scoring", "mean 0, standard deviation 1", "per pixel, training-set statistics",
     "the permutation-invariant task; constant border pixels are only centred"),
    ("momentum", "not mentioned", "none", "plain SGD with weight decay 1e-6"),
    ("autoencoder error", "'MSE' (8.6, 30.2, 0.72, 1.5)",
     "squared error summed over 784 pixels, mean over images, pixels in [-0.9, 0.9]",
     "a per-pixel mean cannot reach 30.2 (tanh outputs err by at most 1.9, 3.61 squared); "
     "a per-image sum can"),
)


def readings_table():
    import pandas as pd

    return pd.DataFrame(READINGS_TABLE, columns=["item", "the text", "we chose", "why"]
                        ).set_index("item")


def n_parameters(arch: str) -> int:
    """Weights and biases of a named architecture."""
    sizes = layer_sizes(arch)
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def epoch_flop(arch: str, n_train: int = 60000) -> float:
    """Floating-point operations of one training epoch: about 6 per parameter per example
    (2 forward, 2 for the error sent back, 2 for the weight update)."""
    return 6.0 * n_parameters(arch) * n_train


def claims(table, cells) -> list[str]:
    """The text's comparisons of BP and FA (Supp. Notes 5 and 9), one sentence each, checked on
    the stored runs where both rules have runs; 'pending' otherwise."""
    printed = {(a, r): v for a, r, _, v in PRINTED}
    out = []
    for arch, rules in PAPER_NETS:
        if ("fa" not in rules) or ("bp" not in rules) or (arch, "bp") not in printed:
            continue
        column = compared_column(arch)
        final = final_rows(table[table.arch == arch]) if len(table) else table
        means = final.groupby("rule")[column].mean() if len(final) and column in final else {}
        text = (f"{arch}: printed FA {printed[arch, 'fa']} vs BP {printed[arch, 'bp']} "
                f"({'FA better' if printed[arch, 'fa'] < printed[arch, 'bp'] else 'BP better'})")
        if all(r in means for r in ("fa", "bp")):
            ours = "FA better" if means["fa"] < means["bp"] else "BP better"
            text += f"; ours FA {means['fa']:.2f} vs BP {means['bp']:.2f} ({ours})."
        else:
            text += "; ours pending (no stored runs of both rules)."
        out.append(text)
    return out


# ------------------------------------------------ converged runs, readings and the schedule
def load_runs(profile: str = "paper", results="results", device: str = "cpu", data_root=None,
              train_missing: bool = False, overrides: dict | None = None):
    """falign.chapters.load_results for this family, except that a profile with no stored
    run yet gives an empty table (every cell 0 of planned) instead of an error, so the chapters
    render before, while and after the converged runs are trained."""
    import pandas as pd

    from ..chapters import SweepResults, load_results
    from ..store import ResultStore

    try:
        sweep = load_results(NAME, profile, results, device, data_root, train_missing,
                             overrides=overrides)
        sweep.table = with_rates(sweep.table, sweep.store)
        return sweep
    except FileNotFoundError:
        protocol = PROFILES[profile]
        if overrides:
            protocol = replace(protocol, **{k: tuple(v) if isinstance(v, list) else v
                                            for k, v in overrides.items()})
        specs = pd.DataFrame(run_specs(protocol)).assign(stored=False)
        cells = (specs.groupby(list(CELL), sort=False).stored.agg(["sum", "size"])
                 .rename(columns={"sum": "stored", "size": "planned"}).reset_index())
        return SweepResults(NAME, profile, protocol, ResultStore(results, store_name(profile)),
                            pd.DataFrame(columns=["run_key", "arch", "rule", "repeat", "epoch",
                                                  "rate"]),
                            len(specs), 0, cells)


def reading_table(store, reading: str):
    """The stored measurements of a named reading (READINGS[reading]), spec as columns; an
    empty table when none is stored (e.g. in a smoke store)."""
    import pandas as pd

    keys = {spec_key(s) for s in run_specs(READINGS[reading])}
    table = store.table() if store.folder.is_dir() else pd.DataFrame()
    table = table[table.run_key.isin(keys)].reset_index(drop=True) if len(table) else table
    if not len(table):
        return pd.DataFrame(columns=["run_key", "arch", "rule", "repeat", "epoch", "rate"])
    return with_rates(table, store)


def with_rates(table, store):
    """`table` (a store's table) with the column `rate`, the learning rate of each epoch: as
    stored by runs that record it, else (runs stored before, all on fixed milestones) from
    their spec's schedule (TrainConfig.lr_at of the epoch before the row)."""
    import numpy as np

    if not len(table):
        return table.assign(rate=[])
    rate = table["rate"].to_numpy(dtype=float, copy=True) if "rate" in table \
        else np.full(len(table), np.nan)
    todo = np.isnan(rate)
    if todo.any():
        specs = {r["key"]: r["spec"] for r in store.records()}
        for key in table.run_key[todo].unique():
            rows = (table.run_key == key).to_numpy() & todo
            cfg = train_config(full_spec(specs[key]), "cpu", False)
            rate[rows] = [cfg.lr_at(max(int(e) - 1, 0)) for e in table.epoch[rows]]
    table = table.assign(rate=rate)
    if "test_sse" in table:
        table = table.assign(test_sse_printed_unit=table.test_sse / PRINTED_AE_UNIT)
    return table


# Supp. Note 9 prints the autoencoders' errors ("MSE") without their unit.  The chapter's
# exercise 2 finds them plausible only as squared errors summed over the pixels of images in
# [0, 1], from codes that need no training (the mean image, 10 principal components) and
# before any autoencoder was trained; ours are summed over pixels in [-0.9, 0.9], a range 1.8
# times wider, so they are divided by 1.8^2 wherever they meet a printed value.
PRINTED_AE_UNIT = 1.8 ** 2


def compared_column(arch: str) -> str:
    """The column set beside a printed value: the test error (%) of a classifier, or an
    autoencoder's test reconstruction error in the printed unit (test_sse / PRINTED_AE_UNIT,
    added by with_rates)."""
    return "test_error" if task_of(arch) == "classify" else "test_sse_printed_unit"


def stage_boundaries(table):
    """Per run: the epochs after which the rate dropped (the last epoch at each rate but the
    last), from the `rate` column (with_rates).  {run_key: [epoch, ...]}."""
    out = {}
    for key, run in table[table.epoch > 0].sort_values("epoch").groupby("run_key"):
        lr = run.rate.to_numpy()
        out[key] = [int(e) for e, a, b in zip(run.epoch.iloc[:-1], lr[:-1], lr[1:]) if b < a]
    return out


def epochs_used(table, records: list[dict] | None = None):
    """One row per run: arch, rule, repeat, the epochs of each stage (stage 1 at the first
    rate, each later stage at a tenth of the one before), epochs in all, what stopped it
    (plateau rule, epoch cap, fixed schedule, divergence, NOT_STARTED), wall time (min) from
    `records` (the store's).  first rate: the rate of stage 1, a tenth of the spec's per
    restart of a stalled attempt (first_rates)."""
    import pandas as pd

    columns = ["arch", "rule", "repeat", "first rate", "stage 1", "stage 2", "stage 3",
               "epochs", "stopped by", "wall time (min)"]
    if not len(table):
        return pd.DataFrame(columns=columns)
    by_key = {r["key"]: r for r in records or []}
    rows = []
    for key, run in table[table.epoch > 0].groupby("run_key", sort=False):
        first = run.iloc[0]
        lr0 = float(run.rate.max())
        counts = {f"stage {i + 1}": int((abs(run.rate / (lr0 * 0.1 ** i) - 1) < 1e-6).sum())
                  for i in range(3)}
        record = by_key.get(key, {})
        prov = record.get("provenance", {})
        stopped = prov.get("schedule", {}).get("stopped_by", "fixed schedule")
        rows.append({"arch": first.arch, "rule": first.rule, "repeat": int(first["repeat"]),
                     "first rate": lr0, **counts, "epochs": int(run.epoch.max()),
                     "stopped by": stopped,
                     "wall time (min)": prov.get("wall_time_s", float("nan")) / 60})
    return pd.DataFrame(rows)


def converged_epochs(table) -> float:
    """The median number of epochs the stored plateau-rule runs of the 784-1000-10 net took
    (FA and BP); NaN when none is stored."""
    import numpy as np

    net = table[(table.arch == "784-1000-10") & table.rule.isin(["fa", "bp"])]
    if not len(net):
        return float("nan")
    return float(np.median(net.groupby("run_key").epoch.max()))


def permutation_test(a, b) -> float:
    """Two-sided exact permutation test of mean(a) - mean(b): the fraction of the ways of
    splitting the pooled values into groups of len(a) and len(b) whose difference of means is
    at least as large in size as the observed one (float64; every split enumerated)."""
    import itertools

    import numpy as np

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"a permutation test needs at least 2 values per group, got "
                         f"{len(a)} and {len(b)}; train more repeats")
    pooled, n = np.concatenate([a, b]), len(a)
    observed = abs(a.mean() - b.mean())
    hits = total = 0
    for idx in itertools.combinations(range(len(pooled)), n):
        mask = np.zeros(len(pooled), dtype=bool)
        mask[list(idx)] = True
        hits += abs(pooled[mask].mean() - pooled[~mask].mean()) >= observed - 1e-12
        total += 1
    return hits / total


ORDER_LEVEL = 0.05                  # an ordering of two rules is claimed below this p-value


def rule_order(table, arch: str, column: str = "test_error") -> str:
    """FA against BP on `arch`, decided by permutation_test over the stored repeats' final
    values: 'FA lower', 'BP lower', 'not separated (p = ...)', or why it is not tested."""
    final = final_rows(table[table.arch == arch]) if len(table) else table
    values = {r: final[final.rule == r][column].dropna().to_numpy() for r in ("fa", "bp")} \
        if len(final) and column in final else {"fa": [], "bp": []}
    if min(len(values["fa"]), len(values["bp"])) < 2:
        return (f"not tested ({len(values['fa'])} FA and {len(values['bp'])} BP runs stored; "
                "the test needs 2 of each)")
    p = permutation_test(values["fa"], values["bp"])
    if p >= ORDER_LEVEL:
        return f"not separated (p = {p:.2f}, {len(values['fa'])} + {len(values['bp'])} runs)"
    lower = "FA" if values["fa"].mean() < values["bp"].mean() else "BP"
    return f"{lower} lower (p = {p:.3f}, {len(values['fa'])} + {len(values['bp'])} runs)"


def time_epoch(arch: str, rule: str, steps: int = 60, data_root=None) -> float:
    """CPU seconds of one training epoch (600 minibatches of 100) of `arch` under `rule`,
    timed over `steps` minibatches after 5 warm-up steps (time.process_time: the core's time,
    not the wall clock, which other jobs on the machine stretch)."""
    import time

    from ..layers import after_optimizer_step

    spec = next(s for s in run_specs(PAPER) if s["arch"] == arch and s["rule"] == rule)
    (x, y), _ = run_data(task_of(arch), spec["input_scaling"], None, 0, data_root)
    model, loss_fn = build_model(spec), squared_error(spec["target"])
    opt = torch.optim.SGD(model.parameters(), lr=spec["lr"], weight_decay=spec["weight_decay"])
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))

    def step(s: int) -> None:
        idx = order[s * 100:(s + 1) * 100]
        loss = loss_fn(model(x[idx]), y[idx], spec["loss_reduction"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        after_optimizer_step(model)

    for s in range(5):
        step(s)
    start = time.process_time()
    for s in range(5, 5 + steps):
        step(s)
    return (time.process_time() - start) * (len(x) // 100) / steps


# What each item-5 reading changes, and the stated value (if any) it departs from.
READING_NOTES = {
    "initial_step": ("lr 1e-3 -> 1e-4 -> 1e-5 on the summed loss (now the protocol)",
                     "the text's rates are an example ('e.g.'): departs from none"),
    "mean_loss": ("squared error averaged over the minibatch, lr 1e-2",
                  "'standard mean squared error': departs from none"),
    "feedback_fan_in": ("B ~ U[+-1/sqrt(fan_in)] (FA only)",
                        "B 'scaled ... by trial and error': departs from none"),
    "linear_outputs": ("linear output units, lr 1e-2", "departs from 'tanh units' if that "
                                                       "covers the outputs"),
    "linear_outputs_1e-3": ("linear output units, lr 1e-3 (the protocol's rate)",
                            "departs from 'tanh units' if that covers the outputs"),
}


def _mean_se(values, planned: int | None = None) -> str:
    """'m ± se (k/K)' of final values; 'pending (0/K)' without any."""
    k = len(values)
    tail = f" ({k}/{planned})" if planned is not None else f" (n = {k})"
    if k == 0:
        return f"pending{tail}"
    if k == 1:
        return f"{values.mean():.2f}{tail}"
    return f"{values.mean():.2f} ± {values.std(ddof=1) / k ** 0.5:.2f}{tail}"


def closing_table(sweep, twelve, records: list[dict]):
    """Every network and rule of Supp. Notes 5 and 9: the printed value, ours under the
    plateau rule (mean ± standard error, stored/planned repeats), ours after the 12-epoch
    reading, the epochs the converged runs took (median, range), the median wall time per
    converged run, and what is still to come (queued on the CPU, or pending a GPU with the
    estimated core-hours of one run)."""
    import numpy as np
    import pandas as pd

    printed = {(a, r): v for a, r, _, v in PRINTED}
    planned = {(c.arch, c.rule): int(c.planned) for c in sweep.cells.itertuples()}
    final = final_rows(sweep.table) if len(sweep.table) else sweep.table
    final12 = final_rows(twelve) if len(twelve) else twelve
    used = epochs_used(sweep.table, records)
    queued = {spec_key(s) for s in run_specs(PROFILES["quick"])}
    stored_keys = set(sweep.table.run_key) if len(sweep.table) else set()
    todo: dict = {}
    for spec in run_specs(sweep.protocol):
        key = spec_key(spec)
        if key not in stored_keys:
            cell = todo.setdefault((spec["arch"], spec["rule"]), [0, 0])
            cell[0 if key in queued else 1] += 1
    rows = []
    for arch, rules in PAPER_NETS:
        column = compared_column(arch)
        for rule in rules:
            mine = final[(final.arch == arch) & (final.rule == rule)] if len(final) else final
            values = mine[column].dropna() if len(mine) and column in mine else pd.Series([])
            ref = final12[(final12.arch == arch) & (final12.rule == rule)] if len(final12) \
                else final12
            ref_values = ref[column].dropna() if len(ref) and column in ref else pd.Series([])
            runs = used[(used.arch == arch) & (used.rule == rule)] if len(used) else used
            k, total = len(values), planned.get((arch, rule), 0)
            in_queue, not_queued = todo.get((arch, rule), (0, 0))
            parts = ([f"{in_queue} queued on the CPU"] if in_queue else []) + \
                ([f"{not_queued} not queued (at most {estimated_run_hours(arch):.1f} core-h "
                  "each)"] if not_queued else [])
            rows.append({
                "network": arch, "rule": rule,
                "printed": printed.get((arch, rule), "not printed"),
                "ours, plateau rule": _mean_se(values, total) if total else "not planned",
                "ours, 12 epochs": (_mean_se(ref_values, READINGS["twelve_epochs"].repeats)
                                    if len(ref_values) else "not run"),
                "epochs (median, range)": (
                    f"{np.median(runs.epochs):.0f} ({runs.epochs.min()}-{runs.epochs.max()})"
                    if len(runs) else "-"),
                "wall time per run (min)": (f"{np.median(runs['wall time (min)']):.0f}"
                                            if len(runs) else "-"),
                "still to come": "; ".join(parts) if parts else
                ("complete" if total else "not in this profile")})
    return pd.DataFrame(rows)


def sensitivity(main, patient, labels: dict):
    """The plateau rule's sensitivity check: repeat 0 of the 784-1000-10 net under the
    protocol's setting (`main`, a table of runs) and under the patient setting (`patient`),
    with the spread of the protocol's repeats for scale.  (table, one-paragraph verdict)."""
    import pandas as pd

    rows = []
    main_final = final_rows(main) if len(main) else main
    patient_final = final_rows(patient) if len(patient) else patient
    for rule in ("fa", "bp", "shallow"):
        ours = main_final[(main_final.rule == rule)] if len(main_final) else main_final
        mine0 = ours[ours.repeat == 0] if len(ours) else ours
        other = patient_final[patient_final.rule == rule] if len(patient_final) else patient_final
        rows.append({
            "rule": labels[rule],
            "protocol, repeat 0: test error (%)":
                float(mine0.test_error.iloc[0]) if len(mine0) else None,
            "protocol, repeat 0: epochs": int(mine0.epoch.iloc[0]) if len(mine0) else None,
            "patient, repeat 0: test error (%)":
                float(other.test_error.iloc[0]) if len(other) else None,
            "patient, repeat 0: epochs": int(other.epoch.iloc[0]) if len(other) else None,
            "protocol: s.d. over repeats (%)": float(ours.test_error.std(ddof=1))
            if len(ours) > 1 else None})
    sensitivity = pd.DataFrame(rows).set_index("rule")
    both = sensitivity.dropna(subset=["protocol, repeat 0: test error (%)",
                                      "patient, repeat 0: test error (%)"])
    if len(both):
        shift = (both["patient, repeat 0: test error (%)"]
                 - both["protocol, repeat 0: test error (%)"])
        sd = both["protocol: s.d. over repeats (%)"]
        words = [f"{rule}: {d:+.2f} points" + (f" ({abs(d) / s:.1f} s.d. of the repeats)"
                                               if pd.notna(s) and s > 0 else "")
                 for rule, d, s in zip(both.index, shift, sd)]
        note = ("The patient setting moves the final test error by " + "; ".join(words) +
                ". One repeat per setting: a shift within about one s.d. of the repeats is read "
                "as no sensitivity; a larger one would mean the protocol's rule stops early.")
    else:
        note = ("The comparison fills in once repeat 0 is stored under both settings (the "
                "sensitivity runs follow the 784-1000-10 grid in the queue).")
    return sensitivity, note


def step_selection(store):
    """STEP_RULE from the stored runs: per first rate of STEP_CANDIDATES, the repeat-0 runs of
    the 784-1000-10 net (FA and BP) under the plateau rule, their final training error (what
    the rule compares) and, shown only, their test error and epochs; with the chosen rate
    (None until every candidate's two runs are stored)."""
    import pandas as pd

    table = store.table() if store.folder.is_dir() else pd.DataFrame()
    # Plateau-rule runs store train_error and test_error every epoch (the rule watches the first).
    last = final_rows(table).set_index("run_key") if len(table) else pd.DataFrame()
    rows = []
    for lr in STEP_CANDIDATES:
        protocol = replace(TEXT_EXAMPLE, nets=(("784-1000-10", ("fa", "bp")),), repeats=1, lr=lr)
        for spec in run_specs(protocol):
            run = last.loc[spec_key(spec)] if spec_key(spec) in last.index else None
            rows.append({"first rate": lr, "rule": spec["rule"],
                         "final training error (%)": None if run is None else
                         float(run.train_error),
                         "test error (%), not used": None if run is None else
                         float(run.test_error),
                         "epochs": None if run is None else int(run.epoch)})
    out = pd.DataFrame(rows)
    means = out.groupby("first rate")["final training error (%)"].agg(["mean", "count"])
    complete = (means["count"] == 2).all()
    chosen = float(means["mean"].idxmin()) if complete else None
    return out, chosen


def reading_rows(store, base_table, base_label: str = "first rate 1e-2, repeat 0"):
    """The item-5 readings (one repeat each, each a change to the text's example rate 1e-2)
    beside repeat 0 of the runs they change (`base_table`, the reading first_step_1e-2): final
    test error, epochs used and the final saturated fraction of the hidden layer, per reading
    and rule."""
    import pandas as pd

    rows = []
    base = base_table[base_table.repeat == 0] if len(base_table) else base_table
    sources = [(base_label, base)] + \
        [(name, reading_table(store, name)) for name in ITEM5_READINGS]
    for name, table in sources:
        net = table[table.arch == "784-1000-10"] if len(table) else table
        final = final_rows(net) if len(net) else net
        for rule in ("fa", "bp"):
            run = final[final.rule == rule] if len(final) else final
            if name in READINGS and rule not in dict(READINGS[name].nets)["784-1000-10"]:
                continue
            stored = len(run) > 0
            diverged = (stored and "diverged_epoch" in run
                        and not pd.isna(run.diverged_epoch.iloc[0]))
            ended = stored and not diverged
            rows.append({"reading": name, "what changes": READING_NOTES.get(name, ("-",))[0],
                         "rule": rule,
                         "test error (%)": float(run.test_error.iloc[0]) if ended else None,
                         "epochs": int(run.epoch.iloc[0]) if ended else None,
                         "saturated at the end": (float(run.saturated_1.iloc[0]) if ended
                                                  and "saturated_1" in run else None),
                         "outcome": ("pending" if not stored else
                                     f"diverged in epoch {int(run.diverged_epoch.iloc[0])}"
                                     if diverged else "ended")})
    return pd.DataFrame(rows)


def figure5_runs(profile: str = "paper", results="results", device: str = "cpu", data_root=None,
                 train_missing: bool = False, overrides: dict | None = None,
                 arch: str = "784-1000-10") -> dict:
    """Everything the receptive-field chapter (Supp. Fig. 5) draws, in one call: the runs of
    `arch` under the plateau rule when one repeat has all three variants stored, else those of
    the 12-epoch reading (same store; none in a smoke store).  Returns {"sweep": the profile's
    SweepResults (for the status line and provenance), "source": "plateau rule" | "12-epoch
    reading", "table": the chosen runs' measurements, "fields": stored_fields of the lowest
    complete repeat, "last_epoch": {rule: the epoch its fields are from}, "boundaries":
    {rule: epochs after which its rate dropped} (that repeat), "planned": {rule: repeats
    planned under the rule}}."""
    sweep = load_runs(profile, results, device, data_root, train_missing, overrides)
    net = sweep.table[sweep.table.arch == arch] if len(sweep.table) else sweep.table
    complete = sorted(k for k, g in net.groupby("repeat") if set(g.rule) >= set(RULES)) \
        if len(net) else []
    source, table = "plateau rule", net
    if not complete:
        twelve = reading_table(sweep.store, "twelve_epochs")
        twelve = twelve[twelve.arch == arch] if len(twelve) else twelve
        if len(twelve):
            source, table = "12-epoch reading", twelve
            complete = sorted(k for k, g in twelve.groupby("repeat") if set(g.rule) >= set(RULES))
    repeat = complete[0] if complete else None
    fields = stored_fields(sweep, arch, repeat, table=table) if repeat is not None else {}
    shown = table[table.repeat == repeat] if repeat is not None else table.iloc[:0]
    bounds = stage_boundaries(shown) if len(shown) else {}
    rule_of = dict(zip(shown.run_key, shown.rule)) if len(shown) else {}
    planned = {c.rule: int(c.planned) for c in sweep.cells.itertuples() if c.arch == arch}
    return {"sweep": sweep, "source": source, "table": table, "fields": fields,
            "last_epoch": {r: int(g.epoch.max()) for r, g in shown.groupby("rule")},
            "boundaries": {rule_of[k]: v for k, v in bounds.items()}, "planned": planned}
