# %% [markdown]
# # Prop. 5.3, Lemma 5.4: alignment floors
#
# *Proposition 5.3 and Lemma 5.4: floors under the alignment of sign-FA and FA.*
#
# Two short results of {cite:t}`robertson2024implicit` bound the cosine between a layer's
# weights and its feedback from below. Proposition 5.3 is about sign-FA, whose feedback is
# $B = s\,\mathrm{sign}(W)$; Lemma 5.4 is about the output layer of a scalar-output network
# trained by FA, and is the first application of the conservation law (Theorem 5.2). This
# chapter states both, tracks them through training, corrects the last step of the lemma's
# proof, and shows what happens when the lemma's condition fails. The same argument gives the
# sign-FA condition of Proposition 5.7, whose printed form is corrected here too.
#
# :::{admonition} Proposition 5.3 (in our words)
# :class: note
# **Assumptions.** None beyond sign-FA itself: any matrix $W$ with $n$ entries, and $B =
# s\,\mathrm{sign}(W)$ with $s > 0$ (with the paper's convention $\mathrm{sign}(0) = -1$).
#
# **Conclusion.** $\cos(W, B) = \dfrac{\langle W, B\rangle}{\lVert W\rVert_F\lVert B\rVert_F}
# = \dfrac{\lVert W\rVert_1}{\sqrt n\,\lVert W\rVert_F} \in \Bigl[\dfrac{1}{\sqrt n},\,
# 1\Bigr]$, so every layer trained by sign-FA has cosine at least $1/\sqrt n$ at every moment.
# :::
#
# The proof is the pair of norm inequalities $\lVert W\rVert_F \le \lVert W\rVert_1 \le
# \sqrt n\,\lVert W\rVert_F$; nothing about training enters, so the bound holds at every step of
# any run, discrete or not, and also for the layers of a network with biases. It is tight: the
# floor is reached by a matrix with a single nonzero entry, the ceiling by one whose entries all
# have the same magnitude. For the layer sizes of the paper the floor is small (below $0.1$ once
# a layer has more than 100 weights) while typical weight matrices sit far above it.

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
import math

import matplotlib.pyplot as plt
import torch

from falign import plots, theory
from falign.chapters import glue
from falign.measurements import alignment_cosine_from, layer_alignment, weight_layers
from falign.rules import paper_sign

plots.set_style()

# %% [markdown]
# ## Proposition 5.3, checked
#
# First on matrices alone: 2000 random matrices of 1 to 60 entries, most of whose entries are
# set to zero at random (from none to all but one), so that the sparse matrices near the floor
# are well represented. We compare the closed form $\lVert W\rVert_1/(\sqrt n\lVert W\rVert_F)$
# with the cosine computed directly, and the cosine with the floor.

# %%
gen = torch.Generator().manual_seed(0)
agree, lowest = 0.0, float("inf")
for _ in range(2000):
    n = int(torch.randint(1, 61, (1,), generator=gen))
    W = torch.randn(n, generator=gen, dtype=torch.float64)
    W[torch.randperm(n, generator=gen)[:int(torch.randint(0, n, (1,), generator=gen))]] = 0.0
    direct = float(alignment_cosine_from(W, paper_sign(W), 1))
    agree = max(agree, abs(direct - theory.sign_alignment(W)))
    lowest = min(lowest, direct * math.sqrt(n))
glue("p53_agree", agree)
_ = glue("p53_lowest", lowest)

# %% [markdown]
# The closed form and the direct cosine agree to {glue:text}`p53_agree:.1e`, and the smallest
# value of $\sqrt n\cos(W, \mathrm{sign}\,W)$ over all 2000 matrices is
# {glue:text}`p53_lowest:.6f`: never below 1 beyond round-off, and equal to it for the
# one-entry matrices.
#
# Then through training: the library's 6 → 8 → 8 → 3 leaky-ReLU network, trained by sign-FA
# (`falign.convert(..., "signfa")`, scale $s = \sqrt{2/(\text{fan-in} + \text{fan-out})}$) and,
# for contrast, by FA, with 300 full-batch SGD steps of size $\eta = 0.05$ on three-class Gaussian
# data. The cosine of each layer is recorded at every step.

# %%
x, y = theory.toy_classification()
history = {}
for rule in ("signfa", "fa"):
    cosines = []
    net = theory.small_network(rule, bias=True)
    cosines.append(layer_alignment(net))
    theory.sgd_run(net, x, y, lr=0.05, steps=300,
                   record=lambda step, before, after, net=net: cosines.append(layer_alignment(net)))
    history[rule] = torch.tensor(cosines, dtype=torch.float64)
sizes = [layer.weight.numel() for layer in weight_layers(net)]
floors = torch.tensor([1 / math.sqrt(n) for n in sizes], dtype=torch.float64)
glue("signfa_margin", float((history["signfa"] - floors).min()))
glue("signfa_min_cos", float(history["signfa"].min()))
_ = glue("fa_min_cos", float(history["fa"].min()))

# %% mystnb={"image": {"alt": "Cosine between weights and feedback against training step for the three layers of a small network, sign-FA in orange staying far above the dotted floor one over the square root of the number of weights, FA in blue starting near zero and partly negative."}}
fig, axes = plt.subplots(1, 3, figsize=(11, 3.0), sharey=True)
steps_axis = torch.arange(history["fa"].shape[0])
for k, ax in enumerate(axes):
    for rule in ("signfa", "fa"):
        ax.plot(steps_axis, history[rule][:, k], color=plots.RULE_COLORS[rule], lw=1.5,
                label=plots.RULE_LABELS[rule])
    ax.axhline(float(floors[k]), color="black", lw=0.9, ls=":", label="floor 1/√n")
    ax.axhline(0.0, color="grey", lw=0.6)
    ax.set(title=f"layer {k + 1} ({sizes[k]} weights)", xlabel="SGD step")
axes[0].set_ylabel("cos(W, B)  (unitless)")
axes[0].legend(frameon=False, fontsize=8)
fig.tight_layout()

# %% [markdown]
# Sign-FA's cosines never come near the floor: the smallest is
# {glue:text}`signfa_min_cos:.3f`, at least {glue:text}`signfa_margin:.3f` above the floor of its
# layer. FA's feedback is random, has no floor, and its cosines go as low as
# {glue:text}`fa_min_cos:.3f` here. Proposition 5.3 is true and cannot fail, which is also its
# limit: it is a fact about every matrix, not something training achieves.
#
# ## Lemma 5.4: the output weights keep their sign
#
# :::{admonition} Lemma 5.4 (in our words)
# :class: note
# **Assumptions.** A bias-free network with a positively homogeneous activation (leaky ReLU) and
# a scalar output, trained by the FA flow with output feedback $b_L[j] = 1$ for every unit $j$ of
# the last hidden layer, started from $w_L[j](0) = 1$ and incoming weights with
# $\lVert W_{L-1}[:,j](0)\rVert < \sqrt 2$.
#
# **Conclusion.** For all $t \ge 0$,
# $w_L[j](t) \;\ge\; 1 - \tfrac12\lVert W_{L-1}[:,j](0)\rVert^2 \;>\; 0$. If this holds for
# every unit, all output weights stay positive and, by the argument of Proposition 5.3,
# $\cos(w_L, b_L) = \lVert w_L\rVert_1/(\sqrt m\,\lVert w_L\rVert) \ge 1/\sqrt m$ for $m$ units.
# :::
#
# **Derivation.** Theorem 5.2 for unit $j$, with $b_L[j] = 1$, reads
# $w_L[j](t) = \tfrac12\lVert W_{L-1}[:,j](t)\rVert^2 + P_j(0)$ with
# $P_j(0) = 1 - \tfrac12\lVert W_{L-1}[:,j](0)\rVert^2$; the squared norm is never negative. More
# generally, for any fixed feedback, $w_L[j](t)\,b_L[j] \ge P_j(0)$: **the alignment of an output
# weight never falls below the unit's initial potential.**
#
# :::{admonition} The last step of the printed proof is wrong
# :class: warning
# The paper's proof ends with $w_L[j](t) \ge \tfrac12\lVert w_L^{(0)}[j]\rVert^2$, i.e.
# $w_L[j](t) \ge \tfrac12$. That does not follow: the floor is
# $1 - \tfrac12\lVert W_{L-1}[:,j](0)\rVert^2$, which is below $\tfrac12$ as soon as
# $\lVert W_{L-1}[:,j](0)\rVert > 1$, and the runs below go under $\tfrac12$. The conclusion that
# matters, $w_L[j](t) > 0$, survives.
# :::
#
# We train the two-layer network $f(x) = \phi(xW_1)\,w_2$ with $\phi(z) = \max(c'z, z)$,
# $c' = 0.1$, six hidden units and no biases, by FA with $b_2 = w_2(0) = \mathbf 1$, on 30
# Gaussian points in 5 dimensions with random labels and the logistic loss. Labels that carry no
# pattern pull output weights both ways, so the lemma has something to resist. Every unit gets
# incoming weights of the same norm $\rho$, once for each
# $\rho \in \{0.5, 1, 1.3, 1.6, 2\}$; the last two break the condition $\rho < \sqrt 2$.
# Euler steps of size $\eta = 0.01$ up to $t = 100$.

# %%
gen = torch.Generator().manual_seed(1)
n, d, m, slope = 30, 5, 6, 0.1
X = torch.randn(n, d, generator=gen, dtype=torch.float64)
y = torch.sign(torch.randn(n, generator=gen, dtype=torch.float64))
ones = torch.ones(m, dtype=torch.float64)
norms = [0.5, 1.0, 1.3, 1.6, 2.0]
lemma = {rho: theory.train_two_layer(X, y, theory.columns_of_norm(d, m, rho, seed=0), ones, ones,
                                     rule="fa", slope=slope, loss="logistic", lr=0.01,
                                     steps=10_000, every=20)
         for rho in norms}
held = [rho for rho in norms if rho < math.sqrt(2)]
glue("lemma_min_w2_held", min(float(lemma[rho].w2.min()) for rho in held))
glue("lemma_below_floor", max(float((1 - rho ** 2 / 2) - lemma[rho].w2.min()) for rho in held))
glue("lemma_drift", max(float((lemma[rho].potentials - lemma[rho].potentials[0]).abs().max())
                        for rho in norms))
glue("lemma_13_min", float(lemma[1.3].w2.min()))
glue("lemma_negative_16", int((lemma[1.6].w2[-1] < 0).sum()))
glue("lemma_negative_20", int((lemma[2.0].w2[-1] < 0).sum()))
cos_out = {rho: (tr.w2.sum(1) / (math.sqrt(m) * tr.w2.norm(dim=1))) for rho, tr in lemma.items()}
glue("lemma_cos_floor", 1 / math.sqrt(m))
glue("lemma_cos_held", min(float(cos_out[rho].min()) for rho in held))
_ = glue("lemma_cos_broken", min(float(cos_out[rho].min()) for rho in (1.6, 2.0)))

# %% mystnb={"image": {"alt": "Left: the smallest output weight of a two-layer FA network against time for five initial incoming norms, each above its predicted floor one minus half the squared norm when the norm is below the square root of two, and negative for the two larger norms. Right: the cosine between output weights and their all-ones feedback, with the floor one over the square root of six."}}
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10.5, 3.5))
fa_colour = plots.RULE_COLORS["fa"]
for shade, rho in zip(torch.linspace(0.35, 1.0, len(norms)).tolist(), norms):
    tr = lemma[rho]
    ls = "-" if rho < math.sqrt(2) else "--"
    ax1.plot(tr.t, tr.w2.min(1).values, color=fa_colour, alpha=shade, lw=1.6, ls=ls,
             label=f"ρ = {rho:g}")
    ax1.axhline(1 - rho ** 2 / 2, color=fa_colour, alpha=shade, lw=0.9, ls=":")
    ax2.plot(tr.t, cos_out[rho], color=fa_colour, alpha=shade, lw=1.6, ls=ls, label=f"ρ = {rho:g}")
ax1.axhline(0.5, color=plots.RULE_COLORS["signfa"], lw=1.2, ls="-.", label="printed floor ½")
ax1.axhline(0.0, color="black", lw=0.6)
ax1.set(xscale="symlog", xlim=(0, 100), xlabel="time t (step size × steps)", ylabel="min_j w_2[j]  (unitless)",
        title="dotted: floor 1 − ρ²/2")
ax2.axhline(1 / math.sqrt(m), color="black", lw=0.9, ls=":", label="floor 1/√m")
ax2.set(xscale="symlog", xlim=(0, 100), xlabel="time t (step size × steps)", ylabel="cos(w_2, b_2)  (unitless)")
ax1.legend(frameon=False, fontsize=8, ncol=2)
ax2.legend(frameon=False, fontsize=8)
fig.tight_layout()

# %% [markdown]
# For the three norms that satisfy the condition, every output weight stays positive (the
# smallest is {glue:text}`lemma_min_w2_held:.3f`) and above its floor up to
# {glue:text}`lemma_below_floor:.1e`, which is the Euler drift of the potentials (at most
# {glue:text}`lemma_drift:.1e` here; it shrinks in proportion to the step, see the Theorem 5.2
# chapter). At $\rho = 1.3$ the smallest output weight is {glue:text}`lemma_13_min:.3f`, far below
# the printed $\tfrac12$ and just above the corrected floor. The output cosine stays above the
# floor {glue:text}`lemma_cos_floor:.3f` (its minimum is {glue:text}`lemma_cos_held:.3f`).
#
# When the condition fails, the floor is negative and nothing holds the weights up: at the end
# {glue:text}`lemma_negative_16:.0f` of the six output weights are negative for $\rho = 1.6$, and
# {glue:text}`lemma_negative_20:.0f` for $\rho = 2$. The output cosine falls to
# {glue:text}`lemma_cos_broken:.3f`, below the floor the lemma promised. The condition is not
# needed for the *flow* to behave (it is what the proof needs), but this run shows that without
# it the sign of the output weights is free to change.
#
# ## The same argument for sign-FA (Proposition 5.7, part 1)
#
# With sign-FA at the output, $b_L[j] = s\,\mathrm{sign}(w_L[j])$, and Theorem 5.2 gives
# $s\lvert w_L[j](t)\rvert = \tfrac12\lVert W_{L-1}[:,j](t)\rVert^2 + s\lvert w_L[j](0)\rvert -
# \tfrac12\lVert W_{L-1}[:,j](0)\rVert^2$. If $s\lvert w_L[j](0)\rvert > \tfrac12\lVert
# W_{L-1}[:,j](0)\rVert^2$, the right side stays positive, $w_L[j]$ never reaches zero, and by
# continuity its sign never changes: that is the condition sign-FA needs.
#
# :::{admonition} The printed sign-FA condition is not the right one
# :class: warning
# Proposition 5.7, part 1, asks for $\lVert W_1[:,j](0)\rVert \le \sqrt 2\,\lvert w_2[j](0)\rvert$.
# Its proof uses $\langle w_2(0), b_2\rangle = \lVert w_2(0)\rVert^2$, which holds when the
# feedback equals the initial weight (FA with $b_2 = w_2(0)$), not for $b_2 = \mathrm{sign}(w_2)$,
# where $\langle w_2, b_2\rangle = \lvert w_2\rvert$. The correct condition (with $s = 1$, as in
# the paper) is $\tfrac12\lVert W_1[:,j](0)\rVert^2 < \lvert w_2[j](0)\rvert$. The two agree
# when $\lvert w_2[j](0)\rvert = 1$. For larger output weights the printed one is too weak:
# $w_2[j](0) = 3$ and $\lVert W_1[:,j](0)\rVert = 4$ satisfy it ($4 \le 3\sqrt 2$) but not the
# correct one ($8 > 3$), and the run below changes sign.
# :::

# %%
flip = {}
for rho in (4.0, 2.0):
    w2_0 = torch.full((m,), 3.0, dtype=torch.float64)
    flip[rho] = theory.train_two_layer(X, y, theory.columns_of_norm(d, m, rho, seed=0), w2_0,
                                       rule="signfa", slope=slope, loss="logistic", lr=0.01,
                                       steps=10_000, every=20)
glue("flip_count_4", int((flip[4.0].w2[-1] < 0).sum()))
_ = glue("flip_min_2", float(flip[2.0].w2.min()))

# %% mystnb={"image": {"alt": "Output weights of a two-layer sign-FA network against time, all starting at 3: with incoming norm 4, allowed by the printed condition, several cross zero and change sign; with incoming norm 2, allowed by the corrected condition, all stay positive."}}
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), sharey=True)
for ax, rho in zip(axes, (4.0, 2.0)):
    ax.plot(flip[rho].t, flip[rho].w2, color=plots.RULE_COLORS["signfa"], lw=1.2)
    ax.axhline(0.0, color="black", lw=0.6)
    verdict = "printed holds, correct fails" if rho == 4.0 else "both hold"
    ax.set(xscale="symlog", xlim=(0, 100), title=f"‖W1[:, j](0)‖ = {rho:g}, w2(0) = 3: {verdict}",
           xlabel="time t (step size × steps)")
axes[0].set_ylabel("w_2[j]  (unitless)")
fig.tight_layout()

# %% [markdown]
# With $\lVert W_1[:,j](0)\rVert = 4$, {glue:text}`flip_count_4:.0f` of the six output weights
# end negative although the printed condition holds; with norm 2, which satisfies the corrected
# condition, none changes sign (the smallest is {glue:text}`flip_min_2:.3f`).
#
# ## Exercises

# %% [markdown] exercise={"level": "starter", "minutes": 15, "needs": "nothing"}
# :::{admonition} Exercise 1: the extreme matrices of Proposition 5.3
# :class: tip
# Predict $\cos(W, \mathrm{sign}\,W)$ for a $10\times 10$ matrix with a single nonzero entry,
# for one whose entries are all $\pm 2$ with random signs, and for one whose entries are
# $1, 2, \dots, 100$ (in any order). Check with `theory.sign_alignment`.
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 1
# One nonzero entry: $\lVert W\rVert_1 = \lVert W\rVert_F$, so the cosine is the floor
# $1/\sqrt{100} = 1/10$. Equal magnitudes: $\lVert W\rVert_1 = \sqrt n\,\lVert W\rVert_F$, cosine 1.
# Entries $1..N$ with $N = 100$: $\lVert W\rVert_1 = N(N+1)/2$ and
# $\lVert W\rVert_F^2 = N(N+1)(2N+1)/6$, so the cosine is
# $\sqrt{3(N+1)/(2(2N+1))}$, close to $\sqrt3/2$, the value for uniformly distributed weights.
# :::

# %% tags=["solution", "hide-cell"]
one = torch.zeros(10, 10, dtype=torch.float64)
one[3, 7] = -1.5
signs = torch.sign(torch.randn(10, 10, generator=torch.Generator().manual_seed(2), dtype=torch.float64))
ramp = torch.arange(1, 101, dtype=torch.float64).reshape(10, 10)
print(f"one entry:        {theory.sign_alignment(one):.6f} (floor 1/10)")
print(f"all +-2:          {theory.sign_alignment(2 * signs):.6f}")
print(f"1..100:           {theory.sign_alignment(ramp):.6f} "
      f"(predicted {math.sqrt(3 * 101 / (2 * 201)):.6f}; sqrt(3)/2 = {math.sqrt(3) / 2:.6f})")

# %% [markdown] exercise={"level": "starter", "minutes": 15, "needs": "nothing"}
# :::{admonition} Exercise 2: Lemma 5.4 with other constants
# :class: tip
# Suppose FA starts from $w_2(0) = b_2 = a\mathbf 1$ instead of $\mathbf 1$. Repeat the
# derivation: what condition on $\lVert W_1[:,j](0)\rVert$ keeps $w_2[j]$ positive, and what is
# the floor? Predict the outcome for $a = 1/2$ with norms $0.6$ and $0.9$, then run both with
# `theory.train_two_layer` on the data above.
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 2
# Theorem 5.2 gives $a\,w_2[j](t) = \tfrac12\lVert W_1[:,j](t)\rVert^2 + a^2 -
# \tfrac12\lVert W_1[:,j](0)\rVert^2$, so $w_2[j](t) \ge a - \lVert W_1[:,j](0)\rVert^2/(2a)$,
# positive when $\lVert W_1[:,j](0)\rVert < \sqrt2\,a$. Here the paper's form
# $\lVert W_{L-1}[:,j](0)\rVert < \sqrt2\,\lVert w_L[j](0)\rVert$ is right, because the feedback
# equals the initial weight. For $a = 1/2$ the threshold is $\sqrt2/2 \approx 0.71$: norm
# $0.6$ has the positive floor $0.14$, norm $0.9$ the negative floor $-0.31$.
# :::

# %% tags=["solution", "hide-cell"]
a = 0.5
for rho in (0.6, 0.9):
    run = theory.train_two_layer(X, y, theory.columns_of_norm(d, m, rho, seed=0), a * ones, a * ones,
                                 rule="fa", slope=slope, loss="logistic", lr=0.01, steps=10_000,
                                 every=20)
    print(f"norm {rho}: floor {a - rho ** 2 / (2 * a):+.3f}, smallest w2 over the run "
          f"{run.w2.min():+.3f}, negative at the end: {int((run.w2[-1] < 0).sum())} of {m}")
