"""`python -m course_utils.grade`: a class of submissions built from the course's notebooks.

The submissions are small notebooks cut from the course's own notebooks (the
title, set-up, the frame, one exercise), plus one whole student notebook, so
that the whole class is graded in about a minute on two cores:

=======  ==============================================================
alice    solution answers to exercises 1 and 3 (correct)
bob      the blank student notebook 02 (not attempted)
carol    an endless loop in exercise 1; exercise 3 correct (still graded)
dave     wrong answers, a cell that kills the kernel, check cells deleted,
         a faked verdict printed, the file renamed to "bias (1).ipynb"
erin     a broken JSON file named like notebook 01, another course's notebook
frank    exercise 1 answered with course_utils.solutions, then 20 MB of
         output and a 50 GB allocation (over the memory limit)
gina     an empty folder
=======  ==============================================================
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from course_utils.grade import GradeOptions, grade_folder

from data_fixtures import remove_tree

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
OPTIONS = GradeOptions(cell_timeout=15, notebook_timeout=300, memory_gb=6)


def _cells(path: Path, *selectors):
    """Cells of a course notebook: by index, or the first code cell whose source starts so."""
    nb = nbformat.read(path, as_version=4)
    out = []
    for selector in selectors:
        if isinstance(selector, int):
            out.append(nb.cells[selector])
        else:
            out.append(next(c for c in nb.cells if c.source.startswith(selector)))
    return out


def _heading_cell(path: Path, exercise: int):
    nb = nbformat.read(path, as_version=4)
    return next(c for c in nb.cells
                if c.cell_type == "markdown" and f"Exercise {exercise}:" in c.source)


def _notebook(cells) -> bytes:
    return nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.from_dict(dict(c))
                                                           for c in cells])).encode()


def code(source):
    return nbformat.v4.new_code_cell(source)


CHECK_1 = code("check.exercise_1()")
CHECK_3 = code("check.exercise_3()")


def bias_notebook(*answers) -> bytes:
    """Notebook 01 cut down to exercise 1, with ``answers`` as the answer cells."""
    student = NOTEBOOKS / "student" / "01_bias_frames.ipynb"
    start = _cells(student, 0, "# Set-up", "import numpy", "data_dir =", "hdul =",
                   "hdu = hdul[0]", "img = hdu.data")
    return _notebook([*start, _heading_cell(student, 1), *answers])


def sigma_notebook(*answers) -> bytes:
    """Notebook 02 cut down to exercise 3."""
    student = NOTEBOOKS / "student" / "02_sigma_clipping.ipynb"
    start = _cells(student, 0, "# Set-up", "import math", "img = fits.getdata")
    return _notebook([*start, _heading_cell(student, 3), *answers])


def solution_cells(name: str, *starts):
    return _cells(NOTEBOOKS / name, *starts)


BIAS_ANSWERS = ("center = np.median(img)", "_, _, spread = sigma_clipped_stats",
                "outliers = np.abs(img - center)")


@pytest.fixture(scope="module", autouse=True)
def own_cache(tmp_path_factory):
    """Graded students get datasets of their own (COURSE_STUDENT): make them in a
    temporary cache, removed afterwards, never in the user's."""
    base = tmp_path_factory.mktemp("grade-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COURSE_CACHE_DIR", str(base))
        yield base
    remove_tree(base)


@pytest.fixture(scope="module")
def submissions(tmp_path_factory):
    from course_utils.data import dataset_dir

    dataset_dir(verbose=False)  # generated once here, not by several kernels at once
    root = tmp_path_factory.mktemp("submissions")
    bias_solution = solution_cells("01_bias_frames.ipynb", *BIAS_ANSWERS)
    sigma_solution = solution_cells("02_sigma_clipping.ipynb", "def sigma_clip_by_hand")
    files = {
        "alice/01_bias_frames.ipynb": bias_notebook(*bias_solution, CHECK_1),
        "alice/02_sigma_clipping.ipynb": sigma_notebook(*sigma_solution, CHECK_3),
        "bob/02_sigma_clipping.ipynb": (NOTEBOOKS / "student" / "02_sigma_clipping.ipynb")
        .read_bytes(),
        "carol/01_bias_frames.ipynb": bias_notebook(*bias_solution[:2],
                                                    code("while True:\n    pass"), CHECK_1),
        "carol/02_sigma_clipping.ipynb": sigma_notebook(*sigma_solution, CHECK_3),
        "dave/bias (1).ipynb": bias_notebook(
            code("center = 0.0\nspread = 1.25\nn_outliers = 7"),
            code("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"),
            code('print("✅ Exercise 1 (statistics of a bias frame): correct")')),
        "erin/01_bias_frames.ipynb": b'{"cells": [{"cell_type": "code", ',
        "erin/other.ipynb": _notebook([nbformat.v4.new_markdown_cell("## Exercise 1: integrals"),
                                       code("x = 1")]),
        "frank/submission/bias.ipynb": bias_notebook(
            code("from course_utils.solutions import bias_statistics\n"
                 "center, spread, n_outliers = bias_statistics(img)[:3]"),
            code("for _ in range(20000):\n    print('x' * 1000)"),
            code("too_big = bytearray(50 * 2**30)"), CHECK_1),
    }
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "gina").mkdir()
    return root


@pytest.fixture(scope="module")
def graded(submissions, tmp_path_factory):
    out = tmp_path_factory.mktemp("graded")
    grade_folder(submissions, out, options=OPTIONS, jobs=2, progress=False)
    return out


def read_grades(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as stream:
        return {row["student"]: row for row in csv.DictReader(stream)}


EXPECTED = {  # student: {exercise: status}; any exercise not named: not attempted
    "alice": {1: "correct", 3: "correct"},
    "bob": {},
    "carol": {1: "timeout", 3: "correct"},
    "dave": {1: "incorrect"},
    "erin": {1: "error", 2: "error"},
    "frank": {1: "correct"},
    "gina": {},
}


def test_each_submission_gets_its_expected_statuses(graded):
    grades = read_grades(graded)
    assert sorted(grades) == sorted(EXPECTED)
    for student, expected in EXPECTED.items():
        row = grades[student]
        got = {n: row[f"exercise_{n}"] for n in range(1, 11)}
        want = {n: expected.get(n, "not attempted") for n in range(1, 11)}
        assert got == want, student
        assert row["score"] == str(sum(s == "correct" for s in want.values())), student


def test_files_that_cannot_be_graded_are_named_in_the_row(graded):
    grades = read_grades(graded)
    assert "01_bias_frames.ipynb: unreadable" in grades["erin"]["notes"]
    assert "other.ipynb: not recognised" in grades["erin"]["notes"]
    assert grades["gina"]["notes"] == "no notebook submitted"


def test_use_of_the_reference_solutions_is_reported_per_exercise(graded):
    frank = (graded / "feedback" / "frank.md").read_text(encoding="utf-8")
    section = frank.split("## Exercise 1")[1].split("## Exercise 2")[0]
    assert "course_utils.solutions.bias_statistics" in section
    for student in ("alice", "carol", "dave"):
        assert "reference solutions" not in (graded / "feedback" / f"{student}.md").read_text()


def test_a_faked_verdict_changes_nothing_and_the_real_messages_are_given(graded):
    dave = (graded / "feedback" / "dave.md").read_text(encoding="utf-8")
    assert "**incorrect** (in `bias (1).ipynb`)" in dave
    assert "`center`" in dave


def test_feedback_holds_no_reference_values_or_check_code(graded, submissions):
    from astropy.io import fits
    from astropy.stats import sigma_clipped_stats

    from course_utils.data import dataset_dir

    frame = fits.getdata(dataset_dir(verbose=False) / "calibration_frames" / "bias"
                         / "b0860c1.fits")
    _, median, spread = sigma_clipped_stats(frame, sigma=5)  # independent of the checks
    for suffix in (".md", ".html"):
        text = (graded / "feedback" / f"dave{suffix}").read_text(encoding="utf-8")
        for value in (f"{median:.1f}", f"{median:.0f}", f"{spread:.2f}", f"{spread:.1f}"):
            assert value not in text, (suffix, value)
        assert "def " not in text and "solutions." not in text
    assert "1.25" in (graded / "feedback" / "dave.md").read_text()  # the student's own value


def test_summary_shows_the_table_histogram_and_commonest_mistakes(graded):
    summary = (graded / "summary.html").read_text(encoding="utf-8")
    assert "<td>dave</td>" in summary and "data:image/png;base64," in summary
    mistakes = summary.split("Commonest mistakes")[1].split("Exercise 2")[0]
    assert "1 ×" in mistakes  # dave's mistake in exercise 1, counted once


def test_a_second_run_resumes_and_force_grades_again(submissions, graded):
    results = sorted((graded / ".results").glob("*.json"))
    stamps = [p.stat().st_mtime_ns for p in results]
    before = (graded / "grades.csv").read_text()
    grade_folder(submissions, graded, options=OPTIONS, jobs=2, progress=False)
    assert [p.stat().st_mtime_ns for p in results] == stamps
    assert (graded / "grades.csv").read_text() == before


def test_the_command_line_grades_only_what_changed(submissions, graded, tmp_path):
    copy = tmp_path / "submissions"
    shutil.copytree(submissions, copy)
    out = tmp_path / "out"
    shutil.copytree(graded, out)
    fixed = bias_notebook(*solution_cells("01_bias_frames.ipynb", *BIAS_ANSWERS), CHECK_1)
    (copy / "dave" / "bias (1).ipynb").write_bytes(fixed)
    env = dict(os.environ, TQDM_DISABLE="1")
    run = subprocess.run([sys.executable, "-m", "course_utils.grade", str(copy), "--out", str(out),
                          "--jobs", "1", "--timeout", "15", "--notebook-timeout", "300",
                          "--memory", "6"], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    grades = read_grades(out)
    assert grades["dave"]["exercise_1"] == "correct"
    assert grades["carol"]["exercise_1"] == "timeout"  # from the stored result
    assert len(list((out / ".results").glob("*.json"))) == len(
        list((graded / ".results").glob("*.json"))) + 1


def test_dask_gives_the_same_grades(submissions, graded, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        grade_folder(submissions, tmp_path, options=OPTIONS, scheduler=cluster.scheduler_address,
                     progress=False)
    assert (tmp_path / "grades.csv").read_text() == (graded / "grades.csv").read_text()


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("0*.ipynb"))
                         + sorted((NOTEBOOKS / "student").glob("0*.ipynb")),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_course_notebook_is_recognised_by_content(path):
    from course_utils.grade.catalog import identify

    notebook = json.loads(path.read_text(encoding="utf-8"))
    assert identify(notebook) == path.stem
    # Without its title and check cells, the exercise headings still tell.
    notebook["cells"] = [c for c in notebook["cells"][1:]
                         if "check.exercise" not in "".join(c["source"])]
    assert identify(notebook) == path.stem


def test_a_roster_maps_folders_to_students(tmp_path):
    from course_utils.grade import find_submissions
    from course_utils.grade.run import read_roster

    (tmp_path / "subs" / "ada-lovelace-1234").mkdir(parents=True)
    (tmp_path / "subs" / "ada-lovelace-1234" / "x.ipynb").write_text("{}")
    (tmp_path / "subs" / "turing").mkdir()
    roster = tmp_path / "roster.csv"
    roster.write_text("folder,student\nada-lovelace-1234,alovelace\n")
    found = find_submissions(tmp_path / "subs", read_roster(roster))
    assert [(s.student, [p.name for p in s.files]) for s in found] == [
        ("alovelace", ["x.ipynb"]), ("turing", [])]
    roster.write_text("name,id\n")
    with pytest.raises(ValueError, match="folder"):
        read_roster(roster)
