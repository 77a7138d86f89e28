"""Model builders used across the book.  Each returns a plain nn.Module; falign.convert then
chooses the learning rule.  Initialisation draws from an explicit torch.Generator so that a
model depends on its `seed` alone, never on the global random stream."""
from __future__ import annotations

import math

import torch
from torch import nn

ACTIVATIONS = {
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "hardtanh": nn.Hardtanh,
}


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def init_uniform_(model: nn.Module, seed: int, bound: float | None = None,
                  lower: float | None = None) -> nn.Module:
    """Draw every Linear/Conv2d weight and bias from U[lower, bound] in module order.

    bound=None uses 1/sqrt(fan_in) per layer (PyTorch's scale; Robertson & Koyejo App. A
    "[-1/sqrt(m), 1/sqrt(m)]").  lower defaults to -bound.
    """
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            fan_in = m.weight[0].numel()
            b = 1.0 / math.sqrt(fan_in) if bound is None else bound
            lo = -b if lower is None else lower
            with torch.no_grad():
                w = torch.empty(m.weight.shape, dtype=m.weight.dtype).uniform_(lo, b, generator=gen)
                m.weight.copy_(w)
                if m.bias is not None:
                    bb = torch.empty(m.bias.shape, dtype=m.bias.dtype).uniform_(-b, b, generator=gen)
                    m.bias.copy_(bb)
    return model


def init_xavier_(model: nn.Module, seed: int) -> nn.Module:
    """Xavier-uniform weights and zero biases (Robertson & Koyejo App. A, LeNet/ResNet runs)."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            fan_out, fan_in = m.weight.shape[0], m.weight[0].numel()
            fan_out *= m.weight[0, 0].numel() if m.weight.dim() > 2 else 1
            a = math.sqrt(6.0 / (fan_in + fan_out))
            with torch.no_grad():
                m.weight.copy_(torch.empty(m.weight.shape, dtype=m.weight.dtype)
                               .uniform_(-a, a, generator=gen))
                if m.bias is not None:
                    m.bias.zero_()
    return model


def mlp(in_features: int, widths: list[int], out_features: int, *,
        activation: str = "leaky_relu", bias: bool = True, seed: int = 0,
        dtype: torch.dtype | None = None) -> nn.Sequential:
    """Fully connected net in -> widths[0] -> ... -> out with one activation between layers,
    weights U[-1/sqrt(fan_in), 1/sqrt(fan_in)]."""
    sizes = [in_features, *widths, out_features]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b, bias=bias, dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(_activation(activation))
    return init_uniform_(nn.Sequential(*layers), seed)


def two_layer_mlp(in_features: int = 784, width: int = 200, out_features: int = 10, *,
                  activation: str = "leaky_relu", bias: bool = True, seed: int = 0,
                  init_bound: float | None = None,
                  dtype: torch.dtype | None = None) -> nn.Sequential:
    """The paper's Section 6.1 network: x -> W_1 -> leaky ReLU -> W_2 -> logits.

    init_bound=None draws each layer from U[+-1/sqrt(fan_in)]; a number uses U[+-init_bound]
    for both layers (e.g. 1/sqrt(width), the literal reading of App. A).
    """
    model = mlp(in_features, [width], out_features, activation=activation, bias=bias,
                seed=seed, dtype=dtype)
    if init_bound is not None:
        init_uniform_(model, seed, bound=init_bound)
    return model


class LeNet(nn.Module):
    """The paper's CIFAR LeNet (biotorch's LeNetCIFAR): three 3x3 convolutions without
    padding (32, 64, 128 channels) with ReLU, max-pool after the first two, global average
    pooling, then fc 128 -> 256 -> ReLU -> fc 256 -> n.  On 32x32 inputs the maps are
    32 -> 30 -> pool 15 -> 13 -> pool 6 -> 4 -> average 1.  Layer order C1 -> C2 -> C3 ->
    F1 -> F2 as in Robertson & Koyejo App. B.2."""

    LAYER_NAMES = ("C1", "C2", "C3", "F1", "F2")

    def __init__(self, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.conv3 = nn.Conv2d(64, 128, 3)
        self.fc1 = nn.Linear(128, 256)
        self.fc2 = nn.Linear(256, num_classes)
        self.act = nn.ReLU()
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.act(self.conv1(x)))        # (N, 32, 15, 15) from 32x32
        x = self.pool(self.act(self.conv2(x)))        # (N, 64, 6, 6)
        x = self.act(self.conv3(x)).mean((2, 3))      # (N, 128): average over the 4x4 map
        return self.fc2(self.act(self.fc1(x)))        # (N, n)


def lenet(*, num_classes: int = 10, seed: int = 0, init: str = "xavier") -> LeNet:
    """The paper's LeNet: Xavier-uniform weights and zero biases (App. A, biotorch's
    `init: xavier`), or PyTorch's U[+-1/sqrt(fan_in)] scale ("fan_in")."""
    if init not in ("xavier", "fan_in"):
        raise ValueError(f"unknown init {init!r}; use 'xavier' or 'fan_in'")
    model = LeNet(num_classes)
    return init_xavier_(model, seed) if init == "xavier" else init_uniform_(model, seed)


def resnet18(*, num_classes: int = 10, seed: int = 0, init: str = "xavier") -> nn.Module:
    """torchvision's ResNet-18 (He et al. 2016) with `num_classes` outputs."""
    import torchvision

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = torchvision.models.resnet18(num_classes=num_classes)
    return init_xavier_(model, seed) if init == "xavier" else model


def mono_net(in_features: int, widths: list[int], out_features: int = 1, *,
             activation: str = "tanh", seed: int = 0, epsilon: float = 1e-3,
             dtype: torch.dtype | None = None) -> nn.Sequential:
    """Lechner's mono-net (2020, Def. 1): first layer unconstrained, every later weight >= 0.

    Later layers start from U[epsilon, 1/sqrt(fan_in)] (Lechner Sec. 4: lower bound 1e-3);
    the activation must be monotone increasing.
    """
    if activation not in ("tanh", "hardtanh", "relu", "leaky_relu"):
        raise ValueError(f"a mono-net needs a monotone activation, not {activation!r}")
    model = mlp(in_features, widths, out_features, activation=activation, seed=seed, dtype=dtype)
    linears = [m for m in model if isinstance(m, nn.Linear)]
    gen = torch.Generator().manual_seed(seed + 1)
    for layer in linears[1:]:
        bound = 1.0 / math.sqrt(layer.in_features)
        with torch.no_grad():
            layer.weight.copy_(torch.empty(layer.weight.shape, dtype=layer.weight.dtype)
                               .uniform_(epsilon, max(bound, 2 * epsilon), generator=gen))
    return model
