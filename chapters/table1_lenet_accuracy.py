# %% [markdown]
# # Table 1: LeNet accuracy by rule
#
# *LeNet on n-class subsets, test accuracy by learning rule.*
#
# Section 6.2 of {cite:t}`robertson2024implicit` leaves two-layer networks and asks whether what
# the theory says about alignment matters for deep convolutional networks. The conservation law
# (Theorem 5.2) ties each hidden unit's growth to the alignment of its outgoing weights with the
# feedback, so a rule that *starts* aligned (adaFA, $B = W^{(0)}$) or *stays* aligned by
# construction (sign-FA, $B = s\,\mathrm{sign}(W)$, whose cosine with $W$ never drops below
# $1/\sqrt{\#W}$, Proposition 5.3) should send the error back along directions closer to the
# gradient than FA's fixed random $B$. Table 1 tests this on the paper's LeNet and a task whose
# difficulty grows with the number of classes $n$.
#
# **Protocol (App. A, CIFAR-100 paragraph).** LeNet as in the package the paper used: three
# $3\times3$ convolutions without padding (32, 64, 128 channels, ReLU, max-pool after the first
# two), global average pooling, fully connected $128 \to 256 \to n$. Xavier-uniform weights,
# zero biases; FA's $B$ Xavier-uniform too; sign-FA's scale $s = \sqrt{2/(\text{fan-in} +
# \text{fan-out})}$. Cross-entropy, SGD with momentum 0.9, learning rate 0.01 halved at epochs
# 100 and 250, weight decay $10^{-4}$, batch 1024 with the last partial batch dropped, 500
# epochs, six repeats. One class subset per $n$, drawn once and shared by every rule and
# repeat; repeats differ in initialisation, feedback and batch order. Inputs standardised per
# channel with the training subset's mean and standard deviation; no augmentation.
#
# **Dataset.** CIFAR-100 could not be obtained on the machine this book was built on, so every
# number below comes from the **stand-in** named in the provenance card: the Tiny-ImageNet
# classes available here, each image downsampled from 64 to 32 pixels with an antialiasing
# filter, training images as the training set and validation images (50 per class) as the
# test set. Like CIFAR-100 it gives 500 training images per class at 32×32, but the classes and
# images are different, so compare **orderings and gaps** with the paper, not absolute
# accuracies.

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
profile = "paper"          # paper | quick | smoke
device = "auto"            # auto picks CUDA when present
results = "../results"     # result store root
data_root = None           # data root (None: $FALIGN_DATA, then ./data)
train_missing = False      # True: train every run not yet stored (resumable)
overrides = {}             # protocol fields to change, e.g. {"n_classes": [10]}

# %%
from IPython.display import Markdown, display

from falign import analysis, paper_values, plots
from falign.chapters import load_results, provenance_card, show_status
from falign.families import lenet_cifar

plots.set_style()
sweep = load_results("lenet_cifar", profile, results, device, data_root, train_missing,
                     overrides=overrides)
show_status(sweep)
acc = analysis.accuracy_table(sweep.table, sweep.cells)
paper = paper_values.table1()
# The paper's gaps, glued into the prose below.
from falign.chapters import glue

ref = paper.set_index(["n_classes", "rule"])["mean"]
for n in sorted(set(paper.n_classes)):
    glue(f"paper_gd_minus_signfa_{n}", ref[n, "bp"] - ref[n, "signfa"])
    glue(f"paper_adafa_minus_fa_{n}", ref[n, "adafa"] - ref[n, "fa"])
    glue(f"paper_gd_minus_fa_{n}", ref[n, "bp"] - ref[n, "fa"])
    glue(f"paper_signfa_minus_adafa_{n}", ref[n, "signfa"] - ref[n, "adafa"])

# %% [markdown]
# ## The table
#
# Final test accuracy (%) after the last epoch, mean ± standard error over the repeats stored
# (k/K: repeats stored of repeats planned); the paper's values beside ours. Ours are on the
# stand-in dataset, the paper's on CIFAR-100.

# %%
analysis.side_by_side_cells(acc, paper, "n_classes")

# %% [markdown]
# The same numbers as a figure (filled: ours; open, dashed: the paper's):

# %% mystnb={"image": {"alt": "Final test accuracy in percent against the number of classes n, one colour per learning rule: our runs as filled circles with standard-error bars, the paper's Table 1 as open squares on dashed lines."}}
fig = plots.accuracy_vs_classes(acc, paper)

# %% [markdown]
# ## The paper's claims, checked
#
# The paper reads Table 1 as: sign-FA stays close to GD at every $n$ (GD leads by
# {glue:text}`paper_gd_minus_signfa_10:.1f`, {glue:text}`paper_gd_minus_signfa_25:.1f` and
# {glue:text}`paper_gd_minus_signfa_50:.1f` points at $n$ = 10, 25, 50); initialisation (adaFA
# over FA) helps most on the easiest task ({glue:text}`paper_adafa_minus_fa_10:.1f`,
# {glue:text}`paper_adafa_minus_fa_25:.1f`, {glue:text}`paper_adafa_minus_fa_50:.1f` points);
# every rule loses accuracy as $n$ grows; hence alignment matters more than initialisation.
# (The GD–FA gap is nearly flat in the paper, {glue:text}`paper_gd_minus_fa_10:.1f`,
# {glue:text}`paper_gd_minus_fa_25:.1f`, {glue:text}`paper_gd_minus_fa_50:.1f` points: the
# claim is about adaFA's advantage shrinking, not about FA falling further behind.) Each
# sentence below is computed from the stored runs:

# %%
display(Markdown("\n".join(f"- {line}" for line in lenet_cifar.table1_verdicts(acc, paper))))
analysis.rounded(analysis.table1_claims(acc), 3)

# %% [markdown]
# ## Training curves
#
# Train accuracy is the running mean over each epoch's mini-batches (the network changes
# during the epoch), test accuracy is measured after the epoch. The learning rate halves at
# epochs 100 and 250.

# %% mystnb={"image": {"alt": "Training and test accuracy in percent against epoch for the LeNet, one row of panels per number of classes, one line per learning rule with a standard-error band."}}
grid = plots.accuracy_curves(sweep.table)

# %%
# Our numbers at n = 10, glued into the next section's prose.
stored = sweep.cells.groupby("n_classes").stored.min()
for n in sorted(set(paper.n_classes)):
    glue(f"repeats_stored_{n}", stored.get(n, float("nan")))
glue("repeats_planned", sweep.cells.planned.max())
n0 = 10 if 10 in set(sweep.table.n_classes) else sweep.table.n_classes.min()
cell = acc[acc.n_classes == n0].set_index("rule")
glue("fa_below_adafa", cell.loc["adafa", "mean"] - cell.loc["fa", "mean"])
glue("fa_below_gd", cell.loc["bp", "mean"] - cell.loc["fa", "mean"])
glue("signfa_above_adafa", cell.loc["signfa", "mean"] - cell.loc["adafa", "mean"])
glue("signfa_above_adafa_se", (cell.loc["signfa", "se"] ** 2 + cell.loc["adafa", "se"] ** 2) ** 0.5)
glue("gd_above_signfa", cell.loc["bp", "mean"] - cell.loc["signfa", "mean"])
glue("largest_se", cell["se"].max())
# GD's training accuracy (%): its last epoch, and the gain of its mean over the last ten
# epochs on the ten epochs a hundred epochs earlier.
gd_train = 100 * sweep.table[(sweep.table.rule == "bp") & (sweep.table.n_classes == n0)
                             ].groupby("epoch").train_acc.mean()
last = gd_train.index.max()
glue("gd_train_final", gd_train[last])
_ = glue("gd_train_gain_last_100",
         gd_train.loc[last - 9:last].mean() - gd_train.loc[last - 109:last - 100].mean())

# %% [markdown]
# ## Where we agree and where we do not
#
# Our runs use Tiny-ImageNet classes in place of CIFAR-100, so a printed cell and ours are not
# the same measurement: only orderings and trends compare. Each ordering the paper reads into
# Table 1 is decided below by the test its row names (a one-sided Welch t-test over the stored
# repeats at $\alpha = 0.05$; "undecided" while the repeats stored cannot decide it, "pending
# compute" while a column has no runs). These are the scoreboard's rows, recomputed whenever
# runs are added: {glue:text}`repeats_stored_10:.0f` of {glue:text}`repeats_planned:.0f`
# repeats per rule are stored at $n = 10$, {glue:text}`repeats_stored_25:.0f` at $n = 25$ and
# {glue:text}`repeats_stored_50:.0f` at $n = 50$.

# %%
from falign import registry

orderings = registry.compare(k for k in registry.keys() if k.startswith("rk.table1.")
                             and k.rsplit(".", 1)[1] not in ("fa", "adafa", "signfa", "bp"))
orderings[["status", "ours", "printed", "what", "runs", "test"]]

# %% [markdown]
# - **The order of the means.** At $n = 10$ our means fall in the paper's order, GD above
#   sign-FA above adaFA above FA, with FA {glue:text}`fa_below_adafa:.1f` points below adaFA
#   and {glue:text}`fa_below_gd:.1f` below GD. Whether each step of that order holds at the
#   test's threshold is the table's status column: sign-FA's lead over adaFA,
#   {glue:text}`signfa_above_adafa:.1f` points (standard error of the difference
#   {glue:text}`signfa_above_adafa_se:.1f`) against the paper's
#   {glue:text}`paper_signfa_minus_adafa_10:.1f`, is the paper's main reading of Table 1
#   ("alignment matters more than initialisation"), and the repeats stored decide it only when
#   its row says so.
# - **The sizes of the gaps differ.** sign-FA trails GD by {glue:text}`gd_above_signfa:.1f`
#   points here, against {glue:text}`paper_gd_minus_signfa_10:.1f` in the paper, and adaFA's
#   lead over FA ({glue:text}`fa_below_adafa:.1f` points) is smaller than the paper's
#   {glue:text}`paper_adafa_minus_fa_10:.1f`. One measured difference: on the stand-in GD's
#   training accuracy still gains {glue:text}`gd_train_gain_last_100:.1f` points over the last
#   100 epochs and ends at {glue:text}`gd_train_final:.0f`%, so the task is not fitted in the
#   schedule. *Hypothesis, not tested here:* gaps between rules grow with a task's difficulty,
#   so the larger gaps are a property of the stand-in rather than of the rules. The standard
#   errors reach {glue:text}`largest_se:.1f` points.
# - **How the gaps change with $n$**, and whether every rule loses accuracy as $n$ grows, are
#   the table's trend rows; they stay "pending compute" until the $n = 25$ and $n = 50$ columns
#   have runs (the background queue trains two repeats of each).

# %% [markdown]
# ## Readings of the protocol at n = 10
#
# Two choices the text leaves open could move Table 1, and both are cheap to test at
# $n = 10$ with the paper's full schedule: whether "report results on a fresh sample" means one
# class subset for every run (our reading) or a new subset per repeat, which adds the
# between-subset spread to the standard errors; and whether any augmentation was used (the
# package's CIFAR-100 loader uses none; random flips and 4-pixel crops are the usual CIFAR
# choice). Each row changes only the named field; the first row is the Table 1 runs
# themselves.

# %%
from falign.families import lenet_cifar_readings

readings = load_results("lenet_cifar_readings", profile, results, device, data_root,
                        train_missing)
show_status(readings)
lenet_cifar_readings.readings_table(analysis.accuracy_table(readings.table, readings.cells))

# %% [markdown]
# ## Provenance

# %%
provenance_card(sweep)

# %% [markdown]
# ## Exercises
#
# The first two exercises run the chapter's own initial LeNets (rebuilt from their seeds, no
# data needed) on a batch of Gaussian noise images, in seconds on a laptop CPU; the third reads
# the paper's Table 1. Predict first, then check; the worked solution sits folded under each
# exercise.

# %% [markdown] exercise={"level": "intermediate", "minutes": 30, "needs": "nothing"}
# :::{admonition} Exercise 1: how far from the gradient is the first step?
# :class: tip
# Equation (1) of the paper writes the rate at which the loss falls as
# $\cos\omega\,\lVert\nabla\mathcal L\rVert\,\lVert\tilde\nabla\mathcal L\rVert$, with $\omega$
# the angle between a rule's update and the true gradient. Before computing anything, predict
# $\omega$ for each layer ($C1 \dots F2$) of the chapter's four initial networks at $n = 10$:
# GD, FA, adaFA and sign-FA. Hints: which layer's update never involves a feedback matrix?
# What is adaFA's $B$ at step 0? For sign-FA, the error reaching $F1$ is $e\,B_{F2}$ instead of
# $e\,W_{F2}$, with $\cos(W_{F2}, B_{F2}) \approx \sqrt3/2$. Build the networks with
# `lenet_cifar.build_model(spec)` for the specs of `lenet_cifar.run_specs(lenet_cifar.PAPER)`
# with $n = 10$ and repeat 0, and measure with `falign.measurements.update_gradient_angle` on 64
# images of Gaussian noise (unit variance per pixel) with random labels.
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 1
# - **GD**: $0^\circ$ everywhere, by definition.
# - **adaFA**: also $0^\circ$ everywhere, at step 0 only: its feedback *is* $W^{(0)}$.
# - **Every rule, layer $F2$**: $0^\circ$. The output layer's update is $e\,a^\top$ with the true
#   output error $e$; its own feedback only shapes the error it sends further down.
# - **FA, layers below $F2$**: close to $90^\circ$. The error reaching $F1$ is $e\,B_{F2}$ with a
#   $B_{F2}$ independent of $W_{F2}$, so the update is uncorrelated with the gradient; every
#   layer further down inherits that.
# - **sign-FA, layers below $F2$**: $e\,B_{F2}$ and $e\,W_{F2}$ are about as aligned as
#   $B_{F2}$ and $W_{F2}$ themselves, so $F1$'s angle is close to
#   $\arccos(\sqrt3/2) = 30^\circ$. Each layer further down applies one more sign-feedback
#   matrix, and the angle grows with the distance from the output, to around $55^\circ$ at
#   $C1$.
#
# So at step 0 adaFA's updates are exactly GD's and sign-FA's are tilted by roughly 30 to 55
# degrees, while FA's hidden layers learn, at first, in directions unrelated to the gradient.
# :::

# %% tags=["solution", "hide-cell"]
import pandas as pd
import torch.nn.functional as F

from falign import measurements

specs = {s["rule"]: s for s in lenet_cifar.run_specs(lenet_cifar.PAPER)
         if s["n_classes"] == 10 and s["repeat"] == 0}
images, targets = lenet_cifar.noise_batch()      # float64: the angles' digits do not move


def angles(model):
    """Degrees between the rule's weight update and the true gradient, per layer and overall."""
    result = measurements.update_gradient_angle(model, lambda out: F.cross_entropy(out, targets),
                                                images)
    names = {f"layer{i}": name for i, name in enumerate(lenet_cifar.LAYERS)}
    return {names.get(key, "all layers"): value for key, value in result.items()}


step0 = pd.DataFrame({rule: angles(lenet_cifar.build_model(specs[rule]).double())
                      for rule in ("bp", "adafa", "signfa", "fa")}).T.round(1)
step0.index.name = "rule (angle in degrees)"
step0

# %% [markdown] exercise={"level": "intermediate", "minutes": 30, "needs": "nothing"}
# :::{admonition} Exercise 2: does adaFA's head start last?
# :class: tip
# Train the initial adaFA and sign-FA networks of exercise 1 for 40 full-batch steps on those
# 64 noise images (SGD, learning rate $0.01$, momentum $0.9$, as in the protocol but without
# weight decay), and measure the overall angle $\omega$ (`"all layers"` above) every 10 steps.
# Predict how each rule's angle evolves, and whether adaFA stays ahead of sign-FA. What does
# that say about the paper's reading of Table 1, "alignment matters more than initialisation"?
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 2
# adaFA's feedback stays at $W^{(0)}$ while $W$ moves, so its angle can only grow from
# $0^\circ$, and it grows as fast as the weights leave their initial values. sign-FA's feedback
# follows the signs of the current weights, so its angle has no reason to drift: it stays in
# the range it started in. Here adaFA's angle climbs at every record, and by step 40 it has
# passed sign-FA's, which stays between about 25 and 45 degrees and ends lower than it started
# as the loss drops. Over the hundreds of epochs of the protocol adaFA's head start is spent
# early, while sign-FA keeps its alignment by construction: a miniature of the paper's
# explanation of Table 1, where sign-FA ends far above adaFA and adaFA only some points above
# FA.
#
# The run is computed in float64 and still cannot be printed to the degree beyond step 20:
# with momentum 0.9 a LeNet's trajectory on 64 images amplifies round-off, and the CPU's
# choice of kernels moves the angle at step 30 by about one degree. So the table shows the
# first records to a tenth of a degree and the later ones only as the facts the lesson rests
# on; the test-suite asserts them with margins of several degrees
# (`tests/test_lenet_family.py::test_adafa_spends_its_head_start_while_signfa_keeps_its_alignment`).
# :::

# %% tags=["solution", "hide-cell"] mystnb={"image": {"alt": "Angle in degrees between each rule's update and the true gradient against training step, for the exercise's solution: adaFA rises from 0, sign-FA stays between about 25 and 45 degrees."}}
import matplotlib.pyplot as plt

curves = {rule: lenet_cifar.angle_curve(specs[rule], images, targets)
          for rule in ("adafa", "signfa")}
early = pd.DataFrame({plots.RULE_LABELS[rule]: {f"step {k}": f"{curve[k]:.1f}" for k in (0, 10)}
                      for rule, curve in curves.items()}).T
ada, sign = list(curves["adafa"].values()), list(curves["signfa"].values())
facts = pd.DataFrame({"holds": {
    "adaFA's angle rises at every record (steps 0 to 40)": all(b > a for a, b in zip(ada, ada[1:])),
    "sign-FA's angle stays between 20 and 45 degrees": all(20 < v < 45 for v in sign),
    "at step 40 adaFA's angle exceeds sign-FA's": ada[-1] > sign[-1]}})
fig, ax = plt.subplots(figsize=(4.8, 3.2))
for rule, curve in curves.items():
    ax.plot(list(curve), list(curve.values()), marker="o", color=plots.RULE_COLORS[rule],
            label=plots.RULE_LABELS[rule])
ax.set(xlabel="SGD step", ylabel="angle ω between update and gradient (degrees)")
ax.legend(frameon=False, fontsize=8)
fig.tight_layout()
display(early.rename_axis("angle (degrees)"), facts)

# %% [markdown] exercise={"level": "starter", "minutes": 15, "needs": "nothing"}
# :::{admonition} Exercise 3: Table 1 against chance
# :class: tip
# Raw accuracies at different $n$ are hard to compare: chance is $100/n$ percent. Using the
# paper's Table 1 (`paper_values.table1()`), compute for each rule the share of GD's
# above-chance accuracy that it recovers, $(\text{acc} - 100/n)/(\text{acc}_{GD} - 100/n)$, at
# $n$ = 10, 25 and 50. Predict first: does sign-FA's share fall as the task gets harder? And
# does adaFA's lead over FA shrink in this measure too, as it does in raw points?
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 3
# sign-FA recovers nearly all of GD's above-chance accuracy at every $n$, with no trend: its
# gap to GD is a fixed small fraction, not something that grows with difficulty. FA recovers
# about two thirds, a little less as $n$ grows. adaFA's share starts about ten points above
# FA's at $n = 10$ and ends only a few points above it at $n = 50$: initialisation buys less and
# less, in this normalised measure as in raw points, while alignment (sign-FA) keeps its whole
# advantage. That is the paper's case that alignment matters more than initialisation, and it
# survives the correction for chance.
# :::

# %% tags=["solution", "hide-cell"]
printed = paper_values.table1().pivot(index="n_classes", columns="rule", values="mean")
chance = 100.0 / printed.index.to_series()
recovered = printed.sub(chance, axis=0).div(printed["bp"] - chance, axis=0)
recovered[["fa", "adafa", "signfa"]].round(3)
