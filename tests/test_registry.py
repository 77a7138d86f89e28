"""The registry is the one place where printed values meet ours: every comparison a chapter
makes (a printed-versus-ours table row, a glued printed value, a read of a printed table) must
be registered, every entry must have exactly one scoreboard row, every erratum must point at a
chapter and at entries the scoreboard marks wrong, the ordering tests must give known p-values,
and the landing page's verdict must be the one computed from the store now."""
import re
from pathlib import Path

import pytest

from falign import registry, scoreboard
from falign.notebooks import chapter_names

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"


def test_t_distribution_and_tests_give_known_p_values():
    assert registry.t_sf(0.0, 5) == pytest.approx(0.5, abs=1e-15)
    assert registry.t_sf(2.0, 10) == pytest.approx(0.036694, abs=1e-6)     # tables: t_{10}
    assert registry.t_sf(-2.0, 10) == pytest.approx(1 - 0.036694, abs=1e-6)
    assert registry.t_sf(1.0, 1) == pytest.approx(0.25, abs=1e-12)         # Cauchy: 1/4
    # Welch: a = (4, 5, 6), b = (1, 2, 3): t = 3.674, df = 4, p = 0.010653
    assert registry.welch_p([4, 5, 6], [1, 2, 3]) == pytest.approx(0.010653, abs=1e-5)
    assert registry.sign_p(5, 5) == 1 / 32 and registry.sign_p(0, 7) == 1.0
    with pytest.raises(ValueError, match="0 <= k <= n"):
        registry.sign_p(6, 5)


def test_orderings_are_decided_by_the_test_not_by_the_sign():
    assert registry.ordering([55.0, 55.2], [51.0, 53.0], "a", "b")[0] == registry.UNDECIDED
    assert registry.ordering([60, 61, 62, 61], [50, 51, 52, 51], "a", "b")[0] == registry.REPRODUCED
    assert registry.ordering([50, 51, 52, 51], [60, 61, 62, 61], "a", "b")[0] == registry.DIFFERS
    assert registry.ordering([55.0], [51.0, 52.0], "a", "b")[0] == registry.UNDECIDED
    assert registry.ordering([], [51.0, 52.0], "a", "b")[0] == registry.PENDING
    assert registry.combine([registry.REPRODUCED, registry.UNDECIDED]) == registry.UNDECIDED
    assert registry.combine([registry.REPRODUCED, registry.DIFFERS]) == registry.DIFFERS
    assert registry.sign_verdict(48, 60)[0] == registry.REPRODUCED
    assert registry.sign_verdict(30, 60)[0] == registry.UNDECIDED


def _claimed_rows():
    return {(e.chapter, row) for e in registry.entries() for row in e.rows}


@pytest.mark.parametrize("name", chapter_names())
def test_every_printed_versus_ours_row_is_registered(name):
    rows = registry.comparison_tables(name)
    missing = [r for r in rows if (name, r) not in _claimed_rows()
               and (name, r) not in registry.NOT_CLAIMS]
    assert not missing, (f"{name} compares printed values with ours in table rows the registry "
                         f"does not know: {missing}; add entries in falign/registry.py")


@pytest.mark.parametrize("name", chapter_names())
def test_every_glued_printed_value_is_registered(name):
    names = [n for n in registry.glued(name, CHAPTERS) if re.match(r"(paper|printed)", n)]
    patterns = [p for e in registry.entries() for p in e.glue]
    missing = [n for n in names if not any(re.fullmatch(p, n) for p in patterns)
               and (name, n) not in registry.PROTOCOL_GLUE]
    assert not missing, (f"{name} glues printed values no registry entry accounts for: "
                         f"{missing}; register them (Entry.glue) in falign/registry.py")


@pytest.mark.parametrize("name", chapter_names())
def test_printed_tables_are_read_only_through_registered_sources(name):
    text = (CHAPTERS / f"{name}.py").read_text()
    used = set(re.findall(r"\b(paper_values\.\w+|lechner_mdfa\.printed\w*|"
                          r"(?:lm|lillicrap_mnist)\.(?:PRINTED|printed_values))\b", text))
    unknown = used - set(registry.PRINTED_SOURCES)
    assert not unknown, f"{name} reads printed values through unregistered {sorted(unknown)}"
    if used and name not in registry.READS_WITHOUT_ROWS:
        assert any(e.chapter == name for e in registry.entries()), \
            f"{name} reads printed values but has no registry entry, so no scoreboard row"


def test_the_detectors_catch_an_unregistered_comparison(tmp_path):
    (tmp_path / "x.py").write_text("# | item | printed | ours |\n# |---|---|---|\n"
                                   "# | Lemma 9 | 1 | 2 |\n\n# | item | the text | ours | why |\n"
                                   "# |---|---|---|---|\n# | lr | none | 0.1 | stated |\n")
    rows = registry.comparison_tables("x", tmp_path)
    assert list(rows) == ["Lemma 9"]                      # readings tables are not comparisons
    assert ("x", "Lemma 9") not in _claimed_rows()


@pytest.fixture(scope="module")
def board():
    return scoreboard.scoreboard(ROOT / "results")


def test_every_registry_entry_has_exactly_one_scoreboard_row(board):
    assert list(board.key) == registry.keys() and board.key.is_unique
    assert set(board.status) <= set(registry.STATUSES)
    assert set(board.work) == set(registry.WORKS)
    theory = board[board.chapter.str.contains("theor")]
    assert {registry.RK, registry.LILLICRAP, registry.LECHNER} == set(theory.work)


def test_misleading_statuses_are_fixed(board):
    b = board.set_index("key")
    for n in (25, 50):                                    # stand-in cells: never "pending GPU"
        assert b.loc[f"rk.table1.n{n}.fa", "status"] == registry.NOT_COMPARABLE
    assert "Welch" in b.loc["rk.table1.n10.signfa_over_adafa", "test"]
    assert {"rk.fig2.fa_vs_adafa", "rk.fig2.fa_vs_signfa", "rk.fig2.width.fa"} <= set(b.index)
    assert "layer-summed" in b.loc["rk.fig2.gd", "test"]


def test_errata_point_at_chapters_and_at_entries_marked_wrong(board):
    wrong = set(board[board.status == registry.WRONG].key)
    keys = set(registry.keys())
    named = set()
    for e in registry.ERRATA:
        assert (CHAPTERS / f"{e.chapter}.py").exists(), e.where
        assert set(e.keys) <= keys, f"erratum {e.where!r} names unknown entries {e.keys}"
        assert e.confidence.split(":")[0] in ("high", "medium", "low")
        named |= set(e.keys)
    assert wrong <= named, f"rows marked wrong without an erratum: {sorted(wrong - named)}"
    rows = registry.errata_rows()
    assert not rows.computation.str.contains("not rendered").any()


def test_the_landing_page_verdict_is_computed_from_the_store(board):
    text = scoreboard.VERDICT.read_text()
    assert text == scoreboard.verdict_markdown(board), \
        "verdict.md is stale: python -m falign.scoreboard verdict"
    intro = (ROOT / "intro.md").read_text()
    assert intro.index("{include} verdict.md") < intro.index("## The chapters")
    toc = (ROOT / "_toc.yml").read_text()
    for page in re.findall(r"file: (\S+)", toc):
        assert page in intro or f"{page}.md" in intro, f"intro.md's table does not link {page}"


def test_no_printed_column_keeps_an_unfilled_template(board):
    unfilled = board.printed.str.contains(registry.GLUE_TEMPLATE.pattern)
    assert not unfilled.any(), board[unfilled].key.tolist()


# Chapters that show their printed-versus-ours verdicts through registry.compare, with a key
# every one of their compare calls must select.
ADOPTED = {"fig3_alignment": "rk.fig3.", "fig4_generalization": "rk.fig4.",
           "lillicrap_mnist_results": "lillicrap.mnist.",
           "lillicrap_fig5_receptive_fields": "lillicrap.fig5.error",
           "table2_resnet_accuracy": "rk.table2.", "table2_readings": "rk.table2."}


@pytest.mark.parametrize("name", sorted(ADOPTED))
def test_chapters_show_their_verdicts_through_the_registry(name):
    text = (CHAPTERS / f"{name}.py").read_text()
    assert "registry.compare(" in text, f"{name} compares printed values without the registry"
    assert ADOPTED[name] in text
    assert not re.search(r"\*\*(Agree|Disagree|Differ)\b", text), \
        f"{name} states a verdict in prose instead of gluing its scoreboard row's status"
    # every key prefix the chapter selects exists in the registry
    for prefix in re.findall(r"startswith\(\"([\w.]+)\"\)", text):
        assert any(k.startswith(prefix) for k in registry.keys()), prefix


def test_a_printed_error_is_decided_by_a_test_over_repeats():
    assert registry.above_printed([1.9], 2.1)[0] == registry.REPRODUCED
    assert registry.above_printed([3.9], 2.1)[0] == registry.UNDECIDED        # one repeat
    assert registry.above_printed([3.9, 4.1, 4.0], 2.1)[0] == registry.DIFFERS
    assert registry.above_printed([1.0, 4.0], 2.1)[0] == registry.UNDECIDED   # p = 0.43
    assert registry.above_printed([], 2.1)[0] == registry.PENDING


def test_the_saturation_hypothesis_is_decided_only_by_a_test():
    import pandas as pd

    def table(fa, bp):
        rows = [{"run_key": f"{r}{i}", "arch": "784-1000-10", "rule": r, "epoch": 5,
                 "saturated_1": v} for r, vals in (("fa", fa), ("bp", bp))
                for i, v in enumerate(vals)]
        return pd.DataFrame(rows)
    assert registry.saturation_test(table([0.8], [0.6]))["status"] == registry.UNDECIDED
    up = registry.saturation_test(table([0.80, 0.82, 0.81], [0.60, 0.62, 0.61]))
    assert up["status"] == registry.REPRODUCED and "does not prove" in up["text"]
    down = registry.saturation_test(table([0.60, 0.62, 0.61], [0.80, 0.82, 0.81]))
    assert down["status"] == registry.DIFFERS and "refuted" in down["text"]
    assert registry.saturation_test(table([], []).iloc[:0])["status"] == registry.PENDING


def test_mnist_rows_use_the_protocol_runs_and_measured_costs(board, tmp_path):
    from falign.families import lillicrap_mnist as lm
    rows = board[board.key.str.startswith("lillicrap.mnist.")].set_index("key")
    assert len(rows) == len(lm.PRINTED)
    assert set(rows.runs.str.split("/").str[1]) == {str(lm.PAPER.repeats)}   # paper: 5 repeats
    # The 12-epoch runs are stored: named as a reading in the reason, never counted as runs.
    assert "12-epoch reading (not the protocol)" in rows.loc["lillicrap.mnist.h1000.fa", "reason"]
    # An undecided row says whether more repeats could decide it or every planned one is in.
    for key, row in rows[rows.status == registry.UNDECIDED].iterrows():
        stored, planned = map(int, row.runs.split("/"))
        expected = ("planned repeats stored: the gap to the printed value is within their spread"
                    if stored == planned else f"{stored} of {planned} repeats stored")
        assert expected in row.reason, (key, row.reason)
    empty = scoreboard.scoreboard(tmp_path).set_index("key")
    for a, r, _, _ in lm.PRINTED:
        row = empty.loc[f"lillicrap.mnist.{lm.SHORT[a]}.{r}"]
        assert row.status == registry.PENDING and row.runs == f"0/{lm.PAPER.repeats}"
        bound = lm.EPOCH_CPU_SECONDS[a, r] * lm.PAPER.epochs * lm.PAPER.repeats / 3600
        assert f"at most {bound:.1f} core-hours" in row.reason, row.reason
    assert "12-epoch" not in " ".join(empty.loc[empty.index.str.startswith("lillicrap.mnist")]
                                      .reason)


def test_lechner_rows_show_the_selected_runs_before_the_20_epoch_reading():
    """A Lechner FC cell with runs selected on validation shows them first, the 20-epoch
    reading beside them, and each reading's repeats stored of planned."""
    ctx = registry.Context()
    entry = next(e for e in registry.entries() if e.key == "lechner.table1.fc.hardtanh.n2.fa")
    result = entry.evaluate(ctx)
    tuned = ctx.sweep("lechner_mdfa", "quick")
    if tuned is None:
        pytest.skip("no selected Lechner runs in this store")
    assert result["ours"].index("(selected on validation)") < result["ours"].index(
        "(20-epoch reading)")
    assert re.fullmatch(r"\d/\d \(selected on validation\); \d/\d \(20-epoch reading\)",
                        result["runs"])
    assert result["status"] == registry.NOT_COMPARABLE     # a stand-in: only orderings compare


def test_value_range_prints_one_value_when_the_ends_print_alike():
    assert registry.value_range([100.0, 100.0], "%") == "100.0%"
    assert registry.value_range([99.96, 100.0], "%") == "100.0%"     # both print as 100.0
    assert registry.value_range([12.34, 56.78], " points") == "12.3 to 56.8 points"
    with pytest.raises(ValueError, match="at least one value"):
        registry.value_range([])
