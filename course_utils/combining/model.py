"""The numerical model of combine(), for both engines, and the full rules of combine().

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
(:mod:`course_utils.combining.clipping`: per-row, unsorted shortcut and
per-frame paths) and the numba kernels call them.

The functions use only arithmetic and ``np.sqrt``/``np.abs``/``np.maximum``,
so that they work elementwise on numpy arrays (the numpy engine) and
compile with numba for scalars (the kernels, :mod:`course_utils.combining.kernels`).

The full rules of combine()
---------------------------
What :func:`course_utils.combine` does in every case, and where it agrees
with astropy's route (``sigma_clip`` with string ``cenfunc``/``stdfunc``,
``masked=False``, then ``np.nanmedian``/``np.nanmean``) and with ccdproc.

**The options, in full.**

frames : list of 2-D arrays, 3-D array, or list of FITS paths
    The frames to combine: a list (or tuple) of 2-D arrays of one shape
    (masked arrays, Quantities and ``CCDData`` objects too), a 3-D array
    ``(N, ny, nx)``, or FITS file names (a list of str, bytes or
    `pathlib.Path`, or an array or astropy ``Column`` of names), read as
    :func:`read_stack` reads them, from the HDU ``hdu=`` (default: each
    file's first HDU with an image, so that compressed ``CompImageHDU``
    files work). Unless ``clip='frame'`` or ``scale=`` needs whole frames
    (or astropy must scale or decompress the data), every header is read
    and checked first, then a band of rows of every file at a time, the
    next one while the engine combines the current one, so that no whole
    stack is held. Any
    N >= 1. See "Inputs" in the Notes for masks, units and data types.
method : {'median', 'mean', 'sum'}, optional
    How the values kept at each pixel are combined. Default 'median'.
    ``'sum'`` is the sum of the kept values only, as
    ``ccdproc.Combiner.sum_combine``: values that are missing, masked or
    rejected add nothing and are not replaced (for a sum scaled to all
    N frames, use the mean times N). It is float64 whatever the input
    (sums of 16-bit frames exceed float32's exact integers), bit for bit
    ``np.nansum`` of the kept values converted to float64 (for 8- and
    16-bit integers computed as the mean times the count, exact), and NaN
    where no value is kept (ccdproc: 0, masked).
clip : {None, 'frame', 'pixel'}, optional
    Sigma clipping before combining.

    * ``None`` (default): no clipping.
    * ``'frame'``: each frame against its own statistics, like the
      course's by-hand clipping and ``sigma_clip(stack, axis=(1, 2))``.
      It removes outliers of a frame (cosmic rays, hot pixels).
    * ``'pixel'``: each pixel along the stack, like
      ``sigma_clip(stack, axis=0)`` and ``ccdproc.combine``. It removes
      values unlike the other frames' at that pixel.
sigma : float, optional
    Clipping threshold in standard deviations, for both sides. Default 3.
sigma_lower, sigma_upper : float or None, optional
    Thresholds below and above the centre; ``None`` means ``sigma``.
maxiters : int or None, optional
    At most this many clipping iterations (>= 1); ``None`` iterates until
    nothing changes. Default 5.
cenfunc : {'median', 'mean'}, optional
    Centre of the clipping interval. Default 'median'.
stdfunc : {'std', 'mad_std'}, optional
    Width of the clipping interval: the (population) standard deviation,
    or 1.4826 times the median absolute deviation. Default 'std'.
return_count : bool, optional
    Also return the number of values kept at each pixel.
return_mask : bool, optional
    Also return the rejection mask, ``True`` where a value was rejected
    (clipped, or NaN/inf in the input). It is as large as the stack in
    bytes (N × ny × nx), on top of the working memory.
memory_limit : float or None, optional
    Working memory to stay within, in bytes (at least 4 MiB), beyond
    the input and the outputs. Default: half the size of the stack as
    16-bit integers (N × ny × nx bytes), but at least 4 MiB. See Notes.
progress : bool or None, optional
    Progress bar when reading FITS files (see :func:`read_stack`).
backend : {'auto', 'numba', 'numpy'}, optional
    The engine. ``'auto'`` (default) uses compiled kernels if numba can
    be imported (``pip install numba``, or ``course_utils[fast]``;
    Colab has it), and the pure-numpy engine otherwise, silently. It
    never waits for numba to compile: until a kernel is compiled (in a
    background process), calls that need it use the numpy engine. The
    environment variable ``COURSE_UTILS_BACKEND`` (auto, numba or
    numpy) overrides this choice. ``'numba'`` insists on the kernels,
    compiling them first if need be (ImportError without a usable
    numba); ``'numpy'`` never uses them. Both give the same results.
    See Notes.
nlow, nhigh : int, optional
    Extrema (min/max) rejection, as ``ccdproc.combine(clip_extrema=True,
    nlow=..., nhigh=...)`` and IRAF's ``minmax``: exclude the ``nlow``
    lowest and ``nhigh`` highest values of each pixel before any
    sigma clipping, which then sees only the values left (ccdproc's
    clipping, done after its extrema rejection too, computes its
    statistics from all the values, rejected ones included, so with
    both its results differ). Only valid values count: a
    NaN, ±inf or masked value is not one of the ``nhigh`` highest
    (ccdproc counts it towards them). A pixel with ``nlow + nhigh`` or
    fewer valid values keeps none. Default 0: none. It costs a float
    copy of the stack (4 or 8 bytes per value) and a sort.
scale : callable, sequence of float, or None, optional
    Multiply each frame by a factor before anything else: a sequence of
    N positive numbers, or a function called with each frame (a
    read-only float64 array, missing values NaN) that returns its
    factor, such as ``lambda f: 1 / np.nanmedian(f)``, which brings
    flats of different brightness to a median of 1. Every rejection
    (extrema, sigma clipping) then sees the scaled values; ccdproc
    rejects on the unscaled values and scales only when combining, so
    with both scaling and rejection its results differ (with clipping
    per pixel, flats of different levels are not compared fairly
    there). A factor that is not a positive finite number, or one that
    makes a value overflow (beyond the largest value of the result's
    type, 3.4e38 for float32), raises ValueError naming the frame. It
    costs a float64 copy of the stack (8 bytes per value). Default
    None: no scaling.
weights : sequence of float, ndarray, or None, optional
    Weights of a weighted mean (or sum) of the kept values, for
    ``method='mean'`` or ``'sum'`` (ValueError for a median): one per
    frame (N numbers, e.g. exposure times) or one per value (an array
    of the stack's shape, or one that broadcasts to it such as
    ``(N, 1, 1)``), finite and >= 0. The combined value is
    ``sum(w * x) / sum(w)`` (for 'sum': ``sum(w * x)``) over the values
    kept, in float64: ``np.ma.average(clipped, weights=w, axis=0)``.
    Weights do not change which values are kept (clipping is
    unweighted, as in astropy and ccdproc) nor ``count``; the weighted
    mean of a pixel whose kept values all weigh 0 is NaN (their weighted
    sum is 0), and a weighted sum beyond float64's range raises
    ValueError naming the pixel. It is ``np.ma.average``'s value bit for bit
    wherever its sums neither overflow nor underflow; only ratios of
    weights matter for a mean, so elsewhere (weights from 1e-320 to 1e308
    at one pixel) the pixel's weights are scaled by a power of two, or the
    mean is computed exactly. ccdproc
    divides by the weights of *all* the values, rejected ones too, so
    its weighted means differ where values were rejected. It costs a
    rejection mask as large as the stack in bytes. Default None: equal
    weights.

**Inputs.** Every input is first turned into one form, the same for
both engines:

* masked values (`numpy.ma.MaskedArray`, such as ``sigma_clip(...,
  masked=True)`` returns, or the ``mask`` of ``CCDData``) are excluded,
  exactly like NaN: never used, counted or returned as kept;
* data in any byte order (``>i2`` from ``fits.getdata``) are read
  correctly;
* 32- and 64-bit integers are combined as float64, as astropy's route
  does (their squares are not exact in float64);
* a unit (`~astropy.units.Quantity`, ``CCDData.unit``) must be the same
  for every frame, or a ValueError says so; ``combined`` then has it
  (``count`` and ``mask`` have none); CCDData uncertainties are ignored;
* FITS files that cannot be read raise OSError naming the file and its
  place in the list; ``memory_limit=float('inf')`` means no limit.

**ccdproc options without a counterpart.** ``minmax_clip`` (value
thresholds: mask the values, e.g. ``np.ma.masked_outside``, and pass the
masked array); ``sigma_clip_func``/``sigma_clip_dev_func`` callables
(only astropy's string functions are reproduced, see "Exactly which
clipping"); ``mem_limit`` is ``memory_limit``;
``combine_uncertainty_function`` and the output ``CCDData``'s
uncertainty (uncertainties are ignored); ``dtype`` (the result's type
is fixed, see Returns). ``scale`` and ``weights`` exist, but differ from
ccdproc's where values are rejected (see Parameters).

**numba's JIT switched off.** With ``NUMBA_DISABLE_JIT=1`` (or
``numba.config.DISABLE_JIT``), numba would run the kernels as plain
Python, whose arithmetic is not the compiled kernels' (and which is a
thousand times slower): combine() then uses the numpy engine, even with
``backend='numba'``, and says so once on the logger (WARNING) and in
every call's DEBUG record.

**Statistics beyond float64's range.** Where astropy's statistics
overflow (values near 1.8e308), its bounds may be NaN; no comparison
with NaN is true, so astropy rejects nothing on that side, and neither
does combine().

**Which engine ran.** Each call logs, at DEBUG level on the logger
``course_utils.combine`` (:data:`log`), a record whose attributes
``engine`` (``'numba'`` or ``'numpy'``) and ``settled`` (pixels the
kernels handed to the numpy engine) say how it was computed; e.g.
``logging.basicConfig(level=logging.DEBUG)`` prints them.

**Why it is fast.** The usual route converts the whole stack to a
float64 copy (8 bytes per value: 800 MB for the course's 40 bias
frames), then runs NaN-aware medians along the short axis of that huge
array, jumping through memory for every pixel. Here the frames are cut
into tiles of about two thousand pixels, whose (say 40) values per
pixel fit in the CPU's cache, and each pixel's values are *sorted*. A
*sorting network* does that: a fixed list of some 300 compare-and-swap
steps between pairs of frames, the same for every pixel, so that each
step is a ``min`` and a ``max`` over the tile's pixels, which the CPU
does 8 to 32 pixels at a time (SIMD). In a sorted column the median
is the middle element, and the values inside any clipping interval
``[lower, upper]`` are a contiguous run: with the column's sums, a
clipping iteration costs a few operations, not a pass over all the
values. Most pixels keep all their values after the first iteration
(computed for a whole tile at once); the few others (a cosmic ray, a
value in the tails) go on, one by one. Clipping around the mean with a
mean result (ccdproc's default) does not even sort first: each pixel's
smallest and largest values, found by a much shorter network, tell
whether the first iteration clips anything, and only the pixels that
clip are sorted. Two threads (up to four, with more cores) share the
tiles. For the 40 full-size frames this takes 0.05 to 0.1 seconds
instead of 3 to 25 seconds, and a few megabytes of working memory
instead of gigabytes.

**numba and the numpy engine.** The tile kernels are compiled by numba.
Without numba, the same algorithm runs on numpy arrays: same results, a
few times slower (about half a second for the 40 frames), no
compilation. Compiling takes 2 to 15 seconds (more on a busy machine), once per kind of kernel
(clipping per pixel or not) and of data (16-bit integers, float32,
float64); numba then caches the compiled code on disk (in
``__pycache__`` next to course_utils, or in ``NUMBA_CACHE_DIR``), but
in a fresh Colab runtime that cache starts empty. So with
``backend='auto'`` nobody waits for it: a call whose kernel is not
compiled yet runs on the numpy engine and, once it is done (so as not to
share the machine with it), starts a background Python process (at a
low priority; one at a time, other kinds queued) that compiles the
kernel into the cache;
the calls after it has finished load the kernel (a few tenths of a
second, once per process) and run on it. If that process cannot run
(or fails, or takes more than five minutes), the kernel is compiled in
the calling process instead. ``backend='numba'`` compiles (or loads) the
kernel before it returns, waiting for a background process that is
already at it; :func:`prepare_kernels` does that for every ``clip``
mode at once, for example before timing the kernels. numba itself takes
some 120 MB of memory once imported (a background process, about 200 MB
for the few seconds it runs). Clipping per pixel with
``stdfunc='mad_std'`` always uses the numpy engine.

The two engines give the same results to the last bit for integer
data, and in practice for float32 data (computed in float64, rounded
to a float32 result). For float64 data, whose result is float64, a
mean may differ in the last bit (the engines add the values in a
different order), so which engine ran can show in the 16th digit.

**Memory.** The working memory (tile buffers, and in the worst case
float64 copies of every pixel of a tile) is planned to stay within
``memory_limit``, by default half the size of the stack as 16-bit
integers; the input and the outputs come on top. Clipping per frame
also needs, for floating-point frames, one sorted copy of one frame at
a time (4 or 8 bytes per pixel); integer frames need only a histogram.
Frames read from files, scaled (``scale=``) or without their extremes
(``nlow``/``nhigh``) are made a band of rows at a time (two bands at
once: the one combined and the next), within half the budget; with
``clip='frame'``, ``nlow``/``nhigh`` also keep which values they left
out, one bit a value.

**Clipping per frame.** Each frame's bounds come from all its finite
values (for 8- and 16-bit integers exactly, from a histogram); then each
pixel keeps the values inside their own frame's bounds.

**Exactly which clipping.** astropy's ``sigma_clip`` has two
implementations. With ``cenfunc``/``stdfunc`` given as strings and an
``axis`` (what this function reproduces), each iteration clips the
values left by the previous one, but only the *last* iteration's bounds
are kept and applied to *all* the values: a value rejected early comes
back if the last interval is wider. With functions (callables), as
``ccdproc.combine`` passes them (``np.ma.mean``, ``np.ma.std``),
rejections accumulate instead. The two agree when a single iteration
is done (``maxiters=1``), which is what ``ccdproc.combine`` does. For
example, the values 3, 4, 4, 7, 8, 9 with ``sigma=1, maxiters=2``:
iteration 1 keeps 4, 4, 7 (bounds 3.23 to 7.77), iteration 2 gives
bounds 2.59 to 5.41, so the strings keep 3, 4, 4 (3 comes back) and the
callables keep 4, 4.

**Details.** The standard deviation is the population one (``ddof=0``).
An even number of values has as median the mean of the two middle
ones. Values equal to a bound are kept. NaN and ±inf in the input are
treated as missing, silently (astropy clips them too, with a warning):
they are ignored by the statistics, marked as rejected in ``mask`` and
never counted. A pixel with no value left is NaN with a count of 0.
Statistics are computed in float64 from the data values, exactly for
integer data, so they are astropy's to the last bit or within a few
units in the last place. That matters only when a value lies exactly
on a bound, which happens with small integers (ties): astropy then keeps
or rejects it depending on the rounding of its own sums, even on the
order of the frames. Such pixels are detected (a value within rounding
of a bound, unless both computations are provably exact) and their
bounds are taken from ``astropy.stats.sigma_clip`` itself, so that the
results agree exactly. (The numba kernels hand such pixels, about one in
ten thousand of the course's bias frames, to the numpy engine.)

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
    ``lower <= v <= upper``), a NaN bound being -inf or +inf (astropy
    rejects nothing on that side then). Every path of both engines takes
    its bounds from here.

    Examples
    --------
    >>> [float(b) for b in sigma_bounds(5.0, 2.0, 1.0, 3.0)]
    [3.0, 11.0]
    >>> [float(b) for b in sigma_bounds(np.inf, np.inf, 3.0, 3.0)]  # inf - inf: keeps everything
    [-inf, inf]
    """
    # A bound that is NaN (statistics beyond float64's range: inf - inf) rejects
    # nothing on its side in astropy, as no comparison with NaN is true: -inf or +inf.
    return np.fmax(centre - sigma_lower * std, -np.inf), np.fmin(centre + sigma_upper * std, np.inf)


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
