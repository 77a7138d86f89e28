# %% [markdown]
# # Supp. Fig. 13: towards the pseudoinverse
#
# *Lillicrap et al. 2016, Supplementary Figure 13: small initial weights make FA follow the pseudoinverse.*
#
# Feedback alignment sends the output error to the hidden layer through a fixed matrix: its
# hidden update is $\delta_{\mathrm{FA}} = Be$, where backprop would use $\delta_{\mathrm{BP}} =
# W^\top e$. Note 13 of {cite:t}`lillicrap2016random` introduces a third rule,
# pseudobackprop, $\delta_{\mathrm{PBP}} = W^+ e$ with $W^+$ the Moore-Penrose pseudoinverse,
# which moves the hidden units by the Gauss-Newton step (Note 15). The claim of Figure 13: when
# $A$ and $W$ start small, $W$ grows into something that acts like a pseudoinverse of $B$, so
# that FA's hidden update ends up closer in angle to pseudobackprop's than to backprop's; the
# larger the initial weights, the weaker the effect.
#
# We follow the deterministic flow $\dot A = BE$, $\dot W = EA^\top$ on a 30-20-10 linear
# network with $A, W \sim U[-\omega, \omega]$ for the eight printed $\omega$, and measure, with
# white inputs, the angle between the expected hidden updates $BE$ and $W^\top E$, and between
# $BE$ and $W^+E$ (matrices flattened to vectors). The pseudoinverse is computed from the SVD
# with a relative cut-off $10^{-8}$ (see the library's `pinv`).

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
profile = "paper"          # "smoke": fewer steps, same computation
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
omegas = [0.0001, 0.001, 0.05, 0.1, 0.125, 0.15, 0.2, 0.25]      # printed in the caption
steps, every = (800, 10) if profile == "paper" else (200, 10)
dt = 8.0 / steps
# one T and one B for all eight runs (the same seed draws them first); A, W scaled by omega
draws = [ld.random_problem(30, 20, 10, seed=13, init=w, init_dist="uniform") for w in omegas]
A, W, B, T = (np.concatenate(parts) for parts in zip(*draws))
run = ld.angle_run(A, W, B, T, dt=dt, steps=steps, record_every=every)
late = run["t"] >= 4.0                                          # after the transient
table = pd.DataFrame({
    "ω": omegas,
    "NSE at t = 2": run["nse"][:, np.searchsorted(run["t"], 2.0)],
    "angle(Be, Wᵀe), mean over t ≥ 4 (°)": run["angle_bp"][:, late].mean(axis=1),
    "angle(Be, W⁺e), mean over t ≥ 4 (°)": run["angle_pbp"][:, late].mean(axis=1),
}).set_index("ω")
gap = table.iloc[:, 1] - table.iloc[:, 2]
glue("pbp_smallest", table.iloc[0, 2])
glue("bp_smallest", table.iloc[0, 1])
glue("pbp_largest", table.iloc[-1, 2])
glue("bp_largest", table.iloc[-1, 1])
glue("n_below", int((gap > 0).sum()))
glue("pbp_monotone", int(np.all(np.diff(table.iloc[:, 2].to_numpy()) > 0)))
table.round(3)

# %% mystnb={"image": {"alt": "Three panels against time for eight initial scales coloured blue to red: the normalised squared error falling on a log scale, the angle between FA's and backprop's hidden updates settling between about 20 and 60 degrees, and the angle between FA's and pseudobackprop's hidden updates falling to a few degrees for the smallest scales and staying larger for the largest."}}
colours = plt.cm.coolwarm(np.linspace(0, 1, len(omegas)))
fig, axes = plt.subplots(1, 3, figsize=(11, 3.3), sharex=True)
for k, w in enumerate(omegas):
    axes[0].plot(run["t"], run["nse"][k], color=colours[k], lw=1.3, label=f"ω = {w:g}")
    axes[1].plot(run["t"][1:], run["angle_bp"][k, 1:], color=colours[k], lw=1.3)
    axes[2].plot(run["t"][1:], run["angle_pbp"][k, 1:], color=colours[k], lw=1.3)
axes[0].set(yscale="log", ylabel="NSE (unitless)", title="a  error")
axes[1].set(ylabel="angle (degrees)", title="b  FA vs backprop: ∠(Be, Wᵀe)", ylim=(0, 95))
axes[2].set(ylabel="angle (degrees)", title="c  FA vs pseudobackprop: ∠(Be, W⁺e)", ylim=(0, 95))
for ax in axes:
    ax.set_xlabel("time t (flow units)")
axes[0].legend(fontsize=7, frameon=False)
fig.tight_layout()

# %% [markdown]
# After the transient ($t \ge 4$), FA's update is closer to pseudobackprop's than to backprop's
# for {glue:text}`n_below:.0f` of the 8 scales. At $\omega = 10^{-4}$ the mean angle to
# $W^+e$ is {glue:text}`pbp_smallest:.2f`° against {glue:text}`bp_smallest:.1f`° to $W^\top e$;
# at $\omega = 0.25$ they are {glue:text}`pbp_largest:.1f`° and {glue:text}`bp_largest:.1f`°.
# The angle to $W^+e$ grows with $\omega$ (strictly increasing over the eight scales:
# {glue:text}`pbp_monotone:.0f`, 1 meaning yes). This is the caption's claim.
#
# | item | Supp. Fig. 13 | predicted before computing (a prototype, at t = 6) | ours (mean over t ≥ 4) |
# |---|---|---|---|
# | angle to $W^+e$, smallest → largest ω | "quickly becomes smaller" than to $W^\top e$ | $0.1° \to 28.8°$ | {glue:text}`pbp_smallest:.2f`° → {glue:text}`pbp_largest:.1f`° |
# | angle to $W^\top e$, smallest → largest ω | (panel b) | $25.7° \to 39.3°$ | {glue:text}`bp_smallest:.1f`° → {glue:text}`bp_largest:.1f`° |
#
# The map's prototype numbers depend on its unstated draws of $T$ and $B$; ours differ in value
# but agree in order and trend.
#
# **Readings where the text is silent.**
#
# | item | text | ours | why |
# |---|---|---|---|
# | network | "30-20-10" (Note 13) | 30-20-10 | as stated |
# | T, B | not given | i.i.d. $\mathcal N(0, 1/\text{fan-in})$, the same for all ω | isolates the effect of ω |
# | dynamics | deterministic | synchronous FA flow, RK4 | as in Figs 11-12 |
# | angle of which e | single e per panel | expected updates $BE$, $W^\top E$, $W^+E$ | white inputs: the batch limit of Note 11 |
# | pinv cut-off | not given | relative $10^{-8}$ | numpy's default gives spurious angles once $E$ is round-off |

# %% tags=["nbval-ignore-output"]
live_provenance_card(profile, {"network": "30-20-10 linear", "repeats": "1 per ω (8 ω)",
                               "steps": f"{steps} RK4 steps of {dt:.3g}", "dtype": "float64"},
                     time.perf_counter() - start_clock)

# %% [markdown]
# ## Exercises

# %% [markdown] exercise={"level": "starter", "minutes": 15, "needs": "nothing"}
# :::{admonition} Exercise 1: pseudobackprop and backprop agree when W is orthogonal
# :class: tip
# If $W$ has orthonormal rows, how do $W^\top e$ and $W^+e$ compare? Check on a random
# $10 \times 20$ matrix with orthonormal rows.
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 1
# $W W^\top = I$ gives $W^+ = W^\top (WW^\top)^{-1} = W^\top$: the two updates coincide and
# the two angles of the figure would be equal.
# :::

# %% tags=["solution", "hide-cell"]
Q = np.linalg.qr(np.random.default_rng(0).standard_normal((20, 10)))[0].T       # 10 x 20
print(f"max |W^+ - W^T| = {np.abs(ld.pinv(Q) - Q.T).max():.1e}")

# %% [markdown] exercise={"level": "starter", "minutes": 15, "needs": "nothing"}
# :::{admonition} Exercise 2: the default cut-off
# :class: tip
# At the end of the smallest-ω run the error is near round-off. Compute the angle to $W^+E$ with
# numpy's default `np.linalg.pinv` and with ours; do they agree?
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 2
# Here $W$ is well conditioned (20 hidden units, 10 outputs, full row rank), so both
# pseudoinverses agree and so do the angles; the cut-off matters for nearly rank-deficient
# $W$, as in Note 14's rank-one case.
# :::

# %% tags=["solution", "hide-cell"]
A_end, W_end, B0, T0 = A[0], W[0], B[0], T[0]
for k in range(steps):
    A_end, W_end = ld.rk4_step(A_end, W_end, B0, T0, dt)
E_end = T0 - W_end @ A_end
print(f"NSE {ld.nse(A_end, W_end, T0):.1e}; angle with ours {ld.angle(B0 @ E_end, ld.pinv(W_end) @ E_end):.3f}°, "
      f"with numpy's default {ld.angle(B0 @ E_end, np.linalg.pinv(W_end) @ E_end):.3f}°")
