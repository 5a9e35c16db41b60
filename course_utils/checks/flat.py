"""Checks of notebook 4 (flat frames): the master flat exercise."""

from __future__ import annotations

import numpy as np

from . import _references as ref_data
from ._common import MISSING, Feedback, data_dir_of, gather, shape_problem

__all__ = ["exercise_3"]


# --- Exercise 3 -------------------------------------------------------------------


def _contrast(image: np.ndarray) -> float:
    """The spread of values between the 5th and 95th percentiles."""
    low, high = np.nanpercentile(image, [5, 95])
    return float(high - low)


def exercise_3(master_flat=MISSING, *, data_dir=None, namespace=None) -> Feedback:
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
    namespace, answers = gather(
        3, title, {"master_flat": master_flat}, namespace,
        "It is the normalized ift c2 master flat, one 2-D image.",
    )
    if isinstance(answers, Feedback):
        return answers
    ref = ref_data.flat_reference(str(data_dir_of(namespace, data_dir)))
    expected = ref["master"]
    answer = answers["master_flat"]
    problem = shape_problem(
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


