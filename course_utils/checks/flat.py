"""Checks of notebook 4 (flat frames): the master flat (Exercise 6)."""

from __future__ import annotations

import functools

import numpy as np

from . import _references as ref_data
from ._references import exact_median
from . import _truth
from ._copied import DATASETS_AT_ONCE, Resemblance
from ._common import MISSING, Feedback, answer_check, as_array, data_dir_of, gather, shape_problem

__all__ = ["exercise_6"]

TITLE_6 = "correcting the flats"


# --- Exercise 6 -------------------------------------------------------------------


@answer_check(6, TITLE_6, Resemblance("master_flat", ref_data.flat_grid))
def exercise_6(master_flat=MISSING, *, data_dir=None, namespace=None) -> Feedback:
    """Check Exercise 6: the bias-corrected, normalized ift c2 master flat.

    Parameters
    ----------
    master_flat : 2-D array
        The master flat of the ``ift`` flats (detector c2), bias-corrected,
        trimmed, transposed as in the notebook, and normalized to median 1.
    data_dir, namespace
        As for :func:`course_utils.checks.exercise_1`.
    """
    namespace, answers = gather(
        6, TITLE_6, {"master_flat": master_flat}, namespace,
        "It is the normalized ift c2 master flat, one 2-D image.",
    )
    if isinstance(answers, Feedback):
        return answers
    root = str(data_dir_of(namespace, data_dir))
    ref = {**ref_data.flat_reference(root), "ifum_bias_level": _truth.ifum_bias_level(root)}
    answer = answers["master_flat"]
    problem = shape_problem(
        "master_flat", answer, ref["master"].shape, raw_shape=ref["raw_shape"],
        n_frames=ref["n_frames"],
    )
    # Once, in row-major order (a transposed flat would be copied by every reduction).
    answer = None if problem else np.ascontiguousarray(as_array(answer), dtype=np.float64)
    problem = problem or _level_problem(answer, ref) or _combination_problem(answer, ref)
    if problem:
        return Feedback(6, TITLE_6, "incorrect", (problem,))
    return Feedback(6, TITLE_6, "correct", _praise(root, answer, ref))


def _level_problem(answer: np.ndarray, ref: dict) -> str | None:
    """NaN, normalization and a wrong bias level: what shows in the whole flat."""
    if not np.isfinite(answer).all():
        return (f"`master_flat` has {np.count_nonzero(~np.isfinite(answer))} NaN or inf "
                "pixels; a flat needs a finite value everywhere you will divide by it.")
    median = float(exact_median(answer))
    if not 0.9 < median < 1.1:
        return (f"`master_flat` is not normalized: its median is {median:.4g}. Divide it by "
                "its median so that a typical pixel is 1.")
    if abs(median - 1) > 0.002:
        return (f"`master_flat` has median {median:.4f}, not 1: it was divided by something "
                "other than its median, probably its mean, which the vignetted edges pull "
                "down. Normalize with `np.median`.")
    other = _other_detector(answer, ref)
    if other:
        return other
    # A leftover bias level B compresses the flat towards 1: contrast shrinks by S / (S + B).
    ratio = ref_data.contrast(answer) / ref["contrast"]
    signal, bias = ref["signal"], ref["bias_level"]
    if abs(ratio - signal / (signal + bias)) < 0.01:
        return (f"`master_flat` looks flatter than it should: the bias level (about {bias:.0f} "
                "DU, measured in the overscan strip of each raw flat) was not subtracted "
                "before normalizing, which squeezes all values towards 1.")
    ifum = ref["ifum_bias_level"]
    if abs(ratio - signal / (signal + bias - ifum)) < 0.01:
        return (f"`master_flat` looks like the IFU-M bias (about {ifum:.0f} DU) was subtracted. These "
                "flats come from another camera, IMACS, with its own bias level of about "
                f"{bias:.0f} DU: measure it in each flat's overscan strip instead.")
    if ratio > 1.5:
        return (f"`master_flat` has far too much contrast ({ratio:.1f} times the reference): "
                f"the level you subtracted is far above the bias level (about {bias:.0f} DU). "
                "Did you take the overscan of the transposed frame? In the raw array as read "
                "from the file (before `.T`) the overscan is `raw[:, 1024:]`; after "
                "transposing it is `raw.T[1024:, :]`.")
    if abs(ratio - 1) > 0.01:
        return (f"`master_flat` has {ratio:.3f} times the contrast of the reference: check the "
                "bias level you subtracted (the median of each raw flat's overscan strip).")
    return None


#: Every _STRIDE-th row and column: enough pixels to compare the patterns of two flats.
_STRIDE = 4


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a[::_STRIDE, ::_STRIDE].ravel(), b[::_STRIDE, ::_STRIDE].ravel()
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def _other_detector(answer: np.ndarray, ref: dict) -> str | None:
    """A flat of the ``iff`` camera, which §4.2 put in the notebook's variables, named."""
    own = _correlation(answer, ref["master"])
    if own > 0.9:
        return None  # the pattern of the ift c2 flat, whatever its level
    for name, flat in ref_data.other_flats(ref["root"]).items():
        if flat.shape == answer.shape and _correlation(answer, flat) > max(own, 0.8):
            return (f"`master_flat` is a flat of another camera and detector, {name}: §4.2 set "
                    "`camera` and `detector` to those of the dusty flats, so a copy of §4.1's "
                    "loop now reads them. Use the ift c2 flats (`check.FLAT_FRAMES`).")
    return ("`master_flat` does not show the pattern of the ift c2 flats (their vignetting): "
            "make it from the six ift c2 flats, `check.FLAT_FRAMES`.")


def _combination_problem(answer: np.ndarray, ref: dict) -> str | None:
    """One flat instead of a combination, or cosmic rays a mean let through."""
    residual = answer - ref["master"]
    n = ref["n_frames"]
    sample = answer[::ref_data.SAMPLE_ROWS]
    for index, single in enumerate(ref["single_rows"]):
        # The first row rules out most frames cheaply.
        if np.allclose(sample[0], single[0], rtol=0, atol=1e-4) and np.allclose(
            sample, single, rtol=0, atol=1e-4
        ):
            name = ref_data.FLAT_FRAMES[index].rsplit("/", 1)[-1]
            return (f"`master_flat` is the flat {name} alone: combine all {n} flats "
                    "(median of the normalized flats), which beats down their noise and "
                    "removes the cosmic rays of each.")
    noise = ref_data.robust_std(residual)
    if noise > 0.7 * ref["single_noise"]:
        return (f"`master_flat` is about as noisy as a single flat ({noise:.4f} around the "
                f"reference, one flat: {ref['single_noise']:.4f}): combine all {n} flats.")
    spikes = int(np.count_nonzero(residual > 0.05))
    if spikes:
        return (f"`master_flat` is right almost everywhere, but {spikes} pixels are more than "
                "0.05 too bright: cosmic rays that hit one of the flats. A mean (or a clip "
                f"with the standard deviation of only {n} values) lets them through; "
                "median-combine the flats.")
    offset = float(exact_median(residual))
    if abs(offset) > 0.002 or np.count_nonzero(np.abs(residual) > 0.05) > 1e-4 * residual.size:
        return (f"`master_flat` differs from the reference by {offset:+.4f} in the median and "
                f"up to {np.max(np.abs(residual)):.3f}: check each step (overscan subtraction, "
                "trimming, combining along axis 0, normalizing by the median).")
    return None


@functools.lru_cache(maxsize=DATASETS_AT_ONCE)
def _syllabus_difference(root: str) -> float:
    """How much the syllabus's route (combine, then normalize) changes the master flat."""
    ref = ref_data.flat_reference(root)
    return float(exact_median(np.abs(ref["syllabus"] - ref["master"])))


def _praise(root: str, answer: np.ndarray, ref: dict) -> tuple[str, ...]:
    low, high = np.percentile(answer, [1, 99])
    messages = [
        f"`master_flat`: overscan level ({ref['bias_level']:.0f} DU) subtracted, trimmed and "
        f"normalized; its vignetting spans {low:.2f}–{high:.2f}.",
        "Dark current is negligible in a few-second dome flat, so no dark is needed.",
    ]
    syllabus = ref_data.robust_std(answer - ref["syllabus"])
    normalized_first = ref_data.robust_std(answer - ref["master"])
    if syllabus < normalized_first:
        low, high = min(ref["signals"]), max(ref["signals"])
        difference = _syllabus_difference(ref["root"])
        messages.append(
            "You combined the flats before normalizing each one. The lamp drifted between "
            f"exposures ({low:,.0f} to {high:,.0f} DU), so the median mixes brighter and "
            f"fainter frames; here that changes the flat by {difference:.4f} (median), less "
            f"than its own noise ({ref['single_noise'] * 1.25 / np.sqrt(ref['n_frames']):.4f}"
            "). Normalizing each flat first makes the combination immune to the drift."
        )
    truth = _truth.flat_sensitivity(root)
    if truth is not None and truth.shape == answer.shape:
        ratio = answer / truth
        messages.append(
            "Compared with the synthetic detector's true response, your flat is off by "
            f"{exact_median(ratio) - 1:+.4f} on average and scatters by "
            f"{ref_data.robust_std(ratio):.4f} per pixel: the photon noise left in "
            f"{ref['n_frames']} flats."
        )
    return tuple(messages)
