"""What the grader writes: grades.csv, one feedback file per student, summary.html.

Each student's row takes, per exercise, the best status among the notebooks
they submitted (a student may hand in two copies of a notebook). Messages go
through :func:`~course_utils.grade.redact.redact`, so that no reference value
leaves the grader.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .catalog import EXERCISES
from .redact import redact

__all__ = ["StudentGrades", "combine_results", "write_outputs", "STATUSES"]

#: The status words of grades.csv, best first.
STATUSES = ("correct", "incorrect", "error", "timeout", "not attempted")


@dataclass
class StudentGrades:
    """One row of grades.csv and the content of one feedback file."""

    student: str
    exercises: dict[int, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def status(self, exercise: int) -> str:
        return self.exercises.get(exercise, {}).get("status", "not attempted")

    @property
    def score(self) -> int:
        return sum(self.status(n) == "correct" for n in EXERCISES)


def combine_results(students: Iterable[str], results: Iterable[dict]) -> list[StudentGrades]:
    """One :class:`StudentGrades` per student, from the notebooks' result records."""
    rows = {name: StudentGrades(name) for name in students}
    for record in results:
        row = rows.setdefault(record["student"], StudentGrades(record["student"]))
        if record.get("status") != "graded":
            row.notes.append(f"{record['file']}: {record['status']}, {record.get('note', '')}")
        for key, verdict in record.get("exercises", {}).items():
            number = int(key)
            verdict = dict(verdict, file=record["file"])
            old = row.exercises.get(number)
            if old is None or STATUSES.index(verdict["status"]) < STATUSES.index(old["status"]):
                row.exercises[number] = verdict
    for row in rows.values():
        if not row.exercises and not row.notes:
            row.notes.append("no notebook submitted")
    return sorted(rows.values(), key=lambda r: r.student)


def write_outputs(out: Path, rows: list[StudentGrades], file_names: dict[str, str]) -> None:
    """grades.csv, feedback/<student>.md and .html, and summary.html in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(out / "grades.csv", rows)
    feedback = out / "feedback"
    feedback.mkdir(exist_ok=True)
    for row in rows:
        markdown = feedback_markdown(row)
        base = feedback / file_names[row.student]
        _write_text(base.with_suffix(".md"), markdown)
        _write_text(base.with_suffix(".html"), _page(f"Feedback for {row.student}",
                                                     _feedback_html(row)))
    _write_text(out / "summary.html", summary_html(rows))


def _write_text(path: Path, text: str) -> None:
    part = path.with_name(path.name + ".part")
    part.write_text(text, encoding="utf-8")
    part.replace(path)


def _write_csv(path: Path, rows: list[StudentGrades]) -> None:
    part = path.with_name(path.name + ".part")
    with open(part, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["student", *(f"exercise_{n}" for n in EXERCISES), "score", "notes"])
        for row in rows:
            writer.writerow([row.student, *(row.status(n) for n in EXERCISES), row.score,
                             "; ".join(row.notes)])
    part.replace(path)


def feedback_markdown(row: StudentGrades) -> str:
    """A student's feedback as Markdown: each exercise's verdict and messages."""
    lines = [f"# Feedback for {row.student}", "", f"Score: {row.score} / {len(EXERCISES)}", ""]
    lines += [f"- Note: {note}" for note in row.notes]
    for number in EXERCISES:
        verdict = row.exercises.get(number, {})
        title = verdict.get("title") or ""
        lines += ["", f"## Exercise {number}" + (f": {title}" if title else ""), "",
                  f"**{row.status(number)}**" + (f" (in `{verdict['file']}`)"
                                                 if verdict.get("file") else "")]
        if verdict:
            lines.append("")
            lines += [f"- {redact(m)}" for m in verdict.get("messages", [])]
        for use in verdict.get("solutions_used", []):
            lines.append(f"- Used the reference solutions: `{use}`.")
    return "\n".join(lines) + "\n"


def _feedback_html(row: StudentGrades) -> str:
    parts = [f"<h1>Feedback for {html.escape(row.student)}</h1>",
             f"<p>Score: {row.score} / {len(EXERCISES)}</p>"]
    parts += [f"<p class='note'>{html.escape(n)}</p>" for n in row.notes]
    for number in EXERCISES:
        verdict = row.exercises.get(number, {})
        title = html.escape(verdict.get("title") or "")
        status = row.status(number)
        parts.append(f"<h2>Exercise {number}{': ' + title if title else ''}</h2>"
                     f"<p class='status {status.replace(' ', '-')}'>{status}</p><ul>")
        parts += [f"<li>{_inline(redact(m))}</li>" for m in verdict.get("messages", [])]
        parts += [f"<li>Used the reference solutions: <code>{html.escape(u)}</code>.</li>"
                  for u in verdict.get("solutions_used", [])]
        parts.append("</ul>")
    return "\n".join(parts)


def _inline(text: str) -> str:
    """Escaped text with `code` spans as <code>."""
    return re.sub(r"`([^`]*)`", r"<code>\1</code>", html.escape(text))


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 70rem; margin: 1.5rem auto; padding: 0 1rem; }
table { border-collapse: collapse; font-size: 0.85rem; }
td, th { border: 1px solid #ccc; padding: 0.2rem 0.4rem; text-align: left; }
.correct { background: #d9f2d9; } .incorrect { background: #f8d7d7; }
.error, .timeout { background: #fde8c4; } .not-attempted { color: #888; }
td { white-space: nowrap; } .not-attempted { font-size: 0.75rem; }
"""


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
            f"<body>\n{body}\n</body></html>\n")


def commonest_mistakes(rows: list[StudentGrades], top: int = 3) -> dict[int, list[tuple[str, int]]]:
    """Per exercise, the commonest first messages of 'incorrect' verdicts, with counts.

    Numbers are replaced by ``…`` so that one mistake made with different
    values counts once.
    """
    found: dict[int, Counter] = {n: Counter() for n in EXERCISES}
    for row in rows:
        for number, verdict in row.exercises.items():
            messages = verdict.get("messages") or []
            if verdict.get("status") == "incorrect" and messages:
                found[number][re.sub(r"[-+−]?\d+(\.\d+)?", "…", messages[0])] += 1
    return {n: counter.most_common(top) for n, counter in found.items()}


def _histogram(rows: list[StudentGrades]) -> str:
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
    ax.hist([r.score for r in rows], bins=[x - 0.5 for x in range(len(EXERCISES) + 2)],
            color="C0", edgecolor="white")
    ax.set(xlabel="Score (exercises correct)", ylabel="Students", xticks=range(len(EXERCISES) + 1))
    ax.yaxis.get_major_locator().set_params(integer=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _notes_html(rows: list[StudentGrades]) -> list[str]:
    items = [f"<li>{html.escape(row.student)}: {html.escape(note)}</li>"
             for row in rows for note in row.notes]
    return ["<h2>Notes</h2>", "<ul>", *items, "</ul>"] if items else []


def summary_html(rows: list[StudentGrades]) -> str:
    """The instructor's page: the grades, a score histogram, the commonest mistakes."""
    head = "".join(f"<th>{n}</th>" for n in EXERCISES)
    body = []
    for row in rows:
        cells = "".join(f"<td class='{row.status(n).replace(' ', '-')}'>{row.status(n)}</td>"
                        for n in EXERCISES)
        body.append(f"<tr><td>{html.escape(row.student)}</td>{cells}<td>{row.score}</td></tr>")
    counts = {s: sum(r.status(n) == s for r in rows for n in EXERCISES) for s in STATUSES}
    parts = [f"<h1>Grades: {len(rows)} students</h1>",
             "<p>" + ", ".join(f"{c} {s}" for s, c in counts.items()) + " (exercise answers)</p>",
             f"<table><tr><th>student</th>{head}<th>score</th></tr>", *body, "</table>",
             *_notes_html(rows), "<h2>Scores</h2>",
             f"<img alt='Histogram of the scores' src='data:image/png;base64,{_histogram(rows)}'>",
             "<h2>Commonest mistakes</h2>"]
    for number, mistakes in commonest_mistakes(rows).items():
        correct = sum(r.status(number) == "correct" for r in rows)
        parts.append(f"<h3>Exercise {number}: {correct} of {len(rows)} correct</h3>")
        if mistakes:
            parts.append("<ul>" + "".join(f"<li>{count} × {_inline(redact(text))}</li>"
                                          for text, count in mistakes) + "</ul>")
        else:
            parts.append("<p>No incorrect answers.</p>")
    return _page("Grades", "\n".join(parts))
