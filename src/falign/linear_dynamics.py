"""The linear-network analysis of Lillicrap et al. (2016), Supplementary Notes 10-16 and
Supplementary Figures 10-13, as deterministic float64 dynamics.

Layout (the supplementary's): a linear network y = W h, h = A x, with A of shape (n_h, n_i),
W of shape (n_o, n_h), a fixed feedback matrix B of shape (n_h, n_o) that takes the place of
W^T, and a target map T of shape (n_o, n_i).  With white inputs (E[x x^T] = I) the expected
updates are deterministic: E = T - W A, A' = M E, W' = E A^T, where M = B for feedback
alignment (FA), W^T for backprop (BP) and W^+ for "pseudobackprop" (PBP, Note 13).

Every array may carry leading batch axes (independent repeats); the last two axes are the
matrix axes.  The flow is followed with a fixed-step classical Runge-Kutta scheme (RK4); the
discrete rule of Note 11 eqs. (6)-(7) is an explicit Euler step.  The error is the normalised
squared error NSE = ||T - W A||_F^2 / ||T||_F^2: the expected squared output error over white
inputs divided by the expected squared norm of the target (1 at W A = 0, 0 at a solution).
"""
from __future__ import annotations

import numpy as np

RULES = ("fa", "bp", "pbp")
LEARN = ("AW", "A", "W")
REGIMENS = ("once", "alternating", "synchronous")
RCOND = 1e-8          # relative singular-value cut-off of our pseudoinverses (see `pinv`)


# --------------------------------------------------------------------------- validation
def _as_f64(name: str, value) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim < 2:
        raise ValueError(f"{name} must be a matrix (at least 2 axes), got shape {arr.shape}: "
                         f"pass it as a 2-D array, e.g. np.atleast_2d({name})")
    return arr


def check_network(A, W, B, T) -> tuple[np.ndarray, ...]:
    """Validates the shapes of Note 11's linear network (A: n_h x n_i, W: n_o x n_h,
    B: n_h x n_o, T: n_o x n_i) and returns the four as float64 arrays."""
    A, W, B, T = (_as_f64(n, v) for n, v in zip("AWBT", (A, W, B, T)))
    n_h, n_i = A.shape[-2:]
    n_o = W.shape[-2]
    if W.shape[-1] != n_h:
        raise ValueError(f"W has {W.shape[-1]} columns but A has {n_h} rows (hidden units): "
                         f"W must be (n_o, n_h) = (n_o, {n_h})")
    if B.shape[-2:] != (n_h, n_o):
        raise ValueError(f"B has shape {B.shape[-2:]}, expected (n_h, n_o) = ({n_h}, {n_o}): "
                         "B replaces W^T, so transpose it if it was given as (n_o, n_h)")
    if T.shape[-2:] != (n_o, n_i):
        raise ValueError(f"T has shape {T.shape[-2:]}, expected (n_o, n_i) = ({n_o}, {n_i}): "
                         "the target maps the network's input to its output")
    return A, W, B, T


def _check_positive(name: str, value: float) -> float:
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value}: "
                         f"pass e.g. {name}=0.01")
    return value


def _check_steps(steps) -> int:
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    return int(steps)


def _check_choice(name: str, value: str, allowed) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}: use one of {', '.join(map(repr, allowed))}")
    return value


def _t(M: np.ndarray) -> np.ndarray:
    return np.swapaxes(M, -1, -2)


# ------------------------------------------------------------------------ basic quantities
def pinv(M, rcond: float = RCOND) -> np.ndarray:
    """Moore-Penrose pseudoinverse (Note 13's W^+), from the SVD with an explicit relative
    cut-off: singular values below rcond * (largest) count as zero.  numpy's default cut-off
    (about 1e-15 relative) turns round-off into huge entries once the matrix is nearly rank
    deficient, e.g. in Lemma 5's rank-one W."""
    M = np.asarray(M, dtype=np.float64)
    _check_positive("rcond", rcond)
    U, s, Vt = np.linalg.svd(M, full_matrices=False)
    keep = s > rcond * s.max(axis=-1, keepdims=True)
    inv = np.where(keep, 1.0 / np.where(keep, s, 1.0), 0.0)
    return _t(Vt) @ (inv[..., :, None] * _t(U))


def error_matrix(A, W, T) -> np.ndarray:
    """Lillicrap et al. 2016, Supp. Note 11: E = T - W A (the error is e = E x)."""
    return np.asarray(T, np.float64) - np.asarray(W, np.float64) @ np.asarray(A, np.float64)


def nse(A, W, T) -> np.ndarray:
    """Normalised squared error (Supp. Figs 11-13, our definition): ||T - W A||_F^2 / ||T||_F^2,
    i.e. E||e||^2 / E||y*||^2 for white inputs."""
    E = error_matrix(A, W, T)
    T = np.asarray(T, np.float64)
    return (E ** 2).sum(axis=(-2, -1)) / (T ** 2).sum(axis=(-2, -1))


def invariant(A, W, B) -> np.ndarray:
    """Lillicrap et al. 2016, Supp. Note 11, eq. (10): C = B W + W^T B^T - A A^T."""
    BW = B @ W
    return BW + _t(BW) - A @ _t(A)


def traces(A, W, B, T) -> tuple[np.ndarray, np.ndarray]:
    """Supp. Note 12, eqs. (25)-(28) and Supp. Figs 11-12: (tr(A^T B E), tr(B W))."""
    E = error_matrix(A, W, T)
    return (np.trace(_t(A) @ B @ E, axis1=-2, axis2=-1), np.trace(B @ W, axis1=-2, axis2=-1))


def hidden_signal(A, W, B, T, rule: str = "fa", rcond: float = RCOND) -> np.ndarray:
    """Supp. Notes 11 and 13: the expected hidden-layer update M E with M = B (FA, eq. 9),
    W^T (BP) or W^+ (pseudobackprop, delta_PBP = W^+ e)."""
    _check_choice("rule", rule, RULES)
    E = error_matrix(A, W, T)
    M = {"fa": lambda: B, "bp": lambda: _t(W), "pbp": lambda: pinv(W, rcond)}[rule]()
    return M @ E


def flow(A, W, B, T, *, learn: str = "AW", rule: str = "fa",
         rcond: float = RCOND) -> tuple[np.ndarray, np.ndarray]:
    """Supp. Note 11, eqs. (8)-(9): (dA/dt, dW/dt) = (M E, E A^T); a layer not in `learn` is
    frozen (zero rate), as in the decoupled dynamics of Note 12."""
    _check_choice("learn", learn, LEARN)
    dA = hidden_signal(A, W, B, T, rule, rcond) if "A" in learn else np.zeros_like(A)
    dW = error_matrix(A, W, T) @ _t(A) if "W" in learn else np.zeros_like(W)
    return dA, dW


def rk4_step(A, W, B, T, dt: float, *, learn: str = "AW", rule: str = "fa",
             rcond: float = RCOND) -> tuple[np.ndarray, np.ndarray]:
    """One classical Runge-Kutta step of size dt of the flow of Supp. Note 11, eqs. (8)-(9)."""
    dt = _check_positive("dt", dt)

    def f(a, w):
        return flow(a, w, B, T, learn=learn, rule=rule, rcond=rcond)
    k1 = f(A, W)
    k2 = f(A + 0.5 * dt * k1[0], W + 0.5 * dt * k1[1])
    k3 = f(A + 0.5 * dt * k2[0], W + 0.5 * dt * k2[1])
    k4 = f(A + dt * k3[0], W + dt * k3[1])
    return (A + dt / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0]),
            W + dt / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1]))


def euler_step(A, W, B, T, lr: float, *, learn: str = "AW", rule: str = "fa",
               rcond: float = RCOND) -> tuple[np.ndarray, np.ndarray]:
    """Supp. Note 11, eqs. (6)-(7): the batch rule A += lr M E, W += lr E A^T, both computed
    from the weights before the step (simultaneous, not sequential)."""
    lr = _check_positive("lr", lr)
    dA, dW = flow(A, W, B, T, learn=learn, rule=rule, rcond=rcond)
    return A + lr * dA, W + lr * dW


def euler_invariant_step(A, W, B, T, lr: float) -> np.ndarray:
    """Our consequence of Supp. Note 11, eqs. (6)-(7) and (10): one simultaneous FA Euler step
    changes C by exactly -lr^2 (B E)(B E)^T."""
    A, W, B, T = check_network(A, W, B, T)
    BE = B @ error_matrix(A, W, T)
    return -_check_positive("lr", lr) ** 2 * BE @ _t(BE)


# ------------------------------------------------------------------------ regimens, runs
def regimen_schedule(regimen: str, steps: int, phases: int = 8) -> list[str]:
    """Supp. Fig. 11's three regimens as the learning layer(s) of each step: 'once' (A for the
    first half, then W), 'alternating' (`phases` equal phases, A first) or 'synchronous'."""
    _check_choice("regimen", regimen, REGIMENS)
    steps = _check_steps(steps)
    if regimen == "synchronous":
        return ["AW"] * steps
    n = 2 if regimen == "once" else int(phases)
    if n < 2 or n > steps:
        raise ValueError(f"phases must be between 2 and steps={steps}, got {phases}")
    return ["A" if (k * n) // steps % 2 == 0 else "W" for k in range(steps)]


def integrate(A, W, B, T, *, dt: float, steps: int, regimen: str = "synchronous",
              phases: int = 8, rule: str = "fa", method: str = "rk4",
              rcond: float = RCOND) -> dict[str, np.ndarray]:
    """Follows Supp. Note 11's dynamics (eqs. 8-9 by RK4, or eqs. 6-7 by Euler) under one of
    Supp. Fig. 11's regimens and records, at every step: time, NSE, tr(A^T B E), tr(B W), the
    largest |C(t) - C(0)| and the learning layer(s); returns them with the final A and W."""
    A, W, B, T = check_network(A, W, B, T)
    dt = _check_positive("dt", dt)
    _check_choice("method", method, ("rk4", "euler"))
    schedule = regimen_schedule(regimen, steps, phases)
    step = rk4_step if method == "rk4" else euler_step
    C0 = invariant(A, W, B)
    rec = {k: [] for k in ("nse", "tr_ABE", "tr_BW", "c_drift")}

    def record(a, w):
        t1, t2 = traces(a, w, B, T)
        rec["nse"].append(nse(a, w, T))
        rec["tr_ABE"].append(t1)
        rec["tr_BW"].append(t2)
        rec["c_drift"].append(np.abs(invariant(a, w, B) - C0).max(axis=(-2, -1)))
    record(A, W)
    for learn in schedule:
        A, W = step(A, W, B, T, dt, learn=learn, rule=rule, rcond=rcond)
        record(A, W)
    out = {k: np.stack(v, axis=-1) for k, v in rec.items()}
    out.update(t=dt * np.arange(steps + 1), learn=np.array(schedule), A=A, W=W)
    return out


def random_problem(n_i: int, n_h: int, n_o: int, *, repeats: int = 1, seed: int = 0,
                   init: float = 0.1, init_dist: str = "normal") -> tuple[np.ndarray, ...]:
    """Our reading of the draws of Supp. Figs 11-13 (the text says 'random weights and a random
    target'): T and B with i.i.d. N(0, 1/fan-in) entries (T: 1/n_i, B: 1/n_o), and A, W with
    entries N(0, init^2/fan-in) ('normal') or U[-init, init] ('uniform', Fig. 13's omega).
    Returns (A, W, B, T) with a leading axis of `repeats`; the same seed gives the same draws."""
    for name, v in (("n_i", n_i), ("n_h", n_h), ("n_o", n_o), ("repeats", repeats)):
        if int(v) != v or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if init < 0:
        raise ValueError(f"init must be >= 0, got {init}: it is a scale (0 starts at A = W = 0)")
    _check_choice("init_dist", init_dist, ("normal", "uniform"))
    rng = np.random.default_rng(seed)
    T = rng.standard_normal((repeats, n_o, n_i)) / np.sqrt(n_i)
    B = rng.standard_normal((repeats, n_h, n_o)) / np.sqrt(n_o)
    if init_dist == "normal":
        A = init * rng.standard_normal((repeats, n_h, n_i)) / np.sqrt(n_i)
        W = init * rng.standard_normal((repeats, n_o, n_h)) / np.sqrt(n_h)
    else:
        A = rng.uniform(-init, init, (repeats, n_h, n_i))
        W = rng.uniform(-init, init, (repeats, n_o, n_h))
    return A, W, B, T


def angle(X, Y) -> np.ndarray:
    """Angle in degrees between two matrices flattened to vectors (Supp. Note 12, footnote 1)."""
    X, Y = np.asarray(X, np.float64), np.asarray(Y, np.float64)
    num = (X * Y).sum(axis=(-2, -1))
    den = np.sqrt((X ** 2).sum(axis=(-2, -1)) * (Y ** 2).sum(axis=(-2, -1)))
    return np.degrees(np.arccos(np.clip(num / den, -1.0, 1.0)))


def hidden_update_angles(A, W, B, T, rcond: float = RCOND) -> tuple[np.ndarray, np.ndarray]:
    """Supp. Fig. 13b-c and Note 13: angle(B E, W^T E) and angle(B E, W^+ E) in degrees, the
    expected hidden updates of FA against backprop and against pseudobackprop."""
    fa = hidden_signal(A, W, B, T, "fa")
    return (angle(fa, hidden_signal(A, W, B, T, "bp")),
            angle(fa, hidden_signal(A, W, B, T, "pbp", rcond)))


def angle_run(A, W, B, T, *, dt: float, steps: int, record_every: int = 1,
              rcond: float = RCOND) -> dict[str, np.ndarray]:
    """Supp. Fig. 13: synchronous FA flow (RK4) recording NSE and the two angles of
    `hidden_update_angles` every `record_every` steps."""
    A, W, B, T = check_network(A, W, B, T)
    dt = _check_positive("dt", dt)
    steps = _check_steps(steps)
    rec = {"t": [], "nse": [], "angle_bp": [], "angle_pbp": []}
    for k in range(steps + 1):
        if k % record_every == 0 or k == steps:
            a_bp, a_pbp = hidden_update_angles(A, W, B, T, rcond)
            rec["t"].append(k * dt)
            rec["nse"].append(nse(A, W, T))
            rec["angle_bp"].append(a_bp)
            rec["angle_pbp"].append(a_pbp)
        if k < steps:
            A, W = rk4_step(A, W, B, T, dt)
    return {k: np.stack(v, axis=-1) for k, v in rec.items()}


# ---------------------------------------------------------------- Lemma 3 (Note 11)
def lemma3_printed_bound(B, T) -> np.ndarray:
    """Supp. Note 11, Lemma 3, eq. (21) as printed: s = tr(A A^T) <= ||B T||^2 + 2 n_h."""
    return (np.asarray(B @ T) ** 2).sum(axis=(-2, -1)) + 2 * np.shape(B)[-2]


def lemma3_proof_bound(B, T) -> np.ndarray:
    """Supp. Note 11, Lemma 3, what the proof's inequality s' <= 2s - s^2/n_h^2 (for
    s > ||BT||^2) actually gives: s <= max(||B T||^2, 2 n_h^2) (when s(0) is below it)."""
    return np.maximum((np.asarray(B @ T) ** 2).sum(axis=(-2, -1)), 2.0 * np.shape(B)[-2] ** 2)


def lemma3_sharp_bound(B, T) -> np.ndarray:
    """Our sharper form of Supp. Note 11, Lemma 3: with ||A A^T||^2 >= s^2/n_h and
    tr(B T A^T) <= sqrt(s) ||B T||, s' <= 0 once s >= (2 n_h ||B T||)^(2/3)."""
    n_h = np.shape(B)[-2]
    return (2.0 * n_h * np.sqrt((np.asarray(B @ T) ** 2).sum(axis=(-2, -1)))) ** (2.0 / 3.0)


def lemma3_rate_bound(s, n_h: int, bt_norm_sq: float) -> np.ndarray:
    """Supp. Note 11, Lemma 3: the proof's upper bound on s' for s > ||BT||^2,
    2 s - s^2 / n_h^2 (its sign decides where s can no longer grow)."""
    s = np.asarray(s, np.float64)
    return np.where(s > bt_norm_sq, 2 * s - s ** 2 / n_h ** 2, np.nan)


# ---------------------------------------------------------------- the scalar case (Fig. 10)
def scalar_field(A, W, b: float = 1.0, t: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Supp. Fig. 10 (Note 11 with one unit per layer): dA/dt = b (t - W A),
    dW/dt = (t - W A) A."""
    A, W = np.asarray(A, np.float64), np.asarray(W, np.float64)
    e = t - W * A
    return b * e, e * A


def scalar_invariant(A, W, b: float = 1.0) -> np.ndarray:
    """Supp. Note 11, eq. (10) for scalars: C = 2 b W - A^2 (trajectories are parabolas)."""
    return 2 * b * np.asarray(W, np.float64) - np.asarray(A, np.float64) ** 2


def _check_scalar_problem(b: float, t: float) -> None:
    if not (np.isfinite(b) and np.isfinite(t)) or b <= 0 or t <= 0:
        raise ValueError(f"the scalar analysis takes b > 0 and t > 0 (Fig. 10 has b = t = 1), "
                         f"got b={b}, t={t}: flip the signs of A or W to reach that case")


def scalar_equilibria(C: float, b: float = 1.0, t: float = 1.0) -> np.ndarray:
    """Supp. Fig. 10 (our derivation): the solutions A W = t on the parabola 2 b W - A^2 = C are
    the real roots of A^3 + C A - 2 b t = 0, in increasing order."""
    _check_scalar_problem(b, t)
    roots = np.roots([1.0, 0.0, float(C), -2.0 * b * t])
    real = np.sort(roots[np.abs(roots.imag) < 1e-9 * max(1.0, abs(C))].real)
    return real


def scalar_limit(A0: float, W0: float, b: float = 1.0, t: float = 1.0) -> tuple[float, float]:
    """Supp. Fig. 10 (our derivation): the point the flow reaches from (A0, W0).  On the
    parabola, dA/dt = -(A^3 + C A - 2bt)/2, so A moves monotonically to the nearest root of
    the cubic in the direction of its sign."""
    _check_scalar_problem(b, t)
    C = float(scalar_invariant(A0, W0, b))
    roots = scalar_equilibria(C, b, t)
    g = A0 ** 3 + C * A0 - 2 * b * t
    if abs(g) < 1e-14:
        A = A0
    elif g < 0:
        A = roots[roots > A0].min()
    else:
        A = roots[roots < A0].max()
    return float(A), float(t / A)


def scalar_transverse_rate(A, b: float = 1.0, t: float = 1.0) -> np.ndarray:
    """Supp. Fig. 10 (our derivation): at an equilibrium (A, t/A) the field's Jacobian has the
    eigenvalue 0 along the hyperbola and -(b t / A + A^2) across it: stable iff it is < 0."""
    _check_scalar_problem(b, t)
    A = np.asarray(A, np.float64)
    return -(b * t / A + A ** 2)


def scalar_bad_basin(A, W, b: float = 1.0, t: float = 1.0) -> np.ndarray:
    """Supp. Fig. 10's shaded region (our derivation): the starts that end on the bad branch
    (W < 0): C = 2bW - A^2 < -3 (b t)^(2/3) (three equilibria on the parabola) and A below the
    middle root of A^3 + C A - 2 b t."""
    _check_scalar_problem(b, t)
    A, W = np.broadcast_arrays(np.asarray(A, np.float64), np.asarray(W, np.float64))
    shape = A.shape
    A, W = A.reshape(-1), W.reshape(-1)
    C = scalar_invariant(A, W, b)
    out = np.zeros(A.shape, dtype=bool)
    for i in np.flatnonzero(C < -3 * (b * t) ** (2 / 3)):
        out[i] = A[i] < scalar_equilibria(C[i], b, t)[1]
    return out.reshape(shape)


def scalar_trajectory(A0: float, W0: float, *, dt: float, steps: int, b: float = 1.0,
                      t: float = 1.0) -> np.ndarray:
    """Supp. Fig. 10's trajectories: RK4 on `scalar_field`; returns (steps + 1, 2) of (A, W)."""
    dt = _check_positive("dt", dt)
    steps = _check_steps(steps)
    z = np.empty((steps + 1, 2))
    z[0] = A0, W0

    def f(v):
        return np.array(scalar_field(v[0], v[1], b, t))
    for k in range(steps):
        v = z[k]
        k1 = f(v)
        k2 = f(v + 0.5 * dt * k1)
        k3 = f(v + 0.5 * dt * k2)
        k4 = f(v + dt * k3)
        z[k + 1] = v + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return z


# ---------------------------------------------------------- Lemma 5 / Theorem 2 (Note 14)
def single_pair_run(B, x, y_star, *, lr: float, steps: int, A0=None, W0=None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Supp. Note 14, eqs. (30)-(33): FA on one pair (x, y*), W += lr e h^T and
    A += lr_A B e x^T with lr_A = lr / x^T x (so that h moves by lr B e, eq. 34), both from
    the weights before the step.  Returns the stacks of A and W, steps + 1 each."""
    x = np.asarray(x, np.float64).reshape(-1)
    y_star = np.asarray(y_star, np.float64).reshape(-1)
    B = _as_f64("B", B)
    if B.shape != (B.shape[0], y_star.size):
        raise ValueError(f"B has shape {B.shape} but y* has {y_star.size} entries: B must be "
                         f"(n_h, n_o) = (n_h, {y_star.size})")
    lr = _check_positive("lr", lr)
    steps = _check_steps(steps)
    n_h = B.shape[0]
    A = np.zeros((n_h, x.size)) if A0 is None else np.array(A0, np.float64)
    W = np.zeros((y_star.size, n_h)) if W0 is None else np.array(W0, np.float64)
    lr_A = lr / float(x @ x)
    As, Ws = [A], [W]
    for _ in range(steps):
        h = A @ x
        e = y_star - W @ h
        A, W = A + lr_A * np.outer(B @ e, x), W + lr * np.outer(e, h)
        As.append(A)
        Ws.append(W)
    return np.stack(As), np.stack(Ws)


def lemma5_scalars(B, y_star, *, lr: float, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Supp. Note 14, eqs. (45)-(46): the recursions s_h += lr (1 - s_y),
    s_w += lr (1 - s_y) s_h with s_y = s_w s_h ||B y*||^2, from s_h = s_w = 0."""
    u2 = float(np.sum((np.asarray(B, np.float64) @ np.asarray(y_star, np.float64)) ** 2))
    sh, sw = [0.0], [0.0]
    for _ in range(_check_steps(steps)):
        sy = sw[-1] * sh[-1] * u2
        sh.append(sh[-1] + lr * (1 - sy))
        sw.append(sw[-1] + lr * (1 - sy) * sh[-2])
    return np.array(sh), np.array(sw)


def sine_to(v, u) -> float:
    """|sin| of the angle between vectors (or matrices, flattened) v and u: 0 when parallel;
    0 also for v = 0 (a zero vector is a zero multiple)."""
    v, u = np.ravel(v).astype(np.float64), np.ravel(u).astype(np.float64)
    nv = np.linalg.norm(v)
    if nv == 0:
        return 0.0
    residual = v - (v @ u) / (u @ u) * u
    return float(np.linalg.norm(residual) / nv)


def theorem2_ratio(W, B, e, rcond: float = RCOND) -> tuple[float, float]:
    """Supp. Note 14, Theorem 2, eq. (47): s B e = W^+ e.  Returns the cosine between B e and
    W^+ e and the least-squares s = <W^+ e, B e> / ||B e||^2."""
    Be = np.asarray(B, np.float64) @ e
    pe = pinv(W, rcond) @ e
    cos = float(Be @ pe / (np.linalg.norm(Be) * np.linalg.norm(pe)))
    return cos, float(Be @ pe / (Be @ Be))


# --------------------------------------------------------- Note 15: Gauss-Newton ratio
def pseudobackprop_ratio(A, W, x, y_star, *, lr: float, rcond: float = RCOND) -> np.ndarray:
    """Supp. Note 15, eqs. (57)-(59): after one pseudobackprop step on a tanh hidden layer
    (A += lr ((W^+ e) * D) x^T), the ratio of each hidden unit's actual change to the
    predicted lr D_j^2 x^T x (W^+ e)_j; it tends to 1 as lr -> 0."""
    A, W = _as_f64("A", A), _as_f64("W", W)
    x = np.asarray(x, np.float64).reshape(-1)
    lr = _check_positive("lr", lr)
    a = A @ x
    h = np.tanh(a)
    D = 1 - h ** 2                               # tanh' at the pre-activation
    delta = pinv(W, rcond) @ (np.asarray(y_star, np.float64) - W @ h)
    A_new = A + lr * np.outer(delta * D, x)
    return (np.tanh(A_new @ x) - h) / (lr * D ** 2 * (x @ x) * delta)


# --------------------------------------------------- Note 16: the non-conservative field
def scalar_param_field(theta, x: float, y_star: float, feedback=None):
    """Supp. Note 16, eqs. (75)-(78), scalar network y = W h + b, h = A x + c: the updates
    (dW, db, dA, dc) = (e h, e, F e x, F e) with F = B (FA, a number) or F = W (BP,
    feedback=None).  Works on numpy arrays and torch tensors."""
    W, b, A, c = theta[0], theta[1], theta[2], theta[3]
    h = A * x + c
    e = y_star - (W * h + b)
    F = W if feedback is None else feedback
    return [e * h, e, F * e * x, F * e]


def printed_jacobian(theta, x: float, y_star: float, B: float) -> np.ndarray:
    """Supp. Note 16, eq. (79) as printed (rows dW, db, dA, dc; columns W, b, A, c)."""
    W, b, A, c = (float(v) for v in theta)
    h = A * x + c
    e = y_star - (W * h + b)
    return np.array([[h ** 2, -h, -W * x * h + e * x, -W + e],
                     [-h, -1, -W * x, -W],
                     [-B * h * x, -B * x, -B * W * x ** 2, -B * W * x],
                     [-B * h, -B, -B * W * x, -B * W]])


def field_jacobian(theta, x: float, y_star: float, feedback=None) -> np.ndarray:
    """Supp. Note 16, eq. (79) by automatic differentiation (torch, float64): the Jacobian of
    `scalar_param_field` with respect to (W, b, A, c)."""
    import torch

    def f(th):
        return torch.stack(scalar_param_field(th, x, y_star, feedback))
    th = torch.tensor(np.asarray(theta, np.float64).reshape(4), dtype=torch.float64)
    return torch.autograd.functional.jacobian(f, th).numpy()


# ------------------------------------------------------ Theorem 1 along a run (Note 11)
def theorem1_run(A, W, B, T, *, dt: float, steps: int, record_every: int = 1
                 ) -> dict[str, np.ndarray]:
    """Supp. Note 11, Theorem 1 and Lemmas 2-3: synchronous FA flow (RK4) recording, every
    `record_every` steps, the NSE, V = ||B E||^2 (eq. 15), s = tr(A A^T) (Lemma 3),
    ds/dt = 2 tr(B E A^T) (eq. 19), tr(B W) and the largest |C(t) - C(0)| (eq. 10)."""
    A, W, B, T = check_network(A, W, B, T)
    dt = _check_positive("dt", dt)
    steps = _check_steps(steps)
    if int(record_every) != record_every or record_every < 1:
        raise ValueError(f"record_every must be a positive integer, got {record_every!r}")
    C0 = invariant(A, W, B)
    keys = ("t", "nse", "V", "s", "s_dot", "tr_BW", "c_drift")
    rec = {k: [] for k in keys}
    for k in range(steps + 1):
        if k % record_every == 0 or k == steps:
            BE = B @ error_matrix(A, W, T)
            rec["t"].append(np.full(A.shape[:-2], k * dt))
            rec["nse"].append(nse(A, W, T))
            rec["V"].append((BE ** 2).sum(axis=(-2, -1)))
            rec["s"].append((A ** 2).sum(axis=(-2, -1)))
            rec["s_dot"].append(2 * (BE * A).sum(axis=(-2, -1)))      # 2 tr(B E A^T)
            rec["tr_BW"].append(np.trace(B @ W, axis1=-2, axis2=-1))
            rec["c_drift"].append(np.abs(invariant(A, W, B) - C0).max(axis=(-2, -1)))
        if k < steps:
            A, W = rk4_step(A, W, B, T, dt)
    out = {k: np.stack(v, axis=-1) for k, v in rec.items()}
    out.update(A=A, W=W)
    return out


def zero_invariant_start(G, B) -> tuple[np.ndarray, np.ndarray]:
    """A start with C = 0 of Supp. Note 11, eq. (10) other than A = W = 0 (our construction):
    A = B G, W = G G^T B^T / 2 give B W = A A^T / 2 when B^+ B = I; needs n_o <= n_h."""
    B = _as_f64("B", B)
    G = _as_f64("G", G)
    if G.shape[-2] != B.shape[-1]:
        raise ValueError(f"G has {G.shape[-2]} rows but B has {B.shape[-1]} columns: G must be "
                         f"(n_o, n_i) = ({B.shape[-1]}, n_i)")
    if np.abs(pinv(B) @ B - np.eye(B.shape[-1])).max() > 1e-8:
        raise ValueError("B^+ B is not the identity (B has dependent columns or n_h < n_o): "
                         "draw B with n_h >= n_o and full column rank")
    return B @ G, 0.5 * G @ _t(G) @ _t(B)


def lemma3_sharp_rate_bound(s, n_h: int, bt_norm: float) -> np.ndarray:
    """Our sharper form of Supp. Note 11, eq. (19)'s bound: ds/dt <= 2 sqrt(s) ||B T|| - s^2/n_h
    (Cauchy-Schwarz, eq. 20, and ||A A^T||^2 >= s^2 / n_h), zero at s = (2 n_h ||BT||)^(2/3)."""
    s = np.asarray(s, np.float64)
    return 2 * np.sqrt(s) * bt_norm - s ** 2 / n_h
