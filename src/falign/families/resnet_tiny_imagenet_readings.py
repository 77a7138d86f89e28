"""Table 2 under the readings its text leaves open, at n = 10 and the paper's schedule: the
native 64-px images with no augmentation (Table 2's runs), the same with the package's random
resized crops and flips, and the package's own loader for ImageNet-style folders (224 px,
random resized crops and flips, ImageNet's channel constants; tested on the central 224/256).
GD first in every reading, then sign-FA (../shared/specs/tables-1-2.md, the package-readings
issue).  The runs live in the Tiny-ImageNet store, so the unchanged reading's runs are Table 2's
runs themselves, never trained twice."""
from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from .. import analysis
from . import image_classification, resnet_tiny_imagenet
# group_key and train_group are the ResNet family's own: the runs are ResNet runs.
from .resnet_tiny_imagenet import PAPER, ResNetProtocol, group_key, train_group  # noqa: F401

NAME = "resnet_tiny_imagenet_readings"
CELL = ("resolution", "augmentation", "normalization", "rule")
RULES = ("bp", "signfa")          # GD decides the reading; sign-FA follows it

# Each reading changes the named fields of the paper protocol and nothing else.
READINGS = {
    "(a) 64 px, no augmentation (Table 2's runs)": {},
    "(b) 64 px, random resized crops and flips":
        dict(augmentation="resized_crop_flip"),
    "(c) the package's loader: 224 px, random resized crops and flips, ImageNet constants":
        dict(resolution=224, augmentation="resized_crop_flip", normalization="imagenet_constants"),
}


@dataclass(frozen=True)
class ReadingsAblation:
    """Every reading of READINGS applied to `base` (at its n), for `rules`, `repeats` each."""
    base: ResNetProtocol = replace(PAPER, n_classes=(10,))
    rules: tuple[str, ...] = RULES
    repeats: int = 4

    def protocols(self) -> dict[str, ResNetProtocol]:
        return {name: replace(self.base, rules=self.rules, repeats=self.repeats, **change)
                for name, change in READINGS.items()}


PROFILES = {
    "paper": ReadingsAblation(),                 # all four repeats: a GPU job
    # One repeat per cell at the paper's schedule: (a) and (b) cost ~45 min a run on one CPU
    # core; (c) ~12x that, across sessions through its checkpoints.
    "quick": ReadingsAblation(repeats=1),
    # Seconds: the smoke size (32 px) for (a) and (b); (c) at its 224 px on 12 images, 1 epoch.
    "smoke": ReadingsAblation(base=replace(resnet_tiny_imagenet.PROFILES["smoke"], epochs=1,
                                           train_per_class=4, test_per_class=2), repeats=1),
}


def store_name(profile: str) -> str:
    return resnet_tiny_imagenet.store_name(profile)


def run_specs(ablation: ReadingsAblation) -> list[dict]:
    """Repeat-major, then rule (GD first), then reading: GD under every reading comes before
    any sign-FA run, and one repeat of everything before a second."""
    specs = [s for p in ablation.protocols().values() for s in resnet_tiny_imagenet.run_specs(p)]
    rank = {r: k for k, r in enumerate(ablation.rules)}
    return sorted(specs, key=lambda s: (s["repeat"], rank[s["rule"]]))


def reading_of(spec: dict, base: ResNetProtocol = PAPER) -> str:
    """The name of the reading a stored run (of an ablation of `base`) belongs to."""
    return image_classification.reading_of(spec, READINGS, base)


def describe(ablation: ReadingsAblation) -> dict:
    return {**resnet_tiny_imagenet.describe(ablation.base), "readings": "; ".join(READINGS)}


def readings_table(acc: pd.DataFrame, base: ResNetProtocol = PAPER,
                   paper: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per reading of an ablation of `base`, one column per rule ('mean ± se (k/K)' or
    'pending (0/K)'), and the paper's n = 10 values (paper_values.table2()) as the last row."""
    ref = None
    if paper is not None:
        p = paper[paper.n_classes == 10].set_index("rule")
        ref = {r: f"{p.at[r, 'mean']:.1f} ± {p.at[r, 'se']:.1f}" for r in p.index}
    return image_classification.readings_table(acc, READINGS, base, rules=RULES, paper=ref)


# Agreement with a printed cell: within two standard errors of the difference.
matches = analysis.agrees


def decision(acc: pd.DataFrame, paper: pd.DataFrame, base: ResNetProtocol = PAPER) -> list[str]:
    """The package-readings decision from the numbers: which reading's GD (then sign-FA)
    agrees with the paper's n = 10 column (matches()), and what follows for Table 2's
    `paper` profile.  One sentence per finding; a reading without a finished run says so."""
    ref = paper[paper.n_classes == 10].set_index("rule")
    cells = {}
    for r in acc.to_dict("records"):
        if r["mean"] == r["mean"]:
            cells[(reading_of(r, base), r["rule"])] = (r["mean"], r["se"], int(r["stored"]))
    out, agree = [], {}
    for name in READINGS:
        for rule in RULES:
            label = "GD" if rule == "bp" else "sign-FA"
            p_mean, p_se = ref.at[rule, "mean"], ref.at[rule, "se"]
            if (name, rule) not in cells:
                if rule == "bp":
                    out.append(f"{name}: {label} not trained yet.")
                continue
            mean, se, k = cells[name, rule]
            ok = matches(mean, se, p_mean, p_se)
            agree[name, rule] = ok
            out.append(f"{name}: {label} {mean:.1f}% ({k} run{'s' if k > 1 else ''}) against the "
                       f"paper's {p_mean:.1f} ± {p_se:.1f}%, {mean - p_mean:+.1f} points: "
                       + ("agrees." if ok else "differs."))
    package = list(READINGS)[2]
    gd = {name: agree.get((name, "bp")) for name in READINGS}
    if gd[package] is None:
        out.append("Decision: pending. The package's 224-px reading has no finished GD run, so "
                   "Table 2 stays at the 64-px reading (a) for now.")
    elif gd[package] and not any(v for n, v in gd.items() if n != package):
        out.append("Decision: the package's 224-px reading is the only one whose GD agrees with "
                   "the paper; it becomes the reading of Table 2's paper profile.")
    elif not any(v for v in gd.values() if v is not None):
        out.append("Decision: no reading's GD agrees with the paper's n = 10 column; Table 2 "
                   "keeps the 64-px reading (a) and says so beside its numbers.")
    else:
        fits = [n for n, v in gd.items() if v]
        out.append("Decision: open. GD agrees with the paper under " + " and ".join(fits)
                   + "; the sign-FA runs under those readings decide between them.")
    return out
