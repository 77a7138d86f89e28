"""The printable copy (`make pdf`, falign.pdf): a two-chapter book is built from the committed
notebooks with the book's own configuration (less the API reference, to keep it short), then
printed by headless Chromium and merged with pypdf.  The PDF must open with each page in the
order of the table of contents, one bookmark per page named by its title, each chapter's title
printed on its first sheet, and sheets of A4.  The same build checks what falign.site writes
into every page: the footer's version, commit and date, launch buttons at the build commit,
and a downloadable notebook that checks that commit out and asks Colab for a GPU."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from falign import pdf, site

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ("table2_readings", "lechner_theorem5_counterexample")      # a GPU chapter, a theory one


def chapter_title(name: str) -> str:
    """The chapter's heading as the site prints it (MyST makes straight quotes curly)."""
    nb = json.loads((ROOT / "chapters" / f"{name}.ipynb").read_text())
    first = "".join(nb["cells"][0]["source"])
    return re.search(r"^# (.+)$", first, re.M).group(1).strip().replace("'", "\u2019")


@pytest.fixture(scope="module")
def mini_book(tmp_path_factory):
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.skip("chromium and chromedriver are missing: `make browser` installs them")
    src = tmp_path_factory.mktemp("mini")
    (src / "chapters").mkdir()
    for name in CHAPTERS:
        shutil.copy2(ROOT / "chapters" / f"{name}.ipynb", src / "chapters")
    for name in ("references.bib", "references.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "_static", src / "_static")
    (src / "index.md").write_text("# A two-chapter book\n\nThe printing test's book.\n")
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["sphinx"]["extra_extensions"].remove("autoapi.extension")
    config["sphinx"]["config"] = {k: v for k, v in config["sphinx"]["config"].items()
                                  if not k.startswith("autoapi")}
    (src / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    toc = {"format": "jb-book", "root": "index",
           "parts": [{"caption": "Chapters",
                      "chapters": [{"file": f"chapters/{n}"} for n in CHAPTERS]},
                     {"caption": "Back matter", "chapters": [{"file": "references"}]}]}
    (src / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    jb = Path(sys.executable).with_name("jupyter-book")
    build = subprocess.run([str(jb), "build", "--keep-going", str(src)], capture_output=True,
                           text=True, timeout=600)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return src


@pytest.fixture(scope="module")
def printed(mini_book):
    out = mini_book / "_build" / "pdf" / "book.pdf"
    info = pdf.print_book(mini_book / "_build" / "html", mini_book, out)
    return out, info


def test_the_pdf_has_every_page_in_order_with_its_title(printed):
    from pypdf import PdfReader

    out, info = printed
    reader = PdfReader(out)
    titles = [chapter_title(n) for n in CHAPTERS]
    outline = [(item.title, reader.get_destination_page_number(item)) for item in reader.outline]
    assert [t for t, _ in outline] == ["A two-chapter book", *titles, "References"]
    starts = [page for _, page in outline]
    assert starts[0] == 0 and starts == sorted(set(starts)), starts
    assert len(reader.pages) == info["sheets"] > len(outline)       # chapters span sheets
    for title, page in outline[1:3]:
        text = re.sub(r"\s+", " ", reader.pages[page].extract_text())
        assert title.split(":")[0] in text, (title, text[:300])
    width, height = (float(x) for x in reader.pages[0].mediabox[2:])
    assert abs(width - 595) < 2 and abs(height - 842) < 2        # A4 in points
    assert reader.metadata.title == yaml.safe_load((ROOT / "_config.yml").read_text())["title"]


def test_printing_names_a_missing_build(tmp_path, mini_book):
    with pytest.raises(FileNotFoundError, match="make book"):
        pdf.print_book(tmp_path, mini_book, tmp_path / "x.pdf")
    with pytest.raises(FileNotFoundError, match="_toc.yml"):
        pdf.toc_pages(tmp_path)


def test_pages_carry_the_build_and_launch_at_its_commit(mini_book):
    info = site.build_info()
    html = (mini_book / "_build" / "html" / "chapters" / f"{CHAPTERS[0]}.html").read_text()
    footer = re.search(r'<p class="falign-build">.*?</p>', html, re.S).group(0)
    assert info.commit in footer and info.version in footer and info.date in footer
    launches = re.findall(r'https://(?:colab\.research\.google\.com|mybinder\.org)/[^"]+', html)
    assert len(launches) == 2 and all(info.ref in url and "/main" not in url for url in launches)
    nb = json.loads((mini_book / "_build" / "html" / "_sources" / "chapters" /
                     f"{CHAPTERS[0]}.ipynb").read_text())
    first = next(c for c in nb["cells"] if c["cell_type"] == "code")
    assert f'ref="{info.ref}"' in "".join(first["source"])
    assert nb["metadata"]["accelerator"] == "GPU"
    theory = json.loads((mini_book / "_build" / "html" / "_sources" / "chapters" /
                         f"{CHAPTERS[1]}.ipynb").read_text())
    assert "accelerator" not in theory["metadata"]
