"""The course's six notebooks, and which of them a submitted file is.

A submitted file is recognised by its content, not its name: students rename
their copies (``01_bias_frames (1).ipynb``, ``bias.ipynb``). The evidence is
what every copy of a course notebook keeps even after editing: its title
(``# 1. Bias frames``), its exercise headings (``## 1.2 Exercise 1: ...``)
and its check calls (``check.exercise_1()``). A notebook that never mentions
``course_utils`` belongs to another course, whatever it calls its exercises.

Examples
--------
>>> CATALOG["01_bias_frames"].exercises
(1, 2)
>>> notebook_of_exercise(9)
'06_photon_transfer'
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable

__all__ = ["CourseNotebook", "CATALOG", "EXERCISES", "identify", "notebook_of_exercise",
           "exercise_regions", "guess_from_name"]


@dataclass(frozen=True)
class CourseNotebook:
    """One of the course's notebooks: its file stem, title and exercises."""

    stem: str
    number: int
    title: str
    exercises: tuple[int, ...]


CATALOG: dict[str, CourseNotebook] = {
    nb.stem: nb
    for nb in (
        CourseNotebook("01_bias_frames", 1, "Bias frames", (1, 2)),
        CourseNotebook("02_sigma_clipping", 2, "Sigma clipping", (3,)),
        CourseNotebook("03_dark_frames", 3, "Dark frames", (4, 5)),
        CourseNotebook("04_flat_frames", 4, "Flat frames", (6,)),
        CourseNotebook("05_science_frame", 5, "Calibrating a science frame", (7, 8)),
        CourseNotebook("06_photon_transfer", 6, "Gain and read noise", (9, 10)),
    )
}
#: Every exercise of the course, in order.
EXERCISES: tuple[int, ...] = tuple(n for nb in CATALOG.values() for n in nb.exercises)

_HEADING = re.compile(r"^#{1,6}\s.*$", re.MULTILINE)
_EXERCISE_IN_HEADING = re.compile(r"\bExercise\s+(\d+)\b")
_CHECK_CALL = re.compile(r"\bcheck\.exercise_(\d+)\s*\(")
_TITLE = re.compile(r"^#\s+(\d+)\.\s+(.+?)\s*$", re.MULTILINE)


def notebook_of_exercise(exercise: int) -> str | None:
    """The stem of the course notebook holding ``exercise``, or None."""
    for nb in CATALOG.values():
        if exercise in nb.exercises:
            return nb.stem
    return None


def _source(cell: Any) -> str:
    source = cell.get("source", "") if isinstance(cell, dict) else ""
    return "".join(source) if isinstance(source, list) else str(source)


def _cells(notebook: Any) -> list[dict]:
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    return [c for c in cells if isinstance(c, dict)] if isinstance(cells, list) else []


def identify(notebook: Any) -> str | None:
    """The stem of the course notebook that ``notebook`` (parsed JSON) is a copy of.

    Returns None for a notebook of another course (no ``course_utils`` in its
    code) or one without any of the course's titles, exercise headings or
    check calls.
    """
    cells = _cells(notebook)
    code = "\n".join(_source(c) for c in cells if c.get("cell_type") == "code")
    if "course_utils" not in code:
        return None
    votes: Counter[str] = Counter()
    for cell in cells:
        text = _source(cell)
        if cell.get("cell_type") == "markdown":
            for number, title in _TITLE.findall(text):
                for nb in CATALOG.values():
                    if int(number) == nb.number and title.lower().startswith(nb.title.lower()):
                        votes[nb.stem] += 3
            for heading in _HEADING.findall(text):
                _vote(votes, _EXERCISE_IN_HEADING.findall(heading))
        elif cell.get("cell_type") == "code":
            _vote(votes, _CHECK_CALL.findall(text))
    if not votes:
        return None
    best = max(votes.values())
    # Ties go to the earlier notebook: deterministic, whatever the cell order.
    return min(stem for stem, count in votes.items() if count == best)


def _vote(votes: Counter, numbers: Iterable[str]) -> None:
    for number in numbers:
        stem = notebook_of_exercise(int(number))
        if stem is not None:
            votes[stem] += 1


def guess_from_name(name: str) -> str | None:
    """The course notebook a file name points at (``01_bias_frames (1).ipynb``), or None.

    Used only for files whose content cannot be read, to say which exercises
    they were meant to answer.

    Examples
    --------
    >>> guess_from_name("bias (1).ipynb"), guess_from_name("notes.ipynb")
    ('01_bias_frames', None)
    """
    lowered = name.lower()
    for nb in CATALOG.values():
        if lowered.startswith(nb.stem[:2]) or nb.stem[3:].split("_")[0] in lowered:
            return nb.stem
    return None


def exercise_regions(notebook: Any, exercises: Iterable[int]) -> dict[int, int | None]:
    """The exercise each cell belongs to, by cell index (None outside exercises).

    A cell belongs to exercise N when the latest heading above it (in a
    markdown cell, or the cell itself) names "Exercise N"; any other heading
    ends the exercise.
    """
    wanted = set(exercises)
    regions: dict[int, int | None] = {}
    current: int | None = None
    for index, cell in enumerate(_cells(notebook)):
        if cell.get("cell_type") == "markdown":
            for heading in _HEADING.findall(_source(cell)):
                found = [int(n) for n in _EXERCISE_IN_HEADING.findall(heading)]
                current = next((n for n in found if n in wanted), None)
        regions[index] = current
    return regions
