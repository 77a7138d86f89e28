# %% [markdown]
# # Figure 4: fitting the noise and still generalising
#
# A fifth of the 4000 training labels are wrong. A network that fits its training set therefore
# memorises 800 wrong labels, and classical intuition says its test error should suffer, more so
# the more parameters it has. {cite:t}`robertson2024implicit` report that for GD and for the FA
# family alike, widening the network does not hurt the clean test loss (*benign overfitting*), and
# suggest that FA shares GD's implicit regularisation: the conservation law of Figure 2 ties the
# growth of the first layer to the alignment of the second, which limits how far the weights can
# wander.
#
# Figure 4 plots the final train and test losses against width. A training accuracy of 0.8 on the
# noisy labels is what a network that predicts every image's true digit would score; values above
# 0.8 mean that some of the wrong labels have been memorised.

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
from falign.chapters import noisy_mnist_results, provenance_card

plots.set_style()
sweep = noisy_mnist_results(profile, results, device, data_root, train_missing, overrides=overrides)
display(Markdown(sweep.status()))
final = analysis.final_rows(sweep.table)

# %% [markdown]
# ## The figure
#
# Values after the last epoch; points are means over repeats, bars one standard error.

# %%
fig = plots.against_width(final, {
    "train_loss": "train loss, noisy labels (nats)", "test_loss": "test loss, clean (nats)",
    "train_acc": "train accuracy, noisy labels", "test_acc": "test accuracy, clean"})

# %% [markdown]
# ## Beside the paper
#
# The paper's Figure 4 has no printed numbers. Its claims, against our final values (mean over
# repeats, narrowest and widest width):

# %%
display(analysis.generalization_summary(final))

# %% [markdown]
# ## Where we agree and where we do not
#
# COMPARISON

# %% [markdown]
# ## Provenance

# %%
provenance_card(sweep)

# %% [markdown]
# ## What to try
#
# - Train longer at the initial learning rate (`overrides={"lr_drop_every": 3000}`) and watch
#   the training accuracy pass 0.8: at what point does the test loss start to rise, if at all?
# - Set `overrides={"noise": 0.0}`: how much of the train/test gap above is due to the noise?
# - Plot `test_loss` over epochs for one width (the table has every fifth epoch) and look for
#   the early-stopping minimum that benign overfitting would make unnecessary.
