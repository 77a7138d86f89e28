"""Learning rules: which matrix carries the error backwards through each layer.

Notation follows Robertson & Koyejo (2024), Section 3: a layer computes h_i = a_{i-1} W_i and
backpropagation sends the error back as delta_i = (delta_{i+1} W_{i+1}^T) * phi'(h_i).  A
feedback-alignment rule replaces W_{i+1} in that product by a feedback matrix B_{i+1}; the
weight update of every layer keeps the form delta_i a_{i-1}^T.

PyTorch stores a Linear weight as (out, in), the transpose of the paper's W_i, so in code the
feedback B has the weight's shape (out, in) and the error sent to the layer input is
grad_output @ B.

"Layer" rules replace W by B layer by layer.  "Direct" rules (dfa, mdfa) send the output error
e = dL/dh_L straight to every hidden layer through a fixed matrix D of shape
(n_outputs, input features of the layer), skipping the backward chain entirely.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Rule:
    name: str
    kind: str  # "layer" or "direct"
    source: str
    description: str


RULES: dict[str, Rule] = {
    r.name: r
    for r in [
        Rule("bp", "layer", "Rumelhart et al. 1986; 'GD' in Robertson & Koyejo's tables",
             "exact gradient: B(t) = W(t)"),
        Rule("fa", "layer", "Lillicrap et al. 2016, Nature Communications 7:13276",
             "fixed random feedback: B drawn once at conversion and never changed"),
        Rule("adafa", "layer", "Robertson & Koyejo 2024, Sec. 3 (name from Boopathy & Fiete 2022)",
             "B = W(0) copied at conversion, then fixed. This is the paper's definition; it is "
             "not Boopathy & Fiete's variant in which the forward network is frozen"),
        Rule("signfa", "layer", "Robertson & Koyejo 2024, Sec. 3 / Prop. 5.3; biotorch 'usf' "
             "(Liao et al. 2016)",
             "B(t) = s * sign(W(t)), recomputed at every step, with s = sqrt(2 / (fan_in + "
             "fan_out)) and sign(0) = -1 as in the paper's notation"),
        Rule("frsf", "layer", "Liao et al. 2016; biotorch 'frsf'",
             "B(t) = |M| * sign(W(t)) with random magnitudes M drawn once"),
        Rule("brsf", "layer", "Liao et al. 2016; biotorch 'brsf'",
             "B(t) = |M_t| * sign(W(t)) with magnitudes M_t redrawn after every optimiser step"),
        Rule("dfa", "direct", "Nokland 2016, NeurIPS 29 (Eq. 6 of Lechner 2020)",
             "every hidden layer receives the output error through its own fixed random matrix"),
        Rule("mdfa", "direct", "Lechner 2020, ICLR, Definition 1 and Theorem 2",
             "DFA on a mono-net: weights after the first layer and all feedback kept >= 0"),
    ]
}


def get_rule(name: str) -> Rule:
    """Look a rule up by name; an unknown name is an error that lists the valid ones."""
    if name not in RULES:
        raise ValueError(
            f"unknown learning rule {name!r}; valid rules are: {', '.join(RULES)}")
    return RULES[name]


def fan_in_out(weight: torch.Tensor) -> tuple[int, int]:
    """Fan-in and fan-out of a Linear (out, in) or Conv2d (out, in, kh, kw) weight."""
    receptive = weight[0, 0].numel() if weight.dim() > 2 else 1
    return weight.shape[1] * receptive, weight.shape[0] * receptive


def uniform_fan_in_(tensor: torch.Tensor, fan_in: int, generator: torch.Generator) -> torch.Tensor:
    """U[-1/sqrt(fan_in), 1/sqrt(fan_in)]: the scale PyTorch gives Linear/Conv2d weights."""
    bound = 1.0 / math.sqrt(fan_in)
    return tensor.uniform_(-bound, bound, generator=generator)


def sign_scale(weight: torch.Tensor) -> float:
    """The scale s of sign feedback, s = sqrt(2 / (fan_in + fan_out)) (the Xavier std)."""
    fan_in, fan_out = fan_in_out(weight)
    return math.sqrt(2.0 / (fan_in + fan_out))


def sign_feedback(weight: torch.Tensor, magnitude: torch.Tensor) -> torch.Tensor:
    """magnitude * sign(W) with the paper's sign(0) = -1, as one select (signfa, frsf, brsf).

    `magnitude` is a scalar tensor (signfa's s) or a tensor of W's shape (|M|), W's dtype.
    """
    return torch.where(weight > 0, magnitude, -magnitude)


def paper_sign(weight: torch.Tensor) -> torch.Tensor:
    """sign(x) = 1 for x > 0 and -1 otherwise (Robertson & Koyejo, Sec. 3 notation)."""
    return sign_feedback(weight, weight.new_tensor(1.0))


def layer_seed(seed: int, index: int, step: int = 0) -> int:
    """A distinct, reproducible generator seed per (feedback seed, layer, optimiser step)."""
    return (seed * 1_000_003 + index * 10_007 + step) % (2**63 - 1)


def draw_feedback(rule: str, weight: torch.Tensor, generator: torch.Generator) -> torch.Tensor | None:
    """The stored feedback tensor of a layer rule at conversion time (None: derived from W).

    fa: random B; adafa: a copy of W(0); frsf/brsf: the magnitudes |M|.
    """
    fan_in, _ = fan_in_out(weight)
    blank = torch.empty(weight.shape, dtype=weight.dtype, device="cpu")
    if rule == "fa":
        return uniform_fan_in_(blank, fan_in, generator).to(weight.device)
    if rule == "adafa":
        return weight.detach().clone()
    if rule in ("frsf", "brsf"):
        return uniform_fan_in_(blank, fan_in, generator).abs_().to(weight.device)
    return None


def draw_direct_feedback(n_outputs: int, n_features: int, *, nonnegative: bool,
                         generator: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    """A DFA matrix D (n_outputs, n_features), U[-1/sqrt(n_features), 1/sqrt(n_features)]:
    the scale of a forward layer from those features to the outputs, so that the injected
    error has a gradient's size however wide the layer (dense conv maps have 10^4 features).

    For mDFA (Lechner 2020, Theorem 2 needs B >= 0) the magnitudes |D| are used.
    """
    d = torch.empty(n_outputs, n_features, dtype=dtype)
    uniform_fan_in_(d, n_features, generator)
    return d.abs_() if nonnegative else d
