"""The book's rules stay apart for every reader.  Colours: all eight rules (and, separately, the
scoreboard's statuses) differ pairwise by at least 10 units of CAM02-UCS colour difference under
normal vision and under simulated deuteranomaly, protanomaly and tritanomaly at full severity
(Machado et al. 2009, via colorspacious).  Beyond colour: every rule has its own line style and
marker (plots.rule_style), and every plotting helper draws each rule with its marker, so a
legend entry is told apart by shape as well as hue."""
import itertools

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from colorspacious import cspace_convert, deltaE  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.markers import MarkerStyle  # noqa: E402

from falign import plots  # noqa: E402
from falign.plots import RULE_COLORS, RULE_MARKERS, STATUS_COLORS  # noqa: E402

MIN_DELTA_E = 10.0
VISION = [None, "deuteranomaly", "protanomaly", "tritanomaly"]
ALL_RULES = list(RULE_COLORS)


def as_seen(hex_colour: str, cvd: str | None) -> np.ndarray:
    rgb = np.array([int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    if cvd is None:
        return rgb
    space = {"name": "sRGB1+CVD", "cvd_type": cvd, "severity": 100}
    return np.clip(cspace_convert(rgb, space, "sRGB1"), 0, 1)


@pytest.mark.parametrize("cvd", VISION)
@pytest.mark.parametrize("palette", [dict(RULE_COLORS), STATUS_COLORS],
                         ids=["all eight rules", "statuses"])
def test_colours_stay_distinguishable(palette, cvd):
    seen = {k: as_seen(v, cvd) for k, v in palette.items()}
    for a, b in itertools.combinations(seen, 2):
        d = deltaE(seen[a], seen[b], input_space="sRGB1")
        assert d >= MIN_DELTA_E, f"{a} and {b} differ by only {d:.1f} under {cvd or 'normal vision'}"


def test_a_red_green_pair_would_fail():
    # the check can fail: pure red and a green of the same lightness merge under deuteranomaly
    red, green = as_seen("#d62728", "deuteranomaly"), as_seen("#2ca02c", "deuteranomaly")
    assert deltaE(red, green, input_space="sRGB1") < MIN_DELTA_E


def test_every_rule_has_its_own_colour_line_style_and_marker():
    styles = {r: plots.rule_style(r) for r in ALL_RULES}
    for key in ("color", "linestyle", "marker"):
        values = [repr(s[key]) for s in styles.values()]
        assert len(set(values)) == len(ALL_RULES), f"two rules share a {key}: {values}"
    # each style is one matplotlib accepts
    fig, ax = plt.subplots()
    for r in ALL_RULES:
        ax.plot([0, 1], [0, 1], **plots.rule_style(r))
    plt.close(fig)
    # and no status of the scoreboard borrows a rule's colour
    assert not set(STATUS_COLORS.values()) & set(RULE_COLORS.values())


def test_rule_style_names_the_cause_of_an_unknown_rule():
    with pytest.raises(ValueError, match="unknown rule 'sgd'.*falign.rules.RULES"):
        plots.rule_style("sgd")


# ------------------------------------------------------- every helper draws a rule's marker
def _curves() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for rule in ALL_RULES:
        for width in (15, 60):
            for repeat in range(2):
                for epoch in range(0, 30, 3):
                    rows.append({"rule": rule, "width": width, "epoch": epoch, "n_classes": 10,
                                 "reading": "literal", "run_key": f"{rule}-{width}-{repeat}",
                                 "y": rng.uniform(0.1, 1), "train_acc": rng.uniform(),
                                 "test_acc": rng.uniform(), "cos_wb_a": rng.uniform(),
                                 "cos_wb_b": rng.uniform(),
                                 "neuron_deviation_weights_1": rng.uniform(0.1, 1)})
    return pd.DataFrame(rows)


def _summary(table, by):
    return table.groupby(["rule", by]).y.agg(mean="mean", se="sem").reset_index()


HELPERS = {
    "over_epochs": lambda t: plots.over_epochs(t, "y", "y (unitless)", logy=True),
    "layer_alignment": lambda t: plots.layer_alignment(t, ["a", "b"], 10),
    "accuracy_curves": lambda t: plots.accuracy_curves(t),
    "against_width": lambda t: plots.against_width(t, {"y": "y (unitless)"}),
    "deviation_vs_width": lambda t: plots.deviation_vs_width(_summary(t, "width"),
                                                             _summary(t, "width")),
    "deviation_vs_conditioning": lambda t: plots.deviation_vs_conditioning(
        t.assign(min_abs_p0=t.y, deviation=t.test_acc + 0.1)),
    "readings_deviation": lambda t: plots.readings_deviation(t),
    "accuracy_vs_classes": lambda t: plots.accuracy_vs_classes(_summary(t, "n_classes"),
                                                               _summary(t, "n_classes")),
    "alignment_by_depth": lambda t: plots.alignment_by_depth(t, ["a", "b"]),
    "cost_vs_width": lambda t: plots.cost_vs_width(
        t[t.epoch == 0].rename(columns={"rule": "candidate", "y": "median_ms"})
        .groupby(["candidate", "width"], as_index=False).median_ms.mean()),
}


def _marker_vertices(marker: str) -> np.ndarray:
    style = MarkerStyle(marker)
    return style.get_path().transformed(style.get_transform()).vertices


@pytest.mark.parametrize("helper", sorted(HELPERS))
def test_every_helper_marks_each_rule_with_its_own_marker(helper):
    drawn = HELPERS[helper](_curves())
    fig = getattr(drawn, "figure", drawn)
    hex_of = {mcolors.to_hex(c): r for r, c in RULE_COLORS.items()}
    seen: dict[str, set] = {r: set() for r in ALL_RULES}
    for artist in fig.findobj(Line2D):
        colour, marker = mcolors.to_hex(artist.get_color()), artist.get_marker()
        # error-bar caps are markers too ("_" or "|"); they are no rule's shape
        if colour in hex_of and marker not in (None, "None", "none", "", " ", "_", "|"):
            seen[hex_of[colour]].add(marker)
    for artist in fig.findobj(PathCollection):          # scatter points: paths, no marker name
        colours = {mcolors.to_hex(c) for c in artist.get_facecolor()}
        if len(colours) != 1 or (colour := colours.pop()) not in hex_of or not artist.get_paths():
            continue
        shape = artist.get_paths()[0].vertices
        named = [m for m in RULE_MARKERS.values() if _marker_vertices(m).shape == shape.shape
                 and np.allclose(_marker_vertices(m), shape)]
        seen[hex_of[colour]].add(named[0] if named else "an unnamed shape")
    plt.close(fig)
    for rule in ALL_RULES:
        assert seen[rule], f"{helper}: {rule} is drawn without a marker, by colour alone"
        assert seen[rule] == {RULE_MARKERS[rule]}, \
            f"{helper}: {rule} drawn with markers {seen[rule]}, not its own {RULE_MARKERS[rule]!r}"
