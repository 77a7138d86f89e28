"""What a reader of a chapter page sees besides the science: scaffolding folded at render time
(falign.notebooks.fold_scaffolding), no bare number printed by a glue cell, the re-run box
(falign.chapters.rerun_box), and the teaching page's generated exercise catalogue and library
summary (falign.notebooks.teaching_page)."""
import base64
import shutil
import textwrap
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from IPython.core.formatters import DisplayFormatter

from falign import notebooks
from falign.chapters import glue, rerun_box, rerun_costs
from falign.store import ResultStore
from falign.sweep import run_sweep

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- folding
def _cell(source, tags=()):
    cell = nbformat.v4.new_code_cell(textwrap.dedent(source).strip())
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def test_scaffolding_is_folded_and_the_chapters_calls_stay_shown():
    long_cell = "\n".join(f"x{i} = {i}" for i in range(11))
    cells = {
        "parameters": _cell('profile = "paper"', ["parameters"]),
        "long": _cell(long_cell),
        "ten lines of plotting": _cell("\n".join(["fig = plots.against_width(final, {})"] * 10)),
        "imports": _cell("import numpy as np\nfrom falign import plots\n\nplots.set_style()"),
        "glue only": _cell('gap = a - b\nglue("gap", gap)\n_ = glue("b", b)'),
        "glue and a table": _cell('glue("gap", a - b)\ndisplay(table)'),
        "glue and a value": _cell('glue("gap", a - b)\ntable.round(2)'),
        "glue and a figure": _cell('glue("gap", a - b)\nax.plot([1, 2], [3, 4])'),
        "library call": _cell("grid = plots.over_epochs(sweep.table, 'y', 'y (unitless)')"),
        "already hidden": _cell(long_cell, ["hide-cell", "solution"]),
    }
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# T")] + list(cells.values()))
    folded = dict(notebooks.fold_scaffolding(nb))
    names = list(cells)
    by_name = {names[i - 1]: reason for i, reason in folded.items()}
    assert by_name == {"parameters": "parameters", "long": "more than 10 lines",
                       "imports": "imports", "glue only": "glue only"}
    for name, cell in cells.items():
        tags = cell.metadata.get("tags", [])
        assert (notebooks.FOLD_TAG in tags) == (name in by_name), name
    assert cells["already hidden"].metadata["tags"] == ["hide-cell", "solution"]
    # folding twice changes nothing
    assert notebooks.fold_scaffolding(nb) == []


def test_a_rendered_chapter_has_its_scaffolding_folded_and_prints_no_bare_glued_value(tmp_path):
    source = tmp_path / "tiny.py"
    source.write_text(textwrap.dedent('''\
        # %% [markdown]
        # # A tiny chapter

        # %% tags=["parameters"]
        scale = 2.0

        # %%
        from falign.chapters import glue
        value = scale * 1.5
        glue("value", value)

        # %%
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(4, 3), dpi=100)
        _ = ax.plot([0, 1], [0, 1])

        # %%
        total = 0.0
        for k in range(1, 12):
            total += k * scale
            total -= k
            total += 0.5
            total *= 1.0
            total /= 1.0
            total += 0.0
            total -= 0.0
            total += 0.0
        total
        '''))
    out = notebooks.execute_chapter("tiny", tmp_path / "tiny.ipynb", source_dir=tmp_path)
    nb = nbformat.read(out, as_version=4)
    first, sharp, *rest = [c for c in nb.cells if c.cell_type == "code"]
    code = [first] + rest                           # the chapter's own cells, first one first
    assert "parameters" in first.metadata["tags"] and sharp.id == "sharp-figures"
    assert sharp.metadata["tags"] == ["remove-cell"]
    assert [notebooks.FOLD_TAG in c.metadata.get("tags", []) for c in code] == \
        [True, True, False, True]
    # the figure is stored at twice its display width (about 400 px for 4 in at 100 dpi,
    # less the margins a tight bounding box trims)
    [figure] = [o for o in code[2].outputs if "image/png" in o.get("data", {})]
    shown = figure.metadata["image/png"]["width"]
    png = base64.b64decode(figure.data["image/png"])
    assert 300 < shown <= 400 and int.from_bytes(png[16:20], "big") >= 2 * shown  # IHDR width
    glue_outputs = [o for o in code[1].outputs if o.output_type == "execute_result"]
    assert glue_outputs == [], "a cell ending in glue(...) printed the glued value"
    # the long cell's own last expression is still shown: folding hides code, not results
    assert any(o.output_type == "execute_result" for o in code[3].outputs)


def test_a_glued_value_computes_as_itself_and_displays_nothing():
    number, text = glue("test_number", 3.25), glue("test_text", "FA")
    assert number == 3.25 and number * 2 == 6.5 and isinstance(number, float)
    assert text == "FA" and text.lower() == "fa"
    formatter = DisplayFormatter()
    assert formatter.format(number) == ({}, {}) and formatter.format(text) == ({}, {})
    assert formatter.format(3.25)[0]["text/plain"] == "3.25"     # a plain float would show


# ----------------------------------------------------------------------------- re-run box
@pytest.fixture
def toy():
    from test_families import make_toy_family

    from falign import families
    calls = []
    yield make_toy_family(calls)
    families._REGISTERED.pop("toy", None)


def test_the_rerun_box_gives_one_command_per_profile_measured_times_and_empty_cells(toy, tmp_path):
    from falign.chapters import load_results
    store = ResultStore(tmp_path, "toy")
    run_sweep(toy, toy.PROFILES["quick"], store, progress=False)      # one repeat per cell
    emptied = toy.run_specs(toy.PROFILES["quick"])[-1]               # size 2, bp
    shutil.rmtree(store.path(emptied))
    sweep = load_results("toy", "paper", tmp_path)
    costs = rerun_costs("toy", tmp_path).set_index("profile")
    assert list(costs.index) == ["paper", "quick"]                    # smoke is the tests' own
    walls = [r["provenance"]["wall_time_s"] for r in store.records()]
    assert costs.loc["paper", "cpu_s_stored"] == pytest.approx(sum(walls))
    assert (costs.loc["paper", "stored"], costs.loc["paper", "planned"]) == (3, 8)
    html = rerun_box(sweep).data
    for profile in ("paper", "quick"):
        assert (f"python -m falign.runs train toy --profile {profile} --budget-min 60 "
                "--workers 1") in html
    assert "--profile smoke" not in html
    assert "3 of 8 runs" in html and "Cells still empty" in html and "size = 2: bp" in html
    assert "size = 1: fa 1/2; bp 1/2" in html
    assert "measured:" in html and "estimate, not measured" in html
    assert "--budget-min 60</code> stops" in html and "--workers N</code> trains" in html
    # a run trained on a GPU turns the GPU estimate into a measurement
    prov = dict(store.records()[0]["provenance"], device="cuda: NVIDIA H100", wall_time_s=2.0)
    store.save(emptied, pd.DataFrame({"epoch": [0], "rule": ["bp"], "value": [0.0]}), prov)
    html = rerun_box(load_results("toy", "paper", tmp_path)).data
    assert "measured: 2 s for the 1 run trained on a GPU" in html


def test_the_rerun_box_estimates_missing_runs_from_their_own_cell(toy, tmp_path):
    store = ResultStore(tmp_path, "toy")
    run_sweep(toy, toy.PROFILES["quick"], store, progress=False)
    costs = rerun_costs("toy", tmp_path).set_index("profile")
    # the paper grid lacks one repeat in each of the four cells; each is priced at its own
    # cell's stored run, so the estimate of what is left equals what was measured
    assert costs.loc["paper", "cpu_s_left_estimate"] == pytest.approx(
        costs.loc["paper", "cpu_s_stored"])
    assert costs.loc["quick", "cpu_s_left_estimate"] == 0.0
    # a family that prices its runs scales an empty cell from the seconds per unit of cost
    toy.cost = lambda spec: float(spec["size"])
    for spec in toy.run_specs(toy.PROFILES["quick"]):
        if spec["size"] == 2:
            shutil.rmtree(store.path(spec))
    kept = store.records()
    per_unit = sorted(r["provenance"]["wall_time_s"] for r in kept)     # size 1: cost 1
    costs = rerun_costs("toy", tmp_path).set_index("profile")
    assert costs.loc["quick", "cpu_s_left_estimate"] == pytest.approx(
        2 * 2.0 * (per_unit[0] + per_unit[1]) / 2)                      # two size-2 runs
    with pytest.raises(ValueError, match="unknown profile.*'huge'.*profiles"):
        rerun_costs("toy", tmp_path, profiles=["huge"])


# ------------------------------------------------------------------------------ teaching
def test_the_teaching_page_lists_every_exercise_of_the_chapters_and_is_fresh():
    page = (ROOT / "teaching.md").read_text()
    assert notebooks.teaching_page(page) == page, \
        "teaching.md is stale: run `python -m falign.notebooks teaching`"
    listed = {(e["chapter"], e["number"]) for e in notebooks.exercises()}
    assert len(listed) >= 40
    for chapter, number in listed:
        assert f"<chapters/{chapter}>` | {number}: " in page
    # the course plan names every chapter of the book
    for name in notebooks.chapter_names():
        assert f"<chapters/{name}>`" in page.split("## The exercises")[0], name


def _exercise_chapter(tmp_path, metadata="", solution="x = 1"):
    (tmp_path / "ex.py").write_text(textwrap.dedent(f'''\
        # %% [markdown]
        # # Chapter X: a test

        # %%
        from falign.chapters import load_results
        sweep = load_results("noisy_mnist", "smoke", "results")

        # %% [markdown] {metadata}
        # :::{{admonition}} Exercise 1: a question
        # :class: tip
        # Predict, then check.
        # :::

        # %% tags=["solution", "hide-cell"]
        ''') + solution + "\n")
    return tmp_path


def test_exercise_needs_and_level_are_inferred_and_marked_unless_the_chapter_states_them(tmp_path):
    [ex] = notebooks.exercises(_exercise_chapter(tmp_path, solution="print(sweep.table.shape)"))
    assert (ex["topic"], ex["needs"], ex["level"], ex["minutes"]) == (
        "a question", "stored results", "starter", 15)
    assert ex["inferred"] == ["level", "minutes", "needs"]
    [ex] = notebooks.exercises(_exercise_chapter(
        tmp_path, solution="from falign import data\nx, y = data.mnist()"))
    assert ex["needs"] == "MNIST"
    [ex] = notebooks.exercises(_exercise_chapter(
        tmp_path, 'exercise={"level": "advanced", "minutes": 20, "needs": "nothing"}'))
    assert (ex["level"], ex["minutes"], ex["needs"], ex["inferred"]) == ("advanced", 20, "nothing", [])
    table = notebooks.exercise_catalogue_markdown(tmp_path)
    assert "| 1: a question | advanced | 20 | nothing |" in table
    [ex] = notebooks.exercises(_exercise_chapter(tmp_path, 'exercise={"level": "advanced"}'))
    assert ex["minutes"] == 45 and ex["inferred"] == ["minutes", "needs"]


@pytest.mark.parametrize("metadata, message", [
    ('exercise={"level": "hard"}', "level 'hard' is not one of"),
    ('exercise={"minutes": "ten"}', "minutes must be a positive whole number"),
    ('exercise={"needs": "CIFAR-10"}', "needs 'CIFAR-10' is not one of"),
    ('exercise={"time": 5}', r"unknown metadata field\(s\) \['time'\]"),
])
def test_bad_exercise_metadata_names_the_exercise_and_the_fix(tmp_path, metadata, message):
    with pytest.raises(ValueError, match=rf"ex, exercise 1: {message}"):
        notebooks.exercises(_exercise_chapter(tmp_path, metadata))


def test_the_library_summary_resolves_aliases_to_falign_names():
    chapter = "from falign import analysis as an\nfrom falign.theory import potentials\n"
    calls = notebooks._falign_calls(chapter, "an.mean_se(t, 'y', ['rule'])\npotentials(net)\nlen(x)")
    assert calls == {"falign.analysis.mean_se", "falign.theory.potentials"}
    line = notebooks._summary_line("falign.analysis.mean_se")
    assert line and "\n" not in line and "|" not in line.replace("\\|", "")
    assert notebooks._summary_line("falign.analysis.no_such_function") is None
    with pytest.raises(ValueError, match="no <!-- catalogue:start -->"):
        notebooks.teaching_page("a page without markers")
