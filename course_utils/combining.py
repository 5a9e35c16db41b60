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

Two engines compute the same results: numba kernels
(:mod:`course_utils._kernels`), used when numba can be imported, and a
pure-numpy engine (:mod:`course_utils._clip`), which also settles the rare
pixels the kernels cannot decide exactly (a value on a clipping bound), and
runs the calls whose kernel numba is still compiling in the background
(:mod:`course_utils._warmup`). The ``backend`` argument of :func:`combine`,
or the environment variable ``COURSE_UTILS_BACKEND``, chooses.

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
import os
import sys
from numbers import Integral, Real
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import numpy.typing as npt

from . import _warmup
from ._inputs import canonical
from .fits_frames import PathLike, read_stack
from ._clip import ClipParams, FrameKernel, PixelKernel, PlainKernel, frame_bounds

__all__ = ["combine", "prepare_kernels", "read_stack", "log"]

#: Reports, at DEBUG level, which engine each combine() call ran on: each
#: record has the attributes ``engine`` ('numba' or 'numpy') and ``settled``
#: (pixels the numba kernels handed to the numpy engine).
log = logging.getLogger("course_utils.combine")

_METHODS = ("median", "mean")
_CLIPS = (None, "frame", "pixel")
_CENFUNCS = ("median", "mean")
_STDFUNCS = ("std", "mad_std")

#: Smallest working memory combine() will plan with, in bytes.
MIN_MEMORY = 4 * 2**20
#: Largest working memory planned with (a larger memory_limit, even inf, means this).
MAX_MEMORY = float(2**50)
#: Largest tile, in values (pixels x frames), clipped and combined at once.
_TILE_VALUES = 1 << 21
#: Values copied and sorted at a time: a chunk stays in the CPU's cache.
_CHUNK_VALUES = 1 << 17
#: Threads copying and sorting the chunks of a tile (numpy releases the GIL
#: for that); the clipping runs in the calling thread.
_MAX_THREADS = 2


# ---------------------------------------------------------------------------
# The frames to combine
# ---------------------------------------------------------------------------


class _Frames:
    """N frames of one shape, as a 3-D array or a list of 2-D arrays."""

    def __init__(self, frames):
        self.stack = None
        if isinstance(frames, np.ndarray):
            if frames.ndim == 2:
                raise ValueError(
                    f"Got one 2-D frame of shape {frames.shape}; combine() needs a stack: "
                    "pass a list of 2-D frames or a 3-D array (N, ny, nx)"
                )
            if frames.ndim != 3:
                raise ValueError(
                    f"Expected a 3-D stack (N, ny, nx) or a list of 2-D frames; got a "
                    f"{frames.ndim}-D array of shape {frames.shape}"
                )
            if frames.shape[0] == 0:
                raise ValueError("No frames to combine: the stack is empty")
            self.stack = frames
            self.list = list(frames)
            self.dtype = frames.dtype
        else:
            self.list = []
            for i, f in enumerate(frames):
                a = np.asarray(getattr(f, "data", f)) if not isinstance(f, np.ndarray) else f
                if a.ndim != 2:
                    raise ValueError(
                        f"Frame {i} has {a.ndim} dimension(s) (shape {a.shape}); "
                        "every frame must be a 2-D image"
                    )
                if self.list and a.shape != self.list[0].shape:
                    raise ValueError(
                        f"Frame {i} has shape {a.shape}, but frame 0 has shape "
                        f"{self.list[0].shape}; all frames must have the same shape"
                    )
                self.list.append(a)
            if not self.list:
                raise ValueError("No frames to combine: got an empty list")
            self.dtype = np.result_type(*[f.dtype for f in self.list])
        if self.dtype.kind not in "uif":
            raise TypeError(
                f"Frames must hold integer or floating-point numbers; got data type "
                f"{self.dtype} ({self.dtype.kind!r}). Convert them, e.g. frames.astype(np.float32)"
            )
        self.n = len(self.list)
        self.shape = self.list[0].shape

    def gather(self, out: np.ndarray, r0: int, r1: int, c0: int, c1: int) -> None:
        """Fill ``out`` (pixels, N) with the pixels of a block, one frame per column."""
        view = out.reshape(r1 - r0, c1 - c0, self.n)
        if self.stack is not None:
            view[...] = self.stack[:, r0:r1, c0:c1].transpose(1, 2, 0)
        else:
            for i, f in enumerate(self.list):
                view[:, :, i] = f[r0:r1, c0:c1]

    def blocks(self, r0: int, r1: int, c0: int, c1: int):
        """The block of every frame (views)."""
        if self.stack is not None:
            return self.stack[:, r0:r1, c0:c1]
        return [f[r0:r1, c0:c1] for f in self.list]

    def extremes(self, block) -> tuple[np.ndarray, np.ndarray]:
        """Smallest and largest value of each pixel of a block, as float64 (flat)."""
        blocks = self.blocks(*block)
        if self.stack is not None:
            low, high = blocks.min(axis=0), blocks.max(axis=0)
        else:
            low, high = blocks[0].copy(), blocks[0].copy()
            for blk in blocks[1:]:
                np.minimum(low, blk, out=low)
                np.maximum(high, blk, out=high)
        return low.reshape(-1).astype(np.float64), high.reshape(-1).astype(np.float64)

    def pixels(self, block, index: np.ndarray) -> np.ndarray:
        """Float64 values (len(index), N), in frame order, of some pixels of a block."""
        out = np.empty((index.size, self.n))
        for i, blk in enumerate(self.blocks(*block)):
            out[:, i] = blk.reshape(-1)[index]
        out[~np.isfinite(out)] = np.nan
        return out


def _work_dtype(dtype: np.dtype) -> np.dtype:
    """Type of the sorted tiles: exact for the input, as small as possible."""
    if dtype.kind in "ui" and dtype.itemsize <= 2:
        return dtype  # sorted as integers: faster, and no NaN to handle
    if dtype.kind == "f" and dtype.itemsize <= 4:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _out_dtype(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.float64) if dtype.kind == "f" and dtype.itemsize >= 8 else np.dtype(np.float32)


def _tiles(ny: int, nx: int, pixels: int):
    """Blocks (r0, r1, c0, c1) of about ``pixels`` pixels: whole rows, or pieces of a row."""
    if nx <= pixels:
        step = max(1, pixels // max(nx, 1))
        for r0 in range(0, ny, step):
            yield r0, min(ny, r0 + step), 0, nx
    else:
        for r in range(ny):
            for c0 in range(0, nx, pixels):
                yield r, r + 1, c0, min(nx, c0 + pixels)


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


def _flag(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


# ---------------------------------------------------------------------------
# Combining
# ---------------------------------------------------------------------------


def combine(
    frames,
    method: Literal["median", "mean"] = "median",
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
    method : {'median', 'mean'}, optional
        How the values kept at each pixel are combined. Default 'median'.
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

    Returns
    -------
    combined : ndarray or Quantity, shape (ny, nx)
        float32 for integer and float32 input, float64 for float64 input.
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
        shapes), an unknown option, or a bad number.
    TypeError
        Data that are not integer or floating-point numbers.
    FileNotFoundError
        A FITS file that does not exist.
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

    Median of three frames, without clipping (even and odd numbers work):

    >>> combine([np.zeros((1, 2)), np.ones((1, 2)), np.full((1, 2), 5.0)])
    array([[1., 1.]])
    """
    method = _choice("method", method, _METHODS)
    clip = _choice("clip", clip, _CLIPS)
    cenfunc = _choice("cenfunc", cenfunc, _CENFUNCS)
    stdfunc = _choice("stdfunc", stdfunc, _STDFUNCS)
    sigma = _positive("sigma", sigma)
    sigma_lower = _positive("sigma_lower", sigma_lower, optional=True)
    sigma_upper = _positive("sigma_upper", sigma_upper, optional=True)
    if maxiters is not None and (
        isinstance(maxiters, bool) or not isinstance(maxiters, Integral) or maxiters < 1
    ):
        raise ValueError(f"maxiters must be a whole number >= 1 or None, got {maxiters!r}")
    return_count = _flag("return_count", return_count)
    return_mask = _flag("return_mask", return_mask)
    if memory_limit is not None:
        if isinstance(memory_limit, bool) or not isinstance(memory_limit, Real) or not memory_limit >= MIN_MEMORY:
            raise ValueError(
                f"memory_limit must be a number of bytes >= {MIN_MEMORY} (4 MiB), got {memory_limit!r}"
            )
    if progress is not None and not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress must be True, False or None, got {progress!r}")
    backend = _backend(backend)
    params = ClipParams(
        sigma_lower=sigma if sigma_lower is None else sigma_lower,
        sigma_upper=sigma if sigma_upper is None else sigma_upper,
        maxiters=-1 if maxiters is None else int(maxiters),
        use_median=cenfunc == "median",
        use_mad_std=stdfunc == "mad_std",
    )

    canon = canonical(frames, progress)
    src = _Frames(canon.frames)
    kind = _kind(clip, src.dtype)
    kernels = _kernels_for(backend, clip, params, kind)

    n = src.n
    ny, nx = src.shape
    out = np.empty((ny, nx), dtype=canon.out_dtype)
    count = np.empty((ny, nx), dtype=np.intp) if return_count else None
    mask = np.empty((n, ny, nx), dtype=bool) if return_mask else None

    # No more than the computer could have: an infinite limit means "no limit".
    budget = min(memory_limit, MAX_MEMORY) if memory_limit is not None else max(n * ny * nx, MIN_MEMORY)
    lower = upper = None
    if clip == "frame":
        lower, upper = _frame_bounds(src, params, budget, kernels)

    outputs = (out, count, mask)
    if kernels is None:
        _run_numpy(src, method, clip, params, lower, upper, outputs, budget)
        settled = 0
    else:
        settled = _run_numba(kernels, src, method, clip, params, lower, upper, outputs, budget)
        _warmup.mark_ready(kind)
    engine = "numpy" if kernels is None else "numba"
    log.debug("combine() ran on the %s engine (%d pixel(s) settled by the numpy engine)",
              engine, settled, extra={"engine": engine, "settled": settled})

    if canon.unit is not None:
        from astropy.units import Quantity

        out = Quantity(out, canon.unit, copy=False)
    if not (return_count or return_mask):
        return out
    return (out,) + ((count,) if return_count else ()) + ((mask,) if return_mask else ())


# ---------------------------------------------------------------------------
# Choosing the engine
# ---------------------------------------------------------------------------

#: Environment variable read when backend="auto": auto, numba or numpy.
BACKEND_ENV = "COURSE_UTILS_BACKEND"
_BACKENDS = ("auto", "numba", "numpy")

# The numba kernels, imported once, on first need: {"module": ..., "error": ...}.
_kernels_state: dict = {}


def _backend(backend) -> str:
    """The validated backend, with "auto" replaced by the environment's choice."""
    if not (isinstance(backend, str) and backend in _BACKENDS):
        raise ValueError(f"backend={backend!r} is not supported; use one of {_BACKENDS}")
    if backend == "auto":
        env = os.environ.get(BACKEND_ENV, "").strip().lower() or "auto"
        if env not in _BACKENDS:
            raise ValueError(
                f"The environment variable {BACKEND_ENV}={os.environ[BACKEND_ENV]!r} is not "
                f"one of {_BACKENDS}; unset it or correct it"
            )
        backend = env
    return backend


def _load_kernels():
    """The module of numba kernels, or None when numba is missing or unusable."""
    if not _kernels_state:
        import importlib

        try:
            # Importing numba can fail in many ways besides ImportError (a numba
            # built for another numpy, a broken llvmlite): all mean "no numba".
            module = importlib.import_module(f"{__package__}._kernels")
        except Exception as exc:  # noqa: BLE001
            _kernels_state.update(module=None, error=exc)
        else:
            _kernels_state.update(module=module, error=None)
    return _kernels_state["module"]


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
        float16 and float32, a third any other type.

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
    for kind in [_kind(clip, dtype) for clip in ("pixel", "frame")]:
        _warmup.compile_here(kind)  # waits for a background process at it, or compiles here
    return "numba"


def _kernels_for(backend: str, clip, params: ClipParams, kind: tuple[str, str]):
    """The numba kernels to use (backend "auto" or "numba"), or None for the numpy engine.

    With "auto", a kernel that is not compiled yet is compiled in a
    background process (:mod:`course_utils._warmup`) while this call uses
    the numpy engine; "numba" waits for such a process, then compiles (or
    loads from numba's cache) in this one.
    """
    if backend == "numpy" or (backend == "auto" and clip == "pixel" and params.use_mad_std):
        return None  # (no kernel for mad_std per pixel: numba is not even imported)
    if backend == "auto" and _warmup.status(kind) == "compiling":
        return None
    if backend == "numba":
        _warmup.claim(kind)  # unqueue it, or wait for its background process
    kernels = _load_kernels()
    if kernels is None and backend == "numba":
        error = _kernels_state["error"]
        raise ImportError(
            f"The numba engine of combine() (backend='numba', or {BACKEND_ENV}=numba) needs "
            f"numba, which could not be imported ({type(error).__name__}: {error}). Install it "
            "with `pip install numba` (or `pip install course_utils[fast]`), or use "
            "backend='auto' or 'numpy'."
        ) from error
    if clip == "pixel" and params.use_mad_std:
        return None
    return kernels


def _frame_bounds(src, params: ClipParams, budget: float, kernels) -> tuple[np.ndarray, np.ndarray]:
    """Each frame's clipping bounds (clip='frame'): astropy's, from all its finite values.

    With the numba kernels, 16-bit integer frames get their histograms from
    a kernel, in threads.
    """
    n = src.n
    lower = np.empty(n)
    upper = np.empty(n)
    # Pixels of a frame read at a time for its histogram or sums (8 bytes each).
    frame_chunk = int(min(1 << 18, max(1 << 12, budget // 32)))

    def one(i, counts=None):
        f = src.list[i]
        if (counts is not None and f.dtype.kind in "ui" and f.dtype.itemsize == 2
                and f.flags.c_contiguous and f.flags.aligned):  # read in place
            counts[...] = 0
            kernels.histogram16(f.reshape(-1).view(np.uint16), counts)
            lower[i], upper[i] = frame_bounds(f, params, frame_chunk, counts)
        else:
            lower[i], upper[i] = frame_bounds(f, params, chunk_pixels=frame_chunk)

    threads = max(1, min(_NUMBA_THREADS, _cpus(), n))
    if kernels is None or threads == 1 or n < 2:
        counts = None if kernels is None else np.empty(1 << 16, dtype=np.int64)
        for i in range(n):
            one(i, counts)
        return lower, upper
    import itertools
    from concurrent.futures import ThreadPoolExecutor

    ticket = itertools.count()
    one(next(ticket), np.empty(1 << 16, dtype=np.int64))  # compiles, in this thread only

    def worker():
        counts = np.empty(1 << 16, dtype=np.int64)
        for i in iter(ticket.__next__, None):
            if i >= n:
                return
            one(i, counts)

    with ThreadPoolExecutor(threads - 1) as pool:
        helpers = [pool.submit(worker) for _ in range(threads - 1)]
        worker()
        for h in helpers:
            h.result()
    return lower, upper


# ---------------------------------------------------------------------------
# The numpy engine
# ---------------------------------------------------------------------------


def _run_numpy(src, method, clip, params, lower, upper, outputs, budget) -> None:
    """Combine with the numpy engine (:mod:`course_utils._clip`) into ``outputs``."""
    out, count, mask = outputs
    n = src.n
    ny, nx = src.shape
    work = _work_dtype(src.dtype)
    threads = max(1, min(_MAX_THREADS, _cpus()))
    pixels = _tile_pixels(budget, n, ny * nx, work.itemsize)

    if clip == "frame":
        def make_kernel():
            return FrameKernel(src, method, lower, upper, mask is not None)
    elif clip == "pixel":
        def make_kernel():
            return PixelKernel(src, method, params)
    else:
        def make_kernel():
            return PlainKernel(src, method)

    stage = _Stage(src, make_kernel(), pixels, work)
    tiles = list(_tiles(ny, nx, pixels))
    if threads == 1 or len(tiles) * pixels < 4 * stage.chunk:
        for tile in tiles:
            stage.prepare(tile)
            stage.finish(tile, outputs)
    else:
        # A helper thread copies and sorts half the chunks of each tile
        # (numpy releases the GIL for that) while this one does the other
        # half; the clipping itself, many small steps, stays in this thread.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(threads - 1) as pool:
            for tile in tiles:
                stage.prepare(tile, pool)
                stage.finish(tile, outputs)


def _cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def _tile_pixels(budget: float, n: int, npix: int, itemsize: int) -> int:
    """Pixels per tile that keep the working memory within ``budget``.

    Per pixel of a tile: its N values in the tile buffer and, in the worst
    case (every pixel of the tile clipping far from both ends of its sorted
    values, or being checked against astropy), about 34 bytes per value of
    float64 copies and masks, plus about 1 kB of per-pixel arrays. On top of
    that, a fixed 2 MiB of blocks converted to float64 (1 MiB per thread).
    """
    per_pixel = n * (itemsize + 34) + 1024
    pixels = int((budget - 2 * 2**20) // per_pixel)
    return max(1, min(pixels, max(64, _TILE_VALUES // n), npix))


class _Stage:
    """A tile buffer and its kernel: ``prepare`` fills it, ``finish`` combines it."""

    def __init__(self, src, kernel, pixels, work):
        self.src, self.kernel = src, kernel
        self.buf = np.empty((pixels, src.n), dtype=work)
        # Each tile is copied and sorted in chunks of about _CHUNK_VALUES
        # values, which stay in the CPU's cache.
        self.chunk = max(1, _CHUNK_VALUES // src.n)

    def prepare(self, tile, pool=None) -> None:
        r0, r1, c0, c1 = tile
        b = self.buf[: (r1 - r0) * (c1 - c0)]
        self.kernel.start(b.shape[0])
        chunks = list(_tiles(r1 - r0, c1 - c0, self.chunk))
        if pool is None or len(chunks) < 2:
            self._prepare(b, tile, chunks)
            return
        helper = pool.submit(self._prepare, b, tile, chunks[1::2])
        self._prepare(b, tile, chunks[::2])
        helper.result()

    def _prepare(self, b, tile, chunks) -> None:
        r0, r1, c0, c1 = tile
        for q0, q1, d0, d1 in chunks:
            a = q0 * (c1 - c0) + d0
            z = a + (q1 - q0) * (d1 - d0)
            chunk = (r0 + q0, r0 + q1, c0 + d0, c0 + d1)
            self.src.gather(b[a:z], *chunk)
            self.kernel.prepare(b[a:z], a, z, chunk)

    def finish(self, tile, outputs) -> None:
        r0, r1, c0, c1 = tile
        out, count, mask = outputs
        b = self.buf[: (r1 - r0) * (c1 - c0)]
        result, kept, rejected = self.kernel.finish(b, tile, mask is not None)
        out[r0:r1, c0:c1] = result.reshape(r1 - r0, c1 - c0)
        if count is not None:
            count[r0:r1, c0:c1] = kept.reshape(r1 - r0, c1 - c0)
        if mask is not None:
            mask[:, r0:r1, c0:c1] = rejected


# ---------------------------------------------------------------------------
# The numba engine
# ---------------------------------------------------------------------------

#: Threads running the numba kernels (at most; never more than the CPUs).
_NUMBA_THREADS = 4
#: Bytes of one tile (N values of T pixels), sorted while it stays in cache.
_TILE_BYTES = 1 << 18
#: Pixels per block, the unit of work handed to a thread.
_BLOCK_PIXELS = 1 << 15
_FLOAT_MAX = float(np.finfo(np.float64).max)


def _numba_work(dtype: np.dtype) -> tuple[np.dtype, float]:
    """Working type of the kernels for input data of ``dtype``, and its offset.

    8- and 16-bit integers are sorted as uint16: signed ones with their sign
    bit flipped (``v + 32768``), the offset added back to every value used.
    Floats up to 32 bits are float32, anything else float64. Only three
    working types, hence at most three compilations.
    """
    if dtype.kind in "ui" and dtype.itemsize <= 2:
        return np.dtype(np.uint16), (-32768.0 if dtype.kind == "i" else 0.0)
    if dtype.kind == "f" and dtype.itemsize <= 4:
        return np.dtype(np.float32), 0.0
    return np.dtype(np.float64), 0.0


def _kind(clip, dtype: np.dtype) -> tuple[str, str]:
    """The kind of numba kernel (:mod:`course_utils._warmup`) a call needs."""
    return ("pixel" if clip == "pixel" else "plain", _numba_work(dtype)[0].name)


class _NumbaRun:
    """One combine() call on the numba kernels: blocks of pixels, threads, fallback.

    The pixels are cut into blocks (whole rows, or pieces of a row), which
    the threads take in turn. Each thread has its own buffers: a tile
    (``N x T`` values, combined at once by a kernel call), its scratch, the
    results of a block and, unless the kernels can read the caller's stack
    directly, a staging copy of the block's values in the working type.
    """

    def __init__(self, kernels, src, method, clip, params, lower, upper, outputs, budget):
        self.k, self.src, self.method, self.clip, self.params = kernels, src, method, clip, params
        self.lower, self.upper = lower, upper
        self.out, self.count, self.mask = outputs
        self.budget = budget
        n = src.n
        ny, nx = src.shape
        self.work, self.off = _numba_work(src.dtype)
        self.integer = self.work.kind == "u"
        self.flip = self.off != 0.0
        isz = self.work.itemsize
        stack = src.stack
        # Direct: the kernels read the caller's stack in place (C-contiguous,
        # of the working type, as read_stack gives); otherwise each block is
        # first copied (and converted) into a staging buffer.
        self.direct = (
            stack is not None and stack.dtype == self.work and stack.dtype.isnative
            and stack.flags.c_contiguous and stack.flags.aligned and stack.flags.writeable
        )
        self.flat_src = stack.reshape(n, -1) if self.direct else None
        self.threads = max(1, min(_NUMBA_THREADS, _cpus()))
        # Working memory: at most a quarter of the budget for the threads'
        # buffers (the rest is for the pixels the numpy engine may have to
        # settle), half of it for the tile and its scratch (N * (itemsize +
        # 8) + 40 bytes per pixel), half for the block (40 bytes per pixel,
        # and N * itemsize more when staging).
        share = budget / 4 / self.threads / 2
        per_block_pixel = 40 + (0 if self.direct else n * isz)
        self.block = int(max(1, min(_BLOCK_PIXELS, share // per_block_pixel)))
        cache_tile = max(16, _TILE_BYTES // (n * isz))
        self.tile = int(max(1, min(2048, cache_tile, share // (n * (isz + 8) + 40), self.block)))
        self.blocks = list(_tiles(ny, nx, self.block)) if ny * nx else []
        self.pairs = kernels.batcher_pairs(n)
        self.ends = kernels.extreme_pairs(n)
        self.mode = 2 if clip == "pixel" else 0
        # The interval of valid stored values of each frame: its clipping
        # bounds (clip='frame'), or every finite value.
        thr = np.empty((2, n))
        if clip == "frame":
            empty = np.isnan(lower) | np.isnan(upper)
            if self.integer:  # integer v: lower <= v exactly when ceil(lower) <= v
                thr[0] = np.ceil(lower) - self.off
                thr[1] = np.floor(upper) - self.off
            else:
                thr[0] = np.maximum(lower, -_FLOAT_MAX)
                thr[1] = np.minimum(upper, _FLOAT_MAX)
            thr[0, empty] = np.inf
            thr[1, empty] = -np.inf
        else:
            thr[0] = -np.inf if self.integer else -_FLOAT_MAX
            thr[1] = np.inf if self.integer else _FLOAT_MAX
        self.thr = thr
        self.fill = 65535.0 if self.integer else np.inf
        self.flat_out = self.out.reshape(-1)  # fresh C-contiguous arrays: views
        self.flat_count = None if self.count is None else self.count.reshape(-1)
        self.flagged = []

    def buffers(self) -> dict:
        n, tile = self.src.n, self.tile
        return {
            "x": np.empty((n, tile), dtype=self.work),
            "nv": np.empty((2, tile), dtype=np.int64),
            "scratch": np.empty((3, tile)),
            "cols": np.empty((tile, n)) if self.mode == 2 else None,
            "res": np.empty((5, self.block)),
            "stage": None if self.direct else np.empty((n, self.block), dtype=self.work),
        }

    def run(self) -> int:
        """Combine; returns the number of pixels the numpy engine settled."""
        blocks = self.blocks
        if not blocks:
            return 0
        import itertools

        ticket = itertools.count()  # next() on it is atomic under the GIL

        def worker(buf):
            for i in iter(ticket.__next__, None):
                if i >= len(blocks):
                    return
                self._do_block(buf, blocks[i])

        first = self.buffers()
        # The first block compiles (or loads) the kernel, in this thread only.
        self._do_block(first, blocks[next(ticket)])
        threads = min(self.threads, len(blocks) - 1)
        if threads <= 1:
            worker(first)
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(threads - 1) as pool:
                helpers = [pool.submit(worker, self.buffers()) for _ in range(threads - 1)]
                worker(first)
                for h in helpers:
                    h.result()
        del first
        if self.flagged:
            flagged = np.sort(np.concatenate(self.flagged))
            self._settle(flagged)
            return int(flagged.size)
        return 0

    def _do_block(self, buf, block) -> None:
        r0, r1, c0, c1 = block
        start = r0 * self.src.shape[1] + c0  # blocks are contiguous in the flat image
        size = (r1 - r0) * (c1 - c0)
        if self.direct:
            data, a, b = self.flat_src, start, start + size
        else:
            self._stage(buf["stage"], block)
            data, a, b = buf["stage"], 0, size
        p = self.params
        res = buf["res"]
        if self.mode == 2:
            nflag = self.k.combine_pixel(
                data, a, b, buf["x"], self.pairs, self.ends, buf["nv"], buf["scratch"], buf["cols"],
                self.thr, self.off, self.integer, self.method == "median",
                p.sigma_lower, p.sigma_upper, p.maxiters, p.use_median, self.fill, res)
        else:
            nflag = self.k.combine_plain(
                data, a, b, buf["x"], self.pairs, buf["nv"], buf["scratch"], self.thr,
                self.off, self.method == "median", self.fill, res)
        self.flat_out[start:start + size] = res[0, :size]
        if self.flat_count is not None:
            self.flat_count[start:start + size] = res[1, :size]
        if nflag:
            self.flagged.append(np.flatnonzero(res[4, :size]) + start)
        if self.mask is not None:
            self._mask_block(block, res[2, :size], res[3, :size])

    def _stage(self, stage, block) -> None:
        """Copy (and convert) the values of a block into the staging buffer."""
        r0, r1, c0, c1 = block
        rows, cols = r1 - r0, c1 - c0
        isz = stage.itemsize
        view = np.ndarray((self.src.n, rows, cols), dtype=stage.dtype, buffer=stage,
                          strides=(stage.strides[0], cols * isz, isz))
        if self.flip:  # signed integers: as int16, then flip the sign bit
            view = view.view(np.int16)
        if self.src.stack is not None:
            np.copyto(view, self.src.stack[:, r0:r1, c0:c1], casting="unsafe")
        else:
            for i, f in enumerate(self.src.list):
                np.copyto(view[i], f[r0:r1, c0:c1], casting="unsafe")
        if self.flip:
            part = stage[:, : rows * cols]
            np.bitwise_xor(part, np.uint16(0x8000), out=part)

    def _mask_block(self, block, low, high) -> None:
        """Rejection mask of a block: NaN/inf, outside the frame's or the pixel's bounds."""
        r0, r1, c0, c1 = block
        target = self.mask[:, r0:r1, c0:c1]
        if self.clip == "pixel":
            low = low.reshape(r1 - r0, c1 - c0)
            high = high.reshape(r1 - r0, c1 - c0)
        for i, blk in enumerate(self.src.blocks(*block)):
            if self.clip == "frame":
                low, high = self.lower[i], self.upper[i]
            elif self.clip is None:
                low, high = -np.inf, np.inf
            with np.errstate(invalid="ignore"):
                kept = (blk >= low) & (blk <= high)  # NaN: False
            if blk.dtype.kind == "f":
                kept &= np.isfinite(blk)
            np.logical_not(kept, out=target[i])

    def _settle(self, flat_index: np.ndarray) -> None:
        """Recompute the flagged pixels with the numpy engine (exact, or astropy's)."""
        n = self.src.n
        ny, nx = self.src.shape
        budget = max(MIN_MEMORY, self.budget)
        step = int(max(1, (budget / 4) // (n * max(self.src.dtype.itemsize, 8))))
        for s0 in range(0, flat_index.size, step):
            idx = flat_index[s0:s0 + step]
            rows, cols = np.unravel_index(idx, (ny, nx))
            sub = np.empty((n, 1, idx.size), dtype=self.src.dtype)
            if self.src.stack is not None:
                sub[:, 0, :] = self.src.stack[:, rows, cols]
            else:
                for i, f in enumerate(self.src.list):
                    sub[i, 0, :] = f[rows, cols]
            out = np.empty((1, idx.size), dtype=self.out.dtype)
            count = np.empty((1, idx.size), dtype=np.intp)
            mask = None if self.mask is None else np.empty((n, 1, idx.size), dtype=bool)
            _run_numpy(_Frames(sub), self.method, self.clip, self.params, self.lower, self.upper,
                       (out, count, mask), budget / 2)
            self.flat_out[idx] = out[0]
            if self.flat_count is not None:
                self.flat_count[idx] = count[0]
            if mask is not None:
                self.mask[:, rows, cols] = mask[:, 0, :]


def _run_numba(kernels, src, method, clip, params, lower, upper, outputs, budget) -> int:
    """Combine with the numba kernels into ``outputs``; returns the pixels settled by numpy."""
    return _NumbaRun(kernels, src, method, clip, params, lower, upper, outputs, budget).run()
