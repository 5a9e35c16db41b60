"""numba kernels of :func:`course_utils.combine` (private, optional).

This module imports numba; :mod:`course_utils.combining` imports it only when
a kernel is first needed, and uses its numpy engine (:mod:`course_utils.combining.clipping`)
when numba is missing or unusable.

Two compiled entry points combine a range of pixels of a stack laid out
``(N, pixels)`` (one frame per row), tile by tile: :func:`combine_plain`
(no clipping, or per-frame bounds already known: ``clip=None``/``'frame'``)
and :func:`combine_pixel` (``clip='pixel'``). For each tile:

1. **copy, mark, sum** (:func:`_load`). The ``N x T`` values of ``T``
   pixels (a tile small enough to stay in the CPU's cache) are copied into
   a buffer. Values outside their frame's interval (``clip='frame'``) and
   NaN/±inf are replaced by the largest value of the type (``+inf``, or
   65535 for 16-bit integers) and not counted, so that after sorting each
   pixel's ``n`` valid values come first. The valid values are summed
   (shifted by a reference value of the pixel: exact for integers), two
   frames at a time, which halves the traffic to the per-pixel sums.
2. **sort** (:func:`sort_columns`). Every pixel's values are sorted by the
   same Batcher odd-even merge *sorting network*: a fixed list of
   compare-exchange steps between two rows, each a ``min``/``max`` over the
   ``T`` contiguous pixels of the rows, which the compiler turns into SIMD
   instructions (8 to 32 pixels at once). A mean without clipping needs
   no sorting. Nor does iteration 1 of a clipping without a median (mean
   centre, mean result, as ccdproc's default): a much shorter network
   (:func:`extreme_pairs`) brings each pixel's smallest and largest values
   to the ends of its column, and only the pixels that go on to clip are
   sorted, after step 3's first part.
3. **reduce.** The median is the middle of a sorted column. With
   ``clip='pixel'``, iteration 1 is done for all the tile's pixels at once
   (SIMD) from the sums, the middle values and the extreme values: most
   pixels keep all their values and are done. The others are moved to the
   front of the tile, copied as
   float64 and clipped one by one (:func:`_clip_sorted`): the values inside
   ``[lower, upper]`` form a run of the sorted column, found by moving its
   ends, and the run's sums are the column's less the values outside it,
   so an iteration costs O(1) plus the values it removes.

The clipping reproduces astropy's string-function fast path (see
:mod:`course_utils.combining.clipping`): each iteration's bounds come from the run kept
so far, a value returns if the *last* bounds are wider, and the final kept
set is every valid value within the last bounds. Per-frame bounds
(``clip='frame'``) come from the numpy engine (from a histogram computed by
:func:`histogram16` for 16-bit frames); ``stdfunc='mad_std'`` with
``clip='pixel'`` stays on the numpy engine.

Few functions, one working type for the per-pixel clipping (float64), three
for the tiles (uint16 for 8/16-bit integers, float32, float64) and no
literal-valued arguments keep the compilation short. It is done once per
kind of kernel, by a background process (:mod:`course_utils.combining.warmup`) while
the first calls run on the numpy engine, and cached on disk by numba.

Exactness
---------
Medians are astropy's values bit for bit (the same float64 operations on
the same values), and so are bounds computed from one or two values. Means
and standard deviations come from sums of ``x - ref``, exact for integer
data; they differ from astropy's (rounded differently) by at most a few
units in the last place. That changes the result only if a value lies
within that difference of a bound. So :func:`_run_bounds` also computes
``tol``, a rigorous bound on the distance between astropy's bounds and
ours (the rounding of astropy's sums and of ours, propagated to the mean,
the standard deviation and the bounds, times a safety factor of 2), and a
pixel is *flagged* when a value lies within ``tol`` of a bound used in any
iteration, or when a bound is not finite, or when its mean may not be
accurate to 1e-9. Flagged pixels (values exactly on a bound happen with
small integers, about one pixel in ten thousand in the course's bias
frames) are recomputed by the numpy engine, which settles its own doubtful
cases with astropy itself.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from numba import njit

from .model import pair_stats, rounding_tolerance, sigma_bounds

__all__ = ["Settings", "Tile", "batcher_pairs", "extreme_pairs", "histogram16", "combine_plain",
           "combine_pixel"]

_EPS = 2.0**-52


class Settings(NamedTuple):
    """The scalar parameters of a kernel call (numba compiles a NamedTuple of scalars).

    Build it with :func:`settings`, which gives each field its one type (a field
    of another type would compile the kernels again).
    """

    off: float  # what to add to stored values to get the data values
    integer: bool  # the working type is an integer type (exact sums)
    median_out: bool  # median (else mean) of the kept values
    sigma_lower: float
    sigma_upper: float
    maxiters: int  # -1: no limit
    median_centre: bool  # cenfunc='median'
    fill: float  # replaces invalid values before sorting (the largest of the type)


def settings(off, integer, median_out, sigma_lower=3.0, sigma_upper=3.0, maxiters=-1,
        median_centre=True, fill=math.inf) -> Settings:
    """A :class:`Settings` with every field of its type (float, bool or int)."""
    return Settings(float(off), bool(integer), bool(median_out), float(sigma_lower),
               float(sigma_upper), int(maxiters), bool(median_centre), float(fill))


class Tile(NamedTuple):
    """A thread's tile buffers for ``T`` pixels of ``N`` frames."""

    x: np.ndarray  # (N, T) values, in the working type
    nv: np.ndarray  # (2, T) int64: counts of valid values; indices of columns to clip
    work: np.ndarray  # (3, T) float64: reference value and sums per pixel
    cols: np.ndarray  # (T, N) float64: the columns to clip (clip='pixel'; else (0, 0))


@lru_cache(maxsize=None)
def batcher_pairs(n: int) -> np.ndarray:
    """Compare-exchange pairs ``(i, j)``, ``i < j``, that sort ``n`` values.

    Batcher's odd-even merge sort: sorted runs of length ``p`` (1, 2, 4, …)
    are merged into runs of ``2p`` by comparing elements ``k`` apart (``k =
    p, p/2, …, 1``), only within one run of ``2p``. Comparators reaching
    past ``n`` are dropped, as if the input were padded with +inf.
    """
    pairs = []
    p = 1
    while p < n:
        k = p
        while k >= 1:
            for j in range(k % p, n - k, 2 * k):
                for i in range(min(k, n - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    out = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    out.setflags(write=False)
    return out


@lru_cache(maxsize=None)
def extreme_pairs(n: int) -> np.ndarray:
    """Compare-exchange pairs ``(i, j)``, ``i < j``, that bring the smallest of ``n``
    values to position 0 and the largest to position ``n - 1`` (about ``1.5 n``
    pairs, against about ``n log2(n)**2 / 4`` to sort).

    Neighbours are compared first (``(0, 1)``, ``(2, 3)``, …), leaving the
    smaller of each pair at an even position and the larger at an odd one;
    then the smallest of the even positions is carried to 0 and the largest
    of the odd positions and of position ``n - 1`` to ``n - 1``.
    """
    pairs = [(i, i + 1) for i in range(0, n - 1, 2)]
    pairs += [(0, j) for j in range(2, n, 2)]
    pairs += [(j, n - 1) for j in range(1, n - 1, 2)]
    out = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    out.setflags(write=False)
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def histogram16(values, counts):
    """Add the histogram of the uint16 ``values`` (1-D) to ``counts`` (65536 bins)."""
    for i in range(values.shape[0]):
        counts[values[i]] += 1


# The helpers are compiled into the entry points (whose compiled code numba
# caches); they need no Python wrapper of their own. Few functions, few
# array arguments, no literal-valued arguments and one working type for the
# per-pixel clipping keep compilation short (a few seconds of a background
# process in each fresh Colab runtime).
_HELPER = dict(nogil=True, error_model="numpy", no_cpython_wrapper=True)
#: The numerical model's tolerance (:mod:`course_utils.combining.model`), compiled.
_compiled_tolerance = njit(**_HELPER)(rounding_tolerance)
#: astropy's bounds and its statistics of two values (:mod:`course_utils.combining.model`), compiled.
_compiled_sigma_bounds = njit(**_HELPER)(sigma_bounds)
_compiled_pair_stats = njit(**_HELPER)(pair_stats)


#: Sums of magnitudes beyond this may overflow in the numpy engine's order of
#: adding: such means are the numpy engine's (values near float64's largest).
_NEAR_OVERFLOW = 2.0**1020


@njit(**_HELPER)
def _large(n, ref, s2):
    """Whether ``n`` values with sum((x - ref)**2) = ``s2`` may reach float64's limit when summed.

    ``sum|x| <= n |ref| + sqrt(n s2)``.
    """
    return not (n * abs(ref) + math.sqrt(n * s2) < _NEAR_OVERFLOW)


@njit(fastmath={"nnan"}, **_HELPER)
def sort_columns(x, t, pairs):
    """Sort the first ``t`` columns of ``x`` (N, T), in place (no NaN allowed)."""
    for c in range(pairs.shape[0]):
        a = x[pairs[c, 0]]
        b = x[pairs[c, 1]]
        for p in range(t):
            u = a[p]
            v = b[p]
            a[p] = v if v < u else u
            b[p] = u if v < u else v


@njit(**_HELPER)
def _run_bounds(m, r1, r2, ref, median, e1, e2, how):
    """Clipping bounds of a run of ``m >= 3`` values, and their uncertainty.

    ``r1``, ``r2``: sums of ``x - ref`` and ``(x - ref)**2`` over the run,
    computed with errors up to ``e1`` and ``e2`` (0 for integer data: the
    sums are exact); ``how``: the :class:`Settings` (sigmas, centre).
    Returns ``(lower, upper, tol, mean)``: astropy's bounds are within
    ``tol`` of ours.
    """
    mf = float(m)
    inv = 1.0 / mf
    mean = r1 * inv + ref
    var = (r2 - r1 * r1 * inv) * inv
    std = math.sqrt(var) if var > 0.0 else 0.0
    sl = how.sigma_lower
    su = how.sigma_upper
    centre = median if how.median_centre else mean
    lower, upper = _compiled_sigma_bounds(centre, std, sl, su)
    smax = sl if sl > su else su
    # |r1| / m + std bounds the root mean square of x - ref.
    tol = _compiled_tolerance(mf, r1, r2, ref, abs(r1) * inv + std, std, centre, e1, e2, smax,
                     how.median_centre, True)
    if not (tol < math.inf and var == var):  # overflow (inf, NaN): the numpy engine decides
        tol = math.inf
    return lower, upper, tol, mean


@njit(**_HELPER)
def _clip_sorted(col, n, ref, S1, S2, grow, how):
    """Clip the sorted float64 values ``col[:n]`` (n >= 1) as astropy does.

    ``S1``, ``S2``: sums of ``col - ref`` and of its squares over the n
    values; ``grow`` times their magnitude bounds the rounding of sums
    (0 for integer data); ``how``: the :class:`Settings`. Returns
    ``(result, count, lower, upper, flagged)``.
    """
    # Sums over a run are the column's less the values outside the run:
    # their errors are at most those of the column's.
    e2 = grow * S2
    e1 = grow * math.sqrt(n * S2)
    lo = 0
    hi = n
    r1 = S1  # sums over the run [lo, hi)
    r2 = S2
    c_lo = 0  # values < lower, over the whole column
    c_hi = n  # values <= upper
    lower = 0.0
    upper = 0.0
    near = False
    it = 0
    while True:
        m = hi - lo
        median = col[lo + m // 2]  # an odd count's: the middle value (no overflow), as astropy's
        if m % 2 == 0:
            median = 0.5 * (col[lo + m // 2 - 1] + median)
        if m <= 2:  # astropy's own operations: exactly its bounds
            mean, std = _compiled_pair_stats(col[lo], col[hi - 1])
            centre = median if how.median_centre else mean
            lower, upper = _compiled_sigma_bounds(centre, std, how.sigma_lower, how.sigma_upper)
            tol = 0.0
        else:
            lower, upper, tol, mean = _run_bounds(m, r1, r2, ref, median, e1, e2, how)
        # Counts over the whole column, from the previous ones; after the
        # last iteration, [c_lo, c_hi) is the kept run.
        while c_lo < n and col[c_lo] < lower:
            c_lo += 1
        while c_lo > 0 and col[c_lo - 1] >= lower:
            c_lo -= 1
        while c_hi < n and col[c_hi] <= upper:
            c_hi += 1
        while c_hi > 0 and col[c_hi - 1] > upper:
            c_hi -= 1
        if tol > 0.0:  # a value within rounding of a bound?
            near = ((c_lo > 0 and lower - col[c_lo - 1] <= tol)
                    or (c_lo < n and col[c_lo] - lower <= tol)
                    or (c_hi > 0 and upper - col[c_hi - 1] <= tol)
                    or (c_hi < n and col[c_hi] - upper <= tol))
        # This iteration keeps the part of [lo, hi) within the bounds.
        new_lo = lo if c_lo < lo else (hi if c_lo > hi else c_lo)
        new_hi = lo if c_hi < lo else (hi if c_hi > hi else c_hi)
        it += 1
        if near or new_hi - new_lo == m or new_hi <= new_lo or it == how.maxiters:
            break
        lo = new_lo
        hi = new_hi
        r1 = S1
        r2 = S2
        for k in range(lo):
            d = col[k] - ref
            r1 -= d
            r2 -= d * d
        for k in range(hi, n):
            d = col[k] - ref
            r1 -= d
            r2 -= d * d
    kept = c_hi - c_lo if c_hi > c_lo else 0
    result = math.nan
    if kept > 0 and how.median_out:
        mid = col[c_lo + kept // 2]
        result = mid if kept % 2 else 0.5 * (col[c_lo + (kept - 1) // 2] + mid)
    elif kept > 0:
        r1 = S1
        for k in range(c_lo):
            r1 -= col[k] - ref
        for k in range(c_hi, n):
            r1 -= col[k] - ref
        result = r1 / kept + ref
        # The mean must be accurate to 1e-9 (and finite): flag it otherwise.
        near |= not (result - result == 0.0 and e1 <= 1e-9 * kept * abs(result))
        near |= _large(float(n), ref, S2)
    # Bounds that are NaN or inf: let the numpy engine decide too.
    flagged = near or not (lower - lower == 0.0 and upper - upper == 0.0)
    return result, kept, lower, upper, flagged


_ENTRY = dict(cache=True, nogil=True, error_model="numpy")


@njit(**_HELPER)
def _load(src, start, t, tile, thr, filler):
    """Copy columns ``start`` to ``start + t`` of ``src`` into ``x``; mark, count, sum.

    A value ``v`` of frame ``k`` is valid when ``thr[0, k] <= v <= thr[1,
    k]`` (NaN never is); invalid values become ``filler``. For each column
    p: ``nv[0, p]`` gets the number of valid values, ``work[0, p]`` a
    reference ``ref`` (its first valid value, or 0), and ``work[1, p]``,
    ``work[2, p]`` the sums of ``v - ref`` and ``(v - ref)**2`` over the
    valid values (exact for integers).
    """
    x = tile.x
    work = tile.work
    ref = work[0, :t]
    acc = work[1, :t]
    acc2 = work[2, :t]
    cnt = tile.nv[0, :t]
    for p in range(t):
        cnt[p] = 0
        acc[p] = 0.0
        acc2[p] = 0.0
        ref[p] = 0.0
        for k in range(src.shape[0]):  # usually one step
            fv = float(src[k, start + p])
            if fv >= thr[0, k] and fv <= thr[1, k]:
                ref[p] = fv
                break
    # Two frames per pass over the tile's pixels, so that the per-pixel sums
    # (too many to stay in the fastest cache) are loaded and stored once per
    # two values. With an odd number of frames, the last pass reads the last
    # frame twice and counts it once. Slices, so that every index is a
    # loop's own (no wraparound checks): the loops over pixels then compile
    # to SIMD instructions.
    n = src.shape[0]
    for k in range(0, n, 2):
        k1 = k + 1 if k + 1 < n else k
        row = src[k, start:start + t]
        row1 = src[k1, start:start + t]
        xr = x[k, :t]
        xr1 = x[k1, :t]
        low = thr[0, k]
        high = thr[1, k]
        low1 = thr[0, k1]
        high1 = thr[1, k1]
        second = k1 > k
        for p in range(t):
            v = row[p]
            v1 = row1[p]
            fv = float(v)
            fv1 = float(v1)
            keep = (fv >= low) & (fv <= high)
            keep1 = (fv1 >= low1) & (fv1 <= high1)
            xr[p] = v if keep else filler
            xr1[p] = v1 if keep1 else filler
            keep1 &= second
            rp = ref[p]
            d = fv - rp if keep else 0.0
            d1 = fv1 - rp if keep1 else 0.0
            acc[p] += d + d1
            acc2[p] += d * d + d1 * d1
            cnt[p] += keep + keep1


@njit(**_ENTRY)
def combine_plain(src, a, b, tile, pairs, thr, how, res):
    """Median or mean of the valid values of columns ``a`` to ``b`` of ``src``.

    Parameters
    ----------
    src : (N, W) array of the working type, C-contiguous
    tile : :class:`Tile`, ``x`` of the working type (``cols`` unused).
    pairs : the sorting network for N (:func:`batcher_pairs`)
    thr : (2, N) float64 per-frame interval of valid values (see :func:`_load`)
    how : :class:`Settings` (``off``, ``median_out`` and ``fill`` used).
    res : (5, b - a) float64 output: combined value (NaN without valid
        values) and count of valid values in rows 0 and 1, and in row 4
        1.0 where the numpy engine must decide (a mean whose sums
        overflowed or may be inaccurate beyond 1e-9).

    Returns the number of flagged pixels.
    """
    x = tile.x
    nv = tile.nv
    work = tile.work
    off = how.off
    median_out = how.median_out
    T = x.shape[1]
    x[0, 0] = how.fill
    filler = x[0, 0]  # fill, in the working type
    grow = 0.0 if how.integer else 4.0 * (float(src.shape[0]) + 4.0) * _EPS  # rounding of float sums
    nflag = 0
    flag = 0.0
    for start in range(a, b, T):
        t = T if b - start > T else b - start
        j = start - a
        _load(src, start, t, tile, thr, filler)
        if median_out:
            sort_columns(x, t, pairs)
        for p in range(t):
            n = nv[0, p]
            if median_out:  # the middle of the sorted valid values
                lo_mid = float(x[(n - 1) // 2 if n > 0 else 0, p]) + off
                hi_mid = float(x[n // 2, p]) + off
                v = hi_mid if n % 2 else 0.5 * (lo_mid + hi_mid)  # (no overflow when odd)
            else:
                v = work[0, p] + off + work[1, p] / n
                # A mean from sums that overflowed (values near the type's
                # limits) or cancelled beyond 1e-9: the numpy engine decides.
                e1 = grow * math.sqrt(n * work[2, p])
                if n > 0 and (not (v - v == 0.0 and e1 <= 1e-9 * n * abs(v))
                              or _large(float(n), work[0, p] + off, work[2, p])):
                    flag = 1.0
                    nflag += 1
            res[0, j + p] = v if n > 0 else math.nan
            res[1, j + p] = n
            res[4, j + p] = flag
            flag = 0.0
    return nflag


@njit(**_ENTRY)
def combine_pixel(src, a, b, tile, pairs, ends, thr, how, res):
    """Sigma-clip (clip='pixel') and combine columns ``a`` to ``b`` of ``src``.

    Parameters
    ----------
    src, tile, pairs, thr : as for :func:`combine_plain`; ``tile.cols``
        (T, N) float64 scratch.
    ends : the network that brings each column's extremes to its ends
        (:func:`extreme_pairs`), enough for iteration 1 without a median.
    how : :class:`Settings`, every field.
    res : (5, b - a) float64 output: combined value, count of kept values,
        final lower and upper bounds, and 1.0 where the numpy engine must
        decide (flagged).

    Returns the number of flagged pixels.
    """
    x = tile.x
    nv = tile.nv
    work = tile.work
    cols = tile.cols
    off = how.off
    median_out = how.median_out
    N = src.shape[0]
    T = x.shape[1]
    x[0, 0] = how.fill
    filler = x[0, 0]  # fill, in the working type
    nf = float(N)
    grow = 0.0 if how.integer else 4.0 * (nf + 4.0) * _EPS  # rounding of float sums
    # Iteration 1 needs the tile sorted only for a median (as centre or
    # result); otherwise the extremes are enough, and only the columns that
    # go on to be clipped are sorted.
    sort_all = median_out or how.median_centre
    nflag = 0
    for start in range(a, b, T):
        t = T if b - start > T else b - start
        j = start - a
        _load(src, start, t, tile, thr, filler)
        sort_columns(x, t, pairs if sort_all else ends)
        # Iteration 1 of every column at once (SIMD), for the columns with
        # all N values: most keep them all, and are then done. (Without
        # sorting, ``median`` is meaningless, and unused.)
        value = res[0, j:j + t]
        lows = res[2, j:j + t]
        highs = res[3, j:j + t]
        flags = res[4, j:j + t]
        for p in range(t):
            median = float(x[N // 2, p]) + off
            if N % 2 == 0:
                median = 0.5 * ((float(x[N // 2 - 1, p]) + off) + median)
            e1 = grow * math.sqrt(nf * work[2, p])
            lower, upper, tol, mean = _run_bounds(N, work[1, p], work[2, p], work[0, p] + off,
                                              median, e1, grow * work[2, p], how)
            done = ((nv[0, p] == N) & (N >= 3) & (float(x[0, p]) + off - lower > tol)
                    & (upper - (float(x[N - 1, p]) + off) > tol) & (tol - tol == 0.0))
            if not median_out:  # the mean finite and accurate to 1e-9
                done &= ((e1 <= 1e-9 * nf * abs(mean)) & (mean - mean == 0.0)
                         & (not _large(nf, work[0, p] + off, work[2, p])))
            value[p] = median if median_out else mean
            lows[p] = lower
            highs[p] = upper
            flags[p] = 0.0 if done else -1.0  # -1: to do
        # The other columns: moved to the front of the tile (in place: each
        # moves left, onto a column already moved or done), sorted unless
        # they are already, copied row by row as float64 data values, then
        # clipped one by one.
        nd = np.int64(0)  # (not a literal: one compiled sort_columns)
        for p in range(t):
            res[1, j + p] = N
            if flags[p] != 0.0:
                nv[1, nd] = p
                nd += 1
        for k in range(N):
            row = x[k]
            for q in range(nd):
                row[q] = row[nv[1, q]]
        if not sort_all:
            sort_columns(x, nd, pairs)
        for k in range(N):
            for q in range(nd):
                cols[q, k] = float(x[k, q]) + off
        for q in range(nd):
            p = nv[1, q]
            n = nv[0, p]
            flagged = False
            if n == 0:
                v, m, lower, upper = math.nan, 0, math.nan, math.nan
            else:
                v, m, lower, upper, flagged = _clip_sorted(
                    cols[q], n, work[0, p] + off, work[1, p], work[2, p], grow, how)
            res[0, j + p] = v
            res[1, j + p] = m
            res[2, j + p] = lower
            res[3, j + p] = upper
            res[4, j + p] = 1.0 if flagged else 0.0
            nflag += flagged
    return nflag
