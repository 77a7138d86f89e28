# %% [markdown]
# # Supp. Fig. 7: XOR
#
# *Lillicrap et al. 2016, Supplementary Figure 7: XOR, and output weights that turn towards B.*
#
# XOR is the smallest problem a network without hidden units cannot solve: the four patterns
# $(0,0)\mapsto 0$, $(0,1)\mapsto 1$, $(1,0)\mapsto 1$, $(1,1)\mapsto 0$ are not linearly
# separable, so the hidden layer must learn, and under feedback alignment it learns only from
# the error sent back through a fixed random $B$. {cite:t}`lillicrap2016random`
# (Supplementary Note 4) train a 2-2-1 and a 2-25-1 sigmoid network on it with backprop and FA,
# and watch the output weights $W$ rotate towards $B$.
#
# The network computes $h = \sigma(W_0 x + b_0)$ and $\hat y = \sigma(W h + b)$, with
# $\sigma(z) = 1/(1+e^{-z})$. With the error $e = \hat y - y$ and the output's local slope
# $e' = e\,\sigma'(\cdot)$, backprop moves the hidden layer with $\delta = (W^\top e')\odot
# \sigma'(W_0x+b_0)$; FA uses $\delta = (B^\top e')\odot\sigma'(W_0x+b_0)$ with $B$ of $W$'s
# shape, drawn once. Since $W$'s own update is $-\eta\, e' h^\top$ and $h$ is driven by $B$,
# $W$ drifts towards directions in which $B$'s signals were useful: after training the
# angle between $W$ and $B$,
#
# $$
# \angle(W, B) = \arccos\frac{\langle W, B\rangle}{\lVert W\rVert\,\lVert B\rVert},
# $$
#
# is well below $90°$, and the 25 pairs $(B_j, W_j)$ of the larger net line up along a
# positive slope.

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
profile = "paper"          # "paper": the chapter as the book shows it; "smoke": a quick check
device = "cpu"             # four examples: the CPU

# %%
import time

import matplotlib.pyplot as plt
import pandas as pd
import torch

import falign
from falign import plots
from falign import synthetic_tasks as st
from falign.chapters import glue, live_provenance_card

plots.set_style()
torch.set_num_threads(1)
steps = {"paper": 2000, "smoke": 100}[profile]
WEIGHT_STD, FEEDBACK_STD = 0.5, 4.0
SEEDS = {2: 1, 25: 0}           # hidden units -> seed (see the readings)
started = time.perf_counter()
x, y = st.xor_data()


def xor_run(hidden, rule):
    """One full-batch run on the four patterns; returns the net, its trace and W at the start."""
    seed = SEEDS[hidden]
    net = falign.convert(st.xor_network(hidden, seed=seed, weight_std=WEIGHT_STD), rule,
                         seed=seed + 100)
    if rule == "fa":
        st.normal_feedback_(net, FEEDBACK_STD, seed=seed + 200)
    w_start = net[2].weight.detach().flatten().clone()
    trace = st.train(net, (x, y), lr=0.5, steps=steps, evaluate=(x, y), error=st.mse,
                     reduction="sum", record_every=max(steps // 200, 1))
    return net, trace, w_start


runs = {(h, rule): xor_run(h, rule) for h in (2, 25) for rule in ("bp", "fa")}
wall = time.perf_counter() - started


def solved(net):
    with torch.no_grad():
        return int(((net(x) > 0.5).to(y.dtype) == y).sum())


summary = pd.DataFrame([{"network": f"2-{h}-1", "rule": plots.RULE_LABELS[rule],
                         "final MSE": trace.error[-1], "patterns correct": solved(net)}
                        for (h, rule), (net, trace, _) in runs.items()])
summary.round(4)

# %% mystnb={"image": {"alt": "Two panels of mean squared error against training step on XOR, for the 2-2-1 and the 2-25-1 network: both backprop and feedback alignment fall from about 0.25 to near zero."}}
fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.4), sharey=True)
for ax, h, tag in zip(axes, (2, 25), "ab"):
    for rule in ("bp", "fa"):
        trace = runs[(h, rule)][1]
        ax.plot(trace.steps, trace.error, color=plots.RULE_COLORS[rule], lw=1.5,
                label=plots.RULE_LABELS[rule])
    ax.set(title=f"({tag}) 2-{h}-1 network", xlabel="training step (full batch of 4)",
           yscale="log")
axes[0].set_ylabel("MSE over the 4 patterns (unitless)")
axes[0].legend(frameon=False)
fig.tight_layout()

# %% [markdown]
# ## The output weights against the feedback

# %%
net25, _, w25_start = runs[(25, "fa")]
b25 = net25[2].feedback.flatten()
w25_end = net25[2].weight.detach().flatten()
corr = {when: float(torch.corrcoef(torch.stack([w, b25]))[0, 1])
        for when, w in (("before", w25_start), ("after", w25_end))}
angle25 = {"before": st.vector_angle(w25_start, b25), "after": st.vector_angle(w25_end, b25)}
net2, _, w2_start = runs[(2, "fa")]
b2 = net2[2].feedback.flatten()
w2_end = net2[2].weight.detach().flatten()
printed = {"W before": (0.15, -0.13), "B": (-3.75, -4.53), "W after": (-4.65, -4.55)}
printed_angles = (st.vector_angle(printed["W before"], printed["B"]),
                  st.vector_angle(printed["W after"], printed["B"]))
ours_angles = (st.vector_angle(w2_start, b2), st.vector_angle(w2_end, b2))
for key, value in [("corr_before", corr["before"]), ("corr_after", corr["after"]),
                   ("angle25_before", angle25["before"]), ("angle25_after", angle25["after"]),
                   ("printed_angle_before", printed_angles[0]),
                   ("printed_angle_after", printed_angles[1]),
                   ("ours_angle_before", ours_angles[0]), ("ours_angle_after", ours_angles[1]),
                   ("steps", steps)]:
    glue(key, value)


def pair(v):
    return f"({v[0]:.2f}, {v[1]:.2f})"


pd.DataFrame({"Supp. Note 4 (printed)": [pair(printed["W before"]), pair(printed["B"]),
                                         pair(printed["W after"]), f"{printed_angles[0]:.1f}",
                                         f"{printed_angles[1]:.1f}"],
              "ours (seed 1)": [pair(w2_start), pair(b2), pair(w2_end), f"{ours_angles[0]:.1f}",
                                f"{ours_angles[1]:.1f}"]},
             index=["W at the start", "B", "W after training", "angle(W, B) before (degrees)",
                    "angle(W, B) after (degrees)"])

# %% mystnb={"image": {"alt": "Scatter of the 25 output weights of the 2-25-1 network against their feedback weights: before training an uncorrelated cloud near W equals zero, after feedback-alignment training the points lie along a rising line."}}
fig, ax = plt.subplots(figsize=(4.8, 4.2))
ax.scatter(b25, w25_start, s=22, color="0.6", label=f"before (r = {corr['before']:.2f})")
ax.scatter(b25, w25_end, s=26, color=plots.RULE_COLORS["fa"],
           label=f"after FA (r = {corr['after']:.2f})")
ax.axhline(0, color="black", lw=0.6)
ax.axvline(0, color="black", lw=0.6)
ax.set(xlabel="feedback weight B_j (unitless)", ylabel="forward output weight W_j (unitless)",
       title="(c) 2-25-1 network, FA")
ax.legend(frameon=False, fontsize=8)
fig.tight_layout()

# %% [markdown]
# ## What the text says, and what we find
#
# Both rules solve XOR on both networks (the table above: all four patterns on the right side
# of $0.5$ after {glue:text}`steps:.0f` full-batch steps). On the 2-25-1 network the
# correlation of the 25 pairs $(B_j, W_j)$ goes from {glue:text}`corr_before:.2f` before
# training to {glue:text}`corr_after:.2f` after, and the angle between $W$ and $B$ from
# {glue:text}`angle25_before:.0f` to {glue:text}`angle25_after:.0f` degrees: the
# uncorrelated cloud the caption describes becomes a rising line.
#
# For the 2-2-1 network the text prints one run's numbers. They imply an angle of
# {glue:text}`printed_angle_before:.1f` degrees between $W$ and $B$ at the start and
# {glue:text}`printed_angle_after:.1f` after; ours, with $B$ of the same scale, goes from
# {glue:text}`ours_angle_before:.1f` to {glue:text}`ours_angle_after:.1f`. The printed final
# $W$ is parallel to $B$ up to a few degrees and some 30 times longer than the initial one.
# A single 2-2-1 run depends on its seed: with two hidden units some seeds of either rule stop
# on a plateau with three patterns right, and one whose $W$ starts already aligned with $B$
# can end less aligned. So we compare the direction of the change, not the values.
#
# ## Readings where the text is silent
#
# | item | the text | our reading | why |
# |---|---|---|---|
# | units | not stated | sigmoid hidden and output units, targets 0 and 1 | the classic XOR set-up the note cites (Rumelhart et al.) |
# | forward initialisation | "drawn from a normal distribution" | every weight and bias from $\mathcal N(0, 0.5^2)$ | the printed initial $W$ is small; a larger hidden layer scale shortens the starting plateau |
# | feedback scale | printed $B = (-3.75, -4.53)$ | $B \sim \mathcal N(0, 4^2)$ | the root mean square of the two printed entries is about 4; under $\mathcal N(0,1)$ both would be 3.7 and 4.5 sigma events |
# | learning rate | $0.5$ for both rules | $0.5$ on $L = \frac12\sum_{k=1}^4 e_k^2$ (a sum over the four patterns, full batch) | the per-pattern scale of classic batch back-propagation |
# | training length | not stated | {glue:text}`steps:.0f` steps | long enough for every run above to settle |
# | seeds | one run shown per network | 2-25-1: seed 0 (feedback seeds 100 and 200); 2-2-1: seed 1 (101, 201) | the printed 2-2-1 run starts unaligned (near $90°$); our seed 0 starts with its two $W$ entries within $20°$ of $B$, so for the 2-2-1 we take the next seed, which starts above $90°$. We say so because it is a choice made after looking |
#
# ## Provenance

# %% tags=["nbval-ignore-output"]
live_provenance_card(profile, {
    "network": "2-2-1 and 2-25-1 sigmoid", "repeats": "1 run per network and rule",
    "steps": f"{steps}, full batch of 4", "learning rate": 0.5, "dtype": "float64",
    "trainer": "falign.synthetic_tasks.train"}, wall)

# %% [markdown]
# ## Exercises

# %% [markdown] exercise={"level": "starter", "minutes": 15, "needs": "nothing"}
# :::{admonition} Exercise 1: the angles of the printed run
# :class: tip
# From the printed $W$ and $B$ of the 2-2-1 run, compute by hand the angle between them before
# and after training, and how much longer $W$ became. Check with `st.vector_angle`.
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 1
# Before: $\langle W, B\rangle = 0.15\cdot(-3.75) + (-0.13)(-4.53) = 0.026$, against
# $\lVert W\rVert\lVert B\rVert = 0.198 \cdot 5.88 = 1.17$, so the cosine is $0.023$ and the
# angle about $88.7°$: no alignment. After: $\langle W, B\rangle = 38.0$ against
# $6.51\cdot 5.88 = 38.3$, cosine $0.994$, angle about $6°$. The norm of $W$ grew from $0.20$
# to $6.5$, a factor of about 33.
# :::

# %% tags=["solution", "hide-cell"]
w0, bb, w1 = (torch.tensor(printed[k]) for k in ("W before", "B", "W after"))
print(f"angle before {st.vector_angle(w0, bb):.2f} deg, after {st.vector_angle(w1, bb):.2f} deg, "
      f"|W| grew by a factor {float(w1.norm() / w0.norm()):.1f}")

# %% [markdown] exercise={"level": "starter", "minutes": 15, "needs": "nothing"}
# :::{admonition} Exercise 2: the scale of B is a learning rate
# :class: tip
# The note warns that the scale of $B$ changes FA's effective learning rate. Predict whether
# the 2-25-1 network learns faster with $B \sim \mathcal N(0, 4^2)$ or with
# $B \sim \mathcal N(0, 1)$, same forward weights, and check the MSE after 200 steps.
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 2
# The hidden layer's update is proportional to $B^\top e'$, so multiplying $B$ by 4 multiplies
# the hidden layer's learning rate by 4 (the output layer's is unchanged). Early on, when the
# hidden layer must first become useful, the larger $B$ gets there sooner.
# :::

# %% tags=["solution", "hide-cell"]
after = {}
for scale in (1.0, FEEDBACK_STD):
    net = falign.convert(st.xor_network(25, seed=SEEDS[25], weight_std=WEIGHT_STD), "fa",
                         seed=SEEDS[25] + 100)
    st.normal_feedback_(net, scale, seed=SEEDS[25] + 200)
    after[scale] = st.train(net, (x, y), lr=0.5, steps=200, evaluate=(x, y), error=st.mse,
                            reduction="sum", record_every=200).error[-1]
print(f"MSE after 200 steps: B ~ N(0, 1): {after[1.0]:.4f}; B ~ N(0, 4^2): {after[FEEDBACK_STD]:.4f}")
