"""The Tiny-ImageNet data path against the training step it feeds, at 64 and 224 px:
images/s of a whole ResNet-18 training step (batch transform + forward + backward + SGD) and
the share of it spent in the transform (uint8 -> random resized crop + flip -> normalised
float), measured interleaved in one run.

    python scripts/data_path_benchmark.py [--device cuda] [--batch 64] [--rounds 5] [--threads 2]

Peak resident memory per batch size is printed too, for sizing CPU runs at 224 px.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import time

import torch
import torch.nn.functional as F

import falign
from falign.families.image_classification import CONSTANTS, ImageTransform
from falign.models import resnet18


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--rules", nargs="+", default=["bp", "fa"])
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = args.device
    gen = torch.Generator().manual_seed(0)
    x8 = torch.randint(0, 256, (args.batch, 3, 64, 64), dtype=torch.uint8, generator=gen).to(dev)
    y = torch.randint(0, 10, (args.batch,), generator=gen).to(dev)
    mean, std = CONSTANTS["imagenet_constants"]
    print(f"device {dev}, batch {args.batch}, threads {torch.get_num_threads()}, torch {torch.__version__}")
    for resolution in (64, 224):
        transform = ImageTransform(mean, std, "resized_crop_flip", dev, resolution=resolution)
        models = {r: (falign.convert(resnet18(num_classes=10), r) if r != "bp" else resnet18(num_classes=10))
                  .to(dev).to(memory_format=torch.channels_last) for r in args.rules}
        opts = {r: torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9) for r, m in models.items()}
        times = {"transform": [], **{r: [] for r in models}}
        for k in range(args.rounds + 1):             # round 0 warms up and is dropped
            sync(dev)
            t0 = time.perf_counter()
            xb = transform(x8, True, gen)
            sync(dev)
            if k:
                times["transform"].append(time.perf_counter() - t0)
            for rule, model in models.items():
                sync(dev)
                t0 = time.perf_counter()
                loss = F.cross_entropy(model(transform(x8, True, gen)), y)
                opts[rule].zero_grad(set_to_none=True)
                loss.backward()
                opts[rule].step()
                sync(dev)
                if k:
                    times[rule].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) for k, v in times.items()}
        peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        for rule in models:
            print(f"{resolution:>3} px  {rule:>6}: {args.batch / med[rule]:8.1f} images/s per step "
                  f"(median {med[rule]:.3f} s), transform {100 * med['transform'] / med[rule]:.1f}% "
                  f"of the step, ratio to bp {med[rule] / med['bp']:.3f}" if "bp" in med else "")
        print(f"{resolution:>3} px  peak resident memory so far: {peak_gb:.2f} GB")
        del models, opts, xb


if __name__ == "__main__":
    main()
