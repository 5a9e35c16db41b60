"""Checks of notebook 5 (a science frame): calibrating one frame, the photometry ratio.

Both compare with the *truth* of the synthetic science frames
(:mod:`course_utils.data.science`), not with another calculation: the true
sky and stars a perfectly calibrated frame shows, and the true response of
the detector where a star falls.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
from astropy.io import fits

from ..data import store
from ..data.layout import PRESETS, SCIENCE_FRAMES
from ..data.students import current_seed
from ..data.science import dither, expected_signal, science_model
from ..solutions import calibrate_frame
from . import _truth as truth_models
from ._common import MISSING, Feedback, answer_check, gather, number
from ._copied import DATASETS_AT_ONCE

__all__ = ["exercise_7", "exercise_8", "SCIENCE_FRAME", "PHOTOMETRY_STAR"]

#: The frame Exercise 7 calibrates (first exposure at pointing 1).
SCIENCE_FRAME = SCIENCE_FRAMES[0].path
#: The catalogue number of the star Exercise 8 measures.
PHOTOMETRY_STAR = 1


# --- Truth, cached per preset and seed ------------------------------------------


@functools.lru_cache(maxsize=DATASETS_AT_ONCE)
def _truth(preset: str, seed: int) -> dict:
    model = science_model(preset, seed)
    flat = model.flat
    truth = expected_signal(SCIENCE_FRAMES[0], model=model).astype(np.float64)
    sensitivity = flat.sensitivity.astype(np.float64)
    noise = np.sqrt(truth * sensitivity * flat.gain + flat.read_noise_e ** 2) / (flat.gain * sensitivity)
    return {"truth": truth, "sensitivity": sensitivity, "noise": noise, "model": model,
            "stars": truth - model.sky_du > 50 * noise}


def _dataset_of(namespace) -> tuple[str, int]:
    """Preset and seed of the notebook's science frames (``science_root``), else the defaults."""
    root = namespace.get("science_root") if hasattr(namespace, "get") else None
    try:
        content = store.read_marker(root) if root is not None else None
    except (ValueError, TypeError, OSError):
        content = None
    preset, seed = (content or {}).get("preset"), (content or {}).get("seed")
    preset = preset if preset in PRESETS else "full"
    if not (isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0):
        seed = current_seed()  # no science folder named: the current student's (or the default) dataset
    return preset, seed


def _preset_of_shape(shape: tuple) -> str | None:
    for name, preset in PRESETS.items():
        geometry = preset.imacs
        if shape == (geometry.data_cols, geometry.data_rows):
            return name
    return None


# --- Exercise 7 -----------------------------------------------------------------------


def _as_image(answer) -> tuple[np.ndarray | None, str | None]:
    """The answer as a float array (masked values -> NaN), or a message saying why not."""
    try:
        # The shape first: a huge or wrong-shaped array is never converted.
        if hasattr(answer, "shape") and _preset_of_shape(tuple(np.shape(answer))) is None:
            return None, _shape_message(tuple(np.shape(answer)))
        if isinstance(answer, np.ma.MaskedArray):
            array = np.ma.filled(answer.astype(np.float64), np.nan)
        else:
            array = np.asarray(answer)
            if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool) \
                    or np.iscomplexobj(array):
                raise TypeError
            array = array.astype(np.float64)
    except (TypeError, ValueError):
        return None, (f"`calibrated` should be a 2-D numpy array of numbers (one calibrated "
                      f"frame), not {type(answer).__name__}.")
    return array, None


def _shape_message(shape: tuple) -> str | None:
    full = PRESETS["full"].imacs
    expected = (full.data_cols, full.data_rows)
    if _preset_of_shape(shape) is not None:
        return None
    wanted = expected  # the loop below reuses `expected` for each preset's shape
    if len(shape) == 3:
        return (f"`calibrated` is a stack of {shape[0]} frames, shape {shape}: the exercise "
                "calibrates one frame, `ift0040c2`.")
    for preset in PRESETS.values():
        geometry = preset.imacs
        expected = (geometry.data_cols, geometry.data_rows)
        if shape == expected[::-1]:
            return (f"`calibrated` has shape {shape}, the transpose of {expected}: IMACS frames "
                    "are stored with the long axis first; transpose the raw frame with `.T` "
                    "(the master flat of Exercise 6 is transposed too).")
        if shape in (geometry.shape, geometry.shape[::-1]):
            return (f"`calibrated` has shape {shape}: the frame is untrimmed, the overscan strip "
                    f"is still there. Trim it: keep the first {expected[0]} rows and "
                    f"{expected[1]} columns of the transposed frame.")
    return f"`calibrated` has shape {shape}, but one calibrated frame has shape {wanted}."


def _block_medians(image: np.ndarray, blocks: int = 32) -> np.ndarray:
    """The median of each of ``blocks`` rows of square tiles, NaN ignored (NaN if all are).

    Every other pixel of each tile is enough for a median, and a sort of all
    tiles at once is far faster than a NaN-aware median tile by tile.
    """
    rows, cols = image.shape
    size = rows // blocks
    trimmed = image[:blocks * size, :(cols // size) * size]
    tiles = trimmed.reshape(blocks, size, cols // size, size).transpose(0, 2, 1, 3)
    step = 2 if size >= 16 else 1
    values = np.sort(tiles[:, :, ::step, ::step].reshape(blocks, cols // size, -1), axis=2)
    count = np.count_nonzero(np.isfinite(values), axis=2)  # NaN sort last
    low = np.take_along_axis(values, np.maximum(count - 1, 0)[..., None] // 2, axis=2)[..., 0]
    high = np.take_along_axis(values, (count // 2)[..., None], axis=2)[..., 0]
    return np.where(count > 0, (low + high) / 2, np.nan)


def _vignetting_power(answer: np.ndarray, ref: dict) -> float:
    """p in ``answer / truth ~ response**p``: 0 when flat-fielded, 1 without, 2 multiplied."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = _block_medians(answer / ref["truth"])
    response = _block_medians(ref["sensitivity"])
    good = np.isfinite(ratio) & (ratio > 0)
    if np.count_nonzero(good) < 10:
        return math.nan
    x, y = np.log(response[good]), np.log(ratio[good])
    return float(np.polyfit(x, y, 1)[0])


def _diagnose(answer: np.ndarray, ref: dict) -> tuple[bool, str]:
    truth, model = ref["truth"], ref["model"]
    bias, sky = model.flat.bias_level, model.sky_du
    # Every other row and column: a million pixels pin the medians down to far
    # better than the tolerances, in a quarter of the time.
    answer, truth = answer[::2, ::2], truth[::2, ::2]
    ref = {**ref, "truth": truth, "noise": ref["noise"][::2, ::2],
           "sensitivity": ref["sensitivity"][::2, ::2], "stars": ref["stars"][::2, ::2]}
    offset = float(np.nanmedian(answer - truth))
    scale = float(np.nanmedian(answer) / np.median(truth))
    if 0.7 * bias < offset < 1.5 * bias:
        return False, (f"`calibrated` is about {offset:.0f} DU above the true sky and stars: "
                       f"the bias level (about {bias:.0f} DU, this frame's overscan) was not "
                       "subtracted. Measure it in the overscan strip (BIASSEC) and subtract it "
                       "before dividing by the flat.")
    ifum_level = truth_models.ifum_bias_level_of_seed(model.flat.seed)
    ifum = bias - ifum_level
    if abs(offset - ifum) < 0.25 * ifum:
        return False, (f"`calibrated` is about {offset:.0f} DU too high: it looks like the IFU-M "
                       f"bias level ({ifum_level:.0f} DU) was subtracted. This is another camera, IMACS, with "
                       f"its own bias level of about {bias:.0f} DU: measure it in the overscan.")
    if 0 < scale < 0.05:
        return False, (f"`calibrated` is {1 / scale:.0f} times too faint: the flat you divided by "
                       "is not normalized (its median is thousands of DU). Divide the master flat "
                       "by its median first, so that a typical pixel is 1.")
    if scale > 20:
        return False, (f"`calibrated` is {scale:.0f} times too bright: it looks multiplied by a "
                       "flat that is not normalized. Divide by the normalized master flat.")
    power = _vignetting_power(answer, ref)
    if abs(power - 2) < 0.5:
        return False, ("`calibrated` has the vignetting twice over (its edges are darker still): "
                       "the flat was applied by multiplication. Divide by the flat instead.")
    if abs(power - 1) < 0.4:
        return False, ("`calibrated` still shows the vignetting: it was not divided by the "
                       "normalized master flat.")
    if abs(power + 1) < 0.5:
        return False, ("`calibrated` is brighter at the edges than in the centre: it was divided "
                       "by the flat twice (or divided by the square of it).")
    with np.errstate(divide="ignore", invalid="ignore"):
        star_excess = float(np.nanmedian(((answer - truth) / (truth - sky))[ref["stars"]]))
    if star_excess < -0.5:
        return False, ("The sky of `calibrated` is right, but its stars are not where they are in "
                       "`ift0040c2`: did you calibrate another exposure (a dithered one), or flip "
                       "the frame?")
    normalized = (answer - truth) / ref["noise"]
    spread = float(1.4826 * np.nanmedian(np.abs(normalized - np.nanmedian(normalized))))
    if abs(offset) < 0.02 * sky + 3 and abs(power) < 0.1 and abs(star_excess) < 0.05 and 0.4 < spread < 1.5:
        return True, (f"`calibrated` matches the true sky and stars: median residual {offset:+.1f} DU "
                      f"(sky {sky:.0f} DU), residuals {spread:.2f} times the expected photon and "
                      f"read noise, vignetting removed (response power {round(power, 2) + 0.0:+.2f}).")
    return False, (f"`calibrated` differs from the true sky and stars: median residual {offset:+.1f} DU "
                   f"(sky {sky:.0f} DU), scale {scale:.3f}, residual spread {spread:.2f} times the "
                   "expected noise. Check each step: overscan level subtracted, frame transposed "
                   "and trimmed, divided by the normalized master flat.")


#: Below this correlation with the noise of ``ift0040c2`` an answer was made from other
#: exposures; above it only the exposure itself (its noise correlates almost perfectly).
SAME_EXPOSURE = 0.9
OTHER_EXPOSURE = 0.25


@functools.lru_cache(maxsize=1)
def _exposure_noise(root: str, preset: str, seed: int) -> tuple[np.ndarray, ...]:
    """Each exposure at pointing 1, calibrated with the true response, minus the truth.

    What is left is each exposure's own noise (photon noise, read noise and
    cosmic rays): an answer made from ``ift0040c2`` shares it, an answer
    made from another exposure does not, and a combination of several
    shares part of it.
    """
    ref = _truth(preset, seed)
    noise = []
    for frame in SCIENCE_FRAMES[:3]:
        path = Path(root, frame.path)
        header = fits.getheader(path)
        own = calibrate_frame(fits.getdata(path), ref["sensitivity"].astype(np.float32),
                              header["DATASEC"], header["BIASSEC"])
        noise.append(_normalized(own, ref))
    return tuple(noise)


def _normalized(image: np.ndarray, ref: dict) -> np.ndarray:
    """``image`` minus the truth in units of the expected noise, clipped at ±5, subsampled.

    Clipping keeps the cosmic rays of one exposure from deciding the correlation.
    """
    part = (slice(None, None, _STRIDE), slice(None, None, _STRIDE))
    residual = (image[part] - ref["truth"][part]) / ref["noise"][part]
    return np.clip(residual, -5, 5).astype(np.float32)


#: Every _STRIDE-th row and column: enough pixels to measure a correlation to ±0.01.
_STRIDE = 4


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    good = np.isfinite(a) & np.isfinite(b)
    if np.count_nonzero(good) < 100:
        return math.nan
    a, b = a[good] - a[good].mean(), b[good] - b[good].mean()
    return float((a * b).sum() / math.sqrt((a * a).sum() * (b * b).sum()))


def _exposure_problem(answer: np.ndarray, ref: dict, namespace, preset: str) -> str | None:
    """Another exposure of the same pointing, or several combined, named; None if it is ift0040c2."""
    root = namespace.get("science_root")
    try:
        noise = _exposure_noise(str(root), preset, _dataset_of(namespace)[1])
    except (OSError, KeyError, ValueError, TypeError):  # no science frames to compare with
        return None
    residual = _normalized(answer, ref)
    shared = [_correlation(residual, frame) for frame in noise]
    if not shared[0] < SAME_EXPOSURE:  # NaN (nothing to compare) counts as the same
        return None
    names = [f.path.rsplit("/", 1)[-1].removesuffix(".fits") for f in SCIENCE_FRAMES[:3]]
    if shared[0] < OTHER_EXPOSURE:
        best = int(np.nanargmax(shared))
        which = (f"it shares the noise of {names[best]}, another exposure of the same pointing"
                 if shared[best] >= SAME_EXPOSURE else "it was made from another exposure")
        return (f"`calibrated` has the right sky and stars, but not the noise of {names[0]}: "
                f"{which}. Calibrate {names[0]}, `SCIENCE_FRAME`, the first exposure.")
    used = [n for n, c in zip(names, shared) if c >= OTHER_EXPOSURE]
    return (f"`calibrated` looks like a combination of several exposures ({', '.join(used)}): "
            f"its noise is only partly that of {names[0]} (correlation {shared[0]:.2f}). "
            f"The exercise calibrates the single frame {names[0]}; combining comes later.")


@answer_check(7, "calibrating a science frame")
def exercise_7(calibrated=MISSING, *, data_dir=None, namespace=None) -> Feedback:
    """Check Exercise 7: ``ift0040c2`` calibrated, compared with the true sky and stars.

    Parameters
    ----------
    calibrated : 2-D array
        The frame, overscan-subtracted, transposed, trimmed and divided by the
        normalized master flat (dead pixels may be NaN or masked).
    data_dir : path, optional
        Not used: the science frames are found through the notebook's
        ``science_root`` (accepted so that every check takes the same arguments).
    namespace : mapping, optional
        Where to look up ``calibrated`` (and ``science_root``); default: the
        caller's global names.

    Examples
    --------
    >>> exercise_7(namespace={}).status
    'not attempted'
    """
    title = "calibrating a science frame"
    namespace, answers = gather(
        7, title, {"calibrated": calibrated}, namespace,
        "It is the frame ift0040c2, calibrated: one 2-D image in DU.",
    )
    if isinstance(answers, Feedback):
        return answers
    array, problem = _as_image(answers["calibrated"])
    if problem is None:
        problem = _shape_message(array.shape)
    if problem is not None:
        return Feedback(7, title, "incorrect", (problem,))
    bad = np.count_nonzero(~np.isfinite(array))
    if bad > 0.01 * array.size:
        return Feedback(7, title, "incorrect", (
            f"`calibrated` has {bad} NaN or infinite pixels ({100 * bad / array.size:.0f} %): only "
            "the few pixels the flat calls dead should be masked.",))
    preset = _preset_of_shape(array.shape)
    ref = _truth(preset, _dataset_of(namespace)[1])
    correct, message = _diagnose(array, ref)
    if correct:
        problem = _exposure_problem(array, ref, namespace, preset)
        if problem is not None:
            return Feedback(7, title, "incorrect", (problem,))
    return Feedback(7, title, "correct" if correct else "incorrect", (message,))


# --- Exercise 8 -----------------------------------------------------------------------


@functools.lru_cache(maxsize=DATASETS_AT_ONCE)
def _photometry_truth(preset: str, seed: int) -> dict:
    """True response ratio (pointing 2 / pointing 1) of star 1 and of the other stars, and
    star 1's photon noise."""
    model = science_model(preset, seed)
    flat = model.flat
    stars = model.stars
    dx, dy = dither(SCIENCE_FRAMES[-1], preset)
    sigma = model.psf_sigma
    half = int(4 * sigma) + 1
    rows, cols = flat.sensitivity.shape

    def response(xc: float, yc: float) -> float:
        rr, cc = np.mgrid[int(yc) - half:int(yc) + half + 1, int(xc) - half:int(xc) + half + 1]
        weight = np.exp(-((rr - yc) ** 2 + (cc - xc) ** 2) / (2 * sigma ** 2))
        return float((weight * flat.sensitivity[rr, cc]).sum() / weight.sum())

    def inside(x: float, y: float) -> bool:
        return half <= x < cols - half - 1 and half <= y < rows - half - 1

    ratios = {}
    for number_, x, y in zip(stars["star"], stars["x"], stars["y"]):
        if inside(x, y) and inside(x + dx, y + dy):
            ratios[int(number_)] = response(x + dx, y + dy) / response(x, y)
    index = int(np.flatnonzero(stars["star"] == PHOTOMETRY_STAR)[0])
    flux_e = float(stars["flux_e"][index])
    pixels = math.pi * (4 * sigma) ** 2
    noise = math.sqrt(2 * (flux_e + 2 * pixels * model.sky_du * flat.gain)) / flux_e
    before = ratios.pop(PHOTOMETRY_STAR)
    return {"before": before, "noise": noise, "others": ratios,
            "tolerance": max(4 * noise, 0.01)}


def _position_hint() -> str:
    return ("check the star's position: star 1's catalogue x (the column) and y (the row), "
            "`image[y, x]`, plus the header's DITHX, DITHY at pointing 2")


def _not_a_number(name: str, answer) -> str:
    try:
        nan = np.size(answer) == 1 and not np.isfinite(float(np.asarray(answer).reshape(())))
    except (TypeError, ValueError, OverflowError):
        nan = False
    if nan:
        return (f"`{name}` is not a finite number: a NaN means an aperture off the image (were "
                "x and y swapped? x is the column, y the row) or a masked pixel in it; "
                + _position_hint() + ".")
    return f"`{name}` should be one number: the star's flux at the edge over its flux at the centre."


def _units_message(name: str, value: float, expected: float, tolerance: float) -> str | None:
    """A ratio given in per cent, or a difference of fluxes given instead of a ratio."""
    if abs(value / 100 - expected) < tolerance:
        return (f"`{name}` = {value:.4g} is the ratio in per cent: give the ratio itself "
                f"(about {value / 100:.3f}), without multiplying by 100.")
    if value < 0 or abs(value) > 10:
        return (f"`{name}` = {value:.4g} is not a ratio of fluxes (a ratio is near 1): it looks "
                "like a difference. Divide the flux at pointing 2 by the flux at pointing 1.")
    return None


def _before_message(answer, ref: dict) -> str | None:
    value, true, tolerance = number(answer), ref["before"], ref["tolerance"]
    if value is None:
        return _not_a_number("ratio_before", answer)
    if abs(value - true) < tolerance:
        return None
    units = _units_message("ratio_before", value, true, tolerance)
    if units:
        return units
    if abs(value - 1) < 0.01:
        return ("`ratio_before` is close to 1, but before flat-fielding the star should look "
                f"about {100 * (1 - true):.0f} % fainter at the edge: measure it on frames that are "
                "not divided by the flat (only the overscan subtracted).")
    if abs(value - 1 / true) < 0.03:
        return ("`ratio_before` looks inverted (centre over edge): divide the flux at pointing 2 "
                "(the edge) by the flux at pointing 1 (the centre).")
    others = sorted((abs(value - r), n) for n, r in ref["others"].items()
                    if abs(value - r) < tolerance)
    if others:
        return (f"`ratio_before` = {value:.3f} is the ratio of another star (star {others[0][1]} "
                f"gives {ref['others'][others[0][1]]:.3f}), not of star {PHOTOMETRY_STAR} "
                f"(about {true:.3f}): " + _position_hint() + ". Is the catalogue row the "
                "one whose `star` is 1?")
    return (f"`ratio_before` is {value:.3f}, not about {true:.3f}: " + _position_hint()
            + ", and the sky annulus.")


def _after_message(answer, ref: dict) -> str | None:
    value, true, tolerance = number(answer), ref["before"], ref["tolerance"]
    if value is None:
        return _not_a_number("ratio_after", answer)
    if abs(value - 1) < tolerance:
        return None
    units = _units_message("ratio_after", value, 1.0, tolerance)
    if units:
        return units
    if abs(value - true) < 0.03:
        return ("`ratio_after` is what the ratio was before flat-fielding: measure the fluxes on "
                "the frames divided by the normalized master flat.")
    if abs(value - true ** 2) < 0.04:
        return ("`ratio_after` shows the vignetting twice over: the flat was applied by "
                "multiplication. Divide by the flat.")
    return (f"`ratio_after` is {value:.3f}; after flat-fielding the star should be as bright at "
            f"the edge as at the centre, within the photon noise (±{tolerance:.3f}): "
            + _position_hint() + ", and the sky annulus.")


@answer_check(8, "the photometry ratio")
def exercise_8(ratio_before=MISSING, ratio_after=MISSING, *, data_dir=None,
               namespace=None) -> Feedback:
    """Check Exercise 8: flux of star 1 at the edge (pointing 2) over the centre (pointing 1).

    Parameters
    ----------
    ratio_before, ratio_after : float
        The ratio measured before flat-fielding (off by the vignetting) and
        after (1 within the photon noise).
    data_dir : path, optional
        Not used, as for :func:`exercise_7`.
    namespace : mapping, optional
        Where to look the answers up; default: the caller's global names.

    Examples
    --------
    >>> exercise_8(namespace={"ratio_before": 0.8}).status
    'not attempted'
    """
    title = "the photometry ratio"
    namespace, answers = gather(
        8, title, {"ratio_before": ratio_before, "ratio_after": ratio_after}, namespace,
        "Each is one number: the flux of star 1 at pointing 2 divided by its flux at pointing 1.",
    )
    if isinstance(answers, Feedback):
        return answers
    ref = _photometry_truth(*_dataset_of(namespace))
    before, after = number(answers["ratio_before"]), number(answers["ratio_after"])
    problems = [m for m in (_before_message(answers["ratio_before"], ref),
                            _after_message(answers["ratio_after"], ref)) if m]
    if problems:
        return Feedback(8, title, "incorrect", tuple(problems))
    return Feedback(8, title, "correct", (
        f"Before flat-fielding star {PHOTOMETRY_STAR} looks {100 * (1 - before):.0f} % fainter at "
        f"the edge ({before:.3f}; the true response ratio is {ref['before']:.3f}); after, the ratio "
        f"is {after:.4f}, 1 within the photon noise (about ±{ref['noise']:.4f}).",))
