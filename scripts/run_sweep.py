"""Train the noisy-MNIST sweep of a profile into <results>/noisy_mnist_<profile> (resumable:
finished runs are skipped).  The chapters read the same store."""
import argparse

from falign.chapters import noisy_mnist_results, resolve_device
from falign.experiments import PROFILES

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--profile", default="paper", choices=sorted(PROFILES))
parser.add_argument("--results", default="results")
parser.add_argument("--device", default="auto")
args = parser.parse_args()
sweep = noisy_mnist_results(args.profile, args.results, resolve_device(args.device),
                            train_missing=True)
print(sweep.status())
