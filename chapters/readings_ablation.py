# %% [markdown]
# # Reading the protocol: an ablation
#
# *What Appendix A leaves open, and what each reading changes.*
#
# Appendix A of {cite:t}`robertson2024implicit` fixes most of the noisy-MNIST protocol (4000
# images, 20% label noise, two-layer leaky-ReLU networks, full-batch SGD, learning rate
# {glue:text}`paper_lr:.2f` divided by 10 every 1000 epochs, momentum
# {glue:text}`paper_momentum:.2f`, 6000 epochs) but leaves several choices open:
#
# | choice | the text | readings we try |
# |---|---|---|
# | initialisation | "$[-1/\sqrt{m}, 1/\sqrt{m}]$ where $m$ is the width" | $m$ = hidden width for both layers (*literal*); $m$ = each layer's fan-in, PyTorch's default (*fan-in*) |
# | biases | not mentioned | none; PyTorch's default $U[\pm 1/\sqrt{\text{fan-in}}]$; all biases 1, as in biotorch {cite}`sanfiz2021benchmarking`, the FA package the paper used |
# | feedback $B$ | not mentioned | same law as $W$; Glorot-uniform, biotorch's default |
# | input scaling | not mentioned | standardised with MNIST's mean and std; $[0, 1]$; raw 0-255 |
# | label noise | "20% label noise" | exactly 800 labels replaced by a different class; each label redrawn uniformly with probability $0.2$ |
# | loss | "cross-entropy" | mean over the batch; sum over the batch |
# | Table 3's statistic | "mean absolute deviation" | per neuron or layer sum; final or averaged over epochs; biases counted or not |
#
# We judge a reading by the paper's own qualitative observations, not by how close it lands to a
# printed number: (1) the networks fit the noisy labels ("despite fitting the noise", Figure 4);
# (2) they still generalise to the clean test set; (3) deviations from the conservation law shrink
# with width (Figure 2, Table 3); (4) GD deviates far more than the FA family. Each reading is run at
# widths 15, 60 and 200, two repeats planned (each cell shows repeats stored of planned), for the
# first 2000 epochs of the schedule (after the second drop the learning rate is
# $5\cdot10^{-4}$ and the squared step sizes, which drive the discrete-time drift, have added up
# to 99% of their final total). The added allowed readings are then confirmed at the full
# 6000-epoch schedule on the paper's width grid (the `noisy_mnist_confirm` runs, stored beside
# the book's).
#
# A second set of readings comes in two kinds. *Allowed* ones, which the text leaves open: sign-FA's
# scale $s$ in $B = s\,\mathrm{sign}(W)$ as $1/\sqrt{3\,\text{fan-in}}$ (biotorch's default,
# non-Xavier mode) instead of the Xavier std $\sqrt{2/(\text{fan-in} + \text{fan-out})}$; FA's
# $B$ at Xavier scale without biases; and the summed loss for the FA family, at the stated rate
# and at a rate divided to keep it finite (said as such: at rate $0.05\,k/4000$ the summed loss
# takes the mean loss's steps at rate $0.05\,k$, exercise 3). *Diagnostic* ones, which contradict
# a value Appendix A states (initial rate $0.05$, momentum $0.05$) and so can explain a difference but
# never be adopted: the step at 3 and 10 times $0.05$, and Adam (one meaning of Section 6.1's
# "adaptive learning rates"; Theorem 5.2 says nothing about conservation under it).

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
data_root = None           # MNIST root (None: $FALIGN_DATA, then ./data)
train_missing = False      # True: train every reading not yet stored (resumable)

# %%
from IPython.display import Markdown, display

from falign import analysis, plots
from falign.families.noisy_mnist import readings_results

plots.set_style()
readings = readings_results(profile, results, device, data_root, train_missing)
display(Markdown(readings.status()))
readings.definitions()

# %% [markdown]
# ## The four observations, reading by reading
#
# Train accuracy is on the noisy labels (0.8 = the true digit everywhere, no noise memorised);
# deviations are the per-neuron mean $|r_j - 1|$ of Appendix B.1 at the end of training, weights
# only, as the formula is printed. "FA family" is the largest of FA, adaFA and sign-FA.

# %%
analysis.rounded(analysis.reading_criteria(readings.table))

# %% [markdown]
# Readings whose training diverged (a NaN or infinite loss; the sweep stops a reading at the
# first model that diverges):

# %%
display(Markdown(readings.diverged_text()))

# %% [markdown]
# ## Deviation against width under each reading

# %% mystnb={"image": {"alt": "Deviation from the conservation law against width under each reading of the protocol, one panel per reading, one line per rule, on a logarithmic axis."}}
fig = plots.readings_deviation(readings.table)

# %% [markdown]
# ## The statistic itself
#
# The same stored runs summarised five ways, for the chosen reading and for the reading with
# biotorch's biases at 1, where counting the biases or not makes the difference:

# %%
for name in [n for n in (readings.chosen, "fan-in init + biases at 1")
             if n in set(readings.table.reading)]:
    display(Markdown(f"**{name}**"))
    display(analysis.rounded(analysis.statistic_readings(
        readings.table[readings.table.reading == name])))

# %% [markdown]
# ## The added readings beside the paper
#
# Table 3 under every added reading and the book's, ours as the final per-neuron
# deviation (App. B.1, weights only) after the ablation's 2000 epochs, with repeats stored of
# planned. A reading that changes one rule's runs only shares the other rules' runs with the book's
# reading ("FA's B Xavier" trains FA alone; "sign-FA scale" changes only sign-FA's keys); the
# summed-loss readings run the FA family only.

# %%
from falign import paper_values
from falign.families import noisy_mnist, noisy_mnist_readings as nr

cells = nr.reading_cells(readings.table, readings.planned)
shown = list(dict.fromkeys([readings.chosen, "fan-in init", *nr.ADDED_READINGS]))
nr.table3_by_reading(cells, paper_values.table3(), shown)

# %% [markdown]
# Figures 3 and 4 in numbers under the same readings: the final alignment $\cos(W_2, B_2)$ at the
# narrowest and widest width, how many sign-FA runs have a non-monotone alignment, and the final
# training accuracy on the noisy labels (0.8 = no wrong label memorised) and clean test accuracy,
# averaged over the rules run.

# %%
analysis.rounded(nr.figure_columns(cells, shown))

# %% [markdown]
# ## Which readings make a width-15 network fragile
#
# Without training: the smallest $|P_j(0)|$ of a network, Table 3's worst denominator, over 50
# seeded networks per width and rule (computed in float64). A reading that puts many networks'
# smallest $|P_j(0)|$ below $10^{-3}$ hands Table 3's mean to single neurons. The step, loss and
# optimiser readings draw the same networks as the book's reading and are not repeated.

# %%
conditioning = nr.conditioning(list(dict.fromkeys(
    [readings.chosen, "fan-in init", "literal", "sign-FA scale 1/sqrt(3 fan-in)",
     "FA's B Xavier, no biases"])))
analysis.rounded(conditioning.unstack("rule"), 2)

# %% [markdown]
# ## The decision
#
# The rule: among the allowed readings without biases (the networks Theorem 5.2 and the formula
# of Appendix B.1 are stated for), the one that holds the most of the four observations, then has
# the most Table 3 cells (width x rule, at widths 15, 60 and 200) within a factor of 2 of the
# paper's, replaces the incumbent, **fan-in init** (the reading the added ones change), only
# when it is strictly ahead; a tie keeps the incumbent. The summed-loss readings run no GD, so
# they cannot show observation (4). A reading this stage prefers is only a candidate: the next
# section decides at the full schedule.

# %%
from falign.families import noisy_mnist_confirm

incumbent = noisy_mnist_confirm.ADDED_TO
agree = nr.agreement(cells, paper_values.table3())
criteria_now = analysis.reading_criteria(readings.table)
choice = nr.decide(criteria_now, agree, incumbent, nr.eligible())
agree.assign(**{"observations held": criteria_now["observations held"].reindex(agree.index),
                "kind": [noisy_mnist.READING_KIND[n] for n in agree.index]})

# %%
def decision_text(choice, agree) -> str:
    """The decision paragraph, from the numbers above."""
    if choice["best"] is None:
        return "No allowed reading has stored runs yet: the book keeps its reading."
    held, within = choice["best_score"]
    cur_held, cur_within = choice["current_score"]
    if choice["adopted"] == incumbent:
        text = (f"**Stage 1 keeps {incumbent}**: it holds {cur_held} of 4 observations "
                f"with {cur_within} Table 3 cells within 2x of the paper; no allowed reading "
                "with stored runs is strictly ahead")
        if choice["best"] != incumbent:
            text += f" ({choice['best']} ties it at {held} and {within})"
        text += "."
    else:
        text = (f"**{choice['adopted']} is ahead**: {held} of 4 observations and {within} Table 3 "
                f"cells within 2x, against {cur_held} and {cur_within} for {incumbent}. It is "
                "the candidate, and the book shows it only if the confirmation at 6000 epochs "
                "(next section) finds it ahead there too.")
    diag = [n for n in nr.ADDED_READINGS if noisy_mnist.READING_KIND[n] == "diagnostic"]
    stored = [n for n in diag if agree.at[n, "cells stored"]]
    if stored:
        text += (" Diagnostic readings (App. A would have to differ for them): "
                 + "; ".join(f"{n}: {agree.at[n, 'cells within 2x']} of "
                             f"{agree.at[n, 'cells stored']} cells within 2x" for n in stored) + ".")
    pending = [n for n in nr.ADDED_READINGS if not agree.at[n, "cells stored"]]
    if pending:
        text += " Not yet stored, so not yet decided on: " + ", ".join(pending) + "."
    return text


display(Markdown(decision_text(choice, agree)))

# %% [markdown]
# ## The confirmation at 6000 epochs
#
# The ablation ran the first 2000 epochs at three widths; Table 3 is printed after Appendix A's
# 6000 epochs at ten. The allowed readings that change one rule's runs (sign-FA's scale, FA's
# $B$) are therefore trained again at the full schedule on the paper's grid, six repeats, and
# share every other rule's runs with the book's reading. The second stage of the rule: the
# candidate chosen above replaces the book's reading only if here, with all its planned runs
# stored, it holds at least as many of the four observations and strictly more Table 3 cells
# within a factor of 2 of the paper's.

# %%
confirmed = noisy_mnist_confirm.confirmation(results, profile if profile != "smoke" else "smoke")
display(nr.table3_by_reading(confirmed.cells, paper_values.table3(), confirmed.readings))
display(confirmed.agree.assign(**{
    "observations held": confirmed.criteria["observations held"].reindex(confirmed.agree.index)}))
second = noisy_mnist_confirm.confirm(choice, confirmed)
display(Markdown(noisy_mnist_confirm.second_stage_text(second)))

# %% [markdown]
# ### Table 3's statistic, read every way the text allows
#
# The book's 6000-epoch runs (the Table 3 chapter's), each statistic a column beside the paper's
# printed value. The median over neurons and the mean over neurons with $|P_j(0)| \ge 0.01$ need
# every neuron's ratio, which only runs trained since that statistic was added store; for older runs they show '-'.
# Without biases, "with biases" equals the weights-only reading.

# %%
from falign.chapters import load_results

try:
    book = load_results("noisy_mnist", profile if profile != "smoke" else "smoke", results)
    statistic = analysis.statistic_readings(book.table)
    statistic.insert(0, "paper", paper_values.table3().set_index(["rule", "width"])["mean"]
                     .reindex(statistic.index))
    display(analysis.rounded(statistic, 2))
except FileNotFoundError:
    display(Markdown("The book's runs are not in this store."))

# %%
# The numbers the chapter's prose quotes, glued into it.
import re

from falign.chapters import glue
from falign.families import noisy_mnist

glue("paper_lr", noisy_mnist.PAPER.lr)
glue("paper_momentum", noisy_mnist.PAPER.momentum)
glue("ablation_lr", noisy_mnist.READING_PROFILES[profile].lr)
criteria = analysis.reading_criteria(readings.table)
final = analysis.final_rows(readings.table)
lo, hi = final.width.min(), final.width.max()
family_lo, gd_lo = criteria[f"FA family dev @{lo}"], criteria[f"GD dev @{lo}"]
held = criteria["observations held"]
glue("chosen_held", held.get(readings.chosen, float("nan")))
glue("literal_held", held.get("literal", float("nan")))
glue("chosen_gd_over_family", (gd_lo / family_lo).get(readings.chosen, float("nan")))
glue("biases_at_one_factor", family_lo.get("fan-in init + biases at 1", float("nan"))
     / family_lo.get("fan-in init", float("nan")))
glue("train_acc_widest_smallest", criteria[f"train acc @{hi}"].min())
glue("train_acc_widest_largest", criteria[f"train acc @{hi}"].max())
glue("train_acc_run_largest", final.train_acc.max())
def first_divergence(name: str) -> float:
    """The earliest epoch at which a run of the reading turned non-finite (stored runs, or the
    earlier sweep's note for a reading it stopped whole); NaN if none diverged."""
    keys = set(readings.table[readings.table.reading == name].run_key)
    epochs = [e for k, e in (readings.diverged_runs or {}).items() if k in keys]
    found = re.search(r"diverged at epoch (\d+)", readings.diverged.get(name, {}).get("message", ""))
    epochs += [int(found.group(1))] if found else []
    return float(min(epochs)) if epochs else float("nan")


for name, key in (("summed loss", "summed_loss"), ("raw pixels 0-255", "raw_pixels"),
                  ("summed loss (FA family), stated step", "summed_family")):
    glue(f"diverged_epoch_{key}", first_divergence(name))
family_sum = cells[(cells.reading == "summed loss (FA family), stated step")]
glue("summed_family_stored", int(family_sum.stored.sum()))
glue("summed_family_planned", int(family_sum.planned.sum()))

# %% [markdown]
# ## The reading we use, and why
#
# The book's protocol draws each layer's forward weights from $U[-1/\sqrt{m}, 1/\sqrt{m}]$
# with $m$ that layer's fan-in (784 for the first layer, the hidden width for the second), has no
# biases, standardises the inputs, takes the mean cross-entropy and replaces exactly 800 of the
# 4000 labels. FA's fixed feedback $B$ is drawn either at the same fan-in scale (the reading
# **fan-in init**) or from Glorot's uniform $U[\pm\sqrt{6/(\text{fan-in} + \text{fan-out})}]$ as
# biotorch draws it (**FA's B Xavier, no biases**, App. A's "Xavier initialization"); the other
# rules' feedback derives from $W$ and is the same under both. The two-stage rule above decides
# between them:

# %%
shown_by_rule = noisy_mnist_confirm.book_reading(second)
display(Markdown(f"The book's reading is **{readings.chosen}**"
                 + (", the one the two-stage rule above gives." if readings.chosen == shown_by_rule
                    else f", but the rule above gives **{shown_by_rule}**: the book is stale.")))

# %% [markdown]
# Why the rest of the protocol is as it is:
#
# - **The book's reading holds {glue:text}`chosen_held:.0f` of the 4 observations** on the
#   ablation's 2000 epochs: the deviations shrink with width for every method, GD deviates {glue:text}`chosen_gd_over_family:.0f` times more
#   than the FA family's largest at width 15, and the networks generalise. The literal reading
#   ($m$ = hidden width for both layers) holds only {glue:text}`literal_held:.0f`: it makes the
#   first layer's weights $\sqrt{784/m}$ times larger, so every potential starts large, the
#   relative deviations are tiny, and GD's deviation *grows* with width, the opposite of
#   Table 3.
# - **No biases test the theorem as stated.** Theorem 5.2 and the formula of Appendix B.1 are written
#   for networks without biases. With biases the conserved quantity gains a $-\tfrac12 b_j^2$
#   term: measured with it ("neuron, with biases" above) the law holds as tightly as without
#   biases; measured without it, the deviation picks up the growth of the biases and means
#   nothing about the theorem. The readings with biases initialised at 1 (biotorch's default)
#   show that effect: with biases at 1 the FA family's largest weights-only deviation at width
#   15 is {glue:text}`biases_at_one_factor:.1f` times that of the fan-in reading without biases.
# - **The forward scale, inputs and loss follow the most common practice**: PyTorch's default initialisation is exactly
#   "$U[\pm 1/\sqrt{m}]$" with $m$ the fan-in, MNIST is usually standardised, and cross-entropy in
#   PyTorch is a mean unless asked otherwise.
#
# **No reading fits the noise.** With a mean loss and learning rate
# {glue:text}`ablation_lr:.2f` the final training accuracy at width 200, averaged over the four
# rules, ends between {glue:text}`train_acc_widest_smallest:.2f` and
# {glue:text}`train_acc_widest_largest:.2f` under every reading, around the 0.8 of predicting
# every true digit, and no single run ends above {glue:text}`train_acc_run_largest:.2f`. Of the
# two older readings that take larger steps, the summed loss (4000 times the mean's step, with
# biases at 1) and raw 0-255 pixels, GD's run diverged at that learning rate (first after
# {glue:text}`diverged_epoch_summed_loss:.0f` and {glue:text}`diverged_epoch_raw_pixels:.0f`
# epochs; the earlier sweep then stopped the whole reading, so the FA family was not measured
# there). The FA family's own summed-loss runs at the stated rate
# ({glue:text}`summed_family_stored:.0f` of {glue:text}`summed_family_planned:.0f` stored) first
# turn non-finite at epoch {glue:text}`diverged_epoch_summed_family:.0f` ('nan': none stored or
# none diverged). We report the disagreement with Figure 4 in its chapter rather than pick a
# reading for it; the step and optimiser diagnostics above say what it would take.

# %% [markdown]
# ## Exercises
#
# Each exercise runs in seconds on a laptop CPU, on freshly drawn networks and Gaussian toy
# data shaped like noisy MNIST (no download needed). Predict first, then check; the worked
# solution sits folded under each exercise.

# %% [markdown] exercise={"level": "advanced", "minutes": 45, "needs": "nothing"}
# :::{admonition} Exercise 1: the literal reading's denominators
# :class: tip
# Under the literal reading both layers are drawn from $U[\pm 1/\sqrt m]$ with $m$ the hidden
# width, so the first layer's weights are $\sqrt{784/m}$ times larger than under the fan-in
# reading. Predict $\mathbb E\,P_j(0)$ for FA under both readings at widths 15, 60 and 200, and
# what that does to the *relative* deviation $|r_j - 1|$ if the absolute drift of each $P_j$ were
# the same. Then check: build the networks with
# `falign.models.two_layer_mlp(784, m, 10, bias=False, init_bound=m ** -0.5)` (literal) and
# without `init_bound` (fan-in), convert them to FA, train each for 20 plain SGD steps
# (learning rate $\eta = 0.01$) on 500 points of
# `falign.data.gaussian_data(500, 784, n_classes=10)` scaled by $\sqrt{784}$ with 20% of the
# labels corrupted by `falign.data.corrupt_labels`, and compare the absolute and relative
# drifts of the potentials.
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 1
# The incoming term is $\tfrac12\lVert W_1[:,j]\rVert^2 = \tfrac12 \cdot 784 \cdot \tfrac{1}{3m}
# = 392/(3m)$ under the literal reading, against $1/6$ under the fan-in reading; FA's outgoing
# term averages zero under both. So $\mathbb E\,P_j(0) = -392/(3m)$: about $-8.7$, $-2.2$ and
# $-0.65$ at widths 15, 60 and 200, that is $784/m$ times the fan-in value, $52$, $13$ and
# $3.9$ times larger. With the same absolute drift the relative deviations would shrink by
# those factors, most at the narrowest width, so the literal reading flattens the fall of the
# deviation with width that Table 3 reports, by a factor $200/15 \approx 13$.
#
# The trained networks agree: the absolute drifts are of the same order under both readings
# (smaller under the literal one), the initial potentials follow $-392/(3m)$, and the relative
# deviation is tens of times smaller at width 15 but only a few times smaller at width 200.
# Under the fan-in reading it falls by more than an order of magnitude from width 15 to 200;
# under the literal reading by about a factor of two. A reading can decide a table's width trend
# through its denominators alone, before any dynamics enter.
# :::

# %% tags=["solution", "hide-cell"]
import torch
import torch.nn.functional as F

import falign
from falign import data, measurements, models

toy = data.gaussian_data(500, 784, n_classes=10, seed=0)
x = toy.x * 784 ** 0.5                                      # unit variance per input
y = data.corrupt_labels(toy.y, 0.2, n_classes=10, seed=0)  # 100 of the 500 labels wrong


def potential_drift(model, steps=20, lr=0.01):
    """P_j(0) and P_j(t) (weights only) of a converted two-layer network over `steps`
    full-batch SGD steps on the toy data."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    p0 = measurements.neuron_potentials(model, include_bias=False)[0]
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return p0, measurements.neuron_potentials(model, include_bias=False)[0]


for width in (15, 60, 200):
    for reading, bound in (("fan-in", None), ("literal", width ** -0.5)):
        net = models.two_layer_mlp(784, width, 10, bias=False, seed=0, init_bound=bound)
        p0, p = potential_drift(falign.convert(net, "fa", seed=1000))
        expected = -392 / (3 * width) if reading == "literal" else -1 / 6
        print(f"width {width:3d} {reading:7s}: mean P_j(0) {float(p0.mean()):+.3f} "
              f"(expected {expected:+.3f}), mean |P_j(t) - P_j(0)| "
              f"{float((p - p0).abs().mean()):.2e}, mean |r_j - 1| "
              f"{float(measurements.deviation_from_one(p / p0)):.2e}")

# %% [markdown] exercise={"level": "advanced", "minutes": 45, "needs": "nothing"}
# :::{admonition} Exercise 2: which potential does a bias conserve?
# :class: tip
# Take a width-30 network of the fan-in reading with biases, set every bias to 1 as biotorch
# does, convert it to FA and take the 20 SGD steps of exercise 1. Compare two potentials: the
# one with the incoming bias counted,
# $\langle W_2[j,:], B_2[j,:]\rangle - \tfrac12(\lVert W_1[:,j]\rVert^2 + b_j^2)$
# (`neuron_potentials(model)`), and the formula as printed, weights only
# (`include_bias=False`). From the Figure 2 chapter's first exercise, one discrete step changes
# the first by exactly $-\tfrac12(\lVert\Delta W_1[:,j]\rVert^2 + \Delta b_j^2)$. Predict by
# how much the second misses that second-order law, and of what order in the step it is.
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 2
# With a bias, the hidden unit computes $\phi(\langle W_1[:,j], x\rangle + b_j)$, which is
# positively homogeneous in $(W_1[:,j], b_j)$ together, not in $W_1[:,j]$ alone. The proof of
# Theorem 5.2 then goes through with $b_j$ as one more incoming weight, and the potential with
# $-\tfrac12 b_j^2$ obeys the second-order law exactly (to rounding). The weights-only potential
# is that one plus $\tfrac12 b_j^2$, so it misses the law by
# $\tfrac12\big(b_j(t)^2 - b_j(0)^2\big) \approx b_j(0)\,\Delta b_j$: **first order** in the step,
# and with $b_j(0) = 1$ as large as the change of the bias itself. The code finds the law's
# residual at rounding level with the bias counted, and a weights-only residual equal, neuron by
# neuron, to half the change of $b_j^2$. Measured weights only, Table 3's deviation tracks the
# biases' growth, not Theorem 5.2, which is why the readings with biases at 1 deviate several
# times more.
# :::

# %% tags=["solution", "hide-cell"]
net = models.two_layer_mlp(784, 30, 10, bias=True, seed=0)
with torch.no_grad():
    net[0].bias.fill_(1.0)                                  # biotorch's biases
    net[2].bias.fill_(1.0)
model = falign.convert(net, "fa", seed=1000)
opt = torch.optim.SGD(model.parameters(), lr=0.01)
with_bias0 = measurements.neuron_potentials(model)[0]
weights_only0 = measurements.neuron_potentials(model, include_bias=False)[0]
bias0 = model[0].bias.detach().clone()
second_order = torch.zeros(30)
for _ in range(20):
    before = torch.cat([model[0].weight.detach(), model[0].bias.detach()[:, None]], 1).clone()
    opt.zero_grad()
    F.cross_entropy(model(x), y).backward()
    opt.step()
    after = torch.cat([model[0].weight.detach(), model[0].bias.detach()[:, None]], 1)
    second_order -= 0.5 * (after - before).pow(2).sum(1)
with_bias = measurements.neuron_potentials(model)[0] - with_bias0
weights_only = measurements.neuron_potentials(model, include_bias=False)[0] - weights_only0
half_bias_change = 0.5 * (model[0].bias.detach().pow(2) - bias0.pow(2))
def shown(value, rounding=1e-6):
    """A residual, or '< 1e-06' where it is float32 rounding (machine-dependent digits)."""
    return f"{value:.1e}" if value >= rounding else f"< {rounding:.0e}"


print(f"largest |change - second-order law|, bias counted: "
      f"{shown(float((with_bias - second_order).abs().max()))}")
print(f"largest |change - second-order law|, weights only: "
      f"{shown(float((weights_only - second_order).abs().max()))}")
print(f"largest |weights-only residual - 1/2 (b_j(t)^2 - b_j(0)^2)|: "
      f"{shown(float((weights_only - second_order - half_bias_change).abs().max()))}")
print(f"mean |b_j(t) - b_j(0)|: {float((model[0].bias.detach() - bias0).abs().mean()):.1e}")

# %% [markdown] exercise={"level": "advanced", "minutes": 45, "needs": "stored results"}
# :::{admonition} Exercise 3: a summed loss is a learning rate
# :class: tip
# The "summed loss" reading diverged at the stated learning rate. Predict (a) how a step on the
# summed cross-entropy with learning rate $\eta/N$ compares with a step on the mean with
# learning rate $\eta$ ($N$ training examples), and (b) how many times larger than the mean's
# step the summed loss makes the first step at $\eta = 0.05$ on the chapter's 4000 images.
# Check (a) on the toy data of exercise 1 ($N = 500$) with FA, 50 steps, momentum $0.05$, and
# then train FA and GD with the summed loss at 1, 3, 10 and 500 times the mean's step
# ($k\,\eta/N$). Where does training break?
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 3
# (a) The gradient of a sum over $N$ examples is $N$ times the gradient of their mean, and so is
# every feedback-alignment update (each is linear in the output error), so summed loss at
# $\eta/N$ and mean loss at $\eta$ take the same steps: the weights agree to float32 rounding
# after 50 steps. (b) At $\eta = 0.05$ the summed loss takes steps 4000 times the mean's on the
# chapter's data (500 times on the toy). No learning rate chosen for the mean's steps survives
# that: on the toy both rules' losses explode, GD's to NaN. Even three times the mean's step
# already blows up FA's loss here, and ten times diverges GD. So "summed loss at
# $\eta = 0.05$" is not a different reading of the loss so much as a learning rate thousands
# of times the stated one; a summed-loss reading that trains needs the learning rate divided
# by about $N$, which gives back the mean.
# :::

# %% tags=["solution", "hide-cell"]
def train_loss(rule, reduction, lr, steps=50):
    model = falign.convert(models.two_layer_mlp(784, 30, 10, bias=False, seed=0), rule,
                           seed=1000)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.05)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(x), y, reduction=reduction).backward()
        opt.step()
    with torch.no_grad():
        return model, float(F.cross_entropy(model(x), y))


n = len(y)
mean_model, mean_loss = train_loss("fa", "mean", 0.05)
sum_model, sum_loss = train_loss("fa", "sum", 0.05 / n)
gap = max(float((p - q).detach().abs().max()) for p, q in zip(mean_model.parameters(),
                                                              sum_model.parameters()))
print(f"FA, mean loss at 0.05 vs summed loss at 0.05/{n}: largest weight difference "
      f"{shown(gap)}, final mean losses {mean_loss:.4f} and {sum_loss:.4f}")


def outcome(loss):
    """A final loss, or what became of a run that blew up (its digits are chaotic)."""
    if loss != loss:
        return "NaN"
    return f"{loss:.3f}" if loss < 10 else "blown up (> 10)"


for rule in ("fa", "bp"):
    losses = [train_loss(rule, "sum", k * 0.05 / n)[1] for k in (1, 3, 10, 500)]
    print(f"{rule}: final mean loss after 50 steps with the summed loss at k x 0.05/{n}: "
          + ", ".join(f"k = {k}: {outcome(loss)}" for k, loss in zip((1, 3, 10, 500), losses)))

# %% [markdown]
# ### Going further
#
# - Add a reading to `falign.families.noisy_mnist.READINGS` with `loss_reduction="sum"` and
#   `lr=0.05/400` (ten times the mean's step), re-run this chapter with `train_missing=True`,
#   and see whether it fits the noise before it diverges.
