"""The noisy-MNIST readings (Robertson & Koyejo Sec. 6.1 / App. A) as a family the background
queue trains: every reading of noisy_mnist.READINGS on one schedule and repeats, into the
readings store (`noisy_mnist_readings:quick|paper`).  The full-schedule confirmation of the
allowed readings on the paper's width grid is the family noisy_mnist_confirm.

A run of a reading that changes only one rule's runs (sign-FA's scale) has the key of the
book's run it equals, so it is never trained twice; a reading that names its rules (FA's B at
Xavier scale: FA only) borrows the other rules' runs from the reading in SHARES_RUNS_OF."""
from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from ..store import ResultStore, spec_key
# group_key and train_group are noisy_mnist's own: the runs are noisy-MNIST runs.
from .noisy_mnist import (ABLATION, CHOSEN_READING, PAPER, PAPER_RULES, READINGS,  # noqa: F401
                          NoisyMNISTProtocol, group_key, protocol_rows, replay, train_group,
                          with_reading)

NAME = "noisy_mnist_readings"
CELL = ("width", "rule")

# Readings that run only the rules they change; the other rules' runs are those of the reading
# named here at the same scale (identical specs but for a field that does not act on them).
SHARES_RUNS_OF = {"FA's B Xavier, no biases": CHOSEN_READING}


def reading_protocol(base: NoisyMNISTProtocol, name: str) -> NoisyMNISTProtocol:
    """`base` under reading `name`; a reading in SHARES_RUNS_OF runs only FA (the rule whose
    feedback it redraws)."""
    if name not in READINGS:
        raise ValueError(f"unknown reading {name!r}; readings: {', '.join(READINGS)}")
    protocol = with_reading(base, **READINGS[name])
    if name in SHARES_RUNS_OF:
        protocol = replace(protocol, rules=("fa",))
    return protocol


@dataclass(frozen=True)
class ReadingsSweep:
    """Every reading in `readings` applied to `base`, each at `repeats` repeats."""
    base: NoisyMNISTProtocol = ABLATION
    readings: tuple[str, ...] = tuple(READINGS)
    repeats: int = 2

    def protocols(self) -> dict[str, NoisyMNISTProtocol]:
        return {name: replace(reading_protocol(self.base, name), repeats=self.repeats)
                for name in self.readings}


PROFILES = {
    # The ablation's scale (noisy_mnist.ABLATION: widths 15, 60, 200, the first 2000 epochs of
    # App. A's schedule): every reading at two repeats ...
    "paper": ReadingsSweep(repeats=2),
    # ... and at one repeat (the ten older readings' runs are stored: their new rows first).
    "quick": ReadingsSweep(repeats=1),
    "smoke": ReadingsSweep(base=replace(PAPER, widths=(15,), repeats=1, n_train=200, n_test=200,
                                        epochs=20, lr_drop_every=10, measure_every=5),
                           repeats=1),
}


def store_name(profile: str) -> str:
    """The readings store of noisy_mnist.run_readings; smoke's runs have their own."""
    return "noisy_mnist_readings" + ("_smoke" if profile == "smoke" else "")


def run_specs(sweep: ReadingsSweep) -> list[dict]:
    """Repeat-major over readings (one repeat of every reading first), each run once."""
    specs, seen = [], set()
    for spec in sorted((s for p in sweep.protocols().values() for s in p.run_specs()),
                       key=lambda s: s["repeat"]):
        key = spec_key(spec)
        if key not in seen:
            seen.add(key)
            specs.append(spec)
    return specs


def reading_rows(table: pd.DataFrame, base: NoisyMNISTProtocol, repeats: int | None = None
                 ) -> pd.DataFrame:
    """The stored rows of every reading at `base`'s scale, with a 'reading' column and a
    'borrowed' flag (True: the run belongs to the reading in SHARES_RUNS_OF)."""
    if not len(table):
        return table
    frames = []
    for name in READINGS:
        protocol = reading_protocol(base, name)
        if repeats is not None:
            protocol = replace(protocol, repeats=repeats)
        frames.append(protocol_rows(table, protocol).assign(reading=name, borrowed=False))
        if name in SHARES_RUNS_OF:
            lender = reading_protocol(base, SHARES_RUNS_OF[name])
            lender = replace(lender, rules=tuple(r for r in lender.rules
                                                 if r not in protocol.rules),
                             repeats=protocol.repeats)
            frames.append(protocol_rows(table, lender).assign(reading=name, borrowed=True))
    return pd.concat(frames, ignore_index=True)


def planned_runs(base: NoisyMNISTProtocol, repeats: int) -> pd.DataFrame:
    """Runs planned per (reading, width, rule) at `repeats` repeats (borrowed rules count)."""
    rows = []
    for name in READINGS:
        protocol = reading_protocol(base, name)
        rules = PAPER_RULES if name in SHARES_RUNS_OF else protocol.rules
        rows += [{"reading": name, "width": w, "rule": r, "planned": repeats}
                 for w in protocol.widths for r in rules]
    return pd.DataFrame(rows)


def diverged_runs(store: ResultStore) -> dict[str, int]:
    """{run key: epoch at which its loss turned non-finite} of the store's diverged runs."""
    return {r["key"]: r["provenance"]["diverged_epoch"] for r in store.records()
            if r["provenance"].get("diverged_epoch") is not None}
