"""The Theory chapters' checks as tests (falign.theory, float64): each would fail if the
implementation or the claim it checks were wrong, including the places where the paper's printed
statements are corrected (Theorem 5.1's beta > 1 bound, Lemma 5.4's last step, Proposition 5.7's
constant and sign-FA condition)."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import falign
from falign import theory

pytestmark = pytest.mark.usefixtures("float64")
F64 = torch.float64


# ------------------------------------------------------------------------------ Theorem 5.1
@pytest.mark.parametrize("beta", [1.0, 1.5, 2.0, 3.0])
def test_corrected_bound_is_the_numerically_integrated_extremal_loss(beta):
    alpha = theory.one_weight_alpha(beta)
    t, slowest = theory.slowest_loss(4.0, alpha, beta, t_end=1.0, steps=2000)
    bound = theory.loss_bound(t, 4.0, alpha, beta)
    assert float(((slowest - bound) / bound).abs().max()) < 1e-7


def test_printed_bound_is_wrong_except_at_beta_2():
    t = torch.linspace(0, 5, 101, dtype=F64)
    # beta = 3, L0 = 4: the printed bound claims L(0) <= 2 while L(0) = 4.
    assert float(theory.printed_loss_bound(0.0, 4.0, 1.0, 3.0)) == pytest.approx(2.0, rel=1e-15)
    assert float(theory.loss_bound(0.0, 4.0, 1.0, 3.0)) == pytest.approx(4.0, rel=1e-15)
    # beta = 2: both are L0 / (1 + alpha L0 t).
    torch.testing.assert_close(theory.printed_loss_bound(t, 4.0, 0.7, 2.0),
                               theory.loss_bound(t, 4.0, 0.7, 2.0), rtol=1e-14, atol=0)
    torch.testing.assert_close(theory.loss_bound(t, 4.0, 0.7, 2.0), 4.0 / (1 + 0.7 * 4.0 * t),
                               rtol=1e-14, atol=0)
    # beta = 3: below the attainable curve exactly until T* (and only for L0 > 1).
    t_star = theory.printed_bound_fails_until(4.0, 4.0, 3.0)
    assert t_star == pytest.approx(1 / 32)
    t, slowest = theory.slowest_loss(4.0, 4.0, 3.0, t_end=0.1, steps=4000)
    below = theory.printed_loss_bound(t, 4.0, 4.0, 3.0) < slowest
    assert float(t[below].max()) == pytest.approx(t_star, abs=1e-4)
    assert theory.printed_bound_fails_until(0.5, 4.0, 3.0) == 0.0
    # 1 < beta < 2: falls below for good at late times, by the factor (beta-1)^(2/(beta-1)).
    t, slowest = theory.slowest_loss(0.5, 1.0, 1.5, t_end=200.0, steps=20000)
    ratio = theory.printed_loss_bound(t, 0.5, 1.0, 1.5) / slowest
    assert float(ratio[-1]) < 0.07 and float(ratio[-1]) > 1 / 16


@pytest.mark.parametrize("beta", [1.0, 1.5, 2.0, 3.0])
def test_one_weight_models_meet_alignment_dominance_with_equality(beta):
    theta = torch.tensor([0.3, 0.8, 1.7], dtype=F64, requires_grad=True)
    loss = theory.one_weight_loss(theta, beta)
    (grad,) = torch.autograd.grad(loss.sum(), theta)
    torch.testing.assert_close(grad ** 2, theory.one_weight_alpha(beta) * loss.detach() ** beta,
                               rtol=1e-13, atol=0)
    assert float(theory.one_weight_loss(torch.tensor(theory.one_weight_start(4.0, beta)), beta)) \
        == pytest.approx(4.0)


@pytest.mark.parametrize("beta", [1.0, 1.5, 2.0, 3.0])
def test_gradient_descent_sits_on_the_corrected_bound(beta):
    alpha = theory.one_weight_alpha(beta)
    t, loss = theory.train_one_weight(beta, 4.0, lr=1e-4, steps=3000)
    ratio = loss / theory.loss_bound(t, 4.0, alpha, beta)
    assert float(ratio.max()) <= 1 + 1e-12
    assert float(ratio.min()) >= 1 - 2e-3
    printed = theory.printed_loss_bound(t, 4.0, alpha, beta)
    if beta == 3.0:
        assert bool((loss[t < 0.03] > printed[t < 0.03]).all())
    if beta == 1.5:
        assert bool((loss[t > 0.02] > printed[t > 0.02]).all())


def test_linear_fa_run_is_alignment_dominant_with_the_a_priori_constant():
    X, y = theory.regression_data(10, 40, seed=0)
    b2 = theory.random_feedback(20, seed=1)
    W1, _ = theory.two_layer_init(40, 20, scale=0.3, seed=2)
    alpha = theory.linear_dominance_alpha(X, W1, b2, b2)
    assert alpha > 0
    run = theory.train_two_layer(X, y, W1, b2, b2, rule="fa", loss="square", lr=0.05, steps=3000,
                                 every=10)
    assert float((run.inner / (alpha * run.loss)).min()) >= 1.0
    assert bool((run.loss <= theory.loss_bound(run.t, float(run.loss[0]), alpha, 1.0)).all())
    assert theory.dominance_constant(run.inner, run.loss, 1.0) >= alpha


# ------------------------------------------------------------------------------ Theorem 5.2
def test_explicit_two_layer_updates_match_the_library_layers():
    gen = torch.Generator().manual_seed(3)
    X = torch.randn(12, 5, generator=gen, dtype=F64)
    y = torch.sign(torch.randn(12, generator=gen, dtype=F64))
    W1 = torch.randn(5, 7, generator=gen, dtype=F64)
    w2 = torch.randn(7, generator=gen, dtype=F64)
    b2 = torch.randn(7, generator=gen, dtype=F64)
    for loss_name, loss_fn in [("exp", lambda f: torch.exp(-y * f).mean()),
                               ("logistic", lambda f: F.softplus(-y * f).mean()),
                               ("square", lambda f: 0.5 * (f - y).pow(2).mean())]:
        net = nn.Sequential(nn.Linear(5, 7, bias=False, dtype=F64), nn.LeakyReLU(0.2),
                            nn.Linear(7, 1, bias=False, dtype=F64))
        with torch.no_grad():
            net[0].weight.copy_(W1.T)
            net[2].weight.copy_(w2[None, :])
        falign.convert(net, "fa", seed=0)
        net[2].feedback_store.copy_(b2[None, :])
        ours = theory.two_layer_gradients(X, y, W1, w2, b2, slope=0.2, loss=loss_name)
        loss_fn(net(X).squeeze(1)).backward()
        torch.testing.assert_close(net[0].weight.grad.T, ours["update_W1"], rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(net[2].weight.grad[0], ours["grad_w2"], rtol=1e-12, atol=1e-14)
        net.zero_grad()
        with falign.true_gradient(net):
            value = loss_fn(net(X).squeeze(1))
            value.backward()
        torch.testing.assert_close(net[0].weight.grad.T, ours["grad_W1"], rtol=1e-12, atol=1e-14)
        assert float(value.detach()) == pytest.approx(float(ours["loss"]), rel=1e-14)


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("rule", ["fa", "adafa", "signfa", "frsf", "brsf", "bp"])
def test_one_step_identity_is_exact_for_every_layer_rule(rule, bias):
    x, y = theory.toy_classification()
    res = theory.step_identity_residual(theory.small_network(rule, bias=bias), x, y, lr=0.05,
                                        steps=120)
    assert res["largest one-step change"] > 1e-4                       # not vacuous
    assert res["residual of the full identity"] < 1e-12
    fixed = rule in ("fa", "adafa")
    assert (res["residual of -|dW|^2/2 alone"] < 1e-12) == fixed
    assert (res["steps on which B moved"] == 0) == fixed


def test_one_step_identity_holds_for_mini_batches():
    x, y = theory.toy_classification()
    res = theory.step_identity_residual(theory.small_network("fa"), x, y, lr=0.05, steps=60,
                                        batch_size=8)
    assert res["residual of the full identity"] < 1e-12


@pytest.mark.parametrize("case", [dict(sgd=dict(momentum=0.9)), dict(sgd=dict(weight_decay=1e-2)),
                                  dict(activation="tanh")])
def test_one_step_identity_breaks_without_its_assumptions(case):
    x, y = theory.toy_classification()
    net = theory.small_network("fa", activation=case.get("activation", "leaky_relu"))
    res = theory.step_identity_residual(net, x, y, lr=0.05, steps=60, **case.get("sgd", {}))
    assert res["residual of the full identity"] > 1e-5


def test_potentials_count_biases_and_match_the_library_measurement():
    from falign.measurements import neuron_potentials
    net = theory.small_network("signfa", bias=True)
    for ours, lib in zip(theory.potentials(theory.snapshot(net)), neuron_potentials(net)):
        torch.testing.assert_close(ours, lib, rtol=0, atol=0)
    for ours, lib in zip(theory.potentials(theory.snapshot(net), include_bias=False),
                         neuron_potentials(net, include_bias=False)):
        torch.testing.assert_close(ours, lib, rtol=0, atol=0)


def test_drift_is_first_order_in_the_step_only_when_the_assumptions_hold():
    x, y = theory.toy_classification()
    steps = [0.04, 0.02, 0.01]

    def slope(steps=steps, **kw):
        net_kw = {k: kw.pop(k) for k in ("rule", "bias", "activation") if k in kw}
        drifts = [theory.potential_drift(lambda: theory.small_network(**net_kw), x, y, lr=s,
                                         horizon=1.0, **kw) for s in steps]
        return theory.loglog_slope(steps, drifts)

    assert 0.9 < slope(rule="fa") < 1.15
    assert 0.9 < slope(rule="fa", bias=True) < 1.15
    # heavy-ball's memory saturates at large steps; first order shows at small ones
    assert 0.85 < slope([0.008, 0.004, 0.002], rule="fa", momentum=0.9) < 1.2
    assert abs(slope(rule="fa", weight_decay=1e-2)) < 0.1
    assert abs(slope(rule="fa", activation="tanh")) < 0.1
    assert abs(slope(rule="fa", bias=True, include_bias=False)) < 0.1


def test_potential_ledger_adds_up_and_sign_fa_jumps_up():
    x, y = theory.toy_classification()
    for rule in ("fa", "signfa"):
        led = theory.potential_ledger(theory.small_network(rule), x, y, lr=0.02, steps=100)
        assert float((led.change - led.incoming - led.feedback).abs().max()) < 1e-12
        assert bool((led.incoming <= 0).all())                          # FA part only lowers P
        if rule == "fa":
            assert float(led.feedback.abs().max()) == 0.0
        else:
            assert float(led.feedback.min()) >= 0.0 and float(led.feedback.max()) > 1e-3


def test_loglog_slope():
    assert theory.loglog_slope([1, 10, 100], [3, 30, 300]) == pytest.approx(1.0)
    assert theory.loglog_slope([1, 10, 100], [5, 5, 5]) == pytest.approx(0.0)


# ---------------------------------------------------------------- Proposition 5.3, Lemma 5.4
def test_sign_alignment_closed_form_floor_and_ceiling():
    from falign.measurements import alignment_cosine_from
    from falign.rules import paper_sign
    gen = torch.Generator().manual_seed(0)
    for _ in range(300):
        n = int(torch.randint(1, 40, (1,), generator=gen))
        W = torch.randn(n, generator=gen, dtype=F64)
        W[torch.randperm(n, generator=gen)[:int(torch.randint(0, n, (1,), generator=gen))]] = 0.0
        cos = theory.sign_alignment(W)
        assert cos == pytest.approx(float(alignment_cosine_from(W, paper_sign(W), 1)), abs=1e-14)
        assert cos * math.sqrt(n) >= 1 - 1e-14
    one = torch.zeros(7, 9, dtype=F64)
    one[2, 3] = -0.4
    assert theory.sign_alignment(one) == pytest.approx(1 / math.sqrt(63))
    assert theory.sign_alignment(torch.full((4, 4), -2.0, dtype=F64)) == pytest.approx(1.0)


def lemma_data():
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(30, 5, generator=gen, dtype=F64)
    return X, torch.sign(torch.randn(30, generator=gen, dtype=F64))


def test_lemma_5_4_floor_is_one_minus_half_the_squared_norm_not_one_half():
    X, y = lemma_data()
    ones = torch.ones(6, dtype=F64)
    runs = {rho: theory.train_two_layer(X, y, theory.columns_of_norm(5, 6, rho, seed=0), ones,
                                        ones, rule="fa", slope=0.1, loss="logistic", lr=0.01,
                                        steps=6000, every=20)
            for rho in (1.3, 2.0)}
    held = runs[1.3]
    drift = float((held.potentials - held.potentials[0]).abs().max())
    assert drift < 5e-3
    assert float(held.w2.min()) >= 1 - 1.3 ** 2 / 2 - drift                # the corrected floor
    assert float(held.w2.min()) < 0.5                                       # not the printed 1/2
    assert float(held.w2.min()) > 0
    assert bool((runs[2.0].w2[-1] < 0).any())                               # condition broken


def test_sign_fa_needs_half_the_squared_norm_below_the_output_weight():
    X, y = lemma_data()
    w2_0 = torch.full((6,), 3.0, dtype=F64)
    printed_only = theory.train_two_layer(X, y, theory.columns_of_norm(5, 6, 4.0, seed=0), w2_0,
                                          rule="signfa", slope=0.1, loss="logistic", lr=0.01,
                                          steps=6000, every=50)
    assert 4.0 <= math.sqrt(2) * 3.0 and 4.0 ** 2 / 2 > 3.0                # printed holds, ours not
    assert bool((printed_only.w2[-1] < 0).any())
    corrected = theory.train_two_layer(X, y, theory.columns_of_norm(5, 6, 2.0, seed=0), w2_0,
                                       rule="signfa", slope=0.1, loss="logistic", lr=0.01,
                                       steps=6000, every=50)
    assert float(corrected.w2.min()) > 0.9                                  # floor 3 - 2 = 1


# -------------------------------------------------------------------------- Proposition 5.7
def test_data_definitions():
    X, y = theory.orthogonally_separable_data(40, 30, seed=0)
    gamma = theory.orthogonal_separability(X, y)
    Z = y[:, None] * X
    assert gamma > 0 and float((Z @ Z.T).min()) == gamma
    Xn, _ = theory.nearly_orthogonal_data(8, 2000, seed=0)
    g, eps = theory.near_orthogonality(Xn)
    G = Xn @ Xn.T
    assert g == pytest.approx(float((G - torch.diag(torch.diag(G))).abs().max()))
    assert eps > 0 and float(torch.diag(G).min()) >= 8 * (g + eps) * (1 - 1e-12)
    Xl, yl, W1 = theory.leaky_side_data(6, 12, 8)
    assert theory.orthogonal_separability(Xl, yl) == pytest.approx(1.0)
    assert float((Xl @ W1).max()) < 0 and float(W1.norm(dim=0).max()) < math.sqrt(2)


def test_prop_5_7_holds_with_c_prime_squared_and_fails_with_c_prime():
    c = 0.2
    X, y, W1 = theory.leaky_side_data(6, 12, 8)
    gamma = theory.orthogonal_separability(X, y)
    ones = torch.ones(8, dtype=F64)
    run = theory.train_two_layer(X, y, W1, ones, ones, rule="fa", slope=c, loss="exp",
                                 lr=0.002, steps=6000, every=10)
    L0 = float(run.loss[0])
    first = theory.first_layer_ratio(run, gamma)
    assert c ** 2 <= float(first[0]) < 1.1 * c ** 2                         # c'^2 is reached
    assert float(first.min()) >= c ** 2 * (1 - 1e-9)
    ours = theory.prop_5_7_alpha(W1, ones, ones, gamma, c, power=2)
    printed = theory.prop_5_7_alpha(W1, ones, ones, gamma, c, power=1)
    assert printed == pytest.approx(ours / c)
    assert float((run.inner / (ours * run.loss ** 2)).min()) >= 1.0
    assert bool((run.loss <= L0 / (1 + ours * L0 * run.t)).all())
    assert float((run.inner / (printed * run.loss ** 2)).min()) < 0.5
    assert int((run.loss > L0 / (1 + printed * L0 * run.t)).sum()) > 100


def test_prop_5_7_on_generic_separable_data():
    c = 0.2
    X, y = theory.orthogonally_separable_data(40, 30, seed=0)
    gamma = theory.orthogonal_separability(X, y)
    W1 = theory.columns_of_norm(30, 50, torch.linspace(0.5, 1.2, 50, dtype=F64), seed=1)
    ones = torch.ones(50, dtype=F64)
    run = theory.train_two_layer(X, y, W1, ones, ones, rule="fa", slope=c, loss="exp", lr=0.002,
                                 steps=4000, every=10)
    alpha = theory.prop_5_7_alpha(W1, ones, ones, gamma, c)
    assert float((run.inner / (alpha * run.loss ** 2)).min()) >= 1.0
    first = theory.first_layer_ratio(run, gamma)
    assert c ** 2 <= float(first.min()) < c                                  # below c', above c'^2
    assert float((run.w2 * run.b2).min()) > 0


# ------------------------------------------------------------------ minimum norm (arXiv v1)
def min_norm_problem():
    X, y = theory.regression_data(10, 40, seed=0)
    return X, y, theory.random_feedback(20, seed=1)


def test_fa_from_zero_reaches_the_minimum_norm_solution_and_gd_does_not_move():
    X, y, b2 = min_norm_problem()
    zero = torch.zeros(40, 20, dtype=F64), torch.zeros(20, dtype=F64)
    fa = theory.train_two_layer(X, y, *zero, b2, rule="fa", loss="square", lr=0.5, steps=3000,
                                every=100)
    assert float(fa.loss[-1]) < 1e-25
    assert theory.min_norm_distance(X, y, fa.W1, fa.w2_final) < 1e-10
    assert theory.off_row_space(X, fa.W1) < 1e-12
    torch.testing.assert_close(X @ theory.min_norm_solution(X, y), y, rtol=0, atol=1e-12)
    gd = theory.train_two_layer(X, y, *zero, b2, rule="bp", loss="square", lr=0.5, steps=200,
                                every=50)
    assert float((gd.loss - gd.loss[0]).abs().max()) == 0.0


def test_min_norm_distance_shrinks_with_the_initialisation_scale():
    X, y, b2 = min_norm_problem()
    proj = torch.eye(40, dtype=F64) - torch.linalg.pinv(X) @ X
    scales, dist = [1e-3, 1e-2, 1e-1], []
    for scale in scales:
        W1, w2 = theory.two_layer_init(40, 20, scale=scale, seed=2)
        run = theory.train_two_layer(X, y, W1, w2, b2, rule="fa", loss="square", lr=0.5,
                                     steps=3000, every=100)
        dist.append(theory.min_norm_distance(X, y, run.W1, run.w2_final))
        predicted = float((proj @ W1 @ run.w2_final).norm() / theory.min_norm_solution(X, y).norm())
        assert dist[-1] == pytest.approx(predicted, rel=1e-8)
        assert theory.off_row_space(X, run.W1) == pytest.approx(theory.off_row_space(X, W1),
                                                                abs=1e-12)
    assert dist[0] < dist[1] < dist[2]
    assert 0.95 < theory.loglog_slope(scales, dist) < 1.05
