"""Answer checks: specific feedback on a student's answer to each exercise.

Each notebook exercise is followed by a cell such as ``check.exercise_1()``.
The check finds the student's answer variables by name in the notebook (or
takes them as arguments), compares them with the reference solutions of
:mod:`course_utils.solutions` computed from the same dataset, and says one of
three things:

* the answer is correct;
* the exercise is not attempted yet (a variable is missing: this is what the
  student version of a notebook shows before any work);
* the answer is wrong, naming the likely mistake (for example a ``uint16``
  subtraction that wrapped around, or a bias that was not subtracted).

Examples
--------
>>> from course_utils import checks as check
>>> feedback = check.exercise_1(namespace={})   # nothing defined yet
>>> feedback.status
'not attempted'
"""

from __future__ import annotations

import functools
import inspect
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

import numpy as np
from astropy.io import fits

from . import solutions

__all__ = ["Feedback", "exercise_1", "exercise_2", "exercise_3", "exercise_4"]

Status = Literal["correct", "incorrect", "not attempted"]
_MISSING: Any = object()
_ICONS = {"correct": "✅", "incorrect": "❌", "not attempted": "⏳"}

# Frames each exercise is about (as in the notebooks).
BIAS_FIRST = "calibration_frames/bias/b0860c1.fits"
BIAS_SECOND = "calibration_frames/bias/b0861c1.fits"
BIAS_FRAMES = [f"calibration_frames/bias/b0{i}c1.fits" for i in range(860, 900)]
DARK_FRAMES = [f"calibration_frames/dark/b{i}c1.fits" for i in range(1212, 1217)]
FLAT_FRAMES = [f"calibration_frames/flat/ift/ift{i:04d}c2.fits" for i in range(14, 20)]


@dataclass(frozen=True)
class Feedback:
    """The outcome of an answer check; notebooks display it.

    Attributes
    ----------
    exercise : int
        The exercise number.
    title : str
        The exercise's short title.
    status : {'correct', 'incorrect', 'not attempted'}
    messages : tuple of str
        One remark per point checked, most important first.
    """

    exercise: int
    title: str
    status: Status
    messages: tuple[str, ...] = field(default_factory=tuple)

    @property
    def correct(self) -> bool:
        return self.status == "correct"

    def _headline(self) -> str:
        return f"{_ICONS[self.status]} Exercise {self.exercise} ({self.title}): {self.status}"

    def __repr__(self) -> str:
        return "\n".join([self._headline(), *(f"  - {m}" for m in self.messages)])

    __str__ = __repr__

    def _repr_markdown_(self) -> str:
        lines = [f"**{self._headline()}**", ""]
        lines += [f"- {m}" for m in self.messages]
        return "\n".join(lines)


# --- Finding the answers and the data ---------------------------------------------


def _caller_namespace(depth: int = 2) -> Mapping[str, Any]:
    """The global names of the code that called the check (the notebook)."""
    frame = inspect.currentframe()
    try:
        for _ in range(depth):
            frame = frame.f_back
        return frame.f_globals
    finally:
        del frame


def _collect(names: list[str], given: dict[str, Any], namespace) -> dict[str, Any]:
    """Answers given as arguments, else looked up by name in the namespace."""
    return {
        name: given[name] if given[name] is not _MISSING else namespace.get(name, _MISSING)
        for name in names
    }


def _unanswered(answers: dict[str, Any]) -> list[str]:
    return [n for n, v in answers.items() if v is _MISSING or v is None or v is Ellipsis]


def _gather(exercise: int, title: str, given: dict[str, Any], namespace, hint: str):
    """The notebook's namespace and the answers, or a 'not attempted' Feedback.

    Answers not passed as arguments are looked up by name in ``namespace``,
    by default the global names of the notebook that called the check.
    """
    namespace = _caller_namespace(depth=3) if namespace is None else namespace
    answers = _collect(list(given), given, namespace)
    missing = _unanswered(answers)
    if missing:
        return namespace, _not_attempted(exercise, title, missing, hint)
    return namespace, answers


def _not_attempted(exercise: int, title: str, missing: list[str], hint: str) -> Feedback:
    names = ", ".join(f"`{n}`" for n in missing)
    return Feedback(
        exercise,
        title,
        "not attempted",
        (f"Define {names} in the cell above, then run this check again.", hint),
    )


def _data_dir(namespace: Mapping[str, Any], data_dir) -> Path:
    """The dataset the notebook uses: ``data_dir`` given, the notebook's, or the default."""
    for candidate in (data_dir, namespace.get("data_dir")):
        if candidate is not None and (Path(candidate) / "calibration_frames").is_dir():
            return Path(candidate)
    from .data import dataset_dir

    return dataset_dir(verbose=False)


def _number(value) -> float | None:
    """``value`` as a float, or None if it is not a single real number."""
    try:
        array = np.asarray(value)
        if array.size != 1 or not np.issubdtype(array.dtype, np.number):
            return None
        number = float(array.reshape(()))
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _close(a: float, b: float, rel: float) -> bool:
    return abs(a - b) <= rel * abs(b)


# --- Cached references (computed once per dataset) ----------------------------


@functools.lru_cache(maxsize=4)
def _bias_pair(root: str) -> tuple[np.ndarray, np.ndarray]:
    return (
        fits.getdata(Path(root, BIAS_FIRST)),
        fits.getdata(Path(root, BIAS_SECOND)),
    )


@functools.lru_cache(maxsize=4)
def _statistics(root: str) -> solutions.BiasStatistics:
    return solutions.bias_statistics(_bias_pair(root)[0])


@functools.lru_cache(maxsize=4)
def _read_noise(root: str) -> float:
    return solutions.read_noise(*_bias_pair(root))


@functools.lru_cache(maxsize=2)
def _flat_reference(root: str) -> dict[str, Any]:
    paths = [Path(root, p) for p in FLAT_FRAMES]
    header = fits.getheader(paths[0])
    raws = [fits.getdata(p) for p in paths]
    datasec, biassec = header["DATASEC"], header["BIASSEC"]
    rows, cols = solutions.fits_section(datasec)
    levels = [solutions.overscan_level(raw, biassec) for raw in raws]
    signal = float(np.median([np.median(raw[rows, cols] - lvl) for raw, lvl in zip(raws, levels)]))
    return {
        "master": solutions.master_flat(raws, datasec, biassec),
        "raw_shape": raws[0].shape,
        "n_frames": len(raws),
        "bias_level": float(np.median(levels)),
        "signal": signal,
    }


@functools.lru_cache(maxsize=2)
def _dark_reference(root: str) -> dict[str, Any]:
    bias = solutions.master_bias([Path(root, p) for p in BIAS_FRAMES])
    darks = np.stack([fits.getdata(Path(root, p)) for p in DARK_FRAMES])
    median = solutions.master_dark(darks, bias, "median")
    # The glowing corner: where the reference dark signal is far above typical.
    typical = float(np.median(median))
    glow = median > typical + 0.5 * (np.percentile(median, 99.9) - typical)
    return {
        "bias": bias,
        "bias_level": float(np.median(bias)),
        "bias_hot": bias > np.median(bias) + 25,
        "median": median,
        "mean": solutions.master_dark(darks, bias, "mean"),
        "glow": glow,
        "n_frames": len(darks),
    }


# --- Shape problems, common to the array answers ---------------------------------


def _shape_problem(
    name: str, answer, expected: tuple[int, int], *, raw_shape=None, n_frames=None
) -> str | None:
    """Name what is wrong with the shape of an array answer, or None."""
    array = np.asarray(answer) if not isinstance(answer, np.ndarray) else answer
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        return f"`{name}` should be a 2-D numpy array of numbers, not {type(answer).__name__}."
    shape = array.shape
    if shape == expected:
        return None
    if array.ndim == 3 and shape[1:] in (expected, expected[::-1]):
        return (
            f"`{name}` is still a stack of {shape[0]} frames, shape {shape}: combine the "
            "frames along axis 0 (the frame axis), e.g. `np.median(stack, axis=0)`."
        )
    if n_frames is not None and array.ndim == 2 and shape[0] == n_frames:
        return (
            f"`{name}` has shape {shape}: it looks combined along the wrong axis. The "
            f"frames are along axis 0 of the stack, so use `axis=0` to get shape {expected}."
        )
    if shape == expected[::-1]:
        return (
            f"`{name}` has shape {shape}, the transpose of {expected}: IMACS frames are "
            "stored with the long axis first, so transpose them with `.T`."
        )
    if raw_shape is not None and shape in (tuple(raw_shape), tuple(raw_shape)[::-1]):
        return (
            f"`{name}` has shape {shape}: the overscan strip is still there. Trim it: "
            f"keep the first {expected[0]} rows and {expected[1]} columns."
        )
    return f"`{name}` has shape {shape}, but the answer should have shape {expected}."


# --- Exercise 1 -------------------------------------------------------------------


def exercise_1(
    center=_MISSING, spread=_MISSING, n_outliers=_MISSING, *, data_dir=None, namespace=None
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
    namespace, answers = _gather(
        1, title, {"center": center, "spread": spread, "n_outliers": n_outliers}, namespace,
        "Each is a single number computed from `img`.",
    )
    if isinstance(answers, Feedback):
        return answers

    root = str(_data_dir(namespace, data_dir))
    image = _bias_pair(root)[0].astype(np.float64)
    ref = _statistics(root)
    good, notes = [], []

    value = _number(answers["center"])
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

    value = _number(answers["spread"])
    gain = 0.68
    if value is None:
        notes.append("`spread` should be a single number (a standard deviation, in DU).")
    elif _close(value, ref.spread, 0.15):
        # 15 %: robust estimators differ, e.g. mad_std is coarse for whole numbers
        # (the median absolute deviation of integers is an integer or a half).
        good.append(
            f"`spread` = {value:.2f} DU: the read noise, robustly measured "
            f"(ENOISE / EGAIN = 2.7 / 0.68 = {2.7 / gain:.2f} DU)."
        )
    elif _close(value, ref.std, 0.01) and ref.std > 1.2 * ref.spread:
        notes.append(
            f"`spread` = {value:.1f} DU is `np.std` of all pixels, inflated by cosmic rays "
            f"and hot pixels; without them the scatter is about {ref.spread:.1f} DU. Use a "
            "robust estimate such as `astropy.stats.sigma_clipped_stats` or `mad_std`."
        )
    elif _close(value, ref.spread**2, 0.15):
        notes.append(
            f"`spread` = {value:.1f} looks like a variance (DU²): take its square root."
        )
    elif _close(value, ref.spread * gain, 0.10):
        notes.append(
            f"`spread` = {value:.2f} is in electrons (it matches ENOISE); the pixel values "
            "are in DU, so divide by EGAIN."
        )
    else:
        notes.append(
            f"`spread` = {value:.4g} DU does not match the scatter of the pixel values "
            f"around the centre (about {ref.spread:.1f} DU once outliers are excluded)."
        )

    value = _number(answers["n_outliers"])
    c, s = _number(answers["center"]), _number(answers["spread"])
    if value is None or value != int(value) or value < 0:
        notes.append("`n_outliers` should be a count: a whole number of pixels.")
    elif c is not None and s is not None and s > 0:
        own = int(np.count_nonzero(np.abs(image - c) > 5 * s))
        if c == int(c) and 0 <= c <= 65535:  # `img - center` with an int stays uint16
            raw = _bias_pair(root)[0]
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
    difference=_MISSING, read_noise=_MISSING, *, data_dir=None, namespace=None
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
    namespace, answers = _gather(
        2, title, {"difference": difference, "read_noise": read_noise}, namespace,
        "`difference` is an image; `read_noise` a number in DU.",
    )
    if isinstance(answers, Feedback):
        return answers

    root = str(_data_dir(namespace, data_dir))
    first, second = _bias_pair(root)
    expected = solutions.bias_difference(first, second)
    noise = _read_noise(root)
    good, notes = [], []

    answer = answers["difference"]
    problem = _shape_problem("difference", answer, expected.shape)
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

    value = _number(answers["read_noise"])
    if value is None:
        notes.append("`read_noise` should be a single number in DU.")
    elif _close(value, noise, 0.08):
        good.append(
            f"`read_noise` = {value:.2f} DU, the same as ENOISE / EGAIN = 3.97 DU from the "
            "header."
        )
    elif _close(value, noise * math.sqrt(2), 0.05):
        notes.append(
            f"`read_noise` = {value:.2f} DU is the scatter of the difference. The noise of "
            "two frames adds in quadrature, so one frame has 1/√2 of it: divide by √2."
        )
    elif _close(value, noise * math.sqrt(2) / 2, 0.03):
        notes.append(
            f"`read_noise` = {value:.2f} DU: it looks like you divided the scatter of the "
            "difference by 2. Noise adds in quadrature (σ² + σ² = 2σ²), so divide by √2."
        )
    elif _close(value, noise**2, 0.10) or _close(value, 2 * noise**2, 0.10):
        notes.append(
            f"`read_noise` = {value:.1f} looks like a variance (DU²): take the square root "
            "of it (and divide the difference's standard deviation by √2)."
        )
    elif _close(value, noise * 0.68, 0.03):
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


# --- Exercise 3 -------------------------------------------------------------------


def _contrast(image: np.ndarray) -> float:
    """The spread of values between the 5th and 95th percentiles."""
    low, high = np.nanpercentile(image, [5, 95])
    return float(high - low)


def exercise_3(master_flat=_MISSING, *, data_dir=None, namespace=None) -> Feedback:
    """Check Exercise 3: the bias-corrected, normalized ift c2 master flat.

    Parameters
    ----------
    master_flat : 2-D array
        The master flat of the ``ift`` flats (detector c2), bias-corrected,
        trimmed, transposed as in the notebook, and normalized to median 1.
    data_dir, namespace
        As for :func:`exercise_1`.
    """
    title = "correcting the flats"
    namespace, answers = _gather(
        3, title, {"master_flat": master_flat}, namespace,
        "It is the normalized ift c2 master flat, one 2-D image.",
    )
    if isinstance(answers, Feedback):
        return answers
    ref = _flat_reference(str(_data_dir(namespace, data_dir)))
    expected = ref["master"]
    answer = answers["master_flat"]
    problem = _shape_problem(
        "master_flat", answer, expected.shape, raw_shape=ref["raw_shape"], n_frames=ref["n_frames"]
    )
    if problem:
        return Feedback(3, title, "incorrect", (problem,))
    answer = np.asarray(answer, dtype=np.float64)
    if not np.isfinite(answer).all():
        return Feedback(
            3, title, "incorrect",
            (f"`master_flat` has {np.count_nonzero(~np.isfinite(answer))} NaN or inf pixels; "
             "a flat needs a finite value everywhere you will divide by it.",),
        )
    median = float(np.median(answer))
    if not 0.9 < median < 1.1:
        return Feedback(
            3, title, "incorrect",
            (f"`master_flat` is not normalized: its median is {median:.4g}. Divide it by its "
             "median so that a typical pixel is 1.",),
        )
    # A leftover bias level B compresses the flat towards 1: contrast shrinks by S / (S + B).
    ratio = _contrast(answer) / _contrast(expected)
    signal, bias = ref["signal"], ref["bias_level"]
    if abs(ratio - 1) < 0.01 and np.allclose(answer, expected, atol=0.02):
        return Feedback(
            3, title, "correct",
            (f"`master_flat`: overscan level ({bias:.0f} DU) subtracted, trimmed and "
             "normalized; its vignetting spans "
             f"{np.percentile(answer, 1):.2f}–{np.percentile(answer, 99):.2f}.",
             "Dark current is negligible in a few-second dome flat, so no dark is needed."),
        )
    if abs(ratio - signal / (signal + bias)) < 0.01:
        return Feedback(
            3, title, "incorrect",
            (f"`master_flat` looks flatter than it should: the bias level (about {bias:.0f} DU, "
             "measured in the overscan strip of each raw flat) was not subtracted before "
             "normalizing, which squeezes all values towards 1.",),
        )
    if abs(ratio - signal / (signal + bias - 817)) < 0.01:
        return Feedback(
            3, title, "incorrect",
            ("`master_flat` looks like the IFU-M bias (about 817 DU) was subtracted. These "
             "flats come from another camera, IMACS, with its own bias level of about "
             f"{bias:.0f} DU: measure it in each flat's overscan strip instead.",),
        )
    if ratio > 1.5:
        return Feedback(
            3, title, "incorrect",
            (f"`master_flat` has far too much contrast ({ratio:.1f} times the reference): "
             f"the level you subtracted is far above the bias level (about {bias:.0f} DU). "
             "Did you take the overscan of the transposed frame? In the raw array as read "
             "from the file (before `.T`) the overscan is `raw[:, 1024:]`; after "
             "transposing it is `raw.T[1024:, :]`.",),
        )
    spikes = int(np.count_nonzero(answer - expected > 0.05))
    if 0 < spikes < 1e-3 * answer.size and abs(ratio - 1) < 0.01:
        return Feedback(
            3, title, "incorrect",
            (f"`master_flat` is right almost everywhere, but {spikes} pixels are more than "
             "0.05 too bright: cosmic rays that hit one of the flats. A mean (or a clip "
             f"with the standard deviation of only {ref['n_frames']} values) lets them "
             "through; median-combine the flats.",),
        )
    worst = float(np.max(np.abs(answer - expected)))
    return Feedback(
        3, title, "incorrect",
        (f"`master_flat` differs from the reference by up to {worst:.3f} (contrast ratio "
         f"{ratio:.3f}). Check each step: overscan subtraction, trimming, combining along "
         "axis 0, normalizing by the median.",),
    )


# --- Exercise 4 -------------------------------------------------------------------


def exercise_4(master_dark=_MISSING, *, data_dir=None, namespace=None) -> Feedback:
    """Check Exercise 4: the bias-subtracted master dark, free of cosmic rays.

    Parameters
    ----------
    master_dark : 2-D array
        The master dark: the five 3600 s darks, each minus the master bias,
        combined in a way that rejects cosmic rays.
    data_dir, namespace
        As for :func:`exercise_1`.
    """
    title = "a bias-subtracted master dark"
    namespace, answers = _gather(
        4, title, {"master_dark": master_dark}, namespace,
        "It is one 2-D image: your best combination of the darks.",
    )
    if isinstance(answers, Feedback):
        return answers
    ref = _dark_reference(str(_data_dir(namespace, data_dir)))
    expected = ref["median"]
    answer = answers["master_dark"]
    problem = _shape_problem("master_dark", answer, expected.shape, n_frames=ref["n_frames"])
    if problem:
        return Feedback(4, title, "incorrect", (problem,))
    raw_answer = np.asarray(answer)
    answer = raw_answer.astype(np.float64)
    bad = int(np.count_nonzero(~np.isfinite(answer)))
    if bad:
        # Where the true dark signal stands well above a typical pixel's: the glow.
        elevated = expected > np.median(expected) + 10
        in_glow = int(np.count_nonzero(~np.isfinite(answer[elevated])))
        reason = (
            " Most of them are in the glowing corner: clipping each dark against its own "
            "frame (per frame) rejects the glow, which is real signal in every dark. Clip "
            "per pixel, or use the median."
            if in_glow > bad / 2 else ""
        )
        return Feedback(
            4, title, "incorrect",
            (f"`master_dark` has {bad} NaN or inf pixels: a master dark needs a value "
             f"everywhere, since you will subtract it from every pixel.{reason}",),
        )
    if np.issubdtype(raw_answer.dtype, np.unsignedinteger) or np.max(answer) > 30000:
        return Feedback(
            4, title, "incorrect",
            ("`master_dark` holds values near 65535: the darks are unsigned integers "
             "(uint16), so subtracting a bias that is sometimes larger wrapped around. "
             "Convert to float first, e.g. `darks.astype(np.float32) - master_bias`.",),
        )
    offset = float(np.median(answer - expected))
    bias_level = ref["bias_level"]
    if abs(offset - bias_level) < 0.05 * bias_level:
        return Feedback(
            4, title, "incorrect",
            (f"`master_dark` is about {offset:.0f} DU too high: that is the bias level. "
             "Subtract the master bias from each dark (or from the combination).",),
        )
    if abs(offset) > 2:
        return Feedback(
            4, title, "incorrect",
            (f"`master_dark` is offset by {offset:+.1f} DU from the reference on average. "
             "Subtract the master bias (not a single number) from the darks.",),
        )
    glow = ref["glow"]
    glow_error = float(np.median(answer[glow] - expected[glow]))
    if abs(glow_error) > 10:
        return Feedback(
            4, title, "incorrect",
            (f"`master_dark` is off by {glow_error:+.0f} DU in the glowing corner, where the "
             f"reference holds {np.median(expected[glow]):.0f} DU: the sensor glow is real "
             "signal present in every dark and must stay in the master dark (clipping each "
             "frame against its own statistics removes it).",),
        )
    excess = answer - expected
    hot = int(np.count_nonzero(excess > 25))
    pattern = int(np.count_nonzero((excess > 25) & ref["bias_hot"]))
    if hot and pattern > hot / 2:
        return Feedback(
            4, title, "incorrect",
            (f"`master_dark` still shows the bias pattern: {pattern} of its {hot} pixels more "
             "than 25 DU too high are hot pixels and the hot column of the master bias. "
             "Subtract the master bias image pixel by pixel, not a single bias level.",),
        )
    if hot > 1e-4 * excess.size:
        five_frames = (
            f"With only {ref['n_frames']} frames a 3-sigma clip that uses the standard "
            "deviation cannot reject a single cosmic ray: the ray inflates the standard "
            "deviation itself, so it can never be more than 2 standard deviations from the "
            "mean, or 2.5 from the median. Use the median, or clip with `stdfunc='mad_std'`."
        )
        if np.allclose(answer, ref["mean"], rtol=0, atol=1e-2):
            mistake = (
                "`master_dark` equals the plain mean of the darks, so every cosmic ray is "
                f"still in it ({hot} pixels more than 25 DU above the median). If you "
                "sigma-clipped, the clip rejected nothing. " + five_frames
            )
        else:
            mistake = (
                f"`master_dark` still holds cosmic rays: {hot} pixels are more than 25 DU "
                "above the median combination. " + five_frames
            )
        return Feedback(4, title, "incorrect", (mistake,))
    return Feedback(
        4, title, "correct",
        ("`master_dark`: bias subtracted pixel by pixel, cosmic rays rejected, sensor glow "
         f"kept ({np.median(answer[glow]):.0f} DU in the glowing corner, "
         f"{np.median(answer):.1f} DU in a typical pixel after one hour).",),
    )
