"""Checks of notebook 3 (dark frames): the master dark exercise."""

from __future__ import annotations

import numpy as np

from . import _references as ref_data
from ._common import MISSING, Feedback, data_dir_of, gather, shape_problem

__all__ = ["exercise_4"]


# --- Exercise 4 -------------------------------------------------------------------


def exercise_4(master_dark=MISSING, *, data_dir=None, namespace=None) -> Feedback:
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
    namespace, answers = gather(
        4, title, {"master_dark": master_dark}, namespace,
        "It is one 2-D image: your best combination of the darks.",
    )
    if isinstance(answers, Feedback):
        return answers
    ref = ref_data.dark_reference(str(data_dir_of(namespace, data_dir)))
    expected = ref["median"]
    answer = answers["master_dark"]
    problem = shape_problem("master_dark", answer, expected.shape, n_frames=ref["n_frames"])
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
