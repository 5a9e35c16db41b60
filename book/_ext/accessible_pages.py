"""Sphinx extension: pages without serious accessibility errors (loaded by course_book).

axe-core reports these as serious or critical on the pages Jupyter Book 1.x
writes; this extension removes them at build time:

* ids used twice on a page: sphinx-exercise gives every exercise the id
  ``exercise-content`` and every solution ``solution-content``;
* the bibliography's ARIA roles: docutils writes ``role="list"`` around
  entries that are not list items;
* a search field and a colour-mode switch whose accessible names differ from
  what they show (the course's copies of the theme's templates, in
  ``templates/``).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from sphinx.application import Sphinx

_ID = re.compile(r'(<[^<>]*?\sid=")([^"]+)(")')


def unique_ids(body: str) -> str:
    """Rename the second and later elements that share an id (``x`` becomes ``x-2``).

    >>> unique_ids('<section id="a"></section><section id="a"></section>')
    '<section id="a"></section><section id="a-2"></section>'
    """
    taken = Counter(match.group(2) for match in _ID.finditer(body))
    seen: Counter = Counter()

    def rename(match: re.Match) -> str:
        name = match.group(2)
        seen[name] += 1
        if seen[name] == 1:
            return match.group(0)
        number = seen[name]
        while f"{name}-{number}" in taken:
            number += 1
        taken[f"{name}-{number}"] += 1
        return f"{match.group(1)}{name}-{number}{match.group(3)}"

    return _ID.sub(rename, body)


def valid_citation_roles(body: str) -> str:
    """Drop the ARIA roles docutils gives a bibliography.

    ``role="list"`` on the citation list requires list items as its children,
    but its entries are ``doc-biblioentry`` (a deprecated role) holding a
    ``doc-backlink``: axe reports that as a critical error. Without the roles
    the list reads as the plain text it is.

    >>> valid_citation_roles('<div role="list" class="citation-list">'
    ...                      '<div class="citation" id="c" role="doc-biblioentry">')
    '<div class="citation-list"><div class="citation" id="c">'
    """
    body = body.replace('<div role="list" class="citation-list">', '<div class="citation-list">')
    return body.replace(' role="doc-biblioentry"', "")


def _accessible_body(app, pagename, templatename, context, doctree):
    if "body" in context:
        context["body"] = valid_citation_roles(unique_ids(context["body"]))


def _add_templates_path(app: Sphinx, config) -> None:
    config.templates_path = [str(Path(__file__).parent / "templates"), *config.templates_path]



def setup(app: Sphinx) -> dict:
    app.connect("config-inited", _add_templates_path)
    # After every other change to the body (course_book's student box: 600).
    app.connect("html-page-context", _accessible_body, priority=700)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
