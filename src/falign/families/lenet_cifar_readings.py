"""The LeNet protocol under other readings, at n = 10 and the paper's schedule (Table 1's
chapter): a fresh class subset per repeat instead of one fixed subset, and flip-and-crop
augmentation instead of none.  Its runs live in the LeNet store, so the unchanged protocol's
runs are the Table 1 runs themselves, never trained twice."""
from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from . import image_classification, lenet_cifar
# group_key and train_group are the LeNet family's own: the runs are LeNet runs.
from .lenet_cifar import PAPER, LeNetProtocol, group_key, train_group  # noqa: F401

NAME = "lenet_cifar_readings"
CELL = ("class_subsets", "augmentation", "rule")

# Each reading changes the named fields of the paper protocol and nothing else.
READINGS = {
    "paper protocol": {},
    "fresh class subset per repeat": dict(class_subsets="per_repeat"),
    "flip-and-crop augmentation": dict(augmentation="flip_crop"),
}


@dataclass(frozen=True)
class ReadingsAblation:
    """Every reading of READINGS applied to `base` (at its n and repeats)."""
    base: LeNetProtocol = replace(PAPER, n_classes=(10,))
    repeats: int = 6

    def protocols(self) -> dict[str, LeNetProtocol]:
        return {name: replace(self.base, repeats=self.repeats, **change)
                for name, change in READINGS.items()}


PROFILES = {
    "paper": ReadingsAblation(),                 # all six repeats: a GPU job
    "quick": ReadingsAblation(repeats=1),        # one repeat per reading: about 4 CPU-hours
    "smoke": ReadingsAblation(base=lenet_cifar.PROFILES["smoke"], repeats=1),
}


def store_name(profile: str) -> str:
    return lenet_cifar.store_name(profile)


def run_specs(ablation: ReadingsAblation) -> list[dict]:
    """Repeat-major over readings, so one repeat of every reading comes first."""
    per_reading = [lenet_cifar.run_specs(p) for p in ablation.protocols().values()]
    return sorted((s for specs in per_reading for s in specs), key=lambda s: s["repeat"])


def reading_of(spec: dict) -> str:
    """The name of the reading a stored run belongs to."""
    return image_classification.reading_of(spec, READINGS, PAPER)


def readings_table(acc: pd.DataFrame) -> pd.DataFrame:
    """One row per reading, one column per rule: 'mean ± se (k/K)', or 'pending (0/K)'."""
    return image_classification.readings_table(acc, READINGS, PAPER)
