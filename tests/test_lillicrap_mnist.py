"""The Lillicrap et al. 2016 MNIST family (Supp. Notes 5 and 9, Supp. Fig. 5): the shallow
control, the +-0.9 targets and squared error, the learning-rate steps, z-scoring with training
statistics, FA's feedback scale, reproducible stored smoke runs and their receptive fields."""
import json
import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from falign.data import mnist_available
from falign.families import lillicrap_mnist as L
from falign.measurements import weight_layers
from falign.store import ResultStore, spec_key
from falign.sweep import RunContext, run_sweep
from falign.training import PlateauRule, PlateauState, TrainingPaused

needs_mnist = pytest.mark.skipif(not mnist_available(), reason="MNIST not in the data root")
ONE_NET = replace(L.PROFILES["smoke"], nets=(("784-1000-10", ("fa", "bp", "shallow")),))


def smoke_spec(rule):
    return next(s for s in L.run_specs(ONE_NET) if s["rule"] == rule)


def test_targets_are_exactly_plus_minus_0_9_and_the_loss_is_half_the_squared_error():
    labels = torch.tensor([3, 0, 9, 3])
    t = L.pm_targets(labels)
    v = torch.tensor(0.9).item()                      # 0.9 in float32, the networks' dtype
    assert set(t.unique().tolist()) == {-v, v} and t.dtype == torch.float32
    assert torch.equal(t == 0.9, torch.nn.functional.one_hot(labels, 10).bool())
    assert torch.equal(t[0], torch.tensor([-0.9] * 3 + [0.9] + [-0.9] * 6))
    out = torch.linspace(-1, 1, 40).reshape(4, 10)
    loss = L.squared_error(0.9)
    hand = 0.5 * ((out - t) ** 2).sum(1)
    assert loss(out, labels, "sum").item() == pytest.approx(hand.sum().item(), rel=1e-6)
    assert loss(out, labels, "mean").item() == pytest.approx(hand.mean().item(), rel=1e-6)
    # float targets (an autoencoder's images) are used as they are
    assert loss(out, out.clone(), "sum").item() == 0.0


def test_the_twelve_epoch_reading_steps_after_epochs_8_and_10():
    twelve = L.READINGS["twelve_epochs"]
    cfg = L.train_config(L.run_specs(twelve)[0], "cpu", False)
    rates = [cfg.lr_at(e) for e in range(twelve.epochs)]
    assert rates == pytest.approx([1e-2] * 8 + [1e-3] * 2 + [1e-4] * 2, rel=1e-12)
    assert (cfg.batch_size, cfg.weight_decay, cfg.momentum) == (100, 1e-6, 0.0)
    assert cfg.plateau is None


def test_the_paper_schedule_is_the_plateau_rule_with_its_stated_parameters():
    cfg = L.train_config(L.run_specs(L.PAPER)[0], "cpu", False)
    assert cfg.plateau == PlateauRule(margin=0.05, patience=3, stages=3, monitor="train_error")
    assert (cfg.lr, cfg.gamma, cfg.milestones, cfg.epochs) == (1e-3, 0.1, (), 300)
    ae = next(s for s in L.run_specs(L.PAPER) if L.task_of(s["arch"]) == "autoencode")
    assert L.plateau_rule(ae).monitor == "train_loss"      # no accuracy to monitor
    patient = L.plateau_rule(L.run_specs(L.READINGS["patient_plateau"])[0])
    assert (patient.margin, patient.patience) == (0.02, 5)
    with pytest.raises(ValueError, match="no milestones"):
        replace(L.PAPER, milestones=(8, 10))
    with pytest.raises(ValueError, match="plateau or milestones"):
        replace(L.PAPER, schedule="cosine")
    with pytest.raises(ValueError, match="margin must be in"):
        PlateauRule(margin=1.5, patience=3)


def test_plateau_state_drops_after_patience_epochs_without_a_margin_improvement():
    rule = PlateauRule(margin=0.1, patience=2, stages=2)
    state, ends = PlateauState(), []
    # 10 -> 8 improves; 7.5 is within 10% of 8 (not an improvement), 7.3 too: stage ends
    for value in (10, 8, 7.5, 7.3, 6.0, 5.9, 5.8):
        ends.append(state.update(value, rule))
    assert ends == [False, False, False, True, False, False, True]
    assert state.stage == 2 and state.best == 6.0
    # a best of 0 cannot be beaten: the stage ends after `patience` epochs
    zero = PlateauState(best=0.0)
    assert [zero.update(0.0, rule) for _ in range(2)] == [False, True]


def test_every_stored_run_keeps_its_key_under_a_profile_or_named_reading():
    folder = Path(__file__).resolve().parents[1] / "results" / L.store_name("paper")
    stored = {json.loads(p.read_text())["key"]: json.loads(p.read_text())["spec"]
              for p in folder.glob("*/run.json")}
    known = {spec_key(s) for p in ("paper", "quick", "readings") for s in
             L.run_specs(L.PROFILES[p])}
    known |= {spec_key(s) for r in L.READINGS.values() for s in L.run_specs(r)}
    assert set(stored) <= known, "stored runs no profile or reading reproduces"
    twelve = {spec_key(s) for s in L.run_specs(L.READINGS["twelve_epochs"])}
    for key, spec in stored.items():
        assert spec_key(spec) == key
        if "schedule" not in spec:                         # stored before the field existed
            assert key in twelve and spec["epochs"] == 12


def test_zscoring_uses_training_statistics_only():
    gen = torch.Generator().manual_seed(0)
    train_x = torch.rand(500, 6, generator=gen) * torch.tensor([1, 2, 3, 4, 5, 0.0]) + 7
    test_x = torch.rand(100, 6, generator=gen) * 10
    z, zt = L.zscore(train_x, test_x)
    assert torch.allclose(z[:, :5].mean(0), torch.zeros(5), atol=1e-5)
    assert torch.allclose(z[:, :5].std(0), torch.ones(5), atol=1e-5)
    assert torch.equal(z[:, 5], torch.zeros(500))                 # constant pixel: only centred
    mean, std = train_x.mean(0), train_x.std(0)
    assert torch.allclose(zt[:, :5], (test_x[:, :5] - mean[:5]) / std[:5])
    assert not torch.allclose(zt.mean(0), torch.zeros(6), atol=0.1)  # not the test set's own
    g, gt = L.zscore(train_x, test_x, "global")
    assert g.mean().item() == pytest.approx(0, abs=1e-5)
    assert g.std().item() == pytest.approx(1, abs=1e-5)
    with pytest.raises(ValueError, match="pixel or global"):
        L.zscore(train_x, test_x, "per_image")


def test_unknown_architecture_names_the_valid_ones():
    with pytest.raises(ValueError, match="784-1000-10.*784-1500x3-10.*784-1000x10-10"):
        L.layer_sizes("784-800-10")
    with pytest.raises(ValueError, match="784-1000x5-784"):
        L.build_model({**L.run_specs(L.PAPER)[0], "arch": "784-1000x3-10"})
    assert L.layer_sizes("784-1000-500-10-500-1000-784", 0.1) == (784, 100, 50, 10, 50, 100, 784)


def test_fa_feedback_keeps_the_error_size_and_bp_uses_w():
    spec = L.run_specs(L.PAPER)[0]
    fa = L.build_model({**spec, "rule": "fa"})
    bp = L.build_model({**spec, "rule": "bp"})
    for f, b in zip(weight_layers(fa), weight_layers(bp)):
        assert torch.equal(f.weight, b.weight)                      # same forward init
        bound = math.sqrt(3.0 / f.weight.shape[0])
        assert f.feedback.abs().max() <= bound < 1.05 * f.feedback.abs().max()
        assert torch.equal(b.feedback, b.weight)
    # e B has, per hidden unit, about the size of e: Var(B) = 1/n_out
    e = torch.randn(4000, 10, generator=torch.Generator().manual_seed(1))
    sent = e @ weight_layers(fa)[1].feedback
    assert sent.std().item() == pytest.approx(1.0, rel=0.05)


@pytest.fixture(scope="module")
def smoke_store(tmp_path_factory):
    if not mnist_available():
        pytest.skip("MNIST not in the data root")
    store = ResultStore(tmp_path_factory.mktemp("lm"), L.store_name("smoke"))
    run_sweep(L, ONE_NET, store)
    return store


@needs_mnist
def test_shallow_control_leaves_every_hidden_layer_bit_identical(smoke_store):
    for rule in ("shallow", "fa", "bp"):
        spec = smoke_spec(rule)
        record, table = smoke_store.load(spec)
        rf = L.stored_receptive_fields(record)
        before, after = rf[0], rf[record["provenance"]["schedule"]["epochs_used"]]
        if rule == "shallow":
            assert np.array_equal(before, after)
            model = L.build_model(spec)
            assert [p.requires_grad for p in model.parameters()] == [False, False, True, True]
            # the output layer did learn
            assert table.weight_norm_2.iloc[-1] != table.weight_norm_2.iloc[0]
            assert table.weight_norm_1.nunique() == 1
        else:
            assert not np.array_equal(before, after)


@needs_mnist
def test_receptive_fields_have_shape_100x28x28_and_start_at_the_initial_weights(smoke_store):
    spec = smoke_spec("fa")
    record, _ = smoke_store.load(spec)
    rf = L.stored_receptive_fields(record)
    assert sorted(rf) == [0, record["provenance"]["schedule"]["epochs_used"]]
    assert all(a.shape == (100, 28, 28) for a in rf.values())
    units = record["provenance"]["receptive_fields"]["units"]
    assert units == L.rf_units(spec) and len(set(units)) == 100
    w0 = weight_layers(L.build_model(spec))[0].weight.detach()[units].reshape(100, 28, 28)
    assert np.array_equal(rf[0], w0.numpy().astype(np.float16).astype(np.float32))


@needs_mnist
def test_a_smoke_run_is_reproducible_and_its_rates_follow_the_plateau_rule(smoke_store):
    spec = smoke_spec("fa")
    record, table = smoke_store.load(spec)
    assert record["spec"] == json.loads(json.dumps(spec)) and record["key"] == spec_key(spec)
    last = record["provenance"]["schedule"]["epochs_used"]
    assert table.epoch.tolist() == list(range(last + 1))
    # Replaying the rule on the stored training errors gives the stored rates, epoch by epoch
    rule, state, rates = L.plateau_rule(spec), PlateauState(), []
    for err in table.train_error.iloc[1:] / 100:
        rates.append(spec["lr"] * spec["gamma"] ** state.stage)
        state.update(err, rule)
    assert table.lr.tolist()[1:] == pytest.approx(rates, rel=1e-12)
    assert table.rate.tolist() == table.lr.tolist()        # the rate under its own name
    stopped = record["provenance"]["schedule"]["stopped_by"]
    assert (stopped == "plateau rule") == (state.stage == rule.stages)
    assert stopped == "plateau rule" or last == spec["epochs"]
    again = L.train_one(spec, RunContext()).measurements
    cols = ["train_loss", "test_loss", "test_error", "weight_norm_1", "cos_wb_2"]
    assert np.allclose(table[cols].to_numpy(), again[cols].to_numpy(), rtol=1e-6, atol=0)
    assert table.test_error.between(0, 100).all()


def test_quick_is_the_paper_rule_in_the_queue_order_of_the_issue():
    quick = L.PROFILES["quick"]
    assert replace(quick, nets=L.PAPER.nets, repeats=L.PAPER.repeats) == L.PAPER
    specs = L.run_specs(quick)
    keys = [spec_key(s) for s in specs]
    assert len(set(keys)) == len(keys)
    paper_keys = {spec_key(s) for s in L.run_specs(L.PAPER)}
    patient = {spec_key(s) for s in L.run_specs(L.READINGS["patient_plateau"])}
    assert set(keys) <= paper_keys | patient
    # first the 784-1000-10 net at the paper's five repeats, repeat-major ...
    head = [(s["repeat"], s["rule"]) for s in specs[:15]]
    assert head == [(k, r) for k in range(5) for r in ("fa", "bp", "shallow")]
    assert all(s["arch"] == "784-1000-10" for s in specs[:15])
    # ... then the sensitivity reading, then the deeper nets that fit the CPU, two repeats
    assert set(keys[15:18]) == patient
    deep = specs[18:]
    assert {s["arch"] for s in deep} == {a for a, _ in L.cpu_nets()}
    assert [s["repeat"] for s in deep] == sorted(s["repeat"] for s in deep) and \
        {s["repeat"] for s in deep} == {0, 1}
    for arch, _ in L.cpu_nets():
        assert L.estimated_run_hours(arch) < L.CPU_HOURS_LIMIT
    for arch, _ in L.PAPER_NETS[1:]:
        if arch not in {a for a, _ in L.cpu_nets()}:
            assert L.estimated_run_hours(arch) >= L.CPU_HOURS_LIMIT
    assert L.store_name("quick") == L.store_name("paper") == L.store_name("readings") \
        != L.store_name("smoke")
    assert (L.PAPER.repeats, L.PAPER.batch_size, L.PAPER.lr, L.PAPER.weight_decay,
            L.PAPER.target) == (5, 100, 1e-3, 1e-6, 0.9)
    assert L.TEXT_EXAMPLE.lr == 1e-2 and replace(L.PAPER, lr=1e-2) == L.TEXT_EXAMPLE


def test_each_item5_reading_changes_exactly_its_field_on_one_repeat():
    example = replace(L.TEXT_EXAMPLE, nets=L.ONE_HIDDEN, repeats=1)
    protocol = replace(L.PAPER, nets=L.ONE_HIDDEN, repeats=1)
    # (the protocol it changes, what it changes)
    changed = {"initial_step": (example, {"lr": 1e-3}),
               "mean_loss": (example, {"loss_reduction": "mean"}),
               "feedback_fan_in": (example, {"feedback_init": "fan_in"}),
               "linear_outputs": (example, {"output_activation": "linear"}),
               "linear_outputs_1e-3": (protocol, {"output_activation": "linear"})}
    assert set(changed) == set(L.ITEM5_READINGS)
    for name in L.ITEM5_READINGS:
        reading = L.READINGS[name]
        assert reading.repeats == 1
        base, expected = changed[name]
        diff = {k: getattr(reading, k) for k in reading.__dataclass_fields__
                if k != "nets" and getattr(reading, k) != getattr(base, k)}
        assert diff == expected, name
    readings = L.run_specs(L.PROFILES["readings"])
    assert len(readings) == len({spec_key(s) for s in readings}) == 9
    # the step reading's runs are the protocol's repeat 0 since the step was chosen; no other
    # reading shares a run with the protocol
    shared = {spec_key(s) for s in readings} & {spec_key(s) for s in L.run_specs(L.PAPER)}
    assert shared == {spec_key(s) for s in L.run_specs(L.READINGS["initial_step"])}


def test_the_protocol_first_step_is_the_one_the_stored_runs_select():
    """STEP_RULE over the stored repeat-0 runs (training error only) picks PAPER.lr; the
    former protocol's runs (first rate 1e-2) are the reading first_step_1e-2."""
    from falign.store import ResultStore
    store = ResultStore(Path(__file__).resolve().parents[1] / "results", L.store_name("paper"))
    table, chosen = L.step_selection(store)
    assert chosen == L.PAPER.lr
    assert set(table["first rate"]) == set(L.STEP_CANDIDATES) and len(table) == 4
    assert "not used" in " ".join(table.columns)      # the test error is shown, never compared
    assert L.READINGS["first_step_1e-2"] == replace(L.PAPER, nets=L.ONE_HIDDEN, lr=1e-2)


def test_saturated_fraction_counts_tanh_units_beyond_0_99_and_not_the_outputs():
    spec = {**smoke_spec("bp"), "rule": "bp"}
    model = L.build_model(spec)
    x = torch.randn(50, 784, generator=torch.Generator().manual_seed(0))
    hidden = L.saturated_fractions(model, x)
    assert list(hidden) == ["saturated_1"]                   # one hidden layer; outputs left out
    with torch.no_grad():
        h = torch.tanh(x @ model[0].weight.T + model[0].bias)
    assert hidden["saturated_1"] == pytest.approx(float((h.abs() > 0.99).double().mean()))
    with torch.no_grad():
        model[0].weight.mul_(1000.0)
    assert L.saturated_fractions(model, x)["saturated_1"] > 0.95
    with torch.no_grad():
        model[0].weight.zero_(), model[0].bias.zero_()
    assert L.saturated_fractions(model, x)["saturated_1"] == 0.0


@needs_mnist
def test_a_diverging_run_is_stored_as_a_result_with_the_epoch_it_diverged_in():
    """Linear outputs under a step far too large: the summed loss overflows within a few
    epochs; the run returns the epochs measured before it and the epoch it diverged in,
    instead of stopping the queue."""
    spec = {**smoke_spec("bp"), "output_activation": "linear", "lr": 1e6}
    result = L.train_one(spec, RunContext())
    table = result.measurements
    d = int(table.diverged_epoch.iloc[0])
    assert 1 <= d < spec["epochs"] and (table.diverged_epoch == d).all()
    assert table.epoch.tolist() == list(range(d))     # every epoch before it, measured
    assert result.record["schedule"] == {"epochs_used": d - 1, "stopped_by": "divergence",
                                         "diverged_epoch": d}
    assert list(result.record["receptive_fields"]["data"]) == ["0"]


@needs_mnist
def test_a_run_paused_every_epoch_and_resumed_ends_identical_to_an_uninterrupted_one(tmp_path):
    spec = smoke_spec("fa")
    whole = L.train_one(spec, RunContext()).measurements
    ctx = RunContext(checkpoints=tmp_path, deadline=time.monotonic() - 1.0)   # pause at once
    pauses, states = 0, []
    while True:
        try:
            pieced = L.train_one(spec, ctx)
            break
        except TrainingPaused:
            pauses += 1
            saved = torch.load(ctx.checkpoint(spec), weights_only=False)
            states.append(saved["plateau"])
    assert pauses == len(whole) - 2                  # paused after every epoch but the last
    assert set(states[-1]) == {"stage", "best", "since_best"}
    assert [s["stage"] for s in states] == sorted(s["stage"] for s in states)
    assert states[-1]["stage"] >= 1                   # the checkpoints crossed a rate drop
    table = pieced.measurements
    assert table.drop(columns=[]).equals(whole)
    assert pieced.record["resumed"] == pauses
    assert pieced.record["schedule"] == L.train_one(spec, RunContext()).record["schedule"]


def test_receptive_field_smoothness_is_0_for_noise_and_1_for_ramps():
    rng = np.random.default_rng(0)
    assert abs(L.rf_smoothness(rng.uniform(-1, 1, (100, 28, 28)))) < 0.02
    ramp = np.add.outer(np.arange(28.0), np.arange(28.0))[None] * np.array([1, -2, 5])[:, None, None]
    assert L.rf_smoothness(ramp) == pytest.approx(1.0)
    a = rng.normal(size=(5, 28, 28))
    assert L.rf_change(a, a) == 0.0 and L.rf_change(a, 2 * a) == pytest.approx(1.0)


def test_permutation_test_is_exact_and_refuses_single_runs():
    # 3 + 3 fully separated values: only the observed split and its mirror are as extreme
    assert L.permutation_test([1.0, 2.0, 3.0], [10.0, 11.0, 12.0]) == pytest.approx(2 / 20)
    assert L.permutation_test([1.0, 2.0, 3.0, 4.0, 5.0], [6.0, 7, 8, 9, 10]) == \
        pytest.approx(2 / 252)
    assert L.permutation_test([1.0, 2.0], [1.0, 2.0]) == 1.0
    with pytest.raises(ValueError, match="at least 2 values"):
        L.permutation_test([1.0], [2.0, 3.0])


def _fake_runs(rates_by_run):
    """A measurements table with the given per-epoch rates (epoch 0 included)."""
    import pandas as pd

    rows = []
    for i, (rule, rates) in enumerate(rates_by_run):
        for epoch, lr in enumerate(rates):
            rows.append({"run_key": f"k{i}", "arch": "784-1000-10", "rule": rule, "repeat": i,
                         "epoch": epoch, "rate": lr, "test_error": 10.0 / (epoch + 1),
                         "train_error": 9.0 / (epoch + 1)})
    return pd.DataFrame(rows)


def test_stage_boundaries_and_epochs_per_stage_follow_the_rate_column():
    table = _fake_runs([("fa", [1e-2] * 5 + [1e-3] * 2 + [1e-4] * 3),
                        ("bp", [1e-2] * 3 + [1e-3] * 3)])
    assert L.stage_boundaries(table) == {"k0": [4, 6], "k1": [2]}
    used = L.epochs_used(table).set_index("rule")
    assert used.loc["fa", ["stage 1", "stage 2", "stage 3", "epochs"]].tolist() == [4, 2, 3, 9]
    assert used.loc["bp", ["stage 1", "stage 2", "stage 3", "epochs"]].tolist() == [2, 3, 0, 5]
    assert L.converged_epochs(table) == 7.0                      # median of 9 and 5


def test_an_ordering_needs_the_permutation_test_not_the_sign_of_one_difference():
    import pandas as pd

    rows = [{"run_key": f"{r}{k}", "arch": "784-1000-10", "rule": r, "repeat": k, "epoch": 1,
             "test_error": v} for r, vals in (("fa", [2.0, 2.1]), ("bp", [3.0, 3.1]))
            for k, v in enumerate(vals)]
    two = pd.DataFrame(rows)
    assert L.rule_order(two, "784-1000-10").startswith("not separated")   # 2 + 2: p >= 1/3
    five = pd.DataFrame([{**row, "run_key": f"{row['run_key']}{j}", "repeat": j * 2 + row["repeat"],
                          "test_error": row["test_error"] + 0.01 * j}
                         for row in rows for j in range(3)])
    five = five[five.repeat < 5]
    assert L.rule_order(five, "784-1000-10").startswith("FA lower")
    assert L.rule_order(two.iloc[:1], "784-1000-10").startswith("not tested")


def test_the_chapters_load_an_empty_profile_and_figure5_falls_back_to_the_12_epoch_reading(
        tmp_path):
    results = Path(__file__).resolve().parents[1] / "results"
    empty = L.load_runs("paper", tmp_path)
    assert empty.stored == 0 and len(empty.table) == 0
    assert int(empty.cells.planned.sum()) == len(L.run_specs(L.PAPER)) == empty.expected
    table = L.closing_table(empty, L.reading_table(empty.store, "twelve_epochs"), [])
    assert table["ours, plateau rule"].str.startswith("pending (0/5)").all()
    assert table["ours, 12 epochs"].eq("not run").all()
    stored = L.load_runs("paper", results)
    if stored.stored == 0 and len(L.reading_table(stored.store, "twelve_epochs")):
        fig = L.figure5_runs("paper", results)
        assert fig["source"] == "12-epoch reading"
        assert set(fig["fields"]) == {"repeat", "initial", "fa", "bp", "shallow"}
        assert fig["last_epoch"] == {"fa": 12, "bp": 12, "shallow": 12}
        assert fig["boundaries"] == {r: [8, 10] for r in ("fa", "bp", "shallow")}
        assert fig["planned"] == {"fa": 5, "bp": 5, "shallow": 5}


@needs_mnist
def test_figure5_runs_take_the_converged_runs_once_a_repeat_is_complete(smoke_store):
    fig = L.figure5_runs("smoke", smoke_store.folder.parent)
    assert fig["source"] == "plateau rule"
    last = fig["last_epoch"]
    for rule in L.RULES:
        record, table = smoke_store.load(smoke_spec(rule))
        assert last[rule] == int(table.epoch.max())
        assert np.array_equal(fig["fields"][rule], L.stored_receptive_fields(record)[last[rule]])


@needs_mnist
def test_a_run_that_stalls_restarts_from_its_initialisation_at_a_tenth_of_the_rate():
    """At a first rate of 1 the smoke net's tanh units saturate in epoch 1 and its training
    error stays above its initial value until the first stage ends (epoch 2, patience 1):
    the rule restarts it at 0.1, where it learns; the record lists the stalled attempt, and
    the measurements are the restart's."""
    spec = {**smoke_spec("fa"), "lr": 1.0}
    assert L.first_rates(spec) == [1.0, 0.1, pytest.approx(0.01)]
    result = L.train_one(spec, RunContext(progress=False))
    schedule = result.record["schedule"]
    assert schedule["first_rate"] == 0.1 and schedule["stopped_by"] == "plateau rule"
    [stalled] = schedule["stalled_attempts"]
    assert stalled["lr"] == 1.0 and stalled["epochs"] == spec["plateau_patience"] + 1
    assert stalled["train_error_last"] >= stalled["train_error_initial"]
    table = result.measurements
    assert table.rate.iloc[0] == 0.1 and table.train_error.min() < stalled["train_error_initial"]


@needs_mnist
def test_a_run_that_stalls_at_every_allowed_rate_is_stored_as_not_started():
    spec = {**smoke_spec("bp"), "lr": 1e3}
    result = L.train_one(spec, RunContext(progress=False))
    schedule = result.record["schedule"]
    assert schedule["stopped_by"] == "did not start learning"
    assert [a["lr"] for a in schedule["stalled_attempts"]] == [1e3, 1e2, 1e1]
    assert all(a["saturated_last_hidden"] > 0.9 for a in schedule["stalled_attempts"])
    assert list(result.record["receptive_fields"]["data"]) == ["0"]
    assert L.first_rates({**spec, "schedule": "milestones"}) == [1e3]     # no stall rule there


def test_an_autoencoder_has_started_only_once_it_beats_the_mean_image():
    """The autoencoders' start reference is the mean training image's loss less BEAT_MARGIN
    (float64, hand-checked on a 2-image set); classification keeps its initial value."""
    x = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    # mean image (1, 2): each image is off by (1, 1), squared error 2, loss 1
    assert L.mean_image_loss(x) == 1.0
    ae = {**smoke_spec("fa"), "arch": "784-1000x5-784"}
    assert L.start_reference(ae, x) == (1.0, 1.0 - L.BEAT_MARGIN)
    assert L.start_reference(L.run_specs(L.PAPER)[0], x) == (None, 0.5)    # ADDED's value
    assert L.start_reference(smoke_spec("fa"), x) == (None, 1.0)
    rule = L.plateau_rule({**smoke_spec("fa"), "arch": "784-1000x5-784"}, start=(0.5, 0.99))
    assert rule.monitor == "train_loss" and (rule.start_below, rule.start_fraction) == (0.5, 0.99)


@needs_mnist
def test_an_autoencoder_that_only_learns_the_mean_image_stalls_and_says_against_what():
    """The narrow smoke autoencoder at a first rate of 1e3 saturates at once: every attempt
    stalls against the mean-image reference, which the record keeps, layer by layer."""
    spec = {**smoke_spec("bp"), "arch": "784-1000-500-10-500-1000-784", "lr": 1e3}
    result = L.train_one(spec, RunContext(progress=False))
    schedule = result.record["schedule"]
    assert schedule["stopped_by"] == L.NOT_STARTED
    below, fraction = L.start_reference(spec, L.run_data(
        "autoencode", spec["input_scaling"], spec["n_train"], spec["n_test"])[0][0])
    for attempt in schedule["stalled_attempts"]:
        assert attempt["start"] == {"reference": round(below, 4), "fraction": fraction}
        assert attempt["train_loss_last"] >= fraction * below
        assert len(attempt["saturated_hidden"]) == 5


def test_every_stored_plateau_run_started_at_its_first_rate_or_records_its_restarts():
    """stalled_restarts and start_fraction joined the protocol after runs were stored, with
    the values in ADDED: that is honest only if none of the runs stored before them would
    have stalled.  So every stored run either beat its start threshold within its first
    stage at the spec's first rate, or (trained since) records its stalled attempts, each a
    tenth of the one before, and started its stored epochs at the rate after the last of
    them.  Nor do the profiles' keys carry the fields.  "Started" is start_reference's: a
    classifier's training error below start_fraction of its initial value, an autoencoder's
    loss below the mean image's (its record keeps it), whatever the run's age."""
    from falign.store import ResultStore
    store = ResultStore(Path(__file__).resolve().parents[1] / "results", L.store_name("paper"))
    checked = restarted = 0
    for record, run in store.runs():
        spec = L.full_spec(record["spec"])
        schedule = record["provenance"].get("schedule", {})
        if spec["schedule"] != "plateau" or schedule.get("stopped_by") == "divergence":
            continue
        run = run.sort_values("epoch")
        stalled = schedule.get("stalled_attempts", [])
        if L.task_of(spec["arch"]) == "autoencode":
            # every attempt against the same mean image, at the margin of the rule
            starts = {(a["start"]["reference"], a["start"]["fraction"]) for a in stalled}
            if schedule["stopped_by"] != L.NOT_STARTED:
                starts.add((schedule["start"]["reference"], schedule["start"]["fraction"]))
            assert len(starts) == 1, record["key"]
            reference, fraction = starts.pop()
            assert fraction == 1.0 - L.BEAT_MARGIN
            value = run.train_loss
        else:
            # runs stored before start_fraction record no start: it holds for them too
            value = 1.0 - run.train_acc
            reference, fraction = value.iloc[0], spec["start_fraction"]
        rates = L.first_rates(spec)
        assert [a["lr"] for a in stalled] == rates[:len(stalled)], record["key"]
        if schedule["stopped_by"] != L.NOT_STARTED:
            assert run.rate.iloc[0] == pytest.approx(rates[len(stalled)])
            # started within the first stage (the epochs at the first rate)
            stage1 = (run.epoch > 0) & ((run.rate / run.rate.iloc[0] - 1).abs() < 1e-9)
            assert (value[stage1] < fraction * reference).any(), record["key"]
        restarted += bool(stalled)
        checked += 1
    assert checked - restarted >= 20          # the runs stored before the field, all started
    for profile in ("paper", "quick", "readings"):
        assert not any("stalled_restarts" in s or "start_fraction" in s
                       for s in L.run_specs(L.PROFILES[profile]))


def test_the_results_table_counts_runs_that_did_not_start_apart():
    """Two stored 784-1000x10-10 FA runs, one of which stalled at every rate: the cell gives
    the mean of both final errors (the protocol's outcome) and says that one did not start;
    a run that learned is not counted; epochs_used gives each run's first rate."""
    import pandas as pd
    rows = []
    for key, error, stuck, rate in (("a", 2.0, 0, 1e-4), ("b", 95.5, 1, 1e-5)):
        for epoch in (0, 1, 2, 3):
            rows.append({"run_key": key, "arch": "784-1000x10-10", "rule": "fa", "repeat": 0,
                         "epoch": epoch, "test_error": error, "rate": rate,
                         "not_started": stuck if stuck else float("nan")})
    table = pd.DataFrame(rows)
    cells = pd.DataFrame([{"arch": "784-1000x10-10", "rule": "fa", "stored": 2, "planned": 5}])
    out = L.results_table(table, cells)
    cell = out[(out.network == "784-1000x10-10") & (out.rule == "fa")].ours.iloc[0]
    assert cell.startswith("48.75 ± 46.75 (2/5)")
    assert cell.endswith("; 1 of them did not start learning at any allowed rate")
    used = L.epochs_used(table)
    assert used.set_index("run_key" if "run_key" in used else "repeat").shape[0] == 2
    assert sorted(used["first rate"]) == [1e-5, 1e-4]


def test_saturation_by_layer_averages_each_layer_at_the_last_epoch_only():
    import pandas as pd
    rows = []
    for key, last in (("a", (0.1, 0.2, 0.6)), ("b", (0.3, 0.4, 0.8))):
        for epoch, values in ((0, (0.0, 0.0, 0.0)), (1, last)):     # epoch 0 must not count
            rows.append({"run_key": key, "arch": "784-1500x3-10", "rule": "fa", "epoch": epoch,
                         **{f"saturated_{i + 1}": v for i, v in enumerate(values)}})
    rows.append({"run_key": "c", "arch": "784-1000-10", "rule": "bp", "epoch": 3,
                 "saturated_1": 0.05, "saturated_2": float("nan"), "saturated_3": float("nan")})
    ordered = L.saturation_by_layer(pd.DataFrame(rows))
    assert list(ordered.arch) == ["784-1000-10", "784-1500x3-10"]      # the text's order
    out = ordered.set_index(["arch", "rule"])
    fa = out.loc[("784-1500x3-10", "fa")]
    assert fa.runs == 2 and list(fa[["layer 1", "layer 2", "layer 3"]]) == pytest.approx(
        [0.2, 0.3, 0.7])
    bp = out.loc[("784-1000-10", "bp")]
    assert bp.runs == 1 and bp["layer 1"] == 0.05 and np.isnan(bp["layer 2"])


def test_autoencoder_baselines_are_the_hand_computed_errors_of_three_trivial_codes():
    """Images on a 10-dimensional affine subspace: the 10-component code reconstructs the test
    images exactly; the mean image and the blank image leave their hand-computed errors."""
    gen = torch.Generator().manual_seed(0)
    basis = torch.randn(10, 30, generator=gen, dtype=torch.float64)
    offset = torch.rand(30, generator=gen, dtype=torch.float64)
    x = torch.randn(200, 10, generator=gen, dtype=torch.float64) @ basis + offset
    xt = torch.randn(50, 10, generator=gen, dtype=torch.float64) @ basis + offset
    got = L.baseline_errors(x, xt)
    assert got[L.PCA10] < 1e-18
    assert got[L.MEAN_IMAGE] == pytest.approx(float(((xt - x.mean(0)) ** 2).sum(1).mean()),
                                               rel=1e-12)
    assert got[L.BLANK] == pytest.approx(float(((xt + 0.9) ** 2).sum(1).mean()), rel=1e-12)


def test_a_code_counts_as_beaten_only_by_every_run_and_by_the_margin():
    base = {L.BLANK: 289.5, L.MEAN_IMAGE: 171.4, L.PCA10: 86.6}
    assert L.below_baseline([367.0, 351.0], base) == "none"          # worse than blank
    assert L.below_baseline([171.37], base) == L.BLANK                 # the mean image itself
    assert L.below_baseline([150.0, 120.0], base) == L.MEAN_IMAGE
    assert L.below_baseline([150.0, 200.0], base) == L.BLANK        # one run above the mean
    assert L.below_baseline([30.2], base) == L.PCA10
    assert L.below_baseline([], base) == "none"


def test_autoencoder_codes_reads_each_runs_last_epoch_and_its_narrowest_layer():
    import pandas as pd
    narrow, wide = "784-1000-500-10-500-1000-784", "784-1000x5-784"
    rows = []
    for key, arch, rule, sse, sat, stuck in (("a", narrow, "bp", (600.0, 120.0), 0.4, 0),
                                             ("b", wide, "fa", (600.0, 400.0), 0.9, 1),
                                             ("c", "784-1000-10", "fa", (5.0, 2.0), 0.1, 0)):
        for epoch, value in enumerate(sse):
            rows.append({"run_key": key, "arch": arch, "rule": rule, "repeat": 0,
                         "epoch": epoch, "rate": 1e-4, "test_sse": value, "not_started": stuck,
                         **{f"saturated_{i}": (sat if epoch else 0.0) * i / 3
                            for i in range(1, 6)}})
    base = {L.BLANK: 289.5, L.MEAN_IMAGE: 171.4, L.PCA10: 86.6}
    out = L.autoencoder_codes(pd.DataFrame(rows), base)
    assert list(out.arch) == [narrow, wide]                 # classification left out, text order
    bp, fa = out.iloc[0], out.iloc[1]
    assert bp["test reconstruction error"] == 120.0 and bp["best trivial code beaten"] == L.MEAN_IMAGE
    assert bp["narrowest layer"] == "3 (10 units)" and bp["saturated there"] == pytest.approx(0.4)
    assert bp.outcome == "trained" and fa.outcome == L.NOT_STARTED
    assert fa["best trivial code beaten"] == "none" and fa["narrowest layer"] == "1 (1000 units)"
    assert fa["saturated there"] == pytest.approx(0.3)


def test_start_ratios_take_the_best_of_the_first_patience_epochs_over_the_initial_error():
    import pandas as pd
    rows = []
    for key, accs, extra in (("a", (0.1, 0.55, 0.82, 0.9, 0.95), {}),   # epochs 1-3: 0.1 / 0.9
                             ("b", (0.1, 0.2, 0.2, 0.2, 0.2), {"not_started": 1.0}),
                             ("c", (0.1, 0.5, 0.6, 0.7, 0.99), {"schedule": "milestones"})):
        for epoch, acc in enumerate(accs):
            rows.append({"run_key": key, "arch": "784-1000-10", "epoch": epoch, "train_acc": acc,
                         "plateau_patience": 3, "schedule": "plateau", "not_started": None,
                         **extra})
    ratios = L.start_ratios(pd.DataFrame(rows))
    assert list(ratios.index) == ["a"] and ratios["a"] == pytest.approx(0.1 / 0.9, rel=1e-12)


def test_autoencoder_errors_meet_printed_values_in_the_printed_unit():
    """Ours are summed over pixels in [-0.9, 0.9]; the printed unit is read as pixels in
    [0, 1]: a range 1.8 times narrower, so squared errors 1.8^2 = 3.24 times smaller."""
    import pandas as pd
    table = pd.DataFrame({"run_key": ["a"], "epoch": [1], "rate": [1e-4], "test_sse": [97.2]})
    out = L.with_rates(table, store=None)
    assert out.test_sse_printed_unit.iloc[0] == pytest.approx(30.0, rel=1e-12)
    assert L.compared_column("784-1000-500-10-500-1000-784") == "test_sse_printed_unit"
    assert L.compared_column("784-1000x10-10") == "test_error"
