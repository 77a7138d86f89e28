# %% [markdown]
# # Lechner Theorems 2, 4: sign agreement
#
# *mDFA has the gradient's sign, one example at a time.*
#
# Direct feedback alignment sends the output error $e = \partial\mathcal L/\partial h_L$ (a row
# vector) straight to each hidden layer $l$ through a fixed matrix $B_l$, in place of the
# backpropagated $e\,\partial h_L/\partial h_l$. For a parameter $\theta$ of layer $l$, the update
# and the true gradient are
#
# $$
# \delta\theta = e\,B_l\,\frac{\partial h_l}{\partial\theta},\qquad
# \nabla\theta = e\,\frac{\partial h_L}{\partial h_l}\,\frac{\partial h_l}{\partial\theta}.
# $$
#
# {cite:t}`lechner2020learning` applies DFA to a *mono-net* (every weight after the first layer
# $\ge 0$, monotone increasing activation) with non-negative feedback $B_l \ge 0$, and calls it
# mDFA. Lemmas 2 and 3: every layer of a mono-net from the second on is increasing, so every
# Jacobian $\partial h_l/\partial h_k$ ($k < l$) has non-negative entries. With a single output
# ($n_L = 1$) both updates of coordinate $(i, j)$ share the factor
# $a = e\,\partial (h_l)_i/\partial\theta_{ij}$, and
#
# $$
# (\delta\theta)_{ij}\,(\nabla\theta)_{ij}
# = a^2\;B_{1,i}\;\Bigl(\frac{\partial h_L}{\partial h_l}\Bigr)_{1,i} \;\ge\; 0 .
# $$
#
# That is Theorems 2 and 4: mDFA never pushes a coordinate against the gradient. The output layer
# gets the true gradient itself.
#
# **The catch: one example at a time.** The argument is for the loss of one example. Training
# uses the sum over a mini-batch (Lechner used 64 examples), and then
#
# $$
# (\delta\theta)_{ij} = B_{1,i}\sum_k a_k, \qquad
# (\nabla\theta)_{ij} = \sum_k a_k\,J_{k,i},\quad J_{k,i} = \Bigl(\frac{\partial h_L}{\partial h_l}\Bigr)_{1,i}\text{ at example } k ,
# $$
#
# the same terms $a_k$ (of either sign, since errors $e_k$ have either sign) weighted differently.
# If the weights $J_{k,i} \ge 0$ vary from example to example, the two sums can have opposite
# signs. With one hidden layer they cannot vary: $\partial h_L/\partial h_1 = W_2$ for every
# example, so the batch update of unit $i$ is its gradient times $B_{1,i}/W_{2,i}$, and the
# agreement survives any batch. With two or more hidden layers $J_{k,i}$ contains $f'$ of the
# later layers at example $k$, and the guarantee is gone. We check all of this with the
# library's `mdfa` rule (`falign.convert`) against its exact gradient (`falign.true_gradient`).

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
profile = "paper"          # "smoke": fewer networks, examples and batches, same checks
device = "cpu"             # small float64 computations on the CPU

# %%
import time

import matplotlib.pyplot as plt
import pandas as pd
import torch

from falign import monotone, plots
from falign.chapters import glue, live_provenance_card

plots.set_style()
paper = profile == "paper"
n_inputs = 10
n_nets, per_net = (40, 25) if paper else (6, 4)          # per-example check
trials = 60 if paper else 6                              # batches per point of the figure
batch_sizes = [1, 2, 4, 8, 16, 32, 64]
shapes = {"1 hidden layer": [8], "2 hidden layers": [8, 8], "3 hidden layers": [8, 8, 8]}
activations = ["tanh", "hardtanh", "relu"]
started = time.perf_counter()

# %% [markdown]
# ## Lemmas 2 and 3, by autograd
#
# For random mono-nets with 10 inputs and one to three hidden layers of 8 units (tanh, hard-tanh
# and ReLU in turn), we take every Jacobian $\partial h_l/\partial h_k$, $1 \le k < l \le L$, at a
# random input, by automatic differentiation, and record its smallest entry. For the one-step
# Jacobians we also compare with $\operatorname{diag}(f'(z_l))\,W_l$.

# %%
gen = torch.Generator().manual_seed(0)
smallest, lemma2_gap, n_jac = float("inf"), 0.0, 0
for k in range(n_nets):
    widths = list(shapes.values())[k % 3]
    activation = activations[(k // 3) % 3]
    net = monotone.random_mdfa_mono_net(n_inputs, widths, seed=k, activation=activation,
                                        init="normal" if k % 2 else "uniform")
    x = torch.rand(n_inputs, generator=gen, dtype=torch.float64)
    jac = monotone.layer_to_layer_jacobians(net, x)
    smallest = min(smallest, min(float(j.min()) for j in jac.values()))
    n_jac += len(jac)
    if activation == "tanh":
        states = [s.detach()[0] for s in monotone.hidden_states(net, x[None])]
        for l in range(2, len(states) + 1):
            W = net[2 * (l - 1)].weight.detach()
            z = W @ states[l - 2] + net[2 * (l - 1)].bias.detach()
            fprime = 1 - torch.tanh(z) ** 2 if l < len(states) else torch.ones_like(z)
            lemma2_gap = max(lemma2_gap, float((jac[(l, l - 1)] - fprime[:, None] * W).abs().max()))
glue("n_jac", n_jac)
glue("jac_min", smallest)
# Reported as a bound, at least machine epsilon: below it the gap is round-off, exactly 0 on
# some CPUs and 1e-16 on others.
_ = glue("lemma2_gap", max(lemma2_gap, float(torch.finfo(torch.float64).eps)))

# %% [markdown]
# Over {glue:text}`n_jac:.0f` Jacobians the smallest entry is {glue:text}`jac_min:.3g`: none is
# negative (zeros occur where a ReLU or hard-tanh unit is flat). The one-step Jacobians equal
# $\operatorname{diag}(f'(z_l))\,W_l$ within {glue:text}`lemma2_gap:.1e` (machine epsilon: the gap is round-off). The paper writes this
# product as $W_l\operatorname{diag}(f'(\cdot))$ (eqs. 5 and 22), which does not even have matching
# shapes unless the layer is square; the order does not matter for the sign, which is all the
# lemmas need.
#
# ## Theorem 2, one example at a time
#
# On the same kinds of random networks (single output, feedback $|U|$ as the library draws it for
# mDFA), for random inputs in $[0,1]^{10}$ and fair-coin labels under the logistic loss, we compute
# the mDFA update and the gradient of each example alone and take the smallest coordinate-wise
# product over all parameters.

# %%
worst, coords = float("inf"), 0
for k in range(n_nets):
    widths = list(shapes.values())[k % 3]
    net = monotone.random_mdfa_mono_net(n_inputs, widths, seed=1000 + k,
                                        activation=activations[(k // 3) % 3],
                                        init="normal" if k % 2 else "uniform")
    x = torch.rand(per_net, n_inputs, generator=gen, dtype=torch.float64)
    y = (torch.rand(per_net, generator=gen) < 0.5).to(torch.float64)
    worst = min(worst, monotone.per_example_min_product(net, x, y))
    coords += per_net * sum(p.numel() for p in net.parameters())
glue("n_examples", n_nets * per_net)
glue("n_coords", coords)
_ = glue("per_example_min", worst)

# %% [markdown]
# Over {glue:text}`n_examples:.0f` examples ({glue:text}`n_coords:.0f` coordinate comparisons) the
# smallest product is {glue:text}`per_example_min:.3g`: not one coordinate of the mDFA update
# points against the gradient, as Theorem 2 says.
#
# ## Mini-batches
#
# Now the update of a whole batch. The simplest break needs only two examples: a network
# 1 → 2 → 2 → 1 in which, at $x = 0$, the first unit of the second hidden layer is saturated
# ($\tanh(-4)$, slope about $10^{-3}$), so the backpropagated weight $J$ of the first unit of $h_1$ is
# tiny there, while at $x = 2$ it is not. With labels that give the two examples errors of opposite
# signs, the gradient of that unit's bias follows the example at $x = 2$ and mDFA's update, which
# weighs both examples alike, follows the one at $x = 0$.

# %%
net2, x2, y2 = monotone.two_example_violation()
pair = {n: (d, g) for n, d, g in monotone.mdfa_update_and_gradient(net2, x2, y2)}
glue("pair_delta", float(pair["0.bias"][0][0]))
glue("pair_grad", float(pair["0.bias"][1][0]))
_ = glue("pair_single_min", monotone.per_example_min_product(net2, x2, y2))

# %% [markdown]
# For this batch mDFA's update of the first bias of $h_1$ is {glue:text}`pair_delta:.3g` and the
# gradient's is {glue:text}`pair_grad:.3g`: opposite signs, although each example alone agrees
# (smallest per-example product {glue:text}`pair_single_min:.3g`).
#
# How common is this for random networks? For each batch size we draw {glue:text}`trials:.0f`
# batches (ten per random network; inputs uniform on $[0,1]^{10}$, fair-coin labels) and count
# those whose mDFA update has at least one coordinate of opposite sign to the gradient.

# %%
glue("trials", trials)
curves = {}
for name, widths in shapes.items():
    curves[(name, "uniform")] = [monotone.violation_rate(n_inputs, widths, b, trials=trials,
                                                         batches_per_net=10, seed=1)
                                 for b in batch_sizes]
curves[("2 hidden layers", "normal")] = [
    monotone.violation_rate(n_inputs, shapes["2 hidden layers"], b, trials=trials,
                            batches_per_net=10, seed=1, init="normal") for b in batch_sizes]
rate = {key: [r for r, _ in v] for key, v in curves.items()}
coord = {key: [c for _, c in v] for key, v in curves.items()}
glue("one_layer_max", max(rate[("1 hidden layer", "uniform")]))
glue("two_layer_b2", rate[("2 hidden layers", "uniform")][1])
glue("two_layer_b64", rate[("2 hidden layers", "uniform")][-1])
glue("three_layer_b64", rate[("3 hidden layers", "uniform")][-1])
glue("normal_b64", rate[("2 hidden layers", "normal")][-1])
glue("coord_b64", coord[("2 hidden layers", "uniform")][-1])
_ = glue("coord_b64_normal", coord[("2 hidden layers", "normal")][-1])

# %% mystnb={"image": {"alt": "Two panels against batch size on a log axis. Left: fraction of random batches in which the mDFA update has at least one coordinate of opposite sign to the gradient: zero for one hidden layer and for batch size one, rising to between about a sixth and two thirds for two and three hidden layers. Right: the mean percentage of coordinates with opposite signs, from a fraction of a percent to a few percent."}}
styles = {("1 hidden layer", "uniform"): ("-", "o"), ("2 hidden layers", "uniform"): ("-", "s"),
          ("3 hidden layers", "uniform"): ("-", "^"), ("2 hidden layers", "normal"): ("--", "D")}
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10.5, 3.6))
for key, (ls, marker) in styles.items():
    label = f"{plots.RULE_LABELS['mdfa']}, {key[0]}, {key[1]} init"
    ax1.plot(batch_sizes, rate[key], ls=ls, marker=marker, color=plots.RULE_COLORS["mdfa"],
             alpha=0.55 if key[1] == "normal" else 1.0, label=label)
    ax2.plot(batch_sizes, [100 * c for c in coord[key]], ls=ls, marker=marker,
             color=plots.RULE_COLORS["mdfa"], alpha=0.55 if key[1] == "normal" else 1.0,
             label=label)
ax1.set(xscale="log", xlabel="batch size (examples)",
        ylabel="batches with a sign violation (fraction)", ylim=(-0.03, 1))
ax2.set(xscale="log", xlabel="batch size (examples)",
        ylabel="coordinates of opposite sign (%)")
ax1.set_xticks(batch_sizes, [str(b) for b in batch_sizes])
ax2.set_xticks(batch_sizes, [str(b) for b in batch_sizes])
ax1.legend(frameon=False, fontsize=7.5)
fig.tight_layout()

# %% [markdown]
# With one hidden layer no batch of any size violates the agreement (largest fraction
# {glue:text}`one_layer_max:.3g`), as the argument above predicts, and batches of one never do.
# With two hidden layers {glue:text}`two_layer_b2:.2f` of the batches of two already have a
# coordinate of opposite sign, and {glue:text}`two_layer_b64:.2f` of the batches of 64
# ({glue:text}`three_layer_b64:.2f` with three hidden layers, {glue:text}`normal_b64:.2f` with
# weights drawn as absolute normals). The violations are few per batch: on average
# {glue:text}`coord_b64:.2%` of the coordinates at batch 64 ({glue:text}`coord_b64_normal:.2%`
# with normal draws), the ones whose batch sum nearly cancels.
#
# ## What this means for Lechner's experiments
#
# Lechner trained with batches of 64 and fully connected networks of two (CIFAR-100) and four
# (ImageNet) hidden layers. For those updates Theorem 2 guarantees nothing: its sign agreement is a
# statement about per-example updates, and the batch update is a differently weighted sum of them.
# In our random networks the damage is small (at most a few percent of the coordinates, with
# small magnitudes, since they are near-cancelling sums), so the practical claim that mDFA
# follows the gradient's sign closely is plausible; the proof, however, covers it only for a batch
# size of one or for a single hidden layer. Summing per-example updates cannot restore it: the
# per-example signs agree, but the batch sums weigh the examples by $B$ and by $J$ differently.

# %%
wall_s = time.perf_counter() - started

# %% [markdown]
# ## The paper's statements beside ours
#
# | item | printed | ours |
# |---|---|---|
# | Lemmas 2-3 | $\partial h_l/\partial h_k \ge 0$ entrywise | smallest entry {glue:text}`jac_min:.3g` over {glue:text}`n_jac:.0f` Jacobians |
# | eqs. (5), (22) | $\partial h_{l}/\partial h_{l-1} = W_l\operatorname{diag}(f')$ | $\operatorname{diag}(f')\,W_l$ (shapes); matches autograd to {glue:text}`lemma2_gap:.1e` |
# | Theorems 2, 4 | $(\delta\theta)_{ij}(\nabla\theta)_{ij} \ge 0$ for $n_L = 1$ | per example: smallest product {glue:text}`per_example_min:.3g` over {glue:text}`n_examples:.0f` examples |
# | Theorem 4, case 1 | in the last layer the mDFA update equals the gradient | yes (the output layer's backward is exact) |
# | batch 64 (Sec. 4) | used for all training | the theorem does not cover it: {glue:text}`two_layer_b64:.2f` of random 2-hidden-layer batches violate it |
#
# ## Readings where the text is silent
#
# | item | the text | our reading | why |
# |---|---|---|---|
# | $B \ge 0$ | in the proof (eq. 31), not in the theorem | a hypothesis; the library draws $\lvert U\rvert$ | the proof fails without it |
# | loss | any $\mathcal L(y, h_L)$ | logistic loss on the logit $h_L$, fair-coin labels | binary classification; the sign argument holds for any loss |
# | batch loss | not discussed | the sum over examples (the mean has the same signs) | what a mini-batch step follows |
# | weights | Sec. 4: scaled uniform with lower bound $10^{-3}$, or absolute normal | `falign.models.mono_net` (uniform), and $\lvert\mathcal N(0,1)\rvert$ as a second case | both of Lechner's options |
# | violation | a negative coordinate product | any coordinate with a strictly negative product | eq. (14) negated |
# | inputs | scaled to $[0,1]$ | uniform on $[0,1]^{10}$ | Sec. 4 |
#
# ## Provenance

# %% tags=["nbval-ignore-output"]
live_provenance_card(profile, {"networks": f"mono-nets {n_inputs} → 8 (× 1, 2, 3) → 1, "
                               "tanh / hard-tanh / ReLU; one hand-built 1 → 2 → 2 → 1",
                               "draws": f"{n_nets * per_net} single examples; {trials} batches "
                               f"per batch size and network shape",
                               "dtype": "float64"}, wall_s)

# %% [markdown]
# ## Exercises

# %% [markdown] exercise={"level": "intermediate", "minutes": 30, "needs": "nothing"}
# :::{admonition} Exercise 1: the two-example batch by hand
# :class: tip
# In the hand-built network every feedback entry is 1 and $W_3 = (1, 1)$. Write the bias
# update of the first unit of $h_1$ as $\sum_k e_k\,f'(z_{1,k})\,B$ (mDFA) and
# $\sum_k e_k\,f'(z_{1,k})\,J_k$ (gradient), with $J_k = 4 f'(z_{2,k})$, evaluate both from
# the forward pass, and compare with the library's numbers above.
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 1
# With $h_1 = \tanh(x)$ in both units and the first unit of $h_2$ equal to
# $\tanh(4\tanh x - 4)$, the weight $J_k = 4\,(1 - \tanh^2(4\tanh x_k - 4))$ is about
# $5\cdot 10^{-3}$ at $x = 0$ and close to 4 at $x = 2$, while $f'(z_1) = 1 - \tanh^2 x_k$ is 1 and
# about $0.07$. The first example has a positive error, the second a negative one; mDFA's sum is
# dominated by the first, the gradient's by the second.
# :::

# %% tags=["solution", "hide-cell"]
with torch.no_grad():
    t = torch.tanh(x2[:, 0])
    z2 = 4 * t - 4
    h3 = torch.tanh(z2) + torch.tanh(t)
    e = torch.sigmoid(h3) - y2                          # logistic loss: dL/dh_L
    f1 = 1 - t ** 2
    J = 4 * (1 - torch.tanh(z2) ** 2)
print(f"errors e = {e.numpy().round(4)}, J = {J.numpy().round(4)}, f'(z1) = {f1.numpy().round(4)}")
print(f"by hand: mDFA {float((e * f1).sum()):.6f}, gradient {float((e * f1 * J).sum()):.6f}")
print(f"library: mDFA {float(pair['0.bias'][0][0]):.6f}, gradient {float(pair['0.bias'][1][0]):.6f}")

# %% [markdown] exercise={"level": "intermediate", "minutes": 30, "needs": "nothing"}
# :::{admonition} Exercise 2: one hidden layer, any batch
# :class: tip
# For a mono-net with one hidden layer, predict the ratio of the mDFA update of $W_1$ to its
# gradient, entry by entry, for a batch of 64 examples. Check on
# `monotone.random_mdfa_mono_net(10, [8], seed=0, init="normal")`.
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 2
# Here $J_{k,i} = W_{2,1i}$ for every example, so the gradient's row $i$ is the mDFA row times
# $W_{2,1i}/B_{1,i}$: the ratio is constant along each row, equal to $B_{1,i}/W_{2,1i}$,
# positive, and the signs agree for any batch.
# :::

# %% tags=["solution", "hide-cell"]
from falign.layers import feedback_layers

net1 = monotone.random_mdfa_mono_net(10, [8], seed=0, init="normal")
gen1 = torch.Generator().manual_seed(5)
xb = torch.rand(64, 10, generator=gen1, dtype=torch.float64)
yb = (torch.rand(64, generator=gen1) < 0.5).to(torch.float64)
d, g = [(d, g) for n, d, g in monotone.mdfa_update_and_gradient(net1, xb, yb) if n == "0.weight"][0]
predicted = feedback_layers(net1)[1].feedback_store[0] / net1[2].weight.detach()[0]
print(f"largest relative gap between delta/nabla and B/W2 per row: "
      f"{float(((d / g) / predicted[:, None] - 1).abs().max()):.1e}")

# %% [markdown] exercise={"level": "advanced", "minutes": 45, "needs": "nothing"}
# :::{admonition} Exercise 3: direction, not just signs
# :class: tip
# Per example, every coordinate product is $\ge 0$, so the inner product of the mDFA update with
# the gradient is $\ge 0$ too. Predict whether that survives batches of 64 in a network with two
# hidden layers, and check with the `cosine` field of `monotone.batch_agreement` over 30 batches.
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 3
# Nothing in the theorem protects it, but the violating coordinates are few and small: the
# cosine between the hidden layers' mDFA update and their gradient stays clearly positive in
# these random networks. A positive cosine is what makes the update a descent direction for a
# small enough step; it is an empirical observation here, not a consequence of Theorem 2.
# :::

# %% tags=["solution", "hide-cell"]
gen3 = torch.Generator().manual_seed(6)
cosines = []
for k in range(30):
    net3 = monotone.random_mdfa_mono_net(10, [8, 8], seed=200 + k)
    xb = torch.rand(64, 10, generator=gen3, dtype=torch.float64)
    yb = (torch.rand(64, generator=gen3) < 0.5).to(torch.float64)
    cosines.append(monotone.batch_agreement(net3, xb, yb).cosine)
print(f"cosine(mDFA, gradient) at batch 64: smallest {min(cosines):.3f}, "
      f"median {sorted(cosines)[15]:.3f}")
