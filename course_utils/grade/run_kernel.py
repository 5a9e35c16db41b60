"""Running a recognised notebook in a sandboxed kernel, then its checks.

The kernel starts in a private temporary folder (its working directory and
``COURSE_WORK_DIR``), as the student (``COURSE_STUDENT``), with an
address-space limit, and without network where :func:`network_isolation`
allows (its sockets are then Unix files, which need no network). Cells run
one by one with a time limit each and one for the notebook; an error or a
time-out is noted and the next cell runs. A kernel that dies is started
again and the notebook re-run without the cell that killed it, so that the
other exercises are still graded. Outputs are dropped as they arrive (the
grader computes the verdicts itself), so huge outputs cost no memory.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from . import catalog, kernel
from .execute import Task, network_isolation

__all__ = ["run_and_check"]

_MAX_RESTARTS = 2
# Seconds an interrupted cell gets to stop before its kernel is killed.
_GRACE_S = 10.0
# The course's own check cells only display a verdict; the grader computes it.
_CHECK_CELL = re.compile(r"^\s*check\.exercise_\d+\(\)\s*$")


def _client_classes():
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    class SandboxedKernelManager(AsyncKernelManager):
        prefix: tuple[str, ...] = ()

        def format_kernel_cmd(self, extra_arguments=None):
            return [*self.prefix, *super().format_kernel_cmd(extra_arguments)]

    class DroppingClient(NotebookClient):
        def output(self, outs, msg, display_id, cell_index):
            return None  # outputs are never needed: verdicts come from the grader

    return SandboxedKernelManager, DroppingClient


def _environment(task: Task, work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(COURSE_STUDENT=task.student, COURSE_WORK_DIR=str(work), TQDM_DISABLE="1",
               MPLBACKEND="agg", PYTHONDONTWRITEBYTECODE="1")
    return env


class _Run:
    """One attempt: a kernel, the cells run in it, and what happened to each."""

    def __init__(self, notebook, exercises, task: Task, folder: Path, skip: set[int]):
        import nbformat

        manager_class, client_class = _client_classes()
        self.task, self.exercises, self.folder = task, exercises, folder
        self.token = secrets.token_hex(8)
        self.states: dict[int, dict[str, Any]] = {}
        self.skip = skip
        self.timed_out: set[int] = set()
        # IPython's execution count (what the kernel records uses under) -> cell index.
        # Counted here: ipykernel's execute_input count also counts the preamble.
        self.counts: dict[int, int] = {}
        student_cells = [nbformat.from_dict(dict(c)) for c in notebook.cells]
        self.first = 1
        synthetic = nbformat.v4.new_code_cell(kernel.preamble(
            self.token, int(task.options.memory_gb * 2**30) or None, tuple(exercises)))
        self.nb = nbformat.v4.new_notebook(cells=[synthetic, *student_cells])
        # Unix-file sockets reach a kernel without network; Windows has none.
        if os.name == "posix":
            manager = manager_class(kernel_name="python3", transport="ipc",
                                    ip=str(folder / f"k{len(skip)}"))
        else:
            manager = manager_class(kernel_name="python3")
        manager.connection_file = str(folder / f"kernel{len(skip)}.json")
        prefix = network_isolation() if task.options.isolate_network else None
        manager.prefix = tuple(prefix or ())
        self.client = client_class(
            self.nb, km=manager, timeout=None, allow_errors=True, iopub_timeout=2,
            startup_timeout=120, record_timing=False, shutdown_kernel="immediate",
            on_cell_executed=self._executed)

    def _executed(self, cell, cell_index, execute_reply):
        content = (execute_reply or {}).get("content", {})
        if content.get("status") == "error" and cell_index >= self.first:
            state = "timeout" if cell_index - self.first in self.timed_out else "error"
            self.states[cell_index - self.first] = {
                "state": state, "ename": str(content.get("ename", ""))[:80],
                "evalue": str(content.get("evalue", ""))[:200]}

    def run(self, deadline: float, work: Path) -> tuple[dict | None, int | None]:
        """Run the cells and grade; returns (verdicts or None, index of the fatal cell)."""
        from nbclient.exceptions import DeadKernelError

        client = self.client
        with client.setup_kernel(cwd=str(work), env=_environment(self.task, work), cleanup_kc=True):
            client.execute_cell(client.nb.cells[0], 0, store_history=False)
            for index, cell in enumerate(client.nb.cells[self.first:]):
                if cell.cell_type != "code" or index in self.skip:
                    continue
                if _CHECK_CELL.match(cell.source):
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 1:
                    self.states[index] = {"state": "timeout", "ename": "", "evalue": "notebook"}
                    continue
                limit = min(self.task.options.cell_timeout, remaining)
                if cell.source.strip():
                    self.counts[len(self.counts) + 1] = index
                try:
                    self._execute(cell, index + self.first, limit, store_history=True)
                except DeadKernelError:
                    return None, index
            return self._grade(client), None

    def _execute(self, cell, position: int, limit: float, store_history: bool):
        """Execute one cell; past ``limit`` seconds interrupt it, then kill the kernel.

        (nbclient's own time-out only interrupts: a loop in compiled code that
        ignores the interrupt would hold the kernel for ever.)
        """
        done = threading.Event()

        def interrupt():
            if done.is_set():
                return
            self.timed_out.add(position - self.first)
            self._signal(signal.SIGINT)
            if not done.wait(_GRACE_S):
                self._signal(signal.SIGKILL)

        timer = threading.Timer(limit, interrupt)
        timer.daemon = True
        timer.start()
        try:
            self.client.execute_cell(cell, position, store_history=store_history)
        finally:
            done.set()
            timer.cancel()

    def _signal(self, number: int) -> None:
        process = getattr(self.client.km.provisioner, "process", None)
        if process is not None and process.poll() is None:
            try:
                os.kill(process.pid, number)
            except OSError:
                pass

    def _grade(self, client) -> dict:
        import nbformat
        from nbclient.exceptions import DeadKernelError

        verdicts: dict = {}
        for number in self.exercises:
            path = self.folder / f"verdict-{self.token}-{number}.json"
            cell = nbformat.v4.new_code_cell(kernel.grading_call(self.token, number, str(path)))
            client.nb.cells.append(cell)
            position = len(client.nb.cells) - 1
            try:
                self._execute(cell, position, self.task.options.cell_timeout, False)
            except DeadKernelError:
                verdicts[number] = {"status": "died"}
                break
            try:
                verdicts[number] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):  # stopped, or the grader's set-up failed
                stopped = position - self.first in self.timed_out
                verdicts[number] = {"status": "timeout" if stopped else "not checked",
                                    "messages": [] if stopped else [
                                        "The grader could not run this check in the kernel."]}
        return verdicts


def run_and_check(notebook, exercises: tuple[int, ...], task: Task) -> dict[str, dict]:
    """Run ``notebook`` for ``task`` and check ``exercises``; verdicts by exercise number."""
    deadline = time.monotonic() + task.options.notebook_timeout
    skip: set[int] = set()
    died: list[int] = []
    with tempfile.TemporaryDirectory(prefix="course-grade-", ignore_cleanup_errors=True) as tmp:
        folder = Path(tmp)
        os.chmod(folder, 0o700)
        while True:
            work = folder / f"work{len(skip)}"
            work.mkdir()
            attempt = _Run(notebook, exercises, task, folder, skip)
            try:
                verdicts, fatal = attempt.run(deadline, work)
            except Exception as error:  # kernel failed to start, say
                return _all(exercises, "error", f"The grader could not run the notebook "
                            f"({type(error).__name__}: {str(error)[:200]}).")
            if fatal is None or len(skip) >= _MAX_RESTARTS:
                break
            skip.add(fatal)
            died.append(fatal)
    if verdicts is None:
        return _all(exercises, "error", "The kernel died repeatedly (memory limit or a crash).")
    regions = catalog.exercise_regions(notebook, exercises)
    for index in died:
        attempt.states[index] = {"state": "died", "ename": "", "evalue": ""}
    uses = _uses(verdicts, attempt.counts, regions, exercises)
    return {str(n): _verdict(n, verdicts.get(n, {"status": "died"}), attempt.states, regions,
                             uses.get(n, []), task) for n in exercises}


def _all(exercises, status: str, message: str) -> dict[str, dict]:
    return {str(n): {"status": status, "title": "", "messages": [message], "solutions_used": []}
            for n in exercises}


def _uses(verdicts, counts, regions, exercises) -> dict[int, list[str]]:
    """Each recorded use of the solutions, attributed to an exercise."""
    found: dict[int, list[str]] = {}
    records = []
    for verdict in verdicts.values():
        records = verdict.get("uses", records) if isinstance(verdict, dict) else records
    for use in records:
        if not isinstance(use, dict):
            continue
        exercise = use.get("exercise")
        if exercise not in exercises:
            index = counts.get(use.get("cell"))
            exercise = _exercise_of_cell(index, regions, exercises)
        what = str(use.get("what", ""))[:120]
        if what not in found.setdefault(exercise, []):
            found[exercise].append(what)
    return found


def _exercise_of_cell(index, regions, exercises) -> int:
    if index is not None and regions.get(index) is not None:
        return regions[index]
    later = [regions[i] for i in sorted(regions) if index is None or i > index]
    return next((n for n in later if n is not None), exercises[-1])


def _verdict(number, verdict, states, regions, uses, task) -> dict[str, Any]:
    """The exercise's grade from the check's verdict and what happened to its cells."""
    region = [states[i] for i in sorted(states) if regions.get(i) == number]
    status = verdict.get("status") if isinstance(verdict, dict) else None
    messages = [str(m) for m in verdict.get("messages", [])][:20] if status else []
    title = str(verdict.get("title", "")) if isinstance(verdict, dict) else ""
    limit = f"{task.options.cell_timeout:g} s"
    if status == "correct" or status == "incorrect":
        grade = status
    elif status == "timeout":
        grade, messages = "timeout", [f"Checking this exercise took longer than {limit}."]
    elif status == "not checked" or status not in ("not attempted",):
        grade = "error"
        if status == "died":
            messages = ["The kernel died while this exercise was checked."]
    elif any(s["state"] == "timeout" for s in region):
        grade = "timeout"
        messages = [f"A cell of this exercise ran longer than the {limit} limit (or the "
                    "notebook's) and was stopped; fix the loop, then run it again.", *messages]
    elif any(s["state"] in ("error", "died") for s in region):
        grade = "error"
        first = next(s for s in region if s["state"] in ("error", "died"))
        what = ("made the kernel die (memory limit or a crash)" if first["state"] == "died"
                else f"raised {first['ename']}: {first['evalue']}")
        messages = [f"A cell of this exercise {what}.", *messages]
    else:
        grade = "not attempted"
    return {"status": grade, "title": title, "messages": messages, "solutions_used": uses}
