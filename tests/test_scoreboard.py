"""The scoreboard page: statuses follow the stored runs (none stored -> every row pending), a
table cell agrees within two standard errors of the difference, and the tally counts rows."""
import math

import pandas as pd

from falign import analysis
from falign.scoreboard import COLUMNS, scoreboard, tally


def test_an_empty_store_leaves_every_row_pending(tmp_path):
    board = scoreboard(tmp_path)
    assert list(board.columns) == COLUMNS
    assert set(board.status) == {"pending GPU run"}
    # every item the book regenerates has rows; the Table 1 and 2 cells are all there
    assert {"Figure 2", "Figure 3", "Figure 4", "Table 3", "Table 1", "Figures 5-7",
            "Table 2"} <= set(board["item"])
    assert (board["item"] == "Table 2").sum() == 12 + 3      # 12 cells + 3 orderings
    counts = tally(board)
    assert counts["pending GPU run"].sum() == len(board) and counts["reproduced"].sum() == 0


def test_agreement_is_two_standard_errors_of_the_difference():
    assert analysis.agrees(60.0, 1.0, 62.0, 0.5)            # 2.0 <= 2 * 1.118
    assert not analysis.agrees(60.0, 1.0, 62.5, 0.5)        # 2.5 > 2.236
    assert analysis.agrees(66.1, math.nan, 67.5, 0.7)        # one run: borrows the paper's SE
    assert not analysis.agrees(65.0, math.nan, 67.5, 0.7)


def test_tally_counts_statuses_per_item():
    board = pd.DataFrame({"item": ["A", "A", "B"], "status": ["reproduced", "differs", "differs"]})
    counts = tally(board)
    assert counts.loc["A", "reproduced"] == 1 and counts.loc["B", "differs"] == 1
    assert counts.loc["B", "pending GPU run"] == 0
