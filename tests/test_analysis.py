"""Summaries of stored runs, on hand-made tables whose answers are known."""
import numpy as np
import pandas as pd
import pytest

from falign import analysis, paper_values, plots
from falign.rules import RULES


def toy_table() -> pd.DataFrame:
    rows = []
    for key, (rule, width, repeat, scale) in enumerate(
            [("fa", 15, 0, 1.0), ("fa", 15, 1, 3.0), ("bp", 15, 0, 10.0), ("fa", 200, 0, 0.5)]):
        for epoch, ratio in zip((0, 5, 10), (1.0, 1.0 + 0.1 * scale, 1.0 - 0.2 * scale)):
            rows.append({"run_key": f"k{key}", "rule": rule, "width": width, "repeat": repeat,
                         "epoch": epoch, "potential_ratio_weights_1": ratio,
                         "neuron_deviation_weights_1": abs(ratio - 1) * 2,
                         "neuron_deviation_1": 0.0})
    return pd.DataFrame(rows)


def test_final_and_time_averaged_deviations():
    t = toy_table()
    final = analysis.run_deviations(t, "layer, weights only, final").set_index("run_key")
    assert final.loc["k1", "deviation"] == pytest.approx(0.6)
    timed = analysis.run_deviations(t, "layer, weights only, time-averaged").set_index("run_key")
    assert timed.loc["k1", "deviation"] == pytest.approx((0 + 0.3 + 0.6) / 3)
    neuron = analysis.run_deviations(t, "neuron, weights only, final").set_index("run_key")
    assert neuron.loc["k0", "deviation"] == pytest.approx(0.4)
    with pytest.raises(ValueError, match="unknown deviation reading"):
        analysis.run_deviations(t, "median")


def test_mean_and_standard_error():
    t = analysis.run_deviations(toy_table(), "layer, weights only, final")
    s = analysis.mean_se(t, "deviation", ["rule", "width"]).set_index(["rule", "width"])
    assert s.loc[("fa", 15), "mean"] == pytest.approx(0.4)
    assert s.loc[("fa", 15), "se"] == pytest.approx(np.std([0.2, 0.6], ddof=1) / np.sqrt(2))
    assert np.isnan(s.loc[("bp", 15), "se"]) and s.loc[("bp", 15), "n"] == 1


def test_width_trend_against_the_paper():
    ours = pd.DataFrame({"rule": ["fa", "fa", "bp", "bp"], "width": [15, 200, 15, 200],
                         "mean": [0.4, 0.1, 8.0, 1.0]})
    c = analysis.compare_width_trend(ours, paper_values.table3())
    assert c.loc[("fa", "ours"), "shrink 15->200"] == pytest.approx(4.0)
    assert c.loc[("fa", "paper"), "shrink 15->200"] == pytest.approx(1.5 / 0.01)
    assert c.loc[("fa", "ours"), "GD / rule at width 15"] == pytest.approx(20.0)
    assert np.isnan(c.loc[("bp", "ours"), "GD / rule at width 15"])


def test_paper_table3_is_transcribed_whole():
    t = paper_values.table3()
    assert len(t) == 40 and set(t.rule) == {"fa", "adafa", "signfa", "bp"}
    at = t.set_index(["rule", "width"])
    assert (at.loc[("bp", 15), "mean"], at.loc[("bp", 15), "se"]) == (22.3, 3.2)
    assert (at.loc[("signfa", 150), "mean"], at.loc[("signfa", 150), "se"]) == (0.004, 0.0004)


def test_side_by_side_formats_cells():
    ours = {"x": pd.DataFrame({"width": [15], "rule": ["fa"], "mean": [0.0123], "se": [0.004]})}
    table = analysis.side_by_side(ours, paper_values.table3())
    assert list(table.columns) == ["paper", "ours: x"]          # rules are rows, not columns
    assert table.loc[("FA", 15), "paper"] == "1.5 ± 0.6"
    assert table.loc[("FA", 15), "ours: x"] == "0.012 ± 0.004"
    assert table.loc[("FA", 200), "ours: x"] == "-"


def test_every_rule_has_one_colour_and_label():
    assert set(plots.RULE_COLORS) == set(RULES) == set(plots.RULE_LABELS)
    assert len(set(plots.RULE_COLORS.values())) == len(RULES)


@pytest.mark.parametrize("rule", ["bp", "adafa", "fa", "signfa"])
@pytest.mark.parametrize("width", [15, 38])
def test_expected_initial_potential_matches_sampled_networks(rule, width):
    # Monte Carlo over freshly initialised bias-free networks (float64), measured with the
    # library's own Theorem 5.2 potential; the closed form must sit within 4 standard errors.
    import torch
    import falign
    from falign.measurements import neuron_potentials
    from falign.models import two_layer_mlp
    samples = []
    for seed in range(60):
        net = two_layer_mlp(784, width, 10, bias=False, seed=seed, dtype=torch.float64)
        net = falign.convert(net, rule, seed=1000 + seed)
        samples.append(neuron_potentials(net, include_bias=False)[0])
    p = torch.cat(samples)
    expected = analysis.expected_initial_potential(rule, width)
    assert abs(p.mean().item() - expected) < 4 * p.std().item() / len(p) ** 0.5


def test_expected_initial_potential_crossings_and_bad_rule():
    # GD's (and adaFA's) expectation vanishes at width 20, sign-FA's between 37 and 38.
    assert analysis.expected_initial_potential("bp", 20) == pytest.approx(0.0, abs=1e-12)
    assert analysis.expected_initial_potential("signfa", 37) > 0 > \
        analysis.expected_initial_potential("signfa", 38)
    assert analysis.expected_initial_potential("fa", 15) == pytest.approx(-1 / 6)
    with pytest.raises(ValueError, match="no closed form for rule 'dfa'"):
        analysis.expected_initial_potential("dfa", 15)


def test_table1_transcription_matches_the_gaps_the_paper_states():
    t = paper_values.table1().set_index(["n_classes", "rule"])["mean"]
    assert len(t) == 12 and t[25, "signfa"] == 58.9
    ada_fa = [round(t[n, "adafa"] - t[n, "fa"], 1) for n in (10, 25, 50)]
    gd_fa = [round(t[n, "bp"] - t[n, "fa"], 1) for n in (10, 25, 50)]
    assert ada_fa == [6.4, 3.2, 1.5] and gd_fa == [20.6, 20.4, 18.0]


def test_accuracy_table_keeps_pending_cells_and_counts_repeats():
    import pandas as pd
    runs = pd.DataFrame({"run_key": ["a", "a", "b", "b", "c", "c"], "epoch": [0, 2] * 3,
                         "n_classes": 10, "rule": ["fa", "fa", "fa", "fa", "bp", "bp"],
                         "test_acc": [0.1, 0.5, 0.1, 0.7, 0.1, 0.8]})
    cells = pd.DataFrame({"n_classes": [10, 10, 25], "rule": ["fa", "bp", "fa"],
                          "stored": [2, 1, 0], "planned": [6, 6, 6]})
    acc = analysis.accuracy_table(runs, cells).set_index(["n_classes", "rule"])
    assert acc.loc[(10, "fa"), "mean"] == pytest.approx(60.0)
    assert acc.loc[(10, "fa"), "se"] == pytest.approx(10.0)          # std 14.14 / sqrt(2)
    assert np.isnan(acc.loc[(25, "fa"), "mean"]) and acc.loc[(25, "fa"), "planned"] == 6
    table = analysis.side_by_side_cells(acc.reset_index(), paper_values.table1(), "n_classes")
    assert list(table.columns) == ["paper", "ours"]             # long form: rules as rows
    assert table.loc[("FA", 10), "ours"] == "60.0 ± 10.0 (2/6)"
    assert table.loc[("BP (GD)", 10), "ours"] == "80.0 (1/6)"
    assert table.loc[("FA", 25), "ours"] == "pending (0/6)"
    assert table.loc[("FA", 10), "paper"] == "55.2 ± 3.8"
