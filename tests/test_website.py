"""The built course website, checked in a real browser (headless Chromium).

`make test` builds the website (`make book`) before running pytest; this file
serves ``_build/html`` on 127.0.0.1 and drives Debian's Chromium through
Playwright. It checks what a student would see:

* every page loads, with no error or traceback text, no stderr output, no
  JavaScript error, and no request leaving the machine (the site works offline);
* every notebook page shows all the figures its executed notebook made, and
  every image on it has actually loaded;
* the Colab and Binder buttons of each notebook page open that notebook of the
  repository named in ``_config.yml``, and no other page has them;
* a solution is folded away until its title is clicked;
* the student notebooks can be downloaded, and their Colab links are right.

Screenshots of the landing page and of the first notebook page are written to
``screenshots/`` for review.

Without Chromium or Playwright these tests are skipped, with the reason shown;
with ``CI=true`` they fail instead, so that CI cannot pass without them.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
EXECUTED = ROOT / "_build" / "jupyter_execute"
SCREENSHOTS = ROOT / "screenshots"
CHROMIUM = Path(os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium"))
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")

# Flags that keep Chromium quiet on a machine without internet access.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))


def _toc_pages() -> list[str]:
    """Every page of the table of contents, in order (document names)."""
    pages = [TOC["root"]]
    for part in TOC.get("parts", [{"chapters": TOC.get("chapters", [])}]):
        for chapter in part["chapters"]:
            pages.append(chapter["file"])
            pages.extend(section["file"] for section in chapter.get("sections", []))
    return [re.sub(r"\.(md|ipynb)$", "", page) for page in pages]


PAGES = _toc_pages()
NOTEBOOK_PAGES = [page for page in PAGES if page.startswith("notebooks/")]
STUDENT_NOTEBOOKS = sorted((ROOT / "notebooks" / "student").glob("[0-9][0-9]_*.ipynb"))

# Text that must never appear on a page: tracebacks, Python warnings and
# exceptions in outputs, and Sphinx's markers of a failed reference or role.
FORBIDDEN_TEXT = [
    re.compile(r"Traceback \(most recent call last\)"),
    re.compile(r"\b\w*Warning\b"),
    re.compile(r"\b[A-Z]\w*(Error|Exception)\b"),
    re.compile(r"^\S+\.py:\d+: ", re.MULTILINE),  # the first line of a Python warning
]
FORBIDDEN_ELEMENTS = [
    ".cell_output .stderr",
    ".cell_output .traceback",
    ".cell_output .output.error",
    ".system-message",
    ".problematic",
]


def _skip_or_fail(reason: str):
    if IN_CI:
        pytest.fail(f"{reason}; CI=true, so the browser test may not be skipped")
    pytest.skip(reason)


def _repository():
    """(org/repo, branch) from _config.yml, read here independently of the build."""
    url = CONFIG["repository"]["url"]
    parts = urlsplit(url)
    assert parts.netloc == "github.com", url
    return parts.path.strip("/"), CONFIG["repository"]["branch"]


def expected_colab(path: str) -> str:
    org_repo, branch = _repository()
    return f"https://colab.research.google.com/github/{org_repo}/blob/{branch}/{path}"


def expected_binder(path: str) -> str:
    org_repo, branch = _repository()
    hub = CONFIG["launch_buttons"]["binderhub_url"].rstrip("/")
    return f"{hub}/v2/gh/{org_repo}/{branch}?urlpath=lab/tree/{path}"


# --- Fixtures -----------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


@pytest.fixture(scope="module")
def site() -> str:
    """The built website, served on 127.0.0.1 at an ephemeral port."""
    if not (HTML / "index.html").is_file():
        pytest.fail(
            f"{HTML.relative_to(ROOT)} holds no built website: run `make book` first "
            "(`make test` does it for you)"
        )
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium from the system (Debian's package), driven by Playwright."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _skip_or_fail("the Python package playwright is not installed")
    if not CHROMIUM.is_file() and not shutil.which(str(CHROMIUM)):
        _skip_or_fail(
            f"no Chromium at {CHROMIUM} (install Debian's package: apt-get install chromium)"
        )
    with sync_playwright() as playwright:
        # Playwright starts the browser with a fresh, temporary profile.
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


class Visit:
    """One page opened in a fresh browser context, with what went wrong on the way."""

    def __init__(self, browser, site: str, docname: str):
        self.url = urljoin(site, docname + ".html")
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.outside: list[str] = []
        self.failed: list[str] = []
        self.js_errors: list[str] = []
        host = urlsplit(site).netloc

        def route(route):
            if urlsplit(route.request.url).netloc == host or route.request.url.startswith("data:"):
                route.continue_()
            else:  # the website must work offline: nothing may leave the machine
                self.outside.append(route.request.url)
                route.abort()

        self.context.route("**/*", route)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda error: self.js_errors.append(str(error)))
        self.page.on(
            "response",
            lambda r: self.failed.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )
        self.response = self.page.goto(self.url, wait_until="load")
        self.page.wait_for_load_state("networkidle")

    def close(self):
        self.context.close()


@pytest.fixture
def visit(browser, site):
    opened = []

    def open_page(docname: str) -> Visit:
        page = Visit(browser, site, docname)
        opened.append(page)
        return page

    yield open_page
    for page in opened:
        page.close()


# --- Every page ---------------------------------------------------------------


@pytest.mark.parametrize("docname", PAGES)
def test_page_loads_cleanly(visit, docname):
    page = visit(docname)
    assert page.response is not None and page.response.status == 200, page.url
    assert not page.outside, f"{docname} requests resources outside the machine: {page.outside}"
    assert not page.failed, f"{docname}: failed requests: {page.failed}"
    assert not page.js_errors, f"{docname}: JavaScript errors: {page.js_errors}"
    for selector in FORBIDDEN_ELEMENTS:
        count = page.page.locator(selector).count()
        assert count == 0, f"{docname} has {count} element(s) {selector!r}"
    # Visible text, without the code cells' sources (code may name exceptions).
    text = page.page.evaluate(
        """() => {
            const main = document.querySelector("main") || document.body;
            const copy = main.cloneNode(true);
            copy.querySelectorAll(".cell_input").forEach(e => e.remove());
            document.body.appendChild(copy);
            const text = copy.innerText;
            copy.remove();
            return text;
        }"""
    )
    assert len(text.strip()) > 200, f"{docname} looks empty"
    _assert_images_loaded(page, docname, "main img")
    for pattern in FORBIDDEN_TEXT:
        match = pattern.search(text)
        assert match is None, (
            f"{docname} shows {match.group(0)!r}: "
            f"...{text[max(0, match.start() - 150):match.end() + 150]}..."
        )


def test_every_toc_page_was_built():
    missing = [page for page in PAGES if not (HTML / f"{page}.html").is_file()]
    assert not missing, f"pages of _toc.yml missing from {HTML}: {missing}"


# --- Notebook pages -----------------------------------------------------------


def _assert_images_loaded(page: Visit, docname: str, selector: str) -> int:
    """Every image matching ``selector`` has loaded and, unless folded away, is drawn
    at a visible size (images in a closed solution are checked for loading only)."""
    images = page.page.locator(selector)
    for i in range(images.count()):
        image = images.nth(i)
        visible = image.is_visible()
        if visible:
            image.scroll_into_view_if_needed()
        image.evaluate(
            "img => img.complete ? null : new Promise(done => {"
            " img.addEventListener('load', done); img.addEventListener('error', done); })"
        )
        width = image.evaluate("img => img.naturalWidth")
        source = (image.get_attribute("src") or "")[:80]
        assert width > 0, f"{docname}: image {i + 1} did not load ({source})"
        if not visible:
            continue
        box = image.bounding_box()
        assert box and box["width"] > 16 and box["height"] > 16, (
            f"{docname}: image {i + 1} is drawn too small to see: {box} ({source})"
        )
    return images.count()


def _figures_made(docname: str) -> int:
    """How many images the executed notebook's outputs hold."""
    notebook = json.loads((EXECUTED / f"{docname}.ipynb").read_text(encoding="utf-8"))
    return sum(
        1
        for cell in notebook["cells"]
        if cell["cell_type"] == "code"
        for output in cell.get("outputs", [])
        if any(kind.startswith("image/") for kind in output.get("data", {}))
    )


@pytest.mark.parametrize("docname", NOTEBOOK_PAGES)
def test_notebook_page_shows_its_figures(visit, docname):
    page = visit(docname)
    expected = _figures_made(docname)
    assert expected > 0, f"{docname} made no figure at all"
    # Open every solution, as a student comparing answers would: all figures show.
    buttons = page.page.locator(".solution.dropdown .toggle-button")
    for i in range(buttons.count()):
        buttons.nth(i).click()
    hidden = page.page.eval_on_selector_all(
        ".cell_output img", "images => images.filter(i => !i.checkVisibility()).length"
    )
    assert hidden == 0, f"{docname}: {hidden} figure(s) still hidden with every solution open"
    shown = _assert_images_loaded(page, docname, ".cell_output img")
    assert shown == expected, (
        f"{docname}: the notebook made {expected} figures, the page shows {shown}"
    )


@pytest.mark.parametrize("docname", NOTEBOOK_PAGES)
def test_launch_buttons_open_this_notebook(visit, docname):
    path = f"{docname}.ipynb"
    assert (ROOT / path).is_file()
    page = visit(docname)
    links = page.page.locator("a[href]")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    colab = [h for h in hrefs if h.startswith("https://colab.research.google.com")]
    binder = [h for h in hrefs if urlsplit(h).netloc == urlsplit(expected_binder(path)).netloc]
    binder = [h for h in binder if "/v2/" in h]
    assert colab == [expected_colab(path)], f"{docname}: Colab links {colab}"
    assert binder == [expected_binder(path)], f"{docname}: Binder links {binder}"
    for href in colab + binder:
        assert "//" not in href.split("://", 1)[1], f"double slash in {href}"

    # The buttons sit in the rocket menu: it opens and shows both.
    menu = page.page.locator(".dropdown-launch-buttons button").first
    menu.click()
    for name, href in [("Colab", expected_colab(path)), ("Binder", expected_binder(path))]:
        link = page.page.locator(f'a[href="{href}"]')
        link.wait_for(state="visible", timeout=5000)
        assert name in link.inner_text()


@pytest.mark.parametrize("docname", [p for p in PAGES if not p.startswith("notebooks/")])
def test_other_pages_have_no_launch_buttons(visit, docname):
    page = visit(docname)
    assert page.page.locator(".dropdown-launch-buttons").count() == 0
    launch = page.page.locator('a[href^="https://colab.research.google.com"]')
    if docname != "book/student_notebooks":  # that page links the student versions
        assert launch.count() == 0


def test_solution_opens_on_click(visit):
    docname = NOTEBOOK_PAGES[0]
    page = visit(docname)
    solution = page.page.locator(".solution.dropdown").first
    assert solution.count() == 1, f"{docname} has no solution dropdown"
    body = solution.locator(":scope > :not(.admonition-title)").first
    title = solution.locator(":scope > .admonition-title")
    assert "Solution" in title.inner_text()
    assert not body.is_visible(), "the solution is visible before it is opened"
    # A student clicks the title's text (a link to the exercise, in sphinx-exercise).
    title.locator("a").first.click()
    body.wait_for(state="visible", timeout=5000)
    assert body.is_visible()
    assert body.inner_text().strip(), "the opened solution is empty"
    assert not page.js_errors, page.js_errors
    # A second click folds it again.
    solution.locator(".toggle-button").click()
    body.wait_for(state="hidden", timeout=5000)


# --- The data page -------------------------------------------------------------


def test_data_page_describes_every_set_of_the_manifest(visit):
    from course_utils.data.manifest import load_manifest

    files = load_manifest()["files"]
    sets = {(f["frame_type"], f["instrument"], f["detector"]) for f in files}
    page = visit("book/data")
    rows = page.page.locator("main table tbody tr")
    assert rows.count() == len(sets)
    table = page.page.locator("main table").first.inner_text()
    for kind, instrument, detector in sets:
        count = sum(1 for f in files if (f["frame_type"], f["instrument"], f["detector"])
                    == (kind, instrument, detector))
        assert f"{kind}, detector {detector}" in table and instrument in table
        assert f"{count}: " in table
    thumbnails = _assert_images_loaded(page, "book/data", ".data-set img")
    assert thumbnails == len(sets)
    assert f"In all, {len(files)} files" in page.page.locator("main").inner_text()


# --- Student notebooks --------------------------------------------------------


def test_student_notebooks_download_and_open_in_colab(visit):
    assert STUDENT_NOTEBOOKS, "no student notebooks in notebooks/student/"
    page = visit("book/student_notebooks")
    downloads = page.page.locator("a.download")
    names = [downloads.nth(i).inner_text().strip() for i in range(downloads.count())]
    assert names == [p.name for p in STUDENT_NOTEBOOKS]
    for i, path in enumerate(STUDENT_NOTEBOOKS):
        href = urljoin(page.url, downloads.nth(i).get_attribute("href"))
        response = page.context.request.get(href)
        assert response.status == 200, f"{href}: HTTP {response.status}"
        notebook = json.loads(response.body())
        assert notebook["metadata"]["course"]["version"] == "student", href
        assert notebook == json.loads(path.read_text(encoding="utf-8")), (
            f"{href} is not the current {path.relative_to(ROOT)}"
        )
        relative = path.relative_to(ROOT).as_posix()
        for expected in (expected_colab(relative), expected_binder(relative)):
            assert page.page.locator(f'a[href="{expected}"]').count() == 1, expected


# --- Screenshots for review ---------------------------------------------------


@pytest.mark.parametrize(
    "docname, name",
    [("book/intro", "landing"), (NOTEBOOK_PAGES[0], NOTEBOOK_PAGES[0].split("/")[-1])],
)
def test_screenshot(visit, docname, name):
    SCREENSHOTS.mkdir(exist_ok=True)
    page = visit(docname)
    target = SCREENSHOTS / f"{name}.png"
    page.page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 10_000
