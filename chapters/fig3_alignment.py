# %% [markdown]
# # Figure 3: alignment of the output weights with their feedback
#
# The conservation law of Figure 2 turns into alignment. Rearranged for one hidden neuron,
#
# $$
# \langle W_2^{(t)}[j,:], B_2[j,:]\rangle = \langle W_2^{(0)}[j,:], B_2[j,:]\rangle
#   + \tfrac12\left(\lVert W_1^{(t)}[:,j]\rVert^2 - \lVert W_1^{(0)}[:,j]\rVert^2\right),
# $$
#
# so as soon as a neuron's incoming weights grow, its outgoing weights must turn towards the
# feedback. {cite:t}`robertson2024implicit` measure the layer-level cosine
#
# $$
# \cos(W_2, B_2) = \frac{\langle W_2, B_2\rangle}{\lVert W_2\rVert_F\,\lVert B_2\rVert_F}
# $$
#
# during training. For sign-FA, $B_2 = s\,\mathrm{sign}(W_2)$, so $\langle W_2, B_2\rangle = s\lVert W_2\rVert_1
# \ge s\lVert W_2\rVert_F$ and the cosine can never fall below $1/\sqrt{n}$, with $n$ the number of
# entries of $W_2$ (Proposition 5.3; here $n = 10\,m$ for width $m$). That bound is the dotted line
# in the sign-FA panels below. adaFA starts from $B_2 = W_2^{(0)}$, i.e. from cosine 1, and the paper
# reports that it stays more aligned than FA; for GD the cosine is 1 by definition and is not shown.

# %% tags=["parameters"]
profile = "paper"          # paper | quick | smoke
device = "auto"            # auto picks CUDA when present
results = "../results"     # result store root
data_root = None           # MNIST root (None: $FALIGN_DATA, then ./data)
train_missing = False      # True: train every run not yet stored (resumable)
overrides = {}             # protocol fields to change, e.g. {"widths": [15, 200]}

# %%
from IPython.display import Markdown, display

from falign import analysis, plots
from falign.chapters import load_results, provenance_card

plots.set_style()
sweep = load_results("noisy_mnist", profile, results, device, data_root, train_missing,
                     overrides=overrides)
display(Markdown(sweep.status()))
fa_family = sweep.table[sweep.table.rule != "bp"]

# %% [markdown]
# ## The figure
#
# One panel per width; lines are means over repeats, bands one standard error. Dotted: sign-FA's
# lower bound $1/\sqrt{10\,m}$.

# %%
grid = plots.over_epochs(fa_family, "cos_wb_2", "cos(W2, B2)  (unitless)",
                         reference=lambda m: (10 * m) ** -0.5, reference_label="1/sqrt(n)")

# %% [markdown]
# The first 400 epochs, where most of the change happens while the learning rate is 0.05:

# %%
grid = plots.over_epochs(fa_family[fa_family.epoch <= 400], "cos_wb_2",
                         "cos(W2, B2)  (unitless)", reference=lambda m: (10 * m) ** -0.5)

# %% [markdown]
# ## Beside the paper
#
# The paper's Figure 3 has no printed numbers; Section 6.1 makes three claims, checked here on
# every stored run:

# %%
display(analysis.rounded(analysis.alignment_claims(sweep.table)))

# %% [markdown]
# ## Where we agree and where we do not
#
# - **Agree: FA aligns.** FA starts from a cosine near 0 (random $B_2$) and ends well above it
#   in every run, fastest during the first few hundred epochs, while the learning rate is
#   largest; later drops of the learning rate freeze the curves.
# - **Agree: adaFA stays more aligned than FA** at every width and epoch. It cannot "improve",
#   though: it starts at exactly 1 ($B_2 = W_2^{(0)}$) and loses some alignment as $W_2$ moves,
#   which the claims table counts as "ends lower than it starts".
# - **Agree: sign-FA respects Proposition 5.3** with a wide margin: its cosine stays far above
#   $1/\sqrt{10m}$ (0.08 at width 15, 0.02 at width 200); the claims table gives the smallest
#   margin over all runs and epochs.
# - **Disagree: sign-FA is barely non-monotonic here.** The paper calls its alignment "complex,
#   non-monotonic". In our runs it starts high, at about 0.87 (for uniformly drawn weights
#   $\cos(W, \mathrm{sign}\,W)$ is close to $\sqrt{3}/2$), and rises to about 0.93. In all but one
#   run (see the claims table) no measurement falls more than $10^{-4}$ below the one before;
#   the exception, at width 15, dips by at most $3.4\times10^{-4}$ around epoch 140 and ends at
#   its highest value. With the larger steps of the paper's runs (see the Table 3 chapter)
#   weights could flip sign more often and make the curve non-monotonic.
# - We cannot compare curve shapes with the paper's Figure 3 beyond these statements: its values
#   were not printed.

# %% [markdown]
# ## Provenance

# %%
provenance_card(sweep)

# %% [markdown]
# ## What to try
#
# - Plot `cos_wb_1`, the first layer's alignment. Theorem 5.2 says nothing about it: is it any
#   different from chance ($\approx 0$ for FA)?
# - Start FA from a feedback matrix with the wrong sign, $B_2 = -W_2^{(0)}$ (build the model with
#   `falign.convert`, then overwrite `feedback_store`). The law then predicts that alignment must
#   first pass through zero: does it?
# - Compare the end-of-training cosine with $\lVert W_1\rVert$ growth across widths: wide networks
#   move their weights less, so what does the law predict for their alignment?
