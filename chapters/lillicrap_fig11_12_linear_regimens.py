# %% [markdown]
# # Supp. Figs 11–12: linear regimens
#
# *Lillicrap et al. 2016, Supplementary Figures 11 and 12: alignment in linear networks under three regimens.*
#
# Note 12 of {cite:t}`lillicrap2016random` explains why the forward weights $W$ come to align
# with the feedback $B^\top$ by splitting the deterministic linear dynamics
# $\dot A = BE$, $\dot W = EA^\top$ (with $E = T - WA$, white inputs) into two phases.
# While only $A$ learns, $W$ is fixed and $\frac{d}{dt}\operatorname{tr}(A^\top A) =
# 2\operatorname{tr}(A^\top BE)$: if $A$ grows, $A$ aligns with $BE$ and $\operatorname{tr}(BW)$
# cannot move. While only $W$ learns, $\frac{d}{dt}\operatorname{tr}(BW) =
# \operatorname{tr}(BEA^\top) = \operatorname{tr}(A^\top BE)$: the alignment built in $A$ is
# handed on to $W$. Figure 11 shows the three traces $\operatorname{tr}(A^\top BE)$,
# $\operatorname{tr}(BW)$ and the error on a 30-20-10 network for three regimens (A then W once;
# alternating phases; synchronous), 20 repeats each; Figure 12 repeats the synchronous regimen on
# a 100-50-20 network, where the repeats spread less.
#
# The error is the normalised squared error $\mathrm{NSE} = \lVert T - WA\rVert_F^2 /
# \lVert T\rVert_F^2$, the expected squared output error over white inputs divided by the
# expected squared target (1 when $WA = 0$).

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
profile = "paper"          # "smoke": 4 repeats and fewer steps, same computation
device = "cpu"             # small float64 computations on the CPU

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from falign import linear_dynamics as ld
from falign import plots
from falign.chapters import glue, live_provenance_card

plots.set_style()
start_clock = time.perf_counter()
repeats, steps = (20, 600) if profile == "paper" else (4, 120)
dt, phases, init = 6.0 / steps, 6, 0.1
small_net = ld.random_problem(30, 20, 10, repeats=repeats, seed=11, init=init)
runs = {reg: ld.integrate(*small_net, dt=dt, steps=steps, regimen=reg, phases=phases)
        for reg in ld.REGIMENS}
big = ld.integrate(*ld.random_problem(100, 50, 20, repeats=repeats, seed=12, init=init),
                   dt=dt, steps=steps)

once = runs["once"]
a_phase = np.r_[True, once["learn"] == "A"]          # states reached while only A learned
half = int(a_phase.sum()) - 1
glue("bw_flat", float(np.abs(once["tr_BW"][:, a_phase] - once["tr_BW"][:, :1]).max()))
glue("nse_after_A", float(np.median(once["nse"][:, half])))
glue("abe_after_A", float(once["tr_ABE"][:, half].min()))
glue("bw_rise", float((once["tr_BW"][:, -1] - once["tr_BW"][:, half]).min()))
for reg, run in runs.items():
    glue(f"pos_{reg}", int((run["tr_BW"][:, -1] > 0).sum()))
    glue(f"nse_end_{reg}", float(run["nse"][:, -1].max()))
glue("pos_big", int((big["tr_BW"][:, -1] > 0).sum()))
glue("c_drift", float(max(runs["synchronous"]["c_drift"].max(), big["c_drift"].max())))
glue("repeats", repeats)


def spread(run):
    """Median over time of the across-repeat coefficient of variation of tr(BW)."""
    bw = run["tr_BW"][:, steps // 10:]
    return float(np.median(bw.std(axis=0) / np.abs(bw.mean(axis=0))))


glue("cv_small", spread(runs["synchronous"]))
glue("cv_big", spread(big))
nse_sd = (float(np.median(runs["synchronous"]["nse"].std(axis=0))),
          float(np.median(big["nse"].std(axis=0))))
glue("nse_sd_small", nse_sd[0])
_ = glue("nse_sd_big", nse_sd[1])

# %% mystnb={"image": {"alt": "Three columns (A then W once; alternating phases; synchronous) by three rows (tr(A^T B E), tr(B W), normalised squared error) of 20 thin traces each against time, with the phases in which only A learns shaded; tr(BW) is flat in every A-only phase and rises in W phases, tr(A^T B E) is positive after the start, and the error falls to near zero by the end."}}
titles = {"once": "A, then W (once)", "alternating": f"{phases} alternating phases",
          "synchronous": "synchronous"}
rows = [("tr_ABE", "tr(AᵀBE) (unitless)"), ("tr_BW", "tr(BW) (unitless)"),
        ("nse", "NSE (unitless)")]
fig, axes = plt.subplots(3, 3, figsize=(10, 7), sharex=True)
for col, (reg, run) in enumerate(runs.items()):
    learn = run["learn"]
    for row, (key, label) in enumerate(rows):
        ax = axes[row, col]
        for k in range(len(learn)):
            if learn[k] == "A" and (k == 0 or learn[k - 1] != "A"):
                stop = k + int(np.argmax(learn[k:] != "A")) if np.any(learn[k:] != "A") else len(learn)
                ax.axvspan(run["t"][k], run["t"][stop], color=plots.RULE_COLORS["fa"], alpha=0.08)
        ax.plot(run["t"], run[key].T, color="black", lw=0.6, alpha=0.6)
        ax.axhline(0, color="0.5", lw=0.6)
        if row == 0:
            ax.set_title(titles[reg])
        if col == 0:
            ax.set_ylabel(label)
        if row == 2:
            ax.set_xlabel("time t (flow units)")
for ax in axes[0]:
    ax.set_yscale("symlog", linthresh=1)
fig.suptitle("30-20-10 linear network, FA flow (shaded: only A learns)", y=1.0)
fig.tight_layout()

# %% mystnb={"image": {"alt": "One row of three panels for the 100-50-20 network under synchronous learning, 20 traces each of tr(A^T B E), tr(B W) and the normalised squared error against time, bundled more tightly than the 30-20-10 synchronous traces."}}
fig, axes = plt.subplots(1, 3, figsize=(10, 2.6), sharex=True)
for ax, (key, label) in zip(axes, rows):
    ax.plot(big["t"], big[key].T, color="black", lw=0.6, alpha=0.6)
    ax.axhline(0, color="0.5", lw=0.6)
    ax.set(xlabel="time t (flow units)", ylabel=label)
axes[0].set_yscale("symlog", linthresh=1)
fig.suptitle("100-50-20 linear network, synchronous FA flow", y=1.02)
fig.tight_layout()

# %% [markdown]
# ## The claims as numbers
#
# | claim (Supp. Figs 11-12, Note 12) | ours |
# |---|---|
# | while only A learns, tr(BW) stays flat | largest change over all A-only states: {glue:text}`bw_flat:.1e` (exactly 0: $W$ does not move) |
# | ... while the error hardly changes | median NSE at the end of the A phase: {glue:text}`nse_after_A:.3f` |
# | ... and tr(AᵀBE) becomes positive | smallest over the repeats at the end of the A phase: {glue:text}`abe_after_A:.3g` |
# | when W learns, tr(BW) increases | smallest rise over the W phase: {glue:text}`bw_rise:.3g` |
# | tr(BW) ends positive (W aligned with Bᵀ) | once {glue:text}`pos_once:.0f`, alternating {glue:text}`pos_alternating:.0f`, synchronous {glue:text}`pos_synchronous:.0f`, 100-50-20 {glue:text}`pos_big:.0f`, out of {glue:text}`repeats:.0f` each |
# | the error falls to zero | largest final NSE: once {glue:text}`nse_end_once:.1e`, alternating {glue:text}`nse_end_alternating:.1e`, synchronous {glue:text}`nse_end_synchronous:.1e` |
# | larger net, smaller spread | relative spread of tr(BW): {glue:text}`cv_small:.3f` (30-20-10) vs {glue:text}`cv_big:.3f` (100-50-20); NSE's standard deviation {glue:text}`nse_sd_small:.3f` vs {glue:text}`nse_sd_big:.3f` |
#
# Under synchronous learning Theorem 1's invariant $C$ holds: its largest drift is
# {glue:text}`c_drift:.1e`. (In the decoupled regimens it is not conserved, and need not be.)
# The spread is measured as the median over time (after the first tenth) of the standard
# deviation of tr(BW) across repeats divided by its mean: a scale-free number, since tr(BW)
# itself is larger in the larger network.
#
# **Readings where the text is silent.**
#
# | item | text | ours | why |
# |---|---|---|---|
# | draws of T, B | "random target function", random B | i.i.d. $\mathcal N(0, 1/\text{fan-in})$ | outputs of unit scale |
# | initial A, W | "random weights" | $\mathcal N(0, 0.1^2/\text{fan-in})$ | small, as the traces start near 0 in the figures |
# | dt, horizon | not given | RK4, horizon $t = 6$ | NSE below $10^{-2}$ by the end in all regimens |
# | phases | "a single time"; "multiple times" | halves; 6 equal phases, A first | the once-regimen's A phase must stay short: A grows without bound while W is frozen |
# | error | "error" | NSE as defined above | scale-free |

# %% tags=["nbval-ignore-output"]
live_provenance_card(profile, {"network": "30-20-10 and 100-50-20 linear", "repeats": repeats,
                               "steps": f"{steps} RK4 steps of {dt:.3g}", "dtype": "float64"},
                     time.perf_counter() - start_clock)

# %% [markdown]
# ## Exercises

# %% [markdown] exercise={"level": "starter", "minutes": 15, "needs": "nothing"}
# :::{admonition} Exercise 1: the rate of tr(AᵀA) while only A learns
# :class: tip
# Check eq. (25) numerically: on one repeat, take a tiny Euler step with `learn="A"` and compare
# the change of $\operatorname{tr}(A^\top A)$ per unit time with $2\operatorname{tr}(A^\top BE)$.
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 1
# An Euler step of size $h$ changes $\operatorname{tr}(A^\top A)$ by
# $2h\operatorname{tr}(A^\top BE) + h^2\lVert BE\rVert^2$, so the rate agrees to $O(h)$.
# :::

# %% tags=["solution", "hide-cell"]
A0, W0, B0, T0 = (m[0] for m in small_net)
for h in (1e-3, 1e-5):
    A1, _ = ld.euler_step(A0, W0, B0, T0, h, learn="A")
    rate = ((A1 ** 2).sum() - (A0 ** 2).sum()) / h
    print(f"h = {h:.0e}: rate {rate:.8f}, 2 tr(A^T B E) = {2 * ld.traces(A0, W0, B0, T0)[0]:.8f}")

# %% [markdown] exercise={"level": "starter", "minutes": 15, "needs": "nothing"}
# :::{admonition} Exercise 2: a longer A phase
# :class: tip
# Note 12 says that while W is frozen, A typically "blows up". Run only A for $t = 6$ on the
# 30-20-10 repeats and report how $\lVert A\rVert_F$ grows.
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 2
# With $W$ fixed, $\dot A = BT - BWA$ is linear in $A$; with a small random $W$, $BW$ is small
# and $A$ grows about linearly, $A \approx tBT$, faster where $BW$ has eigenvalues of negative
# real part. Its norm grows steadily in every repeat.
# :::

# %% tags=["solution", "hide-cell"]
norms = [np.sqrt((small_net[0] ** 2).sum(axis=(1, 2)))]
A_, W_ = small_net[0], small_net[1]
for k in range(600):
    A_, W_ = ld.rk4_step(A_, W_, small_net[2], small_net[3], 0.01, learn="A")
norms.append(np.sqrt((A_ ** 2).sum(axis=(1, 2))))
print(f"||A|| median at t = 0: {np.median(norms[0]):.3f}; at t = 6 with W frozen: {np.median(norms[1]):.3f}")
