"""Checks of notebook 6 (the photon transfer curve): Exercises 9 and 10.

The answers are compared with the truth the synthetic frames were made with
(the EGAIN and ENOISE of their headers): the gain within 2 %, the read noise
within 5 %. The curve itself (``signal`` and ``variance``, one value per
pair) is compared with the reference solution computed from the same frames,
which is how the classic mistakes are named: the factor 2 of a difference
forgotten, the bias not subtracted, the variance of single frames, saturated
levels in the fit, DU and electrons mixed.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any, Callable

import numpy as np
from astropy.io import fits

from .. import solutions
from ..data.layout import PTC_FRAMES
from ._common import MISSING, Feedback, answer_check, close, gather, number
from ._copied import DATASETS_AT_ONCE, KeyNumber
from ._disk_cache import cached_arrays

__all__ = ["exercise_9", "exercise_10", "PTC_PAIRS"]

#: The photon-transfer pairs, as the notebook names them: (first, second) paths.
PTC_PAIRS = [(a.path, b.path) for a, b in zip(PTC_FRAMES[::2], PTC_FRAMES[1::2])]

GAIN_TOLERANCE = 0.02
READ_NOISE_TOLERANCE = 0.05


# --- The reference, once per dataset --------------------------------------------------


def _root(namespace, data_dir) -> str:
    """The dataset holding the photon-transfer frames (the notebook's, else the default's)."""
    for candidate in (data_dir, namespace.get("ptc_dir"), namespace.get("data_dir")):
        try:
            if isinstance(candidate, (str, Path)) and (Path(candidate) / PTC_PAIRS[0][0]).is_file():
                return str(candidate)
        except Exception:  # a path whose methods raise is not the dataset
            continue
    from ..data.locate import dataset_dir_for

    return str(dataset_dir_for([f.path for f in PTC_FRAMES], "Photon-transfer frames",
                               verbose=False))


@functools.lru_cache(maxsize=DATASETS_AT_ONCE)
def reference(root: str) -> dict[str, Any]:
    """The reference curve and fit of the pairs in ``root``, and the truth to compare with."""
    header = fits.getheader(Path(root, PTC_PAIRS[0][0]))
    paths = [path for pair in PTC_PAIRS for path in pair]
    measured = cached_arrays("ptc", root, paths, lambda: _measure(root, header))
    signal, variance = measured["signal"], measured["variance"]
    read_noise_du = math.sqrt(variance[0])  # the unlit pair
    fit = solutions.fit_gain(signal, variance, read_noise_du)
    synthetic = bool(header.get("SYNTHETC", False))
    gain = float(header["EGAIN"]) if synthetic else fit.gain
    read_noise_e = float(header["ENOISE"]) if synthetic else read_noise_du * fit.gain
    whole, data = (float(v) for v in measured["raw_std"])
    return {
        "raw_std": {"the whole raw frame": whole, "its data section": data},
        "signal": signal, "variance": variance, "single": measured["single"], "used": fit.used,
        "fit": fit, "gain": gain, "read_noise_e": read_noise_e,
        "read_noise_du": read_noise_e / gain,
        "bias_level": float(measured["bias_level"]),
    }


def _header_truth(root: str) -> tuple[float, float, float] | None:
    """EGAIN, ENOISE / EGAIN and ENOISE of a synthetic dataset's pairs (the references), or None."""
    header = fits.getheader(Path(root, PTC_PAIRS[0][0]))
    if not header.get("SYNTHETC", False):
        return None
    gain, noise = float(header["EGAIN"]), float(header["ENOISE"])
    return gain, noise / gain, noise


def _key(index: int, tolerance: float) -> Callable[[str], tuple[float, float]]:
    """A key number of ``root``: the header's gain (0), read noise in DU (1) or in
    electrons (2), within the checks' own tolerance (a little wider); without a
    header truth, the measured one."""

    def key_reference(root: str) -> tuple[float, float]:
        truth = _header_truth(root)
        if truth is None:
            ref = reference(root)
            truth = ref["gain"], ref["read_noise_du"], ref["read_noise_e"]
        return truth[index], 1.01 * tolerance * abs(truth[index])

    return key_reference


def _measure(root: str, header) -> dict[str, np.ndarray]:
    """What :func:`reference` measures on the frames (cached on disk, in float64: the
    numbers come back bit for bit): the curve, and the raw frame's spreads and level."""
    points = []
    for first, second in PTC_PAIRS:
        points.append(solutions.pair_statistics(
            fits.getdata(Path(root, first)), fits.getdata(Path(root, second)),
            header["DATASEC"], header["BIASSEC"]))
    raw = fits.getdata(Path(root, PTC_PAIRS[0][0]))
    rows, cols = solutions.fits_section(header["DATASEC"])
    return {
        "signal": np.array([p.signal for p in points], dtype=np.float64),
        "variance": np.array([p.variance for p in points], dtype=np.float64),
        "single": np.array([p.single_variance for p in points], dtype=np.float64),
        "raw_std": np.array([float(np.std(raw)), float(np.std(raw[rows, cols]))]),
        "bias_level": np.array(float(solutions.overscan_level(raw, header["BIASSEC"]))),
    }


# --- Reading a curve ------------------------------------------------------------------


def _curve(name: str, value, n: int) -> tuple[np.ndarray | None, str | None]:
    """``value`` as a float array of ``n`` finite numbers, or a message saying why not.

    Any real dtype or byte order is accepted; masked values, NaN and infinity
    are not (each pair must give a number).
    """
    if np.ma.isMaskedArray(value) and np.ma.count_masked(value):
        return None, f"`{name}` has masked values: each pair should give a number."
    try:
        if np.size(value) != n and hasattr(value, "shape"):  # never convert a huge array
            return None, (f"`{name}` has shape {np.shape(value)}: there are {n} pairs, so it "
                          f"should hold {n} numbers, one per pair, in the order of `PTC_PAIRS`.")
        array = np.asarray(value)
    except (TypeError, ValueError):
        array = None
    if array is None or array.dtype.kind not in "iuf":  # ragged, text, objects, complex
        return None, (f"`{name}` should be a list or array of {n} real numbers, one per "
                      f"pair; got a {type(value).__name__} that is not one.")
    array = array.astype(np.float64)
    if array.shape != (n,):
        return None, (f"`{name}` has shape {array.shape}: there are {n} pairs, so it should "
                      f"hold {n} numbers, one per pair, in the order of `PTC_PAIRS`.")
    if not np.all(np.isfinite(array)):
        return None, f"`{name}` holds NaN or infinite values: each pair should give a number."
    return array, None


def _order_note(name: str, mine: np.ndarray, expected: np.ndarray, close_enough) -> list[str]:
    """The right values in another order than the pairs', named; else nothing."""
    if close_enough(mine[::-1], expected):
        return [f"`{name}` holds the right values in reverse order: give one value per pair "
                "in the order of `PTC_PAIRS`, the unlit pair first."]
    if close_enough(np.sort(mine), np.sort(expected)):
        return [f"`{name}` holds the right values in another order: give one value per pair "
                "in the order of `PTC_PAIRS`, the unlit pair first."]
    return []


def _signal_matches(signal: np.ndarray, expected: np.ndarray) -> bool:
    return bool(np.all(np.abs(signal - expected) <= 0.02 * np.abs(expected) + 5.0))


def _signal_notes(signal: np.ndarray, ref: dict) -> list[str]:
    expected = ref["signal"]
    if _signal_matches(signal, expected):
        return []
    order = _order_note("signal", signal, expected, _signal_matches)
    if order:
        return order
    offset = float(np.median(signal - expected))
    if abs(offset - ref["bias_level"]) < 0.02 * ref["bias_level"] + 5.0:
        return [f"`signal` is {offset:.0f} DU above the reference at every level: the bias "
                "was not subtracted. Subtract each frame's overscan level (BIASSEC) "
                "before taking the mean; otherwise the curve is shifted and the gain "
                "(signal / variance) comes out too high at low levels."]
    lit = expected > 100
    if np.allclose(signal[lit], 2 * expected[lit], rtol=0.03):
        return ["`signal` is twice the reference: take the mean of the two frames, "
                "not their sum."]
    return [f"`signal` does not match the mean bias-subtracted level of each pair "
            f"(e.g. {expected[3]:.0f} DU for the fourth pair)."]


def _variance_notes(variance: np.ndarray, ref: dict) -> list[str]:
    used = ref["used"]
    expected, single = ref["variance"][used], ref["single"][used]
    mine = variance[used]
    if np.all(np.abs(mine / expected - 1) <= 0.05):
        return []
    order = _order_note("variance", variance, ref["variance"], lambda a, b: bool(
        np.all(np.abs(a[used] / b[used] - 1) <= 0.05)))
    if order:
        return order
    ratio = float(np.median(mine / expected))
    if np.all(np.abs(mine / single - 1) <= 0.05):
        return ["`variance` is the variance of a single frame: it holds the pixel-to-pixel "
                "response (PRNU, about 1 %), whose variance grows as the signal squared, "
                "so the gain comes out biased low at high levels. Use the pair difference: "
                "half its variance is one frame's noise, and the PRNU cancels."]
    if abs(ratio - 2) <= 0.1:
        return ["`variance` is twice the reference: it is the variance of the difference "
                "itself. The difference holds the noise of two frames, so take half of it "
                "(the factor 2 of a difference)."]
    gain = ref["gain"]
    if abs(ratio - gain**2) <= 0.05 * gain**2 or abs(ratio - 2 * gain**2) <= 0.1 * gain**2:
        return ["`variance` looks like it is in electrons² (DU² times the gain squared): "
                "keep the curve in DU and DU², as the frames are, and get the gain "
                "(electrons per DU) from the fit."]
    if np.all(np.abs(mine**2 / expected - 1) <= 0.1):
        return ["`variance` looks like a standard deviation: square it."]
    return [f"`variance` does not match half the variance of each pair's difference "
            f"(e.g. {ref['variance'][3]:.0f} DU² for the fourth pair). Clip cosmic rays "
            "at 5 sigma, e.g. `sigma_clipped_stats(diff, sigma=5)`."]


def _saturation_variants(signal, variance) -> list[float]:
    """Gains fitted with the levels at and beyond full well left in."""
    gains = []
    for top, lit in ((top, lit) for top in (0, 1, 2)
                     for lit in (signal > 1e-3 * np.max(signal), np.ones(signal.shape, bool))):
        keep = lit.copy()
        if top:
            keep[np.argsort(signal)[-top:]] = False
        for weights in (None, 1.0 / np.maximum(variance[keep], 1e-9)):
            try:
                slope = np.polyfit(signal[keep], variance[keep], 1, w=weights)[0]
            except (np.linalg.LinAlgError, ValueError, TypeError):
                continue
            if slope > 0:
                gains.append(1.0 / slope)
    return gains


def _mistakes(value: float, ref: dict, curve) -> list[str]:
    """The mistakes that give a gain near ``value`` (within their tolerance), closest first.

    Gains a mistake gives are computed from the truth and, when the student's
    curve is readable, from that curve. A fit through saturated levels may
    land near 1 / gain by chance: then both are named.
    """
    truth = ref["gain"]
    signal, variance = curve if curve is not None else (ref["signal"], ref["variance"])
    candidates = [("half", truth / 2, 0.04), ("inverse", 1 / truth, 0.04),
                  ("double", 2 * truth, 0.04)]
    try:
        slope = 1 / solutions.fit_gain(signal, variance, ref["read_noise_du"]).gain
        candidates.append(("inverse", slope, 0.02))
    except (ValueError, np.linalg.LinAlgError, ZeroDivisionError):
        pass
    candidates += [("saturated", g, 0.03) for g in _saturation_variants(signal, variance)]
    found = sorted((abs(value / g - 1), name) for name, g, tol in candidates
                   if abs(value / g - 1) <= tol)
    return list(dict.fromkeys(name for _, name in found))


_MISTAKE_MESSAGES = {
    "half": lambda value, noted: (
        f"`gain` = {value:.3f} e⁻/DU is half the true gain: fix `variance` first."
        if "factor 2" in noted else
        f"`gain` = {value:.3f} e⁻/DU is half the true gain: the factor 2 of the difference "
        "was forgotten (half the variance of a difference is one frame's variance)."),
    "inverse": lambda value, noted: (
        f"`gain` = {value:.3f} is DU per electron, the slope of the curve: DU and electrons "
        "mixed. The gain is electrons per DU, the inverse of the slope."),
    "double": lambda value, noted: (
        f"`gain` = {value:.3f} e⁻/DU is twice the true gain: was the variance halved twice?"),
    "saturated": lambda value, noted: (
        f"`gain` = {value:.3f} e⁻/DU: the fit includes the saturated levels, where the wells "
        "are full and the variance stops growing and then collapses. Fit the shot-noise "
        "part only, well below full well."),
}


def _gain_notes(value: float, ref: dict, curve, noted: str) -> tuple[list[str], list[str]]:
    truth = ref["gain"]
    if close(value, truth, GAIN_TOLERANCE):
        return [f"`gain` = {value:.3f} e⁻/DU, within {100 * GAIN_TOLERANCE:.0f} % of the "
                f"header's EGAIN = {truth} e⁻/DU."], []
    messages = [_MISTAKE_MESSAGES[name](value, noted) for name in _mistakes(value, ref, curve)]
    if messages:
        return [], messages[:1] + [f"Or: {m[0].lower()}{m[1:]}" for m in messages[1:]]
    single = ref["single"]
    singles = [solutions.fit_gain(ref["signal"], single, ref["read_noise_du"]).gain]
    singles += list((ref["signal"] / single)[ref["used"]])
    if min(singles) * 0.97 <= value < truth and "single frame" not in noted:
        return [], [f"`gain` = {value:.3f} e⁻/DU is too low, as the variance of a single "
                    "frame gives: it holds the PRNU, which grows as the signal squared. "
                    "Use half the variance of the pair difference."]
    if value > truth and "bias" not in noted:
        return [], [f"`gain` = {value:.3f} e⁻/DU is too high. Was the bias subtracted from "
                    "the signal, and are the saturated levels (full well) left out of the fit?"]
    return [], [f"`gain` = {value:.4g} e⁻/DU is {100 * (value / truth - 1):+.0f} % from the "
                f"true gain. Fit `variance = signal / gain + read_noise²` on the shot-noise part."]


# --- Exercise 9 --------------------------------------------------------------------------


@answer_check(9, "gain from the photon transfer curve", KeyNumber("gain", _key(0, GAIN_TOLERANCE)))
def exercise_9(
    signal=MISSING, variance=MISSING, gain=MISSING, *, data_dir=None, namespace=None
) -> Feedback:
    """Check Exercise 9: the photon transfer curve and the gain.

    Parameters
    ----------
    signal : sequence of float
        The mean bias-subtracted level of each pair of `PTC_PAIRS` (DU).
    variance : sequence of float
        Half the variance of each pair's difference (DU²).
    gain : float
        The gain in electrons per DU, fitted to the shot-noise part.
    data_dir : path, optional
        The dataset folder; by default the notebook's ``ptc_dir`` or ``data_dir``.
    namespace : mapping, optional
        Where to look up answers not passed as arguments; by default the
        calling notebook's variables.
    """
    title = "gain from the photon transfer curve"
    namespace, answers = gather(
        9, title, {"signal": signal, "variance": variance, "gain": gain}, namespace,
        "`signal` and `variance` hold one number per pair; `gain` is in e⁻/DU.",
    )
    if isinstance(answers, Feedback):
        return answers
    ref = reference(_root(namespace, data_dir))
    n = len(PTC_PAIRS)
    notes: list[str] = []
    mine_signal, problem = _curve("signal", answers["signal"], n)
    notes += [problem] if problem else _signal_notes(mine_signal, ref)
    mine_variance, problem = _curve("variance", answers["variance"], n)
    notes += [problem] if problem else _variance_notes(mine_variance, ref)
    curve = None if mine_signal is None or mine_variance is None else (mine_signal, mine_variance)

    value = number(answers["gain"])
    if value is None or value <= 0:
        notes.append("`gain` should be a single positive number, in electrons per DU.")
        good: list[str] = []
    else:
        good, more = _gain_notes(value, ref, curve, " ".join(notes))
        notes += more
    return Feedback(9, title, "incorrect" if notes else "correct", tuple(notes + good))


# --- Exercise 10 -------------------------------------------------------------------------


def _du_notes(value: float, ref: dict) -> tuple[list[str], list[str]]:
    truth, truth_e = ref["read_noise_du"], ref["read_noise_e"]
    if close(value, truth, READ_NOISE_TOLERANCE):
        return [f"`read_noise_du` = {value:.2f} DU: the floor of the curve "
                f"(ENOISE / EGAIN = {truth:.2f} DU)."], []
    if value > 1000 * truth:
        return [], [f"`read_noise_du` = {value:.4g} DU is far too large for noise: the frames "
                    "are unsigned integers (uint16), so their difference wrapped around where "
                    "the second frame is lower (values near 0 and near 65535 side by side). "
                    "Convert to float before subtracting, e.g. `b.astype(float) - a`."]
    for what, std in ref["raw_std"].items():
        if close(value, std, 0.03) and not close(value, truth, 0.1):
            return [], [f"`read_noise_du` = {value:.3g} DU is the standard deviation of a "
                        f"single unlit frame ({what}): it holds the frame's fixed pattern "
                        "and bias structure as well as its noise. Use the difference of the "
                        "unlit pair, which cancels them, and divide its scatter by √2."]
    if close(value, truth_e, 0.03):
        return [], [f"`read_noise_du` = {value:.2f} is in electrons (ENOISE): DU and "
                    "electrons mixed. Give the read noise in DU, as the frames are."]
    if close(value, truth * math.sqrt(2), 0.05):
        return [], [f"`read_noise_du` = {value:.2f} DU is the scatter of the difference of "
                    "the unlit pair: divide by √2 (the factor 2 of a difference, in variance)."]
    if close(value, truth**2, 0.1) or close(value, 2 * truth**2, 0.1):
        return [], [f"`read_noise_du` = {value:.1f} looks like a variance (DU²): take its "
                    "square root."]
    return [], [f"`read_noise_du` = {value:.3g} DU is {100 * (value / truth - 1):+.0f} % from "
                "the truth. Use the unlit pair: the scatter of its difference divided by √2 "
                "(the intercept of the fit is poorly constrained)."]


def _electron_notes(value: float, ref: dict) -> tuple[list[str], list[str]]:
    truth, truth_du, gain = ref["read_noise_e"], ref["read_noise_du"], ref["gain"]
    if close(value, truth, READ_NOISE_TOLERANCE):
        return [f"`read_noise_e` = {value:.2f} e⁻, within {100 * READ_NOISE_TOLERANCE:.0f} % "
                f"of the header's ENOISE = {truth} e⁻."], []
    if close(value, truth_du, 0.03):
        return [], [f"`read_noise_e` = {value:.2f} is the read noise in DU: DU and electrons "
                    "mixed. Multiply by the gain (e⁻/DU) to get electrons."]
    if close(value, truth_du / gain, 0.04):
        return [], [f"`read_noise_e` = {value:.2f}: DU were divided by the gain, but the gain "
                    "is electrons per DU, so multiply: DU × e⁻/DU = e⁻ (DU and electrons mixed)."]
    if close(value, truth * math.sqrt(2), 0.05):
        return [], [f"`read_noise_e` = {value:.2f} e⁻ is √2 too large: the difference of two "
                    "frames holds the noise of both (the factor 2 of a difference)."]
    if close(value, truth / 2, 0.05) or close(value, truth * 2, 0.05):
        return [], [f"`read_noise_e` = {value:.2f} e⁻ is off by a factor 2: is the gain right "
                    "(Exercise 9)?"]
    return [], [f"`read_noise_e` = {value:.3g} e⁻ is {100 * (value / truth - 1):+.0f} % from "
                "ENOISE. Multiply the read noise in DU by the gain."]


@answer_check(10, "read noise in DU and in electrons",
              (KeyNumber("read_noise_du", _key(1, READ_NOISE_TOLERANCE)),
               KeyNumber("read_noise_e", _key(2, READ_NOISE_TOLERANCE))))
def exercise_10(
    read_noise_du=MISSING, read_noise_e=MISSING, *, data_dir=None, namespace=None
) -> Feedback:
    """Check Exercise 10: the read noise, in DU and in electrons.

    Parameters
    ----------
    read_noise_du : float
        The read noise of one frame in DU, from the unlit pair (the curve's floor).
    read_noise_e : float
        The same in electrons, with the gain of Exercise 9.
    data_dir, namespace
        As for :func:`exercise_9`.
    """
    title = "read noise in DU and in electrons"
    namespace, answers = gather(
        10, title, {"read_noise_du": read_noise_du, "read_noise_e": read_noise_e}, namespace,
        "Each is a single number: `read_noise_du` in DU, `read_noise_e` in electrons.",
    )
    if isinstance(answers, Feedback):
        return answers
    ref = reference(_root(namespace, data_dir))
    good, notes = [], []
    for name, unit, judge in (("read_noise_du", "DU", _du_notes),
                              ("read_noise_e", "electrons", _electron_notes)):
        value = number(answers[name])
        if value is None or value <= 0:
            notes.append(f"`{name}` should be a single positive number, in {unit}.")
            continue
        fine, wrong = judge(value, ref)
        good += fine
        notes += wrong
    return Feedback(10, title, "incorrect" if notes else "correct", tuple(notes + good))
