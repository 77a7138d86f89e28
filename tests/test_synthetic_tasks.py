"""Lillicrap et al. 2016's small nonlinear experiments (Supp. Figs. 6-9, 14): the trainer's
options, the per-unit angle, XOR and the normalised error, checked in float64."""
import math

import pytest
import torch

import falign
from falign import synthetic_tasks as st
from falign.models import mlp

TEACHER = st.teacher_network([6, 5, 4], seed=99)
EVAL = st.regression_data(TEACHER, 200, 6, seed=7)


def student(rule, seed=0):
    return st.uniform_student([6, 8, 8, 4], rule, seed=seed, feedback_seed=seed + 50)


def params(model):
    return [p.detach().clone() for p in model.parameters()]


def test_nse_is_zero_for_the_target_and_one_for_the_mean_predictor():
    x, y = EVAL
    assert st.nse(y, y) == 0.0
    assert st.nse(y.mean(0).expand_as(y), y) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="differ in shape"):
        st.nse(y[:, :2], y)
    with pytest.raises(ValueError, match="all equal"):
        st.nse(y, torch.ones_like(y))


def test_frozen_first_layer_stays_bit_identical_and_the_others_move():
    net = student("fa")
    before = params(net)
    st.train(net, st.fresh_batches(TEACHER, 20, 6, seed=1), lr=0.05, steps=30, evaluate=EVAL,
             freeze_first=True)
    after = params(net)
    assert torch.equal(before[0], after[0]) and torch.equal(before[1], after[1])  # W_0, b_0
    assert all(not torch.equal(a, b) for a, b in zip(before[2:], after[2:]))


def test_momentum_zero_is_plain_fa_bit_for_bit_but_the_printed_update_lags_a_step():
    def run(**kw):
        net = student("fa")
        st.train(net, st.fresh_batches(TEACHER, 20, 6, seed=1), lr=0.05, steps=25,
                 evaluate=EVAL, **kw)
        return params(net)
    plain = run()
    ours = run(momentum=0.0, momentum_form="ours")
    printed = run(momentum=0.0, momentum_form="printed")
    assert all(torch.equal(a, b) for a, b in zip(plain, ours))
    assert not all(torch.equal(a, b) for a, b in zip(plain, printed))
    # printed with alpha = 0: theta_{t+1} = theta_t + Delta theta_{t-1}; its first step is 0,
    # so after 1 step nothing moved, and T steps apply the first T - 1 updates.
    one = student("fa")
    st.train(one, st.fresh_batches(TEACHER, 20, 6, seed=1), lr=0.05, steps=1, evaluate=EVAL,
             momentum=0.0, momentum_form="printed")
    assert all(torch.equal(a, b) for a, b in zip(params(one), params(student("fa"))))


def test_stacked_trainer_matches_one_by_one_training():
    specs = [("bp", False, 0.0), ("fa", False, 0.0), ("fa", True, 0.0), ("fa", False, 0.9)]
    single, stacked = [], []
    for rule, frozen, alpha in specs:
        net = student(rule)
        tr = st.train(net, st.fresh_batches(TEACHER, 20, 6, seed=1), lr=0.05, steps=40,
                      evaluate=EVAL, freeze_first=frozen, momentum=alpha, record_every=10)
        single.append((net, tr))
        stacked.append(student(rule))
    traces = st.train_stacked(stacked, st.stacked_batches([st.fresh_batches(TEACHER, 20, 6, seed=1)] * 4),
                              lr=0.05, steps=40, evaluate=EVAL, record_every=10,
                              freeze_first=[s[1] for s in specs], momentum=[s[2] for s in specs])
    for (net, tr), other, tr2 in zip(single, stacked, traces):
        assert tr.steps == tr2.steps
        assert tr.error == pytest.approx(tr2.error, rel=1e-10)
        for a, b in zip(params(net), params(other)):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_switch_keeps_forward_weights_and_changes_only_the_backward_matrix():
    k = 20
    bp_net = student("bp")
    st.train(bp_net, st.fresh_batches(TEACHER, 20, 6, seed=1), lr=0.05, steps=k, evaluate=EVAL)
    switched = student("fa")
    b_before = [layer.feedback.clone() for layer in falign.feedback_layers(switched)]
    seen = {}
    st.train(switched, st.fresh_batches(TEACHER, 20, 6, seed=1), lr=0.05, steps=k + 10,
             evaluate=EVAL, bp_until=k, on_record=lambda s, m: seen.setdefault(s, params(m)))
    # up to the switch the FA-converted net followed backprop exactly
    assert all(torch.equal(a, b) for a, b in zip(seen[k], params(bp_net)))
    layers = falign.feedback_layers(switched)
    assert all(torch.equal(layer.feedback, b) for layer, b in zip(layers, b_before))
    assert not any(torch.equal(layer.feedback, layer.weight) for layer in layers)
    with pytest.raises(ValueError, match="convert it with 'fa'"):
        st.train(student("bp"), EVAL, lr=0.1, steps=1, evaluate=EVAL, bp_until=1)


def test_same_seed_same_run():
    runs = []
    for _ in range(2):
        net = student("fa", seed=3)
        tr = st.train(net, st.fresh_batches(TEACHER, 20, 6, seed=4), lr=0.05, steps=15,
                      evaluate=EVAL)
        runs.append((tr.error, params(net)))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))


def test_unit_angles_at_init_centre_on_90_with_the_derived_spread():
    angles = torch.cat([st.unit_angles(falign.convert(
        mlp(10, [1000], 20, activation="tanh", seed=s, dtype=torch.float64), "fa", seed=s + 9))
        for s in range(3)])
    sd_cos, sd_angle = st.random_angle_spread(20)
    assert sd_cos == pytest.approx(1 / math.sqrt(20))
    assert sd_angle == pytest.approx(13.14, abs=0.01)       # sin^18 density: above 1/sqrt(20) rad
    assert float(angles.mean()) == pytest.approx(90.0, abs=1.0)
    assert float(angles.std()) == pytest.approx(sd_angle, abs=0.8)
    bp = falign.convert(mlp(10, [30], 20, seed=0, dtype=torch.float64), "bp")
    assert float(st.unit_angles(bp).abs().max()) < 1e-5                # B = W: angle 0


def test_fa_solves_xor_and_w_aligns_with_b():
    x, y = st.xor_data()
    net = st.normal_feedback_(falign.convert(st.xor_network(25, seed=0), "fa", seed=1), 1.0,
                              seed=2)
    w0 = net[2].weight.detach().clone()
    st.train(net, (x, y), lr=0.5, steps=2000, evaluate=(x, y), error=st.mse, reduction="sum",
             record_every=2000)
    with torch.no_grad():
        assert torch.equal((net(x) > 0.5).to(y.dtype), y)             # 4 of 4
    w, b = net[2].weight.detach().flatten(), net[2].feedback.flatten()
    assert float(torch.corrcoef(torch.stack([w, b]))[0, 1]) > 0.5
    assert st.vector_angle(w, b) < st.vector_angle(w0.flatten(), b)


def test_printed_xor_angles():
    assert st.vector_angle([0.15, -0.13], [-3.75, -4.53]) == pytest.approx(88.7, abs=0.05)
    assert st.vector_angle([-4.65, -4.55], [-3.75, -4.53]) == pytest.approx(6.0, abs=0.05)
    with pytest.raises(ValueError, match="one shape"):
        st.vector_angle([1.0, 2.0], [1.0])


def test_bad_inputs_name_the_cause_and_the_fix():
    with pytest.raises(ValueError, match="falign.convert"):
        st.train(mlp(6, [8], 4, seed=0), EVAL, lr=0.1, steps=1, evaluate=EVAL)
    with pytest.raises(ValueError, match="momentum"):
        st.train(student("fa"), EVAL, lr=0.1, steps=1, evaluate=EVAL, momentum=1.5)
    with pytest.raises(ValueError, match="momentum_form"):
        st.train(student("fa"), EVAL, lr=0.1, steps=1, evaluate=EVAL, momentum_form="nesterov")
    with pytest.raises(ValueError, match="hidden layer"):
        st.teacher_network([6, 4], seed=0)
    with pytest.raises(ValueError, match="architecture"):
        st.train_stacked([student("fa"), st.uniform_student([6, 8, 4], "fa", seed=0,
                                                            feedback_seed=1)],
                         lambda s: EVAL, lr=0.1, steps=1, evaluate=EVAL)


def test_stacked_switch_by_copying_weights_matches_train_with_bp_until():
    # Supp. Fig. 14 two ways: train() with bp_until=k on an FA net, and train_stacked with BP
    # for k steps, the weights copied into the FA net (its own B), then FA.
    k, extra = 15, 10
    x, y = EVAL
    full = (x[None], y[None])
    switched = student("fa")
    b_before = [layer.feedback.clone() for layer in falign.feedback_layers(switched)]
    tr = st.train(switched, EVAL, lr=0.05, steps=k + extra, evaluate=EVAL, bp_until=k)
    bp_net = student("bp")
    st.train_stacked([bp_net], lambda s: full, lr=0.05, steps=k, evaluate=EVAL)
    fa_net = st.copy_forward_weights_(student("fa"), bp_net)
    assert all(torch.equal(layer.feedback, b) for layer, b in
               zip(falign.feedback_layers(fa_net), b_before))          # B untouched, as drawn
    tr2 = st.train_stacked([fa_net], lambda s: full, lr=0.05, steps=extra, evaluate=EVAL)[0]
    assert tr2.error[-1] == pytest.approx(tr.error[-1], rel=1e-10)
    for a, b in zip(params(switched), params(fa_net)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="architecture"):
        st.copy_forward_weights_(student("fa"), st.uniform_student([6, 8, 4], "bp", seed=0,
                                                                   feedback_seed=1))
