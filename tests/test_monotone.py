"""Lechner 2020 (mono-nets and mDFA): its theorems and the errata the book states, in float64."""
import pytest
import torch
from torch import nn

import falign
from falign import monotone as mo
from falign.layers import feedback_layers
from falign.models import mono_net

F64 = torch.float64


def test_corrected_conversion_equals_the_sigmoid_net_and_the_printed_one_does_not():
    gen = torch.Generator().manual_seed(0)
    worst_fixed, best_printed = 0.0, float("inf")
    for seed in range(20):
        g = mo.random_sigmoid_net(5, 20, seed=seed)
        x = torch.rand(300, 5, generator=gen, dtype=F64)
        scale = float(g(x).abs().max().detach())
        worst_fixed = max(worst_fixed, mo.conversion_error(g, mo.mono_net_from_sigmoid(g), x)
                          / max(1.0, scale))
        best_printed = min(best_printed,
                           mo.conversion_error(g, mo.printed_mono_net_from_sigmoid(g), x))
    assert worst_fixed < 1e-12
    assert best_printed > 0.1


def test_conversion_is_a_mono_net_with_n_units_and_the_printed_one_uses_only_n_of_2n():
    g = mo.random_sigmoid_net(3, 12, seed=1)
    fixed, printed = mo.mono_net_from_sigmoid(g), mo.printed_mono_net_from_sigmoid(g)
    assert fixed[0].out_features == 12 and printed[0].out_features == 24
    assert float(mo.check_mono_net(fixed)[1].weight.detach().min()) >= 0
    assert mo.hidden_units_in_use(fixed) == 12 and mo.hidden_units_in_use(printed) == 12
    # hand-derived: output weight |v|/2, bias sum(v)/2, first layer sign(v) w / 2
    v = g[2].weight.detach().flatten()
    assert torch.equal(fixed[2].weight.detach().flatten(), v.abs() / 2)
    assert float(fixed[2].bias.detach()) == pytest.approx(float(v.sum()) / 2, abs=1e-14)
    s = torch.where(v >= 0, 1.0, -1.0).to(F64)
    assert torch.equal(fixed[0].weight.detach(), s[:, None] * g[0].weight.detach() / 2)


def test_theorem_1_split_input_form_has_only_nonnegative_weights_and_same_values():
    m = mo.mono_net_from_sigmoid(mo.random_sigmoid_net(4, 10, seed=2))
    split = mo.split_first_layer(m)
    assert all(float(layer.weight.detach().min()) >= 0 for layer in split[0::2])
    x = torch.rand(200, 4, generator=torch.Generator().manual_seed(3), dtype=F64)
    with torch.no_grad():
        assert float((split(torch.cat([x, -x], 1)) - m(x)).abs().max()) < 1e-13


@pytest.mark.parametrize("activation", ["tanh", "hardtanh", "relu"])
@pytest.mark.parametrize("widths", [[6], [6, 5], [5, 4, 3]])
def test_theorem_2_per_example_products_are_nonnegative(widths, activation):
    gen = torch.Generator().manual_seed(4)
    for seed in range(3):
        net = mo.random_mdfa_mono_net(7, widths, seed=seed, activation=activation, init="normal")
        x = torch.rand(12, 7, generator=gen, dtype=F64)
        y = (torch.rand(12, generator=gen) < 0.5).to(F64)
        assert mo.per_example_min_product(net, x, y) >= 0.0
        # the output layer's mDFA update is its gradient (Theorem 4, case 1)
        last = f"{len(net) - 1}."
        for name, d, g in mo.mdfa_update_and_gradient(net, x[:1], y[:1]):
            if name.startswith(last):
                assert torch.equal(d, g)


def test_one_hidden_layer_batch_update_is_the_gradient_scaled_per_unit():
    # hand-derived: with one hidden layer dh_L/dh_1 = W_2 for every example, so for a batch
    # delta W_1[i, :] = (B_i / W_2[i]) nabla W_1[i, :]: same signs, whatever the batch
    net = mo.random_mdfa_mono_net(5, [9], seed=5, init="normal")
    gen = torch.Generator().manual_seed(6)
    x, y = torch.rand(64, 5, generator=gen, dtype=F64), (torch.rand(64, generator=gen) < 0.5)
    grads = {n: (d, g) for n, d, g in mo.mdfa_update_and_gradient(net, x, y)}
    ratio = feedback_layers(net)[1].feedback_store[0] / net[2].weight.detach()[0]
    d, g = grads["0.weight"]
    assert torch.allclose(d, ratio[:, None] * g, rtol=1e-12, atol=0)
    assert mo.batch_agreement(net, x, y).min_product >= 0


def test_a_two_example_batch_breaks_the_sign_agreement_each_example_keeps_it():
    net, x, y = mo.two_example_violation()
    assert mo.per_example_min_product(net, x, y) >= 0
    products = mo.sign_products(net, x, y)
    assert float(products["0.bias"][0]) < 0                # b_1's first entry flips
    res = mo.batch_agreement(net, x, y)
    assert res.violated and res.min_product < 0


def test_batch_violations_appear_with_two_hidden_layers_and_never_with_one():
    two, _ = mo.violation_rate(10, [8, 8], 8, trials=30, seed=1, init="normal")
    one, frac = mo.violation_rate(10, [8], 8, trials=30, seed=1, init="normal")
    assert two > 0 and one == 0 and frac == 0


def test_lemmas_2_and_3_jacobians_are_nonnegative_and_lemma_2_is_diag_f_prime_w():
    net = mo.random_mdfa_mono_net(4, [5, 6, 3], seed=2, init="normal")
    x = torch.rand(4, generator=torch.Generator().manual_seed(7), dtype=F64)
    jac = mo.layer_to_layer_jacobians(net, x)
    assert set(jac) == {(l, k) for l in range(2, 5) for k in range(1, l)}
    assert all(float(j.min()) >= 0 for j in jac.values())
    h = [s.detach()[0] for s in mo.hidden_states(net, x[None])]
    z2 = net[2].weight.detach() @ h[0] + net[2].bias.detach()
    by_hand = torch.diag(1 - torch.tanh(z2) ** 2) @ net[2].weight.detach()
    assert torch.allclose(jac[(2, 1)], by_hand, rtol=1e-12, atol=1e-15)
    assert torch.allclose(jac[(4, 1)], jac[(4, 2)] @ jac[(2, 1)], rtol=1e-12, atol=1e-15)


def test_theorem_5_printed_arithmetic_does_not_give_the_printed_results():
    p = mo.theorem5_printed()
    assert not torch.equal(p["eq50_as_printed"], p["eq51_printed"])
    assert not torch.equal(p["eq53_as_printed"], p["eq54_printed"])
    assert not torch.equal(p["eq50_with_eq47"], p["eq51_printed"])
    assert torch.equal(p["eq53_with_eq47"], p["eq54_printed"])
    # computed consistently, no coordinate has a negative product (eq. 43 is not shown) ...
    assert float((p["eq50_with_eq47"] * p["eq53_with_eq47"]).min()) == 0.0
    # ... while the printed results are not orthogonal, as the text says, but opposed
    assert float((p["eq51_printed"] * p["eq54_printed"]).sum()) == -2.0


def test_theorem_5_valid_counterexample_flips_every_hidden_coordinate():
    true, fb = mo.hidden_signals(mo.PERMUTATION, mo.IDENTITY, torch.tensor([1.0, -1.0]))
    assert true.tolist() == [-1.0, 1.0] and fb.tolist() == [1.0, -1.0]
    net, x, y = mo.theorem5_network()
    products = mo.sign_products(net, x, y, loss="square", several_outputs=True)
    assert float(products["0.weight"].max()) < 0 and float(products["0.bias"].max()) < 0
    assert float(products["2.weight"].min()) >= 0         # the output layer is exact


def test_seeded_draws_are_reproducible():
    a, b = mo.random_sigmoid_net(3, 4, seed=9), mo.random_sigmoid_net(3, 4, seed=9)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert (mo.violation_rate(6, [5, 5], 4, trials=6, seed=3)
            == mo.violation_rate(6, [5, 5], 4, trials=6, seed=3))
    assert (mo.random_two_output_violation(3, trials=50, seed=2)
            == mo.random_two_output_violation(3, trials=50, seed=2))


def test_bad_inputs_raise_errors_that_name_cause_and_fix():
    x, y = torch.rand(3, 4, dtype=F64), torch.ones(3, dtype=F64)
    plain = mono_net(4, [5], 1, dtype=F64)
    with torch.no_grad():
        plain[2].weight[0, 0] = -0.5
    with pytest.raises(ValueError, match="W_2 has a negative entry.*mono_net"):
        mo.check_mono_net(plain)
    with pytest.raises(ValueError, match="monotone"):
        mo.check_mono_net(nn.Sequential(nn.Linear(2, 2), nn.SiLU(), nn.Linear(2, 1)))
    fa = falign.convert(mono_net(4, [5], 1, dtype=F64), "fa")
    with pytest.raises(ValueError, match="falign.convert\\(net, 'mdfa'"):
        mo.sign_products(fa, x, y)
    two = mo.random_mdfa_mono_net(4, [5], 2, seed=0)
    with pytest.raises(ValueError, match="several_outputs=True"):
        mo.sign_products(two, x, torch.ones(3, 2, dtype=F64))
    net = mo.random_mdfa_mono_net(4, [5], seed=0)
    with torch.no_grad():
        feedback_layers(net)[1].feedback_store[0, 0] = -1.0
    with pytest.raises(ValueError, match="B >= 0"):
        mo.sign_products(net, x, y)
    with pytest.raises(ValueError, match="sigmoid network"):
        mo.mono_net_from_sigmoid(mono_net(2, [3], 1, dtype=F64))
    with pytest.raises(ValueError, match="B has a negative entry"):
        mo.hidden_signals(mo.PERMUTATION, -mo.IDENTITY, torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="unknown loss"):
        mo.sign_products(mo.random_mdfa_mono_net(4, [5], seed=0), x, y, loss="hinge")
