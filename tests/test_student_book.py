"""Exercises and their solutions: every chapter ends with two or three exercises, each followed
by a worked solution in cells tagged `solution`; the student build drops exactly those cells
and keeps every exercise, and its site holds no solution."""
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from falign.notebooks import (CHAPTERS, SOLUTION_TAG, results_chapters, strip_solutions,
                              student_sources)

EXERCISE = re.compile(r":::\{admonition\} Exercise (\d+):")
SOLUTION = re.compile(r":::\{dropdown\} Solution to exercise (\d+)")


def tagged(cell) -> bool:
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


@pytest.mark.parametrize("name", results_chapters())
def test_every_chapter_ends_with_exercises_each_with_a_worked_solution(name):
    nb = nbformat.read(CHAPTERS / f"{name}.ipynb", as_version=4)
    exercises = [int(m) for c in nb.cells if c.cell_type == "markdown"
                 for m in EXERCISE.findall(c.source)]
    assert 2 <= len(exercises) <= 3, f"{name}: {len(exercises)} exercises"
    assert exercises == list(range(1, len(exercises) + 1))
    solutions = [int(m) for c in nb.cells if tagged(c) for m in SOLUTION.findall(c.source)]
    assert solutions == exercises, f"{name}: solutions {solutions} for exercises {exercises}"
    # every solution has code that ran: a tagged code cell with output after each dropdown
    code = [c for c in nb.cells if tagged(c) and c.cell_type == "code"]
    assert len(code) >= len(exercises) and all(c.outputs for c in code)
    assert all("hide-cell" in c.metadata.get("tags", []) for c in code)
    # no exercise text is tagged (the student copy keeps it)
    assert not any(EXERCISE.search(c.source) for c in nb.cells if tagged(c))


def test_strip_solutions_drops_exactly_the_tagged_cells():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(":::{admonition} Exercise 1: x\n:::"),
        nbformat.v4.new_markdown_cell("answer", metadata={"tags": [SOLUTION_TAG]}),
        nbformat.v4.new_code_cell("print(1)", metadata={"tags": [SOLUTION_TAG, "hide-cell"]}),
        nbformat.v4.new_code_cell("print(2)", metadata={"tags": ["hide-input"]})])
    kept = strip_solutions(nb)
    assert [c.source for c in kept.cells] == [":::{admonition} Exercise 1: x\n:::", "print(2)"]


def test_student_book_has_the_exercises_and_no_solution(tmp_path):
    src = student_sources(tmp_path)
    for name in results_chapters():
        nb = nbformat.read(src / "chapters" / f"{name}.ipynb", as_version=4)
        assert not any(tagged(c) for c in nb.cells)
        assert any(EXERCISE.search(c.source) for c in nb.cells if c.cell_type == "markdown")
    jb = Path(sys.executable).with_name("jupyter-book")
    build = subprocess.run([str(jb), "build", "--warningiserror", "--keep-going", str(src)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    html = src / "_build" / "html"
    for name in results_chapters():
        page = (html / "chapters" / f"{name}.html").read_text()
        assert "Exercise 1:" in page and "Solution to exercise" not in page, name
