"""Section 5 of Robertson & Koyejo (2024), and the minimum-norm result of its first arXiv version,
as closed forms and small float64 flows: what the book's Theory chapters compute and
tests/test_theory_results.py checks.

Two layouts, as in the rest of the library:

* the explicit two-layer helpers use the paper's layout: inputs X (n, d), first layer W1 (d, m)
  whose column j holds the incoming weights of hidden unit j, output weights w2 and feedback b2
  of shape (m,) (scalar output), network f(x) = phi(x W1) w2;
* the helpers that act on networks built by falign.models and converted by falign.convert use
  PyTorch's (out, in) layout, like falign.measurements.

Flows are followed by explicit Euler steps; the time after k steps of size lr is t = k * lr.
Everything is float64.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .layers import after_optimizer_step, convert
from .measurements import feedback_of, neuron_potential_from, weight_layers

DTYPE = torch.float64


def _f64(x) -> torch.Tensor:
    return torch.as_tensor(x, dtype=DTYPE)


# ------------------------------------------------------------------------ Theorem 5.1
def loss_bound(t, loss0: float, alpha: float, beta: float) -> torch.Tensor:
    """Theorem 5.1, as the proof's integral gives it: L0 e^{-alpha t} (beta = 1), else
    (L0^{1-beta} + (beta - 1) alpha t)^{-1/(beta - 1)} (beta > 1)."""
    t = _f64(t)
    if beta == 1:
        return loss0 * torch.exp(-alpha * t)
    if beta < 1:
        raise ValueError("Theorem 5.1 covers beta >= 1 (for beta < 1 the loss reaches 0 in "
                         "finite time: see the chapter's exercise)")
    return (loss0 ** (1 - beta) + (beta - 1) * alpha * t) ** (-1 / (beta - 1))


def printed_loss_bound(t, loss0: float, alpha: float, beta: float) -> torch.Tensor:
    """Theorem 5.1 as printed: L0 e^{-alpha t} (beta = 1), else
    ((beta - 1) / (alpha t + (beta - 1) / L0))^{1/(beta - 1)} (beta > 1)."""
    t = _f64(t)
    if beta == 1:
        return loss0 * torch.exp(-alpha * t)
    return ((beta - 1) / (alpha * t + (beta - 1) / loss0)) ** (1 / (beta - 1))


def printed_bound_fails_until(loss0: float, alpha: float, beta: float) -> float:
    """Theorem 5.1 (printed, beta > 2): the time up to which the printed bound lies below the
    slowest allowed loss, (beta-1)(1/L0 - L0^{1-beta}) / (((beta-1)^2 - 1) alpha); 0 if never."""
    if beta <= 2:
        raise ValueError("for 1 < beta < 2 the printed bound fails at late times instead, and "
                         "at beta = 2 it is exact")
    return max(0.0, (beta - 1) * (1 / loss0 - loss0 ** (1 - beta))
               / (((beta - 1) ** 2 - 1) * alpha))


def slowest_loss(loss0: float, alpha: float, beta: float, t_end: float,
                 steps: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
    """Theorem 5.1's extremal case dL/dt = -alpha L^beta, integrated by classical fourth-order
    Runge-Kutta (no closed form used).  Returns (t, L), steps + 1 points."""
    h = t_end / steps
    rate = lambda v: -alpha * v ** beta                       # noqa: E731
    values = [float(loss0)]
    v = float(loss0)
    for _ in range(steps):
        k1 = rate(v)
        k2 = rate(v + 0.5 * h * k1)
        k3 = rate(v + 0.5 * h * k2)
        k4 = rate(v + h * k3)
        v = v + h * (k1 + 2 * k2 + 2 * k3 + k4) / 6
        values.append(v)
    return torch.linspace(0, t_end, steps + 1, dtype=DTYPE), _f64(values)


def one_weight_loss(theta: torch.Tensor, beta: float) -> torch.Tensor:
    """A one-weight model whose gradient flow meets Theorem 5.1's bound with equality:
    L = theta^p with p = 2/(2 - beta) (beta != 2), L = exp(-theta) (beta = 2), theta > 0."""
    if beta == 2:
        return torch.exp(-theta)
    return theta ** (2 / (2 - beta))


def one_weight_alpha(beta: float) -> float:
    """Definition 4.2 for one_weight_loss: dL/dt = -|L'(theta)|^2 = -alpha L^beta exactly,
    with alpha = p^2 (p = 2/(2 - beta)), and alpha = 1 at beta = 2."""
    return 1.0 if beta == 2 else (2 / (2 - beta)) ** 2


def one_weight_start(loss0: float, beta: float) -> float:
    """The weight theta(0) > 0 at which one_weight_loss equals loss0."""
    return -math.log(loss0) if beta == 2 else loss0 ** ((2 - beta) / 2)


def train_one_weight(beta: float, loss0: float, lr: float, steps: int
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain gradient descent (torch.optim.SGD, autograd) on one_weight_loss from L(0) = loss0.
    Returns (t, L) at every step, t = k * lr."""
    theta = torch.tensor(one_weight_start(loss0, beta), dtype=DTYPE, requires_grad=True)
    opt = torch.optim.SGD([theta], lr=lr)
    losses = []
    for _ in range(steps + 1):
        opt.zero_grad()
        loss = one_weight_loss(theta, beta)
        losses.append(float(loss.detach()))
        loss.backward()
        opt.step()
    return torch.arange(steps + 1, dtype=DTYPE) * lr, _f64(losses)


def dominance_constant(inner: torch.Tensor, loss: torch.Tensor, beta: float) -> float:
    """Definition 4.2 along a recorded trajectory: the largest alpha with
    <grad L, update> >= alpha L^beta at every recorded point, min_t inner / L^beta."""
    return float((inner / loss ** beta).min())


# -------------------------------------------------------------- explicit two-layer networks
def leaky_relu(z: torch.Tensor, slope: float) -> torch.Tensor:
    """phi(z) = max(c' z, z) for 0 < c' <= 1 (Proposition 5.7; c' = 1 is the identity)."""
    return torch.where(z > 0, z, slope * z)


def leaky_relu_derivative(z: torch.Tensor, slope: float) -> torch.Tensor:
    """phi'(z): 1 for z > 0, c' otherwise (so phi(z) = phi'(z) z, the homogeneity Theorem 5.2 uses)."""
    return torch.where(z > 0, torch.ones_like(z), torch.full_like(z, slope))


LOSSES = ("square", "exp", "logistic")


def _loss_and_error(f: torch.Tensor, y: torch.Tensor, loss: str):
    n = f.shape[0]
    if loss == "square":                       # (1/2n) sum (f - y)^2
        return 0.5 * (f - y).pow(2).mean(), (f - y) / n
    if loss == "exp":                          # (1/n) sum exp(-y f)
        ell = torch.exp(-y * f)
        return ell.mean(), -y * ell / n
    if loss == "logistic":                     # (1/n) sum log(1 + exp(-y f))
        return F.softplus(-y * f).mean(), -y * torch.sigmoid(-y * f) / n
    raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")


def two_layer_gradients(X, y, W1, w2, b2, *, slope: float = 1.0, loss: str = "square"
                        ) -> dict[str, torch.Tensor]:
    """Section 3 / App. C.3 for f(x) = phi(x W1) w2: the loss, the true gradients of W1 and w2,
    and the FA update of W1 (b2 in place of w2 in the backward pass; w2's update is exact)."""
    H = X @ W1
    f = leaky_relu(H, slope) @ w2
    value, e = _loss_and_error(f, y, loss)
    D = leaky_relu_derivative(H, slope)
    return {"loss": value,
            "grad_W1": X.T @ (e[:, None] * D * w2[None, :]),
            "update_W1": X.T @ (e[:, None] * D * b2[None, :]),
            "grad_w2": leaky_relu(H, slope).T @ e}


def two_layer_potentials(W1, w2, b2) -> torch.Tensor:
    """Theorem 5.2 for the two-layer net, per hidden unit j: w2[j] b2[j] - ||W1[:, j]||^2 / 2."""
    return w2 * b2 - 0.5 * W1.pow(2).sum(0)


def sign_feedback_of(w2: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """sign-FA's feedback s sign(w2) with the paper's sign(0) = -1 (Section 3; s = 1 there)."""
    return torch.where(w2 > 0, torch.full_like(w2, scale), torch.full_like(w2, -scale))


@dataclass
class Trajectory:
    """A recorded two-layer run: rows are the recorded steps (the first is the start)."""
    t: torch.Tensor             # (T,) time k * lr
    loss: torch.Tensor          # (T,)
    inner: torch.Tensor         # (T,) <grad L, update>, both layers (Eq. 1's -dL/dt)
    inner_w1: torch.Tensor      # (T,) <grad_W1 L, update_W1>, the first layer only
    w2: torch.Tensor            # (T, m) output weights
    b2: torch.Tensor            # (T, m) feedback in use (changes under sign-FA and BP)
    half_sq_in: torch.Tensor    # (T, m) ||W1[:, j]||^2 / 2
    W1: torch.Tensor            # (d, m) final first layer
    w2_final: torch.Tensor      # (m,) final output weights

    @property
    def potentials(self) -> torch.Tensor:
        """(T, m): Theorem 5.2's w2[j] b2[j] - ||W1[:, j]||^2 / 2 along the run."""
        return self.w2 * self.b2 - self.half_sq_in


def train_two_layer(X, y, W1, w2, b2=None, *, rule: str = "fa", slope: float = 1.0,
                    loss: str = "square", lr: float, steps: int, every: int = 1,
                    sign_scale: float = 1.0) -> Trajectory:
    """Euler steps of the feedback-alignment flow theta' = -update (Section 3) for the two-layer
    net, from (W1, w2).  rule: "fa" (fixed b2), "signfa" (b2 = s sign(w2) at every step) or
    "bp" (b2 = w2).  Records every `every` steps, and the last one."""
    if rule not in ("fa", "signfa", "bp"):
        raise ValueError(f"rule must be 'fa', 'signfa' or 'bp', not {rule!r}")
    if rule == "fa" and b2 is None:
        raise ValueError("FA needs its fixed feedback b2")
    W1, w2 = _f64(W1).clone(), _f64(w2).clone()
    X, y = _f64(X), _f64(y)
    rows: dict[str, list] = {k: [] for k in ("t", "loss", "inner", "inner_w1", "w2", "b2", "h")}
    for k in range(steps + 1):
        fb = (_f64(b2) if rule == "fa" else w2 if rule == "bp"
              else sign_feedback_of(w2, sign_scale))
        g = two_layer_gradients(X, y, W1, w2, fb, slope=slope, loss=loss)
        if k % every == 0 or k == steps:
            inner_w1 = (g["grad_W1"] * g["update_W1"]).sum()
            rows["t"].append(k * lr)
            rows["loss"].append(float(g["loss"]))
            rows["inner_w1"].append(float(inner_w1))
            rows["inner"].append(float(inner_w1 + g["grad_w2"].pow(2).sum()))
            rows["w2"].append(w2.clone())
            rows["b2"].append(fb.clone())
            rows["h"].append(0.5 * W1.pow(2).sum(0))
        if k < steps:
            W1 = W1 - lr * g["update_W1"]
            w2 = w2 - lr * g["grad_w2"]
    return Trajectory(_f64(rows["t"]), _f64(rows["loss"]), _f64(rows["inner"]),
                      _f64(rows["inner_w1"]), torch.stack(rows["w2"]), torch.stack(rows["b2"]),
                      torch.stack(rows["h"]), W1, w2)


def two_layer_init(d: int, m: int, *, scale: float, seed: int
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """W1 (d, m) and w2 (m,) drawn N(0, scale^2 / d) and N(0, scale^2 / m) from one seeded
    generator (scale 0: both zero)."""
    gen = torch.Generator().manual_seed(seed)
    W1 = torch.randn(d, m, generator=gen, dtype=DTYPE) * scale / math.sqrt(d)
    w2 = torch.randn(m, generator=gen, dtype=DTYPE) * scale / math.sqrt(m)
    return W1, w2


def regression_data(n: int, d: int, *, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """An under-determined regression problem (n < d): X ~ N(0, 1/d) entries, y ~ N(0, 1),
    the setting of Theorem 5.1's linear FA run and of the minimum-norm result."""
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=gen, dtype=DTYPE) / d ** 0.5
    y = torch.randn(n, generator=gen, dtype=DTYPE)
    return X, y


def random_feedback(m: int, *, seed: int) -> torch.Tensor:
    """FA's fixed feedback b2 (m,), drawn N(0, 1/m) from a seeded generator."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(m, generator=gen, dtype=DTYPE) / math.sqrt(m)


def columns_of_norm(d: int, m: int, norm, *, seed: int) -> torch.Tensor:
    """W1 (d, m) with random directions and ||W1[:, j]|| = norm (a number or one per unit):
    the initial condition of Lemma 5.4 and Proposition 5.7."""
    gen = torch.Generator().manual_seed(seed)
    W = torch.randn(d, m, generator=gen, dtype=DTYPE)
    return W / W.norm(dim=0) * _f64(norm)


# ------------------------------------------------------ Theorem 5.1 on a linear FA network
def linear_dominance_alpha(X, W1_0, w2_0, b2) -> float:
    """Theorem 5.1 + Theorem 5.2 for f = x W1 w2, square loss (1/2n)||r||^2 and FA: beta = 1 with
    alpha = (2/n) lambda_min(X X^T) (w2(0).b2 - ||W1(0)||_F^2 / 2) (our derivation)."""
    X = _f64(X)
    lam = float(torch.linalg.eigvalsh(X @ X.T)[0])
    conserved = float(_f64(w2_0) @ _f64(b2) - 0.5 * _f64(W1_0).pow(2).sum())
    return 2.0 / X.shape[0] * lam * conserved


# -------------------------------------------------------------------- Proposition 5.7
def orthogonal_separability(X, y) -> float:
    """Definition 5.5: gamma = min over all pairs (k, l), k = l included, of <y_k x_k, y_l x_l>;
    the data are gamma-orthogonally separable when it is > 0."""
    Z = _f64(y)[:, None] * _f64(X)
    return float((Z @ Z.T).min())


def near_orthogonality(X) -> tuple[float, float]:
    """Definition 5.6: (gamma, eps) with gamma = max_{k != l} |<x_k, x_l>| and
    eps = min_k ||x_k||^2 / n - gamma; the data are nearly orthogonal when eps > 0."""
    X = _f64(X)
    G = X @ X.T
    n = G.shape[0]
    gamma = float((G - torch.diag(torch.diag(G))).abs().max())
    return gamma, float(torch.diag(G).min()) / n - gamma


def orthogonally_separable_data(n: int, d: int, *, seed: int, margin: float = 1.0,
                                noise: float = 0.6) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels +-1 at random and y_k x_k = mu + noise g_k / sqrt(d), ||mu|| = margin, g_k standard
    normal: pairwise <y_k x_k, y_l x_l> > 0 when noise is small next to margin (Definition 5.5)."""
    gen = torch.Generator().manual_seed(seed)
    mu = torch.randn(d, generator=gen, dtype=DTYPE)
    mu = mu / mu.norm() * margin
    z = mu + noise * torch.randn(n, d, generator=gen, dtype=DTYPE) / math.sqrt(d)
    y = torch.where(torch.rand(n, generator=gen, dtype=DTYPE) > 0.5, 1.0, -1.0).to(DTYPE)
    return y[:, None] * z, y


def nearly_orthogonal_data(n: int, d: int, *, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random labels +-1 and standard normal inputs in d >> n^2 dimensions, scaled by 1/sqrt(d):
    nearly orthogonal in Definition 5.6's sense once d is large enough (check with
    near_orthogonality)."""
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=gen, dtype=DTYPE) / math.sqrt(d)
    y = torch.where(torch.rand(n, generator=gen, dtype=DTYPE) > 0.5, 1.0, -1.0).to(DTYPE)
    return X, y


def prop_5_7_alpha(W1_0, w2_0, b2, gamma: float, slope: float, power: int = 2) -> float:
    """Proposition 5.7's constant: alpha = c'^power gamma sum_j (w2[j](0) b2[j] -
    ||W1[:, j](0)||^2 / 2); power = 2 is what the proof's argument gives, power = 1 what it writes."""
    return slope ** power * gamma * float(two_layer_potentials(_f64(W1_0), _f64(w2_0),
                                                               _f64(b2)).sum())


def first_layer_ratio(traj: Trajectory, gamma: float) -> torch.Tensor:
    """App. C.3's key step along a run: <grad_W1 L, update_W1> / (gamma <w2, b2> L^2), which the
    proof bounds below by c' and which is bounded below by c'^2."""
    return traj.inner_w1 / (gamma * (traj.w2 * traj.b2).sum(1) * traj.loss ** 2)


def leaky_side_data(n: int, d: int, m: int, *, slope_scale: float = 0.3, bump: float = 0.3,
                    seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Proposition 5.7's worst case: two classes with y_k x_k = e_0 + bump e_{k+1} (pairwise inner
    products 1, so gamma = 1) and a first layer W1 (d, m) that puts every hidden unit on the leaky
    side of every example (columns of norm < sqrt(2)).  Needs d > n + 1.  Returns X, y, W1."""
    if d <= n + 1:
        raise ValueError("leaky_side_data needs d > n + 1")
    gen = torch.Generator().manual_seed(seed)
    y = torch.tensor([1.0, -1.0] * (n // 2) + [1.0] * (n % 2), dtype=DTYPE)
    Z = torch.zeros(n, d, dtype=DTYPE)
    Z[:, 0] = 1.0
    Z[torch.arange(n), torch.arange(n) + 1] = bump
    X = y[:, None] * Z
    rho = slope_scale * (0.6 + 0.4 * torch.rand(m, generator=gen, dtype=DTYPE))
    W1 = torch.zeros(d, m, dtype=DTYPE)
    W1[1:n + 1, :] = -y[:, None] * rho[None, :]              # <x_k, W1[:, j]> = -bump rho_j < 0
    W1[n + 1:, :] = 0.1 * torch.randn(d - n - 1, m, generator=gen, dtype=DTYPE)
    return X, y, W1


# ------------------------------------------------------------------ minimum norm (arXiv v1)
def min_norm_solution(X, y) -> torch.Tensor:
    """The minimum-norm interpolant X^+ y (first arXiv version: the limit of FA from zero)."""
    return torch.linalg.pinv(_f64(X)) @ _f64(y)


def min_norm_distance(X, y, W1, w2) -> float:
    """||W1 w2 - X^+ y|| / ||X^+ y||: how far the network's linear map is from the minimum-norm
    interpolant."""
    target = min_norm_solution(X, y)
    return float((_f64(W1) @ _f64(w2) - target).norm() / target.norm())


def off_row_space(X, W1) -> float:
    """||(I - X^+ X) W1||_F: the part of W1 outside the row space of X, which FA's update
    X^T r b2^T never changes."""
    X = _f64(X)
    proj = torch.eye(X.shape[1], dtype=DTYPE) - torch.linalg.pinv(X) @ X
    return float((proj @ _f64(W1)).norm())


# ------------------------------------------------ Theorem 5.2 on converted library networks
def small_network(rule: str, *, activation: str = "leaky_relu", bias: bool = False,
                  seed: int = 0, widths=(8, 8)) -> nn.Module:
    """A 6 -> 8 -> 8 -> 3 network (falign.models.mlp, weights doubled to O(1)) converted to
    `rule`, in float64: the bias-free leaky-ReLU network of Theorem 5.2 by default."""
    from .models import mlp
    net = mlp(6, list(widths), 3, activation=activation, bias=bias, seed=seed, dtype=DTYPE)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(2.0)
    return convert(net, rule, seed=seed + 1)


def toy_classification(n: int = 40, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Three-class Gaussian data in 6 dimensions (falign.data.gaussian_data), inputs rescaled by
    sqrt(6) to unit noise per feature, in float64."""
    from .data import gaussian_data
    x, y = gaussian_data(n, 6, n_classes=3, seed=seed)
    return x.to(DTYPE) * math.sqrt(6), y


@dataclass
class Snapshot:
    """Detached copies of every weight layer's weight, bias (or None) and current feedback."""
    weights: list
    biases: list
    feedback: list


def snapshot(net: nn.Module) -> Snapshot:
    """The state Theorem 5.2's potential depends on, copied (to compare before and after a step)."""
    layers = weight_layers(net)
    return Snapshot([l.weight.detach().clone() for l in layers],
                    [None if l.bias is None else l.bias.detach().clone() for l in layers],
                    [feedback_of(l).clone() for l in layers])


def potentials(s: Snapshot, include_bias: bool = True) -> list[torch.Tensor]:
    """Theorem 5.2's potential <W_{i+1}[j,:], B_{i+1}[j,:]> - ||W_i[:, j]||^2 / 2 of every hidden
    unit, one tensor per hidden layer; include_bias counts b_i[j]^2 as an incoming weight."""
    return [neuron_potential_from(s.weights[i], s.biases[i] if include_bias else None,
                                  s.weights[i + 1], s.feedback[i + 1])
            for i in range(len(s.weights) - 1)]


def incoming_step(before: Snapshot, after: Snapshot) -> list[torch.Tensor]:
    """||Delta W_i[:, j]||^2 / 2 (plus Delta b_i[j]^2 / 2 where there are biases) of every hidden
    unit over one step: Theorem 5.2's per-step drift under FA."""
    out = []
    for i in range(len(before.weights) - 1):
        sq = (after.weights[i] - before.weights[i]).pow(2).sum(1)
        if before.biases[i] is not None:
            sq = sq + (after.biases[i] - before.biases[i]).pow(2)
        out.append(0.5 * sq)
    return out


def predicted_step_change(before: Snapshot, after: Snapshot) -> list[torch.Tensor]:
    """Theorem 5.2, one plain SGD step exactly: P_j' - P_j = -||Delta W_i[:, j]||^2 / 2 (bias
    counted) + <W'_{i+1}[j, :], B'_{i+1}[j, :] - B_{i+1}[j, :]> (zero when B is fixed)."""
    return [-half + (after.weights[i + 1] * (after.feedback[i + 1]
                                             - before.feedback[i + 1])).sum(0)
            for i, half in enumerate(incoming_step(before, after))]


def sgd_run(net: nn.Module, x, y, *, lr: float, steps: int, momentum: float = 0.0,
            weight_decay: float = 0.0, batch_size: int | None = None,
            record: Callable[[int, Snapshot, Snapshot], None] | None = None) -> nn.Module:
    """torch.optim.SGD on cross-entropy (full batch, or cyclic mini-batches of batch_size),
    calling record(step, before, after) with snapshots around each step when given."""
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    n = x.shape[0]
    for step in range(steps):
        if batch_size is None:
            xb, yb = x, y
        else:
            start = (step * batch_size) % n
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        before = snapshot(net) if record else None
        opt.zero_grad()
        F.cross_entropy(net(xb), yb).backward()
        opt.step()
        after_optimizer_step(net)
        if record:
            record(step, before, snapshot(net))
    return net


def step_identity_residual(net: nn.Module, x, y, *, lr: float, steps: int,
                           **sgd) -> dict[str, float]:
    """Theorem 5.2's one-step identity over a run (potentials with biases counted): the largest
    change of any unit's potential in one step, the largest |measured - predicted| for the full
    identity (predicted_step_change) and for its FA form -||Delta W_i[:, j]||^2 / 2 alone, and
    the number of steps on which some feedback matrix moved."""
    worst = {"largest one-step change": 0.0, "residual of the full identity": 0.0,
             "residual of -|dW|^2/2 alone": 0.0, "steps on which B moved": 0}

    def record(step, before, after):
        measured = [a - b for a, b in zip(potentials(after), potentials(before))]
        full = predicted_step_change(before, after)
        fa_form = [-h for h in incoming_step(before, after)]
        worst["steps on which B moved"] += int(any(
            not torch.equal(a, b) for a, b in zip(after.feedback, before.feedback)))
        for m_, p_, q_ in zip(measured, full, fa_form):
            worst["largest one-step change"] = max(worst["largest one-step change"],
                                                   float(m_.abs().max()))
            worst["residual of the full identity"] = max(worst["residual of the full identity"],
                                                         float((m_ - p_).abs().max()))
            worst["residual of -|dW|^2/2 alone"] = max(worst["residual of -|dW|^2/2 alone"],
                                                       float((m_ - q_).abs().max()))

    sgd_run(net, x, y, lr=lr, steps=steps, record=record, **sgd)
    return worst


def potential_drift(build: Callable[[], nn.Module], x, y, *, lr: float, horizon: float,
                    momentum: float = 0.0, weight_decay: float = 0.0,
                    include_bias: bool = True) -> float:
    """Theorem 5.2's drift max_j |P_j(T) - P_j(0)| over every hidden unit at flow time
    T = horizon, reached in horizon / lr steps.  With momentum mu the optimiser's step is
    lr (1 - mu), so that heavy-ball follows the same flow at the same speed."""
    net = build()
    p0 = potentials(snapshot(net), include_bias)
    sgd_run(net, x, y, lr=lr * (1 - momentum), steps=int(round(horizon / lr)),
            momentum=momentum, weight_decay=weight_decay)
    p1 = potentials(snapshot(net), include_bias)
    return max(float((a - b).abs().max()) for a, b in zip(p1, p0))


@dataclass
class Ledger:
    """Theorem 5.2's potentials over a run, every hidden unit of every layer side by side."""
    t: torch.Tensor             # (T+1,) time k * lr
    change: torch.Tensor        # (T+1, units) P_j(t) - P_j(0), measured
    incoming: torch.Tensor      # (T+1, units) cumulative -||Delta W_i[:, j]||^2 / 2
    feedback: torch.Tensor      # (T+1, units) cumulative <W'_{i+1}[j, :], Delta B_{i+1}[j, :]>


def potential_ledger(net: nn.Module, x, y, *, lr: float, steps: int, **sgd) -> Ledger:
    """Theorem 5.2's exact bookkeeping over a plain SGD run: the measured change of every unit's
    potential next to the two terms of predicted_step_change, accumulated."""
    rows = {"change": [], "incoming": [], "feedback": []}
    start = torch.cat(potentials(snapshot(net)))
    zero = torch.zeros_like(start)
    total_in, total_fb = zero.clone(), zero.clone()
    rows["change"].append(zero)
    rows["incoming"].append(zero)
    rows["feedback"].append(zero)

    def record(step, before, after):
        nonlocal total_in, total_fb
        half = torch.cat(incoming_step(before, after))
        full = torch.cat(predicted_step_change(before, after))
        total_in = total_in - half
        total_fb = total_fb + (full + half)
        rows["change"].append(torch.cat(potentials(after)) - start)
        rows["incoming"].append(total_in.clone())
        rows["feedback"].append(total_fb.clone())

    sgd_run(net, x, y, lr=lr, steps=steps, record=record, **sgd)
    return Ledger(torch.arange(steps + 1, dtype=DTYPE) * lr,
                  *(torch.stack(rows[k]) for k in ("change", "incoming", "feedback")))


def loglog_slope(xs, ys) -> float:
    """Least-squares slope of log y against log x (the order of a drift in the step size)."""
    lx, ly = torch.log(_f64(xs)), torch.log(_f64(ys))
    lx, ly = lx - lx.mean(), ly - ly.mean()
    return float((lx * ly).sum() / lx.pow(2).sum())


# -------------------------------------------------------------- Proposition 5.3
def sign_alignment(W: torch.Tensor) -> float:
    """Proposition 5.3's identity: cos(W, sign W) = ||W||_1 / (sqrt(n) ||W||_F), n entries,
    which lies in [1/sqrt(n), 1]."""
    W = _f64(W)
    return float(W.abs().sum() / (math.sqrt(W.numel()) * W.norm()))
