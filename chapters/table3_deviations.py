# %% [markdown]
# # Table 3: how far training strays from the conservation law
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
from falign.chapters import load_results, provenance_card

plots.set_style()
sweep = load_results("noisy_mnist", profile, results, device, data_root, train_missing,
                     overrides=overrides)
display(Markdown(sweep.status()))

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

# %%
fig = plots.deviation_vs_width(ours[analysis.TABLE3_READING], paper)

# %% [markdown]
# ## Where we agree and where we do not
#
# - **GD agrees within a factor of about two at every width**, and within about 20% at widths 45
#   to 75. Both fall steeply with width; at width 15 ours is the smaller (15 to 17 by our two
#   statistics, against the paper's 22.3), at width 200 the larger.
# - **The FA family at large widths agrees in order of magnitude**: sign-FA matches the paper
#   from width 150 on, FA and adaFA are three to seven times smaller than the paper's.
# - **The FA family at small widths does not agree**: the paper reports 1.5 (FA), 1.0 (adaFA)
#   and 0.4 (sign-FA) at width 15; we measure 0.02 to 0.07. Our deviations therefore shrink with
#   width far less steeply, and the ordering differs: the paper's sign-FA deviates least at small
#   widths, ours most from width 30 on, with a bump at widths 30 and 45 that the paper does not
#   show (at width 45 one run carries it; see the next section).
# - **GD stays far above the FA family everywhere**, as in the paper, but by a factor of a few
#   hundred at width 15 instead of the paper's 15 to 56.
# - The readings chapter varies what the text leaves open. No reading that keeps Theorem 5.2's
#   premises (no biases, or biases counted in the potential) reproduces the paper's width-15
#   values; biases at 1 measured on weights only come closest, still about seven times short.

# %%
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
# those widths many neurons start with $P_j(0)$ close to zero (in 20 sampled networks, 19% of
# GD's neurons at width 15 and 26% of sign-FA's at width 30 have $|P_j(0)| < 0.02$, none of
# FA's), their ratios dominate the mean, and single runs differ a lot: the spread over repeats
# is largest for GD at width 15 and for sign-FA at widths 30 and 45. adaFA starts from
# $B_2 = W_2^{(0)}$ and so shares GD's $10/(3m) - 1/6$; at width 15 its deviation is the
# largest of the FA family and spreads the most over repeats. FA's independent random $B_2$
# gives $\mathbb E\,P_j(0) \approx -1/6$ at every width, far from zero, and its deviations are
# the most regular of the four. The paper's FA-family values at small widths are not explained
# this way: FA's denominator is well conditioned at every width.
#
# The expectation by width, from `analysis.expected_initial_potential` (checked against sampled
# networks in the tests):

# %%
analysis.expected_initial_potential_table(sweep.protocol.widths)

# %% [markdown]
# The expectation is about the typical neuron; a run's mean is at the mercy of its worst one.
# Each run's initial network can be rebuilt from its seeds, so we can look up, for every stored
# run, its smallest $|P_j(0)|$ and set it against the run's deviation:

# %%
runs = analysis.run_deviations(sweep.table, analysis.TABLE3_READING).merge(
    noisy_mnist.initial_conditioning(sweep.protocol), on=["run_key", "width", "rule", "repeat"])
fig = plots.deviation_vs_conditioning(runs)
analysis.rounded(runs.nsmallest(4, "min_abs_p0")[["rule", "width", "repeat", "min_abs_p0",
                                                   "deviation"]].reset_index(drop=True))

# %% [markdown]
# Within every rule the runs with the worst-conditioned neuron deviate the most (part of that
# is width, which moves both). The extreme case is sign-FA at width 45, repeat 5: one of its
# neurons starts at $P_j(0) \approx 3\times 10^{-6}$, so an absolute drift of a few
# thousandths becomes a deviation near a thousand. That run's mean deviation is 21, the other five
# repeats at that width give 0.11 to 0.19, and this one neuron alone lifts the table's cell to
# 3.7 ± 4. A mean over neurons and runs, which is what Table 3 reports, can be decided by a
# single neuron whenever $\mathbb E\,P_j(0)$ is near zero; the paper's table does not say how
# (or whether) it guarded against this.

# %% [markdown]
# ## Provenance

# %%
provenance_card(sweep)

# %% [markdown]
# ## What to try
#
# - Swap the statistic: `analysis.DEVIATION_READINGS` lists per-neuron or layer-level, final or
#   time-averaged, with or without biases. Which reading changes the order of the methods?
# - The deviation is a discretisation error. Estimate it by hand: sum $\tfrac12\eta_t^2\lVert
#   \Delta W_1\rVert^2$ over the run (the `lr` and `weight_norm_1` columns give you a start) and
#   compare with the table.
# - Repeat a width with more repeats (`overrides={"widths": [15], "repeats": 12}`) and see whether the
#   standard error shrinks like $1/\sqrt{n}$ or whether single runs dominate it.
