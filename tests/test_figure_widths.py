"""Panel grids read on a phone: Figures 2-3's ten width panels, shrunk to the 353-px text column
of a page at 400 px, keep tick labels of at least 8 CSS points, and no tick or axis labels
overlap; the two measurements can fail (the old four-column grid, overlapping minor labels)."""
import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from falign import plots  # noqa: E402
from falign.families.noisy_mnist import PAPER_WIDTHS  # noqa: E402


@pytest.fixture(scope="module")
def sweep_table():
    """Figure 2's shape: ten widths, four rules, two repeats, 6000 epochs every 100; GD's
    potential drifts by half, the FA family's by about 1e-3 / width."""
    plots.set_style()
    rng = np.random.default_rng(0)
    epochs = np.arange(0, 6001, 100)
    parts = []
    for width in PAPER_WIDTHS:
        for rule in ("bp", "fa", "adafa", "signfa"):
            for repeat in range(2):
                drift = (0.5 if rule == "bp" else 1e-3 / width) * epochs / 6000
                parts.append(pd.DataFrame({
                    "width": width, "rule": rule, "run_key": f"{width}-{rule}-{repeat}",
                    "epoch": epochs, "ratio": 1 + drift + rng.normal(0, 1e-4, epochs.size)}))
    table = pd.concat(parts, ignore_index=True)
    yield table
    plt.close("all")


def test_ten_width_panels_stay_readable_at_400_px(sweep_table):
    grid = plots.width_panels(sweep_table, "ratio", "P(t) / P(0)  (unitless)", reference=1.0)
    assert len(grid.axes.flat) == len(PAPER_WIDTHS)
    assert plots.tick_label_pt(grid.figure) >= plots.MIN_TICK_PT
    assert plots.overlapping_tick_labels(grid.figure) == []


def test_the_log_deviation_panels_stay_readable_at_400_px(sweep_table):
    fa = sweep_table[(sweep_table.rule != "bp") & (sweep_table.epoch > 0)]
    fa = fa.assign(dev=(fa.ratio - 1).abs().clip(lower=1e-7))
    grid = plots.width_panels(fa, "dev", "|P(t)/P(0) - 1|  (unitless)", logy=True)
    assert plots.tick_label_pt(grid.figure) >= plots.MIN_TICK_PT
    assert plots.overlapping_tick_labels(grid.figure) == []


def test_four_columns_of_panels_shrink_the_labels_below_the_floor(sweep_table):
    grid = plots.over_epochs(sweep_table, "ratio", "P(t) / P(0)  (unitless)", col_wrap=4)
    assert plots.tick_label_pt(grid.figure) < plots.MIN_TICK_PT


def test_a_figure_narrower_than_the_column_keeps_its_size():
    fig, ax = plt.subplots(figsize=(2.0, 1.5))
    ax.plot([0, 1], [0, 1])
    ax.tick_params(labelsize=10)
    # not shrunk: 10 pt at FIGURE_DPI px per inch, in CSS points (96 px per inch)
    assert plots.tick_label_pt(fig) == pytest.approx(10 * plots.FIGURE_DPI / 96)
    plt.close(fig)


def test_overlapping_labels_are_found():
    from matplotlib.ticker import LogFormatter
    fig, ax = plt.subplots(figsize=(1.2, 1.0))
    ax.set_xscale("log")
    ax.set_xlim(20, 300)
    ax.xaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False))   # every minor tick named
    assert plots.overlapping_tick_labels(fig)
    plt.close(fig)


def test_a_figure_without_labelled_ticks_is_refused():
    fig, ax = plt.subplots()
    ax.set_xticks([])
    ax.set_yticks([])
    with pytest.raises(ValueError, match="no labelled ticks"):
        plots.tick_label_pt(fig)
    plt.close(fig)
