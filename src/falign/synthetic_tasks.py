"""Small nonlinear experiments of Lillicrap et al. 2016's Supplementary Information: a random
target network (the teacher) and its regression data, the normalised squared error, XOR, a
small trainer for networks converted with `falign.convert`, and the per-unit alignment angle.

Conventions.  Layers are PyTorch's (out, in) Linear weights, so hidden unit j's outgoing
forward weights are the column weight[:, j] of the next layer and its feedback is the column
feedback[:, j] of the same shape (falign.measurements' layout).  The trainer takes explicit
steps theta <- theta + Delta theta with Delta theta = -lr * grad (grad computed by the rule's
backward pass), so that every variant (frozen layer, momentum, switch of rule) is visible.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from .layers import FEEDBACK_LAYERS, convert, feedback_layers, true_gradient
from .measurements import alignment_cosine_from, feedback_of, weight_layers
from .models import mlp

Batches = Callable[[int], tuple[torch.Tensor, torch.Tensor]]


# ------------------------------------------------------------------------------ data
def uniform_student(sizes: list[int], rule: str, *, seed: int, feedback_seed: int,
                    gain: float = math.sqrt(3.0),
                    dtype: torch.dtype = torch.float64) -> nn.Sequential:
    """Lillicrap et al. 2016, Supp. Note 3 (forward and backward weights and biases of the
    learned networks uniform): a tanh MLP with a linear output converted to `rule`, whose
    weights, biases and FA feedback are all U[-gain/sqrt(fan_in), gain/sqrt(fan_in)] (the
    teacher's law, our reading)."""
    if gain <= 0:
        raise ValueError(f"gain must be positive, got {gain}")
    net = mlp(sizes[0], list(sizes[1:-1]), sizes[-1], activation="tanh", seed=seed, dtype=dtype)
    net = convert(net, rule, seed=feedback_seed)
    with torch.no_grad():
        for layer in feedback_layers(net):
            layer.weight.mul_(gain)
            layer.bias.mul_(gain)
            if layer.rule == "fa":
                layer.feedback_store.mul_(gain)   # draw_feedback: U[+-1/sqrt(fan_in)] too
    return net


def teacher_network(sizes: list[int], *, seed: int, gain: float = math.sqrt(3.0),
                    dtype: torch.dtype = torch.float64) -> nn.Sequential:
    """Lillicrap et al. 2016, Supp. Note 3 / Supp. Fig. 6: a random tanh target network with a
    linear output, every weight and bias from U[-gain/sqrt(fan_in), gain/sqrt(fan_in)].

    The default gain sqrt(3) gives first-layer pre-activations of about unit variance on
    N(0, 1) inputs, so that tanh is used in its nonlinear range (the text leaves the range open).
    """
    if len(sizes) < 3:
        raise ValueError(f"a teacher needs at least one hidden layer, got sizes {sizes}; pass "
                         "[inputs, hidden..., outputs], e.g. [30, 20, 10, 10]")
    if gain <= 0:
        raise ValueError(f"gain must be positive, got {gain}; the default sqrt(3) gives "
                         "unit-variance pre-activations")
    net = mlp(sizes[0], list(sizes[1:-1]), sizes[-1], activation="tanh", seed=seed, dtype=dtype)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(gain)                  # mlp draws U[+-1/sqrt(fan_in)]; scale the range
    return net


def gaussian_inputs(n: int, features: int, generator: torch.Generator,
                    dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Lillicrap et al. 2016, Supp. Note 3: inputs drawn from N(0, 1), one row per example."""
    return torch.randn(n, features, generator=generator, dtype=dtype)


def regression_data(target: Callable[[torch.Tensor], torch.Tensor], n: int, features: int, *,
                    seed: int, dtype: torch.dtype = torch.float64
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Lillicrap et al. 2016, Supp. Note 3 / Figs. 6, 9, 14: n examples x ~ N(0, 1) and the
    target's outputs y = target(x) (a teacher network or any function of x)."""
    if n < 2:
        raise ValueError(f"need at least 2 examples for a normalised error, got n={n}")
    x = gaussian_inputs(n, features, torch.Generator().manual_seed(seed), dtype)
    with torch.no_grad():
        return x, target(x)


def fresh_batches(target: Callable[[torch.Tensor], torch.Tensor], batch_size: int,
                  features: int, *, seed: int, dtype: torch.dtype = torch.float64) -> Batches:
    """Lillicrap et al. 2016, Supp. Note 3 (minibatches of 100): step -> a new minibatch of
    N(0, 1) inputs and their targets, drawn in order from one seeded generator (so two runs
    with the same seed see the same data sequence, as Supp. Note 8 requires)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    gen = torch.Generator().manual_seed(seed)
    cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    chunk = 64                          # draw 64 minibatches at once: one call, not 64

    def batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        first = step - step % chunk
        if first not in cache:
            if cache and first != max(cache) + chunk:
                raise ValueError(f"fresh_batches serves steps in order; step {step} skips "
                                 "ahead: make a new source to start again")
            cache.clear()
            x = gaussian_inputs(chunk * batch_size, features, gen, dtype)
            with torch.no_grad():
                y = target(x)
            cache[first] = (x, y)
        x, y = cache[first]
        rows = slice((step - first) * batch_size, (step - first + 1) * batch_size)
        return x[rows], y[rows]
    return batch


class QuadraticTarget:
    """Lillicrap et al. 2016, Supp. Fig. 14 ("a quadratic function"): y = (T x)^2 elementwise,
    with T drawn from N(0, 1/features), so each output is a squared unit-variance projection."""

    def __init__(self, features: int, outputs: int, *, seed: int,
                 dtype: torch.dtype = torch.float64) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.T = torch.randn(outputs, features, generator=gen, dtype=dtype) / math.sqrt(features)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x @ self.T.t()).pow(2)


def xor_data(dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """Lillicrap et al. 2016, Supp. Note 4 / Fig. 7: the four XOR patterns, inputs and targets
    in {0, 1}."""
    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], dtype=dtype)
    return x, torch.tensor([[0.0], [1.0], [1.0], [0.0]], dtype=dtype)


def xor_network(hidden: int, *, seed: int, weight_std: float = 0.5,
                dtype: torch.dtype = torch.float64) -> nn.Sequential:
    """Lillicrap et al. 2016, Supp. Fig. 7: the classic 2-hidden-1 sigmoid network, every
    weight and bias from N(0, weight_std^2) (the caption: elements drawn from a normal)."""
    if hidden < 1 or weight_std <= 0:
        raise ValueError(f"need hidden >= 1 and weight_std > 0, got {hidden} and {weight_std}")
    net = nn.Sequential(nn.Linear(2, hidden, dtype=dtype), nn.Sigmoid(),
                        nn.Linear(hidden, 1, dtype=dtype), nn.Sigmoid())
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=dtype) * weight_std)
    return net


def normal_feedback_(model: nn.Module, std: float, *, seed: int) -> nn.Module:
    """Lillicrap et al. 2016, Supp. Fig. 7 caption (B drawn from a normal): redraw every FA
    layer's fixed feedback B from N(0, std^2), layer i from its own seeded generator."""
    layers = [m for m in feedback_layers(model) if m.rule == "fa"]
    if not layers:
        raise ValueError("the model has no FA layer to redraw; convert it first with "
                         "falign.convert(model, 'fa', seed=...)")
    for index, layer in enumerate(layers):
        gen = torch.Generator().manual_seed(seed * 1_000_003 + index)
        fresh = torch.randn(layer.weight.shape, generator=gen, dtype=layer.weight.dtype) * std
        layer.feedback_store.copy_(fresh)
    return model


# ------------------------------------------------------------------------------ errors
def nse(prediction: torch.Tensor, target: torch.Tensor) -> float:
    """Lillicrap et al. 2016, Supp. Figs. 6, 9, 14 ("normalised squared error"), our reading:
    sum_k ||y_k - yhat_k||^2 / sum_k ||y_k - ybar||^2, the squared error over that of the
    predictor that always answers the mean target ybar (0: perfect; 1: no better than ybar)."""
    if prediction.shape != target.shape:
        raise ValueError(f"prediction {tuple(prediction.shape)} and target "
                         f"{tuple(target.shape)} differ in shape; pass model(x) and y")
    spread = (target - target.mean(0)).pow(2).sum()
    if float(spread) == 0.0:
        raise ValueError("the targets are all equal, so the normalised error is undefined; "
                         "use more than one distinct example")
    return float((target - prediction).pow(2).sum() / spread)


def mse(prediction: torch.Tensor, target: torch.Tensor) -> float:
    """Lillicrap et al. 2016, Supp. Fig. 7 ("MSE is mean squared error"): mean over examples
    and outputs of (y - yhat)^2."""
    if prediction.shape != target.shape:
        raise ValueError(f"prediction {tuple(prediction.shape)} and target "
                         f"{tuple(target.shape)} differ in shape; pass model(x) and y")
    return float((target - prediction).pow(2).mean())


# ------------------------------------------------------------------------------ training
@dataclass
class Trace:
    """What train() records: the step of each record and the error on the evaluation set."""
    steps: list[int] = field(default_factory=list)
    error: list[float] = field(default_factory=list)

    def as_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.steps), np.asarray(self.error)


MOMENTUM_FORMS = ("ours", "printed")


def train(model: nn.Module, batches: Batches | tuple[torch.Tensor, torch.Tensor], *,
          lr: float, steps: int, evaluate: tuple[torch.Tensor, torch.Tensor] | None = None,
          error: Callable[[torch.Tensor, torch.Tensor], float] = nse, record_every: int = 1,
          reduction: str = "mean", freeze_first: bool = False, momentum: float | None = None,
          momentum_form: str = "ours", bp_until: int = 0,
          on_record: Callable[[int, nn.Module], None] | None = None) -> Trace:
    """Lillicrap et al. 2016, Supp. Notes 3, 4, 8 and Fig. 14: train a converted network on the
    squared error, theta <- theta + Delta theta with Delta theta = -lr * grad of
    L = 1/2 sum_k ||y_k - yhat_k||^2 (divided by the batch size when reduction="mean").

    batches: a fixed (x, y) (full batch at every step) or step -> (x, y).
    freeze_first: the first layer's weight and bias are never updated (Supp. Fig. 6).
    momentum=alpha: heavy ball (Supp. Note 8), v <- alpha v + Delta theta; then
      "ours": theta <- theta + v (the new v; alpha = 0 is plain training bit for bit);
      "printed": theta <- theta + v with the v from before this step, as the text prints
      theta_{t+1} = theta_t + v_t (one step behind).  None: no momentum buffer at all.
    bp_until=k: the first k steps use the true gradient (backprop) through the same converted
      layers, later steps the layers' own rule: with rule "fa" the switch of Supp. Fig. 14
      (forward weights kept, B the one drawn at conversion).
    Records error(model(x_eval), y_eval) at step 0, every record_every steps and at the end.
    """
    layers = feedback_layers(model)
    if not layers:
        raise ValueError("train() needs a converted network: call falign.convert(model, rule, "
                         "seed=...) first")
    if steps < 0 or lr <= 0 or record_every < 1:
        raise ValueError(f"need steps >= 0, lr > 0 and record_every >= 1; got steps={steps}, "
                         f"lr={lr}, record_every={record_every}")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', not {reduction!r}")
    if momentum_form not in MOMENTUM_FORMS:
        raise ValueError(f"momentum_form must be one of {MOMENTUM_FORMS}, not {momentum_form!r}")
    if momentum is not None and not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum must lie in [0, 1), got {momentum}; use None for none")
    if bp_until and any(layer.rule == "bp" for layer in layers):
        raise ValueError("bp_until switches from backprop to the network's rule, but the "
                         "network was converted with 'bp'; convert it with 'fa' to switch")
    if isinstance(batches, tuple):
        fixed = batches
        batches = lambda step: fixed          # noqa: E731  (full batch at every step)
    if evaluate is None:
        raise ValueError("pass evaluate=(x, y): the examples on which the error is recorded")
    frozen = {id(p) for p in layers[0].parameters()} if freeze_first else set()
    params = [p for p in model.parameters() if id(p) not in frozen]
    velocity = [torch.zeros_like(p) for p in params] if momentum is not None else None
    trace = Trace()

    def record(step: int) -> None:
        with torch.no_grad():
            trace.steps.append(step)
            trace.error.append(error(model(evaluate[0]), evaluate[1]))
        if on_record is not None:
            on_record(step, model)

    record(0)
    for step in range(steps):
        x, y = batches(step)
        model.zero_grad(set_to_none=True)
        loss = 0.5 * (model(x) - y).pow(2).sum()
        if reduction == "mean":
            loss = loss / x.shape[0]
        if step < bp_until:
            with true_gradient(model):
                loss.backward()
        else:
            loss.backward()
        with torch.no_grad():
            for k, p in enumerate(params):
                delta = -lr * p.grad
                if velocity is None:
                    p.add_(delta)
                elif momentum_form == "ours":
                    velocity[k].mul_(momentum).add_(delta)
                    p.add_(velocity[k])
                else:                                   # theta_{t+1} = theta_t + v_t
                    p.add_(velocity[k])
                    velocity[k].mul_(momentum).add_(delta)
        if (step + 1) % record_every == 0 or step + 1 == steps:
            record(step + 1)
    return trace


# ------------------------------------------------------------------------------ alignment
def unit_angles(model: nn.Module, layer: int = -1) -> torch.Tensor:
    """Lillicrap et al. 2016, Supp. Fig. 9b: for each input unit j of weight layer `layer`
    (a hidden unit of the network), the angle in degrees between its outgoing forward weights
    weight[:, j] and its feedback feedback[:, j] (B for FA, W itself for BP)."""
    layers = weight_layers(model)
    if not layers:
        raise ValueError("the model has no Linear layer whose angles could be measured")
    chosen = layers[layer]
    if not isinstance(chosen, FEEDBACK_LAYERS) or chosen.weight.dim() != 2:
        raise ValueError("unit_angles needs a converted Linear layer (falign.convert(model, "
                         "'fa', seed=...)); its feedback is what the angle is measured against")
    w, b = chosen.weight.detach(), feedback_of(chosen)
    cos = alignment_cosine_from(w.t(), b.t(), 1).clamp(-1.0, 1.0)
    return torch.rad2deg(torch.arccos(cos))


def vector_angle(a, b) -> float:
    """Lillicrap et al. 2016, Supp. Note 4: the angle in degrees between two vectors (e.g. the
    printed 2-2-1 output weights W and feedback B)."""
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    if a.shape != b.shape or a.numel() == 0:
        raise ValueError(f"need two non-empty vectors of one shape, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    cos = float(alignment_cosine_from(a.flatten(), b.flatten(), 1).clamp(-1.0, 1.0))
    return math.degrees(math.acos(cos))


def random_angle_spread(n: int) -> tuple[float, float]:
    """Lillicrap et al. 2016, Supp. Fig. 9b ("centred on 90 degrees"), our derivation: for two
    independent vectors in R^n with i.i.d. symmetric entries, the cosine has mean 0 and
    variance exactly 1/n; for isotropic (Gaussian) vectors the angle has density
    proportional to sin^(n-2), whose standard deviation (degrees) we integrate numerically.
    Returns (SD of the cosine, SD of the angle in degrees)."""
    if n < 3:
        raise ValueError(f"need vectors of at least 3 entries, got n={n}")
    theta = np.linspace(0.0, math.pi, 200_001)
    density = np.sin(theta) ** (n - 2)
    var = np.trapezoid((theta - math.pi / 2) ** 2 * density, theta) / np.trapezoid(density, theta)
    return 1.0 / math.sqrt(n), math.degrees(math.sqrt(var))


# ------------------------------------------------------------------------------ many at once
def stacked_batches(sources: list[Batches]) -> Batches:
    """Supp. Figs. 6 and 8 (several runs side by side): step -> (x, y) of shape (K, n, .), the
    k-th slice from sources[k] (sources may repeat one object: runs that share a data order)."""
    def batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        seen: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        parts = []
        for source in sources:                 # a shared source is asked once per step
            if id(source) not in seen:
                seen[id(source)] = source(step)
            parts.append(seen[id(source)])
        return torch.stack([p[0] for p in parts]), torch.stack([p[1] for p in parts])
    return batch


def train_stacked(models: list[nn.Module], batches: Batches, *, lr: float, steps: int,
                  evaluate: tuple[torch.Tensor, torch.Tensor],
                  error: Callable[[torch.Tensor, torch.Tensor], float] = nse,
                  record_every: int = 1, freeze_first: list[bool] | None = None,
                  momentum: list[float] | None = None, momentum_form: str = "ours"
                  ) -> list[Trace]:
    """Lillicrap et al. 2016, Supp. Notes 3 and 8: train() for K converted tanh MLPs (linear
    output, rules bp or fa, one architecture) as one batched computation, the backward pass
    written out: e = (yhat - y)/n, dW_l = delta_l^T a_{l-1}, db_l = sum_n delta_l,
    delta_{l-1} = (delta_l M_l) * (1 - a_{l-1}^2) with M_l = W_l (bp) or B_l (fa).

    batches: step -> (x, y) of shapes (K, n, in) and (K, n, out) (see stacked_batches).
    freeze_first, momentum: one entry per model (momentum 0 is plain training bit for bit
    under our reading; see train() for the two forms).  The trained weights are written back
    into the models.  Agrees with train() on each model to round-off (tests).
    """
    k = len(models)
    if k == 0:
        raise ValueError("train_stacked needs at least one converted model")
    layer_lists = [feedback_layers(m) for m in models]
    if any(not ls for ls in layer_lists):
        raise ValueError("train_stacked needs converted networks: call falign.convert(model, "
                         "rule, seed=...) on each first")
    for m in models:
        acts = [c for c in m.children() if not isinstance(c, FEEDBACK_LAYERS)]
        if not all(isinstance(a, nn.Tanh) for a in acts) or len(acts) != len(feedback_layers(m)) - 1:
            raise ValueError("train_stacked takes tanh MLPs with a linear output (falign.models"
                             ".mlp(..., activation='tanh') or uniform_student); use train() for "
                             "other networks")
    rules = {layer.rule for ls in layer_lists for layer in ls}
    if not rules <= {"bp", "fa"}:
        raise ValueError(f"train_stacked supports rules bp and fa, got {sorted(rules)}; use "
                         "train() for the others")
    shapes = {tuple(tuple(layer.weight.shape) for layer in ls) for ls in layer_lists}
    if len(shapes) != 1:
        raise ValueError(f"stacked models must share one architecture, got {sorted(shapes)}")
    if momentum_form not in MOMENTUM_FORMS:
        raise ValueError(f"momentum_form must be one of {MOMENTUM_FORMS}, not {momentum_form!r}")
    freeze = [False] * k if freeze_first is None else list(freeze_first)
    alphas = [0.0] * k if momentum is None else list(momentum)
    if len(freeze) != k or len(alphas) != k:
        raise ValueError(f"freeze_first and momentum need one entry per model ({k})")
    if any(not 0.0 <= a < 1.0 for a in alphas):
        raise ValueError(f"momentum values must lie in [0, 1), got {alphas}")
    n_layers = len(layer_lists[0])
    W = [torch.stack([ls[i].weight.detach() for ls in layer_lists]).clone() for i in range(n_layers)]
    b = [torch.stack([ls[i].bias.detach() for ls in layer_lists]).clone() for i in range(n_layers)]
    # The matrix carrying the error back: W itself (bp, re-read every step) or the fixed B.
    is_fa = torch.tensor([ls[0].rule == "fa" for ls in layer_lists])
    B = [torch.stack([ls[i].feedback_store if ls[i].rule == "fa" else ls[i].weight.detach()
                      for ls in layer_lists]).clone() for i in range(n_layers)]
    dtype = W[0].dtype
    keep = torch.tensor([0.0 if f else 1.0 for f in freeze], dtype=dtype)
    alpha = torch.tensor(alphas, dtype=dtype)
    params = W + b
    velocity = [torch.zeros_like(p) for p in params]

    def forward(x: torch.Tensor) -> list[torch.Tensor]:
        acts = [x]
        for i in range(n_layers):
            h = acts[-1] @ W[i].transpose(1, 2) + b[i][:, None, :]
            acts.append(torch.tanh(h) if i < n_layers - 1 else h)
        return acts

    traces = [Trace() for _ in range(k)]
    x_eval = evaluate[0].expand(k, *evaluate[0].shape)

    def record(step: int) -> None:
        out = forward(x_eval)[-1]
        for j, trace in enumerate(traces):
            trace.steps.append(step)
            trace.error.append(error(out[j], evaluate[1]))

    record(0)
    for step in range(steps):
        x, y = batches(step)
        acts = forward(x)
        delta = (acts[-1] - y) / x.shape[1]             # dL/dyhat of L = mean 1/2 ||e||^2
        grads_w, grads_b = [None] * n_layers, [None] * n_layers
        for i in reversed(range(n_layers)):
            grads_w[i] = delta.transpose(1, 2) @ acts[i]
            grads_b[i] = delta.sum(1)
            if i > 0:
                back = torch.where(is_fa[:, None, None], B[i], W[i])
                delta = (delta @ back) * (1.0 - acts[i].pow(2))
        grads_w[0] = grads_w[0] * keep[:, None, None]   # frozen first layers: no update
        grads_b[0] = grads_b[0] * keep[:, None]
        for p, g, v in zip(params, grads_w + grads_b, velocity):
            a = alpha.reshape(-1, *([1] * (p.dim() - 1)))
            step_delta = -lr * g
            if momentum_form == "ours":
                v.mul_(a).add_(step_delta)
                p.add_(v)
            else:
                p.add_(v)
                v.mul_(a).add_(step_delta)
        if (step + 1) % record_every == 0 or step + 1 == steps:
            record(step + 1)
    with torch.no_grad():
        for j, ls in enumerate(layer_lists):
            for i, layer in enumerate(ls):
                layer.weight.copy_(W[i][j])
                layer.bias.copy_(b[i][j])
    return traces


# ------------------------------------------------------------------------------ switch of rule
def copy_forward_weights_(model: nn.Module, source: nn.Module) -> nn.Module:
    """Lillicrap et al. 2016, Supp. Fig. 14 (switch from backprop to FA): give `model` (e.g.
    converted with 'fa', its B drawn once at conversion) the forward weights and biases of
    `source` (e.g. the same network trained with 'bp'); model's feedback is left untouched."""
    into, out_of = feedback_layers(model), feedback_layers(source)
    if not into or not out_of:
        raise ValueError("copy_forward_weights_ needs two converted networks: call "
                         "falign.convert(model, rule, seed=...) on both first")
    shapes = [tuple(m.weight.shape) for m in into], [tuple(m.weight.shape) for m in out_of]
    if shapes[0] != shapes[1]:
        raise ValueError(f"the networks differ in architecture ({shapes[0]} vs {shapes[1]}); "
                         "build both with the same sizes")
    with torch.no_grad():
        for mine, theirs in zip(into, out_of):
            mine.weight.copy_(theirs.weight)
            if (mine.bias is None) != (theirs.bias is None):
                raise ValueError("one network has biases and the other not; build both alike")
            if mine.bias is not None:
                mine.bias.copy_(theirs.bias)
    return model
