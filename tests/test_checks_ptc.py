"""Answer checks of notebook 6 (Exercises 9 and 10) against a corpus of answers.

Correct answers written several ways pass; each classic mistake gets a
message with the words that name it; odd inputs never raise. The answers
are computed here from the frames the way students compute them, with
numpy and astropy.
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.stats import sigma_clip, sigma_clipped_stats

from course_utils import checks as check
from course_utils import solutions
from data_fixtures import small_dataset


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return small_dataset(tmp_path_factory)


@pytest.fixture(scope="module")
def pairs(data):
    """Per pair: the two frames bias-subtracted and trimmed, and their overscan levels."""
    header = fits.getheader(data / check.PTC_PAIRS[0][0])
    rows, cols = solutions.fits_section(header["DATASEC"])
    result = []
    for paths in check.PTC_PAIRS:
        raws = [fits.getdata(data / p).astype(float) for p in paths]
        levels = [solutions.overscan_level(raw, header["BIASSEC"]) for raw in raws]
        result.append(([raw[rows, cols] - lvl for raw, lvl in zip(raws, levels)], levels))
    return result


@pytest.fixture(scope="module")
def curve(pairs):
    """The curve as a student computes it: means, and half the clipped variance of the difference."""
    signal = np.array([0.5 * (a.mean() + b.mean()) for (a, b), _ in pairs])
    variance = np.array([np.var(sigma_clip(b - a, sigma=5).compressed()) / 2 for (a, b), _ in pairs])
    single = np.array([np.var(sigma_clip(a, sigma=5).compressed()) for (a, _), _ in pairs])
    return signal, variance, single


def _shot(signal, variance):
    return (variance > 10 * variance[0]) & (signal < 0.8 * signal.max())


def _fit(signal, variance, used):
    return 1.0 / np.polyfit(signal[used], variance[used], 1)[0]


def _assert(feedback, status, *words):
    assert feedback.status == status, repr(feedback)
    text = repr(feedback)
    for word in words:
        assert word in text, f"{word!r} not in:\n{text}"


def _ex9(data, signal, variance, gain):
    return check.exercise_9(signal, variance, gain, data_dir=data, namespace={})


def _ex10(data, du, e):
    return check.exercise_10(du, e, data_dir=data, namespace={})


# --- Correct answers, written several ways ----------------------------------------------


def test_the_reference_solution_is_correct(data):
    header = fits.getheader(data / check.PTC_PAIRS[0][0])
    points = [solutions.pair_statistics(fits.getdata(data / a), fits.getdata(data / b),
                                        header["DATASEC"], header["BIASSEC"])
              for a, b in check.PTC_PAIRS]
    signal = [p.signal for p in points]
    variance = [p.variance for p in points]
    fit = solutions.fit_gain(signal, variance, np.sqrt(variance[0]))
    _assert(_ex9(data, signal, variance, fit.gain), "correct", "EGAIN")
    _assert(_ex10(data, np.sqrt(variance[0]), np.sqrt(variance[0]) * fit.gain), "correct", "ENOISE")


def test_an_unweighted_fit_of_the_shot_noise_part_is_correct(data, curve):
    signal, variance, _ = curve
    gain = _fit(signal, variance, _shot(signal, variance))
    _assert(_ex9(data, signal, variance, gain), "correct")


def test_the_median_gain_of_the_levels_is_correct_as_lists_and_numpy_floats(data, curve):
    signal, variance, _ = curve
    used = _shot(signal, variance)
    gain = np.median(signal[used] / (variance[used] - variance[0]))
    _assert(_ex9(data, signal.tolist(), variance.tolist(), np.float32(gain)), "correct")


def test_a_narrow_fit_with_astropy_clipped_stats_is_correct(data, pairs, curve):
    signal = curve[0]
    variance = np.array([sigma_clipped_stats(b - a, sigma=5, stdfunc="std")[2] ** 2 / 2
                         for (a, b), _ in pairs])
    used = (signal > 2000) & (signal < 40000)
    _assert(_ex9(data, signal, variance, _fit(signal, variance, used)), "correct")


def test_read_noise_from_the_unlit_pair_written_two_ways_is_correct(data, pairs, curve):
    (first, second), _ = pairs[0]
    gain = _fit(curve[0], curve[1], _shot(curve[0], curve[1]))
    by_hand = np.std(sigma_clip(second - first, sigma=4).compressed()) / np.sqrt(2)
    _assert(_ex10(data, by_hand, by_hand * gain), "correct")
    reference = solutions.read_noise(first, second)
    _assert(_ex10(data, float(reference), float(reference) * 0.68), "correct")


def test_answers_are_found_in_the_notebook_namespace(data, curve):
    signal, variance, _ = curve
    namespace = {"check": check, "ptc_dir": data, "signal": signal, "variance": variance,
                 "gain": _fit(signal, variance, _shot(signal, variance)),
                 "read_noise_du": 3.97, "read_noise_e": 2.7}
    exec("feedback9 = check.exercise_9(); feedback10 = check.exercise_10()", namespace)
    _assert(namespace["feedback9"], "correct", "Exercise 9")
    _assert(namespace["feedback10"], "correct", "Exercise 10")


@pytest.mark.parametrize("exercise", [9, 10])
def test_nothing_defined_is_not_attempted(exercise, data):
    namespace = {"check": check, "ptc_dir": data}
    exec(f"feedback = check.exercise_{exercise}()", namespace)
    _assert(namespace["feedback"], "not attempted", f"Exercise {exercise}", "Define")


# --- Classic mistakes -------------------------------------------------------------------


def test_factor_2_of_the_difference_forgotten(data, pairs, curve):
    signal, _, _ = curve
    variance = np.array([np.var(sigma_clip(b - a, sigma=5).compressed()) for (a, b), _ in pairs])
    gain = _fit(signal, variance, _shot(signal, variance))
    assert abs(gain / 0.68 - 0.5) < 0.03
    _assert(_ex9(data, signal, variance, gain), "incorrect", "factor 2", "half")
    # the gain alone, with a right curve: the message still names it
    _assert(_ex9(data, signal, curve[1], gain), "incorrect", "factor 2")


def test_bias_not_subtracted(data, pairs, curve):
    _, variance, _ = curve
    signal = np.array([0.5 * (a.mean() + b.mean()) + np.mean(levels) for (a, b), levels in pairs])
    gain = signal[3] / variance[3]  # signal / variance at one level, as many do
    _assert(_ex9(data, signal, variance, gain), "incorrect", "bias", "not subtracted")


def test_single_frame_variance_used(data, curve):
    signal, _, single = curve
    gain = _fit(signal, single, _shot(signal, single))
    assert gain < 0.66
    _assert(_ex9(data, signal, single, gain), "incorrect", "single frame", "PRNU", "biased low")


def test_saturated_levels_included_in_the_fit(data, curve):
    signal, variance, _ = curve
    lit = signal > 100
    gain = _fit(signal, variance, lit)
    _assert(_ex9(data, signal, variance, gain), "incorrect", "saturated", "full well")


def test_du_per_electron_given_as_the_gain(data, curve):
    signal, variance, _ = curve
    slope = 1 / _fit(signal, variance, _shot(signal, variance))
    _assert(_ex9(data, signal, variance, slope), "incorrect", "DU per electron", "electrons")


def test_read_noise_in_the_wrong_units(data):
    _assert(_ex10(data, 2.7, 3.97), "incorrect", "DU and electrons mixed", "in electrons",
            "Multiply by the gain")
    _assert(_ex10(data, 3.97, 3.97 / 0.68), "incorrect", "divided by the gain")


def test_read_noise_of_the_difference_not_divided_by_root_2(data, pairs):
    (first, second), _ = pairs[0]
    scatter = np.std(sigma_clip(second - first, sigma=5).compressed())
    _assert(_ex10(data, scatter, scatter * 0.68), "incorrect", "√2")


def test_pairs_in_reverse_order_are_named_not_cosmic_rays(data, curve):
    signal, variance, _ = curve
    gain = _fit(signal, variance, _shot(signal, variance))
    feedback = _ex9(data, signal[::-1], variance[::-1], gain)
    _assert(feedback, "incorrect", "`signal` holds the right values in reverse order",
            "`variance` holds the right values in reverse order", "PTC_PAIRS")
    assert "cosmic" not in repr(feedback)


def test_pairs_shuffled_are_named(data, curve):
    signal, variance, _ = curve
    order = np.roll(np.arange(signal.size), 3)
    gain = _fit(signal, variance, _shot(signal, variance))
    _assert(_ex9(data, signal[order], variance[order], gain), "incorrect", "another order")


def test_std_of_a_whole_raw_frame_is_named_not_a_variance(data):
    raw = fits.getdata(data / check.PTC_PAIRS[0][0])
    value = float(np.std(raw))
    feedback = _ex10(data, value, value * 0.68)
    _assert(feedback, "incorrect", "standard deviation of a", "single unlit frame",
            "difference of the unlit pair")
    assert "variance" not in feedback.messages[0]


def test_a_wrapped_uint16_difference_is_named(data):
    first, second = (fits.getdata(data / p) for p in check.PTC_PAIRS[0])
    wrapped = float(np.std(second.astype(np.uint16) - first.astype(np.uint16))) / np.sqrt(2)
    _assert(_ex10(data, wrapped, wrapped * 0.68), "incorrect", "uint16", "wrapped around",
            "float")


# --- Odd inputs never raise -----------------------------------------------------------------


ODD = [[[1.0, 2.0], [3.0]], "signal", {"a": 1}, np.full(13, np.nan), np.ones((3, 3)),
       np.ones(12), 5.0, [None] * 13, np.array([1 + 2j] * 13), -0.68, np.inf, b"0.68"]


@pytest.mark.parametrize("odd", ODD, ids=range(len(ODD)))
def test_odd_inputs_never_raise(data, curve, odd):
    signal, variance, _ = curve
    for args in ((odd, variance, 0.68), (signal, odd, 0.68), (signal, variance, odd),
                 (odd, odd, odd)):
        feedback = _ex9(data, *args)
        assert feedback.status == "incorrect", repr(feedback)
    for args in ((odd, 2.7), (3.97, odd)):
        feedback = _ex10(data, *args)
        assert feedback.status == "incorrect", repr(feedback)


def test_unusual_but_valid_arrays_are_read_as_numbers(data, curve):
    signal, variance, _ = curve
    gain = _fit(signal, variance, _shot(signal, variance))
    big_endian = variance.astype(">f8")
    unmasked = np.ma.masked_array(signal, mask=False)
    _assert(_ex9(data, unmasked, big_endian, np.float64(gain)), "correct")
    masked = np.ma.masked_array(signal, mask=signal > 50000)
    _assert(_ex9(data, masked, variance, gain), "incorrect", "masked")


def test_none_is_not_attempted(data, curve):
    signal, variance, _ = curve
    _assert(_ex9(data, signal, None, 0.68), "not attempted", "`variance`")
    _assert(_ex10(data, None, 2.7), "not attempted", "`read_noise_du`")
