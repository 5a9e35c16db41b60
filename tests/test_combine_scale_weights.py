"""combine()'s ``scale=`` and ``weights=`` against numpy, astropy and ccdproc.

References:

* ``scale``: the astropy route on ``stack.astype(float64) * factors``,
  i.e. every rejection sees the scaled values; where nothing is rejected,
  ``ccdproc.combine(..., scale=...)`` gives the same;
* ``weights``: ``np.ma.average(clipped, weights=w, axis=0)`` (and the
  weighted sum of the kept values), where ``clipped`` is astropy's
  ``sigma_clip`` of the stack; where nothing is rejected,
  ``ccdproc.combine(..., weights=...)``.

Every test runs on both engines (the ``backend`` fixture).
"""

from __future__ import annotations

import warnings

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.stats import sigma_clip

from engines import backend  # noqa: F401  (every test runs on both engines)

from course_utils import combine

RTOL = 1e-6


def flats_like(rng, n=7, shape=(9, 11), dtype=np.uint16):
    """Flats at different levels (5,000 to 30,000 DU), with a few cosmic rays."""
    levels = rng.uniform(5000, 30000, size=(n, 1, 1))
    stack = levels * rng.normal(1, 0.01, size=(n,) + shape)
    for _ in range(4):
        stack[rng.integers(n), rng.integers(shape[0]), rng.integers(shape[1])] *= 3
    return np.round(stack).astype(dtype)


def clipped_float64(data, clip, **kw):
    """The float64 stack ``data`` clipped the astropy way, as a masked array."""
    data = np.ma.masked_invalid(np.ma.asarray(data, dtype=np.float64))
    if clip is None:
        return data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sigma_clip(data, axis=0 if clip == "pixel" else (1, 2), masked=True, **kw)


def _ccds(stack):
    from astropy.nddata import CCDData

    return [CCDData(np.asarray(f, dtype=np.float64), unit="adu") for f in stack]


# ---------------------------------------------------------------------------
# scale=
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("clip", [None, "pixel", "frame"])
@pytest.mark.parametrize("method", ["median", "mean", "sum"])
@pytest.mark.parametrize("dtype", [np.uint16, ">i2", np.int32, np.float32, ">f8"])
def test_scaling_comes_before_clipping(clip, method, dtype):
    """combine(scale=) is the astropy route on the scaled stack: mask, count and result."""
    rng = np.random.default_rng(3)
    stack = flats_like(rng, dtype=dtype)
    factors = 1 / np.median(stack.astype(np.float64), axis=(1, 2))
    data = clipped_float64(stack.astype(np.float64) * factors[:, None, None], clip)
    kept = data.count(axis=0)
    if method == "median":
        expected = np.ma.median(data, axis=0).filled(np.nan)
    elif method == "mean":
        expected = data.mean(axis=0).filled(np.nan)
    else:
        expected = np.where(kept > 0, data.sum(axis=0).filled(0), np.nan)
    got, count, mask = combine(stack, method=method, clip=clip, scale=factors,
                               return_count=True, return_mask=True)
    np.testing.assert_array_equal(mask, np.ma.getmaskarray(data))
    np.testing.assert_array_equal(count, kept)
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=0, equal_nan=True)
    assert got.dtype == (np.float64 if method == "sum" or stack.dtype.itemsize == 8 else np.float32)


def test_scaling_lets_clipping_per_pixel_see_the_outliers_of_flats():
    """Unscaled, flats of different levels hide a cosmic ray from clipping per pixel."""
    rng = np.random.default_rng(4)
    stack = flats_like(rng, n=9)
    stack[4, 2, 3] = stack[4, 2, 3] * 1.5  # 50% too bright: a cosmic ray on a flat
    _, unscaled = combine(stack, clip="pixel", return_mask=True)
    flat, scaled = combine(stack, clip="pixel", scale=lambda f: 1 / np.nanmedian(f), return_mask=True)
    assert not unscaled[4, 2, 3] and scaled[4, 2, 3]
    assert abs(np.median(flat) - 1) < 0.002


@pytest.mark.parametrize("method", ["median", "average", "sum"])
def test_scale_matches_ccdproc_without_rejection(method):
    import ccdproc

    rng = np.random.default_rng(5)
    stack = flats_like(rng, n=6).astype(np.float64)
    ours_method = "mean" if method == "average" else method
    for scale in (lambda a: 1 / np.median(a), list(rng.uniform(0.5, 2, size=6))):
        theirs = ccdproc.combine(_ccds(stack), method=method, scale=scale).data
        ours = combine(stack, method=ours_method, scale=scale)
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)


def test_scale_function_gets_read_only_float64_frames_with_nan_for_missing_values():
    stack = np.ma.masked_equal(np.array([[[2, 4, 6]], [[10, 30, 20]]], dtype=np.uint16), 4)
    seen = []

    def remember(frame):
        seen.append(frame.copy())
        assert frame.dtype == np.float64 and not frame.flags.writeable
        return 1 / np.nanmedian(frame)

    got = combine(stack, method="mean", scale=remember)
    np.testing.assert_array_equal(seen[0], [[2, np.nan, 6]])
    np.testing.assert_array_equal(seen[1], [[10, 30, 20]])
    np.testing.assert_allclose(got, [[0.5 * (0.5 + 0.5), 1.5, 0.5 * (1.5 + 1.0)]], rtol=1e-7)
    assert stack.data.tolist() == [[[2, 4, 6]], [[10, 30, 20]]]  # the input is never written


def test_scale_of_fits_files_and_units(tmp_path):
    rng = np.random.default_rng(6)
    stack = flats_like(rng, n=4)
    paths = []
    for i, frame in enumerate(stack):
        paths.append(tmp_path / f"flat{i}.fits")
        fits.PrimaryHDU(frame).writeto(paths[-1])
    factors = np.array([1.0, 0.5, 0.25, 2.0])
    expected = combine(stack, scale=factors)
    np.testing.assert_array_equal(combine(paths, scale=factors, progress=False), expected)
    quantity = combine([f * u.adu for f in stack], scale=factors * u.dimensionless_unscaled)
    assert quantity.unit == u.adu
    np.testing.assert_array_equal(quantity.value, expected)


@pytest.mark.parametrize("scale, words", [
    ([1.0, 2.0], "one factor per frame (3)"),
    ([1.0, -2.0, 1.0], "frame 1 the factor -2.0"),
    ([1.0, 0.0, 1.0], "frame 1 the factor 0.0"),
    ([1.0, np.inf, 1.0], "positive finite"),
    ("123", "one factor per frame"),
    (2.0, "one factor per frame"),
    ([[1.0, 2.0, 3.0]], "one factor per frame"),
    ([1.0, 2.0, True], "one real number per frame"),
    (np.array([1.0, 2.0, 3.0]) / u.adu, "has a unit (1 / adu)"),
    (lambda f: np.median(f), "use np.nanmedian"),
    (lambda f: f, "one real number per frame"),
    (lambda f: 1 / np.nanmedian(f) - 1, "frame 0 the factor"),
    (lambda f: 1e308, "overflow (beyond"),
    (lambda f: 1e37, "overflow (beyond 3.4e+38"),  # the float32 result could not hold them
    ([1, [1, 2], 1], "not one array of numbers"),
])
def test_bad_scales_are_refused_by_name(scale, words):
    stack = np.array([[[1.0, np.nan]], [[2.0, 2.0]], [[3.0, 3.0]]], dtype=np.float32) * 100
    with pytest.raises(ValueError, match="scale") as info:
        combine(stack, scale=scale)
    assert words in str(info.value)


def test_scaled_values_need_only_fit_the_result_type():
    """A float64 result (method='sum', or float64 frames) holds what float32 could not."""
    stack = np.full((3, 2, 2), 60000, dtype=np.uint16)
    np.testing.assert_allclose(combine(stack, method="sum", scale=[1e35] * 3), 1.8e40, rtol=1e-12)
    with pytest.raises(ValueError, match="frame 0 by 1e.35 makes 4 of its values overflow"):
        combine(stack, method="mean", scale=[1e35] * 3)


def test_scale_factors_of_any_real_type_and_frames_without_values():
    from fractions import Fraction

    stack = np.array([[[2.0, 4.0]], [[6.0, 8.0]]])
    np.testing.assert_array_equal(combine(stack, method="mean", scale=[Fraction(1, 2), np.float32(0.25)]),
                                  [[1.25, 2.0]])
    empty = np.ma.masked_array(stack, mask=[[[True, True]], [[False, False]]])
    with pytest.raises(ValueError, match="frame 0 has no valid value"):
        combine(empty, scale=lambda f: 1 / np.nanmean(f) if np.isfinite(f).any() else np.nan)


# ---------------------------------------------------------------------------
# weights=
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("clip", [None, "pixel", "frame"])
@pytest.mark.parametrize("total", [False, True])
@pytest.mark.parametrize("per", ["frame", "value"])
def test_weights_give_numpy_masked_average_of_the_kept_values(clip, total, per):
    rng = np.random.default_rng(7)
    stack = flats_like(rng, n=9, dtype=np.float32) / 10
    masked = np.ma.masked_array(stack, mask=rng.random(stack.shape) < 0.1)
    weights = rng.uniform(0, 2, size=9) if per == "frame" else rng.uniform(0, 2, size=stack.shape)
    data = clipped_float64(masked, clip)
    full = np.broadcast_to(weights.reshape(9, 1, 1) if per == "frame" else weights, stack.shape)
    if total:
        expected = np.where(data.count(axis=0) > 0, (data * full).sum(axis=0).filled(0), np.nan)
    else:
        expected = np.ma.average(data, weights=full, axis=0).filled(np.nan)
    got, count = combine(masked, method="sum" if total else "mean", clip=clip, weights=weights,
                         return_count=True)
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=0, equal_nan=True)
    np.testing.assert_array_equal(count, data.count(axis=0))  # weights do not change what is kept


@pytest.mark.parametrize("method", ["average", "sum"])
@pytest.mark.parametrize("per", ["frame", "value"])
def test_weights_match_ccdproc_without_rejection(method, per):
    import ccdproc

    rng = np.random.default_rng(8)
    stack = flats_like(rng, n=5).astype(np.float64)
    weights = rng.uniform(0.1, 3, size=5 if per == "frame" else stack.shape)
    theirs = ccdproc.combine(_ccds(stack), method=method, weights=weights).data
    ours = combine(stack, method="mean" if method == "average" else method, weights=weights)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)


def test_weights_and_scale_together_equal_the_weighted_average_of_scaled_frames():
    rng = np.random.default_rng(9)
    stack = flats_like(rng, n=8)
    factors = 1 / np.median(stack.astype(np.float64), axis=(1, 2))
    weights = np.arange(1.0, 9.0)
    data = clipped_float64(stack.astype(np.float64) * factors[:, None, None], "pixel")
    expected = np.ma.average(data, weights=np.broadcast_to(weights[:, None, None], stack.shape), axis=0)
    got = combine(stack, method="mean", clip="pixel", scale=factors, weights=weights)
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=0)


def test_weights_that_broadcast_and_zero_weights():
    stack = np.array([[[1.0, 5.0]], [[3.0, 7.0]], [[np.nan, 9.0]]])
    got, count = combine(stack, method="mean", weights=np.array([[[1.0]], [[0.0]], [[2.0]]]),
                         return_count=True)
    np.testing.assert_allclose(got, [[1.0, (5 + 18) / 3]])
    got, count = combine(stack, method="mean", weights=[0.0, 0.0, 1.0], return_count=True)
    assert np.isnan(got[0, 0]) and count[0, 0] == 2  # its kept values all weigh 0
    assert got[0, 1] == 9.0
    np.testing.assert_array_equal(combine(stack, method="sum", weights=[0, 0, 0]), [[0.0, 0.0]])
    assert np.isnan(combine(np.full((2, 1, 1), np.nan), method="sum", weights=[1, 1])).all()
    same = np.array([[[2.0, 1.0]]])  # one weight per value, the same for every frame
    np.testing.assert_allclose(combine(stack, method="sum", weights=same), [[8.0, 21.0]])


@pytest.mark.parametrize("size", [1e-320, 1e-200, 1e200, 1e308])
def test_weights_of_any_size_give_the_same_mean(size):
    """Only the ratios of weights matter: no overflow of sum(w), no underflow to 0."""
    stack = np.array([[[0.5, 1e-5]], [[0.5, 3e-5]], [[2.0, 5e-5]]])
    got = combine(stack, method="mean", weights=[size, size, 0.5 * size])
    np.testing.assert_allclose(got, [[(0.5 + 0.5 + 1.0) / 2.5, (1e-5 + 3e-5 + 2.5e-5) / 2.5]],
                                rtol=1e-12)


def test_weighted_result_keeps_the_unit_and_the_type():
    frames = [np.full((2, 2), v, dtype=np.float32) * u.electron for v in (10, 20, 40)]
    got = combine(frames, method="mean", weights=[1, 1, 2])
    assert got.unit == u.electron and got.dtype == np.float32
    np.testing.assert_allclose(got.value, 27.5)


@pytest.mark.parametrize("weights, words", [
    ([1.0, 2.0], "do not fit 3 frames"),
    (np.ones((2, 3)), "do not fit 3 frames"),
    (np.ones((3, 2, 2)), "do not fit 3 frames"),
    (np.ones((2, 1, 3)), "do not fit 3 frames"),
    ([1.0, [1.0, 2.0], 1.0], "not one array of numbers"),
    ([1.0, -1.0, 1.0], "finite numbers >= 0"),
    ([1.0, np.nan, 1.0], "the first at index (1, 0, 0)"),
    ([True, False, True], "mask them in the frames"),
    (["a", "b", "c"], "must be numbers"),
    (np.ones(3) * u.adu, "plain numbers"),
    (np.ma.masked_array(np.ones(3), [0, 1, 0]), "plain numbers"),
])
def test_bad_weights_are_refused_by_name(weights, words):
    with pytest.raises(ValueError, match="weights") as info:
        combine(np.ones((3, 1, 3)), method="mean", weights=weights)
    assert words in str(info.value)


def test_a_weighted_sum_that_overflows_is_refused_by_pixel():
    stack = np.ones((3, 2, 2))
    stack[:, 1, 0] = 1e300
    with pytest.raises(ValueError, match=r"pixel \(1, 0\) overflows float64"):
        combine(stack, method="sum", weights=[1e10, 1.0, 1.0])
    got = combine(stack, method="mean", weights=[1e10, 1.0, 1.0])  # a mean needs only ratios
    np.testing.assert_allclose(got, [[1.0, 1.0], [1e300, 1.0]], rtol=1e-12)


def test_weights_with_a_median_are_refused():
    with pytest.raises(ValueError, match="a median is not weighted"):
        combine(np.ones((3, 2, 2)), method="median", weights=[1, 2, 3])


@pytest.mark.parametrize("options", [{"scale": []}, {"scale": lambda f: 1.0}, {"nlow": 1},
                                     {"weights": []}])
@pytest.mark.parametrize("frames, words", [([], "No frames to combine"),
                                           (np.empty((0, 3, 3)), "No frames to combine"),
                                           ([np.ones((2, 2)), np.ones((3, 3))], "same shape")])
def test_scaling_and_extrema_first_check_the_frames(frames, words, options):
    """No IndexError or broadcasting error: the frames' own problem is named."""
    if "weights" in options:
        options = {"weights": [1.0] * len(frames), "method": "mean"}
    elif "scale" in options and options["scale"] == []:
        options = {"scale": [1.0] * len(frames)}
    with pytest.raises(ValueError, match=words):
        combine(frames, **options)


# ---------------------------------------------------------------------------
# Memory: scale= and weights= work a band of rows at a time
# ---------------------------------------------------------------------------

SMALLEST_LIMIT = 4 * 2**20  # combine()'s smallest memory_limit


def _wide_flats(rng, dtype=np.float64, rows=60):
    """Flats large enough that the smallest memory_limit cuts them into several bands of rows."""
    stack = flats_like(rng, n=6, shape=(rows, 3000), dtype=np.float64)
    stack[2, 5:40:7, ::97] = np.nan
    stack[4, 50, 3] = np.inf
    return stack.astype(dtype)


@pytest.mark.parametrize("clip", [None, "pixel", "frame"])
@pytest.mark.parametrize("method", ["median", "mean", "sum"])
def test_scale_in_bands_equals_combining_the_scaled_stack(clip, method):
    rng = np.random.default_rng(22)
    stack = _wide_flats(rng)
    factors = 1 / np.nanmedian(stack.reshape(len(stack), -1), axis=1)
    scaled = stack * factors[:, None, None]
    scaled[~np.isfinite(scaled)] = np.nan
    opts = dict(method=method, clip=clip, return_count=True, return_mask=True)
    small = combine(stack, scale=factors, memory_limit=SMALLEST_LIMIT, **opts)
    whole = combine(stack, scale=factors, memory_limit=1e10, **opts)
    plain = combine(scaled, **opts)
    for a, b, c in zip(small, whole, plain):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("clip", [None, "pixel", "frame"])
@pytest.mark.parametrize("method", ["mean", "sum"])
@pytest.mark.parametrize("per", ["frame", "value"])
def test_weights_in_bands_give_the_same_bits_and_numpy_masked_average(clip, method, per):
    rng = np.random.default_rng(23)
    stack = _wide_flats(rng, np.float32, rows=240)  # (the mask of 116 rows is 2 MiB)
    weights = (np.arange(1.0, 7.0) if per == "frame"
               else rng.uniform(0.1, 3.0, size=stack.shape))
    small, count = combine(stack, method=method, clip=clip, weights=weights, return_count=True,
                           memory_limit=SMALLEST_LIMIT)
    whole, mask = combine(stack, method=method, clip=clip, weights=weights, return_mask=True,
                          memory_limit=1e10)
    np.testing.assert_array_equal(small, whole)
    np.testing.assert_array_equal(count, (~mask).sum(axis=0))
    w = np.broadcast_to(weights if per == "value" else weights[:, None, None], stack.shape)
    kept = np.ma.masked_array(np.where(mask, 0.0, stack.astype(np.float64)), mask)  # (no NaN * 0)
    expected = (np.ma.sum(kept * w, axis=0) if method == "sum"
                else np.ma.average(kept, axis=0, weights=w)).filled(np.nan)
    rtol = 1e-12 if small.dtype == np.float64 else 1.2e-7  # (a mean of float32 frames is float32)
    np.testing.assert_allclose(small, expected, rtol=rtol)


@pytest.mark.parametrize("shape", [(0, 4), (4, 0)])
def test_scale_and_weights_of_frames_without_pixels(shape):
    stack = np.ones((3,) + shape)
    for opts in (dict(scale=[1, 2, 3]), dict(method="sum", weights=[1, 2, 3]),
                 dict(method="mean", clip="frame", scale=[1, 2, 3], weights=[1, 2, 3])):
        got, count = combine(stack, return_count=True, **opts)
        assert got.shape == count.shape == shape


def _without_extremes(stack: np.ndarray, nlow: int, nhigh: int) -> np.ndarray:
    """A float64 copy of the stack with each pixel's nlow lowest and nhigh highest finite values NaN."""
    data = np.where(np.isfinite(stack), stack, np.nan).astype(np.float64)
    order = np.argsort(data, axis=0, kind="stable")  # (NaN last)
    valid = np.count_nonzero(~np.isnan(data), axis=0)
    ranks = np.arange(len(stack))[:, None, None]
    drop = (ranks < nlow) | ((ranks >= valid - nhigh) & (ranks < valid))
    np.put_along_axis(data, order, np.where(drop, np.nan, np.take_along_axis(data, order, 0)), 0)
    return data


@pytest.mark.parametrize("clip", [None, "pixel", "frame"])
@pytest.mark.parametrize("method", ["median", "mean", "sum"])
def test_scale_and_extrema_in_bands_equal_combining_the_stack_without_its_extremes(clip, method):
    """scale= with nlow/nhigh: a band of rows at a time, the same bits as the whole scaled stack."""
    rng = np.random.default_rng(24)
    stack = _wide_flats(rng)
    factors = 1 / np.nanmedian(stack.reshape(len(stack), -1), axis=1)
    with np.errstate(invalid="ignore"):
        scaled = _without_extremes(stack * factors[:, None, None], 1, 2)
    opts = dict(method=method, clip=clip, return_count=True, return_mask=True)
    small = combine(stack, scale=factors, nlow=1, nhigh=2, memory_limit=SMALLEST_LIMIT, **opts)
    whole = combine(stack, scale=factors, nlow=1, nhigh=2, memory_limit=1e10, **opts)
    plain = combine(scaled, **opts)
    for a, b, c in zip(small, whole, plain):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("clip", [None, "pixel", "frame"])
def test_extrema_of_integer_frames_in_bands(clip, tmp_path):
    """nlow/nhigh of uint16 frames, from arrays or files: float32 without the extremes, in bands."""
    rng = np.random.default_rng(25)
    stack = np.round(rng.normal(817, 30, size=(7, 150, 3000))).astype(np.uint16)
    paths = []
    for i, frame in enumerate(stack[:, :20]):
        paths.append(tmp_path / f"f{i}.fits")
        fits.PrimaryHDU(frame).writeto(paths[-1])
    for frames, values in ((stack, stack), (list(stack), stack), (paths, stack[:, :20])):
        expected = combine(_without_extremes(values, 2, 1).astype(np.float32), method="mean", clip=clip,
                           return_mask=True)
        for limit in (SMALLEST_LIMIT, 1e10):
            got = combine(frames, method="mean", clip=clip, nlow=2, nhigh=1, memory_limit=limit,
                          return_mask=True, progress=False)
            for a, b in zip(got, expected):
                np.testing.assert_array_equal(a, b)
