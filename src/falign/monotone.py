"""Lechner (2020), "Learning representations for binary classification without backpropagation":
mono-nets and monotone direct feedback alignment (mDFA), checked numerically in float64.

What the book's three Lechner chapters compute and tests/test_monotone.py checks:

* Theorems 1 and 3 (mono-nets are universal approximators): the constructive conversion of a
  one-hidden-layer sigmoid network g(x) = sum_i v_i sigma(w_i^T x + b_i) (+ c0) into a tanh
  mono-net, both as the appendix prints it and corrected;
* Lemmas 2 and 3: the Jacobians dh_l/dh_k (2 <= l <= L, 1 <= k < l) of a mono-net, by autograd;
* Theorems 2 and 4: the coordinate-wise sign agreement of the mDFA update with the true gradient,
  per example and per mini-batch, using the library's `mdfa` rule (falign.convert) and its
  `true_gradient` switch;
* Theorem 5: the two-output counterexample, its printed arithmetic redone and a valid one.

Layouts are PyTorch's: a Linear weight is (out, in); an error e = dL/dh_L is a row vector and the
mDFA signal sent to hidden layer l is e @ B_l with B_l of shape (n_L, n_l) (Lechner eq. (6)).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .layers import FeedbackLinear, convert, feedback_layers, true_gradient
from .models import mono_net

DTYPE = torch.float64
MONOTONE_ACTIVATIONS = (nn.Tanh, nn.Hardtanh, nn.ReLU, nn.Sigmoid, nn.LeakyReLU)


# ------------------------------------------------------------------ Theorems 1 and 3
def random_sigmoid_net(n_inputs: int, n_hidden: int, *, seed: int, scale: float = 3.0
                       ) -> nn.Sequential:
    """Lechner 2020, Lemma 1, eq. (18): g(x) = sum_i v_i sigma(w_i^T x + b_i), with w, b, v drawn
    N(0, scale^2) (v of both signs) from a seeded generator; float64, no output bias."""
    if n_inputs < 1 or n_hidden < 1:
        raise ValueError(f"a sigmoid network needs at least one input and one hidden unit, got "
                         f"n_inputs={n_inputs}, n_hidden={n_hidden}")
    gen = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Linear(n_inputs, n_hidden, dtype=DTYPE), nn.Sigmoid(),
                        nn.Linear(n_hidden, 1, bias=False, dtype=DTYPE))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(scale * torch.randn(p.shape, generator=gen, dtype=DTYPE))
    return net


def fit_sigmoid_net(f, x: torch.Tensor, n_hidden: int, *, seed: int, slope: float = 12.0
                    ) -> nn.Sequential:
    """Lechner 2020, Lemma 1 (eq. 18) made concrete in 1-D: sigmoid units with random slopes
    +-U[slope/2, slope] and centres in [0, 1], output weights v and output bias by least squares
    on the points x (n, 1) against f(x).  A constructive stand-in for Hornik et al.'s theorem."""
    if x.dim() != 2 or x.shape[1] != 1:
        raise ValueError(f"fit_sigmoid_net fits a function of one variable: pass x of shape "
                         f"(n, 1), not {tuple(x.shape)}")
    gen = torch.Generator().manual_seed(seed)
    w = slope * (0.5 + 0.5 * torch.rand(n_hidden, generator=gen, dtype=DTYPE))
    w = w * torch.where(torch.rand(n_hidden, generator=gen, dtype=DTYPE) < 0.5, -1.0, 1.0)
    centres = torch.rand(n_hidden, generator=gen, dtype=DTYPE)
    b = -w * centres                                    # unit i switches at x = centres[i]
    features = torch.sigmoid(x.to(DTYPE) * w + b)
    design = torch.cat([features, torch.ones(len(x), 1, dtype=DTYPE)], 1)
    coef = torch.linalg.lstsq(design, f(x.to(DTYPE)).reshape(-1, 1)).solution.flatten()
    # rounded to 1e-9: LAPACK's last bits vary between runs, the fitted network must not
    coef = torch.round(coef * 1e9) / 1e9
    net = nn.Sequential(nn.Linear(1, n_hidden, dtype=DTYPE), nn.Sigmoid(),
                        nn.Linear(n_hidden, 1, dtype=DTYPE))
    with torch.no_grad():
        net[0].weight.copy_(w.reshape(-1, 1))
        net[0].bias.copy_(b)
        net[2].weight.copy_(coef[:-1].reshape(1, -1))
        net[2].bias.copy_(coef[-1:])
    return net


def _sigmoid_parts(net: nn.Sequential):
    """(W (N, n), b (N,), v (N,), c0) of a Linear -> Sigmoid -> Linear network with one output."""
    ok = (isinstance(net, nn.Sequential) and len(net) == 3 and type(net[0]) is nn.Linear
          and isinstance(net[1], nn.Sigmoid) and type(net[2]) is nn.Linear)
    if not ok:
        raise ValueError("Theorem 3's conversion takes a one-hidden-layer sigmoid network "
                         "nn.Sequential(nn.Linear, nn.Sigmoid, nn.Linear) (eq. 18); build one "
                         "with random_sigmoid_net or fit_sigmoid_net")
    if net[2].out_features != 1:
        raise ValueError(f"Theorem 3 approximates a scalar function: the sigmoid network has "
                         f"{net[2].out_features} outputs; convert each output's network "
                         f"separately")
    W = net[0].weight.detach().to(DTYPE)
    b = (net[0].bias.detach() if net[0].bias is not None
         else torch.zeros(W.shape[0])).to(DTYPE)
    v = net[2].weight.detach().to(DTYPE).flatten()
    c0 = float(net[2].bias.detach()) if net[2].bias is not None else 0.0
    return W, b, v, c0


def _tanh_mono_net(W, b, v, c) -> nn.Sequential:
    """The 2-layer tanh mono-net x -> tanh(W x + b) -> v . h + c (falign.models.mono_net)."""
    net = mono_net(W.shape[1], [W.shape[0]], 1, activation="tanh", dtype=DTYPE)
    with torch.no_grad():
        net[0].weight.copy_(W)
        net[0].bias.copy_(b)
        net[2].weight.copy_(v.reshape(1, -1))
        net[2].bias.fill_(c)
    return net


def mono_net_from_sigmoid(net: nn.Sequential) -> nn.Sequential:
    """Lechner 2020, Theorem 3 (eq. 19), corrected with eq. (16): sigma(z) = (1 + tanh(z/2))/2
    gives v sigma(z) = |v|/2 tanh(s z/2) + v/2 with s = sign(v), so N tanh units with output
    weights |v_i|/2 >= 0, first layer s_i (w_i, b_i)/2 and bias c = c0 + sum_i v_i / 2."""
    W, b, v, c0 = _sigmoid_parts(net)
    s = torch.where(v >= 0, 1.0, -1.0).to(DTYPE)        # 1[v_i >= 0] as in the proof
    return _tanh_mono_net(0.5 * s[:, None] * W, 0.5 * s * b, 0.5 * v.abs(),
                          c0 + 0.5 * float(v.sum()))


def printed_mono_net_from_sigmoid(net: nn.Sequential) -> nn.Sequential:
    """Lechner 2020, proof of Theorem 3 as printed: 2N tanh units, tanh(w_i^T x + b_i) with
    weight 1[v_i >= 0] v_i/2 and tanh(-w_i^T x - b_i) with weight -1[v_i < 0] v_i/2, plus
    c = sum_i v_i/2.  The /2 of eq. (16) inside tanh is missing, so this is not g."""
    W, b, v, c0 = _sigmoid_parts(net)
    v_bar = torch.where(v >= 0, 0.5 * v, torch.zeros_like(v))
    v_bar_prime = torch.where(v < 0, -0.5 * v, torch.zeros_like(v))
    return _tanh_mono_net(torch.cat([W, -W]), torch.cat([b, -b]),
                          torch.cat([v_bar, v_bar_prime]), c0 + 0.5 * float(v.sum()))


def split_first_layer(net: nn.Sequential) -> nn.Sequential:
    """Lechner 2020, Theorem 1, eq. (13): the same function as a network of the doubled input
    [x, -x] whose every weight is >= 0 (w = w_bar - w_hat with w_bar, w_hat >= 0).  Evaluate it
    on torch.cat([x, -x], 1)."""
    layers = check_mono_net(net)
    if len(layers) != 2 or not isinstance(net[1], nn.Tanh):
        raise ValueError("split_first_layer takes the 2-layer tanh mono-net of Theorem 1 "
                         "(as mono_net_from_sigmoid returns it)")
    first = layers[0]
    W = first.weight.detach().to(DTYPE)
    new = mono_net(2 * W.shape[1], [W.shape[0]], layers[-1].out_features, activation="tanh",
                   dtype=DTYPE)
    with torch.no_grad():
        new[0].weight.copy_(torch.cat([W.clamp(min=0), (-W).clamp(min=0)], 1))
        new[0].bias.copy_(first.bias.detach())
        new[2].weight.copy_(layers[1].weight.detach())
        new[2].bias.copy_(layers[1].bias.detach())
    return new


def hidden_units_in_use(net: nn.Sequential) -> int:
    """Lechner 2020, Theorem 3's unit count: hidden units whose output weight is not zero (the
    printed proof's 2N units include N whose weight is exactly 0)."""
    layers = check_mono_net(net)
    if len(layers) != 2:
        raise ValueError("hidden_units_in_use counts the units of a one-hidden-layer network")
    return int((layers[1].weight.detach() != 0).any(0).sum())


def conversion_error(g: nn.Sequential, m: nn.Sequential, x: torch.Tensor) -> float:
    """Lechner 2020, Theorem 3: max_x |m(x) - g(x)| over the rows of x (float64)."""
    with torch.no_grad():
        return float((m(x.to(DTYPE)) - g(x.to(DTYPE))).abs().max())


# ------------------------------------------------------------------ Definition 1, Lemmas 2-3
def check_mono_net(net: nn.Module) -> list[nn.Linear]:
    """Lechner 2020, Definition 1 (eqs. 7-11): an nn.Sequential of Linear layers with monotone
    increasing activations between them and every weight after the first layer >= 0.  Returns
    the Linear layers; raises ValueError naming what breaks the definition."""
    if not isinstance(net, nn.Sequential) or len(net) < 1:
        raise ValueError("a mono-net here is an nn.Sequential alternating nn.Linear layers and "
                         "activations (build one with falign.models.mono_net)")
    modules = list(net)
    for k, module in enumerate(modules):
        want_linear = k % 2 == 0
        if want_linear and not isinstance(module, nn.Linear):
            raise ValueError(f"module {k} is {type(module).__name__}, expected nn.Linear: a "
                             f"mono-net alternates Linear layers and activations")
        if not want_linear and not isinstance(module, MONOTONE_ACTIVATIONS):
            raise ValueError(f"module {k} ({type(module).__name__}) is not a monotone increasing "
                             f"activation; Definition 1 needs one of tanh, hard-tanh, ReLU, "
                             f"leaky ReLU, sigmoid")
        if isinstance(module, nn.LeakyReLU) and module.negative_slope < 0:
            raise ValueError("a leaky ReLU with a negative slope is not monotone increasing")
    if len(modules) % 2 == 0:
        raise ValueError("the last module must be the output nn.Linear (Definition 1: no "
                         "activation on h_L)")
    layers = modules[0::2]
    for l, layer in enumerate(layers[1:], start=2):
        low = float(layer.weight.detach().min())
        if low < 0:
            raise ValueError(f"not a mono-net: W_{l} has a negative entry ({low:.3g}); "
                             f"Definition 1 needs W_l >= 0 for l >= 2: build the network with "
                             f"falign.models.mono_net or falign.convert(net, 'mdfa')")
    return layers


def hidden_states(net: nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    """Lechner 2020, eq. (7): [h_1, ..., h_L] of a mono-net on x (batch, n_0), plain autograd."""
    check_mono_net(net)
    h, states = x, []
    for k in range(0, len(net), 2):
        layer = net[k]
        h = F.linear(h, layer.weight, layer.bias)      # plain autograd, also for feedback layers
        if k + 1 < len(net):
            h = net[k + 1](h)
        states.append(h)
    return states


def layer_to_layer_jacobians(net: nn.Sequential, x: torch.Tensor
                             ) -> dict[tuple[int, int], torch.Tensor]:
    """Lechner 2020, Lemmas 2 and 3 (eqs. 20, 25): dh_l/dh_k at one input x (n_0,) for every
    1 <= k < l <= L, by autograd; keys (l, k), values (n_l, n_k).  Lemma 3 says all are >= 0."""
    if x.dim() != 1:
        raise ValueError(f"pass one input of shape (n_0,), not {tuple(x.shape)}: the Jacobians "
                         f"are per example")
    check_mono_net(net)
    states = [s.detach() for s in hidden_states(net, x[None].to(DTYPE))]
    L = len(states)
    out = {}
    for k in range(1, L):
        def tail(h, k=k):
            # h_k -> [h_{k+1}, ..., h_L]: the layers after k, with the same modules
            outs = []
            for layer_index in range(k, L):
                lin = net[2 * layer_index]
                h = F.linear(h, lin.weight.detach(), lin.bias.detach() if lin.bias is not None
                             else None)
                if 2 * layer_index + 1 < len(net):
                    h = net[2 * layer_index + 1](h)
                outs.append(h)
            return tuple(outs)
        jac = torch.autograd.functional.jacobian(tail, states[k - 1][0])
        for offset, j in enumerate(jac):
            out[(k + 1 + offset, k)] = j
    return out


# ------------------------------------------------------------------ Theorems 2 and 4
def random_mdfa_mono_net(n_inputs: int, widths: list[int], n_outputs: int = 1, *, seed: int,
                         activation: str = "tanh", init: str = "uniform") -> nn.Sequential:
    """Lechner 2020, Definition 1 with a Section 4 initialisation, converted to the library's
    mDFA rule (feedback |U|, falign.rules.draw_direct_feedback), float64, feedback created.
    init="uniform": falign.models.mono_net (later weights U[1e-3, 1/sqrt(fan_in)]);
    init="normal": every weight and bias N(0, 1), later weights |N(0, 1)| (Sec. 4: "absolute
    values" of normal draws; the scale is our reading)."""
    if init not in ("uniform", "normal"):
        raise ValueError(f"unknown init {init!r}; use 'uniform' or 'normal' (Lechner Sec. 4)")
    net = mono_net(n_inputs, widths, n_outputs, activation=activation, seed=seed, dtype=DTYPE)
    if init == "normal":
        gen = torch.Generator().manual_seed(seed + 104_729)
        with torch.no_grad():
            for k, layer in enumerate(net[0::2]):
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen, dtype=DTYPE))
                layer.bias.copy_(torch.randn(layer.bias.shape, generator=gen, dtype=DTYPE))
                if k > 0:
                    layer.weight.abs_()
    return convert(net, "mdfa", seed=seed + 7919,
                   example_input=torch.zeros(1, n_inputs, dtype=DTYPE))


def _loss(out: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    if loss == "logistic":                 # binary cross-entropy on the logit h_L, labels 0/1
        return F.binary_cross_entropy_with_logits(out, y.to(DTYPE).reshape(out.shape),
                                                  reduction="sum")
    if loss == "square":
        return 0.5 * (out - y.to(DTYPE).reshape(out.shape)).pow(2).sum()
    raise ValueError(f"unknown loss {loss!r}; use 'logistic' (labels 0/1) or 'square'")


def _check_mdfa(net: nn.Module) -> list[FeedbackLinear]:
    check_mono_net(net)
    layers = feedback_layers(net)
    if not layers or any(layer.rule != "mdfa" for layer in layers):
        raise ValueError("the sign check needs a network converted to mDFA: call "
                         "falign.convert(net, 'mdfa', example_input=...) first (or use "
                         "random_mdfa_mono_net)")
    for k, layer in enumerate(layers[1:], start=1):
        if layer.feedback_store is None:
            raise ValueError("the mDFA feedback has not been created: pass example_input= to "
                             "falign.convert or run one forward pass first")
        if float(layer.feedback_store.min()) < 0:
            raise ValueError(f"the feedback B_{k} has a negative entry; Theorem 2's proof "
                             f"(eq. 31) needs B >= 0 (the library's mdfa draws |U|)")
    return layers


def mdfa_update_and_gradient(net: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
                             loss: str = "logistic") -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """Lechner 2020, eq. (6) against eq. (3): for each parameter, the mDFA update delta theta
    (the library's mdfa backward) and the true gradient nabla theta (layers.true_gradient), of
    the loss summed over the batch (x, y).  Returns [(name, delta, nabla)]."""
    _check_mdfa(net)
    params = [(n, p) for n, p in net.named_parameters()]
    grads = []
    for exact in (False, True):
        for _, p in params:
            p.grad = None
        if exact:
            with true_gradient(net):
                _loss(net(x.to(DTYPE)), y, loss).backward()
        else:
            _loss(net(x.to(DTYPE)), y, loss).backward()
        grads.append([p.grad.detach().clone() for _, p in params])
    for _, p in params:
        p.grad = None
    return [(n, d, g) for (n, _), d, g in zip(params, grads[0], grads[1])]


def _one_output(net: nn.Module, several_outputs: bool) -> None:
    n_out = check_mono_net(net)[-1].out_features
    if n_out != 1 and not several_outputs:
        raise ValueError(f"Theorem 2 covers networks with one output, this one has {n_out}; "
                         f"pass several_outputs=True to measure the case of Theorem 5")


def sign_products(net: nn.Module, x: torch.Tensor, y: torch.Tensor, *, loss: str = "logistic",
                  several_outputs: bool = False) -> dict[str, torch.Tensor]:
    """Lechner 2020, Theorem 2, eq. (14) / Theorem 4, eq. (28): the coordinate-wise products
    (delta theta)_ij (nabla theta)_ij of the batch (x, y), per parameter name."""
    _one_output(net, several_outputs)
    return {n: d * g for n, d, g in mdfa_update_and_gradient(net, x, y, loss=loss)}


def per_example_min_product(net: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
                            loss: str = "logistic", several_outputs: bool = False) -> float:
    """Lechner 2020, Theorem 2, eq. (14), one example at a time: the smallest coordinate-wise
    product over all parameters and all rows of x (>= 0 is the theorem's claim)."""
    worst = float("inf")
    for k in range(len(x)):
        prods = sign_products(net, x[k:k + 1], y[k:k + 1], loss=loss,
                              several_outputs=several_outputs)
        worst = min(worst, min(float(p.min()) for p in prods.values()))
    return worst


@dataclass
class BatchAgreement:
    """The sign agreement of one batch: Lechner 2020, Theorem 2's eq. (14) applied to a sum."""
    min_product: float          # smallest (delta theta)_ij (nabla theta)_ij over all coordinates
    violated: bool              # some coordinate has a strictly negative product
    fraction_opposite: float    # coordinates with opposite signs / coordinates with both non-zero
    cosine: float               # cos(delta, nabla) over all hidden-layer parameters


def batch_agreement(net: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
                    loss: str = "logistic") -> BatchAgreement:
    """Lechner 2020, Theorem 2, eq. (14), for the update of a whole mini-batch (the loss summed
    over the rows of x): the theorem's per-example argument does not cover this case."""
    _one_output(net, False)
    triples = mdfa_update_and_gradient(net, x, y, loss=loss)
    output = f"{len(net) - 1}."                  # the output layer's parameters: delta = nabla
    hidden = [(d, g) for n, d, g in triples if not n.startswith(output)]
    prods = torch.cat([(d * g).flatten() for _, d, g in triples])
    both = prods != 0
    dh = torch.cat([d.flatten() for d, _ in hidden])
    gh = torch.cat([g.flatten() for _, g in hidden])
    cos = float(dh @ gh / (dh.norm() * gh.norm())) if dh.norm() > 0 and gh.norm() > 0 else 1.0
    return BatchAgreement(float(prods.min()), bool((prods < 0).any()),
                          float((prods[both] < 0).double().mean()) if both.any() else 0.0, cos)


def violation_rate(n_inputs: int, widths: list[int], batch_size: int, *, trials: int,
                   batches_per_net: int = 5, seed: int = 0, loss: str = "logistic",
                   init: str = "uniform") -> tuple[float, float]:
    """Lechner 2020, Theorem 2 over mini-batches: the fraction of random batches (inputs
    U[0, 1]^n_0 as in Sec. 4, labels 0/1 fair coins) whose mDFA update has at least one
    coordinate of sign opposite to the gradient's, and the mean fraction of such coordinates,
    over `trials` batches drawn on trials / batches_per_net random mono-nets."""
    if trials < 1 or batch_size < 1:
        raise ValueError(f"need trials >= 1 and batch_size >= 1, got {trials}, {batch_size}")
    gen = torch.Generator().manual_seed(seed)
    violated, opposite, done = 0, 0.0, 0
    net = None
    while done < trials:
        if done % batches_per_net == 0:
            net = random_mdfa_mono_net(n_inputs, widths, seed=seed * 100_003 + done, init=init)
        x = torch.rand(batch_size, n_inputs, generator=gen, dtype=DTYPE)
        y = (torch.rand(batch_size, generator=gen) < 0.5).to(DTYPE)
        res = batch_agreement(net, x, y, loss=loss)
        violated += res.violated
        opposite += res.fraction_opposite
        done += 1
    return violated / trials, opposite / trials


def two_example_violation(seed: int = 0) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """Lechner 2020, Theorem 2 for a batch of two, broken by construction: a 1 -> 2 -> 2 -> 1
    tanh mono-net (W_1 = (1, 1), W_2 = diag(4, 1), b_2 = (-4, 0), W_3 = (1, 1)) with all mDFA
    feedback 1.  At x = 0 unit 1 of h_2 sits at tanh(-4), so dh_L/dh_1 is tiny for unit 1 of
    h_1; at x = 2 it is not.  The two examples' errors have opposite signs, so the batch
    gradient of b_1's first entry follows example 2 while mDFA's update follows example 1."""
    net = mono_net(1, [2, 2], 1, activation="tanh", seed=seed, dtype=DTYPE)
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0], [1.0]]))
        net[0].bias.zero_()
        net[2].weight.copy_(torch.tensor([[4.0, 0.0], [0.0, 1.0]]))
        net[2].bias.copy_(torch.tensor([-4.0, 0.0]))
        net[4].weight.copy_(torch.tensor([[1.0, 1.0]]))
        net[4].bias.zero_()
    net = convert(net, "mdfa", seed=seed, example_input=torch.zeros(1, 1, dtype=DTYPE))
    layers = feedback_layers(net)
    with torch.no_grad():
        layers[1].feedback_store.fill_(1.0)            # B_1: into h_1 (two units)
        layers[2].feedback_store.fill_(1.0)            # B_2: into h_2
    # x = 0: unit 1 of h_2 at tanh(-4), derivative ~1e-3; x = 2: at tanh(4 tanh 2 - 4), ~1
    x = torch.tensor([[0.0], [2.0]], dtype=DTYPE)
    y = torch.tensor([0.0, 1.0], dtype=DTYPE)
    return net, x, y


# ------------------------------------------------------------------ Theorem 5
PERMUTATION = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=DTYPE)
IDENTITY = torch.eye(2, dtype=DTYPE)
PRINTED_LOSS_GRADIENT = torch.tensor([[1.0, 0.0], [0.0, -1.0]], dtype=DTYPE)   # eq. (46)


def theorem5_printed() -> dict[str, torch.Tensor]:
    """Lechner 2020, Theorem 5, eqs. (44)-(54): the printed products redone.  Returns the
    printed results (51), (54), the products (50), (53) as printed (third factor the swap
    matrix), and both with eq. (47)'s dh_1/dtheta = I."""
    G, W2, B2 = PRINTED_LOSS_GRADIENT, PERMUTATION, IDENTITY
    return {
        "eq51_printed": torch.tensor([[-1.0, 0.0], [0.0, 1.0]], dtype=DTYPE),
        "eq54_printed": torch.tensor([[1.0, 0.0], [0.0, -1.0]], dtype=DTYPE),
        "eq50_as_printed": G @ W2.T @ PERMUTATION,
        "eq53_as_printed": G @ B2 @ PERMUTATION,
        "eq50_with_eq47": G @ W2.T @ IDENTITY,
        "eq53_with_eq47": G @ B2 @ IDENTITY,
    }


def hidden_signals(W2: torch.Tensor, B: torch.Tensor, g: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Lechner 2020, Theorem 5, eqs. (49) and (52) for one example: the error signals that reach
    the hidden units of a one-hidden-layer mono-net, true (g W_2) and mDFA's (g B), before the
    common factor dh_1/dtheta.  A coordinate with opposite signs is a counterexample (eq. 43)."""
    W2, B, g = (torch.as_tensor(t, dtype=DTYPE) for t in (W2, B, g))
    if g.dim() != 1 or W2.shape != B.shape or W2.shape[0] != g.shape[0]:
        raise ValueError(f"need g of shape (n_L,) and W_2, B of shape (n_L, n_1); got "
                         f"{tuple(g.shape)}, {tuple(W2.shape)}, {tuple(B.shape)}")
    if float(W2.min()) < 0:
        raise ValueError("W_2 has a negative entry: not a mono-net (Definition 1, eq. 10)")
    if float(B.min()) < 0:
        raise ValueError("B has a negative entry: mDFA's feedback is >= 0 (eq. 31)")
    return g @ W2, g @ B


def theorem5_network(x: float = 0.5, g=(1.0, -1.0)
                     ) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """Lechner 2020, Theorem 5 as a working network: the 1 -> 2 -> 2 tanh mono-net with W_2 the
    swap matrix, mDFA feedback B = I and a square-loss target chosen so that dL/dh_L = g at the
    input x.  Returns (converted net, x (1, 1), y (1, 2)) for mdfa_update_and_gradient."""
    net = mono_net(1, [2], 2, activation="tanh", dtype=DTYPE)
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0], [-1.0]]))
        net[0].bias.copy_(torch.tensor([0.2, -0.3]))
        net[2].weight.copy_(PERMUTATION)
        net[2].bias.zero_()
    net = convert(net, "mdfa", example_input=torch.zeros(1, 1, dtype=DTYPE))
    with torch.no_grad():
        feedback_layers(net)[1].feedback_store.copy_(IDENTITY)
    xb = torch.tensor([[x]], dtype=DTYPE)
    with torch.no_grad():
        y = net(xb) - torch.as_tensor(g, dtype=DTYPE)    # square loss: dL/dh_L = h_L - y = g
    return net, xb, y


def random_two_output_violation(n_hidden: int, *, trials: int, seed: int = 0) -> float:
    """Lechner 2020, Theorem 5 beyond one example: the fraction of random draws (W_2, B with
    entries |N(0,1)|, g ~ N(0, I_2)) for which some hidden unit gets opposite true and mDFA
    signals."""
    gen = torch.Generator().manual_seed(seed)
    hits = 0
    for _ in range(trials):
        W2 = torch.randn(2, n_hidden, generator=gen, dtype=DTYPE).abs()
        B = torch.randn(2, n_hidden, generator=gen, dtype=DTYPE).abs()
        g = torch.randn(2, generator=gen, dtype=DTYPE)
        true, fb = hidden_signals(W2, B, g)
        hits += bool((true * fb < 0).any())
    return hits / trials
