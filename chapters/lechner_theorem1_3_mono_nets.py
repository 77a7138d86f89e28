# %% [markdown]
# # Lechner Theorems 1, 3: mono-nets
#
# *Mono-nets are universal approximators.*
#
# {cite:t}`lechner2020learning` restricts a network so that every layer after the first has
# non-negative weights, a *mono-net*: with a monotone increasing activation $f$, each layer from
# the second on is then a monotone increasing map, and so is their composition. That is what makes
# his learning rule (mDFA, the next chapter) carry the sign of the gradient. The price looks
# steep: can a network whose later layers only ever add up positive amounts still represent any
# function? Theorems 1 and 3 say yes, and the proof is constructive: it turns a one-hidden-layer
# sigmoid network
#
# $$
# g(x) = \sum_{i=1}^N v_i\,\sigma(w_i^\top x + b_i), \qquad v_i \in \mathbb R,
# $$
#
# which is a universal approximator (Lemma 1, Hornik et al.), into a tanh mono-net with the same
# values. Two identities do the work: $\sigma(z) = \tfrac12\bigl(1 + \tanh(z/2)\bigr)$ and
# $\tanh(-z) = -\tanh(z)$. Together they move the sign of each output weight into the first
# layer, where negative weights are allowed:
#
# $$
# v\,\sigma(z) = \tfrac{|v|}{2}\tanh\!\Bigl(\frac{s\,z}{2}\Bigr) + \tfrac{v}{2},\qquad s = \operatorname{sign}(v),
# $$
#
# so that
#
# $$
# g(x) = m(x) := \sum_{i=1}^N \tfrac{|v_i|}{2}\tanh\!\Bigl(\tfrac{s_i}{2}(w_i^\top x + b_i)\Bigr)
# + \tfrac12\sum_{i=1}^N v_i ,
# $$
#
# a mono-net with $N$ hidden tanh units, output weights $|v_i|/2 \ge 0$ and output bias
# $\tfrac12\sum_i v_i$. Any continuous function on $[0,1]^n$ that $g$ approximates to $\varepsilon$,
# $m$ approximates to the same $\varepsilon$.
#
# The appendix's derivation loses the $\tfrac12$ inside the tanh: right after invoking
# $\sigma(z) = \tfrac12(1 + \tanh(z/2))$ it writes $\tfrac12(1 + \tanh(w_i^\top x + b_i))$. The
# theorem survives (halve the first layer and the printed map is right), but the network the proof
# builds is not $g$. The proof also allots $2N$ hidden units, a positive and a negative copy of
# each; for every $i$ one of the two has output weight exactly zero, so $N$ units suffice. Below
# we build both versions with `falign.monotone` (on `falign.models.mono_net`) and measure them.

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
profile = "paper"          # "smoke": fewer random networks and inputs, same checks
device = "cpu"             # small float64 computations on the CPU

# %%
import math
import time

import matplotlib.pyplot as plt
import pandas as pd
import torch

from falign import monotone, plots
from falign.chapters import glue, live_provenance_card

plots.set_style()
n_networks, n_points = (200, 1000) if profile == "paper" else (20, 100)
n_inputs, n_hidden = 5, 20
started = time.perf_counter()

# %% [markdown]
# ## The conversion, checked on random networks
#
# We draw sigmoid networks with 5 inputs and 20 hidden units, all weights, biases and output
# weights $\mathcal N(0, 3^2)$ (so that the units are far from linear and the $v_i$ have both signs),
# and evaluate each at random points of the unit cube $[0,1]^5$, the domain of Theorem 1. For each
# network we build the mono-net of the corrected formula and the one the proof prints, and take the
# largest deviation from $g$.

# %%
def split_error(m, x):
    """max |m_split([x, -x]) - m(x)|: Theorem 1's all-non-negative form against Theorem 3's."""
    with torch.no_grad():
        return float((monotone.split_first_layer(m)(torch.cat([x, -x], 1)) - m(x)).abs().max())


gen = torch.Generator().manual_seed(0)
rows = []
for seed in range(n_networks):
    g = monotone.random_sigmoid_net(n_inputs, n_hidden, seed=seed)
    x = torch.rand(n_points, n_inputs, generator=gen, dtype=torch.float64)
    fixed, printed = monotone.mono_net_from_sigmoid(g), monotone.printed_mono_net_from_sigmoid(g)
    with torch.no_grad():
        size = float(g(x).abs().max())
    rows.append({"max |g|": size,
                 "corrected": monotone.conversion_error(g, fixed, x),
                 "printed": monotone.conversion_error(g, printed, x),
                 "Theorem 1 form": split_error(fixed, x),
                 "units (corrected)": fixed[0].out_features,
                 "units (printed)": printed[0].out_features,
                 "units in use (printed)": monotone.hidden_units_in_use(printed)})
errors = pd.DataFrame(rows)
glue("n_networks", n_networks)
glue("n_points", n_points)
glue("fixed_max", errors["corrected"].max())
glue("fixed_rel", (errors["corrected"] / errors["max |g|"].clip(lower=1)).max())
glue("printed_min", errors["printed"].min())
glue("printed_median", errors["printed"].median())
glue("printed_max", errors["printed"].max())
glue("split_max", errors["Theorem 1 form"].max())
glue("g_median", errors["max |g|"].median())
glue("units_fixed", int(errors["units (corrected)"].max()))
glue("units_printed", int(errors["units (printed)"].max()))
glue("units_in_use", int(errors["units in use (printed)"].max()))
summary = pd.DataFrame({
    "largest |m − g|": [f"{errors[c].max():.2e}" for c in ("corrected", "printed")],
    "median of the per-network max": [f"{errors[c].median():.2e}" for c in ("corrected", "printed")],
    "hidden units": [n_hidden, 2 * n_hidden],
    "units with a non-zero output weight": [n_hidden, int(errors["units in use (printed)"].max())],
}, index=["corrected conversion", "conversion as printed"])
summary

# %% [markdown]
# Over {glue:text}`n_networks:.0f` random networks and {glue:text}`n_points:.0f` points each, the
# corrected mono-net reproduces $g$ to {glue:text}`fixed_max:.1e` at most (relative to the size of
# $g$, {glue:text}`fixed_rel:.1e`: round-off). The network the printed proof builds misses by
# {glue:text}`printed_median:.3g` for the median network and by {glue:text}`printed_max:.3g` at
# worst (never less than {glue:text}`printed_min:.3g`), where the median network's values reach
# {glue:text}`g_median:.3g` in size: not a rounding matter. The printed construction uses
# {glue:text}`units_printed:.0f` hidden units, of which {glue:text}`units_in_use:.0f` have a non-zero
# output weight; the corrected one needs {glue:text}`units_fixed:.0f`, the $N$ of $g$.
#
# Theorem 1 in the main text states the result in a different form, eq. (13):
# $\sum_i \bar v_i \tanh(\bar w_i^\top x + \hat w_i^\top(-x) + \bar b_i) + c$ with *every* weight
# non-negative, the input entering twice, as $x$ and as $-x$. It follows from Theorem 3 by writing
# each first-layer weight as the difference of its positive and negative parts. That split network
# (`monotone.split_first_layer`) has only non-negative weights and matches the corrected mono-net to
# {glue:text}`split_max:.1e`.
#
# ## One function, three networks
#
# To see the error rather than measure it: a sigmoid network with 12 units fitted by least squares
# to $f(x) = \sin(2\pi x) + x$ on $[0,1]$ (random slopes and centres, output layer solved
# exactly), its corrected mono-net, and the printed variant.

# %%
grid = torch.linspace(0, 1, 401, dtype=torch.float64)[:, None]
target = lambda x: torch.sin(2 * torch.pi * x) + x                       # noqa: E731
g1 = monotone.fit_sigmoid_net(target, grid, 12, seed=3)
m1, p1 = monotone.mono_net_from_sigmoid(g1), monotone.printed_mono_net_from_sigmoid(g1)
with torch.no_grad():
    curves = {"f": target(grid), "g": g1(grid), "m": m1(grid), "printed": p1(grid)}
curves = {k: v.flatten().numpy() for k, v in curves.items()}
# glued rounded (and the round-off as its power of ten): the least-squares fit's last bits
# may differ between executions, the prose must not
short = lambda v: float(f"{v:.3g}")                                      # noqa: E731
glue("fit_error", short(abs(curves["g"] - curves["f"]).max()))
glue("mono_1d_bound", 10.0 ** math.ceil(math.log10(abs(curves["m"] - curves["g"]).max())))
glue("printed_1d_error", short(abs(curves["printed"] - curves["g"]).max()))
glue("mono_min_w2", short(m1[2].weight.detach().min()))
wall_s = time.perf_counter() - started

# %% mystnb={"image": {"alt": "Left: the target sin(2 pi x) + x on [0, 1], the fitted 12-unit sigmoid network and its corrected mono-net lying on top of each other, and the mono-net built as the proof prints it, a visibly different curve. Right: the absolute difference from the sigmoid network on a log scale, round-off level for the corrected mono-net and of order one for the printed one."}}
xs = grid.flatten().numpy()
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10.5, 3.6))
ax1.plot(xs, curves["f"], color="0.6", lw=4, alpha=0.5, label="target f(x) = sin(2πx) + x")
ax1.plot(xs, curves["g"], color=plots.RULE_COLORS["bp"], lw=1.8, label="sigmoid net g (12 units)")
ax1.plot(xs, curves["m"], color=plots.RULE_COLORS["mdfa"], lw=1.5, ls="--",
         label="mono-net m, corrected (12 units)")
ax1.plot(xs, curves["printed"], color=plots.RULE_COLORS["mdfa"], lw=1.2, ls=":",
         label="mono-net as printed (24 units)")
ax1.set(xlabel="input x (unitless)", ylabel="network output (unitless)")
ax1.legend(frameon=False, fontsize=8)
ax2.plot(xs, abs(curves["m"] - curves["g"]) + 1e-18, color=plots.RULE_COLORS["mdfa"], lw=1.3,
         ls="--", label="|m − g|, corrected")
ax2.plot(xs, abs(curves["printed"] - curves["g"]) + 1e-18, color=plots.RULE_COLORS["mdfa"],
         lw=1.3, ls=":", label="|m − g|, as printed")
ax2.set(yscale="log", xlabel="input x (unitless)", ylabel="|m(x) − g(x)|  (unitless)",
        ylim=(1e-18, 10))
ax2.legend(frameon=False, fontsize=8)
fig.tight_layout()

# %% [markdown]
# The sigmoid network fits $f$ to {glue:text}`fit_error:.2g`; the corrected mono-net, whose output
# weights are all at least {glue:text}`mono_min_w2:.3g`, lies on it to
# within {glue:text}`mono_1d_bound:.0e`, while the printed construction is off by up to
# {glue:text}`printed_1d_error:.3g`: it computes the network whose first layer is twice as steep.
# (Where the right panel touches the bottom the two agree exactly in float64.)
#
# ## The paper's statements beside ours
#
# | item | printed | ours |
# |---|---|---|
# | eq. (16) | $\sigma(x) = \tfrac12(1 + \tanh(x/2))$ | correct |
# | proof of Thm 3, line 2 | $v_i \tfrac12(1 + \tanh(w_i^\top x + b_i))$ | must read $\tanh\bigl((w_i^\top x + b_i)/2\bigr)$; as printed, the largest error is {glue:text}`printed_max:.3g` over our random networks |
# | proof's closing remark | a sigmoid net with $N$ units becomes a mono-net with $2N$ units | $N$ units: {glue:text}`units_in_use:.0f` of the printed {glue:text}`units_printed:.0f` have non-zero output weight |
# | Theorem 1, eq. (13) | all weights $\ge 0$ on the input $(x, -x)$ | follows from eq. (19) by splitting $w = w^+ - w^-$; checked to {glue:text}`split_max:.1e` |
# | Theorems 1 and 3 | mono-nets with tanh are dense in $C(I_n)$ | true: the corrected conversion is exact ({glue:text}`fixed_max:.1e`) |
#
# ## Readings where the text is silent
#
# | item | the text | our reading | why |
# |---|---|---|---|
# | output bias | eq. (18) has none; eq. (19) has $c$ | a bias $c_0$ of $g$ is added to $c$ | Definition 1 gives the output layer a bias |
# | zero output weight | $\mathbb 1[v_i \ge 0]$ | $v_i = 0$ is treated as positive | as the indicator in the proof; its unit has weight 0 either way |
# | random networks | none | 5 inputs, 20 units, every parameter $\mathcal N(0, 3^2)$, inputs uniform on $[0,1]^5$ | saturating units and mixed signs make the missing $\tfrac12$ visible; the unit cube is Theorem 1's domain |
# | 1-D example | none | 12 sigmoid units, least squares on 401 points | a constructive stand-in for Lemma 1 |
#
# ## Provenance

# %% tags=["nbval-ignore-output"]
live_provenance_card(profile, {"networks": f"{n_networks} random sigmoid nets, {n_inputs} inputs, "
                               f"{n_hidden} units; one 12-unit fit in 1-D",
                               "draws": f"{n_points} inputs per network", "dtype": "float64"},
                     wall_s)

# %% [markdown]
# ## Exercises

# %% [markdown] exercise={"level": "intermediate", "minutes": 30, "needs": "nothing"}
# :::{admonition} Exercise 1: repairing the printed map
# :class: tip
# The printed construction uses $\tanh(w_i^\top x + b_i)$ where $\tanh((w_i^\top x + b_i)/2)$
# belongs. Predict what the printed map returns when it is given a copy of $g$ whose first layer
# (weights and biases) has been halved, and check on `monotone.random_sigmoid_net(5, 20, seed=0)`.
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 1
# Halving the first layer puts the missing $\tfrac12$ back: each printed unit computes
# $\tfrac{|v_i|}{2}\tanh(\pm(w_i^\top x + b_i)/2)$ (the other copy has weight 0), which is the
# corrected unit. So the printed map of the halved network equals $g$ itself, to round-off, and
# the theorem is untouched by the slip.
# :::

# %% tags=["solution", "hide-cell"]
import copy

g0 = monotone.random_sigmoid_net(5, 20, seed=0)
halved = copy.deepcopy(g0)
with torch.no_grad():
    halved[0].weight.mul_(0.5)
    halved[0].bias.mul_(0.5)
x0 = torch.rand(1000, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
print(f"printed map of the halved net vs g: "
      f"{monotone.conversion_error(g0, monotone.printed_mono_net_from_sigmoid(halved), x0):.1e}")

# %% [markdown] exercise={"level": "starter", "minutes": 15, "needs": "nothing"}
# :::{admonition} Exercise 2: why the first layer must stay free
# :class: tip
# Suppose the first layer were also constrained to $W_1 \ge 0$. Predict the sign of
# $\partial m/\partial x_j$ for such a network, and what that means for approximating
# $f(x) = -x$ on $[0, 1]$. Check on the 1-D mono-net `m1` above with its first layer replaced
# by $|W_1|$.
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 2
# With every layer monotone increasing, $m$ is a composition of increasing maps, so
# $\partial m/\partial x_j \ge 0$ everywhere: $m$ is non-decreasing in every input and cannot
# come closer to $-x$ than half its range, $\tfrac12$ in sup norm. The free first layer is
# what lets the mono-net represent decreasing and non-monotone functions (it is where the
# construction puts all the signs).
# :::

# %% tags=["solution", "hide-cell"]
pos = copy.deepcopy(m1)
with torch.no_grad():
    pos[0].weight.abs_()
xg = grid.clone().requires_grad_(True)
slope = torch.autograd.grad(pos(xg).sum(), xg)[0]
print(f"smallest dm/dx on [0, 1] with W1 >= 0: {float(slope.min()):.3g} "
      f"(the unconstrained mono-net's smallest slope: "
      f"{float(torch.autograd.grad(m1(xg).sum(), xg)[0].min()):.3g})")
