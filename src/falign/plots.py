"""Figures of the book: one colour and one label per learning rule everywhere, seaborn styling,
axes labelled with units."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .rules import RULES

# Okabe-Ito / seaborn "colorblind" hues, fixed per rule so every chapter agrees.
RULE_COLORS = {
    "bp": "#4d4d4d", "fa": "#0173b2", "adafa": "#029e73", "signfa": "#d55e00",
    "frsf": "#cc78bc", "brsf": "#ca9161", "dfa": "#de8f05", "mdfa": "#56b4e9",
}
RULE_LABELS = {
    "bp": "BP (GD)", "fa": "FA", "adafa": "adaFA", "signfa": "sign-FA (uSF)",
    "frsf": "frSF", "brsf": "brSF", "dfa": "DFA", "mdfa": "mDFA",
}
assert set(RULE_COLORS) == set(RULES) == set(RULE_LABELS)


def set_style() -> None:
    """The book's plotting and table style (call once per chapter)."""
    pd.set_option("display.max_colwidth", None)          # provenance lines are long
    sns.set_theme(context="notebook", style="whitegrid", font_scale=0.95)
    plt.rcParams.update({"figure.dpi": 110, "savefig.bbox": "tight"})


def labelled(table: pd.DataFrame) -> pd.DataFrame:
    """Adds a 'method' column with the book's label of each rule."""
    return table.assign(method=table.rule.map(RULE_LABELS))


def palette(rules) -> dict[str, str]:
    """{label: colour} for the given rules, in the book's rule order."""
    return {RULE_LABELS[r]: RULE_COLORS[r] for r in RULE_COLORS if r in set(rules)}


def over_epochs(table: pd.DataFrame, y: str, ylabel: str, *, widths=None, col_wrap: int = 4,
                height: float = 2.1, logy: bool = False, reference=None,
                reference_label: str | None = None) -> sns.FacetGrid:
    """`y` against epoch, one panel per width, one line per rule (mean over repeats, band =
    one standard error).  `reference`: a number, or a function of the width, drawn dotted."""
    data = labelled(table if widths is None else table[table.width.isin(widths)])
    grid = sns.relplot(data=data, x="epoch", y=y, hue="method", col="width", col_wrap=col_wrap,
                       kind="line", errorbar="se", palette=palette(data.rule.unique()),
                       hue_order=list(palette(data.rule.unique())), height=height,
                       aspect=1.15, linewidth=1.2, facet_kws={"sharey": False})
    for ax, width in zip(grid.axes.flat, grid.col_names):
        if logy:
            ax.set_yscale("log")
        if reference is not None:
            level = reference(width) if callable(reference) else reference
            ax.axhline(level, color="black", lw=0.9, ls=":", label=reference_label)
    grid.set_titles("width {col_name} units")
    grid.set_axis_labels("epoch (full-batch steps)", ylabel)
    sns.move_legend(grid, "lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, title=None,
                    frameon=False)
    return grid


def against_width(final: pd.DataFrame, panels: dict[str, str], *, ncols: int = 2,
                  height: float = 2.8) -> plt.Figure:
    """Final values against width: one panel per {column: axis label}, one line per rule,
    error bars = one standard error over repeats."""
    data = labelled(final)
    pal = palette(data.rule.unique())
    nrows = int(np.ceil(len(panels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, height * nrows), squeeze=False)
    for ax, (column, label) in zip(axes.flat, panels.items()):
        sns.lineplot(data=data, x="width", y=column, hue="method", hue_order=list(pal),
                     palette=pal, marker="o", errorbar="se", err_style="bars", ax=ax,
                     legend=ax is axes.flat[0])
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
    """Table 3 as a picture: our mean deviation per width (solid, error bars = SE) beside the
    paper's (dashed), log scale, one colour per rule."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for rule in [r for r in RULE_COLORS if r in set(ours.rule)]:
        o, p = ours[ours.rule == rule], paper[paper.rule == rule]
        ax.errorbar(o.width, o["mean"], yerr=o.se.fillna(0), color=RULE_COLORS[rule],
                    marker="o", ms=4, lw=1.4, capsize=2, label=f"{RULE_LABELS[rule]} (ours)")
        ax.errorbar(p.width, p["mean"], yerr=p.se, color=RULE_COLORS[rule], marker="s", ms=3,
                    lw=1, ls="--", alpha=0.6, capsize=2, label=f"{RULE_LABELS[rule]} (paper)")
    ax.set(yscale="log", xlabel="hidden width (units)",
           ylabel="mean |P(t)/P(0) - 1| (unitless)")
    ax.legend(ncol=2, fontsize=7.5, frameon=False, loc="upper right")
    fig.tight_layout()
    return fig


def deviation_vs_conditioning(runs: pd.DataFrame) -> plt.Figure:
    """One point per run: its Table 3 deviation against its smallest initial potential
    |P_j(0)| (columns 'deviation', 'min_abs_p0', 'rule'), log-log, one colour per rule."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    colours = palette(runs.rule)
    sns.scatterplot(data=labelled(runs), x="min_abs_p0", y="deviation", hue="method",
                    hue_order=list(colours), palette=colours, s=22, alpha=0.8, linewidth=0, ax=ax)
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
    pal = palette(data.rule.unique())
    grid = sns.relplot(data=data, x="width", y=column, hue="method", hue_order=list(pal),
                       palette=pal, col="reading", col_wrap=col_wrap, kind="line",
                       marker="o", height=2.3, aspect=1.1, errorbar="se")
    grid.set(yscale="log")
    grid.set_titles("{col_name}", size=9)
    grid.set_axis_labels("hidden width (units)", "mean |r_j - 1| (unitless)")
    sns.move_legend(grid, "lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, title=None,
                    frameon=False)
    return grid
