"""The frames of one combine() call, as both engines read them (private).

:class:`Frames` holds the canonical frames (see :mod:`course_utils.combining.inputs`)
as a 3-D stack or a list of 2-D frames; :func:`tile_blocks` cuts an image into
blocks of whole rows or pieces of a row.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from collections.abc import Sequence
from typing import Callable, NamedTuple

import numpy as np

from .clipping import ClipParams

#: Smallest working memory combine() will plan with, in bytes.
MIN_MEMORY = 4 * 2**20


@dataclass(frozen=True)
class Job:
    """What to compute: the same for both engines."""

    method: str  # 'median' or 'mean'
    clip: str | None  # None, 'frame' or 'pixel'
    params: ClipParams
    lower: np.ndarray | None = None  # each frame's bounds (clip='frame')
    upper: np.ndarray | None = None


class Outputs(NamedTuple):
    """The arrays an engine fills: the combined image, and counts and mask if asked for."""

    combined: np.ndarray
    count: np.ndarray | None
    mask: np.ndarray | None


class Frames:
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

    def rows(self, r0: int, r1: int) -> "Frames":
        """Rows ``r0:r1`` of every frame, as Frames of views (no copy)."""
        if self.stack is not None:
            return Frames(self.stack[:, r0:r1])
        return Frames([f[r0:r1] for f in self.list])

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


class ScaledFrames:
    """The frames times one factor each, made a frame or a band of rows at a time, in float64.

    What ``scale=`` needs without a whole scaled copy of the stack: ``list[i]``
    is frame ``i`` scaled (a new array each time, for each frame's clipping
    bounds) and :meth:`rows` a band of rows of every frame, scaled (one new
    float64 stack of the band, which the engines read like any other).
    """

    #: Bytes per value of a band that :meth:`rows` makes.
    copy_bytes = 8

    def __init__(self, frames: Frames, factors: np.ndarray, band: Callable):
        self.raw, self.factors, self._band = frames, factors, band
        self.n, self.shape = frames.n, frames.shape
        self.dtype = np.dtype(np.float64)
        self.list = _ScaledList(self)

    def rows(self, r0: int, r1: int) -> Frames:
        """Rows ``r0:r1`` of every frame, scaled: a new float64 stack."""
        return Frames(self._band(self.raw.list, self.factors, r0, r1))


class _MadeList(Sequence):
    """``list`` of frames made on demand (scaled, or without their extremes): frame ``i`` is made when asked."""

    def __init__(self, frames):
        self.frames = frames

    def __len__(self) -> int:
        return self.frames.n


class _ScaledList(_MadeList):
    def __getitem__(self, i):
        f = self.frames
        return f._band([f.raw.list[i]], f.factors[i:i + 1], 0, f.shape[0])[0]


class ExtremaFrames:
    """The frames without the lowest and highest values of each pixel (NaN instead), a band of rows at a time.

    What ``nlow``/``nhigh`` need without a whole float copy of the stack:
    :meth:`rows` takes a band of ``base`` (:class:`Frames`, or frames that
    make their bands: scaled, or read from files), as a new array of
    :attr:`dtype`, and ``reject(band)`` leaves the extremes out, in place.
    Per-frame statistics (``clip='frame'``, ``whole=True``) need whole
    frames: the values left out are then found once, a band at a time, and
    kept as a mask (1 bit a value), from which ``list[i]`` makes frame ``i``.
    """

    def __init__(self, base, dtype, reject: Callable[[np.ndarray], np.ndarray], whole: bool = False,
                 budget: float = MIN_MEMORY):
        self.base, self.dtype, self._reject = base, np.dtype(dtype), reject
        self.n, self.shape = base.n, base.shape
        #: Bytes per value of a band that :meth:`rows` makes (with the band of ``base`` it converts).
        self.copy_bytes = self.dtype.itemsize + (0 if base.dtype == self.dtype else
                                                 getattr(base, "copy_bytes", 0))
        self.left_out = None
        if whole:
            ny, nx = self.shape
            left_out = np.empty((self.n, ny, -(-nx // 8)), dtype=np.uint8)  # (a bit a value)
            rows = int(max(1, budget / 4 // max(1, self.n * nx * self.copy_bytes)))
            for r0 in range(0, ny, rows):
                r1 = min(ny, r0 + rows)
                left_out[:, r0:r1] = np.packbits(np.isnan(self.rows(r0, r1).stack), axis=-1)
            self.left_out = left_out
        self.list = _LeftOutList(self)

    def rows(self, r0: int, r1: int) -> Frames:
        """Rows ``r0:r1`` of every frame, the extremes left out: a new stack of :attr:`dtype`."""
        part = self.base.rows(r0, r1)
        if hasattr(self.base, "copy_bytes") and part.stack.dtype == self.dtype:
            band = part.stack  # (a new array already)
        else:
            band = np.empty((self.n, r1 - r0) + tuple(self.shape[1:]), dtype=self.dtype)
            for i, f in enumerate(part.list):
                band[i] = f
        if self.left_out is None:
            return Frames(self._reject(band))
        band[self.unpacked(self.left_out[:, r0:r1])] = np.nan  # (what reject() left out, and non-finite values)
        return Frames(band)

    def unpacked(self, bits: np.ndarray) -> np.ndarray:
        """The mask of the values left out, from its bits (rows of ``left_out``)."""
        return np.unpackbits(bits, axis=-1, count=self.shape[1]).view(bool)


class _LeftOutList(_MadeList):
    def __getitem__(self, i):
        f = self.frames
        frame = f.base.list[i]
        if not (hasattr(f.base, "copy_bytes") and frame.dtype == f.dtype):  # (not a new array already)
            frame = np.array(frame, dtype=f.dtype)
        frame[f.unpacked(f.left_out[i])] = np.nan
        return frame


def work_dtype(dtype: np.dtype) -> np.dtype:
    """Type of the sorted tiles: exact for the input, as small as possible."""
    if dtype.kind in "ui" and dtype.itemsize <= 2:
        return dtype  # sorted as integers: faster, and no NaN to handle
    if dtype.kind == "f" and dtype.itemsize <= 4:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def tile_blocks(ny: int, nx: int, pixels: int):
    """Blocks (r0, r1, c0, c1) of about ``pixels`` pixels: whole rows, or pieces of a row."""
    if nx <= pixels:
        step = max(1, pixels // max(nx, 1))
        for r0 in range(0, ny, step):
            yield r0, min(ny, r0 + step), 0, nx
    else:
        for r in range(ny):
            for c0 in range(0, nx, pixels):
                yield r, r + 1, c0, min(nx, c0 + pixels)


def cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1
