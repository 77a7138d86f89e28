"""The book's scoreboard: every item of Robertson & Koyejo (2024) that the book regenerates,
the paper's value beside ours, where ours came from (profile, repeats, device), and a status
computed from the stored runs:

- reproduced: a printed number agrees (within two standard errors of the difference, see
  analysis.agrees), or a claim holds in every run or width it is checked on;
- differs: it does not, and the linked chapter says why we think so;
- pending GPU run: the cell has no stored run yet (the chapter's banner names the command);
- not reproducible here: the paper's data cannot be had here (CIFAR-100); ours come from the
  labelled stand-in and only orderings compare.

Every row is recomputed from the result store, so the page cannot go stale.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import analysis, paper_values
from .chapters import load_results, run_provenances

RULE_NAMES = {"fa": "FA", "adafa": "adaFA", "signfa": "sign-FA", "bp": "GD"}
CHAPTER = {"fig2": "fig2_conservation", "table3": "table3_deviations", "fig3": "fig3_alignment",
           "fig4": "fig4_generalization", "table1": "table1_lenet_accuracy",
           "fig5_7": "fig5_7_lenet_alignment", "table2": "table2_resnet_accuracy"}
COLUMNS = ["item", "what", "paper", "ours", "runs", "source", "status", "chapter"]


def _load(family: str, results):
    try:
        return load_results(family, "paper", results)
    except FileNotFoundError:
        return None


def _source(sweep) -> str:
    """Profile and device kinds of a sweep's runs."""
    devices = sorted({p["device"].split(":")[0] for p in run_provenances(sweep)})
    return f"{sweep.profile} ({', '.join(devices)})"


def _row(item, what, paper, ours, runs, source, status, chapter) -> dict:
    return dict(zip(COLUMNS, [item, what, paper, ours, runs, source, status,
                              f"{CHAPTER[chapter]}"]))


def accuracy_rows(item: str, chapter: str, sweep, paper: pd.DataFrame,
                  stand_in: bool) -> list[dict]:
    """One row per (n, rule) cell of Table 1 or 2."""
    acc = analysis.accuracy_table(sweep.table, sweep.cells) if sweep is not None else None
    source = _source(sweep) if sweep is not None else "-"
    rows = []
    for p in paper.itertuples():
        printed = f"{p.mean:.1f} ± {p.se:.1f}"
        what = f"n = {p.n_classes}, {RULE_NAMES[p.rule]}"
        cell = None if acc is None else acc[(acc.n_classes == p.n_classes) & (acc.rule == p.rule)]
        if cell is None or cell.empty or cell["mean"].isna().all():
            planned = "" if cell is None or cell.empty else f"0/{int(cell.planned.iloc[0])}"
            rows.append(_row(item, what, printed, "-", planned, "-", "pending GPU run", chapter))
            continue
        c = cell.iloc[0]
        ours = f"{c['mean']:.1f}" + ("" if np.isnan(c.se) else f" ± {c.se:.1f}")
        if stand_in:
            status = "not reproducible here"
        else:
            status = "reproduced" if analysis.agrees(c["mean"], c.se, p.mean, p.se) else "differs"
        rows.append(_row(item, what, printed, ours, f"{int(c.stored)}/{int(c.planned)}",
                         source, status, chapter))
    return rows


def ordering_row(item: str, chapter: str, sweep, paper: pd.DataFrame, n: int) -> dict:
    """Whether our four rules fall in the paper's order at n (a claim that survives a stand-in)."""
    ref = paper[paper.n_classes == n].set_index("rule")["mean"]
    order = lambda m: " > ".join(RULE_NAMES[r] for r in m.sort_values(ascending=False).index)
    what = f"order of the rules at n = {n}"
    acc = analysis.accuracy_table(sweep.table, sweep.cells) if sweep is not None else None
    ours = None if acc is None else acc[acc.n_classes == n].set_index("rule")["mean"].dropna()
    if ours is None or len(ours) < len(ref):
        return _row(item, what, order(ref), "-", "", "-", "pending GPU run", chapter)
    runs = acc[acc.n_classes == n]
    status = "reproduced" if order(ours) == order(ref) else "differs"
    return _row(item, what, order(ref), order(ours),
                f"{int(runs.stored.sum())}/{int(runs.planned.sum())}", _source(sweep), status,
                chapter)


def table3_rows(sweep) -> list[dict]:
    """Table 3 per rule: at how many widths our deviation is within a factor of two of the
    paper's (the values span four orders of magnitude, so a ratio is the fair yardstick)."""
    paper = paper_values.table3()
    if sweep is None:
        return [_row("Table 3", RULE_NAMES[r], "10 widths", "-", "", "-", "pending GPU run",
                     "table3") for r in RULE_NAMES]
    ours = analysis.mean_se(analysis.run_deviations(sweep.table, analysis.TABLE3_READING),
                            "deviation", ["width", "rule"])
    both = ours.merge(paper, on=["width", "rule"], suffixes=("", "_paper"))
    source = _source(sweep)
    rows = []
    for rule in RULE_NAMES:
        b = both[both.rule == rule]
        ratio = b["mean"] / b["mean_paper"]
        close = int(((ratio >= 0.5) & (ratio <= 2.0)).sum())
        status = "reproduced" if close >= 0.8 * len(b) else "differs"
        rows.append(_row("Table 3", f"{RULE_NAMES[rule]}: deviation from the law by width",
                         f"{b.mean_paper.iloc[0]:.2g} to {b.mean_paper.iloc[-1]:.2g}",
                         f"{b['mean'].iloc[0]:.2g} to {b['mean'].iloc[-1]:.2g} "
                         f"(within 2x at {close} of {len(b)} widths)",
                         f"{int(b.n.sum())}", source, status, "table3"))
    return rows


def noisy_mnist_claim_rows(sweep) -> list[dict]:
    """Figures 2-4: the paper's claims, each checked on the stored runs."""
    if sweep is None:
        return [_row(item, claim, "claim", "-", "", "-", "pending GPU run", ch)
                for item, claim, ch in (("Figure 2", "the law holds", "fig2"),
                                        ("Figure 3", "alignment grows", "fig3"),
                                        ("Figure 4", "benign overfitting", "fig4"))]
    source, runs = _source(sweep), f"{sweep.stored}/{sweep.expected}"
    rows = []
    final = analysis.final_rows(sweep.table)
    dev = analysis.mean_se(analysis.run_deviations(sweep.table, analysis.TABLE3_READING),
                           "deviation", ["width", "rule"]).set_index(["rule", "width"])["mean"]
    lo, hi = dev.index.get_level_values("width").min(), dev.index.get_level_values("width").max()
    family = ("fa", "adafa", "signfa")
    shrink = [r for r in family if dev[r, lo] > dev[r, hi]]
    not_above = [w for w in sorted(set(dev.index.get_level_values("width")))
                 if dev["bp", w] <= max(dev[r, w] for r in family)]
    rows.append(_row("Figure 2", "FA-family deviations shrink with width",
                     paper_values.FIGURE_CLAIMS["figure2"], f"{len(shrink)} of 3 rules",
                     runs, source, "reproduced" if len(shrink) == 3 else "differs", "fig2"))
    rows.append(_row("Figure 2", "GD is not conserved: its deviation is the largest at every width",
                     "GD far above the FA family",
                     "yes" if not not_above else
                     f"no, at width {', '.join(map(str, not_above))} an FA-family rule is above",
                     runs, source, "differs" if not_above else "reproduced", "fig2"))
    for (claim, rule), r in analysis.alignment_claims(sweep.table).iterrows():
        if claim.startswith("alignment ends higher") and rule == "adafa":
            continue                      # adaFA starts at cosine 1: not a claim of the paper
        held, _, total = r["holds"].partition(" of ")
        total = total.split()[0]
        status = "reproduced" if held == total else "differs"
        rows.append(_row("Figure 3", f"{claim} ({rule})", "claimed", r["holds"], runs, source,
                         status, "fig3"))
    g = final.groupby("width")[["train_acc", "test_loss"]].mean()
    fitted = g.train_acc.iloc[-1]
    rows.append(_row("Figure 4", "networks fit the noisy training labels",
                     "train accuracy near 100% on 20%-noisy labels",
                     f"{100 * fitted:.1f}% at width {g.index[-1]}", runs, source,
                     "reproduced" if fitted >= 0.95 else "differs", "fig4"))
    falls = g.test_loss.iloc[-1] <= g.test_loss.iloc[0]
    rows.append(_row("Figure 4", "wider networks do not generalise worse",
                     "test loss does not grow with width",
                     f"test loss {g.test_loss.iloc[0]:.3f} (width {g.index[0]}) -> "
                     f"{g.test_loss.iloc[-1]:.3f} (width {g.index[-1]})", runs, source,
                     "reproduced" if falls else "differs", "fig4"))
    return rows


def lenet_alignment_rows(sweep) -> list[dict]:
    """Figures 5-7: FA's alignment grows, most in the output layer; adaFA stays above FA;
    alignment is lower for larger n."""
    from .families.lenet_cifar import LAYERS

    if sweep is None:
        return [_row("Figures 5-7", "layer-wise alignment", "claim", "-", "", "-",
                     "pending GPU run", "fig5_7")]
    source, runs = _source(sweep), f"{sweep.stored}/{sweep.expected}"
    fin = analysis.final_alignment(sweep.table[sweep.table.rule != "bp"], LAYERS)
    ns = sorted({n for n, _ in fin.index})
    rows = []
    for n in ns:
        fa, ada = fin.loc[(n, "fa")], fin.loc[(n, "adafa")] if (n, "adafa") in fin.index else None
        top = fa.idxmax()
        rows.append(_row("Figures 5-7", f"n = {n}: FA aligns most in the output layer",
                         "output layer F2 aligns most", f"highest: {top} ({fa.max():.2f})",
                         runs, source, "reproduced" if top == LAYERS[-1] else "differs", "fig5_7"))
        if ada is not None:
            above = int((ada > fa).sum())
            rows.append(_row("Figures 5-7", f"n = {n}: adaFA stays above FA",
                             "in every layer", f"{above} of {len(LAYERS)} layers", runs, source,
                             "reproduced" if above == len(LAYERS) else "differs", "fig5_7"))
    if len(ns) < 3:
        rows.append(_row("Figures 5-7", "alignment is lower for larger n", "claimed", "-", "",
                         "-", "pending GPU run", "fig5_7"))
    else:
        mean_fa = [fin.loc[(n, "fa")].mean() for n in ns]
        falls = all(a > b for a, b in zip(mean_fa, mean_fa[1:]))
        rows.append(_row("Figures 5-7", "alignment is lower for larger n", "claimed",
                         ", ".join(f"{m:.2f}" for m in mean_fa), runs, source,
                         "reproduced" if falls else "differs", "fig5_7"))
    return rows


def scoreboard(results: str | Path = "results") -> pd.DataFrame:
    """Every item, one row per printed number or claim (COLUMNS)."""
    noisy = _load("noisy_mnist", results)
    lenet = _load("lenet_cifar", results)
    resnet = _load("resnet_tiny_imagenet", results)
    t1, t2 = paper_values.table1(), paper_values.table2()
    rows = (noisy_mnist_claim_rows(noisy) + table3_rows(noisy)
            + accuracy_rows("Table 1", "table1", lenet, t1, stand_in=True)
            + [ordering_row("Table 1", "table1", lenet, t1, n) for n in (10, 25, 50)]
            + lenet_alignment_rows(lenet)
            + accuracy_rows("Table 2", "table2", resnet, t2, stand_in=False)
            + [ordering_row("Table 2", "table2", resnet, t2, n) for n in (10, 25, 50)])
    return pd.DataFrame(rows, columns=COLUMNS)


def tally(board: pd.DataFrame) -> pd.DataFrame:
    """How many rows of each item have each status."""
    return (board.groupby(["item", "status"], sort=False).size().unstack(fill_value=0)
            .reindex(columns=["reproduced", "differs", "pending GPU run",
                              "not reproducible here"], fill_value=0))


def linked(board: pd.DataFrame) -> pd.DataFrame:
    """The board with each chapter as a link (for the rendered page)."""
    return board.assign(chapter=[f'<a href="{c}.html">{c}</a>' for c in board.chapter])
