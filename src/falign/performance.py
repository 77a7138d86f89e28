"""What a training step costs: each learning rule against plain autograd backprop, how the cost
grows with width and with the number of models trained at once, and what whole sweeps took.

Timing is interleaved: every round runs each candidate once, in a fresh random order, and a
candidate's ratio in that round is its time over the autograd baseline's time in the same round.
The reported ratio is the median over rounds, so a drift in machine load (another process, a
frequency change) that spans a round hits the numerator and the denominator alike.

`python scripts/benchmark.py --out results/benchmarks/<name>.json` stores one benchmark; the
book's performance chapter reads every stored file (`load_benchmarks`) and the wall times of the
stored runs (`sweep_wall_times`).
"""
from __future__ import annotations

import json
import random
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from .layers import after_optimizer_step, convert
from .models import lenet, two_layer_mlp
from .rules import RULES
from .stacked import StackedMLPs
from .store import device_description, library_versions

BASELINE = "bp-autograd"
GOAL = 1.05                 # the largest step-time ratio to backprop a rule may cost
ALL_RULES = list(RULES)
SCHEMA = 1


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def sgd_step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
             device: str) -> Callable[[], float]:
    """One timed training step (zero_grad, forward, backward, SGD with momentum, feedback
    update), as falign.training takes it; returns seconds."""
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def step() -> float:
        _sync(device)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
        after_optimizer_step(model)
        _sync(device)
        return time.perf_counter() - t0
    return step


def interleaved(steps: dict[str, Callable[[], float]], rounds: int, *, baseline: str = BASELINE,
                warmup: int = 2, seed: int = 0) -> pd.DataFrame:
    """Time every candidate once per round in a shuffled order; one row per candidate with the
    median time (ms) and the median over rounds of its time / the baseline's time that round."""
    if baseline not in steps:
        raise ValueError(f"the candidates {sorted(steps)} lack the baseline {baseline!r}")
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, not {rounds}")
    for step in steps.values():
        for _ in range(warmup):
            step()
    order = list(steps)
    shuffle = random.Random(seed).shuffle
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        shuffle(order)
        for name in order:
            times[name].append(steps[name]())
    base = times[baseline]
    rows = []
    for name, t in times.items():
        ratios = [a / b for a, b in zip(t, base)]
        q1, _, q3 = statistics.quantiles(ratios, n=4) if rounds > 1 else ratios * 3
        rows.append({"candidate": name, "median_ms": 1e3 * statistics.median(t),
                     "ratio": statistics.median(ratios), "ratio_q1": q1, "ratio_q3": q3,
                     "rounds": rounds, "times_ms": [round(1e3 * v, 4) for v in t]})
    return pd.DataFrame(rows)


def rule_candidates(build: Callable[[], torch.nn.Module], x: torch.Tensor, y: torch.Tensor,
                    rules: list[str], device: str) -> dict[str, Callable[[], float]]:
    """The autograd baseline (the unconverted model) and one converted copy per rule, all
    starting from the same weights."""
    steps = {BASELINE: sgd_step(build().to(device), x, y, device)}
    for rule in rules:
        model = convert(build(), rule, seed=0, example_input=x[:2].cpu()).to(device)
        steps[rule] = sgd_step(model, x, y, device)
    return steps


def _mnist_like(n: int, device: str, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 784, generator=gen).to(device),
            torch.randint(0, 10, (n,), generator=gen).to(device))


def bench_rules(device: str, rounds: int, rules: list[str] = ALL_RULES) -> pd.DataFrame:
    """Every rule on the noisy-MNIST MLP (full batch 4000 x 784, width 200) and on LeNet
    (batch 1024 of 3 x 32 x 32, the CIFAR-10 shape of Table 1)."""
    x, y = _mnist_like(4000, device)
    mlp = interleaved(rule_candidates(lambda: two_layer_mlp(784, 200, 10, seed=0), x, y, rules,
                                      device), rounds)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(1024, 3, 32, 32, generator=gen).to(device)
    y = torch.randint(0, 10, (1024,), generator=gen).to(device)
    net = interleaved(rule_candidates(lambda: lenet(num_classes=10), x, y, rules, device), rounds)
    return pd.concat([mlp.assign(section="rules", model="MLP 784-200-10, batch 4000"),
                      net.assign(section="rules", model="LeNet, batch 1024 of 32x32")])


def bench_resnet(device: str, rounds: int, rules: list[str] = ("fa", "signfa")) -> pd.DataFrame:
    """ResNet-18 (Table 2's network) on a batch of 128 Tiny-ImageNet-sized images."""
    from .models import resnet18
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(128, 3, 64, 64, generator=gen).to(device)
    y = torch.randint(0, 10, (128,), generator=gen).to(device)
    out = interleaved(rule_candidates(lambda: resnet18(num_classes=10), x, y, list(rules),
                                      device), rounds)
    return out.assign(section="rules", model="ResNet-18, batch 128 of 64x64")


def bench_width(device: str, rounds: int, widths=(25, 50, 100, 200, 400, 800, 1600),
                rules=("fa", "signfa")) -> pd.DataFrame:
    """Step time of the full-batch MLP against its hidden width, per rule."""
    x, y = _mnist_like(4000, device)
    parts = []
    for width in widths:
        steps = rule_candidates(lambda: two_layer_mlp(784, width, 10, seed=0), x, y,
                                list(rules), device)
        parts.append(interleaved(steps, rounds).assign(width=width))
    return pd.concat(parts).assign(section="width", model="MLP 784-width-10, batch 4000")


def bench_concurrency(device: str, rounds: int, counts=(1, 2, 4, 8, 16, 32, 64),
                      width: int = 200) -> pd.DataFrame:
    """Epoch time of K noisy-MNIST MLPs (rules fa, adafa, signfa, bp in turn) trained as one
    stacked computation (falign.stacked), against the same K trained one after another."""
    x, y = _mnist_like(4000, device)
    cycle = ["fa", "adafa", "signfa", "bp"]
    single = convert(two_layer_mlp(784, width, 10, seed=0), "fa", seed=0).to(device)
    one = sgd_step(single, x, y, device)
    rows = []
    for k in counts:
        nets = [convert(two_layer_mlp(784, width, 10, seed=i), cycle[i % 4], seed=i)
                for i in range(k)]
        stack = StackedMLPs(nets, torch.device(device))

        def stacked() -> float:
            _sync(device)
            t0 = time.perf_counter()
            with torch.no_grad():
                grads, _ = stack.gradients(x, y, "mean")
                stack.sgd_step(grads, 1e-3, 0.05, 0.0)
            _sync(device)
            return time.perf_counter() - t0

        # The baseline is one model's step: K models one by one cost K times it.
        table = interleaved({"one model": one, "stacked": stacked}, rounds, baseline="one model")
        row = table.set_index("candidate")
        rows.append({"candidate": "stacked", "models": k, "width": width,
                     "median_ms": row.loc["stacked", "median_ms"],
                     "one_model_ms": row.loc["one model", "median_ms"],
                     "ratio": row.loc["stacked", "ratio"] / k,
                     "rounds": rounds, "times_ms": row.loc["stacked", "times_ms"]})
    return pd.DataFrame(rows).assign(section="concurrency",
                                      model=f"MLP 784-{width}-10, batch 4000, K at once")


def run_benchmark(device: str, sections: list[str], rounds: int,
                  progress: Callable[[str], None] = print) -> dict:
    """Run the named sections and return the document `save_benchmark` stores."""
    known = {"rules": bench_rules, "resnet": bench_resnet, "width": bench_width,
             "concurrency": bench_concurrency}
    unknown = [s for s in sections if s not in known]
    if unknown:
        raise ValueError(f"unknown benchmark sections {unknown}; choose from {sorted(known)}")
    started = time.perf_counter()
    parts = []
    for section in sections:
        table = known[section](device, rounds)
        parts.append(table)
        progress(describe(table))
    cases = pd.concat(parts, ignore_index=True)
    return {"schema": SCHEMA,
            "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "device": device_description(device), "device_kind": device.split(":")[0],
            "threads": torch.get_num_threads(), "rounds": rounds, "sections": sections,
            "libraries": library_versions(), "wall_time_s": round(time.perf_counter() - started, 1),
            "cases": json.loads(cases.to_json(orient="records"))}


def describe(table: pd.DataFrame) -> str:
    """Lines for the terminal: median step time and ratio to the baseline per candidate."""
    lines = []
    for keys, part in table.groupby([c for c in ("model", "width", "models")
                                     if c in table and table[c].notna().all()], sort=False):
        title = " / ".join(str(k) for k in (keys if isinstance(keys, tuple) else (keys,)))
        cells = [f"{r.candidate} {r.median_ms:.1f} ms ({r.ratio:.3f})" for r in part.itertuples()]
        lines.append(f"{title}: " + "; ".join(cells))
    return "\n".join(lines)


def save_benchmark(document: dict, path: str | Path) -> Path:
    """Write atomically (temporary file, then rename) so a stored benchmark is never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(document, indent=1) + "\n")
    tmp.replace(path)
    return path


def load_benchmarks(folder: str | Path = "results/benchmarks") -> pd.DataFrame:
    """Every stored benchmark's cases, one row each, with the device and date of its file."""
    files = sorted(Path(folder).glob("*.json"))
    if not files:
        raise FileNotFoundError(
            f"no stored benchmark in {folder}; run `python scripts/benchmark.py --out "
            f"{folder}/<device>.json` (make bench) to create one")
    frames = []
    for f in files:
        doc = json.loads(f.read_text())
        if doc.get("schema") != SCHEMA:
            raise ValueError(f"{f} has benchmark schema {doc.get('schema')!r}, this code reads "
                             f"{SCHEMA}; re-run scripts/benchmark.py to replace it")
        frames.append(pd.DataFrame(doc["cases"]).assign(
            file=f.name, device=doc["device"], device_kind=doc["device_kind"],
            created_utc=doc["created_utc"], threads=doc["threads"],
            torch=doc["libraries"].get("torch")))
    return pd.concat(frames, ignore_index=True)


def sweep_wall_times(results: str | Path = "results") -> pd.DataFrame:
    """Per stored experiment (a folder of runs) and device: runs stored, their summed and median
    wall time, and how many were trained stacked; read from each run's provenance."""
    rows = []
    for store in sorted(p for p in Path(results).iterdir()
                        if p.is_dir() and not p.name.startswith((".", "_"))):
        for run in store.iterdir():
            record = run / "run.json"
            if not record.is_file():
                continue
            prov = json.loads(record.read_text()).get("provenance", {})
            memory = prov.get("memory") or {}
            rows.append({"store": store.name, "device": prov.get("device", "unknown"),
                         "wall_time_s": float(prov.get("wall_time_s", float("nan"))),
                         "stacked": int(prov.get("stacked_with", 1) or 1) > 1,
                         "peak_rss_mib": memory.get("peak_rss_mib"),
                         "peak_gpu_mib": memory.get("peak_gpu_mib")})
    table = pd.DataFrame(rows, columns=["store", "device", "wall_time_s", "stacked",
                                        "peak_rss_mib", "peak_gpu_mib"])
    table[["peak_rss_mib", "peak_gpu_mib"]] = table[["peak_rss_mib", "peak_gpu_mib"]].astype(float)
    summary = (table.groupby(["store", "device"], as_index=False)
               .agg(runs=("wall_time_s", "size"),
                    total_h=("wall_time_s", lambda s: s.sum() / 3600),
                    median_run_s=("wall_time_s", "median"), stacked_runs=("stacked", "sum"),
                    memory_recorded=("peak_rss_mib", "count"),
                    max_peak_rss_mib=("peak_rss_mib", "max"),
                    max_peak_gpu_mib=("peak_gpu_mib", "max")))
    # Runs stored before memory was measured: "not recorded", never a number.
    for column in ("max_peak_rss_mib", "max_peak_gpu_mib"):
        summary[column] = summary[column].map(lambda v: "not recorded" if pd.isna(v)
                                              else f"{v:.0f}")
    return summary
