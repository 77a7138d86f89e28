"""falign: feedback-alignment learning rules, models and measurements for the book
reproducing Robertson & Koyejo (ICML 2024), Lillicrap et al. (2016) and Lechner (2020)."""
from .layers import (FeedbackConv2d, FeedbackLinear, after_optimizer_step, convert,
                     feedback_layers, true_gradient)
from .rules import RULES, get_rule

# The version is read from the release tag by setuptools-scm when the package is built or
# installed (pyproject.toml, [tool.setuptools_scm]), which writes it to _version.py: X.Y.Z on
# a release tag vX.Y.Z, X.Y.Z.postN+g<commit> N commits after it.  An import from a source
# tree that was never built has no _version.py and says so instead of guessing a release.
try:
    from ._version import version as __version__
except ImportError:
    __version__ = "0+unknown"

__all__ = ["RULES", "get_rule", "convert", "after_optimizer_step", "feedback_layers",
           "true_gradient", "FeedbackLinear", "FeedbackConv2d", "__version__"]
