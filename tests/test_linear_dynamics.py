"""Lillicrap et al. 2016, Supplementary Notes 11-16 and Figures 10-13: the linear dynamics of
falign.linear_dynamics checked against hand derivations, in float64."""
import numpy as np
import pytest

from falign import linear_dynamics as ld


def small(seed=0, init=0.1, repeats=1):
    return ld.random_problem(6, 4, 3, repeats=repeats, seed=seed, init=init)


def test_flow_matches_hand_written_fa_bp_and_pbp_updates():
    A, W, B, T = (m[0] for m in small())
    E = T - W @ A
    for rule, M in (("fa", B), ("bp", W.T), ("pbp", np.linalg.pinv(W))):
        dA, dW = ld.flow(A, W, B, T, rule=rule)
        assert np.allclose(dA, M @ E, atol=1e-14) and np.allclose(dW, E @ A.T, atol=1e-14)


def test_invariant_drift_under_rk4_is_below_1e_9():
    A, W, B, T = ld.random_problem(30, 20, 10, repeats=3, seed=1, init=0.3)
    run = ld.integrate(A, W, B, T, dt=0.005, steps=1200)
    assert run["c_drift"].max() < 1e-9
    assert run["nse"][:, -1].max() < 1e-2 * run["nse"][:, 0].min()       # it did learn


def test_euler_step_changes_c_by_exactly_minus_lr2_BE_BEt_and_wrong_orders_break_it():
    A, W, B, T = (m[0] for m in small(init=1.0))
    lr = 0.05
    A1, W1 = ld.euler_step(A, W, B, T, lr)
    change = ld.invariant(A1, W1, B) - ld.invariant(A, W, B)
    BE = B @ (T - W @ A)
    assert np.abs(change - (-lr ** 2 * BE @ BE.T)).max() < 1e-13
    assert np.abs(change - ld.euler_invariant_step(A, W, B, T, lr)).max() < 1e-13
    # a transposed product in the W update (A^T E instead of E A^T; shapes allow it when the
    # layers have equal widths) breaks it
    Aq, Wq, Bq, Tq = (m[0] for m in ld.random_problem(4, 4, 4, seed=9, init=1.0))
    Eq = Tq - Wq @ Aq
    BEq = Bq @ Eq
    Wt, At = Wq + lr * Aq.T @ Eq, Aq + lr * BEq
    wrong = ld.invariant(At, Wt, Bq) - ld.invariant(Aq, Wq, Bq) + lr ** 2 * BEq @ BEq.T
    assert np.abs(wrong).max() > 1e-4
    E = T - W @ A
    # a sequential update (A first, then W from the new A) breaks it too
    A_s = A + lr * B @ E
    W_s = W + lr * (T - W @ A_s) @ A_s.T
    seq = ld.invariant(A_s, W_s, B) - ld.invariant(A, W, B) + lr ** 2 * BE @ BE.T
    assert np.abs(seq).max() > 1e-4


def test_tr_BW_is_exactly_constant_while_only_A_learns_and_grows_by_tr_BEAt_under_W():
    A, W, B, T = small(seed=2, init=0.5, repeats=2)
    run = ld.integrate(A, W, B, T, dt=0.01, steps=200, regimen="once")
    a_phase = run["learn"] == "A"
    assert np.all(run["tr_BW"][:, 1:][:, a_phase] == run["tr_BW"][:, :1])
    # while only W learns: d/dt tr(BW) = tr(B E A^T), checked on one small Euler step
    A0, W0, B0, T0 = (m[0] for m in (A, W, B, T))
    h = 1e-3                   # the W-only Euler step is linear in its size: no truncation
    _, W1 = ld.euler_step(A0, W0, B0, T0, h, learn="W")
    rate = (np.trace(B0 @ W1) - np.trace(B0 @ W0)) / h
    assert rate == pytest.approx(np.trace(B0 @ (T0 - W0 @ A0) @ A0.T), rel=1e-9)


def test_regimen_schedules():
    assert ld.regimen_schedule("once", 4) == ["A", "A", "W", "W"]
    assert ld.regimen_schedule("alternating", 8, phases=4) == ["A", "A", "W", "W"] * 2
    assert ld.regimen_schedule("synchronous", 3) == ["AW"] * 3


def test_scalar_fixed_points_from_zero_and_from_the_bad_basin():
    # our derivation: on the parabola 2W - A^2 = C the limit solves A^3 + C A - 2 = 0
    assert ld.scalar_limit(0.0, 0.0) == pytest.approx((2 ** (1 / 3), 2 ** (-1 / 3)), abs=1e-12)
    A_bad, W_bad = ld.scalar_limit(-3.0, 0.0)
    assert A_bad ** 3 - 9 * A_bad - 2 == pytest.approx(0, abs=1e-10) and A_bad < -1
    assert (A_bad, W_bad) == pytest.approx((-2.8820205, -0.3469788), abs=1e-6)
    for start, end in (((1e-3, 0.0), ld.scalar_limit(1e-3, 0.0)), ((-3.0, 0.0), (A_bad, W_bad))):
        z = ld.scalar_trajectory(*start, dt=0.01, steps=4000)
        assert z[-1] == pytest.approx(end, abs=1e-8)
    assert ld.scalar_bad_basin(-3.0, 0.0) and not ld.scalar_bad_basin(0.0, 0.0)
    assert not ld.scalar_bad_basin(-0.1, -3.0)           # C < -3 but above the middle root


def test_scalar_invariant_and_stability_of_the_branches():
    z = ld.scalar_trajectory(-0.5, 1.5, dt=0.005, steps=4000)
    C = ld.scalar_invariant(z[:, 0], z[:, 1])
    assert np.abs(C - C[0]).max() < 1e-9
    # transverse eigenvalue -(1/A + A^2): stable for A > 0 and A < -1, unstable in between
    rates = ld.scalar_transverse_rate(np.array([0.5, 2.0, -0.5, -0.9, -1.1, -3.0]))
    assert list(rates < 0) == [True, True, False, False, True, True]


def test_lemma5_parallelism_at_every_step_and_theorem2_ratio():
    rng = np.random.default_rng(4)
    B = rng.standard_normal((5, 3))
    x, y = rng.standard_normal(7), rng.standard_normal(3)
    As, Ws = ld.single_pair_run(B, x, y, lr=0.05, steps=150)
    u = B @ y
    sh, sw = ld.lemma5_scalars(B, y, lr=0.05, steps=150)
    for k, (A, W) in enumerate(zip(As, Ws)):
        h = A @ x
        assert ld.sine_to(h, u) < 1e-12 and ld.sine_to(W, np.outer(y, u)) < 1e-12
        assert np.allclose(h, sh[k] * u, atol=1e-12) and np.allclose(W, sw[k] * np.outer(y, u), atol=1e-12)
        e = y - W @ h
        if k >= 2 and np.linalg.norm(e) > 1e-6 * np.linalg.norm(y):   # e above round-off
            cos, s = ld.theorem2_ratio(W, B, e)
            assert cos == pytest.approx(1, abs=1e-12)
            # the printed s is ||B y*||^2; the correct one is 1 / (s_w ||B y*||^2)
            assert s == pytest.approx(1 / (sw[k] * (u @ u)), rel=1e-8)


def test_pseudobackprop_ratio_tends_to_one_with_error_of_order_lr():
    rng = np.random.default_rng(5)
    A, W = 0.3 * rng.standard_normal((6, 8)), rng.standard_normal((4, 6))
    x, y = rng.standard_normal(8), rng.standard_normal(4)
    errs = [np.abs(ld.pseudobackprop_ratio(A, W, x, y, lr=lr) - 1).max() for lr in (1e-3, 1e-4)]
    assert errs[1] < 1e-3 and errs[0] / errs[1] == pytest.approx(10, rel=0.05)


def test_fa_jacobian_is_asymmetric_bp_symmetric_and_two_printed_entries_are_wrong():
    theta, x, y, B = (0.7, -0.2, 1.3, 0.4), 0.9, 1.5, -0.8
    J = ld.field_jacobian(theta, x, y, B)
    assert np.abs(J - J.T).max() > 0.1
    J_bp = ld.field_jacobian(theta, x, y)
    assert np.abs(J_bp - J_bp.T).max() < 1e-12
    P = ld.printed_jacobian(theta, x, y, B)
    wrong = np.argwhere(np.abs(P - J) > 1e-12)
    assert [tuple(w) for w in wrong] == [(0, 0), (0, 3)]
    W, b, A, c = theta
    h = A * x + c
    e = y - (W * h + b)
    assert J[0, 0] == pytest.approx(-h ** 2) and J[0, 3] == pytest.approx(-W * h + e)


def test_small_init_angle_to_pseudobackprop_below_angle_to_backprop():
    A, W, B, T = ld.random_problem(30, 20, 10, seed=3, init=1e-3, init_dist="uniform")
    run = ld.angle_run(A, W, B, T, dt=0.01, steps=400, record_every=100)
    assert np.all(run["angle_pbp"][0, 2:] < run["angle_bp"][0, 2:] - 5)


def test_lemma3_bounds_hold_along_a_zero_start_run_and_sharp_one_is_tighter():
    A, W, B, T = ld.random_problem(12, 8, 4, repeats=4, seed=6, init=0.0)
    run = ld.integrate(A, W, B, T, dt=0.01, steps=800)
    s = (run["A"] ** 2).sum(axis=(-2, -1))
    assert np.all(s <= ld.lemma3_sharp_bound(B, T) + 1e-9)
    assert np.all(ld.lemma3_sharp_bound(B, T) <= ld.lemma3_printed_bound(B, T))
    # the proof's rate bound is still positive just above the printed threshold 2 n_h
    assert ld.lemma3_rate_bound(2 * 8 + 1, 8, 0.0) > 0


def test_same_seed_gives_identical_trajectories_and_different_seeds_differ():
    runs = [ld.integrate(*ld.random_problem(5, 4, 3, repeats=2, seed=s, init=0.2), dt=0.01,
                         steps=50) for s in (7, 7, 8)]
    assert np.array_equal(runs[0]["nse"], runs[1]["nse"])
    assert np.array_equal(runs[0]["A"], runs[1]["A"])
    assert not np.array_equal(runs[0]["nse"], runs[2]["nse"])


def test_bad_input_raises_with_cause_and_fix():
    A, W, B, T = (m[0] for m in small())
    with pytest.raises(ValueError, match="transpose"):
        ld.check_network(A, W, B.T, T)
    with pytest.raises(ValueError, match="W must be"):
        ld.check_network(A, W[:, :2], B, T)
    with pytest.raises(ValueError, match="dt must be a positive"):
        ld.rk4_step(A, W, B, T, 0.0)
    with pytest.raises(ValueError, match="lr must be a positive"):
        ld.euler_step(A, W, B, T, -1.0)
    with pytest.raises(ValueError, match="unknown regimen"):
        ld.regimen_schedule("random", 10)
    with pytest.raises(ValueError, match="unknown rule"):
        ld.flow(A, W, B, T, rule="dfa")
    with pytest.raises(ValueError, match="b > 0"):
        ld.scalar_limit(0.0, 0.0, b=-1.0)
    with pytest.raises(ValueError, match="matrix"):
        ld.check_network(A[0], W, B, T)


def test_theorem1_run_records_match_the_flow_and_its_identities():
    A, W, B, T = ld.random_problem(9, 6, 3, repeats=2, seed=12, init=0.0)
    run = ld.theorem1_run(A, W, B, T, dt=0.01, steps=600, record_every=3)
    ref = ld.integrate(A, W, B, T, dt=0.01, steps=600)
    assert np.array_equal(run["A"], ref["A"]) and np.allclose(run["nse"], ref["nse"][:, ::3])
    assert np.all(np.diff(run["V"], axis=-1) <= 1e-12 * run["V"][:, :1])          # Lemma 2
    assert np.abs(run["tr_BW"] - run["s"] / 2).max() < 1e-8       # C = 0, up to RK4 truncation
    # ds/dt = 2 tr(B E A^T) agrees with a central difference of the recorded s
    fd = (run["s"][:, 2:] - run["s"][:, :-2]) / (2 * 0.03)
    assert np.abs(fd - run["s_dot"][:, 1:-1]).max() < 1e-2 * np.abs(run["s_dot"]).max()
    sharp = ld.lemma3_sharp_rate_bound(run["s"], 6, np.sqrt(((B @ T) ** 2).sum(axis=(-2, -1)))[:, None])
    assert np.all(run["s_dot"] <= sharp + 1e-12)


def test_zero_invariant_start_has_c_zero_and_rejects_a_rank_deficient_B():
    rng = np.random.default_rng(13)
    B, G = rng.standard_normal((6, 3)), rng.standard_normal((3, 8))
    A, W = ld.zero_invariant_start(G, B)
    assert np.abs(ld.invariant(A, W, B)).max() < 1e-12 and np.abs(A).max() > 0.1
    B_bad = B.copy()
    B_bad[:, 2] = B[:, 0] + B[:, 1]
    with pytest.raises(ValueError, match="B\\^\\+ B"):
        ld.zero_invariant_start(G, B_bad)
    with pytest.raises(ValueError, match="G must be"):
        ld.zero_invariant_start(G.T, B)
