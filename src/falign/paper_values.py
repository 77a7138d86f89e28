"""Numbers printed in the papers, kept beside ours as reference values (never as targets)."""
from __future__ import annotations

import pandas as pd

# Robertson & Koyejo (2024), Appendix B.1, Table 3: mean absolute deviation from 1 of
# Theorem 5.2's normalised potential, +- standard error, by width and method ("uSF" is the
# paper's name for sign-FA with the sqrt(2/(fan_in+fan_out)) scale, "GD" is backprop).
_TABLE3 = """\
width fa fa_se adafa adafa_se signfa signfa_se bp bp_se
15 1.5 0.6 1.0 0.2 0.4 0.1 22.3 3.2
30 0.5 0.2 0.1 0.02 0.07 0.02 4.8 0.3
45 0.2 0.1 0.03 0.01 0.02 0.005 2.6 0.1
60 0.2 0.1 0.01 0.002 0.02 0.003 1.4 0.03
75 0.2 0.2 0.01 0.002 0.009 0.003 1.0 0.09
100 0.07 0.05 0.006 0.002 0.01 0.002 0.6 0.04
125 0.01 0.002 0.006 0.001 0.005 0.001 0.4 0.04
150 0.008 0.002 0.004 0.001 0.004 0.0004 0.4 0.01
175 0.007 0.002 0.005 0.0004 0.003 0.0006 0.3 0.008
200 0.01 0.002 0.004 0.0004 0.003 0.0002 0.2 0.004
"""


def table3() -> pd.DataFrame:
    """The paper's Table 3 in long form: width, rule, mean, se."""
    rows = [line.split() for line in _TABLE3.splitlines()]
    wide = pd.DataFrame(rows[1:], columns=rows[0]).astype(float)
    long = []
    for rule in ("fa", "adafa", "signfa", "bp"):
        long.append(pd.DataFrame({"width": wide.width.astype(int), "rule": rule,
                                  "mean": wide[rule], "se": wide[f"{rule}_se"]}))
    return pd.concat(long, ignore_index=True)


# What the paper says of Figures 2-4 (Section 6.1); the figures carry no printed numbers.
FIGURE_CLAIMS = {
    "figure2": "the normalised potential stays near 1 for the FA family; deviations are larger "
               "for small widths and for FA; for GD the potential is not conserved",
    "figure3": "alignment cos(W2, B2) improves over epochs; adaFA stays above FA; sign-FA is "
               "non-monotonic but stays above the 1/sqrt(n) bound of Proposition 5.3",
    "figure4": "every method fits the noisy training labels and still generalises to the clean "
               "test set; wider networks do not generalise worse",
}

# Protocol facts the text states twice, differently.
PROTOCOL_NOTES = {
    "repeats": "Appendix A: 'repeated 6 times for each width'; Appendix B.1: standard errors "
               "'over the four runs for each width'.",
}
