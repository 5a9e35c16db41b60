"""Combine a stack of calibration frames, fast and in bounded memory.

Three public functions:

* :func:`combine` median- or mean-combines frames, optionally after
  sigma-clipping each frame against its own statistics (``clip='frame'``)
  or each pixel along the stack (``clip='pixel'``), with the results of
  :func:`astropy.stats.sigma_clip` followed by :func:`numpy.nanmedian` or
  :func:`numpy.nanmean`;
* :func:`read_stack` reads FITS files straight into one preallocated
  ``(N, ny, nx)`` array;
* :func:`prepare_kernels` makes the compiled kernels ready before they are
  needed (say, before timing :func:`combine`).

Every input first goes through one front door (:mod:`course_utils._inputs`:
masks, byte order, wide integers, units, file names), then to one of two
engines that compute the same results (:mod:`course_utils._engines`): numba
kernels, used when numba can be imported, and a pure-numpy engine, which
also settles the rare pixels the kernels cannot decide exactly (a value on a
clipping bound, by the one numerical model of
:mod:`course_utils._engines.model`) and runs the calls whose kernel numba is
still compiling in the background. The ``backend`` argument of
:func:`combine`, or the environment variable ``COURSE_UTILS_BACKEND``,
chooses; the logger ``course_utils.combine`` says which ran.

Examples
--------
>>> import numpy as np
>>> from course_utils import combine
>>> frames = [np.full((2, 3), 817, dtype=np.uint16) for _ in range(5)]
>>> frames[2][0, 0] = 4000                      # a cosmic ray
>>> combine(frames, method="mean")              # the plain mean is hit
array([[1453.6,  817. ,  817. ],
       [ 817. ,  817. ,  817. ]], dtype=float32)
>>> combine(frames, method="mean", clip="pixel", stdfunc="mad_std")
array([[817., 817., 817.],
       [817., 817., 817.]], dtype=float32)

Among only five values, the cosmic ray inflates the standard deviation so
much that it lies 2.5 standard deviations from the median, inside a 3-sigma
clip (``stdfunc="std"`` keeps it); the median absolute deviation (scaled to
a standard deviation by ``stdfunc="mad_std"``) ignores it, so it is clipped.
"""

from __future__ import annotations

import logging
import math
from numbers import Integral, Real
from typing import Callable, Literal

import numpy as np
import numpy.typing as npt

from ._engines import warmup as _warmup
from ._engines.choice import BACKEND_ENV, _backend, _kernels_for
from ._engines.clip import ClipParams
from ._engines.frames import MIN_MEMORY, Job, Outputs, _Frames
from ._engines.numba_engine import _kind, _load_kernels, _run_numba
from ._engines.numpy_engine import _frame_bounds, _run_numpy
from ._engines.weighted import checked_weights, weighted_combine
from ._inputs import canonical, reject_extrema, scale_frames
from .fits_frames import read_stack

__all__ = ["combine", "prepare_kernels", "read_stack", "log", "BACKEND_ENV", "MIN_MEMORY"]

#: Reports, at DEBUG level, which engine each combine() call ran on: each
#: record has the attributes ``engine`` ('numba' or 'numpy') and ``settled``
#: (pixels the numba kernels handed to the numpy engine).
log = logging.getLogger("course_utils.combine")

_METHODS = ("median", "mean", "sum")
_CLIPS = (None, "frame", "pixel")
_CENFUNCS = ("median", "mean")
_STDFUNCS = ("std", "mad_std")

#: Largest working memory planned with (a larger memory_limit, even inf, means this).
MAX_MEMORY = float(2**50)


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


def _choice(name, value, allowed):
    if isinstance(value, str) or value is None:
        if value in allowed:
            return value
    elif callable(value) and name in ("cenfunc", "stdfunc"):
        raise ValueError(
            f"{name} must be one of {allowed}, not a function: combine() reproduces astropy's "
            "fast path, which only exists for these names"
        )
    raise ValueError(f"{name}={value!r} is not supported; use one of {allowed}")


def _positive(name, value, optional=False):
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _clip_params(*, cenfunc, stdfunc, sigma, sigma_lower, sigma_upper, maxiters) -> ClipParams:
    """combine()'s clipping options, checked (ValueError naming the option)."""
    cenfunc = _choice("cenfunc", cenfunc, _CENFUNCS)
    stdfunc = _choice("stdfunc", stdfunc, _STDFUNCS)
    sigma = _positive("sigma", sigma)
    sigma_lower = _positive("sigma_lower", sigma_lower, optional=True)
    sigma_upper = _positive("sigma_upper", sigma_upper, optional=True)
    if maxiters is not None and (
        isinstance(maxiters, bool) or not isinstance(maxiters, Integral) or maxiters < 1
    ):
        raise ValueError(f"maxiters must be a whole number >= 1 or None, got {maxiters!r}")
    return ClipParams(
        sigma_lower=sigma if sigma_lower is None else sigma_lower,
        sigma_upper=sigma if sigma_upper is None else sigma_upper,
        maxiters=-1 if maxiters is None else int(maxiters),
        use_median=cenfunc == "median",
        use_mad_std=stdfunc == "mad_std",
    )


def _how_many(name, value) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
        raise ValueError(f"{name} must be a whole number >= 0, got {value!r}")
    return int(value)


def _flag(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


# ---------------------------------------------------------------------------
# Combining
# ---------------------------------------------------------------------------


def combine(
    frames,
    method: Literal["median", "mean", "sum"] = "median",
    clip: Literal["frame", "pixel"] | None = None,
    sigma: float = 3.0,
    sigma_lower: float | None = None,
    sigma_upper: float | None = None,
    maxiters: int | None = 5,
    cenfunc: Literal["median", "mean"] = "median",
    stdfunc: Literal["std", "mad_std"] = "std",
    return_count: bool = False,
    return_mask: bool = False,
    memory_limit: float | None = None,
    progress: bool | None = None,
    backend: Literal["auto", "numba", "numpy"] = "auto",
    nlow: int = 0,
    nhigh: int = 0,
    scale: Callable[[np.ndarray], float] | npt.ArrayLike | None = None,
    weights: npt.ArrayLike | None = None,
) -> np.ndarray | tuple[np.ndarray, ...]:
    """Median- or mean-combine frames, optionally sigma-clipped, fast.

    The result equals the "astropy route" — ``sigma_clip(stack, ...,
    masked=False)`` with ``cenfunc``/``stdfunc`` given as strings, then
    ``np.nanmedian`` or ``np.nanmean`` along the stack — to floating-point
    rounding, including ties, even numbers of values and fully clipped
    pixels, at a fraction of its time and memory.

    Parameters
    ----------
    frames : list of 2-D arrays, 3-D array, or list of FITS paths
        The frames to combine: a list (or tuple) of 2-D arrays of one shape
        (masked arrays, Quantities and ``CCDData`` objects too), a 3-D array
        ``(N, ny, nx)``, or FITS file names (a list of str or
        `pathlib.Path`, or an array or astropy ``Column`` of names), which
        are read into one preallocated stack with :func:`read_stack`. Any
        N >= 1. See "Inputs" in the Notes for masks, units and data types.
    method : {'median', 'mean', 'sum'}, optional
        How the values kept at each pixel are combined. Default 'median'.
        ``'sum'`` is the sum of the kept values only, as
        ``ccdproc.Combiner.sum_combine``: values that are missing, masked or
        rejected add nothing and are not replaced (for a sum scaled to all
        N frames, use the mean times N). It is float64 whatever the input
        (sums of 16-bit frames exceed float32's exact integers), computed
        as the mean times the count (exact for integer data), and NaN
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
        ValueError naming the pixel. Only ratios of weights matter for a
        mean, so weights of any size (1e-320 or 1e308) work. ccdproc
        divides by the weights of *all* the values, rejected ones too, so
        its weighted means differ where values were rejected. It costs a
        rejection mask as large as the stack in bytes. Default None: equal
        weights.

    Returns
    -------
    combined : ndarray or Quantity, shape (ny, nx)
        float32 for integer and float32 input, float64 for float64 input
        (and for ``method='sum'``).
        NaN where no value is left (all rejected or missing). A
        `~astropy.units.Quantity` in the frames' unit when they had one.
    count : ndarray of int, shape (ny, nx)
        Only with ``return_count=True``: values kept at each pixel (0 where
        ``combined`` is NaN).
    mask : ndarray of bool, shape (N, ny, nx)
        Only with ``return_mask=True``: True where a value was rejected.

    With ``return_count`` and/or ``return_mask`` the result is a tuple
    ``(combined, count, mask)`` holding just the requested parts, in that
    order.

    Raises
    ------
    ValueError
        No frames, a single 2-D array (pass a list or a 3-D stack), frames
        of different shapes (the message names the frame or file and both
        shapes), an unknown option, a bad number, a bad scale factor (the
        message names the frame) or bad weights.
    TypeError
        Data that are not integer or floating-point numbers.
    FileNotFoundError
        A FITS file that does not exist.
    OSError
        A FITS file that cannot be read (the message names it).
    ImportError
        ``backend='numba'`` without a usable numba.

    See Also
    --------
    read_stack : read FITS files into one array.
    astropy.stats.sigma_clip, numpy.nanmedian, ccdproc.combine

    Notes
    -----
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
    compiled yet runs on the numpy engine and starts a background Python
    process (at a low priority; one at a time, other kinds queued) that
    compiles the kernel into the cache;
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
    >>> from course_utils import combine
    >>> rng = np.random.default_rng(0)
    >>> stack = rng.normal(817, 4, size=(40, 50, 60)).astype(np.float32)
    >>> stack[7, 10, 20] = 60000                     # a cosmic ray
    >>> master, count = combine(stack, method="mean", clip="pixel", return_count=True)
    >>> master.dtype, master.shape, int(count[10, 20]), int(count[0, 0])
    (dtype('float32'), (50, 60), 39, 40)
    >>> bool(abs(master[10, 20] - 817) < 3)
    True

    Flats of different brightness, each scaled to a median of 1 before
    they are clipped against each other and combined:

    >>> flats = rng.normal(1, 0.01, size=(5, 50, 60)) * [[[9000]], [[12000]], [[15000]], [[7000]], [[8000]]]
    >>> flat = combine(flats, clip="pixel", scale=lambda f: 1 / np.nanmedian(f))
    >>> bool(abs(np.median(flat) - 1) < 0.001)
    True

    Median of three frames, without clipping (even and odd numbers work):

    >>> combine([np.zeros((1, 2)), np.ones((1, 2)), np.full((1, 2), 5.0)])
    array([[1., 1.]])
    """
    method = _choice("method", method, _METHODS)
    clip = _choice("clip", clip, _CLIPS)
    params = _clip_params(cenfunc=cenfunc, stdfunc=stdfunc, sigma=sigma, sigma_lower=sigma_lower,
                          sigma_upper=sigma_upper, maxiters=maxiters)
    nlow = _how_many("nlow", nlow)
    nhigh = _how_many("nhigh", nhigh)
    return_count = _flag("return_count", return_count)
    return_mask = _flag("return_mask", return_mask)
    if memory_limit is not None and (isinstance(memory_limit, bool) or not isinstance(memory_limit, Real)
                                     or not memory_limit >= MIN_MEMORY):
        raise ValueError(
            f"memory_limit must be a number of bytes >= {MIN_MEMORY} (4 MiB), got {memory_limit!r}")
    if progress is not None and not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress must be True, False or None, got {progress!r}")
    backend = _backend(backend)

    canon = canonical(frames, progress)
    src = _Frames(canon.frames)  # (named errors: no frames, mixed shapes, not numbers)
    total = method == "sum"  # the mean times the count
    if total:
        method = "mean"
    if scale is not None:
        canon = scale_frames(canon, scale, np.finfo(np.float64 if total else canon.out_dtype).max)
    if nlow or nhigh:
        canon = reject_extrema(canon, nlow, nhigh)
    if canon.owned:
        src = _Frames(canon.frames)
    if weights is not None:
        if not total and method != "mean":
            raise ValueError(
                "weights= applies to method='mean' and 'sum' only; a median is not weighted "
                "(ccdproc ignores weights for a median)")
        weights = checked_weights(weights, src.n, src.shape)
    kind = _kind(clip, src.dtype)
    kernels = _kernels_for(backend, clip, params, kind)

    n = src.n
    ny, nx = src.shape
    out = np.empty((ny, nx), dtype=np.float64 if total else canon.out_dtype)
    count = np.empty((ny, nx), dtype=np.intp) if return_count or total else None
    mask = np.empty((n, ny, nx), dtype=bool) if return_mask or weights is not None else None

    # No more than the computer could have: an infinite limit means "no limit".
    budget = min(memory_limit, MAX_MEMORY) if memory_limit is not None else max(n * ny * nx, MIN_MEMORY)
    lower = upper = None
    if clip == "frame":
        lower, upper = _frame_bounds(src, params, budget, kernels)

    outputs = Outputs(out, count, mask)
    job = Job(method, clip, params, lower, upper)
    if kernels is None:
        _run_numpy(src, job, outputs, budget)
        settled = 0
    else:
        settled = _run_numba(kernels, src, job, outputs, budget)
        _warmup.mark_ready(kind)
    engine = "numpy" if kernels is None else "numba"
    log.debug("combine() ran on the %s engine (%d pixel(s) settled by the numpy engine)",
              engine, settled, extra={"engine": engine, "settled": settled})

    if weights is not None:
        weighted_combine(src, mask, weights, total, out, budget)
    elif total:
        out = _sum(out, count, canon.integer)
    if canon.unit is not None:
        from astropy.units import Quantity

        out = Quantity(out, canon.unit, copy=False)
    if not (return_count or return_mask):
        return out
    return (out,) + ((count,) if return_count else ()) + ((mask,) if return_mask else ())


def _sum(mean: np.ndarray, count: np.ndarray, integer: bool) -> np.ndarray:
    """The sums of the kept values, from their float64 means and counts.

    ``fl(fl(s / n) * n)`` is within a unit in the last place of ``s``; for
    integer data the sum is an integer, so rounding gives it exactly (below
    2**52).
    """
    with np.errstate(invalid="ignore", over="ignore"):  # (NaN where nothing is kept)
        total = mean * count
    return np.rint(total, out=total) if integer else total


def prepare_kernels(dtype: npt.DTypeLike = np.uint16) -> str:
    """Make :func:`combine`'s compiled kernels for data of ``dtype`` ready, and wait for them.

    By default :func:`combine` never waits for numba: until its kernels are
    compiled (in a background process, a few seconds after the first call
    that needs them), it runs on the numpy engine. Call this first when
    the kernels themselves should run from the start, for example before
    timing :func:`combine`. It compiles the kernels for every ``clip`` mode
    (or loads them from numba's cache), waiting for a background
    compilation already under way rather than repeating it.

    How long: with numba's cache already filled, a few tenths of a second.
    With an empty cache (a fresh Colab runtime) each of the two kernels
    compiles for 2 to 6 seconds on an idle 2-core machine, and up to 15
    seconds each on a busy one (11.5 s in all was measured on a shared
    machine): count on 5 to 30 seconds.

    Parameters
    ----------
    dtype : data-type, optional
        The type of the frames to be combined (default uint16, raw CCD
        frames). One compilation serves 8- and 16-bit integers, another
        float16 and float32, a third any other type (and every call with
        ``scale=``, whose scaled frames are float64).

    Returns
    -------
    str
        ``'numba'`` once the kernels are ready, or ``'numpy'`` if numba is
        not installed or not usable, so that :func:`combine` runs on its
        numpy engine (then this returns at once).

    Raises
    ------
    ValueError
        If ``dtype`` is not a type of numbers.

    Examples
    --------
    >>> import numpy as np
    >>> from course_utils.combining import prepare_kernels
    >>> engine = prepare_kernels(np.float32)  # 5 to 30 s the first time, then < 1 s
    >>> engine in ("numba", "numpy")
    True
    """
    try:
        dtype = np.dtype(dtype)
    except TypeError as exc:
        raise ValueError(f"dtype={dtype!r} is not a data type: {exc}") from None
    if dtype.kind not in "uif":
        raise ValueError(
            f"dtype={dtype} is not a type of numbers; combine() takes integer or floating-point "
            "frames, e.g. np.uint16 or np.float32"
        )
    if _load_kernels() is None:
        return "numpy"
    for clip in ("pixel", "frame"):  # waits for a background process at it, or compiles here
        combine(np.zeros((3, 2, 2), dtype=dtype), clip=clip, backend="numba")
    return "numba"
