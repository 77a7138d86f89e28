"""Step-time benchmark: each rule's training step against plain autograd backprop, measured
interleaved in one run, and stacked many-model training against one-by-one training.

    python scripts/benchmark.py [--device cuda] [--rounds 7] [--skip-resnet]

Prints one line per case with the median step times and the ratio FA/BP (goal: <= 1.05).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

import falign
from falign.models import lenet, resnet18, two_layer_mlp
from falign.stacked import StackedMLPs


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def step_fn(model, x, y, device):
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def step() -> float:
        sync(device)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
        falign.after_optimizer_step(model)
        sync(device)
        return time.perf_counter() - t0
    return step


def interleaved(steps: dict, rounds: int) -> dict:
    """Alternate the candidates each round so drifts in machine load hit all of them alike."""
    for step in steps.values():                      # warm-up
        step(), step()
    times = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            times[name].append(step())
    return {name: statistics.median(t) for name, t in times.items()}


def compare(title: str, build, x, y, rules, device: str, rounds: int) -> None:
    steps = {"bp-autograd": step_fn(build().to(device), x, y, device)}
    for rule in rules:
        model = falign.convert(build(), rule, seed=0, example_input=x[:2].cpu()).to(device)
        steps[rule] = step_fn(model, x, y, device)
    med = interleaved(steps, rounds)
    base = med["bp-autograd"]
    parts = [f"{name} {1e3 * t:.1f} ms ({t / base:.3f})" for name, t in med.items()]
    print(f"{title}: " + "; ".join(parts), flush=True)


def stacked_vs_one_by_one(device: str, rounds: int, width: int = 200, models: int = 24) -> None:
    """The noisy-MNIST sweep's unit: rules x repeats of one width, full batch 4000 x 784."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4000, 784, generator=gen).to(device)
    y = torch.randint(0, 10, (4000,), generator=gen).to(device)
    rules = ["fa", "adafa", "signfa", "bp"]
    nets = [falign.convert(two_layer_mlp(784, width, 10, seed=i), rules[i % 4], seed=i).to(device)
            for i in range(models)]
    stack = StackedMLPs(nets, torch.device(device))
    singles = [step_fn(n, x, y, device) for n in nets]

    def stacked_step() -> float:
        sync(device)
        t0 = time.perf_counter()
        with torch.no_grad():
            grads, _ = stack.gradients(x, y, "mean")
            stack.sgd_step(grads, 1e-3, 0.05, 0.0)
        sync(device)
        return time.perf_counter() - t0

    med = interleaved({"stacked": stacked_step,
                       "one-by-one": lambda: sum(s() for s in singles)}, rounds)
    print(f"noisy-MNIST sweep unit ({models} MLPs of width {width}, one epoch): stacked "
          f"{1e3 * med['stacked']:.0f} ms, one by one {1e3 * med['one-by-one']:.0f} ms "
          f"(stacked/one-by-one {med['stacked'] / med['one-by-one']:.3f})", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--skip-resnet", action="store_true")
    args = ap.parse_args()
    dev, r = args.device, args.rounds
    print(f"device {dev}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"median of {r} interleaved rounds; ratio = time / bp-autograd", flush=True)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4000, 784, generator=gen).to(dev)
    y = torch.randint(0, 10, (4000,), generator=gen).to(dev)
    compare("two-layer MLP, full batch 4000x784, width 200",
            lambda: two_layer_mlp(784, 200, 10), x, y, ["bp", "fa", "signfa", "brsf", "dfa"], dev, r)
    x = torch.randn(1024, 3, 32, 32, generator=gen).to(dev)
    y = torch.randint(0, 10, (1024,), generator=gen).to(dev)
    compare("LeNet, batch 1024 of 32x32", lambda: lenet(num_classes=10), x, y,
            ["fa", "signfa", "dfa"], dev, r)
    if not args.skip_resnet:
        x = torch.randn(128, 3, 64, 64, generator=gen).to(dev)
        y = torch.randint(0, 10, (128,), generator=gen).to(dev)
        compare("ResNet-18, batch 128 of 64x64", lambda: resnet18(num_classes=10), x, y,
                ["fa", "signfa"], dev, max(3, r // 2))
    stacked_vs_one_by_one(dev, max(3, r // 2))


if __name__ == "__main__":
    main()
