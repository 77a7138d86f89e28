"""The book's colours stay apart for readers with colour-vision deficiencies: the four rules of
the paper (and the scoreboard's statuses) differ pairwise by at least 10 units of CAM02-UCS
colour difference under normal vision and under simulated deuteranomaly, protanomaly and
tritanomaly at full severity (Machado et al. 2009, via colorspacious)."""
import itertools

import numpy as np
import pytest
from colorspacious import cspace_convert, deltaE

from falign.plots import RULE_COLORS, STATUS_COLORS

MIN_DELTA_E = 10.0
VISION = [None, "deuteranomaly", "protanomaly", "tritanomaly"]


def as_seen(hex_colour: str, cvd: str | None) -> np.ndarray:
    rgb = np.array([int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    if cvd is None:
        return rgb
    space = {"name": "sRGB1+CVD", "cvd_type": cvd, "severity": 100}
    return np.clip(cspace_convert(rgb, space, "sRGB1"), 0, 1)


@pytest.mark.parametrize("cvd", VISION)
@pytest.mark.parametrize("palette", [{r: RULE_COLORS[r] for r in ("bp", "fa", "adafa", "signfa")},
                                     STATUS_COLORS], ids=["paper rules", "statuses"])
def test_colours_stay_distinguishable(palette, cvd):
    seen = {k: as_seen(v, cvd) for k, v in palette.items()}
    for a, b in itertools.combinations(seen, 2):
        d = deltaE(seen[a], seen[b], input_space="sRGB1")
        assert d >= MIN_DELTA_E, f"{a} and {b} differ by only {d:.1f} under {cvd or 'normal vision'}"


def test_a_red_green_pair_would_fail():
    # the check can fail: pure red and a green of the same lightness merge under deuteranomaly
    red, green = as_seen("#d62728", "deuteranomaly"), as_seen("#2ca02c", "deuteranomaly")
    assert deltaE(red, green, input_space="sRGB1") < MIN_DELTA_E
