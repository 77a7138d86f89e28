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
from falign.families.noisy_mnist import readings_results

plots.set_style()
readings = readings_results(profile, results, device, data_root, train_missing)
display(Markdown(readings.status()))
readings.definitions()

# %% [markdown]
# ## The four observations, reading by reading
#
# Train accuracy is on the noisy labels (0.8 = the true digit everywhere, no noise memorised);
# deviations are the per-neuron mean $|r_j - 1|$ of Appendix B.1 at the end of training, weights
# only, as the formula is printed. "FA family" is the largest of FA, adaFA and sign-FA.

# %%
analysis.rounded(analysis.reading_criteria(readings.table))

# %% [markdown]
# Readings whose training diverged (a NaN or infinite loss; the sweep stops a reading at the
# first model that diverges):

# %%
display(Markdown(readings.diverged_text()))

# %% [markdown]
# ## Deviation against width under each reading

# %%
fig = plots.readings_deviation(readings.table)

# %% [markdown]
# ## The statistic itself
#
# The same stored runs summarised five ways, for the chosen reading and for the reading with
# biotorch's biases at 1, where counting the biases or not makes the difference:

# %%
for name in [n for n in (readings.chosen, "fan-in init + biases at 1")
             if n in set(readings.table.reading)]:
    display(Markdown(f"**{name}**"))
    display(analysis.rounded(analysis.statistic_readings(
        readings.table[readings.table.reading == name])))

# %% [markdown]
# ## The reading we use, and why
#
# The book's protocol uses **fan-in init**: each layer's weights from $U[-1/\sqrt{m}, 1/\sqrt{m}]$
# with $m$ that layer's fan-in (784 for the first layer, the hidden width for the second), no
# biases, standardised inputs, mean cross-entropy, exactly 800 of the 4000 labels replaced. Why:
#
# - **It holds three of the four observations**: the deviations shrink with width for every
#   method, GD deviates hundreds of times more than the FA family, and the networks generalise.
#   The literal reading ($m$ = hidden width for both layers) holds only one: it makes the first
#   layer's weights $\sqrt{784/m}$ times larger, so every potential starts large, the relative
#   deviations are tiny, and GD's deviation *grows* with width, the opposite of Table 3.
# - **It tests the theorem as stated.** Theorem 5.2 and the formula of Appendix B.1 are written
#   for networks without biases. With biases the conserved quantity gains a $-\tfrac12 b_j^2$
#   term: measured with it ("neuron, with biases" above) the law holds as tightly as without
#   biases; measured without it, the deviation picks up the growth of the biases and means
#   nothing about the theorem. The readings with biases initialised at 1 (biotorch's default)
#   show that effect: about five times larger weights-only deviations at width 15.
# - **The rest follows the most common practice**: PyTorch's default initialisation is exactly
#   "$U[\pm 1/\sqrt{m}]$" with $m$ the fan-in, MNIST is usually standardised, and cross-entropy in
#   PyTorch is a mean unless asked otherwise.
#
# **No reading fits the noise.** With a mean loss and learning rate 0.05 the final training
# accuracy ends between 0.73 and 0.83 under every reading, around the 0.8 of predicting every
# true digit. The two readings that take larger steps, the summed loss (4000 times the mean's
# step) and raw 0-255 pixels, both diverge within the first 25 epochs at learning rate 0.05. We
# report this as a disagreement with Figure 4 in its chapter rather than pick a reading for it.

# %% [markdown]
# ## What to try
#
# - A summed loss with the learning rate divided by 4000 is the mean loss again. Add a reading to
#   `falign.families.noisy_mnist.READINGS` with `loss_reduction="sum"` and `lr=0.05/400` (ten times the
#   mean's step), re-run this chapter with `train_missing=True`, and see whether it fits the noise
#   before it diverges.
# - The literal reading makes the first layer's weights $\sqrt{784/m}$ times larger than the fan-in
#   reading. Predict from the conservation law what that does to the *relative* deviation, then
#   check the first rows of the table above.
