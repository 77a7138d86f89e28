# %% [markdown]
# # Figures 5–7: layer-wise alignment of the LeNet, n = 10, 25, 50
#
# Appendix B.2 of {cite:t}`robertson2024implicit` follows the runs of Table 1 (previous
# chapter, same stored runs) layer by layer. For each trainable layer of the LeNet,
# $C1 \to C2 \to C3 \to F1 \to F2$, it plots the cosine between the forward weights and the
# feedback that stands in for them in the backward pass, both flattened into vectors:
#
# $$
# \cos(W_\ell, B_\ell) = \frac{\langle W_\ell, B_\ell\rangle}{\lVert W_\ell\rVert_F\,\lVert B_\ell\rVert_F}.
# $$
#
# What to expect, rule by rule:
#
# - **FA**: $B$ is drawn independently of $W$, so the cosine starts near 0. Training moves $W$
#   towards $B$ (the conservation law of Theorem 5.2 says how much, unit by unit), fastest where
#   the error arrives first, the output layer $F2$.
# - **adaFA**: $B = W^{(0)}$, so every cosine starts at exactly 1 and falls as $W$ moves away
#   from its initial value.
# - **sign-FA**: $B = s\,\mathrm{sign}(W)$, so $\langle W, B\rangle = s\lVert W\rVert_1$ and the
#   cosine is $\lVert W\rVert_1 / (\sqrt{N}\lVert W\rVert_F)$ for a layer of $N$ weights: at
#   least $1/\sqrt N$ (Proposition 5.3), and $\sqrt3/2 \approx 0.87$ for uniformly distributed
#   weights such as Xavier's initialisation.
# - **GD** (backprop): $B = W$, cosine 1 by definition; not drawn.
#
# The paper reports that FA's alignment improves during training, most in the output layer;
# that adaFA stays above FA; and that alignment is lower for larger $n$, most of all for FA.
# The dataset caveat of the Table 1 chapter applies: these runs use the 32-pixel Tiny-ImageNet
# stand-in, not CIFAR-100.

# %% tags=["parameters"]
profile = "paper"          # paper | quick | smoke
device = "auto"            # auto picks CUDA when present
results = "../results"     # result store root
data_root = None           # data root (None: $FALIGN_DATA, then ./data)
train_missing = False      # True: train every run not yet stored (resumable)
overrides = {}             # protocol fields to change, e.g. {"n_classes": [10]}

# %%
from falign import analysis, plots
from falign.chapters import load_results, provenance_card, show_status
from falign.families import lenet_cifar

plots.set_style()
sweep = load_results("lenet_cifar", profile, results, device, data_root, train_missing,
                     overrides=overrides)
show_status(sweep)
fa_family = sweep.table[sweep.table.rule != "bp"]

# %% [markdown]
# ## The figures
#
# One figure per $n$ with runs, one panel per layer; lines are means over repeats, bands one
# standard error; the dotted line marks cosine 0 (no alignment). An $n$ whose runs are still
# pending has no figure yet (see the box above).

# %%
for n in sorted(fa_family.n_classes.unique()):
    plots.layer_alignment(fa_family, lenet_cifar.LAYERS, n)

# %% [markdown]
# ## At the end of training
#
# Final cosine per layer, mean over stored repeats:

# %%
analysis.rounded(analysis.final_alignment(fa_family, lenet_cifar.LAYERS), 3)

# %% [markdown]
# ## Beside the paper
#
# Figures 5–7 carry no printed numbers, so the comparison is with their description. When this
# was written only $n = 10$ had runs (two repeats per rule), so the claim that alignment falls
# with $n$ waits for the pending columns. Within $n = 10$:
#
# - **Agree: FA aligns, most in the output layer.** FA's $F2$ climbs from about 0 to about 0.3
#   over the 500 epochs, fastest before the first halving of the learning rate; the layers
#   below it barely move from 0. Alignment has to travel backwards: a layer's feedback only
#   matters once the error reaching it is already partly aligned.
# - **Agree: adaFA stays above FA** in every layer, though it loses alignment steadily from its
#   starting value of 1, most in $F2$, the layer whose weights change most.
# - **sign-FA** stays near its starting value $\approx 0.87$ in every layer, far above the
#   bound $1/\sqrt{N}$ of Proposition 5.3 (at most 0.034, for $C1$'s 864 weights): its alignment is
#   a property of the rule, not something training has to build.

# %% [markdown]
# ## Provenance

# %%
provenance_card(sweep)

# %% [markdown]
# ## What to try
#
# - The conservation law predicts that a layer whose incoming weights grow must align its
#   outgoing weights. Plot `weight_norm_C1` ... `weight_norm_F2` (stored for every epoch) next
#   to the cosines: does FA's alignment rise where the norms of the layer below grow?
# - Compute sign-FA's bound $1/\sqrt{N}$ for each layer ($N$ = number of weights) and check
#   how far above it the curves stay.
