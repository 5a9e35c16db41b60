"""Answer checks: specific feedback on a student's answer to each exercise.

Each notebook exercise is followed by a cell such as ``check.exercise_1()``.
The check finds the student's answer variables by name in the notebook (or
takes them as arguments), compares them with the reference solutions of
:mod:`course_utils.solutions` computed from the same dataset, and says one of
three things:

* the answer is correct;
* the exercise is not attempted yet (a variable is missing: this is what the
  student version of a notebook shows before any work);
* the answer is wrong, naming the likely mistake (for example a ``uint16``
  subtraction that wrapped around, or a bias that was not subtracted).

Examples
--------
>>> from course_utils import checks as check
>>> feedback = check.exercise_1(namespace={})   # nothing defined yet
>>> feedback.status
'not attempted'
"""

from ._common import Feedback
from ._references import BIAS_FIRST, BIAS_FRAMES, BIAS_SECOND, DARK_FRAMES, FLAT_FRAMES
from .bias import exercise_1, exercise_2
from .dark import exercise_4
from .flat import exercise_3
from .ptc import PTC_PAIRS, exercise_9, exercise_10

__all__ = [
    "Feedback",
    "exercise_1",
    "exercise_2",
    "exercise_3",
    "exercise_4",
    "exercise_9",
    "exercise_10",
    # The frames the exercises are about, as the notebooks name them.
    "BIAS_FIRST",
    "BIAS_SECOND",
    "BIAS_FRAMES",
    "DARK_FRAMES",
    "FLAT_FRAMES",
    "PTC_PAIRS",
]
