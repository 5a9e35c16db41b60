"""Checks of notebook 1 (bias frames): Exercises 1 and 2."""

from __future__ import annotations

import math

import numpy as np

from .. import solutions
from . import _references as ref_data
from . import _truth
from ._copied import KeyNumber, Resemblance
from ._common import (
    MISSING, Feedback, answer_check, as_array, close, data_dir_of, gather, number,
    number_problem, shape_problem,
)

__all__ = ["exercise_1", "exercise_2"]

TITLE_1 = "statistics of a bias frame"
TITLE_2 = "what changes between two bias frames"


def _header_noise(root: str) -> tuple[float, float, float]:
    """ENOISE (e⁻), EGAIN (e⁻/DU) and their ratio, the header's read noise in DU."""
    header = ref_data.bias_header(root)
    return header["noise_e"], header["gain"], header["noise_e"] / header["gain"]


def _truth_note(root: str, value: float) -> str:
    """How a measured read noise compares with the synthetic detector's true one."""
    model = _truth.ifum(root)
    if model is None:
        return ""
    return (
        f" The synthetic detector's true read noise is {model.read_noise_du:.2f} DU: yours "
        f"is {value - model.read_noise_du:+.2f} DU from it."
    )


# --- Exercise 1 -------------------------------------------------------------------


@answer_check(1, TITLE_1, KeyNumber("center", ref_data.bias_center))
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
    namespace, answers = gather(
        1, TITLE_1, {"center": center, "spread": spread, "n_outliers": n_outliers}, namespace,
        "Each is a single number computed from `img`.",
    )
    if isinstance(answers, Feedback):
        return answers
    root = str(data_dir_of(namespace, data_dir))
    good, notes = [], []
    _center(root, answers["center"], good, notes)
    _spread(root, answers["spread"], good, notes)
    _outliers(root, answers, good, notes)
    return Feedback(1, TITLE_1, "incorrect" if notes else "correct", tuple(notes + good))


def _center(root: str, answer, good: list, notes: list) -> None:
    ref = ref_data.statistics(root)
    value = number(answer)
    if value is None:
        notes.append(number_problem("center", answer, "a typical pixel value in DU, e.g. "
                                    "`np.median(img)`"))
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


def _spread(root: str, answer, good: list, notes: list) -> None:
    ref = ref_data.statistics(root)
    noise_e, gain, header_du = _header_noise(root)
    value = number(answer)
    if value is None:
        notes.append(number_problem("spread", answer, "a standard deviation, in DU"))
    elif close(value, header_du, 1e-4) and not close(ref.spread, header_du, 1e-4):
        notes.append(
            f"`spread` = {value:.3f} DU is ENOISE / EGAIN = {noise_e:g} / {gain:g} from the "
            "header: the right size, but copied, not measured. Measure the scatter of the "
            "pixel values of `img` (e.g. `sigma_clipped_stats(img, sigma=5)`) and compare it "
            "with the header's value."
        )
    elif close(value, ref.spread, 0.15):
        # 15 %: robust estimators differ, e.g. mad_std is coarse for whole numbers
        # (the median absolute deviation of integers is an integer or a half).
        good.append(
            f"`spread` = {value:.2f} DU: the read noise, measured without the outliers; the "
            f"header says ENOISE / EGAIN = {noise_e:g} / {gain:g} = {header_du:.2f} DU."
            + _truth_note(root, value)
        )
    elif close(value, ref.std, 0.01) and ref.std > 1.2 * ref.spread:
        notes.append(
            f"`spread` = {value:.1f} DU is `np.std` of all pixels, inflated by cosmic rays "
            f"and hot pixels; without them the scatter is about {ref.spread:.1f} DU. Use a "
            "robust estimate such as `astropy.stats.sigma_clipped_stats` or `mad_std`."
        )
    elif close(value, ref.spread**2, 0.15):
        notes.append(f"`spread` = {value:.1f} looks like a variance (DU²): take its square root.")
    elif close(value, ref.spread * gain, 0.10):
        notes.append(
            f"`spread` = {value:.2f} is in electrons (it matches ENOISE = {noise_e:g} e⁻); "
            "the pixel values are in DU, so divide by EGAIN."
        )
    else:
        notes.append(
            f"`spread` = {value:.4g} DU does not match the scatter of the pixel values "
            f"around the centre (about {ref.spread:.1f} DU once outliers are excluded)."
        )


def _outliers(root: str, answers: dict, good: list, notes: list) -> None:
    ref = ref_data.statistics(root)
    value = number(answers["n_outliers"])
    c, s = number(answers["center"]), number(answers["spread"])
    if value is None or value != int(value) or value < 0:
        notes.append("`n_outliers` should be a count: a whole number of pixels, 0 or more.")
        return
    if c is None or s is None or s <= 0:
        notes.append("Fix `center` and `spread` first; `n_outliers` depends on them.")
        return
    raw = ref_data.bias_pair(root)[0]
    own = int(np.count_nonzero(np.abs(raw.astype(np.float64) - c) > 5 * s))
    wrapped = own
    if c == int(c) and 0 <= c <= 65535:  # `img - center` with an int stays uint16
        wrapped = int(np.count_nonzero(np.abs(raw - np.uint16(c)) > 5 * s))
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


# --- Exercise 2 -------------------------------------------------------------------


@answer_check(2, TITLE_2, Resemblance("difference", ref_data.difference_grid, either_sign=True))
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
    namespace, answers = gather(
        2, TITLE_2, {"difference": difference, "read_noise": read_noise}, namespace,
        "`difference` is an image; `read_noise` a number in DU.",
    )
    if isinstance(answers, Feedback):
        return answers
    root = str(data_dir_of(namespace, data_dir))
    good, notes = [], []
    wrapped = _difference(root, answers["difference"], good, notes)
    _read_noise(root, answers["read_noise"], wrapped, good, notes)
    return Feedback(2, TITLE_2, "incorrect" if notes else "correct", tuple(notes + good))


def _difference(root: str, answer, good: list, notes: list) -> bool:
    """Check ``difference``; return whether it wrapped around (uint16)."""
    first, second = ref_data.bias_pair(root)
    expected = solutions.bias_difference(first, second)
    problem = shape_problem("difference", answer, expected.shape)
    if problem:
        notes.append(problem)
        return False
    array = as_array(answer)
    finite = np.isfinite(array)
    if not finite.all():
        notes.append(
            f"`difference` has {np.count_nonzero(~finite)} NaN or inf pixels: the difference "
            "of two frames of whole numbers has a value everywhere."
        )
        return False
    magnitude = np.abs(array.astype(np.float64))
    if np.issubdtype(array.dtype, np.unsignedinteger) or (
        magnitude.max() > 30000 and np.median(magnitude) < 100
    ):
        notes.append(
            f"`difference` has values up to {magnitude.max():.0f}: the frames are "
            "unsigned integers (uint16), so negative differences wrapped around to "
            "about 65535. Convert to float before subtracting: "
            "`second.astype(float) - first.astype(float)`."
        )
        return True
    if np.allclose(array, expected) or np.allclose(array, -expected):
        good.append(
            "`difference`: the bias level and its fixed pattern cancel; what is left is "
            "read noise and the cosmic rays of both frames."
        )
    else:
        notes.append(
            "`difference` is not `b0861c1 - b0860c1`; check that you subtracted these "
            "two frames, pixel by pixel."
        )
    return False


def _read_noise(root: str, answer, wrapped: bool, good: list, notes: list) -> None:
    noise = ref_data.read_noise(root)
    noise_e, gain, header_du = _header_noise(root)
    value = number(answer)
    if value is None:
        notes.append(number_problem("read_noise", answer, "the noise of one frame, in DU"))
    elif close(value, noise, 0.08):
        good.append(
            f"`read_noise` = {value:.2f} DU, close to ENOISE / EGAIN = {noise_e:g} / "
            f"{gain:g} = {header_du:.2f} DU from the header." + _truth_note(root, value)
        )
    elif value > 1000 * noise or (wrapped and value > 10 * noise):
        notes.append(
            f"`read_noise` = {value:.4g} DU is far too large for noise: it was measured on a "
            "difference that wrapped around (uint16), where values near 0 and near 65535 "
            "sit side by side. Subtract in float first, then measure the scatter again."
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
    elif close(value, noise * gain, 0.03):
        notes.append(
            f"`read_noise` = {value:.2f} is in electrons (it matches ENOISE = {noise_e:g} e⁻); "
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
