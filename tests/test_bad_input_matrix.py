"""The bad-input matrix (README, shown in the book): every row names a test that exists and
checks the message or behaviour the row quotes."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def matrix_rows() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    body = text.split("<!-- bad-input-matrix -->")[1].split("<!-- /bad-input-matrix -->")[0]
    lines = [line for line in body.strip().splitlines()[2:]]             # skip header, rule
    return [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines]


def function_source(path: Path, name: str) -> str | None:
    source = path.read_text()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return ast.get_source_segment(source, node)
    return None


def test_every_row_names_an_existing_test_that_checks_what_the_row_quotes():
    rows = matrix_rows()
    assert len(rows) >= 20
    for fault, happens, test in rows:
        path, _, name = test.strip("`").partition("::")
        source = function_source(ROOT / path, name)
        assert source is not None, f"{fault!r}: {test} does not exist"
        quoted = re.findall(r"`([^`]+)`", happens)
        checked = [q for q in quoted if q in source]
        assert checked, f"{fault!r}: {test} checks none of {quoted}"


def test_the_book_page_includes_the_readme_table():
    page = (ROOT / "bad_inputs.md").read_text()
    assert ":start-after: <!-- bad-input-matrix -->" in page and "{include} README.md" in page
    assert "bad_inputs" in (ROOT / "_toc.yml").read_text()
