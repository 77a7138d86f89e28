"""Train the noisy-MNIST readings ablation into <results>/noisy_mnist_readings (resumable).

Equivalent to executing chapters/readings_ablation with train_missing=True."""
import argparse
import json

from falign.families.noisy_mnist import READING_PROFILES, run_readings, with_reading
from falign.runs import resolve_device
from falign.store import ResultStore

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--results", default="results")
parser.add_argument("--device", default="auto")
parser.add_argument("--profile", default="paper", choices=sorted(READING_PROFILES))
parser.add_argument("--repeats", type=int, default=None, help="override the profile's repeats")
args = parser.parse_args()

base = READING_PROFILES[args.profile]
if args.repeats is not None:
    base = with_reading(base, repeats=args.repeats)
store = ResultStore(args.results, "noisy_mnist_readings")
print(json.dumps(run_readings(store, base, device=resolve_device(args.device)), indent=1))
