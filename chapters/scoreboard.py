# %% [markdown]
# # Scoreboard: what reproduced
#
# *What reproduced, in all three works.*
#
# One row per printed number, claim, theorem, lemma or proposition of
# {cite:t}`robertson2024implicit`, {cite:t}`lillicrap2016random` and {cite:t}`lechner2020learning`
# that this book regenerates or checks. Every row comes from one registry (`falign.registry`):
# the printed value, ours, the runs it rests on (stored of planned), the device, the chapter, the
# test that decides it, and a status computed when the page is rendered, from the result store
# for experiments and from the values the theorem chapters computed (float64) for theory.
#
# - **reproduced**: a printed number agrees with ours within two standard errors of the
#   difference, an ordering or trend holds at its stated test, or a theorem's statement checks;
# - **differs**: it does not; the row's reason is the chapter's;
# - **pending compute**: no run is stored yet; the reason gives the measured cost of the rest;
# - **not comparable here**: ours come from a stand-in dataset (CIFAR-100 and ImageNet are not
#   available to this book), so only orderings and trends compare, and those are rows of their
#   own;
# - **printed statement wrong**: the chapter shows the printed form is wrong; the
#   [errata](errata.ipynb) give the corrected form;
# - **undecided**: the stored repeats cannot decide the ordering or trend at the stated test.
#
# Orderings and trends are decided by a one-sided Welch t-test over repeats, or a one-sided sign
# test over runs or paired runs, at $\alpha = 0.05$; each row names its test. With two repeats a
# side the Welch test has about two degrees of freedom, so gaps of a few points stay undecided
# until more repeats are stored.

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
profile = "paper"          # the scoreboard reads the stored grids as they are; other values are ignored
results = "../results"     # result store root

# %%
from IPython.display import HTML, display

from falign import plots, registry
from falign.chapters import glue
from falign.scoreboard import board_html, scoreboard, status_figure, tally

plots.set_style()
board = scoreboard(results, chapters=".")
counts = tally(board)
for status in registry.STATUSES:
    glue(f"n_{status.replace(' ', '_')}", int(counts.loc["all", status]))
_ = glue("n_rows", len(board))

# %% [markdown]
# ## Counts per work and status
#
# {glue:text}`n_rows:.0f` rows: {glue:text}`n_reproduced:.0f` reproduced,
# {glue:text}`n_differs:.0f` differ, {glue:text}`n_printed_statement_wrong:.0f` printed
# statements wrong, {glue:text}`n_undecided:.0f` undecided, {glue:text}`n_pending_compute:.0f`
# pending compute and {glue:text}`n_not_comparable_here:.0f` not comparable here.

# %%
counts

# %% mystnb={"image": {"alt": "Stacked horizontal bars, one per work, counting the scoreboard's rows by status: reproduced, differs, pending compute, not comparable here, printed statement wrong, undecided."}}
fig = status_figure(counts.drop(index="all").drop(columns="total"))

# %% [markdown]
# ## Every row
#
# Status and ours first; click a claim for the printed value, the runs, the device, the test, the
# reason and the chapter.

# %%
for work in registry.WORKS:
    display(HTML(f"<h3>{work}</h3>" + board_html(board[board.work == work])))
