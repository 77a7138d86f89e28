# %% [markdown]
# # Theorem 5.1: convergence under dominance
#
# *Convergence under alignment dominance.*
#
# A feedback-alignment rule does not follow the gradient, so the textbook argument that the loss
# goes down does not apply to it. Section 4 of {cite:t}`robertson2024implicit` measures how much
# of the gradient the rule's update still carries. Along the flow $\dot\theta = -\tilde\nabla
# \mathcal L(\theta)$, the chain rule gives
#
# $$
# \frac{d}{dt}\,\mathcal L(\theta(t)) \;=\; \langle \nabla\mathcal L,\ \dot\theta\rangle
# \;=\; -\,\langle \nabla\mathcal L(\theta),\ \tilde\nabla\mathcal L(\theta)\rangle ,
# $$
#
# so the loss falls exactly as fast as the rule's update and the true gradient agree. The paper
# calls a rule *$(\alpha,\beta)$-alignment dominant* (Definition 4.2) when that agreement is at
# least $\alpha\,(\mathcal L - \mathcal L^\ast)^\beta$ all along the trajectory, and Theorem 5.1
# turns the inequality into a rate.
#
# :::{admonition} Theorem 5.1 (in our words)
# :class: note
# **Assumptions.** A model trained by the flow $\dot\theta = -\tilde\nabla\mathcal L(\theta)$ of
# some update rule (feedback alignment, or any other), with a loss that is differentiable almost
# everywhere along the path and whose infimum is $\mathcal L^\ast = 0$; constants $\alpha > 0$,
# $\beta \ge 1$ such that $\langle \nabla\mathcal L(\theta), \tilde\nabla\mathcal L(\theta)\rangle
# \ge \alpha\,\mathcal L(\theta)^\beta$ at every point of the trajectory.
#
# **Conclusion.** With $L_0 = \mathcal L(\theta(0))$,
#
# $$
# \mathcal L(\theta(t)) \;\le\;
# \begin{cases} L_0\, e^{-\alpha t}, & \beta = 1,\\[4pt]
# \bigl(L_0^{\,1-\beta} + (\beta-1)\,\alpha\, t\bigr)^{-1/(\beta-1)}, & \beta > 1. \end{cases}
# $$
# :::
#
# **Derivation.** Write $L(t)$ for the loss along the path. The assumption reads
# $\dot L \le -\alpha L^\beta$. For $\beta = 1$ divide by $L$: $\frac{d}{dt}\log L \le -\alpha$,
# and integrate. For $\beta > 1$ look at $L^{1-\beta}$ instead:
#
# $$
# \begin{aligned}
# \frac{d}{dt} L^{1-\beta} &\;=\; (1-\beta)\, L^{-\beta}\, \dot L \;\ge\; (\beta - 1)\,\alpha ,\\
# \text{so}\quad L(t)^{1-\beta} &\;\ge\; L_0^{1-\beta} + (\beta-1)\,\alpha\, t ,
# \end{aligned}
# $$
#
# and raising both sides to the negative power $-1/(\beta-1)$ reverses the inequality. Every
# step is an equality when $\dot L = -\alpha L^\beta$ exactly, so **the bound is attained**: the
# solution of that differential equation is a loss curve the theorem allows, and any claimed
# bound that dips below it is false.
#
# :::{admonition} The printed bound for β > 1 is wrong
# :class: warning
# The paper prints, for $\beta > 1$,
# $\;\mathcal L(\theta(t)) \le \Bigl(\dfrac{\beta-1}{\alpha t + (\beta-1)/L_0}\Bigr)^{1/(\beta-1)}$.
# At $t = 0$ this is $L_0^{1/(\beta-1)}$, which equals $L_0$ only when $\beta = 2$ (or
# $L_0 = 1$); at $\beta = 3$ and $L_0 = 4$ it claims $\mathcal L(\theta(0)) \le 2$ while the loss
# *is* 4 there. Two slips in the appendix proof produce it: the antiderivative of $L^{-\beta}$ is
# $-L^{1-\beta}/(\beta-1)$, and the proof writes $-(\beta-1)\,L^{1-\beta}$; then the last line
# drops the power on $L_0^{\beta-1}$. The correct form is the one in the box above. At
# $\beta = 2$ both read $L_0/(1 + \alpha L_0 t)$, so Proposition 5.7, which uses $\beta = 2$, is
# not affected.
#
# Comparing the two curves exactly (our algebra, checked below): for $\beta > 2$ the printed form
# lies below the attainable curve for
# $t < T^\ast = (\beta-1)\,(L_0^{-1} - L_0^{1-\beta}) \,/\, \bigl(((\beta-1)^2-1)\,\alpha\bigr)$,
# which is a real interval exactly when $L_0 > 1$; for $1 < \beta < 2$ it falls below for good
# at late times, whatever $L_0$, since the ratio of the two tends to
# $(\beta-1)^{2/(\beta-1)} < 1$ (and it is already below at $t = 0$ when $L_0 < 1$).
# :::
#
# This chapter checks the corrected bound against a numerical integration and against real
# gradient-descent runs that sit on it, shows where the printed one fails, and then runs a small
# feedback-alignment network for which the alignment-dominance constant can be computed before
# training, from Theorem 5.2.

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
BLUE, GREY, ORANGE = plots.RULE_COLORS["fa"], plots.RULE_COLORS["bp"], plots.RULE_COLORS["signfa"]

# %% [markdown]
# ## The extremal loss curve, integrated numerically
#
# We integrate $\dot L = -\alpha L^\beta$ from $L_0 = 4$ with a classical fourth-order Runge–Kutta
# scheme, which knows nothing of the closed form, for $\beta \in \{1, 3/2, 2, 3\}$, and compare
# with the corrected bound. The values of $\alpha$ are those of the one-weight models of the next
# section.

# %%
L0, BETAS = 4.0, [1.0, 1.5, 2.0, 3.0]
worst_rk4 = 0.0
for beta in BETAS:
    alpha = theory.one_weight_alpha(beta)
    t, slowest = theory.slowest_loss(L0, alpha, beta, t_end=1.0, steps=2000)
    bound = theory.loss_bound(t, L0, alpha, beta)
    worst_rk4 = max(worst_rk4, float(((slowest - bound) / bound).abs().max()))
glue("rk4_error", worst_rk4)
print(f"largest relative gap between Runge-Kutta and the corrected bound: {worst_rk4:.1e}")

# %% [markdown]
# The integrated curve and the corrected closed form agree to a relative
# {glue:text}`rk4_error:.1e`, the integrator's own error: the bound is exactly the slowest loss the
# assumption allows.
#
# ## Real gradient-descent runs that sit on the bound
#
# A one-weight model makes the extremal case concrete. Gradient flow on $\mathcal L(\theta)$ has
# $\dot L = -\mathcal L'(\theta)^2$, so a loss with $\mathcal L'(\theta)^2 = \alpha\,\mathcal
# L^\beta$ meets the assumption with equality: $\mathcal L = \theta^p$ with $p = 2/(2-\beta)$
# and $\alpha = p^2$ (for $\beta = 3$, $\mathcal L = \theta^{-2}$ on $\theta > 0$), and
# $\mathcal L = e^{-\theta}$ with $\alpha = 1$ at $\beta = 2$, which is the exponential loss of a
# single correctly labelled example with margin $\theta$. Here the update *is* the gradient
# (no hidden layer, so feedback alignment and backpropagation coincide), trained with
# `torch.optim.SGD` and autograd at a step of $10^{-4}$.

# %%
runs, gd_worst_excess, gd_worst_gap = {}, 0.0, 0.0
for beta in BETAS:
    alpha = theory.one_weight_alpha(beta)
    t, loss = theory.train_one_weight(beta, L0, lr=1e-4, steps=6000)
    bound = theory.loss_bound(t, L0, alpha, beta)
    printed = theory.printed_loss_bound(t, L0, alpha, beta)
    runs[beta] = (t, loss, bound, printed)
    gd_worst_excess = max(gd_worst_excess, float((loss / bound - 1).max()))
    gd_worst_gap = max(gd_worst_gap, float((1 - loss / bound).max()))
glue("gd_excess", gd_worst_excess)
glue("gd_gap", gd_worst_gap)
printed_at_zero = float(theory.printed_loss_bound(0.0, L0, theory.one_weight_alpha(3.0), 3.0))
t_star = theory.printed_bound_fails_until(L0, theory.one_weight_alpha(3.0), 3.0)
glue("printed_at_zero", printed_at_zero)
glue("t_star", t_star)
t3, loss3, _, printed3 = runs[3.0]
glue("t_star_measured", float(t3[(loss3 > printed3).nonzero().max()]))
t15, loss15, _, printed15 = runs[1.5]
_ = glue("t_cross_15", float(t15[(loss15 > printed15).nonzero().min()]))

# %% mystnb={"image": {"alt": "Four panels, one per beta (1, 1.5, 2, 3): the loss of a one-weight gradient-descent run against time on a log scale, lying on the corrected bound, with the printed bound drawn dotted and the region where the printed bound falls below the real loss shaded."}}
fig, axes = plt.subplots(1, 4, figsize=(12.5, 3.1), sharey=False)
for ax, beta in zip(axes, BETAS):
    t, loss, bound, printed = runs[beta]
    ax.plot(t, loss, color=GREY, lw=3, alpha=0.45, label="gradient descent (loss)")
    ax.plot(t, bound, color=BLUE, lw=1.3, ls="--", label="corrected bound")
    ax.plot(t, printed, color=ORANGE, lw=1.3, ls=":", label="printed bound")
    ax.fill_between(t, printed, loss, where=printed < loss, color=ORANGE, alpha=0.2,
                    label="printed bound below the loss")
    ax.set(yscale="log", title=f"β = {beta:g}, α = {theory.one_weight_alpha(beta):g}",
           xlabel="time t (step size × steps)")
axes[0].set_ylabel("loss (unitless)")
handles, labels = axes[3].get_legend_handles_labels()
fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, frameon=False)
fig.tight_layout()

# %% [markdown]
# Each run stays under the corrected bound (it exceeds it by at most a relative
# {glue:text}`gd_excess:.1e`, round-off) and never falls more than a relative
# {glue:text}`gd_gap:.1e` below it: a discrete step slightly outruns the flow. The printed form
# coincides with the corrected one at $\beta = 2$ and is also right at $\beta = 1$. At
# $\beta = 3$ it starts at {glue:text}`printed_at_zero:.3g` while the loss is 4, and stays below
# the real loss until $t =$ {glue:text}`t_star_measured:.3g` (the formula above predicts
# {glue:text}`t_star:.4g`); at $\beta = 3/2$ it starts far above but crosses below the real
# loss at $t =$ {glue:text}`t_cross_15:.3g` and stays there.
#
# ## A feedback-alignment network whose constant is known in advance
#
# Take a two-layer *linear* network $f(x) = x W_1 w_2$ (width $m$, scalar output), data
# $X \in \mathbb R^{n\times d}$ with $n < d$, square loss
# $\mathcal L = \frac{1}{2n}\lVert X W_1 w_2 - y\rVert^2$, and FA with a fixed feedback vector
# $b_2$. With $r = XW_1w_2 - y$, the true gradient of $W_1$ is $\frac1n X^\top r\, w_2^\top$ and
# FA's update is $\frac1n X^\top r\, b_2^\top$, so
#
# $$
# \langle \nabla_{W_1}\mathcal L, \tilde\nabla_{W_1}\mathcal L\rangle
# = \frac{1}{n^2}\,(r^\top XX^\top r)\,\langle w_2, b_2\rangle
# \;\ge\; \frac{2\lambda_{\min}(XX^\top)}{n}\,\langle w_2, b_2\rangle\,\mathcal L .
# $$
#
# The output layer's update is its true gradient and adds $\lVert\nabla_{w_2}\mathcal L\rVert^2
# \ge 0$. Summed over hidden units, Theorem 5.2 (the identity activation is homogeneous) keeps
# $\langle w_2, b_2\rangle - \tfrac12\lVert W_1\rVert_F^2$ fixed, so
# $\langle w_2, b_2\rangle \ge \langle w_2(0), b_2\rangle - \tfrac12\lVert W_1(0)\rVert_F^2$.
# Starting from $w_2(0) = b_2$ with a small $W_1(0)$ makes the right side positive, and the run
# is $(\alpha, 1)$-alignment dominant with
# $\alpha = \frac{2\lambda_{\min}(XX^\top)}{n}\bigl(\lVert b_2\rVert^2 - \tfrac12\lVert
# W_1(0)\rVert_F^2\bigr)$ (our derivation), known before training starts.

# %%
n, d, m = 10, 40, 20
X, y = theory.regression_data(n, d, seed=0)
b2 = theory.random_feedback(m, seed=1)
W1_0, _ = theory.two_layer_init(d, m, scale=0.3, seed=2)
alpha_lin = theory.linear_dominance_alpha(X, W1_0, b2, b2)
fa_run = theory.train_two_layer(X, y, W1_0, b2, b2, rule="fa", loss="square", lr=0.05,
                                steps=6000, every=10)
bound_lin = theory.loss_bound(fa_run.t, float(fa_run.loss[0]), alpha_lin, 1.0)
ratio_lin = fa_run.inner / (alpha_lin * fa_run.loss)
glue("alpha_lin", alpha_lin)
glue("ratio_lin_min", round(float(ratio_lin.min()), 4))   # 6000 steps: the 7th digit moves
glue("alpha_hat", theory.dominance_constant(fa_run.inner, fa_run.loss, 1.0))
glue("lin_violations", int((fa_run.loss > bound_lin).sum()))
_ = glue("lin_final_loss", float(fa_run.loss[-1]))

# %% mystnb={"image": {"alt": "Left: training loss of a two-layer linear network trained by feedback alignment against time, log scale, below the exponential bound of Theorem 5.1 with the constant computed before training. Right: the ratio of the update-gradient inner product to alpha times the loss, which stays above 1."}}
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9.5, 3.2))
ax1.plot(fa_run.t, fa_run.loss, color=BLUE, lw=1.6, label="FA run")
ax1.plot(fa_run.t, bound_lin, color=GREY, lw=1.2, ls="--", label=r"$L_0\,e^{-\alpha t}$")
ax1.set(yscale="log", xlabel="time t (step size × steps)", ylabel="loss (unitless)")
ax1.legend(frameon=False)
ax2.plot(fa_run.t, ratio_lin, color=BLUE, lw=1.6)
ax2.axhline(1.0, color="black", lw=0.9, ls=":")
ax2.set(yscale="log", xlabel="time t (step size × steps)",
        ylabel="⟨∇L, FA update⟩ / (α L)  (unitless)")
fig.tight_layout()

# %% [markdown]
# The constant computed before training is $\alpha =$ {glue:text}`alpha_lin:.3g`; along the run
# the ratio $\langle\nabla\mathcal L,\tilde\nabla\mathcal L\rangle/(\alpha\mathcal L)$ never
# falls below {glue:text}`ratio_lin_min:.3g`, so the assumption of Theorem 5.1 holds, and the
# loss crosses the bound at {glue:text}`lin_violations:.0f` of the recorded steps. The bound is
# loose: the largest constant the run actually satisfies is
# {glue:text}`alpha_hat:.3g`. The estimate ignores the output layer's own gradient and the
# growth of $\langle w_2, b_2\rangle$ beyond its floor, and $\lambda_{\min}$ is the worst
# direction of the data. The loss ends at {glue:text}`lin_final_loss:.1e`, the floor of
# float64 arithmetic.
#
# ## Exercises

# %% [markdown] exercise={"level": "intermediate", "minutes": 30, "needs": "nothing"}
# :::{admonition} Exercise 1: below β = 1, the loss reaches zero
# :class: tip
# Theorem 5.1 stops at $\beta \ge 1$. Repeat the derivation for $\beta = 1/2$ and predict the time
# $t^\ast$ at which a loss that starts at $L_0 = 4$ and satisfies $\dot L = -\alpha\sqrt{L}$
# reaches zero, for the $\alpha$ of the one-weight model $\mathcal L = \theta^{4/3}$
# (`theory.one_weight_alpha(0.5)`). Then run gradient descent on that model
# (`theory.one_weight_loss`) and find when the loss first drops below $10^{-6}$.
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 1
# For $\beta < 1$, $\frac{d}{dt}L^{1-\beta} = (1-\beta)L^{-\beta}\dot L \le -(1-\beta)\alpha$, so
# $L^{1-\beta}$ falls at least linearly and hits zero by $t^\ast = L_0^{1-\beta}/((1-\beta)\alpha)$.
# With $\beta = 1/2$, $\alpha = (4/3)^2 = 16/9$ and $L_0 = 4$: $t^\ast = 2/(8/9) = 9/4$. The
# model's flow reaches $\theta = 0$ in finite time, and gradient descent gets there within a step
# of it (a step can overshoot to $\theta < 0$, so the code below stops at the first step where
# $\theta \le 0$ or the loss is below $10^{-6}$).
# :::

# %% tags=["solution", "hide-cell"]
beta, lr = 0.5, 1e-4
alpha = theory.one_weight_alpha(beta)
print(f"predicted t* = L0^(1-beta) / ((1-beta) alpha) = {L0 ** (1 - beta) / ((1 - beta) * alpha):.4f}")
theta = torch.tensor(theory.one_weight_start(L0, beta), dtype=torch.float64, requires_grad=True)
for step in range(100_000):
    loss = theory.one_weight_loss(theta, beta)
    if loss.item() < 1e-6:
        break
    loss.backward()
    with torch.no_grad():
        theta -= lr * theta.grad
        theta.grad = None
    if theta.item() <= 0:
        step += 1
        break
print(f"gradient descent: loss below 1e-6 (or theta <= 0) at t = {step * lr:.4f}")

# %% [markdown] exercise={"level": "starter", "minutes": 15, "needs": "nothing"}
# :::{admonition} Exercise 2: when is the printed bound at least valid?
# :class: tip
# The printed form is wrong in general, but it could still be a true (if loose) bound for some
# $(\beta, L_0)$. Using the comparison in the warning box, predict whether it is valid for
# $\beta = 3$ with $L_0 = 1/2$ and for $\beta = 3/2$ with $L_0 = 1/2$, and if so by what factor it
# overestimates the loss at late times. Check against `theory.slowest_loss` with $\alpha = 1$
# up to $t = 200$.
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 2
# For $\beta > 2$ the printed form lies below the attainable curve only while $t < T^\ast$, and
# $T^\ast \le 0$ when $L_0 \le 1$: at $\beta = 3$, $L_0 = 1/2$ it is a valid bound, loose by a
# factor tending to $(\beta-1)^{2/(\beta-1)} = 2$. For $1 < \beta < 2$ the late-time ratio is
# $(\beta-1)^{2/(\beta-1)} = (1/2)^4 = 1/16 < 1$ whatever $L_0$: at $\beta = 3/2$ the printed
# form eventually lies sixteen times below a loss the theorem allows, so it is not a bound.
# :::

# %% tags=["solution", "hide-cell"]
for beta in (3.0, 1.5):
    t, slowest = theory.slowest_loss(0.5, 1.0, beta, t_end=200.0, steps=20000)
    ratio = theory.printed_loss_bound(t, 0.5, 1.0, beta) / slowest
    print(f"beta = {beta}: printed / slowest ranges over [{ratio.min():.4f}, {ratio.max():.4f}], "
          f"ends at {ratio[-1]:.4f}; valid bound: {bool((ratio >= 1 - 1e-9).all())}")

# %% [markdown] exercise={"level": "intermediate", "minutes": 30, "needs": "nothing"}
# :::{admonition} Exercise 3: where the looseness of α comes from
# :class: tip
# In the linear FA run, the constant computed in advance was far below the one the run
# satisfied. Predict which of its three ingredients ($\lambda_{\min}$ in place of the actual
# $r^\top XX^\top r/\lVert r\rVert^2$; the floor of $\langle w_2, b_2\rangle$ in place of its
# actual value; the dropped term $\lVert\nabla_{w_2}\mathcal L\rVert^2$) costs the most, then
# measure each along the run.
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 3
# The ratio of the actual inner product to $\alpha\mathcal L$ is the product of three factors:
# the Rayleigh quotient $r^\top XX^\top r/\lVert r\rVert^2$ over $\lambda_{\min}$ (at most the
# condition number of $XX^\top$), $\langle w_2, b_2\rangle$ over its floor (it grows with
# $\lVert W_1\rVert_F^2$, which Theorem 5.2 ties to it), and the full inner product over its
# first-layer part. The code prints each at the step where the ratio is smallest and over the
# run. At that step the residual lies almost along the data's weakest direction, so
# $\lambda_{\min}$ costs next to nothing there, and the output layer adds little. What the
# estimate misses is the growth of $\langle w_2, b_2\rangle$: it ends well above its floor,
# because $\lVert W_1\rVert_F^2$ grew and Theorem 5.2 makes the alignment grow with it.
# :::

# %% tags=["solution", "hide-cell"]
floor = float(b2 @ b2 - 0.5 * W1_0.pow(2).sum())
w2b2 = (fa_run.w2 * fa_run.b2).sum(1)
lam_min = float(torch.linalg.eigvalsh(X @ X.T)[0])
# inner_w1 = (r^T X X^T r)(w2.b2) / n^2 and L = |r|^2 / (2n) give the Rayleigh quotient:
rayleigh = fa_run.inner_w1 * n / (2 * w2b2 * fa_run.loss)
factors = {"Rayleigh quotient / lambda_min": rayleigh / lam_min,
           "<w2, b2> / its floor": w2b2 / floor,
           "full inner product / first-layer part": fa_run.inner / fa_run.inner_w1}
k = int(ratio_lin.argmin())
for name, f in factors.items():
    print(f"{name:40s} at the tightest step {f[k]:6.2f}; over the run {f.min():6.2f} to {f.max():6.2f}")
print(f"{'product (= ratio to alpha L)':40s} at the tightest step {ratio_lin[k]:6.2f}")
