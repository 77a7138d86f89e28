# %% [markdown]
# # Table 3: deviations from the law
#
# *How far training strays from the conservation law.*
#
# Theorem 5.2 says the normalised potential of every hidden neuron,
#
# $$
# r_j(t) = \frac{\langle W_2^{(t)}[j,:], B_2^{(t)}[j,:]\rangle - \tfrac12\lVert W_1^{(t)}[:,j]\rVert^2}
#               {\langle W_2^{(0)}[j,:], B_2^{(0)}[j,:]\rangle - \tfrac12\lVert W_1^{(0)}[:,j]\rVert^2},
# $$
#
# equals one at all times under FA, adaFA and sign-FA gradient flow. Appendix B.1 of
# {cite:t}`robertson2024implicit` tabulates the mean absolute deviation $|r_j - 1|$ for the
# noisy-MNIST sweep of the previous chapter, by width and method, with standard errors over
# repeats. The table does not say over what the mean runs (neurons, epochs, or both) nor at what
# epoch it is read; the ablation chapter computes every reading from the same stored runs.
# Here we use the per-neuron ratio of Appendix B.1, averaged over neurons and then over every
# measured epoch (a *mean* deviation along the curves of Figure 2), and show the end-of-training
# value beside it. The paper is inconsistent about its repeats: Appendix A says every width was
# run 6 times, Appendix B.1 gives standard errors "over the four runs". We run 6.

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
train_missing = False      # True: train every run not yet stored (resumable)
overrides = {}             # protocol fields to change, e.g. {"widths": [15, 200]}

# %%
from IPython.display import Markdown, display

from falign import analysis, paper_values, plots
from falign.families import noisy_mnist
from falign.chapters import load_results, provenance_card, show_status

plots.set_style()
sweep = load_results("noisy_mnist", profile, results, device, data_root, train_missing,
                     overrides=overrides)
show_status(sweep)

# %% [markdown]
# ## The table, ours beside the paper's
#
# Each cell is mean ± standard error over repeats of the per-run deviation.

# %%
paper = paper_values.table3()
ours = {name: analysis.mean_se(analysis.run_deviations(sweep.table, name), "deviation",
                               ["width", "rule"])
        for name in (analysis.TABLE3_READING, analysis.TABLE3_ALTERNATIVE)}
analysis.side_by_side(ours, paper)

# %% [markdown]
# The same numbers as a picture (log scale; ours solid, the paper's dashed):

# %% mystnb={"image": {"alt": "Mean deviation from the conservation law against network width on a logarithmic axis, one colour per rule: ours solid, the paper's Table 3 dashed."}}
fig = plots.deviation_vs_width(ours[analysis.TABLE3_READING], paper)

# %% [markdown]
# ## Where we agree and where we do not
#
# - **GD agrees within a factor of {glue:text}`gd_largest_factor:.1f` at every width**, and
#   within {glue:text}`gd_mid_difference:.0%` at widths 45 to 75. Both fall steeply with width;
#   at width 15 ours is the smaller ({glue:text}`gd_15_averaged:.0f` and
#   {glue:text}`gd_15_final:.0f` by our two statistics, against the paper's
#   {glue:text}`paper_gd_15:.1f`), at width 200 the larger.
# - **The FA family at large widths agrees in order of magnitude**: from width 150 on, sign-FA's
#   deviations are within a factor of {glue:text}`signfa_wide_factor:.1f` of the paper's, FA's
#   within a factor of {glue:text}`fa_wide_factor:.1f`, and adaFA's are
#   {glue:text}`adafa_wide_smallest:.1f` to {glue:text}`adafa_wide_largest:.1f` times smaller
#   than the paper's.
# - **The FA family at small widths does not agree**: the paper reports
#   {glue:text}`paper_fa_15:.1f` (FA), {glue:text}`paper_adafa_15:.1f` (adaFA) and
#   {glue:text}`paper_signfa_15:.1f` (sign-FA) at width 15; we measure
#   {glue:text}`family_15_smallest:.2g` to {glue:text}`family_15_largest:.2g`. Our deviations
#   therefore shrink with width far less steeply. The rule of the family that deviates most is,
#   in the paper, {glue:text}`paper_most`; in ours, {glue:text}`ours_most`. Ours has a
#   sign-FA bump at widths 30 and 45 that the paper does not show (at width 45 one run carries
#   it; see the next section).
# - **GD stays far above the FA family at every width but
#   {glue:text}`gd_not_above_widths`**, where that one sign-FA run lifts the FA family's cell
#   above GD's. The paper's GD is above its FA family at every width. At width 15 our GD
#   deviates {glue:text}`gd_over_family_15_smallest:.0f` to
#   {glue:text}`gd_over_family_15_largest:.0f` times more than each FA-family rule, against the
#   paper's {glue:text}`paper_gd_over_family_15_smallest:.0f` to
#   {glue:text}`paper_gd_over_family_15_largest:.0f`.
# - The readings chapter varies what the text leaves open. No reading that keeps Theorem 5.2's
#   premises (no biases, or biases counted in the potential) reproduces the paper's width-15
#   values. The closest of the allowed readings (the largest factor between its FA-family
#   values and the paper's, either way, smallest), "{glue:text}`closest_reading`", is still
#   {glue:text}`closest_reading_short_smallest:.1f` to
#   {glue:text}`closest_reading_short_largest:.1f` times
#   {glue:text}`closest_reading_side` the paper's width-15 values, rule by rule (its
#   deviations are final ones after 2000 epochs).

# %%
# The numbers the section above quotes, glued into its prose.
import numpy as np
import pandas as pd

from falign.chapters import glue
from falign.families.noisy_mnist import readings_results

FAMILY = ["fa", "adafa", "signfa"]
printed = paper.set_index(["rule", "width"])["mean"]
averaged, final = (ours[name].set_index(["rule", "width"])["mean"]
                   for name in (analysis.TABLE3_READING, analysis.TABLE3_ALTERNATIVE))
widths = sorted(set(averaged.index.get_level_values("width"))
                & set(printed.index.get_level_values("width")))
lo = widths[0]
wide = [w for w in widths if w >= 150]
mid = [w for w in widths if 45 <= w <= 75]


def ratio(a, b, rule, ws):
    """a / b for `rule` at widths `ws` (a Series indexed by width)."""
    return pd.Series({w: a[rule, w] / b[rule, w] for w in ws}, dtype=float)


def most_deviating(table) -> str:
    """Which FA-family rule has the largest mean deviation, width by width, in words
    ("FA at widths 15-45, adaFA at 60-200")."""
    names = {"fa": "FA", "adafa": "adaFA", "signfa": "sign-FA"}
    top = [max(FAMILY, key=lambda r: table[r, w]) for w in widths]
    spans, start = [], 0
    for i in range(1, len(widths) + 1):
        if i == len(widths) or top[i] != top[start]:
            ws = (f"{widths[start]}" if i - 1 == start
                  else f"{widths[start]}-{widths[i - 1]}")
            spans.append(f"{names[top[start]]} at {'width' if i - 1 == start else 'widths'} {ws}")
            start = i
    return ", ".join(spans)


glue("paper_most", most_deviating(printed))
glue("ours_most", most_deviating(averaged))
gd = pd.concat([ratio(averaged, printed, "bp", widths), ratio(final, printed, "bp", widths)])
glue("gd_largest_factor", np.maximum(gd, 1 / gd).max())
glue("gd_mid_difference", (gd[gd.index.isin(mid)] - 1).abs().max())
glue("gd_15_averaged", averaged["bp", lo])
glue("gd_15_final", final["bp", lo])
glue("paper_gd_15", printed["bp", lo])
signfa_wide = ratio(averaged, printed, "signfa", wide)
glue("signfa_wide_factor", np.maximum(signfa_wide, 1 / signfa_wide).max())
fa_wide = ratio(averaged, printed, "fa", wide)
glue("fa_wide_factor", np.maximum(fa_wide, 1 / fa_wide).max())
adafa_wide = ratio(printed, averaged, "adafa", wide)          # paper / ours: times smaller
glue("adafa_wide_smallest", adafa_wide.min())
glue("adafa_wide_largest", adafa_wide.max())
for rule in FAMILY:
    glue(f"paper_{rule}_15", printed[rule, lo])
glue("family_15_smallest", min(t[r, lo] for t in (averaged, final) for r in FAMILY))
glue("family_15_largest", max(t[r, lo] for t in (averaged, final) for r in FAMILY))
gd_not_above = [w for w in widths if averaged["bp", w] <= max(averaged[r, w] for r in FAMILY)]
glue("gd_not_above_widths", ", ".join(str(w) for w in gd_not_above) or "none")
glue("gd_over_family_15_smallest", min(averaged["bp", lo] / averaged[r, lo] for r in FAMILY))
glue("gd_over_family_15_largest", max(averaged["bp", lo] / averaged[r, lo] for r in FAMILY))
glue("paper_gd_over_family_15_smallest", min(printed["bp", lo] / printed[r, lo] for r in FAMILY))
glue("paper_gd_over_family_15_largest", max(printed["bp", lo] / printed[r, lo] for r in FAMILY))

# The readings chapter's runs (widths 15, 60, 200; 2000 epochs): per reading, how many times
# the paper's width-15 value is the final per-neuron deviation, weights only, rule by rule.
try:
    loaded = readings_results(profile, results, device, data_root)
    # runs that diverged end before the end of training: left out of the comparison
    by_reading = analysis.final_rows(loaded.table[~loaded.table.run_key.isin(
        list(loaded.diverged_runs or {}))])
    # the readings the text allows (the diagnostic ones contradict App. A's stated values)
    by_reading = by_reading[by_reading.reading.map(noisy_mnist.READING_KIND) == "allowed"]
    at_15 = (by_reading[(by_reading.width == 15) & by_reading.rule.isin(FAMILY)]
             .groupby(["reading", "rule"]).neuron_deviation_weights_1.mean())
    short = pd.Series([printed[rule, 15] / value for (_, rule), value in at_15.items()],
                      index=at_15.index)
    # closeness is the factor either way (a reading far above the paper is not close)
    factor = np.exp(np.abs(np.log(short)))
    spread = factor.groupby(level="reading").agg(["min", "max"])
    closest = spread["max"].idxmin()
    glue("closest_reading", closest)
    glue("closest_reading_short_smallest", spread.loc[closest, "min"])
    glue("closest_reading_short_largest", spread.loc[closest, "max"])
    side = short.xs(closest, level="reading")
    glue("closest_reading_side", "short of" if (side > 1).all() else
         "above" if (side < 1).all() else "off from")
except FileNotFoundError:              # the readings ablation has not been run into this store
    glue("closest_reading", "(not run)")
    glue("closest_reading_short_smallest", float("nan"))
    glue("closest_reading_short_largest", float("nan"))
    glue("closest_reading_side", "off from")

display(analysis.rounded(analysis.compare_width_trend(ours[analysis.TABLE3_READING], paper)))

# %% [markdown]
# ### Why the bumps: a ratio with a small denominator
#
# $r_j$ divides by the neuron's initial potential $P_j(0)$, and for two of the rules its
# expected value crosses zero inside the sweep. With $W_1$ entries from $U[\pm 1/\sqrt{784}]$,
# $\tfrac12\lVert W_1[:,j]\rVert^2 \approx 1/6$ at every width. For GD ($B_2 = W_2$, entries
# $U[\pm 1/\sqrt m]$) the other term is $\lVert W_2[j,:]\rVert^2 \approx 10/(3m)$, so
# $\mathbb E\,P_j(0) \approx 10/(3m) - 1/6$ vanishes at $m = 20$. For sign-FA
# ($B_2 = s\,\mathrm{sign}(W_2)$ with $s = \sqrt{2/(m+10)}$) it is
# $s\lVert W_2[j,:]\rVert_1 \approx 5s/\sqrt m$, which meets $1/6$ at $m \approx 38$. Near
# those widths many neurons start with $P_j(0)$ close to zero: in 20 sampled networks of the
# book's protocol, {glue:text}`share_gd_15:.0%` of GD's neurons at width 15 and
# {glue:text}`share_signfa_30:.0%` of sign-FA's at width 30 have $|P_j(0)| < 0.02$. Their ratios
# dominate the mean, and single runs differ a lot: sign-FA's standard error over repeats is
# {glue:text}`rel_se_signfa_30:.0%` and {glue:text}`rel_se_signfa_45:.0%` of its mean at
# widths 30 and 45. adaFA starts from $B_2 = W_2^{(0)}$ and so shares GD's $10/(3m) - 1/6$ (and
# its share of small potentials). FA's independent random $B_2$ gives
# $\mathbb E\,P_j(0) \approx -1/6$ at every width, far from zero, but the spread of
# $\langle W_2[j,:], B_2[j,:]\rangle$ around it grows with the scale of $B$: with the book's
# Xavier-scale $B$, {glue:text}`share_fa_15:.1%` of FA's neurons at width 15 start below $0.02$,
# against {glue:text}`share_fa_15_fan_in:.1%` with $B$ at the forward weights' fan-in scale
# (the readings chapter compares the two readings' deviations). Even so, the paper's
# FA-family values at small widths are not explained this way: FA's denominator is far from
# zero on average at every width.
#
# The expectation by width, from `analysis.expected_initial_potential` (checked against sampled
# networks in the tests):

# %%
# Shares of hidden neurons with |P_j(0)| < 0.02 in 20 sampled initial networks (seeds 0-19 as
# the sweep draws them; float64, no training), under the book's protocol and with FA's B at
# fan-in scale; and the relative spread of the stored runs, glued above.
from dataclasses import replace

sampled = replace(sweep.protocol, widths=(15, 30), repeats=20)


shares = noisy_mnist.small_potential_shares(sampled)
glue("share_gd_15", shares[15, "bp"])
glue("share_signfa_30", shares[30, "signfa"])
glue("share_fa_15", shares[15, "fa"])
glue("share_fa_15_fan_in",
     noisy_mnist.small_potential_shares(replace(sampled, feedback_init="fan_in", widths=(15,),
                                                rules=("fa",)))[15, "fa"])
spread = ours[analysis.TABLE3_READING].set_index(["rule", "width"])
for w in (30, 45):                      # NaN where the profile has no such width (smoke)
    glue(f"rel_se_signfa_{w}", spread.at[("signfa", w), "se"] / spread.at[("signfa", w), "mean"]
         if ("signfa", w) in spread.index else float("nan"))
analysis.expected_initial_potential_table(sweep.protocol.widths)

# %% [markdown]
# The expectation is about the typical neuron; a run's mean is at the mercy of its worst one.
# Each run's initial network can be rebuilt from its seeds, so we can look up, for every stored
# run, its smallest $|P_j(0)|$ and set it against the run's deviation:

# %% mystnb={"image": {"alt": "Deviation from the conservation law of each run against the smallest initial per-neuron potential of its network, one point per run, one colour per rule."}}
runs = analysis.run_deviations(sweep.table, analysis.TABLE3_READING).merge(
    noisy_mnist.initial_conditioning(sweep.protocol), on=["run_key", "width", "rule", "repeat"])
fig = plots.deviation_vs_conditioning(runs)
# 2 significant digits: a potential near zero is a difference of float32 weights' terms, and
# its third digit moves with the CPU's kernels
analysis.rounded(runs.nsmallest(4, "min_abs_p0")[["rule", "width", "repeat", "min_abs_p0",
                                                   "deviation"]].reset_index(drop=True), 2)

# %%
# The run with the smallest initial |P_j(0)| and its width's other repeats, glued below.
worst = runs.loc[runs.min_abs_p0.idxmin()]
others = runs[(runs.rule == worst["rule"]) & (runs.width == worst["width"])
              & (runs.run_key != worst["run_key"])].deviation
cell = (ours[analysis.TABLE3_READING].set_index(["rule", "width"])
        .loc[(worst["rule"], worst["width"])])
glue("worst_rule", {"fa": "FA", "adafa": "adaFA", "signfa": "sign-FA", "bp": "GD"}[worst["rule"]])
glue("worst_width", worst["width"])
glue("worst_repeat", worst["repeat"])
glue("worst_min_abs_p0", float(f"{worst['min_abs_p0']:.1e}"))    # the digits the prose shows
glue("worst_deviation", worst["deviation"])
glue("worst_deviation_sum", worst["deviation"] * worst["width"])
glue("worst_others_smallest", others.min())
glue("worst_others_largest", others.max())
glue("worst_cell_mean", cell["mean"])
worst_cell_se = glue("worst_cell_se", cell["se"])

# %% [markdown]
# Within every rule the runs with the worst-conditioned neuron deviate the most (part of that
# is width, which moves both). The extreme case is {glue:text}`worst_rule` at width
# {glue:text}`worst_width:.0f`, repeat {glue:text}`worst_repeat:.0f`: one of its neurons
# starts at $|P_j(0)|$ = {glue:text}`worst_min_abs_p0:.1e`, so an absolute drift of a few
# thousandths becomes a deviation near a thousand. That run's mean deviation is
# {glue:text}`worst_deviation:.0f` (a sum of {glue:text}`worst_deviation_sum:.0f` over its
# {glue:text}`worst_width:.0f` neurons, nearly all of it from that one), the other repeats at
# that width give {glue:text}`worst_others_smallest:.2f` to
# {glue:text}`worst_others_largest:.2f`, and this one neuron alone lifts the table's cell to
# {glue:text}`worst_cell_mean:.1f` ± {glue:text}`worst_cell_se:.1g`. A mean over neurons and
# runs, which is what Table 3 reports, can be decided by a
# single neuron whenever $\mathbb E\,P_j(0)$ is near zero; the paper's table does not say how
# (or whether) it guarded against this.

# %% [markdown]
# ## Which reading this chapter shows
#
# The readings chapter's runs under the added readings, computed from what is stored (a
# reading without stored runs says so):

# %%
from falign.families import noisy_mnist_readings

display(Markdown(noisy_mnist_readings.readings_note("table3", results, profile)))

# %% [markdown]
# ## Provenance

# %%
provenance_card(sweep)

# %% [markdown]
# ## Exercises
#
# Each exercise runs in seconds on a laptop CPU: the first two on freshly drawn networks and
# Gaussian toy data, the third on the runs this chapter has loaded. Predict first, then check;
# the worked solution sits folded under each exercise.

# %% [markdown] exercise={"level": "advanced", "minutes": 45, "needs": "nothing"}
# :::{admonition} Exercise 1: where the denominator vanishes
# :class: tip
# Using the expectations derived above ($\tfrac12\lVert W_1[:,j]\rVert^2 \approx 1/6$, and
# $\langle W_2[j,:], B_2[j,:]\rangle \approx 10/(3m)$ for GD and adaFA, $5s/\sqrt m$ with
# $s = \sqrt{2/(m+10)}$ for sign-FA, 0 for FA), predict the width at which $\mathbb E\,P_j(0)$
# crosses zero for each rule, to the nearest unit. Then draw ten networks per rule at every
# even width from 10 to 60 (`falign.models.two_layer_mlp(784, m, 10, bias=False, seed=k)`,
# converted with `falign.convert(..., seed=1000 + k)` as the sweep does), and find the width at
# which the largest share of neurons starts with $|P_j(0)| < 0.02$
# (`falign.measurements.neuron_potentials(model, include_bias=False)`).
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 1
# For GD and adaFA, $10/(3m) = 1/6$ gives $m = 20$. For sign-FA, $5s/\sqrt m = 1/6$ with
# $s^2 = 2/(m+10)$ gives $m(m+10) = 1800$, so $m = -5 + \sqrt{1825} \approx 37.7$. FA's
# expectation is $-1/6$ at every width and never crosses zero. The sampled networks follow
# the closed forms (figure), and the share of nearly-zero denominators peaks within a couple
# of units of the crossing: at width 22 for GD and adaFA (their initial potentials are
# identical, since adaFA's $B_2 = W_2^{(0)}$), and at width 36 for sign-FA, where close to half
# of all neurons start within $0.02$ of zero. FA's share stays below a tenth everywhere; it is
# largest at width 10, where its outgoing term, a sum of only ten products, is noisiest. The
# sweep's widths 15, 30 and 45 sit on either side of the crossings, which is where Table 3's
# spread over repeats is largest.
# :::

# %% tags=["solution", "hide-cell"] mystnb={"image": {"alt": "Mean initial per-neuron potential against hidden width, one colour per rule: the expected value as a line, ten sampled networks per width as dots, with zero dotted."}}
import matplotlib.pyplot as plt
import torch

import falign
from falign import measurements, models

widths = list(range(10, 61, 2))
rules = ("fa", "adafa", "signfa", "bp")
mean_p0 = {rule: [] for rule in rules}
near_zero = {rule: [] for rule in rules}
for m in widths:
    for rule in rules:
        p0 = torch.cat([measurements.neuron_potentials(
            falign.convert(models.two_layer_mlp(784, m, 10, bias=False, seed=k), rule,
                           seed=1000 + k), include_bias=False)[0] for k in range(10)])
        mean_p0[rule].append(float(p0.mean()))
        near_zero[rule].append(float((p0.abs() < 0.02).float().mean()))

print(f"sign-FA crossing from the closed form: m = {-5 + 1825 ** 0.5:.1f}")
for rule in rules:
    k = max(range(len(widths)), key=lambda i: near_zero[rule][i])
    print(f"{rule:6s} most neurons with |P_j(0)| < 0.02 at width {widths[k]}: "
          f"{100 * near_zero[rule][k]:.0f}% of them")

fig, ax = plt.subplots(figsize=(5.6, 3.4))
for rule in rules:
    expected = [analysis.expected_initial_potential(rule, m) for m in widths]
    ax.plot(widths, expected, color=plots.RULE_COLORS[rule], lw=1.2,
            ls="--" if rule == "adafa" else "-", label=f"{plots.RULE_LABELS[rule]}, expected")
    ax.plot(widths, mean_p0[rule], "o", ms=3, color=plots.RULE_COLORS[rule])
ax.axhline(0.0, color="black", lw=0.8, ls=":")
ax.set(xlabel="hidden width m (units)", ylabel="mean P_j(0) (unitless)")
ax.legend(frameon=False, fontsize=8)
fig.tight_layout()

# %% [markdown] exercise={"level": "advanced", "minutes": 45, "needs": "nothing"}
# :::{admonition} Exercise 2: one neuron decides the mean
# :class: tip
# Take sign-FA at width 40, next to its crossing, and train eight networks (seeds
# $k = 0, \dots, 7$ as in exercise 1) for 20 full-batch SGD steps (learning rate
# $\eta = 0.02$, no momentum) on Gaussian toy data: 500 points of
# `falign.data.gaussian_data(500, 784, n_classes=10)` scaled by $\sqrt{784}$, 20% of the
# labels corrupted with `falign.data.corrupt_labels`. For each network compute Table 3's
# statistic, the mean over neurons of $|r_j - 1|$, and two alternatives: the median over
# neurons, and the pooled ratio $\sum_j |P_j(t) - P_j(0)| \,/\, \sum_j |P_j(0)|$. Before
# running: which of the three varies most from one network to the next, and which neuron
# will carry the mean?
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 2
# The absolute drift $|P_j(t) - P_j(0)|$ is set by the steps the neuron takes (exercise 1 of
# the Figure 2 chapter) and knows nothing about $P_j(0)$, so $|r_j - 1|$ is largest for the
# neuron with the smallest $|P_j(0)|$, and in a layer of 40 whose potentials straddle zero one
# such neuron can outweigh all the others. Expect the mean to jump from network to network
# with the smallest $|P_j(0)|$, while the median and the pooled ratio, which no single small
# denominator can blow up, stay put.
#
# That is what the eight networks show: the neuron with the smallest $|P_j(0)|$ has the
# largest deviation in all but one of them, in one network it alone makes most of the sum, and
# the mean spreads over more than a factor of ten between networks, against about a factor of
# two for the median and the pooled ratio. A table of means over runs at this width reports
# the luck of the draw as much as the dynamics; the pooled ratio (or the layer-level ratio of
# Figure 2) would have made Table 3 robust to it.
# :::

# %% tags=["solution", "hide-cell"]
import pandas as pd
import torch.nn.functional as F

from falign import data

toy = data.gaussian_data(500, 784, n_classes=10, seed=0)
x = toy.x * 784 ** 0.5                                      # unit variance per input
y = data.corrupt_labels(toy.y, 0.2, n_classes=10, seed=0)  # 100 of the 500 labels wrong

rows = []
for k in range(8):
    model = falign.convert(models.two_layer_mlp(784, 40, 10, bias=False, seed=k), "signfa",
                           seed=1000 + k)
    opt = torch.optim.SGD(model.parameters(), lr=0.02)
    p0 = measurements.neuron_potentials(model, include_bias=False)[0]
    for _ in range(20):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    p = measurements.neuron_potentials(model, include_bias=False)[0]
    dev = (p / p0 - 1).abs()
    rows.append({"seed": k, "smallest |P_j(0)|": float(p0.abs().min()),
                 "mean |r_j - 1|": float(dev.mean()), "median |r_j - 1|": float(dev.median()),
                 "pooled": float((p - p0).abs().sum() / p0.abs().sum()),
                 "worst neuron's share of the sum": float(dev.max() / dev.sum()),
                 "worst is smallest |P_j(0)|": bool(dev.argmax() == p0.abs().argmin())})
runs = pd.DataFrame(rows).set_index("seed")
for column in ("mean |r_j - 1|", "median |r_j - 1|", "pooled"):
    print(f"{column:17s} largest / smallest over the 8 networks: "
          f"{runs[column].max() / runs[column].min():.1f}")
analysis.rounded(runs)

# %% [markdown] exercise={"level": "advanced", "minutes": 45, "needs": "stored results"}
# :::{admonition} Exercise 3: time-averaged or final?
# :class: tip
# The book reads Table 3 as a deviation averaged over every measured epoch and shows the
# end-of-training value beside it. Predict the ratio time-averaged / final for the FA family
# and for GD in the stored runs. Hints: if the deviation grew linearly in time the ratio would
# be $1/2$; the learning rate is divided by 10 every 1000 of the 6000 epochs; the FA family's
# drift per step is second order in the learning rate (exercise 1 of the Figure 2 chapter),
# GD's first order. Check with `analysis.run_deviations(sweep.table, reading)` for the two
# readings `analysis.TABLE3_READING` and `analysis.TABLE3_ALTERNATIVE`.
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 3
# A drift rate proportional to $\eta_t^k$ with a constant gradient accumulates a deviation
# $D(t) \propto \sum_{s<t}\eta_s^k$; under the paper's schedule almost all of it comes in the
# first 1000 epochs, after which $D$ is flat. The time average over 6000 epochs is then about
# $\tfrac1{12} + \tfrac56$ of the final value, a ratio near $0.9$ for $k = 1$ and $k = 2$ alike
# (the code computes both). The stored runs of the paper profile sit on either side of that:
# the FA family's ratio
# is about 0.99, because its second-order drift is made by the large steps of the first few
# hundred epochs, when the gradients are largest (its deviation reaches 90% of its final value
# by epoch 130 to 260, median over runs). GD's first-order drift keeps growing with
# $\lVert W_1\rVert^2$ into the second learning-rate period and reaches 90% only after epoch
# 1000, so its ratio is about 0.88. Either way the two readings differ by about 1% for the FA
# family and about 12% for GD: the choice between them cannot explain why the paper's
# FA-family deviations at width 15 are many times ours.
# :::

# %% tags=["solution", "hide-cell"]
import numpy as np

schedule = noisy_mnist.PAPER
measured = np.arange(0, schedule.epochs + 1, schedule.measure_every)
lr = schedule.lr * 0.1 ** (np.arange(schedule.epochs) // schedule.lr_drop_every)
for k in (1, 2):
    drift = np.concatenate([[0.0], np.cumsum(lr ** k)])[measured]
    print(f"constant-gradient model, drift rate ~ lr^{k}: time-averaged / final = "
          f"{drift.mean() / drift[-1]:.3f}")

averaged = analysis.run_deviations(sweep.table, analysis.TABLE3_READING)
final_dev = analysis.run_deviations(sweep.table, analysis.TABLE3_ALTERNATIVE)
both = averaged.merge(final_dev[["run_key", "deviation"]], on="run_key",
                      suffixes=("_averaged", "_final"))
both["ratio"] = both.deviation_averaged / both.deviation_final
reached = {}                          # first measured epoch at 90% of the final deviation
for key, run in sweep.table.sort_values("epoch").groupby("run_key"):
    curve = run.neuron_deviation_weights_1.to_numpy()
    reached[key] = int(run.epoch.to_numpy()[np.argmax(curve >= 0.9 * curve[-1])])
both["epoch of 90%"] = both.run_key.map(reached)
print(f"stored runs ({sweep.profile} profile), median over runs:")
for rule in [r for r in rules if r in set(both.rule)]:
    runs_of_rule = both[both.rule == rule]
    print(f"{rule:6s} time-averaged / final = {runs_of_rule.ratio.median():.3f}, 90% of the "
          f"final deviation reached by epoch {runs_of_rule['epoch of 90%'].median():.0f}")
