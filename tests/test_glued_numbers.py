"""Numbers in a chapter's prose come from its computation: a decimal number typed into the
prose of a chapter that also appears in one of its results (a table, a computed sentence) is
a number that will go stale when a run changes, and fails this test.  Such numbers are glued
(myst-nb's `glue`) from the computation instead; what a chapter glues is counted here too."""
import re

import nbformat
import pytest

from falign.notebooks import CHAPTERS, chapter_names

DECIMAL = re.compile(r"(?<![\w.])[-+−]?\d+\.\d+(?![\w.])")
# prose that is not a hand-typed result: math, code, glue roles, links, and the numbers of the
# paper's theorems, sections and equations
NOT_PROSE = re.compile(r"\$\$.*?\$\$|\$[^$\n]*\$|```.*?```|`[^`\n]*`|\{[a-z:]+\}`[^`]*`|"
                       r"\]\([^)]*\)|(?:Theorem|Proposition|Lemma|Corollary|Definition|Section|"
                       r"Appendix|Equation|Eq\.)s?\s+[A-Z]?\d+(?:\.\d+)+", re.S)


def prose_numbers(nb) -> dict[str, str]:
    """Decimal numbers in the Markdown cells (outside math, code and roles) -> where."""
    found = {}
    for k, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        for m in DECIMAL.finditer(NOT_PROSE.sub(" ", cell.source)):
            found.setdefault(m.group().lstrip("+-−"), f"markdown cell {k}")
    return found


def result_numbers(nb) -> set[str]:
    """Decimal numbers in the outputs the chapter computed (tables, text, Markdown)."""
    out = set()
    for cell in nb.cells:
        # The answer box under the title restates the scoreboard's rows (printed values,
        # thresholds), not the chapter's own computation.
        if cell.cell_type != "code" or cell.get("id") == "answer-box":
            continue
        for o in cell.get("outputs", []):
            texts = [o.get("text", "")] + [o.get("data", {}).get(k, "") for k in
                                           ("text/plain", "text/html", "text/markdown")]
            for text in texts:
                text = "".join(text) if isinstance(text, list) else text
                out |= {m.group().lstrip("+-−") for m in DECIMAL.finditer(text)}
    return out


def glued(nb) -> int:
    return sum(1 for cell in nb.cells if cell.cell_type == "markdown"
               for _ in re.finditer(r"\{glue(?::\w+)?\}`", cell.source))


@pytest.mark.parametrize("name", chapter_names())
def test_no_hand_typed_number_repeats_a_computed_one(name):
    nb = nbformat.read(CHAPTERS / f"{name}.ipynb", as_version=4)
    typed = prose_numbers(nb)
    clashes = sorted((n, where) for n, where in typed.items() if n in result_numbers(nb))
    assert not clashes, (f"{name}: numbers typed in the prose that the chapter also computes "
                         f"(glue them from the computation): {clashes}")


def test_the_detector_catches_a_typed_result_and_spares_glue_and_math():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("FA reaches 48.5% here, $x = 0.25$, {glue:text}`acc:.1f`, "
                                      "as Proposition 5.3 says"),
        nbformat.v4.new_code_cell("", outputs=[nbformat.v4.new_output(
            "display_data", data={"text/html": "<td>48.5 ± 0.1</td><td>0.25</td><td>5.3</td>"})])])
    assert prose_numbers(nb) == {"48.5": "markdown cell 0"}
    assert {"48.5", "0.25", "0.1", "5.3"} <= result_numbers(nb)
    assert glued(nb) == 1
