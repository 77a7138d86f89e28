"""The book's scoreboard: one row per entry of falign.registry (every printed number, claim,
theorem, lemma and proposition of the three works that the book regenerates or checks), with
the printed value, ours, runs stored of planned, the device, the chapter, the test that decides
orderings and trends, and a status computed from the result store and the rendered chapters
(registry.STATUSES).  The scoreboard iterates over the registry: a chapter adds rows by adding
entries there.  `verdict_markdown` turns the board into the landing page's summary."""
from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from . import registry
from .registry import COLUMNS, STATUSES, WORKS

ROOT = registry.ROOT
VERDICT = ROOT / "verdict.md"          # included by intro.md; tests/test_registry.py checks it


def scoreboard(results: str | Path = ROOT / "results", chapters=None) -> pd.DataFrame:
    """Every registry entry, one row each (COLUMNS)."""
    ctx = registry.Context(results, chapters)
    return pd.DataFrame([e.row(ctx) for e in registry.entries()], columns=COLUMNS)


def tally(board: pd.DataFrame, by: str = "work") -> pd.DataFrame:
    """How many rows of each `by` (work or item) have each status, with totals."""
    order = [w for w in WORKS if w in set(board[by])] if by == "work" else None
    counts = (board.groupby([by, "status"], sort=False).size().unstack(fill_value=0)
              .reindex(columns=list(STATUSES), fill_value=0))
    if order:
        counts = counts.reindex(order)
    counts.loc["all"] = counts.sum()
    counts["total"] = counts.sum(axis=1)
    return counts


# One colour per status (Paul Tol's muted scheme, distinguishable in colour-blind vision).
STATUS_COLORS = {registry.REPRODUCED: "#117733", registry.DIFFERS: "#882255",
                 registry.WRONG: "#AA4499", registry.UNDECIDED: "#88CCEE",
                 registry.PENDING: "#DDCC77", registry.NOT_COMPARABLE: "#BBBBBB"}


def status_figure(counts: pd.DataFrame):
    """Counts (rows: works, columns: statuses) as stacked horizontal bars."""
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(7.0, 0.5 * len(counts) + 1.6))
    left = np.zeros(len(counts))
    for status, colour in STATUS_COLORS.items():
        values = counts[status].to_numpy(dtype=float)
        ax.barh(counts.index, values, left=left, color=colour, label=status, edgecolor="white")
        left += values
    ax.invert_yaxis()
    ax.set_xlabel("scoreboard rows (printed numbers, claims and theorem checks)")
    ax.legend(ncol=3, fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout()
    return fig


STATUS_CLASS = {s: s.replace(" ", "-") for s in STATUSES}
_STYLE = """<style>
.sb{width:100%;table-layout:fixed;border-collapse:collapse;font-size:0.85em}
.sb td,.sb th{border-bottom:1px solid #ddd;padding:3px 4px;vertical-align:top;
 overflow-wrap:anywhere;word-break:normal;white-space:normal;text-align:left}
.sb col.st{width:7.5em}.sb col.ou{width:38%}
.sb .st{font-weight:600}
.sb .reproduced{color:#0b6e4f}.sb .differs{color:#b3400b}.sb .printed-statement-wrong{color:#8e1b6f}
.sb .undecided{color:#555}.sb .pending-compute{color:#555}.sb .not-comparable-here{color:#555}
.sb details summary{cursor:pointer}
@media (max-width:600px){.sb col.st{width:5.5em}.sb{font-size:0.78em}}
</style>"""


def board_html(board: pd.DataFrame) -> str:
    """The board as a three-column table (status, ours, the claim) that fits a 400-px screen:
    the printed value, runs, device, test, reason and chapter link are one click away in
    each row's details."""
    esc = lambda s: html.escape(str(s))
    rows = []
    for r in board.itertuples():
        details = "".join(
            f"<br><b>{label}:</b> {esc(value)}" for label, value in
            (("printed", r.printed), ("runs stored/planned", r.runs), ("device", r.device),
             ("test", r.test), ("reason", r.reason)) if value not in ("", "-", None))
        link = f'<br><a href="{esc(r.chapter)}.html">{esc(r.chapter)}</a>'
        claim = (f"<details><summary>{esc(r.item)}: {esc(r.what)}</summary>"
                 f"<small>{details}{link}</small></details>")
        rows.append(f'<tr><td class="st {STATUS_CLASS[r.status]}">{esc(r.status)}</td>'
                    f"<td>{esc(r.ours)}</td><td>{claim}</td></tr>")
    return (_STYLE + '<table class="sb"><colgroup><col class="st"><col class="ou"><col>'
            "</colgroup><thead><tr><th>status</th><th>ours</th><th>claim (click for printed, "
            "runs, test, reason, chapter)</th></tr></thead><tbody>" + "".join(rows)
            + "</tbody></table>")


def _names(board, status, full: bool = False) -> str:
    """The rows of one status: each claim (full) or each item with its row count."""
    sub = board[board.status == status]
    if sub.empty:
        return "none"
    if full:
        return "; ".join(f"{r.item} ({r.work.split(' ')[0]}): {r.what}" for r in sub.itertuples())
    n = sub.groupby(["work", "item"], sort=False).size()
    return ", ".join(f"{item} ({work.split(' ')[0]}, {k})" for (work, item), k in n.items())


def verdict_markdown(board: pd.DataFrame) -> str:
    """The landing page's reproducibility summary, computed from the board."""
    counts = tally(board)
    n = len(board)
    head = "| work | " + " | ".join(STATUSES) + " | total |\n|---|" + "---|" * (len(STATUSES) + 1)
    lines = [head] + ["| " + str(w) + " | " + " | ".join(str(int(v)) for v in row) + " |"
                      for w, row in counts.iterrows()]
    c = counts.loc["all"]
    return "\n".join([
        "<!-- generated by `python -m falign.scoreboard verdict`; tests/test_registry.py fails "
        "when it is stale -->",
        f"The scoreboard holds **{n}** printed numbers, claims and theorem checks of the three "
        f"works. **{int(c[registry.REPRODUCED])} reproduce**, **{int(c[registry.DIFFERS])} "
        f"differ**, **{int(c[registry.WRONG])}** are printed statements the book finds wrong "
        f"(each on the [errata page](chapters/errata.ipynb)), **{int(c[registry.UNDECIDED])}** "
        f"are orderings or trends the stored repeats cannot decide, "
        f"**{int(c[registry.PENDING])}** wait for compute and **{int(c[registry.NOT_COMPARABLE])}"
        f"** come from stand-in datasets, where only orderings and trends compare.",
        "",
        *lines,
        "",
        f"- **What holds** (rows per item): {_names(board, registry.REPRODUCED)}.",
        f"- **What does not:** {_names(board, registry.DIFFERS, full=True)}.",
        f"- **Printed statements found wrong** (rows per item): "
        f"{_names(board, registry.WRONG)}.",
        f"- **Undecided** (more repeats would settle them at the stated test): "
        f"{_names(board, registry.UNDECIDED, full=True)}.",
        f"- **Pending compute** (rows per item; each row gives the runs and their cost): "
        f"{_names(board, registry.PENDING)}.",
        "",
    ])


def write_verdict(results: str | Path = ROOT / "results", path: Path = VERDICT) -> str:
    text = verdict_markdown(scoreboard(results))
    Path(path).write_text(text)
    return text


# The pages that summarise the other chapters: the registry reads the chapters' glued values, so
# these render last, after verdict.md has been rewritten from the freshly rendered chapters.
SUMMARY_PAGES = ("scoreboard", "errata", "limitations")


def render_order(names: list[str]) -> tuple[list[str], list[str]]:
    """Split chapter names into (chapters, summary pages), each in its given order; the
    summary pages always render after the chapters and after verdict.md is rewritten."""
    return ([n for n in names if n not in SUMMARY_PAGES],
            [n for n in SUMMARY_PAGES if n in names])


def render_book(names: list[str] | None = None, allow_uncommitted: bool = False) -> None:
    """The full re-render (make notebooks): the chapters first, then verdict.md from the store
    and the chapters just rendered, then the scoreboard, errata and limitations pages.  With
    names, those chapters, then the verdict and every summary page (their rows read them)."""
    from . import notebooks
    chapters, pages = render_order(names or notebooks.chapter_names())
    if names:
        pages = list(SUMMARY_PAGES)
    notebooks.render(chapters, allow_uncommitted)
    write_verdict()
    print(f"wrote {VERDICT.name}")
    notebooks.render(pages, allow_uncommitted)


USAGE = ("usage: python -m falign.scoreboard verdict                  (rewrites verdict.md)\n"
         "       python -m falign.scoreboard render [chapter ...] [--family NAME ...]\n"
         "                                          [--allow-uncommitted]\n"
         "           (chapters, then verdict.md, then the scoreboard/errata/limitations pages;\n"
         "            --family NAME adds every chapter that reads NAME's runs)")


def main(argv: list[str]) -> None:
    if argv == ["verdict"]:
        print(write_verdict())
    elif argv[:1] == ["render"]:
        from .notebooks import chapters_reading
        names, rest = [], [a for a in argv[1:] if a != "--allow-uncommitted"]
        while rest:
            arg = rest.pop(0)
            if arg == "--family":
                if not rest or rest[0].startswith("-"):
                    raise SystemExit(f"--family needs a family name\n{USAGE}")
                names += chapters_reading(rest.pop(0))
            elif arg.startswith("-"):
                raise SystemExit(f"unknown option {arg!r}\n{USAGE}")
            else:
                names.append(arg)
        render_book(list(dict.fromkeys(names)) or None, "--allow-uncommitted" in argv[1:])
    else:
        raise SystemExit(USAGE)


if __name__ == "__main__":
    import sys
    main(sys.argv[1:])
