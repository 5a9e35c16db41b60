"""The built course website, checked in a real browser (headless Chromium).

`make test` builds the website (`make book`) before running pytest; this file
serves ``_build/html`` on 127.0.0.1 and drives Debian's Chromium through
Playwright. It checks what a student would see:

* every page loads, with no error or traceback text, no stderr output, no
  JavaScript error, and no request leaving the machine (the site works offline);
* every notebook page shows all the figures its executed notebook made, and
  every image on it has actually loaded;
* the Colab and Binder buttons and the ``.ipynb`` download of each notebook
  page open the student version of that notebook (``notebooks/student/``) in
  the repository named in ``_config.yml``; the version with solutions is
  offered after it, named as such; no other page has launch buttons;
* every image has a description (alt text) that says what it shows, not its
  file name;
* axe-core (the version pinned in ``package-lock.json``, installed by
  ``npm ci`` when ``node_modules/`` lacks it) finds no violation of serious or
  critical impact on any page, at a desktop's width and at a phone's, and no
  id is used twice on a page;
* at a phone's width (390 px) and a desktop's (1280 px): the page never
  scrolls sideways, figures fit the column and a tap opens them at full
  size, code never scrolls sideways and a wrapped line keeps its
  indentation and never splits a name, a cell's text output keeps its lines
  and scrolls as one block with a visible cue, reachable from the keyboard,
  and the student notebooks table keeps its Colab and Binder links on screen;
* no console error (such as the theme's "Got invalid theme mode" on a first
  visit); all content sits in landmarks (axe: region); decorative logos have
  an empty alt text;
* the build is reproducible: the executed notebooks' outputs are the stored
  ones (so every build, on any machine, publishes the same outputs; nbval
  checks the stored ones), notebooks written from Markdown pages have stable
  cell ids, and no page holds a path of the machine that built it.
* a solution is folded away until its title is clicked;
* the student notebooks can be downloaded, and their Colab links are right.

Screenshots of the landing page and of the first notebook page (and of it and
the student notebooks page at a phone's width) are written to ``screenshots/``
for review.

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
import subprocess
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
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
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
    """(org/repo, release tag) from _config.yml and course_utils, read independently of the build.

    Launch links open the release tag v<version>, never a branch.
    """
    url = CONFIG["repository"]["url"]
    parts = urlsplit(url)
    assert parts.netloc == "github.com", url
    version = re.search(r'__version__ = "([^"]+)"',
                        (ROOT / "course_utils" / "__init__.py").read_text())[1]
    return parts.path.strip("/"), f"v{version}"


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

    def __init__(self, browser, site: str, docname: str, viewport: dict = DESKTOP):
        self.url = urljoin(site, docname + ".html")
        self.context = browser.new_context(viewport=viewport)
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
        self.page.on("console", lambda message: self.js_errors.append(message.text)
                     if message.type == "error" else None)
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

    def open_page(docname: str, viewport: dict = DESKTOP) -> Visit:
        page = Visit(browser, site, docname, viewport)
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


def _student_path(docname: str) -> str:
    return f"notebooks/student/{docname.split('/')[-1]}.ipynb"


@pytest.mark.parametrize("docname", NOTEBOOK_PAGES)
def test_launch_buttons_open_the_student_version(visit, docname):
    solution, student = f"{docname}.ipynb", _student_path(docname)
    assert (ROOT / solution).is_file() and (ROOT / student).is_file()
    page = visit(docname)
    links = page.page.locator("a[href]")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    colab = {h for h in hrefs if h.startswith("https://colab.research.google.com")}
    binder = {h for h in hrefs if urlsplit(h).netloc == urlsplit(expected_binder(student)).netloc}
    binder = {h for h in binder if "/v2/" in h}
    assert colab == {expected_colab(student), expected_colab(solution)}, colab
    assert binder == {expected_binder(student), expected_binder(solution)}, binder
    for href in colab | binder:
        assert "//" not in href.split("://", 1)[1], f"double slash in {href}"

    # The rocket menu opens; its first entries open the exercises, the others
    # say that they hold the solutions.
    page.page.locator(".dropdown-launch-buttons button").first.click()
    items = page.page.locator(".dropdown-launch-buttons .dropdown-menu a")
    items.first.wait_for(state="visible", timeout=5000)
    menu = [(items.nth(i).inner_text().strip(), items.nth(i).get_attribute("href"))
            for i in range(items.count())]
    assert menu[:2] == [("Exercises in Colab", expected_colab(student)),
                        ("Exercises in Binder", expected_binder(student))], menu
    for text, href in menu[2:]:
        assert "solutions" in text.lower() and href in (expected_colab(solution),
                                                        expected_binder(solution)), menu

    # The download menu's first entry is the student notebook, as stored.
    page.page.locator(".dropdown-download-buttons button").first.click()
    downloads = page.page.locator(".dropdown-download-buttons .dropdown-menu a")
    downloads.first.wait_for(state="visible", timeout=5000)
    assert "exercises" in downloads.first.inner_text()
    _assert_is_notebook(page, downloads.first.get_attribute("href"), ROOT / student)
    texts = [downloads.nth(i).inner_text() for i in range(downloads.count())]
    assert any("with solutions" in t for t in texts), texts

    # The box under the title leads to the same student version.
    box = page.page.locator("main .student-version")
    assert box.count() == 1 and box.is_visible()
    box_links = box.locator("a")
    box_hrefs = [box_links.nth(i).get_attribute("href") for i in range(box_links.count())]
    assert box_hrefs[:2] == [expected_colab(student), expected_binder(student)], box_hrefs
    _assert_is_notebook(page, box_hrefs[2], ROOT / student)
    above = box.evaluate("b => b.previousElementSibling && b.previousElementSibling.tagName")
    assert above == "H1", f"the box must follow the page's title, not {above}"


def _assert_is_notebook(page: Visit, href: str, path: Path) -> None:
    url = urljoin(page.url, href)
    response = page.context.request.get(url)
    assert response.status == 200, f"{url}: HTTP {response.status}"
    assert json.loads(response.body()) == json.loads(path.read_text(encoding="utf-8")), (
        f"{url} is not the current {path.relative_to(ROOT)}"
    )


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


# --- Figures described -----------------------------------------------------------

IMAGE_FILE = re.compile(r"\.(png|jpe?g|gif|svg|webp|fits)\b|_images/|^data:", re.IGNORECASE)

#: Images that only decorate the text beside them: the launch buttons' logos.
DECORATIVE = ".btn__icon-container img"


def meaningful_description(alt: str, src: str) -> str | None:
    """Why ``alt`` does not describe an image to a screen-reader user, or None."""
    text = " ".join(alt.split())
    if len(text.split()) < 4:
        return f"alt text {alt!r} is too short to say what the image shows"
    if IMAGE_FILE.search(text):
        return f"alt text {alt[:80]!r} names a file, not what the image shows"
    name = urlsplit(src).path.rsplit("/", 1)[-1]
    if name and name.split(".")[0] in text:
        return f"alt text {alt[:80]!r} repeats the image's file name"
    return None


def test_alt_text_rule_catches_file_names():
    for alt in ["../_images/6bc7c4b9a3334a4271f8088ff4d29ff6fbb29.jpg", "", "Figure",
                "A plot of data.png", "One bias frame, b0860c1.fits"]:
        assert meaningful_description(alt, "../_images/6bc7c4b9a3334a4271f8088ff4d29ff6fbb29.jpg")
    assert meaningful_description(
        "Histograms of 20 single bias frames and of their median", "../_images/x.jpg"
    ) is None


@pytest.mark.parametrize("docname", PAGES)
def test_every_image_is_described(visit, docname):
    page = visit(docname)
    logos = page.page.eval_on_selector_all(DECORATIVE, "images => images.map(i => i.alt)")
    assert all(alt == "" for alt in logos), f"{docname}: logos repeat their button's text: {logos}"
    images = page.page.eval_on_selector_all(
        f"img:not({DECORATIVE})",
        "images => images.map(i => [i.getAttribute('alt'), i.getAttribute('src') || ''])"
    )
    problems = [f"image {src[:60]}: {why}" for alt, src in images
                if (why := meaningful_description(alt or "", src))]
    assert not problems, f"{docname}:\n" + "\n".join(problems)
    figures = page.page.eval_on_selector_all(".cell_output img", "images => images.map(i => i.alt)")
    repeated = sorted({alt for alt in figures if figures.count(alt) > 1})
    assert not repeated, f"{docname}: figures share a description: {repeated}"


# --- Accessibility (axe-core) -------------------------------------------------------

SERIOUS = ("serious", "critical")


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's script, the version pinned in package-lock.json (``npm ci`` if missing)."""
    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))
    pinned = lock["packages"]["node_modules/axe-core"]["version"]
    installed = ROOT / "node_modules" / "axe-core" / "package.json"
    if not installed.is_file() or json.loads(installed.read_text())["version"] != pinned:
        npm = shutil.which("npm")
        if npm is None:
            _skip_or_fail("npm is not installed, so axe-core cannot be installed (`npm ci`)")
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=ROOT, capture_output=True, text=True, timeout=600,
        )
        if result.returncode != 0:
            _skip_or_fail(f"`npm ci` could not install axe-core {pinned}: {result.stderr[-800:]}")
    version = json.loads(installed.read_text())["version"]
    assert version == pinned, f"node_modules holds axe-core {version}, the lock pins {pinned}"
    return AXE.read_text(encoding="utf-8")


def _axe(page: Visit, axe_source: str) -> list[dict]:
    page.page.add_script_tag(content=axe_source)
    return page.page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => n.target.join(" ") + ": " + n.html.slice(0, 160)),
            }));
        }"""
    )


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("docname", PAGES)
def test_no_serious_accessibility_violation(visit, axe_source, docname, viewport):
    page = visit(docname, viewport)
    # `region` is of moderate impact, but content outside every landmark is
    # missed by a screen reader's landmark list: it must not happen either.
    serious = [v for v in _axe(page, axe_source) if v["impact"] in SERIOUS or v["id"] == "region"]
    assert not serious, f"{docname} at {viewport['width']} px:\n" + "\n".join(
        f"{v['impact']} {v['id']} ({v['help']}): {v['nodes'][:3]}" for v in serious
    )
    # axe 4.9 and later no longer report duplicate ids; a link to one would
    # reach the wrong element, so they are checked here.
    ids = page.page.eval_on_selector_all("[id]", "elements => elements.map(e => e.id)")
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    assert not repeated, f"{docname}: ids used more than once: {repeated}"


def test_solution_buttons_are_named_after_their_solution(visit):
    named = 0
    for docname in NOTEBOOK_PAGES:
        page = visit(docname)
        buttons = page.page.locator(".toggle-button")
        for i in range(buttons.count()):
            button = buttons.nth(i)
            title = button.evaluate(
                "b => b.closest('.admonition').querySelector('.admonition-title')"
                ".textContent.replace(/\\s+/g, ' ').trim()"
            )
            name = button.get_attribute("aria-label") or ""
            assert name == title and title, (
                f"{docname}: toggle button {i + 1} is named {name!r}, what it opens {title!r}"
            )
            assert button.get_attribute("aria-expanded") == "false"
            named += name.startswith("Solution to Exercise")
    assert named > 0, "no solution button on any notebook page"


# --- Phone and desktop widths ----------------------------------------------------------

def _readable_label_px() -> float:
    """The size in CSS pixels of a figure's labels, drawn at the stored size."""
    from course_utils.display import COURSE_STYLE

    return COURSE_STYLE["font.size"] * COURSE_STYLE["figure.dpi"] / 72


#: Smallest text a figure may show, in CSS pixels (tick labels at this size read on a phone).
SMALLEST_TEXT_PX = 11


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("docname", PAGES)
def test_code_never_scrolls_sideways(visit, docname, viewport):
    page = visit(docname, viewport)
    wide = page.page.eval_on_selector_all(
        "main pre",
        "blocks => blocks.filter(b => !b.closest('.cell_output'))"
        ".filter(b => b.scrollWidth > b.clientWidth + 1)"
        ".map(b => b.innerText.split('\\n').sort((a, c) => c.length - a.length)[0])",
    )
    assert not wide, f"{docname} at {viewport['width']} px: code scrolls sideways: {wide[:3]}"
    width = page.page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= viewport["width"], f"{docname}: the page scrolls sideways ({width} px)"


#: For each code block of a page (not the outputs, which do not wrap), its
#: wrapped lines whose continuation does not start right of the line's first
#: character, however deep its indentation, and how many lines wrapped at all.
WRAPPED_LINES_JS = """
() => [...document.querySelectorAll("main div.highlight pre")]
    .filter((pre) => !pre.closest(".cell_output")).map((pre) => {
  const chars = [];
  const walker = document.createTreeWalker(pre, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.data.length; i++) chars.push([node, i, node.data[i]]);
  }
  const range = document.createRange();
  let line = [], wrapped = 0;
  const bad = [];
  const finish = () => {
    // Rows of the wrapped line: a character half a line below the row's top starts a new one.
    const rows = [];
    for (const [node, i, c] of line) {
      if (c === " ") continue;
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      const box = range.getBoundingClientRect();
      const row = rows[rows.length - 1];
      if (!row || box.top > row.top + box.height / 2) rows.push({top: box.top, left: box.left});
      else row.left = Math.min(row.left, box.left);
    }
    if (rows.length > 1) {
      wrapped += 1;
      const continues = Math.min(...rows.slice(1).map((r) => r.left));
      if (continues <= rows[0].left + 1) {
        bad.push(line.map((x) => x[2]).join("").slice(0, 60));
      }
    }
    line = [];
  };
  for (const ch of chars) {
    if (ch[2] === "\\n") finish(); else line.push(ch);
  }
  finish();
  return {wrapped, bad};
})
"""


@pytest.mark.parametrize("docname", NOTEBOOK_PAGES)
def test_wrapped_code_lines_hang_below_their_indentation(visit, docname):
    """On a phone, a wrapped line of code continues deeper than it starts, never at the margin."""
    blocks = visit(docname, PHONE).page.evaluate(WRAPPED_LINES_JS)
    bad = [line for block in blocks for line in block["bad"]]
    assert not bad, f"{docname}: wrapped lines continue at or left of their start: {bad[:3]}"
    assert sum(block["wrapped"] for block in blocks) > 0  # (the set-up cell wraps on a phone)


@pytest.mark.parametrize("docname", NOTEBOOK_PAGES[:2])
def test_hanging_code_lines_keep_the_code_text(browser, site, visit, docname):
    """What a reader copies is the code as it was published, character for character."""
    shown = visit(docname, PHONE).page.eval_on_selector_all(
        "main div.highlight pre", "blocks => blocks.map(b => b.textContent)")
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(urljoin(site, docname + ".html"))
        published = page.eval_on_selector_all("main div.highlight pre",
                                              "blocks => blocks.map(b => b.textContent)")
    finally:
        context.close()
    assert shown == published and len(shown) > 3


#: Pygments' classes of names (variables, functions, classes, modules, builtins,
#: attributes, keywords): a wrapped line must never split one.
NAME_TOKENS = ".n, .nf, .nc, .nn, .nb, .bp, .na, .nv, .k, .kn"


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("docname", NOTEBOOK_PAGES)
def test_wrapped_code_never_splits_a_name(visit, docname, viewport):
    page = visit(docname, viewport)
    split = page.page.eval_on_selector_all(
        ", ".join(f"main div.highlight pre {name}" for name in NAME_TOKENS.split(", ")),
        """tokens => tokens.filter(t => !t.closest(".cell_output"))
            .filter(t => new Set([...t.getClientRects()].filter(r => r.width > 0)
                                 .map(r => Math.round(r.top))).size > 1)
            .map(t => t.textContent)""",
    )
    assert not split, f"{docname} at {viewport['width']} px: names split: {split[:5]}"


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("docname", NOTEBOOK_PAGES)
def test_figures_fit_the_column_and_a_tap_opens_them_full_size(visit, site, docname, viewport):
    page = visit(docname, viewport)
    buttons = page.page.locator(".solution.dropdown .toggle-button")
    for i in range(buttons.count()):
        buttons.nth(i).click()
    figures = page.page.locator("main .cell_output img")
    assert figures.count() > 0
    for i in range(figures.count()):
        figure = figures.nth(i)
        figure.scroll_into_view_if_needed()
        figure.evaluate("img => img.complete ? null : new Promise(done => img.onload = done)")
        fit = figure.evaluate(
            """img => {
                const box = img.getBoundingClientRect();
                const column = img.closest(".cell_output").getBoundingClientRect();
                const link = img.closest("a.full-size-figure");
                return {inside: box.left >= column.left - 1 && box.right <= column.right + 1,
                        onScreen: box.right <= window.innerWidth + 1,
                        scale: box.width / img.naturalWidth, height: box.height / box.width,
                        natural: img.naturalHeight / img.naturalWidth,
                        link: link ? link.href : null, src: img.src}
            }"""
        )
        assert fit["inside"] and fit["onScreen"], f"{docname}: figure {i + 1} overflows: {fit}"
        assert fit["scale"] <= 1.001, f"{docname}: figure {i + 1} is blown up: {fit}"
        # Scaled as a whole: nothing cut, titles included.
        assert abs(fit["height"] - fit["natural"]) < 0.02, f"{docname}: figure {i + 1}: {fit}"
        assert fit["link"] == fit["src"], f"{docname}: figure {i + 1} does not open full size"
    # A tap on the first figure opens its image file, the figure at full size.
    first = figures.first
    source = first.evaluate("img => img.src")
    first.scroll_into_view_if_needed()
    with page.page.expect_navigation() as navigation:
        first.click()
    response = navigation.value
    assert page.page.url == source and response is not None and response.status == 200
    assert response.headers.get("content-type", "").startswith("image/")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_text_outputs_scroll_as_one_block_with_a_cue(visit, viewport):
    scrolling = 0
    for docname in NOTEBOOK_PAGES:
        page = visit(docname, viewport)
        blocks = page.page.eval_on_selector_all(
            "main .cell_output div.highlight pre",
            """blocks => blocks.map(b => {
                const lines = b.textContent.replace(/\\n$/, "").split("\\n").length;
                const padding = parseFloat(getComputedStyle(b).paddingTop)
                    + parseFloat(getComputedStyle(b).paddingBottom);
                const rowsInside = Math.round((b.scrollHeight - padding)
                    / parseFloat(getComputedStyle(b).lineHeight));
                return {scrolls: b.scrollWidth > b.clientWidth + 1, lines, rowsInside,
                        wraps: getComputedStyle(b).whiteSpace, tab: b.tabIndex,
                        cue: b.classList.contains("scrolls-right"),
                        shadow: getComputedStyle(b).boxShadow, text: b.textContent.slice(0, 50)};
            })""",
        )
        for block in blocks:
            assert block["wraps"] == "pre", f"{docname}: an output wraps its lines: {block}"
            assert block["rowsInside"] <= block["lines"] + 1, f"{docname}: {block}"
            if block["scrolls"]:
                scrolling += 1
                assert block["tab"] == 0, f"{docname}: a scrolling output is not focusable"
                assert block["cue"] and block["shadow"] != "none", (
                    f"{docname}: a scrolling output shows no cue: {block}")
        width = page.page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= viewport["width"], f"{docname}: the page scrolls sideways ({width} px)"
    if viewport is PHONE:
        assert scrolling > 0, "no output scrolls at a phone's width: the test tests nothing"


def test_student_notebooks_table_fits_a_phone(visit):
    page = visit("book/student_notebooks", PHONE)
    links = page.page.locator(".student-notebooks a[href^='https://']")
    assert links.count() == 2 * len(STUDENT_NOTEBOOKS)
    for i in range(links.count()):
        link = links.nth(i)
        assert link.is_visible()
        box = link.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (
            f"the {link.inner_text()!r} link is off screen at {PHONE['width']} px: {box}"
        )
    width = page.page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways ({width} px)"


# --- Reproducible builds ---------------------------------------------------------------


def _sanitizers() -> list[tuple[re.Pattern, str]]:
    """nbval's sanitizers (tests/nbval_sanitize.cfg): what may differ between runs."""
    import configparser

    parser = configparser.ConfigParser()
    parser.read(ROOT / "tests" / "nbval_sanitize.cfg")
    return [(re.compile(parser[s]["regex"]), parser[s]["replace"]) for s in parser.sections()]


def comparable_outputs(notebook: dict) -> list:
    """Every code cell's outputs, streams merged as stored, sanitized as nbval does."""
    sanitizers = _sanitizers()

    def clean(text):
        text = "".join(text) if isinstance(text, list) else text
        for pattern, replacement in sanitizers:
            text = pattern.sub(replacement, text)
        return text

    cells = []
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        merged = []
        for output in cell.get("outputs", []):
            output = {k: v for k, v in output.items() if k != "execution_count"}
            if (output["output_type"] == "stream" and merged
                    and merged[-1]["output_type"] == "stream"
                    and merged[-1]["name"] == output["name"]):
                merged[-1]["text"] += clean(output["text"])
                continue
            if "text" in output:
                output["text"] = clean(output["text"])
            if "data" in output:
                output["data"] = {k: clean(v) if k.startswith("text/") else v
                                  for k, v in output["data"].items()}
            output.pop("metadata", None)
            merged.append(output)
        cells.append((cell.get("id"), merged))
    return cells


@pytest.mark.parametrize("docname", NOTEBOOK_PAGES)
def test_published_outputs_are_the_stored_outputs(docname):
    """A build publishes what the stored notebook holds, figures byte for byte.

    Every build executes the notebooks afresh; if what it gets is what is
    stored, two builds (here or anywhere) publish the same outputs. A timing,
    a machine's path or a random number in an output fails here. (The build
    executes every notebook, ``execute_notebooks: force``, which
    test_book_config.py checks: a build from a cache would compare old outputs.)
    """
    built = json.loads((EXECUTED / f"{docname}.ipynb").read_text(encoding="utf-8"))
    stored = json.loads((ROOT / f"{docname}.ipynb").read_text(encoding="utf-8"))
    differ = [
        cell_id for (cell_id, a), (_, b) in zip(comparable_outputs(built), comparable_outputs(stored))
        if a != b
    ]
    assert len(built["cells"]) == len(stored["cells"])
    assert not differ, (
        f"{docname}: the build's outputs of cells {differ} differ from the stored ones "
        "(a timing, a path or randomness in an output?)"
    )


@pytest.mark.parametrize("docname", NOTEBOOK_PAGES)
def test_printed_lines_are_one_block_per_cell(docname):
    """How a kernel flushes its output varies from run to run; the page must not."""
    page = (HTML / f"{docname}.html").read_text(encoding="utf-8")
    split = re.findall(
        r'<div class="output stream[^"]*"><div class="highlight"><pre>(?:(?!</pre>).)*</pre>'
        r'</div>\s*</div>\s*<div class="output stream', page, flags=re.DOTALL,
    )
    assert not split, f"{docname}: {len(split)} cell outputs split into several blocks"


def test_notebooks_written_from_pages_have_stable_cell_ids():
    sources = HTML / "_sources"
    written = [p for p in sources.rglob("*.ipynb")
               if (ROOT / p.relative_to(sources)).with_suffix(".md").is_file()]
    assert written, "no notebook was written from a Markdown page (book/data.md)"
    for path in written:
        stem = path.stem
        ids = [c["id"] for c in json.loads(path.read_text(encoding="utf-8"))["cells"]]
        assert ids == [f"{stem}-cell-{n}" for n in range(1, len(ids) + 1)], (path, ids)


def _machine_paths() -> list[str]:
    paths = {str(ROOT), str(Path.home()) + "/"}
    for name in ("COURSE_CACHE_DIR", "COURSE_WORK_DIR", "COURSE_DATA_DIR"):
        if os.environ.get(name):
            paths.add(str(Path(os.environ[name]).expanduser().resolve()))
    from course_utils.data import dataset_dir

    paths.add(str(dataset_dir(verbose=False)))
    return sorted(p for p in paths if len(p) > 5)


def test_published_pages_hold_no_path_of_the_builders_machine():
    paths = _machine_paths()
    found = []
    for path in sorted(HTML.rglob("*")):
        if path.suffix not in (".html", ".ipynb", ".txt", ".js", ".json", ".md"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        found += [f"{path.relative_to(HTML)}: {p}" for p in paths if p in text]
    assert not found, "published files print the builder's paths:\n" + "\n".join(found[:20])


# --- The data page -------------------------------------------------------------


def test_data_page_describes_every_set_of_the_manifest(visit):
    from course_utils.data.manifest import load_manifest

    files = load_manifest()["files"]
    sets = {(f["frame_type"], f["instrument"], f["detector"]) for f in files}
    page = visit("book/data")
    first = page.page.locator("main table").first  # the frames' table (the students' ranges follow)
    assert first.locator("tbody tr").count() == len(sets)
    table = first.inner_text()
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
    "docname, name, viewport",
    [("book/intro", "landing", DESKTOP),
     (NOTEBOOK_PAGES[0], NOTEBOOK_PAGES[0].split("/")[-1], DESKTOP),
     (NOTEBOOK_PAGES[0], NOTEBOOK_PAGES[0].split("/")[-1] + "-phone", PHONE),
     ("book/student_notebooks", "student_notebooks-phone", PHONE)],
)
def test_screenshot(visit, docname, name, viewport):
    SCREENSHOTS.mkdir(exist_ok=True)
    page = visit(docname, viewport)
    target = SCREENSHOTS / f"{name}.png"
    page.page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 10_000
