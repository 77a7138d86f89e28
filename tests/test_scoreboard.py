"""The scoreboard page: one row per registry entry, statuses follow the stored runs (an empty
store leaves every experiment pending or, on a stand-in, not comparable), a table cell agrees
within two standard errors of the difference, the tally counts rows per work, and the wide table
keeps status and ours in its first two columns at any screen width."""
import math

import pandas as pd

from falign import analysis, registry
from falign.scoreboard import COLUMNS, board_html, scoreboard, tally


def test_an_empty_store_leaves_every_experiment_pending_or_not_comparable(tmp_path):
    board = scoreboard(tmp_path)
    assert list(board.columns) == COLUMNS
    assert list(board.key) == registry.keys()
    stored = board[board.key.str.startswith(("rk.fig", "rk.table", "lillicrap.mnist"))]
    assert set(stored.status) <= {registry.PENDING, registry.NOT_COMPARABLE}
    # Table 1 runs on a stand-in: its cells are never "pending" (no run makes them comparable)
    cells = board[board.key.str.match(r"rk\.table1\.n\d+\.(fa|adafa|signfa|bp)$")]
    assert len(cells) == 12 and set(cells.status) == {registry.NOT_COMPARABLE}
    rk = board[board.work == registry.RK]
    assert (rk["item"] == "Table 2").sum() == 12 + 9 + 4     # cells, 3 orderings x 3 n, trends


def test_agreement_is_two_standard_errors_of_the_difference():
    assert analysis.agrees(60.0, 1.0, 62.0, 0.5)            # 2.0 <= 2 * 1.118
    assert not analysis.agrees(60.0, 1.0, 62.5, 0.5)        # 2.5 > 2.236
    assert analysis.agrees(66.1, math.nan, 67.5, 0.7)        # one run: borrows the paper's SE
    assert not analysis.agrees(65.0, math.nan, 67.5, 0.7)


def test_tally_counts_statuses_per_work_with_totals():
    board = pd.DataFrame({"work": [registry.RK, registry.RK, registry.LECHNER],
                          "status": [registry.REPRODUCED, registry.DIFFERS, registry.DIFFERS]})
    counts = tally(board)
    assert counts.loc[registry.RK, registry.REPRODUCED] == 1
    assert counts.loc["all", registry.DIFFERS] == 2 and counts.loc["all", "total"] == 3
    assert counts.loc[registry.LECHNER, registry.PENDING] == 0


def test_the_wide_table_puts_status_and_ours_first_and_fits_narrow_screens():
    board = pd.DataFrame([{c: f"<{c}>" for c in COLUMNS}]).assign(status=registry.UNDECIDED)
    page = board_html(board)
    assert "table-layout:fixed" in page and "width:100%" in page
    row = page.split("<tbody>")[1]
    cells = row.split("<td")[1:]
    assert registry.UNDECIDED in cells[0] and "&lt;ours&gt;" in cells[1]
    assert "<details>" in cells[2] and "&lt;printed&gt;" in cells[2]   # one click away
    assert "&lt;chapter&gt;.html" in cells[2]


def test_the_summary_pages_render_after_the_chapters_and_the_verdict():
    from pathlib import Path

    import pytest

    from falign import scoreboard as sb
    chapters, pages = sb.render_order(["errata", "fig2_conservation", "scoreboard",
                                       "limitations", "table1_lenet_accuracy"])
    assert chapters == ["fig2_conservation", "table1_lenet_accuracy"]
    assert pages == ["scoreboard", "errata", "limitations"]
    with pytest.raises(SystemExit, match="usage"):
        sb.main(["verdicts"])
    with pytest.raises(SystemExit, match="unknown option"):
        sb.main(["render", "--all"])
    make = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    notebooks = make.split("\nnotebooks:")[1].split("\n\n")[0]
    assert "falign.scoreboard render" in notebooks
    assert "falign.scoreboard verdict" in make.split("\nverdict:")[1].split("\n\n")[0]


def test_render_family_adds_every_chapter_that_reads_its_runs(monkeypatch):
    """New runs of a family change the chapters that name it and the store-wide ones (the
    performance page sums every run's wall time); --family renders all of them."""
    import pytest

    from falign import notebooks
    from falign import scoreboard as sb
    reading = notebooks.chapters_reading("lechner_mdfa")
    assert {"lechner_tables1_2_binary", "lechner_tables3_4_cifar_classes",
            "lechner_tables5_6_imagenet_classes", "performance"} <= set(reading)
    assert "fig2_conservation" not in reading
    # A readings family stores beside the family it varies: their chapters go together.
    assert "table2_readings" in notebooks.chapters_reading("resnet_tiny_imagenet")
    # A name that begins another family's name is matched as a whole word only.
    assert "fig2_conservation" not in notebooks.chapters_reading("noisy_mnist_readings")
    assert "fig2_conservation" in notebooks.chapters_reading("noisy_mnist")
    with pytest.raises(ValueError, match="unknown experiment family 'nope'"):
        notebooks.chapters_reading("nope")
    called = []
    monkeypatch.setattr(sb, "render_book", lambda names, allow: called.append((names, allow)))
    sb.main(["render", "fig2_conservation", "--family", "lechner_mdfa", "--allow-uncommitted"])
    names, allow = called[0]
    assert names[0] == "fig2_conservation" and set(reading) <= set(names) and allow
    assert len(names) == len(set(names))
    with pytest.raises(SystemExit, match="--family needs a family name"):
        sb.main(["render", "--family"])
