"""Executing the book's chapters: jupytext sources (chapters/*.py) run by papermill into
notebooks, either to render the book from stored results or to reproduce a chapter's runs."""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def _book_root() -> Path:
    """The book's checkout when falign runs from it (src/falign), else the current directory:
    an installed falign renders the chapters/ and results/ of the book it is run in."""
    checkout = Path(__file__).resolve().parents[2]
    return checkout if (checkout / "src" / "falign").is_dir() else Path.cwd()


ROOT = _book_root()
CHAPTERS = ROOT / "chapters"


# Pages computed from the result store that regenerate no figure or table of their own (and so
# have no exercises).
PAGES = ("scoreboard", "performance", "errata", "limitations")


def chapter_names() -> list[str]:
    return sorted(p.stem for p in CHAPTERS.glob("*.py"))


# Chapters that read every stored run whatever its family (the performance page sums the
# runs' wall times): new runs of any family change them.
STORE_WIDE = ("performance",)


def chapters_reading(family: str) -> list[str]:
    """The chapters to re-render after runs of `family` are stored: those whose source names
    (as a word) the family or any family that shares one of its stores (a readings family
    stores beside the family it varies), and the store-wide chapters."""
    import re

    from .families import families, get_family

    def stores(module):
        return {module.store_name(p) for p in getattr(module, "PROFILES", {})}

    mine = stores(get_family(family))   # an unknown name ends here, listing the known ones
    sharing = sorted(n for n, m in families().items() if n == family or stores(m) & mine)
    word = re.compile(r"\b(" + "|".join(map(re.escape, sharing)) + r")\b")
    named = [n for n in chapter_names() if word.search((CHAPTERS / f"{n}.py").read_text())]
    return named + [n for n in STORE_WIDE if n not in named]


def results_chapters() -> list[str]:
    """The chapters that regenerate a figure or table of a paper."""
    return [name for name in chapter_names() if name not in PAGES]


def local_kernel_manager():
    """A kernel manager whose kernel talks over local IPC sockets instead of TCP: the kernel
    runs on this machine only, and over TCP ipykernel warns, for every chapter, that traffic
    is unencrypted, which is true and irrelevant for a kernel bound to this machine."""
    import tempfile
    import uuid

    from jupyter_client.manager import AsyncKernelManager
    from traitlets import CaselessStrEnum, default

    class LocalKernelManager(AsyncKernelManager):
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

        @default("ip")
        def _unique_socket_prefix(self):
            # Each kernel its own socket files: the default prefix ("kernel-ipc" in the working
            # folder) is shared by kernels started side by side in one folder, which then read
            # each other's messages.
            return str(Path(tempfile.gettempdir()) / f"falign-kernel-{uuid.uuid4().hex}")

    return LocalKernelManager


ANSWER_ID, INTRO_ID = "answer-box", "intro-after-answer"


def add_answer_box(notebook, name: str) -> None:
    """Split the chapter's first cell after its title and put the scoreboard's answer for the
    chapter there (falign.registry.answer_box; the cell's code is hidden, a chapter without
    scoreboard rows shows nothing).  The rendered book opens every chapter with its answer."""
    import nbformat

    first = notebook.cells[0] if notebook.cells else None
    if first is None or first.cell_type != "markdown" or not first.source.startswith("# "):
        return
    text = first.source
    cut = text.find("\n") if "\n" in text else len(text)
    # Keep the italic subtitle (the long title) with the title, above the box.
    head = text[cut:].lstrip("\n")
    if head.startswith("*") and not head.startswith("**"):
        start = len(text) - len(head)
        cut = text.find("\n", start) if "\n" in text[start:] else len(text)
    title, rest = text[:cut], text[cut + 1:]
    first.source = title
    box = nbformat.v4.new_code_cell(
        f'__import__("falign.registry").registry.answer_box({name!r})', id=ANSWER_ID)
    box.metadata["tags"] = ["remove-input"]
    added = [box]
    if rest.strip():
        added.append(nbformat.v4.new_markdown_cell(rest, id=INTRO_ID))
    # After the hidden Colab set-up cell when there is one: it stays the first code cell
    # (the launch pinning and tests/test_launch.py rely on it); the page shows the same order.
    second = notebook.cells[1] if len(notebook.cells) > 1 else None
    at = 2 if second is not None and second.cell_type == "code" and \
        "google.colab" in second.source else 1
    notebook.cells[at:at] = added


def source_cells(notebook) -> list[str]:
    """The chapter source's cells as a rendered notebook holds them: without the cells the
    render step adds (the figure-density cell, the answer box) and with the first cell whole
    again."""
    out = []
    for cell in notebook.cells:
        if cell.get("id") in ("sharp-figures", ANSWER_ID):
            continue
        if cell.get("id") == INTRO_ID and out:
            out[0] = out[0] + "\n" + cell.source
            continue
        out.append(cell.source)
    return out


def execute_chapter(name: str, output: Path, parameters: dict | None = None,
                    source_dir: Path = CHAPTERS, progress: bool = False,
                    answer: bool = False) -> Path:
    """Convert chapters/<name>.py to a notebook and execute it with papermill in the chapter
    folder (so relative paths such as ../results resolve as in the book).  answer: put the
    scoreboard's answer box under the title (the book's render; not `make reproduce`, whose
    results may live elsewhere)."""
    import jupytext
    import nbformat
    import papermill

    source = source_dir / f"{name}.py"
    if not source.exists():
        raise FileNotFoundError(f"no chapter {name!r}: {source} does not exist; chapters: "
                                f"{', '.join(chapter_names())}")
    notebook = jupytext.read(source)
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index}"             # jupytext draws random ids; keep renders stable
    fold_scaffolding(notebook)
    if answer:
        add_answer_box(notebook, name)
    # Every chapter stores its figures at twice their display density, whether or not it calls
    # falign.plots.set_style (which does the same): a hidden cell sets the inline format, right
    # after the first code cell (the Colab install cell stays first, as tests/test_launch.py
    # requires).
    sharp = nbformat.v4.new_code_cell(SHARP_FIGURES, id="sharp-figures")
    sharp.metadata["tags"] = ["remove-cell"]
    first_code = next((i for i, c in enumerate(notebook.cells) if c.cell_type == "code"), -1)
    notebook.cells.insert(first_code + 1, sharp)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    # A chapter that trains a deep network asks Colab for a GPU runtime when it is opened there.
    from .colab import colab_metadata
    notebook.metadata.update(colab_metadata(source.read_text()))
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    # Papermill writes its output cell by cell: execute into a scratch folder beside the output
    # and move the notebook into place only when it ran to the end, so an interrupted or failed
    # execution leaves the previous notebook as it was and no half-executed copy behind.
    scratch = Path(tempfile.mkdtemp(prefix=f".{name}-executing-", dir=output.parent))
    try:
        unexecuted, executed = scratch / "source.ipynb", scratch / "executed.ipynb"
        jupytext.write(notebook, unexecuted)
        # Pass only the parameters the chapter declares: papermill warns "Passed unknown
        # parameter" for each other one, noise for a reader running `make reproduce`.
        declared = set(papermill.inspect_notebook(str(unexecuted)))
        papermill.execute_notebook(str(unexecuted), str(executed),
                                   parameters={k: v for k, v in (parameters or {}).items()
                                               if k in declared},
                                   cwd=str(source_dir), kernel_name="python3",
                                   progress_bar=progress, report_mode=False,
                                   kernel_manager_class=local_kernel_manager())
        os.replace(executed, output)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return output


# The hidden cell every executed chapter gets after its first code cell: PNG figures at 2x
# their display size (falign.plots.DENSITY); it imports no falign, so it runs anywhere.
SHARP_FIGURES = ("from matplotlib_inline.backend_inline import set_matplotlib_formats\n"
                 "set_matplotlib_formats(\"retina\")")


# ------------------------------------------------------------------ folding the scaffolding
FOLD_TAG = "hide-input"        # myst-nb shows the output and a "Show code cell source" toggle
MAX_SHOWN_LINES = 10           # a code cell longer than this is folded
# Tags under which a cell is already hidden or removed: folding leaves such cells alone.
HIDDEN_TAGS = {"hide-input", "hide-cell", "remove-cell", "remove-input"}
# Calls that only set up a chapter (style, display options), allowed in an import cell.
SETUP_CALLS = {"set_style", "filterwarnings", "set_option", "manual_seed", "seed"}


def _code_lines(source: str) -> int:
    """Lines of a cell that hold code (blank lines do not count)."""
    return sum(1 for line in source.splitlines() if line.strip())


def _called_name(node) -> str | None:
    import ast
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        func = node.value.func
        return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return None


def scaffolding_reason(cell) -> str | None:
    """Why a code cell is scaffolding the reader need not see at first (None: keep it shown):
    the parameters cell; a cell of more than MAX_SHOWN_LINES lines of code; a cell of imports
    (and set-up calls such as plots.set_style()) only; a cell that only computes numbers for
    the prose (it calls glue and displays nothing else)."""
    import ast

    if cell.cell_type != "code":
        return None
    tags = set(cell.metadata.get("tags", []))
    if "parameters" in tags:
        return "parameters"
    if _code_lines(cell.source) > MAX_SHOWN_LINES:
        return f"more than {MAX_SHOWN_LINES} lines"
    try:
        body = ast.parse(cell.source).body
    except SyntaxError:                      # IPython magics: leave the cell as it is
        return None
    if not body:
        return None
    if all(isinstance(n, (ast.Import, ast.ImportFrom)) or _called_name(n) in SETUP_CALLS
           for n in body) and any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in body):
        return "imports"
    calls = {getattr(c.func, "attr", getattr(c.func, "id", None))
             for c in ast.walk(ast.Module(body=body, type_ignores=[])) if isinstance(c, ast.Call)}
    last = body[-1]
    shows = isinstance(last, ast.Expr) and _called_name(last) != "glue" and not (
        isinstance(last.value, ast.Constant))
    if "glue" in calls and not shows and not calls & ({"display", "show", "savefig"} | PLOTTING):
        return "glue only"
    return None


# Calls whose cell draws something: a cell that glues and draws is no glue-only cell.
PLOTTING = {"plot", "subplots", "figure", "relplot", "lineplot", "scatterplot", "barplot",
            "imshow", "hist", "bar", "barh", "errorbar", "scatter", "heatmap", "catplot"}


def fold_scaffolding(notebook) -> list[tuple[int, str]]:
    """Tag the scaffolding cells of a chapter notebook FOLD_TAG (in place), so the page shows
    their output and keeps their code one click away; the short cells of library calls that
    carry the chapter stay shown.  Returns (cell index, reason) for every cell folded."""
    folded = []
    for index, cell in enumerate(notebook.cells):
        tags = list(cell.metadata.get("tags", []))
        if HIDDEN_TAGS & set(tags):
            continue
        reason = scaffolding_reason(cell)
        if reason is not None:
            cell.metadata["tags"] = tags + [FOLD_TAG]
            folded.append((index, reason))
    return folded


def uncommitted_runs(results: Path) -> list[str]:
    """Finished runs under `results` that git does not track (empty outside a git checkout).

    A notebook rendered from them shows runs that a clean clone lacks, so nbval fails there."""
    try:
        listing = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--",
                                  str(results)], cwd=results.parent, capture_output=True,
                                 text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return sorted(line[3:] for line in listing.splitlines()
                  if line.endswith("run.json") and "/_" not in line[3:])


def render(names: list[str], allow_uncommitted: bool = False) -> None:
    """Re-execute chapters from stored results (no training) into chapters/<name>.ipynb,
    the notebooks the book shows and nbval checks."""
    pending = uncommitted_runs(ROOT / "results")
    if pending and not allow_uncommitted:
        sys.exit(f"{len(pending)} stored run(s) are not committed (first: {pending[0]}); a "
                 "notebook rendered from them would fail nbval on a clean clone. Commit them "
                 "first (git add results/ && git commit), or pass --allow-uncommitted for a "
                 "local look.")
    for name in names:
        execute_chapter(name, CHAPTERS / f"{name}.ipynb", answer=True)
        _strip_volatile(CHAPTERS / f"{name}.ipynb")
        print(f"rendered chapters/{name}.ipynb")


def reproduce(names: list[str], profile: str, device: str, results: Path, out: Path) -> None:
    """Train whatever runs the chapters need at `profile` (resumable) and write the executed
    notebooks to <out>/<name>-<profile>.ipynb."""
    for name in names:
        path = execute_chapter(name, out / f"{name}-{profile}.ipynb", progress=True,
                               parameters={"profile": profile, "device": device,
                                           "results": str(results.resolve()),
                                           "train_missing": True})
        print(f"wrote {path}")


def _strip_volatile(path: Path) -> None:
    """Drop papermill's timing metadata so that re-rendering unchanged results leaves the
    committed notebook byte-identical."""
    import nbformat
    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)


# ---------------------------------------------------------------------------- student build
SOLUTION_TAG = "solution"     # a cell with this tag is a worked solution: the student build drops it
# What a book build reads besides the chapters' notebooks.
BOOK_FILES = ("_config.yml", "_toc.yml", "intro.md", "references.md", "references.bib",
              "teaching.md", "cite.md", "bad_inputs.md", "README.md", "_static",
              "api.md", "data_licences.md", "glossary.md", "verdict.md")


def strip_solutions(notebook):
    """The notebook without its cells tagged SOLUTION_TAG (in place); returns it."""
    notebook.cells = [c for c in notebook.cells
                      if SOLUTION_TAG not in c.get("metadata", {}).get("tags", [])]
    return notebook


def student_sources(out: Path) -> Path:
    """A copy of the book's sources under <out>/src whose chapter notebooks have no solution
    cells; the exercises stay.  Returns the folder to build."""
    import nbformat
    src = Path(out) / "src"
    if src.exists():
        shutil.rmtree(src)
    (src / "chapters").mkdir(parents=True)
    for name in BOOK_FILES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name)
        elif path.exists():
            shutil.copy2(path, src / name)
    # The copy is not a git checkout, so the pages' "last updated" dates cannot be read from
    # git there: say so once instead of one build-failing warning per page.
    import yaml
    config = yaml.safe_load((src / "_config.yml").read_text())
    sphinx_config = config.setdefault("sphinx", {}).setdefault("config", {})
    sphinx_config["suppress_warnings"] = [*sphinx_config.get("suppress_warnings", []),
                                          "git.subprocess_error", "git.command_not_found"]
    (src / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    for notebook in sorted(CHAPTERS.glob("*.ipynb")):
        nb = strip_solutions(nbformat.read(notebook, as_version=4))
        nbformat.write(nb, src / "chapters" / notebook.name)
    return src


def student_book(out: Path) -> Path:
    """Build the book without solutions (for handing out) into <out>/src/_build/html."""
    src = student_sources(out)
    jb = Path(sys.executable).with_name("jupyter-book")
    subprocess.run([str(jb), "build", "--warningiserror", "--keep-going", str(src)], check=True)
    return src / "_build" / "html"


# ------------------------------------------------------------ the exercises, for instructors
# An exercise is a Markdown cell holding ":::{admonition} Exercise N: topic"; its solution is
# the cells tagged SOLUTION_TAG after it.  The cell may carry metadata that the catalogue shows
# as given, e.g. in the jupytext source:
#     # %% [markdown] exercise={"level": "starter", "minutes": 15, "needs": "nothing"}
# Fields it does not give are inferred from the solution's code and marked so.
EXERCISE_HEADING = r"^:::\{admonition\} Exercise (\d+): (.+?)\s*$"
LEVELS = ("starter", "intermediate", "advanced")
NEEDS = ("nothing", "stored results", "MNIST", "Tiny-ImageNet", "CIFAR-100")
# Inferred level by the lines of solution code (at most, level); inferred minutes by level.
LEVEL_BY_LINES = ((8, "starter"), (20, "intermediate"))
MINUTES_BY_LEVEL = {"starter": 15, "intermediate": 30, "advanced": 45}
# Calls in a solution (or in the chapter cells whose names it uses) that load a dataset; a
# solution needs the stored results when it uses a name the chapter computed after loading
# them (STORE_CALLS).
DATA_CALLS = {"MNIST": {"mnist", "noisy_mnist"},
              "Tiny-ImageNet": {"tiny_imagenet_images", "tiny_imagenet_subset",
                                "tiny_imagenet_class", "tiny_imagenet_classes"},
              "CIFAR-100": {"cifar100_images", "cifar100_subset"}}
STORE_CALLS = {"load_results", "readings_results", "ResultStore", "records", "table"}


def _calls_and_names(code: str) -> tuple[set, set]:
    """The names a piece of code calls (last attribute: data.mnist -> mnist) and the plain
    names it reads without assigning them itself (what it takes from earlier cells)."""
    import ast

    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set(), set()
    called = {getattr(n.func, "attr", getattr(n.func, "id", None))
              for n in ast.walk(tree) if isinstance(n, ast.Call)}
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    own = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    own |= {n.arg for n in ast.walk(tree) if isinstance(n, ast.arg)}
    own |= {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    return called, used - own


def _names_from_store(notebook) -> set:
    """Names a chapter's non-solution cells assign from the result store: those assigned in or
    after the first cell that loads stored runs (STORE_CALLS), the loading cell included."""
    import ast

    names, loading = set(), False
    for cell in notebook.cells:
        if cell.cell_type != "code" or SOLUTION_TAG in cell.metadata.get("tags", []):
            continue
        called, _ = _calls_and_names(cell.source)
        loading = loading or bool(called & {"load_results", "readings_results"})
        if not loading:
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        names |= {n.id for n in ast.walk(tree)
                  if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return names


def _check_exercise_metadata(chapter: str, number: int, meta: dict) -> None:
    """A chapter's exercise metadata must use known fields and values."""
    unknown = set(meta) - {"level", "minutes", "needs"}
    if unknown:
        raise ValueError(f"{chapter}, exercise {number}: unknown metadata field(s) "
                         f"{sorted(unknown)}; use level, minutes and needs")
    if "level" in meta and meta["level"] not in LEVELS:
        raise ValueError(f"{chapter}, exercise {number}: level {meta['level']!r} is not one of "
                         f"{LEVELS}; pick one of them")
    if "minutes" in meta and not (isinstance(meta["minutes"], int) and meta["minutes"] > 0):
        raise ValueError(f"{chapter}, exercise {number}: minutes must be a positive whole "
                         f"number, not {meta['minutes']!r}")
    needs = meta.get("needs", "nothing")
    for need in ([needs] if isinstance(needs, str) else needs):
        if need not in NEEDS:
            raise ValueError(f"{chapter}, exercise {number}: needs {need!r} is not one of "
                             f"{NEEDS}; name what the exercise needs from that list")


def exercises(source_dir: Path = CHAPTERS) -> list[dict]:
    """Every exercise of every chapter source in `source_dir`: chapter, its title, number,
    topic, level, minutes, needs, the solution's code, and which of level/minutes/needs were
    inferred (not given in the cell's "exercise" metadata)."""
    import re

    import jupytext

    found = []
    for path in sorted(Path(source_dir).glob("*.py")):
        notebook = jupytext.read(path)
        title = next((c.source.lstrip("# ").splitlines()[0] for c in notebook.cells
                      if c.cell_type == "markdown" and c.source.startswith("# ")), path.stem)
        current = None
        chapter_names_from_store = _names_from_store(notebook)
        for cell in notebook.cells:
            match = (re.search(EXERCISE_HEADING, cell.source, re.M)
                     if cell.cell_type == "markdown" else None)
            if match:
                meta = dict(cell.metadata.get("exercise", {}))
                _check_exercise_metadata(path.stem, int(match.group(1)), meta)
                current = {"chapter": path.stem, "title": title, "number": int(match.group(1)),
                           "topic": match.group(2).strip(), "meta": meta, "code": [],
                           "store_names": chapter_names_from_store}
                found.append(current)
            elif current is not None and cell.cell_type == "code" and \
                    SOLUTION_TAG in cell.metadata.get("tags", []):
                current["code"].append(cell.source)
    for ex in found:
        code = "\n".join(ex.pop("code"))
        meta = ex.pop("meta")
        lines = _code_lines(code)
        level = next((lv for most, lv in LEVEL_BY_LINES if lines <= most), "advanced")
        called, used = _calls_and_names(code)
        needs = (["stored results"] if (used & ex.pop("store_names")) or called & STORE_CALLS
                 else [])
        needs += [data for data, calls in DATA_CALLS.items() if called & calls]
        inferred = {"level": level, "minutes": MINUTES_BY_LEVEL[meta.get("level", level)],
                    "needs": ", ".join(needs) or "nothing"}
        given = {k: (", ".join(v) if isinstance(v, list) else v) for k, v in meta.items()}
        ex.update({**inferred, **given, "solution_code": code,
                   "inferred": [k for k in ("level", "minutes", "needs") if k not in given]})
    return found


def _falign_calls(chapter_source: str, solution_code: str) -> set[str]:
    """The falign functions and classes a solution calls, by their full names (aliases resolved
    with the chapter's imports)."""
    import ast

    aliases = {}
    for node in ast.walk(ast.parse(chapter_source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("falign"):
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("falign"):
                    aliases[a.asname or a.name.split(".")[0]] = a.asname and a.name or "falign"
    calls = set()
    for node in ast.walk(ast.parse(solution_code)):
        if not isinstance(node, ast.Call):
            continue
        parts, func = [], node.func
        while isinstance(func, ast.Attribute):
            parts.insert(0, func.attr)
            func = func.value
        if isinstance(func, ast.Name) and func.id in aliases:
            calls.add(".".join([aliases[func.id]] + parts))
    return calls


def _summary_line(qualified: str, limit: int = 180) -> str | None:
    """The first paragraph of a falign object's docstring, cut at a word near `limit`
    characters and made safe for a Markdown table cell; None when it is no falign object."""
    import importlib
    import inspect

    parts = qualified.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        doc = " ".join((inspect.getdoc(obj) or "(no description)").split("\n\n")[0].split())
        if len(doc) > limit:
            doc = doc[:limit].rsplit(" ", 1)[0] + " \u2026"
        for char in "\\|*$`_<":                 # literal in a table cell, no markup or math
            doc = doc.replace(char, "\\" + char)
        return doc
    return None


def exercise_catalogue_markdown(source_dir: Path = CHAPTERS) -> str:
    """The teaching page's catalogue: one row per exercise (chapter, topic, level, minutes,
    needs), inferred values marked with an asterisk."""
    rows = ["| chapter | exercise | level | minutes | needs |", "|---|---|---|---|---|"]
    for ex in exercises(source_dir):
        mark = {k: "\\*" if k in ex["inferred"] else "" for k in ("level", "minutes", "needs")}
        topic = ex["topic"].replace("|", "\\|")
        # the chapter's short name: its title up to the colon ("Figure 3", "Lechner 2020, ...")
        title = ex["title"].split(":")[0].replace("|", "/").replace("`", "'").replace("<", "(")
        rows.append(f"| {{doc}}`{title} <chapters/{ex['chapter']}>` | "
                    f"{ex['number']}: {topic} | {ex['level']}{mark['level']} | "
                    f"{ex['minutes']}{mark['minutes']} | {ex['needs']}{mark['needs']} |")
    return "\n".join(rows)


def library_summary_markdown(source_dir: Path = CHAPTERS) -> str:
    """The teaching page's summary of the falign calls the exercises' solutions make: each
    call, what it does (its docstring's first sentence) and how many exercises use it."""
    used: dict[str, set] = {}
    for path in sorted(Path(source_dir).glob("*.py")):
        chapter = [e for e in exercises_cache(source_dir) if e["chapter"] == path.stem]
        if not chapter:
            continue
        import jupytext
        code = "\n".join(c.source for c in jupytext.read(path).cells if c.cell_type == "code"
                         and not c.source.lstrip().startswith(("%", "!")))
        for ex in chapter:
            for call in _falign_calls(code, ex["solution_code"]):
                used.setdefault(call, set()).add((ex["chapter"], ex["number"]))
    rows = ["| call | what it does | exercises |", "|---|---|---|"]
    for call in sorted(used):
        line = _summary_line(call)
        if line is None:
            continue
        rows.append(f"| `{call}` | {line.replace('|', '/')} | {len(used[call])} |")
    return "\n".join(rows)


def exercises_cache(source_dir: Path = CHAPTERS, _cache: dict = {}) -> list[dict]:
    """exercises(source_dir), read once per process."""
    key = str(Path(source_dir).resolve())
    if key not in _cache:
        _cache[key] = exercises(source_dir)
    return _cache[key]


GENERATED = {"catalogue": exercise_catalogue_markdown, "library": library_summary_markdown}


def teaching_page(text: str, source_dir: Path = CHAPTERS) -> str:
    """The teaching page's text with its generated sections (between <!-- NAME:start --> and
    <!-- NAME:end --> for NAME in GENERATED) rewritten from the chapter sources."""
    import re

    for name, make in GENERATED.items():
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        if start not in text or end not in text:
            raise ValueError(f"the teaching page has no {start} ... {end} section; add both "
                             "markers where the generated table belongs")
        text = re.sub(re.escape(start) + r".*?" + re.escape(end),
                      lambda _: f"{start}\n{make(source_dir)}\n{end}", text, flags=re.S)
    return text


def main(argv: list[str] | None = None) -> None:
    from .families import families         # here, not at import: it loads torch

    parser = argparse.ArgumentParser(prog="python -m falign.notebooks", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("render", help="re-execute chapters from stored results")
    r.add_argument("chapters", nargs="*", help="chapter names (default: all)")
    r.add_argument("--allow-uncommitted", action="store_true",
                   help="render even while the store holds runs git does not track")
    p = sub.add_parser("reproduce", help="train what a chapter needs, then execute it")
    p.add_argument("chapters", nargs="*", help="chapter names (default: all)")
    p.add_argument("--profile", default="quick",
                   choices=sorted({name for f in families().values() for name in f.PROFILES}))
    p.add_argument("--device", default="auto")
    p.add_argument("--results", type=Path, default=ROOT / "results")
    p.add_argument("--out", type=Path, default=ROOT / "_build" / "reproduced")
    te = sub.add_parser("teaching", help="rewrite teaching.md's exercise catalogue and library "
                                         "summary from the chapter sources")
    te.add_argument("--check", action="store_true", help="only fail if teaching.md is stale")
    st = sub.add_parser("student-book", help="build the book without the exercises' solutions")
    st.add_argument("--out", type=Path, default=ROOT / "_build" / "student")
    args = parser.parse_args(argv)
    if args.command == "teaching":
        page = ROOT / "teaching.md"
        text = page.read_text()
        fresh = teaching_page(text)
        if args.check:
            sys.exit(0 if fresh == text else "teaching.md is stale: run "
                     "`python -m falign.notebooks teaching`")
        page.write_text(fresh)
        print(f"wrote {page}")
        return
    if args.command == "student-book":
        print(f"student book (no solutions): {student_book(args.out)}/index.html")
        return
    names = args.chapters or chapter_names()
    unknown = sorted(set(names) - set(chapter_names()))
    if unknown:
        sys.exit(f"unknown chapter(s) {unknown}; chapters: {', '.join(chapter_names())}")
    if args.command == "render":
        render(names, args.allow_uncommitted)
    else:
        reproduce(names, args.profile, args.device, args.results, args.out)


if __name__ == "__main__":
    main()
