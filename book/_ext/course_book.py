"""Sphinx extension of the course website (loaded by _config.yml).

It does a few small things that Jupyter Book 1.x does not:

* it checks the repository settings of ``_config.yml`` when the build starts,
  so that a malformed address or branch (the course we grow from had
  ``branch: main/``, which gave ``blob/main//`` links) fails the build instead
  of publishing broken launch links;
* it provides the ``student-notebooks`` directive: a table of every notebook in
  ``notebooks/student/`` with a download link and Colab and Binder links built
  from the same settings as the launch buttons;
* it derives MyST substitutions from the repository settings, so that pages
  can show the clone command without repeating the address
  (``{{ clone_commands }}``, ``{{ repository_url }}``);
* it keeps launch buttons (Colab, Binder) on the exercise notebooks only: the
  data page is executed too, but it is not something a student should launch;
* it makes a click on the title text of a folded solution open it
  (``static/course_book.js``): sphinx-exercise makes that text a link back to
  the exercise, which would otherwise swallow the click;
* it drops inline scripts that reach a page twice: sphinx-thebe and
  sphinx-togglebutton register theirs in a way that Sphinx 7 emits twice, and
  the repeated ``const THEBE_JS_URL`` is a JavaScript error on every page.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.errors import ConfigError
from sphinx.util.docutils import SphinxDirective

#: Pages under this folder (relative to the book's root) are the exercise notebooks.
NOTEBOOK_FOLDER = "notebooks"
STUDENT_FOLDER = "notebooks/student"

_BRANCH = re.compile(r"^[A-Za-z0-9._-]+$")


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


def _check_config(app: Sphinx, config) -> None:
    url, branch = _repository(config)
    try:
        check_repository(url, branch)
    except ValueError as error:
        raise ConfigError(f"_config.yml: {error}") from None
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
        url, branch = _repository(self.config)
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


def _add_static_path(app: Sphinx) -> None:
    app.config.html_static_path.append(str(Path(__file__).parent / "static"))


def setup(app: Sphinx) -> dict:
    app.connect("builder-inited", _add_static_path)
    app.add_js_file("course_book.js")
    app.connect("config-inited", _check_config)
    app.connect("config-inited", _add_substitutions)
    app.add_directive("student-notebooks", StudentNotebooks)
    # After sphinx-book-theme adds its buttons (priority 501).
    app.connect("html-page-context", _launch_buttons_on_notebooks_only, priority=600)
    app.connect("html-page-context", _unique_scripts, priority=600)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
