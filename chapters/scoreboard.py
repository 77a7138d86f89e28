# %% [markdown]
# # Scoreboard: every item of the paper, theirs and ours
#
# One row per number the paper prints or claim it makes, for every item this book regenerates:
# the paper's value, ours, how many of the planned runs ours rest on, where they were trained,
# and a status. The page is computed from the result store each time the book is rendered,
# so it cannot drift from the chapters; follow the chapter link for the explanation of a row
# that differs.
#
# - **reproduced**: a printed number agrees with ours within two standard errors of the
#   difference (a cell with one run borrows the paper's standard error), or a claim holds in
#   every run or width it is checked on;
# - **differs**: it does not; the chapter says where and why we think so;
# - **pending GPU run**: no run of that cell is stored yet; the chapter's banner names the
#   command that trains it;
# - **not reproducible here**: the paper's data cannot be had on the machine this book was built
#   on (CIFAR-100); ours come from a labelled stand-in, so only orderings compare (those are rows
#   of their own).
#
# Table 3 spans four orders of magnitude, so its rows count the widths at which our deviation is
# within a factor of two of the paper's.

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
profile = "paper"          # the scoreboard always reads the paper grids; other values are ignored
results = "../results"     # result store root

# %%
from IPython.display import HTML, display

from falign import plots
from falign.scoreboard import linked, scoreboard, tally

plots.set_style()
board = scoreboard(results)

# %% [markdown]
# ## Status by item

# %% mystnb={"image": {"alt": "Stacked horizontal bars, one per paper item, counting the scoreboard's rows by status: reproduced, differs, pending GPU run, not reproducible here."}}
counts = tally(board)
fig = plots.status_bars(counts)
counts

# %% [markdown]
# ## Every row

# %%
display(HTML(linked(board).to_html(index=False, escape=False, classes="dataframe")))
