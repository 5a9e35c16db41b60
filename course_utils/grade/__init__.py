"""Grading a class: run each submitted notebook, check it, report.

``python -m course_utils.grade SUBMISSIONS --out OUT`` runs every student's
notebooks in fresh, sandboxed kernels (:mod:`.run_kernel`), grades each
exercise with the course's checks on the notebook's final namespace, and
writes ``grades.csv``, ``feedback/<student>.md`` and ``.html`` and
``summary.html`` (:mod:`.report`). Grading one notebook is the pure function
:func:`grade_notebook`, so notebooks run in parallel processes or on a Dask
cluster (:mod:`.run`).

Examples
--------
>>> from course_utils.grade import GradeOptions, Task, grade_notebook
>>> grade_notebook(Task(b"{", "ada", "bias.ipynb", GradeOptions()))["exercises"]["1"]["status"]
'error'
"""

from .execute import GradeOptions, Task, grade_notebook
from .run import find_submissions, grade_folder

__all__ = ["GradeOptions", "Task", "grade_notebook", "grade_folder", "find_submissions"]
