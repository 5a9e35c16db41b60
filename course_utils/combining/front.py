"""The front door of :func:`combine`: options checked, the input made canonical, an engine run.

Every input first goes through :mod:`.inputs` (masks, byte order, wide
integers, units, file names, scaling, extrema), then to one of two engines
that compute the same results: the numba kernels (:mod:`.numba_engine`),
used when numba can be imported and its JIT is on, and the numpy engine
(:mod:`.numpy_engine`), which also settles the pixels the kernels cannot
decide exactly. :mod:`.choice` picks the engine; the logger
``course_utils.combine`` says which ran. The full rules of agreement with
astropy and ccdproc are in :mod:`.model`.
"""

from __future__ import annotations

import logging
import math
from functools import partial
from numbers import Integral, Real
from typing import Callable, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from . import warmup
from .choice import chosen_backend, kernels_for, start_compiling
from .clipping import ClipParams
from .frames import MIN_MEMORY, ExtremaFrames, Frames, Job, Outputs, ScaledFrames
from .fits_frames import FileFrames
from .inputs import canonical, missing_type, reject_extrema, scale_factors, scaled_band
from .numba_engine import jit_disabled, kernel_kind, load_kernels, run_numba
from .numpy_engine import all_frame_bounds, run_numpy
from .weighted import checked_weights, kept_sums

__all__ = ["combine", "prepare_kernels", "log"]

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
    hdu: int | str | None = None,
) -> np.ndarray | tuple[np.ndarray, ...]:
    """Median- or mean-combine a stack of frames, optionally sigma-clipped.

    The result is what astropy gives (``sigma_clip(stack, axis=0 or (1, 2),
    masked=False)``, then ``np.nanmedian`` or ``np.nanmean`` along the
    stack), to floating-point rounding, in a fraction of its time and
    memory. The full rules (inputs, ties, engines, memory, ccdproc) are in
    :mod:`course_utils.combining.model`.

    Parameters
    ----------
    frames : list of 2-D arrays, 3-D array, or list of FITS file names
        The frames: arrays of one shape (masked arrays, Quantities and
        ``CCDData`` too; masked values, NaN and ±inf are left out), an
        ``(N, ny, nx)`` array, or file names (str, bytes or `pathlib.Path`),
        read as :func:`read_stack` does (a band of rows at a time).
    method : {'median', 'mean', 'sum'}
        How the kept values of each pixel are combined. ``'sum'`` adds the
        kept values only (as ``np.nansum`` does, in float64).
    clip : {None, 'frame', 'pixel'}
        Sigma clipping first: none, each frame against its own statistics
        (cosmic rays, hot pixels), or each pixel along the stack.
    sigma, sigma_lower, sigma_upper : float
        Clipping thresholds in standard deviations (default 3 on both sides).
    maxiters : int or None
        At most this many clipping iterations (None: until nothing changes).
    cenfunc : {'median', 'mean'}
        Centre of the clipping interval.
    stdfunc : {'std', 'mad_std'}
        Width of the clipping interval.
    return_count, return_mask : bool
        Also return the number of values kept at each pixel, and the
        rejection mask (True where a value was not kept).
    memory_limit : float or None
        Working memory to stay within, in bytes (at least 4 MiB).
    progress : bool or None
        Progress bar when reading files (None: from 10 files on).
    backend : {'auto', 'numba', 'numpy'}
        The engine (same results). 'auto' uses numba's compiled kernels when
        they are ready and the numpy engine otherwise; the environment
        variable ``COURSE_UTILS_BACKEND`` overrides it.
    nlow, nhigh : int
        Leave out the ``nlow`` lowest and ``nhigh`` highest values of each
        pixel before clipping (ccdproc's ``clip_extrema``).
    scale : callable, sequence of float, or None
        Multiply each frame by a factor first: N numbers, or a function of
        a frame, e.g. ``lambda f: 1 / np.nanmedian(f)`` for flats.
    weights : sequence of float, ndarray, or None
        Weights of a weighted mean or sum (``method='mean'`` or ``'sum'``):
        one per frame, or one per value. The result is
        ``np.ma.average(clipped, weights=w, axis=0)``.
    hdu : int, str or None
        For file names: the HDU that holds the image (index or EXTNAME).
        None (default): the first HDU with an image, e.g. extension 1 of a
        compressed (``CompImageHDU``) file.

    Returns
    -------
    combined : ndarray, shape (ny, nx)
        float32 (float64 for float64 frames and for ``method='sum'``), NaN
        where no value is kept; a Quantity if the frames had a unit.
    count : ndarray of int, shape (ny, nx)
        With ``return_count=True``: the values kept at each pixel.
    mask : ndarray of bool, shape (N, ny, nx)
        With ``return_mask=True``: True where a value was rejected.

    Raises
    ------
    ValueError, TypeError, OSError, FileNotFoundError, ImportError
        With a message naming the cause (and the file or frame).

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
    """
    method = _choice("method", method, _METHODS)
    clip = _choice("clip", clip, _CLIPS)
    params = _clip_params(cenfunc=cenfunc, stdfunc=stdfunc, sigma=sigma, sigma_lower=sigma_lower,
                          sigma_upper=sigma_upper, maxiters=maxiters)
    nlow = _how_many("nlow", nlow)
    nhigh = _how_many("nhigh", nhigh)
    return_count = _flag("return_count", return_count)
    return_mask = _flag("return_mask", return_mask)
    _check_memory_and_progress(memory_limit, progress)
    backend = chosen_backend(backend)

    # Files are read a band of rows at a time where every band is combined on its own.
    canon = canonical(frames, progress, hdu, banded=clip != "frame" and scale is None)
    src = canon.frames if isinstance(canon.frames, FileFrames) else Frames(canon.frames)
    # (Frames(): named errors for no frames, mixed shapes, not numbers)
    total = method == "sum"
    if total:
        method = "mean"  # (the engines compute the mean; the sum is made below)
    factors = None
    if scale is not None:
        limit = np.finfo(np.float64 if total else canon.out_dtype).max
        factors = scale_factors(canon, scale, limit)
    if weights is not None:
        if not total and method != "mean":
            raise ValueError(
                "weights= applies to method='mean' and 'sum' only; a median is not weighted "
                "(ccdproc ignores weights for a median)")
        weights = checked_weights(weights, src.n, src.shape)
    # The type the engines get: scaled frames are float64; without their
    # extremes, frames are floats (NaN where left out).
    dtype = np.dtype(np.float64) if factors is not None else src.dtype
    if nlow or nhigh:
        dtype = missing_type(dtype)
    # Sums of integers of up to 16 bits are exact as the mean times the count;
    # any other sum, and weighted means, add the kept values again.
    direct = weights is not None or (total and dtype.kind not in "ui")

    n = src.n
    ny, nx = src.shape
    out = np.empty((ny, nx), dtype=np.float64 if total else canon.out_dtype)
    count = np.empty((ny, nx), dtype=np.intp) if return_count or total else None
    mask = np.empty((n, ny, nx), dtype=bool) if return_mask else None
    # No more than the computer could have: an infinite limit means "no limit".
    budget = min(memory_limit, MAX_MEMORY) if memory_limit is not None else max(n * ny * nx, MIN_MEMORY)
    whole = src if factors is None else ScaledFrames(src, factors, scaled_band)
    if nlow or nhigh:
        whole = ExtremaFrames(whole, dtype, partial(reject_extrema, nlow=nlow, nhigh=nhigh),
                              whole=clip == "frame", budget=budget)
    task = _Task(method, clip, params, Outputs(out, count, mask), budget,
                 (weights, total) if direct else None)
    _run_engine(backend, whole, task)
    if total and not direct:
        out = _sum(out, count)
    if canon.unit is not None:
        from astropy.units import Quantity

        out = Quantity(out, canon.unit, copy=False)
    if not (return_count or return_mask):
        return out
    return (out,) + ((count,) if return_count else ()) + ((mask,) if return_mask else ())


def _check_memory_and_progress(memory_limit, progress) -> None:
    if memory_limit is not None and (isinstance(memory_limit, bool) or not isinstance(memory_limit, Real)
                                     or not memory_limit >= MIN_MEMORY):
        raise ValueError(
            f"memory_limit must be a number of bytes >= {MIN_MEMORY} (4 MiB), got {memory_limit!r}")
    if progress is not None and not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress must be True, False or None, got {progress!r}")


_jit_warned = []


class _Task(NamedTuple):
    """One combine() call as the engines run it."""

    method: str
    clip: str | None
    params: ClipParams
    outputs: Outputs  # the whole image's
    budget: float
    sums: tuple | None  # (weights, total): kept_sums() after the engine, with its mask


def _run_engine(backend: str, src: Frames | ScaledFrames | FileFrames, task: _Task) -> None:
    """Run the chosen engine into ``task.outputs``, a band of rows at a time if need be, and log which ran."""
    kind = kernel_kind(task.clip, src.dtype)
    kernels = kernels_for(backend, task.clip, task.params, kind)
    reason = ""
    if kernels is None and backend != "numpy" and jit_disabled():
        reason = " (numba's JIT is disabled by NUMBA_DISABLE_JIT: its kernels are not used)"
        if not _jit_warned:  # once per process
            _jit_warned.append(True)
            log.warning("combine() runs on its numpy engine: numba's JIT is disabled "
                        "(NUMBA_DISABLE_JIT=1), and uncompiled kernels would be slow and inexact")
    lower = upper = None
    if task.clip == "frame":
        lower, upper = all_frame_bounds(src, task.params, task.budget, kernels)
    job = Job(task.method, task.clip, task.params, lower, upper)
    out, count, mask = task.outputs
    n, nx = src.n, src.shape[1]
    bands, budget = _plan_bands(src, task)
    settled = 0
    for r0, r1, part in _band_frames(src, bands):
        if mask is not None:
            part_mask = mask[:, r0:r1]
        elif task.sums is not None:
            part_mask = np.empty((n, r1 - r0, nx), dtype=bool)
        else:
            part_mask = None
        band = Outputs(out[r0:r1], None if count is None else count[r0:r1], part_mask)
        if kernels is None:
            run_numpy(part, job, band, budget)
        else:
            settled += run_numba(kernels, part, job, band, budget)
        if task.sums is not None:
            weights, total = task.sums
            if weights is not None and weights.shape[1] > 1:
                weights = weights[:, r0:r1]
            kept_sums(part, part_mask, weights, total, out[r0:r1], budget, first_row=r0)
        del part, part_mask  # (before the next band is made)
    if kernels is not None:
        warmup.mark_ready(kind)
    engine = "numpy" if kernels is None else "numba"
    log.debug("combine() ran on the %s engine (%d pixel(s) settled by the numpy engine)%s",
              engine, settled, reason, extra={"engine": engine, "settled": settled})
    if kernels is None:
        start_compiling(backend, task.clip, task.params, kind)


#: Frames made a band at a time (files, scale=) come in at least this many
#: bands, so that making one overlaps with combining another.
MIN_BANDS = 8


def _plan_bands(src, task: _Task) -> tuple[list[tuple[int, int]], float]:
    """The bands of rows ``(r0, r1)`` to combine in turn, and the engine's budget for each.

    Frames read from files (:class:`.FileFrames`) or scaled (``scale=``)
    are made a band of rows at a time, the next band while the engine
    combines the current one; weighted means and sums (``task.sums``) need
    the rejection mask of a band only. These copies hold no more than half
    the budget (the engine has the rest; a band has at least one row),
    whatever the stack's size.
    """
    n = src.n
    ny, nx = src.shape
    copy = getattr(src, "copy_bytes", 0)  # (2: the band combined and the next one)
    mask = task.sums is not None and task.outputs.mask is None
    per_row = n * nx * (2 * copy + (1 if mask else 0))
    rows = ny if per_row == 0 else int(max(1, min(ny, (task.budget / 2) // per_row)))
    if copy:
        rows = min(rows, max(1, -(-ny // MIN_BANDS)))
    budget = max(task.budget - rows * per_row, MIN_MEMORY) if per_row else task.budget
    bands = [(r0, min(ny, r0 + rows)) for r0 in range(0, max(ny, 1), max(rows, 1))]
    return bands, budget  # (frames of 0 rows: one empty band)


def _band_frames(src, bands: list[tuple[int, int]]):
    """``(r0, r1, frames)`` of each band in turn: views of ``src``'s frames, or made while the one before is combined.

    Bands that ``src`` makes (:class:`.FileFrames`, :class:`.ScaledFrames`)
    are made in a thread, one ahead: reading memory-mapped files and numpy's
    arithmetic release the GIL, as the numba kernels do.
    """
    if not hasattr(src, "copy_bytes"):
        for r0, r1 in bands:
            yield r0, r1, src if (r0, r1) == (0, src.shape[0]) else src.rows(r0, r1)
        return
    from concurrent.futures import ThreadPoolExecutor

    # Files are read into two buffers in turn (fresh memory for every band
    # would cost the system as much again as reading it).
    buffers = []
    if isinstance(src, FileFrames) and bands:
        rows = max(r1 - r0 for r0, r1 in bands)
        buffers = [np.empty((src.n, rows, src.shape[1]), dtype=src.dtype) for _ in range(min(2, len(bands)))]

    def make(k):
        r0, r1 = bands[k]
        if not buffers:
            return src.rows(r0, r1)
        shape = (src.n, r1 - r0, src.shape[1])  # (the first values of the buffer: C-contiguous)
        return src.rows(r0, r1, buffers[k % 2].reshape(-1)[:math.prod(shape)].reshape(shape))

    with ThreadPoolExecutor(1, thread_name_prefix="course_utils-bands") as pool:
        ahead = pool.submit(make, 0)
        for k in range(len(bands)):
            part = ahead.result()  # (band k; band k - 1, in the other buffer, is done with)
            ahead = pool.submit(make, k + 1) if k + 1 < len(bands) else None
            yield bands[k] + (part,)
            del part  # (only the band being combined and the next one are held)


def _sum(mean: np.ndarray, count: np.ndarray) -> np.ndarray:
    """The sums of kept integers (of up to 16 bits), from their float64 means and counts.

    ``fl(fl(s / n) * n)`` is within a unit in the last place of ``s``, an
    integer below 2**52, so rounding gives it exactly: ``np.nansum``'s.
    """
    with np.errstate(invalid="ignore", over="ignore"):  # (NaN where nothing is kept)
        total = mean * count
    return np.rint(total, out=total)


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
    if load_kernels() is None:
        return "numpy"
    for clip in ("pixel", "frame"):  # waits for a background process at it, or compiles here
        combine(np.zeros((3, 2, 2), dtype=dtype), clip=clip, backend="numba")
    return "numba"
