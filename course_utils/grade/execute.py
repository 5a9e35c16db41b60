"""Grading one notebook: a pure function of (notebook bytes, student, options).

:func:`grade_notebook` recognises the notebook, runs it in a fresh kernel
(private temporary folder, time and memory limits, no network where the
system allows it), goes on after errors, then runs the notebook's checks on
the kernel's final namespace and returns a JSON-ready result record. It
raises nothing: every failure (broken JSON, another course's notebook, an
endless loop, a dead kernel) is a status in the record.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from . import catalog

__all__ = ["GradeOptions", "Task", "grade_notebook", "network_isolation"]

#: Bumped whenever a change to the grader can change a result (resume keys).
GRADER_VERSION = "1"


@dataclass(frozen=True)
class GradeOptions:
    """How a notebook is run and graded.

    Attributes
    ----------
    cell_timeout : float
        Seconds one cell may run before it is interrupted.
    notebook_timeout : float
        Seconds the whole notebook may run; later cells are not run.
    memory_gb : float
        Address-space limit of the kernel, in GB (0: none).
    isolate_network : bool
        Run the kernel without network (Linux ``unshare``) when possible.
    """

    cell_timeout: float = 120.0
    notebook_timeout: float = 900.0
    memory_gb: float = 8.0
    isolate_network: bool = True


@dataclass(frozen=True)
class Task:
    """One notebook to grade: its bytes, the student, the file name, the options."""

    notebook: bytes
    student: str
    name: str
    options: GradeOptions = field(default_factory=GradeOptions)


@lru_cache(maxsize=None)
def network_isolation() -> tuple[str, ...] | None:
    """The command prefix that runs a process without network, or None.

    ``unshare -n`` (root) or ``unshare -rn`` (a user namespace) on Linux, when
    the system permits it; None elsewhere (macOS, Windows, containers that
    forbid namespaces), where kernels keep the machine's network.
    """
    tool = shutil.which("unshare")
    if tool is None:
        return None
    flags = "-n" if os.geteuid() == 0 else "-rn"
    try:
        probe = subprocess.run([tool, flags, "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return (tool, flags) if probe.returncode == 0 else None


def _record(task: Task, **fields: Any) -> dict[str, Any]:
    base = {"student": task.student, "file": task.name, "notebook": None, "status": "graded",
            "note": "", "exercises": {}, "seconds": 0.0, "network_isolated": False}
    base.update(fields)
    return base


def grade_notebook(task: Task) -> dict[str, Any]:
    """Grade one submitted notebook; never raises.

    Returns
    -------
    dict
        ``student``, ``file``, ``notebook`` (the course notebook's stem or
        None), ``status`` (``graded``, ``unreadable``, ``not recognised``),
        ``note``, ``seconds`` and ``exercises``: per exercise number (as text)
        a dict with ``status`` (correct, incorrect, not attempted, error,
        timeout), ``title``, ``messages`` and ``solutions_used``.

    Examples
    --------
    >>> grade_notebook(Task(b"not json", "ada", "bias.ipynb"))["status"]
    'unreadable'
    """
    start = time.monotonic()
    try:
        text = task.notebook.decode("utf-8")
        parsed = json.loads(text)
        if not isinstance(parsed, dict) or not isinstance(parsed.get("cells"), list):
            raise ValueError("no list of cells")
        import nbformat

        notebook = nbformat.reads(text, as_version=4)
    except Exception as error:  # any unreadable file is a status, not a stop
        return _unreadable(task, error)
    stem = catalog.identify(notebook)
    if stem is None:
        return _record(task, status="not recognised",
                       note="not one of this course's notebooks")
    from .run_kernel import run_and_check

    record = _record(task, notebook=stem, network_isolated=task.options.isolate_network
                     and network_isolation() is not None)
    record["exercises"] = run_and_check(notebook, catalog.CATALOG[stem].exercises, task)
    record["seconds"] = round(time.monotonic() - start, 2)
    return record


def _unreadable(task: Task, error: Exception) -> dict[str, Any]:
    stem = catalog.guess_from_name(task.name)
    why = f"not a notebook file ({type(error).__name__})"
    exercises = {}
    if stem is not None:
        for number in catalog.CATALOG[stem].exercises:
            exercises[str(number)] = {"status": "error", "title": "", "solutions_used": [],
                                      "messages": [f"`{task.name}` is {why}, so nothing "
                                                   "could be run. Submit the .ipynb file "
                                                   "saved from Jupyter or Colab."]}
    return _record(task, notebook=stem, status="unreadable", note=why, exercises=exercises)
