# %% [markdown]
# # Theorem 5.2: the conservation law
#
# *The conservation law, exactly and step by step.*
#
# The central result of {cite:t}`robertson2024implicit` is a conservation law for single hidden
# units. Take a unit $j$ in hidden layer $i$: its incoming weights are the column
# $W_i[:,j]$, its outgoing weights the row $W_{i+1}[j,:]$, and the feedback that carries errors
# back to it is the row $B_{i+1}[j,:]$. The law says that, under the flow of feedback alignment,
#
# $$
# P_j \;=\; \langle W_{i+1}[j,:],\, B_{i+1}[j,:]\rangle \;-\; \tfrac12\,\lVert W_i[:,j]\rVert^2
# $$
#
# never changes. Whatever squared norm the unit gains on its input side, its outgoing weights must
# gain as alignment with their feedback. The chapters on Figure 2 and Table 3 measure the law in
# the paper's long MNIST runs; this one checks it to the last bit on small float64 networks, and
# finds out which assumption each failure comes from.
#
# :::{admonition} Theorem 5.2 (in our words)
# :class: note
# **Assumptions.** A feed-forward network without biases, $h_i = a_{i-1}W_i$, $a_i = \phi(h_i)$,
# whose activation satisfies $\phi(z) = \phi'(z)\,z$ (ReLU, leaky ReLU, the identity: positively
# homogeneous of degree one). Errors travel back through feedback matrices,
# $\tilde\delta_i = (\tilde\delta_{i+1} B_{i+1}^\top)\circ\phi'(h_i)$ with any error at the
# output and any differentiable loss, and every layer follows the flow
# $\dot W_i = -\sum_k a_{i-1}^{(k)\top}\tilde\delta_i^{(k)}$ (a sum over examples $k$). The
# feedback is fixed (FA, adaFA) or $B = s\,\mathrm{sign}(W)$ (sign-FA).
#
# **Conclusion.** For every hidden unit $j$ of every hidden layer $i$, $P_j(t) = P_j(0)$ for all
# $t \ge 0$.
# :::
#
# **Why.** Collect the inputs of each example as rows of $A_{i-1}$; FA's update of unit $j$'s
# incoming weights is the gradient-like sum $G_i[:,j] = A_{i-1}^\top\tilde\delta_{i,j}$ and that
# of its outgoing row is $G_{i+1}[j,:] = a_{i,j}^\top\tilde\delta_{i+1}$ (sums over examples).
# Homogeneity turns one into the other, example by example:
#
# $$
# \begin{aligned}
# \langle G_i[:,j], W_i[:,j]\rangle &= \sum_k \tilde\delta_{ij}^{(k)}\, h_{ij}^{(k)}
# = \sum_k \phi'(h_{ij}^{(k)})\,h_{ij}^{(k)}\,\langle\tilde\delta_{i+1}^{(k)}, B_{i+1}[j,:]\rangle\\
# &= \sum_k a_{ij}^{(k)}\,\langle\tilde\delta_{i+1}^{(k)}, B_{i+1}[j,:]\rangle
# = \langle G_{i+1}[j,:], B_{i+1}[j,:]\rangle .
# \end{aligned}
# $$
#
# Along the flow $\dot W = -G$, so $\frac{d}{dt}\tfrac12\lVert W_i[:,j]\rVert^2 =
# \langle \dot W_{i+1}[j,:], B_{i+1}[j,:]\rangle$, which is $\frac{d}{dt}\langle W_{i+1}[j,:],
# B_{i+1}[j,:]\rangle$ when $B$ is fixed. For sign-FA, $\langle W, s\,\mathrm{sign}\,W\rangle =
# s\lVert W\rVert_1$ is continuous and its derivative is $\langle\dot W, s\,\mathrm{sign}\,W\rangle$
# except at the instants an entry crosses zero, so the same law holds. The identity above is
# per example, so it holds for any batch of examples and any loss.
#
# **One step, exactly.** Training takes steps $W \leftarrow W - \eta\, G$. Expanding the
# potential after one plain SGD step and using the identity (our derivation):
#
# $$
# P_j' - P_j \;=\; -\tfrac12\,\lVert \Delta W_i[:,j]\rVert^2
# \;+\; \langle W'_{i+1}[j,:],\; B'_{i+1}[j,:] - B_{i+1}[j,:]\rangle ,
# $$
#
# where primes are values after the step and $B$ is the feedback the step used. With fixed
# feedback (FA, adaFA) the second term vanishes: **each step lowers $P_j$ by exactly
# $\tfrac12\lVert\Delta W_i[:,j]\rVert^2$**. For sign-FA it vanishes unless an entry of
# $W_{i+1}[j,:]$ changes sign, and then adds $2s\,\lvert w'\rvert$ for each such entry. For
# backpropagation $B = W$, the second term is first order in $\eta$, and $P_j$ is not conserved
# even by the flow (the quantity gradient flow keeps is
# $\lVert W_{i+1}[j,:]\rVert^2 - \lVert W_i[:,j]\rVert^2$ {cite}`du2018algorithmic`).
#
# **Biases.** A bias is an incoming weight on a constant input 1: repeating the computation with
# $h = aW + b$ gives the same law with $\tfrac12(\lVert W_i[:,j]\rVert^2 + b_{i,j}^2)$. The
# potential as App. B.1 of the paper prints it leaves the bias out, and is then not conserved.

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
import pandas as pd

from falign import plots, theory
from falign.chapters import glue

plots.set_style()
x, y = theory.toy_classification()          # 40 examples, 6 features, 3 classes

# %% [markdown]
# ## The one-step identity, rule by rule
#
# The network is the library's `mlp` 6 → 8 → 8 → 3 with leaky-ReLU units (two hidden layers,
# sixteen hidden units, weights of order one), converted by `falign.convert` to each learning
# rule, trained with `torch.optim.SGD` on cross-entropy for 200 full-batch steps of size
# $\eta = 0.05$. Around every step we measure each unit's potential (bias counted where there is
# one) and compare its change with the right side of the identity, and with its fixed-feedback
# part $-\tfrac12\lVert\Delta W_i[:,j]\rVert^2$ alone. The last three rows drop one assumption
# each: momentum $\mu = 0.9$, weight decay $\lambda = 10^{-2}$, and the activation $\tanh$.

# %%
cases = {
    "FA": dict(rule="fa"),
    "FA with biases": dict(rule="fa", bias=True),
    "adaFA": dict(rule="adafa"),
    "sign-FA": dict(rule="signfa"),
    "sign-FA with biases": dict(rule="signfa", bias=True),
    "frSF": dict(rule="frsf"),
    "brSF": dict(rule="brsf"),
    "BP": dict(rule="bp"),
    "FA + momentum 0.9": dict(rule="fa", sgd=dict(momentum=0.9)),
    "FA + weight decay": dict(rule="fa", sgd=dict(weight_decay=1e-2)),
    "FA, tanh units": dict(rule="fa", activation="tanh"),
}
rows = {}
for name, case in cases.items():
    net = theory.small_network(case["rule"], bias=case.get("bias", False),
                               activation=case.get("activation", "leaky_relu"))
    rows[name] = theory.step_identity_residual(net, x, y, lr=0.05, steps=200, **case.get("sgd", {}))
identity = pd.DataFrame(rows).T
exact = ["FA", "FA with biases", "adaFA", "sign-FA", "sign-FA with biases", "frSF", "brSF", "BP"]
glue("identity_worst", identity.loc[exact, "residual of the full identity"].max())
glue("identity_largest", identity.loc[exact, "largest one-step change"].max())
broken = ["FA + momentum 0.9", "FA + weight decay", "FA, tanh units"]
glue("broken_smallest", identity.loc[broken, "residual of the full identity"].min())
glue("signfa_flip_steps", identity.loc["sign-FA", "steps on which B moved"])
shown = identity.copy()
for col in shown.columns[:3]:
    shown[col] = shown[col].map(lambda v: f"{v:.1e}")
shown["steps on which B moved"] = shown["steps on which B moved"].astype(int)
shown

# %% [markdown]
# For every layer rule the identity holds to round-off: the largest residual over all units and
# steps is {glue:text}`identity_worst:.1e`, against one-step changes of up to
# {glue:text}`identity_largest:.2g`. Biases change nothing once they are counted as incoming
# weights. The simple form $-\tfrac12\lVert\Delta W_i[:,j]\rVert^2$ is exact only where the
# feedback does not move: FA and adaFA always, sign-FA and frSF on the steps where no outgoing
# weight changes sign (sign-FA's feedback moved on {glue:text}`signfa_flip_steps:.0f` of the 200
# steps), brSF never (it redraws its magnitudes every step), and BP never. Momentum, weight
# decay and $\tanh$ break the identity itself, with residuals of at least
# {glue:text}`broken_smallest:.1e`.
#
# ## Drift against step size
#
# Summing the identity over the steps of a fixed-feedback run gives the total drift exactly:
# $P_j(T) - P_j(0) = -\tfrac12\sum_k \lVert\Delta W_i^{(k)}[:,j]\rVert^2
# = -\tfrac12\,\eta^2 \sum_k \lVert G_i^{(k)}[:,j]\rVert^2 \approx
# -\tfrac12\,\eta\int_0^T\lVert G_i[:,j]\rVert^2\,dt$, since $T/\eta$ steps fill the time $T$.
# So the drift at a fixed time should be **proportional to the step size**: a line of slope 1
# on log–log axes, vanishing in the flow limit. Sign-FA's extra jumps obey the same order: an
# entry that crosses zero in one step ends within $\lvert\Delta w\rvert = O(\eta)$ of zero, and
# the number of crossings up to time $T$ does not grow as $\eta$ shrinks. A broken assumption
# shows up as a drift that does not vanish: its flow itself changes $P_j$.
#
# Below, the largest $\lvert P_j(T) - P_j(0)\rvert$ over the sixteen units at $T = 2$, for step
# sizes from $0.2$ down to $0.002$. With momentum $\mu$ the optimiser's step is
# $\eta(1-\mu)$, so that heavy-ball follows the same flow at the same speed.

# %%
steps = [0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002]
variants = {   # label: (colour rule, line style, marker, network, drift options)
    "FA": ("fa", "-", "o", dict(rule="fa"), {}),
    "adaFA": ("adafa", "-", "o", dict(rule="adafa"), {}),
    "sign-FA": ("signfa", "-", "o", dict(rule="signfa"), {}),
    "FA, biases counted": ("fa", "--", "s", dict(rule="fa", bias=True), {}),
    "FA + momentum 0.9": ("fa", "-.", "D", dict(rule="fa"), dict(momentum=0.9)),
    "FA, biases left out (App. B.1)": ("fa", ":", "s", dict(rule="fa", bias=True),
                                       dict(include_bias=False)),
    "FA + weight decay 0.01": ("fa", ":", "^", dict(rule="fa"), dict(weight_decay=1e-2)),
    "FA, tanh units": ("fa", ":", "x", dict(rule="fa", activation="tanh"), {}),
    "BP": ("bp", "-", "o", dict(rule="bp"), {}),
}
drifts, slopes = {}, {}
for label, (_, _, _, net_kw, drift_kw) in variants.items():
    drifts[label] = [theory.potential_drift(lambda: theory.small_network(**net_kw), x, y, lr=eta,
                                            horizon=2.0, **drift_kw) for eta in steps]
    slopes[label] = (theory.loglog_slope(steps, drifts[label]),
                     theory.loglog_slope(steps[-3:], drifts[label][-3:]))
for key, label in [("fa", "FA"), ("adafa", "adaFA"), ("signfa", "sign-FA"),
                   ("bias", "FA, biases counted"), ("momentum", "FA + momentum 0.9"),
                   ("printed", "FA, biases left out (App. B.1)"),
                   ("wd", "FA + weight decay 0.01"), ("tanh", "FA, tanh units"), ("bp", "BP")]:
    # The prose prints slopes to two decimals (three fitted points support no more); rounded
    # here, and + 0.0 turns a rounded -0.0 into 0.0, so a flat drift never reads "-0.00".
    glue(f"slope_{key}", round(float(slopes[label][0]), 2) + 0.0)
    glue(f"slope_small_{key}", round(float(slopes[label][1]), 2) + 0.0)
glue("drift_fa_smallest", drifts["FA"][-1])
_ = glue("drift_momentum_ratio", drifts["FA + momentum 0.9"][-1] / drifts["FA"][-1])

# %% mystnb={"image": {"alt": "Log-log plot of the largest drift of the per-unit potential at time 2 against the step size: FA, adaFA, sign-FA, FA with biases counted and FA with momentum fall on lines of slope about one, while weight decay, tanh units, biases left out of the potential and backprop stay flat."}}
fig, ax = plt.subplots(figsize=(7.4, 4.4))
for label, (rule, ls, marker, _, _) in variants.items():
    ax.plot(steps, drifts[label], ls=ls, marker=marker, color=plots.RULE_COLORS[rule], lw=1.3,
            ms=5, label=f"{label} (slope {slopes[label][0]:.2f})")
ax.plot(steps, [drifts["FA"][0] * s / steps[0] for s in steps], color="black", lw=0.8,
        alpha=0.5, label="slope 1 (reference)")
ax.set(xscale="log", yscale="log", xlabel="step size η (unitless)",
       ylabel="max over units |P_j(2) − P_j(0)|  (unitless)")
ax.legend(fontsize=7.5, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
fig.tight_layout()

# %% [markdown]
# The drift of FA falls with slope {glue:text}`slope_fa:.2f`, adaFA's with
# {glue:text}`slope_adafa:.2f`, sign-FA's with {glue:text}`slope_signfa:.2f`, and FA with counted
# biases with {glue:text}`slope_bias:.2f` (over the three smallest steps:
# {glue:text}`slope_small_fa:.2f`, {glue:text}`slope_small_adafa:.2f`,
# {glue:text}`slope_small_signfa:.2f` and {glue:text}`slope_small_bias:.2f`; sign-FA's is the
# noisiest, since whether a sign change falls in a step is a matter of luck): first order in the
# step, as the summed identity predicts; at the smallest step FA's drift is {glue:text}`drift_fa_smallest:.1e`.
#
# *Momentum* breaks the one-step identity, not the law: the heavy-ball update is a weighted sum
# of past updates, each computed where the weights used to be, so
# $\langle\Delta W_i[:,j], W_i[:,j]\rangle$ no longer matches
# $\langle\Delta W_{i+1}[j,:], B_{i+1}[j,:]\rangle$. The mismatch is of the order of how far the
# weights moved during the memory of the momentum, so it also shrinks with the step. At large
# steps it saturates, which pulls the overall slope down to {glue:text}`slope_momentum:.2f`; over
# the three smallest steps it is {glue:text}`slope_small_momentum:.2f`, and the drift is
# {glue:text}`drift_momentum_ratio:.0f` times FA's at the smallest step.
#
# The other assumptions fail at the level of the flow, and their drift does not vanish: over the
# three smallest steps the slopes are {glue:text}`slope_small_printed:.2f` for the potential
# without the bias, {glue:text}`slope_small_wd:.2f` for weight decay,
# {glue:text}`slope_small_tanh:.2f` for $\tanh$ and {glue:text}`slope_small_bp:.2f` for BP.
# Weight decay adds $-\lambda W$ to every update, so the flow changes $P_j$ at the rate
# $\lambda\,(\lVert W_i[:,j]\rVert^2 - \langle W_{i+1}[j,:], B_{i+1}[j,:]\rangle)$. With $\tanh$,
# $\phi'(z)\,z \ne \phi(z)$, and the flow changes $P_j$ at the rate
# $\sum_k (\phi'(h_{ij}^{(k)}) h_{ij}^{(k)} - a_{ij}^{(k)})\langle\tilde\delta_{i+1}^{(k)},
# B_{i+1}[j,:]\rangle$. Leaving out the bias drops a term whose own change is first order. BP
# has $B = W$ moving with the weights.
#
# ## Sign-FA: the feedback moves with the weights
#
# Sign-FA's feedback is recomputed from the weights at every step. The law survives in the flow,
# but in steps each sign change of an outgoing weight makes the potential *jump up* by
# $2s\lvert w'\rvert$, while the fixed-feedback part keeps pulling it down. The ledger below
# tracks, over 500 steps of size $\eta = 0.02$, the measured change of the potential of the unit with the
# largest jumps, the accumulated $-\tfrac12\lVert\Delta W_i[:,j]\rVert^2$, and the accumulated
# feedback term, next to an FA unit where only the first is present.

# %%
ledgers = {rule: theory.potential_ledger(theory.small_network(rule), x, y, lr=0.02, steps=500)
           for rule in ("fa", "signfa")}
worst_ledger = max(float((l.change - l.incoming - l.feedback).abs().max()) for l in ledgers.values())
glue("ledger_residual", worst_ledger)
sign_unit = int(ledgers["signfa"].feedback[-1].abs().argmax())
fa_unit = int(ledgers["fa"].change[-1].abs().argmax())
glue("sign_jump_total", float(ledgers["signfa"].feedback[-1, sign_unit]))
_ = glue("sign_incoming_total", -float(ledgers["signfa"].incoming[-1, sign_unit]))

# %% mystnb={"image": {"alt": "Change of one hidden unit's potential against time, left for FA (a smooth slow decrease equal to the accumulated squared steps) and right for sign-FA (upward jumps at sign changes of outgoing weights on top of the same slow decrease), with the measured change lying on the sum of the two terms."}}
fig, axes = plt.subplots(1, 2, figsize=(10, 3.3), sharey=False)
for ax, rule, unit in [(axes[0], "fa", fa_unit), (axes[1], "signfa", sign_unit)]:
    led, colour = ledgers[rule], plots.RULE_COLORS[rule]
    t = led.t[1:]                                     # log time axis: from the first step
    ax.plot(t, led.change[1:, unit], color=colour, lw=3, alpha=0.4, label="measured P_j(t) − P_j(0)")
    ax.plot(t, led.incoming[1:, unit], color="black", lw=1.1, ls="--",
            label="Σ −½‖ΔW_i[:, j]‖²")
    if rule == "signfa":
        ax.plot(t, led.feedback[1:, unit], color=colour, lw=1.1, ls=":",
                label="Σ ⟨W′, ΔB⟩ (sign changes)")
    ax.set(title=f"{plots.RULE_LABELS[rule]}, unit {unit}", xscale="log",
           xlabel="time t (step size × steps, log scale)", ylabel="potential change (unitless)")
    ax.legend(fontsize=8, frameon=False)
fig.tight_layout()

# %% [markdown]
# The two terms add up to the measured change to {glue:text}`ledger_residual:.1e`. For the
# sign-FA unit the jumps add up to {glue:text}`sign_jump_total:.3g` while the squared steps take
# away {glue:text}`sign_incoming_total:.3g`: the law holds only in the flow limit, where both
# vanish. The paper's proof handles the same moments by noting that the potential is continuous
# across a sign change; in discrete training the continuity is lost, and this is the extra drift
# sign-FA shows in the figure above.
#
# ## Exercises

# %% [markdown] exercise={"level": "intermediate", "minutes": 30, "needs": "nothing"}
# :::{admonition} Exercise 1: one step at twice the size
# :class: tip
# Starting from the same FA network, take one plain SGD step of size $\eta$ and, separately, one
# of size $2\eta$. Predict the ratio of the two changes of each unit's potential, then check it
# with `theory.snapshot` and `theory.potentials` around `theory.sgd_run(..., steps=1)`.
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 1
# From the same starting point the update $G$ is the same, and the change is
# $-\tfrac12\eta^2\lVert G_i[:,j]\rVert^2$: doubling the step multiplies it by exactly 4, for
# every unit, to round-off.
# :::

# %% tags=["solution", "hide-cell"]
import torch

changes = []
for eta in (0.05, 0.1):
    net = theory.small_network("fa")
    before = theory.potentials(theory.snapshot(net))
    theory.sgd_run(net, x, y, lr=eta, steps=1)
    after = theory.potentials(theory.snapshot(net))
    changes.append(torch.cat([a - b for a, b in zip(after, before)]))
big = changes[0].abs() > 1e-9                      # units whose change is above round-off
ratio = changes[1][big] / changes[0][big]
# Four decimals: the changes are of order 1e-6, so their ratio's seventh digit is round-off
# and moves with the CPU's kernels.
print(f"ratio of the changes over {int(big.sum())} of the 16 units: from {ratio.min():.4f} to "
      f"{ratio.max():.4f}; largest |change(2 eta) - 4 change(eta)| over all 16: "
      f"{(changes[1] - 4 * changes[0]).abs().max():.1e}")

# %% [markdown] exercise={"level": "intermediate", "minutes": 30, "needs": "nothing"}
# :::{admonition} Exercise 2: what backpropagation conserves
# :class: tip
# For BP the feedback is the weight itself. Predict which combination of
# $\lVert W_{i+1}[j,:]\rVert^2$ and $\lVert W_i[:,j]\rVert^2$ gradient flow keeps fixed, and
# what one plain step does to it exactly. Check on a BP network over 200 steps of size
# $\eta = 0.05$.
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 2
# With $B = W$ the per-example identity reads $\langle G_i[:,j], W_i[:,j]\rangle =
# \langle G_{i+1}[j,:], W_{i+1}[j,:]\rangle$, so gradient flow keeps
# $Q_j = \tfrac12\lVert W_{i+1}[j,:]\rVert^2 - \tfrac12\lVert W_i[:,j]\rVert^2$ fixed
# {cite}`du2018algorithmic`. One step changes it by exactly
# $\tfrac12\lVert\Delta W_{i+1}[j,:]\rVert^2 - \tfrac12\lVert\Delta W_i[:,j]\rVert^2$ (expand the
# squares and use the identity), a second-order amount like FA's.
# :::

# %% tags=["solution", "hide-cell"]
def balance(s):
    return [0.5 * s.weights[i + 1].pow(2).sum(0) - 0.5 * s.weights[i].pow(2).sum(1)
            for i in range(len(s.weights) - 1)]


worst = [0.0, 0.0]


def record(step, before, after):
    for i, (q0, q1) in enumerate(zip(balance(before), balance(after))):
        predicted = (0.5 * (after.weights[i + 1] - before.weights[i + 1]).pow(2).sum(0)
                     - 0.5 * (after.weights[i] - before.weights[i]).pow(2).sum(1))
        worst[0] = max(worst[0], float((q1 - q0 - predicted).abs().max()))
        worst[1] = max(worst[1], float((q1 - q0).abs().max()))


theory.sgd_run(theory.small_network("bp"), x, y, lr=0.05, steps=200, record=record)
print(f"BP: largest one-step change of Q_j {worst[1]:.2e}, residual of the exact step formula {worst[0]:.1e}")

# %% [markdown] exercise={"level": "intermediate", "minutes": 30, "needs": "nothing"}
# :::{admonition} Exercise 3: mini-batches
# :class: tip
# Stochastic gradient descent uses a different batch at every step. Predict whether the exact
# one-step identity survives mini-batches of 8 examples, and whether the drift at $T = 2$ still
# falls in proportion to the step. Check with `theory.step_identity_residual(...,
# batch_size=8)`, and with a few calls of `theory.sgd_run` and `theory.potentials`.
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 3
# The identity behind the law holds example by example, so it holds for any batch: the one-step
# formula is exact for mini-batches too, and the drift is again the sum of
# $\tfrac12\lVert\Delta W_i[:,j]\rVert^2$ over the steps, first order in the step size.
# :::

# %% tags=["solution", "hide-cell"]
res = theory.step_identity_residual(theory.small_network("fa"), x, y, lr=0.05, steps=200,
                                    batch_size=8)
print(f"mini-batches of 8: residual of the identity {res['residual of the full identity']:.1e}")
mb_drift = []
for eta in (0.02, 0.01, 0.005):
    net = theory.small_network("fa")
    p0 = torch.cat(theory.potentials(theory.snapshot(net)))
    theory.sgd_run(net, x, y, lr=eta, steps=int(round(2.0 / eta)), batch_size=8)
    mb_drift.append(float((torch.cat(theory.potentials(theory.snapshot(net))) - p0).abs().max()))
print("drift at T = 2 for steps 0.02, 0.01, 0.005:", ", ".join(f"{d:.2e}" for d in mb_drift),
      f"(slope {theory.loglog_slope([0.02, 0.01, 0.005], mb_drift):.2f})")
