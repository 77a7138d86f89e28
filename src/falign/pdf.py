"""A printable copy of the book: each page of the built site, in the order of _toc.yml, printed
to PDF by headless Chromium (the browser tests/test_site.py drives, through selenium and the
DevTools call Page.printToPDF), then merged with pypdf into one file whose outline (bookmarks)
names every page by its title.

    python -m falign.pdf _build/html _build/pdf/falign-book.pdf
    python -m falign.pdf _build/student/src/_build/html _build/pdf/falign-book-student.pdf

`make pdf` builds both after `make book` and `make student-book`.  The site is served from a
local HTTP server under the path of html.baseurl, as GitHub Pages serves it, so that its
scripts (MathJax) and figures load as on the web; each page is printed once its math is typeset."""
from __future__ import annotations

import argparse
import base64
import functools
import http.server
import io
import re
import shutil
import threading
import time
import urllib.parse
from contextlib import contextmanager
from pathlib import Path

import yaml

# A4 in inches, with 12 mm margins; the site's own print style sheet hides its navigation.
PAGE = {"paperWidth": 8.27, "paperHeight": 11.69, "marginTop": 0.47, "marginBottom": 0.47,
        "marginLeft": 0.47, "marginRight": 0.47, "printBackground": True,
        "displayHeaderFooter": True, "headerTemplate": "<span></span>",
        "footerTemplate": ('<div style="font-size:7px;width:100%;text-align:center;">'
                           '<span class="title"></span> · <span class="pageNumber"></span>'
                           '</div>')}
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]


def toc_pages(source: Path) -> list[str]:
    """The pages of the book at `source` (its _toc.yml), in reading order."""
    toc_file = Path(source) / "_toc.yml"
    if not toc_file.exists():
        raise FileNotFoundError(f"{toc_file} does not exist. Fix: pass the book's source folder "
                                "(the one holding _config.yml and _toc.yml).")
    toc = yaml.safe_load(toc_file.read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", [{"chapters": toc.get("chapters", [])}]):
        pages += [c["file"] for c in part.get("chapters", [])]
    return [re.sub(r"\.(md|ipynb)$", "", p) for p in pages]


class _Handler(http.server.SimpleHTTPRequestHandler):
    prefix = "/"

    def log_message(self, *args, **kwargs):
        pass

    def translate_path(self, path):
        path = urllib.parse.urlsplit(path).path
        if not path.startswith(self.prefix):
            return str(Path(self.directory) / "__outside_the_site__")
        return super().translate_path("/" + path[len(self.prefix):])


@contextmanager
def serve(html: Path, prefix: str = "/"):
    """The built site at http://127.0.0.1:<port><prefix>."""
    handler = type("Handler", (_Handler,), {"prefix": prefix})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(html)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{prefix}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def chromium():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not binary or not driver:
        raise FileNotFoundError("chromium and chromedriver are needed to print the book. Fix: "
                                "`make browser` installs Debian's chromium and chromium-driver.")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in FLAGS:
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(driver), options=options)
    browser.set_page_load_timeout(120)
    try:
        yield browser
    finally:
        browser.quit()


# Resolves once MathJax (if the page loads it) has typeset the page.
_WAIT_FOR_MATH = """
const done = arguments[arguments.length - 1];
const ready = () => (window.MathJax && MathJax.startup && MathJax.startup.promise)
    ? MathJax.startup.promise.then(() => done(true), () => done(false)) : done(true);
if (document.readyState === "complete") ready(); else window.addEventListener("load", ready);
"""


def print_page(browser, url: str) -> tuple[bytes, str]:
    """One page as PDF bytes, and its title (the page's first heading)."""
    browser.get(url)
    browser.set_script_timeout(120)
    browser.execute_async_script(_WAIT_FOR_MATH)
    title = browser.execute_script(
        "const h = document.querySelector('main h1, article h1, h1');"
        "return h ? h.textContent.replace(/[#¶]\\s*$/, '').trim() : document.title;")
    result = browser.execute_cdp_cmd("Page.printToPDF", dict(PAGE))
    return base64.b64decode(result["data"]), title


def print_book(html: Path, source: Path, out: Path, pages: list[str] | None = None,
               prefix: str | None = None) -> dict:
    """Print the built site `html` (of the book whose sources are at `source`) into one PDF at
    `out`, one outline entry per page.  Returns {"pages": [(title, first PDF page)],
    "sheets": total PDF pages, "bytes": file size}."""
    from pypdf import PdfReader, PdfWriter

    html, source, out = Path(html), Path(source), Path(out)
    pages = pages or toc_pages(source)
    missing = [p for p in pages if not (html / f"{p}.html").exists()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} page(s) of the table of contents are not built "
                                f"under {html} (first: {missing[0]}.html). Fix: build the site "
                                "first (`make book`, or `make student-book` for that edition).")
    if prefix is None:
        config = yaml.safe_load((source / "_config.yml").read_text())
        prefix = urllib.parse.urlsplit(config.get("html", {}).get("baseurl", "/")).path or "/"
    writer = PdfWriter()
    contents = []
    with serve(html, prefix) as site, chromium() as browser:
        for page in pages:
            data, title = print_page(browser, f"{site}{page}.html")
            first = len(writer.pages)
            for sheet in PdfReader(io.BytesIO(data)).pages:
                writer.add_page(sheet)
            writer.add_outline_item(title=title, page_number=first)
            contents.append((title, first))
    writer.add_metadata({"/Title": yaml.safe_load((source / "_config.yml").read_text())["title"],
                         "/Creator": "falign.pdf (Chromium, pypdf)"})
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as f:
        writer.write(f)
    return {"pages": contents, "sheets": len(writer.pages), "bytes": out.stat().st_size}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m falign.pdf", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("html", type=Path, help="the built site (e.g. _build/html)")
    parser.add_argument("out", type=Path, help="the PDF to write")
    parser.add_argument("--source", type=Path, default=None,
                        help="the book's source folder with _toc.yml (default: html/../..)")
    args = parser.parse_args(argv)
    source = args.source or args.html.resolve().parents[1]
    start = time.monotonic()
    info = print_book(args.html, source, args.out)
    print(f"{args.out}: {len(info['pages'])} pages of the book, {info['sheets']} PDF pages, "
          f"{info['bytes'] / 2**20:.1f} MiB, {time.monotonic() - start:.0f} s")


if __name__ == "__main__":
    main()
