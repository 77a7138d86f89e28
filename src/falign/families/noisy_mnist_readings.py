"""The noisy-MNIST readings (Robertson & Koyejo Sec. 6.1 / App. A) as a family the background
queue trains: every reading of noisy_mnist.READINGS on one schedule and repeats, into the
readings store (`noisy_mnist_readings:quick|paper`).  The full-schedule confirmation of the
allowed readings on the paper's width grid is the family noisy_mnist_confirm.

A run of a reading that changes only one rule's runs (sign-FA's scale) has the key of the
book's run it equals, so it is never trained twice; a reading that names its rules (FA's B at
Xavier scale: FA only) borrows the other rules' runs from the reading in SHARES_RUNS_OF."""
from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from ..store import ResultStore, spec_key
# group_key and train_group are noisy_mnist's own: the runs are noisy-MNIST runs.
from .noisy_mnist import (ABLATION, CHOSEN_READING, PAPER, PAPER_RULES, READINGS,  # noqa: F401
                          NoisyMNISTProtocol, group_key, protocol_rows, replay, train_group,
                          with_reading)

NAME = "noisy_mnist_readings"
CELL = ("width", "rule")

# Readings that run only the rules they change; the other rules' runs are those of the reading
# named here at the same scale (identical specs but for a field that does not act on them).
SHARES_RUNS_OF = {"FA's B Xavier, no biases": "fan-in init"}


def reading_protocol(base: NoisyMNISTProtocol, name: str) -> NoisyMNISTProtocol:
    """`base` under reading `name`; a reading in SHARES_RUNS_OF runs only FA (the rule whose
    feedback it redraws)."""
    if name not in READINGS:
        raise ValueError(f"unknown reading {name!r}; readings: {', '.join(READINGS)}")
    protocol = with_reading(base, **READINGS[name])
    if name in SHARES_RUNS_OF:
        protocol = replace(protocol, rules=("fa",))
    return protocol


@dataclass(frozen=True)
class ReadingsSweep:
    """Every reading in `readings` applied to `base`, each at `repeats` repeats."""
    base: NoisyMNISTProtocol = ABLATION
    readings: tuple[str, ...] = tuple(READINGS)
    repeats: int = 2

    def protocols(self) -> dict[str, NoisyMNISTProtocol]:
        return {name: replace(reading_protocol(self.base, name), repeats=self.repeats)
                for name in self.readings}


PROFILES = {
    # The ablation's scale (noisy_mnist.ABLATION: widths 15, 60, 200, the first 2000 epochs of
    # App. A's schedule): every reading at two repeats ...
    "paper": ReadingsSweep(repeats=2),
    # ... and at one repeat (the ten older readings' runs are stored: their new rows first).
    "quick": ReadingsSweep(repeats=1),
    # (each reading changes the protocol's defaults, as ABLATION's do, whichever reading the
    # book shows)
    "smoke": ReadingsSweep(base=replace(NoisyMNISTProtocol(), widths=(15,), repeats=1,
                                        n_train=200, n_test=200, epochs=20, lr_drop_every=10,
                                        measure_every=5),
                           repeats=1),
}


def store_name(profile: str) -> str:
    """The readings store of noisy_mnist.run_readings; smoke's runs have their own."""
    return "noisy_mnist_readings" + ("_smoke" if profile == "smoke" else "")


def run_specs(sweep: ReadingsSweep) -> list[dict]:
    """Repeat-major over readings (one repeat of every reading first), each run once."""
    specs, seen = [], set()
    for spec in sorted((s for p in sweep.protocols().values() for s in p.run_specs()),
                       key=lambda s: s["repeat"]):
        key = spec_key(spec)
        if key not in seen:
            seen.add(key)
            specs.append(spec)
    return specs


def reading_rows(table: pd.DataFrame, base: NoisyMNISTProtocol, repeats: int | None = None
                 ) -> pd.DataFrame:
    """The stored rows of every reading at `base`'s scale, with a 'reading' column and a
    'borrowed' flag (True: the run belongs to the reading in SHARES_RUNS_OF)."""
    if not len(table):
        return table
    frames = []
    for name in READINGS:
        protocol = reading_protocol(base, name)
        if repeats is not None:
            protocol = replace(protocol, repeats=repeats)
        frames.append(protocol_rows(table, protocol).assign(reading=name, borrowed=False))
        if name in SHARES_RUNS_OF:
            lender = reading_protocol(base, SHARES_RUNS_OF[name])
            lender = replace(lender, rules=tuple(r for r in lender.rules
                                                 if r not in protocol.rules),
                             repeats=protocol.repeats)
            frames.append(protocol_rows(table, lender).assign(reading=name, borrowed=True))
    return pd.concat(frames, ignore_index=True)


def planned_runs(base: NoisyMNISTProtocol, repeats: int) -> pd.DataFrame:
    """Runs planned per (reading, width, rule) at `repeats` repeats (borrowed rules count)."""
    rows = []
    for name in READINGS:
        protocol = reading_protocol(base, name)
        rules = PAPER_RULES if name in SHARES_RUNS_OF else protocol.rules
        rows += [{"reading": name, "width": w, "rule": r, "planned": repeats}
                 for w in protocol.widths for r in rules]
    return pd.DataFrame(rows)


def diverged_runs(store: ResultStore) -> dict[str, int]:
    """{run key: epoch at which its loss turned non-finite} of the store's diverged runs."""
    return {r["key"]: r["provenance"]["diverged_epoch"] for r in store.records()
            if r["provenance"].get("diverged_epoch") is not None}


# ----------------------------------------------------------- summaries for the readings chapter
RULE_NAMES = {"fa": "FA", "adafa": "adaFA", "signfa": "sign-FA", "bp": "GD"}
AGREE_FACTOR = 2.0        # a Table 3 cell agrees when ours is within this factor of the paper's


def non_monotone(curve: pd.Series, tol: float = 1e-4) -> bool:
    """Whether an alignment curve both rises and falls by more than `tol` between measurements
    (analysis.alignment_claims' test for Figure 3's sign-FA)."""
    step = curve.diff()
    return bool((step < -tol).any() and (step > tol).any())


def reading_cells(rows: pd.DataFrame, planned: pd.DataFrame) -> pd.DataFrame:
    """Per (reading, width, rule): Table 3's deviation (App. B.1's per-neuron |r_j - 1|,
    weights only, at the end), the final cos(W_2, B_2) (Fig. 3) and whether its curve is
    non-monotone, final train accuracy on the noisy labels and clean test accuracy (Fig. 4):
    means over the stored repeats, with repeats stored and planned."""
    cell = ["reading", "width", "rule"]
    if not len(rows):
        return planned.assign(stored=0)
    ordered = rows.sort_values("epoch")
    shape = ordered.groupby(["reading", "run_key"])["cos_wb_2"].apply(non_monotone)
    last = ordered.groupby(["reading", "run_key"]).tail(1).set_index(["reading", "run_key"])
    last = last.assign(non_monotone=shape).reset_index()
    stats = last.groupby(cell).agg(
        deviation=("neuron_deviation_weights_1", "mean"),
        deviation_se=("neuron_deviation_weights_1", "sem"),
        cos_wb_2=("cos_wb_2", "mean"), non_monotone=("non_monotone", "sum"),
        train_acc=("train_acc", "mean"), test_acc=("test_acc", "mean"),
        stored=("run_key", "nunique")).reset_index()
    out = planned.merge(stats, on=cell, how="left")
    out["stored"] = out["stored"].fillna(0).astype(int)
    return out


def cell_text(value: float, stored: int, planned: int, digits: int = 2) -> str:
    """'0.031 (2/2)', or 'pending (0/2)' for a cell with no stored run."""
    if not stored:
        return f"pending (0/{planned})"
    return f"{value:.{digits}g} ({stored}/{planned})"


def table3_by_reading(cells: pd.DataFrame, paper: pd.DataFrame, readings) -> pd.DataFrame:
    """Table 3 at the readings' widths: one row per (reading, width), one column per rule,
    'deviation (stored/planned)'; the paper's printed values as the first reading."""
    widths = sorted(set(cells.width))
    printed = paper.set_index(["rule", "width"])["mean"]
    rows = {("paper (Table 3)", w): {RULE_NAMES[r]: f"{printed[r, w]:.2g}"
                                      for r in RULE_NAMES if (r, w) in printed.index}
            for w in widths}
    for name in readings:
        c = cells[cells.reading == name].set_index(["width", "rule"])
        for w in widths:
            rows[(name, w)] = {RULE_NAMES[r]: (cell_text(c.at[(w, r), "deviation"],
                                                         c.at[(w, r), "stored"],
                                                         c.at[(w, r), "planned"])
                                               if (w, r) in c.index else "not run")
                               for r in RULE_NAMES}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.names = ["reading", "width"]
    return out


def figure_columns(cells: pd.DataFrame, readings) -> pd.DataFrame:
    """Per reading, Figures 3 and 4 in numbers at the narrowest and widest width: final
    cos(W_2, B_2) of FA, adaFA and sign-FA, sign-FA runs with a non-monotone alignment, and
    final train (noisy labels) and clean test accuracy averaged over the rules run."""
    lo, hi = cells.width.min(), cells.width.max()
    out = {}
    for name in readings:
        c = cells[(cells.reading == name) & (cells.stored > 0)]
        row = {}
        for w in (lo, hi):
            at = c[c.width == w].set_index("rule")
            for r in ("fa", "adafa", "signfa"):
                row[f"cos {RULE_NAMES[r]} @{w}"] = at.cos_wb_2.get(r, float("nan"))
            row[f"train acc @{w}"] = at.train_acc.mean() if len(at) else float("nan")
            row[f"test acc @{w}"] = at.test_acc.mean() if len(at) else float("nan")
        s = c[c.rule == "signfa"]
        row["sign-FA non-monotone"] = (f"{int(s.non_monotone.sum())} of {int(s.stored.sum())}"
                                       if len(s) else "-")
        row["runs stored"] = (f"{int(cells[cells.reading == name].stored.sum())} of "
                              f"{int(cells[cells.reading == name].planned.sum())}")
        out[name] = row
    return pd.DataFrame.from_dict(out, orient="index")


def agreement(cells: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Per reading: Table 3 cells (width x rule) stored, and how many of them lie within
    AGREE_FACTOR of the paper's printed value (ours: final deviation after the ablation's
    schedule; the paper's: its table)."""
    printed = paper.set_index(["rule", "width"])["mean"]
    c = cells[cells.stored > 0]
    c = c[[(r, w) in printed.index for r, w in zip(c.rule, c.width)]]
    factor = c.deviation / [printed[r, w] for r, w in zip(c.rule, c.width)]
    within = (factor <= AGREE_FACTOR) & (factor >= 1 / AGREE_FACTOR)
    return pd.DataFrame({"cells stored": c.groupby("reading").size(),
                         "cells within 2x": within.groupby(c.reading).sum()}
                        ).reindex(list(dict.fromkeys(cells.reading))).fillna(0).astype(int)


def decide(criteria: pd.DataFrame, agree: pd.DataFrame, current: str, allowed) -> dict:
    """The chapter's rule: among the allowed readings with stored runs, the one holding the
    most of the paper's four observations, then with the most Table 3 cells within 2x; it
    replaces the current reading only when strictly ahead (a tie keeps the reading the text
    states, the current one).  Returns {'best', 'adopted', 'current_score', 'best_score'}."""
    score = {}
    for name in allowed:
        if name in criteria.index and name in agree.index and agree.at[name, "cells stored"]:
            score[name] = (int(criteria.at[name, "observations held"]),
                           int(agree.at[name, "cells within 2x"]))
    if current not in score:
        return {"best": None, "adopted": current, "current_score": None, "best_score": None}
    best = max(score, key=lambda n: (score[n], n == current))
    adopted = best if score[best] > score[current] else current
    return {"best": best, "adopted": adopted, "current_score": score[current],
            "best_score": score[best]}


def conditioning(readings, widths=(15, 60, 200), seeds: int = 50) -> pd.DataFrame:
    """Initial conditioning without training: per reading, width and rule, over `seeds`
    networks (seeds 0.. as the sweep draws them), the median and 10% quantile of the run's
    smallest |P_j(0)| (Thm 5.2 / App. B.1's denominator, weights only, float64) and the share
    of networks with a neuron below 1e-3, where one neuron can dominate Table 3's mean."""
    from .noisy_mnist import initial_potentials

    rows, seen = [], {}
    for name in readings:
        # the readings as the ablation applies them (to the protocol's defaults)
        protocol = replace(reading_protocol(ABLATION, name), widths=tuple(widths), repeats=seeds)
        for spec in protocol.run_specs():
            key = spec_key(spec)                  # a run shared by two readings is built once
            if key not in seen:
                seen[key] = float(initial_potentials(spec).abs().min())
            rows.append({"reading": name, "width": spec["width"], "rule": spec["rule"],
                         "min_abs_p0": seen[key]})
    t = pd.DataFrame(rows)
    g = t.groupby(["reading", "width", "rule"], sort=False)["min_abs_p0"]
    return pd.DataFrame({"median": g.median(), "10% quantile": g.quantile(0.1),
                         "share < 1e-3": g.apply(lambda v: float((v < 1e-3).mean()))})


ADDED_READINGS = ("sign-FA scale 1/sqrt(3 fan-in)", "FA's B Xavier, no biases",
           "summed loss (FA family), stated step", "summed loss (FA family), finite step",
           "step 0.05 x3", "step 0.05 x10", "Adam (rate 0.05, same drops)")


def _span(values) -> str:
    values = [v for v in values if v == v]
    if not values:
        return "-"
    lo, hi = min(values), max(values)
    return f"{lo:.2g}" if f"{lo:.2g}" == f"{hi:.2g}" else f"{lo:.2g} to {hi:.2g}"


def readings_note(view: str, results="results", profile: str = "paper") -> str:
    """Markdown for the Table 3, Figure 3 and Figure 4 chapters: which reading they show and,
    computed from the readings' stored runs, how the added readings differ ('pending' where a
    reading has no stored run).  view: table3 | fig3 | fig4."""
    from . import noisy_mnist
    from .. import paper_values

    if view not in ("table3", "fig3", "fig4"):
        raise ValueError(f"unknown view {view!r}; use table3, fig3 or fig4")
    head = (f"This chapter shows the book's reading, **{CHOSEN_READING}** (the readings "
            "chapter decides it). ")
    try:
        res = noisy_mnist.readings_results(profile if profile in PROFILES else "paper", results)
    except FileNotFoundError:
        return head + "The readings' runs are not in this store, so how they differ is untested here."
    cells = reading_cells(res.table, res.planned)
    lo, hi = cells.width.min(), cells.width.max()
    printed = paper_values.table3().set_index(["rule", "width"])["mean"]
    lines = []
    from .noisy_mnist_confirm import ADDED_TO, confirm, confirmation, second_stage_text
    for name in dict.fromkeys((CHOSEN_READING, ADDED_TO, *ADDED_READINGS)):
        c = cells[cells.reading == name].set_index(["width", "rule"])
        stored, planned = int(c.stored.sum()), int(c.planned.sum())
        tag = f"{stored} of {planned} runs stored"
        if not stored:
            lines.append(f"- **{name}**: pending ({tag}).")
            continue
        got = c[c.stored > 0]
        fam = [r for r in ("fa", "adafa", "signfa") if (lo, r) in got.index]
        if view == "table3":
            text = (f"FA-family deviation at width {lo} {_span(got.deviation.get((lo, r)) for r in fam)}"
                    f" (paper {_span(printed[r, lo] for r in fam)}), at width {hi} "
                    f"{_span(got.deviation.get((hi, r)) for r in fam if (hi, r) in got.index)}")
            if (lo, "bp") in got.index:
                text += f"; GD at width {lo} {got.deviation[(lo, 'bp')]:.2g} (paper {printed['bp', lo]:.2g})"
        elif view == "fig3":
            s = got.xs("signfa", level="rule") if "signfa" in got.index.get_level_values("rule") else None
            text = (f"final cos(W2, B2) at width {hi}: "
                    + ", ".join(f"{RULE_NAMES[r]} {got.cos_wb_2[(hi, r)]:.2f}"
                                for r in ("fa", "adafa", "signfa") if (hi, r) in got.index))
            if s is not None:
                text += (f"; sign-FA alignment non-monotone in {int(s.non_monotone.sum())} of "
                         f"{int(s.stored.sum())} runs")
        else:
            at = got.xs(hi, level="width") if hi in got.index.get_level_values("width") else None
            text = ("final train accuracy on the noisy labels at width "
                    f"{hi}: {_span(at.train_acc) if at is not None else '-'}, clean test "
                    f"accuracy {_span(at.test_acc) if at is not None else '-'}")
            div = [k for k in res.diverged_runs if k in set(res.table[res.table.reading == name].run_key)]
            if div:
                text += (f"; {len(div)} run(s) diverged (loss non-finite by epoch "
                         f"{max(res.diverged_runs[k] for k in div)})")
        lines.append(f"- **{name}** ({noisy_mnist.READING_KIND[name]}; {tag}): {text}.")
    crit = analysis_criteria(res.table)
    choice = decide(crit, agreement(cells, paper_values.table3()), ADDED_TO, eligible())
    if choice["adopted"] == ADDED_TO:
        verdict = (f"The readings chapter's rule keeps **{ADDED_TO}** on the 2000-epoch "
                   "ablation.")
    else:
        second = confirm(choice, confirmation(results))
        verdict = (f"On the 2000-epoch ablation the readings chapter's rule prefers "
                   f"**{choice['adopted']}** to **{ADDED_TO}**; the full schedule (6000 "
                   f"epochs, every width, 6 repeats) decides. {second_stage_text(second)}")
    return (head + verdict + " The added readings, from the readings' runs (widths "
            f"{', '.join(map(str, sorted(set(cells.width))))}, the first "
            f"{PROFILES['paper'].base.epochs} epochs, means over stored repeats):\n\n"
            + "\n".join(lines))


def eligible() -> list[str]:
    """The readings the decision may adopt: allowed by the text (not diagnostic) and without
    biases, the networks Theorem 5.2 and App. B.1's weights-only formula are stated for."""
    from . import noisy_mnist
    return [n for n in READINGS if noisy_mnist.READING_KIND[n] == "allowed"
            and not with_reading(ABLATION, **READINGS[n]).bias]


def analysis_criteria(rows: pd.DataFrame) -> pd.DataFrame:
    """analysis.reading_criteria on the readings' rows (borrowed runs included)."""
    from .. import analysis
    return analysis.reading_criteria(rows)
