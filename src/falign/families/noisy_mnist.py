"""Robertson & Koyejo Section 6.1 / Appendix A: two-layer networks on noisy MNIST, a width
sweep (Figures 2-4, Table 3) and the readings ablation of its protocol.  One run = one (width,
rule, repeat); the runs of one width and repeat share their data and initialisation and train
as one stacked computation (falign.stacked)."""
from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import pandas as pd
import torch

from ..data import noisy_mnist
from ..layers import convert, xavier_feedback_
from ..measurements import neuron_potentials
from ..models import two_layer_mlp
from ..stacked import train_stacked
from ..store import ResultStore, spec_key
from ..sweep import RunContext, RunResult, run_sweep
from ..training import TrainConfig, TrainingDiverged

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
        return [{**base, "width": w, "rule": r, "repeat": k, "init_seed": k,
                 "feedback_seed": 1000 + k, "subset_seed": k, "noise_seed": k}
                for k in range(self.repeats) for w in self.widths for r in self.rules]


# The readings compared in the ablation chapter: each changes the fields named, nothing else.
READINGS = {
    "literal": dict(init="width"),
    "fan-in init": dict(init="fan_in"),
    "fan-in init + biases": dict(bias=True),
    "fan-in init + biases at 1": dict(bias=True, bias_init="one"),
    "biotorch layers": dict(bias=True, bias_init="one", feedback_init="xavier"),
    "width init + biases at 1": dict(init="width", bias=True, bias_init="one"),
    "inputs in [0, 1]": dict(bias=True, bias_init="one", input_scaling="unit"),
    "uniform label noise": dict(bias=True, bias_init="one", noise_mode="uniform"),
    "raw pixels 0-255": dict(bias=True, bias_init="one", input_scaling="raw"),
    "summed loss": dict(bias=True, bias_init="one", loss_reduction="sum"),
}

# The reading the book's protocol uses (argued in the ablation chapter).
CHOSEN_READING = "fan-in init"
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


def initial_conditioning(protocol: NoisyMNISTProtocol) -> pd.DataFrame:
    """Per run, the smallest |P_j(0)| over hidden neurons (weights only), the denominator of
    Table 3's r_j (Thm 5.2), and their sum P(0), Figure 2's layer denominator; rebuilt from the
    run's seeds, no training, no data needed."""
    rows = []
    for spec in protocol.run_specs():
        potential = neuron_potentials(build_model(spec), include_bias=False)[0]
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
    """The one-run protocol a run specification was made from."""
    fields = set(NoisyMNISTProtocol.__dataclass_fields__) - set(GRID)
    return NoisyMNISTProtocol(**{k: spec[k] for k in fields}, widths=(spec["width"],),
                              rules=(spec["rule"],), repeats=1)


def store_name(profile: str) -> str:
    """quick's runs are paper runs (same schedule, smaller grid) and share the paper's store;
    smoke's shortened runs have their own."""
    return f"{NAME}_{'paper' if profile == 'quick' else profile}"


def run_specs(protocol: NoisyMNISTProtocol) -> list[dict]:
    return protocol.run_specs()


def group_key(spec: dict) -> tuple:
    """The runs of one (repeat, width) share data and train stacked."""
    return (spec["repeat"], spec["width"])


def train_group(specs: list[dict], ctx: RunContext) -> list[RunResult]:
    """Train the runs of one (repeat, width) stacked; a group takes about a minute on a CPU,
    so it has no checkpoint (a cut-short group is retrained)."""
    first = specs[0]
    cfg = protocol_of(first).config(ctx.device, progress=False)
    data = run_data(first, ctx.data_root)
    tables = train_stacked([build_model(s) for s in specs], data.train, data.test, cfg,
                           name=f"width {first['width']} repeat {first['repeat']}")
    return [RunResult(table, {"stacked_with": len(specs)}) for table in tables]


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
    """Run `base` under every reading into one store.  A reading whose training diverges is
    recorded in <store>/diverged.json, not fatal; returns {reading: divergence message}."""
    diverged = {}
    for name, change in readings.items():
        try:
            run_sweep(sys.modules[__name__], with_reading(base, **change), store, **sweep_args)
        except TrainingDiverged as err:
            diverged[name] = str(err)
    store.save_note("diverged", {name: {"protocol": asdict(with_reading(base, **readings[name])),
                                        "message": msg} for name, msg in diverged.items()})
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
    return train_stacked([build_model(spec)], data.train, data.test, cfg)[0]


# ------------------------------------------------------------------- the readings chapter
@dataclass
class ReadingsResults:
    table: pd.DataFrame          # measurements of every stored reading, 'reading' column
    diverged: dict               # {reading: {"protocol": ..., "message": ...}}
    expected: int
    stored: int
    chosen: str                  # the reading the paper profile uses

    def status(self) -> str:
        done = f"{self.stored} of {self.expected} runs of the readings ablation are stored"
        if self.diverged:
            done += f"; {len(self.diverged)} reading(s) diverged and have no runs"
        return done + f". The book's protocol uses the reading **{self.chosen}**."

    def diverged_text(self) -> str:
        """Markdown list of the readings whose training diverged, with the error message."""
        if not self.diverged:
            return "No reading diverged."
        return "\n".join(f"- **{name}**: {v['message']}" for name, v in self.diverged.items())

    @staticmethod
    def definitions() -> pd.DataFrame:
        """What each reading changes, relative to the unread protocol's fields."""
        return pd.DataFrame({"fields changed": {name: ", ".join(f"{k}={v}" for k, v in c.items())
                                                for name, c in READINGS.items()}})


def readings_results(profile: str = "paper", results: str | Path = "results",
                     device: str = "auto", data_root=None, train_missing: bool = False,
                     progress: bool | None = None) -> ReadingsResults:
    """The readings ablation of READINGS at `profile` scale."""
    if profile not in READING_PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose from {sorted(READING_PROFILES)}")
    base = READING_PROFILES[profile]
    store = ResultStore(results, "noisy_mnist_readings")
    if train_missing:
        from ..runs import resolve_device
        run_readings(store, base, device=resolve_device(device), data_root=data_root,
                     progress=progress)
    table = reading_table(store, base)
    # Only divergences recorded for this profile's protocols count.
    diverged = {name: v for name, v in store.note("diverged").items() if name in READINGS
                and v["protocol"] == json.loads(json.dumps(
                    asdict(with_reading(base, **READINGS[name])), default=str))}
    expected = sum(len(with_reading(base, **c).run_specs()) for n, c in READINGS.items()
                   if n not in diverged)
    stored = table.run_key.nunique() if len(table) else 0
    if stored == 0:
        raise FileNotFoundError(
            f"no stored runs of the readings ablation under {store.folder}; run this chapter "
            "with train_missing=True or `python scripts/run_readings.py`")
    return ReadingsResults(table, diverged, expected, stored, CHOSEN_READING)

