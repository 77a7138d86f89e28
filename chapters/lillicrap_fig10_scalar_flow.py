# %% [markdown]
# # Supp. Fig. 10: the scalar flow
#
# *Lillicrap et al. 2016, Supplementary Figure 10: the scalar flow field and its invariant.*
#
# The smallest network in which feedback alignment has to do something is a chain of three
# linear neurons: input $x$, hidden $h = Ax$, output $y = Wh$, trained towards $y^* = Tx$ with
# a fixed feedback weight $B$ in place of $W$ {cite:t}`lillicrap2016random`. With white inputs
# the expected updates are deterministic, and for $T = B = 1$ the flow is
#
# $$
# \dot A = B(T - WA) = 1 - WA, \qquad \dot W = (T - WA)\,A = (1 - WA)\,A .
# $$
#
# **What we derive and check.** The quantity $C = 2BW - A^2$ (Theorem 1's invariant for
# scalars) has $\dot C = 2(1-WA)A - 2A(1-WA) = 0$, so every trajectory is a piece of the parabola
# $W = (A^2 + C)/2$. Its solutions lie on the hyperbola $AW = 1$; substituting the parabola gives
# the cubic $g(A) = A^3 + CA - 2 = 0$, and along the parabola $\dot A = -g(A)/2$: $A$ moves
# monotonically to the next root of $g$ in the direction of $-g$. At a solution the field's
# Jacobian has the eigenvalue $0$ along the hyperbola and $-(1/A + A^2)$ across it, so the
# branch $A > 0$ (where $W > 0$ and $eWBe > 0$) is stable, the lower-left branch is stable for
# $A < -1$ and unstable for $-1 < A < 0$ (the dashed piece of the figure). The cubic has three
# real roots only when $C < -3$; then the starts with $A$ below the middle root flow to the
# "bad" branch, where $W < 0$ and the feedback pushes the hidden unit the wrong way. That set,
# $\{C < -3,\ A < r_2(C)\}$, is the shaded basin of the figure.

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
profile = "paper"          # "smoke": coarser grid and fewer steps, same computation
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
grid_n, steps, dt = (41, 3000, 0.005) if profile == "paper" else (15, 600, 0.02)
starts = {"from near 0": (1e-3, 1e-3), "from the bad basin": (-3.0, 0.0),
          "from the upper left": (-1.5, 2.0)}
paths = {k: ld.scalar_trajectory(a, w, dt=dt, steps=steps) for k, (a, w) in starts.items()}
limits = {k: ld.scalar_limit(a, w) for k, (a, w) in starts.items()}
drift = max(np.abs(ld.scalar_invariant(p[:, 0], p[:, 1]) - ld.scalar_invariant(*p[0])).max()
            for p in paths.values())
reach = max(np.abs(p[-1] - np.array(limits[k])).max() for k, p in paths.items())
glue("drift", drift)
glue("reach", reach)
glue("A_good", limits["from near 0"][0])
glue("W_good", limits["from near 0"][1])
glue("A_bad", limits["from the bad basin"][0])
_ = glue("W_bad", limits["from the bad basin"][1])

# %% [markdown]
# ## The field, the solutions and the basin
#
# Below, the field on a grid, the hyperbola $AW = 1$ split by the sign of the transverse
# eigenvalue and of $W$, the basin computed from the cubic, and three trajectories integrated
# with RK4 (step {glue:text}`dt_used:.3g`).

# %%
glue("dt_used", dt)
a = np.linspace(-4, 4, grid_n)
AA, WW = np.meshgrid(a, a)
dA, dW = ld.scalar_field(AA, WW)
fine = np.linspace(-4, 4, 321)
FA_, FW_ = np.meshgrid(fine, fine)
basin = ld.scalar_bad_basin(FA_, FW_)
glue("basin_share", basin.mean())
glue("basin_dist", float(np.hypot(FA_, FW_)[basin].min()))
rates = {}
for branch, A_b in {"good": np.linspace(0.25, 4, 200), "bad": np.linspace(-4, -1e-3, 400)}.items():
    rates[branch] = ld.scalar_transverse_rate(A_b)
_ = glue("unstable_from", float(np.linspace(-4, -1e-3, 400)[rates["bad"] > 0].min()))

# %% mystnb={"image": {"alt": "Flow field of the scalar feedback-alignment network in the (A, W) plane: small grey arrows, the hyperbola AW = 1 drawn solid grey in the upper right, solid black in the lower left for A < -1 and dashed black for -1 < A < 0, a shaded region in the lower left that flows to the bad branch, and three trajectories that follow parabolas: one from near zero ends on the upper-right branch, one from (-3, 0) ends on the bad branch."}}
fig, ax = plt.subplots(figsize=(6.4, 6.0))
speed = np.hypot(dA, dW) + 1e-12
ax.quiver(AA, WW, dA / speed, dW / speed, color="0.6", scale=45, width=0.0025)
ax.contourf(FA_, FW_, basin.astype(float), levels=[0.5, 1.5], colors=["0.82"])
good = np.linspace(0.25, 4, 200)
ax.plot(good, 1 / good, color="0.55", lw=3.5, label="stable, W > 0 (eWBe > 0)")
bad_stable = np.linspace(-4, -1, 200)
ax.plot(bad_stable, 1 / bad_stable, color="black", lw=3.5, label="stable, W < 0 (eWBe < 0)")
bad_unstable = np.linspace(-1, -0.25, 200)
ax.plot(bad_unstable, 1 / bad_unstable, color="black", lw=2, ls="--", label="unstable")
for (name, p), ls in zip(paths.items(), ["-", "-.", ":"]):
    ax.plot(p[:, 0], p[:, 1], color=plots.RULE_COLORS["fa"], lw=2, ls=ls, label=f"FA {name}")
    ax.plot(*p[0], "o", color=plots.RULE_COLORS["fa"], ms=5)
    ax.plot(*p[-1], "*", color=plots.RULE_COLORS["fa"], ms=12)
ax.fill([], [], color="0.82", label="basin of the bad branch")
ax.set(xlim=(-4, 4), ylim=(-4, 4), xlabel="A, input→hidden weight (unitless)",
       ylabel="W, hidden→output weight (unitless)", title="T = B = 1")
ax.legend(fontsize=7.5, loc="lower right", frameon=True)
fig.tight_layout()

# %% [markdown]
# From near zero the trajectory follows the parabola $C \approx 0$ to the stable branch at
# $A = $ {glue:text}`A_good:.5f`, $W = $ {glue:text}`W_good:.5f` (close to the root of $A^3 = 2$, $A = 2^{1/3}$,
# $W = 2^{-1/3}$, which $C = 0$ exactly would give). From $(-3, 0)$, inside the basin ($C = -9$), it ends on the bad branch at
# $A = $ {glue:text}`A_bad:.4f`, $W = $ {glue:text}`W_bad:.4f`. Over all three paths $C$ drifts
# by at most {glue:text}`drift:.1e`, and the endpoints match the roots of the cubic to
# {glue:text}`reach:.1e`. The lower-left branch turns unstable from $A = $
# {glue:text}`unstable_from:.3f` upward (our grid's first point above $-1$). The basin covers a
# fraction {glue:text}`basin_share:.2f` of the square $[-4, 4]^2$, and its nearest point is
# {glue:text}`basin_dist:.2f` from the origin: starts near zero avoid it, as the caption says. The
# caption's "small region" is a matter of the window: the basin is unbounded (every start with
# $A \to -\infty$ at fixed $W$ has $C \to -\infty$ and lies in it).
#
# | item | ours | Supp. Fig. 10 / Note 11 | predicted before computing |
# | --- | --- | --- | --- |
# | invariant | drift {glue:text}`drift:.1e` | trajectories are parabolas | $C = 2W - A^2$ |
# | limit from near 0 | ({glue:text}`A_good:.4f`, {glue:text}`W_good:.4f`) | upper-right hyperbola | $(1.2599, 0.7937)$ |
# | limit from $(-3, 0)$ | ({glue:text}`A_bad:.3f`, {glue:text}`W_bad:.3f`) | "bad" lower-left hyperbola | $(-2.882, -0.347)$ |
# | unstable piece | $-1 < A < 0$ (eigenvalue $-(1/A + A^2) > 0$) | dashed black | $-1 < A < 0$ |
# | basin | same, derived above | "small region", shaded | $C < -3$, $A < r_2$ |
#
# **Readings where the text is silent.**
#
# | item | text | ours | why |
# |---|---|---|---|
# | integrator, step | "custom-built code in Matlab" | RK4, step as glued above | fourth order: the invariant drifts by less than $10^{-8}$ |
# | start "close to 0" | not given | $(10^{-3}, 10^{-3})$ | exactly $(0, 0)$ also works: $\dot A = 1$ there |
# | plotted window | not given | $[-4, 4]^2$ | shows both branches and the basin |

# %% tags=["nbval-ignore-output"]
live_provenance_card(profile, {"network": "1-1-1 linear, T = B = 1", "repeats": 1,
                               "steps": steps, "dtype": "float64"},
                     time.perf_counter() - start_clock)

# %% [markdown]
# ## Exercises

# %% [markdown] exercise={"level": "starter", "minutes": 15, "needs": "nothing"}
# :::{admonition} Exercise 1: a different target
# :class: tip
# Keep $B = 1$ but set $T = 8$. Where does the flow from near zero end? Predict it from the
# cubic, then check with `ld.scalar_limit(1e-3, 1e-3, t=8)` and a trajectory.
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 1
# With general $b, t$ the cubic is $A^3 + CA - 2bt = 0$; from $C \approx 0$ it gives
# $A = (2bt)^{1/3} = 16^{1/3} \approx 2.52$ and $W = t/A$.
# :::

# %% tags=["solution", "hide-cell"]
end = ld.scalar_limit(1e-3, 1e-3, t=8.0)
path = ld.scalar_trajectory(1e-3, 1e-3, dt=0.002, steps=3000, t=8.0)
print(f"cubic: A = {end[0]:.6f}, W = {end[1]:.6f};  16^(1/3) = {16 ** (1 / 3):.6f};  "
      f"trajectory ends at ({path[-1, 0]:.6f}, {path[-1, 1]:.6f})")

# %% [markdown] exercise={"level": "starter", "minutes": 15, "needs": "nothing"}
# :::{admonition} Exercise 2: where does the basin begin?
# :class: tip
# On the axis $W = 0$, from which $A$ leftwards does the flow end on the bad branch? Derive it
# from the condition $C < -3$ and check with `ld.scalar_bad_basin`.
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 2
# On $W = 0$, $C = -A^2$, so three roots need $A^2 > 3$; then $A$ must also lie below the middle
# root, which holds for every $A < -\sqrt 3$ on this axis ($g(A) = A^3 - A^3 - 2 < 0$ there, so
# $A$ increases towards the smallest root). The basin on the axis is $A < -\sqrt3 \approx -1.732$.
# :::

# %% tags=["solution", "hide-cell"]
axis = np.linspace(-2.5, 0, 2501)
inside = ld.scalar_bad_basin(axis, np.zeros_like(axis))
print(f"largest A with W = 0 inside the basin: {axis[inside].max():.4f};  -sqrt(3) = {-np.sqrt(3):.4f}")
