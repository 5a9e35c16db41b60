"""The issue's acceptance test: the solution notebooks run top to bottom for students' own datasets.

Three students (random identities, drawn once) each get their own full-size
dataset in a fresh cache; the six solution notebooks are spread over them
(two notebooks each, so every notebook runs once and every student's data is
used), which keeps the run to about five minutes on two cores. Each executed
notebook must

* use the student's own folder (``synthetic-full-<tag>``), not the default;
* pass every answer check with its reference solution (no "incorrect",
  "not checked" or error output);
* say, in one sentence of its text, something about a number that the
  notebook prints, and the printed number must make that sentence true.

``COURSE_NOTEBOOKS_ALL_STUDENTS=1`` runs every notebook for all three
students (18 runs, about 15 minutes).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest

from course_utils.data.students import STUDENT_ENV, student_seed, student_tag
from course_utils.data.variation import RANGES, parameters

from data_fixtures import remove_tree

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
STUDENTS = ("grace.hopper@uni.example", "emmy.noether@uni.example", "vera.rubin@uni.example")

if os.environ.get("COURSE_NOTEBOOKS_ALL_STUDENTS"):
    RUNS = [(nb, student) for nb in NOTEBOOKS for student in STUDENTS]
else:
    RUNS = [(nb, STUDENTS[i % len(STUDENTS)]) for i, nb in enumerate(NOTEBOOKS)]


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    """A fresh cache and work folder shared by the runs; removed afterwards (1 GB)."""
    base = tmp_path_factory.mktemp("students-notebooks")
    yield base / "cache", base / "work"
    remove_tree(base)


def _text(output) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    if output.get("output_type") == "error":
        return f"ERROR {output.get('ename')}: {output.get('evalue')}"
    data = output.get("data", {})
    return "\n".join(str(data[k]) for k in ("text/plain", "text/markdown") if k in data)


def _execute(path: Path, student: str, cache: Path, work: Path, monkeypatch):
    from nbclient import NotebookClient

    for name, value in {STUDENT_ENV: student, "COURSE_CACHE_DIR": str(cache), "COURSE_WORK_DIR": str(work),
                        "COURSE_DATA_SOURCE": "synthetic", "TQDM_DISABLE": "1",
                        "COURSE_REFERENCE_TIMINGS": "1", "PYTHONHASHSEED": "0"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(work.parent)}}).execute()
    markdown = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    printed = "\n".join(_text(o) for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []))
    return markdown, printed


def _number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not found"
    return float(match.group(1).replace(",", ""))


def _sentence_and_output(name: str, markdown: str, printed: str, student: str) -> None:
    """One sentence of each notebook's text, tied to what the notebook printed for this student."""
    flat = " ".join(markdown.split())
    if name.startswith("01"):
        low = _number(r"close to the bias level: between (\d+)", flat)
        high = _number(r"close to the bias level: between \d+ and (\d+) DU", flat)
        assert low <= _number(r"median (\d+\.?\d*) DU, mean", printed) <= high
    elif name.startswith("02"):
        assert "The kept pixels scatter by the read noise, a few DU, where all pixels, outliers included, scattered more" in flat
        kept = _number(r"kept pixels have a standard deviation of (\d+\.?\d*) DU", printed)
        everything = _number(r"standard deviation (\d+\.?\d*) DU, \d+ pixels flagged", printed)
        assert 1 < kept < 10 and everything > 1.2 * kept
    elif name.startswith("03"):
        assert "In ten minutes a pixel far from the corner collects less than one electron" in flat
        assert _number(r"far from the corner in 600 s: +[\d.]+ DU = +(\d+\.?\d*) electrons", printed) < 1
        # The corner the code finds in the frames is where the student's detector glows.
        assert "Which corner glows depends on the detector" in flat
        truth = RANGES["ifum_glow_corner"].text(parameters(student_seed(student)).ifum_glow_corner)
        assert f"the glow is in the {truth} corner" in printed
    elif name.startswith("04"):
        assert "the illumination still changes by tens of per cent across it" in flat
        low = _number(r"its vignetting spans (\d+\.\d+)", printed)
        high = _number(r"its vignetting spans [\d.]+–(\d+\.\d+)", printed)
        assert high - low >= 0.1
    elif name.startswith("05"):
        low, high = (_number(rf"printed above, (\d+) to \d+ %", flat), _number(r"printed above, \d+ to (\d+) %", flat))
        dimmed = 100 * (1 - _number(r"before flat-fielding: (\d+\.\d+)", printed))
        assert low <= dimmed <= high
    elif name.startswith("06"):
        assert "it is the read noise, a few DU, which the unlit pair measures" in flat
        assert 1 < _number(r"read noise: (\d+\.?\d*) DU = ", printed) < 10


@pytest.mark.parametrize("path, student", RUNS, ids=[f"{p.stem[:2]}-{s.split('.')[0]}" for p, s in RUNS])
def test_a_solution_notebook_runs_on_a_students_own_dataset(path, student, places, monkeypatch):
    cache, work = places
    markdown, printed = _execute(path, student, cache, work, monkeypatch)
    assert "ERROR" not in printed, printed[printed.find("ERROR"):][:2000]
    assert f"-{student_tag(student)} in the course's cache folder" in printed   # the student's own folder
    verdicts = re.findall(r"Exercise (\d+) \([^)]*\): (correct|incorrect|not checked|not attempted)", printed)
    assert verdicts and all(v == "correct" for _, v in verdicts), verdicts
    _sentence_and_output(path.name, markdown, printed, student)
