"""Training loops: one model (any converted network) or many two-layer MLPs stacked into one
computation.  Both record the same tidy table: one row per measured epoch (epoch 0 is the
initialisation), one column per quantity."""
from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.std import tqdm

from .layers import after_optimizer_step
from .measurements import (alignment_cosine_from, deviation_from_one, feedback_of,
                           neuron_potentials, weight_layers)


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite.  `epoch` is the epoch it happened in (1-based) and `rows`
    the measurements of the epochs completed before it (empty where the caller did not
    measure), so that a caller can store the divergence as a result."""

    def __init__(self, message: str, epoch: int | None = None, rows: list | None = None):
        super().__init__(message)
        self.epoch = epoch
        self.rows = list(rows or [])


class TrainingStalled(RuntimeError):
    """A plateau-rule run that never started learning: its first stage ended (the rule saw no
    progress for `patience` epochs) without the monitored value ever falling below the rule's
    start threshold (PlateauRule), so the progress the rule presumes never came.  `epoch` is
    the last epoch measured and
    `rows` every measurement so far, so that a caller can retry or store the outcome."""

    def __init__(self, message: str, epoch: int, rows: list):
        super().__init__(message)
        self.epoch = epoch
        self.rows = list(rows)


@dataclass(frozen=True)
class PlateauRule:
    """A learning-rate schedule given as a rule ("drop the rate once progress has slowed"):
    a stage lasts until the monitored training quantity has not fallen below (1 - margin) times
    its best value so far for `patience` epochs in a row; the rate is then multiplied by the
    config's gamma.  Training ends when the last of `stages` stages ends, or at the config's
    `epochs`, which is then a cap.  monitor: train_error (1 - accuracy) or train_loss.
    The rule presupposes progress: a run whose first stage ends without its value ever
    falling below start_fraction times a reference (`start_below`, or where None its value at
    initialisation) raises TrainingStalled instead of passing through its stages at a
    standstill.  Judged at the end of the first stage, so that a run that sits on a plateau
    for a while and then leaves it (an autoencoder at the mean image) is not cut short.
    start_fraction < 1 asks for more than any fall (a run whose units saturate in its first
    epoch can freeze a little below its start); start_below suits a task whose
    initial value is far above what a network that learns nothing reaches (an autoencoder's
    loss at initialisation against that of the mean image)."""
    margin: float
    patience: int
    stages: int = 3
    monitor: str = "train_error"
    start_below: float | None = None
    start_fraction: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 < self.start_fraction <= 1.0:
            raise ValueError(f"invalid PlateauRule {self}: start_fraction must be in (0, 1] (a "
                             "fraction of the start reference)")
        if not (0.0 <= self.margin < 1.0) or self.patience < 1 or self.stages < 1:
            raise ValueError(f"invalid PlateauRule {self}: margin must be in [0, 1) (a "
                             "fraction of the best value), patience and stages at least 1")
        if self.monitor not in ("train_error", "train_loss"):
            raise ValueError(f"PlateauRule monitor must be 'train_error' or 'train_loss', "
                             f"not {self.monitor!r}")


@dataclass
class PlateauState:
    """Where a PlateauRule stands: the stage (0-based), the best monitored value so far and the
    epochs since it was last beaten by the margin.  Saved in checkpoints."""
    stage: int = 0
    best: float = math.inf
    since_best: int = 0

    def update(self, value: float, rule: PlateauRule) -> bool:
        """Take one epoch's value; True when that ends the current stage (stage advances)."""
        if value < self.best * (1.0 - rule.margin):
            self.best, self.since_best = value, 0
            return False
        self.since_best += 1
        if self.since_best < rule.patience:
            return False
        self.stage, self.since_best = self.stage + 1, 0
        return True


OPTIMIZERS = ("sgd", "adam")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings.  lr is multiplied by `gamma` at each epoch in `milestones`, or,
    with `plateau`, at the end of each of the rule's stages (`epochs` is then a cap)."""
    epochs: int
    lr: float
    momentum: float = 0.0
    weight_decay: float = 0.0
    optimizer: str = "sgd"                 # sgd (with `momentum`) or adam (torch's defaults:
                                           # betas 0.9, 0.999, eps 1e-8; Kingma & Ba 2014)
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    batch_size: int | None = None          # None: full batch
    drop_last: bool = False                # skip each epoch's last partial batch (biotorch's loader)
    train_metrics: str = "full"            # full: evaluate the train set at each measurement;
                                           # running: mean over the epoch's mini-batches (free)
    measure_every: int = 1
    loss_reduction: str = "mean"           # "mean" or "sum" cross-entropy over the batch
    data_seed: int = 0                     # mini-batch order
    deterministic: bool = False
    device: str = "cpu"
    progress: bool | None = None           # None: on unless FALIGN_PROGRESS=0
    plateau: PlateauRule | None = None     # the rate drops by a rule, not at milestones

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.lr <= 0 or self.measure_every < 1:
            raise ValueError(f"invalid TrainConfig: {self}")
        if self.plateau is not None and (self.milestones or self.measure_every != 1):
            raise ValueError("a plateau schedule decides after every epoch and replaces the "
                             "milestones: use milestones=() and measure_every=1 with it")
        if self.loss_reduction not in ("mean", "sum"):
            raise ValueError(f"loss_reduction must be 'mean' or 'sum', not {self.loss_reduction!r}")
        if self.train_metrics not in ("full", "running"):
            raise ValueError(f"train_metrics must be 'full' or 'running', not {self.train_metrics!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; use one of {OPTIMIZERS}")
        if self.optimizer == "adam" and self.momentum:
            raise ValueError("Adam keeps its own moment estimates: set momentum=0 with "
                             "optimizer 'adam' (or use optimizer 'sgd')")

    def lr_at(self, epoch: int) -> float:
        """Learning rate used during epoch `epoch` (0-based), a step schedule."""
        return self.lr * self.gamma ** sum(epoch >= m for m in self.milestones)

    def as_dict(self) -> dict:
        return asdict(self)


def show_progress(flag: bool | None) -> bool:
    return os.environ.get("FALIGN_PROGRESS", "1") != "0" if flag is None else flag


@contextlib.contextmanager
def deterministic_mode(enabled: bool) -> Iterator[None]:
    """torch.use_deterministic_algorithms for the duration of a run (CUDA needs the cuBLAS
    workspace setting, which is set here too)."""
    if not enabled:
        yield
        return
    before = torch.are_deterministic_algorithms_enabled()
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


def diverged_measurements(err: TrainingDiverged) -> pd.DataFrame:
    """The stored form of a run whose loss overflowed: the epochs measured before it, each
    row marked with diverged_epoch (the 1-based epoch it overflowed in).  Re-raises `err`
    where nothing was measured, since there is then nothing to store."""
    if not err.rows or err.epoch is None:
        raise err
    return pd.DataFrame(err.rows).assign(diverged_epoch=int(err.epoch))


def _check_finite(loss: torch.Tensor, epoch: int, what: str, lr: float,
                  rows: list | None = None) -> None:
    """Raise TrainingDiverged if `loss` is not finite, carrying the epoch and the rows
    measured so far."""
    if not torch.isfinite(loss).all():
        raise TrainingDiverged(
            f"{what} diverged at epoch {epoch}: the training loss became "
            f"{loss.flatten().tolist()[:4]} (learning rate {lr:g}); lower the learning rate "
            "or check the input scaling", epoch=epoch, rows=rows)


# A loss maps (network output, targets, reduction "mean" | "sum" over the batch) to a scalar
# tensor; the default is cross-entropy on integer labels.  Regression targets (float, e.g. an
# autoencoder's inputs) have no accuracy: it is recorded as NaN.
LossFn = Callable[[torch.Tensor, torch.Tensor, str], torch.Tensor]


def cross_entropy(output: torch.Tensor, target: torch.Tensor, reduction: str) -> torch.Tensor:
    return F.cross_entropy(output, target, reduction=reduction)


def _accuracy(output: torch.Tensor, y: torch.Tensor) -> float:
    if y.is_floating_point():
        return float("nan")
    return float((output.argmax(-1) == y).double().mean())


def _loss_and_accuracy(logits: torch.Tensor, y: torch.Tensor,
                       loss_fn: LossFn = cross_entropy) -> tuple[float, float]:
    return float(loss_fn(logits, y, "mean")), _accuracy(logits, y)


def potential_references(model: nn.Module) -> dict[str, list[torch.Tensor]] | None:
    """Per-neuron potentials at t = 0, with and without biases (None for direct rules)."""
    try:
        return {"full": neuron_potentials(model), "weights": neuron_potentials(model, False)}
    except ValueError:
        return None


def chain_measurements(model: nn.Module, reference: dict | None) -> dict[str, float]:
    """Norms, cos(W_l, B_l) and Theorem 5.2's potential for a chain network (layers from 1).

    `reference` is potential_references() at t = 0.  Columns: potential_i (layer sum),
    potential_ratio_i (Figure 2's normalised layer potential), neuron_deviation_i (mean
    per-neuron |ratio - 1|, App. B.1 / Table 3); the *_weights_i twins leave the biases out.
    """
    row: dict[str, float] = {}
    layers = weight_layers(model)
    for i, layer in enumerate(layers, 1):
        w = layer.weight.detach()
        row[f"weight_norm_{i}"] = float(w.norm())
        with contextlib.suppress(ValueError):               # direct rules: no per-weight B
            row[f"cos_wb_{i}"] = float(alignment_cosine_from(w, feedback_of(layer), w.dim()))
    now = potential_references(model)
    if now is None:
        return row
    ref = reference if reference is not None else now
    for suffix, kind in (("", "full"), ("_weights", "weights")):
        for i, (p, p0) in enumerate(zip(now[kind], ref[kind]), 1):
            if not suffix:
                row[f"potential_{i}"] = float(p.sum())
            row[f"potential_ratio{suffix}_{i}"] = float(p.sum() / p0.sum())
            row[f"neuron_deviation{suffix}_{i}"] = float(deviation_from_one(p / p0))
    return row


class TrainingPaused(Exception):
    """Training stopped at its deadline after saving a checkpoint; calling train() again with
    the same checkpoint path resumes it exactly."""

    def __init__(self, epoch: int, epochs: int, checkpoint: os.PathLike) -> None:
        super().__init__(f"paused after epoch {epoch} of {epochs}; checkpoint {checkpoint}")
        self.epoch, self.epochs, self.checkpoint = epoch, epochs, checkpoint


# A batch transform maps stored inputs (e.g. uint8 images on the device) to the network's
# float input; `augment` is True for training batches, and `gen` is the trainer's own
# augmentation generator, so that a resumed run draws the same augmentations.
BatchTransform = Callable[[torch.Tensor, bool, torch.Generator], torch.Tensor]


def remove_checkpoint(path: Path | None) -> None:
    """Delete a checkpoint written by _save_checkpoint and the JSON note beside it (either may
    be missing; None: nothing to do)."""
    if path is not None:
        path.unlink(missing_ok=True)
        path.with_suffix(".json").unlink(missing_ok=True)


def _save_checkpoint(path: Path, state: dict) -> None:
    """torch.save to a temporary file, then rename: a checkpoint on disk is always whole.
    A small JSON beside it (same name, .json) says how far the run got, for listings that
    should not load the whole state."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(state, tmp)
    os.replace(tmp, path)
    progress = {"epoch": state["epoch"], "epochs": state["config"]["epochs"],
                "elapsed_s": round(state["elapsed_s"], 3),
                "saved_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    tmp = path.with_name(f".{path.stem}.json.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(progress))
    os.replace(tmp, path.with_suffix(".json"))


def train(model: nn.Module, train_data: tuple[torch.Tensor, torch.Tensor],
          test_data: tuple[torch.Tensor, torch.Tensor] | None, config: TrainConfig, *,
          measure: Callable[[nn.Module, dict | None], dict] | None = chain_measurements,
          name: str = "model", transform: BatchTransform | None = None,
          checkpoint: os.PathLike | None = None, deadline: float | None = None,
          checkpoint_every_s: float = 300.0, loss_fn: LossFn = cross_entropy,
          stop: Callable[[list[dict]], bool] | None = None) -> pd.DataFrame:
    """Train a (converted) classifier with SGD + momentum (or Adam) on cross-entropy (or on `loss_fn`,
    e.g. a squared error; with float targets the accuracy columns are NaN).

    Returns one row per measured epoch: epoch, lr, train/test loss and accuracy, and what
    `measure(model, reference)` adds.  Raises TrainingDiverged naming the epoch.

    With `checkpoint` (a file path) the full training state (model with its feedback,
    optimiser, generators, rows so far) is saved there every `checkpoint_every_s` seconds and
    at `deadline` (a time.monotonic() value), where TrainingPaused is raised; a later call with
    the same path resumes from it and returns exactly what an uninterrupted run returns.  The
    caller deletes the checkpoint once the result is stored.

    `stop(rows)`, asked after every measured epoch, ends training early when it returns True
    (a stopping rule on the measurements so far, e.g. validation accuracy no longer rising);
    config.epochs is then the cap.
    """
    device = torch.device(config.device)
    model.to(device)
    x, y = (t.to(device) for t in train_data)
    xt, yt = (t.to(device) for t in test_data) if test_data is not None else (None, None)
    prepare = transform or (lambda batch, augment, gen: batch)
    if config.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=config.lr,
                               weight_decay=config.weight_decay)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                              weight_decay=config.weight_decay)
    gen = torch.Generator().manual_seed(config.data_seed)
    aug_gen = torch.Generator().manual_seed(config.data_seed + 7919)
    n = x.shape[0]
    bs = n if config.batch_size is None else config.batch_size
    steps = n // bs if config.drop_last and n >= bs else -(-n // bs)
    reference = potential_references(model) if measure is not None else None
    rows: list[dict] = []
    first_epoch, resumed, earlier_s = 0, 0, 0.0
    plateau = PlateauState() if config.plateau is not None else None
    started = time.perf_counter()
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    if checkpoint is not None and checkpoint.exists():
        # Loaded on the CPU: generator states must stay CPU tensors; load_state_dict moves the
        # model and optimiser tensors to where their parameters live.
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["gen"])
        aug_gen.set_state(state["aug_gen"])
        rows, first_epoch, reference = state["rows"], state["epoch"], state["reference"]
        resumed, earlier_s = state["resumed"] + 1, state["elapsed_s"]
        if plateau is not None:
            plateau = PlateauState(**state["plateau"])

    def save(epoch: int) -> None:
        _save_checkpoint(checkpoint, {
            "model": model.state_dict(), "optimizer": opt.state_dict(), "gen": gen.get_state(),
            "aug_gen": aug_gen.get_state(), "rows": rows, "epoch": epoch,
            "reference": reference, "config": config.as_dict(), "resumed": resumed,
            "elapsed_s": earlier_s + time.perf_counter() - started,
            "plateau": None if plateau is None else asdict(plateau)})

    def record(epoch: int, lr: float, running: tuple[float, float] | None) -> None:
        model.eval()
        with torch.no_grad():
            row = {"epoch": epoch, "lr": lr}
            if running is not None:
                row["train_loss"], row["train_acc"] = running
            else:
                row["train_loss"], row["train_acc"] = _eval(model, x, y, bs, prepare, aug_gen,
                                                            loss_fn)
            if xt is not None:
                row["test_loss"], row["test_acc"] = _eval(model, xt, yt, bs, prepare, aug_gen,
                                                          loss_fn)
            if measure is not None:
                row.update(measure(model, reference))
        rows.append(row)
        model.train()

    last_save = time.monotonic()
    with deterministic_mode(config.deterministic):
        if first_epoch == 0:
            record(0, config.lr_at(0), None)
        epochs = range(first_epoch, config.epochs)
        for epoch in tqdm(epochs, desc=name, disable=not show_progress(config.progress),
                          initial=first_epoch, total=config.epochs):
            lr = config.lr_at(epoch) if plateau is None else \
                config.lr * config.gamma ** plateau.stage
            for group in opt.param_groups:
                group["lr"] = lr
            order = torch.randperm(n, generator=gen).to(device) if bs < n else None
            loss_sum = torch.zeros((), device=device)
            hits = torch.zeros((), device=device)
            seen = 0
            for step in range(steps):
                idx = order[step * bs:(step + 1) * bs] if order is not None else slice(None)
                logits = model(prepare(x[idx], True, aug_gen))
                target = y[idx]
                loss = loss_fn(logits, target, config.loss_reduction)
                _check_finite(loss.detach(), epoch + 1, name, lr, rows)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                after_optimizer_step(model)
                if config.train_metrics == "running":
                    with torch.no_grad():
                        size = target.shape[0]
                        per_example = loss.detach() * (size if config.loss_reduction == "mean" else 1)
                        loss_sum += per_example
                        hits += (logits.detach().argmax(-1) == target).sum() if not \
                            target.is_floating_point() else float("nan")
                        seen += size
            if (epoch + 1) % config.measure_every == 0 or epoch + 1 == config.epochs:
                running = ((float(loss_sum) / seen, float(hits) / seen)
                           if config.train_metrics == "running" else None)
                record(epoch + 1, lr, running)
                if stop is not None and stop(rows):
                    break
            if plateau is not None:
                value = _monitored(rows[-1], config.plateau)
                first_stage = plateau.stage == 0
                ended = plateau.update(value, config.plateau)
                if ended and first_stage:
                    _check_started(rows, config.plateau, name, lr)
                if ended and plateau.stage >= config.plateau.stages:
                    break                               # the last stage has levelled off
            if checkpoint is not None and epoch + 1 < config.epochs:
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    save(epoch + 1)
                    raise TrainingPaused(epoch + 1, config.epochs, checkpoint)
                if now - last_save >= checkpoint_every_s:
                    save(epoch + 1)
                    last_save = now
    table = pd.DataFrame(rows)
    # Training time summed over every session of a resumed run, and how often it resumed.
    table.attrs.update(wall_time_s=earlier_s + time.perf_counter() - started, resumed=resumed)
    if plateau is not None:       # ended by the rule, or by the epoch cap in an unfinished stage
        table.attrs["plateau_converged"] = plateau.stage >= config.plateau.stages
    return table


def _monitored(row: dict, rule: PlateauRule) -> float:
    return 1.0 - row["train_acc"] if rule.monitor == "train_error" else row["train_loss"]


def _check_started(rows: list[dict], rule: PlateauRule, name: str, lr: float) -> None:
    """At the end of the first stage (rows: every epoch so far, all of it at the first rate),
    raise TrainingStalled when no epoch fell below the rule's start_fraction times its
    start_below, or without one the value at initialisation (rows[0]); see PlateauRule."""
    reference = _monitored(rows[0], rule) if rule.start_below is None else rule.start_below
    what = "its initial" if rule.start_below is None else "the reference"
    if rule.start_fraction < 1.0:
        what = f"{rule.start_fraction:g} x {what} value"
    threshold = rule.start_fraction * reference
    values = [_monitored(r, rule) for r in rows[1:]]
    if all(v >= threshold for v in values):
        raise TrainingStalled(
            f"{name}: the {rule.monitor} did not fall below {what} {reference:.4g} in the "
            f"first stage ({len(values)} epochs at lr {lr:g}; it read "
            f"{', '.join(f'{v:.4g}' for v in values)}): the run has not started learning; a "
            "smaller first rate is the usual remedy", epoch=len(values), rows=rows)


def _eval(model: nn.Module, x: torch.Tensor, y: torch.Tensor, bs: int,
          prepare: BatchTransform, gen: torch.Generator,
          loss_fn: LossFn = cross_entropy) -> tuple[float, float]:
    if bs >= x.shape[0]:
        return _loss_and_accuracy(model(prepare(x, False, gen)), y, loss_fn)
    logits = torch.cat([model(prepare(x[i:i + bs], False, gen))
                        for i in range(0, x.shape[0], bs)])
    return _loss_and_accuracy(logits, y, loss_fn)
