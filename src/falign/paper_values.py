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


def _long_table(text: str) -> pd.DataFrame:
    """A printed table (first column the row key, then `rule rule_se` pairs) in long form:
    key, rule, mean, se."""
    rows = [line.split() for line in text.splitlines()]
    wide = pd.DataFrame(rows[1:], columns=rows[0]).astype(float)
    key = rows[0][0]
    long = [pd.DataFrame({key: wide[key].astype(int), "rule": rule, "mean": wide[rule],
                          "se": wide[f"{rule}_se"]})
            for rule in ("fa", "adafa", "signfa", "bp")]
    return pd.concat(long, ignore_index=True)


def table3() -> pd.DataFrame:
    """The paper's Table 3 in long form: width, rule, mean, se."""
    return _long_table(_TABLE3)


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


# Robertson & Koyejo (2024), Section 6.2, Table 1: test accuracy (%) of the LeNet on n-class
# subsets of CIFAR-100, mean +- standard error over six repeats (App. A).
_TABLE1 = """\
n_classes fa fa_se adafa adafa_se signfa signfa_se bp bp_se
10 55.2 3.8 61.6 0.4 74.1 0.1 75.8 0.2
25 39.7 0.5 42.9 1.2 58.9 1.2 60.1 1.2
50 32.6 0.6 34.1 0.5 48.9 0.3 50.6 0.4
"""


def table1() -> pd.DataFrame:
    """The paper's Table 1 in long form: n_classes, rule, mean, se (test accuracy, %)."""
    return _long_table(_TABLE1)


# Section 6.2 and App. B.2 on Table 1 and Figures 5-7, in our words.
TABLE1_CLAIMS = {
    "ordering": "sign-FA is close to GD (within about 2 points) at every n, and both are well "
                "above adaFA and FA",
    "initialisation": "adaFA beats FA, by less as n grows (6.4, 3.2 and 1.5 points at n = 10, "
                      "25, 50)",
    "difficulty": "test accuracy falls as n grows, for every rule",
    "alignment": "FA's alignment grows over training, most in the output layer; adaFA stays "
                 "above FA; alignment is lower for larger n, most of all for FA",
}


# Robertson & Koyejo (2024), Section 6.2, Table 2: test accuracy (%) of ResNet-18 on n-class
# subsets of Tiny-ImageNet (validation images as the test set), mean +- standard error over
# four repeats (App. A).
_TABLE2 = """\
n_classes fa fa_se adafa adafa_se signfa signfa_se bp bp_se
10 49.6 1.7 51.6 2.2 64.9 4.8 67.5 0.7
25 40.1 1.6 35.3 1.0 53.0 2.6 55.9 0.6
50 30.9 0.8 31.0 0.9 47.7 0.6 53.4 2.3
"""


def table2() -> pd.DataFrame:
    """The paper's Table 2 in long form: n_classes, rule, mean, se (test accuracy, %)."""
    return _long_table(_TABLE2)


# Section 6.2 on Table 2, in our words: the same reading as Table 1's, with one exception.
TABLE2_CLAIMS = {
    "ordering": "sign-FA and GD well above adaFA and FA at every n (sign-FA within 2.6 to 5.7 "
                "points of GD)",
    "initialisation": "adaFA's lead over FA is small at n = 10 (2.0 points), reversed at n = 25 "
                      "(4.8 points below FA) and nil at n = 50 (0.1)",
    "difficulty": "test accuracy falls as n grows, for every rule",
}
