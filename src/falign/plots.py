"""Figures of the book: one colour, one line style and one marker per learning rule everywhere
(so a legend never relies on colour alone), seaborn styling, axes labelled with units, PNGs at
twice the display density."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .rules import RULES

# Fixed per rule so every chapter agrees.  The paper's four rules keep the Okabe-Ito hues the
# book has always used (grey GD, blue FA, green adaFA, vermillion sign-FA); the other four were
# chosen by a search over a 9 x 9 x 9 sRGB grid (lightness 25-72 in CAM02-UCS, readable on
# white) for the largest smallest pairwise difference under normal vision and three simulated
# colour-vision deficiencies (full severity): each of the four differs from every other rule by
# at least 14.1 CAM02-UCS units under all four kinds of vision, the closest pair of all eight
# being the old FA/adaFA pair at 11.4 (tests/test_palette.py checks 10 for every pair).  DFA's
# maroon and mDFA's lavender replace an orange that sat near sign-FA's vermillion and a sky blue
# that sat near FA's blue.
RULE_COLORS = {
    "bp": "#4d4d4d", "fa": "#0173b2", "adafa": "#029e73", "signfa": "#d55e00",
    "frsf": "#2020df", "brsf": "#602060", "dfa": "#800000", "mdfa": "#9f80ff",
}
RULE_LABELS = {
    "bp": "BP (GD)", "fa": "FA", "adafa": "adaFA", "signfa": "sign-FA (uSF)",
    "frsf": "frSF", "brsf": "brSF", "dfa": "DFA", "mdfa": "mDFA",
}
# Dash patterns (seaborn's form: "" is solid, else on/off lengths in line widths) and markers,
# one of each per rule, all different, so a greyscale print or a reader who cannot tell two
# hues apart still tells the lines apart.
RULE_DASHES = {
    "bp": "", "fa": (4, 1.5), "adafa": (1, 1), "signfa": (6, 1.5, 1, 1.5),
    "frsf": (2, 1, 2, 3), "brsf": (8, 2), "dfa": (3, 1, 1, 1, 1, 1), "mdfa": (1, 2.5),
}
RULE_MARKERS = {
    "bp": "o", "fa": "s", "adafa": "^", "signfa": "D",
    "frsf": "v", "brsf": "P", "dfa": "X", "mdfa": "*",
}
assert set(RULE_COLORS) == set(RULES) == set(RULE_LABELS) == set(RULE_DASHES) == set(RULE_MARKERS)

# Figures are stored as PNG (SVG text carries ids and coordinates that vary between renders,
# which nbval would compare) at twice the pixels of their displayed size: the notebook output
# carries the display width, so a phone's or a zoomed desktop's 2x screen stays sharp.
FIGURE_DPI = 110            # display size: inches x FIGURE_DPI pixels
DENSITY = 2                 # stored pixels per displayed pixel


def rule_style(rule: str) -> dict:
    """Matplotlib keyword arguments that draw `rule` as the whole book draws it: its colour,
    its line style and its marker ({"color", "linestyle", "marker"})."""
    if rule not in RULE_COLORS:
        raise ValueError(f"unknown rule {rule!r}; the book styles {sorted(RULE_COLORS)} "
                         "(falign.rules.RULES)")
    dashes = RULE_DASHES[rule]
    return {"color": RULE_COLORS[rule], "linestyle": "-" if dashes == "" else (0, dashes),
            "marker": RULE_MARKERS[rule]}


def set_style() -> None:
    """The book's plotting and table style (call once per chapter): seaborn's white grid, and
    in a notebook, figures stored as PNG at DENSITY times their displayed pixels."""
    pd.set_option("display.max_colwidth", None)          # provenance lines are long
    sns.set_theme(context="notebook", style="whitegrid", font_scale=0.95)
    plt.rcParams.update({"figure.dpi": FIGURE_DPI, "savefig.bbox": "tight"})
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:                      # plain Python: nothing is displayed inline
        return
    if get_ipython() is not None:
        # "retina" saves at 2 x figure.dpi and records the 1x width and height in the output's
        # metadata, which myst-nb writes into the page's <img width height>.
        assert DENSITY == 2, "the inline backend's retina format doubles, no other factor"
        set_matplotlib_formats("retina")


def labelled(table: pd.DataFrame) -> pd.DataFrame:
    """Adds a 'method' column with the book's label of each rule."""
    return table.assign(method=table.rule.map(RULE_LABELS))


def palette(rules) -> dict[str, str]:
    """{label: colour} for the given rules, in the book's rule order."""
    return {RULE_LABELS[r]: RULE_COLORS[r] for r in RULE_COLORS if r in set(rules)}


def style_maps(rules) -> dict:
    """seaborn keyword arguments mapping the 'method' column (labelled()) to each rule's
    colour, dash pattern and marker: hue and style both follow the rule, so the legend shows
    all three at once."""
    rules = [r for r in RULE_COLORS if r in set(rules)]
    labels = [RULE_LABELS[r] for r in rules]
    return {"hue": "method", "hue_order": labels, "palette": palette(rules),
            "style": "method", "style_order": labels,
            "dashes": {RULE_LABELS[r]: RULE_DASHES[r] for r in rules},
            "markers": {RULE_LABELS[r]: RULE_MARKERS[r] for r in rules}}


def _quiet_log_minor(ax, axis: str = "y") -> None:
    """No labels on a log axis's minor ticks: on narrow panels they overlap the major ones."""
    from matplotlib.ticker import NullFormatter
    getattr(ax, f"{axis}axis").set_minor_formatter(NullFormatter())


def over_epochs(table: pd.DataFrame, y: str, ylabel: str, *, widths=None, col_wrap: int = 4,
                height: float = 2.1, logy: bool = False, reference=None,
                reference_label: str | None = None, col: str = "width",
                title: str = "width {col_name} units",
                xlabel: str = "epoch (full-batch steps)", sharey: bool = False,
                aspect: float = 1.15, legend_ncol: int = 4) -> sns.FacetGrid:
    """`y` against epoch, one panel per value of `col` (default: width), one line per rule
    (mean over repeats, band = one standard error).  `reference`: a number, or a function of
    the panel's value, drawn dotted."""
    data = labelled(table if widths is None else table[table.width.isin(widths)])
    # markers every tenth of the line: enough to name the rule, few enough to keep it a line
    grid = sns.relplot(data=data, x="epoch", y=y, col=col, col_wrap=col_wrap,
                       kind="line", errorbar="se", **style_maps(data.rule.unique()),
                       markevery=0.1, markersize=4, height=height,
                       aspect=aspect, linewidth=1.2, facet_kws={"sharey": sharey})
    for ax, value in zip(grid.axes.flat, grid.col_names):
        if logy:
            ax.set_yscale("log")
            _quiet_log_minor(ax)
        if reference is not None:
            level = reference(value) if callable(reference) else reference
            ax.axhline(level, color="black", lw=0.9, ls=":", label=reference_label)
    grid.set_titles(title)
    grid.set_axis_labels(xlabel, ylabel)
    sns.move_legend(grid, "lower center", bbox_to_anchor=(0.5, 1.0), ncol=legend_ncol,
                    title=None, frameon=False)
    return grid


# The text column of a page read at 400 px is 353 CSS px wide (measured in headless Chromium);
# a figure wider than that is shrunk to it, and its tick labels with it.
PHONE_COLUMN_PX = 353
MIN_TICK_PT = 8.0                   # smallest tick label, in CSS points, a reader should get


def width_panels(table: pd.DataFrame, y: str, ylabel: str, **kwargs) -> sns.FacetGrid:
    """over_epochs for the ten widths of Figures 2-3 in two columns of panels, narrow enough
    (about 4.5 in) that the tick labels stay at least MIN_TICK_PT when the figure is shrunk to
    a phone's text column (PHONE_COLUMN_PX); four columns shrank them to about 4 px."""
    options = dict(col_wrap=2, height=1.75, aspect=1.25, legend_ncol=2,
                   title="width {col_name}", xlabel="epoch")
    grid = over_epochs(table, y, ylabel, **{**options, **kwargs})
    # one label for the whole left edge: a label per row is taller than the row and overlaps
    for ax in grid.axes.flat:
        ax.set_ylabel("")
    grid.figure.supylabel(ylabel, fontsize=plt.rcParams["axes.labelsize"])
    grid.tight_layout()
    return grid


def tick_label_pt(fig, column_px: float = PHONE_COLUMN_PX) -> float:
    """The smallest tick label of `fig`, in CSS points, when the figure as saved (tight box,
    FIGURE_DPI pixels per inch at 1x) is shown in a text column `column_px` CSS pixels wide:
    a figure wider than the column is shrunk to it.  1 CSS px = 0.75 pt."""
    fig.canvas.draw()
    width_in = fig.get_tightbbox(fig.canvas.get_renderer()).width
    shown_px = min(width_in * FIGURE_DPI, column_px)
    sizes = [label.get_fontsize() for ax in fig.axes
             for label in ax.get_xticklabels() + ax.get_yticklabels()
             if label.get_visible() and label.get_text()]
    if not sizes:
        raise ValueError("the figure has no labelled ticks; draw it before measuring")
    # a label of s pt is s / 72 in, FIGURE_DPI px per inch at 1x, then scaled with the figure
    return min(sizes) / 72 * FIGURE_DPI * shown_px / (width_in * FIGURE_DPI) * 0.75


def overlapping_tick_labels(fig) -> list[str]:
    """Tick labels (major and minor) of one axis of one panel whose boxes overlap, as
    'panel title: a / b', and axis labels of different panels that overlap; empty when none
    do."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    found = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            ticks = axis.get_major_ticks() + axis.get_minor_ticks()
            labels = [t.label1 for t in ticks if t.label1.get_visible() and t.label1.get_text()
                      and t.get_visible()]
            lo, hi = axis.get_view_interval()
            boxes = [(lab.get_text(), lab.get_window_extent(renderer)) for lab in labels
                     if min(lo, hi) <= (lab.get_position()[0] if axis is ax.xaxis
                                        else lab.get_position()[1]) <= max(lo, hi)]
            for i, (a, box_a) in enumerate(boxes):
                for b, box_b in boxes[i + 1:]:
                    if box_a.overlaps(box_b):
                        found.append(f"{ax.get_title()}: {a} / {b}")
    # axis labels of different panels (a row's y label taller than the row runs into the next)
    names = [(f"{ax.get_title()} {which}", label.get_window_extent(renderer))
             for ax in fig.axes for which, label in (("x label", ax.xaxis.label),
                                                     ("y label", ax.yaxis.label))
             if label.get_visible() and label.get_text()]
    for i, (a, box_a) in enumerate(names):
        for b, box_b in names[i + 1:]:
            if box_a.overlaps(box_b):
                found.append(f"{a} / {b}")
    return found


def layer_alignment(table: pd.DataFrame, layers, n_classes: int, *, height: float = 2.1
                    ) -> sns.FacetGrid:
    """Figures 5-7: cos(W, B) of every layer against epoch for one n, one panel per layer,
    one line per rule (mean over repeats, band = one standard error)."""
    part = table[table.n_classes == n_classes]
    long = part.melt(id_vars=["epoch", "rule", "run_key"],
                     value_vars=[f"cos_wb_{name}" for name in layers],
                     var_name="layer", value_name="cos")
    long["layer"] = long.layer.str.removeprefix("cos_wb_")
    grid = over_epochs(long, "cos", "cos(W, B)  (unitless)", col="layer", col_wrap=len(layers),
                       height=height, title=f"n = {n_classes}, {{col_name}}",
                       xlabel="epoch", sharey=True, reference=0.0)
    return grid


def accuracy_curves(table: pd.DataFrame, *, height: float = 2.3, row: str = "n_classes",
                    row_title: str = "n = {row_name}") -> sns.FacetGrid:
    """Train (mean over the epoch's mini-batches) and test accuracy against epoch, in percent,
    one row of panels per value of `row` (default: n)."""
    long = table.melt(id_vars=["epoch", "rule", "run_key", row],
                      value_vars=["train_acc", "test_acc"], var_name="split", value_name="acc")
    long["acc"] *= 100.0
    long["split"] = long.split.map({"train_acc": "train (running)", "test_acc": "test"})
    data = labelled(long)
    grid = sns.relplot(data=data, x="epoch", y="acc", col="split",
                       row=row, row_order=sorted(data[row].unique()), kind="line", errorbar="se",
                       **style_maps(data.rule.unique()), markevery=0.1, markersize=4,
                       height=height, aspect=1.4, linewidth=1.1, facet_kws={"sharey": "row"})
    grid.set_titles(f"{row_title}, {{col_name}}")
    grid.set_axis_labels("epoch", "accuracy (%)")
    sns.move_legend(grid, "lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, title=None,
                    frameon=False)
    return grid


def against_width(final: pd.DataFrame, panels: dict[str, str], *, ncols: int = 2,
                  height: float = 2.8) -> plt.Figure:
    """Final values against width: one panel per {column: axis label}, one line per rule,
    error bars = one standard error over repeats."""
    data = labelled(final)
    nrows = int(np.ceil(len(panels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, height * nrows), squeeze=False)
    for ax, (column, label) in zip(axes.flat, panels.items()):
        sns.lineplot(data=data, x="width", y=column, **style_maps(data.rule.unique()),
                     errorbar="se", err_style="bars", ax=ax, legend=ax is axes.flat[0])
        ax.set(xlabel="hidden width (units)", ylabel=label)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    first = axes.flat[0]
    if first.get_legend() is not None:
        handles, labels = first.get_legend_handles_labels()
        first.get_legend().remove()
        fig.tight_layout()
        fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4,
                   frameon=False)
    else:
        fig.tight_layout()
    return fig


def deviation_vs_width(ours: pd.DataFrame, paper: pd.DataFrame) -> plt.Figure:
    """Table 3 as a picture: our mean deviation per width (solid line, filled markers, error
    bars = SE) beside the paper's (dotted line, open markers), log scale; colour and marker
    name the rule."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for rule in [r for r in RULE_COLORS if r in set(ours.rule)]:
        o, p = ours[ours.rule == rule], paper[paper.rule == rule]
        colour, marker = RULE_COLORS[rule], RULE_MARKERS[rule]
        ax.errorbar(o.width, o["mean"], yerr=o.se.fillna(0), color=colour,
                    marker=marker, ms=5, lw=1.4, capsize=2, label=f"{RULE_LABELS[rule]} (ours)")
        ax.errorbar(p.width, p["mean"], yerr=p.se, color=colour, marker=marker, ms=5,
                    mfc="white", lw=1, ls=":", alpha=0.7, capsize=2,
                    label=f"{RULE_LABELS[rule]} (paper)")
    _quiet_log_minor(ax)
    ax.set(yscale="log", xlabel="hidden width (units)",
           ylabel="mean |P(t)/P(0) - 1| (unitless)")
    ax.legend(ncol=2, fontsize=7.5, frameon=False, loc="upper right")
    fig.tight_layout()
    return fig


def deviation_vs_conditioning(runs: pd.DataFrame) -> plt.Figure:
    """One point per run: its Table 3 deviation against its smallest initial potential
    |P_j(0)| (columns 'deviation', 'min_abs_p0', 'rule'), log-log, one colour per rule."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    maps = style_maps(runs.rule.unique())
    maps.pop("dashes")                               # points, not lines
    sns.scatterplot(data=labelled(runs), x="min_abs_p0", y="deviation", **maps, s=26,
                    alpha=0.8, linewidth=0, ax=ax)
    ax.set(xscale="log", yscale="log", xlabel="smallest |P_j(0)| in the run (unitless)",
           ylabel="run's mean |P(t)/P(0) - 1| (unitless)")
    ax.legend(title=None, fontsize=7.5, frameon=False, loc="upper right")
    fig.tight_layout()
    return fig


def readings_deviation(table: pd.DataFrame, column: str = "neuron_deviation_weights_1",
                       col_wrap: int = 4) -> sns.FacetGrid:
    """Final deviation against width, one panel per protocol reading, one line per rule."""
    last = table.groupby("run_key")["epoch"].transform("max")
    data = labelled(table[table.epoch == last])
    grid = sns.relplot(data=data, x="width", y=column, **style_maps(data.rule.unique()),
                       col="reading", col_wrap=col_wrap, kind="line",
                       height=2.3, aspect=1.1, errorbar="se")
    grid.set(yscale="log")
    for ax in grid.axes.flat:
        _quiet_log_minor(ax)
    grid.set_titles("{col_name}", size=9)
    grid.set_axis_labels("hidden width (units)", "mean |r_j - 1| (unitless)")
    sns.move_legend(grid, "lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, title=None,
                    frameon=False)
    return grid


def accuracy_vs_classes(ours: pd.DataFrame, paper: pd.DataFrame, *, ylabel: str = "test accuracy (%)"
                        ) -> plt.Figure:
    """Table 1 or 2 as a figure: final accuracy against the number of classes, ours (filled
    markers, solid, error bars = one standard error) beside the paper's (open markers,
    dotted); colour and marker name the rule.  Both tables are long: n_classes, rule, mean,
    se."""
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    for rule in [r for r in RULE_COLORS if r in set(paper.rule) | set(ours.rule)]:
        o = ours[(ours.rule == rule)].dropna(subset=["mean"])
        p = paper[paper.rule == rule]
        colour, marker = RULE_COLORS[rule], RULE_MARKERS[rule]
        if len(o):
            ax.errorbar(o.n_classes, o["mean"], yerr=o.se.fillna(0), color=colour, marker=marker,
                        ms=6, lw=1.4, capsize=3, label=f"{RULE_LABELS[rule]}, ours")
        ax.errorbar(p.n_classes, p["mean"], yerr=p.se, color=colour, marker=marker, ms=6,
                    mfc="white", ls=":", lw=1, capsize=3, label=f"{RULE_LABELS[rule]}, paper")
    ax.set_xticks(sorted(set(paper.n_classes)))
    ax.set_xlabel("number of classes n")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7.5, ncol=2, loc="upper right", frameon=False)
    return fig


def alignment_by_depth(table: pd.DataFrame, layers, *, epochs=None, height: float = 3.0
                       ) -> sns.FacetGrid:
    """cos(W, B) of every converted layer against its depth (input to output), one line per
    rule (mean over repeats, band = one standard error), one panel per (n, epoch) shown;
    epochs=None shows the first and the last measured epoch."""
    epochs = [int(table.epoch.min()), int(table.epoch.max())] if epochs is None else list(epochs)
    part = table[table.epoch.isin(epochs)]
    long = part.melt(id_vars=["epoch", "rule", "run_key", "n_classes"],
                     value_vars=[f"cos_wb_{name}" for name in layers],
                     var_name="layer", value_name="cos")
    long["depth"] = long.layer.str.removeprefix("cos_wb_").map({n: k for k, n in enumerate(layers)})
    data = labelled(long)
    grid = sns.relplot(data=data, x="depth", y="cos", col="epoch",
                       row="n_classes", kind="line", markersize=5,
                       errorbar="se", **style_maps(data.rule.unique()), height=height,
                       aspect=1.9, linewidth=1.1)
    for ax in grid.axes.flat:
        ax.set_xticks(range(len(layers)))
        ax.set_xticklabels(layers, rotation=90, fontsize=8.5)
        ax.axhline(0.0, color="black", lw=0.8, ls=":")
    grid.set_titles("n = {row_name}, after epoch {col_name}")
    grid.set_axis_labels("layer (input → output)", "cos(W, B)  (unitless)")
    sns.move_legend(grid, "lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, title=None,
                    frameon=False)
    return grid


# Statuses of the scoreboard (falign.scoreboard), in Paul Tol's colour-blind-safe "muted" hues,
# none of them a rule's colour.
STATUS_COLORS = {"reproduced": "#117733", "differs": "#882255", "pending GPU run": "#ddcc77",
                 "not reproducible here": "#aaaaaa"}


def status_bars(counts: pd.DataFrame) -> plt.Figure:
    """The scoreboard's tally (rows: items, columns: statuses) as stacked horizontal bars."""
    fig, ax = plt.subplots(figsize=(6.4, 0.45 * len(counts) + 1.2))
    left = np.zeros(len(counts))
    for status, colour in STATUS_COLORS.items():
        values = counts[status].to_numpy() if status in counts else np.zeros(len(counts))
        ax.barh(counts.index, values, left=left, color=colour, label=status, edgecolor="white")
        left += values
    ax.invert_yaxis()
    ax.set_xlabel("rows of the scoreboard (printed numbers and claims)")
    ax.legend(ncol=2, fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    return fig


# The autograd baseline of the performance page is backprop itself: BP's colour, dashed.
BASELINE_STYLE = {"color": RULE_COLORS["bp"], "ls": "--", "lw": 1.0}


def rule_cost_ratios(cases: pd.DataFrame, limit: float = 1.05) -> plt.Figure:
    """Each rule's step time over autograd backprop's (dot: median over interleaved rounds,
    bar: quartiles), one panel per (device, model)."""
    data = cases[cases.candidate.isin(RULE_COLORS)]
    panels = list(data.groupby(["device", "model"], sort=False))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 3.2), squeeze=False,
                             sharey=True)
    rules = [r for r in RULE_COLORS if r in set(data.candidate)]
    for ax, ((device, model), part) in zip(axes.flat, panels):
        for y, rule in enumerate(rules):
            hit = part[part.candidate == rule]
            if hit.empty:
                continue
            row = hit.iloc[0]
            ax.errorbar(row.ratio, y, xerr=[[row.ratio - row.ratio_q1], [row.ratio_q3 - row.ratio]],
                        fmt=RULE_MARKERS[rule], ms=6, color=RULE_COLORS[rule], capsize=2)
        ax.axvline(1.0, **BASELINE_STYLE)
        ax.axvline(limit, color="black", lw=0.9, ls=":")
        ax.set_title(f"{model}\n{device}", fontsize=8)
        ax.set_xlabel("step time / autograd BP's")
    axes[0, 0].set_yticks(range(len(rules)), [RULE_LABELS[r] for r in rules])
    axes[0, 0].invert_yaxis()
    return fig


def _plain_ticks(ax, xs, y: bool = True) -> None:
    """Tick a log axis at the measured values, written as plain numbers (25, not 2^4.6)."""
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter
    ax.set_xticks([float(x) for x in xs], [f"{x:g}" for x in xs])
    ax.xaxis.set_minor_formatter(NullFormatter())
    if y:
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(ScalarFormatter())
        ax.yaxis.set_minor_formatter(NullFormatter())


def cost_vs_width(cases: pd.DataFrame) -> plt.Figure:
    """Median step time (ms) against hidden width, log-log, per rule and the autograd baseline."""
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    for name, part in cases.groupby("candidate", sort=False):
        part = part.sort_values("width")
        style = (dict(BASELINE_STYLE, label="BP, plain autograd", marker=".")
                 if name not in RULE_COLORS
                 else dict(rule_style(name), label=RULE_LABELS[name], lw=1.3))
        ax.plot(part.width, part.median_ms, ms=4, **style)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    _plain_ticks(ax, sorted(cases.width.unique()))
    ax.set_xlabel("hidden width (units)")
    ax.set_ylabel("time per training step (ms)")
    ax.legend(fontsize=8, frameon=False)
    return fig


def cost_vs_models(cases: pd.DataFrame) -> plt.Figure:
    """Time per model per epoch (ms) when K models train as one stacked computation, against
    K, beside the time of one model trained alone."""
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    cases = cases.sort_values("models")
    # The stack mixes FA, adaFA, sign-FA and BP: black, no rule's colour.
    ax.plot(cases.models, cases.median_ms / cases.models, marker="o", ms=3.5, color="black",
            label="stacked (time of the stack / K)")
    ax.plot(cases.models, cases.one_model_ms, label="one model alone", **BASELINE_STYLE)
    ax.set_xscale("log", base=2)
    _plain_ticks(ax, sorted(cases.models.unique()), y=False)
    ax.set_xlabel("models trained at once, K")
    ax.set_ylabel("time per model per epoch (ms)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, frameon=False)
    return fig
