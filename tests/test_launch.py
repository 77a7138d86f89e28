"""Launching a chapter elsewhere: _config.yml names the repository once and turns on the Colab
and Binder buttons; every chapter's first code cell (hidden on the site) installs the library
on Colab from that same address, and does nothing anywhere else."""
import jupytext
import pytest
import yaml

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


def test_colab_setup_installs_the_clone_and_runs_from_its_chapters(tmp_path, monkeypatch):
    import os
    import sys

    from falign import colab

    (tmp_path / "chapters").mkdir()
    calls = []
    monkeypatch.setattr(colab.subprocess, "run", lambda cmd, check: calls.append(cmd))
    monkeypatch.delenv("FALIGN_DATA", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = os.getcwd()
    try:
        colab.setup(str(tmp_path))
        assert calls == [[sys.executable, "-m", "pip", "install", "-q", "--no-deps", "-e",
                          str(tmp_path)]]
        assert sys.path[0] == f"{tmp_path}/src"
        assert os.environ["FALIGN_DATA"] == f"{tmp_path}/data"
        assert os.getcwd() == str(tmp_path / "chapters")
    finally:
        os.chdir(before)
        os.environ.pop("FALIGN_DATA", None)
