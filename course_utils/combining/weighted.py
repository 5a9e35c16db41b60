"""Weighted means, and sums, of the values an engine kept.

combine()'s ``weights=`` does not change which values are kept: the engine
clips (without weights, as astropy's ``sigma_clip`` has none) and returns
its rejection mask; :func:`kept_sums` then combines the kept values ``x``
with their weights ``w`` as ``sum(w * x) / sum(w)`` (method 'mean') or
``sum(w * x)`` (method 'sum'), in float64, a block of rows at a time: what
``np.ma.average(..., weights=w)`` and ``np.nansum`` give on the clipped
stack, to the last bit. Sums of floating-point frames (``method='sum'``)
are computed here too, without weights.
"""

from __future__ import annotations

import numpy as np

from .inputs import as_numbers
from .frames import Frames

__all__ = ["checked_weights", "kept_sums"]


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


def kept_sums(src: Frames, rejected: np.ndarray, weights: np.ndarray | None, total: bool,
              out: np.ndarray, budget: float, first_row: int = 0) -> np.ndarray:
    """Fill ``out`` with the weighted mean, or the (weighted) sum, of the kept values.

    ``rejected`` is the engine's mask (N, ny, nx), True where a value was
    not kept; ``weights`` broadcasts to the stack (None: all 1, for a sum).
    With ``total``, ``out`` gets ``sum(w * x)``, else ``sum(w * x) /
    sum(w)``, float64 sums over the frames in their order: bit for bit
    ``np.nansum`` of the kept values and ``np.ma.average`` of the clipped
    stack, wherever their sums neither overflow nor underflow. Where they
    would (weights from 1e-300 to 1e300), the weighted mean is computed
    with the pixel's weights scaled by a power of two (which changes no
    ratio), or failing that exactly (:func:`_exact_means`). A pixel with no
    value kept is NaN, and so is a mean whose kept values all weigh 0; a
    sum beyond float64's range raises ValueError naming the pixel.
    ``budget`` bounds the temporary arrays (bytes). ``first_row``: the
    image row of the frames' row 0 (they may be a band of the image), for
    messages.
    """
    n, (ny, nx) = src.n, src.shape
    rows = max(1, int(budget // (4 * 8 * n * max(nx, 1))))
    for r0 in range(0, ny, rows):
        r1 = min(ny, r0 + rows)
        keep = ~rejected[:, r0:r1]
        x = np.where(keep, np.asarray(src.blocks(r0, r1, 0, nx), dtype=np.float64), 0.0)
        if total:
            out[r0:r1] = _sums(x, keep, weights, r0, r1, first_row)
            continue
        w = np.where(keep, weights[:, r0:r1] if weights.shape[1] > 1 else weights, 0.0)
        mean, clean = _weighted_means(x, w)
        redo = ~clean & (w > 0).any(axis=0)
        if redo.any():
            xs, ws = x[:, redo], w[:, redo]
            ws = np.ldexp(ws, -np.frexp(ws.max(axis=0))[1])  # largest in [0.5, 1)
            again, fine = _weighted_means(xs, ws)
            again[~fine] = _exact_means(xs[:, ~fine], ws[:, ~fine])
            mean[redo] = again
        out[r0:r1] = mean
    return out


def _sums(x: np.ndarray, keep: np.ndarray, weights: np.ndarray | None, r0: int, r1: int,
          first_row: int = 0):
    """``sum(w * x)`` over the frames (NaN where nothing is kept); ValueError on overflow."""
    with np.errstate(invalid="ignore", over="ignore"):
        if weights is not None:
            x = x * (weights[:, r0:r1] if weights.shape[1] > 1 else weights)
        total = np.sum(x, axis=0)
    if not np.isfinite(total).all():
        r, c = (int(i) for i in np.argwhere(~np.isfinite(total))[0])
        raise ValueError(
            f"The sum at pixel ({first_row + r0 + r}, {c}) overflows float64 (beyond 1.8e308); scale the "
            "weights or the frames down")
    return np.where(keep.any(axis=0), total, np.nan)


_TINY = np.finfo(np.float64).tiny


def _weighted_means(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``sum(w * x) / sum(w)`` along axis 0, as np.ma.average, and where no sum over- or underflowed.

    ``x`` and ``w`` are 0 where a value is not kept.
    """
    with np.errstate(invalid="ignore", over="ignore", under="ignore", divide="ignore"):
        wx = w * x
        num = np.sum(wx, axis=0)
        den = np.sum(w, axis=0)
        mean = num / den  # 0 / 0: NaN
        lost = ((np.abs(wx) < _TINY) & (x != 0) & (w != 0)).any(axis=0)  # underflowed products
    clean = np.isfinite(num) & np.isfinite(den) & (den >= _TINY) & ~lost
    return mean, clean


def _exact_means(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``sum(w * x) / sum(w)`` per column, in exact rational arithmetic, correctly rounded.

    Only for the rare pixels whose weights span more than float64's range
    and whose values would over- or underflow even after scaling.
    """
    from fractions import Fraction

    out = np.empty(x.shape[1])
    for j in range(x.shape[1]):
        den = sum(Fraction(float(v)) for v in w[:, j])
        num = sum(Fraction(float(a)) * Fraction(float(b)) for a, b in zip(w[:, j], x[:, j]))
        out[j] = float(num / den) if den else np.nan
    return out
