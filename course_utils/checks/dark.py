"""Checks of notebook 3 (dark frames): the master dark (Exercise 4) and the dark
current (Exercise 5)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from astropy.io import fits

from .. import solutions
from . import _references as ref_data
from ._references import exact_median
from . import _truth
from ._copied import DATASETS_AT_ONCE, Resemblance
from ._common import (
    MISSING, Feedback, answer_check, as_array, close, data_dir_of, gather, number,
    number_problem, shape_problem,
)

__all__ = ["exercise_4", "exercise_5"]

TITLE_4 = "a bias-subtracted master dark"
TITLE_5 = "dark current and a scaled dark"
DEFECT = ref_data.DARK_DEFECT_DU
FIVE_FRAMES = (
    "With only {n} frames a 3-sigma clip that uses the standard deviation cannot reject "
    "a single cosmic ray: the ray inflates the standard deviation itself, so it can never "
    "be more than 2 standard deviations from the mean, or 2.5 from the median. Use the "
    "median, or clip with `stdfunc='mad_std'`."
)


# --- Exercise 4 -------------------------------------------------------------------


@answer_check(4, TITLE_4, Resemblance("master_dark", ref_data.dark_grid))
def exercise_4(master_dark=MISSING, *, data_dir=None, namespace=None) -> Feedback:
    """Check Exercise 4: the bias-subtracted master dark, free of cosmic rays.

    Parameters
    ----------
    master_dark : 2-D array
        The master dark: the five 3600 s darks, each minus the master bias,
        combined in a way that rejects cosmic rays.
    data_dir, namespace
        As for :func:`course_utils.checks.exercise_1`.
    """
    namespace, answers = gather(
        4, TITLE_4, {"master_dark": master_dark}, namespace,
        "It is one 2-D image: your best combination of the darks.",
    )
    if isinstance(answers, Feedback):
        return answers
    root = str(data_dir_of(namespace, data_dir))
    answer = answers["master_dark"]
    ref = _matching(ref_data.dark_reference(root), answer)
    problem = shape_problem("master_dark", answer, ref["median"].shape, n_frames=ref["n_frames"])
    if problem is not None:
        return Feedback(4, TITLE_4, "incorrect", (problem,))
    ref = {**ref, **_medians(root, ref["median"].shape)}
    raw_answer = as_array(answer)
    # Once, in row-major order: a full frame costs a hundredth of a second.
    values = np.ascontiguousarray(raw_answer, dtype=np.float64)
    problem = _not_a_dark(raw_answer, values, ref) or _defects(values, ref)
    if problem is not None:
        return Feedback(4, TITLE_4, "incorrect", (problem,))
    return Feedback(4, TITLE_4, "correct", _praise(root, values, ref))


@functools.lru_cache(maxsize=2 * DATASETS_AT_ONCE)
def _medians(root: str, shape: tuple[int, int]) -> dict[str, float]:
    """Medians of the reference master dark (whole, or trimmed to ``shape``): one dataset's numbers."""
    ref = _matching(ref_data.dark_reference(root), np.empty(shape, dtype=np.bool_))
    return {"median_level": float(exact_median(ref["median"])),
            "glow_level": float(exact_median(ref["median"][ref["glow"]]))}


def _matching(ref: dict, answer) -> dict:
    """The references, trimmed to the data section if the answer is trimmed.

    A master dark of the exposed pixels alone (the overscan cut off, as the
    flats are) is as good as one of the whole frame.
    """
    array = as_array(answer)
    if array is None or array.shape != ref["data_shape"]:
        return ref
    rows, cols = ref["data_shape"]
    full = ref["median"].shape
    return {key: value[:rows, :cols] if getattr(value, "shape", None) == full else value
            for key, value in ref.items()}


def _not_a_dark(raw_answer: np.ndarray, answer: np.ndarray, ref: dict) -> str | None:
    """What makes the answer (as given, and as float64) something other than a master
    dark in DU, or None."""
    expected = ref["median"]
    bad = int(np.count_nonzero(~np.isfinite(answer)))
    if bad:
        # Where the true dark signal stands well above a typical pixel's: the glow.
        elevated = expected > exact_median(expected) + 10
        in_glow = int(np.count_nonzero(~np.isfinite(answer[elevated])))
        reason = (
            " Most of them are in the glowing corner: clipping each dark against its own "
            "frame (per frame) rejects the glow, which is real signal in every dark. Clip "
            "per pixel, or use the median."
            if in_glow > bad / 2 else ""
        )
        return (f"`master_dark` has {bad} NaN or inf pixels: a master dark needs a value "
                f"everywhere, since you will subtract it from every pixel.{reason}")
    if np.issubdtype(raw_answer.dtype, np.unsignedinteger) or np.max(answer) > 30000:
        return ("`master_dark` holds values near 65535: the darks are unsigned integers "
                "(uint16), so subtracting a bias that is sometimes larger wrapped around. "
                "Convert to float first, e.g. `darks.astype(np.float32) - master_bias`.")
    level, exptime = ref["bias_level"], ref["exptime"]
    median = float(exact_median(answer))
    if level > 100 and 0.5 < median < 2:
        return (f"`master_dark` is close to 1 everywhere (median {median:.3f}): the "
                "darks were divided by the master bias. The bias is a level added to every "
                "pixel, not a factor: subtract it (`darks - master_bias`).")
    single = _single_frame(answer, ref)
    if single is not None:
        return single
    offset = float(exact_median(answer - expected))
    if abs(offset - level) < 0.05 * level:
        return (f"`master_dark` is about {offset:.0f} DU too high: that is the bias level. "
                "Subtract the master bias from each dark (or from the combination).")
    if abs(offset + level) < 0.05 * level:
        return (f"`master_dark` is about {-offset:.0f} DU too low, the bias level: the bias "
                "was subtracted twice. Subtract the master bias once, from the raw darks.")
    rows = slice(None, None, ref_data.SAMPLE_ROWS)  # a few rows first rule most answers out
    if np.allclose(answer[rows], ref["drop_max"][rows], rtol=0, atol=1e-2) and np.allclose(
            answer, ref["drop_max"], rtol=0, atol=1e-2):
        return ("`master_dark` drops the highest value of every pixel and averages the rest. "
                "That removes the cosmic rays, but it also removes the top of the noise of "
                f"every pixel, so the whole dark is {-offset:.1f} DU too low. Reject only "
                "real outliers: use the median, or a sigma clip with `stdfunc='mad_std'`.")
    # A factor shows in the typical pixels and in the glowing corner alike.
    glow = ref["glow"]
    scales = (median / ref["median_level"],
              float(exact_median(answer[glow])) / ref["glow_level"])
    for factor, text in [
        (1 / exptime, f"divided by the exposure time ({exptime:.0f} s): that is a rate in DU "
                      "per second. Exercise 4 asks for the master dark itself, the DU "
                      "collected in one exposure; the rate comes in Exercise 5."),
        (ref["gain"], "converted to electrons (times EGAIN): keep the master dark in DU, "
                      "like the frames you will subtract it from."),
        (ref["n_frames"], f"the sum of the {ref['n_frames']} darks: combine them with a "
                          "median or a (clipped) mean, which stays at the level of one dark."),
    ]:
        if all(close(scale, factor, 0.1) for scale in scales):
            return f"`master_dark` is {scales[1]:.3g} times the reference: it looks {text}"
    if abs(offset) > 2:
        return (f"`master_dark` is offset by {offset:+.1f} DU from the reference on average: "
                "the bias you subtracted is not the master bias of these frames. Subtract "
                "the master bias image (the combination of the 40 bias frames).")
    return None


def _single_frame(answer: np.ndarray, ref: dict) -> str | None:
    """One dark minus a master bias, given as the master dark: named, with the frame."""
    rows = ref["frame_rows"]
    sample = answer[::ref_data.SAMPLE_ROWS, :]
    if sample.shape != rows.shape[1:]:
        rows = rows[:, :sample.shape[0], :sample.shape[1]]
    combined = ref["median"][::ref_data.SAMPLE_ROWS, :][:sample.shape[0], :sample.shape[1]]
    for index, frame in enumerate(rows):
        # Another master bias moves a single dark by far less than combining does.
        if ref_data.robust_std(sample - frame) < 0.3 * ref_data.robust_std(combined - frame):
            name = ref_data.DARK_FRAMES[index].rsplit("/", 1)[-1]
            return (f"`master_dark` is the single dark {name} (minus the bias), not a "
                    f"combination: combine all {ref['n_frames']} darks (median, or a clip with "
                    "`stdfunc='mad_std'`), which removes the cosmic rays of each and beats "
                    "down their noise.")
    return None


def _defects(answer: np.ndarray, ref: dict) -> str | None:
    """Local defects of a master dark at the right level: glow, holes, bumps."""
    expected = ref["median"]
    glow = ref["glow"]
    glow_error = float(exact_median(answer[glow] - expected[glow]))
    if abs(glow_error) > 10:
        return (f"`master_dark` is off by {glow_error:+.0f} DU in the glowing corner, whose "
                f"brightest part holds {ref['levels'].corner:.0f} DU: the sensor glow is real "
                "signal present in every dark and must stay in the master dark (clipping each "
                "frame against its own statistics removes it).")
    excess = answer - expected
    low = _low_pixels(excess, ref)
    if low:
        return low
    hot = int(np.count_nonzero(excess > DEFECT))
    pattern = int(np.count_nonzero((excess > DEFECT) & ref["bias_hot"]))
    if hot and pattern > hot / 2:
        return (f"`master_dark` still shows the bias pattern: {pattern} of its {hot} pixels "
                f"more than {DEFECT:.0f} DU too high are hot pixels and the hot column of the "
                "master bias. Subtract the master bias image pixel by pixel, not a single "
                "bias level.")
    if hot > 1e-4 * excess.size:
        five = FIVE_FRAMES.format(n=ref["n_frames"])
        if np.allclose(answer, ref["mean"], rtol=0, atol=1e-2):
            return ("`master_dark` equals the plain mean of the darks, so every cosmic ray is "
                    f"still in it ({hot} pixels more than {DEFECT:.0f} DU above the median). "
                    "If you sigma-clipped, the clip rejected nothing. " + five)
        return (f"`master_dark` still holds cosmic rays: {hot} pixels are more than "
                f"{DEFECT:.0f} DU above the median combination. " + five)
    return None


def _low_pixels(excess: np.ndarray, ref: dict) -> str | None:
    """Pixels too low: the master bias subtracted there still held cosmic rays."""
    low = excess < -DEFECT
    count = int(np.count_nonzero(low))
    if count <= 1e-4 * excess.size:
        return None
    depth = float(exact_median(-excess[low]))
    hits = ref["bias_cosmics"][low]
    hit = hits[hits >= 0]
    head = f"`master_dark` has {count:,} pixels {depth:.0f} DU too low (median)"
    if hit.size < count / 2:
        return (f"{head}: the bias you subtracted is too high there. Check the master bias "
                "for bright spots, and subtract it pixel by pixel.")
    frames, counts = np.unique(hit, return_counts=True)
    if counts.max() > 0.7 * hit.size:
        name = ref_data.BIAS_FRAMES[int(frames[np.argmax(counts)])].rsplit("/", 1)[-1]
        return (f"{head}, where the bias frame {name} has cosmic rays: one bias frame is not "
                "a master bias. Its cosmic rays and its read noise go into every frame you "
                "subtract it from; combine all 40 bias frames (median or clipped mean).")
    return (f"{head}, where the bias frames had cosmic rays: your master bias still holds "
            "them (a plain mean keeps every cosmic ray, diluted by 40). Combine the bias "
            "frames with a median or a sigma-clipped mean.")


def _praise(root: str, answer: np.ndarray, ref: dict) -> tuple[str, ...]:
    levels = ref_data.dark_levels(answer, ref["data_shape"], ref["corner"])
    messages = [
        "`master_dark`: bias subtracted pixel by pixel, cosmic rays rejected, sensor glow "
        f"kept: {levels.corner:.0f} DU in the glowing corner, {levels.typical:.1f} DU in a "
        f"typical pixel far from it, after {ref['exptime']:.0f} s."
    ]
    truth = _truth.dark_du(root, ref["exptime"])
    if truth is not None:
        rows, cols = truth.shape
        residual = answer[:rows, :cols].astype(np.float64) - truth
        messages.append(
            "Compared with the synthetic detector's true dark signal, your master dark is "
            f"off by {exact_median(residual):+.2f} DU on average and scatters by "
            f"{ref_data.robust_std(residual):.1f} DU per pixel: the noise left after "
            f"combining {ref['n_frames']} frames."
        )
    return tuple(messages)


# --- Exercise 5 -------------------------------------------------------------------


@functools.lru_cache(maxsize=DATASETS_AT_ONCE)
def _scaled_grid(root: str) -> tuple[int, np.ndarray]:
    """The reference master dark scaled to 600 s on the grid of :func:`ref_data.dark_grid`."""
    step, grid = ref_data.dark_grid(root)
    exptime = float(fits.getheader(Path(root, ref_data.DARK_FRAMES[0]))["EXPTIME"])
    return step, solutions.scaled_dark(grid, exptime)


@functools.lru_cache(maxsize=DATASETS_AT_ONCE)
def _scaled_reference(root: str) -> np.ndarray:
    """The reference master dark scaled to 600 s (Exercise 5's ``dark_scaled``)."""
    ref = ref_data.dark_reference(root)
    return solutions.scaled_dark(ref["median"], ref["exptime"])


@answer_check(5, TITLE_5, Resemblance("dark_scaled", _scaled_grid))
def exercise_5(
    dark_current=MISSING, dark_scaled=MISSING, *, data_dir=None, namespace=None
) -> Feedback:
    """Check Exercise 5: the dark current in e⁻/pixel/hour and a dark scaled to 600 s.

    Parameters
    ----------
    dark_current : float
        The typical dark current, electrons per pixel per hour: the median of
        the bias-subtracted master dark (DU) times EGAIN, divided by the
        exposure time in hours.
    dark_scaled : 2-D array
        The bias-subtracted master dark scaled to a 600 s exposure.
    data_dir, namespace
        As for :func:`course_utils.checks.exercise_1`.
    """
    namespace, answers = gather(
        5, TITLE_5, {"dark_current": dark_current, "dark_scaled": dark_scaled}, namespace,
        "`dark_current` is a number (e⁻ per pixel per hour); `dark_scaled` an image in DU.",
    )
    if isinstance(answers, Feedback):
        return answers
    root = str(data_dir_of(namespace, data_dir))
    ref = ref_data.dark_reference(root)
    good, notes = [], []
    _dark_current(root, ref, answers["dark_current"], good, notes)
    _dark_scaled(_scaled_matching(root, answers["dark_scaled"]), answers["dark_scaled"],
                 namespace.get("master_dark"), good, notes)
    return Feedback(5, TITLE_5, "incorrect" if notes else "correct", tuple(notes + good))


def _scaled_matching(root: str, answer) -> dict:
    """The references of ``dark_scaled``, trimmed as the answer is, with the scaled
    reference's median (one dataset's number, computed once)."""
    ref = _matching({**ref_data.dark_reference(root), "scaled": _scaled_reference(root)}, answer)
    return {**ref, "scaled_level": _scaled_level(root, ref["scaled"].shape)}


@functools.lru_cache(maxsize=2 * DATASETS_AT_ONCE)
def _scaled_level(root: str, shape: tuple[int, int]) -> float:
    return float(exact_median(_scaled_reference(root)[:shape[0], :shape[1]]))


@functools.lru_cache(maxsize=DATASETS_AT_ONCE)
def _current_candidates(root: str) -> dict[str, float]:
    """The dark currents a reading of the reference master dark gives (one dataset's numbers)."""
    ref = ref_data.dark_reference(root)
    gain, hours, levels = ref["gain"], ref["exptime"] / 3600.0, ref["levels"]
    data = ref["median"][: ref["data_shape"][0], : ref["data_shape"][1]]
    return {
        # solutions.dark_current's median, of the master dark as float64
        "median": float(exact_median(ref["median"].astype(np.float64))) * gain / hours,
        # The median as stored (float32), for the bias level's factor.
        "level": float(exact_median(ref["median"])),
        # Also right: the median of the exposed pixels alone, or far from the glow.
        "data": levels.median * gain / hours,
        "typical": levels.typical * gain / hours,
        "mean": float(np.mean(ref["median"])) * gain / hours,
        "mean_data": float(np.mean(data)) * gain / hours,
    }


def _dark_current(root: str, ref: dict, answer, good: list, notes: list) -> None:
    value = number(answer)
    if value is None:
        notes.append(number_problem("dark_current", answer, "electrons per pixel per hour"))
        return
    candidates = _current_candidates(root)
    expected = candidates["median"]
    model = _truth.ifum(root)
    what = {"median": "the median of the whole master dark",
            "data": "the median of its exposed pixels",
            "typical": "the median far from the glowing corner"}
    # Every reading of the answer: (value it predicts, verdict, message). The closest wins.
    readings = [(candidates[key], True, key) for key in what]
    readings += [(candidates[key] * factor, False, message)
                 for factor, message in _current_mistakes(ref, candidates["level"])
                 for key in what]
    readings += [(candidates[key], False, "mean") for key in ("mean", "mean_data")]
    best = min(readings, key=lambda r: abs(np.log(value / r[0])) if value > 0 else np.inf)
    in_du = ref["exptime"] / 3600.0 / ref["gain"]  # e⁻/pixel/hour -> DU in one dark
    if value <= 0 or abs(np.log(value / best[0])) > np.log(1.05):
        notes.append(f"`dark_current` = {value:.4g} e⁻/pixel/hour does not match the median of "
                     f"the master dark ({expected * in_du:.2f} DU in {ref['exptime']:.0f} "
                     f"s) times EGAIN per hour: {expected:.2f}." + _truth_current(model, value))
    elif best[1]:
        key = best[2]
        # Quote the student's own level; the reference's too where they differ in print.
        yours, reference = f"{value * in_du:.2f}", f"{candidates[key] * in_du:.2f}"
        also = "" if yours == reference else f" (the median-combined master dark: {reference} DU)"
        good.append(f"`dark_current` = {value:.2f} e⁻ per pixel per hour: {what[key]}, "
                    f"{yours} DU in {ref['exptime']:.0f} s{also}, times "
                    f"EGAIN = {ref['gain']:g} e⁻/DU, per hour." + _truth_current(model, value))
    elif best[2] == "mean":
        notes.append(f"`dark_current` = {value:.3g} is the mean, pulled up by the glowing corner "
                     f"and the hot pixels; the median gives {expected:.2f} e⁻/pixel/hour.")
    else:
        notes.append(f"`dark_current` = {value:.4g}: " + best[2])


def _truth_current(model, value: float) -> str:
    """How a dark current compares with the synthetic detector's true one."""
    if model is None:
        return ""
    truth = model.dark_current * 3600.0
    text = (f" The synthetic detector's true dark current is {truth:.2f} e⁻/pixel/hour; "
            f"yours is {value - truth:+.2f} from it")
    if value > 1.05 * truth:
        return text + ": the glow, which reaches far from its corner, lifts the median."
    return text + "."


def _current_mistakes(ref: dict, level: float) -> list[tuple[float, str]]:
    """Classic mistakes as (factor times the right answer, message)."""
    gain, exptime = ref["gain"], ref["exptime"]
    return [
        (1 / gain, f"still in DU: multiply by EGAIN = {gain:g} electrons per DU."),
        (1 / gain**2, f"the DU times 1/EGAIN (divided by EGAIN, or multiplied by its inverse): "
                      f"EGAIN = {gain:g} is electrons per DU, so multiply by EGAIN itself."),
        (gain, f"multiplied by EGAIN twice: once turns DU into electrons (EGAIN = {gain:g} "
               "e⁻/DU); was the master dark already in electrons?"),
        (1 / 3600, "per second: multiply by 3600 to get electrons per hour."),
        (3600, "multiplied by 3600 once too often: the master dark already holds one "
               f"hour ({exptime:.0f} s) of signal."),
        (1 / 3600 / gain, "in DU per second: multiply by EGAIN and by 3600."),
        (ref["n_frames"], f"{ref['n_frames']} times too large: the master dark is one "
                          "combined frame, not the sum of the darks."),
    ] + [
        (1 + ref["bias_level"] / (level or 1.0),
         "it holds the bias: measure the dark current on the bias-subtracted master dark "
         "of Exercise 4."),
    ]


def _dark_scaled(ref: dict, answer, master, good: list, notes: list) -> None:
    exptime, factor = ref["exptime"], 600.0 / ref["exptime"]
    expected = ref["scaled"]  # solutions.scaled_dark(ref["median"], exptime)
    problem = shape_problem("dark_scaled", answer, expected.shape, n_frames=ref["n_frames"])
    if problem:
        notes.append(problem)
        return
    array = np.ascontiguousarray(as_array(answer), dtype=np.float64)
    if not np.isfinite(array).all():
        notes.append(f"`dark_scaled` has {np.count_nonzero(~np.isfinite(array))} NaN or inf "
                     "pixels: scale a master dark that has a value everywhere.")
        return
    own = as_array(master) if master is not None else None
    if own is not None and own.shape == array.shape and np.allclose(
        array, own.astype(np.float64) * factor, rtol=1e-3, atol=1e-3
    ):
        scale = 1.0  # exactly the student's own master dark, scaled
    else:
        scale = float(exact_median(array)) / ref["scaled_level"]
    offset = float(exact_median(array - expected))
    level = ref["bias_level"]
    if close(offset, level * factor, 0.1):
        notes.append(f"`dark_scaled` is {offset:.0f} DU too high: you scaled a dark that still "
                     "holds the bias. The bias does not grow with exposure time; scale the "
                     "bias-subtracted master dark.")
    elif close(offset, level, 0.1):
        notes.append(f"`dark_scaled` holds the bias ({offset:.0f} DU): that predicts a raw 600 s "
                     "dark. Give the dark signal alone: the bias-subtracted master dark × "
                     f"600 / {exptime:.0f}.")
    elif close(scale, 1 / factor**2, 0.1):
        notes.append(f"`dark_scaled` is scaled the wrong way, by {exptime:.0f} / 600 instead of "
                     f"600 / {exptime:.0f}: a shorter exposure collects less dark signal.")
    elif close(scale, 600 / factor, 0.1):  # master × 600 against master × 600 / exptime
        notes.append(f"`dark_scaled` is 600 times the master dark: divide by the exposure "
                     f"time of the darks too ({exptime:.0f} s).")
    elif close(scale, 1 / factor, 0.1):
        notes.append("`dark_scaled` is the master dark itself: multiply it by "
                     f"600 / {exptime:.0f}.")
    elif close(scale, ref["gain"], 0.1):
        notes.append("`dark_scaled` is in electrons: keep it in DU, like the frames it will "
                     "be subtracted from.")
    elif abs(scale - 1) > 0.1 or abs(offset) > 0.5:
        notes.append(f"`dark_scaled` differs from the master dark × 600 / {exptime:.0f}: its "
                     f"median is {exact_median(array):.2f} DU, the reference's "
                     f"{ref['scaled_level']:.2f} DU.")
    else:
        levels = ref_data.dark_levels(array, ref["data_shape"], ref["corner"])
        good.append(f"`dark_scaled`: in 600 s a typical pixel collects {levels.typical:.2f} DU "
                    f"and the glowing corner {levels.corner:.0f} DU; the bias, which does not "
                    "grow with time, stays out.")
