"""The sweep: which runs of an experiment family are missing from its result store, training
them (within a time budget, resuming unfinished runs from checkpoints) and storing each run as
it finishes.  It knows no family: a family module (falign.families) hands it run
specifications and a function that trains a group of them.

A family module provides:
    NAME                      the family's name in the registry
    PROFILES                  {"paper" | "quick" | "smoke": protocol}
    store_name(profile)       the store folder its runs of that profile live in
    run_specs(protocol)       one dict per run, in the order a sweep should train them
    group_key(spec)           runs with equal keys are trained together (one call)
    train_group(specs, ctx)   -> one RunResult per spec, or raises TrainingPaused
    describe(protocol)        (optional) {field: value} shown on the chapter's provenance card
    STAGED                    (optional) True: run_specs(protocol, store) plans later stages'
                              runs from the runs stored so far (e.g. a configuration chosen on
                              validation data), and the sweep re-plans after every run
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.std import tqdm

from .store import (ResultStore, code_version, peak_memory, provenance, reset_peak_memory,
                    spec_key, write_durably)
from .training import TrainingPaused, remove_checkpoint, show_progress

CHECKPOINTS = "_checkpoints"       # <results>/_checkpoints/<store name>/<key>.pt, git-ignored
HEARTBEAT_S = 60.0                 # a worker touches the claims it holds this often
CLAIM_STALE_S = 15 * 60.0          # a claim not touched for this long is abandoned


def checkpoint_folder(store: ResultStore) -> Path:
    """Where a store's unfinished runs keep their checkpoints: <results>/_checkpoints/<name>."""
    return store.folder.parent / CHECKPOINTS / store.folder.name


@dataclass
class RunContext:
    """What a family's train function needs besides the specifications."""
    device: str = "cpu"
    data_root: Any = None
    progress: bool | None = None
    checkpoints: Path | None = None    # folder for unfinished runs' checkpoints (None: none)
    deadline: float | None = None      # time.monotonic() value at which training pauses

    def checkpoint(self, spec: dict) -> Path | None:
        return None if self.checkpoints is None else self.checkpoints / f"{spec_key(spec)}.pt"


@dataclass
class RunResult:
    """One finished run: its measurements and what its record adds to the provenance
    (e.g. the classes it drew).  wall_time_s None: the sweep's own timing of the group."""
    measurements: pd.DataFrame
    record: dict = field(default_factory=dict)
    wall_time_s: float | None = None


@dataclass
class SweepReport:
    trained: list[str] = field(default_factory=list)     # keys stored by this call
    paused: list[str] = field(default_factory=list)      # keys checkpointed at the deadline
    pending: list[dict] = field(default_factory=list)    # specs still missing afterwards
    claimed_elsewhere: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"trained {len(self.trained)}, paused {len(self.paused)} (checkpointed), "
                f"{len(self.pending)} pending, {len(self.claimed_elsewhere)} claimed by "
                "another worker")


def planned_specs(family, protocol, store: ResultStore | None = None) -> list[dict]:
    """The protocol's runs as far as they are known: a staged family's later stages depend on
    the runs already in `store` (None: the first stage only)."""
    if getattr(family, "STAGED", False):
        return family.run_specs(protocol, store)
    return family.run_specs(protocol)


def missing(family, protocol, store: ResultStore) -> list[dict]:
    """The protocol's runs not yet in the store, in the family's sweep order."""
    return [s for s in planned_specs(family, protocol, store) if not store.has(s)]


def checkpoint_progress(folder: Path | None, spec: dict) -> dict | None:
    """How far an unfinished run got ({epoch, epochs, elapsed_s, saved_utc}), from the note
    its checkpoint keeps beside it; None when it has no checkpoint."""
    if folder is None:
        return None
    key = spec_key(spec)
    if not (folder / f"{key}.pt").exists():
        return None
    try:
        return json.loads((folder / f"{key}.json").read_text())
    except (OSError, ValueError):
        return {"epoch": None, "epochs": None, "elapsed_s": None, "saved_utc": None}


def resumable_first(specs: list[dict], folder: Path | None) -> list[dict]:
    """Runs with a checkpoint first (their training is partly paid for), each part in the
    family's order."""
    return sorted(specs, key=lambda s: checkpoint_progress(folder, s) is None)


def group_runs(specs: list[dict], key) -> list[list[dict]]:
    """Specs split into the groups a family trains together (equal `key`), in order."""
    groups: dict[Any, list[dict]] = {}
    for spec in specs:
        groups.setdefault(key(spec), []).append(spec)
    return list(groups.values())


class Claims:
    """Claims on runs, so that several workers (processes, or machines sharing the results
    folder) never train one run twice.

    A claim is a file <key>.claim naming its worker (host, pid).  Every change to the claims
    folder happens under an exclusive lock on its `.lock` file (fcntl.lockf, which NFS honours
    too), so checking a claim and taking it over cannot race.  While a worker holds claims, a
    thread touches them every HEARTBEAT_S.  A claim is stale, and is taken over, when its
    worker's process is gone (a worker on this host: the process table decides) or, for a
    worker on another machine, when its heartbeat is older than CLAIM_STALE_S (it crashed,
    was killed, or lost its node)."""

    def __init__(self, folder: Path, heartbeat_s: float = HEARTBEAT_S,
                 stale_s: float = CLAIM_STALE_S) -> None:
        self.folder = folder
        self.heartbeat_s, self.stale_s = heartbeat_s, stale_s
        self._held: set[str] = set()
        self._beating: threading.Event | None = None

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.claim"

    @contextlib.contextmanager
    def _locked(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "a") as lock:
            fcntl.lockf(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.lockf(lock, fcntl.LOCK_UN)

    def stale(self, path: Path) -> bool:
        """Whether the claim file `path` is abandoned (see the class docstring)."""
        try:
            age = time.time() - path.stat().st_mtime
            info = json.loads(path.read_text())
        except FileNotFoundError:
            return True
        except (OSError, ValueError):          # half-written by a worker killed while writing
            return True
        if info.get("host") == socket.gethostname():       # the process table knows
            try:
                os.kill(int(info["pid"]), 0)
            except ProcessLookupError:
                return True
            except (PermissionError, KeyError, ValueError):
                return False
            return False
        return age > self.stale_s                           # another machine: its heartbeat

    def acquire(self, key: str) -> bool:
        """Claim `key` for this process; False when a live worker holds it."""
        with self._locked():
            path = self._path(key)
            if path.exists() and not self.stale(path):
                return False
            write_durably(path, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                            "time": time.time()}))
        self._held.add(key)
        self._start_heartbeat()
        return True

    def release(self, key: str) -> None:
        with self._locked():
            self._path(key).unlink(missing_ok=True)
        self._held.discard(key)
        if not self._held and self._beating is not None:
            self._beating.set()
            self._beating = None

    def _start_heartbeat(self) -> None:
        if self._beating is not None:
            return
        stop = self._beating = threading.Event()

        def beat():
            while not stop.wait(self.heartbeat_s):
                for key in list(self._held):
                    try:
                        os.utime(self._path(key))
                    except FileNotFoundError:  # released meanwhile
                        pass

        threading.Thread(target=beat, name="claim-heartbeat", daemon=True).start()


def run_sweep(family, protocol, store: ResultStore, *, device: str = "cpu", data_root=None,
              progress: bool | None = None, budget_s: float | None = None,
              checkpoints: Path | None = None, max_runs: int | None = None,
              only: set[str] | None = None) -> SweepReport:
    """Train the runs of `protocol` missing from `store`, store each as it finishes.

    budget_s: stop starting or continuing training after this many seconds; a run cut short
    is checkpointed under `checkpoints` (required with a budget) and resumed by a later call.
    Runs claimed by another worker on the same store are skipped.
    only: train just the runs with these keys (one task of a cluster job array).
    """
    code_version()                  # read the code version now, before any source can change
    if budget_s is not None and checkpoints is None:
        raise ValueError("a time budget needs a checkpoint folder to save unfinished runs in")
    deadline = None if budget_s is None else time.monotonic() + budget_s
    ctx = RunContext(device, data_root, progress, checkpoints, deadline)
    claims = Claims(store.folder / ".claims")
    report = SweepReport()
    todo = missing(family, protocol, store)
    if only is not None:
        todo = [s for s in todo if spec_key(s) in only]
    groups = group_runs(resumable_first(todo, checkpoints), family.group_key)
    if max_runs is not None:
        kept, count = [], 0
        for g in groups:
            if count >= max_runs:
                break
            kept.append(g)
            count += len(g)
        groups = kept
    bar = tqdm(total=sum(map(len, groups)), desc=f"{family.NAME} sweep",
               disable=not show_progress(progress))
    staged = getattr(family, "STAGED", False) and max_runs is None
    tried: set[str] = set()
    while groups:
        group = groups.pop(0)
        tried.update(spec_key(s) for s in group)
        if deadline is not None and time.monotonic() >= deadline:
            break
        mine = []
        for spec in group:
            if store.has(spec):
                continue
            if not claims.acquire(spec_key(spec)):
                report.claimed_elsewhere.append(spec_key(spec))
            elif store.has(spec):       # stored by another worker between the two looks
                claims.release(spec_key(spec))
            else:
                mine.append(spec)
        if not mine:
            bar.update(len(group))
            continue
        try:
            was_reset = reset_peak_memory(device)
            start = time.perf_counter()
            try:
                results = family.train_group(mine, ctx)
            except TrainingPaused:
                report.paused += [spec_key(s) for s in mine]
                break
            wall = (time.perf_counter() - start) / len(mine)
            memory = peak_memory(device, len(mine), was_reset)
            for spec, result in zip(mine, results):
                prov = provenance(device, result.wall_time_s if result.wall_time_s is not None
                                  else wall, memory)
                store.save(spec, result.measurements, {**prov, **result.record})
                report.trained.append(spec_key(spec))
                remove_checkpoint(ctx.checkpoint(spec))
        finally:
            for spec in mine:
                claims.release(spec_key(spec))
        bar.update(len(group))
        if staged:
            # A finished run may complete a stage: plan again, so its next stage (now known)
            # is trained in the family's order before the cells after it.
            todo = [s for s in missing(family, protocol, store) if spec_key(s) not in tried]
            if only is not None:
                todo = [s for s in todo if spec_key(s) in only]
            groups = group_runs(resumable_first(todo, checkpoints), family.group_key)
            bar.total = bar.n + sum(map(len, groups))
    bar.close()
    report.pending = missing(family, protocol, store)
    return report


def replay(family, spec: dict, epochs: int, device: str = "cpu", data_root=None) -> pd.DataFrame:
    """Re-train a stored run from its specification for its first `epochs` epochs (same data,
    seeds and schedule) and return its measurements, to compare with the store: the family's
    own `replay` where it has one, else its train function on the spec with fewer epochs
    (valid for schedules that depend on the epoch, not on the total: step milestones)."""
    if hasattr(family, "replay"):
        return family.replay(spec, epochs, device=device, data_root=data_root)
    if "epochs" not in spec:
        raise ValueError(f"family {family.NAME} has no replay and its runs no 'epochs' field: "
                         "give the family a replay(spec, epochs, device, data_root) function")
    ctx = RunContext(device=device, data_root=data_root, progress=False)
    (result,) = family.train_group([{**spec, "epochs": min(epochs, spec["epochs"])}], ctx)
    return result.measurements
