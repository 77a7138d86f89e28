# %% [markdown]
# # Lechner Tables 5–6: n classes, 64 px
#
# *mDFA with several outputs on n-class tasks at 64 pixels.*
#
# Appendix B.2 of {cite:t}`lechner2020learning` repeats the $n$-class experiment of Tables 3 and 4
# on ImageNet, with $n$ = 3, 5 and 10 classes drawn at random, tanh networks, and the deeper
# networks of its Appendix B.1: four fully connected layers of 1024 units (Table 5) and a
# six-layer CNN (Table 6), trained by BP, DFA, FA and mDFA. The text reports the training
# accuracy and the validation accuracy (ImageNet's test labels are not public). Its two
# readings from Tables 3 and 4, that mDFA can learn with several outputs and that every
# feedback-alignment rule fits less well as $n$ grows, are meant to hold here too.
#
# **Dataset.** ImageNet is not available where this book is built. Our runs use a labelled
# **stand-in**: $n$ classes drawn from the 50 Tiny-ImageNet classes present, at their native
# 64×64 pixels (the text crops and resizes ImageNet to 224×224), 500 training images per class
# (the last 50 held out for selection) and the 50 validation images per class as the test set,
# in the role of the text's ImageNet validation set. The networks are kept layer for
# layer: with the same kernels, strides and "same" padding, the CNN's maps at 64 px are 32, 32,
# 16, 16, 8 and 8 pixels wide instead of 112 to 28. The printed values sit beside ours as a
# reference, not as a target.

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
profile = "quick"          # paper | quick | smoke (rendered at quick: the runs that exist)
device = "auto"            # auto picks CUDA when present
results = "../results"     # result store root
data_root = None           # data root (None: $FALIGN_DATA, then ./data)
train_missing = False      # True: train every run not yet stored (resumable)
overrides = {}             # protocol fields to change, e.g. {"classes_imagenet": [3]}

# %%
from dataclasses import replace

import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from falign import plots
from falign.chapters import glue, show_status
from falign.families import lechner_mdfa

plots.set_style()
# The text's protocol (selection on validation; Table 5's FC network at the quick profile) and,
# beside it, the 20-epoch reading (both tables).
runs = lechner_mdfa.chapter_runs((5, 6), profile, results, device, data_root, train_missing,
                                 overrides, unit="class subset(s)")
tuned, sweep, ours, ours_tuned = runs.tuned, runs.sweep, runs.ours, runs.ours_tuned
tuned_runs, reported, sources = runs.tuned_runs, runs.reported, runs.sources

# %% [markdown]
# ## How the runs are set up
#
# As in the other two table chapters: a rate per cell chosen on held-out training images, each
# run trained until its validation accuracy stops rising and reported at its best validation
# epoch; beside it the 20-epoch reading, the only one of Table 6's CNN:

# %%
lechner_mdfa.readings()

# %% [markdown]
# ## What the runs cost
#
# Forward multiply-adds (× 2, in GFLOP) per example of each network, at the text's 224 px and at
# our 64 px; a training step costs about three times as much. The 224-px FC network's first
# layer alone has $3 \cdot 224^2 \cdot 1024$ weights.

# %%
import pandas as pd

cost = pd.DataFrame({f"{arch.upper()}, {res} px": {
    f"{n} classes": lechner_mdfa.flops_per_example("imagenet", arch, res, n) / 1e9
    for n in (3, 10)} for arch in ("fc", "cnn") for res in (224, 64)}).round(3)
cost

# %% [markdown]
# ## Table 5 (FC, tanh) and Table 6 (CNN, tanh)
#
# Each cell: mean ± standard deviation over the class subsets, and for ours the subsets stored
# of those planned; "training" is the highest training accuracy over the epochs; "validation",
# named as printed, is our test accuracy at the chosen rate and best validation epoch (selected
# runs) or after the last epoch (20-epoch reading); the images held out for selection never
# enter it.

# %%
lechner_mdfa.classes_table({"selected": ours_tuned, "20 epochs": ours}, 5)

# %%
lechner_mdfa.classes_table({"20 epochs": ours}, 6)

# %% [markdown]
# The chosen configurations of Table 5's cells tuned so far (validation accuracy of subset 0 at
# each rate on our held-out training images, %; BP also tried Adam, see the binarised tables'
# chapter), and BP's highest training and test accuracy against the printed values, selected
# and with plain SGD alone (a reading):

# %%
lechner_mdfa.chosen_table(tuned_runs, tuned.protocol, (5,))

# %%
lechner_mdfa.bp_fit(ours_tuned[ours_tuned.table == 5], runs.bp_sgd)

# %%
display(Markdown("\n\n".join(lechner_mdfa.fit_check(ours_tuned, 5, n)
                              for n in tuned.protocol.classes_imagenet)))

# %% [markdown]
# As a figure, Table 5 from the selected runs and Table 6 from the 20-epoch reading (open
# squares: printed, ± standard deviation; filled circles: ours, where stored; dotted: chance,
# $100/n$):

# %% mystnb={"image": {"alt": "Four panels: highest training accuracy and validation accuracy in percent against the number of classes n (3, 5, 10), for Table 5 (FC) and Table 6 (CNN), one colour per learning rule; printed values as open squares with standard-deviation bars, our stand-in runs as filled circles where stored, chance as a dotted line."}}
fig = lechner_mdfa.classes_figure(pd.concat([ours_tuned[ours_tuned.table == 5],
                                             ours[ours.table == 6]]), (5, 6))

# %%
# Numbers for the prose.
ref = lechner_mdfa.printed((5, 6)).set_index(["table", "n_classes", "rule", "set"])["mean"]
mine = ours.set_index(["table", "n_classes", "rule", "set"])["mean"]
for t in (5, 6):
    for n in sweep.protocol.classes_imagenet:
        for rule in ("bp", "dfa", "fa", "mdfa"):
            for split in ("train", "test"):
                glue(f"ours{t}_{n}_{rule}_{split}", float(mine.get((t, n, rule, split), np.nan)))
                glue(f"paper{t}_{n}_{rule}_{split}", float(ref.get((t, n, rule, split), np.nan)))
table5 = ours[(ours.table == 5) & ours["mean"].notna()]
printed5 = lechner_mdfa.printed((5,)).set_index(["n_classes", "rule", "set"])["mean"]
below = [row["mean"] < printed5[row.n_classes, row.rule, row.set] for _, row in table5.iterrows()
         if row.set == "test"]
glue("t5_test_cells", len(below))
glue("t5_test_below_paper", sum(below))
grid5 = lechner_mdfa.grid_core_hours(replace(tuned.protocol, tables=(5,)))
glue("t5_low", grid5.core_h_at_min_epochs.sum())
glue("t5_high", grid5.core_h_at_cap.sum())
glue("grid_cpu", lechner_mdfa.EPOCH_CPU)
t5 = tuned.cells[tuned.cells.table == 5]
glue("t5_stored", int(t5.stored.sum()))
glue("t5_planned", int(t5.planned.sum()))
glue("stored", sweep.stored)
glue("expected", sweep.expected)
try:
    cost = lechner_mdfa.pending_core_hours(sweep).loc[lechner_mdfa.HEAVY_KIND]
except ValueError:                   # no 20-epoch CPU run stored to scale the estimate from
    cost = pd.Series({"core_hours": np.nan, "longest_run_h": np.nan, "runs": np.nan})
glue("heavy_core_hours", cost["core_hours"])
glue("heavy_runs", cost["runs"])
glue("heavy_run_hours", cost["longest_run_h"])
_ = glue("cnn_ratio", lechner_mdfa.flops_per_example("imagenet", "cnn", 224, 10)
         / lechner_mdfa.flops_per_example("imagenet", "cnn", 64, 10))

# %% [markdown]
# ## Reading the tables
#
# **Table 5 (FC), 20-epoch reading.** Both subsets of every cell are stored. As in the 32-px
# tables, our networks fit far less than the text's after 20 epochs at one fixed rate: at three classes BP reaches
# {glue:text}`ours5_3_bp_train:.1f`% training accuracy (printed
# {glue:text}`paper5_3_bp_train:.1f`%), DFA {glue:text}`ours5_3_dfa_train:.1f`%, FA
# {glue:text}`ours5_3_fa_train:.1f`% and mDFA {glue:text}`ours5_3_mdfa_train:.1f`% (printed
# {glue:text}`paper5_3_dfa_train:.1f`, {glue:text}`paper5_3_fa_train:.1f`,
# {glue:text}`paper5_3_mdfa_train:.1f`%): FA and mDFA fit more than the text's at three
# classes, DFA about as much, BP far less. {glue:text}`t5_test_below_paper:.0f` of our
# {glue:text}`t5_test_cells:.0f` validation cells are below their printed values. At
# ten classes the printed validation accuracies are BP {glue:text}`paper5_10_bp_test:.1f`%,
# mDFA {glue:text}`paper5_10_mdfa_test:.1f`% and DFA {glue:text}`paper5_10_dfa_test:.1f`%;
# ours are BP {glue:text}`ours5_10_bp_test:.1f`%, mDFA {glue:text}`ours5_10_mdfa_test:.1f`%,
# DFA {glue:text}`ours5_10_dfa_test:.1f`% and FA {glue:text}`ours5_10_fa_test:.1f`% (chance:
# 10%). The selected runs above, trained to a plateau at a rate chosen on held-out images,
# replace this reading cell by cell as they are stored: {glue:text}`t5_stored:.0f` of
# {glue:text}`t5_planned:.0f` reported runs so far (Table 5 follows Tables 1, 2 and 3's
# small $n$ in the background queue; its FC column is {glue:text}`t5_low:.0f` to
# {glue:text}`t5_high:.0f` core-hours on one core, {glue:text}`grid_cpu`).
#
# **Table 6 (CNN) waits for a GPU.** Its {glue:text}`heavy_runs:.0f` runs at this profile need
# about {glue:text}`heavy_core_hours:.0f` core-hours on the CPU these runs were trained on (up
# to {glue:text}`heavy_run_hours:.1f` h for one ten-class run; estimated from the stored runs'
# cost per FLOP by `lechner_mdfa.pending_core_hours`), so the sweep trains them after every
# other cell. What the printed table says on its own:
#
# - **FA fails with the deep CNN.** FA's printed training accuracy in Table 6 is
#   {glue:text}`paper6_3_fa_train:.1f`% at three classes and its validation accuracy at ten
#   classes {glue:text}`paper6_10_fa_test:.1f`%: chance, while DFA and mDFA learn. A
#   hypothesis the printed table cannot test: FA passes the error back layer by layer through
#   six convolutional layers' random feedback, and what reaches the early layers carries no
#   usable signal with the text's settings, whereas DFA and mDFA send the error to every layer
#   directly. Table 6's runs here, once a GPU trains them, with the alignment angle per layer,
#   would test it.
# - **Compute.** At 224 px the CNN costs {glue:text}`cnn_ratio:.1f` times what it costs at 64 px
#   per example, one reason the stand-in keeps Tiny-ImageNet's native size.

# %% [markdown]
# ## Provenance
#
# The selected runs, then the 20-epoch reading.

# %%
lechner_mdfa.provenance(tuned)

# %%
lechner_mdfa.provenance(sweep)

# %% [markdown]
# ## Exercises
#
# Both exercises run in milliseconds: the first reads the printed tables, the second counts
# the networks' weights.

# %% [markdown] exercise={"level": "starter", "minutes": 15, "needs": "nothing"}
# :::{admonition} Exercise 1: is FA's CNN learning at all?
# :class: tip
# For every rule of Table 6, compute the printed accuracy minus chance ($100/n$), for training and
# validation, at $n$ = 3, 5, 10. Predict first which margins are within one printed standard
# deviation of zero (column `within_one_sd`), and for which rule.
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 1
# Only one margin is within a standard deviation of zero: FA's validation accuracy at ten
# classes, about half a point above chance. FA's training margins are one to three points,
# above chance by more than their small standard deviations but far below every other rule's:
# FA fits almost nothing with this CNN. Its validation margins at three and five classes
# (about 20 and 9 points) exceed its training margins, a sign of how noisy an estimate from a
# network that fitted so little is. Every other rule is far above chance everywhere.
# :::

# %% tags=["solution", "hide-cell"]
t6 = lechner_mdfa.printed((6,))
t6 = t6.assign(margin=t6["mean"] - 100.0 / t6.n_classes,
               within_one_sd=lambda t: (t["mean"] - 100.0 / t.n_classes).abs() <= t.sd)
print("within one sd of chance:", t6[t6.within_one_sd][["rule", "set", "n_classes"]].to_dict("records"))
t6.pivot(index=["set", "n_classes"], columns="rule", values="margin").round(1)

# %% [markdown] exercise={"level": "starter", "minutes": 15, "needs": "nothing"}
# :::{admonition} Exercise 2: how many weights?
# :class: tip
# Count the weights of the FC and CNN networks of Appendix B.1 for ImageNet at 224 px and at
# 64 px, with ten outputs (`lechner_mdfa.build_network("imagenet", arch, "tanh", 10, res)`).
# Which network grows with the input size, and by how much? What does the DFA matrix $D$ of the
# CNN's second layer cost at each size (it maps the ten outputs to every input feature of that
# layer)?
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 2
# The convolutions have the same weights at any input size; only the layers that see the whole
# image grow. The FC network's first layer has $3 \cdot \text{res}^2 \cdot 1024$ weights, about
# 154 million at 224 px and 12.6 million at 64 px, and the CNN's output layer reads the flattened
# last map, $384 \cdot (\text{res}/8)^2$ features. DFA's matrices grow the same way: the second
# layer's $D$ reads $96 \cdot (\text{res}/2)^2$ features, so with ten outputs it holds about 12
# million numbers at 224 px, several times the weights of the CNN's convolutions, and about one
# million at 64 px.
# :::

# %% tags=["solution", "hide-cell"]
counts = {}
for res in (224, 64):
    for arch in ("fc", "cnn"):
        net = lechner_mdfa.build_network("imagenet", arch, "tanh", 10, res)
        counts[(arch.upper(), f"{res} px")] = {
            "weights (millions)": sum(p.numel() for n, p in net.named_parameters() if n.endswith("weight")) / 1e6,
            "D of CNN layer 2 (millions)": 10 * 96 * (res // 2) ** 2 / 1e6 if arch == "cnn" else float("nan")}
pd.DataFrame(counts).T.round(2)
