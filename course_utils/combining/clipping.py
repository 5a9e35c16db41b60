"""The clipping maths of :func:`course_utils.combine`: astropy's bounds, per pixel and per frame.

Sigma clipping, giving the bounds of the fast path of
:func:`astropy.stats.sigma_clip` with string ``cenfunc``/``stdfunc`` (its C
routine ``compute_sigma_clipped_bounds``), in two forms:

* :func:`clip_sorted_rows` clips many short samples at once (one per pixel,
  ``clip='pixel'``). Each sample is a row of a sorted tile, so the values
  inside any ``[lower, upper]`` form a contiguous run of the row: iteration
  1 costs O(1) per pixel, and the few pixels whose kept run changes go on
  reading only the ends of their rows (:class:`_Ends`).
  :func:`clip_unsorted_rows` does the same when iteration 1 needs no
  median, sorting only the rows it changes.
* :func:`frame_bounds` clips one long sample (a whole frame,
  ``clip='frame'``), from a histogram for 8- and 16-bit integer frames
  (exact integer arithmetic) or from one sorted copy of the frame.

The tile kernels of the numpy engine that use them are in :mod:`.tiles`.

What astropy's string-function fast path does, for each sample
-----------------------------------------------------------------
It copies the finite values into a float64 buffer and repeats: centre =
median (even count: mean of the two middle values) or mean; spread =
population standard deviation ``sqrt(sum((x - mean)**2) / count)`` or
``1.482602218505602 * median(|x - median|)``; bounds ``lower = centre -
sigma_lower * spread`` and ``upper = centre + sigma_upper * spread``; keep
the values of the *current* buffer with ``lower <= x <= upper``. It stops
when nothing changed, when nothing is left, or after ``maxiters`` bound
computations, and returns only the last bounds. The final rejection is
``x < lower or x > upper`` applied to *all* the finite values, so a value
rejected in an early iteration comes back if the last bounds are wider.

On a sorted sample the kept set of iteration i is the intersection of all
the intervals so far, a run ``[lo, hi)`` of ranks: ``lo_i = max(lo_{i-1},
#(x < lower_i))`` and ``hi_i = min(hi_{i-1}, #(x <= upper_i))``; the final
kept set is ``[#(x < lower), #(x <= upper))`` over all the values.

Exactness
---------
Medians and median absolute deviations are taken from the data values with
astropy's own float64 operations, so they are equal bit for bit. Sums of
integer data are exact, so means are equal bit for bit and standard
deviations are correctly rounded, which is exactly astropy's value whenever
its own float64 sums are exact (the mean has a power-of-two denominator);
samples of one or two values repeat astropy's operations. In every other
case our bounds and astropy's can differ by rounding, which matters only if
a data value lies within that rounding of a bound (an exact tie of a value
with a bound, as small integer data make happen). Such samples are flagged
("ambiguous") and their bounds are taken from astropy itself.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import numpy as np

from .model import (MAD_TO_STD, float_sum_errors, pair_stats, rounding_tolerance, sigma_bounds,
                    sums_stats)

__all__ = ["ClipParams", "astropy_bounds", "apply_bounds", "clip_sorted_rows", "clip_unsorted_rows", "frame_bounds", "row_count"]

_EPS = 2.0**-52


class ClipParams(NamedTuple):
    """Validated sigma-clipping parameters (as astropy's fast path takes them)."""

    sigma_lower: float
    sigma_upper: float
    maxiters: int  # -1: until nothing changes
    use_median: bool  # cenfunc == 'median'
    use_mad_std: bool  # stdfunc == 'mad_std'

    @property
    def needs_sums(self) -> bool:
        """Whether the clipping needs sums of the values (a mean or a std)."""
        return not (self.use_median and self.use_mad_std)

    @property
    def exact_stats(self) -> bool:
        """Median centre and MAD width: no sums, always astropy's values."""
        return self.use_median and self.use_mad_std


def astropy_bounds(values: np.ndarray, p: ClipParams, axis) -> tuple[np.ndarray, np.ndarray]:
    """astropy's own bounds (the reference, used for ambiguous samples only).

    A NaN bound (an overflow of astropy's statistics) becomes -inf or +inf:
    astropy keeps every value on that side, as these do.
    """
    from astropy.stats import sigma_clip

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NaN in the input, all-NaN slices
        _, lower, upper = sigma_clip(
            values,
            sigma_lower=p.sigma_lower,
            sigma_upper=p.sigma_upper,
            maxiters=None if p.maxiters == -1 else p.maxiters,
            cenfunc="median" if p.use_median else "mean",
            stdfunc="mad_std" if p.use_mad_std else "std",
            axis=axis,
            masked=False,
            return_bounds=True,
        )
    # A bound astropy computes as NaN (statistics beyond float64's range) rejects
    # nothing on its side, since no comparison with NaN is true: as -inf or +inf.
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    return np.where(np.isnan(lower), -np.inf, lower), np.where(np.isnan(upper), np.inf, upper)


# ---------------------------------------------------------------------------
# Many short samples: rows of a sorted tile (clip='pixel')
# ---------------------------------------------------------------------------


class _Rows:
    """Rows of a C-contiguous 2-D array, read at a different index per row."""

    def __init__(self, values: np.ndarray):
        self.values = values
        self.flat = values.reshape(-1)
        self.base = np.arange(values.shape[0], dtype=np.intp) * values.shape[1]

    def at(self, index) -> np.ndarray:
        """Float64 values at ``index[r]`` of each row r (or at one column for all)."""
        if np.ndim(index) == 0:
            return self.values[:, int(index)].astype(np.float64)
        return self.flat[self.base + index].astype(np.float64, copy=False)


def _kth_distance(at, lo, hi, centre, k):
    """k-th smallest ``|x - centre|`` (k >= 1) over the sorted runs ``[lo, hi)``.

    The k values nearest to ``centre`` form a window ``[s, s + k)`` of the
    sorted run, so the k-th smallest distance is the smallest, over all
    windows, of the largest distance in the window, ``max(centre - x[s],
    x[s + k - 1] - centre)``. The first term shrinks and the second grows
    with s, so a binary search finds the best window in log2(run length)
    steps. Distances are computed as astropy does (``fabs(x - median)`` in
    float64); rounding is monotonic, so the result is its value exactly.
    """
    shape = centre.shape
    lo = np.broadcast_to(lo, shape)
    hi = np.broadcast_to(hi, shape)
    k = np.broadcast_to(k, shape)
    left = lo.copy()
    right = hi - k + 1
    while True:
        searching = left < right
        if not searching.any():
            break
        mid = np.where(searching, (left + right) >> 1, lo)
        reaches = (at(mid + k - 1) - centre) >= (centre - at(mid))
        right = np.where(searching & reaches, mid, right)
        left = np.where(searching & ~reaches, mid + 1, left)
    upper_dist = np.where(left <= hi - k, at(np.minimum(left, hi - k) + k - 1) - centre, np.inf)
    lower_dist = np.where(left - 1 >= lo, centre - at(np.maximum(left - 1, lo)), np.inf)
    return np.minimum(upper_dist, lower_dist)


def _tolerance(p: ClipParams, k, s1, s2, ref, std, centre, ends, float_sums: bool):
    """The numerical model's tolerance (:func:`course_utils.combining.model.rounding_tolerance`).

    ``ends()`` gives the first and last values of the runs, whose distance
    to ``ref`` bounds the magnitudes summed when there is no ``s2``.
    ``float_sums``: the sums are of floats (rounded), not exact integers.
    Where the bounds or the tolerance are not finite (overflow), the
    tolerance is infinite: astropy settles.
    """
    ref = 0.0 if ref is None else ref
    from_sums = not p.use_mad_std
    s1 = 0.0 if s1 is None else s1
    with np.errstate(over="ignore", invalid="ignore"):
        if from_sums:
            s2 = np.maximum(s2, 0.0)
            scale = np.abs(s1) / k + std
        else:
            first, last = ends()
            scale = np.maximum(np.abs(first - ref), np.abs(last - ref))
            s2 = k * scale * scale
        e1, e2 = float_sum_errors(k, s2) if float_sums else (0.0, 0.0)
        tol = rounding_tolerance(k, s1, s2, ref, scale, std, centre, e1, e2,
                                 max(p.sigma_lower, p.sigma_upper), p.use_median, from_sums)
        return np.where(np.isfinite(tol) & np.isfinite(centre - std), tol, np.inf)


def _bounds(p: ClipParams, at, lo, hi, ref, s1, s2, float_sums: bool = True):
    """astropy's clipping bounds for the sorted runs ``[lo, hi)`` (all non-empty).

    ``lo``/``hi`` are arrays, or ints when they are the same for every row.
    ``s1``/``s2`` are the sums of ``x - ref`` and ``(x - ref)**2`` over each
    run (unused when the clipping needs no sums). Returns ``lower, upper,
    tol``: ``tol`` is 0 where the bounds are certainly astropy's, otherwise
    a generous limit on how far rounding could put astropy's bounds from
    ours (see :func:`_exact` for integer data).
    """
    k = hi - lo
    if p.use_median or p.use_mad_std:
        upper_mid = at(lo + k // 2)
        with np.errstate(over="ignore"):  # (an odd count's median is its middle value, as astropy's)
            median = np.where(k % 2 == 1, upper_mid, 0.5 * (at(lo + (k - 1) // 2) + upper_mid))
    if p.use_mad_std:
        high_mad = _kth_distance(at, lo, hi, median, k // 2 + 1)
        with np.errstate(over="ignore"):  # (odd counts: the middle distance itself)
            mad = np.where(k % 2 == 1, high_mad,
                           0.5 * (_kth_distance(at, lo, hi, median, (k + 1) // 2) + high_mad))
        std = mad * MAD_TO_STD
    if p.exact_stats:
        lower, upper = sigma_bounds(median, std, p.sigma_lower, p.sigma_upper)
        return lower, upper, np.zeros_like(lower), median
    kf = np.asarray(k, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # (unused parts may overflow)
        mean, var = sums_stats(kf, s1, 0.0 if s2 is None else s2, 0.0 if ref is None else ref)
    if not p.use_mad_std:
        std = np.sqrt(np.maximum(var, 0.0))
    small = np.asarray(k <= 2)
    if small.any():
        # One or two values: astropy's own float64 operations. (With two
        # values and sigma=1, the bounds fall exactly on the values.)
        a = at(lo)
        mean2, std2 = pair_stats(a, at(np.where(small, hi - 1, lo)))
        if not p.use_median:
            mean = np.where(small, np.where(k == 2, mean2, a), mean)
        if not p.use_mad_std:
            std = np.where(small, np.where(k == 2, std2, 0.0), std)
    centre = median if p.use_median else mean
    lower, upper = sigma_bounds(centre, std, p.sigma_lower, p.sigma_upper)
    tol = _tolerance(p, kf, s1, s2, ref, std, centre, lambda: (at(lo), at(hi - 1)), float_sums)
    if small.any():
        tol = np.where(small, 0.0, tol)
    return lower, upper, tol, (median if p.use_median else None)


def _exact(p: ClipParams, k, s1, ref, xmin, xmax) -> np.ndarray:
    """For integer data: whether astropy's float64 statistics are exact.

    astropy's sum of integers is exact, so its mean is ours. Its
    ``sum((x - mean)**2)`` is exact when ``mean = total / k`` has a
    power-of-two denominator 2**a (so every ``x - mean`` is exact) and
    ``k * (spread * 2**a)**2 < 2**52`` (so every square and partial sum is
    an exact float64), ``spread`` being the largest ``|x - mean|``; then its
    variance and ours are the same correctly rounded number.
    """
    if p.use_mad_std:  # the mean is the only sum
        return np.ones(np.shape(s1), dtype=bool)
    k = np.asarray(k, dtype=np.int64)
    total = s1 if ref is None else s1 + k * ref
    mean = total / k
    low_bit = k & -k
    dyadic = (total.astype(np.int64) % (k // low_bit)) == 0
    scaled = np.maximum(xmax - mean, mean - xmin) * low_bit
    return dyadic & (scaled * scaled * k < 2.0**52)


def _run_sums(shifted, lo, hi, squares):
    """Sums of the values (and of their squares) in the runs ``[lo, hi)`` of each row.

    ``shifted`` holds the rows' values minus their ``ref``, with 0 for
    missing values.
    """
    cols = np.arange(shifted.shape[1])
    inside = (cols >= lo[:, None]) & (cols < hi[:, None])
    d = np.where(inside, shifted, 0.0)
    return np.einsum("ij->i", d), (np.einsum("ij,ij->i", d, d) if squares else None)


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` in row blocks small enough for OpenBLAS to use one thread.

    OpenBLAS splits larger products over threads that spin while they wait;
    on a busy machine (or a notebook sharing 2 cores) that costs far more
    than it saves on these small products.
    """
    inner = a.shape[1] * (b.shape[1] if b.ndim == 2 else 1)
    step = max(1, min(8192 // max(a.shape[1], 1), 200_000 // max(inner, 1)))
    # Every caller passes finite operands (counts, or values after
    # nan_to_num). Some OpenBLAS kernels leave a stray "invalid" flag on some
    # CPUs anyway (numpy#24067, OpenBLAS#1924), which numpy would report as a
    # RuntimeWarning that means nothing here.
    with np.errstate(invalid="ignore"):
        if a.shape[0] <= step:
            return a @ b
        out = np.empty((a.shape[0],) + b.shape[1:], dtype=np.result_type(a, b))
        for start in range(0, a.shape[0], step):
            out[start : start + step] = a[start : start + step] @ b
    return out


def row_count(hits: np.ndarray) -> np.ndarray:
    """Number of True per row of a 2-D boolean array."""
    # A float32 matrix-vector product counts faster than a boolean sum over
    # short rows, and exactly (counts are far below 2**24).
    ones = np.ones(hits.shape[1], dtype=np.float32)
    return _matmul(hits.astype(np.float32), ones).astype(np.intp)


def _count_below(values: np.ndarray, bound: np.ndarray, inclusive: bool) -> np.ndarray:
    """Per row, how many values are ``< bound`` (``<=`` if inclusive); NaN never counts."""
    return row_count(values <= bound[:, None] if inclusive else values < bound[:, None])


class _Ends:
    """Some rows of a sorted tile, read mostly at their ends.

    Clipping removes a few values at either end of a sorted row, so counts
    of values beyond a bound, and sums over the kept run, are taken from
    the first and last ``J`` values of each row: O(J) work per row instead
    of O(N). Rows that need more fall back to the whole row. For integer
    data, a sum over a run is the row's sum less exact partial sums of its
    ends; for float data (where that subtraction could lose precision next
    to a large outlier) runs are summed directly.
    """

    J = 4

    def __init__(self, b, which, n, ref, s1, s2, integer, sums):
        width = b.shape[1]
        self.b, self.which, self.n, self.ref, self.integer = b, which, n, ref, integer
        self.flat = b.reshape(-1)
        self.base = which * width
        J = self.J = min(self.J, width)
        self.short = n <= J  # the first J values are the whole row
        self.head = b[which, :J].astype(np.float64)
        if (n == width).all():
            self.tail = b[which, width - J :].astype(np.float64)
        else:
            start = self.base + np.maximum(n - J, 0)
            self.tail = self.flat[start[:, None] + np.arange(J)].astype(np.float64)
        if not (sums and integer):
            return
        # Exact partial sums of the ends, by one matrix product:
        # [head prefix sums (J + 1 columns) | tail suffix sums (J + 1 columns)].
        ends = np.concatenate((self.head, self.tail[:, ::-1]), axis=1)
        if ref is not None:
            ends -= ref[:, None]
        np.nan_to_num(ends, copy=False, nan=0.0)
        prefix = np.triu(np.ones((J, J + 1)), 1)
        both = np.zeros((2 * J, 2 * J + 2))
        both[:J, : J + 1] = prefix
        both[J:, J + 1 :] = prefix
        self.s1, self.s2 = s1, s2
        self.p1 = _matmul(ends, both).reshape(-1)
        if s2 is not None:
            np.square(ends, out=ends)
            self.p2 = _matmul(ends, both).reshape(-1)

    def rows(self, rows) -> np.ndarray:
        """Whole rows, as float64 (for the rare runs far from both ends)."""
        return self.b[self.which[rows]].astype(np.float64)

    def shifted(self, rows) -> np.ndarray:
        x = self.rows(rows)
        if self.ref is not None:
            x -= self.ref[rows, None]
        return np.nan_to_num(x, copy=False, nan=0.0)

    def at(self, index, rows):
        return self.flat[self.base[rows] + index].astype(np.float64)

    def count_below(self, bound, rows, inclusive: bool):
        """Per row, how many values are < bound (<= if inclusive), over the whole row."""
        J, n, short = self.J, self.n[rows], self.short[rows]
        if inclusive:  # n - #(x > bound), from the tail
            beyond = row_count(self.tail[rows] > bound[:, None])
            count = n - beyond
            more = (beyond == J) & ~short
            if more.any():
                more[more] = self.at(n[more] - J - 1, rows[more]) > bound[more]
            if short.any():
                count[short] = row_count(self.head[rows[short]] <= bound[short, None])
        else:  # from the head
            count = row_count(self.head[rows] < bound[:, None])
            more = (count == J) & ~short
            if more.any():
                more[more] = self.at(J, rows[more]) < bound[more]
        if more.any():
            idx = np.flatnonzero(more)
            count[idx] = _count_below(self.rows(rows[idx]), bound[idx], inclusive)
        return count

    def run_sums(self, lo, hi, rows, squares):
        """Sums of ``x - ref`` (and squares) over the runs ``[lo, hi)``."""
        if not self.integer:
            return _run_sums(self.shifted(rows), lo, hi, squares)
        J, n, short = self.J, self.n[rows], self.short[rows]
        cut = n - hi
        base = rows * (2 * J + 2)
        at_lo = base + np.minimum(lo, J)
        # Short rows: difference of head prefix sums; long rows: the row's
        # sum less the head before lo and the tail from hi on.
        other = np.where(short, base + np.minimum(hi, J), base + J + 1 + np.minimum(cut, J))
        out = []
        for table, total in [(self.p1, self.s1)] + ([(self.p2, self.s2)] if squares else []):
            head_lo, other_part = table[at_lo], table[other]
            out.append(np.where(short, other_part - head_lo, total[rows] - head_lo - other_part))
        far = ~short & ((lo > J) | (cut > J))
        if far.any():  # a run that does not reach within J of both ends
            idx = np.flatnonzero(far)
            for o, v in zip(out, _run_sums(self.shifted(rows[idx]), lo[idx], hi[idx], squares)):
                o[idx] = v
        return out[0], (out[1] if squares else None)

    def _near(self, rows, count, bound, tol):
        n = self.n[rows]
        below = np.where(count > 0, bound - self.at(np.maximum(count - 1, 0), rows), np.inf)
        above = np.where(count < n, self.at(np.minimum(count, n - 1), rows) - bound, np.inf)
        return (np.abs(below) <= tol) | (np.abs(above) <= tol)

    def ambiguous(self, rows, p, lo, hi, below, lower, within, upper, tol, s1):
        """Rows with a value within ``tol`` of a bound that may not be astropy's."""
        candidate = tol > 0
        if self.integer:  # only an (almost) integer bound can be near a value
            candidate &= (np.abs(lower - np.rint(lower)) <= tol) | (np.abs(upper - np.rint(upper)) <= tol)
        out = np.isinf(tol)  # an overflow: astropy settles
        idx = np.flatnonzero(candidate & ~out)
        if idx.size == 0:
            return out
        r = rows[idx]
        near = self._near(r, below[idx], lower[idx], tol[idx]) | self._near(r, within[idx], upper[idx], tol[idx])
        if self.integer and near.any():
            j = np.flatnonzero(near)
            ref = None if self.ref is None else self.ref[r[j]]
            near[j[_exact(p, hi[idx[j]] - lo[idx[j]], s1[idx[j]], ref,
                          self.at(lo[idx[j]], r[j]), self.at(hi[idx[j]] - 1, r[j]))]] = False
        out[idx] = near
        return out


class RowClip(NamedTuple):
    """Result of :func:`clip_sorted_rows`, one entry per row."""

    lo: np.ndarray  # first kept rank
    hi: np.ndarray  # one past the last kept rank
    lower: np.ndarray  # final bounds (NaN for rows without values)
    upper: np.ndarray
    sum: np.ndarray | None  # sum of (x - ref) over the kept ranks, if asked for
    ambiguous: np.ndarray  # rows whose bounds must come from astropy
    active: np.ndarray  # rows whose kept run is not the whole row
    median: np.ndarray | None  # median of each whole row, when it was computed


def clip_sorted_rows(
    b: np.ndarray,
    n: np.ndarray | None,
    ref: np.ndarray | None,
    s1: np.ndarray | None,
    s2: np.ndarray | None,
    p: ClipParams,
    integer: bool,
    want_sum: bool = False,
) -> RowClip:
    """Sigma-clip every row of a sorted tile as astropy's fast path does.

    Parameters
    ----------
    b : ndarray, shape (rows, N)
        Each row sorted ascending, its ``n[r]`` valid values first (missing
        values are NaN, after them). C-contiguous.
    n : ndarray of int, or None
        Number of valid values per row; None when all N are.
    ref : ndarray of float64, or None
        Per-row shift of the sums (a value of the row); None for no shift.
    s1, s2 : ndarray of float64 or None
        Sums of ``x - ref`` and ``(x - ref)**2`` over the valid values.
    p : ClipParams
    integer : bool
        The values are integers (so sums are exact).
    want_sum : bool
        Also return the sums of ``x - ref`` over the final kept values.
    """
    nrows, width = b.shape
    rows_all = _Rows(b)
    if n is None:  # every row full: iteration 1 reads whole columns
        n = np.full(nrows, width, dtype=np.intp)
        lo1, hi1, has = 0, width, None
    else:
        n = n.astype(np.intp)
        has = n > 0
        lo1, hi1 = np.zeros(nrows, dtype=np.intp), np.maximum(n, 1)

    # Iteration 1, for every row at once, on the whole row: O(1) per row.
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        lower, upper, tol, median = _bounds(p, rows_all.at, lo1, hi1, ref, s1, s2, not integer)
    first = rows_all.at(0)
    last = rows_all.at(hi1 - 1)
    changed = (first < lower) | (last > upper)
    # Unchanged rows: the values nearest to the bounds are the first and last.
    ambiguous = (np.minimum(first - lower, upper - last) < tol) | np.isinf(tol)
    if has is not None:
        changed &= has
        ambiguous &= has
        lower[~has] = np.nan
        upper[~has] = np.nan
    ambiguous &= ~changed
    if integer and ambiguous.any():
        idx = np.flatnonzero(ambiguous)
        ref_i = None if ref is None else ref[idx]
        ambiguous[idx[_exact(p, n[idx], s1[idx], ref_i, first[idx], last[idx])]] = False

    with np.errstate(invalid="ignore", over="ignore"):  # overflows are flagged, not reported
        return _iterate(b, n, ref, s1, s2, p, integer, want_sum, lower, upper, tol, changed,
                        ambiguous, median)


def clip_unsorted_rows(b, s1, s2, xmin, xmax, p: ClipParams, want_sum: bool = False) -> RowClip:
    """:func:`clip_sorted_rows` for rows not sorted yet (8/16-bit integers, mean centre, std).

    Iteration 1 needs only the sums and the extremes of each row; only the
    rows it changes (a few per cent) are then sorted, in place, and clipped
    further. ``s1``/``s2`` are the unshifted sums, exact for such data.
    """
    nrows, width = b.shape
    k = np.float64(width)
    mean, var = sums_stats(k, s1, s2, 0.0)
    std = np.sqrt(np.maximum(var, 0.0))
    if width == 2:  # astropy's own operations for one or two values (see _bounds)
        mean, std = pair_stats(xmin, xmax)
    elif width == 1:
        mean, std = xmin, np.zeros(nrows)
    lower, upper = sigma_bounds(mean, std, p.sigma_lower, p.sigma_upper)
    if width <= 2:
        tol = np.zeros(nrows)
    else:
        tol = _tolerance(p, k, s1, s2, None, std, mean, lambda: (xmin, xmax), False)
    changed = (xmin < lower) | (xmax > upper)
    ambiguous = (np.minimum(xmin - lower, upper - xmax) < tol) & ~changed
    n = np.full(nrows, width, dtype=np.intp)
    if ambiguous.any():
        idx = np.flatnonzero(ambiguous)
        ambiguous[idx[_exact(p, n[idx], s1[idx], None, xmin[idx], xmax[idx])]] = False
    todo = np.flatnonzero(changed | ambiguous)
    b[todo] = np.sort(b[todo], axis=1)
    return _iterate(b, n, None, s1, s2, p, True, want_sum, lower, upper, tol, changed, ambiguous, None)


def _iterate(b, n, ref, s1, s2, p, integer, want_sum, lower, upper, tol, changed, ambiguous, median):
    """Iterations 2 and later, for the rows whose kept run changed in iteration 1."""
    nrows = b.shape[0]
    out_lo = np.zeros(nrows, dtype=np.intp)
    out_hi = n.copy()
    out_sum = s1.copy() if want_sum else None
    active = np.flatnonzero(changed)
    if active.size == 0:
        return RowClip(out_lo, out_hi, lower, upper, out_sum, ambiguous, active, median)

    # The few rows whose kept run changed go on.
    squares = not p.use_mad_std
    sums = p.needs_sums or want_sum
    ref_a = None if ref is None else ref[active]
    rows = _Ends(
        b, active, n[active], ref_a,
        s1[active] if sums else None, s2[active] if sums and squares else None,
        integer, sums,
    )
    low_a, up_a, tol_a = lower[active], upper[active], tol[active]
    everyone = np.arange(active.size)
    lo = rows.count_below(low_a, everyone, inclusive=False)
    hi = rows.count_below(up_a, everyone, inclusive=True)
    amb_a = rows.ambiguous(everyone, p, np.zeros_like(lo), rows.n, lo, low_a, hi, up_a, tol_a,
                           rows.s1 if integer and sums else None)
    final_lo, final_hi = lo.copy(), hi.copy()  # counts for the latest bounds, over all values

    iteration = 1
    live = np.flatnonzero(hi > lo)  # rows that clipped something and kept some
    if p.maxiters != -1 and iteration >= p.maxiters:
        live = live[:0]
    while live.size:
        at = lambda index, _live=live: rows.at(index, _live)  # noqa: E731
        lo_l, hi_l = lo[live], hi[live]
        ref_l = None if ref_a is None else ref_a[live]
        s1_l = s2_l = None
        if p.needs_sums:
            s1_l, s2_l = rows.run_sums(lo_l, hi_l, live, squares)
        low_l, up_l, tol_l, _ = _bounds(p, at, lo_l, hi_l, ref_l, s1_l, s2_l, not integer)
        below = rows.count_below(low_l, live, inclusive=False)
        within = rows.count_below(up_l, live, inclusive=True)
        amb_a[live] |= rows.ambiguous(live, p, lo_l, hi_l, below, low_l, within, up_l, tol_l, s1_l)
        low_a[live], up_a[live] = low_l, up_l
        final_lo[live], final_hi[live] = below, within
        new_lo = np.maximum(lo_l, below)
        new_hi = np.minimum(hi_l, within)
        kept = np.maximum(new_hi - new_lo, 0)
        lo[live], hi[live] = new_lo, new_hi
        iteration += 1
        live = live[(kept != hi_l - lo_l) & (kept > 0)]
        if p.maxiters != -1 and iteration >= p.maxiters:
            break

    # Final rejection: the last bounds, applied to all the row's values.
    final_hi = np.maximum(final_hi, final_lo)
    out_lo[active], out_hi[active] = final_lo, final_hi
    lower[active], upper[active] = low_a, up_a
    ambiguous[active] = amb_a
    if want_sum:
        out_sum[active] = rows.run_sums(final_lo, final_hi, everyone, False)[0]
    return RowClip(out_lo, out_hi, lower, upper, out_sum, ambiguous, active, median)


def apply_bounds(sorted_rows: np.ndarray, ref: np.ndarray, lower, upper, want_sum: bool):
    """Kept runs (and sums of ``x - ref``) of sorted rows for given final bounds."""
    x = sorted_rows.astype(np.float64)
    lo = _count_below(x, lower, inclusive=False)
    hi = np.maximum(_count_below(x, upper, inclusive=True), lo)
    total = None
    if want_sum:
        shifted = np.nan_to_num(x if ref is None else x - ref[:, None], nan=0.0)
        total = _run_sums(shifted, lo, hi, squares=False)[0]
    return lo, hi, total


# ---------------------------------------------------------------------------
# One long sample: a whole frame (clip='frame')
# ---------------------------------------------------------------------------


class _HistogramSample:
    """The values of an 8- or 16-bit integer frame, as a histogram.

    The rank runs ``[lo, hi)`` the clipping uses always start and end at a
    change of value, so sums over them are sums over whole bins, exact in
    Python integers.
    """

    integer = True

    def __init__(self, frame: np.ndarray, chunk_pixels: int, counts: np.ndarray | None = None):
        itemsize = frame.dtype.itemsize
        nbins = 1 << (8 * itemsize)
        unsigned = np.dtype(f"u{itemsize}")
        if counts is None:
            counts = np.zeros(nbins, dtype=np.int64)
            rows_per_chunk = max(1, chunk_pixels // max(frame.shape[1], 1))
            for r0 in range(0, frame.shape[0], rows_per_chunk):
                part = np.ascontiguousarray(frame[r0 : r0 + rows_per_chunk]).reshape(-1)
                counts += np.bincount(part.view(unsigned), minlength=nbins)
        first_value = 0
        if frame.dtype.kind == "i":
            # Bins are indexed by the bit pattern; put the negative values first.
            counts = np.roll(counts, nbins // 2)
            first_value = -(nbins // 2)
        occupied = np.flatnonzero(counts)
        if occupied.size:
            counts = counts[occupied[0] : occupied[-1] + 1]
            first_value += int(occupied[0])
        else:
            counts = counts[:0]
        values = np.arange(first_value, first_value + counts.size, dtype=np.int64)
        self.first_value = first_value
        self.cum_count = np.cumsum(counts)  # number of values <= first_value + i
        self.cum_sum = np.concatenate(([0], np.cumsum(counts * values)))
        self.cum_sum2 = np.concatenate(([0], np.cumsum(counts * values * values)))
        self.n = int(self.cum_count[-1]) if counts.size else 0

    def value(self, rank: int) -> float:
        return float(self.first_value + int(np.searchsorted(self.cum_count, rank, side="right")))

    def _count_le(self, v: int) -> int:
        i = v - self.first_value
        if i < 0:
            return 0
        if i >= self.cum_count.size:
            return self.n
        return int(self.cum_count[i])

    def count_below(self, bound: float, inclusive: bool) -> int:
        if inclusive:
            return self._count_le(math.floor(bound))
        return self._count_le(math.ceil(bound) - 1)

    def sums(self, lo: int, hi: int) -> tuple[int, int]:
        first = int(np.searchsorted(self.cum_count, lo, side="right"))
        last = int(np.searchsorted(self.cum_count, hi - 1, side="right"))
        return (
            int(self.cum_sum[last + 1]) - int(self.cum_sum[first]),
            int(self.cum_sum2[last + 1]) - int(self.cum_sum2[first]),
        )


class _SortedSample:
    """The finite values of any frame, as one sorted copy."""

    integer = False

    def __init__(self, frame: np.ndarray, chunk_pixels: int):
        values = np.sort(frame, axis=None)  # NaN last
        if values.dtype.kind == "f":
            lo = int(np.searchsorted(values, -np.inf, side="right"))
            hi = int(np.searchsorted(values, np.inf, side="left"))
            values = values[lo:hi]
        self.values = values
        self.n = values.size
        self.chunk = max(1024, chunk_pixels)
        self.ref = self.value((self.n - 1) // 2) if self.n else 0.0
        self._cached = None  # (lo, hi, s1, s2)

    def value(self, rank: int) -> float:
        return float(self.values[rank])

    def count_below(self, bound: float, inclusive: bool) -> int:
        # Binary search with exact float64 comparisons (np.searchsorted would
        # convert the whole array to float64 first).
        values, lo, hi = self.values, 0, self.n
        while lo < hi:
            mid = (lo + hi) // 2
            x = float(values[mid])
            if (x <= bound) if inclusive else (x < bound):
                lo = mid + 1
            else:
                hi = mid
        return lo

    def _direct(self, lo: int, hi: int) -> tuple[float, float]:
        s1 = s2 = 0.0
        for start in range(lo, hi, self.chunk):
            part = self.values[start : min(hi, start + self.chunk)].astype(np.float64)
            part -= self.ref
            s1 += float(part.sum())
            s2 += float(np.dot(part, part))
        return s1, s2

    def sums(self, lo: int, hi: int) -> tuple[float, float]:
        # Large runs: remove the clipped ends from the previous run's sums.
        cached = self._cached
        if (
            cached
            and hi - lo > 65536
            and cached[0] <= lo
            and hi <= cached[1]
            and (lo - cached[0]) + (cached[1] - hi) < hi - lo
        ):
            a1, a2 = self._direct(cached[0], lo)
            b1, b2 = self._direct(hi, cached[1])
            s1, s2 = cached[2] - a1 - b1, cached[3] - a2 - b2
        else:
            s1, s2 = self._direct(lo, hi)
        self._cached = (lo, hi, s1, s2)
        return s1, s2


def _kth_distance_scalar(sample, lo: int, hi: int, centre: float, k: int) -> float:
    """Scalar version of :func:`_kth_distance` for one sorted sample."""
    left, right = lo, hi - k + 1
    while left < right:
        mid = (left + right) // 2
        if sample.value(mid + k - 1) - centre >= centre - sample.value(mid):
            right = mid
        else:
            left = mid + 1
    best = math.inf
    if left <= hi - k:
        best = sample.value(left + k - 1) - centre
    if left - 1 >= lo:
        best = min(best, centre - sample.value(left - 1))
    return best


def _scalar_bounds(sample, lo: int, hi: int, p: ClipParams) -> tuple[float, float, float]:
    """Scalar version of :func:`_bounds` for one sorted sample."""
    k = hi - lo
    if p.use_median or p.use_mad_std:
        median = sample.value(lo + k // 2)  # an odd count's: the middle value, as astropy's
        if k % 2 == 0:
            median = 0.5 * (sample.value(lo + k // 2 - 1) + median)
    if p.use_mad_std:
        mad = _kth_distance_scalar(sample, lo, hi, median, k // 2 + 1)
        if k % 2 == 0:  # (odd counts: the middle distance itself)
            mad = 0.5 * (_kth_distance_scalar(sample, lo, hi, median, k // 2) + mad)
        std = mad * MAD_TO_STD
    exact = p.exact_stats or k <= 2
    if not p.exact_stats:
        if k <= 2:  # astropy's own operations (see _bounds)
            a = sample.value(lo)
            mean, std2 = pair_stats(a, sample.value(hi - 1)) if k == 2 else (a, 0.0)
            if not p.use_mad_std:
                std = std2
        else:
            s1, s2 = sample.sums(lo, hi)
            if sample.integer:  # exact (Python) integers: correctly rounded mean and variance
                mean, var = sums_stats(k, s1, s2, 0)
                if p.use_mad_std:
                    exact = True
                else:
                    low_bit = k & -k
                    spread = max(sample.value(hi - 1) - mean, mean - sample.value(lo)) * low_bit
                    exact = s1 % (k // low_bit) == 0 and spread * spread * k < 2.0**52
            else:
                mean, var = sums_stats(k, s1, s2, sample.ref)
        if not p.use_mad_std and k > 2:
            std = math.sqrt(max(var, 0.0))
    centre = median if p.use_median else mean
    tol = 0.0
    if not exact:
        # (k > 2 here; integer samples sum the values themselves, exactly)
        tol = float(_tolerance(p, float(k), float(s1), float(s2), getattr(sample, "ref", None),
                               std, centre, lambda: (sample.value(lo), sample.value(hi - 1)),
                               not sample.integer))
    return (*sigma_bounds(centre, std, p.sigma_lower, p.sigma_upper), tol)


def _near_scalar(sample, count: int, bound: float, tol: float) -> bool:
    if tol <= 0:
        return False
    if count > 0 and abs(bound - sample.value(count - 1)) <= tol:
        return True
    return count < sample.n and abs(sample.value(count) - bound) <= tol


def frame_bounds(frame: np.ndarray, p: ClipParams, chunk_pixels: int = 1 << 16,
                 counts: np.ndarray | None = None) -> tuple[float, float]:
    """astropy's final clipping bounds for the finite values of one frame.

    Returns ``(nan, nan)`` for a frame without finite values (everything is
    then rejected, as astropy does). For 8- and 16-bit integer frames,
    ``counts`` may give the frame's histogram already, indexed by the
    values' bit patterns (``np.bincount(frame.view(unsigned))``).
    """
    with np.errstate(over="ignore", invalid="ignore"):  # overflows: astropy settles
        return _clip_frame(frame, p, chunk_pixels, counts)


def _clip_frame(frame, p: ClipParams, chunk_pixels: int, counts) -> tuple[float, float]:
    if frame.dtype.kind in "ui" and frame.dtype.itemsize <= 2:
        sample = _HistogramSample(frame, chunk_pixels, counts)
    else:
        sample = _SortedSample(frame, chunk_pixels)
    if sample.n == 0:
        return math.nan, math.nan
    lo, hi = 0, sample.n
    iteration = 0
    ambiguous = False
    while True:
        lower, upper, tol = _scalar_bounds(sample, lo, hi, p)
        below = sample.count_below(lower, inclusive=False)
        within = sample.count_below(upper, inclusive=True)
        ambiguous |= (math.isinf(tol) or _near_scalar(sample, below, lower, tol)
                      or _near_scalar(sample, within, upper, tol))
        new_lo, new_hi = max(lo, below), min(hi, within)
        kept = max(new_hi - new_lo, 0)
        if kept == hi - lo or kept == 0:
            break
        lo, hi = new_lo, new_hi
        iteration += 1
        if p.maxiters != -1 and iteration >= p.maxiters:
            break
    if ambiguous:
        del sample
        low, up = astropy_bounds(frame[np.newaxis], p, axis=(1, 2))
        return float(low[0]), float(up[0])
    return lower, upper
