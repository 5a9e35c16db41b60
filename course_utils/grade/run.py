"""Grading a folder of submissions: find the notebooks, grade them (resuming), report.

SUBMISSIONS holds one sub-folder per student; every ``*.ipynb`` file in it
(at any depth, not in ``.ipynb_checkpoints``, never through a symbolic link)
is graded. Each result is stored under ``OUT/.results/`` as soon as it is
ready, keyed by a hash of the notebook's bytes, the student, the file name
and the options: a run that is stopped loses nothing, and the next one grades
only what is new or changed (``force=True`` grades everything again).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

from .execute import GRADER_VERSION, GradeOptions, Task, grade_notebook
from .report import combine_results, write_outputs

__all__ = ["Submission", "find_submissions", "read_roster", "grade_folder", "task_key"]


@dataclass(frozen=True)
class Submission:
    """One student's folder: their identity and their notebook files."""

    student: str
    folder: Path
    files: tuple[Path, ...]


def read_roster(path: Path) -> dict[str, str]:
    """Folder name → student identity, from a CSV with columns ``folder`` and ``student``."""
    with open(path, newline="", encoding="utf-8-sig") as stream:
        reader = csv.DictReader(stream)
        if not reader.fieldnames or not {"folder", "student"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: the roster needs the columns 'folder' and 'student', "
                             f"found {reader.fieldnames}")
        roster = {}
        for line, row in enumerate(reader, start=2):
            folder, student = (row["folder"] or "").strip(), (row["student"] or "").strip()
            if not folder or not student:
                raise ValueError(f"{path}, line {line}: empty folder or student")
            roster[folder] = student
    return roster


def _notebooks(folder: Path) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(folder):  # os.walk never follows links by default
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__MACOSX")
        for name in sorted(files):
            path = Path(root) / name
            if name.lower().endswith(".ipynb") and not path.is_symlink():
                found.append(path)
    return found


def find_submissions(folder: Path, roster: dict[str, str] | None = None) -> list[Submission]:
    """One :class:`Submission` per sub-folder of ``folder``, sorted by identity.

    Raises
    ------
    NotADirectoryError
        ``folder`` is not a folder.
    ValueError
        Two folders map to the same student.
    """
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder}: the submissions folder does not exist")
    submissions, seen = [], {}
    for entry in sorted(folder.iterdir()):
        if entry.is_symlink() or not entry.is_dir() or entry.name.startswith("."):
            continue
        student = (roster or {}).get(entry.name, entry.name)
        if student in seen:
            raise ValueError(f"{entry} and {seen[student]} both belong to {student!r}")
        seen[student] = entry
        submissions.append(Submission(student, entry, tuple(_notebooks(entry))))
    return sorted(submissions, key=lambda s: s.student)


def task_key(task: Task) -> str:
    """The resume key of a task: its bytes, student, file name, options and grader version."""
    digest = hashlib.sha256()
    digest.update(hashlib.sha256(task.notebook).digest())
    # 15 and 15.0 s are the same option: numbers enter the key as floats.
    options = {k: float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
               for k, v in asdict(task.options).items()}
    digest.update(json.dumps([task.student, task.name, options, GRADER_VERSION],
                             sort_keys=True).encode())
    return digest.hexdigest()


def safe_names(students: Iterable[str]) -> dict[str, str]:
    """A distinct file name (no folder parts) for each student's feedback files."""
    names: dict[str, str] = {}
    used: set[str] = set()
    for student in students:
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", student).strip("._") or "student"
        name, n = base, 1
        while name.lower() in used:
            n += 1
            name = f"{base}_{n}"
        used.add(name.lower())
        names[student] = name
    return names


def _store(results: Path, key: str, record: dict[str, Any]) -> None:
    part = results / f"{key}.json.part"
    part.write_text(json.dumps(record), encoding="utf-8")
    part.replace(results / f"{key}.json")


def _load(results: Path, key: str) -> dict[str, Any] | None:
    try:
        record = json.loads((results / f"{key}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # missing or damaged: graded again
    return record if isinstance(record, dict) and "exercises" in record else None


def grade_folder(submissions: Path, out: Path, *, options: GradeOptions | None = None,
                 jobs: int | None = None, roster: dict[str, str] | None = None,
                 force: bool = False, scheduler: str | None = None,
                 progress: bool = True) -> list:
    """Grade every notebook under ``submissions`` and write the outputs in ``out``.

    Returns the rows of grades.csv (:class:`~course_utils.grade.report.StudentGrades`).
    """
    from ..progress import progress_bar

    options = options or GradeOptions()
    found = find_submissions(submissions, roster)
    results_dir = out / ".results"
    results_dir.mkdir(parents=True, exist_ok=True)
    tasks = []
    for submission in found:
        for path in submission.files:
            name = str(path.relative_to(submission.folder))
            tasks.append(Task(path.read_bytes(), submission.student, name, options))
    records: dict[str, dict] = {}
    todo = []
    for task in tasks:
        key = task_key(task)
        cached = None if force else _load(results_dir, key)
        if cached is None:
            todo.append((key, task))
        else:
            records[key] = cached
    with progress_bar(total=len(tasks), desc="Grading", unit="notebook", initial=len(records),
                      leave=True, enabled=progress) as bar:
        for key, record in _run(todo, jobs, scheduler):
            _store(results_dir, key, record)
            records[key] = record
            bar.update()
    ordered = [records[task_key(t)] for t in tasks]
    rows = combine_results([s.student for s in found], ordered)
    write_outputs(out, rows, safe_names(r.student for r in rows))
    return rows


def _run(todo: list[tuple[str, Task]], jobs: int | None, scheduler: str | None):
    """(key, record) for each task as it finishes: in local processes or on Dask."""
    if not todo:
        return
    if scheduler:
        yield from _run_dask(todo, scheduler)
        return
    jobs = max(1, jobs or os.cpu_count() or 1)
    if jobs == 1:
        for key, task in todo:
            yield key, grade_notebook(task)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")  # no inherited threads or event loops
    with ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=context) as pool:
        futures = {pool.submit(grade_notebook, task): key for key, task in todo}
        for future in as_completed(futures):
            yield futures[future], future.result()


def _run_dask(todo: list[tuple[str, Task]], scheduler: str):
    try:
        from distributed import Client, as_completed
    except ImportError as error:
        raise RuntimeError("--scheduler needs Dask: pip install 'course_utils[dask]'") from error
    with Client(scheduler) as client:
        futures = {client.submit(grade_notebook, task, key=f"grade-{key}", pure=False): key
                   for key, task in todo}
        for future in as_completed(futures):
            yield futures[future], future.result()
