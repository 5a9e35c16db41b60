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
3 (sigma clip by hand)    :func:`sigma_clip_by_hand`
4 (master dark)           :func:`master_bias`, :func:`master_dark`
5 (dark current)          :func:`dark_current`, :func:`scaled_dark`
6 (correcting flats)      :func:`overscan_level`, :func:`master_flat`
7 (science frame)         :func:`calibrate_frame`, :func:`dead_pixels`
8 (photometry ratio)      :func:`aperture_flux`
9 (gain, PTC)             :func:`pair_statistics`, :func:`fit_gain`
10 (read noise, PTC)      :func:`read_noise` of the unlit pair, times the gain
========================  =====================================================

:func:`dark_levels` measures a master dark's typical pixel and its glowing
corner, the two numbers the dark notebook and the checks quote;
:func:`glow_corner` finds which corner glows.
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
    "sigma_clip_by_hand",
    "overscan_level",
    "master_flat",
    "master_bias",
    "master_dark",
    "DarkLevels",
    "CORNERS",
    "glow_corner",
    "dark_regions",
    "dark_levels",
    "dark_current",
    "scaled_dark",
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


def sigma_clip_by_hand(values, sigma: float = 3.0, maxiters: int | None = 5) -> np.ndarray:
    """Iterative sigma clipping, written out (reference solution of Exercise 3).

    Each round measures the median and the standard deviation of the values
    still kept, and rejects every value more than ``sigma`` standard
    deviations from that median, on either side. Rounds repeat on the
    survivors until a round rejects nothing or ``maxiters`` rounds are done.
    The rule is astropy's ``sigma_clip(values, sigma=sigma, maxiters=maxiters,
    cenfunc="median", stdfunc="std").mask``.

    Parameters
    ----------
    values : array-like
        The values to clip (any shape; NaN values count as rejected).
    sigma : float
        The clipping threshold, in standard deviations.
    maxiters : int or None
        At most this many rounds; None repeats until nothing changes.

    Returns
    -------
    numpy.ndarray of bool
        Same shape as ``values``: True where a value is rejected.

    Examples
    --------
    >>> import numpy as np
    >>> values = np.array([10.0, 11, 9, 10, 12, 10, 11, 9, 10, 30, 500])
    >>> sigma_clip_by_hand(values).nonzero()[0].tolist()     # two rounds: 500, then 30
    [9, 10]
    """
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    kept = finite
    low, high = -np.inf, np.inf
    rounds = 0
    while kept.any():
        rounds += 1
        center, spread = np.median(values[kept]), np.std(values[kept])
        low, high = center - sigma * spread, center + sigma * spread
        # Each round keeps only survivors of the previous ones, as astropy does.
        survivors = kept & (values >= low) & (values <= high)
        changed = np.count_nonzero(survivors) != np.count_nonzero(kept)
        kept = survivors
        if not changed or (maxiters is not None and rounds >= maxiters):
            break
    # The final interval judges every value, as astropy's mask does.
    return ~finite | (values < low) | (values > high)


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


def master_bias(
    raw_biases, clip: Literal["pixel", "frame"] | None = "pixel", *, progress: bool | None = None
) -> np.ndarray:
    """Master bias: per-pixel 3-sigma clipped mean of the bias frames.

    Parameters
    ----------
    raw_biases : sequence of 2-D arrays, 3-D array or FITS paths
        The bias frames.
    clip : {'pixel', 'frame', None}
        Sigma-clipping mode passed to :func:`course_utils.combine`.
    progress : bool or None
        Progress bar when reading files, as in :func:`course_utils.combine`.

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
    return combine(raw_biases, method="mean", clip=clip, sigma=3.0, maxiters=5, progress=progress)


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


class DarkLevels(NamedTuple):
    """A master dark's levels in DU (see :func:`dark_levels`)."""

    median: float
    """Median of the whole frame (glow and hot pixels barely move it)."""
    typical: float
    """Median far from the glowing corner: the dark current alone."""
    corner: float
    """Median of the glowing corner."""


#: The four corners of a frame as ``show_image`` draws it (row 0 at the bottom),
#: each as the (row, column) index of its corner pixel.
CORNERS: dict[str, tuple[int, int]] = {
    "lower left": (0, 0), "lower right": (0, -1), "upper left": (-1, 0), "upper right": (-1, -1),
}


def dark_regions(shape: tuple[int, ...], corner: tuple[int, int] = (0, 0),
                 ) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """The glowing corner and a region far from it, as numpy slices of a frame.

    The corner is the square of side 1/20 of the rows at ``corner`` (one of
    the `CORNERS`, by default the lower left, where the real IFU-M amplifier
    glows); the far region is the half of the rows and the quarter of the
    columns diagonally opposite. At full size (1028 x 2048 data pixels) and
    the lower left they are ``[:51, :51]`` and ``[514:, 1536:]``.

    Examples
    --------
    >>> dark_regions((1028, 2048))
    ((slice(0, 51, None), slice(0, 51, None)), (slice(514, None, None), slice(1536, None, None)))
    >>> dark_regions((1028, 2048), CORNERS["upper right"])
    ((slice(977, 1028, None), slice(1997, 2048, None)), (slice(0, 514, None), slice(0, 512, None)))
    """
    rows, cols = shape[-2:]
    if tuple(corner) not in CORNERS.values():
        raise ValueError(f"corner must be one of {sorted(CORNERS.values())}, got {corner!r}")
    side = max(1, min(rows, cols) // 20)
    # The far region's size is that of [rows // 2:, 3 * cols // 4:], on the opposite side.
    far_rows, far_cols = rows - rows // 2, cols - 3 * cols // 4
    if corner[0] == 0:
        near_r, far_r = slice(0, side), slice(rows - far_rows, None)
    else:
        near_r, far_r = slice(rows - side, rows), slice(0, far_rows)
    if corner[1] == 0:
        near_c, far_c = slice(0, side), slice(cols - far_cols, None)
    else:
        near_c, far_c = slice(cols - side, cols), slice(0, far_cols)
    return (near_r, near_c), (far_r, far_c)


def _data(master_dark, data_shape) -> np.ndarray:
    data = np.asarray(master_dark, dtype=np.float64)
    if data.ndim != 2:
        raise ValueError(f"a master dark must be a 2-D image, got {data.ndim} dimensions")
    return data if data_shape is None else data[: data_shape[0], : data_shape[1]]


def glow_corner(master_dark, data_shape: tuple[int, int] | None = None) -> tuple[int, int]:
    """The corner where a master dark glows: the one of `CORNERS` whose square is brightest.

    Each corner's square is that of :func:`dark_regions`; its median decides
    (ties go to the first of `CORNERS`, the lower left). ``data_shape`` is
    as for :func:`dark_levels`.

    Raises
    ------
    ValueError
        If a corner's median is not a number (NaN in its square): then no
        corner can be told brightest.

    Examples
    --------
    >>> import numpy as np
    >>> dark = np.full((100, 200), 4.0)
    >>> dark[-5:, :5] = 120.0
    >>> glow_corner(dark) == CORNERS["upper left"]
    True
    """
    data = _data(master_dark, data_shape)
    levels = {corner: float(np.median(data[dark_regions(data.shape, corner)[0]]))
              for corner in CORNERS.values()}
    unknown = [name for name, corner in CORNERS.items() if np.isnan(levels[corner])]
    if unknown:
        raise ValueError(f"cannot tell which corner glows: the {', '.join(unknown)} corner's "
                         "square holds NaN values")
    return max(levels, key=levels.get)


def dark_levels(master_dark, data_shape: tuple[int, int] | None = None,
                corner: tuple[int, int] | None = None) -> DarkLevels:
    """The whole-frame median, a typical pixel and the glowing corner of a master dark.

    Parameters
    ----------
    master_dark : 2-D array
        A bias-subtracted master dark, in DU.
    data_shape : (int, int), optional
        The shape of the exposed data section at the lower left of the frame
        (the header's DATASEC); by default the whole frame. The overscan has
        no dark signal and is left out.
    corner : (int, int), optional
        Where the glow is, one of `CORNERS`; by default the brightest corner
        of ``master_dark`` (:func:`glow_corner`).

    Examples
    --------
    >>> import numpy as np
    >>> dark = np.full((100, 200), 4.0)
    >>> dark[:5, :5] = 120.0
    >>> dark_levels(dark)
    DarkLevels(median=4.0, typical=4.0, corner=120.0)
    """
    data = _data(master_dark, data_shape)
    near, far = dark_regions(data.shape, glow_corner(data) if corner is None else corner)
    return DarkLevels(
        median=float(np.median(data)),
        typical=float(np.median(data[far])),
        corner=float(np.median(data[near])),
    )


def dark_current(master_dark, gain: float, exptime: float) -> float:
    """Typical dark current in electrons per pixel per hour (reference of Exercise 5).

    The median of the bias-subtracted master dark (DU, robust against the
    glowing corner and hot pixels) times the gain (EGAIN, electrons per DU),
    divided by the exposure time in hours (EXPTIME / 3600).

    Examples
    --------
    >>> import numpy as np
    >>> round(dark_current(np.full((10, 10), 4.0), gain=0.68, exptime=3600.0), 2)
    2.72
    """
    return float(np.median(np.asarray(master_dark, dtype=np.float64))) * gain / (exptime / 3600.0)


def scaled_dark(master_dark, exptime: float, new_exptime: float = 600.0) -> np.ndarray:
    """A bias-subtracted master dark scaled to another exposure time (Exercise 5).

    Dark current and glow grow in proportion to the exposure time, the bias
    does not: only a bias-subtracted dark may be scaled.

    Examples
    --------
    >>> import numpy as np
    >>> scaled_dark(np.array([[36.0, 6.0]]), exptime=3600.0).tolist()
    [[6.0, 1.0]]
    """
    return np.asarray(master_dark, dtype=np.float64) * (new_exptime / exptime)


# --- Notebook 5: calibrating a science frame (Exercises 7 and 8) ------------------
# A section of its own: calibrate_frame (Exercise 7), dead_pixels and
# aperture_flux (Exercise 8).

__all__ += ["calibrate_frame", "dead_pixels", "aperture_flux"]


def dead_pixels(master_flat: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Pixels of a normalized flat that respond to less than ``threshold`` of the light.

    Dividing by such a pixel multiplies its noise by more than ``1 / threshold``
    (and by infinity where the flat is 0): their values are not worth keeping.
    Non-finite flat values count as dead.

    Examples
    --------
    >>> import numpy as np
    >>> dead_pixels(np.array([[1.0, 0.2], [0.0, np.nan]])).tolist()
    [[False, True], [True, True]]
    """
    flat = np.asarray(master_flat, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return ~(flat >= threshold)


def calibrate_frame(raw: np.ndarray, master_flat: np.ndarray, datasec: str, biassec: str,
                    *, dead_below: float = 0.5) -> np.ndarray:
    """Calibrate one raw IMACS science frame (reference solution of Exercise 7).

    ``(raw - overscan level)``, trimmed to DATASEC and transposed as the
    course shows IMACS frames, divided by the normalized master flat; pixels
    the flat calls dead (below ``dead_below``) become NaN. No bias frame is
    needed (the overscan measures this frame's level) and no dark: a few
    electrons per hour are nothing against the sky of a 300 s exposure.

    Parameters
    ----------
    raw : 2-D array
        The frame as read from the file (long axis first).
    master_flat : 2-D array
        Normalized (median 1) master flat, transposed and trimmed (see
        :func:`master_flat`).
    datasec, biassec : str
        The frame's DATASEC and BIASSEC.

    Returns
    -------
    numpy.ndarray
        float32, the shape of ``master_flat``, in DU.

    Raises
    ------
    ValueError
        If the trimmed frame and the flat differ in shape.

    Examples
    --------
    >>> import numpy as np
    >>> raw = np.full((4, 3), 1100.0)
    >>> raw[:, :2] += 500.0 * np.array([1.0, 0.5])[None, :]   # flat response 1 and 0.5
    >>> flat = np.array([[1.0] * 4, [0.5] * 4])
    >>> calibrate_frame(raw, flat, '[1:2,1:4]', '[3:3,1:4]').tolist()
    [[500.0, 500.0, 500.0, 500.0], [500.0, 500.0, 500.0, 500.0]]
    """
    rows, cols = fits_section(datasec)
    raw = np.asarray(raw, dtype=np.float32)
    frame = (raw[rows, cols] - np.float32(overscan_level(raw, biassec))).T
    flat = np.asarray(master_flat, dtype=np.float32)
    if flat.shape != frame.shape:
        raise ValueError(f"the trimmed, transposed frame has shape {frame.shape} but the "
                         f"master flat {flat.shape}.")
    dead = dead_pixels(flat, dead_below)
    with np.errstate(divide="ignore", invalid="ignore"):
        calibrated = frame / flat
    calibrated[dead] = np.nan
    return calibrated


def aperture_flux(image: np.ndarray, x, y, radius: float,
                  sky: tuple[float, float]) -> np.ndarray:
    """Sky-subtracted flux in circular apertures (the photometry of Exercise 8).

    The flux is the sum of the pixels whose centre lies within ``radius`` of
    ``(x, y)`` (column, row; pixel ``[r, c]`` has its centre at ``x = c,
    y = r``), minus that many times the sky: the median of the annulus
    ``sky[0] <= distance < sky[1]``. An aperture that holds a NaN pixel, or
    that leaves the image, gives NaN: its flux is unknown.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.full((40, 40), 10.0)
    >>> image[20, 15] += 500.0
    >>> aperture_flux(image, 15, 20, 3, (6, 10)).round(6).tolist()
    [500.0]
    """
    image = np.asarray(image, dtype=np.float64)
    xs, ys = np.atleast_1d(np.asarray(x, dtype=float)), np.atleast_1d(np.asarray(y, dtype=float))
    outer = int(np.ceil(max(radius, sky[1])))
    fluxes = np.full(xs.shape, np.nan)
    for i, (xc, yc) in enumerate(zip(xs, ys)):
        r0, c0 = int(round(yc)) - outer, int(round(xc)) - outer
        r1, c1 = r0 + 2 * outer + 1, c0 + 2 * outer + 1
        if r0 < 0 or c0 < 0 or r1 > image.shape[0] or c1 > image.shape[1]:
            continue
        stamp = image[r0:r1, c0:c1]
        rr, cc = np.mgrid[r0:r1, c0:c1]
        distance = np.hypot(rr - yc, cc - xc)
        inside = distance <= radius
        annulus = stamp[(distance >= sky[0]) & (distance < sky[1])]
        fluxes[i] = stamp[inside].sum() - inside.sum() * np.nanmedian(annulus)
    return fluxes


# --- Notebook 6: the photon transfer curve (Exercises 9 and 10) -------------------------

__all__ += ["PairStatistics", "pair_statistics", "shot_noise_part", "GainFit", "fit_gain"]


class PairStatistics(NamedTuple):
    """One point of the photon transfer curve, from a pair of frames (DU, DU²)."""

    signal: float
    """Mean bias-subtracted level of the two frames."""
    variance: float
    """Half the (clipped) variance of their difference: one frame's noise variance."""
    single_variance: float
    """The (clipped) variance of the first frame alone: noise plus the pixel-to-pixel
    response (PRNU) and fixed pattern, which the difference cancels."""


def pair_statistics(
    first: np.ndarray, second: np.ndarray, datasec: str, biassec: str, nsigma: float = 5.0
) -> PairStatistics:
    """Signal and noise variance of a pair of flats (reference solution of Exercise 9).

    Each frame's bias level (the median of its overscan) is subtracted and
    the frame trimmed to its data section. The signal is the mean of the two
    frames. Whatever is the same in both frames -- the pixel response, the
    bias pattern -- cancels in their difference, whose variance is the sum
    of the two frames' noise variances: half of it is one frame's. Cosmic
    rays are clipped at ``nsigma`` (5: a 3-sigma clip would also cut the
    tails of the noise and bias the variance low by 3 %).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(5)
    >>> prnu = 1 + rng.normal(0, 0.01, (200, 200))
    >>> frames = [np.hstack([800 + rng.poisson(prnu * 5000 * 0.7) / 0.7,
    ...                      np.full((200, 10), 800.0)]) for _ in range(2)]
    >>> point = pair_statistics(*frames, '[1:200,1:200]', '[201:210,1:200]')
    >>> round(point.signal, -1), round(point.signal / point.variance, 2)   # gain: 0.7 e-/DU
    (5000.0, 0.7)
    >>> bool(point.single_variance > 1.3 * point.variance)    # PRNU in one frame
    True
    """
    rows, cols = fits_section(datasec)
    frames = [np.asarray(raw, dtype=np.float64)[rows, cols] - overscan_level(raw, biassec)
              for raw in (first, second)]
    if frames[0].shape != frames[1].shape:
        raise ValueError(f"the frames differ in shape: {frames[0].shape} and {frames[1].shape}.")
    _, _, std_difference = sigma_clipped_stats(frames[1] - frames[0], sigma=nsigma,
                                               maxiters=10, stdfunc="std")
    _, _, std_single = sigma_clipped_stats(frames[0], sigma=nsigma, maxiters=10, stdfunc="std")
    signal = 0.5 * (float(np.mean(frames[0])) + float(np.mean(frames[1])))
    return PairStatistics(signal, float(std_difference) ** 2 / 2.0, float(std_single) ** 2)


def shot_noise_part(
    signal, variance, read_noise_du: float, *, floor: float = 10.0, well_fraction: float = 0.8
) -> np.ndarray:
    """Which points of a photon transfer curve lie on its shot-noise part.

    A point is used when its variance is at least ``floor`` times the
    read-noise variance (shot noise dominates) and its signal is below
    ``well_fraction`` of the highest signal of the curve (the full-well
    plateau, where the variance stops growing and then collapses).

    Examples
    --------
    >>> shot_noise_part([0, 100, 1000, 20000, 40000, 41000], [16, 150, 1500, 29000, 40000, 20],
    ...                 4.0).tolist()
    [False, False, True, True, False, False]
    """
    signal = np.asarray(signal, dtype=np.float64)
    variance = np.asarray(variance, dtype=np.float64)
    return (variance >= floor * read_noise_du**2) & (signal < well_fraction * np.max(signal))


class GainFit(NamedTuple):
    """A straight-line fit of variance against signal on the shot-noise part."""

    gain: float
    """Electrons per DU: the inverse of the slope."""
    intercept: float
    """Variance at zero signal (DU²): the read-noise variance, poorly constrained."""
    used: np.ndarray
    """Which points were fitted."""


def fit_gain(signal, variance, read_noise_du: float) -> GainFit:
    """Fit the gain to the shot-noise part of a photon transfer curve (Exercise 9).

    In electrons the shot-noise variance equals the signal (Poisson); in DU,
    ``variance = signal / gain + read_noise_du**2``. The fit is a straight
    line through the points of :func:`shot_noise_part`, weighted by
    ``1 / variance`` (each variance is measured to the same relative
    precision, so bright points must not dominate).

    Examples
    --------
    >>> import numpy as np
    >>> signal = np.array([0.0, 300, 1000, 3000, 10000, 30000, 45000, 47000])
    >>> variance = signal / 0.68 + 16.0
    >>> variance[-1] = 20.0                                  # saturated
    >>> fit = fit_gain(signal, variance, 4.0)
    >>> round(fit.gain, 3), fit.used.tolist()
    (0.68, [False, True, True, True, True, True, False, False])
    """
    signal = np.asarray(signal, dtype=np.float64)
    variance = np.asarray(variance, dtype=np.float64)
    used = shot_noise_part(signal, variance, read_noise_du)
    if np.count_nonzero(used) < 2:
        raise ValueError("fewer than two points on the shot-noise part of the curve: "
                         "nothing to fit the gain to.")
    slope, intercept = np.polyfit(signal[used], variance[used], 1, w=1.0 / variance[used])
    return GainFit(float(1.0 / slope), float(intercept), used)
