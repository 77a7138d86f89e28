# %% [markdown]
# # arXiv v1: the minimum-norm solution
#
# *First arXiv version: feedback alignment finds the minimum-norm solution of a linear network.*
#
# The first arXiv version of {cite:t}`robertson2024implicit` (2306.01870v1) had a result that
# the published paper dropped: an over-parameterised two-layer *linear* network trained by
# feedback alignment converges to the minimum-norm solution. Its text is not available to us; a
# summary of that version (in the book's reading notes) names the claim, the setting (squared
# loss, data with linearly independent rows, more parameters than needed) and the mechanism (the
# first layer's FA update stays in the row space of the data). This chapter states a precise
# version, proves it, checks it to round-off, and measures how the answer degrades when training
# does not start from zero.
#
# **Setting.** Data $X \in \mathbb R^{n\times d}$ with linearly independent rows ($n \le d$: fewer
# equations than unknowns, so infinitely many exact fits), targets $y \in \mathbb R^n$; the network
# $f(x) = x W_1 w_2$ with $W_1 \in \mathbb R^{d\times m}$, $w_2 \in \mathbb R^m$; the loss
# $\mathcal L = \frac1{2n}\lVert X W_1 w_2 - y\rVert^2$; FA with a fixed feedback vector
# $b_2 \ne 0$. The network computes the linear map $x \mapsto x\beta$ with $\beta = W_1 w_2$. Of
# all $\beta$ with $X\beta = y$, the one of least norm is $X^+ y$, the only one in the row space
# of $X$.
#
# :::{admonition} The minimum-norm result (our statement)
# :class: note
# **Assumptions.** The setting above, trained by the FA flow
# $\dot W_1 = -\frac1n X^\top r\, b_2^\top$, $\dot w_2 = -\frac1n (XW_1)^\top r$, with
# $r = XW_1w_2 - y$.
#
# 1. Whatever the initialisation, every column of $W_1(t) - W_1(0)$ lies in the row space of $X$.
# 2. If $W_1(0) = 0$ and the loss tends to 0, then $W_1(t)w_2(t) \to X^+y$.
# 3. (Our addition.) From $W_1(0) = 0$, $w_2(0) = 0$ the loss does tend to 0.
#
# More generally, if the loss tends to 0 then
# $W_1 w_2 \to X^+y + (I - X^+X)\,W_1(0)\,w_2(\infty)$: the part of the first layer outside the
# row space is carried along untouched.
# :::
#
# **Proof.** (1) Each column of $\dot W_1 = -\frac1n X^\top r\, b_2^\top$ is a multiple of
# $X^\top r$. (2) and the general form: write
# $\beta = W_1w_2 = (I - X^+X)W_1(0)w_2 + (\text{a row-space part})$; an exact fit fixes the
# row-space part to $X^+y$, because two vectors of the row space with the same image under $X$
# differ by something in both the row space and the null space, which is 0. (3) From zero,
# (1) gives $W_1 = X^\top u\, b_2^\top$ for a vector $u(t) \in \mathbb R^n$, then
# $w_2 = s\,b_2$ for a number $s(t)$, and Theorem 5.2 summed over the units
# ($\langle w_2, b_2\rangle - \tfrac12\lVert W_1\rVert_F^2$ is conserved and starts at 0)
# forces $s = \tfrac12 u^\top K u$ with $K = XX^\top \succ 0$. The dynamics reduce to
# $\dot u = -\frac1n\bigl(c\,(u^\top K u)\,K u - y\bigr)$ with $c = \tfrac12\lVert b_2\rVert^2$:
# the gradient flow of $V(u) = \frac1n\bigl(\tfrac c4 (u^\top Ku)^2 - y^\top u\bigr)$, which grows
# to infinity in every direction and has a single critical point, where
# $c\,(u^\top Ku)\,Ku = y$, i.e. where $r = 0$. A gradient flow of such an analytic function
# converges to a critical point, so the loss tends to 0. This reduction is our own derivation,
# checked numerically below, not a statement from the paper.
#
# Gradient descent shares property 1 (its update is $X^\top r\,w_2^\top$), so it too lands near
# $X^+y$ from a small initialisation. What it cannot do is start from zero: at $W_1 = 0$,
# $w_2 = 0$ its gradient vanishes and it never moves, while FA's update $X^\top r\,b_2^\top$ does
# not.

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
profile = "paper"          # theory chapters compute the same at every profile
device = "cpu"             # small float64 computations on the CPU

# %%
import matplotlib.pyplot as plt
import torch

from falign import plots, theory
from falign.chapters import glue

plots.set_style()
n, d, m = 10, 40, 20
X, y = theory.regression_data(n, d, seed=0)
b2 = theory.random_feedback(m, seed=1)
target = theory.min_norm_solution(X, y)
off_row = torch.eye(d, dtype=torch.float64) - torch.linalg.pinv(X) @ X


def run(rule, scale, steps=4000):
    """Euler steps of size 0.5 (time t = 0.5 k) from an initialisation of the given scale."""
    W1, w2 = theory.two_layer_init(d, m, scale=scale, seed=2)
    return W1, theory.train_two_layer(X, y, W1, w2, b2, rule=rule, loss="square", lr=0.5,
                                      steps=steps, every=20)


# %% [markdown]
# ## From zero
#
# Ten examples in 40 dimensions, a hidden layer of 20 units, FA's feedback drawn once, and Euler
# steps of size $\eta = 0.5$ from $W_1 = 0$, $w_2 = 0$; backpropagation from the same point for
# contrast.

# %%
_, fa_zero = run("fa", 0.0)
_, gd_zero = run("bp", 0.0)
glue("zero_distance", theory.min_norm_distance(X, y, fa_zero.W1, fa_zero.w2_final))
glue("zero_loss", float(fa_zero.loss[-1]))
glue("zero_off_row", theory.off_row_space(X, fa_zero.W1))
glue("zero_potential", float(fa_zero.potentials.sum(1).abs().max()))
_ = glue("gd_zero_loss_change", float((gd_zero.loss - gd_zero.loss[0]).abs().max()))

# %% [markdown]
# FA's loss reaches {glue:text}`zero_loss:.1e` and its linear map is
# {glue:text}`zero_distance:.1e` away from $X^+y$, relative to the norm of $X^+y$: the
# minimum-norm solution, to round-off. The part of $W_1$ outside the row space of $X$ has norm
# {glue:text}`zero_off_row:.1e` at the end, and the summed potential
# $\langle w_2, b_2\rangle - \tfrac12\lVert W_1\rVert_F^2$ never strays from 0 by more than
# {glue:text}`zero_potential:.1e` (this step is not small: the Euler drift of Theorem 5.2 is
# visible). Backpropagation from the same point does not move: its loss changes by
# {glue:text}`gd_zero_loss_change:.1e`.
#
# ## Distance against the initialisation scale
#
# Now both rules start from $W_1(0)$ and $w_2(0)$ with entries of scale $\omega$ (Gaussian with
# standard deviations $\omega/\sqrt d$ and $\omega/\sqrt m$), for $\omega$ from $10^{-4}$ to 1. The
# general form of the statement predicts the distance exactly, from the initial first layer and
# the final output weights: $\lVert (I - X^+X)W_1(0)\,w_2(\infty)\rVert/\lVert X^+y\rVert$.

# %%
scales = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
distance, predicted, final_loss = {}, {}, 0.0
for rule in ("fa", "bp"):
    distance[rule], predicted[rule] = [], []
    for scale in scales:
        W1_0, tr = run(rule, scale)
        distance[rule].append(theory.min_norm_distance(X, y, tr.W1, tr.w2_final))
        predicted[rule].append(float((off_row @ W1_0 @ tr.w2_final).norm() / target.norm()))
        final_loss = max(final_loss, float(tr.loss[-1]))
glue("scale_final_loss", final_loss)
glue("prediction_gap", max(abs(a - b) / b for r in distance for a, b in zip(distance[r], predicted[r])))
glue("slope_fa", theory.loglog_slope(scales, distance["fa"]))
glue("slope_bp", theory.loglog_slope(scales, distance["bp"]))
glue("fa_distance_small", distance["fa"][0])
_ = glue("fa_distance_large", distance["fa"][-1])

# %% mystnb={"image": {"alt": "Left: training loss against time for FA and backprop started from zero weights, FA falling to round-off while backprop stays flat. Right: relative distance of the learned linear map from the minimum-norm solution against the initialisation scale on log-log axes, for FA and backprop, both on lines of slope one, with the exact prediction as open markers."}}
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10.5, 3.5))
for rule, tr in (("fa", fa_zero), ("bp", gd_zero)):
    ax1.plot(tr.t, tr.loss, color=plots.RULE_COLORS[rule], lw=1.8,
             label=f"{plots.RULE_LABELS[rule]} from zero")
ax1.set(yscale="log", xlabel="time t (step size × steps)", ylabel="loss (unitless)")
ax1.legend(frameon=False)
for rule in ("fa", "bp"):
    colour = plots.RULE_COLORS[rule]
    ax2.plot(scales, distance[rule], color=colour, marker="o", lw=1.5, label=plots.RULE_LABELS[rule])
    ax2.plot(scales, predicted[rule], color=colour, marker="s", mfc="none", ms=10, ls="none",
             label=f"{plots.RULE_LABELS[rule]}, predicted")
ax2.set(xscale="log", yscale="log", xlabel="initialisation scale ω (unitless)",
        ylabel="‖W1 w2 − X⁺y‖ / ‖X⁺y‖  (unitless)")
ax2.legend(frameon=False, fontsize=8)
fig.tight_layout()

# %% [markdown]
# Every run fits the data (largest final loss {glue:text}`scale_final_loss:.1e`), and the
# measured distances match the prediction to a relative {glue:text}`prediction_gap:.1e`. For FA
# the distance grows from {glue:text}`fa_distance_small:.1e` at $\omega = 10^{-4}$ to
# {glue:text}`fa_distance_large:.2f` at $\omega = 1$, with log–log slope
# {glue:text}`slope_fa:.3f`; backpropagation's slope is {glue:text}`slope_bp:.3f`. The slope is 1
# because the off-row-space part of $W_1(0)$ is proportional to $\omega$ while the final output
# weights are set by the fit and barely depend on $\omega$. The minimum-norm bias is therefore a
# property of the first layer's update lying in the row space, which FA and backpropagation share;
# FA's distinction here is only that it can start from exactly zero.
#
# ## Exercises

# %% [markdown] exercise={"level": "starter", "minutes": 15, "needs": "nothing"}
# :::{admonition} Exercise 1: a large output layer
# :class: tip
# Start FA from $W_1(0) = 0$ but with large output weights, $w_2(0)$ of scale 10. Predict the
# distance from $X^+y$ at the end, then check.
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 1
# The off-row-space part of $W_1(0)$ is zero whatever $w_2(0)$ is, so once the loss is 0 the map
# is exactly $X^+y$: the distance is at round-off level. Only the first layer's initialisation
# matters.
# :::

# %% tags=["solution", "hide-cell"]
_, w2_big = theory.two_layer_init(d, m, scale=10.0, seed=3)
big = theory.train_two_layer(X, y, torch.zeros(d, m, dtype=torch.float64), w2_big, b2, rule="fa",
                             loss="square", lr=0.05, steps=20_000, every=100)
print(f"final loss {big.loss[-1]:.1e}, distance from X^+ y "
      f"{theory.min_norm_distance(X, y, big.W1, big.w2_final):.1e}")

# %% [markdown] exercise={"level": "starter", "minutes": 15, "needs": "nothing"}
# :::{admonition} Exercise 2: one layer started at zero
# :class: tip
# Backpropagation cannot leave $W_1 = 0$, $w_2 = 0$. Predict what it does from $W_1(0) = 0$ with
# $w_2(0) = b_2$ (the FA feedback vector), and where it ends.
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 2
# With $w_2 \ne 0$ the gradient of $W_1$, $-\frac1n X^\top r\,w_2^\top$, is not zero, so training
# starts; its columns lie in the row space of $X$, $W_1(0) = 0$ has no part outside it, and the
# fit ends exactly at $X^+y$, like FA.
# :::

# %% tags=["solution", "hide-cell"]
gd = theory.train_two_layer(X, y, torch.zeros(d, m, dtype=torch.float64), b2.clone(), rule="bp",
                            loss="square", lr=0.5, steps=4000, every=100)
print(f"BP from W1 = 0, w2 = b2: final loss {gd.loss[-1]:.1e}, distance from X^+ y "
      f"{theory.min_norm_distance(X, y, gd.W1, gd.w2_final):.1e}")

# %% [markdown] exercise={"level": "intermediate", "minutes": 30, "needs": "nothing"}
# :::{admonition} Exercise 3: fewer unknowns than equations
# :class: tip
# Take 40 examples in 10 dimensions, so that no exact fit exists. Predict where FA from zero
# ends, and compare with the least-squares solution, which `theory.min_norm_solution` also
# returns ($X^+y$ for a matrix with independent columns).
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 3
# At a resting point of FA, $X^\top r\,b_2^\top = 0$, so $X^\top r = 0$: the normal equations,
# whose only solution when $X$ has independent columns is the least-squares fit $X^+y$. FA ends
# there; the minimum-norm question does not arise, since the fit is unique.
# :::

# %% tags=["solution", "hide-cell"]
gen = torch.Generator().manual_seed(4)
Xt = torch.randn(40, 10, generator=gen, dtype=torch.float64) / 10 ** 0.5
yt = torch.randn(40, generator=gen, dtype=torch.float64)
tall = theory.train_two_layer(Xt, yt, torch.zeros(10, m, dtype=torch.float64),
                              torch.zeros(m, dtype=torch.float64), b2, rule="fa", loss="square",
                              lr=0.5, steps=4000, every=100)
print(f"final loss {tall.loss[-1]:.4f} (least squares: "
      f"{0.5 * (Xt @ theory.min_norm_solution(Xt, yt) - yt).pow(2).mean():.4f}); distance from "
      f"X^+ y {theory.min_norm_distance(Xt, yt, tall.W1, tall.w2_final):.1e}")
