"""Linear and Conv2d layers whose backward pass uses a learning rule's feedback.

The forward pass is the ordinary one.  In the backward pass, the weight and bias gradients keep
their usual form (delta_i a_{i-1}^T, Robertson & Koyejo Sec. 3) and only the error sent to the
layer's input changes:

    layer rules:   grad_input = grad_output @ B          (B in place of W)
    direct rules:  grad_input = e @ D                    (e: the network's output error)

Each backward computes exactly the tensors autograd would (no input gradient when the input
needs none, e.g. the first layer), so a step costs what a backprop step costs.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from .rules import (RULES, draw_direct_feedback, draw_feedback, fan_in_out, get_rule,
                    layer_seed, sign_feedback, sign_scale)


class _ErrorChannel:
    """Holds the output error e = dL/dh_L of the current backward pass for direct rules."""

    def __init__(self) -> None:
        self.error: torch.Tensor | None = None


class _LinearFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, layer):
        ctx.save_for_backward(x, weight)
        ctx.layer = layer
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        layer = ctx.layer
        grad_x = grad_w = grad_b = None
        g2 = grad_out.reshape(-1, grad_out.shape[-1])            # (N, out)
        if layer._direct and layer._is_output:
            layer._channel.error = g2                           # e = dL/dh_L, read below
        if ctx.needs_input_grad[0]:
            if layer._direct and not layer._true_gradient:
                grad_x = (layer._channel_error() @ layer.feedback).reshape(x.shape)
            else:
                grad_x = grad_out @ layer._backward_matrix(weight)
        if ctx.needs_input_grad[1]:
            grad_w = g2.t() @ x.reshape(-1, x.shape[-1])         # delta^T a_{i-1}
        if ctx.needs_input_grad[2]:
            grad_b = g2.sum(0)
        return grad_x, grad_w, grad_b, None


class _Conv2dFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, layer):
        ctx.save_for_backward(x, weight)
        ctx.layer = layer
        return F.conv2d(x, weight, bias, layer.stride, layer.padding, layer.dilation, layer.groups)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        layer = ctx.layer
        if layer._direct and layer._is_output:
            layer._channel.error = grad_out.reshape(grad_out.shape[0], -1)
        direct_input = layer._direct and not layer._true_gradient
        want_x, want_w, want_b = ctx.needs_input_grad[:3]
        # One fused convolution_backward, as autograd's own: handed B in W's place it returns
        # grad_input = conv_transpose(grad_out, B) while grad_weight, which does not read the
        # weight, keeps its true form delta * a_{i-1}.
        matrix = weight if direct_input or not want_x else layer._backward_matrix(weight)
        grad_x, grad_w, grad_b = torch.ops.aten.convolution_backward(
            grad_out, x, matrix, [weight.shape[0]] if want_b else None,
            layer.stride, layer.padding, layer.dilation, False, [0, 0], layer.groups,
            [want_x and not direct_input, want_w, want_b])
        if want_x and direct_input:
            grad_x = (layer._channel_error() @ layer.feedback).reshape(x.shape)
        return grad_x, grad_w, grad_b, None


class _FeedbackMixin:
    """State and feedback logic shared by FeedbackLinear and FeedbackConv2d."""

    rule: str
    weight: nn.Parameter

    def _setup_feedback(self, rule: str, seed: int, index: int) -> None:
        self.rule = get_rule(rule).name
        self._direct = RULES[self.rule].kind == "direct"
        self._is_output = False
        self._channel: _ErrorChannel | None = None
        self._true_gradient = False
        self._seed, self._index = seed, index
        # brSF redraws |M| once per optimiser step, but lazily, when the step's feedback is
        # first read: a layer whose input needs no gradient (the first) then never pays for a
        # draw it would not use.  The draw is a function of (seed, layer, step), so the lazy
        # value equals an eager one bit for bit.
        self._magnitudes_stale = False
        gen = torch.Generator().manual_seed(layer_seed(seed, index))
        stored = None if self._direct else draw_feedback(self.rule, self.weight, gen)
        # Feedback lives in buffers: saved in the state_dict and moved by .to().
        self.register_buffer("feedback_store", stored)
        self.register_buffer("feedback_step", torch.zeros((), dtype=torch.long))

    @property
    def feedback(self) -> torch.Tensor:
        """The tensor used in place of the weight in the backward pass at the current step.

        Layer rules: shape of .weight.  Direct rules: D of shape (n_outputs, input features).
        """
        if self._direct:
            if self.feedback_store is None:
                raise RuntimeError(
                    f"the DFA feedback of layer {self._index} has not been created yet: pass "
                    "example_input= to falign.convert or run one forward pass first")
            return self.feedback_store
        return self._backward_matrix(self.weight.detach())

    def _backward_matrix(self, weight: torch.Tensor) -> torch.Tensor:
        if self._true_gradient or self.rule == "bp":
            return weight
        if self.rule in ("fa", "adafa"):
            return self.feedback_store
        if self.rule == "signfa":
            return sign_feedback(weight, weight.new_tensor(sign_scale(weight)))
        return sign_feedback(weight, self.magnitudes())        # frsf, brsf: |M| * sign(W)

    def _channel_error(self) -> torch.Tensor:
        if self._channel is None or self._channel.error is None:
            raise RuntimeError(
                "direct feedback needs the output error, but the output layer's backward has "
                "not run; convert the whole network so that its last layer is converted too")
        return self._channel.error

    def _ensure_direct_feedback(self, x: torch.Tensor) -> None:
        if self.feedback_store is None:
            gen = torch.Generator().manual_seed(layer_seed(self._seed, self._index))
            d = draw_direct_feedback(self._n_outputs, x[0].numel(),
                                     nonnegative=self.rule == "mdfa", generator=gen,
                                     dtype=self.weight.dtype)
            self.feedback_store = d.to(self.weight.device)

    def magnitudes(self) -> torch.Tensor:
        """The stored feedback tensor brought up to the current step: for brSF, |M_t| with
        t = feedback_step (Liao et al. 2016), drawn here if this step has not read it yet."""
        if self._magnitudes_stale:
            gen = torch.Generator().manual_seed(
                layer_seed(self._seed, self._index, int(self.feedback_step)))
            self.feedback_store.copy_(draw_feedback("brsf", self.weight, gen))
            self._magnitudes_stale = False
        return self.feedback_store

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        self.magnitudes()                     # a checkpoint holds the current step's |M_t|
        super()._save_to_state_dict(destination, prefix, keep_vars)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # A lazily created DFA matrix must exist before its saved value can be loaded into it.
        key = prefix + "feedback_store"
        if self._direct and self.feedback_store is None and key in state_dict:
            self.feedback_store = torch.empty_like(state_dict[key], device=self.weight.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._magnitudes_stale = False        # the saved |M_t| belongs to the saved step

    def after_optimizer_step(self) -> None:
        """Per-step feedback updates: brSF's magnitudes go stale (redrawn at first use); keep
        mDFA weights >= 0."""
        self.feedback_step += 1
        if self.rule == "brsf":
            self._magnitudes_stale = True
        elif self.rule == "mdfa" and self._index > 0:
            with torch.no_grad():
                self.weight.clamp_(min=0.0)


class FeedbackLinear(_FeedbackMixin, nn.Linear):
    """nn.Linear whose backward pass uses the rule's feedback (see module docstring)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 rule: str, seed: int = 0, index: int = 0, n_outputs: int = 0,
                 device=None, dtype=None) -> None:
        super().__init__(in_features, out_features, bias, device=device, dtype=dtype)
        self._n_outputs = n_outputs
        self._setup_feedback(rule, seed, index)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._direct:
            self._ensure_direct_feedback(x)
        return _LinearFn.apply(x, self.weight, self.bias, self)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", rule={self.rule}"


class FeedbackConv2d(_FeedbackMixin, nn.Conv2d):
    """nn.Conv2d whose backward pass uses the rule's feedback (see module docstring)."""

    def __init__(self, *args, rule: str, seed: int = 0, index: int = 0, n_outputs: int = 0,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.padding_mode != "zeros":
            raise ValueError(f"FeedbackConv2d supports padding_mode='zeros' only, "
                             f"not {self.padding_mode!r}")
        self._n_outputs = n_outputs
        self._setup_feedback(rule, seed, index)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._direct:
            self._ensure_direct_feedback(x)
        return _Conv2dFn.apply(x, self.weight, self.bias, self)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", rule={self.rule}"


FEEDBACK_LAYERS = (FeedbackLinear, FeedbackConv2d)
# Modules with parameters that convert() leaves as they are: their update is local.
_LOCAL_PARAMETER_MODULES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)


def _converted_copy(module: nn.Module, rule: str, seed: int, index: int,
                    n_outputs: int) -> nn.Module:
    kw = dict(rule=rule, seed=seed, index=index, n_outputs=n_outputs,
              device=module.weight.device, dtype=module.weight.dtype)
    # The fresh layer's own initialisation is overwritten below; fork the RNG so that
    # converting a model does not shift the global random stream.
    with torch.random.fork_rng(devices=[]):
        return _fill_copy(module, kw, rule)


def _fill_copy(module: nn.Module, kw: dict, rule: str) -> nn.Module:
    if isinstance(module, nn.Linear):
        new = FeedbackLinear(module.in_features, module.out_features, module.bias is not None, **kw)
    else:
        new = FeedbackConv2d(module.in_channels, module.out_channels, module.kernel_size,
                             stride=module.stride, padding=module.padding,
                             dilation=module.dilation, groups=module.groups,
                             bias=module.bias is not None, padding_mode=module.padding_mode, **kw)
    with torch.no_grad():
        new.weight.copy_(module.weight)
        if module.bias is not None:
            new.bias.copy_(module.bias)
    # adafa copies W(0); it must see the copied weight, not the fresh initialisation.
    if rule == "adafa":
        new.feedback_store.copy_(new.weight.detach())
    return new


def convert(model: nn.Module, rule: str, *, seed: int = 0,
            example_input: torch.Tensor | None = None) -> nn.Module:
    """Swap every nn.Linear and nn.Conv2d of `model` (in place) for a feedback layer.

    Forward passes are unchanged.  `seed` fixes the random feedback (separate from the weight
    initialisation seed).  For direct rules the last converted layer is the output layer; conv
    layers need `example_input` (or one forward pass) to size their dense DFA matrices.  mdfa
    makes the network a mono-net (Lechner 2020, Def. 1) by taking |W| of every layer but the
    first.  Returns the model (a bare nn.Linear or nn.Conv2d: its converted copy).
    """
    get_rule(rule)
    if type(model) in (nn.Linear, nn.Conv2d):
        # A bare layer has no parent to swap it in: return its converted copy (the output layer).
        return convert(nn.Sequential(model), rule, seed=seed, example_input=example_input)[0]
    targets: list[tuple[nn.Module, str, nn.Module]] = []
    for parent_name, parent in model.named_modules():
        for name, child in parent.named_children():
            full = f"{parent_name}.{name}" if parent_name else name
            if isinstance(child, FEEDBACK_LAYERS):
                raise ValueError(f"layer {full!r} is already converted (rule {child.rule!r})")
            if type(child) in (nn.Linear, nn.Conv2d):
                targets.append((parent, name, child))
            elif (not isinstance(child, _LOCAL_PARAMETER_MODULES)
                  and any(True for _ in child.parameters(recurse=False))):
                raise TypeError(
                    f"falign.convert cannot convert layer {full!r} of type "
                    f"{type(child).__name__}: supported are nn.Linear and nn.Conv2d (norm "
                    "layers are trained with their local gradient)")
    if not targets:
        raise TypeError("falign.convert found no nn.Linear or nn.Conv2d layer in the model")
    last = targets[-1][2]
    n_outputs = last.out_features if isinstance(last, nn.Linear) else last.out_channels
    channel = _ErrorChannel()
    for index, (parent, name, child) in enumerate(targets):
        new = _converted_copy(child, rule, seed, index, n_outputs)
        new._channel = channel
        new._is_output = index == len(targets) - 1
        if rule == "mdfa" and index > 0:
            with torch.no_grad():
                new.weight.abs_()
        setattr(parent, name, new)
    if example_input is not None and RULES[rule].kind == "direct":
        with torch.no_grad():
            model(example_input)
    return model


def feedback_layers(model: nn.Module) -> list[nn.Module]:
    """The converted layers of a model, in the order convert() numbered them."""
    return [m for m in model.modules() if isinstance(m, FEEDBACK_LAYERS)]


def after_optimizer_step(model: nn.Module) -> None:
    """Call after every optimiser step: brsf redraws magnitudes, mdfa projects W >= 0."""
    for layer in feedback_layers(model):
        layer.after_optimizer_step()


@contextlib.contextmanager
def true_gradient(model: nn.Module) -> Iterator[nn.Module]:
    """Within this block every converted layer backpropagates with its true weights."""
    layers = feedback_layers(model)
    for layer in layers:
        layer._true_gradient = True
    try:
        yield model
    finally:
        for layer in layers:
            layer._true_gradient = False


def xavier_feedback_(model: nn.Module, seed: int) -> nn.Module:
    """Redraw FA's fixed feedback B of every converted layer from Glorot's uniform
    U[+-sqrt(6 / (fan_in + fan_out))], as biotorch draws it (Robertson & Koyejo App. A: "Xavier
    initialization"), in place of rules.draw_feedback's fan-in scale.  Other rules' feedback is
    derived from W and left alone.  Layer i draws from its own seeded generator."""
    for index, layer in enumerate(feedback_layers(model)):
        if layer.rule != "fa":
            continue
        gen = torch.Generator().manual_seed(layer_seed(seed, index, 10**6))
        fan_in, fan_out = fan_in_out(layer.weight)
        bound = (6.0 / (fan_in + fan_out)) ** 0.5
        fresh = torch.rand(layer.weight.shape, generator=gen, dtype=layer.weight.dtype)
        layer.feedback_store.copy_(fresh.mul_(2 * bound).sub_(bound))
    return model
