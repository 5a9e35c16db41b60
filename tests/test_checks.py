"""Answer checks: correct answers pass, missing ones are 'not attempted', and
each typical mistake gets a message that names it."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from course_utils import checks as check
from course_utils import fits_section, solutions
from data_fixtures import small_dataset


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return small_dataset(tmp_path_factory)


@pytest.fixture(scope="module")
def bias_pair(data):
    return (fits.getdata(data / check.BIAS_FIRST), fits.getdata(data / check.BIAS_SECOND))


def _assert(feedback, status, *words):
    assert feedback.status == status, repr(feedback)
    text = repr(feedback)
    for word in words:
        assert word in text, f"{word!r} not in:\n{text}"


# --- Finding the answers -------------------------------------------------------------


@pytest.mark.parametrize("exercise", [1, 2, 3, 4, 5, 6])
def test_nothing_defined_is_not_attempted_and_raises_no_name_error(exercise, data):
    # As in a student notebook: the check cell runs with no answer variables.
    namespace = {"check": check, "data_dir": data}
    exec(f"feedback = check.exercise_{exercise}()", namespace)
    feedback = namespace["feedback"]
    _assert(feedback, "not attempted", f"Exercise {exercise}", "Define")


def test_partly_answered_exercise_names_what_is_missing(data, bias_pair):
    stats = solutions.bias_statistics(bias_pair[0])
    feedback = check.exercise_1(namespace={"center": stats.center, "spread": None, "data_dir": data})
    _assert(feedback, "not attempted", "`spread`", "`n_outliers`")
    assert "`center`" not in feedback.messages[0]


def test_answers_are_found_in_the_notebook_namespace(data, bias_pair):
    stats = solutions.bias_statistics(bias_pair[0])
    namespace = {"check": check, "data_dir": data, "center": stats.center,
                 "spread": stats.spread, "n_outliers": stats.n_outliers}
    exec("feedback = check.exercise_1()", namespace)
    _assert(namespace["feedback"], "correct", "Exercise 1")


def test_arguments_take_precedence_over_the_namespace(data, bias_pair):
    stats = solutions.bias_statistics(bias_pair[0])
    feedback = check.exercise_1(stats.center, stats.spread, stats.n_outliers, data_dir=data,
                                namespace={"center": -1.0})
    _assert(feedback, "correct")


def test_feedback_displays_as_text_and_markdown(data):
    feedback = check.exercise_4(namespace={}, data_dir=data)
    assert repr(feedback).startswith("⏳ Exercise 4")
    assert feedback._repr_markdown_().startswith("**⏳ Exercise 4")


# --- Exercise 1 ---------------------------------------------------------------------


def _ex1(data, center, spread, n_outliers):
    return check.exercise_1(center, spread, n_outliers, data_dir=data, namespace={})


def _count(image, center, spread):
    return int(np.count_nonzero(np.abs(image.astype(float) - center) > 5 * spread))


def test_exercise_1_correct(data, bias_pair):
    stats = solutions.bias_statistics(bias_pair[0])
    _assert(_ex1(data, stats.center, stats.spread, stats.n_outliers), "correct", "read noise")


def test_exercise_1_mean_as_centre_is_accepted_with_a_note(data, bias_pair):
    image = bias_pair[0]
    stats = solutions.bias_statistics(image)
    mean = float(image.mean())
    _assert(_ex1(data, mean, stats.spread, _count(image, mean, stats.spread)),
            "correct", "is the mean", "robust")


def test_exercise_1_raw_int16_centre(data, bias_pair):
    stats = solutions.bias_statistics(bias_pair[0])
    _assert(_ex1(data, stats.center - 32768, stats.spread, 0), "incorrect", "BZERO")


def test_exercise_1_plain_std_is_inflated_by_outliers(data, bias_pair):
    image = bias_pair[0]
    stats = solutions.bias_statistics(image)
    std = float(image.std())
    _assert(_ex1(data, stats.center, std, _count(image, stats.center, std)),
            "incorrect", "inflated by cosmic rays", "robust")


def test_exercise_1_variance_instead_of_std(data, bias_pair):
    stats = solutions.bias_statistics(bias_pair[0])
    _assert(_ex1(data, stats.center, stats.spread**2, 0), "incorrect", "variance")


def test_exercise_1_spread_in_electrons(data, bias_pair):
    stats = solutions.bias_statistics(bias_pair[0])
    _assert(_ex1(data, stats.center, stats.spread * 0.68, 0), "incorrect", "electrons")


def test_exercise_1_miscounted_outliers(data, bias_pair):
    stats = solutions.bias_statistics(bias_pair[0])
    _assert(_ex1(data, stats.center, stats.spread, stats.n_outliers + 17),
            "incorrect", "count_nonzero")


def test_exercise_1_wrong_types(data):
    _assert(_ex1(data, "817", [4, 4], 2.5), "incorrect", "single number", "whole number")


# --- Exercise 2 ---------------------------------------------------------------------


def _ex2(data, difference, read_noise):
    return check.exercise_2(difference, read_noise, data_dir=data, namespace={})


def test_exercise_2_correct_either_sign(data, bias_pair):
    first, second = bias_pair
    noise = solutions.read_noise(first, second)
    difference = solutions.bias_difference(first, second)
    _assert(_ex2(data, difference, noise), "correct", "ENOISE")
    _assert(_ex2(data, -difference, noise), "correct")


def test_exercise_2_uint16_wraparound(data, bias_pair):
    first, second = bias_pair
    _assert(_ex2(data, second - first, solutions.read_noise(first, second)),
            "incorrect", "wrapped around", "float")


def test_exercise_2_forgot_sqrt2(data, bias_pair):
    first, second = bias_pair
    difference = solutions.bias_difference(first, second)
    _assert(_ex2(data, difference, solutions.read_noise(first, second) * np.sqrt(2)),
            "incorrect", "divide by √2")


def test_exercise_2_unclipped_std(data, bias_pair):
    first, second = bias_pair
    difference = solutions.bias_difference(first, second)
    _assert(_ex2(data, difference, difference.std() / np.sqrt(2)), "incorrect", "cosmic rays")


def test_exercise_2_in_electrons(data, bias_pair):
    first, second = bias_pair
    difference = solutions.bias_difference(first, second)
    _assert(_ex2(data, difference, solutions.read_noise(first, second) * 0.68),
            "incorrect", "electrons")


def test_exercise_2_wrong_frames_and_shape(data, bias_pair):
    first, second = bias_pair
    noise = solutions.read_noise(first, second)
    _assert(_ex2(data, first.astype(float) - 817, noise), "incorrect", "is not `b0861c1 - b0860c1`")
    _assert(_ex2(data, first[:10].astype(float), noise), "incorrect", "shape")


# --- Exercise 6 ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def flats(data):
    paths = [data / p for p in check.FLAT_FRAMES]
    header = fits.getheader(paths[0])
    return [fits.getdata(p) for p in paths], header["DATASEC"], header["BIASSEC"]


def _ex6(data, flat):
    return check.exercise_6(flat, data_dir=data, namespace={})


def _normalized(frames):
    master = np.median([f / np.median(f) for f in frames], axis=0)
    return master / np.median(master)


def test_exercise_6_correct(data, flats):
    _assert(_ex6(data, solutions.master_flat(*flats)), "correct", "overscan level")


def test_exercise_6_bias_not_subtracted(data, flats):
    raws, datasec, _ = flats
    rows, cols = fits_section(datasec)
    answer = _normalized([raw[rows, cols].astype(float) for raw in raws]).T
    _assert(_ex6(data, answer), "incorrect", "bias level", "was not subtracted")


def test_exercise_6_wrong_camera_bias(data, flats):
    raws, datasec, _ = flats
    rows, cols = fits_section(datasec)
    answer = _normalized([raw[rows, cols].astype(float) - 817 for raw in raws]).T
    _assert(_ex6(data, answer), "incorrect", "IFU-M", "overscan")


def test_exercise_6_not_normalized(data, flats):
    _assert(_ex6(data, solutions.master_flat(*flats) * 9000), "incorrect", "not normalized")


def test_exercise_6_shape_mistakes(data, flats):
    flat = solutions.master_flat(*flats)
    raws = flats[0]
    _assert(_ex6(data, flat.T), "incorrect", "transpose")
    _assert(_ex6(data, raws[0].T.astype(float) / np.median(raws[0])), "incorrect", "overscan strip")
    stack = np.array([flat] * 6)
    _assert(_ex6(data, stack), "incorrect", "stack of 6 frames", "axis 0")
    _assert(_ex6(data, np.median(stack, axis=1)), "incorrect", "wrong axis")


def test_exercise_6_nan_pixels(data, flats):
    flat = solutions.master_flat(*flats).copy()
    flat[3, 3] = np.nan
    _assert(_ex6(data, flat), "incorrect", "NaN")


# --- Exercise 4 ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def darks(data):
    bias = solutions.master_bias([data / p for p in check.BIAS_FRAMES])
    raws = np.array([fits.getdata(data / p) for p in check.DARK_FRAMES])
    return raws, bias


def _ex4(data, dark):
    return check.exercise_4(dark, data_dir=data, namespace={})


@pytest.mark.parametrize("method", ["clipped", "median"])
def test_exercise_4_correct(data, darks, method):
    _assert(_ex4(data, solutions.master_dark(*darks, method)), "correct", "cosmic rays rejected")


def test_exercise_4_mean_without_clipping(data, darks):
    _assert(_ex4(data, solutions.master_dark(*darks, "mean")),
            "incorrect", "plain mean", "every cosmic ray is still in it")


def test_exercise_4_std_clip_with_five_frames(data, darks):
    from course_utils import combine

    raws, bias = darks
    answer = combine(raws.astype(np.float32) - bias, method="mean", clip="pixel", stdfunc="std")
    # With 5 frames a std-based 3-sigma clip rejects nothing: the answer is the plain mean.
    _assert(_ex4(data, answer), "incorrect", "rejected nothing", "cannot reject", "mad_std")


def test_exercise_4_cosmic_rays_left_some_other_way(data, darks):
    raws, bias = darks
    answer = solutions.master_dark(raws, bias, "median")
    answer[::7, ::7] += 200  # e.g. a combination that let some cosmic rays through
    _assert(_ex4(data, answer), "incorrect", "still holds cosmic rays", "mad_std")


def test_exercise_4_forgot_the_bias(data, darks):
    raws, _ = darks
    _assert(_ex4(data, np.median(raws, axis=0)), "incorrect", "too high", "bias level")


def test_exercise_4_shape_mistakes(data, darks):
    raws, bias = darks
    _assert(_ex4(data, np.median(raws - bias, axis=1)), "incorrect", "wrong axis")
    _assert(_ex4(data, raws - bias), "incorrect", "stack of 5 frames")
    _assert(_ex4(data, bias[:5]), "incorrect", "shape")


# --- Reasonable answers written differently, and more named mistakes -----------------


def test_exercise_1_mad_std_spread_is_accepted(data, bias_pair):
    from astropy.stats import mad_std

    image = bias_pair[0]
    center, spread = float(np.median(image)), float(mad_std(image))
    _assert(_ex1(data, center, spread, _count(image, center, spread)), "correct")


def test_exercise_1_integer_centre_wraps_uint16(data, bias_pair):
    image = bias_pair[0]
    stats = solutions.bias_statistics(image)
    center = int(np.median(image))
    wrapped = int(np.count_nonzero(np.abs(image - center) > 5 * stats.spread))  # uint16 arithmetic
    _assert(_ex1(data, center, stats.spread, wrapped), "incorrect", "wraps", "astype(float)")


def test_exercise_2_other_robust_estimators_are_accepted(data, bias_pair):
    from astropy.stats import mad_std

    difference = solutions.bias_difference(*bias_pair)
    _assert(_ex2(data, difference, mad_std(difference) / np.sqrt(2)), "correct")


def test_exercise_2_divided_by_two(data, bias_pair):
    difference = solutions.bias_difference(*bias_pair)
    noise = solutions.read_noise(*bias_pair)
    _assert(_ex2(data, difference, noise * np.sqrt(2) / 2), "incorrect", "divided", "by 2")


def test_exercise_2_variance(data, bias_pair):
    difference = solutions.bias_difference(*bias_pair)
    noise = solutions.read_noise(*bias_pair)
    _assert(_ex2(data, difference, noise**2), "incorrect", "variance")


def test_exercise_6_cosmic_rays_from_a_mean(data, flats):
    master = solutions.master_flat(*flats).copy()
    master[5, 7] += 0.2  # a cosmic ray that a mean of the flats would keep
    master[40, 70] += 0.15
    _assert(_ex6(data, master), "incorrect", "cosmic rays", "median-combine")


def test_exercise_6_overscan_of_the_transposed_frame(data, flats):
    raws, datasec, _ = flats
    rows, cols = fits_section(datasec)
    frames = []
    for raw in raws:
        flat = raw.T.astype(float)
        frames.append(flat[:cols.stop, :rows.stop] - np.median(flat[:, cols.stop:]))  # wrong strip
    answer = _normalized(frames)
    _assert(_ex6(data, answer), "incorrect", "transposed", "raw[:, 1024:]")


@pytest.fixture(scope="module")
def dark_answers(data, darks):
    from course_utils import combine

    raws, bias = darks
    subtracted = raws.astype(np.float32) - bias
    return {
        "per_frame": combine(subtracted, method="mean", clip="frame"),
        "scalar_bias": np.median(raws.astype(np.float32) - float(np.median(bias)), axis=0),
        "uint16": np.median(raws - bias.astype(np.uint16), axis=0).astype(np.uint16),
        "median": solutions.master_dark(raws, bias, "median"),
    }


def test_exercise_4_per_frame_clipping_removes_the_glow(data, dark_answers):
    answer = dark_answers["per_frame"]
    assert np.isnan(answer).any()  # the glow corner is rejected in every frame
    _assert(_ex4(data, answer), "incorrect", "NaN", "glowing corner", "per pixel")


def test_exercise_4_glow_removed(data, dark_answers):
    answer = dark_answers["median"].copy()
    # The glowing corner, found independently of the check: far above typical.
    typical = np.median(answer)
    glow = answer > typical + 0.5 * (np.percentile(answer, 99.9) - typical)
    answer[glow] = typical
    _assert(_ex4(data, answer), "incorrect", "glowing corner", "must stay")


def test_exercise_4_scalar_bias_leaves_the_bias_pattern(data, dark_answers):
    _assert(_ex4(data, dark_answers["scalar_bias"]), "incorrect", "bias pattern", "pixel by pixel")


def test_exercise_4_uint16_wraparound(data, dark_answers):
    _assert(_ex4(data, dark_answers["uint16"]), "incorrect", "65535", "float")
