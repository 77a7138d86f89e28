"""Many independent two-layer MLPs trained as one stacked computation.

A width sweep trains every rule x repeat of one width together: the first layer of all K models
is one (n, d) x (d, K*m) product over the shared full-batch input, the second a batched
product.  The backward pass is written out by hand (Section 3 of Robertson & Koyejo):

    e       = dL/dlogits                          (K, n, c)
    dW_2    = e^T a_1            db_2 = sum_n e
    delta_1 = (e B_2) * phi'(h_1)                 B_2: the rule's feedback, (K, c, m)
    dW_1    = delta_1^T x        db_1 = sum_n delta_1

and SGD with momentum follows torch.optim.SGD exactly, so a stacked run reproduces the
one-by-one runs of falign.training.train.
"""
from __future__ import annotations

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.std import tqdm

from .layers import FeedbackLinear
from .measurements import alignment_cosine_from, deviation_from_one, neuron_potential_from
from .rules import draw_feedback, layer_seed, sign_feedback, sign_scale
from .training import (TrainConfig, TrainingDiverged, deterministic_mode, show_progress)

STACKABLE_RULES = ("bp", "fa", "adafa", "signfa", "frsf", "brsf")


def _unpack(model: nn.Module) -> tuple[FeedbackLinear, float, FeedbackLinear]:
    """(first layer, leaky-ReLU slope, second layer) of a converted two-layer MLP."""
    mods = list(model.children()) if isinstance(model, nn.Sequential) else []
    ok = (len(mods) == 3 and all(isinstance(m, FeedbackLinear) for m in (mods[0], mods[2]))
          and isinstance(mods[1], (nn.LeakyReLU, nn.ReLU)))
    if not ok:
        raise TypeError("train_stacked takes converted two_layer_mlp models "
                        "(Linear -> (leaky) ReLU -> Linear, converted with falign.convert)")
    slope = mods[1].negative_slope if isinstance(mods[1], nn.LeakyReLU) else 0.0
    return mods[0], slope, mods[2]


class StackedMLPs:
    """Parameters, momentum buffers and feedback of K two-layer MLPs of one width."""

    def __init__(self, models: list[nn.Module], device: torch.device) -> None:
        parts = [_unpack(m) for m in models]
        slopes = {p[1] for p in parts}
        widths = {p[0].out_features for p in parts}
        biases = {p[0].bias is not None for p in parts}
        if len(slopes) != 1 or len(widths) != 1 or len(biases) != 1:
            raise ValueError("stacked models must share width, activation and bias setting")
        self.rules = [p[2].rule for p in parts]
        bad = sorted(set(self.rules) - set(STACKABLE_RULES))
        if bad:
            raise ValueError(f"rules {bad} cannot be stacked; stackable: {STACKABLE_RULES}")
        self.models, self.slope, self.bias = models, slopes.pop(), biases.pop()
        self.layers = [(p[0], p[2]) for p in parts]

        def stack(get):
            return torch.stack([get(l1, l2).detach() for l1, l2 in self.layers]).to(device).clone()

        self.params = {"w1": stack(lambda a, b: a.weight), "w2": stack(lambda a, b: b.weight)}
        if self.bias:
            self.params["b1"] = stack(lambda a, b: a.bias)
            self.params["b2"] = stack(lambda a, b: b.bias)
        self.momentum = {k: None for k in self.params}
        zeros = lambda l: torch.zeros_like(l.weight)
        self.store = [stack(lambda a, b, i=i: ((a, b)[i].magnitudes()
                                              if (a, b)[i].feedback_store is not None
                                              else zeros((a, b)[i])))
                      for i in (0, 1)]
        r = torch.tensor
        self.is_bp = r([x == "bp" for x in self.rules], device=device).view(-1, 1, 1)
        self.is_sign = r([x == "signfa" for x in self.rules], device=device).view(-1, 1, 1)
        self.is_magnitude = r([x in ("frsf", "brsf") for x in self.rules], device=device).view(-1, 1, 1)
        self.steps = 0

    def feedback(self, layer: int) -> torch.Tensor:
        """B_layer(t) of every model, (K, out, in); the same rules as falign.layers."""
        w = self.params[f"w{layer}"]
        store = self.store[layer - 1]
        signfa = sign_feedback(w, w.new_tensor(sign_scale(w[0])))
        return torch.where(self.is_bp, w, torch.where(
            self.is_sign, signfa, torch.where(self.is_magnitude, sign_feedback(w, store), store)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pre-activations h_1 and activations a_1 (K, n, m), and logits (K, n, c)."""
        # x (n, d) is shared by the K models: one GEMM per model writes into a contiguous
        # (K, n, m) block (a broadcast matmul would first copy x K times).
        w1 = self.params["w1"]
        h = x.new_empty(w1.shape[0], x.shape[0], w1.shape[1])            # (K, n, m)
        for k in range(w1.shape[0]):
            torch.matmul(x, w1[k].t(), out=h[k])
        if self.bias:
            h += self.params["b1"].unsqueeze(1)
        a = F.leaky_relu(h, self.slope)
        logits = torch.bmm(a, self.params["w2"].transpose(1, 2))       # (K, n, c)
        if self.bias:
            logits += self.params["b2"].unsqueeze(1)
        return h, a, logits

    def gradients(self, x: torch.Tensor, y: torch.Tensor, reduction: str
                  ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The rule's update direction for every parameter, and the K training losses."""
        h, a, logits = self.forward(x)
        n, c = logits.shape[1:]
        logp = logits.log_softmax(-1)
        onehot = F.one_hot(y, c).to(logits.dtype)
        losses = -(logp * onehot).sum(-1).sum(-1)
        if reduction == "mean":
            losses = losses / n
        e = logp.exp_().sub_(onehot)                                   # (K, n, c)
        if reduction == "mean":
            e /= n
        grads = {"w2": torch.bmm(e.transpose(1, 2), a)}                # (K, c, m)
        delta = torch.bmm(e, self.feedback(2))                         # (K, n, m): e B_2
        delta = torch.where(h > 0, delta, delta * self.slope)          # * phi'(h_1)
        grads["w1"] = torch.stack([delta[k].t() @ x for k in range(len(delta))])  # (K, m, d)
        if self.bias:
            grads["b2"] = e.sum(1)
            grads["b1"] = delta.sum(1)
        return grads, losses

    def sgd_step(self, grads: dict[str, torch.Tensor], lr: float, momentum: float,
                 weight_decay: float) -> None:
        """torch.optim.SGD's update (dampening 0, no Nesterov), for every stacked parameter."""
        for key, p in self.params.items():
            g = grads[key]
            if weight_decay:
                g = g + weight_decay * p
            if momentum:
                buf = self.momentum[key]
                buf = g.clone() if buf is None else buf.mul_(momentum).add_(g)
                self.momentum[key] = buf
                g = buf
            p.sub_(lr * g)
        self.steps += 1
        for i, rule in enumerate(self.rules):                         # brSF: fresh magnitudes
            if rule == "brsf":
                for layer_index, (store, layer) in enumerate(zip(self.store, self.layers[i])):
                    gen = torch.Generator().manual_seed(
                        layer_seed(layer._seed, layer._index,
                                   int(layer.feedback_step) + self.steps))
                    store[i].copy_(draw_feedback("brsf", store[i], gen))

    def measurements(self, x, y, xt, yt, reference: dict[str, torch.Tensor]) -> list[dict]:
        """The columns of falign.training.chain_measurements, for every stacked model."""
        logits = self.forward(x)[2]
        rows = [{} for _ in self.rules]
        self._loss_acc(rows, "train", logits, y)
        if xt is not None:
            self._loss_acc(rows, "test", self.forward(xt)[2], yt)
        fb2 = self.feedback(2)
        p, ref = self.neuron_potentials(feedback=fb2), reference["full"]
        pw = self.neuron_potentials(include_bias=False, feedback=fb2) if self.bias else p
        refw = reference["weights"]
        cols = {"weight_norm_1": self.params["w1"].flatten(1).norm(dim=1),
                "cos_wb_1": alignment_cosine_from(self.params["w1"], self.feedback(1), 2),
                "weight_norm_2": self.params["w2"].flatten(1).norm(dim=1),
                "cos_wb_2": alignment_cosine_from(self.params["w2"], fb2, 2),
                "potential_1": p.sum(-1),
                "potential_ratio_1": p.sum(-1) / ref.sum(-1),
                "neuron_deviation_1": deviation_from_one(p / ref, dim=-1),
                "potential_ratio_weights_1": pw.sum(-1) / refw.sum(-1),
                "neuron_deviation_weights_1": deviation_from_one(pw / refw, dim=-1)}
        for name, values in cols.items():
            for row, v in zip(rows, values.tolist()):
                row[name] = v
        return rows

    def neuron_potentials(self, include_bias: bool = True,
                          feedback: torch.Tensor | None = None) -> torch.Tensor:
        """Theorem 5.2's per-neuron potential, (K, m); `feedback` is B_2 if already built."""
        return neuron_potential_from(self.params["w1"],
                                     self.params.get("b1") if include_bias else None,
                                     self.params["w2"],
                                     self.feedback(2) if feedback is None else feedback)

    @staticmethod
    def _loss_acc(rows, split, logits, y) -> None:
        losses = F.cross_entropy(logits.transpose(1, 2), y.expand(logits.shape[0], -1),
                                 reduction="none").mean(1)
        accs = (logits.argmax(-1) == y).double().mean(1)
        for row, loss, acc in zip(rows, losses.tolist(), accs.tolist()):
            row[f"{split}_loss"], row[f"{split}_acc"] = loss, acc

    def write_back(self) -> None:
        """Copy the trained parameters and feedback state into the original models."""
        for i, (l1, l2) in enumerate(self.layers):
            with torch.no_grad():
                l1.weight.copy_(self.params["w1"][i])
                l2.weight.copy_(self.params["w2"][i])
                if self.bias:
                    l1.bias.copy_(self.params["b1"][i])
                    l2.bias.copy_(self.params["b2"][i])
                for layer, store in zip((l1, l2), self.store):
                    layer.feedback_step += self.steps
                    if layer.feedback_store is not None:
                        layer.feedback_store.copy_(store[i])


def train_stacked(models: list[nn.Module], train_data: tuple[torch.Tensor, torch.Tensor],
                  test_data: tuple[torch.Tensor, torch.Tensor] | None, config: TrainConfig,
                  *, name: str = "stack") -> list[pd.DataFrame]:
    """Full-batch training of K converted two-layer MLPs of one width as one computation.

    Gives, model by model, what falign.training.train gives (same columns); the models are
    updated in place.  Raises TrainingDiverged naming the epoch and the model.
    """
    if config.batch_size is not None:
        raise ValueError("train_stacked trains full batch only (batch_size=None)")
    if config.optimizer != "sgd":
        raise ValueError(f"train_stacked steps with SGD only, not {config.optimizer!r}; train "
                         "the models one by one with falign.training.train")
    device = torch.device(config.device)
    x, y = (t.to(device) for t in train_data)
    xt, yt = (t.to(device) for t in test_data) if test_data is not None else (None, None)
    stack = StackedMLPs(models, device)
    tables: list[list[dict]] = [[] for _ in models]
    with torch.no_grad(), deterministic_mode(config.deterministic):
        reference = {"full": stack.neuron_potentials(),
                     "weights": stack.neuron_potentials(include_bias=False)}

        def record(epoch: int, lr: float) -> None:
            for table, row in zip(tables, stack.measurements(x, y, xt, yt, reference)):
                table.append({"epoch": epoch, "lr": lr, **row})

        record(0, config.lr_at(0))
        for epoch in tqdm(range(config.epochs), desc=name, disable=not show_progress(config.progress)):
            lr = config.lr_at(epoch)
            grads, losses = stack.gradients(x, y, config.loss_reduction)
            if not torch.isfinite(losses).all():
                bad = [i for i, v in enumerate(losses.tolist()) if not torch.isfinite(torch.tensor(v))]
                raise TrainingDiverged(
                    f"{name}: model(s) {bad} (rules {[stack.rules[i] for i in bad]}) diverged at "
                    f"epoch {epoch + 1}: loss {losses[bad].tolist()} at learning rate {lr:g}; "
                    "lower the learning rate or check the input scaling")
            stack.sgd_step(grads, lr, config.momentum, config.weight_decay)
            if (epoch + 1) % config.measure_every == 0 or epoch + 1 == config.epochs:
                record(epoch + 1, lr)
        stack.write_back()
    return [pd.DataFrame(t) for t in tables]
