"""The added noisy-MNIST readings: protocol fields that keep the stored runs' keys, the
sign-FA scale, Adam, per-run divergence, and the readings families of the background queue."""
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from falign.data import mnist_available
from falign.families import noisy_mnist, noisy_mnist_confirm, noisy_mnist_readings
from falign.families.noisy_mnist import (ADDED, PAPER, PROFILES, READINGS, ReadingStack,
                                         build_model, initial_potentials, train_reading_stack)
from falign.stacked import train_stacked
from falign.store import ResultStore, spec_key
from falign.training import TrainConfig

RESULTS = Path(__file__).resolve().parents[1] / "results"
HAVE_MNIST = mnist_available()


def stored_keys(name: str) -> set[str]:
    return {r["key"] for r in ResultStore(RESULTS, name).records()}


def profile_keys(family, profiles=("paper", "quick")) -> set[str]:
    return {spec_key(s) for p in profiles for s in family.run_specs(family.PROFILES[p])}


@pytest.mark.skipif(not (RESULTS / "noisy_mnist_paper").exists(), reason="no stored runs")
def test_every_stored_paper_run_maps_to_the_book_or_a_confirmed_reading():
    stored = stored_keys("noisy_mnist_paper")
    assert stored, "the paper store holds runs"
    named = profile_keys(noisy_mnist) | profile_keys(noisy_mnist_confirm)
    assert stored <= named, f"{len(stored - named)} stored runs map to no profile or reading"
    # the book's 240 runs keep their keys with the added fields at their old values
    assert {spec_key(s) for s in PROFILES["paper"].run_specs()} <= stored | named


@pytest.mark.skipif(not (RESULTS / "noisy_mnist_readings").exists(), reason="no stored runs")
def test_every_stored_reading_run_maps_to_a_named_reading():
    stored = stored_keys("noisy_mnist_readings")
    named = profile_keys(noisy_mnist_readings)
    assert stored and stored <= named, f"{len(stored - named)} stored runs map to no reading"
    # the ten older readings' first repeats were stored before the fields were added
    older = [n for n in READINGS if n not in noisy_mnist.ALLOWED_READINGS
             and n not in noisy_mnist.DIAGNOSTIC_READINGS and "raw" not in n
             and n != "summed loss"]
    for name in older:
        keys = {spec_key(s) for s in noisy_mnist.with_reading(noisy_mnist.ABLATION,
                                                              **READINGS[name]).run_specs()}
        assert keys <= stored, f"reading {name!r} lost the keys of its stored runs"


def test_added_fields_enter_a_spec_only_where_they_act():
    base = PAPER.run_specs()
    assert all("signfa_scale" not in s and "optimizer" not in s for s in base)
    scaled = replace(PAPER, signfa_scale="fan_in").run_specs()
    for old, new in zip(base, scaled):
        if old["rule"] == "signfa":
            assert new["signfa_scale"] == "fan_in" and spec_key(new) != spec_key(old)
        else:                                       # GD, FA, adaFA: the same run, same key
            assert spec_key(new) == spec_key(old)
    adam = replace(PAPER, optimizer="adam").run_specs()
    assert all(s["optimizer"] == "adam" and spec_key(s) != spec_key(o)
               for s, o in zip(adam, base))
    assert noisy_mnist.protocol_of(base[0]).optimizer == ADDED["optimizer"]
    with pytest.raises(ValueError, match="unknown signfa_scale 'biotorch'.*xavier"):
        replace(PAPER, signfa_scale="biotorch")
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
        replace(PAPER, optimizer="rmsprop")


def test_each_reading_changes_only_what_it_names():
    default = noisy_mnist.NoisyMNISTProtocol()
    for name, change in READINGS.items():
        changed = noisy_mnist.with_reading(default, **change)
        differs = {f for f in default.__dataclass_fields__
                   if getattr(changed, f) != getattr(default, f)}
        assert differs <= set(change), (name, differs)
    # the diagnostic readings contradict a value App. A states (rate 0.05 or SGD+momentum)
    for name in noisy_mnist.DIAGNOSTIC_READINGS:
        p = noisy_mnist.with_reading(PAPER, **READINGS[name])
        assert p.lr != 0.05 or p.optimizer != "sgd"
    for name in noisy_mnist.ALLOWED_READINGS:
        assert noisy_mnist.with_reading(PAPER, **READINGS[name]).optimizer == "sgd"


def test_signfa_scale_reading_moves_the_zero_crossing_of_the_initial_potential(float64):
    """E P_j(0) = 5 s / sqrt(m) - 1/6 (Thm 5.2's potential at the fan-in init): with s the
    Xavier std it crosses zero near m = 38, with s = 1/sqrt(3m) at m = 10 sqrt(3) ~ 17.3."""
    for scale, closed in (("xavier", lambda m: 5 * math.sqrt(2 / (m + 10)) / math.sqrt(m) - 1 / 6),
                          ("fan_in", lambda m: 5 / (math.sqrt(3) * m) - 1 / 6)):
        for m in (15, 30, 60):
            spec = {**PAPER.run_specs()[0], "rule": "signfa", "width": m, "signfa_scale": scale}
            p0 = torch.cat([initial_potentials({**spec, "init_seed": k,
                                                "feedback_seed": 1000 + k}) for k in range(40)])
            se = float(p0.std()) / math.sqrt(len(p0))
            assert abs(float(p0.mean()) - closed(m)) < 4 * se + 1e-3, (scale, m)
    # the stack's sign feedback has the reading's scale, per model
    spec = {**PAPER.run_specs()[0], "rule": "signfa", "width": 30}
    models = [build_model(spec), build_model(spec)]
    stack = ReadingStack(models, torch.device("cpu"), ["xavier", "fan_in"], "sgd")
    b = stack.feedback(2)
    assert torch.allclose(b[0].abs(), torch.full_like(b[0], math.sqrt(2 / 40)))
    assert torch.allclose(b[1].abs(), torch.full_like(b[1], 1 / math.sqrt(90)))
    assert torch.equal(torch.sign(b[1]), torch.where(stack.params["w2"][1] > 0, 1.0, -1.0))


def test_adam_reading_follows_torch_adam_for_gd(float64):
    torch.manual_seed(0)
    x, y = torch.randn(64, 784), torch.randint(0, 10, (64,))
    spec = {**PAPER.run_specs()[0], "rule": "bp", "width": 20}
    reference = build_model(spec).double()
    opt = torch.optim.Adam(reference.parameters(), lr=0.01)
    stack = ReadingStack([build_model(spec).double()], torch.device("cpu"), ["xavier"], "adam")
    for _ in range(5):
        opt.zero_grad()
        F.cross_entropy(reference(x), y).backward()
        opt.step()
        grads, _ = stack.gradients(x, y, "mean")
        stack.sgd_step(grads, 0.01, 0.05, 0.0)
    assert torch.allclose(stack.params["w1"][0], reference[0].weight.detach(), atol=1e-10)
    assert torch.allclose(stack.params["w2"][0], reference[2].weight.detach(), atol=1e-10)
    assert not torch.allclose(stack.params["w1"][0], build_model(spec)[0].weight.double())


@pytest.mark.skipif(not HAVE_MNIST, reason="MNIST files not in the data root (run `make data`)")
def test_reading_loop_reproduces_the_stacked_trainer_and_stops_a_diverged_run_alone():
    proto = replace(PROFILES["smoke"], widths=(15,), epochs=20)
    specs = proto.run_specs()
    cfg = noisy_mnist.protocol_of(specs[0]).config("cpu", progress=False)
    data = noisy_mnist.run_data(specs[0])
    ours, diverged = train_reading_stack(specs, [build_model(s) for s in specs], data.train,
                                         data.test, cfg)
    theirs = train_stacked([build_model(s) for s in specs], data.train, data.test, cfg)
    assert diverged == [None] * 4 and all(a[b.columns].equals(b) for a, b in zip(ours, theirs))
    # the per-neuron readings: a median and a floored mean of the same |r_j - 1|
    for table in ours:
        last = table.iloc[-1]
        assert 0 < last.neurons_above_floor_1 <= 15
        # at least half the neurons lie at or above the median, so the mean is >= median / 2
        assert last.neuron_deviation_weights_median_1 <= 2 * last.neuron_deviation_weights_1
    # GD with a second layer 1e17 times too large starts finite and blows up within a few
    # steps (its W_1 update carries B_2 = W_2); the other models are untouched.
    assert specs[3]["rule"] == "bp"
    blown = [build_model(s) for s in specs]
    with torch.no_grad():
        blown[3][2].weight.mul_(1e17)
    big = replace(cfg, loss_reduction="sum")
    tables, diverged = train_reading_stack(specs, blown, data.train, data.test, big)
    alone, _ = train_reading_stack(specs[:3], [build_model(s) for s in specs[:3]], data.train,
                                   data.test, big)
    assert diverged[3] is not None and diverged[3] >= 1 and len(tables[3])
    assert tables[3].epoch.max() < diverged[3]
    assert tables[3].drop(columns="lr").map(math.isfinite).all().all()
    assert all(a.equals(b) for a, b, d in zip(tables[:3], alone, diverged[:3]) if d is None)


def test_readings_families_cover_every_reading_once():
    sweep = noisy_mnist_readings.PROFILES["paper"]
    specs = noisy_mnist_readings.run_specs(sweep)
    keys = [spec_key(s) for s in specs]
    assert len(keys) == len(set(keys))
    assert [s["repeat"] for s in specs] == sorted(s["repeat"] for s in specs)
    # FA's B at Xavier scale runs FA only; its other rules are the fan-in reading's runs
    xavier = noisy_mnist_readings.reading_protocol(sweep.base, "FA's B Xavier, no biases")
    assert xavier.rules == ("fa",) and xavier.feedback_init == "xavier" and not xavier.bias
    assert {s["epochs"] for s in specs} == {2000}
    confirm = noisy_mnist_confirm.run_specs(noisy_mnist_confirm.PROFILES["paper"])
    assert {s["epochs"] for s in confirm} == {6000}
    book = {spec_key(s) for s in PAPER.run_specs()}
    # the sign-FA reading's GD, FA and adaFA runs are the book's: none of them is planned again
    # as a new run (they are in the confirmation's specs with the book's keys)
    sign = noisy_mnist_readings.reading_protocol(PAPER, "sign-FA scale 1/sqrt(3 fan-in)")
    assert {spec_key(s) for s in sign.run_specs() if s["rule"] != "signfa"} <= book
    with pytest.raises(ValueError, match="unknown reading 'fan in'"):
        noisy_mnist_readings.reading_protocol(PAPER, "fan in")


def test_decision_keeps_the_stated_reading_on_a_tie_and_needs_stored_runs():
    import pandas as pd
    crit = pd.DataFrame({"observations held": [3, 3, 4]}, index=["fan-in init", "a", "b"])
    agree = pd.DataFrame({"cells stored": [12, 12, 0], "cells within 2x": [4, 4, 9]},
                         index=["fan-in init", "a", "b"])
    choice = noisy_mnist_readings.decide(crit, agree, "fan-in init", ["fan-in init", "a", "b"])
    assert choice["adopted"] == "fan-in init" and choice["best_score"] == (3, 4)  # b: no runs
    agree.loc["a", "cells within 2x"] = 5
    assert noisy_mnist_readings.decide(crit, agree, "fan-in init", ["fan-in init", "a"]
                                       )["adopted"] == "a"
    # diagnostic readings are never eligible, nor readings with biases
    eligible = noisy_mnist_readings.eligible()
    assert not set(eligible) & set(noisy_mnist.DIAGNOSTIC_READINGS)
    assert "fan-in init + biases" not in eligible and "fan-in init" in eligible


def test_agreement_counts_cells_within_a_factor_of_two():
    import pandas as pd
    paper = pd.DataFrame({"rule": ["fa", "fa", "bp"], "width": [15, 200, 15],
                          "mean": [1.0, 0.1, 20.0], "se": [0.1, 0.01, 2.0]})
    cells = pd.DataFrame({"reading": ["r"] * 3 + ["s"] * 3, "width": [15, 200, 15] * 2,
                          "rule": ["fa", "fa", "bp"] * 2,
                          "deviation": [0.6, 0.01, 39.0, 0.4, 0.3, 41.0],
                          "stored": [1, 1, 1, 1, 0, 1], "planned": [2] * 6})
    out = noisy_mnist_readings.agreement(cells, paper)
    assert out.loc["r"].tolist() == [3, 2]     # 0.6 and 39 within 2x, 0.01 not
    assert out.loc["s"].tolist() == [2, 0]     # the unstored cell does not count


def test_non_monotone_alignment_needs_a_rise_and_a_fall():
    import pandas as pd
    assert not noisy_mnist_readings.non_monotone(pd.Series([0.1, 0.2, 0.3, 0.3]))
    assert not noisy_mnist_readings.non_monotone(pd.Series([0.3, 0.2, 0.1]))
    assert noisy_mnist_readings.non_monotone(pd.Series([0.1, 0.3, 0.2]))
    assert not noisy_mnist_readings.non_monotone(pd.Series([0.1, 0.3, 0.29995]))  # below tol


def test_conditioning_shows_the_signfa_scale_reading_fragile_at_width_15():
    table = noisy_mnist_readings.conditioning(
        ["fan-in init", "sign-FA scale 1/sqrt(3 fan-in)"], widths=(15,), seeds=30)
    xavier = table.loc[("fan-in init", 15, "signfa")]
    fan_in = table.loc[("sign-FA scale 1/sqrt(3 fan-in)", 15, "signfa")]
    # E P_j(0) crosses zero near m = 17 under 1/sqrt(3 fan-in), near 38 under Xavier
    assert fan_in["median"] < xavier["median"] / 5
    assert fan_in["share < 1e-3"] > xavier["share < 1e-3"]
    # the reading changes sign-FA only: GD's networks are the same
    assert table.loc[("fan-in init", 15, "bp")].equals(
        table.loc[("sign-FA scale 1/sqrt(3 fan-in)", 15, "bp")])


def test_confirmation_needs_every_run_and_a_strict_lead_at_the_full_schedule():
    import pandas as pd
    cand, book = "FA's B Xavier, no biases", noisy_mnist_confirm.ADDED_TO

    def results(stored, within, held):
        cells = pd.DataFrame({"reading": [book, cand], "stored": [6, stored], "planned": [6, 6]})
        agree = pd.DataFrame({"cells within 2x": within}, index=[book, cand])
        crit = pd.DataFrame({"observations held": held}, index=[book, cand])
        return noisy_mnist_confirm.ConfirmationResults(cells, agree, crit, [book, cand])

    ahead = {"adopted": cand}
    assert noisy_mnist_confirm.confirm(ahead, results(5, [3, 9], [3, 3]))["status"] == "pending"
    assert noisy_mnist_confirm.confirm(ahead, results(6, [3, 9], [3, 3]))["status"] == "confirmed"
    assert noisy_mnist_confirm.confirm(ahead, results(6, [3, 3], [3, 3]))["status"] == \
        "not confirmed"                                         # a tie keeps the book's
    assert noisy_mnist_confirm.confirm(ahead, results(6, [3, 9], [3, 2]))["status"] == \
        "not confirmed"                                         # fewer observations held
    assert noisy_mnist_confirm.confirm({"adopted": book}, results(6, [3, 9], [3, 3]))[
        "status"] == "no candidate"
    # the book shows the candidate only once it is confirmed, the incumbent otherwise
    shown = [noisy_mnist_confirm.book_reading(noisy_mnist_confirm.confirm(
        choice, results(stored, within, [3, 3])))
        for choice, stored, within in ((ahead, 5, [3, 9]), (ahead, 6, [3, 9]),
                                       (ahead, 6, [3, 3]), ({"adopted": book}, 6, [3, 9]))]
    assert shown == [book, cand, book, book]


@pytest.mark.skipif(not (RESULTS / "noisy_mnist_paper").exists(), reason="no stored runs")
def test_the_book_shows_the_reading_its_stored_runs_confirm():
    """The book's reading is what the two-stage rule gives on the stored runs: the candidate
    once confirmed at the full schedule, the incumbent otherwise (a stale CHOSEN_READING would
    contradict the readings chapter's own decision)."""
    from falign import analysis, paper_values
    res = noisy_mnist.readings_results("paper", RESULTS)
    cells = noisy_mnist_readings.reading_cells(res.table, res.planned)
    choice = noisy_mnist_readings.decide(
        analysis.reading_criteria(res.table),
        noisy_mnist_readings.agreement(cells, paper_values.table3()),
        noisy_mnist_confirm.ADDED_TO, noisy_mnist_readings.eligible())
    second = noisy_mnist_confirm.confirm(choice, noisy_mnist_confirm.confirmation(RESULTS))
    shown = noisy_mnist_confirm.book_reading(second)
    assert noisy_mnist.CHOSEN_READING == shown, (
        f"the stored runs give {shown} ({second['status']}): set noisy_mnist.CHOSEN_READING "
        "to it and re-render Figures 2-4, Table 3 and the readings chapter")


def test_fa_feedback_field_is_inert_in_other_rules_keys():
    """Redrawing FA's B at Xavier scale changes FA's runs only: a bias-free GD, adaFA or
    sign-FA run has the key of the book's run, and so trains once."""
    fan_in = noisy_mnist.NoisyMNISTProtocol(**noisy_mnist.READINGS["fan-in init"])
    xavier = replace(fan_in, feedback_init="xavier", widths=(15,), repeats=1)
    book = replace(fan_in, widths=(15,), repeats=1)
    keys = {s["rule"]: spec_key(s) for s in xavier.run_specs()}
    same = {s["rule"]: spec_key(s) for s in book.run_specs()}
    assert keys["fa"] != same["fa"]
    assert all(keys[r] == same[r] for r in ("bp", "adafa", "signfa"))
    # the biased biotorch-layers reading keeps the keys its runs were stored with
    biased = replace(xavier, bias=True, bias_init="one")
    assert all(s["feedback_init"] == "xavier" for s in biased.run_specs())


def test_the_book_reading_re_uses_the_confirmation_runs_and_changes_fa_keys_only():
    """The book's protocol under its reading trains nothing new: its FA runs are the
    confirmation's, and every other rule's run has fan-in init's key."""
    fan_in = replace(noisy_mnist.NoisyMNISTProtocol(), **noisy_mnist.READINGS["fan-in init"])
    book = {(s["width"], s["rule"], s["repeat"]): spec_key(s) for s in PAPER.run_specs()}
    before = {(s["width"], s["rule"], s["repeat"]): spec_key(s) for s in fan_in.run_specs()}
    confirmation = {spec_key(s) for s in
                    noisy_mnist_confirm.run_specs(noisy_mnist_confirm.PROFILES["paper"])}
    assert len(book) == 240 and set(book.values()) <= confirmation | set(before.values())
    changed = {k for k in book if book[k] != before[k]}
    assert changed == ({k for k in book if k[1] == "fa"}
                       if PAPER.feedback_init != fan_in.feedback_init else set())


def test_the_second_stage_text_states_the_scores_and_the_reading_shown():
    base = {"candidate": "X", "incumbent": "fan-in init", "current": (3, 16),
            "candidate_score": None, "stored": 10, "planned": 60}
    text = noisy_mnist_confirm.second_stage_text
    assert "10 of 60 runs" in text({**base, "status": "pending"})
    assert text({**base, "status": "pending"}).endswith("shows **fan-in init** meanwhile.")
    done = {**base, "stored": 60, "candidate_score": (3, 20)}
    yes = text({**done, "status": "confirmed"})
    assert "is confirmed" in yes and "3 of 4 observations held and 20 Table 3 cells" in yes
    assert "against 3 and 16 for **fan-in init**" in yes and yes.endswith("show **X**.")
    no = text({**done, "candidate_score": (3, 16), "status": "not confirmed"})
    assert "is not confirmed" in no and no.endswith("show **fan-in init**.")
    assert text({**base, "candidate": None, "status": "no candidate"}).startswith(
        "No candidate to confirm: the book shows **fan-in init** (3 observations, 16 cells")


def test_small_potential_shares_average_each_cells_runs():
    """Per (width, rule), the mean over the cell's runs of the share of neurons with
    |P_j(0)| < 0.02: checked against the runs taken one by one, and a threshold of 0 (no
    potential is below it) gives 0."""
    from dataclasses import replace
    from falign.families import noisy_mnist
    p = replace(noisy_mnist.PAPER, widths=(15,), rules=("bp", "fa"), repeats=3)
    shares = noisy_mnist.small_potential_shares(p)
    for rule in ("bp", "fa"):
        one = [float((noisy_mnist.initial_potentials(s).abs() < 0.02).double().mean())
               for s in p.run_specs() if s["rule"] == rule]
        assert len(one) == 3 and shares[15, rule] == pytest.approx(sum(one) / 3)
    assert (noisy_mnist.small_potential_shares(p, threshold=0.0) == 0).all()
