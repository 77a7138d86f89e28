"""The built site in a real browser.  Headless Chromium, which cannot reach any host but the
local server, opens the landing page and every chapter and fails on:

* an image that did not load, a chapter without a figure, or an internal link to a missing page
  or anchor (a screenshot of each page is kept in _build/screenshots);
* anything a page loads (script, style sheet, font, image, fetch) from another host: the site
  must work for a reader who is offline, so MathJax, fonts and styles are served by the site;
* raw TeX a reader would see: `$$`, `\\(`, `\\[`, `$x$` or a TeX command in the visible text, a
  math element MathJax did not typeset, or a MathJax error;
* at window widths of 1400 and 400 px: a page that scrolls sideways, or a table wider than the
  text column that is not inside its own horizontally scrolling box;
* at both widths, what a reader cannot read: a table whose key column (a header starting
  "status", "ours" or "paper") starts beyond the visible width, so the verdict is off screen;
  a figure stored below twice its displayed density (naturalWidth < 2 x displayed width, blurred
  on a 2x screen or when zoomed); a display equation wider than its box that is cut off rather
  than scrollable; a cell output that is only a bare number (a value printed without a label).
  Screenshots of a page with equations and of the Table 3 chapter at both widths are kept as
  <page>-<width>px.png, and of the first screen of the landing page, the scoreboard, Figure 2,
  Table 3 and a Lechner table chapter as <page>-<width>px-top.png.

The site is served as GitHub Pages serves it, under the path of _config.yml's html.baseurl
(/<repository>/), with nothing at `/`: a link or a load that leaves that path is broken there.
Every page names its address under html.baseurl as canonical, and its footer gives the licences."""
import functools
import http.server
import json
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
# GitHub Pages serves a project site under /<repository>/: the path of html.baseurl.
BASEURL = yaml.safe_load((ROOT / "_config.yml").read_text())["html"]["baseurl"]
PREFIX = urllib.parse.urlsplit(BASEURL).path
assert PREFIX.startswith("/") and PREFIX.endswith("/") and PREFIX != "/"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
# --host-resolver-rules: every host name but the local server's address fails to resolve, so the
# browser is offline for real and a page that needs another host shows it.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
         "--window-size=1280,2000"]
WIDTHS = {1400: 1000, 400: 860}          # window width -> height (a desktop and a phone)
# Pages shown at both widths, and what to scroll to before the screenshot.
SHOWN_AT_WIDTHS = {"chapters/fig2_conservation": "div.math",
                   "chapters/table3_deviations": "table.dataframe"}
# Pages whose first screen (title, answer box, start of the prose) is kept at both widths.
FIRST_SCREEN = ["intro", "chapters/scoreboard", "chapters/fig2_conservation",
                "chapters/table3_deviations", "chapters/lechner_tables1_2_binary"]
# Table headers naming the columns a reader looks for first; they must start on screen.
KEY_COLUMNS = r"^(status|ours|paper)\b"
# <link rel=...> values that name another page rather than load something.
NAVIGATION_RELS = {"next", "prev", "index", "search", "canonical", "alternate", "author",
                   "license", "help", "up", "contents", "glossary", "copyright"}


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
    handler = functools.partial(SubPathHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}{PREFIX}"
    server.shutdown()


class SubPathHandler(http.server.SimpleHTTPRequestHandler):
    """The built site under PREFIX only, as GitHub Pages serves a project site: every other
    path is a 404 (the path without its trailing slash redirects, as on Pages)."""

    def log_message(self, *args, **kwargs):
        pass

    def send_head(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == PREFIX.rstrip("/"):
            self.send_response(301)
            self.send_header("Location", PREFIX)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if not path.startswith(PREFIX):
            self.send_error(404, f"outside {PREFIX}")
            return None
        return super().send_head()

    def translate_path(self, path):
        return super().translate_path(path[len(PREFIX) - 1:])


def outside_the_sub_path(site: str, url: str) -> bool:
    """A URL of the local server that is not under the site's path (broken on GitHub Pages)."""
    origin = site[:-len(PREFIX)]
    return url.startswith(origin + "/") and not url.startswith(site)


def test_the_site_is_served_under_the_sub_path_only(site):
    """The site's pages answer under PREFIX and nothing answers at the server's root."""
    origin = site[:-len(PREFIX)]
    assert "url=intro.html" in fetch(site)             # index.html sends the reader to the intro
    assert "<html" in fetch(site + "intro.html")
    for path in ("/", "/index.html", "/intro.html", "/_static/tables.css"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(origin + path, timeout=30)
        assert err.value.code == 404, path
    with urllib.request.urlopen(site + "_static/tables.css", timeout=30) as response:
        assert response.status == 200


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
    # The DevTools network log: every request a page makes, whether it succeeded or not.
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


@functools.lru_cache(maxsize=None)
def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read().decode("utf-8", "replace")


def shot_name(page: str, width: int | None = None) -> Path:
    return SHOTS / (page.replace("/", "_") + (f"-{width}px" if width else "") + ".png")


# Waits until MathJax has typeset the page (and the fonts are in) and says how that went.  Until
# MathJax has run, window.MathJax is only Sphinx's configuration object, without `startup`; Sphinx
# loads it with `defer`, so it has run by the load event, which browser.get waits for, and a
# short grace is enough to tell that it could not be loaded.
WAIT_FOR_MATH = """
const done = arguments[arguments.length - 1];
const hasMath = document.querySelector('.math') !== null;
const start = Date.now();
(function poll() {
  const mj = window.MathJax;
  if (mj && mj.startup && mj.startup.promise) {
    mj.startup.promise.then(() => document.fonts.ready)
      .then(() => done('typeset'), err => done('MathJax failed: ' + err));
  } else if (!hasMath && !mj) {
    document.fonts.ready.then(() => done('no math'));
  } else if (Date.now() - start > 3000) {
    done(mj ? 'MathJax was configured but did not load' : 'MathJax was not loaded');
  } else {
    setTimeout(poll, 100);
  }
})();
"""

# Everything the page loaded or asked for, as absolute URLs: the resource timing entries and the
# elements that load something.
LOADED_URLS = """
const urls = performance.getEntriesByType('resource').map(e => e.name);
for (const el of document.querySelectorAll('script[src], img[src], iframe[src], video[src], '
                                           + 'audio[src], source[src], embed[src], input[src]'))
  urls.push(el.src);
for (const el of document.querySelectorAll('img[srcset], source[srcset]'))
  urls.push(...el.srcset.split(',').map(s => new URL(s.trim().split(/\\s+/)[0], document.baseURI).href));
for (const el of document.querySelectorAll('object[data]')) urls.push(el.data);
for (const el of document.querySelectorAll('link[href]')) {
  const rels = (el.getAttribute('rel') || '').toLowerCase().split(/\\s+/);
  if (!rels.every(r => arguments[0].includes(r))) urls.push(el.href);
}
return urls;
"""

# The text a reader sees, without code (listings may hold backslashes and dollars) and without
# what MathJax drew; math that MathJax did not typeset; MathJax's error boxes.
MATH_STATE = """
const skip = 'pre, code, script, style, textarea, noscript, mjx-container, .highlight';
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
const text = [];
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  const el = node.parentElement;
  if (!el || el.closest(skip) || !el.checkVisibility({checkVisibilityCSS: true})) continue;
  text.push(node.data);
}
const untypeset = Array.from(document.querySelectorAll('.math'))
  .filter(m => !m.querySelector('mjx-container'))
  .map(m => m.textContent.trim().slice(0, 80));
const errors = Array.from(document.querySelectorAll('mjx-merror'))
  .map(e => (e.getAttribute('data-mjx-error') || e.textContent).slice(0, 80));
return {text: text.join(''), math: document.querySelectorAll('.math').length,
        typeset: document.querySelectorAll('mjx-container').length, untypeset, errors};
"""

RAW_TEX = [("$$", re.compile(r"\$\$")),
           (r"\( or \)", re.compile(r"\\[()]")),
           (r"\[ or \]", re.compile(r"\\[\[\]]")),
           ("$...$", re.compile(r"\$[^\s$](?:[^$\n]*[^\s$])?\$")),
           ("a TeX command", re.compile(r"\\[A-Za-z]{2,}"))]

# Whether the page scrolls sideways, and for each table wider than the text column the box
# that scrolls it (the nearest ancestor inside the article with overflow-x auto or scroll).
LAYOUT = """
const root = document.documentElement;
const column = document.querySelector('article.bd-article') || document.querySelector('main');
const col = column.getBoundingClientRect();
const tables = [];
for (const table of column.querySelectorAll('table')) {
  const t = table.getBoundingClientRect();
  if (t.width === 0 || t.height === 0) continue;
  let box = table.parentElement;
  while (box && box !== column && !['auto', 'scroll'].includes(getComputedStyle(box).overflowX))
    box = box.parentElement;
  const b = box && box !== column ? box.getBoundingClientRect() : null;
  tables.push({table: Math.round(t.width), left: t.left, right: t.right,
               box: b && {cls: box.className, left: b.left, right: b.right,
                          scrollWidth: box.scrollWidth, clientWidth: box.clientWidth}});
}
return {scrollWidth: root.scrollWidth, clientWidth: root.clientWidth,
        innerWidth: window.innerWidth, column: [col.left, col.right], tables};
"""


# What a reader cannot read at the current width (see the module docstring): key columns that
# start off screen, figures below 2x density, display equations cut off, bare-number outputs.
READABILITY = r"""
const column = document.querySelector('article.bd-article') || document.querySelector('main');
const col = column.getBoundingClientRect();
const visibleRight = Math.min(col.right, window.innerWidth);
const keyPattern = new RegExp(arguments[0], 'i');
const lateColumns = [];
column.querySelectorAll('table').forEach((table, i) => {
  if (table.getBoundingClientRect().width === 0) return;
  for (const th of table.querySelectorAll('thead th')) {
    const name = th.innerText.trim();
    const r = th.getBoundingClientRect();
    // the column must start on screen when the table is scrolled home
    if (keyPattern.test(name) && r.left > visibleRight)
      lateColumns.push({table: i + 1, name: name.slice(0, 40), left: Math.round(r.left),
                        visible: Math.round(visibleRight)});
  }
});
const blurred = [];
for (const img of column.querySelectorAll('.cell_output img')) {
  const shown = img.getBoundingClientRect().width;
  if (img.naturalWidth > 0 && shown > 50 && img.naturalWidth < 2 * shown - 1)
    blurred.push({src: img.getAttribute('src'), natural: img.naturalWidth,
                  shown: Math.round(shown)});
}
const cut = [];
for (const eq of column.querySelectorAll('mjx-container[display="true"]')) {
  const math = eq.querySelector('mjx-math');
  if (!math) continue;
  const needed = math.getBoundingClientRect().width;
  let box = eq, scrolls = false;
  while (box && box !== column) {
    if (['auto', 'scroll'].includes(getComputedStyle(box).overflowX)) { scrolls = true; break; }
    box = box.parentElement;
  }
  const room = (scrolls ? box : eq).getBoundingClientRect();
  const fits = needed <= Math.min(room.width, col.width) + 1;
  if (!fits && !scrolls)
    cut.push({text: eq.textContent.slice(0, 40), needed: Math.round(needed),
              room: Math.round(room.width)});
}
const number = /^[-+]?(np\.(float|int)\d*\()?[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\)?$/;
const bare = [];
for (const out of column.querySelectorAll('.cell_output .output.text_plain, '
                                          + '.cell_output .output.stream')) {
  const text = out.innerText.trim();
  if (number.test(text)) bare.push(text);
}
return {lateColumns, blurred, cut, bare};
"""


def visit(browser, url: str) -> str:
    """Open a page, wait for MathJax and the fonts, and say how the math went."""
    browser.get_log("performance")      # drop the requests of the pages before
    browser.get(url)
    assert browser.execute_script("return document.readyState") == "complete"
    return browser.execute_async_script(WAIT_FOR_MATH)


def requested_urls(browser) -> list[str]:
    """The URLs of the requests made since the last call, from the DevTools network log."""
    urls = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
        elif message["method"] == "Network.webSocketCreated":
            urls.append(message["params"]["url"])
    return urls


def test_every_page_renders_with_its_figures_and_working_links(site, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.set_window_size(1280, 2000)
    problems = []
    for page in toc_pages():
        url = urllib.parse.urljoin(site, f"{page}.html")
        browser.get(url)
        assert browser.execute_script("return document.readyState") == "complete"
        browser.save_screenshot(str(shot_name(page)))
        title = browser.title
        assert "404" not in title and title, f"{page}: no title"
        images = browser.execute_script(
            "return Array.from(document.querySelectorAll('main img')).map("
            "i => [i.getAttribute('src'), i.complete, i.naturalWidth, i.getAttribute('alt'),"
            " i.closest('.cell_output') !== null])")
        for src, complete, width, alt, is_output in images:
            if not complete or width == 0:
                problems.append(f"{page}: image {src} did not load")
            # a figure says what it shows to a reader who cannot see it (alt text from the
            # cell's mystnb.image.alt metadata; the file name is what myst-nb falls back to)
            if is_output and width > 100 and (not alt or len(alt) < 40 or alt in src):
                problems.append(f"{page}: figure {src} has no alt text describing it")
        links = browser.execute_script(
            "return Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
        # the page's address on the published site, and the licences in its footer
        canonical = browser.execute_script(
            "const l = document.querySelector('link[rel=canonical]'); return l && l.href")
        if canonical != f"{BASEURL}{page}.html":
            problems.append(f"{page}: canonical address {canonical}, not {BASEURL}{page}.html")
        footer = browser.execute_script(
            "return Array.from(document.querySelectorAll('footer')).map(f => f.innerText)"
            ".join(' ') + ' ' + Array.from(document.querySelectorAll('footer a[href]'))"
            ".map(a => a.href).join(' ')")
        if "CC BY 4.0" not in footer or "creativecommons.org/licenses/by/4.0/" not in footer \
                or "MIT" not in footer:
            problems.append(f"{page}: the footer does not give the licences (CC BY 4.0, MIT)")
        if page.startswith("chapters/"):
            figures = [i for i in images if i[2] > 100 and i[4]]
            if not figures:
                problems.append(f"{page}: no figure on the page")
            # the launch buttons open this chapter's notebook in Colab and on Binder
            notebook = f"{page}.ipynb"
            for host in ("https://colab.research.google.com/", "https://mybinder.org/"):
                if not any(link.startswith(host) and notebook in urllib.parse.unquote(link)
                           for link in links):
                    problems.append(f"{page}: no launch link to {host} for {notebook}")
        for link in sorted(set(links)):
            if outside_the_sub_path(site, link):
                problems.append(f"{page}: link {link} leaves the site's path {PREFIX}")
                continue
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


def test_every_page_works_offline_with_typeset_math(site, browser):
    """Nothing is loaded from another host, and every equation is typeset by the site's own
    MathJax: a reader without a network sees the same pages."""
    browser.set_window_size(1280, 2000)
    origin = urllib.parse.urlsplit(site)
    problems = []
    for page in toc_pages() + ["search", "genindex"]:
        math_status = visit(browser, urllib.parse.urljoin(site, f"{page}.html"))
        urls = browser.execute_script(LOADED_URLS, sorted(NAVIGATION_RELS))
        urls += requested_urls(browser)
        for url in sorted(set(urls)):
            parts = urllib.parse.urlsplit(url)
            if parts.scheme in ("data", "blob", "about", "javascript"):
                continue
            if (parts.scheme, parts.netloc) != (origin.scheme, origin.netloc):
                problems.append(f"{page}: loads {url} from another host")
            elif outside_the_sub_path(site, url):
                problems.append(f"{page}: loads {url} from outside the site's path {PREFIX}")
        state = browser.execute_script(MATH_STATE)
        if state["math"] and math_status != "typeset":
            problems.append(f"{page}: {state['math']} math elements, and {math_status}")
        if state["math"] and not state["typeset"]:
            problems.append(f"{page}: no equation typeset (no mjx-container)")
        if state["untypeset"]:
            problems.append(f"{page}: {len(state['untypeset'])} math elements left untypeset, "
                            f"e.g. {state['untypeset'][:2]}")
        if state["errors"]:
            problems.append(f"{page}: {len(state['errors'])} MathJax errors, "
                            f"e.g. {state['errors'][:2]}")
        for what, pattern in RAW_TEX:
            matches = list(pattern.finditer(state["text"]))
            if matches:
                m = matches[0]
                around = state["text"][max(0, m.start() - 30):m.end() + 30]
                problems.append(f"{page}: raw TeX ({what}) {len(matches)} times in the visible "
                                f"text, e.g. {around!r}")
    assert not problems, "\n".join(problems)


def test_wide_tables_scroll_in_their_own_box(site, browser):
    """At a desktop and a phone width the page never scrolls sideways, a table wider than the
    text column sits in a box of the column's width that scrolls it, and figures shrink to the
    column; and a reader can read it: key columns start on screen, figures are stored at 2x
    density, display equations are not cut off, and no cell prints a bare number."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems = []
    for width, height in WIDTHS.items():
        # Each page is loaded at each width, as a reader would: resizing a loaded page instead
        # leaves the theme's side bars sliding off screen while it is measured.
        browser.set_window_size(width, height)
        for page in toc_pages():
            visit(browser, urllib.parse.urljoin(site, f"{page}.html"))
            layout = browser.execute_script(LAYOUT)
            where = f"{page} at {width} px"
            if layout["scrollWidth"] > layout["clientWidth"] + 1:
                problems.append(f"{where}: the page scrolls sideways (content "
                                f"{layout['scrollWidth']} px wide, window {layout['clientWidth']} px)")
            left, right = layout["column"]
            for i, t in enumerate(layout["tables"]):
                if t["left"] >= left - 1 and t["right"] <= right + 1:
                    continue                    # fits the text column as it is
                box = t["box"]
                if box is None:
                    problems.append(f"{where}: table {i + 1} ({t['table']} px) is wider than the "
                                    f"text column ({right - left:.0f} px) and nothing scrolls it")
                elif box["left"] < left - 1 or box["right"] > right + 1:
                    problems.append(f"{where}: table {i + 1}'s scrolling box (.{box['cls']}) "
                                    f"runs past the text column")
            # figures shrink to the column (readable on a phone), never past it
            for src, img_left, img_right in browser.execute_script(
                    "return Array.from(document.querySelectorAll('article img')).map(i => "
                    "[i.getAttribute('src'), i.getBoundingClientRect().left, "
                    "i.getBoundingClientRect().right])"):
                if img_left < left - 1 or img_right > right + 1:
                    problems.append(f"{where}: figure {src} runs past the text column")
            seen = browser.execute_script(READABILITY, KEY_COLUMNS)
            for c in seen["lateColumns"]:
                problems.append(f"{where}: table {c['table']}'s column {c['name']!r} starts at "
                                f"{c['left']} px, beyond the visible {c['visible']} px")
            for f in seen["blurred"]:
                problems.append(f"{where}: figure {f['src']} is {f['natural']} px wide, shown at "
                                f"{f['shown']} px: below 2x density (falign.plots.set_style)")
            for e in seen["cut"]:
                problems.append(f"{where}: display equation {e['text']!r} needs {e['needed']} px, "
                                f"has {e['room']} px, and is cut off rather than scrollable")
            for value in seen["bare"]:
                problems.append(f"{where}: a cell prints the bare number {value!r} (label it, or "
                                "end the cell with an assignment)")
            if page in FIRST_SCREEN:
                browser.execute_script("window.scrollTo(0, 0)")
                browser.save_screenshot(str(shot_name(page, width)).replace(".png", "-top.png"))
            if page in SHOWN_AT_WIDTHS:
                # Scroll the window to the element, leaving room for the sticky header.
                browser.execute_script(
                    "const el = document.querySelector('article ' + arguments[0]);"
                    "if (el) window.scrollTo(0, el.getBoundingClientRect().top + scrollY - 70);",
                    SHOWN_AT_WIDTHS[page])
                browser.save_screenshot(str(shot_name(page, width)))
    assert not problems, "\n".join(problems)
