"""The two engines of ``course_utils.combine``, for tests that run on both.

The one reference the combine tests compare with, :func:`astropy_route`,
is here too.

A test module that imports ``backend`` from here runs every one of its
tests twice: on the numba kernels and on the numpy engine (the fixture sets
``COURSE_UTILS_BACKEND``, which ``backend='auto'`` reads). Without a usable
numba the numba runs are skipped with that reason, except in CI
(``CI=true``), whose environment pins numba: there they fail.
"""

from __future__ import annotations

import os
import warnings
from typing import NamedTuple

import numpy as np
import pytest
from astropy.stats import sigma_clip


def _numba_usable() -> bool:
    try:
        import numba  # noqa: F401
    except Exception:  # noqa: BLE001  (a broken numba fails in many ways)
        return False
    return True


NUMBA = _numba_usable()
#: Marks a test that needs numba: skipped without it, except in CI.
needs_numba = pytest.mark.skipif(not NUMBA and os.environ.get("CI", "").lower() != "true",
                                 reason="numba is not usable")


@pytest.fixture(
    autouse=True,
    params=[pytest.param("numba", marks=needs_numba), "numpy"],
)
def backend(request, monkeypatch):
    """Every test of the module runs on both engines."""
    monkeypatch.setenv("COURSE_UTILS_BACKEND", request.param)
    return request.param


class Route(NamedTuple):
    """What the astropy route gives (see :func:`astropy_route`)."""

    combined: np.ndarray  # float64, NaN where nothing is kept
    count: np.ndarray  # values kept at each pixel
    mask: np.ndarray  # (N, ny, nx): True where a value is not kept
    scale: np.ndarray  # largest kept magnitude of each pixel (0 where none)


def astropy_route(stack, method, clip=None, **kw) -> Route:
    """The reference of combine(): astropy's ``sigma_clip`` (string functions), then nanmedian/nanmean.

    Everything in float64: masked values, NaN and ±inf are not kept (as
    combine() does), ``clip`` is None, ``'pixel'`` (``axis=0``) or
    ``'frame'`` (``axis=(1, 2)``), and ``kw`` goes to ``sigma_clip``.
    ``scale`` says how precisely a mean is known: a mean of values that
    cancel (1e30 and -1e30) is known only to the rounding of its sums, at
    most about N * eps * max|x| apart.
    """
    data = np.ma.filled(np.ma.asarray(stack).astype(np.float64), np.nan)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # (all-NaN slices, overflowing statistics)
        if clip is not None:
            data = sigma_clip(data, axis=0 if clip == "pixel" else (1, 2), masked=False, **kw)
        data = np.where(np.isfinite(data), data, np.nan)
        combined = (np.nanmedian if method == "median" else np.nanmean)(data, axis=0)
        scale = np.where(np.isnan(data), 0.0, np.abs(data)).max(axis=0)
    missing = np.isnan(data)
    return Route(combined, np.count_nonzero(~missing, axis=0), missing, scale)
