"""course_utils: the Python companion of the CCD calibration frames course.

It gives the course's notebooks everything beyond numpy and astropy that
they need:

* :func:`show_image` to look at CCD frames with robust colour limits, and
  :func:`use_course_style` for the course's figure settings;
* :func:`combine` (module :mod:`course_utils.combining`) to combine many
  frames (mean or median, optionally sigma-clipped) quickly and with bounded
  memory, and :func:`read_stack` (both in :mod:`course_utils.combining`);
* :func:`fits_section` to turn a header's ``BIASSEC`` or ``DATASEC`` into
  numpy slices;
* :mod:`course_utils.data`: the course dataset (``dataset_dir()``) and the
  folder for derived products (``work_dir()``); :func:`use_student` gives
  each student a dataset of their own (:mod:`course_utils.data.students`);
* :mod:`course_utils.solutions` and :mod:`course_utils.checks`: reference
  solutions of the exercises and answer checks with specific feedback.

Examples
--------
>>> from course_utils import combine, show_image
"""

import importlib

# The function combine() lives in the module course_utils.combining: no
# module of the package is shadowed by a function of the same name.
from .combining import combine, prepare_kernels, read_stack
from .sections import fits_section

__version__ = "0.1.0"

__all__ = [
    "combine",
    "read_stack",
    "prepare_kernels",
    "fits_section",
    "show_image",
    "use_course_style",
    "use_student",
    "__version__",
]

# matplotlib is imported only when a display function is first used, so that
# e.g. ``python -m course_utils.data`` starts quickly.
_LAZY = {"show_image": ".display", "use_course_style": ".display", "use_student": ".data.students"}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
