"""The noisy-MNIST width sweep of Robertson & Koyejo Section 6.1 / Appendix A, as a resumable
sweep over a result store.  One run = one (width, rule, repeat); the runs of one width and
repeat share their data and initialisation and train as one stacked computation."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from itertools import groupby

import torch
from tqdm.auto import tqdm

from .data import noisy_mnist
from .layers import convert
from .models import two_layer_mlp
from .stacked import train_stacked
from .store import ResultStore, provenance
from .training import TrainConfig, show_progress

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


PROFILES = {
    "paper": NoisyMNISTProtocol(),
    "quick": NoisyMNISTProtocol(widths=(15, 30, 60, 100, 200), repeats=2, epochs=1200,
                                lr_drop_every=200),
    "smoke": NoisyMNISTProtocol(widths=(15, 30), repeats=1, n_train=200, n_test=200,
                                epochs=20, lr_drop_every=10, measure_every=5),
}


def build_model(spec: dict) -> torch.nn.Module:
    """The converted two-layer network of one run specification."""
    if spec["init"] not in ("fan_in", "width"):
        raise ValueError(f"unknown init {spec['init']!r}; use fan_in or width")
    bound = None if spec["init"] == "fan_in" else 1.0 / spec["width"] ** 0.5
    model = two_layer_mlp(784, spec["width"], 10, bias=spec["bias"], seed=spec["init_seed"],
                          init_bound=bound)
    return convert(model, spec["rule"], seed=spec["feedback_seed"])


def run_sweep(protocol: NoisyMNISTProtocol, store: ResultStore, *, device: str = "cpu",
              data_root=None, progress: bool | None = None) -> int:
    """Train every run of `protocol` missing from `store`; returns how many were trained.

    Runs are grouped by (width, repeat) and trained stacked; each finished run is saved at
    once, so an interrupted sweep loses at most one group.
    """
    todo = [s for s in protocol.run_specs() if not store.has(s)]
    key = lambda s: (s["repeat"], s["width"])
    groups = [list(g) for _, g in groupby(todo, key=key)]
    cfg = protocol.config(device, progress=False)
    bar = tqdm(groups, desc="noisy-MNIST sweep", disable=not show_progress(progress))
    for group in bar:
        first = group[0]
        bar.set_postfix(width=first["width"], repeat=first["repeat"])
        data = noisy_mnist(data_root, n_train=protocol.n_train, noise=protocol.noise,
                           subset_seed=first["subset_seed"], noise_seed=first["noise_seed"],
                           input_scaling=protocol.input_scaling, noise_mode=protocol.noise_mode,
                           n_test=protocol.n_test)
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
