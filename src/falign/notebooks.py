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
PAGES = ("scoreboard", "performance")


def chapter_names() -> list[str]:
    return sorted(p.stem for p in CHAPTERS.glob("*.py"))


def results_chapters() -> list[str]:
    """The chapters that regenerate a figure or table of a paper."""
    return [name for name in chapter_names() if name not in PAGES]


def execute_chapter(name: str, output: Path, parameters: dict | None = None,
                    source_dir: Path = CHAPTERS, progress: bool = False) -> Path:
    """Convert chapters/<name>.py to a notebook and execute it with papermill in the chapter
    folder (so relative paths such as ../results resolve as in the book)."""
    import jupytext
    import papermill

    source = source_dir / f"{name}.py"
    if not source.exists():
        raise FileNotFoundError(f"no chapter {name!r}: {source} does not exist; chapters: "
                                f"{', '.join(chapter_names())}")
    notebook = jupytext.read(source)
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index}"             # jupytext draws random ids; keep renders stable
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    # Papermill writes its output cell by cell: execute into a scratch folder beside the output
    # and move the notebook into place only when it ran to the end, so an interrupted or failed
    # execution leaves the previous notebook as it was and no half-executed copy behind.
    scratch = Path(tempfile.mkdtemp(prefix=f".{name}-executing-", dir=output.parent))
    try:
        unexecuted, executed = scratch / "source.ipynb", scratch / "executed.ipynb"
        jupytext.write(notebook, unexecuted)
        papermill.execute_notebook(str(unexecuted), str(executed), parameters=parameters or {},
                                   cwd=str(source_dir), kernel_name="python3",
                                   progress_bar=progress, report_mode=False)
        os.replace(executed, output)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return output


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
        execute_chapter(name, CHAPTERS / f"{name}.ipynb")
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
              "api.md", "data_licences.md")


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
    st = sub.add_parser("student-book", help="build the book without the exercises' solutions")
    st.add_argument("--out", type=Path, default=ROOT / "_build" / "student")
    args = parser.parse_args(argv)
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
