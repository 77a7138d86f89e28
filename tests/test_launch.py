"""Launching a chapter elsewhere: _config.yml names the repository once and turns on the Colab
and Binder buttons; every chapter's first code cell (hidden on the site) installs the library
on Colab from that same address, and does nothing anywhere else.

Launches run the page's code: the built site's buttons open the notebook at the tag or commit
the site was built from (falign.site), the Colab set-up checks that ref out (falign.colab: from
the notebook, FALIGN_BOOK_REF or the address Colab opened) and reports or installs the pinned
versions, and the chapters that train a deep network ask Colab for a GPU.  Colab itself is
replaced by a stand-in module (google.colab) and recorded commands."""
import json
import os
import re
import sys
import types

import jupytext
import pytest
import yaml

from falign import colab, site
from falign.notebooks import CHAPTERS, chapter_names

CONFIG = yaml.safe_load((CHAPTERS.parent / "_config.yml").read_text())


def test_config_names_the_repository_and_both_launchers():
    url = CONFIG["repository"]["url"]
    assert url.startswith("https://github.com/") and not url.endswith("/")
    buttons = CONFIG["launch_buttons"]
    assert buttons["colab_url"] == "https://colab.research.google.com"
    assert buttons["binderhub_url"] == "https://mybinder.org"
    assert CONFIG["html"]["use_repository_button"] is True


@pytest.mark.parametrize("name", chapter_names())
def test_first_code_cell_installs_the_library_on_colab_only(name):
    nb = jupytext.read(CHAPTERS / f"{name}.py")
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert "remove-cell" in first.metadata.get("tags", []), "install cell must be hidden on the site"
    assert CONFIG["repository"]["url"] in first.source, "install cell must clone _config.yml's repository"
    assert '"google.colab" in sys.modules' in first.source
    # Run here (not on Colab), it must leave the process as it found it.
    before = __import__("os").getcwd()
    exec(compile(first.source, f"{name}: install cell", "exec"), {})
    assert __import__("os").getcwd() == before


REPO = CONFIG["repository"]["url"]
OWNER_REPO = REPO.removeprefix("https://github.com/")
COMMIT = "0123456789abcdef0123456789abcdef01234567"
# The chapters that train a deep (convolutional) network: LeNet, ResNet-18, Lechner's CNNs.
DEEP = {"table1_lenet_accuracy", "fig5_7_lenet_alignment", "table2_resnet_accuracy",
        "table2_readings", "lechner_tables1_2_binary", "lechner_tables3_4_cifar_classes",
        "lechner_tables5_6_imagenet_classes"}


def chapter_notebook(name: str) -> dict:
    return json.loads((CHAPTERS / f"{name}.ipynb").read_text())


def fake_book(tmp_path, pins: str = "torch==2.12.1\nnumpy==2.4.6\n"):
    (tmp_path / "chapters").mkdir()
    (tmp_path / "requirements.txt").write_text(pins)
    (tmp_path / "constraints.txt").write_text(pins)
    (tmp_path / "_config.yml").write_text(f"title: x\nrepository:\n  url: {REPO}\n  branch: main\n")
    return tmp_path


@pytest.fixture
def on_colab(monkeypatch):
    """A stand-in for Colab: the google.colab module exists, commands are recorded instead of
    run, and no Colab session server answers unless a test says so."""
    google = types.ModuleType("google")
    google.colab = types.ModuleType("google.colab")
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", google.colab)
    calls = []
    monkeypatch.setattr(colab, "_run", calls.append)
    monkeypatch.setattr(colab, "colab_session_addresses", lambda timeout=2.0: [])
    monkeypatch.delenv("FALIGN_BOOK_REF", raising=False)
    monkeypatch.delenv("FALIGN_COLAB_EXACT", raising=False)
    monkeypatch.delenv("FALIGN_DATA", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = os.getcwd()
    yield calls
    os.chdir(before)
    os.environ.pop("FALIGN_DATA", None)


def test_the_colab_cell_clones_and_calls_setup_under_the_stand_in(on_colab, monkeypatch):
    """Run the chapter's own first cell with google.colab present: it clones the configured
    repository into /content/book and hands over to colab.setup; the site's pinned copy of the
    cell passes the ref."""
    ran, setups = [], []
    import subprocess
    monkeypatch.setattr(subprocess, "run", lambda cmd, *a, **k: ran.append(cmd))
    monkeypatch.setattr(colab, "setup", lambda book, **kw: setups.append((book, kw)))
    nb = chapter_notebook("table2_resnet_accuracy")
    first = next(c for c in nb["cells"] if c["cell_type"] == "code")
    exec(compile("".join(first["source"]), "cell", "exec"), {})
    assert ran == [["git", "clone", "-q", "--depth", "1", REPO, "/content/book"]]
    assert setups == [("/content/book", {})]
    pinned = site.pin_notebook(nb, "v1.2.3")
    first = next(c for c in pinned["cells"] if c["cell_type"] == "code")
    exec(compile(first["source"], "pinned cell", "exec"), {})
    assert setups[-1] == ("/content/book", {"ref": "v1.2.3"})


def test_setup_checks_out_the_ref_installs_and_reports_what_differs(tmp_path, on_colab,
                                                                    monkeypatch, capsys):
    book = str(fake_book(tmp_path))
    versions = {"torch": "2.11.0+cu126", "numpy": "2.4.6"}       # torch differs, numpy agrees
    monkeypatch.setattr(colab, "RUNTIME_PACKAGES", ("torch", "numpy"))
    monkeypatch.setattr(colab.metadata, "version", lambda name: versions[name])
    assert colab.setup(book, ref=COMMIT) == COMMIT
    assert on_colab == [
        ["git", "-C", book, "fetch", "-q", "--depth", "1", "origin", COMMIT],
        ["git", "-C", book, "checkout", "-q", "FETCH_HEAD"],
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "-e", book]]
    out = capsys.readouterr().out
    assert f"checked out {COMMIT}" in out and "torch: pinned 2.12.1, running 2.11.0+cu126" in out
    assert "numpy" not in out.split("differ")[1]
    assert sys.path[0] == f"{book}/src" and os.environ["FALIGN_DATA"] == f"{book}/data"
    assert os.getcwd() == f"{book}/chapters"


def test_setup_installs_missing_packages_and_on_request_every_pin(tmp_path, on_colab, monkeypatch,
                                                                  capsys):
    book = str(fake_book(tmp_path))
    monkeypatch.setattr(colab, "RUNTIME_PACKAGES", ("torch", "numpy"))

    def version(name):
        if name == "numpy":
            raise colab.metadata.PackageNotFoundError(name)
        return "2.11.0"
    monkeypatch.setattr(colab.metadata, "version", version)
    colab.setup(book, ref="v0.3.0")
    assert on_colab[2] == [sys.executable, "-m", "pip", "install", "-q", "-c",
                           f"{book}/constraints.txt", "numpy==2.4.6"]
    on_colab.clear()
    monkeypatch.setenv("FALIGN_COLAB_EXACT", "1")
    colab.setup(book, ref="v0.3.0")
    assert on_colab[2][-2:] == ["torch==2.12.1", "numpy==2.4.6"]
    assert "restart the session" in capsys.readouterr().out


def test_setup_without_a_ref_stays_on_the_branch_and_says_so(tmp_path, on_colab, monkeypatch,
                                                             capsys):
    book = str(fake_book(tmp_path))
    monkeypatch.setattr(colab, "RUNTIME_PACKAGES", ())
    assert colab.setup(book) is None
    assert not any("checkout" in cmd for cmd in on_colab)
    assert "default branch" in capsys.readouterr().out


def test_the_ref_comes_from_argument_then_environment_then_colabs_address(monkeypatch, on_colab):
    address = (f"fileId=https%3A%2F%2Fgithub.com%2F{OWNER_REPO.replace('/', '%2F')}%2Fblob%2F"
               f"v0.4.0%2Fchapters%2Ftable2_readings.ipynb")
    assert colab.ref_from_address(address, REPO) == "v0.4.0"
    assert colab.ref_from_address(f"https://github.com/{OWNER_REPO}/blob/{COMMIT}/chapters/a.ipynb",
                                  REPO) == COMMIT
    other = REPO.replace("github.com/", "github.com/x") + "-fork"        # another repository
    assert colab.ref_from_address(f"{other}/blob/v1.0.0/chapters/a.ipynb", REPO) is None
    monkeypatch.setattr(colab, "colab_session_addresses", lambda timeout=2.0: ["x", address])
    assert colab.launch_ref(REPO) == ("v0.4.0", "the address Colab opened")
    monkeypatch.setenv("FALIGN_BOOK_REF", "v0.5.0")
    assert colab.launch_ref(REPO) == ("v0.5.0", "FALIGN_BOOK_REF")
    assert colab.launch_ref(REPO, "v0.6.0") == ("v0.6.0", "the notebook")
    for bad in ("", "../etc", "v1; rm -rf /", "-x"):
        with pytest.raises(ValueError, match="git tag, branch or commit"):
            colab.check_ref(bad)


def test_launch_buttons_move_to_the_built_ref_and_nothing_else_does():
    colab_url = f"https://colab.research.google.com/github/{OWNER_REPO}/blob/main/chapters/a.ipynb"
    binder = f"https://mybinder.org/v2/gh/{OWNER_REPO}/main?urlpath=lab/tree/chapters/a.ipynb"
    edit = f"{REPO}/edit/main/chapters/a.ipynb"
    assert site.pin_launch_url(colab_url, REPO, "main", "v1.0.0") == colab_url.replace(
        "/blob/main/", "/blob/v1.0.0/")
    assert site.pin_launch_url(binder, REPO, "main", COMMIT) == binder.replace(
        "/main?", f"/{COMMIT}?")
    assert site.pin_launch_url(edit, REPO, "main", COMMIT) == edit
    buttons = [{"type": "group", "label": "launch-buttons",
                "buttons": [{"url": colab_url}, {"url": binder}]}, {"url": edit}]
    pinned = site._pin_buttons(buttons, REPO, "main", "v1.0.0")
    assert [b["url"] for b in pinned[0]["buttons"]] == [
        colab_url.replace("/main/", "/v1.0.0/"), binder.replace("/main?", "/v1.0.0?")]
    assert pinned[1]["url"] == edit


def test_exactly_the_deep_network_chapters_ask_colab_for_a_gpu():
    asking = set()
    for name in chapter_names():
        nb = site.pin_notebook(chapter_notebook(name), COMMIT) \
            if (CHAPTERS / f"{name}.ipynb").exists() else None
        if nb is None:
            continue
        first = next(c for c in nb["cells"] if c["cell_type"] == "code")
        assert f'colab.setup("/content/book", ref="{COMMIT}")' in "".join(first["source"]), name
        if nb["metadata"].get("accelerator") == "GPU":
            assert nb["metadata"]["colab"]["gpuType"] == "T4"
            asking.add(name)
    assert asking == DEEP
    assert colab.families_loaded('x = load_results("resnet_tiny_imagenet", p)') == \
        {"resnet_tiny_imagenet"}
    assert not colab.trains_deep_network('load_results("noisy_mnist", "paper")')


def test_the_chapters_import_only_what_colab_setup_pins():
    """What a chapter imports from outside the standard library is IPython (Colab's kernel has
    it), falign, or a runtime package the set-up checks against requirements.txt's pins."""
    pins = colab.pinned_versions(CHAPTERS.parent)
    assert {p.lower() for p in colab.RUNTIME_PACKAGES} <= set(pins)
    allowed = {"falign", "IPython", *colab.RUNTIME_PACKAGES} | set(sys.stdlib_module_names)
    for name in chapter_names():
        source = (CHAPTERS / f"{name}.py").read_text()
        imported = set(re.findall(r"^\s*(?:from|import)\s+([A-Za-z_]\w*)", source, re.M))
        assert imported <= allowed, f"{name} imports {sorted(imported - allowed)}"
    with pytest.raises(KeyError, match="not pinned"):
        colab.version_differences({}, ("torch",))
