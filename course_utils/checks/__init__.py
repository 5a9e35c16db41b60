"""Answer checks: specific feedback on a student's answer to each exercise.

Each notebook exercise is followed by a cell such as ``check.exercise_1()``.
The check finds the student's answer variables by name in the notebook (or
takes them as arguments), compares them with the reference solutions of
:mod:`course_utils.solutions` computed from the same dataset (and, for the
synthetic dataset, with the true detector it was drawn from), and says one of
four things:

* the answer is correct;
* the exercise is not attempted yet (a variable is missing: this is what the
  student version of a notebook shows before any work);
* the answer is wrong, naming the likely mistake (for example a ``uint16``
  subtraction that wrapped around, or a bias that was not subtracted);
* the answer could not be checked (the dataset is missing, say), and why.

A check never raises and prints nothing: whatever the answer (a ragged list,
a string, NaN), it returns its verdict as a :class:`Feedback`.

==========  ============================  ==========================  ==============================
Exercise    Notebook                      Module                      Answers checked
==========  ============================  ==========================  ==============================
1           01 bias frames                ``checks/bias.py``          ``center``, ``spread``,
                                                                      ``n_outliers``
2           01 bias frames                ``checks/bias.py``          ``difference``, ``read_noise``
3           02 sigma clipping             ``checks/sigma.py``         ``sigma_clip_by_hand``
4           03 dark frames                ``checks/dark.py``          ``master_dark``
5           03 dark frames                ``checks/dark.py``          ``dark_current``,
                                                                      ``dark_scaled``
6           04 flat frames                ``checks/flat.py``          ``master_flat``
7           05 a science frame            ``checks/science.py``       ``calibrated``
8           05 a science frame            ``checks/science.py``       ``ratio_before``,
                                                                      ``ratio_after``
9           06 photon transfer curve      ``checks/ptc.py``           ``signal``, ``variance``,
                                                                      ``gain``
10          06 photon transfer curve      ``checks/ptc.py``           ``read_noise_du``,
                                                                      ``read_noise_e``
==========  ============================  ==========================  ==============================

Every check goes through one guard (``checks/_common.py``): answers that
cannot be read, a wrong ``namespace`` or ``data_dir`` give a verdict, not a
traceback. Exercise 3 runs the student's function in a forked child process
with a hard time limit, so no endless loop or ``sys.exit`` can hang the
kernel. The costliest references are cached on disk outside the dataset
(``checks/_disk_cache.py``).

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
from .dark import exercise_4, exercise_5
from .flat import exercise_6
from .ptc import PTC_PAIRS, exercise_9, exercise_10
from .science import PHOTOMETRY_STAR, SCIENCE_FRAME, exercise_7, exercise_8
from .sigma import exercise_3

__all__ = [
    "Feedback",
    "exercise_1",
    "exercise_2",
    "exercise_3",
    "exercise_4",
    "exercise_5",
    "exercise_6",
    "exercise_7",
    "exercise_8",
    "exercise_9",
    "exercise_10",
    # The frames the exercises are about, as the notebooks name them.
    "BIAS_FIRST",
    "BIAS_SECOND",
    "BIAS_FRAMES",
    "DARK_FRAMES",
    "FLAT_FRAMES",
    "SCIENCE_FRAME",
    "PHOTOMETRY_STAR",
    "PTC_PAIRS",
]
