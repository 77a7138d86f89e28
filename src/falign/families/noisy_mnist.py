"""Robertson & Koyejo Section 6.1 / Appendix A: two-layer networks on noisy MNIST, a width
sweep (Figures 2-4, Table 3) and the readings ablation of its protocol.  One run = one (width,
rule, repeat); the runs of one width and repeat share their data and initialisation and train
as one stacked computation (falign.stacked)."""
from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import pandas as pd
import torch

from ..data import noisy_mnist
from ..layers import convert, xavier_feedback_
from ..measurements import neuron_potential_from
from ..models import two_layer_mlp
from ..rules import sign_feedback
from ..stacked import StackedMLPs
from ..store import ResultStore, spec_key, without_added_defaults
from ..sweep import RunContext, RunResult, run_sweep
from ..training import TrainConfig, deterministic_mode

NAME = "noisy_mnist"

GRID = ("widths", "rules", "repeats")     # protocol fields that span runs
CELL = ("width", "rule")                  # a table cell: its runs differ by repeat only
PAPER_WIDTHS = (15, 30, 45, 60, 75, 100, 125, 150, 175, 200)
PAPER_RULES = ("fa", "adafa", "signfa", "bp")


@dataclass(frozen=True)
class NoisyMNISTProtocol:
    """App. A's protocol plus the readings the text leaves open (see the ablation chapter)."""
    widths: tuple[int, ...] = PAPER_WIDTHS
    rules: tuple[str, ...] = PAPER_RULES
    repeats: int = 6
    n_train: int = 4000
    noise: float = 0.2
    epochs: int = 6000
    lr: float = 0.05
    momentum: float = 0.05
    weight_decay: float = 0.0
    lr_drop_every: int = 1000          # lr divided by 10 every this many epochs
    measure_every: int = 5
    n_test: int | None = None          # None: the full clean test set
    # Open readings of the text:
    input_scaling: str = "standardize"  # standardize | unit | raw
    loss_reduction: str = "mean"        # mean | sum
    noise_mode: str = "exact"           # exact | uniform
    init: str = "fan_in"                # fan_in: U[+-1/sqrt(fan_in)]; width: U[+-1/sqrt(m)]
    bias: bool = False
    bias_init: str = "fan_in"           # fan_in: PyTorch's U[+-1/sqrt(fan_in)]; one: biotorch's 1
    feedback_init: str = "fan_in"       # FA's B: fan_in U[+-1/sqrt(fan_in)]; xavier (biotorch)
    # Fields added after runs were stored (ADDED holds the value those runs used):
    signfa_scale: str = "xavier"        # sign-FA's s: xavier sqrt(2/(fan_in+fan_out)) (Sec. 3);
                                        # fan_in: 1/sqrt(3 fan_in), biotorch's default mode
    optimizer: str = "sgd"              # sgd (App. A, with momentum); adam (a reading of
                                        # Sec. 6.1's "adaptive learning rates"; betas 0.9, 0.999)

    def __post_init__(self) -> None:
        for name, allowed in (("signfa_scale", SIGNFA_SCALES), ("optimizer", OPTIMIZERS),
                              ("loss_reduction", ("mean", "sum"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"unknown {name} {getattr(self, name)!r}; use one of {allowed}")

    def config(self, device: str, progress: bool | None) -> TrainConfig:
        drops = tuple(range(self.lr_drop_every, self.epochs, self.lr_drop_every))
        return TrainConfig(epochs=self.epochs, lr=self.lr, momentum=self.momentum,
                           weight_decay=self.weight_decay, milestones=drops, gamma=0.1,
                           measure_every=self.measure_every, loss_reduction=self.loss_reduction,
                           device=device, progress=progress)

    def run_specs(self) -> list[dict]:
        """One specification per run, in sweep order: repeat-major, so that partial sweeps
        cover every width early."""
        base = {k: v for k, v in asdict(self).items() if k not in GRID}
        base["experiment"] = "noisy_mnist"
        return [run_spec({**base, "width": w, "rule": r, "repeat": k, "init_seed": k,
                          "feedback_seed": 1000 + k, "subset_seed": k, "noise_seed": k})
                for k in range(self.repeats) for w in self.widths for r in self.rules]


SIGNFA_SCALES = ("xavier", "fan_in")
OPTIMIZERS = ("sgd", "adam")
# Protocol fields added after runs were stored, with the value every earlier run used: such a
# field enters a run's spec (and key) only when it differs (falign.store.without_added_defaults).
ADDED = {"signfa_scale": "xavier", "optimizer": "sgd"}
# A field that changes only some rules' runs is left out of the other rules' specs, so those
# runs keep the keys of the runs they are (a sign-FA reading re-uses the stored GD, FA, adaFA).
ONLY_FOR_RULES = {"signfa_scale": ("signfa",)}
# A field of the first runs that acts on some rules only: in the other rules' specs it takes
# the value the book's runs were stored with.  FA's B (feedback_init) means nothing to GD,
# adaFA and sign-FA, whose feedback derives from W (falign.layers.xavier_feedback_ skips them),
# so a reading that redraws FA's B re-uses their stored runs.  The biased runs of the
# "biotorch layers" reading were stored with "xavier" before this rule and keep it.
INERT_FOR_OTHER_RULES = {"feedback_init": (("fa",), "fan_in")}


def run_spec(spec: dict) -> dict:
    """A run's stored specification: added fields at their old value, and fields that do not
    act on the run's rule, are left out (or set to the stored value), so equal runs have equal
    keys."""
    spec = without_added_defaults(spec, ADDED)
    for field, (rules, value) in INERT_FOR_OTHER_RULES.items():
        if spec["rule"] not in rules and not spec["bias"]:
            spec = {**spec, field: value}
    return {k: v for k, v in spec.items()
            if k not in ONLY_FOR_RULES or spec["rule"] in ONLY_FOR_RULES[k]}


# The readings compared in the ablation chapter: each changes the fields named, nothing else.
READINGS = {
    "literal": dict(init="width"),
    "fan-in init": dict(init="fan_in", feedback_init="fan_in"),
    "fan-in init + biases": dict(bias=True),
    "fan-in init + biases at 1": dict(bias=True, bias_init="one"),
    "biotorch layers": dict(bias=True, bias_init="one", feedback_init="xavier"),
    "width init + biases at 1": dict(init="width", bias=True, bias_init="one"),
    "inputs in [0, 1]": dict(bias=True, bias_init="one", input_scaling="unit"),
    "uniform label noise": dict(bias=True, bias_init="one", noise_mode="uniform"),
    "raw pixels 0-255": dict(bias=True, bias_init="one", input_scaling="raw"),
    "summed loss": dict(bias=True, bias_init="one", loss_reduction="sum"),
}

STEP_DIAGNOSTICS = {"step 0.05 x3": 3, "step 0.05 x10": 10}
# The summed loss's gradient is n_train times the mean's (Sec. 6.1 data: 4000 images), so at
# App. A's rate it is a 4000-fold step, and at rate 0.05 k / 4000 it takes the mean loss's steps
# at rate 0.05 k (the readings chapter's exercise 3).  SUM_FINITE_FACTOR is the factor chosen to
# keep it finite, not to fit a number: in a pilot (summed loss, the FA family and GD, the first
# 300 epochs) k = 3 kept every run finite at widths 15 and 200 and k = 10 at width 15 (its
# width-200 half and k = 30, 100 did not finish on the shared CPU); the stored runs say whether
# it stays finite over the whole schedule (a run that does not is stored with its epoch).
SUM_FINITE_FACTOR = 10
FA_FAMILY_RULES = ("fa", "adafa", "signfa")

# Readings added later (on top of the book's fan-in reading, no biases), in two kinds.
# Allowed: the text leaves the choice open.  Each changes only the fields named.
ALLOWED_READINGS = {
    "sign-FA scale 1/sqrt(3 fan-in)": dict(signfa_scale="fan_in"),
    "FA's B Xavier, no biases": dict(feedback_init="xavier"),
    "summed loss (FA family), stated step": dict(loss_reduction="sum", rules=FA_FAMILY_RULES),
    "summed loss (FA family), finite step": dict(loss_reduction="sum", rules=FA_FAMILY_RULES,
                                                 lr=0.05 * SUM_FINITE_FACTOR / 4000),
}
# Diagnostic: they contradict a value App. A states (rate 0.05, momentum 0.05), so they can
# explain a difference but never be adopted.
DIAGNOSTIC_READINGS = {
    **{name: dict(lr=0.05 * k) for name, k in STEP_DIAGNOSTICS.items()},
    "Adam (rate 0.05, same drops)": dict(optimizer="adam"),
}
# Sweep order: the finite-step summed loss last (its step was set by a pilot run meanwhile).
FINITE_SUM = "summed loss (FA family), finite step"
READINGS.update({n: c for n, c in ALLOWED_READINGS.items() if n != FINITE_SUM})
READINGS.update(DIAGNOSTIC_READINGS)
READINGS[FINITE_SUM] = ALLOWED_READINGS[FINITE_SUM]
READING_KIND = {name: ("diagnostic" if name in DIAGNOSTIC_READINGS else "allowed")
                for name in READINGS}

# The reading the book's protocol uses, as the readings chapter's two-stage rule decides it
# (noisy_mnist_confirm.book_reading; a test holds this constant to that decision): FA's B at
# Xavier scale, ahead of fan-in init on the 2000-epoch ablation and confirmed at App. A's full
# schedule on the paper's grid.  Every other field is fan-in init's.
CHOSEN_READING = "FA's B Xavier, no biases"
PAPER = replace(NoisyMNISTProtocol(), **READINGS[CHOSEN_READING])

PROFILES = {
    "paper": PAPER,
    # The paper's schedule on a smaller grid: 3 widths, 2 repeats (24 of the 240 runs).
    "quick": replace(PAPER, widths=(15, 60, 200), repeats=2),
    "smoke": replace(PAPER, widths=(15, 30), repeats=1, n_train=200, n_test=200, epochs=20,
                     lr_drop_every=10, measure_every=5),
}


def build_model(spec: dict) -> torch.nn.Module:
    """The converted two-layer network of one run specification."""
    for field, allowed in (("init", ("fan_in", "width")), ("bias_init", ("fan_in", "one")),
                           ("feedback_init", ("fan_in", "xavier"))):
        if spec[field] not in allowed:
            raise ValueError(f"unknown {field} {spec[field]!r}; use one of {allowed}")
    bound = None if spec["init"] == "fan_in" else 1.0 / spec["width"] ** 0.5
    model = two_layer_mlp(784, spec["width"], 10, bias=spec["bias"], seed=spec["init_seed"],
                          init_bound=bound)
    if spec["bias"] and spec["bias_init"] == "one":
        with torch.no_grad():                       # biotorch's layers start every bias at 1
            for layer in (model[0], model[2]):
                layer.bias.fill_(1.0)
    model = convert(model, spec["rule"], seed=spec["feedback_seed"])
    if spec["feedback_init"] == "xavier":
        xavier_feedback_(model, spec["feedback_seed"])
    return model


def signfa_scale_of(spec: dict, fan_in: int, fan_out: int) -> float:
    """Sign-FA's s for a layer (B = s sign(W), Sec. 3): the Xavier std sqrt(2/(fan_in +
    fan_out)), or 1/sqrt(3 fan_in), biotorch's default (non-Xavier) mode."""
    scale = spec.get("signfa_scale", ADDED["signfa_scale"])
    if scale == "xavier":
        return math.sqrt(2.0 / (fan_in + fan_out))
    if scale == "fan_in":
        return 1.0 / math.sqrt(3.0 * fan_in)
    raise ValueError(f"unknown signfa_scale {scale!r}; use one of {SIGNFA_SCALES}")


def initial_potentials(spec: dict) -> torch.Tensor:
    """P_j(0) of every hidden neuron (Thm 5.2, weights only, App. B.1's denominator) of the
    run's initial network, in float64 so its digits do not depend on the CPU's kernels."""
    model = build_model(spec)
    w1, w2 = (model[i].weight.detach().double() for i in (0, 2))
    rule = spec["rule"]
    if rule == "bp":
        fb2 = w2
    elif rule == "signfa":
        fb2 = sign_feedback(w2, w2.new_tensor(signfa_scale_of(spec, w2.shape[1], w2.shape[0])))
    else:                                   # fa: drawn B; adafa: B(0) = W(0)
        fb2 = model[2].feedback_store.double()
    return neuron_potential_from(w1, None, w2, fb2)


def small_potential_shares(protocol: NoisyMNISTProtocol, threshold: float = 0.02
                           ) -> pd.DataFrame:
    """Per (width, rule), the share of hidden neurons with |P_j(0)| < threshold (Thm 5.2's
    denominator, weights only, float64), averaged over the protocol's runs: how often r_j's
    denominator starts near zero.  Rebuilt from the runs' seeds, no training."""
    rows = [{"width": s["width"], "rule": s["rule"],
             "share": float((initial_potentials(s).abs() < threshold).double().mean())}
            for s in protocol.run_specs()]
    return pd.DataFrame(rows).groupby(["width", "rule"]).share.mean()


def initial_conditioning(protocol: NoisyMNISTProtocol) -> pd.DataFrame:
    """Per run, the smallest |P_j(0)| over hidden neurons (weights only), the denominator of
    Table 3's r_j (Thm 5.2), and their sum P(0), Figure 2's layer denominator; rebuilt from the
    run's seeds, no training, no data needed."""
    rows = []
    for spec in protocol.run_specs():
        potential = initial_potentials(spec)
        rows.append({"run_key": spec_key(spec), "width": spec["width"], "rule": spec["rule"],
                     "repeat": spec["repeat"], "min_abs_p0": potential.abs().min().item(),
                     "p0_sum": potential.sum().item()})
    return pd.DataFrame(rows)


def run_data(spec: dict, data_root=None):
    """The noisy-MNIST data of one run specification (shared by the runs of a group)."""
    return noisy_mnist(data_root, n_train=spec["n_train"], noise=spec["noise"],
                       subset_seed=spec["subset_seed"], noise_seed=spec["noise_seed"],
                       input_scaling=spec["input_scaling"], noise_mode=spec["noise_mode"],
                       n_test=spec["n_test"])


def protocol_rows(table: pd.DataFrame, protocol: NoisyMNISTProtocol) -> pd.DataFrame:
    """The rows of a store's table (ResultStore.table()) that belong to `protocol`'s runs."""
    if not len(table):
        return table
    keys = {spec_key(s) for s in protocol.run_specs()}
    return table[table.run_key.isin(keys)].reset_index(drop=True)


def protocol_of(spec: dict) -> NoisyMNISTProtocol:
    """The one-run protocol a run specification was made from (an added field left out of the
    spec holds the value the runs before it used)."""
    fields = set(NoisyMNISTProtocol.__dataclass_fields__) - set(GRID)
    return NoisyMNISTProtocol(**{k: spec.get(k, ADDED.get(k)) for k in fields},
                              widths=(spec["width"],), rules=(spec["rule"],), repeats=1)


def store_name(profile: str) -> str:
    """quick's runs are paper runs (same schedule, smaller grid) and share the paper's store;
    smoke's shortened runs have their own."""
    return f"{NAME}_{'paper' if profile == 'quick' else profile}"


def run_specs(protocol: NoisyMNISTProtocol) -> list[dict]:
    return protocol.run_specs()


def group_key(spec: dict) -> tuple:
    """The runs of one (repeat, width) share data and train stacked; a stack shares one
    schedule, loss and optimiser, so runs of different readings train apart."""
    schedule = {k: v for k, v in spec.items() if k not in ("rule", "feedback_seed",
                                                             "signfa_scale", "feedback_init")}
    return (spec["repeat"], spec["width"], spec_key(schedule))


class ReadingStack(StackedMLPs):
    """falign.stacked's K two-layer networks with the readings' two extra choices: sign-FA's
    scale per model, and Adam in place of SGD.  With signfa_scale xavier and SGD it computes
    exactly what StackedMLPs does (tested bit for bit)."""

    def __init__(self, models, device, scales: list[str], optimizer: str) -> None:
        super().__init__(models, device)
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; use one of {OPTIMIZERS}")
        if optimizer == "adam" and "brsf" in self.rules:
            raise ValueError("brSF redraws its feedback per SGD step; train it with optimizer sgd")
        self.scales, self.optimizer = scales, optimizer
        self.moments = {k: None for k in self.params}           # Adam's second moments

    def feedback(self, layer: int) -> torch.Tensor:
        """B_layer(t) of every model; sign-FA's s per model's signfa_scale (Sec. 3)."""
        if all(s == "xavier" for s in self.scales):
            return super().feedback(layer)
        w = self.params[f"w{layer}"]
        fan_out, fan_in = w.shape[1:]
        s = w.new_tensor([signfa_scale_of({"signfa_scale": c}, fan_in, fan_out)
                          for c in self.scales]).view(-1, 1, 1)
        store = self.store[layer - 1]
        return torch.where(self.is_bp, w, torch.where(
            self.is_sign, sign_feedback(w, s), torch.where(self.is_magnitude,
                                                            sign_feedback(w, store), store)))

    def sgd_step(self, grads, lr: float, momentum: float, weight_decay: float) -> None:
        """The optimiser's step: SGD with momentum (App. A), or torch.optim.Adam's update
        (betas 0.9, 0.999, eps 1e-8, bias-corrected; momentum unused) on the rule's direction."""
        if self.optimizer == "sgd":
            return super().sgd_step(grads, lr, momentum, weight_decay)
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        t = self.steps + 1
        for key, p in self.params.items():
            g = grads[key] + weight_decay * p if weight_decay else grads[key]
            if self.momentum[key] is None:
                self.momentum[key], self.moments[key] = torch.zeros_like(p), torch.zeros_like(p)
            m = self.momentum[key].mul_(beta1).add_(g, alpha=1 - beta1)
            v = self.moments[key].mul_(beta2).addcmul_(g, g, value=1 - beta2)
            denom = (v / (1 - beta2 ** t)).sqrt_().add_(eps)
            p.addcdiv_(m, denom, value=-lr / (1 - beta1 ** t))
        self.steps += 1


# Table 3's statistic under readings that need every neuron (App. B.1 does not say how it
# aggregates): the median over neurons of |r_j - 1|, and the mean over the neurons whose
# |P_j(0)| is at least P0_FLOOR (6% of |E P_j(0)| = 1/6 of FA at the fan-in init), weights only.
P0_FLOOR = 0.01


def neuron_statistics(stack: StackedMLPs, p0: torch.Tensor) -> list[dict]:
    """Per model, the per-neuron readings of Table 3's statistic at the current step: the
    median over neurons of |r_j - 1|, the mean over neurons with |P_j(0)| >= P0_FLOOR (NaN
    where none), and how many neurons pass the floor (weights only, App. B.1's r_j)."""
    dev = (stack.neuron_potentials(include_bias=False) / p0 - 1).abs()        # (K, m)
    kept = p0.abs() >= P0_FLOOR
    floor_mean = (dev * kept).sum(-1) / kept.sum(-1)
    return [{"neuron_deviation_weights_median_1": float(med),
             "neuron_deviation_weights_floor_1": float(fm), "neurons_above_floor_1": int(n)}
            for med, fm, n in zip(dev.median(-1).values.tolist(), floor_mean.tolist(),
                                  kept.sum(-1).tolist())]


def train_reading_stack(specs: list[dict], models, train_data, test_data, config: TrainConfig,
                        *, name: str = "stack") -> tuple[list[pd.DataFrame], list[int | None]]:
    """falign.stacked.train_stacked's full-batch loop for the runs of one group, where a model
    whose loss turns non-finite stops alone: its measurements end before that epoch and its
    divergence epoch is returned (None: trained to the end); the other models go on, their
    numbers untouched (each model's computation is its own slice of the stack)."""
    device = torch.device(config.device)
    x, y = (t.to(device) for t in train_data)
    xt, yt = (t.to(device) for t in test_data) if test_data is not None else (None, None)
    optimizers = {s.get("optimizer", ADDED["optimizer"]) for s in specs}
    if len(optimizers) != 1:
        raise ValueError(f"{name}: runs with different optimizers {sorted(optimizers)} cannot "
                         "train as one stack; group them by optimizer")
    stack = ReadingStack(models, device, [s.get("signfa_scale", ADDED["signfa_scale"])
                                          for s in specs], optimizers.pop())
    tables: list[list[dict]] = [[] for _ in models]
    diverged: list[int | None] = [None] * len(models)
    with torch.no_grad(), deterministic_mode(config.deterministic):
        reference = {"full": stack.neuron_potentials(),
                     "weights": stack.neuron_potentials(include_bias=False)}

        def record(epoch: int, lr: float) -> None:
            extra = neuron_statistics(stack, reference["weights"])
            for k, row in enumerate(stack.measurements(x, y, xt, yt, reference)):
                if diverged[k] is None:
                    tables[k].append({"epoch": epoch, "lr": lr, **row, **extra[k]})

        record(0, config.lr_at(0))
        for epoch in range(config.epochs):
            lr = config.lr_at(epoch)
            grads, losses = stack.gradients(x, y, config.loss_reduction)
            for k, finite in enumerate(torch.isfinite(losses).tolist()):
                if not finite and diverged[k] is None:
                    diverged[k] = epoch           # the state after `epoch` steps is not finite
                    tables[k] = [row for row in tables[k] if row["epoch"] < epoch]
            if all(d is not None for d in diverged):
                break
            stack.sgd_step(grads, lr, config.momentum, config.weight_decay)
            if (epoch + 1) % config.measure_every == 0 or epoch + 1 == config.epochs:
                record(epoch + 1, lr)
        stack.write_back()
    return [pd.DataFrame(t) for t in tables], diverged


def train_group(specs: list[dict], ctx: RunContext) -> list[RunResult]:
    """Train the runs of one (repeat, width) stacked; a group takes about a minute on a CPU,
    so it has no checkpoint (a cut-short group is retrained).  A run whose loss turns
    non-finite is stored up to its last finite measurement, with its divergence epoch in the
    record ('diverged_epoch'), so the sweep and the other runs of the group go on."""
    first = specs[0]
    cfg = protocol_of(first).config(ctx.device, progress=False)
    data = run_data(first, ctx.data_root)
    tables, diverged = train_reading_stack(
        specs, [build_model(s) for s in specs], data.train, data.test, cfg,
        name=f"width {first['width']} repeat {first['repeat']}")
    return [RunResult(table, {"stacked_with": len(specs)} if d is None else
                      {"stacked_with": len(specs), "diverged_epoch": d,
                       "diverged_lr": cfg.lr_at(d)})
            for table, d in zip(tables, diverged)]


def with_reading(protocol: NoisyMNISTProtocol, **reading) -> NoisyMNISTProtocol:
    """The protocol under another reading, e.g. with_reading(p, input_scaling="unit")."""
    return replace(protocol, **reading)


# The ablation's scale: the paper's schedule cut after the second learning-rate drop (by then
# the learning rate is 5e-4 and 99% of the sum of squared step sizes, which is what the
# discrete-time drift of Theorem 5.2's potential grows with, has been taken).
ABLATION = NoisyMNISTProtocol(widths=(15, 60, 200), repeats=1, epochs=2000)


READING_PROFILES = {
    "paper": ABLATION,
    "quick": ABLATION,
    "smoke": with_reading(PROFILES["smoke"], widths=(15,)),
}


def run_readings(store: ResultStore, base: NoisyMNISTProtocol = ABLATION,
                 readings: dict[str, dict] = READINGS, **sweep_args) -> dict[str, str]:
    """Run `base` under every reading into one store.  A run whose loss turns non-finite is
    stored up to its divergence (train_group); the readings stopped whole by a divergence
    before that rule are kept in <store>/diverged.json.  Returns {reading: message} of the
    runs that diverged in this call."""
    diverged = {}
    for name, change in readings.items():
        run_sweep(sys.modules[__name__], with_reading(base, **change), store, **sweep_args)
    for record in store.records():
        epoch = record["provenance"].get("diverged_epoch")
        if epoch is not None:
            diverged.setdefault(spec_key(record["spec"]), f"diverged at epoch {epoch}")
    return diverged


def reading_table(store: ResultStore, base: NoisyMNISTProtocol = ABLATION,
                  readings: dict[str, dict] = READINGS) -> pd.DataFrame:
    """Stored measurements of every reading of `base`, with a 'reading' column."""
    t = store.table()
    if not len(t):
        return t
    return pd.concat([protocol_rows(t, with_reading(base, **change)).assign(reading=name)
                      for name, change in readings.items()], ignore_index=True)


def replay(spec: dict, epochs: int, device: str = "cpu", data_root=None) -> pd.DataFrame:
    """Re-train one stored run from its specification for its first `epochs` epochs (same
    data, seeds and schedule) and return its measurements, for comparison with the store."""
    cfg = replace(protocol_of(spec).config(device, progress=False), epochs=epochs)
    data = run_data(spec, data_root)
    return train_reading_stack([spec], [build_model(spec)], data.train, data.test, cfg)[0][0]


# ------------------------------------------------------------------- the readings chapter
@dataclass
class ReadingsResults:
    table: pd.DataFrame          # measurements of every stored reading, 'reading' column
    diverged: dict               # {reading: {"protocol": ..., "message": ...}} (older note)
    expected: int
    stored: int
    chosen: str                  # the reading the paper profile uses
    planned: pd.DataFrame | None = None     # runs planned per (reading, width, rule)
    diverged_runs: dict | None = None       # {run key: epoch its loss turned non-finite}

    def status(self) -> str:
        done = (f"{self.stored} of {self.expected} runs of the readings ablation are stored "
                f"({self.planned.planned.max() if self.planned is not None else 1} repeats "
                "planned per reading, width and rule)")
        if self.diverged_runs:
            done += f"; {len(self.diverged_runs)} stored run(s) diverged"
        return done + f". The book's protocol uses the reading **{self.chosen}**."

    def diverged_text(self) -> str:
        """Markdown list of the divergences: runs stored up to their divergence, and the
        readings an earlier sweep stopped whole at its first divergence."""
        lines = []
        if self.diverged_runs:
            final = self.table.drop_duplicates("run_key").set_index("run_key")
            for key, epoch in sorted(self.diverged_runs.items()):
                if key in final.index:
                    row = final.loc[key]
                    lines.append(f"- **{row.reading}**, {row.rule} at width {row.width}, repeat "
                                 f"{row.repeat}: loss non-finite at epoch {epoch}")
        for name, v in self.diverged.items():
            if not (len(self.table) and (self.table.reading == name).any()):
                lines.append(f"- **{name}** (earlier sweep, stopped whole): {v['message']}")
        return "\n".join(lines) if lines else "No run diverged."

    @staticmethod
    def definitions() -> pd.DataFrame:
        """What each reading changes, relative to the unread protocol's fields, and its kind."""
        return pd.DataFrame({
            "fields changed": {name: ", ".join(f"{k}={v}" for k, v in c.items())
                               for name, c in READINGS.items()},
            "kind": {name: ("added, " if name in ALLOWED_READINGS or name in
                            DIAGNOSTIC_READINGS else "") + READING_KIND[name]
                     for name in READINGS}})


def readings_results(profile: str = "paper", results: str | Path = "results",
                     device: str = "auto", data_root=None, train_missing: bool = False,
                     progress: bool | None = None) -> ReadingsResults:
    """The readings ablation of READINGS at `profile` scale: the noisy_mnist_readings family's
    runs (every reading at the ablation's scale), with repeats stored of planned."""
    from . import noisy_mnist_readings as family      # it builds on this module

    if profile not in family.PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose from {sorted(family.PROFILES)}")
    sweep = family.PROFILES[profile]
    store = ResultStore(results, family.store_name(profile))
    if train_missing:
        from ..runs import resolve_device
        run_sweep(family, sweep, store, device=resolve_device(device), data_root=data_root,
                  progress=progress)
    table = family.reading_rows(store.table(), sweep.base, sweep.repeats)
    planned = family.planned_runs(sweep.base, sweep.repeats)
    diverged = {name: v for name, v in store.note("diverged").items() if name in READINGS}
    stored = table.run_key.nunique() if len(table) else 0
    if stored == 0:
        raise FileNotFoundError(
            f"no stored runs of the readings ablation under {store.folder}; run this chapter "
            "with train_missing=True or `python -m falign.runs train "
            f"noisy_mnist_readings:{profile}`")
    expected = len(family.run_specs(sweep))
    return ReadingsResults(table, diverged, expected, stored, CHOSEN_READING, planned,
                           family.diverged_runs(store))
