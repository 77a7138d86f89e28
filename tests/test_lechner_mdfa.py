"""The Lechner 2020 family (Tables 1-6): class pairs and n-class subsets drawn as the text draws
them, inputs in [0, 1], B.1's architectures, the mono-net constraint kept through training, a
reproducible smoke run stored with its spec, and bad fields refused with the fix named."""
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import falign
from falign.data import class_subset
from falign.families import lechner_mdfa as L
from falign.families.image_classification import subset_images
from falign.store import ResultStore
from falign.sweep import RunContext, run_sweep
from test_data import make_fake_tiny_imagenet

WNIDS = [f"n{i:08d}" for i in range(6)]
SMOKE = L.PROFILES["smoke"]
FIXED = L.PROFILES["20_epochs"]                     # the 20-epoch reading (the stored runs)
FIXED_PAPER = replace(L.PAPER, **L.FIXED_20)        # ... at the paper's grid size


@pytest.fixture
def fake_root(tmp_path, monkeypatch):
    """A Tiny-ImageNet copy of 6 classes, 2 training and 1 validation image each; class k's
    images have red channel 20 k, so a label can be traced back to its class."""
    monkeypatch.setenv("FALIGN_CACHE", str(tmp_path / "cache"))
    make_fake_tiny_imagenet(tmp_path, WNIDS, WNIDS)
    subset_images.cache_clear()
    yield tmp_path
    subset_images.cache_clear()


def _spec(**change):
    spec = next(s for s in L.run_specs(SMOKE) if s["table"] == 1)
    return {**spec, **change}


def test_binary_pair_labels_are_exactly_the_two_drawn_classes(fake_root):
    for k in range(3):
        spec = _spec(subset_seed=k)
        images = L.run_images(spec, fake_root)
        drawn = class_subset(WNIDS, 2, k)
        assert images.classes == drawn
        assert set(images.train_labels.tolist()) == {0, 1} == set(images.test_labels.tolist())
        # label j is the j-th drawn class: its images carry that class's red value
        for labels, x in ((images.train_labels, images.train_images),
                          (images.test_labels, images.test_images)):
            red = x[..., 0].reshape(len(x), -1).mean(1)
            expected = np.array([20 * WNIDS.index(drawn[j]) for j in labels])
            assert np.allclose(red, expected, atol=3)
    # different samples draw different pairs (the text's five random pairs)
    pairs = {tuple(class_subset(WNIDS, 2, k)) for k in range(5)}
    assert len(pairs) > 1


def test_n_class_subsets_have_n_distinct_classes(fake_root):
    for n in (3, 5):
        spec = _spec(table=3, task="classes", n_classes=n)
        images = L.run_images(spec, fake_root)
        assert len(set(images.classes)) == n
        assert set(images.train_labels.tolist()) == set(range(n))
        assert set(images.test_labels.tolist()) == set(range(n))
    with pytest.raises(ValueError, match="lower n"):
        L.run_images(_spec(table=3, task="classes", n_classes=7), fake_root)


def test_inputs_are_scaled_to_the_unit_interval():
    x = torch.tensor([0, 1, 128, 254, 255], dtype=torch.uint8).repeat(2, 3, 5, 1)
    out = L.unit_transform("cpu")(x, True, torch.Generator())
    assert out.min() == 0.0 and out.max() == 1.0
    assert torch.allclose(out[0, 0, 0], torch.tensor([0, 1, 128, 254, 255]) / 255.0)


def test_architectures_follow_appendix_b1():
    fc = L.build_network("cifar100", "fc", "tanh", 1, 32)
    assert [(m.in_features, m.out_features) for m in fc if isinstance(m, nn.Linear)] == \
        [(3072, 1024), (1024, 1024), (1024, 1)]
    fc64 = L.build_network("imagenet", "fc", "relu", 5, 64)
    assert [m.out_features for m in fc64 if isinstance(m, nn.Linear)] == [1024] * 4 + [5]
    for benchmark, res, maps in (("cifar100", 32, [16, 8, 8]),
                                 ("imagenet", 64, [32, 32, 16, 16, 8, 8])):
        net = L.build_network(benchmark, "cnn", "hardtanh", 10, res)
        convs = [m for m in net if isinstance(m, nn.Conv2d)]
        assert [(c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs] == \
            list(L.ARCHITECTURES[benchmark]["cnn"])
        sizes = []
        for c in convs:
            c.register_forward_hook(lambda m, i, o: sizes.append(o.shape[-1]))
        assert net(torch.zeros(2, 3, res, res)).shape == (2, 10)
        assert sizes == maps
        assert isinstance(net[-1], nn.Linear) and net[-1].in_features == maps[-1] ** 2 * convs[-1].out_channels
    assert sum(isinstance(m, nn.Hardtanh) for m in net) == 6


def test_binary_head_is_one_logit_and_its_loss_is_the_logistic_loss():
    net = L.build_network("cifar100", "fc", "tanh", 1, 32)
    x = torch.rand(7, 3, 32, 32)
    logits = net(x)
    z = net[:-1](x)[:, 0]
    assert logits.shape == (7, 2) and torch.all(logits[:, 0] == 0)
    assert torch.equal(logits.argmax(1), (z > 0).long())
    y = torch.tensor([0, 1, 1, 0, 1, 0, 1])
    assert torch.allclose(F.cross_entropy(logits, y), F.binary_cross_entropy_with_logits(z, y.float()))


@pytest.mark.parametrize("architecture", ["fc", "cnn"])
def test_mdfa_keeps_every_weight_after_the_first_layer_nonnegative_through_training(architecture):
    spec = _spec(architecture=architecture, rule="mdfa", activation="relu")   # uniform init
    model = L.build_model(spec)
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert all(float(m.weight.detach().min()) >= spec["epsilon"] for m in layers[1:])
    assert float(layers[0].weight.detach().min()) < 0                 # the first layer is free
    for layer in falign.feedback_layers(model)[1:]:
        assert float(layer.feedback.min()) >= 0              # Theorem 2 needs B >= 0
    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(16, 3, 32, 32, generator=gen), torch.randint(0, 2, (16,), generator=gen)
    cfg = falign.training.TrainConfig(epochs=3, lr=0.5, batch_size=8, device="cpu", progress=False)
    table = falign.training.train(model, (x, y), None, cfg, measure=L.measure)
    # the projection binds: without it some weight would have gone negative
    assert (table.min_weight_after_first == 0).any()
    assert (table.min_weight_after_first >= 0).all()
    assert all(float(m.weight.detach().min()) >= 0 for m in layers[1:])
    assert float(layers[0].weight.detach().min()) < 0


def test_initialisation_follows_appendix_b3():
    for rule in ("dfa", "fa", "mdfa"):
        zero = L.build_model(_spec(rule=rule, activation="tanh"))
        assert all(float(m.weight.detach().abs().max()) == 0 for m in falign.feedback_layers(zero))
    bp = falign.feedback_layers(L.build_model(_spec(rule="bp", activation="tanh")))
    bound = 1 / 3072 ** 0.5
    assert 0.9 * bound < float(bp[0].weight.detach().abs().max()) <= bound
    dfa = falign.feedback_layers(L.build_model(_spec(rule="dfa")))
    d = dfa[1].feedback                                  # (1 output, 1024 features), N(0, 1/1024)
    assert d.shape == (1, 1024) and float(d.min()) < 0 and 0.7 < float(d.std() * 32) < 1.3


def test_smoke_run_is_reproducible_and_stored_with_its_spec(fake_root, tmp_path):
    protocol = replace(L.PROFILES["20_epochs_smoke"], tables=(1,), rules=("mdfa", "bp"),
                       train_per_class=2, test_per_class=1)
    stores = []
    for name in ("a", "b"):
        store = ResultStore(tmp_path / name, L.store_name("smoke"))
        report = run_sweep(L, protocol, store, data_root=fake_root, progress=False)
        assert len(report.trained) == 2 and not report.pending
        stores.append(store)
    tables = [s.table().sort_values(["run_key", "epoch"]).reset_index(drop=True) for s in stores]
    cols = ["run_key", "epoch", "train_acc", "test_acc", "train_loss", "weight_norm_1"]
    assert tables[0][cols].equals(tables[1][cols])
    records = {r["key"]: r for r in stores[0].records()}
    for spec in L.run_specs(protocol):
        record = records[falign.store.spec_key(spec)]
        assert record["spec"] == spec
        assert record["provenance"]["data"]["classes"] == class_subset(WNIDS, 2, 0)


def test_grid_counts_order_and_printed_values():
    paper = L.run_specs(FIXED_PAPER)
    # Table 1/2: 3 activations x 4 rules x 2 architectures x 5 pairs; 3/4: 5 n; 5/6: 3 n.
    counts = {t: sum(s["table"] == t for s in paper) for t in range(1, 7)}
    assert counts == {1: 120, 2: 120, 3: 100, 4: 100, 5: 60, 6: 60}
    # Sample 0 of every cell before any sample 1, among the light cells and then the heavy
    # ones (the 64-px CNNs of Tables 2 and 6), which come after every light run.
    flags = [L.heavy(s) for s in paper]
    assert flags == sorted(flags) and sum(flags) == 60 + 60
    assert {(s["table"], s["architecture"]) for s in paper if L.heavy(s)} == {(2, "cnn"), (6, "cnn")}
    for part in (False, True):
        samples = [s["sample"] for s in paper if L.heavy(s) == part]
        assert samples.index(1) > max(i for i, k in enumerate(samples) if k == 0)
    assert paper[0]["table"] == 1 and paper[0]["architecture"] == "fc"
    quick = L.run_specs(FIXED)
    assert {s["epochs"] for s in quick} == {s["epochs"] for s in paper}    # never fewer epochs
    keys = {falign.store.spec_key(s) for s in paper}
    assert {falign.store.spec_key(s) for s in quick} <= keys              # quick runs count
    # the selected protocol: quick's first stage is the paper's on fewer cells, same schedule
    tuned_quick, tuned_paper = L.run_specs(L.PROFILES["quick"]), L.run_specs(L.PAPER)
    assert {falign.store.spec_key(s) for s in tuned_quick} <= \
        {falign.store.spec_key(s) for s in tuned_paper}
    assert {(s["epochs"], s["min_epochs"], s["patience"]) for s in tuned_quick} == \
        {(s["epochs"], s["min_epochs"], s["patience"]) for s in tuned_paper}
    p = L.printed().set_index(["table", "architecture", "activation", "n_classes", "rule", "set"])
    assert len(p) == 2 * 48 + 2 * 40 + 2 * 24
    assert tuple(p.loc[(1, "fc", "tanh", 2, "mdfa", "train")]) == (100.0, 0.0)
    assert tuple(p.loc[(2, "cnn", "hardtanh", 2, "mdfa", "train")]) == (79.5, 9.8)
    assert tuple(p.loc[(3, "fc", "tanh", 3, "mdfa", "train")]) == (53.3, 8.9)
    assert tuple(p.loc[(6, "cnn", "tanh", 10, "fa", "test")]) == (10.6, 0.8)


def test_bad_fields_raise_and_name_the_fix():
    with pytest.raises(ValueError, match="unknown learning rule 'sfa'; use one of bp"):
        L.run_specs(replace(SMOKE, rules=("sfa",)))
    with pytest.raises(ValueError, match="unknown learning rule"):
        L.build_model(_spec(rule="signfa"))
    with pytest.raises(ValueError, match="unknown activation 'sigmoid'; use one of hardtanh"):
        L.run_specs(replace(SMOKE, binary_activations=("sigmoid",)))
    with pytest.raises(ValueError, match="unknown activation"):
        L.build_network("cifar100", "fc", "gelu", 1, 32)
    with pytest.raises(ValueError, match="lower classes_cifar"):
        L.run_specs(replace(SMOKE, classes_cifar=(150,), cifar_dataset="cifar100"))
    with pytest.raises(ValueError, match="ImageNet itself is not supported"):
        L.run_specs(replace(SMOKE, imagenet_dataset="imagenet"))


def test_cnn_runs_take_the_cnn_rate_and_fc_specs_stay_as_stored():
    """cnn_lr sets the CNN runs' lr; it is not a spec field, so the FC runs' keys (and the
    runs stored under them) do not change when it does."""
    specs = L.run_specs(FIXED)
    assert {s["lr"] for s in specs if s["architecture"] == "cnn"} == {L.PAPER.cnn_lr}
    assert {s["lr"] for s in specs if s["architecture"] == "fc"} == {L.PAPER.lr}
    assert not any("cnn_lr" in s for s in specs)
    other = L.run_specs(replace(FIXED, cnn_lr=0.5))
    fc_keys = lambda ss: {falign.store.spec_key(s) for s in ss if s["architecture"] == "fc"}
    assert fc_keys(specs) == fc_keys(other)
    assert (L.cnn_pilot_shortfall(L.PAPER.cnn_lr) <= 1.4 + 1e-9).all()   # the stated reason
    assert L.cnn_pilot_shortfall(0.1)["dfa"] > 17                       # DFA stalls at 0.1
    with pytest.raises(ValueError, match="tried 0.01, 0.03, 0.1"):
        L.cnn_pilot_shortfall(0.05)


def test_pending_core_hours_scale_the_stored_cpu_runs_cost():
    """Each pending run costs cost(spec) times the median seconds per cost unit of the stored CPU
    runs (GPU runs do not count); the 64-px CNNs are counted apart; no CPU run, no estimate."""
    from types import SimpleNamespace

    protocol = replace(FIXED, tables=(2,), binary_activations=("tanh",))
    specs = L.run_specs(protocol)
    fc = [s for s in specs if s["architecture"] == "fc"]
    cnn = [s for s in specs if s["architecture"] == "cnn"]
    assert len(fc) == len(cnn) == 8 and all(map(L.heavy, cnn)) and not any(map(L.heavy, fc))

    def record(spec, seconds, device):
        return {"key": falign.store.spec_key(spec), "spec": spec,
                "provenance": {"wall_time_s": seconds, "device": device}}

    # Three CPU runs at 1, 2 and 4 units of 1e-10 s per cost unit (median 2e-10), one GPU run
    # a hundred times faster that must not pull the median down.
    stored = [record(fc[0], 1e-10 * L.cost(fc[0]), "cpu: test"),
              record(fc[1], 2e-10 * L.cost(fc[1]), "cpu: test"),
              record(fc[2], 4e-10 * L.cost(fc[2]), "cpu: test"),
              record(fc[3], 1e-12 * L.cost(fc[3]), "cuda: test")]
    sweep = SimpleNamespace(protocol=protocol, profile="quick",
                            store=SimpleNamespace(records=lambda: stored))
    hours = L.pending_core_hours(sweep)
    light, big = hours.loc["other cells"], hours.loc[L.HEAVY_KIND]
    assert light["runs"] == 4 and big["runs"] == 8
    assert light["core_hours"] == pytest.approx(2e-10 * sum(map(L.cost, fc[4:])) / 3600)
    assert big["core_hours"] == pytest.approx(2e-10 * sum(map(L.cost, cnn)) / 3600)
    assert big["longest_run_h"] == pytest.approx(2e-10 * max(map(L.cost, cnn)) / 3600)
    sweep.store = SimpleNamespace(records=lambda: stored[3:])
    with pytest.raises(ValueError, match="no CPU run is stored yet.*--max-runs"):
        L.pending_core_hours(sweep)


def test_dfa_and_mdfa_coincide_exactly_until_the_projection_first_acts():
    """One output, tanh, zero forward weights: DFA with D and mDFA with |D| are one network up to
    hidden-unit signs, so their outputs agree to the bit while W <- max(W, 0) is idle (always,
    on one fixed full batch) and part once it zeroes a weight (mini-batches here)."""
    spec = {**next(s for s in L.run_specs(FIXED) if s["table"] == 1 and s["architecture"] == "fc"
                   and s["activation"] == "tanh" and s["sample"] == 0), "batch_size": 16}
    gen = torch.Generator().manual_seed(3)
    # float64, so that no weight goes negative by round-off alone.
    x = torch.rand(64, 3, 32, 32, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 2, (64,), generator=gen)
    full = L.projection_trace(spec, x, y, 6, batches="full")
    assert (full.zeroed_by_projection == 0).all() and (full.max_output_gap == 0).all()
    mini = L.projection_trace(spec, x, y, 12)
    acts = mini.index[mini.zeroed_by_projection > 0]
    assert len(acts) > 0, "the projection never acted: pick another seed"
    first = acts[0]
    assert (mini.max_output_gap[:first] == 0).all()
    assert mini.max_output_gap[first:].max() > 0
    with pytest.raises(ValueError, match="unknown batches 'all'; use 'shuffled' or 'full'"):
        L.projection_trace(spec, x, y, 1, batches="all")


# ------------------------------------------------------------ selection on validation
def test_every_stored_run_keeps_its_key_under_the_added_fields():
    """The fields added for selection (ADDED) enter no spec at the values the stored runs used,
    so every run in results/lechner_mdfa is still a run of a named protocol: the 20-epoch
    reading (its CNN pilot at 0.1 included), the quick profile's selection, or the bp_sgd
    reading (BP's runs on plain SGD alone, from before BP's optimiser joined the selection),
    and none is orphaned."""
    from pathlib import Path

    store = ResultStore(Path(__file__).resolve().parents[1] / "results", L.NAME)
    records = store.records()
    if not records:
        pytest.skip("no stored Lechner runs in this checkout")
    named = {falign.store.spec_key(s) for p in (FIXED, replace(FIXED, cnn_lr=0.1),
                                                 L.PROFILES["quick"], L.PROFILES["bp_sgd"])
             for s in (L.run_specs(p, store) if p.selection == "validation" else L.run_specs(p))}
    orphans = [r["spec"] for r in records if r["key"] not in named]
    assert not orphans, f"{len(orphans)} stored runs map to no profile, e.g. {orphans[0]}"
    assert sum(r["spec"]["epochs"] == 20 for r in records) >= 154
    # the 20-epoch reading's specs carry none of the added fields; the selection's carry its
    # three, and the optimiser (added later) only where it is Adam: BP's Adam tuning runs
    selection = {"validation_per_class", "min_epochs", "patience"}
    assert not any(set(L.ADDED) & set(s) for s in L.run_specs(FIXED))
    quick = L.run_specs(L.PROFILES["quick"])
    assert all(selection <= set(s) for s in quick)
    assert {(s["rule"], s.get("optimizer")) for s in quick} == {
        ("bp", None), ("bp", "adam"), ("dfa", None), ("fa", None), ("mdfa", None)}
    assert not any("optimizer" in s for s in L.run_specs(L.PROFILES["bp_sgd"]))


def test_validation_is_the_last_images_of_each_class_and_never_a_test_image():
    from falign.data import ImageSubset

    # class k's training image i carries the value 10 k + i, so every image is traceable
    y = np.repeat(np.arange(3), 6)
    x = (10 * y + np.tile(np.arange(6), 3)).astype(np.uint8)[:, None, None, None] * \
        np.ones((1, 2, 2, 3), np.uint8)
    test = np.full((3, 2, 2, 3), 200, np.uint8)
    images = ImageSubset(x, y, test, np.arange(3), ["a", "b", "c"], "toy")
    xt, yt, xv, yv = L.split_validation(images, 2)
    assert np.bincount(yv).tolist() == [2, 2, 2] and np.bincount(yt).tolist() == [4, 4, 4]
    assert sorted(xv[:, 0, 0, 0].tolist()) == [4, 5, 14, 15, 24, 25]      # the last two each
    assert not set(xv[:, 0, 0, 0].tolist()) & set(xt[:, 0, 0, 0].tolist())
    assert 200 not in xv and 200 not in xt                                  # test images apart
    same = L.split_validation(images, 0)
    assert same[0] is x and len(same[2]) == 0
    with pytest.raises(ValueError, match="lower validation_per_class or raise train_per_class"):
        L.split_validation(images, 6)


def test_stopping_rule_waits_for_min_epochs_and_a_plateau_of_patience_epochs():
    rising = list(np.linspace(0.5, 0.9, 50))
    assert not any(L.plateaued(rising[:e + 1], 10, 5) for e in range(50))   # still rising
    flat = [0.5] + [0.8] * 30
    stops = [e for e in range(31) if L.plateaued(flat[:e + 1], 10, 5)]
    assert stops[0] == 10                        # at min_epochs: no rise in epochs 6..10
    assert [e for e in range(31) if L.plateaued(flat[:e + 1], 3, 5)][0] == 6   # 5 flat epochs
    bump = [0.5] * 8 + [0.6] + [0.6] * 10
    assert not L.plateaued(bump[:12], 5, 5) and L.plateaued(bump[:14], 5, 5)
    assert not L.plateaued(flat, 10, 0)          # patience 0: a fixed schedule


def test_a_run_reports_its_best_validation_epoch_and_highest_training_accuracy():
    m = pd.DataFrame({"epoch": [0, 1, 2, 3, 4], "train_acc": [.5, .7, .9, .95, .99],
                      "val_acc": [.5, .6, .8, .8, .7], "test_acc": [.5, .55, .75, .9, .6]})
    picked = L.run_selection(m)
    assert picked["epoch"] == 2 and picked["test"] == 75.0 and picked["validation"] == 80.0
    assert picked["train"] == 99.0 and picked["epochs"] == 4
    fixed = L.run_selection(m.drop(columns="val_acc"))
    assert fixed["epoch"] == 4 and fixed["test"] == 60.0          # no validation: the last epoch
    assert L.pick_lr({0.01: 80.0, 0.03: 82.5, 0.1: 82.5}) == 0.03  # ties: the smaller rate
    assert L.pick_lr({0.01: 90.0, 0.1: 82.5}) == 0.01
    with pytest.raises(ValueError, match="no tuning run"):
        L.pick_lr({})
    # a run that diverged in its first epoch reports nothing and cannot be chosen
    first = L.run_selection(m[m.epoch == 0].assign(diverged_epoch=1))
    assert first["epochs"] == 0 and first["validation"] != first["validation"]
    assert L.pick_lr({0.01: 80.0, 0.1: first["validation"]}) == 0.01
    with pytest.raises(ValueError, match="no tuning run"):
        L.pick_lr({0.1: float("nan")})


def test_a_diverging_tuning_run_is_stored_with_its_epochs_before_the_overflow(fake_root,
                                                                              tmp_path):
    protocol = replace(SMOKE, tables=(1,), rules=("bp",), train_per_class=2, test_per_class=1,
                       validation_per_class=1, epochs=6, min_epochs=6, patience=2)
    spec = {**next(s for s in L.run_specs(protocol)), "lr": float("inf")}   # overflows at once
    result = L.train_one(spec, RunContext(data_root=fake_root, progress=False))
    table = result.measurements
    d = int(table.diverged_epoch.iloc[0])
    assert table.epoch.tolist() == list(range(d)) and result.record["diverged_epoch"] == d
    assert L.run_selection(table)["epochs"] == d - 1


def _fake_run(store, spec, val_acc, epochs=3):
    """Store a run of `spec` whose validation accuracy peaks at `val_acc` (a fraction)."""
    rows = pd.DataFrame({"epoch": range(epochs + 1), "train_acc": 0.9, "test_acc": 0.5,
                         "val_acc": [0.5] + [val_acc] * epochs, "min_weight_after_first": 0.0})
    store.save(spec, rows, {"wall_time_s": 1.0, "device": "cpu: test"})


def test_staged_specs_tune_sample_zero_then_train_the_chosen_rate_on_every_sample(tmp_path):
    protocol = replace(L.PROFILES["quick"], tables=(1,), binary_activations=("tanh",),
                       rules=("bp", "dfa"), samples=3, init_check=None)
    store = ResultStore(tmp_path, L.NAME)
    first = L.run_specs(protocol, store)
    # BP: plain SGD at every rate of lrs, then Adam at every rate of adam_lrs; DFA: SGD only
    assert [(s["rule"], s.get("optimizer", "sgd"), s["lr"]) for s in first] == [
        *(("bp", "sgd", lr) for lr in protocol.lrs),
        *(("bp", "adam", lr) for lr in protocol.adam_lrs),
        *(("dfa", "sgd", lr) for lr in protocol.lrs)]
    assert {s["sample"] for s in first} == {0}
    assert L.run_specs(protocol) == first                    # without a store: stage 1 only
    bp = [s for s in first if s["rule"] == "bp"]
    # the best validation accuracy, 0.82, is reached by SGD at 0.03 and by Adam at 3e-4 (a
    # tie goes to plain SGD) and by SGD at 0.1 (a tie goes to the smaller rate)
    for spec, acc in zip(bp, (0.70, 0.82, 0.82, 0.75, 0.82, 0.80)):
        _fake_run(store, spec, acc)
    planned = L.run_specs(protocol, store)
    finals = [s for s in planned if s["rule"] == "bp" and s["sample"] > 0]
    assert [(s["sample"], s["lr"], s.get("optimizer")) for s in finals] == [(1, 0.03, None),
                                                                          (2, 0.03, None)]
    # bp's finals come right after its tuning runs, before dfa's cell
    assert [s["rule"] for s in planned] == ["bp"] * 8 + ["dfa"] * 3
    assert not any(s["rule"] == "dfa" and s["sample"] > 0 for s in planned)   # still tuning
    # the runs a table reports: the chosen rate's, sample 0 included once its rate is known
    for s in finals:
        _fake_run(store, s, 0.8)
    table = store.table()
    runs = L.run_summary(table)
    reported = L.final_runs(runs, protocol)
    assert sorted(reported["sample"]) == [0, 1, 2] and set(reported.lr) == {0.03}
    picks = L.chosen(runs, protocol)
    assert picks.lr.tolist() == [0.03] and picks["validation % at lr 0.01"].tolist() == [70.0]
    assert picks.optimizer.tolist() == ["sgd"]
    assert picks["validation % at lr 0.0003, adam"].tolist() == [82.0]
    assert L.planned_run_count(protocol) == (6 + 2) + (3 + 2)
    # Adam above every SGD rate: BP's further samples train with Adam at its rate
    store2 = ResultStore(tmp_path / "adam", L.NAME)
    for spec, acc in zip(bp, (0.70, 0.80, 0.75, 0.75, 0.90, 0.80)):
        _fake_run(store2, spec, acc)
    finals = [s for s in L.run_specs(protocol, store2) if s["rule"] == "bp" and s["sample"] > 0]
    assert [(s["lr"], s["optimizer"]) for s in finals] == [(3e-4, "adam")] * 2
    assert L.pick_config({("adam", 1e-3): 0.9, ("sgd", 0.1): 0.9}) == ("sgd", 0.1)


def test_measured_grid_cost_counts_only_the_grids_stored_runs(tmp_path):
    """Per table and n: runs stored of planned, summed wall time in hours, medians, epochs
    against the cap, runs per CPU; a run outside the grid (here the same cell's 20-epoch
    reading) is not counted, and a cell with nothing stored reports zero runs and no medians."""
    protocol = replace(L.PROFILES["quick"], tables=(3,), classes_cifar=(3, 5), rules=("dfa",),
                       architectures=("fc",))
    store = ResultStore(tmp_path, L.NAME)
    tuning = [s for s in L.run_specs(protocol, store) if s["n_classes"] == 3]
    assert len(tuning) == len(protocol.lrs)
    devices = ("cpu: AMD EPYC (2 cores, 1 threads)", "cpu: Intel(R) Xeon(R) Processor (2 cores)",
               "cpu: AMD EPYC (2 cores, 1 threads)")
    for spec, epochs, wall, device in zip(tuning, (100, 150, protocol.epochs),
                                          (3600.0, 5400.0, 7200.0), devices):
        rows = pd.DataFrame({"epoch": range(epochs + 1), "train_acc": 0.9, "test_acc": 0.5,
                             "val_acc": 0.5, "min_weight_after_first": 0.0})
        store.save(spec, rows, {"wall_time_s": wall, "device": device})
    outside = next(s for s in L.run_specs(replace(FIXED, tables=(3,))) if s["n_classes"] == 3)
    store.save(outside, pd.DataFrame({"epoch": range(21), "train_acc": 0.9, "test_acc": 0.5,
                                      "min_weight_after_first": 0.0}),
               {"wall_time_s": 1e6, "device": "cpu: test"})
    cost = L.measured_grid_cost(protocol, store).set_index("n")
    three, five = cost.loc[3], cost.loc[5]
    assert (three.stored, three.planned) == (3, len(protocol.lrs) + protocol.samples - 1)
    assert three.core_h_measured == pytest.approx(4.5)            # 1 + 1.5 + 2 hours
    assert three.median_h_per_run == pytest.approx(1.5)
    assert three.median_s_per_epoch == pytest.approx(36.0)        # 36, 36 and 7200 / cap
    assert (three.median_epochs, three.max_epochs, three.capped) == (150, protocol.epochs, 1)
    assert three.runs_per_device == "AMD EPYC 2, Intel Xeon 1"
    assert five.stored == 0 and five.core_h_measured == 0 and np.isnan(five.median_epochs)
    estimate = L.grid_core_hours(protocol).set_index("n")
    assert three.core_h_estimated_min == estimate.loc[3, "core_h_at_min_epochs"]


def test_selection_sweep_trains_both_stages_in_one_call_and_stops_at_the_plateau(fake_root,
                                                                                 tmp_path):
    protocol = replace(SMOKE, tables=(1,), rules=("dfa",), train_per_class=2, test_per_class=1,
                       validation_per_class=1, epochs=6, min_epochs=1, patience=2)
    store = ResultStore(tmp_path / "r", L.store_name("smoke"))
    report = run_sweep(L, protocol, store, data_root=fake_root, progress=False)
    assert not report.pending and len(report.trained) == len(protocol.lrs) + 1
    records = store.records()
    assert {r["spec"]["sample"] for r in records} == {0, 1}
    assert all(r["provenance"]["data"]["n_validation"] == 2 and
               r["provenance"]["data"]["n_train"] == 2 for r in records)
    for record, table in store.runs():
        epochs = int(table.epoch.max())
        val = table.sort_values("epoch").val_acc.tolist()
        stopped = [e for e in range(len(val)) if L.plateaued(val[:e + 1], 1, 2)]
        # it ran until the rule first fired, or to the cap
        assert epochs == (stopped[0] if stopped else protocol.epochs)
    runs = L.run_summary(store.table())
    sample1 = runs[runs["sample"] == 1]
    assert sample1.lr.tolist() == [L.chosen(runs, protocol).lr.iloc[0]]


def test_sign_test_counts_paired_wins_and_gives_the_exact_p():
    rows = []
    for sample, (a, b) in enumerate([(60, 50), (70, 65), (55, 56), (80, 70), (62, 60)]):
        rows += [{"table": 1, "n_classes": 2, "activation": "relu", "sample": sample,
                  "rule": "dfa", "test": a},
                 {"table": 1, "n_classes": 2, "activation": "relu", "sample": sample,
                  "rule": "mdfa", "test": b}]
    out = L.sign_test(pd.DataFrame(rows), "dfa", "mdfa", {"activation": "relu"})
    assert out["pairs"] == 5 and out["wins"] == 4 and out["losses"] == 1
    assert out["untied"] == 5
    assert out["p"] == pytest.approx(6 / 32)          # P(X >= 4), X ~ Binomial(5, 1/2)
    assert out["p_reverse"] == pytest.approx(31 / 32)  # P(X >= 1)
    assert out["mean_diff"] == pytest.approx((10 + 5 - 1 + 10 + 2) / 5)
    # A tie carries no sign: the untied count and both p-values leave it out.
    tied = pd.DataFrame(rows).assign(test=lambda f: f.test.where(
        ~((f["sample"] == 2) & (f.rule == "mdfa")), 55))
    out = L.sign_test(tied, "dfa", "mdfa", {})
    assert (out["pairs"], out["wins"], out["losses"], out["untied"]) == (5, 4, 0, 4)
    assert out["p"] == pytest.approx(1 / 16) and out["p_reverse"] == 1.0
    assert out["mean_diff"] == pytest.approx((10 + 5 + 0 + 10 + 2) / 5)
    assert np.isnan(L.sign_test(pd.DataFrame(rows), "dfa", "bp", {})["p"])


def test_selection_fields_refuse_bad_values_with_the_fix():
    with pytest.raises(ValueError, match="lrs must be distinct positive"):
        L.run_specs(replace(SMOKE, lrs=(0.1, 0.1)))
    with pytest.raises(ValueError, match="validation_per_class >= 1"):
        L.run_specs(replace(SMOKE, validation_per_class=0))
    with pytest.raises(ValueError, match="selection 'fixed' trains exactly"):
        L.run_specs(replace(SMOKE, selection="fixed"))
    with pytest.raises(ValueError, match="unknown selection 'test'"):
        L.run_specs(replace(SMOKE, selection="test"))
    with pytest.raises(ValueError, match="epochs is the cap"):
        L.run_specs(replace(SMOKE, min_epochs=10, epochs=4))
    with pytest.raises(ValueError, match="unknown optimizer in bp_optimizers 'rmsprop'"):
        L.run_specs(replace(SMOKE, bp_optimizers=("sgd", "rmsprop")))
    with pytest.raises(ValueError, match="set momentum=0 when bp_optimizers includes 'adam'"):
        L.run_specs(replace(SMOKE, momentum=0.9))
    with pytest.raises(ValueError, match="adam_lrs must be distinct positive"):
        L.run_specs(replace(SMOKE, adam_lrs=()))


def test_bp_runs_with_adam_train_with_adam_and_the_bp_sgd_reading_keeps_plain_sgd():
    adam = next(s for s in L.run_specs(L.PROFILES["quick"]) if s.get("optimizer") == "adam")
    config = L.train_config(adam, "cpu", False)
    assert (adam["rule"], config.optimizer, config.momentum) == ("bp", "adam", 0.0)
    assert config.lr in L.PAPER.adam_lrs
    assert L.train_config(L.run_specs(SMOKE)[0], "cpu", False).optimizer == "sgd"
    reading = L.PROFILES["bp_sgd"]
    assert L.planned_run_count(reading) == L.planned_run_count(L.PROFILES["quick"]) - 3 * sum(
        c["rule"] == "bp" for c in L._cells(reading))
    assert "BP: plain SGD or Adam" in L.describe(L.PROFILES["quick"])["schedule"]
    assert "Adam" not in L.describe(reading)["schedule"]


def test_ordering_is_shown_reversed_or_open_by_the_sign_test():
    def runs(diffs):
        rows = []
        for sample, d in enumerate(diffs):
            rows += [{"table": 1, "n_classes": 2, "activation": "tanh", "sample": sample,
                      "rule": "dfa", "test": 60.0 + d},
                     {"table": 1, "n_classes": 2, "activation": "tanh", "sample": sample,
                      "rule": "mdfa", "test": 60.0}]
        return pd.DataFrame(rows)

    assert L.ordering(runs([1, 2, 3, 4, 5]), "dfa", "mdfa", {}).endswith("; shown.")  # p = 1/32
    assert L.ordering(runs([-1, -2, -3, -4, -5]), "dfa", "mdfa", {}).endswith("; reversed.")
    assert "with 2 untied pair(s) (at least 5 are needed" in L.ordering(runs([1, 2]), "dfa",
                                                                        "mdfa", {})
    # Five pairs, one tied: four carry a sign, so no outcome can reach p < 0.05.
    assert "with 4 untied pair(s)" in L.ordering(runs([1, 2, 3, 4, 0]), "dfa", "mdfa", {})
    assert "untied" not in L.ordering(runs([1, 2, 3, -4, 5, 6]), "dfa", "mdfa", {})
    assert "tied in all 2 paired runs" in L.ordering(runs([0, 0]), "dfa", "mdfa", {})
    assert "pending" in L.ordering(runs([1])[:0], "dfa", "mdfa", {})


def _summary(cells):
    return pd.DataFrame([{"table": t, "architecture": "fc", "activation": a, "n_classes": n,
                          "rule": r, "set": split, "mean": m, "sd": sd, "stored": k,
                          "planned": 2}
                         for t, a, n, r, split, m, sd, k in cells])


def test_bp_fit_sets_each_reading_beside_the_printed_value_and_marks_cells_it_lacks():
    nan = float("nan")
    selected = _summary([(1, "tanh", 2, "bp", "train", 100.0, 0.0, 2),
                         (1, "tanh", 2, "bp", "test", 75.0, nan, 1),
                         (1, "relu", 2, "bp", "train", nan, nan, 0),
                         (1, "relu", 2, "bp", "test", nan, nan, 0),
                         (1, "tanh", 2, "dfa", "train", 90.0, 1.0, 2)])     # not BP: left out
    sgd = _summary([(1, "tanh", 2, "bp", "train", 80.0, 2.0, 2),
                    (1, "tanh", 2, "bp", "test", 70.0, 1.0, 2)])
    table = L.bp_fit(selected, sgd)
    assert list(table.columns) == ["printed (%)", "ours, selected",
                                   "reading: plain SGD only"]
    assert table.loc[(1, "tanh", 2, "training")].tolist() == [100.0, "100.0 ± 0.0 (2/2)",
                                                              "80.0 ± 2.0 (2/2)"]
    assert table.loc[(1, "tanh", 2, "test")].tolist() == [81.4, "75.0 (1/2)", "70.0 ± 1.0 (2/2)"]
    assert table.loc[(1, "relu", 2, "training")].tolist() == [100.0, "pending (0/2)",
                                                              L.NOT_IN_READING]
    assert list(L.bp_fit(selected).columns) == ["printed (%)", "ours, selected"]


def test_largest_epoch_drop_is_the_worst_fall_between_consecutive_epochs_of_the_chosen_runs():
    table = pd.DataFrame({"run_key": ["a"] * 4 + ["b"] * 3 + ["c"] * 2,
                          "epoch": [0, 2, 1, 3, 0, 1, 2, 0, 1],
                          "train_acc": [0.5, 0.6, 0.9, 0.7, 0.5, 0.8, 0.75, 0.9, 0.1]})
    # run a in epoch order: 0.5, 0.9, 0.6, 0.7 -> worst fall 30 points; b: 5; c (left out): 80
    assert L.largest_epoch_drop(table, ["a", "b"]) == pytest.approx(30.0)
    assert np.isnan(L.largest_epoch_drop(table, []))


def test_bp_cell_reads_the_selected_runs_their_chosen_optimiser_and_the_sgd_reading():
    cell = {"table": 1, "architecture": "fc", "activation": "tanh", "n_classes": 2, "rule": "bp"}
    selected = _summary([(1, "tanh", 2, "bp", "train", 99.5, 0.5, 2),
                         (1, "tanh", 2, "bp", "test", 78.0, 1.0, 2)])
    sgd = _summary([(1, "tanh", 2, "bp", "train", 86.0, 1.0, 2),
                    (1, "tanh", 2, "bp", "test", 70.0, 1.0, 2)])
    per_run = pd.DataFrame([{**cell, "sample": 0, "lr": lr, "optimizer": opt,
                             "init": "appendix_b3", "validation": v, "epochs": 110,
                             "epoch": 85, "capped": False}
                            for opt, lr, v in (("sgd", 0.01, 84.0), ("sgd", 0.03, 85.0),
                                               ("sgd", 0.1, 85.0), ("adam", 1e-4, 87.0),
                                               ("adam", 3e-4, 90.0), ("adam", 1e-3, 90.0))])
    tuned = SimpleNamespace(protocol=L.PROFILES["quick"])
    runs = L.ChapterRuns(tuned, None, None, selected, per_run, None, bp_sgd=sgd)
    assert L.bp_cell(runs, 1) == {"train": 99.5, "test": 78.0, "stored": 2, "optimizer": "adam",
                                  "lr": 3e-4, "sgd_train": 86.0, "sgd_test": 70.0,
                                  "optimizer_name": "Adam"}
    missing = L.bp_cell(runs, 3, n_classes=3)
    assert missing["stored"] == 0 and np.isnan(missing["train"]) and missing["optimizer"] is None
    assert missing["optimizer_name"] == "not chosen yet"


def test_fit_check_reads_one_column_marks_pending_rules_and_names_unplanned_ones():
    nan = float("nan")
    ours = _summary([(2, "relu", 2, "bp", "train", 99.25, 0.5, 2),
                     (2, "relu", 2, "bp", "test", 70.0, 1.0, 2),
                     (2, "relu", 2, "mdfa", "train", nan, nan, 0),
                     (2, "relu", 2, "mdfa", "test", nan, nan, 0),
                     (2, "tanh", 2, "bp", "train", 50.0, 0.0, 2),      # another activation
                     (2, "tanh", 2, "bp", "test", 50.0, 0.0, 2),
                     (5, "tanh", 3, "dfa", "train", 60.0, 1.0, 1),
                     (5, "tanh", 3, "dfa", "test", 40.0, 1.0, 1)])
    text = L.fit_check(ours, 2, 2, activation="relu")
    assert text.startswith("Selected runs, Table 2 (FC, relu)") and "chance 50.0%" in text
    assert "BP 99.2% (validation 70.0%, 2/2); mDFA pending (0/2)." in text
    assert "50.0% (validation" not in text and "the text prints as validation, ours on test images" in text
    classes = L.fit_check(ours, 5, 3)
    assert "Table 5 at n = 3" in classes and "chance 33.3%" in classes
    assert "DFA 60.0% (validation 40.0%, 1/2)." in classes
    assert "in brackets test accuracy;" in L.fit_check(ours.assign(table=3), 3, 3)
    assert L.fit_check(ours, 5, 10) == "Table 5 at n = 10 is not planned at this profile."


def test_kendall_falls_counts_falling_minus_rising_pairs_at_different_n():
    n = np.array([3, 3, 5, 10])
    # Pairs at different n: 80 > 60, 80 > 65, 70 > 60, 70 > 65 fall; 60 < 65 rises.
    assert int(L.kendall_falls(n, np.array([80.0, 70.0, 60.0, 65.0]))) == 3
    assert int(L.kendall_falls(n, np.array([50.0, 50.0, 50.0, 50.0]))) == 0      # ties count neither
    stacked = L.kendall_falls(n, np.array([[80.0, 70.0, 60.0, 65.0], [60.0, 65.0, 70.0, 80.0]]))
    assert stacked.tolist() == [3, -5]                  # the second rises in every pair


def _class_runs(values):
    """runs of Table 3: {rule: [(n, sample, train, test), ...]}."""
    return pd.DataFrame([{"table": 3, "architecture": "fc", "activation": "tanh",
                          "n_classes": n, "rule": rule, "sample": k, "train": tr, "test": te}
                         for rule, rows in values.items() for n, k, tr, te in rows])


def test_trend_test_finds_a_falling_fit_rejects_a_rising_one_and_reproduces():
    falling = {r: [(3, 0, 80.0, 60.0), (3, 1, 78.0, 60.0), (5, 0, 70.0, 50.0),
                   (5, 1, 68.0, 50.0), (10, 0, 60.0, 40.0), (10, 1, 58.0, 40.0)]
               for r in ("dfa", "fa", "mdfa")}
    t = L.trend_test(_class_runs(falling), ("dfa", "fa", "mdfa"))
    assert t["S"] == {"dfa": 12, "fa": 12, "mdfa": 12} and t["total"] == t["max"] == 36
    assert t["runs"] == 18 and t["p"] < 0.001 and t["p_rise"] > 0.99
    assert L.trend_test(_class_runs(falling), ("dfa", "fa", "mdfa")) == t        # seeded
    rising = {r: [(n, k, 200.0 - tr, te) for n, k, tr, te in rows] for r, rows in falling.items()}
    back = L.trend_test(_class_runs(rising), ("dfa", "fa", "mdfa"))
    assert back["total"] == -36 and back["p_rise"] < 0.001 and back["p"] > 0.99
    one_n = _class_runs({"fa": [(3, 0, 80.0, 60.0), (3, 1, 70.0, 60.0)]})
    assert np.isnan(L.trend_test(one_n, ("fa",))["p"])


def test_n_class_claims_are_decided_by_their_stated_tests():
    from falign import registry

    rows = {"bp": [(n, k, 100.0, 50.0) for n in (3, 5, 10) for k in (0, 1)],
            **{r: [(n, k, 90.0 - n, 100.0 / n - 1.0) for n in (3, 5, 10) for k in (0, 1)]
               for r in ("dfa", "fa", "mdfa")}}
    runs = _class_runs(rows)
    learns = registry.lechner_class_claim("mdfa_learns", runs)
    assert learns["status"] == registry.DIFFERS and "in 0 of 6 runs" in learns["ours"]
    fits = registry.lechner_class_claim("bp_fits_fa_rules_less", runs)
    assert fits["status"] == registry.REPRODUCED and "mDFA 6 of 6" in fits["ours"]
    # One rule alone, even decided, is not the claim about all three.
    only_fa = _class_runs({"bp": rows["bp"], "fa": [(n, k, 99.0, 50.0) for n in (3, 5)
                                                     for k in (0, 1)]})
    assert registry.lechner_class_claim("bp_fits_fa_rules_less", only_fa)["status"] == \
        registry.UNDECIDED
    falls = registry.lechner_class_claim("fit_falls_with_n", runs)
    assert falls["status"] == registry.REPRODUCED and "S = +36 of at most 36" in falls["ours"]
    assert registry.lechner_class_claim("fit_falls_with_n", runs.iloc[:0])["status"] == \
        registry.PENDING
    # Each claim names the n of the runs it counts: mDFA stored at n = 3 and 5 only.
    lagging = _class_runs({**rows, "mdfa": [r for r in rows["mdfa"] if r[0] < 10]})
    assert "in 0 of 4 runs (n = 3, 5)" in registry.lechner_class_claim("mdfa_learns",
                                                                       lagging)["ours"]
    assert "(n = 3, 5, 10)" in registry.lechner_class_claim("bp_fits_fa_rules_less",
                                                            lagging)["ours"]
    with pytest.raises(ValueError, match="unknown n-class claim 'fits'"):
        registry.lechner_class_claim("fits", runs)
