"""Train the noisy-MNIST readings ablation into <results>/noisy_mnist_readings (resumable):
every reading of falign.families.noisy_mnist.READINGS at the ablation's scale, as the
background queue does with `python -m falign.runs train noisy_mnist_readings:<profile>`.

Equivalent to executing chapters/readings_ablation with train_missing=True."""
import argparse

from falign.families import noisy_mnist_readings
from falign.runs import resolve_device
from falign.store import ResultStore
from falign.sweep import run_sweep

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--results", default="results")
parser.add_argument("--device", default="auto")
parser.add_argument("--profile", default="paper", choices=sorted(noisy_mnist_readings.PROFILES))
args = parser.parse_args()

store = ResultStore(args.results, noisy_mnist_readings.store_name(args.profile))
report = run_sweep(noisy_mnist_readings, noisy_mnist_readings.PROFILES[args.profile], store,
                   device=resolve_device(args.device))
print(report.summary())
diverged = noisy_mnist_readings.diverged_runs(store)
print(f"{len(diverged)} stored run(s) diverged" + "".join(f"\n  {k}: epoch {e}"
                                                          for k, e in sorted(diverged.items())))
