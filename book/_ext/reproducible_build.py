"""Sphinx extension: the same sources give the same website (loaded by course_book).

MyST-NB turns a page written in MyST Markdown with code cells (``book/data.md``)
into a notebook, ``_build/jupyter_execute/book/data.ipynb``, and the theme
publishes a copy as ``_sources/book/data.ipynb``; nbformat gives each of its
cells a random id, so two builds differed. After the build, this extension
gives those cells ids made from the page's name and the cell's position.
(The notebooks in ``notebooks/`` keep their own, stored ids.)

It also keeps MyST-NB from writing printed lines twice. With
``nb_merge_streams`` (which makes a cell's printed lines one block, however
the kernel happened to flush them), MyST-NB 1.4 merges the stream outputs *in
place*: the page is right, but the executed notebook it then writes holds the
merged text followed by the later pieces again. The merge is given copies.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

from sphinx.application import Sphinx


def _page_notebooks(outdir: Path, srcdir: Path):
    """Notebooks the build wrote from MyST Markdown pages (they get random cell ids)."""
    execute = outdir.parent / "jupyter_execute"
    for folder in (outdir / "_sources", execute):
        for path in sorted(folder.rglob("*.ipynb")) if folder.is_dir() else []:
            docname = path.relative_to(folder).with_suffix("").as_posix()
            if (srcdir / f"{docname}.md").is_file() and not (srcdir / f"{docname}.ipynb").exists():
                yield docname, path


def stable_cell_ids(notebook: dict, docname: str) -> dict:
    """Give every cell an id made from the page's name and the cell's position.

    >>> nb = {"cells": [{"id": "5f3e0a1c"}, {"id": "b81d9e27"}]}
    >>> [c["id"] for c in stable_cell_ids(nb, "book/data")["cells"]]
    ['data-cell-1', 'data-cell-2']
    """
    stem = re.sub(r"[^A-Za-z0-9_-]", "-", Path(docname).name)[:40]
    for number, cell in enumerate(notebook.get("cells", []), start=1):
        cell["id"] = f"{stem}-cell-{number}"
    return notebook


def _stable_ids_after_build(app: Sphinx, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    for docname, path in _page_notebooks(Path(app.outdir), Path(app.srcdir)):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        text = json.dumps(stable_cell_ids(notebook, docname), indent=1, ensure_ascii=False)
        path.write_text(text + "\n", encoding="utf-8")


def _merge_copies_of_streams() -> None:
    """Make MyST-NB's stream merge work on copies (see the module docstring)."""
    from myst_nb.core import render

    merge = render.coalesce_streams
    if getattr(merge, "works_on_copies", False):
        return

    def merge_copies(outputs):
        return merge(copy.deepcopy(outputs))

    merge_copies.works_on_copies = True
    render.coalesce_streams = merge_copies


def setup(app: Sphinx) -> dict:
    _merge_copies_of_streams()
    app.connect("build-finished", _stable_ids_after_build)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
