"""What every noisy-MNIST chapter does first: find (or, if asked, train) the sweep's runs in the
result store, and describe where they came from.  Chapters call these and keep only prose,
equations and their own figure."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import torch

from .experiments import (CHOSEN_READING, PROFILES, READING_PROFILES, READINGS,
                          NoisyMNISTProtocol, protocol_rows, reading_table, run_readings,
                          run_sweep, with_reading)
from .store import ResultStore


def resolve_device(device: str) -> str:
    """'auto' picks CUDA when present, else the CPU."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but torch sees no CUDA device; "
                           "use device='auto' or 'cpu'")
    return device


@dataclass
class SweepResults:
    profile: str
    protocol: NoisyMNISTProtocol
    store: ResultStore
    table: pd.DataFrame          # every stored measurement of this protocol, spec as columns
    expected: int                # runs the protocol has
    stored: int                  # runs found

    @property
    def complete(self) -> bool:
        return self.stored == self.expected

    def status(self) -> str:
        if self.complete:
            return f"all {self.expected} runs of the '{self.profile}' profile are stored."
        return (f"{self.stored} of {self.expected} runs of the '{self.profile}' profile are "
                f"stored; the figures show those. `make reproduce PROFILE={self.profile}` "
                "trains the rest (finished runs are kept).")


def noisy_mnist_results(profile: str = "paper", results: str | Path = "results",
                        device: str = "auto", data_root=None, train_missing: bool = False,
                        progress: bool | None = None, overrides: dict | None = None
                        ) -> SweepResults:
    """The noisy-MNIST sweep of `profile` from the store under `results`.

    train_missing=True trains every run not yet stored (resumable); False only reads, so a
    chapter re-renders from stored runs on a CPU in seconds.  `overrides` changes protocol
    fields (e.g. {"widths": [15, 200]}); such runs are stored under their own keys.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose from {sorted(PROFILES)}")
    protocol = PROFILES[profile]
    if overrides:
        unknown = set(overrides) - set(protocol.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown protocol field(s) {sorted(unknown)}; fields: "
                             f"{sorted(protocol.__dataclass_fields__)}")
        tuples = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
        protocol = with_reading(protocol, **tuples)
    store = ResultStore(results, f"noisy_mnist_{profile}")
    if train_missing:
        run_sweep(protocol, store, device=resolve_device(device), data_root=data_root,
                  progress=progress)
    table = protocol_rows(store.table(), protocol)
    stored = table.run_key.nunique() if len(table) else 0
    if stored == 0:
        raise FileNotFoundError(
            f"no stored runs of the '{profile}' profile under {store.folder}. Train them with "
            f"`make reproduce PROFILE={profile}` (or train_missing=True), or point `results` "
            "at a folder that holds them")
    return SweepResults(profile, protocol, store, table, len(protocol.run_specs()), stored)


def provenance_card(sweep: SweepResults) -> pd.DataFrame:
    """Where the chapter's numbers come from: profile, runs, devices, compute, versions, code."""
    keys = set(sweep.table.run_key)
    prov = [r["provenance"] for r in sweep.store.records() if r["key"] in keys]
    wall = sum(p["wall_time_s"] for p in prov)
    commits = sorted({(p["code"].get("git_commit") or "unknown")[:10] for p in prov})
    sources = sorted({p["code"]["falign_source_sha256"] for p in prov})
    libs = prov[0]["libraries"]
    dates = sorted(p["finished_utc"][:10] for p in prov)
    card = {
        "profile": sweep.profile,
        "runs stored": f"{sweep.stored} of {sweep.expected}",
        "device(s)": "; ".join(sorted({p["device"] for p in prov})),
        "compute (sum of per-run wall times)": f"{wall / 3600:.2f} h",
        "wall time per run (median)": f"{pd.Series([p['wall_time_s'] for p in prov]).median():.1f} s",
        "trained": f"{dates[0]} to {dates[-1]}" if dates[0] != dates[-1] else dates[0],
        "falign commit(s)": ", ".join(commits),
        "falign source hash(es)": ", ".join(sources),
        "python / torch / numpy": f"{libs['python']} / {libs['torch']} / {libs['numpy']}",
    }
    return pd.DataFrame({"": list(card.values())}, index=list(card))


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
    """The readings ablation of falign.experiments.READINGS at `profile` scale."""
    if profile not in READING_PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose from {sorted(READING_PROFILES)}")
    base = READING_PROFILES[profile]
    store = ResultStore(results, "noisy_mnist_readings")
    if train_missing:
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
