# %% [markdown]
# # Lillicrap Theorem 1: zero error
#
# *Lillicrap et al. 2016, Supplementary Note 11 (Theorem 1): feedback alignment drives a linear network to zero error.*
#
# Note 11 of {cite:t}`lillicrap2016random` proves the first guarantee for feedback alignment.
# Take a linear network $y = WAx$ with target $y^* = Tx$, error matrix $E = T - WA$ and a fixed
# random feedback matrix $B$ (it replaces $W^\top$). With white inputs the batch dynamics are
# the flow
#
# $$\dot W = EA^\top, \qquad \dot A = BE .$$
#
# The whole argument rests on one conserved quantity: the matrix
#
# $$C = BW + W^\top B^\top - AA^\top$$
#
# has $\dot C = BEA^\top + AE^\top B^\top - BEA^\top - AE^\top B^\top = 0$. **Theorem 1**: if
# $C = 0$ (for instance $A = W = 0$ at the start) and $B^+B = I$ ($B$ has independent
# columns, so $n_o \le n_h$), then $E \to 0$. The proof takes $V = \lVert BE\rVert^2$ as a
# Lyapunov-like function: with $C = 0$,
#
# $$\dot V = -2\lVert BEA^\top\rVert^2 - \lVert A^\top BE\rVert^2 \le 0 ,$$
#
# shows $A$ stays bounded (Lemma 3), invokes Barbălat's lemma to get $\dot V \to 0$, and from
# $BEA^\top \to 0$ and $B^+B = I$ concludes $E \to 0$. Taking the trace of $C = 0$ also gives
# $\operatorname{tr}(BW) = \tfrac12\operatorname{tr}(AA^\top) \ge 0$: $W$ is aligned with
# $B^\top$ at every moment, not only at the end.
#
# We check every step live, in float64, on 20 random 30-20-10 networks started at
# $A = W = 0$, together with two things the note does not state: what the discrete (Euler)
# rule does to $C$, and whether Lemma 3's bound on $s = \operatorname{tr}(AA^\top)$ is proved
# by its own argument.

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
profile = "paper"          # "smoke": fewer repeats and steps, same computation
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
FA = plots.RULE_COLORS["fa"]
start_clock = time.perf_counter()
repeats, steps = (20, 1500) if profile == "paper" else (3, 300)
dt, every = 0.01, 5
n_i, n_h, n_o = 30, 20, 10
A0, W0, B, T = ld.random_problem(n_i, n_h, n_o, repeats=repeats, seed=11, init=0.0)
run = ld.theorem1_run(A0, W0, B, T, dt=dt, steps=steps, record_every=every)
# B^+ B = I holds for every draw (independent columns, n_o <= n_h)
pinv_gap = np.abs(ld.pinv(B) @ B - np.eye(n_o)).max()
V = run["V"]
# ||BE||^2 never rises by more than round-off (1e-12 of its start)
V_rise = (np.diff(V, axis=-1) / V[:, :1]).max()
trace_gap = np.abs(run["tr_BW"] - run["s"] / 2).max()
glue("repeats", repeats)
glue("pinv_gap", pinv_gap)
glue("t_end", float(run["t"][0, -1]))
glue("c_drift", run["c_drift"].max())
glue("nse_end", run["nse"][:, -1].max())
glue("V_ratio", (V[:, -1] / V[:, 0]).max())
glue("V_rise", V_rise)
glue("V_monotone", int(V_rise < 1e-12))
glue("trace_gap", trace_gap)
_ = glue("trBW_min", run["tr_BW"][:, 1:].min())

# %% [markdown]
# All {glue:text}`repeats:.0f` draws satisfy the theorem's conditions: $B^+B$ differs from the
# identity by at most {glue:text}`pinv_gap:.1e`, and $C = 0$ because $A = W = 0$. We follow
# the flow with classical Runge-Kutta (step $0.01$) up to $t = $ {glue:text}`t_end:.0f`.

# %% mystnb={"image": {"alt": "Three panels against time for 20 random 30-20-10 networks started at zero: the normalised squared error falling on a log scale from 1 to below 1e-10, the normalised Lyapunov function ||BE||^2 falling monotonically the same way, and the invariant's drift together with the gap between tr(BW) and half of tr(AA^T), both staying below about 1e-9."}}
t = run["t"][0]
fig, axes = plt.subplots(1, 3, figsize=(11, 3.3), sharex=True)
for k in range(repeats):
    axes[0].plot(t, run["nse"][k], color=FA, lw=0.8, alpha=0.6)
    axes[1].plot(t, V[k] / V[k, 0], color=FA, lw=0.8, alpha=0.6)
    axes[2].plot(t[1:], run["c_drift"][k, 1:], color="0.3", lw=0.8, alpha=0.6,
                 label="max |C(t) − C(0)|" if k == 0 else None)
    axes[2].plot(t[1:], np.abs(run["tr_BW"][k] - run["s"][k] / 2)[1:], color=FA, lw=0.8,
                 alpha=0.6, ls="--", label="|tr(BW) − tr(AAᵀ)/2|" if k == 0 else None)
axes[0].set(yscale="log", ylabel="NSE (unitless)", title="a  error → 0")
axes[1].set(yscale="log", ylabel="V(t) / V(0) (unitless)", title="b  V = ‖BE‖² never rises")
axes[2].set(yscale="log", ylabel="absolute value (unitless)", title="c  the invariant C = 0")
axes[2].legend(fontsize=7, frameon=False)
for ax in axes:
    ax.set_xlabel("time t (flow units)")
fig.tight_layout()

# %% [markdown]
# The normalised squared error $\lVert E\rVert_F^2 / \lVert T\rVert_F^2$ ends at most at
# {glue:text}`nse_end:.1e`, and $V = \lVert BE\rVert^2$ at most at {glue:text}`V_ratio:.1e` of
# its start; the largest change of $V$ between recorded points, relative to $V(0)$, is
# {glue:text}`V_rise:.1e` (never above round-off: {glue:text}`V_monotone:.0f`, 1 meaning yes). The invariant drifts by
# at most {glue:text}`c_drift:.1e` (RK4's truncation, which shrinks as $dt^4$), and
# $\operatorname{tr}(BW) = \tfrac12 \operatorname{tr}(AA^\top)$ holds to {glue:text}`trace_gap:.1e`;
# the smallest $\operatorname{tr}(BW)$ after the start is {glue:text}`trBW_min:.2g` (positive).
#
# ## The discrete rule: $C$ is not conserved, it shrinks by an exact amount
#
# The theorem is about the flow; the rule a network actually runs is the Euler step
# $A_{k+1} = A_k + \eta BE_k$, $W_{k+1} = W_k + \eta E_kA_k^\top$, both from the same
# $(A_k, W_k)$. $W$'s increment enters $C$ linearly, $A$'s enters $AA^\top$ quadratically:
#
# $$C_{k+1} = C_k + \eta\big(BE_kA_k^\top + A_kE_k^\top B^\top\big)
#   - \eta\big(BE_kA_k^\top + A_kE_k^\top B^\top\big) - \eta^2 (BE_k)(BE_k)^\top ,$$
#
# so $C_{k+1} - C_k = -\eta^2 (BE_k)(BE_k)^\top$ exactly (our derivation). A discrete run from
# $A = W = 0$ therefore does not keep $C = 0$: $C$ drifts to a negative semidefinite matrix,
# of size $O(\eta)$ over a fixed time, and the theorem's hypothesis holds only in the limit
# $\eta \to 0$.

# %%
Ae, We, Be, Te = (m[0] for m in ld.random_problem(n_i, n_h, n_o, seed=5, init=1.0))
lr = 0.05
A1, W1 = ld.euler_step(Ae, We, Be, Te, lr)
change = ld.invariant(A1, W1, Be) - ld.invariant(Ae, We, Be)
BE = Be @ (Te - We @ Ae)
euler_gap = np.abs(change + lr ** 2 * BE @ BE.T).max()
# sequential: A first, then W from the new A
A_s = Ae + lr * BE
W_s = We + lr * (Te - We @ A_s) @ A_s.T
seq_gap = np.abs(ld.invariant(A_s, W_s, Be) - ld.invariant(Ae, We, Be) + lr ** 2 * BE @ BE.T).max()
# transposed product in W's update (A^T E instead of E A^T; shapes need equal widths)
Aq, Wq, Bq, Tq = (m[0] for m in ld.random_problem(10, 10, 10, seed=6, init=1.0))
BEq = Bq @ (Tq - Wq @ Aq)
At, Wt = Aq + lr * BEq, Wq + lr * Aq.T @ (Tq - Wq @ Aq)
transposed_gap = np.abs(ld.invariant(At, Wt, Bq) - ld.invariant(Aq, Wq, Bq) + lr ** 2 * BEq @ BEq.T).max()
# an Euler run from zero: C_K equals the accumulated -eta^2 sum (BE)(BE)^T and is <= 0
eta_run, K = 0.02, steps // 2
A, W, Bz, Tz = (m[0] for m in (A0, W0, B, T))
acc = np.zeros((n_h, n_h))
for _ in range(K):
    BEk = Bz @ (Tz - W @ A)
    acc -= eta_run ** 2 * BEk @ BEk.T
    A, W = ld.euler_step(A, W, Bz, Tz, eta_run)
C_K = ld.invariant(A, W, Bz)
glue("euler_gap", euler_gap)
glue("seq_gap", seq_gap)
glue("transposed_gap", transposed_gap)
glue("eta_run", eta_run)
glue("K", K)
glue("C_K_norm", np.abs(C_K).max())
glue("C_K_acc_gap", np.abs(C_K - acc).max())
glue("C_K_top_eig", np.linalg.eigvalsh(C_K).max())
_ = glue("euler_nse", float(ld.nse(A, W, Tz)))

# %% [markdown]
# On a 30-20-10 network with weights of order one and $\eta = 0.05$, one Euler step changes
# $C$ by $-\eta^2(BE)(BE)^\top$ to within {glue:text}`euler_gap:.1e`. The identity is a sharp
# check of an implementation: updating $A$ first and then $W$ from the new $A$ misses it by
# {glue:text}`seq_gap:.1e`, and a transposed product in $W$'s update ($A^\top E$ for
# $EA^\top$, possible when all widths are equal, here 10-10-10) by
# {glue:text}`transposed_gap:.1e`. An Euler run from zero ($\eta = $
# {glue:text}`eta_run:.2g`, {glue:text}`K:.0f` steps, NSE {glue:text}`euler_nse:.1e` at
# the end) ends with $\max|C| = $ {glue:text}`C_K_norm:.1e`, equal to the accumulated
# $-\eta^2\sum_k (BE_k)(BE_k)^\top$ to {glue:text}`C_K_acc_gap:.1e`; its largest eigenvalue is
# {glue:text}`C_K_top_eig:.1e` (negative semidefinite up to round-off).
#
# ## Lemma 3: the bound on $s = \operatorname{tr}(AA^\top)$ holds, its proof does not
#
# With $C = 0$, $\dot s = 2\operatorname{tr}(BTA^\top) - \lVert AA^\top\rVert^2$ (eq. 19). The
# proof bounds $\lVert AA^\top\rVert^2 \ge \lambda_{\max}^2 \ge s^2/n_h^2$, uses
# Cauchy-Schwarz, $\operatorname{tr}(BTA^\top) \le \sqrt{s}\,\lVert BT\rVert \le s$ once
# $s > \lVert BT\rVert^2$, and obtains $\dot s \le 2s - s^2/n_h^2$. It then says this is
# $\le 0$ once $s > 2n_h$; but $2s - s^2/n_h^2 \le 0$ needs $s \ge 2n_h^2$. At $n_h = 8$ and
# $s = 17$ (above $2n_h = 16$) the right-hand side is $34 - 289/64 > 0$. What the proof's
# inequality gives is $s \le \max(s(0), \lVert BT\rVert^2, 2n_h^2)$, the form the book's
# notes written before computing proposed as a correction.
#
# The printed bound (eq. 21), $s \le \lVert BT\rVert^2 + 2n_h$, is nevertheless true. Keep
# $\sqrt{s}$ in Cauchy-Schwarz and use all eigenvalues,
# $\lVert AA^\top\rVert^2 = \sum_j\lambda_j^2 \ge s^2/n_h$:
#
# $$\dot s \le 2\sqrt{s}\,\lVert BT\rVert - \frac{s^2}{n_h} \le 0
#   \quad\text{once}\quad s \ge s_\star = \big(2n_h\lVert BT\rVert\big)^{2/3},$$
#
# so $s(t) \le \max(s(0), s_\star)$. By the AM-GM inequality,
# $\lVert BT\rVert^2 + n_h + n_h \ge 3(n_h\lVert BT\rVert)^{2/3} > s_\star$, so the printed
# bound follows (as does the printed threshold $\max(\lVert BT\rVert^2, 2n_h)$, a weighted
# geometric mean of which exceeds $s_\star$). The figure checks the three bounds on our runs.

# %%
bt_sq = ((B @ T) ** 2).sum(axis=(-2, -1))
bounds = pd.DataFrame({
    "‖BT‖²": bt_sq,
    "max s(t)": run["s"].max(axis=1),
    "sharp (2 n_h ‖BT‖)^(2/3)": ld.lemma3_sharp_bound(B, T),
    "printed ‖BT‖² + 2 n_h": ld.lemma3_printed_bound(B, T),
    "proof's max(‖BT‖², 2 n_h²)": ld.lemma3_proof_bound(B, T),
})
glue("s_over_sharp", (bounds["max s(t)"] / bounds.iloc[:, 2]).max())
glue("sharp_over_printed", (bounds.iloc[:, 2] / bounds.iloc[:, 3]).max())
glue("rate_at_17", float(ld.lemma3_rate_bound(17.0, 8, 0.0)))
# along the runs: ds/dt against the sharp rate bound (never above it)
sharp_rate = ld.lemma3_sharp_rate_bound(run["s"], n_h, np.sqrt(bt_sq)[:, None])
glue("rate_slack", (run["s_dot"] - sharp_rate)[:, 1:].max())           # t > 0 (both 0 at t = 0)
bounds.describe().loc[["min", "mean", "max"]].round(2)

# %% mystnb={"image": {"alt": "Two panels. Left: s(t) = tr(AA^T) of one run rising from 0 and levelling off below two horizontal lines, the sharp bound and higher the printed bound; the proof's bound is noted as off the scale. Right: the rate ds/dt against s for the same run as a curve lying below the sharp rate bound, which crosses zero at the sharp bound, while the proof's rate bound 2s - s^2/n_h^2 stays positive far beyond the printed threshold 2 n_h."}}
k0 = 0
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
axes[0].plot(t, run["s"][k0], color=FA, lw=1.5, label="s(t) = tr(AAᵀ)")
for col, style in zip(bounds.columns[2:4], ("-", "--")):
    axes[0].axhline(bounds[col][k0], color="0.3", ls=style, lw=1, label=col)
axes[0].text(0.02, 0.6, f"proof's max(‖BT‖², 2 n_h²) = {bounds.iloc[k0, 4]:.0f}: off the scale",
             transform=axes[0].transAxes, va="top", fontsize=7)
axes[0].set(xlabel="time t (flow units)", ylabel="s (unitless)",
            title="a  s(t) and the bounds (run 1)", ylim=(0, 1.6 * bounds.iloc[k0, 3]))
axes[0].legend(fontsize=7, frameon=False, loc="upper right")
grid = np.linspace(0.0, 2.2 * bounds.iloc[k0, 3], 400)
axes[1].plot(run["s"][k0], run["s_dot"][k0], color=FA, lw=1.5, label="ds/dt along the run")
axes[1].plot(grid, ld.lemma3_sharp_rate_bound(grid, n_h, np.sqrt(bt_sq[k0])), color="0.3",
             label="sharp: 2√s‖BT‖ − s²/n_h")
axes[1].plot(grid, ld.lemma3_rate_bound(grid, n_h, bt_sq[k0]), color="0.3", ls=":",
             label="proof: 2s − s²/n_h² (s > ‖BT‖²)")
axes[1].axhline(0, color="0.7", lw=0.8)
axes[1].axvline(2 * n_h, color="0.5", ls="--", lw=0.8, label="printed threshold 2 n_h")
axes[1].set(xlabel="s (unitless)", ylabel="ds/dt (per flow unit)",
            title="b  where s can still grow", ylim=(-60, 120))
axes[1].legend(fontsize=7, frameon=False)
fig.tight_layout()

# %% [markdown]
# Every run stays below the sharp bound (largest ratio $\max_t s / s_\star$ =
# {glue:text}`s_over_sharp:.2f`), and $s_\star$ is at most {glue:text}`sharp_over_printed:.2f`
# of the printed bound. Along the runs $\dot s$ never exceeds the sharp rate bound (largest
# value of $\dot s$ minus the bound after $t = 0$: {glue:text}`rate_slack:.2g`, negative). The proof's own rate bound at $n_h = 8$,
# $s = 17$ is {glue:text}`rate_at_17:.1f` $> 0$: its step fails, its conclusion does not.
#
# ## Printed statements beside ours
#
# | item | ours | Note 11 |
# | --- | --- | --- |
# | invariant | drift {glue:text}`c_drift:.1e` (RK4) | $\dot C = 0$ (eqs. 11-13) |
# | theorem | NSE {glue:text}`nse_end:.1e` at $t = $ {glue:text}`t_end:.0f` | $E \to 0$ when $C = 0$, $B^+B = I$ |
# | Lemma 2 | largest relative change {glue:text}`V_rise:.1e` | $\dot V \le 0$ |
# | alignment | $\operatorname{tr}(BW) = \tfrac12\operatorname{tr}(AA^\top)$ to {glue:text}`trace_gap:.1e` | $\operatorname{tr}(BW) > 0$ (Note 12) |
# | eq. (10) | $= AA^\top + C$ from the definition of $C$ (the note's last paragraph has the $+$) | $BW + W^\top B^\top = AA^\top - C$ |
# | end of the proof | $BW + W^\top B^\top$: $WB$ is $n_o \times n_o$, $AA^\top$ is $n_h \times n_h$ | $AA^\top = WB + B^\top W^\top$ |
# | Lemma 3, step | true, but the proof's inequality gives it only for $s \ge 2n_h^2$ | $\dot s \le 0$ once $s > \lVert BT\rVert^2$ and $s > 2n_h$ |
# | Lemma 3, eq. (21) | holds (for $s(0)$ below it), via $s_\star$; max ratio {glue:text}`s_over_sharp:.2f` of $s_\star$ | $s \le \lVert BT\rVert^2 + 2n_h$ |
# | discrete rule | $C_{k+1} - C_k = -\eta^2(BE_k)(BE_k)^\top$ to {glue:text}`euler_gap:.1e` | (flow only) |
#
# The prediction made before computing (a prototype: $\lVert E\rVert$ from 18.1 to $1.5\times10^{-10}$, drift below
# $10^{-9}$, Euler identity to $10^{-14}$) agrees in kind; its absolute numbers depend on its
# unstated draws. Its proposed correction of Lemma 3 to $\max(\lVert BT\rVert^2, 2n_h^2)$
# describes what the proof's argument yields, but the printed bound is not wrong.
#
# **Readings where the text is silent.**
#
# | item | text | ours | why |
# |---|---|---|---|
# | network | $n_o < n_h < n_i$, sizes not given | 30-20-10 (Notes 12-13's size) | the transport-of-error case |
# | $T$, $B$ | "random" | i.i.d. $\mathcal N(0, 1/\text{fan-in})$, 20 draws | $B$ has independent columns with probability 1 |
# | start | $C = 0$, "$A = W = 0$" | $A = W = 0$ | the only start with $C = 0$ for every $B$ |
# | integrator | continuous flow | RK4, step $0.01$ | drift of $C$ near $10^{-9}$ |
# | error | $\lVert E\rVert$ | NSE $= \lVert E\rVert_F^2/\lVert T\rVert_F^2$ | comparable across draws |
# | Euler check | none | one step at $\eta = 0.05$ from weights of order one | large enough for $\eta^2$ terms to show |

# %% tags=["nbval-ignore-output"]
live_provenance_card(profile, {"network": "30-20-10 linear, A = W = 0", "repeats": repeats,
                               "steps": f"{steps} RK4 steps of {dt:g}", "dtype": "float64"},
                     time.perf_counter() - start_clock)

# %% [markdown]
# ## Exercises

# %% [markdown] exercise={"level": "starter", "minutes": 15, "needs": "nothing"}
# :::{admonition} Exercise 1: a start with C = 0 away from zero
# :class: tip
# $A = BG$ and $W = \tfrac12 GG^\top B^\top$ give $C = 0$ for any $G$ (when $B^+B = I$). Start
# one of our networks there with a large $G$ so that $s(0)$ exceeds both bounds of Lemma 3.
# Does the error still go to zero, and what happens to $s$?
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 1
# $BW = \tfrac12 BGG^\top B^\top = \tfrac12 AA^\top$ is symmetric, so $C = 0$ and the theorem
# applies: the error goes to zero. Above $s_\star$ the rate $\dot s$ is negative, so $s$ falls
# at first; the bound is $\max(s(0), s_\star)$, not $s_\star$ alone.
# :::

# %% tags=["solution", "hide-cell"]
G = 0.4 * np.random.default_rng(1).standard_normal((n_o, n_i))
Ag, Wg = ld.zero_invariant_start(G, B[0])
ex = ld.theorem1_run(Ag, Wg, B[0], T[0], dt=0.005, steps=2000 if profile == "paper" else 500,
                     record_every=50)
print(f"max |C(0)| = {np.abs(ld.invariant(Ag, Wg, B[0])).max():.1e}")
print(f"s(0) = {ex['s'][0]:.1f}, sharp bound {float(ld.lemma3_sharp_bound(B[0], T[0])):.1f}, "
      f"printed bound {float(ld.lemma3_printed_bound(B[0], T[0])):.1f}")
print(f"s falls at first: {bool(ex['s'][1] < ex['s'][0])}; NSE {ex['nse'][0]:.2g} -> {ex['nse'][-1]:.1e}")

# %% [markdown] exercise={"level": "starter", "minutes": 15, "needs": "nothing"}
# :::{admonition} Exercise 2: without B⁺B = I
# :class: tip
# Replace $B$ by a $20 \times 10$ matrix of rank 9 (so $B^+B \ne I$), start at $A = W = 0$
# and run the flow. Does the error still vanish? Which part of the proof breaks?
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 2
# $A$ only ever moves inside the range of $B$ (it starts at 0 and $\dot A = BE$), a space of
# dimension 9, so $WA$ has rank at most 9 while $T$ has rank 10: the error cannot vanish.
# In the proof, the step $B^+BTE^\top B^\top (B^+)^\top = TE^\top$ (eq. 23) needs $B^+B = I$.
# :::

# %% tags=["solution", "hide-cell"]
U, sv, Vt = np.linalg.svd(B[0], full_matrices=False)
B9 = U[:, :9] @ np.diag(sv[:9]) @ Vt[:9]                        # drop the smallest direction
ex2 = ld.theorem1_run(A0[0], W0[0], B9, T[0], dt=0.01, steps=steps, record_every=steps)
print(f"rank B = {np.linalg.matrix_rank(B9)}, max |B^+B - I| = {np.abs(ld.pinv(B9) @ B9 - np.eye(n_o)).max():.2f}")
print(f"NSE at t = {ex2['t'][-1]:.0f}: {ex2['nse'][-1]:.3f} (rank of A: {np.linalg.matrix_rank(ex2['A'])})")
