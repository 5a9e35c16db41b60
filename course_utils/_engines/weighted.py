"""Weighted means and sums of the values an engine kept (private).

combine()'s ``weights=`` does not change which values are kept: the engine
clips (without weights, as astropy's ``sigma_clip`` has none) and returns
its rejection mask; :func:`weighted_combine` then combines the kept values
``x`` with their weights ``w`` as ``sum(w * x) / sum(w)`` (method 'mean') or
``sum(w * x)`` (method 'sum'), in float64, a block of rows at a time. This
is what ``np.ma.average(..., weights=w)`` gives on the clipped stack.
"""

from __future__ import annotations

import numpy as np

from .._inputs import as_numbers
from .frames import _Frames

__all__ = ["checked_weights", "weighted_combine"]


def checked_weights(weights, n: int, shape: tuple[int, int]) -> np.ndarray:
    """``weights`` as a float64 array that broadcasts to the stack ``(n, *shape)``.

    One weight per frame (a sequence of N numbers) or one per value (an
    array of the stack's shape, or any 3-D shape that broadcasts to it, such
    as ``(N, 1, 1)`` or ``(1, ny, nx)``). Weights are plain finite numbers
    >= 0.

    Examples
    --------
    >>> checked_weights([1, 2, 0.5], 3, (4, 5)).shape
    (3, 1, 1)
    """
    if getattr(weights, "unit", None) is not None or isinstance(weights, np.ma.MaskedArray):
        raise ValueError(
            "weights must be plain numbers, not a Quantity or a masked array; to exclude "
            "values, mask them in the frames instead")
    full = (n,) + tuple(shape)
    w = as_numbers("weights", weights, f"one number per frame or an array of the stack's shape {full}")
    if w.dtype.kind not in "uif":
        raise ValueError(
            f"weights must be numbers (one per frame, or an array of the stack's shape {full}); "
            f"got data type {w.dtype}" + (" (to exclude values, mask them in the frames)"
                                          if w.dtype.kind == "b" else ""))
    if w.ndim == 1 and w.shape[0] == n:
        w = w.reshape(n, 1, 1)
    elif not (w.ndim == 3 and all(a in (1, b) for a, b in zip(w.shape, full))):
        raise ValueError(
            f"weights of shape {w.shape} do not fit {n} frames of shape {tuple(shape)}: give one "
            f"weight per frame (shape ({n},)) or one per value (shape {full})")
    w = w.astype(np.float64)
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"weights must be finite numbers >= 0; {np.count_nonzero(bad)} are not (the first at "
            f"index {first}, {w[first]!r})")
    return w


def weighted_combine(src: _Frames, rejected: np.ndarray, weights: np.ndarray,
                     total: bool, out: np.ndarray, budget: float) -> np.ndarray:
    """Fill ``out`` with the weighted mean (or sum, if ``total``) of the kept values.

    ``rejected`` is the engine's mask (N, ny, nx), True where a value was
    not kept. A pixel with no value kept is NaN; a mean whose kept values
    all weigh 0 is NaN too; a sum beyond float64's range raises ValueError.
    ``budget`` bounds the temporary arrays (bytes).
    """
    n, (ny, nx) = src.n, src.shape
    rows = max(1, int(budget // (3 * 8 * n * max(nx, 1))))
    # Relative weights (largest 1): a mean depends only on their ratios, and
    # neither sum(w) nor w * x can overflow or underflow because of their size.
    top = float(weights.max())
    if top > 0:
        weights = weights / top
    else:
        top = 1.0  # (all zero)
    for r0 in range(0, ny, rows):
        r1 = min(ny, r0 + rows)
        keep = ~rejected[:, r0:r1]
        x = np.asarray(src.blocks(r0, r1, 0, nx), dtype=np.float64)
        w = np.where(keep, weights[:, r0:r1] if weights.shape[1] > 1 else weights, 0.0)
        with np.errstate(invalid="ignore", over="ignore"):
            num = np.sum(w * np.where(keep, x, 0.0), axis=0)
            if total:
                num *= top
            if not np.isfinite(num).all():
                r, c = (int(i) for i in np.argwhere(~np.isfinite(num))[0])
                raise ValueError(
                    f"The weighted sum at pixel ({r0 + r}, {c}) overflows float64 (values times "
                    "weights beyond 1.8e308); scale the weights or the frames down")
            if total:
                out[r0:r1] = np.where(keep.any(axis=0), num, np.nan)
            else:
                out[r0:r1] = num / np.sum(w, axis=0)  # 0 / 0: NaN
    return out
