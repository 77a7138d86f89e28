"""Every chapter executed end to end by papermill at the smoke profile (real training on tiny
data, into a temporary result store), and the chapter sources free of placeholders."""
import re

import nbformat
import pytest

from falign.data import data_root, mnist_available
from falign.notebooks import CHAPTERS, chapter_names, execute_chapter

HAVE_MNIST = mnist_available()
HAVE_TINY = (data_root() / "tiny-imagenet-200" / "wnids.txt").exists()
NOISY_MNIST_CHAPTERS = ["fig2_conservation", "table3_deviations", "fig3_alignment",
                        "fig4_generalization", "readings_ablation"]
LENET_CHAPTERS = ["table1_lenet_accuracy", "fig5_7_lenet_alignment"]
RESNET_CHAPTERS = ["table2_resnet_accuracy", "table2_readings"]
IMAGE_CHAPTERS = LENET_CHAPTERS + RESNET_CHAPTERS
PAGES = ["scoreboard"]                    # computed from the store; no training of their own
# Section 5's results checked live on small float64 networks: no dataset, no stored runs.
THEORY_CHAPTERS = ["theory_convergence", "theory_conservation", "theory_alignment",
                   "theory_separable", "theory_min_norm"]
ALL_CHAPTERS = NOISY_MNIST_CHAPTERS + IMAGE_CHAPTERS + THEORY_CHAPTERS + PAGES


def test_every_chapter_exists_and_is_in_the_toc():
    toc = (CHAPTERS.parent / "_toc.yml").read_text()
    assert sorted(ALL_CHAPTERS) == chapter_names()
    for name in ALL_CHAPTERS:
        assert name in chapter_names()
        assert f"chapters/{name}" in toc
        assert (CHAPTERS / f"{name}.ipynb").exists(), f"chapters/{name}.ipynb not rendered"


@pytest.mark.parametrize("name", chapter_names())
def test_chapter_source_has_no_placeholder(name):
    text = (CHAPTERS / f"{name}.py").read_text()
    for marker in ("COMPARISON", "DECISION", "CHOICE", "TODO", "XXX", "lorem"):
        assert marker not in text, f"chapters/{name}.py still holds {marker!r}"
    assert re.search(r'# %% tags=\["parameters"\]', text), "no papermill parameters cell"


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory):
    return tmp_path_factory.mktemp("smoke-results")


def _needs_data(name):
    if name in PAGES or name in THEORY_CHAPTERS:
        return []
    if name in IMAGE_CHAPTERS:
        return pytest.mark.skipif(not HAVE_TINY, reason="Tiny-ImageNet pool not in the data root (run `make data`)")
    return pytest.mark.skipif(not HAVE_MNIST, reason="MNIST files not in the data root (run `make data`)")


@pytest.mark.parametrize("name", [pytest.param(n, marks=_needs_data(n))
                                  for n in ALL_CHAPTERS])
def test_chapter_runs_end_to_end_at_smoke_profile(name, smoke_results, tmp_path):
    out = execute_chapter(name, tmp_path / f"{name}.ipynb",
                          {"profile": "smoke", "device": "cpu", "results": str(smoke_results),
                           "data_root": str(data_root().resolve()), "train_missing": True})
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, f"{name} drew no figure"
    text = " ".join(str(o.get("data", {}).get("text/markdown", "")) for o in outputs)
    if name not in PAGES and name not in THEORY_CHAPTERS:
        assert "smoke" in text or "readings ablation" in text  # the status line was shown


@pytest.mark.parametrize("name", chapter_names())
def test_rendered_notebook_is_in_sync_with_its_source(name):
    import jupytext
    source = [c.source for c in jupytext.read(CHAPTERS / f"{name}.py").cells]
    rendered = [c.source for c in nbformat.read(CHAPTERS / f"{name}.ipynb", as_version=4).cells]
    assert rendered == source, (f"chapters/{name}.ipynb is stale: re-render it with "
                                f"`make notebooks CHAPTER={name}`")
