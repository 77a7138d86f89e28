"""The book's Sphinx extension (_config.yml, sphinx.extra_extensions): what a page says about the
build it comes from, and launches that run the page's own code.

* Every page's footer names the version (setuptools-scm, from the release tag), the commit the
  site was built from (linked on GitHub) and the build date; sphinx-last-updated-by-git adds
  when the page's source last changed.  A shallow clone cannot date a page whose last change is
  older than its history: there the page shows no date and the footer says why (the workflows
  fetch the full history).
* The Colab and Binder launch buttons open the page's notebook at the release tag the site was
  built from, or at its commit when HEAD carries no release tag, instead of the branch head.
* The notebooks the site offers for download (_sources/) carry the same ref in their Colab
  set-up cell, and those of chapters that train a deep network ask Colab for a GPU.
* The API reference (sphinx-autoapi) links each object to its source lines at the build commit
  (sphinx.ext.linkcode).

FALIGN_BUILD_COMMIT, FALIGN_BUILD_REF and SOURCE_DATE_EPOCH override the commit, the launch
ref and the date (for a build outside a git checkout, or a reproducible one)."""
from __future__ import annotations

import datetime as _dt
import html
import inspect
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from . import colab

ROOT = Path(__file__).resolve().parents[2]
RELEASE_TAG = re.compile(r"v\d+\.\d+\.\d+")
# The Colab cell's call that the downloadable notebooks get the ref in.
SETUP_CALL = '__import__("falign.colab").colab.setup("/content/book")'


def _git(*args: str, root: Path = ROOT) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                             timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@dataclass(frozen=True)
class BuildInfo:
    version: str          # setuptools-scm's version of the checkout
    commit: str           # 40-hex commit the site is built from
    ref: str              # what launches check out: the release tag at HEAD, else the commit
    date: str             # build date, YYYY-MM-DD (UTC)
    shallow: bool         # a shallow clone: page dates before its history are unknown


def scm_version(root: Path = ROOT) -> str:
    """The version setuptools-scm gives the checkout (pyproject.toml's [tool.setuptools_scm])."""
    out = subprocess.run([sys.executable, "-m", "setuptools_scm", "-c",
                          str(root / "pyproject.toml")], cwd=root, capture_output=True,
                         text=True, timeout=120)
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"setuptools-scm gave no version for {root}: {out.stderr[-800:]} "
                           "Fix: `make venv` installs setuptools-scm (requirements.txt).")
    return lines[-1].strip()


def build_info(root: Path = ROOT, env=os.environ) -> BuildInfo:
    commit = env.get("FALIGN_BUILD_COMMIT") or _git("rev-parse", "HEAD", root=root)
    if not commit or not re.fullmatch(r"[0-9a-f]{40}", commit):
        raise RuntimeError(f"no build commit for {root} (git rev-parse HEAD gave {commit!r}). "
                           "Fix: build from a git checkout, or set FALIGN_BUILD_COMMIT to the "
                           "40-hex commit the sources come from.")
    tags = (_git("tag", "--points-at", commit, root=root) or "").split()
    releases = sorted((t for t in tags if RELEASE_TAG.fullmatch(t)),
                      key=lambda t: tuple(int(x) for x in t[1:].split(".")))
    ref = env.get("FALIGN_BUILD_REF") or (releases[-1] if releases else commit)
    colab.check_ref(ref)
    if env.get("SOURCE_DATE_EPOCH"):
        when = _dt.datetime.fromtimestamp(int(env["SOURCE_DATE_EPOCH"]), _dt.timezone.utc)
    else:
        when = _dt.datetime.now(_dt.timezone.utc)
    shallow = _git("rev-parse", "--is-shallow-repository", root=root) == "true"
    return BuildInfo(scm_version(root), commit, ref, when.strftime("%Y-%m-%d"), shallow)


def footer_html(info: BuildInfo, repository: str) -> str:
    commit = (f'<a href="{html.escape(repository)}/commit/{info.commit}">'
              f'<code>{info.commit[:12]}</code></a>')
    text = (f'<p class="falign-build">Version <span class="falign-version">'
            f'{html.escape(info.version)}</span>, built from commit {commit} on '
            f'<span class="falign-build-date">{info.date}</span>.')
    if info.shallow:
        text += (" Built from a shallow clone: pages whose last change is older than its history "
                 "show no date.")
    return text + "</p>"


# ---------------------------------------------------------------------------- launches

def _repo_parts(repository: str) -> tuple[str, str]:
    match = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+)", repository.rstrip("/"))
    if not match:
        raise ValueError(f"repository.url {repository!r} is not https://github.com/<owner>/<repo>")
    return match.group(1), match.group(2)


def pin_launch_url(url: str, repository: str, branch: str, ref: str) -> str:
    """A Colab or Binder launch address of this repository at `branch`, moved to `ref`; any
    other address unchanged."""
    owner, repo = _repo_parts(repository)
    url = url.replace(f"/github/{owner}/{repo}/blob/{branch}/", f"/github/{owner}/{repo}/blob/{ref}/")
    return re.sub(rf"/v2/gh/{re.escape(owner)}/{re.escape(repo)}/{re.escape(branch)}(?=[?/]|$)",
                  f"/v2/gh/{owner}/{repo}/{ref}", url)


def _pin_buttons(buttons, repository: str, branch: str, ref: str):
    if isinstance(buttons, list):
        return [_pin_buttons(b, repository, branch, ref) for b in buttons]
    if isinstance(buttons, dict):
        out = dict(buttons)
        if isinstance(out.get("url"), str):      # only Colab's and Binder's addresses change
            out["url"] = pin_launch_url(out["url"], repository, branch, ref)
        if "buttons" in out:
            out["buttons"] = _pin_buttons(out["buttons"], repository, branch, ref)
        return out
    return buttons


def pin_notebook(nb: dict, ref: str) -> dict:
    """A chapter notebook (JSON) whose Colab set-up cell checks out `ref`, with Colab's GPU
    request when the chapter trains a deep network.  A notebook without the set-up cell is
    returned unchanged."""
    colab.check_ref(ref)
    source_of = lambda cell: "".join(cell.get("source", ""))          # noqa: E731
    code = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    if not code or '"google.colab" in sys.modules' not in source_of(code[0]):
        return nb
    first = source_of(code[0])
    if SETUP_CALL not in first:
        raise ValueError(f"the Colab set-up cell does not call {SETUP_CALL}; falign.site cannot "
                         "pin it. Fix: keep the chapters' first cell as the other chapters have it.")
    code[0]["source"] = first.replace(SETUP_CALL, SETUP_CALL[:-1] + f', ref="{ref}")')
    everything = "\n".join(source_of(c) for c in code)
    for key, value in colab.colab_metadata(everything).items():
        if isinstance(value, dict):
            nb.setdefault("metadata", {}).setdefault(key, {}).update(value)
        else:
            nb.setdefault("metadata", {})[key] = value
    return nb


# ---------------------------------------------------------------------------- source links

def linkcode_target(module: str, fullname: str, repository: str, commit: str,
                    root: Path = ROOT) -> str | None:
    """github.com/<owner>/<repo>/blob/<commit>/src/falign/...py#Lstart-Lend of an object of
    falign, or None when it has no Python source (a constant, an attribute)."""
    import importlib

    try:
        obj = importlib.import_module(module)
    except Exception:               # noqa: BLE001  (a module that fails to import: no link)
        return None
    for part in fullname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    obj = inspect.unwrap(obj) if callable(obj) else obj
    if isinstance(obj, property):
        obj = obj.fget
    try:
        path = Path(inspect.getsourcefile(obj)).resolve()
        lines, start = inspect.getsourcelines(obj)
    except (TypeError, OSError):
        return None
    try:
        rel = path.relative_to(root).as_posix()
    except ValueError:
        return None
    if not rel.startswith("src/falign/"):
        return None
    start = max(start, 1)
    return f"{repository}/blob/{commit}/{rel}#L{start}-L{start + len(lines) - 1}"


# ---------------------------------------------------------------------------- docstrings

def docstring_as_rest(lines: list[str]) -> list[str]:
    """The library's docstrings are plain text (|x| for a norm, *, _ and indentation used
    freely), not reStructuredText: show them as written.  The first paragraph becomes one
    escaped line (the summary the API tables show), the rest a literal block, verbatim."""
    text = "\n".join(lines).strip("\n")
    if not text.strip():
        return lines
    first, _, rest = text.partition("\n\n")
    summary = " ".join(part.strip() for part in first.splitlines())
    summary = re.sub(r"::$", ":", summary)
    summary = re.sub(r"([\\`*|_\[\]])", r"\\\1", summary)
    out = [summary, ""]
    rest = rest.strip("\n")
    if rest:
        import textwrap
        out += ["::", ""] + ["    " + line if line.strip() else "" for line in
                             textwrap.dedent(rest).splitlines()] + [""]
    lines[:] = out
    return lines


def _process_docstring(app, what, name, obj, options, lines) -> None:
    # sphinx-autoapi documents only src/falign and passes short names (not falign.x.y)
    docstring_as_rest(lines)


# ---------------------------------------------------------------------------- Sphinx hooks

def _config_inited(app, config) -> None:
    info = build_info()
    app.falign_build = info
    # A copy of the sources built elsewhere (the student edition under _build/student/src)
    # has no src/: document the library of this checkout.
    dirs = list(getattr(config, "autoapi_dirs", None) or [])
    if dirs:
        config.autoapi_dirs = [d if Path(app.confdir, d).exists() else str(ROOT / d) for d in dirs]
    options = dict(config.html_theme_options or {})
    repository = options.get("repository_url") or config.html_context.get("github_url")
    if not repository:
        raise RuntimeError("the book has no repository URL (_config.yml repository.url)")
    app.falign_repository = repository.rstrip("/")
    options["extra_footer"] = (options.get("extra_footer") or "") + footer_html(info, repository)
    config.html_theme_options = options
    if not config.html_last_updated_fmt:
        config.html_last_updated_fmt = "%Y-%m-%d"
    # linkcode_resolve is a function: Sphinx cannot pickle it into its environment cache and
    # says so (config.cache); the build does not need it cached.
    config.suppress_warnings = [*config.suppress_warnings, "config.cache"]
    if info.shallow:
        config.suppress_warnings = [*config.suppress_warnings, "git.too_shallow"]
    config.linkcode_resolve = lambda domain, data: (
        linkcode_target(data.get("module", ""), data.get("fullname", ""), app.falign_repository,
                        info.commit)
        if domain == "py" and data.get("module", "").startswith("falign") else None)


def _page_context(app, pagename, templatename, context, doctree) -> None:
    if "header_buttons" not in context:
        return
    branch = (app.config.html_theme_options or {}).get("repository_branch", "main")
    context["header_buttons"] = _pin_buttons(context["header_buttons"], app.falign_repository,
                                             branch, app.falign_build.ref)


def _build_finished(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    sources = Path(app.outdir) / "_sources"
    for path in sorted(sources.rglob("*.ipynb")):
        nb = json.loads(path.read_text())
        pinned = pin_notebook(nb, app.falign_build.ref)
        path.write_text(json.dumps(pinned, indent=1, ensure_ascii=False) + "\n")


def setup(app):
    app.setup_extension("sphinx_last_updated_by_git")
    app.setup_extension("sphinx.ext.linkcode")
    # sphinx-autoapi emits autodoc's docstring event when autodoc has registered it
    app.setup_extension("sphinx.ext.autodoc")
    app.connect("autodoc-process-docstring", _process_docstring)
    app.connect("config-inited", _config_inited)
    # after sphinx-book-theme has made the launch buttons (its handler runs at priority 501)
    app.connect("html-page-context", _page_context, priority=600)
    app.connect("build-finished", _build_finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
