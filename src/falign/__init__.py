"""falign: feedback-alignment learning rules, models and measurements for the book
reproducing Robertson & Koyejo (ICML 2024), Lillicrap et al. (2016) and Lechner (2020)."""
from .layers import (FeedbackConv2d, FeedbackLinear, after_optimizer_step, convert,
                     feedback_layers, true_gradient)
from .rules import RULES, get_rule

# The one place for the version: pyproject.toml reads it (dynamic version), and
# tests/test_publishing.py checks CITATION.cff and the "How to cite" page against it.
__version__ = "0.1.0"

__all__ = ["RULES", "get_rule", "convert", "after_optimizer_step", "feedback_layers",
           "true_gradient", "FeedbackLinear", "FeedbackConv2d", "__version__"]
