# %% [markdown]
# # Reading the protocol: an ablation
#
# Appendix A of {cite:t}`robertson2024implicit` fixes most of the noisy-MNIST protocol (4000
# images, 20% label noise, two-layer leaky-ReLU networks, full-batch SGD, learning rate 0.05
# divided by 10 every 1000 epochs, momentum 0.05, 6000 epochs) but leaves several choices open:
#
# | choice | the text | readings we try |
# |---|---|---|
# | initialisation | "$[-1/\sqrt{m}, 1/\sqrt{m}]$ where $m$ is the width" | $m$ = hidden width for both layers (*literal*); $m$ = each layer's fan-in, PyTorch's default (*fan-in*) |
# | biases | not mentioned | none; PyTorch's default $U[\pm 1/\sqrt{\text{fan-in}}]$; all biases 1, as in biotorch {cite}`sanfiz2021benchmarking`, the FA package the paper used |
# | feedback $B$ | not mentioned | same law as $W$; Glorot-uniform, biotorch's default |
# | input scaling | not mentioned | standardised with MNIST's mean and std; $[0, 1]$; raw 0-255 |
# | label noise | "20% label noise" | exactly 800 labels replaced by a different class; each label redrawn uniformly with probability 0.2 |
# | loss | "cross-entropy" | mean over the batch; sum over the batch |
# | Table 3's statistic | "mean absolute deviation" | per neuron or layer sum; final or averaged over epochs; biases counted or not |
#
# We judge a reading by the paper's own qualitative observations, not by how close it lands to a
# printed number: (1) the networks fit the noisy labels ("despite fitting the noise", Figure 4);
# (2) they still generalise to the clean test set; (3) deviations from the conservation law shrink
# with width (Figure 2, Table 3); (4) GD deviates far more than the FA family. Each reading is run at
# widths 15, 60 and 200, one repeat, for the first 2000 epochs of the schedule (after the second
# drop the learning rate is $5\cdot10^{-4}$ and the squared step sizes, which drive the
# discrete-time drift, have added up to 99% of their final total).

# %% tags=["parameters"]
profile = "paper"          # paper | quick | smoke
device = "auto"            # auto picks CUDA when present
results = "../results"     # result store root
data_root = None           # MNIST root (None: $FALIGN_DATA, then ./data)
train_missing = False      # True: train every reading not yet stored (resumable)

# %%
from IPython.display import Markdown, display

from falign import analysis, plots
from falign.chapters import readings_results

plots.set_style()
readings = readings_results(profile, results, device, data_root, train_missing)
display(Markdown(readings.status()))

# %% [markdown]
# ## The four observations, reading by reading
#
# Train accuracy is on the noisy labels (0.8 = the true digit everywhere, no noise memorised);
# deviations are the per-neuron mean $|r_j - 1|$ of Appendix B.1 at the end of training, weights
# only, as the formula is printed. "FA family" is the largest of FA, adaFA and sign-FA.

# %%
analysis.reading_criteria(readings.table)

# %% [markdown]
# Readings whose training diverged (a NaN or infinite loss):

# %%
readings.diverged_table()

# %% [markdown]
# ## Deviation against width under each reading

# %%
fig = plots.readings_deviation(readings.table)

# %% [markdown]
# ## The statistic itself
#
# The same stored runs of the chosen reading, summarised five ways:

# %%
analysis.statistic_readings(readings.table[readings.table.reading == readings.chosen])

# %% [markdown]
# ## The reading we use, and why
#
# CHOICE

# %% [markdown]
# ## What to try
#
# - Add a reading to `falign.experiments.READINGS` (for example a smaller learning rate with
#   summed loss, the same step as the mean loss times 4000/n) and re-run this chapter with
#   `train_missing=True`.
# - The literal reading makes the first layer's weights $\sqrt{784/m}$ times larger than the fan-in
#   reading. Predict from the conservation law what that does to the *relative* deviation.
