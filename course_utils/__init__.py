"""course_utils: the Python companion of the CCD calibration frames course.

It gives the course's notebooks everything beyond numpy and astropy that
they need:

* :func:`show_image` to look at CCD frames with robust colour limits, and
  :func:`use_course_style` for the course's figure settings;

Examples
--------
>>> from course_utils import show_image
"""

from .display import show_image, use_course_style

__version__ = "0.1.0"

__all__ = ["show_image", "use_course_style", "__version__"]
