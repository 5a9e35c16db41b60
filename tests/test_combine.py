"""course_utils.combine agrees with the slow standard routes it replaces.

The reference ("astropy route") is what the syllabus does: astropy's
``sigma_clip`` with cenfunc/stdfunc given as strings and ``masked=False``,
along ``axis=0`` (clip='pixel') or ``axis=(1, 2)`` (clip='frame'), then
``np.nanmedian`` / ``np.nanmean`` along the stack. The means are taken in
float64 (the clipped stack cast to float64 first): numpy's float32 mean
accumulates in float32, whose rounding alone can exceed 1e-6 over 40 frames.
Counts and masks are compared exactly (mask = NaN in astropy's output).

Every test runs twice, on the numba kernels and on the numpy engine (the
``backend`` fixture sets ``COURSE_UTILS_BACKEND``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from astropy.stats import sigma_clip

from engines import backend  # noqa: F401  (every test runs on both engines)

from course_utils import combine

RTOL = 1e-6


def astropy_route(stack, method, clip, **kw):
    """(combined, count, mask) the standard way, all in float64."""
    stack = np.asarray(stack)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NaN input, all-NaN slices
        if clip is None:
            clipped = np.where(np.isfinite(stack), stack, np.nan).astype(np.float64)
        else:
            axis = 0 if clip == "pixel" else (1, 2)
            clipped = sigma_clip(stack, axis=axis, masked=False, **kw).astype(np.float64)
        combined = (np.nanmedian if method == "median" else np.nanmean)(clipped, axis=0)
    mask = np.isnan(clipped)
    return combined, (~mask).sum(axis=0), mask


def assert_agrees(stack, method, clip, frames=None, **kw):
    expected, count, mask = astropy_route(stack, method, clip, **kw)
    got, got_count, got_mask = combine(
        stack if frames is None else frames, method=method, clip=clip,
        return_count=True, return_mask=True, **kw,
    )
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=0, equal_nan=True)
    np.testing.assert_array_equal(got_count, count)
    np.testing.assert_array_equal(got_mask, mask)
    return got, got_count, got_mask


def bias_like(rng, n, shape=(9, 11), dtype=np.uint16, crs=6):
    """Noise around 817 DU with a few cosmic rays."""
    stack = rng.normal(817, 4, size=(n,) + shape)
    for _ in range(crs if n > 3 else 0):
        stack[rng.integers(n), rng.integers(shape[0]), rng.integers(shape[1])] += rng.uniform(200, 5000)
    if np.dtype(dtype).kind in "ui":
        stack = np.round(stack)
        if np.dtype(dtype) == np.int16:
            stack -= 817  # signed values around 0
    return stack.astype(dtype)


# ---------------------------------------------------------------------------
# Agreement with the astropy route
# ---------------------------------------------------------------------------

DEPTHS = [1, 2, 3, 5, 40, 41]
DTYPES = [np.uint16, np.int16, np.float32, np.float64]


@pytest.mark.parametrize("n", DEPTHS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("clip", ["pixel", "frame"])
def test_default_clipping_matches_astropy(n, dtype, clip):
    rng = np.random.default_rng(n)
    stack = bias_like(rng, n, dtype=dtype)
    for method in ("median", "mean"):
        assert_agrees(stack, method, clip)


@pytest.mark.parametrize("cenfunc", ["median", "mean"])
@pytest.mark.parametrize("stdfunc", ["std", "mad_std"])
@pytest.mark.parametrize("maxiters", [1, 3, None])
@pytest.mark.parametrize("clip", ["pixel", "frame"])
def test_options_match_astropy(cenfunc, stdfunc, maxiters, clip):
    rng = np.random.default_rng(7)
    for n, dtype in ((5, np.float32), (40, np.uint16), (41, np.float64)):
        stack = bias_like(rng, n, dtype=dtype)
        for method in ("median", "mean"):
            for sigma_kw in ({"sigma": 3.0}, {"sigma": 2.0, "sigma_lower": 1.5}, {"sigma_upper": 2.5}):
                assert_agrees(stack, method, clip, cenfunc=cenfunc, stdfunc=stdfunc,
                              maxiters=maxiters, **sigma_kw)


@pytest.mark.parametrize("clip", ["pixel", "frame"])
@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.uint8, np.int32])
def test_integer_ties_and_exact_bounds(clip, dtype):
    """Small-range integers: many ties, values exactly on a bound, even counts."""
    rng = np.random.default_rng(3)
    for n in (2, 4, 6, 10, 40):
        for span in (2, 3, 10):
            stack = rng.integers(0, span, size=(n, 7, 8)).astype(dtype)
            for kw in (
                {},
                {"sigma": 1.0, "cenfunc": "mean"},
                {"sigma": 0.5, "cenfunc": "mean", "maxiters": 1},
                {"sigma": 1.25, "maxiters": None},
                {"sigma": 1.0, "stdfunc": "mad_std"},
            ):
                for method in ("median", "mean"):
                    assert_agrees(stack, method, clip, **kw)


def test_a_value_exactly_on_a_rounded_bound():
    """mean -1.6 and std 3.2 put the upper bound exactly on 0 for sigma=0.5.

    astropy's float64 sums are not exact here (-1.6 is not a binary
    fraction), so its upper bound comes out as 0.0 or as -2.2e-16 depending
    on the order of the values, and the zeros are kept or rejected
    accordingly. combine() must do the same for both orders.
    """
    shuffled = [-4, 0, -5, -1, -2, -5, -5, 3, -3, -5, -5, -2, -3, 0, 1, 2, 4, 4, -3, -5,
                -2, 3, -5, -5, 2, -1, -3, 4, -5, -3, -4, -4, -5, 4, -5, -4, 1, 3, -3, 2]
    stack = np.array([shuffled, sorted(shuffled)], dtype=np.int16).T[:, None, :]  # 2 pixels
    kw = {"sigma": 0.5, "maxiters": 1, "cenfunc": "mean"}
    uppers = [sigma_clip(stack[:, 0, i].astype(float), return_bounds=True, **kw)[2] for i in (0, 1)]
    assert uppers[0] < 0 == uppers[1]  # the premise of this test
    _, count, mask = assert_agrees(stack, "mean", "pixel", **kw)
    assert count[0].tolist() == [11, 13]  # the -3, -2 and -1 (and in pixel 2 the zeros)


@pytest.mark.parametrize("clip", ["pixel", "frame"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_and_inf_are_missing(clip, dtype):
    rng = np.random.default_rng(11)
    for n in (3, 40):
        stack = bias_like(rng, n, dtype=dtype)
        stack[0, 0, 0] = np.nan
        stack[1, 0, 1] = np.inf
        stack[2, 0, 2] = -np.inf
        stack[:, 1, 1] = np.nan  # a pixel without any value
        stack[:, 2, 3] = np.inf
        for method in ("median", "mean"):
            got, count, mask = assert_agrees(stack, method, clip)
            assert np.isnan(got[1, 1]) and count[1, 1] == 0 and mask[:, 1, 1].all()
            assert np.isnan(got[2, 3]) and count[2, 3] == 0
            assert mask[0, 0, 0] and mask[1, 0, 1] and mask[2, 0, 2]


def test_frame_of_nan_only():
    stack = np.random.default_rng(0).normal(size=(4, 5, 6))
    stack[2] = np.nan
    for method in ("median", "mean"):
        _, count, mask = assert_agrees(stack, method, "frame")
        assert mask[2].all() and (count <= 3).all()


def test_fully_clipped_pixels_are_nan_with_count_zero():
    """Two values and sigma below 1: both lie outside mean +- sigma * std."""
    rng = np.random.default_rng(5)
    stack = rng.normal(size=(2, 6, 7))
    for method in ("median", "mean"):
        got, count, mask = assert_agrees(stack, method, "pixel", sigma=0.5)
        assert np.isnan(got).all() and (count == 0).all() and mask.all()
    # sigma=1 puts both bounds exactly on the two values: kept or not by rounding.
    for dtype in (np.float64, np.float32, np.uint16):
        assert_agrees((rng.normal(size=(2, 6, 7)) * 50 + 100).astype(dtype), "median", "pixel", sigma=1.0)


@pytest.mark.parametrize("method", ["median", "mean"])
def test_no_clipping_matches_nan_functions(method):
    rng = np.random.default_rng(2)
    for n in (1, 2, 3, 40, 41):
        for dtype in DTYPES:
            stack = bias_like(rng, n, dtype=dtype)
            if stack.dtype.kind == "f" and n > 1:
                stack[0, 0, :3] = [np.nan, np.inf, -np.inf]
                stack[:, 3, 3] = np.nan
            got, count, mask = assert_agrees(stack, method, None)
            if stack.dtype.kind == "f" and n > 1:
                assert mask[0, 0, :3].all() and count[0, 1] == n - 1


def test_even_count_median_is_mean_of_middle_values():
    stack = np.array([1, 2, 10, 20], dtype=np.uint16)[:, None, None]
    assert combine(stack)[0, 0] == 6.0
    assert combine(stack[:3])[0, 0] == 2.0


def test_string_functions_versus_callables():
    """The documented difference between astropy's two implementations.

    Values 3, 4, 4, 7, 8, 9, sigma=1, two iterations: the first clips 3, 8
    and 9, the second (on 4, 4, 7) has bounds 2.59..5.41 and clips 7. With
    string functions only the last bounds count, so 3 comes back; with
    callables (as ccdproc passes them) rejections accumulate.
    """
    stack = np.array([3, 4, 4, 7, 8, 9], dtype=np.uint16)[:, None, None]
    kw = {"sigma": 1.0, "maxiters": 2}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        callables = sigma_clip(stack, axis=0, masked=False, cenfunc=np.nanmedian, stdfunc=np.nanstd, **kw)
    assert np.isnan(callables[:, 0, 0]).tolist() == [True, False, False, True, True, True]
    got, count, mask = assert_agrees(stack, "mean", "pixel", **kw)
    assert mask[:, 0, 0].tolist() == [False, False, False, True, True, True]
    assert got[0, 0] == pytest.approx(11 / 3) and count[0, 0] == 3
    # With one iteration the two implementations agree.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = sigma_clip(stack, axis=0, masked=False, cenfunc=np.nanmedian, stdfunc=np.nanstd,
                         sigma=1.0, maxiters=1)
    _, _, mask1 = combine(stack, clip="pixel", sigma=1.0, maxiters=1, return_count=True, return_mask=True)
    np.testing.assert_array_equal(mask1, np.isnan(one))


def test_deep_stacks_and_heavy_clipping():
    """Hundreds of frames, runs far from the ends of the sorted values."""
    rng = np.random.default_rng(9)
    stack = rng.normal(100, 10, size=(300, 4, 5)).astype(np.float32)
    stack[:150, 0, 0] += 1000  # half the values far off: long runs clipped
    ints = np.round(stack).astype(np.uint16)
    for kw in ({}, {"sigma": 0.7, "maxiters": None}, {"sigma": 1.0, "cenfunc": "mean"},
               {"sigma": 0.8, "stdfunc": "mad_std"}):
        for data in (stack, ints):
            for method in ("median", "mean"):
                assert_agrees(data, method, "pixel", **kw)


def test_random_configurations():
    """A fuzz over shapes, depths, types, options and input forms."""
    rng = np.random.default_rng(2024)
    for _ in range(120):
        n = int(rng.choice([1, 2, 3, 4, 5, 7, 8, 9, 16, 33]))
        shape = (int(rng.integers(1, 9)), int(rng.integers(1, 9)))
        dtype = rng.choice(["uint16", "int16", "uint8", "float32", "float64"])
        if dtype in ("float32", "float64") and rng.random() < 0.5:
            stack = rng.normal(0, 3, size=(n,) + shape).astype(dtype)
        else:
            stack = rng.integers(0, int(rng.choice([2, 4, 9, 60])), size=(n,) + shape).astype(dtype)
        if n > 3:
            stack[rng.integers(n), rng.integers(shape[0]), rng.integers(shape[1])] = 250
        if stack.dtype.kind == "f" and rng.random() < 0.3:
            stack[rng.integers(n), rng.integers(shape[0]), rng.integers(shape[1])] = np.nan
        kw = {
            "sigma": float(rng.choice([3.0, 2.0, 1.5, 1.0, 0.5])),
            "maxiters": [1, 2, 5, None][int(rng.integers(4))],
            "cenfunc": str(rng.choice(["median", "mean"])),
            "stdfunc": str(rng.choice(["std", "mad_std"])),
        }
        if rng.random() < 0.3:
            kw["sigma_upper"] = float(rng.choice([1.0, 2.0, 4.0]))
        clip = [None, "pixel", "frame"][int(rng.integers(3))]
        if clip is None:
            kw = {}
        frames = list(stack) if rng.random() < 0.5 else None
        assert_agrees(stack, str(rng.choice(["median", "mean"])), clip, frames=frames, **kw)


def test_values_on_rounded_bounds_agree_with_astropy():
    """Small integers put values exactly on bounds, where rounding decides: astropy's answer."""
    rng = np.random.default_rng(4)
    stack = rng.integers(-5, 5, size=(40, 13, 17)).astype(np.int16)
    for method in ("median", "mean"):
        assert_agrees(stack, method, "pixel", sigma=0.5, maxiters=1, cenfunc="mean")
    assert_agrees(np.full((7, 3, 4), 817, dtype=np.uint16), "mean", "pixel", cenfunc="mean")


# ---------------------------------------------------------------------------
# Input forms, shapes and output types
# ---------------------------------------------------------------------------


def test_lists_stacks_views_and_ccddata_give_the_same_result():
    from astropy.nddata import CCDData

    rng = np.random.default_rng(6)
    stack = bias_like(rng, 12, shape=(20, 30))
    expected = combine(stack, clip="pixel")
    np.testing.assert_array_equal(combine(list(stack), clip="pixel"), expected)
    np.testing.assert_array_equal(combine(tuple(stack), clip="pixel"), expected)
    np.testing.assert_array_equal(combine(list(stack[:, :, ::-1]), clip="pixel"), expected[:, ::-1])
    transposed = [np.ascontiguousarray(f.T).T for f in stack]  # Fortran-ordered frames
    np.testing.assert_array_equal(combine(transposed, clip="pixel"), expected)
    ccds = [CCDData(f, unit="adu") for f in stack]
    from_ccds = combine(ccds, clip="pixel")
    assert from_ccds.unit == "adu"  # the unit is kept
    np.testing.assert_array_equal(from_ccds.value, expected)


@pytest.mark.parametrize("shape", [(1, 1), (1, 500), (500, 1), (3, 7000), (0, 5)])
def test_any_frame_shape(shape):
    rng = np.random.default_rng(8)
    stack = rng.normal(size=(5,) + shape).astype(np.float32)
    for clip in (None, "pixel", "frame"):
        for method in ("median", "mean"):
            expected, count, _ = astropy_route(stack, method, clip)
            got, got_count = combine(stack, method=method, clip=clip, return_count=True)
            assert got.shape == shape and got_count.shape == shape
            np.testing.assert_allclose(got, expected, rtol=RTOL, equal_nan=True)


def test_small_memory_limit_gives_the_same_result():
    """Tiles of a few pixels, and pieces of rows, change nothing."""
    rng = np.random.default_rng(10)
    stack = bias_like(rng, 300, shape=(3, 40), dtype=np.uint16)
    for clip in (None, "pixel", "frame"):
        for method in ("median", "mean"):
            full = combine(stack, method=method, clip=clip, return_count=True, return_mask=True)
            small = combine(stack, method=method, clip=clip, return_count=True, return_mask=True,
                            memory_limit=4 * 2**20)
            for a, b in zip(full, small):
                np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "dtype, out",
    [(np.uint8, np.float32), (np.uint16, np.float32), (np.int16, np.float32), (np.int32, np.float32),
     (np.int64, np.float32), (np.float16, np.float32), (np.float32, np.float32), (np.float64, np.float64)],
)
def test_output_type(dtype, out):
    stack = np.arange(24).reshape(4, 2, 3).astype(dtype)
    for clip in (None, "pixel", "frame"):
        got, count = combine(stack, clip=clip, return_count=True)
        assert got.dtype == out
        assert np.issubdtype(count.dtype, np.integer)


def test_return_values_and_their_order():
    stack = np.random.default_rng(1).normal(size=(5, 3, 4))
    combined = combine(stack)
    assert isinstance(combined, np.ndarray) and combined.shape == (3, 4)
    c, count = combine(stack, return_count=True)
    assert count.shape == (3, 4) and (count == 5).all()
    c, mask = combine(stack, return_mask=True)
    assert mask.shape == (5, 3, 4) and mask.dtype == bool and not mask.any()
    c, count, mask = combine(stack, return_count=True, return_mask=True)
    np.testing.assert_array_equal(c, combined)


def test_input_is_not_modified():
    stack = bias_like(np.random.default_rng(3), 9, dtype=np.float32)
    stack[0, 0, 0] = np.inf
    frames = list(stack.copy())
    before = stack.copy()
    for clip in (None, "pixel", "frame"):
        combine(stack, clip=clip)
        combine(frames, clip=clip, method="mean")
    np.testing.assert_array_equal(stack, before)
    np.testing.assert_array_equal(np.array(frames), before)


# ---------------------------------------------------------------------------
# Agreement with ccdproc.combine
# ---------------------------------------------------------------------------
#
# ccdproc.combine(sigma_clip=True) calls astropy's sigma_clip once per tile
# with axis=0, maxiters=1 and the *callables* sigma_clip_func (default
# np.ma.mean) and sigma_clip_dev_func (default np.ma.std); with one iteration
# callables and strings agree. It then takes np.nanmedian or np.nanmean of the
# float64 data. So ccdproc's 'average' with the defaults is combine(
# method='mean', clip='pixel', cenfunc='mean', stdfunc='std', maxiters=1).

ccdproc = pytest.importorskip("ccdproc")


def _ccdproc(frames, method, func, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ccdproc.combine(frames, method=method, sigma_clip=True, sigma_clip_low_thresh=3,
                               sigma_clip_high_thresh=3, sigma_clip_func=func,
                               sigma_clip_dev_func=np.ma.std, **kw)


@pytest.mark.parametrize("n", [5, 40, 41])
@pytest.mark.parametrize("method, ours", [("average", "mean"), ("median", "median")])
@pytest.mark.parametrize("centre", ["mean", "median"])
def test_matches_ccdproc_from_arrays(n, method, ours, centre):
    from astropy.nddata import CCDData

    rng = np.random.default_rng(n)
    stack = bias_like(rng, n, shape=(16, 21), crs=30)
    func = np.ma.mean if centre == "mean" else np.ma.median
    expected = _ccdproc([CCDData(f, unit="adu") for f in stack], method, func)
    got = combine(list(stack), method=ours, clip="pixel", cenfunc=centre, maxiters=1)
    np.testing.assert_allclose(got, expected.data, rtol=RTOL)


def test_matches_ccdproc_from_fits_files(tmp_path):
    from astropy.io import fits

    stack = bias_like(np.random.default_rng(12), 12, shape=(30, 40), crs=20)
    paths = []
    for i, frame in enumerate(stack):
        paths.append(tmp_path / f"b{i:04d}.fits")
        fits.PrimaryHDU(frame).writeto(paths[-1])  # uint16 is stored as int16 + BZERO
    expected = _ccdproc([str(p) for p in paths], "average", np.ma.mean, unit="adu")
    got = combine(paths, method="mean", clip="pixel", cenfunc="mean", maxiters=1, progress=False)
    np.testing.assert_allclose(got, expected.data, rtol=RTOL)
    np.testing.assert_array_equal(got, combine(stack, method="mean", clip="pixel", cenfunc="mean", maxiters=1))


# ---------------------------------------------------------------------------
# What a ccdproc user expects: method='sum', extrema rejection (nlow/nhigh)
# ---------------------------------------------------------------------------


def _ccd_list(stack, mask=None):
    from astropy.nddata import CCDData

    return [CCDData(np.asarray(f, dtype=np.float64), unit="adu",
                    mask=None if mask is None else mask[i]) for i, f in enumerate(stack)]


def _extrema_reference(stack, nlow, nhigh):
    """The stack (float64) with each pixel's nlow lowest and nhigh highest finite values NaN."""
    x = np.where(np.isfinite(stack), stack, np.nan).astype(np.float64)
    ranks = np.argsort(np.argsort(x, axis=0, kind="stable"), axis=0, kind="stable")
    valid = np.isfinite(x).sum(axis=0)
    return np.where((ranks < nlow) | (ranks >= valid - nhigh), np.nan, x)


@pytest.mark.parametrize("dtype", [np.uint16, ">i2", np.int32, np.int64])
@pytest.mark.parametrize("clip", [None, "pixel", "frame"])
def test_sum_of_integers_is_exact(dtype, clip):
    rng = np.random.default_rng(11)
    stack = bias_like(rng, 41, dtype=np.uint16).astype(dtype)
    _, count, mask = astropy_route(stack, "mean", clip)
    expected = np.where(mask, 0, stack.astype(np.int64)).sum(axis=0)
    got, got_count = combine(stack, method="sum", clip=clip, return_count=True)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got_count, count)


def test_sum_of_floats_skips_missing_and_is_nan_when_nothing_is_kept():
    stack = np.array([[[1.5, np.nan, 2.0]], [[2.25, np.nan, np.inf]], [[-1.0, np.nan, 3.0]]],
                     dtype=np.float32)
    got, count = combine(stack, method="sum", return_count=True)
    np.testing.assert_array_equal(got, [[2.75, np.nan, 5.0]])
    np.testing.assert_array_equal(count, [[3, 0, 2]])


def test_sum_matches_ccdproc_sum_combine_with_masks():
    from ccdproc import Combiner

    rng = np.random.default_rng(5)
    stack = rng.normal(1000, 30, size=(7, 6, 8))
    mask = rng.random(stack.shape) < 0.3
    mask[:, 0, 0] = True  # nothing kept: ccdproc masks it (with 0), combine gives NaN
    ours = combine(np.ma.MaskedArray(stack, mask), method="sum")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # its uncertainty of empty pixels
        theirs = Combiner(_ccd_list(stack, mask)).sum_combine()
    kept = ~theirs.mask
    np.testing.assert_allclose(ours[kept], theirs.data[kept], rtol=1e-12, atol=0)
    assert np.isnan(ours[0, 0]) and not np.isnan(ours[kept]).any()


@pytest.mark.parametrize("method, theirs", [("median", "median"), ("mean", "average"),
                                            ("sum", "sum")])
@pytest.mark.parametrize("nlow, nhigh", [(1, 1), (0, 2), (3, 0), (2, 5)])
def test_extrema_rejection_matches_ccdproc(method, theirs, nlow, nhigh):
    import ccdproc

    rng = np.random.default_rng(nlow * 10 + nhigh)
    stack = bias_like(rng, 12, dtype=np.uint16)
    expected = ccdproc.combine(_ccd_list(stack), method=theirs, clip_extrema=True,
                               nlow=nlow, nhigh=nhigh).data
    got, count = combine(stack, method=method, nlow=nlow, nhigh=nhigh, return_count=True)
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=0)
    assert (count == 12 - nlow - nhigh).all()


@pytest.mark.parametrize("clip", [None, "pixel", "frame"])
@pytest.mark.parametrize("dtype", [np.uint16, np.int32, np.float32, ">f8"])
def test_extrema_rejection_counts_only_valid_values(clip, dtype):
    rng = np.random.default_rng(8)
    stack = bias_like(rng, 9, dtype=dtype)
    if stack.dtype.kind == "f":
        stack[rng.random(stack.shape) < 0.2] = np.nan
        stack[0, 0, :] = np.inf
        stack[:, 1, 1] = np.nan  # no valid value at all
    masked = np.ma.masked_greater(stack, 820)  # masked values do not count either
    reference = _extrema_reference(np.ma.filled(masked.astype(np.float64), np.nan), 2, 1)
    expected, count, mask = astropy_route(reference, "mean", clip)
    got, got_count, got_mask = combine(masked, method="mean", clip=clip, nlow=2, nhigh=1,
                                       return_count=True, return_mask=True)
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=0, equal_nan=True)
    np.testing.assert_array_equal(got_count, count)
    np.testing.assert_array_equal(got_mask, mask)


def test_extrema_rejection_of_every_value_leaves_nan():
    got, count = combine(np.arange(12.0).reshape(4, 1, 3), nlow=2, nhigh=2, return_count=True)
    assert np.isnan(got).all() and (count == 0).all()


@pytest.mark.parametrize("bad", [-1, 1.5, True, "1", None])
def test_bad_nlow_nhigh_are_refused(bad):
    with pytest.raises(ValueError, match="nlow must be a whole number"):
        combine(np.zeros((3, 2, 2)), nlow=bad)
    with pytest.raises(ValueError, match="nhigh must be a whole number"):
        combine(np.zeros((3, 2, 2)), nhigh=bad)
