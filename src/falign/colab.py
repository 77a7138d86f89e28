"""Setting a chapter up on Google Colab, called by each chapter's first (hidden) cell once it
has cloned the book: check out the commit or release tag the page was built from, install the
library, report (or install) the pinned versions of what the chapters import, point the data
root into the clone, and run from the chapters folder so that the stored results resolve as in
the book.

Which commit: the cell clones the default branch, which may be newer than the page.  The ref to
check out is, in this order, the `ref` argument (the site's downloadable notebooks carry it,
written when the site is built: falign.site), the environment variable FALIGN_BOOK_REF, and the
address Colab opened the notebook from (the site's launch buttons open
github.com/<owner>/<repo>/blob/<ref>/chapters/<name>.ipynb, and Colab's local Jupyter server
lists that address for its session).  With none of them the clone stays on the default branch
and the set-up says so."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.parse
import urllib.request
from importlib import metadata
from pathlib import Path

# What the library and the chapters import at run time, beyond the Python standard library and
# IPython (which every Colab kernel has).  tests/test_launch.py checks that the chapters import
# nothing else from outside and that each is pinned in requirements.txt.
RUNTIME_PACKAGES = ("torch", "torchvision", "numpy", "pandas", "matplotlib", "seaborn", "tqdm")

# The families that train a deep (convolutional) network; a chapter that loads one asks Colab
# for a GPU runtime (notebook metadata, colab_metadata below).
DEEP_FAMILIES = ("lenet_cifar", "lenet_cifar_readings", "resnet_tiny_imagenet",
                 "resnet_tiny_imagenet_readings", "lechner_mdfa")

# A git ref the set-up accepts: a release tag vX.Y.Z, a branch-like name or a commit (hex).
_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,99}")


def families_loaded(source: str) -> set[str]:
    """The families a chapter's source loads: load_results("<family>", ...) and the Lechner
    chapters' <family>.load_tables(...) or <family>.chapter_runs(...)."""
    return (set(re.findall(r"load_results\(\s*\"(\w+)\"", source))
            | set(re.findall(r"\b(\w+)\.(?:load_tables|chapter_runs)\(", source)))


def trains_deep_network(source: str) -> bool:
    return bool(families_loaded(source) & set(DEEP_FAMILIES))


def colab_metadata(source: str) -> dict:
    """Notebook metadata for Colab: a GPU runtime for a chapter that trains a deep network
    (Colab reads the top-level "accelerator" and colab.gpuType when it opens a notebook)."""
    if not trains_deep_network(source):
        return {}
    return {"accelerator": "GPU", "colab": {"gpuType": "T4"}}


def check_ref(ref: str) -> str:
    if not isinstance(ref, str) or not _REF.fullmatch(ref) or ".." in ref:
        raise ValueError(f"{ref!r} is not a git tag, branch or commit. Fix: pass the release tag "
                         "(e.g. v0.2.0) or the 40-hex commit the page names in its footer.")
    return ref


def ref_from_address(address: str, repository: str) -> str | None:
    """The ref in a GitHub address of this repository's notebook
    (https://github.com/<owner>/<repo>/blob/<ref>/chapters/<name>.ipynb), else None."""
    owner_repo = repository.removeprefix("https://github.com/").strip("/")
    address = urllib.parse.unquote(address)
    match = re.search(rf"github\.com/{re.escape(owner_repo)}/blob/([^/]+)/chapters/[\w.-]+\.ipynb",
                      address, re.I)
    return match.group(1) if match else None


def colab_session_addresses(timeout: float = 2.0) -> list[str]:
    """The notebook addresses Colab's local Jupyter server lists for its sessions; empty when
    there is no such server (not on Colab, or Colab changed it)."""
    host = os.environ.get("COLAB_JUPYTER_IP", "172.28.0.12")
    port = os.environ.get("COLAB_JUPYTER_PORT", "9000")
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/api/sessions", timeout=timeout) as r:
            sessions = json.load(r)
    except (OSError, ValueError):
        return []
    return [str(s.get(key, "")) for s in sessions if isinstance(s, dict)
            for key in ("path", "name")]


def launch_ref(repository: str, ref: str | None = None) -> tuple[str | None, str]:
    """The ref to check out and where it came from."""
    if ref:
        return check_ref(ref), "the notebook"
    if os.environ.get("FALIGN_BOOK_REF"):
        return check_ref(os.environ["FALIGN_BOOK_REF"]), "FALIGN_BOOK_REF"
    for address in colab_session_addresses():
        found = ref_from_address(address, repository)
        if found:
            return check_ref(found), "the address Colab opened"
    return None, "none"


def pinned_versions(book: str | os.PathLike) -> dict[str, str]:
    """name -> version pinned in the clone's requirements.txt (lower-case names)."""
    pins = {}
    for line in Path(book, "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = (part.strip() for part in line.split("==", 1))
            pins[name.lower()] = version
    return pins


def version_differences(pins: dict[str, str], packages=None) -> list[tuple]:
    """(package, pinned, installed or None) for each runtime package whose installed version is
    not the pinned one."""
    out = []
    for name in RUNTIME_PACKAGES if packages is None else packages:
        pinned = pins.get(name.lower())
        if pinned is None:
            raise KeyError(f"{name} is not pinned in requirements.txt. Fix: pin it there.")
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        # torch's wheels on Colab carry a local build tag (2.12.1+cu126): same release
        if installed is None or installed.split("+")[0] != pinned:
            out.append((name, pinned, installed))
    return out


def _run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True)


def setup(book: str, ref: str | None = None, exact: bool | None = None,
          repository: str | None = None) -> str | None:
    """Make the clone at `book` the page's code and install it into Colab's Python.

    ref: the tag or commit to check out (see the module's note for where it is otherwise read).
    exact: install every runtime package at its pinned version (then restart the session);
    default False (or FALIGN_COLAB_EXACT=1): install only the missing ones at their pinned
    versions and print which installed versions differ from the pins.  Returns the ref checked
    out (None: the default branch).  To re-train on Colab's GPU, set profile = "quick" and
    train_missing = True in the chapter's parameters cell (device "auto" picks the GPU)."""
    if repository is None:
        repository = _repository_url(book)
    pinned_ref, source = launch_ref(repository, ref)
    if pinned_ref is not None:
        _run(["git", "-C", book, "fetch", "-q", "--depth", "1", "origin", pinned_ref])
        _run(["git", "-C", book, "checkout", "-q", "FETCH_HEAD"])
        print(f"falign: checked out {pinned_ref} (from {source}), the code this page was built from.")
    else:
        print("falign: no page commit found, so this runs the default branch's latest code, which "
              "may be newer than the page. Fix: set FALIGN_BOOK_REF to the tag or commit in the "
              "page's footer before this cell, or open the chapter from the book's launch button.")
    pins = pinned_versions(book)
    if exact is None:
        exact = os.environ.get("FALIGN_COLAB_EXACT", "") == "1"
    differ = version_differences(pins)
    install = [name for name, _, installed in differ if exact or installed is None]
    if install:
        _run([sys.executable, "-m", "pip", "install", "-q", "-c", f"{book}/constraints.txt",
              *(f"{name}=={pins[name.lower()]}" for name in install)])
    _run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "-e", book])
    if exact and install:
        print("falign: installed the pinned versions; restart the session (Runtime > Restart "
              "session) before running the next cell.")
    else:
        kept = [(n, p, i) for n, p, i in differ if i is not None]
        if kept:
            print("falign: Colab's versions differ from the book's pins (set FALIGN_COLAB_EXACT=1 "
                  "to install the pins):")
            for name, pinned, installed in kept:
                print(f"  {name}: pinned {pinned}, running {installed}")
    if f"{book}/src" not in sys.path:
        sys.path.insert(0, f"{book}/src")      # this kernel started before the install
    os.environ.setdefault("FALIGN_DATA", f"{book}/data")
    os.chdir(f"{book}/chapters")
    return pinned_ref


def _repository_url(book: str) -> str:
    """The repository address from the clone's _config.yml (repository.url)."""
    text = Path(book, "_config.yml").read_text()
    match = re.search(r"^repository:\s*\n(?:[ \t]+.*\n)*?[ \t]+url:\s*(\S+)", text, re.M)
    if not match:
        raise ValueError(f"{book}/_config.yml names no repository.url. Fix: clone the book's "
                         "repository, whose _config.yml has it.")
    return match.group(1)
