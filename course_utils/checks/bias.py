"""Checks of notebook 1 (bias frames): Exercises 1 and 2."""

from __future__ import annotations

import math

import numpy as np

from .. import solutions
from . import _references as ref_data
from ._common import MISSING, Feedback, close, data_dir_of, gather, number, shape_problem

__all__ = ["exercise_1", "exercise_2"]


# --- Exercise 1 -------------------------------------------------------------------


def exercise_1(
    center=MISSING, spread=MISSING, n_outliers=MISSING, *, data_dir=None, namespace=None
) -> Feedback:
    """Check Exercise 1: the statistics of the bias frame ``b0860c1``.

    Parameters
    ----------
    center : float
        A typical pixel value (DU).
    spread : float
        The typical scatter of the pixel values around ``center`` (DU).
    n_outliers : int
        How many pixels lie more than ``5 * spread`` from ``center``.
    data_dir : path, optional
        The dataset folder; by default the notebook's ``data_dir``.
    namespace : mapping, optional
        Where to look up answers not passed as arguments; by default the
        calling notebook's variables.
    """
    title = "statistics of a bias frame"
    namespace, answers = gather(
        1, title, {"center": center, "spread": spread, "n_outliers": n_outliers}, namespace,
        "Each is a single number computed from `img`.",
    )
    if isinstance(answers, Feedback):
        return answers

    root = str(data_dir_of(namespace, data_dir))
    image = ref_data.bias_pair(root)[0].astype(np.float64)
    ref = ref_data.statistics(root)
    good, notes = [], []

    value = number(answers["center"])
    if value is None:
        notes.append("`center` should be a single number, e.g. `np.median(img)`.")
    elif abs(value - ref.center) <= 0.25 * ref.spread:
        if abs(value - ref.mean) < 1e-6 * abs(ref.mean) and abs(ref.mean - ref.center) > 0.05:
            good.append(
                f"`center` = {value:.2f} DU is the mean: close enough here, but the few "
                f"very bright pixels pull it {ref.mean - ref.center:+.2f} DU away from the "
                f"median, {ref.center:.1f} DU. The median is the robust choice."
            )
        else:
            good.append(f"`center` = {value:.2f} DU: the bias level, as the median says.")
    elif abs(value - (ref.center - 32768)) <= 1:
        notes.append(
            f"`center` = {value:.1f} is the raw stored int16 value: astropy adds BZERO "
            "(32768) when you read `hdu.data`, so use that array."
        )
    else:
        notes.append(
            f"`center` = {value:.4g} DU is far from where most pixel values lie "
            f"(the median is {ref.center:.1f} DU). Try `np.median(img)`."
        )

    value = number(answers["spread"])
    gain = 0.68
    if value is None:
        notes.append("`spread` should be a single number (a standard deviation, in DU).")
    elif close(value, ref.spread, 0.15):
        # 15 %: robust estimators differ, e.g. mad_std is coarse for whole numbers
        # (the median absolute deviation of integers is an integer or a half).
        good.append(
            f"`spread` = {value:.2f} DU: the read noise, robustly measured "
            f"(ENOISE / EGAIN = 2.7 / 0.68 = {2.7 / gain:.2f} DU)."
        )
    elif close(value, ref.std, 0.01) and ref.std > 1.2 * ref.spread:
        notes.append(
            f"`spread` = {value:.1f} DU is `np.std` of all pixels, inflated by cosmic rays "
            f"and hot pixels; without them the scatter is about {ref.spread:.1f} DU. Use a "
            "robust estimate such as `astropy.stats.sigma_clipped_stats` or `mad_std`."
        )
    elif close(value, ref.spread**2, 0.15):
        notes.append(
            f"`spread` = {value:.1f} looks like a variance (DU²): take its square root."
        )
    elif close(value, ref.spread * gain, 0.10):
        notes.append(
            f"`spread` = {value:.2f} is in electrons (it matches ENOISE); the pixel values "
            "are in DU, so divide by EGAIN."
        )
    else:
        notes.append(
            f"`spread` = {value:.4g} DU does not match the scatter of the pixel values "
            f"around the centre (about {ref.spread:.1f} DU once outliers are excluded)."
        )

    value = number(answers["n_outliers"])
    c, s = number(answers["center"]), number(answers["spread"])
    if value is None or value != int(value) or value < 0:
        notes.append("`n_outliers` should be a count: a whole number of pixels.")
    elif c is not None and s is not None and s > 0:
        own = int(np.count_nonzero(np.abs(image - c) > 5 * s))
        if c == int(c) and 0 <= c <= 65535:  # `img - center` with an int stays uint16
            raw = ref_data.bias_pair(root)[0]
            wrapped = int(np.count_nonzero(np.abs(raw - np.uint16(c)) > 5 * s))
        else:
            wrapped = own
        if int(value) == wrapped != own:
            notes.append(
                f"`n_outliers` = {int(value)} counts most of the frame: `img` is uint16, so "
                "`img - center` with a whole-number `center` wraps negative differences "
                "around to about 65535. Use `img.astype(float) - center`."
            )
        elif int(value) == own and not any(n.startswith("`spread`") for n in notes):
            good.append(
                f"`n_outliers` = {int(value)} pixels lie more than 5 spreads from the centre: "
                "cosmic rays and hot pixels."
            )
        elif int(value) == own:
            notes.append(
                f"`n_outliers` = {int(value)} is right for your `center` and `spread`, but "
                f"with the correct spread there are {ref.n_outliers} outliers."
            )
        else:
            notes.append(
                f"`n_outliers` = {int(value)}, but with your `center` and `spread` there "
                f"are {own} pixels with |img - center| > 5 * spread. Count them with "
                "`np.count_nonzero(np.abs(img - center) > 5 * spread)`."
            )
    else:
        notes.append("Fix `center` and `spread` first; `n_outliers` depends on them.")

    return Feedback(1, title, "incorrect" if notes else "correct", tuple(notes + good))


# --- Exercise 2 -------------------------------------------------------------------


def exercise_2(
    difference=MISSING, read_noise=MISSING, *, data_dir=None, namespace=None
) -> Feedback:
    """Check Exercise 2: the difference of two bias frames and the read noise.

    Parameters
    ----------
    difference : 2-D array
        ``b0861c1`` minus ``b0860c1`` (either sign), pixel by pixel.
    read_noise : float
        The read noise of one frame in DU, estimated from ``difference``.
    data_dir, namespace
        As for :func:`exercise_1`.
    """
    title = "what changes between two bias frames"
    namespace, answers = gather(
        2, title, {"difference": difference, "read_noise": read_noise}, namespace,
        "`difference` is an image; `read_noise` a number in DU.",
    )
    if isinstance(answers, Feedback):
        return answers

    root = str(data_dir_of(namespace, data_dir))
    first, second = ref_data.bias_pair(root)
    expected = solutions.bias_difference(first, second)
    noise = ref_data.read_noise(root)
    good, notes = [], []

    answer = answers["difference"]
    problem = shape_problem("difference", answer, expected.shape)
    if problem:
        notes.append(problem)
    else:
        answer = np.asarray(answer)
        if np.issubdtype(answer.dtype, np.unsignedinteger) or (
            np.nanmax(np.abs(answer)) > 30000 and np.median(np.abs(answer)) < 100
        ):
            notes.append(
                f"`difference` has values up to {np.nanmax(answer):.0f}: the frames are "
                "unsigned integers (uint16), so negative differences wrapped around to "
                "about 65535. Convert to float before subtracting: "
                "`second.astype(float) - first.astype(float)`."
            )
        elif np.allclose(answer, expected) or np.allclose(answer, -expected):
            good.append(
                "`difference`: the bias level and its fixed pattern cancel; what is left is "
                "read noise and the cosmic rays of both frames."
            )
        else:
            notes.append(
                "`difference` is not `b0861c1 - b0860c1`; check that you subtracted these "
                "two frames, pixel by pixel."
            )

    value = number(answers["read_noise"])
    if value is None:
        notes.append("`read_noise` should be a single number in DU.")
    elif close(value, noise, 0.08):
        good.append(
            f"`read_noise` = {value:.2f} DU, the same as ENOISE / EGAIN = 3.97 DU from the "
            "header."
        )
    elif close(value, noise * math.sqrt(2), 0.05):
        notes.append(
            f"`read_noise` = {value:.2f} DU is the scatter of the difference. The noise of "
            "two frames adds in quadrature, so one frame has 1/√2 of it: divide by √2."
        )
    elif close(value, noise * math.sqrt(2) / 2, 0.03):
        notes.append(
            f"`read_noise` = {value:.2f} DU: it looks like you divided the scatter of the "
            "difference by 2. Noise adds in quadrature (σ² + σ² = 2σ²), so divide by √2."
        )
    elif close(value, noise**2, 0.10) or close(value, 2 * noise**2, 0.10):
        notes.append(
            f"`read_noise` = {value:.1f} looks like a variance (DU²): take the square root "
            "of it (and divide the difference's standard deviation by √2)."
        )
    elif close(value, noise * 0.68, 0.03):
        notes.append(
            f"`read_noise` = {value:.2f} is in electrons (it matches ENOISE = 2.7 e⁻); "
            "give it in DU, as the pixel values are."
        )
    elif value > 1.3 * noise:
        notes.append(
            f"`read_noise` = {value:.2f} DU is too large: cosmic rays in the difference "
            "inflate the standard deviation. Clip them first, e.g. with "
            "`astropy.stats.sigma_clipped_stats(difference, sigma=5)`, then divide by √2."
        )
    else:
        notes.append(
            f"`read_noise` = {value:.3g} DU does not match the noise in the difference "
            f"(expected about {noise:.2f} DU per frame)."
        )
    return Feedback(2, title, "incorrect" if notes else "correct", tuple(notes + good))


