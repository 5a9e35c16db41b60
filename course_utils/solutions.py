"""Reference solutions of the course's exercises.

Each function is the instructor's answer to one exercise, written for any
frame size so that it works on the real Magellan frames, the full synthetic
dataset and the small test dataset alike. The answer checks in
:mod:`course_utils.checks` compare a student's answer with these.

========================  =====================================================
Exercise                  Reference solution
========================  =====================================================
1 (bias statistics)       :func:`bias_statistics`
2 (two bias frames)       :func:`bias_difference`, :func:`read_noise`
3 (correcting flats)      :func:`overscan_level`, :func:`master_flat`
4 (master dark)           :func:`master_bias`, :func:`master_dark`
========================  =====================================================
"""

from __future__ import annotations

from typing import Literal, NamedTuple, Sequence

import numpy as np
from astropy.stats import sigma_clipped_stats

from .combining import combine
from .sections import fits_section

__all__ = [
    "BiasStatistics",
    "bias_statistics",
    "bias_difference",
    "read_noise",
    "overscan_level",
    "master_flat",
    "master_bias",
    "master_dark",
]

class BiasStatistics(NamedTuple):
    """Summary statistics of a bias frame (Exercise 1), in DU."""

    center: float
    """Median pixel value: the bias level."""
    spread: float
    """Standard deviation after 5-sigma clipping: the read noise in DU."""
    n_outliers: int
    """Pixels more than 5 ``spread`` away from ``center``: cosmic rays, hot pixels."""
    minimum: float
    maximum: float
    mean: float
    """Plain mean, pulled up by the outliers."""
    std: float
    """Plain standard deviation, inflated by the outliers."""


def bias_statistics(image: np.ndarray, nsigma: float = 5.0) -> BiasStatistics:
    """Robust statistics of one bias frame (reference solution of Exercise 1).

    The centre is the median and the spread the standard deviation after
    iterative ``nsigma`` clipping, both insensitive to the few pixels hit by
    cosmic rays; outliers are pixels more than ``nsigma`` spreads from the
    centre.

    Parameters
    ----------
    image : array-like
        A bias frame (any shape; all pixels are used).
    nsigma : float
        Clipping threshold and outlier threshold, in units of the spread.

    Returns
    -------
    BiasStatistics

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> frame = rng.normal(817, 4, size=(200, 200)).round().astype(np.uint16)
    >>> frame[10, 10] = 5000
    >>> stats = bias_statistics(frame)
    >>> round(stats.center), round(stats.spread, 1), stats.n_outliers
    (817, 4.0, 1)
    """
    data = np.asarray(image, dtype=np.float64)
    center = float(np.median(data))
    _, _, spread = sigma_clipped_stats(
        data, sigma=nsigma, maxiters=10, cenfunc="median", stdfunc="std"
    )
    spread = float(spread)
    n_outliers = int(np.count_nonzero(np.abs(data - center) > nsigma * spread))
    return BiasStatistics(
        center=center,
        spread=spread,
        n_outliers=n_outliers,
        minimum=float(data.min()),
        maximum=float(data.max()),
        mean=float(data.mean()),
        std=float(data.std()),
    )


def bias_difference(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Difference ``second - first`` of two frames, in float (Exercise 2).

    Raw frames are unsigned integers (``uint16``): subtracting them directly
    wraps negative results around to values near 65535. Converting to float
    first keeps the sign.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([[817, 820]], dtype=np.uint16)
    >>> b = np.array([[819, 815]], dtype=np.uint16)
    >>> (b - a).tolist()                     # wraps around
    [[2, 65531]]
    >>> bias_difference(a, b).tolist()
    [[2.0, -5.0]]
    """
    first, second = np.asarray(first), np.asarray(second)
    if first.shape != second.shape:
        raise ValueError(f"the frames differ in shape: {first.shape} and {second.shape}.")
    return second.astype(np.float64) - first.astype(np.float64)


def read_noise(first: np.ndarray, second: np.ndarray, nsigma: float = 5.0) -> float:
    """Read noise in DU from two bias frames (reference solution of Exercise 2).

    The bias level and its fixed pattern are the same in both frames and
    cancel in the difference; what is left is the read noise of both frames
    (which adds in quadrature, hence the division by the square root of 2)
    and cosmic rays, which ``nsigma`` clipping removes.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(2)
    >>> pattern = rng.normal(817, 1, size=(300, 300))
    >>> a = (pattern + rng.normal(0, 4, pattern.shape)).round().astype(np.uint16)
    >>> b = (pattern + rng.normal(0, 4, pattern.shape)).round().astype(np.uint16)
    >>> print(f"{read_noise(a, b):.1f}")
    4.0
    """
    difference = bias_difference(first, second)
    _, _, std = sigma_clipped_stats(difference, sigma=nsigma, maxiters=10, stdfunc="std")
    return float(std) / np.sqrt(2.0)


def overscan_level(raw: np.ndarray, biassec: str) -> float:
    """Median of a raw frame's overscan region, given by its BIASSEC keyword.

    Examples
    --------
    >>> import numpy as np
    >>> raw = np.full((4, 6), 100, dtype=np.uint16)
    >>> raw[:, 4:] = 7
    >>> overscan_level(raw, '[5:6,1:4]')
    7.0
    """
    rows, cols = fits_section(biassec)
    region = np.asarray(raw)[rows, cols]
    if region.size == 0:
        raise ValueError(f"BIASSEC {biassec} lies outside the frame of shape {np.shape(raw)}.")
    return float(np.median(region))


def master_flat(
    raw_flats: Sequence[np.ndarray], datasec: str, biassec: str
) -> np.ndarray:
    """Bias-corrected, normalized master flat (reference solution of Exercise 3).

    For each raw IMACS flat: subtract the bias level measured in the frame's
    own overscan (the IFU-M master bias belongs to another camera and another
    bias level), trim to the data section, and divide by the frame's median so
    that lamp drifts between exposures do not matter. Then median-combine the
    frames and normalize the result by its median. Dark current is negligible
    in a dome flat of a few seconds and is not subtracted.

    The result is transposed, as the course displays IMACS frames: the raw
    arrays have the long axis first.

    Parameters
    ----------
    raw_flats : sequence of 2-D arrays
        Raw flats as read from the files (not transposed).
    datasec, biassec : str
        The DATASEC and BIASSEC header values of the flats (FITS convention).

    Returns
    -------
    numpy.ndarray
        The master flat, median 1, shape (columns, rows) of DATASEC.

    Examples
    --------
    >>> import numpy as np
    >>> raw = np.full((8, 5), 1100.0)          # 8 rows: long axis first
    >>> raw[:, :4] += 900.0 * np.linspace(0.8, 1.2, 8)[:, None]
    >>> flat = master_flat([raw, raw * 1.02], '[1:4,1:8]', '[5:5,1:8]')
    >>> flat.shape, float(np.median(flat))
    ((4, 8), 1.0)
    """
    rows, cols = fits_section(datasec)
    corrected = []
    for raw in raw_flats:
        raw = np.asarray(raw, dtype=np.float32)
        frame = raw[rows, cols] - overscan_level(raw, biassec)
        corrected.append(frame / np.median(frame))
    if not corrected:
        raise ValueError("master_flat needs at least one flat.")
    master = combine(np.stack(corrected), method="median")
    return (master / np.median(master)).T


def master_bias(raw_biases, clip: Literal["pixel", "frame"] | None = "pixel") -> np.ndarray:
    """Master bias: per-pixel 3-sigma clipped mean of the bias frames.

    Parameters
    ----------
    raw_biases : sequence of 2-D arrays, 3-D array or FITS paths
        The bias frames.
    clip : {'pixel', 'frame', None}
        Sigma-clipping mode passed to :func:`course_utils.combine`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(3)
    >>> biases = rng.normal(817, 4, size=(20, 50, 50)).astype(np.float32)
    >>> biases[3, 10, 10] = 4000                       # a cosmic ray
    >>> master = master_bias(biases)
    >>> bool(abs(master[10, 10] - 817) < 5)
    True
    """
    return combine(raw_biases, method="mean", clip=clip, sigma=3.0, maxiters=5)


def master_dark(
    raw_darks,
    bias: np.ndarray,
    method: Literal["mean", "median", "clipped"] = "clipped",
) -> np.ndarray:
    """Bias-subtracted master dark (reference solution of Exercise 4).

    Every dark frame holds the bias too, so the master bias is subtracted
    from each frame first. Then the frames are combined:

    * ``'mean'``: plain mean; every cosmic ray stays in, diluted by the
      number of frames;
    * ``'median'``: robust, but noisier than a mean;
    * ``'clipped'``: per-pixel sigma-clipped mean. With only a handful of
      frames a clip based on the standard deviation cannot reject a single
      cosmic ray, since the outlier itself inflates the standard deviation
      (with 5 frames no value can lie more than 2 standard deviations from
      the mean, or 2.5 from the median), so the spread is measured with the
      median absolute deviation (``stdfunc='mad_std'``) instead.

    Parameters
    ----------
    raw_darks : sequence of 2-D arrays or 3-D array
        The dark frames (all with the same exposure time).
    bias : 2-D array
        The master bias of the same detector.
    method : {'mean', 'median', 'clipped'}

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(4)
    >>> bias = np.full((40, 40), 817.0)
    >>> darks = bias + rng.normal(5, 1, size=(5, 40, 40))
    >>> darks[2, 7, 7] = 3000                          # a cosmic ray
    >>> clipped = master_dark(darks, bias, "clipped")
    >>> bool(abs(clipped[7, 7] - 5) < 3)
    True
    >>> mean = master_dark(darks, bias, "mean")
    >>> bool(mean[7, 7] > 400)
    True
    """
    stack = np.asarray(raw_darks, dtype=np.float32)
    bias = np.asarray(bias, dtype=np.float32)
    if stack.ndim != 3 or stack.shape[1:] != bias.shape:
        raise ValueError(
            f"darks of shape {stack.shape[1:]} do not match the master bias {bias.shape}."
        )
    stack = stack - bias
    if method == "mean":
        return combine(stack, method="mean")
    if method == "median":
        return combine(stack, method="median")
    if method == "clipped":
        return combine(stack, method="mean", clip="pixel", sigma=3.0, stdfunc="mad_std")
    raise ValueError(f"method must be 'mean', 'median' or 'clipped', got {method!r}.")
