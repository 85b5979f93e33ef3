"""Check the rendered book (``_build/html``) in headless Chromium at 1280 px; build it first.

Build with ``python scripts/build_book.py`` and install Chromium with
``scripts/install_browser.sh`` (which also fetches MathJax 3 into ``_build/browser/mathjax`` with
npm, for machines that cannot reach the CDN); the tests skip with the reason when the browser or
the build is missing. Each page of ``_toc.yml`` is served over http://127.0.0.1 by a server that
adds two small scripts to every HTML page it serves (the files are not changed): the first, at the
start of ``<head>``, records every script error, failed resource and ``console.error``; the
second, after the page loaded and MathJax typeset, measures the layout and writes a JSON report
into the DOM, which Chromium dumps (``--dump-dom``). Checked on every page (issue 13):

- it loads: an ``<article>`` with an ``<h1>``;
- **no console errors** (e.g. a script included twice: ``Identifier 'THEBE_JS_URL' has already
  been declared``);
- **nothing wider than its column**: no player, player row or figure reaches past the main
  content column (``article.bd-article``) at a 1280 px window; a table, formula or code block
  may only when it sits in a box that scrolls sideways (``overflow-x: auto | scroll``) and that
  box fits; the page itself has no horizontal scroll bar;
- **no traceback or error output** anywhere, exercise stubs included (their ``remove-output``
  tag keeps the expected ``NotImplementedError`` off the page);
- **formulas typeset by MathJax**: every math node of the page became an ``mjx-container``,
  none is a MathJax error, and the chapters that define formulas have them;
- no table text cut short with "..." (pandas' ``display.max_colwidth``, set off by ``book.setup``);
- figures and players: every image output of the executed notebook appears and is served, every
  ``<audio>`` output appears with a WAV source, and **no cell shows the same figure twice**;
- the appendix pages exist and the chapters that cite ``docs/synthetic_data.md`` link to them;
- the Colab launch link points at ``<repo>/blob/<branch>/<docname>.ipynb``.

A full-page screenshot of every chapter at 1280 px goes to ``_build/artifacts/<docname>.png``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import importlib.util
import json
import re
import shutil
import struct
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import unquote, urljoin, urlparse
from urllib.request import urlopen

import pytest
import yaml

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
HTML_DIR = ROOT / "_build" / "html"
EXECUTED_DIR = ROOT / "_build" / "jupyter_execute"
ARTIFACTS = ROOT / "_build" / "artifacts"
LOCAL_MATHJAX = ROOT / "_build" / "browser" / "mathjax"  # npm's mathjax@3 package (install_browser.sh)
MATHJAX_CDN = "https://cdn.jsdelivr.net/npm/mathjax@3/"
MATHJAX_LOCAL_URL = "/_asd_mathjax/"
WIDTH = 1280
CHROME_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars", "--virtual-time-budget=15000",
    f"--window-size={WIDTH},2000",
]
ERROR_SELECTORS = ".traceback, .output.error, .output_error, .system-message"
ERROR_WORDS = re.compile(r"Traceback|\b\w*Error\b|\bException\b")
REMOVING_TAGS = {"remove-cell", "remove-output", "remove_cell", "remove_output"}
# Pages that define something with a formula (issue 13): at least this many typeset formulas.
MATH_PAGES = {
    "book/02_where_anomalies_live": 2,    # the z-score
    "book/03_features_and_metrics": 6,    # log-mel, AUC, raw and McClish pAUC, harmonic mean
    "book/05_views": 2,                   # log-mixup-exp, the view-difference ratio
    "book/06_contrastive": 2,             # cosine similarity, NT-Xent
    "book/08_dcase2022_results": 1,       # the official score
}
APPENDIX = {"synthetic_data": "docs/synthetic_data.md", "architecture": "ARCHITECTURE.md",
            "chapter_authors": None}

# Runs first in <head>: records script errors, failed resources and console.error calls.
PROBE = """<script>
window.__asd = {errors: []};
window.addEventListener('error', function (e) {
  var t = e.target;
  if (t && t !== window && (t.src || t.href)) { __asd.errors.push('failed to load ' + (t.src || t.href)); }
  else { __asd.errors.push('error: ' + e.message + ' (' + (e.filename || '') + ':' + (e.lineno || '') + ')'); }
}, true);
window.addEventListener('unhandledrejection', function (e) { __asd.errors.push('unhandled rejection: ' + e.reason); });
(function () { var ce = console.error; console.error = function () {
  __asd.errors.push('console.error: ' + Array.prototype.join.call(arguments, ' ')); ce.apply(console, arguments); }; })();
</script>"""

# Runs last: waits for MathJax, then measures the layout and writes the report into the DOM.
REPORT = """<script>
(function () {
  var done = false;
  function rect(el) { var r = el.getBoundingClientRect(); return {left: r.left, right: r.right, width: r.width}; }
  function describe(el) {
    var s = el.tagName.toLowerCase() + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
    var cell = el.closest('.cell'); var sec = el.closest('section');
    return s + (cell && cell.id ? ' in #' + cell.id : '') + (sec && sec.id ? ' in section #' + sec.id : '');
  }
  function scroller(el, column) {
    for (var a = el; a && a !== column; a = a.parentElement) {
      var ox = getComputedStyle(a).overflowX;
      if (ox === 'auto' || ox === 'scroll') { return a; }
    }
    return null;
  }
  function report() {
    if (done) { return; } done = true;
    var column = document.querySelector('article.bd-article') || document.querySelector('article');
    var out = {errors: window.__asd.errors, column: column ? rect(column) : null, too_wide: [],
               page_scroll_width: document.documentElement.scrollWidth, window_width: window.innerWidth,
               page_height: document.documentElement.scrollHeight,
               math_nodes: document.querySelectorAll('article .math').length,
               mjx: document.querySelectorAll('article mjx-container').length,
               mjx_errors: document.querySelectorAll('article mjx-merror').length,
               mathjax_loaded: !!(window.MathJax && window.MathJax.startup && window.MathJax.startup.document)};
    if (column) {
      var c = column.getBoundingClientRect();
      // players and figures must fit as they are; tables, code and formulas may scroll in a box
      var strict = 'audio, .asd-players, .asd-player, img';
      var sel = strict + ', table, mjx-container, pre, .cell_output, .output';
      column.querySelectorAll(sel).forEach(function (el) {
        if (!el.getClientRects().length) { return; }
        var box = el.matches(strict) ? el : (scroller(el, column) || el); var r = box.getBoundingClientRect();
        if (r.right > c.right + 2 || r.left < c.left - 2) {
          out.too_wide.push({element: describe(el), box: describe(box), left: r.left, right: r.right,
                             column_left: c.left, column_right: c.right});
        }
      });
    }
    var pre = document.createElement('pre'); pre.id = 'asd-report'; pre.style.display = 'none';
    pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
  }
  window.addEventListener('load', function () {
    var mj = window.MathJax && window.MathJax.startup && window.MathJax.startup.promise;
    if (mj) { mj.then(function () { setTimeout(report, 300); }, function () { setTimeout(report, 300); }); }
    else { setTimeout(report, 1500); }
    setTimeout(report, 10000);
  });
})();
</script>"""


def _load_build_script():
    """Import scripts/build_book.py (for its _toc.yml reader)."""
    spec = importlib.util.spec_from_file_location("build_book", ROOT / "scripts" / "build_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PAGES = _load_build_script().toc_files(ROOT)
CHAPTERS = [p for p in PAGES if (ROOT / f"{p}.ipynb").exists()]


def instrument(html: str, local_mathjax: bool) -> str:
    """``html`` with the probe first in ``<head>``, the report last in ``<body>`` and, when a
    local MathJax copy is served, its CDN address replaced by the local one."""
    if local_mathjax:
        html = html.replace(MATHJAX_CDN, MATHJAX_LOCAL_URL)
    html = re.sub(r"(<head[^>]*>)", lambda m: m.group(1) + PROBE, html, count=1)
    return html.replace("</body>", REPORT + "</body>", 1)


def test_instrument_adds_probe_first_and_report_last() -> None:
    page = ("<!DOCTYPE html><html><head><script src='x.js'></script>"
            f"<script src='{MATHJAX_CDN}es5/tex-mml-chtml.js'></script></head><body>b</body></html>")
    out = instrument(page, local_mathjax=True)
    assert out.index("window.__asd") < out.index("x.js") < out.index("asd-report") < out.index("</body>")
    assert MATHJAX_CDN not in out and f"{MATHJAX_LOCAL_URL}es5/tex-mml-chtml.js" in out
    assert MATHJAX_CDN in instrument(page, local_mathjax=False)


@pytest.fixture(scope="module")
def chromium() -> str:
    """Path of a Chromium binary, or skip."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("headless Chromium not installed: run scripts/install_browser.sh")


def _local_mathjax() -> Path | None:
    root = LOCAL_MATHJAX / "es5"
    return LOCAL_MATHJAX if (root / "tex-mml-chtml.js").exists() else None


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """Serve _build/html (instrumented) on 127.0.0.1 (a free port); skip when not built."""
    if not (HTML_DIR / "book" / "index.html").exists():
        pytest.skip("_build/html not found: build the book first (python scripts/build_book.py)")
    mathjax = _local_mathjax()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def translate_path(self, path: str) -> str:
            clean = unquote(urlparse(path).path)
            if mathjax is not None and clean.startswith(MATHJAX_LOCAL_URL):
                target = (mathjax / clean[len(MATHJAX_LOCAL_URL):]).resolve()
                if mathjax.resolve() in target.parents:
                    return str(target)
            return super().translate_path(path)

        def do_GET(self) -> None:
            local = Path(self.translate_path(self.path))
            if local.suffix != ".html" or not local.is_file():
                return super().do_GET()
            body = instrument(local.read_text(encoding="utf-8"), mathjax is not None).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    handler = functools.partial(Handler, directory=str(HTML_DIR))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _run_chromium(chromium: str, args: list[str]) -> subprocess.CompletedProcess:
    """Run headless Chromium with a throw-away profile."""
    with tempfile.TemporaryDirectory() as profile:
        cmd = [chromium, *CHROME_FLAGS, f"--user-data-dir={profile}", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


@functools.lru_cache(maxsize=None)
def _dom(chromium: str, url: str) -> str:
    """The DOM of ``url`` after its scripts ran, as Chromium serialises it."""
    proc = _run_chromium(chromium, ["--dump-dom", url])
    assert proc.returncode == 0 and "<html" in proc.stdout, (
        f"chromium could not render {url} (rc {proc.returncode}): {proc.stderr[-2000:]}")
    return proc.stdout


def _soup(html: str):
    bs4 = pytest.importorskip("bs4", reason="beautifulsoup4 comes with the book extra")
    return bs4.BeautifulSoup(html, "html.parser")


def _report(chromium: str, url: str) -> dict[str, Any]:
    """The layout / console report the instrumented page wrote into its DOM."""
    node = _soup(_dom(chromium, url)).find(id="asd-report")
    assert node is not None, f"{url}: the page never finished loading (no layout report)"
    return json.loads(node.get_text())


def _expected_outputs(docname: str) -> tuple[int, int]:
    """(image outputs, audio outputs) of the executed notebook, ignoring removed cells."""
    path = EXECUTED_DIR / f"{docname}.ipynb"
    if not path.exists():
        pytest.fail(f"{path.relative_to(ROOT)} missing: the build did not execute {docname}")
    nb = json.loads(path.read_text(encoding="utf-8"))
    images = audio = 0
    for cell in nb["cells"]:
        if cell["cell_type"] != "code" or REMOVING_TAGS & set(cell["metadata"].get("tags", [])):
            continue
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            images += any(k in data for k in ("image/png", "image/jpeg", "image/svg+xml"))
            html = data.get("text/html", "")
            html = "".join(html) if isinstance(html, list) else html
            audio += html.count("<audio")
    return images, audio


def _page_url(base_url: str, docname: str) -> str:
    return urljoin(base_url, f"{docname}.html")


def _fetch(url: str) -> bytes:
    if url.startswith("data:"):
        return base64.b64decode(url.split(",", 1)[1])
    with urlopen(url, timeout=10) as resp:
        assert resp.status == 200, f"{url}: HTTP {resp.status}"
        return resp.read()


@pytest.mark.parametrize("docname", PAGES)
def test_page_loads_without_error_output(chromium: str, base_url: str, docname: str) -> None:
    soup = _soup(_dom(chromium, _page_url(base_url, docname)))
    article = soup.find("article")
    assert article is not None and article.find("h1") is not None, f"{docname}: no article/h1"
    errors = soup.select(ERROR_SELECTORS)
    assert not errors, f"{docname}: error output: {errors[0].get_text(' ')[:1000]}"
    for area in soup.select(".output.stderr"):
        assert not ERROR_WORDS.search(area.get_text()), (
            f"{docname}: stderr output reports an error: {area.get_text()[:1000]}")
    text = soup.get_text()
    assert "Traceback (most recent call last)" not in text, f"{docname}: traceback on the page"
    for output in article.select(".cell_output"):
        assert "NotImplementedError" not in output.get_text(), (
            f"{docname}: an exercise stub shows its error (tag it remove-output)")


@pytest.mark.parametrize("docname", PAGES)
def test_no_console_errors(chromium: str, base_url: str, docname: str) -> None:
    report = _report(chromium, _page_url(base_url, docname))
    errors = report["errors"]
    if _local_mathjax() is None:  # offline without a local MathJax: only that may fail to load
        errors = [e for e in errors if MATHJAX_CDN not in e]
    assert not errors, f"{docname}: console errors: {errors[:5]}"


@pytest.mark.parametrize("docname", PAGES)
def test_nothing_is_wider_than_its_column(chromium: str, base_url: str, docname: str) -> None:
    report = _report(chromium, _page_url(base_url, docname))
    assert report["column"] and report["column"]["width"] > 400, f"{docname}: no content column"
    assert report["window_width"] == WIDTH
    wide = report["too_wide"]
    assert not wide, (f"{docname}: {len(wide)} element(s) reach past the content column "
                      f"(left {report['column']['left']:.0f}, right {report['column']['right']:.0f} px), "
                      f"e.g. {wide[:3]}")
    assert report["page_scroll_width"] <= WIDTH, f"{docname}: the page scrolls sideways"


@pytest.mark.parametrize("docname", PAGES)
def test_formulas_are_typeset_by_mathjax(chromium: str, base_url: str, docname: str) -> None:
    report = _report(chromium, _page_url(base_url, docname))
    if report["math_nodes"] and not report["mathjax_loaded"]:
        pytest.skip("MathJax could not be loaded (offline, and no local copy: run "
                    "scripts/install_browser.sh, which puts one under _build/browser/mathjax)")
    assert report["math_nodes"] >= MATH_PAGES.get(docname, 0), (
        f"{docname}: {report['math_nodes']} formulas in MyST math, expected at least "
        f"{MATH_PAGES.get(docname, 0)} (write definitions as $...$ / $$...$$, not inline code)")
    assert report["mjx"] >= report["math_nodes"], (
        f"{docname}: {report['math_nodes']} math nodes but {report['mjx']} typeset by MathJax")
    assert report["mjx_errors"] == 0, f"{docname}: MathJax could not typeset a formula"


@pytest.mark.parametrize("docname", CHAPTERS)
def test_chapter_shows_figures_and_audio(chromium: str, base_url: str, docname: str) -> None:
    url = _page_url(base_url, docname)
    soup = _soup(_dom(chromium, url))
    n_images, n_audio = _expected_outputs(docname)
    imgs = [img for img in soup.select(".cell_output img") if img.get("src")]
    assert len(imgs) >= n_images, f"{docname}: {len(imgs)} figures shown, notebook has {n_images}"
    for img in imgs:
        body = _fetch(urljoin(url, img["src"]))
        assert len(body) > 1000 or img["src"].startswith("data:") and len(img["src"]) > 200, (
            f"{docname}: image {img['src'][:80]} not served")
    players = soup.select("audio")
    assert len(players) >= n_audio, f"{docname}: {len(players)} players, notebook has {n_audio}"
    for player in players:
        src = player.get("src") or (player.find("source") or {}).get("src", "")
        assert src.startswith("data:audio/wav;base64,"), f"{docname}: player without WAV source"
        wav = base64.b64decode(src.split(",", 1)[1])
        assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE" and len(wav) > 1000


@pytest.mark.parametrize("docname", CHAPTERS)
def test_no_table_cell_is_cut_short(chromium: str, base_url: str, docname: str) -> None:
    """pandas cuts text cells at ``display.max_colwidth`` with "...": a caveat must be shown whole."""
    soup = _soup(_dom(chromium, _page_url(base_url, docname)))
    cut = [td.get_text(strip=True) for td in soup.select(".cell_output table td")
           if td.get_text(strip=True).endswith("...") and len(td.get_text(strip=True)) > 20]
    assert not cut, f"{docname}: table text cut short: {cut[:3]}"


@pytest.mark.parametrize("docname", CHAPTERS)
def test_no_cell_shows_the_same_figure_twice(chromium: str, base_url: str, docname: str) -> None:
    url = _page_url(base_url, docname)
    soup = _soup(_dom(chromium, url))
    for n, cell in enumerate(soup.select("div.cell")):
        digests = [hashlib.sha1(_fetch(urljoin(url, img["src"]))).hexdigest()
                   for img in cell.select(".cell_output img") if img.get("src")]
        repeated = {d for d in digests if digests.count(d) > 1}
        assert not repeated, (f"{docname}: cell {n} ({cell.get('id', '')}) shows the same figure "
                              f"{len(digests) - len(set(digests)) + 1} times")


def test_appendix_pages_exist_and_chapters_link_to_them(chromium: str, base_url: str) -> None:
    for page in APPENDIX:
        assert f"book/appendix/{page}" in PAGES, f"_toc.yml lacks the appendix page {page}"
        soup = _soup(_dom(chromium, _page_url(base_url, f"book/appendix/{page}")))
        assert soup.find("article").find("h1"), f"appendix page {page} has no title"
    index = _soup(_dom(chromium, _page_url(base_url, "book/index")))
    links = {a["href"] for a in index.select("article a[href]")}
    for page in APPENDIX:
        assert any(h.split("#")[0].endswith(f"appendix/{page}.html") for h in links), (
            f"the landing page does not link the appendix page {page}")
    assert not any(h.get_text(strip=True).startswith("For chapter authors")
                   for h in index.select("article h2")), "'For chapter authors' is still on the landing page"
    for docname in CHAPTERS:
        source = (ROOT / f"{docname}.ipynb").read_text(encoding="utf-8")
        for page, repo_file in APPENDIX.items():
            if repo_file and repo_file in source:
                soup = _soup(_dom(chromium, _page_url(base_url, docname)))
                hrefs = [a["href"] for a in soup.select("article a[href]")]
                assert any(h.split("#")[0].endswith(f"appendix/{page}.html") for h in hrefs), (
                    f"{docname} cites {repo_file} but does not link the appendix page {page}")


@pytest.mark.parametrize("docname", CHAPTERS)
def test_colab_link_points_at_notebook(chromium: str, base_url: str, docname: str) -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    repo = config["repository"]["url"].removeprefix("https://github.com/").rstrip("/")
    expected = (f"{config['launch_buttons']['colab_url'].rstrip('/')}/github/{repo}/blob/"
                f"{config['repository']['branch']}/{docname}.ipynb")
    soup = _soup(_dom(chromium, _page_url(base_url, docname)))
    links = [a["href"] for a in soup.select("a[href]") if "colab.research.google.com" in a["href"]]
    assert links, f"{docname}: no Colab launch link"
    assert all(link == expected for link in links), f"{docname}: {links} != {expected}"


@pytest.mark.parametrize("docname", CHAPTERS)
def test_screenshot_of_every_chapter(chromium: str, base_url: str, docname: str) -> None:
    """A full-page screenshot at 1280 px: ``_build/artifacts/<chapter>.png`` (for reviewers)."""
    url = _page_url(base_url, docname)
    height = min(max(int(_report(chromium, url)["page_height"]), 2000), 30000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{Path(docname).name}.png"
    shot.unlink(missing_ok=True)
    # scroll bars shown: a table that scrolls sideways shows its bar in the screenshot
    flags = [f for f in CHROME_FLAGS if not f.startswith(("--window-size", "--hide-scrollbars"))]
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run([chromium, *flags, f"--user-data-dir={profile}",
                               f"--window-size={WIDTH},{height}", f"--screenshot={shot}", url],
                              capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0 and shot.exists(), f"no screenshot: {proc.stderr[-2000:]}"
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "screenshot is not a PNG"
    width, got_height = struct.unpack(">II", png[16:24])
    assert (width, got_height) == (WIDTH, height)
    assert len(png) > 50_000, f"screenshot suspiciously small ({len(png)} bytes): blank page?"
