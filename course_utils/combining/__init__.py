"""Combining a stack of calibration frames, fast and in bounded memory.

Public functions:

* :func:`combine` median- or mean-combines frames (or sums them),
  optionally sigma-clipped per frame or per pixel, as astropy's
  ``sigma_clip`` followed by ``np.nanmedian``/``np.nanmean`` would;
* :func:`read_stack` reads FITS files into one ``(N, ny, nx)`` array;
* :func:`prepare_kernels` makes the compiled kernels ready (say, before
  timing :func:`combine`).

The modules, each with one job (imports go one way, top to bottom):

* :mod:`.front`: the front door, ``combine`` and ``prepare_kernels``;
* :mod:`.inputs`: every input in one form (masks, byte order, units, file
  names, ``scale=``, extrema); :mod:`.fits_frames`: reading FITS files;
* :mod:`.choice`: which engine runs; :mod:`.warmup`: numba compiling in a
  background process;
* :mod:`.numba_engine` with the compiled tile kernels of :mod:`.kernels`;
  :mod:`.numpy_engine` with the tile kernels of :mod:`.tiles`;
* :mod:`.clipping`: the clipping maths (astropy's bounds, per pixel and
  per frame); :mod:`.model`: the numerical model both engines share, and
  the full rules of agreement with astropy and ccdproc;
* :mod:`.weighted`: weighted means and exact sums of the kept values;
  :mod:`.frames`: the frames as every engine reads them.

Examples
--------
>>> import numpy as np
>>> from course_utils.combining import combine
>>> combine([np.zeros((1, 2)), np.ones((1, 2)), np.full((1, 2), 5.0)])
array([[1., 1.]])
"""

from .choice import BACKEND_ENV
from .fits_frames import read_stack
from .frames import MIN_MEMORY
from .front import combine, log, prepare_kernels

__all__ = ["combine", "prepare_kernels", "read_stack", "log", "BACKEND_ENV", "MIN_MEMORY"]
