"""The notebooks as code: one source, current student versions, clean stored outputs.

nbval (run on notebooks/ by the same pytest command) executes every notebook
and compares its outputs; these tests check what nbval does not: that the
student versions are derived from the solutions, that every notebook starts
with the set-up cell and works everywhere, and that stored outputs are clean.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
STUDENTS = sorted((ROOT / "notebooks" / "student").glob("[0-9][0-9]_*.ipynb"))
ALL = SOLUTIONS + STUDENTS


def _load_tool():
    spec = importlib.util.spec_from_file_location("course_notebook_tool", ROOT / "tools" / "notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


def _ids(paths):
    return [p.relative_to(ROOT / "notebooks").as_posix() for p in paths]


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _text(output) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    data = output.get("data", {})
    return "\n".join(str(data[k]) for k in ("text/plain", "text/markdown", "text/html") if k in data)


def test_there_are_four_notebooks_with_student_versions():
    names = [p.name for p in SOLUTIONS]
    assert names == [
        "01_bias_frames.ipynb",
        "02_sigma_clipping.ipynb",
        "03_dark_frames.ipynb",
        "04_flat_frames.ipynb",
        "05_science_frame.ipynb",
        "06_photon_transfer.ipynb",
    ]
    assert [p.name for p in STUDENTS] == names


def test_student_versions_and_setup_cells_are_current():
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "notebooks.py"), "check"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr


# --- The derivation itself ------------------------------------------------------


def _toy_notebook():
    new_md, new_code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    setup = new_code(tool.setup_source(), id="setup")
    setup.metadata["tags"] = [tool.SETUP_TAG]
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        new_md("# Toy", id="title"),
        setup,
        new_md(":::{exercise}\n:label: ex-a\nDo A.\n:::", id="ex-a"),
        new_md(":::{solution-start} ex-a\n:class: dropdown\n:::", id="start-a"),
        new_md("Explanation of A.", id="why-a"),
        new_code("answer_a = 42", id="code-a"),
        new_md(":::{solution-end}\n:::", id="end-a"),
        new_code("check.exercise_1()", id="check-a"),
        new_md(":::{exercise}\n:label: ex-b\nDo B.\n:::", id="ex-b"),
        new_md(":::{solution-start} ex-b\n:class: dropdown\n:::", id="start-b"),
        new_code("answer_b = 'secret'", id="code-b"),
        new_md(":::{solution-end}\n:::", id="end-b"),
    ]
    return nb


def test_derivation_replaces_each_solution_block_by_stubs():
    student = tool.derive_student(_toy_notebook(), "toy.ipynb")
    sources = [c.source for c in student.cells]
    assert not any("42" in s or "secret" in s or "Explanation" in s for s in sources)
    assert not any("solution-start" in s or "solution-end" in s for s in sources)
    kinds = [(c.cell_type, c.source) for c in student.cells]
    assert kinds[3:6] == [
        ("markdown", tool.MARKDOWN_STUB),   # block A held markdown ...
        ("code", tool.CODE_STUB),           # ... and code
        ("code", "check.exercise_1()"),     # the check stays
    ]
    assert kinds[-1] == ("code", tool.CODE_STUB)  # block B held code only
    assert student.metadata["course"] == {"version": "student", "derived_from": "../toy.ipynb"}
    # exercises become plain Markdown, numbered through the course
    assert kinds[2] == ("markdown", "> **Exercise 1**\n>\n> Do A.")
    later = tool.derive_student(_toy_notebook(), "toy.ipynb", first_exercise=5)
    assert later.cells[-2].source == "> **Exercise 6**\n>\n> Do B."
    # deterministic: deriving twice gives the same cells and ids
    again = tool.derive_student(_toy_notebook(), "toy.ipynb")
    assert [(c.id, c.source) for c in again.cells] == [(c.id, c.source) for c in student.cells]


@pytest.mark.parametrize(
    "cells, message",
    [
        ([":::{solution-start} x\n:::"], "never closed"),
        ([":::{solution-end}\n:::"], "without solution-start"),
        ([":::{solution-start} x\n:::", ":::{solution-start} y\n:::"], "inside an open"),
    ],
)
def test_malformed_solution_blocks_are_rejected(cells, message):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(c) for c in cells]
    with pytest.raises(ValueError, match=message):
        tool.derive_student(nb, "bad.ipynb")


# --- Every notebook ----------------------------------------------------------------


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_first_code_cell_is_the_setup_cell(path):
    nb = _read(path)
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert tool.SETUP_TAG in first.metadata.get("tags", [])
    assert first.source == tool.setup_source()
    url, version = tool.repository_url(), tool.course_version()
    assert f"git+{url}@v{version}" in first.source


FORBIDDEN = {
    r"drive\.mount": "mounts a Google Drive",
    r"os\.chdir": "changes directory",
    r"sys\.path": "edits sys.path",
    r"\bwget\b|\bcurl\b": "downloads code",
    r"raw\.githubusercontent\.com|refs/heads|/main/": "reads from a main branch",
    r"np\.random\.seed|default_rng\(\)": "uses unseeded randomness",
}


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_code_cells_avoid_what_breaks_elsewhere(path):
    for i, cell in enumerate(_read(path).cells):
        if cell.cell_type != "code":
            continue
        for pattern, why in FORBIDDEN.items():
            assert not re.search(pattern, cell.source), f"cell {i} {why}: {cell.source[:80]!r}"


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_no_cell_relies_on_a_trailing_semicolon(path):
    # nbval executes with store_history=False, where IPython does not see a
    # trailing ';' and shows the value anyway: end figure cells with plt.show().
    for i, cell in enumerate(_read(path).cells):
        if cell.cell_type == "code":
            assert not cell.source.rstrip().endswith(";"), f"cell {i} ends with ';'"


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_every_code_cell_follows_a_sentence(path):
    cells = _read(path).cells
    for i, cell in enumerate(cells):
        if cell.cell_type == "code":
            assert i > 0 and cells[i - 1].cell_type == "markdown", (
                f"code cell {i} ({cell.source[:40]!r}) is not preceded by a markdown cell"
            )


@pytest.mark.parametrize("path", SOLUTIONS, ids=_ids(SOLUTIONS))
def test_notebook_states_objectives_and_ends_with_a_summary(path):
    text = "\n".join(c.source for c in _read(path).cells if c.cell_type == "markdown")
    assert "**In this notebook you will**" in text
    assert "## Summary" in text


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_stored_outputs_come_from_one_clean_run(path):
    nb = _read(path)
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), "not executed top to bottom in one kernel"
    for i, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", f"cell {i} stores an error"
            assert output.get("name") != "stderr", (
                f"cell {i} stores stderr output (a warning?): {_text(output)[:200]!r}"
            )
            text = _text(output)
            assert not re.search(r"/(root|home|tmp|work)/", text), f"cell {i} shows a machine path"
            assert "Warning" not in text, f"cell {i} shows a warning"


def test_execute_joins_the_pieces_of_one_stream():
    out = lambda name, text: nbformat.v4.new_output("stream", name=name, text=text)  # noqa: E731
    image = nbformat.v4.new_output("display_data", data={"text/plain": "<Figure>"})
    joined = tool._coalesce_streams([out("stdout", "a\n"), out("stdout", "b\n"), image,
                                     out("stdout", "c\n"), out("stderr", "d\n")])
    assert [(o.output_type, o.get("name"), o.get("text")) for o in joined] == [
        ("stream", "stdout", "a\nb\n"), ("display_data", None, None),
        ("stream", "stdout", "c\n"), ("stream", "stderr", "d\n")]


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_stored_streams_are_joined(path):
    """What a cell prints is stored as one output per stream run, as execute() joins it."""
    for i, cell in enumerate(_read(path).cells):
        kinds = [(o.output_type, o.get("name")) for o in cell.get("outputs", [])]
        for a, b in zip(kinds, kinds[1:]):
            assert not (a == b and a[0] == "stream"), f"cell {i}: a stream split in pieces"


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_notebook_files_stay_small(path):
    assert path.stat().st_size < 3_000_000, "stored figures make the notebook too large for git"


def _check_outputs(nb) -> dict[int, str]:
    """Exercise number -> text of the stored output of its check cell."""
    found = {}
    for cell in nb.cells:
        match = cell.cell_type == "code" and re.fullmatch(r"check\.exercise_(\d+)\(\)", cell.source.strip())
        if match:
            found[int(match.group(1))] = "\n".join(_text(o) for o in cell.outputs)
    return found


def _exercise_numbers(nb) -> list[int]:
    """Numbers of the exercises as a reader sees them: directives in the solution
    versions are numbered by the website through the course; student versions
    carry the number in their plain-Markdown heading."""
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return [int(n) for n in re.findall(r"^> \*\*Exercise (\d+)", text, flags=re.MULTILINE)]


def _exercises(nb) -> int:
    return tool.count_exercises(nb) or len(_exercise_numbers(nb))


@pytest.mark.parametrize("path", SOLUTIONS, ids=_ids(SOLUTIONS))
def test_each_exercise_has_a_check_that_passes_in_the_solution(path):
    nb = _read(path)
    checks = _check_outputs(nb)
    assert len(checks) == _exercises(nb)
    for number, text in checks.items():
        assert f"Exercise {number}" in text and ": correct" in text, text


@pytest.mark.parametrize("path", STUDENTS, ids=_ids(STUDENTS))
def test_checks_say_not_attempted_in_the_student_version(path):
    nb = _read(path)
    checks = _check_outputs(nb)
    assert sorted(checks) == _exercise_numbers(nb)  # the check follows its own exercise
    for number, text in checks.items():
        assert f"Exercise {number}" in text and ": not attempted" in text, text


@pytest.mark.parametrize("path", STUDENTS, ids=_ids(STUDENTS))
def test_student_versions_hold_no_myst_directives(path):
    # Colab and JupyterLab show MyST directives as raw text.
    for i, cell in enumerate(_read(path).cells):
        if cell.cell_type == "markdown":
            assert not re.search(r"^(:::|```)\s*\{", cell.source, flags=re.MULTILINE), (
                f"cell {i} holds a MyST directive: {cell.source[:80]!r}"
            )


def test_the_course_numbers_its_exercises_in_order():
    # Exercise N is checked by check.exercise_N(), in the notebook that teaches it.
    numbers = {path.name: sorted(_check_outputs(_read(path))) for path in SOLUTIONS}
    assert numbers["01_bias_frames.ipynb"] == [1, 2]
    assert numbers["02_sigma_clipping.ipynb"] == [3]
    assert numbers["03_dark_frames.ipynb"] == [4, 5]
    assert numbers["04_flat_frames.ipynb"] == [6]
    assert numbers["05_science_frame.ipynb"] == [7, 8]
    assert numbers["06_photon_transfer.ipynb"] == [9, 10]
    every = [n for name in sorted(numbers) for n in numbers[name]]
    assert every == list(range(1, len(every) + 1))


@pytest.mark.parametrize("path", SOLUTIONS, ids=_ids(SOLUTIONS))
def test_every_notebook_has_an_exercise_and_ends_with_its_summary(path):
    cells = _read(path).cells
    assert tool.count_exercises(_read(path)) >= 1
    last = cells[-1]
    assert last.cell_type == "markdown" and "## Summary" in last.source, (
        "the last cell should hold the Summary")


# Notebooks 5 and 6 build on the master frames and measurements of the earlier
# notebooks, so they take those (and, after their own exercises, the reference
# curves) from course_utils.solutions, and say so in their text. Notebooks 1-4
# teach the calibration frames themselves: they never point at the answers.
SOLUTIONS_IMPORT = re.compile(r"course_utils\.solutions|from\s+course_utils\s+import\s+[^\n]*\bsolutions\b")
BUILDS_ON_EARLIER = ("05_science_frame.ipynb", "06_photon_transfer.ipynb")


FRAME_NOTEBOOKS = [p for p in STUDENTS + SOLUTIONS if p.name not in BUILDS_ON_EARLIER]


@pytest.mark.parametrize("path", FRAME_NOTEBOOKS, ids=_ids(FRAME_NOTEBOOKS))
def test_notebooks_import_nothing_from_the_solutions_module(path):
    # Student versions must not point at the module that holds every answer.
    for i, cell in enumerate(_read(path).cells):
        if cell.cell_type == "code":
            assert not SOLUTIONS_IMPORT.search(cell.source), f"cell {i} imports the solutions"
