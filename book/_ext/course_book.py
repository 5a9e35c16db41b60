"""Sphinx extension of the course website (loaded by _config.yml).

It does a few small things that Jupyter Book 1.x does not:

* it checks the repository settings of ``_config.yml`` when the build starts,
  so that a malformed address or branch (the course we grow from had
  ``branch: main/``, which gave ``blob/main//`` links) fails the build instead
  of publishing broken launch links;
* it provides the ``student-notebooks`` directive: a table of every notebook in
  ``notebooks/student/`` with a download link and Colab and Binder links built
  from the same settings as the launch buttons;
* it pins every Colab and Binder link to the release tag ``v<version>`` (the
  version of ``course_utils/__init__.py``), not to a branch: the notebook a
  student opens, its set-up cell and the package that cell installs then
  belong to one release (the deploy workflow publishes only the tag's commit);
* it derives MyST substitutions from the repository settings, so that pages
  can show the clone command without repeating the address
  (``{{ clone_commands }}``, ``{{ repository_url }}``);
* it keeps launch buttons (Colab, Binder) on the exercise notebooks only: the
  data page is executed too, but it is not something a student should launch;
* it makes the launch buttons, the ``.ipynb`` download and a box under each
  notebook's title open the **student version** (``notebooks/student/``), and
  offers the version with solutions under its own, clearly different name;
* it loads ``accessible_pages`` (pages that pass axe-core's serious and
  critical checks) and ``reproducible_build`` (stable cell ids in the
  notebooks written from Markdown pages), and names each solution's button
  after the solution (``static/course_book.js``);
* its style sheet (``static/course_book.css``) wraps long code lines instead of
  scrolling them sideways (``static/course_book.js`` makes a wrapped line's
  continuation hang deeper than its indentation), keeps figures at a
  readable size on phones (scrolling sideways within the figure's output
  instead), and keeps the student notebooks table's links on screen at a
  phone's width;
* it makes a click on the title text of a folded solution open it
  (``static/course_book.js``): sphinx-exercise makes that text a link back to
  the exercise, which would otherwise swallow the click;
* it drops inline scripts that reach a page twice: sphinx-thebe and
  sphinx-togglebutton register theirs in a way that Sphinx 7 emits twice, and
  the repeated ``const THEBE_JS_URL`` is a JavaScript error on every page.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.errors import ConfigError
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

#: Pages under this folder (relative to the book's root) are the exercise notebooks.
NOTEBOOK_FOLDER = "notebooks"
STUDENT_FOLDER = "notebooks/student"

_BRANCH = re.compile(r"^[A-Za-z0-9._-]+$")
_VERSION_LINE = re.compile(r'^__version__ = "(?P<version>\d+\.\d+\.\d+)"$', flags=re.MULTILINE)


def check_repository(url: str, branch: str) -> None:
    """Raise ``ValueError`` unless ``url`` and ``branch`` make clean launch links.

    >>> check_repository("https://github.com/org/repo", "main")
    >>> check_repository("https://github.com/org/repo", "main/")
    Traceback (most recent call last):
    ...
    ValueError: repository.branch must be a bare branch name such as 'main', not 'main/'
    """
    if not isinstance(branch, str) or not _BRANCH.match(branch):
        raise ValueError(
            f"repository.branch must be a bare branch name such as 'main', not {branch!r}"
        )
    parts = urlsplit(url or "")
    path = parts.path.strip("/").split("/")
    if (
        parts.scheme != "https"
        or parts.netloc != "github.com"
        or len(path) != 2
        or url.endswith(("/", ".git"))
        or parts.query
        or parts.fragment
    ):
        raise ValueError(
            "repository.url must be a GitHub repository address of the form "
            f"https://github.com/<org>/<repo>, without a trailing slash or .git; got {url!r}"
        )


def colab_url(repository_url: str, branch: str, path: str,
              colab: str = "https://colab.research.google.com") -> str:
    """The Colab address that opens ``path`` (relative to the repository root).

    ``colab`` is ``launch_buttons.colab_url`` of ``_config.yml``.
    """
    org_repo = urlsplit(repository_url).path.strip("/")
    return f"{colab.rstrip('/')}/github/{org_repo}/blob/{branch}/{path}"


def binder_url(repository_url: str, branch: str, path: str, binderhub="https://mybinder.org"):
    """The Binder address that builds the repository and opens ``path`` in JupyterLab."""
    org_repo = urlsplit(repository_url).path.strip("/")
    return f"{binderhub.rstrip('/')}/v2/gh/{org_repo}/{branch}?urlpath=lab/tree/{path}"


def _repository(config) -> tuple[str, str]:
    options = config.html_theme_options
    return options.get("repository_url", ""), options.get("repository_branch", "")


def release_ref(srcdir: str | Path) -> str:
    """The release tag ``v<version>`` that launch links open, from ``course_utils/__init__.py``.

    Raises ``ConfigError`` when the book's folder has no such file or version.

    >>> import pathlib, tempfile
    >>> book = pathlib.Path(tempfile.mkdtemp())
    >>> (book / "course_utils").mkdir()
    >>> _ = (book / "course_utils" / "__init__.py").write_text('__version__ = "1.2.3"\\n')
    >>> release_ref(book)
    'v1.2.3'
    """
    path = Path(srcdir) / "course_utils" / "__init__.py"
    try:
        found = _VERSION_LINE.search(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the course's version ({error})") from None
    if found is None:
        raise ConfigError(f'{path}: no line __version__ = "x.y.z" (the launch links name it)')
    return f"v{found['version']}"


def _check_config(app: Sphinx, config) -> None:
    url, branch = _repository(config)
    try:
        check_repository(url, branch)
    except ValueError as error:
        raise ConfigError(f"_config.yml: {error}") from None
    release_ref(app.srcdir)  # the launch links' tag: fail now, not on the first page
    if config.html_theme_options.get("path_to_docs", "").strip("/"):
        raise ConfigError(
            "_config.yml: repository.path_to_book must be empty: the book's root is the "
            "repository's root, so launch links point at notebooks/<name>.ipynb"
        )


def repository_substitutions(url: str) -> dict[str, str]:
    """MyST substitutions built from the repository address.

    >>> sorted(repository_substitutions("https://github.com/org/repo"))
    ['clone_commands', 'repository_url']
    """
    name = url.rstrip("/").rsplit("/", 1)[-1]
    return {
        "repository_url": url,
        "clone_commands": (
            f"```bash\ngit clone {url}.git\ncd {name}\nmake lab\n```"
        ),
    }


def _add_substitutions(app: Sphinx, config) -> None:
    url, _ = _repository(config)
    config.myst_substitutions = {**repository_substitutions(url), **config.myst_substitutions}


def notebook_title(path: Path) -> str:
    """The first level-1 heading of a notebook, or its file name."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        source = "".join(cell.get("source", []))
        for line in source.splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    return path.stem


class StudentNotebooks(SphinxDirective):
    """A table of the student notebooks: download, open in Colab, open in Binder."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        srcdir = Path(self.env.srcdir)
        folder = srcdir / STUDENT_FOLDER
        notebooks = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
        if not notebooks:
            raise self.error(f"no student notebooks found in {STUDENT_FOLDER}/")
        url, _ = _repository(self.config)
        branch = release_ref(srcdir)
        launch = self.config.html_theme_options.get("launch_buttons", {})
        binderhub = launch.get("binderhub_url", "https://mybinder.org")
        colab = launch.get("colab_url", "https://colab.research.google.com")
        here = (srcdir / self.env.docname).parent
        lines = [
            "| Notebook | Download | Open in the cloud |",
            "|---|---|---|",
        ]
        for path in notebooks:
            self.env.note_dependency(str(path))
            relative = path.relative_to(srcdir).as_posix()
            link = Path(*[".."] * len(here.relative_to(srcdir).parts), relative).as_posix()
            lines.append(
                f"| {notebook_title(path)} "
                f"| {{download}}`{path.name} <{link}>` "
                f"| [Colab]({colab_url(url, branch, relative, colab)}) · "
                f"[Binder]({binder_url(url, branch, relative, binderhub)}) |"
            )
        container = nodes.container(classes=["student-notebooks"])
        self.state.nested_parse(StringList(lines), self.content_offset, container)
        return [container]


def _launch_buttons_on_notebooks_only(app, pagename, templatename, context, doctree):
    if pagename.startswith(NOTEBOOK_FOLDER + "/"):
        return
    buttons = context.get("header_buttons")
    if buttons:
        buttons[:] = [b for b in buttons if b.get("label") != "launch-buttons"]


def _unique_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        attributes = getattr(script, "attributes", {})
        # The same inline script arrives once with filename None and once with ''.
        key = (str(getattr(script, "filename", script) or ""), tuple(sorted(attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def student_notebook(docname: str) -> str:
    """The repository path of the student version of notebook page ``docname``.

    >>> student_notebook("notebooks/01_bias_frames")
    'notebooks/student/01_bias_frames.ipynb'
    """
    return f"{STUDENT_FOLDER}/{Path(docname).name}.ipynb"


def _is_notebook_page(pagename: str) -> bool:
    return pagename.startswith(NOTEBOOK_FOLDER + "/") and not pagename.startswith(
        STUDENT_FOLDER + "/"
    )


def _launch_links(app: Sphinx, pagename: str) -> dict[str, str] | None:
    """Colab and Binder addresses of the student and solution versions of a page."""
    student = student_notebook(pagename)
    if not (Path(app.srcdir) / student).is_file():
        logger.warning(
            f"{pagename}: no student version {student}: run `make student` "
            "(the launch buttons must open it)",
            location=pagename,
        )
        return None
    url, _ = _repository(app.config)
    branch = release_ref(app.srcdir)
    launch = app.config.html_theme_options.get("launch_buttons", {})
    binderhub = launch.get("binderhub_url", "https://mybinder.org")
    colab = launch.get("colab_url", "https://colab.research.google.com")
    solution = f"{pagename}.ipynb"
    return {
        "student": student,
        "colab_student": colab_url(url, branch, student, colab),
        "binder_student": binder_url(url, branch, student, binderhub),
        "colab_solution": colab_url(url, branch, solution, colab),
        "binder_solution": binder_url(url, branch, solution, binderhub),
    }


def _launch_button(text: str, tooltip: str, url: str, icon: str) -> dict:
    return {"type": "link", "text": text, "tooltip": tooltip, "url": url, "icon": icon}


def _student_launch_buttons(app, pagename, templatename, context, doctree):
    """On a notebook page, the launch buttons and the download open the student version.

    The version with solutions stays on offer, named as such, after the student one.
    """
    if not _is_notebook_page(pagename) or not context.get("header_buttons"):
        return
    links = _launch_links(app, pagename)
    if links is None:
        return
    pathto = context["pathto"]
    student_file = pathto(links["student"], 1)
    for group in context["header_buttons"]:
        if group.get("label") == "launch-buttons":
            binder, colab = "_static/images/logo_binder.svg", "_static/images/logo_colab.png"
            group["tooltip"] = "Open this notebook in the cloud"
            group["buttons"] = [
                _launch_button("Exercises in Colab", "Open the student version (no "
                               "solutions) in Colab", links["colab_student"], colab),
                _launch_button("Exercises in Binder", "Open the student version (no "
                               "solutions) in Binder", links["binder_student"], binder),
                _launch_button("With solutions in Colab", "Open this page's notebook, "
                               "solutions included, in Colab", links["colab_solution"], colab),
                _launch_button("With solutions in Binder", "Open this page's notebook, "
                               "solutions included, in Binder", links["binder_solution"], binder),
            ]
        elif group.get("label") == "download-buttons":
            buttons = group["buttons"]
            for button in buttons:
                if button.get("label") == "download-source-button":
                    button["text"] = ".ipynb with solutions"
                    button["tooltip"] = "Download this page's notebook, solutions included"
            buttons.insert(0, {
                "type": "link",
                "url": student_file,
                "text": ".ipynb exercises",
                "tooltip": "Download the student version (no solutions)",
                "icon": "fas fa-file-code",
                "label": "download-student-notebook-button",
            })
    context["body"] = after_title(context.get("body", ""), _student_box(links, student_file))


def _student_box(links: dict[str, str], student_file: str) -> str:
    """The box at the top of a notebook page: where to work on the exercises."""
    link = '<a class="reference external" href="{}">{}</a>'.format
    return (
        '<div class="admonition tip student-version">\n'
        '<p class="admonition-title">Work on the exercises yourself</p>\n'
        "<p>This page shows the solutions. The student version of this notebook "
        "has an empty cell in place of each solution: "
        f'{link(html.escape(links["colab_student"]), "open it in Colab")}, '
        f'{link(html.escape(links["binder_student"]), "open it in Binder")}, or '
        f'<a class="reference download" href="{html.escape(student_file)}" download>'
        f"download it (<code>{Path(links['student']).name}</code>)</a>.</p>\n"
        "</div>\n"
    )


def after_title(body: str, box: str) -> str:
    """Insert ``box`` just after the page's first ``<h1>`` title (or at the top).

    >>> after_title("<section><h1>Bias</h1><p>Text</p>", "<div>box</div>")
    '<section><h1>Bias</h1><div>box</div><p>Text</p>'
    """
    end = body.find("</h1>")
    if end < 0:
        return box + body
    end += len("</h1>")
    return body[:end] + box + body[end:]


def _copy_student_notebooks(app: Sphinx, exception) -> None:
    """Publish the student notebooks next to the pages (``notebooks/student/``)."""
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / STUDENT_FOLDER
    for path in sorted((Path(app.srcdir) / STUDENT_FOLDER).glob("[0-9][0-9]_*.ipynb")):
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / path.name)


def _add_static_path(app: Sphinx) -> None:
    app.config.html_static_path.append(str(Path(__file__).parent / "static"))


def setup(app: Sphinx) -> dict:
    app.connect("builder-inited", _add_static_path)
    app.add_js_file("course_book.js")
    app.add_css_file("course_book.css")
    app.setup_extension("accessible_pages")
    app.setup_extension("reproducible_build")
    app.connect("config-inited", _check_config)
    app.connect("config-inited", _add_substitutions)
    app.add_directive("student-notebooks", StudentNotebooks)
    # After sphinx-book-theme adds its buttons (priority 501).
    app.connect("html-page-context", _launch_buttons_on_notebooks_only, priority=600)
    app.connect("html-page-context", _unique_scripts, priority=600)
    app.connect("html-page-context", _student_launch_buttons, priority=600)
    app.connect("build-finished", _copy_student_notebooks)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
