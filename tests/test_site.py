"""The built site in a real browser: headless Chromium opens the landing page and every
chapter, takes a screenshot of each (kept in _build/screenshots), and fails on an image that
did not load, a chapter without a figure, or an internal link to a missing page or anchor."""
import functools
import http.server
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,2000"]


def toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", [{"chapters": toc.get("chapters", [])}]):
        pages += [c["file"] for c in part.get("chapters", [])]
    return pages


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    jb = Path(sys.executable).with_name("jupyter-book")
    build = subprocess.run([str(jb), "build", "--warningiserror", "--keep-going",
                            "--path-output", str(out), str(ROOT)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    html = out / "_build" / "html"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(html))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.fail("chromium and chromedriver are needed for the site test: `make browser` "
                    "installs Debian's packages (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS + [f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@functools.lru_cache(maxsize=None)
def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read().decode("utf-8", "replace")


def test_every_page_renders_with_its_figures_and_working_links(site, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems = []
    for page in toc_pages():
        url = urllib.parse.urljoin(site, f"{page}.html")
        browser.get(url)
        assert browser.execute_script("return document.readyState") == "complete"
        browser.save_screenshot(str(SHOTS / f"{page.replace('/', '_')}.png"))
        title = browser.title
        assert "404" not in title and title, f"{page}: no title"
        images = browser.execute_script(
            "return Array.from(document.querySelectorAll('main img')).map("
            "i => [i.getAttribute('src'), i.complete, i.naturalWidth])")
        for src, complete, width in images:
            if not complete or width == 0:
                problems.append(f"{page}: image {src} did not load")
        if page.startswith("chapters/"):
            figures = [i for i in images if i[2] > 100]
            if not figures:
                problems.append(f"{page}: no figure on the page")
        links = browser.execute_script(
            "return Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
        for link in sorted(set(links)):
            if not link.startswith(site):
                continue
            target, _, anchor = link.partition("#")
            try:
                body = fetch(target)
            except urllib.error.HTTPError as err:
                problems.append(f"{page}: link {link} -> HTTP {err.code}")
                continue
            if anchor and target.endswith(".html") and not re.search(
                    rf'id="{re.escape(urllib.parse.unquote(anchor))}"', body):
                problems.append(f"{page}: link {link} -> no element with id {anchor!r}")
    assert not problems, "\n".join(problems)
