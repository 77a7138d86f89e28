# %% [markdown]
# # Lillicrap Theorem 2: the pseudoinverse
#
# *Lillicrap et al. 2016, Supplementary Notes 14-16 (Theorem 2): FA's hidden update points along the pseudoinverse's, and FA's field is not a gradient.*
#
# Note 14 of {cite:t}`lillicrap2016random` studies the smallest case where feedback alignment
# can be solved exactly: a linear network $y = Wh$, $h = Ax$, trained on **one** pair
# $(x, y^*)$ from $A = W = 0$. With the hidden learning rate chosen as $\eta_A = \eta/x^\top x$,
# the hidden vector itself follows $h \leftarrow h + \eta Be$ and $W \leftarrow W + \eta e h^\top$
# (eqs. 35-38). **Lemma 5**: at every step $h = s_h By^*$ and $W = s_w y^*(By^*)^\top$ for two
# scalars obeying
#
# $$s_h \leftarrow s_h + \eta(1 - s_y), \qquad s_w \leftarrow s_w + \eta(1 - s_y)s_h, \qquad
#   s_y = s_w s_h\lVert By^*\rVert^2 ,$$
#
# and the output is $y = s_y y^*$. **Theorem 2**: FA's hidden update is then a positive
# multiple of pseudobackprop's, $s\,Be = W^+e$ with $s > 0$. For a rank-one
# $W = s_w y^* u^\top$ with $u = By^*$, the pseudoinverse is
# $W^+ = u\,y^{*\top}/(s_w\lVert u\rVert^2\lVert y^*\rVert^2)$, so $W^+y^* = u/(s_w\lVert u\rVert^2)$
# and, since $e = (1 - s_y)y^*$,
#
# $$W^+e = \frac{1}{s_w\lVert By^*\rVert^2}\,Be .$$
#
# Note 15 explains why this matters: replacing $W^\top$ by $W^+$ in backprop moves each hidden
# unit by a positive multiple of the Gauss-Newton step, to first order in $\eta$. Note 16 shows
# why no Lyapunov argument of the gradient kind can cover FA: its update field has an
# asymmetric Jacobian, so it is not the gradient of any function. We check all three live,
# with pseudoinverses from the SVD at a relative cut-off $10^{-8}$ (the library's `pinv`).

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
profile = "paper"          # "smoke": fewer steps and learning rates, same computation
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
FA, PBP = plots.RULE_COLORS["fa"], plots.RULE_COLORS["bp"]
start_clock = time.perf_counter()
steps = 150 if profile == "paper" else 60
n_i, n_h, n_o, lr = 30, 20, 10, 0.05
rng = np.random.default_rng(14)
B = rng.standard_normal((n_h, n_o)) / np.sqrt(n_o)
x = rng.standard_normal(n_i)
y_star = rng.standard_normal(n_o) / np.sqrt(n_o)
As, Ws = ld.single_pair_run(B, x, y_star, lr=lr, steps=steps)
s_h, s_w = ld.lemma5_scalars(B, y_star, lr=lr, steps=steps)
u = B @ y_star
u2 = float(u @ u)
rows = []
for k, (A, W) in enumerate(zip(As, Ws)):
    h = A @ x
    e = y_star - W @ h
    pe = ld.pinv(W) @ e
    row = {"step": k, "s_y": s_w[k] * s_h[k] * u2, "nse": (e @ e) / (y_star @ y_star),
           "sin(h, By*)": ld.sine_to(h, u), "sin(W, y*(By*)ᵀ)": ld.sine_to(W, np.outer(y_star, u)),
           "scalars gap": max(np.abs(h - s_h[k] * u).max(), np.abs(W - s_w[k] * np.outer(y_star, u)).max()),
           "|W⁺e|": np.linalg.norm(pe), "cos": np.nan, "s measured": np.nan}
    # Theorem 2 needs W != 0 (from step 2) and an error above round-off
    if k >= 2 and np.linalg.norm(e) > 1e-6 * np.linalg.norm(y_star):
        row["cos"], row["s measured"] = ld.theorem2_ratio(W, B, e)
    rows.append(row)
steps_table = pd.DataFrame(rows).set_index("step")
steps_table["s corrected 1/(s_w‖By*‖²)"] = np.where(s_w > 0, 1 / np.where(s_w > 0, s_w * u2, 1.0), np.nan)
valid = steps_table["cos"].notna()
glue("steps", steps)
glue("lr", lr)
glue("u2", u2)
glue("sin_max", steps_table[["sin(h, By*)", "sin(W, y*(By*)ᵀ)"]].to_numpy().max())
glue("scalars_gap", steps_table["scalars gap"].max())
glue("pe_at_1", steps_table.loc[1, "|W⁺e|"])
glue("n_valid", int(valid.sum()))
glue("last_valid", int(steps_table.index[valid].max()))
glue("cos_min", steps_table.loc[valid, "cos"].min())
s_rel = (steps_table.loc[valid, "s measured"] / steps_table.loc[valid, "s corrected 1/(s_w‖By*‖²)"] - 1).abs().max()
glue("s_rel", s_rel)
glue("s_end", steps_table.loc[valid, "s measured"].iloc[-1])
glue("s_at_2", steps_table.loc[2, "s measured"])
glue("inv_u2", 1 / u2)
glue("sw_min", s_w[2:].min())
_ = glue("sy_max", steps_table["s_y"].max())

# %% mystnb={"image": {"alt": "Two panels against the step. Left, on a log scale: the measured ratio s between W^+e and Be falling from about 250 at step 2 towards about 1.1, lying exactly on the corrected formula 1/(s_w ||By*||^2), while the printed value ||By*||^2 is a flat line near 1.6. Right, on a log scale: the sines of the angles of h to By* and of W to y*(By*)^T and one minus the cosine between Be and W^+e, all at round-off, below 1e-12."}}
tab = steps_table
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
axes[0].plot(tab.index[valid], tab.loc[valid, "s measured"], color=FA, lw=2.5, alpha=0.6,
             label="measured ⟨W⁺e, Be⟩ / ‖Be‖²")
axes[0].plot(tab.index[2:], tab["s corrected 1/(s_w‖By*‖²)"].iloc[2:], color="k", lw=1, ls="--",
             label="corrected 1 / (s_w ‖By*‖²)")
axes[0].axhline(u2, color="0.5", ls=":", label="printed ‖By*‖² (eq. 49)")
axes[0].set(yscale="log", xlabel="step t", ylabel="s (unitless)",
            title="a  the ratio s in s·Be = W⁺e")
axes[0].legend(fontsize=7, frameon=False)
floor = 1e-18                                        # exact zeros drawn at the floor
for col, style in (("sin(h, By*)", "-"), ("sin(W, y*(By*)ᵀ)", "--")):
    axes[1].plot(tab.index, np.maximum(tab[col], floor), color="0.3", ls=style, lw=1, label=col)
axes[1].plot(tab.index[valid], np.maximum(1 - tab.loc[valid, "cos"], floor), color=FA, lw=1.2,
             label="1 − cos(Be, W⁺e)")
axes[1].set(yscale="log", xlabel="step t", ylabel="deviation (unitless)", ylim=(floor / 3, 1),
            title="b  Lemma 5 and Theorem 2, step by step")
axes[1].legend(fontsize=7, frameon=False)
fig.tight_layout()

# %% [markdown]
# Over {glue:text}`steps:.0f` steps at $\eta = $ {glue:text}`lr:.2g` (30 inputs, 20 hidden
# units, 10 outputs), $h$ and $W$ stay parallel to $By^*$ and $y^*(By^*)^\top$ with sines at
# most {glue:text}`sin_max:.1e`, and they equal $s_hBy^*$, $s_wy^*(By^*)^\top$ from the
# recursions to {glue:text}`scalars_gap:.1e`: Lemma 5 holds at every step. For Theorem 2 we
# use the {glue:text}`n_valid:.0f` steps from $t = 2$ to $t = $ {glue:text}`last_valid:.0f`
# (after that $\lVert e\rVert < 10^{-6}\lVert y^*\rVert$ and the direction of $e$ is
# round-off): the cosine between $Be$ and $W^+e$ is at least {glue:text}`cos_min:.12f`, and
# the measured ratio matches $1/(s_w\lVert By^*\rVert^2)$ to a relative
# {glue:text}`s_rel:.1e`. It is not constant: it falls from {glue:text}`s_at_2:.3g` at
# $t = 2$ to {glue:text}`s_end:.3g`, while the printed $s = \lVert By^*\rVert^2$ is
# {glue:text}`u2:.3g`. The limit is $1/\lVert By^*\rVert^2 = $ {glue:text}`inv_u2:.3g`
# times $1/s_w$'s limit, and $s_y$ tends to 1 (largest {glue:text}`sy_max:.6f`).
#
# **Two corrections.** (i) In eq. (49) the pseudoinverse of the row vector $(By^*)^\top$ is
# $By^*/\lVert By^*\rVert^2$, so the $s$ of eq. (48) is $1/\lVert By^*\rVert^2$, not
# $\lVert By^*\rVert^2$, and the $s$ of eq. (47) is $1/(s_w\lVert By^*\rVert^2)$; both are
# positive, so the theorem's claim survives. (ii) "Always" needs $s_w > 0$: at steps 0 and 1,
# $W = 0$ ($s_w$ first moves at step 2, since its increment carries the previous $s_h = 0$),
# so $W^+e = 0$ ($\lVert W^+e\rVert = $ {glue:text}`pe_at_1:.0f` at step 1) while $Be \ne 0$:
# no positive $s$ exists. From step 2 on $s_w \ge$ {glue:text}`sw_min:.2g` $> 0$ and the
# theorem holds. Eq. (49) also rewrites $((By^*)^\top)^+$ as $B^{\top+}y^{*\top+}$; the
# pseudoinverse of a product is not in general the product of the pseudoinverses, and here
# the two differ (below). The chain's end point, a positive multiple of $By^*$, is right
# nevertheless, with the $s$ corrected above.

# %%
lhs = ld.pinv(u[None, :])[:, 0]                                    # ((By*)^T)^+
rhs = ld.pinv(B.T) @ ld.pinv(y_star[None, :])[:, 0]                # B^{T+} y*^{T+}
glue("pinv_product_gap", np.abs(lhs - rhs).max())
glue("pinv_row_gap", np.abs(lhs - u / u2).max())
_ = glue("pinv_product_angle", float(ld.angle(lhs[:, None], rhs[:, None])))

# %% [markdown]
# $((By^*)^\top)^+ = By^*/\lVert By^*\rVert^2$ holds to {glue:text}`pinv_row_gap:.1e`, while
# $B^{\top+}(y^{*\top})^+$ differs from it by up to {glue:text}`pinv_product_gap:.2g` per entry
# and points {glue:text}`pinv_product_angle:.1f`° away: the middle step of eq. (49) is not an
# identity.
#
# ## Note 15: pseudobackprop is Gauss-Newton for the hidden units, to first order
#
# With a squashing hidden layer $h = \sigma(Ax)$ and linear outputs $y = Wh$, the Gauss-Newton
# step for $h$ is $W^+e$ (eq. 55). Pseudobackprop changes $A$ by
# $\Delta A_{ji} = \eta\,(W^+e)_j\,D_j\,x_i$ with $D = \sigma'(Ax)$; to first order the hidden
# unit then moves by $\eta D_j^2\,x^\top x\,(W^+e)_j$ (eq. 59), a positive multiple of the
# Gauss-Newton step. We take $\sigma = \tanh$, do one step, and divide the actual change of
# each $h_j$ by that prediction: the ratio should tend to 1 with an error proportional to
# $\eta$ (the Taylor remainder).

# %%
A15 = rng.standard_normal((n_h, n_i)) / np.sqrt(n_i)
W15 = rng.standard_normal((n_o, n_h)) / np.sqrt(n_h)
x15, y15 = rng.standard_normal(n_i), rng.standard_normal(n_o)
lrs = np.logspace(-6, -1, 11 if profile == "paper" else 6)
ratio_err = np.array([np.abs(ld.pseudobackprop_ratio(A15, W15, x15, y15, lr=a) - 1).max()
                      for a in lrs])
slope = np.polyfit(np.log10(lrs), np.log10(ratio_err), 1)[0]
glue("gn_slope", slope)
glue("gn_err_small", ratio_err[0])
glue("gn_lr_small", lrs[0])
glue("gn_err_large", ratio_err[-1])
glue("gn_lr_large", lrs[-1])
decade = int(np.argmin(np.abs(lrs - 10 * lrs[0])))        # the rate ten times the smallest
_ = glue("gn_tenfold", float(ratio_err[decade] / ratio_err[0]))

# %% mystnb={"image": {"alt": "Log-log plot of the largest deviation from 1 of the ratio between pseudobackprop's actual hidden change and the Gauss-Newton prediction, against the learning rate from 1e-6 to 0.1: a straight line of slope one, with a dotted reference line of slope one."}}
fig, ax = plt.subplots(figsize=(4.6, 3.4))
ax.loglog(lrs, ratio_err, "o-", color=FA, ms=4, label="max_j |ratio_j − 1|")
ax.loglog(lrs, ratio_err[0] * lrs / lrs[0], color="0.5", ls=":", label="slope 1 (O(η))")
ax.set(xlabel="learning rate η (unitless)", ylabel="deviation from 1 (unitless)",
       title="Note 15: pseudobackprop → Gauss-Newton")
ax.legend(fontsize=7, frameon=False)
fig.tight_layout()

# %% [markdown]
# The fitted log-log slope is {glue:text}`gn_slope:.3f`: the deviation is
# {glue:text}`gn_err_small:.1e` at $\eta = $ {glue:text}`gn_lr_small:.0e` and
# {glue:text}`gn_err_large:.1e` at $\eta = $ {glue:text}`gn_lr_large:.1g`, and a tenfold
# smaller $\eta$ gives an error smaller by {glue:text}`gn_tenfold:.2f` (between the two
# smallest rates a decade apart). Note 15's claim holds as a first-order statement. (Eq. (59)
# writes $\Delta h^j \approx h^j + \ldots - h^j$, which is right; it labels the result with
# $\delta_{\mathrm{GN}}$, which is $W^+e$ by eq. 55.)
#
# ## Note 16: feedback alignment's field is not a gradient field
#
# For scalars, $y = Wh + b$, $h = Ax + c$, $e = y^* - y$, FA's updates are
# $(\dot W, \dot b, \dot A, \dot c) = (eh,\ e,\ Bex,\ Be)$ (eqs. 75-78); backprop's are the
# same with $W$ in place of $B$, which is $-\nabla(\tfrac12 e^2)$. A gradient field has a
# symmetric Jacobian (it is a Hessian). We differentiate both fields with torch's autograd in
# float64 at one point and compare with the printed eq. (79).

# %%
theta, x16, y16, B16 = (0.7, -0.2, 1.3, 0.4), 0.9, 1.5, -0.8
J_fa = ld.field_jacobian(theta, x16, y16, B16)
J_bp = ld.field_jacobian(theta, x16, y16)
P = ld.printed_jacobian(theta, x16, y16, B16)
names = ["W", "b", "A", "c"]
symbolic = [["h²", "−h", "−Wxh + ex", "−W + e"], ["−h", "−1", "−Wx", "−W"],
            ["−Bhx", "−Bx", "−BWx²", "−BWx"], ["−Bh", "−B", "−BWx", "−BW"]]
corrected = {(0, 0): "−h²", (0, 3): "−Wh + e"}
jac = pd.DataFrame([{"row (update)": f"d{names[i]}/dt", "column (parameter)": names[j],
                     "printed (eq. 79)": symbolic[i][j], "printed value": P[i, j],
                     "autograd": J_fa[i, j], "agree": bool(abs(P[i, j] - J_fa[i, j]) < 1e-12),
                     "correct entry": corrected.get((i, j), symbolic[i][j])}
                    for i in range(4) for j in range(4)])
glue("asym_fa", np.abs(J_fa - J_fa.T).max())
glue("asym_bp", np.abs(J_bp - J_bp.T).max())
glue("n_agree", int(jac["agree"].sum()))
W_, b_, A_, c_ = theta
h_ = A_ * x16 + c_
e_ = y16 - (W_ * h_ + b_)
glue("entry11_gap", abs(J_fa[0, 0] + h_ ** 2))
_ = glue("entry14_gap", abs(J_fa[0, 3] - (-W_ * h_ + e_)))
jac.round(4)

# %% mystnb={"image": {"alt": "Three 4 by 4 heat maps over the parameters W, b, A, c: FA's Jacobian by autograd, which is visibly not symmetric about the diagonal; its antisymmetric part J minus J transposed, with several non-zero entries; and backprop's antisymmetric part, which is zero everywhere."}}
fig, axes = plt.subplots(1, 3, figsize=(10.5, 3.2))
lim = np.abs(J_fa).max()
for ax, M, title in ((axes[0], J_fa, "FA Jacobian J (autograd)"),
                     (axes[1], J_fa - J_fa.T, "FA: J − Jᵀ"),
                     (axes[2], J_bp - J_bp.T, "BP: J − Jᵀ")):
    im = ax.imshow(M, cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax.set(xticks=range(4), yticks=range(4), xticklabels=names, title=title,
           yticklabels=[f"d{n}/dt" for n in names] if ax is axes[0] else [])
    ax.set_xlabel("parameter (unitless)")
    ax.grid(False)
_ = fig.colorbar(im, ax=axes, shrink=0.8, label="entry (unitless)")

# %% [markdown]
# FA's Jacobian is far from symmetric ($\max\lvert J - J^\top\rvert =$ {glue:text}`asym_fa:.3g`) while
# backprop's is symmetric to {glue:text}`asym_bp:.1e`: FA's field is not the gradient of any
# function, as Note 16 says. Of the 16 printed entries {glue:text}`n_agree:.0f` agree with
# autograd. The two that do not are in the first row: $\partial(eh)/\partial W = -h^2$ (printed
# $h^2$; autograd matches $-h^2$ to {glue:text}`entry11_gap:.1e`) and
# $\partial(eh)/\partial c = -Wh + e$ (printed $-W + e$; autograd matches to
# {glue:text}`entry14_gap:.1e`). Neither misprint affects the conclusion: the asymmetry sits
# between the first two rows and the last two, e.g. $\partial\dot W/\partial A = -Wxh + ex$
# against $\partial\dot A/\partial W = -Bhx$, entries the misprints do not touch.
#
# Two slips of notation in the same note, read off the text: eq. (73) pairs $\dot b$ with
# $\partial\mathcal F/\partial A$ and $\dot A$ with $\partial\mathcal F/\partial b$ (the
# gradient's entries are listed as $W, A, b, c$, the updates as $W, b, A, c$), and eqs.
# (71)-(72) omit the learning rate $\eta$ that eqs. (69)-(70) carry.
#
# ## Printed statements beside ours
#
# | item | Notes 14-16 | ours |
# |---|---|---|
# | Lemma 5 | $h \parallel By^*$, $W \parallel y^*(By^*)^\top$ at every step | sines $\le$ {glue:text}`sin_max:.1e` |
# | Theorem 2 | $sBe = W^+e$, $s > 0$, "always" | cosine $\ge$ {glue:text}`cos_min:.12f` from $t = 2$; at $t = 0, 1$ $W^+e = 0$ |
# | $s$ (eq. 49) | $(By^*)^\top(By^*)$ = {glue:text}`u2:.3g` | $1/(s_w\lVert By^*\rVert^2)$, e.g. {glue:text}`s_at_2:.3g` at $t = 2$ (match {glue:text}`s_rel:.1e`) |
# | Note 15 | ratio $\to 1$ to first order | slope {glue:text}`gn_slope:.3f` in $\eta$ |
# | Note 16 | Jacobian not symmetric | $\max\lvert J-J^\top\rvert$ = {glue:text}`asym_fa:.3g` (BP {glue:text}`asym_bp:.1e`) |
# | eq. (79) (1,1), (1,4) | $h^2$, $-W + e$ | $-h^2$, $-Wh + e$ |
#
# The predictions made before computing (Lemma 5's parallelism, $\cos = 1$ from $t \ge 2$, $s$ should be
# $1/\lVert By^*\rVert^2$, the ratio error $O(\eta)$, the two entries of eq. 79) all check
# out; to be exact, $1/\lVert By^*\rVert^2$ is the $s$ of eq. (48), and the theorem's own $s$
# (eq. 47) carries the extra factor $1/s_w$.
#
# **Readings where the text is silent.**
#
# | item | text | ours | why |
# |---|---|---|---|
# | sizes | not given | 30-20-10 | as in Notes 12-13 |
# | $B$, $x$, $y^*$ | "random, full rank" | $B$ i.i.d. $\mathcal N(0, 1/n_o)$, $x \sim \mathcal N(0, I)$, $y^* \sim \mathcal N(0, I/n_o)$ | unit-scale signals |
# | learning rate | "small" | $\eta = 0.05$, $\eta_A = \eta/x^\top x$ | the note's "judicious choice" |
# | pinv cut-off | not given | relative $10^{-8}$ | a stated cut-off for a rank-one $W$; in this run numpy's default gives the same angles (its cut-off also drops the round-off singular values) |
# | Note 15 network | $\sigma$ monotonic, sizes not given | $\tanh$, 30-20-10, $A$, $W$ i.i.d. $\mathcal N(0, 1/\text{fan-in})$ | a generic point with $D_j$ away from 0 |
# | Note 16 point | general | $(W, b, A, c) = (0.7, -0.2, 1.3, 0.4)$, $x = 0.9$, $y^* = 1.5$, $B = -0.8$ | a generic point: no entry vanishes by accident |

# %% tags=["nbval-ignore-output"]
live_provenance_card(profile, {"network": "30-20-10 linear (one pair); tanh 30-20-10; scalar",
                               "repeats": 1, "steps": f"{steps} at η = {lr}",
                               "dtype": "float64"},
                     time.perf_counter() - start_clock)

# %% [markdown]
# ## Exercises

# %% [markdown] exercise={"level": "starter", "minutes": 15, "needs": "nothing"}
# :::{admonition} Exercise 1: a start away from zero
# :class: tip
# Start the single-pair run from small random $A$ and $W$ instead of zero. Does $h$ stay
# parallel to $By^*$, and does $Be$ stay parallel to $W^+e$?
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 1
# No: the initial $h_0$ and $W_0$ carry directions other than $By^*$ and $y^*(By^*)^\top$,
# and the updates only add multiples of those; the parallelism of Lemma 5, and with it the
# exact proportionality of Theorem 2, is lost (the cosine is below 1, though it may stay
# high when the start is small, which is Figure 13's regime).
# :::

# %% tags=["solution", "hide-cell"]
r = np.random.default_rng(3)
As1, Ws1 = ld.single_pair_run(B, x, y_star, lr=lr, steps=40, A0=0.05 * r.standard_normal((n_h, n_i)),
                              W0=0.05 * r.standard_normal((n_o, n_h)))
h40, e40 = As1[-1] @ x, y_star - Ws1[-1] @ (As1[-1] @ x)
print(f"sin(h, By*) at step 40: {ld.sine_to(h40, u):.3f}; "
      f"cos(Be, W+e): {ld.theorem2_ratio(Ws1[-1], B, e40)[0]:.4f}")

# %% [markdown] exercise={"level": "intermediate", "minutes": 30, "needs": "nothing"}
# :::{admonition} Exercise 2: without the judicious hidden learning rate
# :class: tip
# Note 14 picks $\eta_A = \eta/x^\top x$ so that $h$ and $W$ move at the same rate. Run the
# zero start with $\eta_A = \eta$ instead (so $h$ moves by $\eta\,x^\top x\,Be$). Do Lemma 5's
# parallelism and Theorem 2's proportionality survive?
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 2
# Yes. Every update is still along $By^*$ (for $h$) and $y^*(By^*)^\top$ (for $W$), because
# $e$ stays a multiple of $y^*$; only the recursions for $s_h$, $s_w$ change (the rate of
# $s_h$ is multiplied by $x^\top x$). $W$ is still rank one along $y^*(By^*)^\top$, so
# $W^+e = Be/(s_w\lVert By^*\rVert^2)$ as before. The choice of $\eta_A$ is a convenience.
# Keep $\eta\,x^\top x$ small enough, though (its value here is printed below).
# :::

# %% tags=["solution", "hide-cell"]
A2, W2 = np.zeros((n_h, n_i)), np.zeros((n_o, n_h))
eta_h = lr * (x @ x)
worst_sin, worst_cos = 0.0, 1.0
for k in range(60):
    h2 = A2 @ x
    e2 = y_star - W2 @ h2
    worst_sin = max(worst_sin, ld.sine_to(h2, u), ld.sine_to(W2, np.outer(y_star, u)))
    if k >= 2 and np.linalg.norm(e2) > 1e-6 * np.linalg.norm(y_star):
        worst_cos = min(worst_cos, ld.theorem2_ratio(W2, B, e2)[0])
    A2, W2 = A2 + lr * np.outer(B @ e2, x), W2 + lr * np.outer(e2, h2)
print(f"eta x^T x = {eta_h:.2f}; largest sine {worst_sin:.1e}; smallest cos(Be, W+e) {worst_cos:.12f}; "
      f"final |e|/|y*| {np.linalg.norm(y_star - W2 @ (A2 @ x)) / np.linalg.norm(y_star):.1e}")
