"""Every input of :func:`course_utils.combine` in one form, before any engine sees it.

:func:`canonical` turns whatever the caller passed into :class:`Canonical`
frames, before any engine sees them; the engines handle that one form only.
The rules (also stated in combine()'s docstring):

* **File names** (a list or tuple of str, bytes or `os.PathLike`, or an
  array of strings such as an astropy ``Column``): read with
  :func:`.fits_frames.read_stack` (``hdu``: the HDU that holds the image;
  None, the first one with an image).
* **Masks** (`numpy.ma.MaskedArray`, or the ``mask`` of ``CCDData`` and
  other ``NDData``): masked values are excluded, exactly as NaN is: the
  frame becomes floating point (float32 for data of up to 16 bits, float64
  otherwise) with NaN where masked. A mask with nothing masked changes
  nothing.
* **Byte order**: non-native data (``>i2`` from ``fits.getdata``) are
  converted to the native order.
* **Wide integers** (32 and 64 bits): converted to float64, as astropy's
  route does, so that results match it (sums of squares of such values are
  not exact in float64, so they cannot be treated as exact integers).
* **Units** (`astropy.units.Quantity`, ``CCDData.unit``): every frame must
  have the same unit (or none at all); the combined image then carries it.
* **Scale factors** (:func:`scale_factors`, combine()'s ``scale=``): each
  frame is multiplied by its factor, in float64, before anything else
  (a band of rows at a time: :func:`scaled_band`).
* **Extrema** (combine()'s ``nlow``/``nhigh``): :func:`reject_extrema`
  leaves them out of a band of rows of every frame.

The result type stays what it would be for the caller's data (float64 for
float64 frames, float32 otherwise), whatever the conversions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from numbers import Real
from typing import Any, Sequence

import numpy as np

from .fits_frames import FileFrames, as_paths, open_frames, read_stack

__all__ = ["Canonical", "as_numbers", "canonical", "missing_type", "out_dtype", "reject_extrema",
           "scale_factors", "scaled_band"]


@dataclass(frozen=True)
class Canonical:
    """Frames in the one form the engines take.

    ``frames`` is a 3-D array or a list of 2-D arrays, of integers of up to
    16 bits or floats, in native byte order, missing values as NaN/±inf;
    or FITS files to read a band of rows at a time (:class:`.FileFrames`).
    """

    frames: np.ndarray | list[np.ndarray] | FileFrames
    out_dtype: np.dtype  # the type of the combined image
    unit: Any = None  # an astropy unit, or None
    integer: bool = False  # the input was integers (whatever type the engines get)


def out_dtype(dtype: np.dtype) -> np.dtype:
    """Type of the combined image for frames of ``dtype``: float64 only for float64 data."""
    return np.dtype(np.float64) if dtype.kind == "f" and dtype.itemsize >= 8 else np.dtype(np.float32)


def missing_type(dtype: np.dtype) -> np.dtype:
    """A floating type that holds every value of ``dtype`` exactly enough, and NaN.

    (float32 for integers of up to 16 bits and small floats, else float64.)
    """
    if dtype.kind == "f":
        return np.dtype(np.float64) if dtype.itemsize >= 8 else np.dtype(np.float32)
    return np.dtype(np.float32) if dtype.itemsize <= 2 else np.dtype(np.float64)


@dataclass
class _Frame:
    """One array of the input with what came with it."""

    data: np.ndarray
    mask: np.ndarray | None
    unit: Any
    has_unit: bool


def _unpack(item, index) -> _Frame:
    """Data, mask and unit of a Quantity, MaskedArray, NDData/CCDData or array."""
    if not isinstance(item, np.ndarray) and hasattr(item, "data") and hasattr(item, "mask"):
        unit = getattr(item, "unit", None)  # NDData: unit may be None
        mask = None if item.mask is None else np.asarray(item.mask, dtype=bool)
        data = item.data
        inner = _unpack(data, index)  # the data of NDData may be masked or a Quantity
        if mask is not None and inner.mask is not None:
            mask = mask | inner.mask
        return _Frame(inner.data, mask if mask is not None else inner.mask,
                      unit if unit is not None else inner.unit, unit is not None or inner.has_unit)
    if isinstance(item, np.ma.MaskedArray):
        mask = item.mask
        inner = _unpack(item.data, index)
        return _Frame(inner.data, None if mask is np.ma.nomask else np.asarray(mask, dtype=bool),
                      inner.unit, inner.has_unit)
    if isinstance(item, np.ndarray) and hasattr(item, "unit") and hasattr(item, "value"):
        return _Frame(np.asarray(item.value), None, item.unit, True)  # a Quantity
    return _Frame(np.asarray(item), None, None, False)


def _canonical_array(frame: _Frame) -> np.ndarray:
    """The frame's data in the engines' form (see the module's rules)."""
    data = frame.data
    if data.dtype.kind not in "uif":
        raise TypeError(
            f"Frames must hold integer or floating-point numbers; got data type "
            f"{data.dtype} ({data.dtype.kind!r}). Convert them, e.g. frames.astype(np.float32)"
        )
    masked = frame.mask is not None and frame.mask.any()
    target = data.dtype.newbyteorder("=")
    if data.dtype.kind in "ui" and data.dtype.itemsize > 2:
        target = np.dtype(np.float64)
    if masked:
        target = np.promote_types(target, missing_type(data.dtype))
    if target != data.dtype:
        data = data.astype(target)
    if masked:
        if data is frame.data:
            data = data.copy()
        data[np.broadcast_to(frame.mask, data.shape)] = np.nan
    return data


def _common_unit(frames: list[_Frame]):
    if not any(f.has_unit for f in frames):
        return None
    units = [f.unit for f in frames]
    if not all(f.has_unit for f in frames) or any(x != units[0] for x in units):
        names = sorted({str(x) if f.has_unit else "no unit" for f, x in zip(frames, units)})
        raise ValueError(
            f"The frames have different units ({', '.join(names)}); combine() keeps the unit "
            "of its input, so give every frame the same unit (e.g. q.to(u.adu)) or none"
        )
    return units[0]


def _is_names(frames) -> bool:
    """A list/tuple/array of file names, rather than of images."""
    if isinstance(frames, np.ndarray):  # names come as a 1-D array (or Column)
        return frames.ndim == 1 and frames.dtype.kind in "SU" or frames.ndim == 1 and (
            frames.dtype.kind == "O" and frames.size > 0
            and all(isinstance(p, (str, bytes, os.PathLike)) for p in frames.ravel()))
    if not frames:
        return False
    names = [isinstance(f, (str, bytes, os.PathLike)) for f in frames]
    if any(names) and not all(names):
        raise TypeError("frames mixes FITS paths with other things; pass only paths or only arrays")
    return all(names)


def canonical(frames, progress: bool | None = None, hdu: int | str | None = None,
              banded: bool = False) -> Canonical:
    """Turn combine()'s ``frames`` argument into :class:`Canonical` frames.

    ``banded``: the caller can take file names as :class:`.FileFrames`,
    read a band of rows at a time (:func:`.open_frames`), where the files
    allow it.

    Examples
    --------
    >>> c = canonical(np.ma.masked_equal(np.array([[[1, 9]], [[1, 1]]], dtype=">i2"), 9))
    >>> c.frames.dtype, c.frames[0].tolist(), c.out_dtype
    (dtype('float32'), [[1.0, nan]], dtype('float32'))
    """
    if isinstance(frames, (str, bytes, os.PathLike)):
        raise ValueError(
            f"Got a single path {os.fsdecode(frames)!r}; pass a list of FITS paths (or of arrays)"
        )
    if not isinstance(frames, np.ndarray) or frames.ndim == 1 and frames.dtype.kind in "SUO":
        if isinstance(frames, np.ndarray) and not _is_names(frames):
            frames = list(frames)
        elif not isinstance(frames, np.ndarray):
            if not (isinstance(frames, Sequence) or hasattr(frames, "__iter__")):
                raise TypeError(
                    "frames must be a list of 2-D arrays, a 3-D array or a list of FITS paths, "
                    f"not {type(frames).__name__}"
                )
            frames = list(frames)
        if _is_names(frames):
            opened = open_frames(frames, hdu=hdu, progress=progress) if banded else None
            if opened is not None:
                return Canonical(opened, out_dtype(opened.dtype), None, opened.dtype.kind in "ui")
            stack = read_stack(as_paths(frames), hdu=hdu, progress=progress)
            return Canonical(stack, out_dtype(stack.dtype), None, stack.dtype.kind in "ui")
    if hdu is not None:
        raise ValueError(f"hdu={hdu!r} applies to FITS file names only; the frames are arrays")
    if isinstance(frames, np.ndarray):
        whole = _unpack(frames, 0)
        return Canonical(_canonical_array(whole), out_dtype(whole.data.dtype),
                         _common_unit([whole]), whole.data.dtype.kind in "ui")
    parts = [_unpack(f, i) for i, f in enumerate(frames)]
    for p in parts:
        if p.data.dtype.kind not in "uif":
            _canonical_array(p)  # raises the TypeError
    dtype = np.result_type(*[p.data.dtype for p in parts]) if parts else np.dtype(np.float64)
    return Canonical([_canonical_array(p) for p in parts], out_dtype(dtype), _common_unit(parts),
                     dtype.kind in "ui")


#: Values sorted at a time by :func:`reject_extrema`.
EXTREMA_VALUES = 1 << 16


def reject_extrema(band: np.ndarray, nlow: int, nhigh: int) -> np.ndarray:
    """Exclude the ``nlow`` lowest and ``nhigh`` highest valid values of every pixel, in place.

    ``band`` is a float ``(N, rows, nx)`` array of its own (a band of rows of
    every frame, as :class:`.frames.ExtremaFrames` makes it). Valid values
    are the finite ones (NaN, ±inf and masked values are already missing
    and do not count towards ``nlow``/``nhigh``). A pixel with ``nlow +
    nhigh`` or fewer valid values keeps none. Of tied values, which copy
    is excluded does not matter. Returns ``band``, with the excluded and
    the non-finite values NaN.

    Examples
    --------
    >>> band = np.array([[[5, 1]], [[1, 2]], [[3, 3]]], dtype=np.float32)
    >>> reject_extrema(band, 1, 0)[:, 0].tolist()
    [[5.0, nan], [nan, 2.0], [3.0, 3.0]]
    """
    n = len(band)
    flat = band.reshape(n, -1)
    # Pixels at a time: the sort's temporary arrays (about 30 bytes a value) stay small.
    step = max(64, EXTREMA_VALUES // max(n, 1))
    for a in range(0, flat.shape[1], step):
        block = flat[:, a:a + step]
        block[~np.isfinite(block)] = np.nan  # (missing either way; NaN sorts last)
        order = np.argsort(block, axis=0, kind="stable")
        valid = np.count_nonzero(~np.isnan(block), axis=0)
        ranks = np.arange(n)[:, np.newaxis]
        # Ranks (in the sorted order) of the values to exclude: the first
        # nlow and the last nhigh of each pixel's valid values.
        drop = (ranks < nlow) | ((ranks >= valid - nhigh) & (ranks < valid))
        np.put_along_axis(block, order, np.where(drop, np.nan, np.take_along_axis(block, order, 0)), 0)
    return band


def _factor(value, index: int, source: str, empty: bool = False) -> float:
    """One frame's scale factor, checked: a positive finite plain number.

    ``empty``: the frame has no valid value at all (said when its factor is NaN).
    """
    unit = getattr(value, "unit", None)
    if unit is not None:
        if unit.physical_type != "dimensionless":
            raise ValueError(
                f"{source} gives frame {index} the factor {value}, which has a unit ({unit}); "
                "scale factors must be plain numbers (take .value)")
        value = value.to_value("")
    real = isinstance(value, Real) or (np.ndim(value) == 0 and np.asarray(value).dtype.kind in "uif")
    if isinstance(value, (bool, np.bool_)) or not real:
        raise ValueError(
            f"{source} gives frame {index} the factor {value!r}; a scale factor is one real "
            "number per frame")
    factor = float(value)
    if not (np.isfinite(factor) and factor > 0):
        hint = ""
        if np.isnan(factor) and empty:
            hint = f" (frame {index} has no valid value: every value is NaN, ±inf or masked)"
        elif np.isnan(factor):
            hint = (" (np.median and np.mean of a frame with missing values are NaN: use "
                    "np.nanmedian or np.nanmean)")
        elif factor == 0 or np.isinf(factor):
            hint = " (the inverse of a frame whose median is 0?)"
        raise ValueError(
            f"{source} gives frame {index} the factor {factor!r}; scale factors must be positive "
            f"finite numbers{hint}")
    return factor


def as_numbers(name: str, value, what: str) -> np.ndarray:
    """``value`` as an array, or a ValueError naming ``name`` if numpy cannot make one."""
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"{name} must be {what}; got a {type(value).__name__} that is not one array of "
            f"numbers (its items differ in length or type: {error})") from None


def scale_factors(canon: Canonical, scale, limit: float = np.finfo(np.float64).max) -> np.ndarray:
    """Each frame's scale factor, checked, one frame at a time (no scaled stack is kept).

    ``scale`` is a sequence of N positive numbers or a function called with
    each frame (float64, read-only, missing values NaN) that returns its
    factor. Values that are finite before must stay finite after (no
    overflow), and within ``limit``, the largest value of the combined
    image's type (float32: 3.4e38), or a ValueError names the frame.
    :func:`scaled_band` then scales the frames, a band of rows at a time.

    Examples
    --------
    >>> scale_factors(canonical(np.array([[[2, 4]], [[10, 30]]], dtype=np.uint16)), [0.5, 0.1]).tolist()
    [0.5, 0.1]
    """
    frames = canon.frames
    n = len(frames)
    if not callable(scale):
        what = f"a function or a sequence of one factor per frame ({n})"
        if isinstance(scale, (str, bytes)) or as_numbers("scale", scale, what).ndim != 1 \
                or len(scale) != n:
            raise ValueError(f"scale must be {what}, got {_describe(scale)}")
        given = [_factor(v, i, "scale") for i, v in enumerate(scale)]
    factors = np.empty(n)
    for i in range(n):
        raw = np.asarray(frames[i])
        if not callable(scale) and raw.dtype.kind in "ui" and raw.size:
            # Integers: if the largest magnitude stays within the limit, so
            # does every value (rounding is monotonic), without a scaled copy.
            big = max(abs(float(raw.min())), abs(float(raw.max())))
            with np.errstate(over="ignore"):
                if big * given[i] <= limit:
                    factors[i] = given[i]
                    continue
        frame = _scaled(raw, 1.0)  # float64, missing values NaN
        finite = np.isfinite(frame)
        if callable(scale):
            view = frame.view()
            view.flags.writeable = False  # the function sees the frame, never changes it
            factor = _factor(scale(view), i, f"scale function {getattr(scale, '__name__', scale)!r}",
                             empty=not finite.any())
        else:
            factor = given[i]
        with np.errstate(over="ignore", invalid="ignore"):
            frame *= factor
            lost = np.count_nonzero(finite & ~(np.abs(frame) <= limit))
        if lost:
            raise ValueError(
                f"Scaling frame {i} by {factor:g} makes {lost} of its values overflow (beyond "
                f"{limit:.3g}, the largest value the combined image's type holds); use smaller "
                "factors (or rescale the frames first)")
        factors[i] = factor
    return factors


def _scaled(frame, factor: float, out: np.ndarray | None = None) -> np.ndarray:
    """``frame`` in float64 times ``factor``, NaN where it was not finite (into ``out``)."""
    if out is None:
        out = np.empty(np.shape(frame), dtype=np.float64)
    out[...] = frame
    out[~np.isfinite(out)] = np.nan  # (missing either way; what a scale function expects)
    if factor != 1.0:
        with np.errstate(over="ignore", invalid="ignore"):  # (checked by scale_factors)
            out *= factor
    return out


def scaled_band(frames, factors: np.ndarray, r0: int, r1: int) -> np.ndarray:
    """Rows ``r0:r1`` of every frame, scaled by its factor: a new float64 ``(N, r1 - r0, nx)`` array.

    Examples
    --------
    >>> scaled_band([np.array([[2, 4], [6, 8]], dtype=np.uint16)], np.array([0.5]), 1, 2).tolist()
    [[[3.0, 4.0]]]
    """
    n = len(frames)
    band = np.empty((n, r1 - r0) + np.shape(frames[0])[1:], dtype=np.float64)
    for i in range(n):
        _scaled(frames[i][r0:r1], factors[i], band[i])
    return band


def _describe(value) -> str:
    if isinstance(value, (str, bytes)) or np.ndim(value) == 0:
        return repr(value)
    return f"{type(value).__name__} of shape {np.shape(value)}"
