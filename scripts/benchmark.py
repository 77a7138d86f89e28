"""Step-time benchmark: every learning rule's training step against plain autograd backprop,
timed interleaved in one run (falign.performance), plus how the cost grows with width and with
the number of models trained at once.

    python scripts/benchmark.py [--device cuda] [--rounds 15] [--sections rules width ...]
                                [--out results/benchmarks/<name>.json]

Prints one line per model with each candidate's median step time and its ratio to
bp-autograd (the median over rounds of the per-round ratio; goal: <= 1.05).  --out stores the
whole measurement for the book's performance chapter.  Run it on a quiet machine: pause
background training first (kill -STOP <pid>, then kill -CONT <pid>).
"""
from __future__ import annotations

import argparse

import torch

from falign.performance import run_benchmark, save_benchmark

SECTIONS = ["rules", "width", "concurrency", "resnet"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
    ap.add_argument("--sections", nargs="+", default=["rules"], choices=SECTIONS,
                    help="what to measure (default: rules); all four take ~10 min on 2 cores")
    ap.add_argument("--out", help="store the measurement as JSON here (atomically)")
    args = ap.parse_args()
    print(f"device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"median of {args.rounds} interleaved rounds; ratio = time / bp-autograd", flush=True)
    doc = run_benchmark(args.device, args.sections, args.rounds,
                        progress=lambda text: print(text, flush=True))
    print(f"wall time {doc['wall_time_s']:.0f} s")
    if args.out:
        print(f"stored in {save_benchmark(doc, args.out)}")


if __name__ == "__main__":
    main()
