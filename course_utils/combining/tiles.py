"""The numpy engine's tile kernels: combine the pixels of one tile.

:mod:`.numpy_engine` fills a tile buffer ``b`` (pixels, N), one pixel per
row, chunk by chunk, calling ``prepare(b[a:z], a, z, block)`` on each chunk
as soon as it is copied (while it is in the CPU's cache: sorting, sums),
then ``finish(b, block, want_mask)`` once for the tile, which returns the
combined values, the counts of kept values and the rejection mask block.
The clipping itself is :mod:`.clipping`'s.

* :class:`PlainKernel`: no clipping;
* :class:`PixelKernel`: ``clip='pixel'``;
* :class:`FrameKernel`: ``clip='frame'`` (each frame's bounds known).
"""

from __future__ import annotations

import numpy as np

from .clipping import (ClipParams, apply_bounds, astropy_bounds, clip_sorted_rows,
                       clip_unsorted_rows, row_count)

__all__ = ["PlainKernel", "PixelKernel", "FrameKernel"]

# ---------------------------------------------------------------------------
# Tile kernels: combine the pixels of a tile
# ---------------------------------------------------------------------------
#
# combine() fills a tile buffer ``b`` (pixels, N), one pixel per row, chunk by
# chunk, calling ``prepare(b[a:z], a, z)`` on each chunk as soon as it is
# copied (while it is in the CPU's cache: sorting, sums), then
# ``finish(b, block, want_mask)`` once for the tile, which returns the
# combined values, the counts of kept values and the rejection mask block.

#: Values converted to float64 at a time when summing rows.
_BLOCK_VALUES = 1 << 16


def _row_sums(b: np.ndarray, ref: np.ndarray | None, squares: bool):
    """Per row: sums of ``x - ref`` (and of squares) over the non-NaN values, in float64."""
    rows, width = b.shape
    s1 = np.empty(rows)
    s2 = np.empty(rows) if squares else None
    step = max(1, _BLOCK_VALUES // width)
    for a in range(0, rows, step):
        z = min(rows, a + step)
        x = b[a:z].astype(np.float64)
        if ref is not None:
            x -= ref[a:z, None]
        if b.dtype.kind == "f":
            np.nan_to_num(x, copy=False, nan=0.0)
        s1[a:z] = np.einsum("ij->i", x)
        if squares:
            s2[a:z] = np.einsum("ij,ij->i", x, x)
    return s1, s2


def _missing_to_nan(b: np.ndarray) -> np.ndarray | None:
    """Turn inf into NaN in a float chunk; valid values per row, or None if all are."""
    if b.dtype.kind != "f":
        return None
    finite = np.isfinite(b)
    if finite.all():
        return None
    b[~finite] = np.nan
    return np.count_nonzero(finite, axis=1)


def _middle(b: np.ndarray, lo, k):
    """Median of the sorted runs ``[lo, lo + k)`` of the rows of ``b`` (NaN where k == 0)."""
    flat = b.reshape(-1)
    # An empty run may start past the row's end (every value below the
    # lower bound): read a value of its own row instead, unused.
    base = np.arange(b.shape[0], dtype=np.intp) * b.shape[1] + np.where(k > 0, lo, 0)
    k1 = np.maximum(k, 1)
    lower_mid = flat[base + (k1 - 1) // 2].astype(np.float64)
    upper_mid = flat[base + k1 // 2].astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        # An odd count's median is its middle value (no overflow next to 1e308).
        med = np.where(k1 % 2 == 1, upper_mid, 0.5 * (lower_mid + upper_mid))
    med[k == 0] = np.nan
    return med


def _middle_rows(b: np.ndarray, rows: np.ndarray, lo, k):
    """Median of the sorted runs ``[lo, lo + k)`` of some rows of ``b``."""
    flat = b.reshape(-1)
    base = rows * b.shape[1] + np.where(k > 0, lo, 0)  # (see _middle)
    k1 = np.maximum(k, 1)
    upper_mid = flat[base + k1 // 2].astype(np.float64)
    with np.errstate(over="ignore"):
        med = np.where(k1 % 2 == 1, upper_mid,
                       0.5 * (flat[base + (k1 - 1) // 2].astype(np.float64) + upper_mid))
    return np.where(k > 0, med, np.nan)


def _mean(total, k):
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / k
    return np.where(k > 0, mean, np.nan)


def _nonfinite(blocks, shape):
    """Mask of the NaN/inf values of a block of every frame, shape (N, rows, cols)."""
    mask = np.zeros(shape, dtype=bool)
    for i, blk in enumerate(blocks):
        if blk.dtype.kind == "f":
            np.logical_not(np.isfinite(blk), out=mask[i])
    return mask


class _KeptValues:
    """What the plain and per-frame kernels share: combining the values they kept.

    ``prepare`` leaves either the running sums of the kept values
    (``total``, for the mean) or the rows sorted with the kept values first
    (for the median); ``counts`` holds how many were kept.
    """

    def combined(self, b) -> np.ndarray:
        if self.method == "mean":
            return _mean(self.total, self.counts)
        return _middle(b, 0, self.counts)


class PlainKernel(_KeptValues):
    """No clipping: NaN-aware median or mean of every pixel."""

    def __init__(self, src, method: str):
        self.src, self.method = src, method

    def start(self, m: int) -> None:
        self.counts = np.full(m, self.src.n, dtype=np.intp)
        if self.method == "mean":
            self.total = np.empty(m)

    def prepare(self, b, a, z, block):
        n = _missing_to_nan(b)
        if n is not None:
            self.counts[a:z] = n
        if self.method == "mean":
            self.total[a:z] = _row_sums(b, None, squares=False)[0]  # no sort needed
        else:
            b.sort(axis=1)

    def finish(self, b, block, want_mask):
        rejected = None
        if want_mask:
            r0, r1, c0, c1 = block
            rejected = _nonfinite(self.src.blocks(*block), (self.src.n, r1 - r0, c1 - c0))
        return self.combined(b), self.counts, rejected


class PixelKernel:
    """clip='pixel': sort each pixel's values, then clip the sorted rows.

    For 8/16-bit integers combined by their mean with a mean centre and the
    standard deviation (ccdproc's clipping), sorting waits: iteration 1
    needs only sums and extremes, and only the rows it changes get sorted.
    """

    def __init__(self, src, method: str, params: ClipParams):
        self.src, self.method, self.params = src, method, params
        self.integer = src.dtype.kind in "ui"
        # 8/16-bit integers: sums are exact without a shift while N**2 *
        # max|x|**2 stays below 2**53; otherwise shift by a middle value.
        self.shift = not (src.dtype.kind in "ui" and src.dtype.itemsize <= 2 and src.n <= 1400)
        self.want_sum = method == "mean"
        self.sums = params.needs_sums or self.want_sum
        self.lazy = self.want_sum and not self.shift and not params.use_median and not params.use_mad_std

    def start(self, m: int) -> None:
        self.n = np.full(m, self.src.n, dtype=np.intp)
        self.missing = False
        self.ref = np.zeros(m)
        if self.sums:
            self.s1 = np.empty(m)
            self.s2 = None if self.params.use_mad_std else np.empty(m)
        if self.lazy:
            self.xmin = np.empty(m)
            self.xmax = np.empty(m)

    def prepare(self, b, a, z, block):
        if self.lazy:  # integers: no missing values, no shift
            self.xmin[a:z], self.xmax[a:z] = self.src.extremes(block)
            self.s1[a:z], self.s2[a:z] = _row_sums(b, None, True)
            return
        n = _missing_to_nan(b)
        b.sort(axis=1)
        width = b.shape[1]
        if n is not None:
            self.missing = True
            self.n[a:z] = n
        if self.shift:
            if n is None:
                self.ref[a:z] = b[:, (width - 1) // 2]
            else:
                middle = np.arange(z - a) * width + np.maximum(n - 1, 0) // 2
                self.ref[a:z] = np.where(n > 0, b.reshape(-1)[middle], 0.0)
        if self.sums:
            s1, s2 = _row_sums(b, self.ref[a:z] if self.shift else None, self.s2 is not None)
            self.s1[a:z] = s1
            if s2 is not None:
                self.s2[a:z] = s2

    def finish(self, b, block, want_mask):
        p = self.params
        ref = self.ref if self.shift else None
        s1 = self.s1 if self.sums else None
        s2 = self.s2 if self.sums else None
        if self.lazy:
            res = clip_unsorted_rows(b, s1, s2, self.xmin, self.xmax, p, want_sum=True)
        else:
            res = clip_sorted_rows(b, self.n if self.missing else None, ref, s1, s2, p,
                                   self.integer, want_sum=self.want_sum)
        lo, hi, lower, upper, total = res.lo, res.hi, res.lower, res.upper, res.sum
        ambiguous = np.flatnonzero(res.ambiguous)
        step = max(1, _BLOCK_VALUES // b.shape[1])
        for start in range(0, ambiguous.size, step):
            # A value within rounding of a bound: take astropy's own bounds.
            idx = ambiguous[start : start + step]
            low, up = astropy_bounds(self.src.pixels(block, idx), p, axis=1)
            lo_a, hi_a, total_a = apply_bounds(b[idx], None if ref is None else ref[idx], low, up,
                                               self.want_sum)
            lo[idx], hi[idx], lower[idx], upper[idx] = lo_a, hi_a, low, up
            if self.want_sum:
                total[idx] = total_a
        kept = hi - lo
        if self.want_sum:
            with np.errstate(over="ignore", invalid="ignore"):  # (inf near float64's largest, as numpy's)
                result = _mean(total if ref is None else total + kept * ref, kept)
        elif res.median is not None:
            # Rows that kept all their values: the median of iteration 1.
            result = res.median.copy()
            if self.missing:
                result[kept == 0] = np.nan
            redo = np.union1d(res.active, ambiguous)
            result[redo] = _middle_rows(b, redo, lo[redo], kept[redo])
        else:
            result = _middle(b, lo, kept)
        rejected = None
        if want_mask:
            r0, r1, c0, c1 = block
            shape = (r1 - r0, c1 - c0)
            lower, upper = lower.reshape(shape), upper.reshape(shape)
            blocks = self.src.blocks(*block)
            rejected = _nonfinite(blocks, (self.src.n,) + shape)
            for i, blk in enumerate(blocks):
                rejected[i] |= blk < lower
                rejected[i] |= blk > upper
        return result, kept, rejected


def _thresholds(lower: np.ndarray, upper: np.ndarray, dtype: np.dtype):
    """Per-frame bounds in the tile's own type, for exact comparisons.

    For every finite value ``x`` of ``dtype``: ``lower <= x`` exactly when
    ``lo <= x``, and ``x <= upper`` exactly when ``x <= hi``; ±inf never
    pass. ``empty`` marks frames whose interval holds no value (and frames
    without finite values, whose bounds are NaN).
    """
    empty = np.isnan(lower) | np.isnan(upper)
    lower = np.where(empty, 0.0, lower)
    upper = np.where(empty, 0.0, upper)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        lo, hi = np.ceil(lower), np.floor(upper)
        empty |= (lo > hi) | (lo > info.max) | (hi < info.min)
        return (np.clip(lo, info.min, info.max).astype(dtype),
                np.clip(hi, info.min, info.max).astype(dtype), empty)
    finfo = np.finfo(dtype)
    with np.errstate(over="ignore"):
        lo = lower.astype(dtype)
        hi = upper.astype(dtype)
    lo = np.where(lo < lower, np.nextafter(lo, dtype.type(np.inf)), lo)  # round up
    hi = np.where(hi > upper, np.nextafter(hi, dtype.type(-np.inf)), hi)  # round down
    lo = np.clip(lo, finfo.min, finfo.max).astype(dtype)
    hi = np.clip(hi, finfo.min, finfo.max).astype(dtype)
    return lo, hi, empty | (lo > hi)


class FrameKernel(_KeptValues):
    """clip='frame': keep the values inside their own frame's bounds."""

    def __init__(self, src, method: str, lower: np.ndarray, upper: np.ndarray, want_mask: bool):
        self.src, self.method = src, method
        self.lower, self.upper = lower, upper
        self.want_mask = want_mask
        self.cache = {}

    def start(self, m: int) -> None:
        self.counts = np.empty(m, dtype=np.intp)
        if self.method == "mean":
            self.total = np.empty(m)
        if self.want_mask:
            self.keep = np.empty((m, self.src.n), dtype=bool)

    def prepare(self, b, a, z, block):
        if b.dtype not in self.cache:
            self.cache[b.dtype] = _thresholds(self.lower, self.upper, b.dtype)
        lo, hi, empty = self.cache[b.dtype]
        keep = (b >= lo) & (b <= hi)  # NaN and inf: False
        if empty.any():
            keep[:, empty] = False
        self.counts[a:z] = row_count(keep)
        if self.want_mask:
            self.keep[a:z] = keep
        np.logical_not(keep, out=keep)
        if self.method == "mean":
            np.copyto(b, 0, where=keep)
            self.total[a:z] = _row_sums(b, None, squares=False)[0]
        else:
            fill = np.inf if b.dtype.kind == "f" else np.iinfo(b.dtype).max
            np.copyto(b, fill, where=keep)
            b.sort(axis=1)  # the rejected values sort after every kept one

    def finish(self, b, block, want_mask):
        rejected = None
        if want_mask:
            r0, r1, c0, c1 = block
            rejected = ~self.keep.T.reshape(self.src.n, r1 - r0, c1 - c0)
        return self.combined(b), self.counts, rejected
