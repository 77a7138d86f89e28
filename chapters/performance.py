# %% [markdown]
# # Performance: what each rule costs
#
# *What each learning rule costs.*
#
# A feedback-alignment step does the same arithmetic as a backprop step. The backward pass
# multiplies the error by a feedback matrix $B$ where backprop multiplies by $W^\top$; $B$ has
# $W$'s shape, so every product has the same size. The rules differ only in the little work
# they do on $B$ itself, and that work grows with the number of weights, not with
# batch × weights:
#
# | rule | extra work per step | grows as |
# |---|---|---|
# | FA, adaFA | none ($B$ stored) | — |
# | sign-FA | $B = s\,\mathrm{sign}(W)$, one elementwise select | $\lvert W\rvert$ |
# | frSF | $\lvert M\rvert\,\mathrm{sign}(W)$ | $\lvert W\rvert$ |
# | brSF | the select, plus fresh random magnitudes $\lvert M_t\rvert$ | $\lvert W\rvert$ random draws |
# | DFA, mDFA | the error goes to each layer in one product $e\,D_i$ instead of through the chain | can be less than BP |
#
# So the cost of a rule should come out at backprop's, and the library is built so it does.
# Each converted layer's backward (`falign.layers`) computes only what autograd would: no
# input gradient for the first layer; one fused `convolution_backward` that is handed $B$ in
# place of $W$. brSF draws $\lvert M_t\rvert$ lazily, when a step first reads the feedback, so
# the first layer never draws magnitudes it would not use. The draw depends only on (seed, layer,
# step), so the lazy value is bit-for-bit the eager one (`tests/test_rules_gradients.py`).
#
# **How it is measured.** `scripts/benchmark.py` times one full training step of each
# candidate: zero the gradients, forward, backward, SGD with momentum, then the rule's
# after-step update. The baseline is the *unconverted* model trained by plain autograd. Every
# round runs each candidate once, in a fresh random order. A candidate's ratio for the round
# is its time over the baseline's time in that same round. The page reports the median of
# those ratios and their quartiles. Pairing within a round cancels slow drifts in machine load,
# which otherwise swamp a 2% effect on a shared 2-core machine. Nothing on this page is timed
# live: it reads the stored outputs of `make bench` under `results/benchmarks/` and the wall
# time each stored run recorded.

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
profile = "paper"                       # this page reads stored benchmarks; other values ignored
results = "../results"                  # result store root (for the runs' wall times)
benchmarks = "../results/benchmarks"    # stored outputs of scripts/benchmark.py --out

# %%
from IPython.display import Markdown, display

from falign import plots
from falign.chapters import glue
from falign.performance import BASELINE, GOAL, load_benchmarks, sweep_wall_times

plots.set_style()
glue("goal", GOAL)
cases = load_benchmarks(benchmarks)
latest = cases[cases.created_utc == cases.groupby("device").created_utc.transform("max")]
rules_cases = latest[latest.section == "rules"]

# %% [markdown]
# ## Every rule against backprop
#
# The goal is a ratio of at most {glue:text}`goal:.2f` for every rule on the noisy-MNIST MLP
# (full batch of 4000 images, width 200) and on LeNet (batch 1024 of 32×32 images). `bp` is the
# converted network with $B = W$: it checks that the custom backward costs no more than
# autograd's own.

# %% mystnb={"image": {"alt": "One panel per network and device: each learning rule's step time divided by plain autograd backprop's, as a dot (median over interleaved rounds) with a bar (quartiles); a dashed line marks 1.0 and a dotted line marks the 1.05 goal."}}
fig = plots.rule_cost_ratios(rules_cases, limit=GOAL)

# %%
table = (rules_cases.pivot_table(index="candidate", columns=["device", "model"], values="ratio",
                                 sort=False).round(3))
worst = rules_cases[rules_cases.candidate != BASELINE].groupby(["device", "model"]).ratio.max()
display(Markdown("Worst rule per network: " + "; ".join(
    f"{model} on {device}: **{ratio:.3f}**" for (device, model), ratio in worst.items())
    + (f". Every rule is within the {GOAL:.2f} goal." if (worst <= GOAL).all()
       else f". Not every rule is within the {GOAL:.2f} goal yet.")))
table

# %% [markdown]
# DFA and mDFA come out *below* backprop on LeNet. They skip the transposed convolutions that
# carry the error back through the conv layers: each layer gets $e\,D_i$, one matrix product
# with the 10-dimensional output error. On the MLP there is nothing to skip, because the first
# layer needs no input gradient under any rule.

# %% [markdown]
# ## How the cost grows with width
#
# The noisy-MNIST sweep spans widths 15 to 200 (Table 3); the benchmark runs from 25 to 1600,
# eight times past the widest net there. A step's products and the rules' extra work both
# scale with the width, so the ratio should stay flat as the net widens. What
# does not scale is the fixed cost of a custom backward: one Python call per layer. It shows
# only where a whole step takes a few milliseconds.

# %% mystnb={"image": {"alt": "Log-log lines of the time per training step in milliseconds against hidden width from 25 to 1600 units, for plain autograd backprop (dashed), FA and sign-FA."}}
width_cases = latest[latest.section == "width"]
if len(width_cases):
    fig = plots.cost_vs_width(width_cases)
    display(width_cases.astype({"width": int})
            .pivot_table(index="width", columns="candidate", values="ratio").round(3))
    rated = width_cases[width_cases.candidate != BASELINE]
    top = rated.loc[rated.ratio.idxmax()]
    base_ms = width_cases[(width_cases.candidate == BASELINE)
                          & (width_cases.width == top.width)].median_ms.iloc[0]
    display(Markdown(
        f"Over widths {width_cases.width.min():.0f} to {width_cases.width.max():.0f} the rules' "
        f"ratios run from {rated.ratio.min():.3f} to {rated.ratio.max():.3f}. The largest, "
        f"{top.candidate} at width {top.width:.0f}, is on a step of {base_ms:.1f} ms."))
else:
    display(Markdown("No stored width benchmark yet: `make bench` stores one."))

# %% [markdown]
# ## Many models at once
#
# The noisy-MNIST sweep trains 240 small, independent networks. `falign.stacked` trains the
# rules and repeats of one width as one batched computation: their weights become a
# $(K, \cdot, \cdot)$ tensor and every product a batched one. Stacking pays where one model
# leaves the device idle, as on a GPU. It cannot pay where one model already keeps every core
# busy, as on this 2-core CPU.

# %% mystnb={"image": {"alt": "Time per model per epoch in milliseconds against the number K of models trained at once as one stacked computation, beside the constant time of one model trained alone."}}
stack_cases = latest[latest.section == "concurrency"]
if len(stack_cases):
    fig = plots.cost_vs_models(stack_cases)
    display(stack_cases.astype({"models": int})
            .assign(ms_per_model=stack_cases.median_ms / stack_cases.models)
            [["device", "models", "median_ms", "ms_per_model", "one_model_ms"]]
            .rename(columns={"median_ms": "stack ms", "ms_per_model": "ms per model",
                             "one_model_ms": "one model alone, ms"})
            .round(1).reset_index(drop=True))
    per_model = stack_cases.median_ms / stack_cases.models / stack_cases.one_model_ms
    display(Markdown(f"Stacked, a model's epoch costs {per_model.min():.2f} to "
                     f"{per_model.max():.2f} times its cost alone "
                     f"(K = {stack_cases.models.min():.0f} to {stack_cases.models.max():.0f})."))
else:
    display(Markdown("No stored concurrency benchmark yet: `make bench` stores one."))

# %% [markdown]
# ## What the stored sweeps took
#
# Every stored run records its device and wall time (a stacked run records its share of the
# stack's time) and, for runs trained since peak memory was measured, its peak resident memory
# in MiB (the sweep resets the process's high-water mark before each run, so the peak is the
# run's own; runs trained stacked share one peak, the stack's; on a GPU the record adds the
# allocator's peak and the CUDA and cuDNN versions). Summed per experiment and device, they give
# what a sweep costs to re-run; `max_peak_*_mib` is the largest peak recorded, and runs stored
# before memory was measured count as "not recorded":

# %%
walls = sweep_wall_times(results)
walls.round({"total_h": 2, "median_run_s": 1})

# %% [markdown]
# ## On a GPU
#
# No accelerator has been lent to this book yet, so every number above comes from a CPU. On a
# machine with one, `make bench BENCH_DEVICE=cuda` stores the same benchmark (add
# `BENCH_SECTIONS="rules width concurrency resnet"` for ResNet-18), and this page shows it in
# its own panels. The stored runs' wall times then give the sweep times per device: the
# noisy-MNIST paper sweep's target is under five minutes on one H100.

# %% [markdown]
# ## Provenance

# %%
(latest.groupby(["file", "device"], as_index=False)
 .agg(stored=("created_utc", "first"), torch=("torch", "first"), threads=("threads", "first"),
      rounds=("rounds", "max"), cases=("candidate", "size")))
