# %% [markdown]
# # Errata: printed statements found wrong
#
# *Printed statements the book finds wrong.*
#
# Every place where a chapter of this book finds a printed statement, equation, table entry or
# protocol detail of {cite:t}`robertson2024implicit`, {cite:t}`lillicrap2016random` or
# {cite:t}`lechner2020learning` wrong or inconsistent: what is printed, the corrected form (where
# one can be given), the computation that shows it, with its number as the chapter computed it,
# and how sure we are. The list lives in `falign.registry.ERRATA`; each item links to its
# chapter, where the computation runs, and most are also rows of the
# [scoreboard](scoreboard.ipynb) with the status "printed statement wrong". The numbers below
# are read from the rendered chapters, so they are the chapters' own digits.
#
# Confidence: **high** when the correction is algebra, shapes or a float64 computation that
# leaves no room; **medium** when the printed form is wrong but what the authors ran is
# unknown; **low** when a printed value is only implausible.

# %% tags=["remove-cell"]
# On Colab: clone the book (library and stored runs) and set it up; elsewhere: nothing.
import subprocess
import sys

if "google.colab" in sys.modules:
    subprocess.run(["git", "clone", "-q", "--depth", "1",
                    "https://github.com/falign-book/feedback-alignment-reproduced", "/content/book"])
    sys.path.insert(0, "/content/book/src")
    __import__("falign.colab").colab.setup("/content/book")

# %% tags=["parameters"]
profile = "paper"          # not used: the errata read the rendered chapters
results = "../results"     # not used

# %%
import html

import numpy as np
import pandas as pd

from IPython.display import HTML, display

from falign import registry
from falign.chapters import glue

table = registry.errata_rows(registry.Context(results, chapters="."))
for work in registry.WORKS:
    glue(f"errata_{work.split()[0].lower()}", int((table.work == work).sum()))
_ = glue("errata_total", len(table))

# %% [markdown]
# {glue:text}`errata_total:.0f` items: {glue:text}`errata_robertson:.0f` in Robertson & Koyejo,
# {glue:text}`errata_lillicrap:.0f` in Lillicrap et al. and {glue:text}`errata_lechner:.0f` in
# Lechner. None of them overturns a main claim of its work: each theorem checked here holds once
# its statement or proof is corrected (see the scoreboard's theory rows).

# %% mystnb={"image": {"alt": "Horizontal bars, one per work, counting the errata by confidence: high, medium, low."}}
import matplotlib.pyplot as plt

level = table.confidence.str.split(":").str[0]
by = pd.crosstab(table.work, level).reindex(index=list(registry.WORKS),
                                             columns=["high", "medium", "low"], fill_value=0)
fig, ax = plt.subplots(figsize=(6.4, 2.2))
left = np.zeros(len(by))
for conf, colour in zip(by.columns, ("#332288", "#88CCEE", "#DDDDDD")):
    ax.barh(by.index, by[conf], left=left, color=colour, label=conf, edgecolor="white")
    left += by[conf].to_numpy()
ax.invert_yaxis()
ax.set_xlabel("errata (count)")
ax.legend(title="confidence", ncol=3, fontsize=8, loc="lower center",
          bbox_to_anchor=(0.5, 1.0), frameon=False)
fig.tight_layout()

# %%
esc = lambda s: html.escape(str(s))
for work in registry.WORKS:
    items = table[table.work == work]
    cards = "".join(
        f"<details open><summary><b>{esc(r.where)}</b> "
        f"(<a href=\"{esc(r.chapter)}.html\">{esc(r.chapter)}</a>)</summary><ul>"
        f"<li><b>printed:</b> {esc(r.printed)}</li><li><b>corrected:</b> {esc(r.corrected)}</li>"
        f"<li><b>computation:</b> {esc(r.computation)}</li>"
        f"<li><b>confidence:</b> {esc(r.confidence)}</li></ul></details>"
        for r in items.itertuples())
    display(HTML(f"<h3>{esc(work)}</h3>{cards}"))
