"""The masks nbval applies (nbval_sanitize.cfg) hide only round-off digits: what they let
differ, and what they must keep apart."""
import configparser
import re
from pathlib import Path

import pytest

CFG = Path(__file__).resolve().parents[1] / "nbval_sanitize.cfg"


def sanitize(text: str) -> str:
    # nbval applies the sections' regexes in file order.
    cfg = configparser.ConfigParser()
    cfg.read(CFG)
    for section in cfg.sections():
        text = re.sub(cfg[section]["regex"], cfg[section]["replace"], text)
    return text


@pytest.mark.parametrize("a, b", [
    ("6.389157629474451e-05", "6.389157729474451e-05"),   # glued difference, 8th digit
    ("6.389158e-05", "6.389157e-05"),                     # pandas' display of the same
    ("1.9268250", "1.92682504"),                          # after the seventh decimal
    ("2.2e-16", "4.4e-16"),                               # round-off residuals
])
def test_masks_equate_round_off(a, b):
    assert sanitize(a) == sanitize(b)


@pytest.mark.parametrize("a, b", [
    ("6.38915e-05", "6.38925e-05"),     # a change in the fifth mantissa decimal is kept
    ("0.1464377", "0.1464378"),         # seventh decimal of an ordinary number is kept
    ("3.1e-04", "3.2e-04"),             # exponents above 1e-5 are never masked
    ("1.5e-05", "1.5e-06"),             # nor are exponents themselves
])
def test_masks_keep_real_differences(a, b):
    assert sanitize(a) != sanitize(b)
