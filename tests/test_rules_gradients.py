"""Every rule's weight, bias and input gradients against hand-written formulas (float64)."""
import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import falign
from falign.rules import paper_sign

LAYER_RULES = ["bp", "fa", "adafa", "signfa", "frsf", "brsf"]
DIRECT_RULES = ["dfa", "mdfa"]
pytestmark = pytest.mark.usefixtures("float64")


def expected_feedback(rule: str, layer) -> torch.Tensor:
    """B written out from each rule's definition, independently of the layer's code."""
    w = layer.weight.detach()
    fan_in = w[0].numel()
    fan_out = w.shape[0] * (w[0, 0].numel() if w.dim() > 2 else 1)
    if rule == "bp":
        return w
    if rule in ("fa", "adafa"):
        return layer.feedback_store
    sign = torch.where(w > 0, 1.0, -1.0)
    if rule == "signfa":
        return math.sqrt(2.0 / (fan_in + fan_out)) * sign
    return layer.magnitudes().abs() * sign


def linear_net(rule: str):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    return falign.convert(net, rule, seed=5)


@pytest.mark.parametrize("rule", LAYER_RULES)
def test_linear_gradients_match_formula(rule):
    net = linear_net(rule)
    first, last = net[0], net[2]
    x = torch.randn(5, 4, requires_grad=True)
    target = torch.randn(5, 2)
    a1 = torch.tanh(first(x))
    out = last(a1)
    loss = 0.5 * ((out - target) ** 2).sum()
    loss.backward()
    # Hand-written backward pass of Sec. 3 with B in place of W.
    delta2 = (out - target).detach()                                   # (5, 2)
    delta1 = (delta2 @ expected_feedback(rule, last)) * (1 - a1.detach() ** 2)
    torch.testing.assert_close(last.weight.grad, delta2.T @ a1.detach())
    torch.testing.assert_close(last.bias.grad, delta2.sum(0))
    torch.testing.assert_close(first.weight.grad, delta1.T @ x.detach())
    torch.testing.assert_close(first.bias.grad, delta1.sum(0))
    torch.testing.assert_close(x.grad, delta1 @ expected_feedback(rule, first))


@pytest.mark.parametrize("rule", LAYER_RULES)
def test_conv_gradients_match_formula(rule):
    torch.manual_seed(1)
    conv = falign.convert(nn.Sequential(nn.Conv2d(2, 3, 2, stride=1, padding=1)), rule, seed=3)[0]
    x = torch.randn(2, 2, 3, 3, requires_grad=True)
    out = conv(x)
    g = torch.randn_like(out)
    out.backward(g)
    # Explicit convolution backward with unfold: out[n,o,p] = sum_k W[o,k] patch[n,k,p] + b[o].
    patches = F.unfold(x.detach(), 2, padding=1)                       # (N, 2*2*2, P)
    g2 = g.reshape(2, 3, -1)                                           # (N, 3, P)
    w_grad = torch.einsum("nop,nkp->ok", g2, patches).reshape(conv.weight.shape)
    torch.testing.assert_close(conv.weight.grad, w_grad)
    torch.testing.assert_close(conv.bias.grad, g.sum((0, 2, 3)))
    b = expected_feedback(rule, conv).reshape(3, -1)
    cols = torch.einsum("ok,nop->nkp", b, g2)
    x_grad = F.fold(cols, (3, 3), 2, padding=1)
    torch.testing.assert_close(x.grad, x_grad)


def test_sign_convention_and_scale():
    w = torch.tensor([[0.5, -0.2, 0.0]])
    torch.testing.assert_close(paper_sign(w), torch.tensor([[1.0, -1.0, -1.0]]))
    layer = falign.convert(nn.Sequential(nn.Linear(3, 1)), "signfa")[0]
    with torch.no_grad():
        layer.weight.copy_(w)
    torch.testing.assert_close(layer.feedback, math.sqrt(2 / 4) * torch.tensor([[1.0, -1.0, -1.0]]))


def test_feedback_shapes_buffers_and_semantics():
    net = linear_net("fa")
    b = net[2].feedback.clone()
    assert b.shape == net[2].weight.shape
    assert "2.feedback_store" in net.state_dict()
    with torch.no_grad():
        net[2].weight.add_(1.0)
    torch.testing.assert_close(net[2].feedback, b)              # FA: fixed
    ada = linear_net("adafa")
    torch.testing.assert_close(ada[2].feedback, ada[2].weight.detach())   # adaFA: B = W(0)
    with torch.no_grad():
        ada[2].weight.mul_(2.0)
    assert not torch.allclose(ada[2].feedback, ada[2].weight.detach())
    bp = linear_net("bp")
    assert bp[2].feedback is not None and torch.equal(bp[2].feedback, bp[2].weight.detach())


def test_brsf_redraws_once_per_optimizer_step_only():
    net = linear_net("brsf")
    before = net[2].magnitudes().clone()
    net(torch.randn(3, 4)).sum().backward()
    net(torch.randn(3, 4)).sum().backward()                   # more forwards: no redraw
    torch.testing.assert_close(net[2].magnitudes(), before)
    falign.after_optimizer_step(net)
    assert not torch.allclose(net[2].magnitudes(), before)
    frsf = linear_net("frsf")
    fixed = frsf[2].feedback_store.clone()
    falign.after_optimizer_step(frsf)
    torch.testing.assert_close(frsf[2].feedback_store, fixed)


@pytest.mark.parametrize("rule", DIRECT_RULES)
def test_direct_rules_send_output_error_to_every_layer(rule):
    torch.manual_seed(2)
    net = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3), nn.Tanh(), nn.Linear(3, 2))
    net = falign.convert(net, rule, seed=7)
    l1, l2, l3 = net[0], net[2], net[4]
    x = torch.randn(6, 4)
    a1 = torch.tanh(l1(x))
    a2 = torch.tanh(l2(a1))
    out = l3(a2)
    target = torch.randn(6, 2)
    ((out - target) ** 2).sum().mul(0.5).backward()
    e = (out - target).detach()
    d1 = (e @ l2.feedback) * (1 - a1.detach() ** 2)           # Nokland: delta_l = (e D_l) * f'
    d2 = (e @ l3.feedback) * (1 - a2.detach() ** 2)
    torch.testing.assert_close(l3.weight.grad, e.T @ a2.detach())
    torch.testing.assert_close(l2.weight.grad, d2.T @ a1.detach())
    torch.testing.assert_close(l2.bias.grad, d2.sum(0))
    torch.testing.assert_close(l1.weight.grad, d1.T @ x)
    assert l2.feedback.shape == (2, 5) and l3.feedback.shape == (2, 3)
    if rule == "mdfa":
        assert (l2.feedback >= 0).all() and (l3.feedback >= 0).all()
        assert (l2.weight >= 0).all() and (l3.weight >= 0).all()


@pytest.mark.parametrize("rule", DIRECT_RULES)
def test_direct_rule_on_conv_uses_dense_matrix(rule):
    torch.manual_seed(3)
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3), nn.Flatten(),
                        nn.Linear(2 * 2 * 2, 3))
    x = torch.randn(4, 1, 6, 6)
    net = falign.convert(net, rule, seed=1, example_input=x)
    conv2, fc = net[2], net[4]
    assert conv2.feedback.shape == (3, 2 * 4 * 4)              # dense over the input feature map
    out = net(x)
    g = torch.randn_like(out)
    out.backward(g)
    h1 = net[0](x).detach()
    delta = (g @ conv2.feedback).reshape(4, 2, 4, 4) * (h1 > 0)
    expected = torch.nn.grad.conv2d_weight(x, net[0].weight.shape, delta)
    torch.testing.assert_close(net[0].weight.grad, expected)
    torch.testing.assert_close(net[0].bias.grad, delta.sum((0, 2, 3)))
    assert fc.feedback.shape == (3, 8)
    if rule == "mdfa":
        assert (conv2.feedback >= 0).all() and (conv2.weight >= 0).all()


def test_first_layer_computes_no_input_gradient(monkeypatch):
    net = linear_net("fa")
    calls = []
    for i in (0, 2):
        original = net[i]._backward_matrix
        monkeypatch.setattr(net[i], "_backward_matrix",
                            lambda w, i=i, f=original: calls.append(i) or f(w))
    net(torch.randn(2, 4)).sum().backward()
    assert calls == [2]          # only the second layer sends an error back to its input


def test_feedback_moves_with_to_and_survives_state_dict():
    net = linear_net("fa")
    fresh = falign.convert(nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2)), "fa", seed=99)
    fresh.load_state_dict(net.state_dict())
    torch.testing.assert_close(fresh[2].feedback, net[2].feedback)
    assert net.float()[2].feedback.dtype == torch.float32


def test_brsf_lazy_magnitudes_equal_eager_draws_and_skip_unused_layers():
    """|M_t| is drawn when first read after step t, bit-equal to drawing it at the step; the
    first layer (no input gradient) never draws during training; checkpoints hold |M_t|."""
    from falign.rules import draw_feedback, layer_seed
    net = linear_net("brsf")
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        net(torch.randn(5, 4)).pow(2).sum().backward()
        opt.step()
        falign.after_optimizer_step(net)
    first, last = net[0], net[2]
    assert first._magnitudes_stale                            # never read: never drawn
    for layer in (first, last):
        gen = torch.Generator().manual_seed(layer_seed(layer._seed, layer._index, 3))
        eager = draw_feedback("brsf", layer.weight, gen)
        assert torch.equal(layer.magnitudes(), eager)
    falign.after_optimizer_step(net)                          # step 4, stale again
    saved = net.state_dict()
    gen = torch.Generator().manual_seed(layer_seed(first._seed, first._index, 4))
    assert torch.equal(saved["0.feedback_store"], draw_feedback("brsf", first.weight, gen))
    fresh = linear_net("brsf")
    fresh.load_state_dict(saved)
    assert not fresh[0]._magnitudes_stale
    assert torch.equal(fresh[2].feedback, net[2].feedback)


@pytest.mark.parametrize("stride,padding,groups,bias", [(2, 1, 1, False), (1, 0, 2, True),
                                                        (3, 2, 4, True)])
def test_conv_bp_matches_autograd_for_strides_groups_and_no_bias(stride, padding, groups, bias):
    """The fused backward hands each output of convolution_backward to the right argument."""
    torch.manual_seed(4)
    plain = nn.Conv2d(4, 8, 3, stride=stride, padding=padding, groups=groups, bias=bias).double()
    conv = falign.convert(nn.Sequential(copy.deepcopy(plain)), "bp", seed=0)[0]
    x = torch.randn(2, 4, 9, 9, dtype=torch.float64)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    g = torch.randn_like(plain(x))
    plain(xa).backward(g)
    conv(xb).backward(g)
    torch.testing.assert_close(xb.grad, xa.grad, rtol=0, atol=1e-12)
    torch.testing.assert_close(conv.weight.grad, plain.weight.grad, rtol=0, atol=1e-12)
    if bias:
        torch.testing.assert_close(conv.bias.grad, plain.bias.grad, rtol=0, atol=1e-12)
