# %% [markdown]
# # Supp. Fig. 6: frozen first layer
#
# *Lillicrap et al. 2016, Supplementary Figure 6: freezing the first layer.*
#
# Does feedback alignment send anything useful past the layer next to the output? A deeper
# network trained by FA could beat a shallower one merely by having more parameters, with the
# first layer contributing only by chance. {cite:t}`lillicrap2016random` (Supplementary Note 3)
# settle it with a control: train the four-layer network as usual, and again with its first
# weight matrix $W_0$ (and bias) held at their initial values. If FA's error signal reaching
# the first hidden layer were useless, the two would end level; if it is useful, the frozen
# network should do worse, as it does for backprop.
#
# A random teacher network $f^\ast$ (tanh hidden layers, linear output) produces the targets
# $y^\ast = f^\ast(x)$ for inputs $x \sim \mathcal N(0, I_{30})$. A student
# $\hat y = W_2 \tanh(W_1 \tanh(W_0 x + b_0) + b_1) + b_2$ takes steps on minibatches of
# 100 fresh examples of the loss $L = \frac{1}{2n}\sum_k \lVert \hat y_k - y^\ast_k\rVert^2$.
# Backprop sends the output error $e$ back as $\delta_1 = (W_2^\top e)\odot\tanh'$; FA sends
# it through a fixed random matrix, $\delta_1 = (B_2^\top e)\odot\tanh'$, and so on down. We
# measure the normalised squared error on 1000 held-out examples,
#
# $$
# \mathrm{NSE} = \frac{\sum_k \lVert y^\ast_k - \hat y_k\rVert^2}{\sum_k \lVert y^\ast_k - \bar y^\ast\rVert^2},
# $$
#
# the squared error over that of the constant predictor $\bar y^\ast$ (the mean target): 1 means
# no better than the mean, 0 a perfect fit.

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
device = "cpu"             # small networks: the CPU

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from falign import plots
from falign import synthetic_tasks as st
from falign.chapters import glue, live_provenance_card

plots.set_style()
torch.set_num_threads(1)
steps, repeats = {"paper": (1000, 5), "smoke": (60, 2)}[profile]
dtype = torch.float64          # float64: in float32 the printed digits moved with the CPU's kernels
started = time.perf_counter()

teacher = st.teacher_network([30, 20, 10, 10], seed=999, dtype=dtype)
held_out = st.regression_data(teacher, 1000, 30, seed=123, dtype=dtype)
conditions = {   # label: (architecture, rule, first layer frozen)
    "BP": ([30, 40, 40, 10], "bp", False),
    "FA": ([30, 40, 40, 10], "fa", False),
    "BP, W0 frozen": ([30, 40, 40, 10], "bp", True),
    "FA, W0 frozen": ([30, 40, 40, 10], "fa", True),
    "BP, 3-layer": ([30, 40, 10], "bp", False),
    "FA, 3-layer": ([30, 40, 10], "fa", False),
}
curves = {}
for depth in (4, 3):
    labels = [c for c, spec in conditions.items() if len(spec[0]) == depth]
    models, frozen, sources = [], [], []
    streams = [st.fresh_batches(teacher, 100, 30, seed=1000 + r, dtype=dtype)
               for r in range(repeats)]          # repeat r: one data order for every condition
    for label in labels:
        sizes, rule, freeze = conditions[label]
        for r in range(repeats):
            models.append(st.uniform_student(sizes, rule, seed=r, feedback_seed=100 + r,
                                             dtype=dtype))
            frozen.append(freeze)
            sources.append(streams[r])
    traces = st.train_stacked(models, st.stacked_batches(sources), lr=0.05, steps=steps,
                              evaluate=held_out, record_every=max(steps // 50, 1),
                              freeze_first=frozen)
    for i, label in enumerate(labels):
        curves[label] = [traces[i * repeats + r] for r in range(repeats)]
wall = time.perf_counter() - started

final = pd.DataFrame({label: [t.error[-1] for t in ts] for label, ts in curves.items()})
final.index.name = "repeat"
final.round(4)

# %% mystnb={"image": {"alt": "Normalised squared error against training step for six conditions, five runs each: BP and FA on the four-layer network fall lowest, the three-layer BP and FA runs close by, and BP and FA with the first layer frozen level off at about twice the error."}}
styles = {"BP": ("bp", "-"), "FA": ("fa", "-"), "BP, W0 frozen": ("bp", ":"),
          "FA, W0 frozen": ("fa", ":"), "BP, 3-layer": ("bp", "--"), "FA, 3-layer": ("fa", "--")}
fig, ax = plt.subplots(figsize=(7.2, 4.2))
for label, ts in curves.items():
    rule, ls = styles[label]
    for r, t in enumerate(ts):
        ax.plot(t.steps, t.error, color=plots.RULE_COLORS[rule], ls=ls, lw=1.1, alpha=0.8,
                label=label if r == 0 else None)
ax.set(yscale="log", xlabel="training step (minibatches of 100)",
       ylabel="NSE on held-out examples (unitless)")
ax.legend(frameon=False, fontsize=8, ncol=2)
fig.tight_layout()

# %% [markdown]
# In the paper's colours BP is black, FA dark green, the frozen controls cyan (BP) and magenta
# (FA); here BP is grey and FA blue throughout, solid for the full four-layer network, dotted
# with $W_0$ frozen, dashed for the three-layer network.

# %%
mean = final.mean()
for key, label in [("bp", "BP"), ("fa", "FA"), ("bp_frozen", "BP, W0 frozen"),
                   ("fa_frozen", "FA, W0 frozen"), ("bp3", "BP, 3-layer"), ("fa3", "FA, 3-layer")]:
    glue(f"nse_{key}", mean[label])
fa_wins = int((final["FA"] < final["FA, W0 frozen"]).sum())
bp_wins = int((final["BP"] < final["BP, W0 frozen"]).sum())
frozen_vs_3 = int(((final["FA, W0 frozen"] > final["FA, 3-layer"])
                   & (final["BP, W0 frozen"] > final["BP, 3-layer"])).sum())
glue("fa_wins", fa_wins)
glue("bp_wins", bp_wins)
glue("frozen_vs_3", frozen_vs_3)
glue("repeats", repeats)
glue("steps", steps)
glue("fa_ratio", float((final["FA, W0 frozen"] / final["FA"]).min()))
glue("bp_ratio", float((final["BP, W0 frozen"] / final["BP"]).min()))
checks = pd.DataFrame({
    "claim (Supp. Note 3)": ["FA beats FA with W0 frozen", "BP beats BP with W0 frozen",
                             "frozen controls worse than the 3-layer nets (both rules)"],
    "repeats where it holds": [f"{fa_wins} of {repeats}", f"{bp_wins} of {repeats}",
                               f"{frozen_vs_3} of {repeats}"]})
checks

# %% [markdown]
# ## What the text says, and what we find
#
# | | the text | ours (mean of {glue:text}`repeats:.0f` runs, after {glue:text}`steps:.0f` steps) |
# |---|---|---|
# | BP, four layers | lowest curves (black) | NSE {glue:text}`nse_bp:.3f` |
# | FA, four layers | close to BP (dark green) | NSE {glue:text}`nse_fa:.3f` |
# | BP, $W_0$ frozen | "significantly worse" (cyan) | NSE {glue:text}`nse_bp_frozen:.3f` |
# | FA, $W_0$ frozen | "much worse" (magenta) | NSE {glue:text}`nse_fa_frozen:.3f` |
# | three-layer nets | controls worse than these | BP {glue:text}`nse_bp3:.3f`, FA {glue:text}`nse_fa3:.3f` |
#
# The paper prints no values, only the curves and their order. The order holds in every run:
# FA beats its frozen control in {glue:text}`fa_wins:.0f` of {glue:text}`repeats:.0f` repeats
# (its frozen error is at least {glue:text}`fa_ratio:.2f` times its own), BP in
# {glue:text}`bp_wins:.0f` (at least {glue:text}`bp_ratio:.2f` times), and both frozen controls
# end above the three-layer networks in {glue:text}`frozen_vs_3:.0f` repeats. So FA's error
# signal, sent to the first hidden layer through two random matrices, improves $W_0$ as
# backprop's does. At this length of training the three-layer nets are level with the
# four-layer ones (FA's deeper net is still catching up), and a frozen layer of random tanh
# features costs far more than the extra layer gains, as the text explains.
#
# ## Readings where the text is silent
#
# | item | the text | our reading | why |
# |---|---|---|---|
# | four-layer student | printed "30-40-10", the same as the three-layer one | 30-40-40-10 | two hidden layers are needed for a first layer to freeze; we keep the stated width 40 for both |
# | uniform ranges | "uniform distributions" | every weight, bias and feedback entry of teacher and students from $U[\pm\sqrt{3/\text{fan-in}}]$ | unit-variance pre-activations on $\mathcal N(0,1)$ inputs, so tanh is nonlinear and the frozen features are not a near-linear copy of $x$ |
# | NSE | "normalized squared error" | squared error over that of the mean predictor | the usual normalisation; 1 is the error of predicting $\bar y^\ast$ |
# | data | inputs from $\mathcal N(0,1)$, minibatches of 100 | a fresh minibatch every step, one data order per repeat shared by all conditions | infinite data, paired comparisons |
# | loss scale | learning rate $0.05$ | $L = \frac{1}{2n}\sum_k\lVert e_k\rVert^2$ (mean over the minibatch) | the TensorFlow default of averaging a minibatch |
# | training length | not stated | {glue:text}`steps:.0f` steps | the order of the curves is settled well before; the chapter must run in seconds |
# | teacher and student seeds | not stated | teacher 999, students 0-4, feedback 100-104 | distinct seeds: with equal ones the library's generator would give a student the teacher's first layer |
#
# ## Provenance

# %% tags=["nbval-ignore-output"]
live_provenance_card(profile, {
    "network": "teacher 30-20-10-10 tanh; students 30-40-40-10 and 30-40-10 tanh, linear output",
    "repeats": f"{repeats} per condition, 6 conditions", "steps": f"{steps}, minibatch 100",
    "learning rate": 0.05, "dtype": "float64", "trainer": "falign.synthetic_tasks.train_stacked"},
    wall)

# %% [markdown]
# ## Exercises

# %% [markdown] exercise={"level": "starter", "minutes": 15, "needs": "nothing"}
# :::{admonition} Exercise 1: does the frozen layer change at all?
# :class: tip
# Predict what `freeze_first=True` leaves untouched. Train one FA student for 50 steps with its
# first layer frozen and compare every parameter with its initial value, bit for bit.
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 1
# The first layer's weight and bias are never updated, so they stay bit-identical; every other
# parameter moves, since the error still reaches the second and third layers.
# :::

# %% tags=["solution", "hide-cell"]
net = st.uniform_student([30, 40, 40, 10], "fa", seed=0, feedback_seed=100, dtype=dtype)
before = [p.detach().clone() for p in net.parameters()]
st.train(net, st.fresh_batches(teacher, 100, 30, seed=1000, dtype=dtype), lr=0.05, steps=50,
         evaluate=held_out, freeze_first=True, record_every=50)
names = ["W0", "b0", "W1", "b1", "W2", "b2"]
for name, a, p in zip(names, before, net.parameters()):
    print(f"{name}: unchanged bit for bit: {torch.equal(a, p.detach())}")

# %% [markdown] exercise={"level": "intermediate", "minutes": 30, "needs": "nothing"}
# :::{admonition} Exercise 2: is FA's signal at the first layer a descent direction?
# :class: tip
# The frozen control shows that FA's updates of $W_0$ help. A sharper check: the angle between
# FA's update of $W_0$ and the true gradient of the loss with respect to $W_0$. Predict it at
# initialisation and after 500 steps of FA, then measure it with
# `falign.measurements.update_gradient_angle` on a held-out batch.
# :::

# %% [markdown] tags=["solution"]
# :::{dropdown} Solution to exercise 2
# At initialisation $B$ is unrelated to $W$, so the update of $W_0$ is nearly orthogonal to the
# gradient (close to 90 degrees). Training aligns the forward weights with the feedback, and the
# angle falls well below 90 degrees: the update then has a positive component along the
# negative gradient, which is why freezing $W_0$ costs FA error.
# :::

# %% tags=["solution", "hide-cell"]
from falign.measurements import update_gradient_angle


def loss_fn(out):
    return 0.5 * (out - held_out[1]).pow(2).sum(1).mean()


net = st.uniform_student([30, 40, 40, 10], "fa", seed=0, feedback_seed=100, dtype=dtype)
print("at initialisation:", {k: round(v, 1) for k, v in
                             update_gradient_angle(net, loss_fn, held_out[0]).items()})
st.train(net, st.fresh_batches(teacher, 100, 30, seed=1000, dtype=dtype), lr=0.05, steps=500,
         evaluate=held_out, record_every=500)
print("after 500 steps:  ", {k: round(v, 1) for k, v in
                             update_gradient_angle(net, loss_fn, held_out[0]).items()})
