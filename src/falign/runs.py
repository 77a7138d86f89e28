"""The pending-runs command: train the missing runs of a family's profile within a time
budget, list what is still pending, and pack or unpack finished runs for moving them between
machines (e.g. from a GPU job back into results/).

    python -m falign.runs train lenet_cifar --profile paper --budget-min 9 --device auto
    python -m falign.runs train lenet_cifar:quick lenet_cifar_readings:quick lenet_cifar:paper
    python -m falign.runs list lenet_cifar --profile paper
    python -m falign.runs pack lenet_cifar out.tar.gz      (runs and checkpoints)
    python -m falign.runs unpack out.tar.gz                (into --results, never overwriting)
    python -m falign.runs verify [--repair] [--upgrade]   (checksums, strays, quarantine)
    python -m falign.runs verify --retrain 2 --family lenet_cifar   (recompute 2 epochs of a run)
    python -m falign.runs submit lenet_cifar:paper --executor slurm --partition gpu \
        --gpus-per-task 1 --time-min 120                    (a submitit job array: falign.cluster)

A run cut short by the budget is checkpointed under <results>/_checkpoints/ and resumed by the
next call, to the same result as an uninterrupted run.  --workers N trains N runs at once in
separate processes (several runs share one GPU well); their claims keep them apart.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .families import families, get_family
from .notebooks import ROOT   # the checkout, or the current directory for an installed falign
from .store import QUARANTINE, ResultStore, run_problems, spec_key, upgrade_run
from .sweep import (CHECKPOINTS, Claims, checkpoint_folder, checkpoint_progress, missing,
                    planned_specs, replay, run_sweep)


def resolve_device(device: str) -> str:
    """'auto' picks CUDA when present, else the CPU."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but torch sees no CUDA device; "
                           "use device='auto' or 'cpu'")
    return device


def _protocol(family, profile: str):
    if profile not in family.PROFILES:
        raise SystemExit(f"unknown profile {profile!r} of {family.NAME}; profiles: "
                         f"{', '.join(family.PROFILES)}")
    return family.PROFILES[profile]


def pending_table(family, profile: str, results: Path) -> str:
    """Pending runs counted per cell of the grid (every field that varies between runs)."""
    protocol = _protocol(family, profile)
    store = ResultStore(results, family.store_name(profile))
    todo = missing(family, protocol, store)
    total = len(planned_specs(family, protocol, store))
    varying = list(family.CELL)
    cells = Counter(tuple(s[k] for k in varying) for s in todo)
    lines = [f"{family.NAME} / {profile}: {total - len(todo)} of {total} runs stored, "
             f"{len(todo)} pending"]
    lines += [f"  {dict(zip(varying, cell))}: {count} pending" for cell, count in sorted(cells.items())]
    folder = checkpoint_folder(store)
    for spec in todo:
        done = checkpoint_progress(folder, spec)
        if done is not None:
            cell = ", ".join(f"{k} {spec[k]}" for k in varying)
            head = f"  resumable {spec_key(spec)} ({cell}, repeat {spec.get('repeat')}): "
            if done["epoch"] is None:
                lines.append(head + "progress unknown (a checkpoint without its progress note)")
            else:
                lines.append(head + f"epoch {done['epoch']} of {done['epochs']}, "
                             f"{done['elapsed_s'] / 3600:.2f} h trained, saved {done['saved_utc']}")
    return "\n".join(lines)


def _targets(args) -> list[tuple[object, str]]:
    """'family' or 'family:profile' arguments -> [(family module, profile)], in order."""
    out = []
    for target in args.targets:
        name, _, profile = target.partition(":")
        family = get_family(name)
        profile = profile or args.profile
        _protocol(family, profile)
        out.append((family, profile))
    return out


def train_command(args) -> None:
    """Train the targets' missing runs in the order given, within one shared budget."""
    import time

    import signal

    # A terminated worker (a cluster's time limit, kill) unwinds like an interrupt, so that
    # its claims are released at once instead of going stale.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    targets = _targets(args)
    if args.workers > 1:
        budget = [] if args.budget_min is None else ["--budget-min", str(args.budget_min)]
        threads = max(1, (os.cpu_count() or 1) // args.workers)
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "FALIGN_PROGRESS": "0"}
        procs = [subprocess.Popen([sys.executable, "-m", "falign.runs", "train", *args.targets,
                                   "--profile", args.profile, "--device", args.device,
                                   "--results", str(args.results), *budget], env=env)
                 for _ in range(args.workers)]
        codes = [p.wait() for p in procs]
        for family, profile in targets:
            print(pending_table(family, profile, args.results))
        if any(codes):
            raise SystemExit(f"worker exit codes {codes}")
        return
    end = None if args.budget_min is None else time.monotonic() + 60.0 * args.budget_min
    for family, profile in targets:
        left = None if end is None else end - time.monotonic()
        if left is not None and left <= 0:
            break
        store = ResultStore(args.results, family.store_name(profile))
        report = run_sweep(family, _protocol(family, profile), store,
                           device=resolve_device(args.device), data_root=args.data_root,
                           budget_s=left, max_runs=args.max_runs,
                           checkpoints=checkpoint_folder(store))
        print(f"{family.NAME} / {profile}: {report.summary()}")
        print(pending_table(family, profile, args.results))


def submit_command(args) -> None:
    """Submit each target's missing runs as a job array; with --wait, wait and report."""
    from .cluster import submit

    targets = [(family.NAME, profile) for family, profile in _targets(args)]
    jobs = submit(targets, args.results, executor=args.executor, logs=args.logs,
                  partition=args.partition, gpus_per_task=args.gpus_per_task,
                  cpus_per_task=args.cpus_per_task, time_min=args.time_min,
                  max_parallel=args.max_parallel, device=args.device, data_root=args.data_root)
    print(f"submitted {len(jobs)} task(s) to {args.executor}"
          + (f": job {jobs[0].job_id.split('_')[0]}, logs in {args.logs}" if jobs else
             " (nothing missing)"))
    if args.wait:
        done = [job.result() for job in jobs]
        print(f"trained {sum(len(d['trained']) for d in done)}, paused "
              f"{sum(len(d['paused']) for d in done)} (checkpointed; submit again to resume)")
        for family, profile in _targets(args):
            print(pending_table(family, profile, args.results))


@dataclass
class VerifyReport:
    runs: int = 0                                        # stored runs checked
    damaged: dict = field(default_factory=dict)          # run folder -> its problems
    unchecked: list = field(default_factory=list)        # runs stored without checksums
    upgraded: list = field(default_factory=list)         # ... that --upgrade gave checksums
    stray: dict = field(default_factory=dict)            # path -> what it is
    moved: dict = field(default_factory=dict)            # path -> where --repair put it
    retrained: dict = field(default_factory=dict)        # run -> largest relative difference
    mismatched: dict = field(default_factory=dict)       # run -> what did not recompute
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return not (self.damaged or self.stray or self.mismatched
                    or set(self.unchecked) - set(self.upgraded))

    def lines(self) -> list[str]:
        out = [f"{self.runs} stored runs checked in {self.seconds:.1f} s: {len(self.damaged)} "
               f"damaged, {len(self.unchecked)} without checksums ({len(self.upgraded)} "
               f"upgraded), {len(self.stray)} stray entries"]
        out += [f"  damaged {p}: {'; '.join(v)}" for p, v in self.damaged.items()]
        out += [f"  stray {p}: {v}" for p, v in self.stray.items()]
        out += [f"  moved {p} -> {v}" for p, v in self.moved.items()]
        out += [f"  retrained {p}: recomputes (largest relative difference {v:.1e})"
                for p, v in self.retrained.items() if p not in self.mismatched]
        out += [f"  MISMATCH {p}: {v}" for p, v in self.mismatched.items()]
        if set(self.unchecked) - set(self.upgraded):
            out.append("  runs without checksums: add them with --upgrade (nothing is retrained)")
        if (self.damaged or self.stray) and not self.moved:
            out.append("  --repair moves damaged runs and stray entries to "
                       f"{QUARANTINE}/ (never deletes); the next sweep retrains those runs")
        return out


def store_families() -> dict[str, object]:
    """Which family wrote each store folder name (every profile's store_name)."""
    out = {}
    for family in families().values():
        for profile in getattr(family, "PROFILES", {}):
            try:
                out[family.store_name(profile)] = family
            except (KeyError, ValueError):
                pass
    return out


def compare_replay(stored: pd.DataFrame, ours: pd.DataFrame,
                   same_device: bool) -> tuple[float, list[str]]:
    """Largest relative difference between a replay and the stored measurements over the
    epochs the replay covers, and the columns that differ beyond float32 round-off (accuracies:
    one example in a thousand, as a GPU may flip one)."""
    import numpy as np

    stored = stored[stored.epoch <= ours.epoch.max()].reset_index(drop=True)
    if stored.epoch.tolist() != ours.epoch.tolist():
        return float("inf"), ["epochs measured"]
    rtol = 2e-4 if same_device else 2e-3
    worst, bad = 0.0, []
    for col in ours.columns:
        if col not in stored.columns or ours[col].dtype.kind not in "fi":
            continue
        a, b = ours[col].to_numpy(float), stored[col].to_numpy(float)
        both = ~(np.isnan(a) & np.isnan(b))
        diff = np.abs(a - b)[both]
        rel = diff / (np.abs(b[both]) + 1e-6)
        worst = max(worst, float(rel.max()) if rel.size else 0.0)
        limit = 1e-3 if col.endswith("_acc") else rtol * np.abs(b[both]) + 1e-6
        if np.any(~np.isfinite(diff)) or np.any(diff > limit):
            bad.append(col)
    return worst, bad


def verify_results(results: Path, *, repair: bool = False, upgrade: bool = False,
                   retrain_epochs: int | None = None, sample: int = 1,
                   only: list[str] | None = None, device: str = "cpu",
                   data_root=None) -> VerifyReport:
    """Check every stored run of every experiment under `results` against its checksums, and
    find stray entries: temporary folders and files left by interrupted writes, abandoned
    claims, checkpoints of runs already stored.  --repair moves damaged runs and strays into
    <results>/_quarantine/ (never deletes); --upgrade adds checksums to runs stored without.
    retrain_epochs K: re-train `sample` stored runs of each store (seeded draw; `only` names
    families) for their first K epochs and compare them with the store."""
    import shutil
    import time as _time

    start = _time.perf_counter()
    report = VerifyReport()
    results = Path(results)
    stores = [p for p in sorted(results.iterdir()) if p.is_dir()
              and p.name not in (CHECKPOINTS, QUARANTINE) and not p.name.startswith(".")] \
        if results.exists() else []
    for store in stores:
        for entry in sorted(store.iterdir()):
            if entry.name == ".claims":
                claims = Claims(entry)
                for claim in sorted(entry.iterdir()):
                    if claim.name == ".lock":
                        continue
                    if claim.suffix != ".claim":
                        report.stray[claim] = "temporary claim file left by an interrupted write"
                    elif claims.stale(claim):
                        report.stray[claim] = "abandoned claim (its worker is gone)"
            elif entry.name.startswith("."):
                report.stray[entry] = "temporary entry left by an interrupted write"
            elif entry.is_dir():
                report.runs += 1
                problems = run_problems(entry)
                if problems and problems[0].startswith("no checksums"):
                    report.unchecked.append(entry)
                    if upgrade and upgrade_run(entry):
                        report.upgraded.append(entry)
                elif problems:
                    report.damaged[entry] = problems
    for ckpt in sorted((results / CHECKPOINTS).glob("*/*.pt")) if (results / CHECKPOINTS).exists() else []:
        if (results / ckpt.parent.name / ckpt.stem / "run.json").exists():
            report.stray[ckpt] = "checkpoint of a run already stored"
    if retrain_epochs:
        import random

        owners = store_families()
        for store in stores:
            family = owners.get(store.name)
            if family is None or (only and family.NAME not in only):
                continue
            sound = [p for p in sorted(store.iterdir()) if p.is_dir() and not p.name.startswith(".")
                     and p not in report.damaged]
            for path in random.Random(0).sample(sound, min(sample, len(sound))):
                record, stored = ResultStore._read(path)
                ours = replay(family, record["spec"], retrain_epochs, device, data_root)
                worst, bad = compare_replay(stored, ours,
                                            record["provenance"]["device"].startswith("cpu"))
                report.retrained[path] = worst
                if bad:
                    report.mismatched[path] = (f"the first {retrain_epochs} epochs differ from "
                                               f"the store in {', '.join(bad)}")
    if repair:
        stamp = _time.strftime("%Y%m%dT%H%M%S")
        for path in [*report.damaged, *report.stray]:
            if path.suffix == ".claim" or path.parent.name == ".claims":
                path.unlink(missing_ok=True)               # a claim holds no result
                report.moved[path] = "removed (a claim, not a result)"
                continue
            rel = path.relative_to(results)
            dest = results / QUARANTINE / rel.parent / f"{rel.name}.{stamp}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), str(dest))
            report.moved[path] = dest
    report.seconds = _time.perf_counter() - start
    return report


def pack(family_name: str, archive: Path, results: Path,
         max_checkpoint_mb: float | None = None) -> int:
    """Write the family's stored runs and checkpoints into one tar.gz; returns entries.
    Checkpoints larger than `max_checkpoint_mb` (a ResNet-18's is about 130 MB, more than a
    device job can send back) are left out, each named on stderr."""
    family = get_family(family_name)
    names = {family.store_name(p) for p in family.PROFILES}
    count = 0
    with tarfile.open(archive, "w:gz") as tar:
        for name in sorted(names):
            for folder in (results / name, results / CHECKPOINTS / name):
                if not folder.exists():
                    continue
                for entry in sorted(folder.iterdir()):
                    if entry.name.startswith("."):
                        continue
                    if (folder.parent.name == CHECKPOINTS and max_checkpoint_mb is not None
                            and entry.stat().st_size > max_checkpoint_mb * 2**20):
                        print(f"left out checkpoint {entry} ({entry.stat().st_size / 2**20:.0f} MB"
                              f" > {max_checkpoint_mb} MB)", file=sys.stderr)
                        continue
                    tar.add(entry, arcname=str(entry.relative_to(results)))
                    count += 1
    return count


def unpack(archive: Path, results: Path) -> int:
    """Extract runs and checkpoints into `results`; a run already stored is kept, not
    overwritten.  Returns how many entries were added."""
    added = 0
    with tarfile.open(archive) as tar:
        tops = {}
        for member in tar.getmembers():
            parts = Path(member.name).parts
            if member.name.startswith("/") or ".." in parts:
                raise ValueError(f"unsafe path {member.name!r} in {archive}")
            depth = 3 if parts[0] == CHECKPOINTS else 2
            tops.setdefault(Path(*parts[:depth]), []).append(member)
        for top, members in tops.items():
            if (results / top).exists():
                continue
            tar.extractall(results, members=members, filter="data")
            added += 1
    return added


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m falign.runs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train missing runs within a budget")
    t.add_argument("targets", nargs="+", metavar="family[:profile]",
                   help="trained in this order, e.g. lenet_cifar:quick lenet_cifar:paper")
    t.add_argument("--profile", default="paper")
    t.add_argument("--device", default="auto")
    t.add_argument("--budget-min", type=float, default=None, help="minutes (default: no limit)")
    t.add_argument("--workers", type=int, default=1)
    t.add_argument("--max-runs", type=int, default=None)
    t.add_argument("--data-root", default=None)
    sm = sub.add_parser("submit", help="submit the missing runs as a submitit job array "
                                       "(SLURM, or local processes)")
    sm.add_argument("targets", nargs="+", metavar="family[:profile]")
    sm.add_argument("--profile", default="paper")
    sm.add_argument("--executor", default="local", choices=["local", "slurm"])
    sm.add_argument("--partition", default=None, help="SLURM partition")
    sm.add_argument("--gpus-per-task", type=int, default=0)
    sm.add_argument("--cpus-per-task", type=int, default=1)
    sm.add_argument("--time-min", type=int, default=60, help="each task's time limit (minutes)")
    sm.add_argument("--max-parallel", type=int, default=None, help="SLURM array parallelism")
    sm.add_argument("--device", default="auto")
    sm.add_argument("--data-root", default=None)
    sm.add_argument("--logs", type=Path, default=ROOT / "logs" / "submitit")
    sm.add_argument("--wait", action="store_true", help="wait for every task and report")
    vf = sub.add_parser("verify", help="check every stored run against its checksums and "
                                       "find stray entries")
    vf.add_argument("--repair", action="store_true",
                    help="move damaged runs and stray entries to results/_quarantine/")
    vf.add_argument("--upgrade", action="store_true",
                    help="add checksums to runs stored before they existed")
    vf.add_argument("--retrain", type=int, default=None, metavar="K",
                    help="re-train a sample of stored runs for their first K epochs and compare")
    vf.add_argument("--sample", type=int, default=1, help="runs re-trained per store")
    vf.add_argument("--family", action="append", default=None,
                    help="re-train only runs of this family (repeatable)")
    vf.add_argument("--device", default="cpu")
    vf.add_argument("--data-root", default=None)
    ls = sub.add_parser("list", help="list pending runs per cell")
    ls.add_argument("family")
    ls.add_argument("--profile", default="paper")
    pk = sub.add_parser("pack", help="pack stored runs and checkpoints into a tar.gz")
    pk.add_argument("family")
    pk.add_argument("archive", type=Path)
    pk.add_argument("--max-checkpoint-mb", type=float, default=None,
                    help="leave out checkpoints larger than this (a device job sends back 16 MiB a file)")
    up = sub.add_parser("unpack", help="unpack an archive of runs into the results folder")
    up.add_argument("archive", type=Path)
    for p in (t, sm, vf, ls, pk, up):
        p.add_argument("--results", type=Path, default=ROOT / "results")
    args = parser.parse_args(argv)
    try:
        _dispatch(args)
    except (ValueError, FileNotFoundError) as err:        # bad input: the message names the fix
        raise SystemExit(f"error: {err}") from None


def _dispatch(args) -> None:
    if args.command == "train":
        train_command(args)
    elif args.command == "submit":
        submit_command(args)
    elif args.command == "verify":
        report = verify_results(args.results, repair=args.repair, upgrade=args.upgrade,
                                retrain_epochs=args.retrain, sample=args.sample,
                                only=args.family, device=resolve_device(args.device),
                                data_root=args.data_root)
        print("\n".join(report.lines()))
        if report.mismatched or report.damaged and not args.repair:
            raise SystemExit(1)
    elif args.command == "list":
        print(pending_table(get_family(args.family), args.profile, args.results))
    elif args.command == "pack":
        count = pack(args.family, args.archive, args.results, args.max_checkpoint_mb)
        print(f"packed {count} entries into {args.archive}")
    else:
        print(f"unpacked {unpack(args.archive, args.results)} runs or checkpoints into {args.results}")


if __name__ == "__main__":
    main()
