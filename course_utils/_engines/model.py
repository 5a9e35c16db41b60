"""The numerical model of combine()'s clipping (private): one module, both engines.

astropy's fast path (``sigma_clip`` with string ``cenfunc``/``stdfunc``)
computes, for each sample, a centre (median or mean) and a spread
(population standard deviation, or :data:`MAD_TO_STD` times the median
absolute deviation), and the bounds ``centre - sigma_lower * spread`` and
``centre + sigma_upper * spread``. The engines compute the same statistics
from sums of ``x - ref`` (``ref`` a value of the sample), which round
differently from astropy's. :func:`rounding_tolerance` bounds how far
astropy's bounds can then be from ours; a sample with a value within that
distance of a bound is "too close to call" and its bounds are taken from
astropy itself. The tolerance grows with the *magnitudes summed*
(``|ref|`` plus the root mean square of ``x - ref``), not with the centre, so
cancelling outliers (``-1e30`` and ``1e30`` around a centre of 0) are
caught; an infinite or NaN tolerance (sums that overflow) always means
"ask astropy", which keeps everything when its own bounds are infinite.

Here, once: the bounds themselves (:func:`sigma_bounds`), astropy's
statistics of one or two values (:func:`pair_stats`: exact, no tolerance
needed), the mean and variance from exact or shifted sums
(:func:`sums_stats`, the numpy engine's), and the tolerance
(:func:`rounding_tolerance`, :func:`float_sum_errors`). The numpy engine
(:mod:`course_utils._engines.clip`: per-row, unsorted shortcut and
per-frame paths) and the numba kernels call them.

The functions use only arithmetic and ``np.sqrt``/``np.abs``/``np.maximum``,
so that they work elementwise on numpy arrays (the numpy engine) and
compile with numba for scalars (the kernels, :mod:`course_utils._engines.kernels`).

Examples
--------
>>> import numpy as np
>>> tol = rounding_tolerance(7.0, 0.0, 2e60, 0.0, 5.3e29, 0.0, 0.0, 0.0, 0.0, 1.0, False, False)
>>> bool(tol > 1.0)   # 1e30 and -1e30 cancel: a value 1 from the centre is too close to call
True
"""

from __future__ import annotations

import numpy as np

__all__ = ["EPS", "MAD_TO_STD", "sigma_bounds", "pair_stats", "sums_stats", "rounding_tolerance",
           "float_sum_errors", "needs_astropy"]

#: Unit roundoff of float64 (twice it: the spacing of floats near 1).
EPS = 2.0**-52
#: astropy's scale from median absolute deviation to a Gaussian sigma.
MAD_TO_STD = 1.482602218505602
_TINY = 1e-300


def sigma_bounds(centre, std, sigma_lower, sigma_upper):
    """astropy's clipping bounds: ``centre - sigma_lower * std`` and ``centre + sigma_upper * std``.

    The same float64 operations as astropy's (a value ``v`` is kept when
    ``lower <= v <= upper``). Every path of both engines takes its bounds
    from here.

    Examples
    --------
    >>> sigma_bounds(5.0, 2.0, 1.0, 3.0)
    (3.0, 11.0)
    """
    return centre - sigma_lower * std, centre + sigma_upper * std


def pair_stats(a, b):
    """Mean and population standard deviation of two values, with astropy's own operations.

    Exact astropy values (the same float64 operations): bounds from one or
    two values need no tolerance. For a single value pass it twice (the
    mean is then ``a`` unless ``2 * a`` overflows; the callers use ``a``
    itself). ``d * d`` rather than ``d ** 2``: an overflow is inf, as for
    astropy.

    Examples
    --------
    >>> mean, std = pair_stats(1.0, 4.0)
    >>> float(mean), float(std)
    (2.5, 1.5)
    """
    mean = (a + b) / 2.0
    d0 = a - mean
    d1 = b - mean
    return mean, np.sqrt((d0 * d0 + d1 * d1) / 2.0)


def sums_stats(k, s1, s2, ref):
    """Mean and variance of ``k`` values from ``s1 = sum(x - ref)`` and ``s2 = sum((x - ref)**2)``.

    For integer data (exact sums, ``ref`` 0 or an integer) ``s1 + k * ref``
    is the exact total, so the mean is astropy's ``fl(total / k)``, and
    ``k * s2 - s1**2 = k * sum((x - mean)**2)``. Used by the numpy engine;
    the kernels' sums of shifted floats round in their own order, which the
    tolerance (:func:`rounding_tolerance`) covers.
    """
    mean = (s1 + k * ref) / k
    var = (k * s2 - s1 * s1) / (k * k)
    return mean, var


def float_sum_errors(n, s2):
    """Bounds ``(e1, e2)`` on the rounding errors of float64 sums of ``n`` terms.

    ``e1`` for the sum of ``x - ref``, ``e2`` for the sum of its squares
    ``s2`` (``sum|x - ref| <= sqrt(n * s2)``). 0 for integer data, whose sums
    are exact (the caller passes nothing then).
    """
    grow = 4.0 * (n + 4.0) * EPS
    return grow * np.sqrt(n * s2), grow * s2


def rounding_tolerance(m, r1, r2, ref, scale, std, centre, e1, e2, smax, median_centre,
                       std_from_sums):
    """How far astropy's clipping bounds can be from ours, for a run of ``m >= 3`` values.

    Parameters
    ----------
    m : float
        Number of values in the run.
    r1, r2 : float
        Our sums of ``x - ref`` and ``(x - ref)**2`` over the run (``r2``
        unused unless ``std_from_sums``), with rounding errors up to ``e1``
        and ``e2``.
    ref : float
        The shift of the sums.
    scale : float
        At least the root mean square of ``x - ref`` over the run (e.g.
        ``|r1| / m + std``, or the largest ``|x - ref|``).
    std, centre : float
        Our spread and centre.
    smax : float
        ``max(sigma_lower, sigma_upper)``.
    median_centre : bool
        The centre is the median (exact: no rounding of its own).
    std_from_sums : bool
        The spread is the standard deviation (from the sums); else it is the
        MAD's, exact.

    Returns
    -------
    float
        The tolerance: twice the propagated rounding of astropy's sums and
        of ours (mean ``em``, variance ``ev``, standard deviation ``es``),
        plus the rounding of the bounds themselves.
    """
    em = (m + 4.0) * EPS * (np.abs(ref) + scale) + e1 / m
    tol = 12.0 * EPS * (np.abs(centre) + smax * std)
    if std_from_sums:
        ev = ((2.0 * m + 20.0) * EPS * r2 + e2 + 2.0 * np.abs(r1) * em) / m + em * em
        es = ev / np.maximum(np.maximum(std, np.sqrt(ev)), _TINY)
        tol = tol + 2.0 * smax * es
    if not median_centre:
        tol = tol + 2.0 * em
    return tol


def needs_astropy(tol, lower, upper):
    """Whether the bounds cannot be trusted at all: not finite (an overflow), or an infinite tolerance.

    Then only astropy's own computation gives its answer.
    """
    return ~(np.isfinite(tol) & np.isfinite(lower) & np.isfinite(upper))
