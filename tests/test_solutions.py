"""Reference solutions, checked against independent routes (numpy, astropy)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.stats import mad_std, sigma_clip, sigma_clipped_stats
from astropy.utils.exceptions import AstropyUserWarning

from course_utils import fits_section, solutions
from data_fixtures import small_dataset


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return small_dataset(tmp_path_factory)


def _read(root, pattern):
    paths = sorted(root.glob(pattern))
    assert paths, pattern
    return paths, [fits.getdata(p) for p in paths]


# --- FITS sections (course_utils.sections, used by the solutions) --------------------


@pytest.mark.parametrize(
    "section, rows, cols",
    [
        ("[2049:2176,1029:1156]", slice(1028, 1156), slice(2048, 2176)),
        ("[1:2048,1:1028]", slice(0, 1028), slice(0, 2048)),
        (" [ 5:5 , 1:8 ] ", slice(0, 8), slice(4, 5)),
    ],
)
def test_fits_section(section, rows, cols):
    assert fits_section(section) == (rows, cols)


def test_fits_section_selects_the_same_pixels_as_the_fits_convention():
    image = np.arange(6 * 8).reshape(6, 8)  # rows y = 1..6, columns x = 1..8 in FITS
    rows, cols = fits_section("[3:5,2:4]")
    expected = [[image[y - 1, x - 1] for x in range(3, 6)] for y in range(2, 5)]
    np.testing.assert_array_equal(image[rows, cols], expected)


@pytest.mark.parametrize("bad", ["1:2048,1:1028", "[0:10,1:5]", "[10:5,1:5]", "[a:b,c:d]"])
def test_fits_section_rejects_malformed_sections(bad):
    with pytest.raises(ValueError, match="section"):
        fits_section(bad)


# --- Exercise 1 and 2 ----------------------------------------------------------------


def test_bias_statistics_against_numpy_and_astropy(data):
    _, (bias, *_) = _read(data, "calibration_frames/bias/b0*c1.fits")
    stats = solutions.bias_statistics(bias)
    values = bias.astype(float)
    assert stats.center == np.median(values)
    _, _, clipped_std = sigma_clipped_stats(values, sigma=5, maxiters=10)
    assert stats.spread == pytest.approx(clipped_std)
    assert stats.spread == pytest.approx(2.7 / 0.68, rel=0.05)  # the model's read noise
    assert stats.n_outliers == np.sum(np.abs(values - np.median(values)) > 5 * clipped_std)
    assert stats.n_outliers > 0  # cosmic rays and hot pixels
    assert (stats.minimum, stats.maximum) == (values.min(), values.max())
    assert stats.mean == pytest.approx(values.mean())
    assert stats.std == pytest.approx(values.std()) and stats.std > 2 * stats.spread


def test_bias_difference_keeps_the_sign():
    a = np.array([[817, 820]], dtype=np.uint16)
    b = np.array([[819, 815]], dtype=np.uint16)
    np.testing.assert_array_equal(solutions.bias_difference(a, b), [[2.0, -5.0]])
    with pytest.raises(ValueError, match="differ in shape"):
        solutions.bias_difference(a, b.T)


def test_read_noise_matches_the_detector_and_a_robust_reference(data):
    _, (first, second, *_) = _read(data, "calibration_frames/bias/b0*c1.fits")
    noise = solutions.read_noise(first, second)
    assert noise == pytest.approx(2.7 / 0.68, rel=0.05)
    difference = second.astype(float) - first.astype(float)
    assert noise == pytest.approx(mad_std(difference) / np.sqrt(2), rel=0.05)


# --- Exercise 3 ---------------------------------------------------------------------


def test_overscan_level_is_the_median_of_biassec(data):
    (path, *_), (raw, *_) = _read(data, "calibration_frames/flat/ift/ift*c2.fits")
    header = fits.getheader(path)
    rows, cols = fits_section(header["BIASSEC"])
    assert solutions.overscan_level(raw, header["BIASSEC"]) == np.median(raw[rows, cols])
    with pytest.raises(ValueError, match="outside the frame"):
        solutions.overscan_level(raw, "[5000:5001,1:2]")


def test_master_flat_against_a_plain_numpy_route(data):
    paths, raws = _read(data, "calibration_frames/flat/ift/ift*c2.fits")
    header = fits.getheader(paths[0])
    flat = solutions.master_flat(raws, header["DATASEC"], header["BIASSEC"])

    data_rows, data_cols = fits_section(header["DATASEC"])
    bias_rows, bias_cols = fits_section(header["BIASSEC"])
    frames = []
    for raw in raws:
        raw = raw.astype(np.float64)
        frame = raw[data_rows, data_cols] - np.median(raw[bias_rows, bias_cols])
        frames.append(frame / np.median(frame))
    expected = np.median(frames, axis=0)
    expected = (expected / np.median(expected)).T

    assert flat.shape == expected.shape
    np.testing.assert_allclose(flat, expected, rtol=1e-5)
    assert np.median(flat) == pytest.approx(1.0)
    low, high = np.percentile(flat, [0.5, 99.5])
    assert 0.65 < low < 0.85 and 1.05 < high < 1.15  # the vignetting survives


# --- Exercise 4 ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def biases_and_darks(data):
    _, biases = _read(data, "calibration_frames/bias/b0*c1.fits")
    _, darks = _read(data, "calibration_frames/dark/b1*c1.fits")
    return np.array(biases), np.array(darks)


def _astropy_mean(stack, **kwargs):
    clipped = sigma_clip(stack, axis=0, masked=False, cenfunc="median", **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(clipped, axis=0)


def test_master_bias_is_astropys_clipped_mean(biases_and_darks):
    biases, _ = biases_and_darks
    master = solutions.master_bias(biases)
    expected = _astropy_mean(biases, sigma=3, maxiters=5, stdfunc="std")
    np.testing.assert_allclose(master, expected, rtol=1e-6)


def test_master_dark_methods_against_numpy_and_astropy(biases_and_darks):
    biases, darks = biases_and_darks
    bias = solutions.master_bias(biases)
    subtracted = darks.astype(np.float32) - bias
    np.testing.assert_allclose(
        solutions.master_dark(darks, bias, "mean"), subtracted.mean(axis=0), rtol=1e-5, atol=1e-3
    )
    np.testing.assert_allclose(
        solutions.master_dark(darks, bias, "median"), np.median(subtracted, axis=0), rtol=1e-6
    )
    np.testing.assert_allclose(
        solutions.master_dark(darks, bias, "clipped"),
        _astropy_mean(subtracted, sigma=3, maxiters=5, stdfunc="mad_std"),
        rtol=1e-5, atol=1e-3,
    )


def test_clipped_master_dark_rejects_the_cosmic_rays_a_mean_keeps(biases_and_darks):
    biases, darks = biases_and_darks
    bias = solutions.master_bias(biases)
    median = solutions.master_dark(darks, bias, "median")
    mean = solutions.master_dark(darks, bias, "mean")
    clipped = solutions.master_dark(darks, bias, "clipped")
    assert np.count_nonzero(mean - median > 25) > 100
    assert np.count_nonzero(clipped - median > 25) < 0.001 * median.size
    assert abs(np.median(clipped)) < 20  # bias removed: a few DU of dark signal


def test_master_dark_rejects_bad_input(biases_and_darks):
    biases, darks = biases_and_darks
    with pytest.raises(ValueError, match="method must be"):
        solutions.master_dark(darks, biases[0], "average")
    with pytest.raises(ValueError, match="do not match the master bias"):
        solutions.master_dark(darks, biases[0][:10], "mean")


# --- Exercise 3: sigma clipping by hand -----------------------------------------------


def _random_values(rng):
    """Normal values with a few outliers on either side, some of them far out."""
    values = rng.normal(rng.uniform(-100, 1000), rng.uniform(0.1, 10), rng.integers(5, 80))
    n = int(rng.integers(0, 6))
    values[:n] += rng.exponential(20, n) * rng.choice([-1, 1], n) * values.std()
    return rng.permutation(values)


@pytest.mark.parametrize("seed", range(40))
def test_sigma_clip_by_hand_is_astropys_rule(seed):
    rng = np.random.default_rng(seed)
    for _ in range(20):
        values = _random_values(rng)
        sigma = float(rng.choice([1.5, 2.0, 2.5, 3.0, 4.0]))
        maxiters = [1, 2, 5, 10, None][int(rng.integers(0, 5))]
        expected = np.ma.getmaskarray(
            sigma_clip(values, sigma=sigma, maxiters=maxiters, cenfunc="median", stdfunc="std"))
        mask = solutions.sigma_clip_by_hand(values, sigma=sigma, maxiters=maxiters)
        assert mask.dtype == bool and mask.shape == values.shape
        np.testing.assert_array_equal(mask, expected)


def test_sigma_clip_by_hand_on_a_real_column_with_nan_and_any_shape(data):
    _, (bias, *_) = _read(data, "calibration_frames/bias/b0*c1.fits")
    block = bias[:60, :40].astype(float)
    block[3, 3] = np.nan
    with pytest.warns(AstropyUserWarning, match="invalid values"):
        expected = np.ma.getmaskarray(sigma_clip(block, sigma=3, maxiters=5))
    mask = solutions.sigma_clip_by_hand(block)
    assert mask.shape == block.shape and mask[3, 3]
    np.testing.assert_array_equal(mask, expected)


def test_sigma_clip_by_hand_does_not_change_its_input():
    values = np.array([1.0, 2, 3, 2, 1, 2, 100])
    copy = values.copy()
    solutions.sigma_clip_by_hand(values)
    np.testing.assert_array_equal(values, copy)


# --- Exercise 5: dark levels, dark current, scaled dark -----------------------------------


def test_dark_levels_are_medians_of_the_named_regions():
    rng = np.random.default_rng(8)
    dark = rng.normal(4.0, 1.0, (200, 400))
    dark[:10, :10] += 120.0
    levels = solutions.dark_levels(dark)
    assert levels.median == pytest.approx(np.median(dark))
    assert levels.typical == pytest.approx(np.median(dark[100:, 300:]))
    assert levels.corner == pytest.approx(np.median(dark[:10, :10]))
    # The overscan beyond the data section is left out.
    padded = np.pad(dark, ((0, 20), (0, 30)))
    assert solutions.dark_levels(padded, dark.shape) == levels


@pytest.mark.parametrize("name", ["lower left", "lower right", "upper left", "upper right"])
def test_the_glowing_corner_is_found_wherever_it_is(name):
    # The lower-left case above, turned: flipping the frame moves the glow, and the
    # corner square and the far region move with it (numpy's flip is the reference).
    rng = np.random.default_rng(9)
    base = rng.normal(4.0, 1.0, (200, 400))
    base[:10, :10] += 120.0
    base[:30, :30] += 20.0  # a fainter halo, as the glow fades
    flip_rows, flip_cols = {"lower left": (False, False), "lower right": (False, True),
                            "upper left": (True, False), "upper right": (True, True)}[name]
    dark = base[::-1 if flip_rows else 1, ::-1 if flip_cols else 1]
    assert solutions.glow_corner(dark) == solutions.CORNERS[name]
    levels = solutions.dark_levels(dark)
    assert levels == solutions.dark_levels(base)
    assert levels == solutions.dark_levels(dark, corner=solutions.CORNERS[name])
    assert levels.corner == pytest.approx(np.median(base[:10, :10]))
    assert levels.typical == pytest.approx(np.median(base[100:, 300:]))
    # Measured at another corner, the "glowing corner" is only dark current.
    other = next(c for c in solutions.CORNERS.values() if c != solutions.CORNERS[name])
    assert solutions.dark_levels(dark, corner=other).corner < 10
    # An overscan beyond the data section (upper and right, as in the raw frames) is left out.
    padded = np.pad(dark, ((0, 20), (0, 30)), constant_values=1000.0)
    assert solutions.glow_corner(padded, dark.shape) == solutions.CORNERS[name]
    assert solutions.dark_levels(padded, dark.shape) == levels


def test_dark_regions_refuse_a_corner_that_is_none():
    with pytest.raises(ValueError, match="corner must be one of"):
        solutions.dark_regions((100, 200), (1, 1))


def test_the_glowing_corner_is_not_guessed_when_a_corner_is_nan():
    dark = np.full((100, 200), 4.0)
    dark[:5, :5] = 120.0
    dark[-5:, -5:] = np.nan
    with pytest.raises(ValueError, match="upper right corner's square holds NaN"):
        solutions.glow_corner(dark)


def test_dark_current_and_scaled_dark_against_the_synthetic_truth(data, biases_and_darks):
    from course_utils.data.models import ifum_model

    biases, darks = biases_and_darks
    header = fits.getheader(next((data / "calibration_frames" / "dark").glob("b1*c1.fits")))
    gain, exptime = header["EGAIN"], header["EXPTIME"]
    master = solutions.master_dark(darks, solutions.master_bias(biases), "median")
    rows, cols = fits_section(header["DATASEC"])
    current = solutions.dark_current(master, gain, exptime)
    assert current == pytest.approx(np.median(master) * gain * 3600 / exptime)
    # Far from the glowing corner the dark current is the model's, to a few per cent.
    truth = ifum_model("small").dark_current * 3600
    typical = solutions.dark_levels(master[rows, cols]).typical * gain * 3600 / exptime
    assert typical == pytest.approx(truth, rel=0.05)
    assert current > typical  # the glow lifts the median of the whole frame
    scaled = solutions.scaled_dark(master, exptime, 600.0)
    np.testing.assert_allclose(scaled, master.astype(float) / 6, rtol=1e-6)


def test_master_bias_can_read_files_silently(data, capfd):
    paths, _ = _read(data, "calibration_frames/bias/b0*c1.fits")
    capfd.readouterr()
    solutions.master_bias(paths, progress=False)
    assert capfd.readouterr() == ("", "")
