"""Reference answers the checks compare with, computed once per dataset.

Private to :mod:`course_utils.checks`. Everything here is computed silently
(no progress bars) and cached per dataset folder, so that a check takes well
under a second once its references exist.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable

import numpy as np
from astropy.io import fits

from .. import solutions
from ..combining import combine
from ..data.layout import frame_paths
from ..combining.fits_frames import read_stack, unsigned_from_offset16
from . import _truth
from ._copied import DATASETS_AT_ONCE, grid_step
from ._disk_cache import cached_arrays

# Frames each exercise is about (as in the notebooks), from the dataset's layout.
BIAS_FRAMES = frame_paths("bias", "ifum")
BIAS_FIRST, BIAS_SECOND = BIAS_FRAMES[:2]
DARK_FRAMES = frame_paths("dark", "ifum")
FLAT_FRAMES = frame_paths("flat", "ift")

#: A residual beyond this many DU in a master dark is a defect, not noise
#: (the noise of a master dark of five frames is about 2-3 DU per pixel).
DARK_DEFECT_DU = 25.0
#: Rows of each dark kept to recognize a single dark given as the master dark.
SAMPLE_ROWS = 128


# --- Cached references (computed once per dataset) ----------------------------


@functools.lru_cache(maxsize=4)
def bias_pair(root: str) -> tuple[np.ndarray, np.ndarray]:
    return (
        fits.getdata(Path(root, BIAS_FIRST)),
        fits.getdata(Path(root, BIAS_SECOND)),
    )


@functools.lru_cache(maxsize=4)
def bias_header(root: str) -> dict[str, float]:
    """EGAIN (electrons/DU) and ENOISE (electrons) of the bias frames."""
    header = fits.getheader(Path(root, BIAS_FIRST))
    return {"gain": float(header["EGAIN"]), "noise_e": float(header["ENOISE"])}


@functools.lru_cache(maxsize=DATASETS_AT_ONCE)
def bias_center(root: str) -> tuple[float, float]:
    """Exercise 1's centre on ``root`` and a tolerance twice the check's, cheaply.

    The centre is ``solutions.bias_statistics``'s (the median); the check
    accepts a quarter of the clipped spread around it, and the plain standard
    deviation used here is never smaller than the clipped one.
    """
    data = bias_pair(root)[0].astype(np.float64)
    return float(exact_median(data)), 0.5 * float(np.std(data))


@functools.lru_cache(maxsize=DATASETS_AT_ONCE)
def difference_grid(root: str) -> tuple[int, np.ndarray]:
    """Exercise 2's difference (``solutions.bias_difference``) at every ``step``-th row
    and column, from those rows of the two bias frames alone: ``(step, grid)``."""
    header = fits.getheader(Path(root, BIAS_FIRST))
    step = grid_step((header["NAXIS2"], header["NAXIS1"]))
    first, second = _every_row(root, [BIAS_FIRST, BIAS_SECOND], step)
    return step, np.ascontiguousarray(solutions.bias_difference(first, second)[:, ::step])


@functools.lru_cache(maxsize=4)
def statistics(root: str) -> solutions.BiasStatistics:
    """Exercise 1's reference: ``solutions.bias_statistics`` of the first bias frame.

    Cached on disk as float64 numbers (they come back bit for bit): its
    iterative clipping takes a third of a second.
    """
    stored = cached_arrays("bias_statistics", root, [BIAS_FIRST], lambda: {
        "values": np.array(solutions.bias_statistics(bias_pair(root)[0]), dtype=np.float64)})
    fields = solutions.BiasStatistics._fields
    return solutions.BiasStatistics(*(int(v) if name == "n_outliers" else float(v)
                                      for name, v in zip(fields, stored["values"])))


@functools.lru_cache(maxsize=4)
def read_noise(root: str) -> float:
    """Exercise 2's reference: ``solutions.read_noise`` of the first two bias frames (cached on disk)."""
    stored = cached_arrays("read_noise", root, [BIAS_FIRST, BIAS_SECOND], lambda: {
        "value": np.array(solutions.read_noise(*bias_pair(root)), dtype=np.float64)})
    return float(stored["value"])


# Three datasets: the student's, and up to two others a wrong answer is compared with
# (course_utils.checks._copied).
@functools.lru_cache(maxsize=3)
def flat_reference(root: str) -> dict[str, Any]:
    arrays = cached_arrays("flat", root, FLAT_FRAMES, lambda: _flat_arrays(root))
    scalars = ("single_noise", "contrast", "bias_level", "signal")
    return {
        "root": root,
        "master": arrays["master"],
        "syllabus": arrays["syllabus"],
        # Every SAMPLE_ROWS-th row of each flat, normalized: one flat is recognized.
        "single_rows": arrays["single_rows"],
        **{name: float(arrays[name]) for name in scalars},
        "raw_shape": tuple(int(n) for n in arrays["raw_shape"]),
        "n_frames": len(FLAT_FRAMES),
        "signals": [float(v) for v in arrays["signals"]],
    }


@functools.lru_cache(maxsize=DATASETS_AT_ONCE)
def flat_grid(root: str) -> tuple[int, np.ndarray]:
    """The master flat (notebook orientation) at every ``step``-th row and column: ``(step, grid)``.

    Made as :func:`_flat_arrays` makes it, but each flat is normalized by the
    median of its grid pixels, not of all: a few parts in 10,000 from the
    reference, and a tenth of the time. It only tells which dataset a wrong
    flat resembles (:class:`course_utils.checks._copied.Resemblance`), which
    a common factor does not change.
    """
    paths = [Path(root, p) for p in FLAT_FRAMES]
    header = fits.getheader(paths[0])
    raws = read_stack(paths, progress=False)
    rows, cols = solutions.fits_section(header["DATASEC"])
    data = raws[:, rows, cols]
    step = grid_step(data.shape[1:])
    levels = np.array([solutions.overscan_level(raw, header["BIASSEC"]) for raw in raws])
    grid = data[:, ::step, ::step].astype(np.float32) - levels.astype(np.float32)[:, None, None]
    grid /= np.median(grid, axis=(1, 2), keepdims=True)
    master = np.median(grid, axis=0)
    return step, np.ascontiguousarray((master / np.median(master)).T)


def _corrected_flats(root: str) -> tuple[np.ndarray, list[float], tuple[int, ...]]:
    """The ift c2 flats read once: each minus its overscan level and trimmed, as stored
    (rows of the file: the notebook's transpose is taken at the end, so that every step
    runs through memory in order), the levels, and the raw frames."""
    paths = [Path(root, p) for p in FLAT_FRAMES]
    header = fits.getheader(paths[0])
    raws = read_stack(paths, progress=False)
    rows, cols = solutions.fits_section(header["DATASEC"])
    levels = [solutions.overscan_level(raw, header["BIASSEC"]) for raw in raws]
    corrected = raws[:, rows, cols].astype(np.float32)
    corrected -= np.array(levels, dtype=np.float32)[:, None, None]
    return corrected, levels, raws


def _transposed(image: np.ndarray) -> np.ndarray:
    """An image as the notebook holds it (transposed), in row-major order."""
    return np.ascontiguousarray(image.T)


def _flat_arrays(root: str) -> dict[str, np.ndarray]:
    corrected, levels, raws = _corrected_flats(root)
    signals = [float(exact_median(frame)) for frame in corrected]
    # Each flat over its own median, in float32 as `frame / np.float32(signal)`.
    singles = corrected / np.array(signals, dtype=np.float32)[:, None, None]
    # solutions.master_flat's steps, with its combine(), on the frames normalized above
    # (each median is needed here too, and computing it twice cost a seventh of a
    # second); tests/test_checks_guard.py holds the two equal. Medians per pixel and
    # of a whole image do not depend on the transpose.
    master = combine(singles, method="median")
    master = _transposed(master / exact_median(master))
    # The syllabus's route: median of the flats as they are (as np.median(axis=0)),
    # normalized once.
    unnormalized = combine(corrected, method="median")
    return {
        "master": master,
        "syllabus": _transposed(unnormalized / exact_median(unnormalized)),
        # Every SAMPLE_ROWS-th row of each transposed flat: its columns as stored.
        "single_rows": np.ascontiguousarray(singles[:, :, ::SAMPLE_ROWS].transpose(0, 2, 1)),
        # Noise of one flat, and of the median of all (1.25: a median's noise).
        "single_noise": np.array(robust_std(singles[0].T - master)),
        "contrast": np.array(contrast(master)),
        "raw_shape": np.array(raws[0].shape),
        "bias_level": np.array(float(np.median(levels))),
        "signal": np.array(float(np.median(signals))),
        "signals": np.array(signals),
    }


#: Arrays with fewer values than this go straight to ``np.median``.
MEDIAN_DIRECT = 200_000


def exact_median(values) -> np.floating:
    """``np.median(values)`` (no ``axis``), bit for bit, about three times faster on an image.

    ``np.median`` partitions a copy of all the values. Here a sorted sample
    of about 10,000 values gives a window around the median holding some 6 %
    of them; only the window is partitioned, and the values below it are
    counted. The middle value (or the mean of the middle two, computed as
    ``np.median`` does) is the same. Small arrays, integers, a NaN anywhere
    or a window that misses the middle go to ``np.median``.

    Examples
    --------
    >>> values = np.arange(1_000_001, dtype=np.float32)[::-1]
    >>> bool(exact_median(values) == np.median(values))
    True
    """
    array = np.asarray(values)
    n = array.size
    if n < MEDIAN_DIRECT or array.dtype.kind != "f":
        return np.median(array)
    flat = array.ravel(order="K")  # memory order: a transposed image is not copied
    sample = np.sort(flat[:: n // 10_000])
    low, high = sample[int(sample.size * 0.47)], sample[int(sample.size * 0.53)]
    outside = flat < low
    below = int(np.count_nonzero(outside))
    np.logical_or(outside, flat > high, out=outside)
    window = flat[~outside]  # a NaN is neither below nor above: it lands here
    middle = [(n - 1) // 2 - below] if n % 2 else [n // 2 - 1 - below, n // 2 - below]
    if middle[0] < 0 or middle[-1] >= window.size or np.isnan(window).any():
        return np.median(array)
    part = np.partition(window, middle)
    return np.mean(part[middle[0]:middle[-1] + 1])


def dark_levels(image: np.ndarray, data_shape: tuple[int, int],
                corner: tuple[int, int]) -> solutions.DarkLevels:
    """``solutions.dark_levels(image, data_shape, corner)``, with :func:`exact_median`.

    The same regions (:func:`course_utils.solutions.dark_regions`) and the
    same medians of the float64 values, in a third of the time.
    """
    data = np.asarray(image)[: data_shape[0], : data_shape[1]].astype(np.float64)
    near, far = solutions.dark_regions(data.shape, corner)
    return solutions.DarkLevels(median=float(exact_median(data)),
                                typical=float(exact_median(data[far])),
                                corner=float(exact_median(data[near])))


@functools.lru_cache(maxsize=DATASETS_AT_ONCE)
def other_flats(root: str) -> dict[str, np.ndarray]:
    """The first flat of each detector of the ``iff`` camera, bias-corrected, trimmed,
    transposed and normalized as the ift c2 flats are: what a loop over the wrong
    camera's files gives, to recognize it by its pattern."""
    flats = {}
    for path in frame_paths("flat", "iff")[:2]:
        header = fits.getheader(Path(root, path))
        raw = fits.getdata(Path(root, path))
        rows, cols = solutions.fits_section(header["DATASEC"])
        frame = (raw[rows, cols].astype(np.float32)
                 - solutions.overscan_level(raw, header["BIASSEC"])).T
        flats[path.rsplit("/", 1)[-1][:3] + " " + path.rsplit(".", 1)[0][-2:]] = (
            frame / exact_median(frame))
    return flats


def robust_std(values: np.ndarray) -> float:
    """1.4826 times the median absolute deviation: a spread that ignores outliers.

    Measured on an even sample of at most about 200,000 values, which pins
    it down to a fraction of a percent in a few milliseconds.
    """
    values = np.asarray(values)
    step = max(1, values.size // 200_000)
    if values.flags.c_contiguous or values.ndim < 2:
        values = values.ravel()[::step]
    else:  # the same values in the same (row-major) order, without copying all of them
        values = values.flat[np.arange(0, values.size, step)]
    values = values.astype(np.float64)  # sampled first
    return 1.4826 * float(np.median(np.abs(values - np.median(values))))


def contrast(image: np.ndarray) -> float:
    """The spread of values between the 5th and 95th percentiles."""
    low, high = np.percentile(image, [5, 95])
    return float(high - low)


@functools.lru_cache(maxsize=3)
def dark_reference(root: str) -> dict[str, Any]:
    """The master bias and master darks Exercises 4 and 5 compare with (cached on disk)."""
    arrays = cached_arrays("dark", root, BIAS_FRAMES + DARK_FRAMES, lambda: _dark_arrays(root))
    header = fits.getheader(Path(root, DARK_FRAMES[0]))
    rows, cols = solutions.fits_section(header["DATASEC"])
    return {
        **arrays,
        "bias_level": float(arrays["bias_level"]),
        "corner": tuple(int(v) for v in arrays["corner"]),
        "levels": solutions.DarkLevels(*(float(v) for v in arrays["levels"])),
        "data_shape": (rows.stop, cols.stop),
        "n_frames": len(DARK_FRAMES),
        "exptime": float(header["EXPTIME"]),
        "gain": float(header["EGAIN"]),
    }


def _dark_arrays(root: str) -> dict[str, np.ndarray]:
    """Everything :func:`dark_reference` holds that takes more than a header to know.

    Each set of frames is read once, into one array (the 40 bias frames are
    200 MB at full size: every extra copy costs a tenth of a second).
    """
    biases = read_stack([Path(root, p) for p in BIAS_FRAMES], progress=False)
    bias = solutions.master_bias(biases, progress=False)
    cosmics = _bias_cosmics(biases, bias)
    del biases
    darks = read_stack([Path(root, p) for p in DARK_FRAMES], progress=False)
    # solutions.master_dark's steps (subtract, then combine), the subtraction made once;
    # tests/test_checks_guard.py holds them equal.
    subtracted = darks.astype(np.float32) - bias
    median = combine(subtracted, method="median")
    # dark_grid's values, saved now that they are at hand (no frame is read again for them).
    step = grid_step(median.shape)
    _cached_grid(root, step, lambda: {"grid": np.ascontiguousarray(median[::step, ::step])})
    mean = combine(subtracted, method="mean")
    header = fits.getheader(Path(root, DARK_FRAMES[0]))
    rows, cols = solutions.fits_section(header["DATASEC"])
    bias_level = float(exact_median(bias))
    data_shape = (rows.stop, cols.stop)
    # The student's own glowing corner: the truth's, or the brightest of the real frames'.
    corner = _truth.glow_corner(root) or solutions.glow_corner(median, data_shape)
    # The glowing area: where the reference dark signal is far above typical.
    typical = float(exact_median(median))
    return {
        "bias_cosmics": cosmics,
        "bias_level": np.array(bias_level),
        "bias_hot": bias > bias_level + DARK_DEFECT_DU,
        "median": median,
        "glow": median > typical + 0.5 * (np.percentile(median, 99.9) - typical),
        "corner": np.array(corner),
        "levels": np.array(dark_levels(median, data_shape, corner)),
        "mean": mean,
        "drop_max": (subtracted.sum(axis=0) - subtracted.max(axis=0)) / (len(darks) - 1),
        # Every SAMPLE_ROWS-th row of each bias-subtracted dark: a single dark is recognized.
        "frame_rows": subtracted[:, ::SAMPLE_ROWS, :].copy(),
    }


def _every_row(root: str, paths: list[str], step: int) -> np.ndarray:
    """Every ``step``-th row of each frame, as :func:`read_stack` gives them.

    Frames stored as 16-bit integers with ``BZERO = 32768`` (the course's)
    are read through a memory map, only those rows; any other kind is read
    whole.
    """
    stack = []
    for relative in paths:
        with fits.open(Path(root, relative), memmap=True, do_not_scale_image_data=True) as hdul:
            header, raw = hdul[0].header, hdul[0].data
            if (raw is None or header.get("BITPIX") != 16 or header.get("BZERO") != 32768
                    or header.get("BSCALE", 1) != 1 or "BLANK" in header):
                return read_stack([Path(root, p) for p in paths], progress=False)[:, ::step]
            rows = raw[::step]
            stack.append(unsigned_from_offset16(rows, np.empty(rows.shape, dtype=np.uint16)))
            del raw, rows
    return np.stack(stack)


@functools.lru_cache(maxsize=DATASETS_AT_ONCE)
def dark_grid(root: str) -> tuple[int, np.ndarray]:
    """``dark_reference(root)["median"]`` at every ``step``-th row and column: ``(step, grid)``.

    Computed as :func:`_dark_arrays` does, on those rows of the bias and
    dark frames alone (every combination is pixel by pixel, so the values
    are the same), in a twentieth of the time: what a wrong answer is
    compared with on another student's dataset
    (:class:`course_utils.checks._copied.Resemblance`).
    """
    header = fits.getheader(Path(root, DARK_FRAMES[0]))
    step = grid_step((header["NAXIS2"], header["NAXIS1"]))

    def compute() -> dict[str, np.ndarray]:
        bias = solutions.master_bias(_every_row(root, BIAS_FRAMES, step), progress=False)
        darks = _every_row(root, DARK_FRAMES, step)
        median = combine(darks.astype(np.float32) - bias, method="median")
        return {"grid": np.ascontiguousarray(median[:, ::step])}

    # Cached on disk too (a few hundred kB): another kernel reads it at once.
    return step, _cached_grid(root, step, compute)


def _cached_grid(root: str, step: int, compute: Callable[[], dict[str, np.ndarray]]) -> np.ndarray:
    return cached_arrays(f"dark_grid{step}", root, BIAS_FRAMES + DARK_FRAMES, compute)["grid"]


def _bias_cosmics(biases: np.ndarray, master: np.ndarray) -> np.ndarray:
    """For each pixel, which bias frame a cosmic ray hit there (-1: none).

    A pixel counts as hit where a frame exceeds the clipped master bias by
    more than :data:`DARK_DEFECT_DU`; where several frames were hit, the
    brightest hit (the first of equals) is kept. A master bias made without
    rejection keeps these.
    """
    hit = np.full(master.shape, -1, dtype=np.int16)
    brightest = biases.max(axis=0)
    struck = (brightest.astype(np.float32) - master) > DARK_DEFECT_DU
    hit[struck] = np.argmax(biases[:, struck], axis=0)
    return hit
