"""Training loops: stacked == one by one, seeds reproduce runs exactly, divergence is named."""
import pytest
import torch

import falign
from falign.models import lenet, two_layer_mlp
from falign.stacked import train_stacked
from falign.training import TrainConfig, TrainingDiverged, train

RULES = ["bp", "fa", "adafa", "signfa", "frsf", "brsf"]


def toy_data(seed=0, n=48, d=12, c=4, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(n, d, generator=gen, dtype=dtype), torch.randint(0, c, (n,), generator=gen))


def models(dtype=torch.float64, bias=True):
    return [falign.convert(two_layer_mlp(12, 9, 4, seed=3, bias=bias, dtype=dtype), r, seed=7)
            for r in RULES]


@pytest.mark.parametrize("bias", [True, False])
def test_stacked_training_equals_one_by_one(bias):
    data = toy_data()
    cfg = TrainConfig(epochs=30, lr=0.2, momentum=0.3, weight_decay=1e-3, milestones=(20,),
                      measure_every=10, progress=False)
    one_by_one = [train(m, data, data, cfg) for m in models(bias=bias)]
    stacked_models = models(bias=bias)
    stacked = train_stacked(stacked_models, data, data, cfg)
    for a, b in zip(one_by_one, stacked):
        assert list(a.columns) == list(b.columns)
        assert len(a) == 4
        torch.testing.assert_close(torch.tensor(a.values), torch.tensor(b.values), rtol=1e-7, atol=1e-9)
    for m1, m2 in zip(models(bias=bias), stacked_models):
        assert not torch.allclose(m1[0].weight, m2[0].weight)        # training changed weights
    # ...and the stacked models were written back with the one-by-one results.
    trained = models(bias=bias)
    for m in trained:
        train(m, data, data, cfg)
    for m1, m2 in zip(trained, stacked_models):
        for p, q in zip(m1.parameters(), m2.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-7, atol=1e-8)


def test_same_seeds_identical_results_different_seeds_differ():
    data = toy_data(dtype=torch.float32)
    cfg = TrainConfig(epochs=5, lr=0.1, momentum=0.5, batch_size=16, data_seed=3,
                      measure_every=5, deterministic=True, progress=False)

    def run(init_seed, feedback_seed, data_seed):
        m = falign.convert(two_layer_mlp(12, 9, 4, seed=init_seed), "fa", seed=feedback_seed)
        c = TrainConfig(**{**cfg.as_dict(), "data_seed": data_seed})
        return train(m, data, data, c)

    base = run(0, 0, 0)
    assert base.equals(run(0, 0, 0))
    for other in (run(1, 0, 0), run(0, 1, 0), run(0, 0, 1)):
        assert not base.equals(other)


def test_lr_schedule_and_measurement_epochs():
    cfg = TrainConfig(epochs=10, lr=0.05, milestones=(3, 6), gamma=0.1, measure_every=4)
    assert [round(cfg.lr_at(e), 8) for e in (0, 2, 3, 5, 6, 9)] == [0.05, 0.05, 0.005, 0.005, 0.0005, 0.0005]
    m = falign.convert(two_layer_mlp(12, 5, 4, dtype=torch.float64), "signfa")
    df = train(m, toy_data(), None, TrainConfig(**{**cfg.as_dict(), "progress": False}))
    assert df.epoch.tolist() == [0, 4, 8, 10]
    assert "test_loss" not in df


def test_adam_first_step_moves_every_weight_by_the_rate_against_its_gradient_sign():
    """Adam's first bias-corrected step is lr * g / (|g| + eps) (Kingma & Ba 2014, Alg. 1):
    the same size for every weight, whatever its gradient's size; SGD's is lr * g."""
    x, y = toy_data()
    lr = 1e-3
    reference = two_layer_mlp(12, 9, 4, seed=3, dtype=torch.float64)
    torch.nn.functional.cross_entropy(reference(x), y).backward()
    for optimizer, momentum in (("adam", 0.0), ("sgd", 0.0)):
        net = two_layer_mlp(12, 9, 4, seed=3, dtype=torch.float64)
        before = [p.detach().clone() for p in net.parameters()]
        train(net, (x, y), None, TrainConfig(epochs=1, lr=lr, optimizer=optimizer,
                                             momentum=momentum, progress=False))
        for p0, p1, ref in zip(before, net.parameters(), reference.parameters()):
            g = ref.grad
            step = lr * g / (g.abs() + 1e-8) if optimizer == "adam" else lr * g
            torch.testing.assert_close(p0 - p1.detach(), step, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'; use one of"):
        TrainConfig(epochs=1, lr=0.1, optimizer="rmsprop")
    with pytest.raises(ValueError, match="set momentum=0 with optimizer 'adam'"):
        TrainConfig(epochs=1, lr=0.1, optimizer="adam", momentum=0.9)
    with pytest.raises(ValueError, match="steps with SGD only"):
        train_stacked(models()[:1], (x, y), None,
                      TrainConfig(epochs=1, lr=0.1, optimizer="adam", progress=False))


def test_divergence_names_the_epoch():
    x, y = toy_data(dtype=torch.float32)
    x[0, 0] = 1e38                                   # overflows the logits: loss is NaN
    cfg = TrainConfig(epochs=50, lr=0.1, progress=False)
    with pytest.raises(TrainingDiverged, match=r"diverged at epoch \d+:.*lower the learning rate"):
        train(falign.convert(two_layer_mlp(12, 9, 4), "fa"), (x, y), None, cfg)
    with pytest.raises(TrainingDiverged, match=r"model\(s\) \[0, 1\].*diverged at epoch \d+"):
        train_stacked([falign.convert(two_layer_mlp(12, 9, 4), r) for r in ("bp", "fa")],
                      (x, y), None, cfg)


def test_minibatch_lenet_step_runs_every_rule_and_reduces_loss():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, 32, 32, generator=gen)
    y = torch.randint(0, 3, (64,), generator=gen)
    cfg = TrainConfig(epochs=15, lr=0.01, momentum=0.9, batch_size=32, progress=False)
    for rule in ["bp", "fa", "signfa", "dfa"]:
        net = falign.convert(lenet(num_classes=3, seed=1), rule, seed=2, example_input=x[:2])
        df = train(net, (x, y), None, cfg)
        assert df.train_loss.iloc[-1] < df.train_loss.iloc[0], rule
        if rule != "dfa":
            assert {"cos_wb_1", "cos_wb_5", "potential_4"} <= set(df.columns)


def test_convert_keeps_forward_pass_and_counts_layers():
    from falign.models import resnet18
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    plain = resnet18(num_classes=7, seed=1).eval()
    converted = falign.convert(resnet18(num_classes=7, seed=1), "brsf", seed=3).eval()
    torch.testing.assert_close(plain(x), converted(x))
    assert len(falign.feedback_layers(converted)) == 21           # 20 convs + fc
    net = lenet(num_classes=5)
    names = [type(m).__name__ for m in falign.feedback_layers(falign.convert(net, "fa"))]
    assert names == ["FeedbackConv2d"] * 3 + ["FeedbackLinear"] * 2


def test_a_bare_layer_converts_to_its_feedback_copy():
    layer = torch.nn.Linear(6, 3)
    converted = falign.convert(layer, "fa", seed=2)
    assert type(converted).__name__ == "FeedbackLinear" and converted.rule == "fa"
    assert torch.equal(converted.weight, layer.weight) and torch.equal(converted.bias, layer.bias)
    x = torch.randn(4, 6, requires_grad=True)
    converted(x).sum().backward()
    # the input's gradient goes through B, not W (Lillicrap et al. 2016's delta = B^T e)
    torch.testing.assert_close(x.grad, torch.ones(4, 3) @ converted.feedback)
    assert not torch.allclose(x.grad, torch.ones(4, 3) @ layer.weight.detach())


def test_a_plateau_run_with_no_progress_in_its_first_stage_raises_stalled():
    """PlateauRule presupposes progress: at lr 1e-12 nothing moves, so the first stage ends
    after patience + 1 epochs (the first sets the best, `patience` more fail to beat it) with
    the training error still at its initial value, and TrainingStalled carries every measured
    row; at a working rate the same run trains through its stages."""
    from falign.training import PlateauRule, TrainingStalled
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 5, generator=g)
    y = (x[:, 0] > 0).long()
    rule = PlateauRule(margin=0.05, patience=2, stages=2)
    model = two_layer_mlp(5, 8, 2, seed=0)
    with pytest.raises(TrainingStalled, match="has not started learning") as caught:
        train(model, (x, y), None, TrainConfig(epochs=50, lr=1e-12, plateau=rule, progress=False))
    assert caught.value.epoch == 3 and len(caught.value.rows) == 4
    assert {r["train_acc"] for r in caught.value.rows} == {caught.value.rows[0]["train_acc"]}
    table = train(model, (x, y), None, TrainConfig(epochs=50, lr=0.5, plateau=rule,
                                                   progress=False))
    assert table.train_acc.iloc[-1] > table.train_acc.iloc[0]


def test_a_plateau_run_must_fall_below_start_below_where_the_rule_sets_one():
    """A run that learns at lr 0.5 passes the default start check (below its initial error)
    but stalls when the rule asks it to fall below an error it cannot reach (start_below = 0,
    no error below zero), and the message names that reference."""
    from falign.training import PlateauRule, TrainingStalled
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 5, generator=g)
    y = (x[:, 0] > 0).long()
    config = dict(epochs=50, lr=0.5, progress=False)
    learns = train(two_layer_mlp(5, 8, 2, seed=0), (x, y), None,
                   TrainConfig(**config, plateau=PlateauRule(margin=0.05, patience=2, stages=2)))
    assert 1 - learns.train_acc.iloc[1:3].max() < 1 - learns.train_acc.iloc[0]
    strict = PlateauRule(margin=0.05, patience=2, stages=2, start_below=0.0)
    with pytest.raises(TrainingStalled, match="below the reference 0 in the first stage") as caught:
        train(two_layer_mlp(5, 8, 2, seed=0), (x, y), None, TrainConfig(**config, plateau=strict))
    assert caught.value.epoch == len(caught.value.rows) - 1 >= 3
