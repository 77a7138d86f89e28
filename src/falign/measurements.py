"""Measurements of alignment and of the conservation law (Figures 2-7, Table 3).

Tensor layout: PyTorch weights are (out, in), the transpose of the paper's W_i.  So the paper's
incoming weights of neuron j, W_i[:, j], are weight_i[j] here, and its outgoing weights
W_{i+1}[j, :] are weight_{i+1}[:, j].  The raw-tensor functions accept leading batch dimensions
so that the stacked trainer (many models at once) uses the very same formulas.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from .layers import FEEDBACK_LAYERS, feedback_layers, true_gradient
from .rules import RULES


# ---------------------------------------------------------------- raw-tensor formulas
def neuron_potential_from(w_in: torch.Tensor, b_in: torch.Tensor | None,
                          w_out: torch.Tensor, fb_out: torch.Tensor) -> torch.Tensor:
    """Theorem 5.2: <W_{i+1}[j,:], B_{i+1}[j,:]> - 1/2 ||W_i[:,j]||^2, per neuron j.

    w_in (..., m, fan_in); b_in (..., m) or None (biases count as incoming weights);
    w_out, fb_out (..., out, m).  Returns (..., m).
    """
    incoming = w_in.pow(2).sum(-1)
    if b_in is not None:
        incoming = incoming + b_in.pow(2)
    return (w_out * fb_out).sum(-2) - 0.5 * incoming


def alignment_cosine_from(w: torch.Tensor, b: torch.Tensor, dims: int) -> torch.Tensor:
    """Definition 4.1: <W, B> / (||W||_F ||B||_F), reduced over the last `dims` dimensions."""
    axes = tuple(range(-dims, 0))
    return (w * b).sum(axes) / (w.pow(2).sum(axes).sqrt() * b.pow(2).sum(axes).sqrt())


def deviation_from_one(ratio: torch.Tensor, dim=None) -> torch.Tensor:
    """Table 3's statistic: mean |ratio - 1| (over all entries, or over `dim`)."""
    dev = (ratio - 1.0).abs()
    return dev.mean() if dim is None else dev.mean(dim)


# ---------------------------------------------------------------- model-level measurements
def feedback_of(layer: nn.Module) -> torch.Tensor:
    """The matrix standing in for layer.weight in the backward pass (W itself for plain layers)."""
    if isinstance(layer, FEEDBACK_LAYERS):
        if RULES[layer.rule].kind == "direct":
            raise ValueError(
                f"layer uses the direct rule {layer.rule!r}: its feedback maps the output error "
                "to the layer input and has no per-weight counterpart, so weight alignment and "
                "the conservation potential are not defined for it")
        return layer.feedback.detach()
    return layer.weight.detach()


def weight_layers(model: nn.Module) -> list[nn.Module]:
    """Linear/Conv2d layers in module order (converted or not)."""
    layers = feedback_layers(model)
    if layers:
        return layers
    return [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def _outgoing(next_layer: nn.Module, tensor: torch.Tensor, m: int) -> torch.Tensor:
    """Reshape the next layer's (out, in, ...) tensor to (out*, m): its weights per input unit."""
    if tensor.dim() == 4:                                    # conv: (out, m, kh, kw)
        return tensor.permute(0, 2, 3, 1).reshape(-1, m)
    out, fan = tensor.shape
    if fan == m:
        return tensor
    if fan % m:
        raise ValueError(f"cannot pair {m} units with a next layer of {fan} inputs")
    # Flattened feature maps: input feature c*k + s belongs to channel c.
    return tensor.reshape(out, m, fan // m).permute(0, 2, 1).reshape(-1, m)


def neuron_potentials(model: nn.Module, include_bias: bool = True) -> list[torch.Tensor]:
    """Theorem 5.2's potential for every hidden unit (channel, for convs), one tensor per
    hidden layer, for networks whose layers form a chain in module order (MLP, LeNet).

    include_bias=False drops the incoming bias from the potential: App. B.1's formula as
    printed, which is conserved only for networks without biases."""
    layers = weight_layers(model)
    out = []
    for layer, nxt in zip(layers[:-1], layers[1:]):
        m = layer.weight.shape[0]
        w_in = layer.weight.detach().reshape(m, -1)
        b_in = None if layer.bias is None or not include_bias else layer.bias.detach()
        out.append(neuron_potential_from(w_in, b_in, _outgoing(nxt, nxt.weight.detach(), m),
                                         _outgoing(nxt, feedback_of(nxt), m)))
    return out


def layer_alignment(model: nn.Module) -> list[float]:
    """cos(W_l, B_l) for every layer (Figures 3, 5-7)."""
    return [float(alignment_cosine_from(layer.weight.detach(), feedback_of(layer),
                                        layer.weight.dim()))
            for layer in weight_layers(model)]


def weight_norms(model: nn.Module) -> list[float]:
    """||W_l||_F for every layer."""
    return [float(layer.weight.detach().norm()) for layer in weight_layers(model)]


def update_gradient_angle(model: nn.Module, loss_fn: Callable[[torch.Tensor], torch.Tensor],
                          x: torch.Tensor) -> dict[str, float]:
    """Angle in degrees between the rule's update and the true gradient (omega of Eq. 1).

    loss_fn maps the model output to a scalar loss.  Returns one angle per layer weight
    ("layer0", ...) and "all" for the concatenation of every weight.  Leaves .grad untouched.
    """
    layers = weight_layers(model)
    saved = [p.grad for p in model.parameters()]

    def grads() -> list[torch.Tensor]:
        model.zero_grad(set_to_none=True)
        loss_fn(model(x)).backward()
        return [layer.weight.grad.detach().clone() for layer in layers]

    rule_grads = grads()
    with true_gradient(model):
        exact = grads()
    for p, g in zip(model.parameters(), saved):
        p.grad = g

    def angle(a: torch.Tensor, b: torch.Tensor) -> float:
        cos = float(alignment_cosine_from(a.flatten(), b.flatten(), 1).clamp(-1.0, 1.0))
        return math.degrees(math.acos(cos))

    result = {f"layer{i}": angle(a, b) for i, (a, b) in enumerate(zip(rule_grads, exact))}
    result["all"] = angle(torch.cat([g.flatten() for g in rule_grads]),
                          torch.cat([g.flatten() for g in exact]))
    return result
