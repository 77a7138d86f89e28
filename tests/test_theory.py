"""The papers' theorems, checked numerically in float64."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import falign
from falign.measurements import alignment_cosine_from, neuron_potentials, weight_layers
from falign.models import mlp, mono_net

pytestmark = pytest.mark.usefixtures("float64")


def deep_leaky_net(rule: str, bias: bool, seed: int = 0) -> nn.Module:
    """Depth-3 leaky-ReLU network 6 -> 8 -> 8 -> 3 with O(1) weights."""
    net = mlp(6, [8, 8], 3, activation="leaky_relu", bias=bias, seed=seed, dtype=torch.float64)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(2.0)
    return falign.convert(net, rule, seed=seed + 1)


def run_gd(net: nn.Module, steps: int, lr: float, record, every: int = 1) -> None:
    """Plain gradient steps (the Euler discretisation of the flow of Theorem 5.2); the
    discretisation error of the conserved quantity shrinks in proportion to lr."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(40, 6, generator=gen)
    y = torch.randint(0, 3, (40,), generator=gen)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    for step in range(1, steps + 1):
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
        falign.after_optimizer_step(net)
        if step % every == 0:
            record(net)


def incoming_half_norms(net: nn.Module) -> list[torch.Tensor]:
    out = []
    for layer in weight_layers(net)[:-1]:
        sq = layer.weight.detach().pow(2).sum(1)
        if layer.bias is not None:
            sq = sq + layer.bias.detach().pow(2)
        out.append(0.5 * sq)
    return out


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("rule", ["fa", "adafa", "signfa"])
def test_theorem_5_2_potential_conserved_per_neuron(rule, bias):
    net = deep_leaky_net(rule, bias)
    p0 = neuron_potentials(net)
    n0 = incoming_half_norms(net)
    assert all(p.abs().min() > 0.01 for p in p0)             # the ratio is well defined
    worst = [0.0]

    def record(model):
        for p, q in zip(neuron_potentials(model), p0):
            worst[0] = max(worst[0], float(((p - q) / q).abs().max()))

    run_gd(net, steps=5000, lr=2e-3, record=record, every=25)
    moved = min(float(((a - b) / q).abs().max()) for a, b, q in
                zip(incoming_half_norms(net), n0, p0))
    assert moved > 0.02, "weights barely moved: the check would be vacuous"
    assert worst[0] <= 1e-3


def test_theorem_5_2_fails_for_bp_while_du_balance_holds():
    net = deep_leaky_net("bp", bias=True)
    p0 = neuron_potentials(net)
    layers = weight_layers(net)

    def balance(model):
        # Du et al. 2018: ||W_i[:, j]||^2 (with bias) - ||W_{i+1}[j, :]||^2 per neuron.
        ls = weight_layers(model)
        return [2 * h - ls[i + 1].weight.detach().pow(2).sum(0)
                for i, h in enumerate(incoming_half_norms(model))]

    b0 = balance(net)
    worst_balance = [0.0]

    def record(model):
        for b, q in zip(balance(model), b0):
            worst_balance[0] = max(worst_balance[0], float(((b - q) / q.abs().clamp(min=0.1)).abs().max()))

    run_gd(net, steps=5000, lr=2e-3, record=record, every=25)
    drift = max(float(((p - q) / q).abs().max()) for p, q in zip(neuron_potentials(net), p0))
    assert drift > 0.05                                       # the FA potential is not conserved
    assert worst_balance[0] <= 1e-3
    assert len(layers) == 3


def test_proposition_5_3_signfa_alignment_bound_throughout_training():
    net = deep_leaky_net("signfa", bias=True, seed=3)
    lowest = []

    def record(model):
        for layer in weight_layers(model):
            n = layer.weight.numel()
            cos = float(alignment_cosine_from(layer.weight.detach(), layer.feedback, 2))
            lowest.append(cos - 1 / math.sqrt(n))

    run_gd(net, steps=300, lr=5e-2, record=record)
    assert min(lowest) >= 0.0
    # Random (FA) feedback has no such guarantee: at this seed a layer starts below the bound.
    fa = deep_leaky_net("fa", bias=True, seed=3)
    assert any(float(alignment_cosine_from(l.weight.detach(), l.feedback, 2))
               < 1 / math.sqrt(l.weight.numel()) for l in weight_layers(fa))


def scalar_output_net(rule: str, incoming_norm: float) -> nn.Module:
    """d -> m -> 1 without biases, w_L = b_L = 1, rows of W_1 of the given norm (Lemma 5.4)."""
    net = mlp(5, [6], 1, activation="leaky_relu", bias=False, seed=4, dtype=torch.float64)
    with torch.no_grad():
        w1 = net[0].weight
        w1.mul_(incoming_norm / w1.norm(dim=1, keepdim=True))
        net[2].weight.fill_(1.0)
    net = falign.convert(net, rule, seed=0)
    if rule == "fa":
        net[2].feedback_store.fill_(1.0)
    return net


def train_scalar(net: nn.Module, steps: int = 2000) -> float:
    """Logistic loss on labels no positive output layer fits; returns min_j w_L[j] seen."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(30, 5, generator=gen)
    y = torch.sign(torch.randn(30, generator=gen))
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    lowest = float("inf")
    for _ in range(steps):
        opt.zero_grad()
        F.softplus(-y * net(x).squeeze(1)).mean().backward()
        opt.step()
        lowest = min(lowest, float(net[2].weight.detach().min()))
    return lowest


def test_lemma_5_4_output_weights_stay_positive_under_fa():
    fa = scalar_output_net("fa", incoming_norm=1.0)            # ||w_{L-1}[j]|| = 1 < sqrt(2)
    assert train_scalar(fa) > 0.0
    w, b = fa[2].weight.detach(), fa[2].feedback
    assert float(alignment_cosine_from(w, b, 2)) >= 1 / math.sqrt(w.numel())
    # The same data drives gradient descent to negative output weights: the lemma is not vacuous.
    assert train_scalar(scalar_output_net("bp", incoming_norm=1.0)) < 0.0


def _grads(net, x, y):
    net.zero_grad()
    F.binary_cross_entropy_with_logits(net(x).squeeze(1), y).backward()
    return [p.grad.clone() for p in net.parameters()]


def test_lechner_theorem_2_mdfa_has_gradient_sign_for_scalar_output():
    # The theorem is per example: each example's update has the sign of its own gradient.
    gen = torch.Generator().manual_seed(2)
    xs = torch.randn(12, 1, 5, generator=gen)
    ys = (torch.rand(12, 1, generator=gen) > 0.5).double()
    for seed in range(3):
        net = falign.convert(mono_net(5, [7, 6], 1, activation="tanh", seed=seed,
                                      dtype=torch.float64), "mdfa", seed=seed)
        for x, y in zip(xs, ys):
            update = _grads(net, x, y)
            with falign.true_gradient(net):
                exact = _grads(net, x, y)
            for u, g in zip(update, exact):
                assert (u * g >= -1e-15).all()
    # Plain DFA (signed feedback, unconstrained weights) breaks the sign agreement.
    net = falign.convert(mlp(5, [7, 6], 1, activation="tanh", seed=0), "dfa", seed=0)
    update = _grads(net, xs[0], ys[0])
    with falign.true_gradient(net):
        exact = _grads(net, xs[0], ys[0])
    assert any((u * g < 0).any() for u, g in zip(update, exact))


def two_output_counterexample(errors: torch.Tensor, x: torch.Tensor):
    """Lechner 2020 App. A.3: hidden layer of two units, W_2 = [[0,1],[1,0]], B = I."""
    net = falign.convert(mlp(2, [2], 2, activation="relu"), "mdfa", seed=0)
    with torch.no_grad():
        net[0].weight.copy_(torch.eye(2))
        net[0].bias.fill_(1.0)                                # both hidden units active
        net[2].weight.copy_(torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
        net[2].bias.zero_()
    net(x)                                                    # creates the DFA matrix
    net[2].feedback_store.copy_(torch.eye(2))

    def w1_grad():
        net.zero_grad()
        out = net(x)
        (out * errors).sum().backward()                       # dL/dh_L = errors
        return net[0].weight.grad.clone()

    update = w1_grad()
    with falign.true_gradient(net):
        exact = w1_grad()
    return update, exact


def test_lechner_two_output_counterexample():
    # The paper's case: errors diag(1, -1) on inputs e_1, e_2 give orthogonal updates.
    update, exact = two_output_counterexample(torch.tensor([[1.0, 0.0], [0.0, -1.0]]), torch.eye(2))
    torch.testing.assert_close(exact, torch.tensor([[0.0, -1.0], [1.0, 0.0]]))
    torch.testing.assert_close(update, torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
    assert float((update * exact).sum()) == 0.0
    # One example with error (1, -1): every coordinate of the update opposes the gradient.
    update, exact = two_output_counterexample(torch.tensor([[1.0, -1.0]]), torch.tensor([[1.0, 0.0]]))
    assert float((update * exact).sum()) < 0.0
    assert ((update * exact)[:, 0] < 0).all()
