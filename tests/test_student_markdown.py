"""Student notebooks hold plain Markdown: no MyST syntax reaches a student.

Colab and JupyterLab (without jupyterlab-myst) show MyST roles and directives
raw, e.g. ``{term}`science frame```. ``tools/notebooks.py`` turns them into
plain Markdown when it derives the student versions; these tests check the
conversion on examples and every student notebook for anything left.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
STUDENT = sorted((ROOT / "notebooks" / "student").glob("[0-9][0-9]_*.ipynb"))

spec = importlib.util.spec_from_file_location("course_notebook_tool_md", ROOT / "tools" / "notebooks.py")
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)

#: MyST syntax that Colab and JupyterLab do not render (outside code).
MYST = {
    "role": re.compile(r"\{[\w:+-]+\}`"),
    "directive": re.compile(r"^\s*(:::+|```+)\s*\{", flags=re.MULTILINE),
    "colon fence": re.compile(r"^\s*:::", flags=re.MULTILINE),
    "directive option": re.compile(r"^\s*:[\w-]+:(\s|$)", flags=re.MULTILINE),
    "target": re.compile(r"^\s*\([\w.:-]+\)=\s*$", flags=re.MULTILINE),
    "comment": re.compile(r"^%(\s|$)", flags=re.MULTILINE),
}
CODE = re.compile(r"^```(?!\{)[^\n]*\n.*?^```[ \t]*$|``[^`]+``|(?<!\})`[^`\n]+`",
                  flags=re.MULTILINE | re.DOTALL)


def myst_left(markdown: str) -> list[str]:
    """The kinds of MyST syntax in ``markdown`` outside code."""
    text = CODE.sub("", markdown)
    return [kind for kind, pattern in MYST.items() if pattern.search(text)]


@pytest.mark.parametrize("path", STUDENT, ids=lambda p: p.name)
def test_no_myst_syntax_is_left_in_a_student_notebook(path):
    nb = nbformat.read(path, as_version=4)
    found = [(index, myst_left(cell.source)) for index, cell in enumerate(nb.cells)
             if cell.cell_type == "markdown" and myst_left(cell.source)]
    assert found == [], f"{path.name}: MyST left in cells {found} (run `make student`)"


def test_the_check_finds_what_it_looks_for():
    assert myst_left("a {term}`science frame`") == ["role"]
    assert myst_left(":::{note}\nx\n:::") == ["directive", "colon fence"]
    assert myst_left("(my-label)=\n# Title") == ["target"]
    assert myst_left("code: `{term}` and ``:::{x}``") == []


@pytest.mark.parametrize("source, plain", [
    ("a {term}`science frame`, then", "a science frame, then"),
    ("calls {term}`dead <dead pixel>` pixels", "calls dead pixels"),
    ("({term}`dithered <dither>`)", "(dithered)"),
    ("{term}`Aperture photometry` adds", "Aperture photometry adds"),
    ("see {ref}`the bias section <sec-bias>`", "see the bias section"),
    ("see {doc}`setup`", "see setup"),
    ("figure {numref}`fig-ptc`, equation {eq}`ptc`", "figure (fig-ptc), equation (ptc)"),
    ("get {download}`the data <../data.zip>`", "get the data"),
    ("with {math}`\\sigma^2`", "with $\\sigma^2$"),
    ("as {cite:p}`howell2006` shows", "as howell2006 shows"),
    ("(sec-bias)=\n# Bias frames", "# Bias frames"),
    ("% a note to authors\nText", "Text"),
    ("100% of the pixels", "100% of the pixels"),
    ("Code `{term}` stays, ``{x}`y` `` too", "Code `{term}` stays, ``{x}`y` `` too"),
    ("```python\nd = {term}`x`\n```", "```python\nd = {term}`x`\n```"),
    (":::{note}\nRead {term}`this <x>`.\n:::", "> **Note:**\n>\n> Read this."),
    (":::{admonition} Why?\n:class: tip\nBecause.\n:::", "> **Why?**\n>\n> Because."),
    ("```{warning} Careful\nHot.\n```", "> **Warning: Careful**\n>\n> Hot."),
    ("::::{figure} ptc.png\n:width: 50%\nThe curve.\n::::", "**ptc.png**\n\nThe curve."),
    ("```{math}\n:label: ptc\n\\sigma^2 = S/g\n```", "$$\n\\sigma^2 = S/g\n$$"),
])
def test_myst_becomes_plain_markdown(source, plain):
    assert tool.plain_markdown(source) == plain
    assert myst_left(tool.plain_markdown(source)) == []


def test_plain_markdown_is_left_as_it_is():
    text = "# Title\n\n- a list, *emphasis*, $x^2$, [a link](https://example.org)\n\n> a quote"
    assert tool.plain_markdown(text) == text
