# %% [markdown]
# # Supp. Fig. 9: each unit's angle
#
# *Lillicrap et al. 2016, Supplementary Figure 9: each hidden unit's forward weights turn toward its feedback.*
#
# Feedback alignment works because the forward weights come to agree with the fixed random
# feedback. Most measurements of this agreement look at whole matrices. {cite:t}`lillicrap2016random`
# (Supplementary Figure 9) look at it one neuron at a time: in a network with 20 inputs, 1000
# tanh hidden units and 20 linear outputs, hidden unit $j$ sends its activity forward through
# the column $w_j = W_{:,j} \in \mathbb R^{20}$ of the output weights, and receives its teaching
# signal $\delta h_j = b_j^\top e$ through the column $b_j = B_{:,j}$ of the feedback matrix
# (both stored here in the output layer's shape, 20 by 1000). The unit's angle
#
# $$
# \theta_j = \arccos \frac{w_j^\top b_j}{\lVert w_j\rVert\,\lVert b_j\rVert}
# $$
#
# is below 90 degrees exactly when the feedback it receives, $b_j^\top e$, agrees in sign on
# average with what backprop would send it, $w_j^\top e$. Before learning, $w_j$ and $b_j$ are
# independent, so $\theta_j$ scatters symmetrically around 90 degrees. The claim is that
# after learning the whole histogram has moved toward 0: alignment happens unit by unit, not
# only in aggregate.
#
# **The spread at initialisation.** For independent $w, b \in \mathbb R^n$ with i.i.d.
# entries symmetric about 0, the cosine $c = \hat w^\top \hat b$ has mean 0 and variance
# exactly $1/n$: flipping the sign of $w_i$ shows the cross terms
# $\mathbb E[\hat w_i \hat w_k]\,\mathbb E[\hat b_i \hat b_k]$ vanish for $i \neq k$, and by
# exchangeability $\mathbb E[\hat w_i^2] = 1/n$, so $\mathbb E[c^2] = n \cdot \frac1n \cdot
# \frac1n$. With $n = 20$ the cosine's SD is $1/\sqrt{20}$, which read in radians is the $12.8$
# degrees one would get by linearising $\arccos$ at 0. The angle's own SD is larger: for
# isotropic vectors $\theta$ has density proportional to $\sin^{n-2}\theta$ on $[0, \pi]$, whose
# SD we integrate numerically (`falign.synthetic_tasks.random_angle_spread`).

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
profile = "paper"          # "paper": the chapter as the book shows it; "smoke": a quick check
device = "cpu"             # small networks: the CPU

# %%
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from falign import plots
from falign import synthetic_tasks as st
from falign.chapters import glue, live_provenance_card
from falign.layers import feedback_layers

plots.set_style()
torch.set_num_threads(1)
steps, chunk = {"paper": (1200, 100), "smoke": (60, 20)}[profile]
dtype = torch.float64          # float64: in float32 the printed digits moved with the CPU's kernels
small = 0.1                    # student forward weights start at a tenth of the usual range
started = time.perf_counter()

teacher = st.teacher_network([20, 20, 20], seed=999, gain=3.0, dtype=dtype)
held_out = st.regression_data(teacher, 1000, 20, seed=123, dtype=dtype)
# reference: the best affine map, fitted by least squares on 20000 fresh examples
fit_x, fit_y = (t.double() for t in st.regression_data(teacher, 20000, 20, seed=5, dtype=dtype))
ones = torch.ones(len(fit_x), 1, dtype=torch.float64)
coef = torch.linalg.lstsq(torch.cat([fit_x, ones], 1), fit_y).solution
linear_nse = st.nse(torch.cat([held_out[0].double(), ones[:1000]], 1) @ coef,
                    held_out[1].double())

models = {}
for rule in ("bp", "fa"):
    net = st.uniform_student([20, 1000, 20], rule, seed=0, feedback_seed=100, dtype=dtype)
    with torch.no_grad():
        for layer in feedback_layers(net):      # forward weights and biases only: B keeps its range
            layer.weight.mul_(small)
            layer.bias.mul_(small)
    models[rule] = net
angles = {0: st.unit_angles(models["fa"]).numpy()}
stream = st.fresh_batches(teacher, 100, 20, seed=1000, dtype=dtype)   # one data order for both
curves = {"bp": ([], []), "fa": ([], [])}
for first in range(0, steps, chunk):          # train in chunks to look at the angles in between
    traces = st.train_stacked([models["bp"], models["fa"]],
                              st.stacked_batches([lambda s, first=first: stream(s + first)] * 2),
                              lr=0.05, steps=chunk, evaluate=held_out, record_every=chunk // 4)
    for rule, trace in zip(("bp", "fa"), traces):
        skip = 0 if first == 0 else 1          # each chunk re-records its starting point
        curves[rule][0].extend(first + s for s in trace.steps[skip:])
        curves[rule][1].extend(trace.error[skip:])
    angles[first + chunk] = st.unit_angles(models["fa"]).numpy()
wall = time.perf_counter() - started

before, after = angles[0], angles[steps]
sd_cos, sd_angle = st.random_angle_spread(20)
summary = pd.DataFrame({
    "before training": [before.mean(), np.median(before), before.std(), (before < 90).mean()],
    f"after {steps} steps": [after.mean(), np.median(after), after.std(), (after < 90).mean()]},
    index=["mean angle (deg)", "median angle (deg)", "SD of the angle (deg)",
           "fraction of units below 90 deg"])
summary.round(3)

# %% mystnb={"image": {"alt": "Left: normalised squared error against training step for BP and FA on the 20-1000-20 network, both falling from about 1 to below the best linear fit. Right: histograms of the 1000 per-unit angles between forward and feedback weights, centred on 90 degrees before training and shifted to about 60-70 degrees after, with the isotropic density overlaid on the first."}}
fig, (ax_a, ax_b) = plt.subplots(1, 2, figsize=(10.0, 3.8))
for rule in ("bp", "fa"):
    ax_a.plot(*curves[rule], color=plots.RULE_COLORS[rule], label=plots.RULE_LABELS[rule])
ax_a.axhline(linear_nse, color="0.5", ls=":", lw=1, label="best affine map")
ax_a.set(yscale="log", xlabel="training step (minibatches of 100)",
         ylabel="NSE on held-out examples (unitless)", title="(a)")
ax_a.legend(frameon=False, fontsize=8)
bins = np.linspace(0, 180, 61)
ax_b.hist(before, bins=bins, color="0.6", alpha=0.7, label="before training")
ax_b.hist(after, bins=bins, color=plots.RULE_COLORS["fa"], alpha=0.7,
          label=f"after {steps} steps of FA")
grid = np.linspace(0, 180, 361)
density = np.sin(np.deg2rad(grid)) ** 18
density *= len(before) * 3.0 / np.trapezoid(density, grid)    # counts per 3-degree bin
ax_b.plot(grid, density, color="k", lw=1, label=r"isotropic: $\propto\sin^{18}\theta$")
ax_b.axvline(90, color="k", lw=0.6, ls=":")
ax_b.set(xlabel="angle between $w_j$ and $b_j$ (degrees)", ylabel="hidden units (count)",
         xlim=(0, 180), title="(b)")
ax_b.legend(frameon=False, fontsize=8)
fig.tight_layout()

# %% mystnb={"image": {"alt": "Mean and 10th to 90th percentile band of the per-unit angles against training step for FA: the mean falls from 90 degrees within the first hundred steps and then drifts slowly back up while staying well below 90."}}
marks = sorted(angles)
fig, ax = plt.subplots(figsize=(6.0, 3.2))
ax.plot(marks, [angles[s].mean() for s in marks], color=plots.RULE_COLORS["fa"], marker="o",
        ms=3, label="mean over the 1000 units")
ax.fill_between(marks, [np.percentile(angles[s], 10) for s in marks],
                [np.percentile(angles[s], 90) for s in marks], color=plots.RULE_COLORS["fa"],
                alpha=0.2, label="10th to 90th percentile")
ax.axhline(90, color="k", lw=0.6, ls=":")
ax.set(xlabel="training step (minibatches of 100)", ylabel="per-unit angle (degrees)",
       ylim=(0, 120))
ax.legend(frameon=False, fontsize=8)
fig.tight_layout()

# %%
for key, value in {"mean_before": before.mean(), "median_before": np.median(before),
                   "sd_before": before.std(), "mean_after": after.mean(),
                   "median_after": np.median(after), "below_after": 100 * (after < 90).mean(),
                   "below_before": 100 * (before < 90).mean(), "sd_cos": sd_cos,
                   "sd_cos_deg": math.degrees(sd_cos), "sd_angle": sd_angle,
                   "nse_fa": curves["fa"][1][-1], "nse_bp": curves["bp"][1][-1],
                   "nse_start": curves["fa"][1][0], "linear_nse": linear_nse,
                   "min_mean": min(angles[s].mean() for s in marks[1:]),
                   "min_mean_step": float(min(marks[1:], key=lambda s: angles[s].mean())),
                   "steps": steps}.items():
    glue(key, round(float(value), 9))   # lstsq differs in the last bits between runs
print(f"NSE: start {curves['fa'][1][0]:.3f}; after {steps} steps FA {curves['fa'][1][-1]:.4f}, "
      f"BP {curves['bp'][1][-1]:.4f}; best affine map {linear_nse:.4f}")

# %% [markdown]
# ## What the text says, and what we find
#
# | | the text | ours |
# |---|---|---|
# | (a) NSE | "drops" | from {glue:text}`nse_start:.3f` to {glue:text}`nse_fa:.3f` (FA) and {glue:text}`nse_bp:.3f` (BP) in {glue:text}`steps:.0f` steps; best affine map {glue:text}`linear_nse:.3f` |
# | (b) before | unimodal, symmetric about 90 degrees | mean {glue:text}`mean_before:.1f`, median {glue:text}`median_before:.1f`, SD {glue:text}`sd_before:.2f` degrees; {glue:text}`below_before:.1f` % of units below 90 |
# | spread at initialisation (our derivation) | not stated (predicted before computing: 12.8 degrees) | SD of the cosine $1/\sqrt{20}$ = {glue:text}`sd_cos:.4f` (as an angle, {glue:text}`sd_cos_deg:.2f` degrees); SD of the angle for isotropic vectors {glue:text}`sd_angle:.2f` degrees |
# | (b) after | shifted toward 0 degrees | mean {glue:text}`mean_after:.1f`, median {glue:text}`median_after:.1f` degrees; {glue:text}`below_after:.1f` % of units below 90 |
#
# The histogram moves as the caption says: nearly every hidden unit ends with forward weights
# within 90 degrees of its own feedback, so the teaching signal each unit receives agrees in
# sign with backprop's. The spread at initialisation matches the derivation: the 12.8 degrees
# predicted before computing is the SD of the *cosine* read in radians; the angle's SD is a little larger,
# because $\arccos$ stretches the tails. Panel (c), not in the paper, follows the mean angle:
# it falls fastest at the start, reaching {glue:text}`min_mean:.1f` degrees at step
# {glue:text}`min_mean_step:.0f`, and then drifts slowly back while the network starts to fit
# the nonlinear part of the target (the NSE passing below the best affine map). So the
# alignment here is strongest early, when the network is still close to linear; the proof of
# Supplementary Note 11 says why: a linear network started at zero keeps
# $BW + W^\top B^\top = AA^\top$, whose diagonal gives $w_j^\top b_j = \frac12 \lVert a_j\rVert^2
# \ge 0$ for every unit $j$ ($a_j$ its incoming weights).
#
# BP needs no histogram: its feedback is $W$ itself, every angle is 0. Its NSE curve is a
# reference for how fast this network can learn the target.
#
# ## Readings where the text is silent
#
# | item | the text | our reading | why |
# |---|---|---|---|
# | target | "a nonlinear target function" (main-text Figure 5a, not in our folder) | a random tanh teacher 20-20-20 with weights and biases from $U[\pm 3/\sqrt{\text{fan-in}}]$ | the supplement's teacher family, with a gain of 3 so that tanh saturates and the best affine map leaves a visible error |
# | student initialisation | not stated | forward weights and biases from $U[\pm 0.1\sqrt{3/\text{fan-in}}]$; feedback $B$ from $U[\pm\sqrt{3/\text{fan-in}}]$ | weights starting near 0, as in Supplementary Figure 13 and Note 12; with the full range the histogram barely moves in this many steps (Exercise 2) |
# | angle | "the angles between the forward and backward pathways for each hidden neuron" | angle between unit $j$'s outgoing forward weights $W_{:,j}$ and its feedback $B_{:,j}$ | the only 20-dimensional pair per unit; the incoming weights live in another space |
# | data, loss, rate | not stated | fresh minibatches of 100 from $\mathcal N(0, I_{20})$, mean squared-error loss, learning rate $0.05$ | Supplementary Note 3's settings for the other regression tasks |
# | training length | not stated | {glue:text}`steps:.0f` steps | the shift is complete within a few hundred steps; the chapter must run in about half a minute |
#
# ## Provenance

# %% tags=["nbval-ignore-output"]
live_provenance_card(profile, {
    "network": "teacher 20-20-20 tanh (gain 3); student 20-1000-20 tanh, linear output",
    "repeats": "1 (BP and FA from one initialisation, one data order)",
    "steps": f"{steps}, minibatch 100", "learning rate": 0.05, "dtype": "float64",
    "initial forward range": "0.1 sqrt(3/fan-in)",
    "trainer": "falign.synthetic_tasks.train_stacked"}, wall)

# %% [markdown]
# ## Exercises

# %% [markdown] exercise={"level": "starter", "minutes": 15, "needs": "nothing"}
# :::{admonition} Exercise 1: the spread of a random angle
# :class: tip
# Draw 20000 pairs of independent vectors in $\mathbb R^{20}$ with uniform entries and compute
# the SD of their cosine and of their angle. Which of $1/\sqrt{20}$ and the
# $\sin^{18}$-density value does each match, and why is the second not exact for uniform entries?
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 1
# The cosine's variance is exactly $1/n$ for any i.i.d. symmetric law (the argument above
# uses nothing else), so its SD matches $1/\sqrt{20}$ up to sampling error. The angle's
# density $\propto\sin^{n-2}\theta$ holds for isotropic (Gaussian) vectors only; uniform
# entries are not isotropic, so the angle's SD is close to, not exactly, the integrated value.
# :::

# %% tags=["solution", "hide-cell"]
gen = torch.Generator().manual_seed(0)
w = torch.rand(20000, 20, generator=gen, dtype=torch.float64) * 2 - 1
b = torch.rand(20000, 20, generator=gen, dtype=torch.float64) * 2 - 1
cos = (w * b).sum(1) / (w.norm(dim=1) * b.norm(dim=1))
print(f"SD of the cosine: {float(cos.std()):.4f} (1/sqrt(20) = {sd_cos:.4f}); "
      f"SD of the angle: {float(torch.rad2deg(torch.arccos(cos)).std()):.2f} degrees "
      f"(isotropic: {sd_angle:.2f})")

# %% [markdown] exercise={"level": "intermediate", "minutes": 30, "needs": "nothing"}
# :::{admonition} Exercise 2: start with the usual range
# :class: tip
# Repeat FA for 300 steps with the student's forward weights at their full range
# $U[\pm\sqrt{3/\text{fan-in}}]$ (no factor $0.1$). Predict the mean angle and the fraction of
# units below 90 degrees, then measure them beside the small start.
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 2
# An output weight column then starts ten times longer, and the part of it that FA adds along
# $b_j$ (through the hidden units' learning) is small beside it for a long time: the angles stay
# close to 90 degrees. Starting near 0, almost all of $w_j$ is what learning put there, and that
# part leans toward $b_j$. This is why the text's analysis (Notes 11, 12) starts the weights small.
# :::

# %% tags=["solution", "hide-cell"]
pair = [st.uniform_student([20, 1000, 20], "fa", seed=0, feedback_seed=100, dtype=dtype)
        for _ in range(2)]
with torch.no_grad():
    for layer in feedback_layers(pair[1]):
        layer.weight.mul_(small)
        layer.bias.mul_(small)
short = min(300, steps)
st.train_stacked(pair, st.stacked_batches([st.fresh_batches(teacher, 100, 20, seed=1000,
                                                             dtype=dtype)] * 2),
                 lr=0.05, steps=short, evaluate=held_out, record_every=short)
for label, net in zip(("full range", "range x 0.1"), pair):
    a = st.unit_angles(net).numpy()
    print(f"{label}: after {short} steps mean angle {a.mean():.1f} deg, "
          f"{100 * (a < 90).mean():.1f} % of units below 90")
