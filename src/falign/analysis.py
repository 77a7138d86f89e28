"""Summaries of stored runs (tidy tables from falign.store) for the chapters: per-run
statistics, means with standard errors, and the Table 3 statistic under its possible readings."""
from __future__ import annotations

import numpy as np
import pandas as pd

RUN = "run_key"


def final_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The last measured epoch of every run."""
    last = table.groupby(RUN)["epoch"].transform("max")
    return table[table.epoch == last].reset_index(drop=True)


def mean_se(table: pd.DataFrame, value: str, by: list[str]) -> pd.DataFrame:
    """Mean, standard error of the mean (ddof=1; NaN for a single run) and count of `value`."""
    g = table.groupby(by)[value]
    out = g.agg(mean="mean", std="std", n="count").reset_index()
    out["se"] = out["std"] / np.sqrt(out["n"])
    return out.drop(columns="std")


# Table 3 under the readings the text allows: which potential (per neuron, App. B.1's formula,
# or the layer sum of Figure 2), whether biases count, and whether the deviation is read at the
# end of training or averaged over every measured epoch ("mean absolute deviation").
DEVIATION_READINGS = {
    "neuron, weights only, time-averaged": ("neuron_deviation_weights_1", "time"),
    "neuron, weights only, final": ("neuron_deviation_weights_1", "final"),
    "neuron, with biases, final": ("neuron_deviation_1", "final"),
    "layer, weights only, time-averaged": ("potential_ratio_weights_1", "time"),
    "layer, weights only, final": ("potential_ratio_weights_1", "final"),
    # Per-neuron readings stored by runs trained since they were added (NaN for older runs):
    "neuron median, weights only, final": ("neuron_deviation_weights_median_1", "final"),
    "neuron |P_j(0)| >= 0.01, weights only, final": ("neuron_deviation_weights_floor_1", "final"),
}


# The book's reading of Table 3 (argued in the ablation chapter) and the one shown beside it.
TABLE3_READING = "neuron, weights only, time-averaged"
TABLE3_ALTERNATIVE = "neuron, weights only, final"


def run_deviations(table: pd.DataFrame, reading: str) -> pd.DataFrame:
    """One deviation per run (with the run's spec columns) under a DEVIATION_READINGS key."""
    try:
        column, when = DEVIATION_READINGS[reading]
    except KeyError:
        raise ValueError(f"unknown deviation reading {reading!r}; "
                         f"choose from {sorted(DEVIATION_READINGS)}") from None
    # a column older runs did not store reads as NaN (the cell shows '-')
    values = table[column] if column in table else pd.Series(np.nan, index=table.index)
    dev = (values - 1.0).abs() if column.startswith("potential_ratio") else values
    frame = table.assign(deviation=dev)
    if when == "final":
        return final_rows(frame)
    spec_cols = [c for c in frame.columns if c in ("width", "rule", "repeat", RUN)]
    return frame.groupby(spec_cols, as_index=False)["deviation"].mean()


def expected_initial_potential(rule: str, width: int, out_features: int = 10) -> float:
    """E[P_j(0)] of one hidden neuron (Theorem 5.2's potential, weights only) at the fan-in init.

    Table 3's r_j divides by P_j(0); where this expectation crosses zero the ratio is
    ill-conditioned.  Entries of a layer with fan-in k are U[+-1/sqrt(k)] (variance 1/(3k)), so
    1/2 E||W_1[:, j]||^2 = 1/6 at every width, and <W_2[j,:], B_2[j,:]> has expectation
    10/(3m) for bp and adafa (B_2 = W_2 at t = 0), 0 for fa (independent B_2), and
    10 s E|w| = 5 s / sqrt(m) for signfa (B_2 = s sign(W_2), s = sqrt(2 / (m + 10))).
    """
    half_incoming = 1.0 / 6.0     # 1/2 * fan_in * 1/(3 fan_in): independent of the input size
    if rule in ("bp", "adafa"):
        outgoing = out_features / (3.0 * width)
    elif rule == "fa":
        outgoing = 0.0
    elif rule == "signfa":
        scale = np.sqrt(2.0 / (width + out_features))
        outgoing = out_features * scale / (2.0 * np.sqrt(width))
    else:
        raise ValueError(f"no closed form for rule {rule!r}; choose from bp, fa, adafa, signfa")
    return float(outgoing - half_incoming)


def expected_initial_potential_table(widths, rules=("fa", "adafa", "signfa", "bp")
                                     ) -> pd.DataFrame:
    """expected_initial_potential for every width (rows) and rule (columns), 3 decimals."""
    return pd.DataFrame({rule: [round(expected_initial_potential(rule, w), 3) for w in widths]
                         for rule in rules}, index=pd.Index(list(widths), name="width"))


def rounded(table: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """Float cells as strings with `digits` significant digits, for display."""
    out = table.copy()
    for col in out.columns:
        if pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].map(lambda v: "-" if pd.isna(v) else f"{v:.{digits}g}")
    return out


def format_mean_se(mean: float, se: float) -> str:
    """'1.5 ± 0.6' with two significant digits, as a table cell."""
    if np.isnan(se):
        return f"{mean:.2g}"
    return f"{mean:.2g} ± {se:.1g}"


def compare_width_trend(ours: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Per rule, ours beside the paper's: deviation at the narrowest and widest width both
    have, their ratio (how much it shrinks with width), and GD's deviation over the rule's.
    Both inputs are mean_se-style tables with columns rule, width, mean."""
    widths = sorted(set(ours.width) & set(paper.width))
    if not widths:
        raise ValueError("no width in common between our runs and the paper's table")
    lo, hi = widths[0], widths[-1]
    rows = []
    for source, t in (("ours", ours), ("paper", paper)):
        at = t.set_index(["rule", "width"])["mean"]
        for rule in [r for r in ("fa", "adafa", "signfa", "bp") if r in set(t.rule)]:
            row = {"rule": rule, "source": source,
                   f"width {lo}": at[rule, lo], f"width {hi}": at[rule, hi],
                   f"shrink {lo}->{hi}": at[rule, lo] / at[rule, hi]}
            if "bp" in set(t.rule) and rule != "bp":
                row[f"GD / rule at width {lo}"] = at["bp", lo] / at[rule, lo]
            rows.append(row)
    return pd.DataFrame(rows).set_index(["rule", "source"]).sort_index()


def side_by_side(ours: dict[str, pd.DataFrame], paper: pd.DataFrame) -> pd.DataFrame:
    """Table 3 in long form: one row per (rule, width), the paper's cell beside ours (one
    column per reading in `ours`, a {name: mean_se table} dict).  Rules as rows keep the table
    a few columns wide, so paper and ours stay side by side on a phone."""
    from .plots import RULE_LABELS

    rows = []
    rules = [r for r in ("fa", "adafa", "signfa", "bp") if r in set(paper.rule)]
    for rule in rules:
        p = paper[paper.rule == rule].set_index("width")
        mine = {name: t[t.rule == rule].set_index("width") for name, t in ours.items()}
        for w in p.index:
            row = {"rule": RULE_LABELS.get(rule, rule), "width": w,
                   "paper": format_mean_se(p.at[w, "mean"], p.at[w, "se"])}
            for name, o in mine.items():
                row[f"ours: {name}"] = (format_mean_se(o.at[w, "mean"], o.at[w, "se"])
                                        if w in o.index else "-")
            rows.append(row)
    return pd.DataFrame(rows).set_index(["rule", "width"])


def alignment_claims(table: pd.DataFrame) -> pd.DataFrame:
    """Section 6.1's claims about Figure 3, each counted over stored runs (or widths)."""
    t = table[table.rule.isin(["fa", "adafa", "signfa"])]
    first = t[t.epoch == 0].set_index(RUN)["cos_wb_2"]
    last = final_rows(t).set_index(RUN)
    rows = []
    for rule in ("fa", "adafa", "signfa"):
        keys = last.index[last.rule == rule]
        if len(keys):
            gained = (last.loc[keys, "cos_wb_2"] > first.loc[keys]).sum()
            rows.append({"claim": "alignment ends higher than it starts", "rule": rule,
                         "holds": f"{gained} of {len(keys)} runs",
                         "median change": float((last.loc[keys, "cos_wb_2"]
                                                 - first.loc[keys]).median())})
    s = t[t.rule == "signfa"]
    if len(s):
        margin = s.cos_wb_2 - (10 * s.width) ** -0.5
        lowest = margin.groupby(s[RUN]).min()
        rows.append({"claim": "sign-FA stays above 1/sqrt(n) (Prop. 5.3)", "rule": "signfa",
                     "holds": f"{(lowest >= 0).sum()} of {len(lowest)} runs",
                     "median change": float("nan"),
                     "smallest margin": float(lowest.min())})
        drops = s.sort_values("epoch").groupby(RUN)["cos_wb_2"].apply(
            lambda c: bool((c.diff() < -1e-4).any() and (c.diff() > 1e-4).any()))
        rows.append({"claim": "sign-FA alignment is non-monotonic", "rule": "signfa",
                     "holds": f"{drops.sum()} of {len(drops)} runs",
                     "median change": float("nan")})
    m = t.groupby(["width", "epoch", "rule"])["cos_wb_2"].mean().unstack("rule")
    if {"fa", "adafa"} <= set(m.columns):
        above = (m.adafa > m.fa).groupby(level="width").mean()
        rows.append({"claim": "adaFA stays more aligned than FA", "rule": "adafa vs fa",
                     "holds": f"{(above == 1).sum()} of {len(above)} widths at every epoch "
                              f"(worst width: {above.min():.0%} of epochs)",
                     "median change": float("nan")})
    return pd.DataFrame(rows).set_index(["claim", "rule"])


def generalization_summary(final: pd.DataFrame) -> pd.DataFrame:
    """Figure 4's claims in numbers: per rule, final train accuracy on the noisy labels (0.8 =
    no noise memorised), clean test accuracy and loss at the narrowest and widest width, and
    the change of test loss from the narrowest to the widest."""
    lo, hi = final.width.min(), final.width.max()
    m = final.groupby(["rule", "width"])[["train_acc", "test_acc", "test_loss"]].mean()
    rows = []
    for rule in [r for r in ("fa", "adafa", "signfa", "bp") if r in set(final.rule)]:
        rows.append({"rule": rule,
                     f"train acc (width {lo})": m.loc[(rule, lo), "train_acc"],
                     f"train acc (width {hi})": m.loc[(rule, hi), "train_acc"],
                     f"test acc (width {lo})": m.loc[(rule, lo), "test_acc"],
                     f"test acc (width {hi})": m.loc[(rule, hi), "test_acc"],
                     f"test loss {lo} -> {hi}": m.loc[(rule, hi), "test_loss"]
                     - m.loc[(rule, lo), "test_loss"]})
    return pd.DataFrame(rows).set_index("rule")


FA_FAMILY = ("fa", "adafa", "signfa")


def reading_criteria(table: pd.DataFrame) -> pd.DataFrame:
    """The ablation's yardstick: per reading, the paper's four observations in numbers.

    Deviations are App. B.1's per-neuron |r_j - 1| at the end (weights only); "FA family" is
    the largest of FA, adaFA and sign-FA.  The yes/no columns use stated thresholds: noise
    fitted = train accuracy >= 0.95 at the widest width (0.8 means none memorised);
    generalises = clean test accuracy >= 0.85 there; shrinks = the FA family's deviation at
    the narrowest width is >= 3x that at the widest; GD far above = GD >= 10x the FA family at
    the narrowest width.
    """
    final = final_rows(table)
    rows = []
    for reading, f in final.groupby("reading", sort=False):
        lo, hi = f.width.min(), f.width.max()
        m = f.groupby(["rule", "width"])[["train_acc", "test_acc",
                                          "neuron_deviation_weights_1"]].mean()
        dev = m["neuron_deviation_weights_1"]
        fam = lambda w: max(dev.get((r, w), np.nan) for r in FA_FAMILY)
        train_hi = m.xs(hi, level="width")["train_acc"].mean()
        test_hi = m.xs(hi, level="width")["test_acc"].mean()
        gd_lo = dev.get(("bp", lo), np.nan)
        rows.append({
            "reading": reading,
            f"train acc @{hi}": train_hi, f"test acc @{hi}": test_hi,
            f"FA family dev @{lo}": fam(lo), f"FA family dev @{hi}": fam(hi),
            f"GD dev @{lo}": gd_lo, f"GD dev @{hi}": dev.get(("bp", hi), np.nan),
            "noise fitted": bool(train_hi >= 0.95), "generalises": bool(test_hi >= 0.85),
            "shrinks with width": bool(fam(lo) >= 3 * fam(hi)),
            "GD far above": bool(gd_lo >= 10 * fam(lo)),
        })
    out = pd.DataFrame(rows).set_index("reading")
    out["observations held"] = out[["noise fitted", "generalises", "shrinks with width",
                                    "GD far above"]].sum(axis=1)
    return out


def statistic_readings(table: pd.DataFrame) -> pd.DataFrame:
    """Every DEVIATION_READINGS statistic, mean over repeats, one row per (rule, width)."""
    cols = {}
    for name in DEVIATION_READINGS:
        d = run_deviations(table, name)
        cols[name] = d.groupby(["rule", "width"])["deviation"].mean()
    return pd.DataFrame(cols)


def accuracy_table(table: pd.DataFrame, planned: pd.DataFrame, value: str = "test_acc"
                   ) -> pd.DataFrame:
    """Final `value` (a fraction) per cell as a percentage: mean, se, and repeats stored of
    repeats planned.  `planned` has the cell columns plus 'stored' and 'planned'
    (SweepResults.cells); cells with no run keep NaN, so pending columns stay visible."""
    cell = [c for c in planned.columns if c not in ("stored", "planned")]
    final = final_rows(table).assign(percent=lambda t: 100.0 * t[value])
    stats = mean_se(final, "percent", cell) if len(final) else pd.DataFrame(columns=cell)
    out = planned.merge(stats, on=cell, how="left")
    return out[cell + ["mean", "se", "stored", "planned"]]


def side_by_side_cells(ours: pd.DataFrame, paper: pd.DataFrame, column: str,
                       rules=("fa", "adafa", "signfa", "bp")) -> pd.DataFrame:
    """One row per (rule, value of `column`): the paper's 'mean ± se' beside ours with 'k/K'
    repeats (or 'pending').  Both tables are long: column, rule, mean, se.  Long form keeps
    the paper and ours side by side on a phone, however many columns the paper has."""
    from .plots import RULE_LABELS

    rows = []
    for r in rules:
        for value in sorted(set(paper[column]) | set(ours[column])):
            p = paper[(paper[column] == value) & (paper.rule == r)]
            o = ours[(ours[column] == value) & (ours.rule == r)]
            if not len(p) and not len(o):
                continue
            printed = (f"{p['mean'].iloc[0]:.1f} ± {p['se'].iloc[0]:.1f}" if len(p) else "-")
            cell = "-"
            if len(o):
                o = o.iloc[0]
                done = f"{int(o['stored'])}/{int(o['planned'])}"
                if pd.isna(o["mean"]):
                    cell = f"pending (0/{int(o['planned'])})"
                elif pd.isna(o["se"]):
                    cell = f"{o['mean']:.1f} ({done})"
                else:
                    cell = f"{o['mean']:.1f} ± {o['se']:.1f} ({done})"
            rows.append({"rule": RULE_LABELS.get(r, r), column: value, "paper": printed,
                         "ours": cell})
    return pd.DataFrame(rows).set_index(["rule", column])


def table1_claims(acc: pd.DataFrame) -> pd.DataFrame:
    """Table 1's claims (paper_values.TABLE1_CLAIMS) checked on an accuracy_table: per n with
    runs, sign-FA minus GD, adaFA minus FA, GD minus FA (points), and whether accuracy falls
    with n for each rule that has two or more n."""
    m = acc.dropna(subset=["mean"]).set_index(["n_classes", "rule"])["mean"]
    rows = []
    for n in sorted({n for n, _ in m.index}):
        have = {r for k, r in m.index if k == n}
        diff = lambda a, b: m[n, a] - m[n, b] if {a, b} <= have else np.nan
        rows.append({"n_classes": n, "sign-FA - GD": diff("signfa", "bp"),
                     "adaFA - FA": diff("adafa", "fa"), "GD - FA": diff("bp", "fa")})
    return pd.DataFrame(rows).set_index("n_classes")


def final_alignment(table: pd.DataFrame, layers) -> pd.DataFrame:
    """cos(W, B) per layer at the last epoch: mean over repeats per (n_classes, rule)."""
    final = final_rows(table)
    cols = [f"cos_wb_{name}" for name in layers]
    out = final.groupby(["n_classes", "rule"])[cols].mean()
    out.columns = list(layers)
    return out


def agrees(mean: float, se: float, paper_mean: float, paper_se: float) -> bool:
    """Our cell agrees with the paper's when they differ by at most two standard errors of the
    difference; a cell with one repeat has no standard error of its own and borrows the
    paper's (the spread of a single run is about that of the paper's repeats)."""
    ours_se = paper_se if se != se else se
    return bool(abs(mean - paper_mean) <= 2.0 * (ours_se ** 2 + paper_se ** 2) ** 0.5)
