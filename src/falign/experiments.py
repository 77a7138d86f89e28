"""The noisy-MNIST width sweep of Robertson & Koyejo Section 6.1 / Appendix A, as a resumable
sweep over a result store.  One run = one (width, rule, repeat); the runs of one width and
repeat share their data and initialisation and train as one stacked computation."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from itertools import groupby

import pandas as pd
import torch
from tqdm.std import tqdm

from .data import noisy_mnist
from .layers import convert, xavier_feedback_
from .measurements import neuron_potentials
from .models import two_layer_mlp
from .stacked import train_stacked
from .store import ResultStore, code_version, provenance, spec_key
from .training import TrainConfig, TrainingDiverged, show_progress

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
        base = {k: v for k, v in asdict(self).items() if k not in ("widths", "rules", "repeats")}
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
    "quick": replace(PAPER, widths=(15, 30, 60, 100, 200), repeats=2, epochs=1200,
                     lr_drop_every=200),
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


def run_sweep(protocol: NoisyMNISTProtocol, store: ResultStore, *, device: str = "cpu",
              data_root=None, progress: bool | None = None) -> int:
    """Train every run of `protocol` missing from `store`; returns how many were trained.

    Runs are grouped by (width, repeat) and trained stacked; each finished run is saved at
    once, so an interrupted sweep loses at most one group.
    """
    code_version()                  # read the code version now, before any source can change
    todo = [s for s in protocol.run_specs() if not store.has(s)]
    key = lambda s: (s["repeat"], s["width"])
    groups = [list(g) for _, g in groupby(todo, key=key)]
    cfg = protocol.config(device, progress=False)
    bar = tqdm(groups, desc="noisy-MNIST sweep", disable=not show_progress(progress))
    for group in bar:
        first = group[0]
        bar.set_postfix(width=first["width"], repeat=first["repeat"])
        data = run_data(first, data_root)
        models = [build_model(s) for s in group]
        start = time.perf_counter()
        tables = train_stacked(models, data.train, data.test, cfg,
                               name=f"width {first['width']} repeat {first['repeat']}")
        wall = (time.perf_counter() - start) / len(group)
        for spec, table in zip(group, tables):
            store.save(spec, table, {**provenance(device, wall), "stacked_with": len(group)})
    return len(todo)


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
            run_sweep(with_reading(base, **change), store, **sweep_args)
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
    fields = set(NoisyMNISTProtocol.__dataclass_fields__) - {"widths", "rules", "repeats"}
    protocol = NoisyMNISTProtocol(**{k: spec[k] for k in fields}, widths=(spec["width"],),
                                  rules=(spec["rule"],), repeats=1)
    cfg = replace(protocol.config(device, progress=False), epochs=epochs)
    data = run_data(spec, data_root)
    return train_stacked([build_model(spec)], data.train, data.test, cfg)[0]
