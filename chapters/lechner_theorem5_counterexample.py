# %% [markdown]
# # Lechner Theorem 5: a counterexample
#
# *With several outputs mDFA can point against the gradient.*
#
# The sign guarantee of mDFA (previous chapter) rests on the output error being a single number.
# With $n_L \ge 2$ outputs the error $e = \partial\mathcal L/\partial h_L$ is a vector whose entries
# can have different signs, and the signal that reaches hidden unit $i$ of layer $l$ is a mixture
# of them: the gradient mixes them with the non-negative weights $(\partial h_L/\partial h_l)_{k,i}$,
# mDFA with the non-negative feedback $B_{k,i}$,
#
# $$
# \text{gradient: } \sum_{k=1}^{n_L} e_k\Bigl(\frac{\partial h_L}{\partial h_l}\Bigr)_{k,i},
# \qquad
# \text{mDFA: } \sum_{k=1}^{n_L} e_k\,B_{k,i} .
# $$
#
# Two positive mixtures of numbers of both signs can have opposite signs, and then every
# parameter of unit $i$ is pushed the wrong way. Theorem 5 of {cite:t}`lechner2020learning` says
# exactly this (a coordinate with $(\delta\theta)_{ij}(\nabla\theta)_{ij} < 0$ can exist), and
# proves it with a two-output, two-hidden-unit example. The example's idea is right; its printed
# arithmetic is not. We redo it, give a counterexample whose numbers hold, run it through the
# library's `mdfa` rule, and measure how often random two-output mono-nets fall into the trap.

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
profile = "paper"          # "smoke": fewer random draws, same checks
device = "cpu"             # small float64 computations on the CPU

# %%
import time

import matplotlib.pyplot as plt
import pandas as pd
import torch

from falign import monotone, plots
from falign.chapters import glue, live_provenance_card

plots.set_style()
draws = 2000 if profile == "paper" else 100
widths = [1, 2, 4, 8, 16, 32]
started = time.perf_counter()

# %% [markdown]
# ## The printed arithmetic, redone
#
# The proof sets $W_2 = \begin{pmatrix}0&1\\1&0\end{pmatrix}$ (eq. 44), $B_2 = I$ (eq. 45),
# $\partial\mathcal L/\partial h_L = \begin{pmatrix}1&0\\0&-1\end{pmatrix}$ (eq. 46) and
# $\partial h_1/\partial\theta = I$ (eq. 47), then evaluates
# $\nabla\theta = \frac{\partial\mathcal L}{\partial h_L}W_2^\top\frac{\partial h_1}{\partial\theta}$
# (eqs. 49-51) and $\delta\theta = \frac{\partial\mathcal L}{\partial h_L}B_2\frac{\partial h_1}{\partial\theta}$
# (eqs. 52-54). Below, each product as eqs. (50) and (53) print it (their third factor is the swap
# matrix, not eq. (47)'s $I$), the same products with $I$, and the printed results.

# %%
printed = monotone.theorem5_printed()
show = lambda m: str(m.to(torch.int64).tolist())                  # noqa: E731
rows = {
    "∇θ, eq. (50) as printed (third factor: swap)": show(printed["eq50_as_printed"]),
    "∇θ, eq. (49) with eq. (47)'s I": show(printed["eq50_with_eq47"]),
    "∇θ, printed result eq. (51)": show(printed["eq51_printed"]),
    "δθ, eq. (53) as printed (third factor: swap)": show(printed["eq53_as_printed"]),
    "δθ, eq. (52) with eq. (47)'s I": show(printed["eq53_with_eq47"]),
    "δθ, printed result eq. (54)": show(printed["eq54_printed"]),
}
consistent = printed["eq50_with_eq47"] * printed["eq53_with_eq47"]
as_printed = printed["eq50_as_printed"] * printed["eq53_as_printed"]
results = printed["eq51_printed"] * printed["eq54_printed"]
glue("consistent_min", float(consistent.min()) + 0.0)      # + 0.0: no "-0"
glue("consistent_inner", float(consistent.sum()) + 0.0)
glue("as_printed_min", float(as_printed.min()) + 0.0)
glue("results_min", float(results.min()))
glue("results_inner", float(results.sum()))
pd.DataFrame({"matrix": list(rows.values())}, index=list(rows))

# %% [markdown]
# The proof breaks in three places.
#
# 1. **Eq. (50) does not give eq. (51).** As printed, (50) multiplies by the swap matrix twice and
#    gives $\operatorname{diag}(1, -1)$; with eq. (47)'s $I$ it gives
#    $\begin{pmatrix}0&1\\-1&0\end{pmatrix}$. Neither is the printed $\operatorname{diag}(-1, 1)$.
# 2. **Eq. (53) does not give eq. (54)** as printed (it gives $\begin{pmatrix}0&1\\-1&0\end{pmatrix}$);
#    with eq. (47)'s $I$ it does.
# 3. **"Orthogonal" is not what the theorem needs.** Computed consistently (with $I$ in both, or
#    with the swap in both), the coordinate-wise products are all zero (the smallest is
#    {glue:text}`consistent_min:.0f` computed consistently and {glue:text}`as_printed_min:.0f` as
#    printed) and the
#    matrices are orthogonal (inner product {glue:text}`consistent_inner:.0f`), but eq. (43) asks
#    for a *negative* product, which this does not exhibit. The printed results (51) and (54), for
#    their part, are not orthogonal: their products are {glue:text}`results_min:.0f` on the
#    diagonal and their inner product is {glue:text}`results_inner:.0f`.
#
# A further slip of notation: eq. (46) gives $\partial\mathcal L/\partial h_L$ as a $2\times 2$
# matrix, where for one example it is a vector of two entries.
#
# ## A counterexample that holds
#
# Keep $W_2$ the swap matrix and $B = I$ (both $\ge 0$, so this is an mDFA mono-net) and take the
# error vector of one example $e = (1, -1)$. The gradient's hidden signal is $eW_2 = (-1, 1)$,
# mDFA's is $eB = (1, -1)$: opposite in both units. Any first-layer parameter $\theta$ of unit $i$
# has $\partial (h_1)_i/\partial\theta$ of one sign shared by both updates, so every first-layer
# coordinate has a negative product. As a working network: one input $x = 0.5$, $W_1 = (1, -1)^\top$,
# $b_1 = (0.2, -0.3)$, tanh units, $b_2 = 0$, squared loss with the target set so that
# $e = (1, -1)$.

# %%
true_signal, mdfa_signal = monotone.hidden_signals(monotone.PERMUTATION, monotone.IDENTITY,
                                                   torch.tensor([1.0, -1.0]))
net, x, y = monotone.theorem5_network()
updates = {n: (d, g) for n, d, g in monotone.mdfa_update_and_gradient(net, x, y, loss="square")}
products = monotone.sign_products(net, x, y, loss="square", several_outputs=True)
first_layer = torch.cat([products["0.weight"].flatten(), products["0.bias"].flatten()])
glue("first_layer_max_product", float(first_layer.max()))
glue("output_layer_min_product", float(torch.cat([products["2.weight"].flatten(),
                                                  products["2.bias"].flatten()]).min()))
table = pd.DataFrame({
    "mDFA update δθ": torch.cat([updates["0.weight"][0].flatten(), updates["0.bias"][0]]).numpy(),
    "gradient ∇θ": torch.cat([updates["0.weight"][1].flatten(), updates["0.bias"][1]]).numpy(),
}, index=["W1[1]", "W1[2]", "b1[1]", "b1[2]"]).round(4)
table

# %% [markdown]
# Every first-layer coordinate of the library's mDFA update has the opposite sign of the gradient
# (largest product {glue:text}`first_layer_max_product:.3g`), while the output layer, which mDFA
# trains with its true gradient, agrees (smallest product {glue:text}`output_layer_min_product:.3g`).
#
# ## How often, for random two-output mono-nets?
#
# For a one-hidden-layer mono-net the hidden signals are $eW_2$ and $eB$. We draw $W_2$ and $B$ with
# entries $\lvert\mathcal N(0,1)\rvert$ and $e \sim \mathcal N(0, I_2)$, {glue:text}`draws:.0f` times
# per hidden width, and count the draws in which at least one hidden unit receives opposite signals.

# %%
glue("draws", draws)
flip = [monotone.random_two_output_violation(m, trials=draws, seed=m) for m in widths]
glue("flip_1", flip[0])
glue("flip_32", flip[-1])
wall_s = time.perf_counter() - started

# %% mystnb={"image": {"alt": "Left: bar chart of the error signal reaching each of the two hidden units in the valid counterexample, minus one and plus one for the gradient and plus one and minus one for mDFA, opposite in both units. Right: the fraction of random two-output mono-nets in which at least one hidden unit receives opposite signals, rising with the number of hidden units towards one half."}}
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [1, 1.3]})
units = torch.arange(2)
ax1.bar(units - 0.18, true_signal.numpy(), width=0.34, color=plots.RULE_COLORS["bp"],
        label="true gradient: e W₂")
ax1.bar(units + 0.18, mdfa_signal.numpy(), width=0.34, color=plots.RULE_COLORS["mdfa"],
        label=f"{plots.RULE_LABELS['mdfa']}: e B")
ax1.axhline(0, color="black", lw=0.8)
ax1.set_xticks([0, 1], ["hidden unit 1", "hidden unit 2"])
ax1.set(ylabel="error signal at the unit (unitless)", ylim=(-1.6, 1.6))
ax1.legend(frameon=False, fontsize=8, loc="upper left")
ax2.plot(widths, flip, marker="o", color=plots.RULE_COLORS["mdfa"],
         label=f"{plots.RULE_LABELS['mdfa']}, 2 outputs")
ax2.axhline(0.5, color="black", lw=0.8, ls="--", label="ceiling: errors of opposite signs")
ax2.set(xscale="log", xlabel="hidden units (count)",
        ylabel="draws with a flipped unit (fraction)", ylim=(0, 1))
ax2.set_xticks(widths, [str(w) for w in widths])
ax2.legend(frameon=False, fontsize=8)
fig.tight_layout()

# %% [markdown]
# With a single hidden unit {glue:text}`flip_1:.2f` of the draws flip it; with 32 hidden units
# {glue:text}`flip_32:.2f` of the draws have at least one flipped unit. A flip needs errors of
# opposite signs: when both entries of $e$ share a sign, both mixtures share it too, which happens
# in half of the Gaussian draws, so the fraction cannot pass one half. The multi-class results of
# Lechner's Tables 3-6, where mDFA falls behind, are consistent with this; this chapter does not
# test them.
#
# ## The paper's statements beside ours
#
# | item | printed | ours |
# |---|---|---|
# | eq. (50) → (51) | $\operatorname{diag}(-1, 1)$ | $\operatorname{diag}(1, -1)$ as printed; $\begin{pmatrix}0&1\\-1&0\end{pmatrix}$ with eq. (47) |
# | eq. (53) → (54) | $\operatorname{diag}(1, -1)$ | $\begin{pmatrix}0&1\\-1&0\end{pmatrix}$ as printed; $\operatorname{diag}(1, -1)$ with eq. (47) |
# | conclusion | "orthogonal" | consistent products all {glue:text}`consistent_min:.0f`: orthogonal, but no negative coordinate; printed (51)·(54) has inner product {glue:text}`results_inner:.0f` |
# | Theorem 5 | a coordinate with a negative product can exist for $n_L \ge 2$ | true: $W_2$ = swap, $B = I$, $e = (1, -1)$ flips every first-layer coordinate |
#
# ## Readings where the text is silent
#
# | item | the text | our reading | why |
# |---|---|---|---|
# | eq. (46) | a $2\times2$ matrix | the error of one example, the vector $(1, -1)$ | a loss gradient of one example has one entry per output |
# | $\theta$ | unspecified, with $\partial h_1/\partial\theta = I$ | the first layer's weights and biases | their $\partial (h_1)_i/\partial\theta$ is a positive multiple of one entry per unit |
# | network | only $W_2$, $B_2$ | input $x = 0.5$, $W_1 = (1,-1)^\top$, $b_1 = (0.2, -0.3)$, tanh, squared loss | any choice works; these keep $f' > 0$ |
# | random draws | none | $\lvert\mathcal N(0,1)\rvert$ weights and feedback, Gaussian errors | the simplest symmetric choice |
#
# ## Provenance

# %% tags=["nbval-ignore-output"]
live_provenance_card(profile, {"networks": "hand-built 1 → 2 → 2 tanh mono-net; random "
                               "one-hidden-layer heads with 2 outputs",
                               "draws": f"{draws} per hidden width {widths}",
                               "dtype": "float64"}, wall_s)

# %% [markdown]
# ## Exercises

# %% [markdown] exercise={"level": "intermediate", "minutes": 20, "needs": "nothing"}
# :::{admonition} Exercise 1: which errors flip the swap example?
# :class: tip
# Keep $W_2$ the swap matrix and $B = I$. For which error vectors $e = (e_1, e_2)$ does a hidden
# unit receive opposite signals? Predict the fraction for $e \sim \mathcal N(0, I_2)$ and check
# with `monotone.hidden_signals`.
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 1
# The gradient's signal is $(e_2, e_1)$ and mDFA's $(e_1, e_2)$: unit 1 gets $e_2$ against $e_1$,
# unit 2 the same pair, so both units flip exactly when $e_1 e_2 < 0$: half of the Gaussian draws.
# :::

# %% tags=["solution", "hide-cell"]
gen = torch.Generator().manual_seed(0)
hits = 0
for _ in range(4000):
    t_sig, m_sig = monotone.hidden_signals(monotone.PERMUTATION, monotone.IDENTITY,
                                           torch.randn(2, generator=gen, dtype=torch.float64))
    hits += bool((t_sig * m_sig < 0).any())
print(f"fraction of 4000 Gaussian errors that flip a unit: {hits / 4000:.3f}")

# %% [markdown] exercise={"level": "starter", "minutes": 15, "needs": "nothing"}
# :::{admonition} Exercise 2: feedback equal to the weights
# :class: tip
# In a one-hidden-layer mono-net with several outputs, choose the mDFA feedback $B = W_2$.
# Predict the coordinate-wise products, and check on `monotone.theorem5_network()` with its
# feedback replaced by the swap matrix.
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 2
# With one hidden layer $\partial h_L/\partial h_1 = W_2$, so $B = W_2$ makes mDFA's hidden
# signal the true one: the update *is* the gradient, every product is a square and $\ge 0$,
# whatever the number of outputs. Theorem 5's failure is a mismatch between $B$ and the
# network's own Jacobian, which a single output hides because then only signs matter.
# :::

# %% tags=["solution", "hide-cell"]
from falign.layers import feedback_layers

net_b, x_b, y_b = monotone.theorem5_network()
with torch.no_grad():
    feedback_layers(net_b)[1].feedback_store.copy_(monotone.PERMUTATION)
gaps = [float((d - g).abs().max())
        for _, d, g in monotone.mdfa_update_and_gradient(net_b, x_b, y_b, loss="square")]
print(f"largest |delta - nabla| over all parameters with B = W2: {max(gaps):.1e}")
