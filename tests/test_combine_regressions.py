"""course_utils.combine: the cases of issue 11 ("What was found"), one test each.

Each case once gave a silently wrong answer or an unhelpful crash. Each test
compares with the astropy route (``sigma_clip`` with string functions and
the matching axis, then ``np.nanmedian``/``np.nanmean``) or checks that the
error names its cause (and the file). Every test runs on both engines (the
``backend`` fixture sets ``COURSE_UTILS_BACKEND``).
"""

from __future__ import annotations

import warnings

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import CCDData
from astropy.stats import sigma_clip
from astropy.table import Table

from engines import astropy_route, backend  # noqa: F401  (every test runs on both engines)

from course_utils import combine


def check(result, expected):
    np.testing.assert_allclose(np.asarray(result, dtype=np.float64), expected, rtol=1e-6,
                               equal_nan=True)


# 1. Masked arrays ------------------------------------------------------------


@pytest.mark.parametrize("clip", [None, "frame", "pixel"])
@pytest.mark.parametrize("method", ["mean", "median"])
def test_case1_masked_values_are_excluded(method, clip):
    rng = np.random.default_rng(1)
    stack = np.round(rng.normal(1, 0.1, size=(7, 4, 5)) * 10).astype(np.uint16)
    stack[2, 1, 1] = 900
    masked = np.ma.masked_greater(stack, 100)
    check(combine(masked, method=method, clip=clip), astropy_route(masked, method, clip).combined)


def test_case1_masked_list_and_sigma_clip_output():
    stack = np.full((5, 2, 2), 1.0)
    stack[1, 0, 0] = 5.0
    clipped = sigma_clip(stack, sigma=1, axis=0, masked=True)
    assert float(combine(clipped, method="mean")[0, 0]) == 1.0
    assert float(combine(list(clipped), method="mean")[0, 0]) == 1.0


def test_case1_ccddata_masks_are_excluded():
    frames = [CCDData(np.full((2, 3), v, dtype=np.float32), unit="adu") for v in (1.0, 1.0, 9.0)]
    frames[2].mask = np.ones((2, 3), dtype=bool)
    out = combine(frames, method="mean")
    assert out.unit == u.adu
    np.testing.assert_array_equal(out.value, 1.0)


# 2. Byte order ----------------------------------------------------------------


@pytest.mark.parametrize("dtype", [">i2", ">u2", ">f4", ">f8", ">i4", "<i2"])
@pytest.mark.parametrize("clip", [None, "frame", "pixel"])
def test_case2_any_byte_order(dtype, clip):
    rng = np.random.default_rng(2)
    stack = rng.integers(800, 830, size=(5, 4, 5)).astype(dtype)
    stack[1, 1, 1] = 2000
    check(combine(stack, clip=clip), astropy_route(stack, "median", clip).combined)
    check(combine(list(stack), clip=clip, method="mean"), astropy_route(stack, "mean", clip).combined)


def test_case2_big_endian_constant_frames():
    stack = np.full((3, 4, 5), 817, ">i2")
    np.testing.assert_array_equal(combine(stack, clip="frame"), 817)


# 3. A fully clipped pixel in the last row of a tile ----------------------------


@pytest.mark.parametrize("shape", [(3, 1, 1), (3, 2, 3)])
def test_case3_fully_clipped_pixel_is_nan_with_count_zero(shape):
    stack = np.full(shape, 0.1)
    out, count = combine(stack, clip="pixel", cenfunc="mean", stdfunc="mad_std",
                         return_count=True)
    check(out, astropy_route(stack, "median", "pixel", cenfunc="mean", stdfunc="mad_std").combined)
    expected = np.isfinite(out)
    np.testing.assert_array_equal(count > 0, expected)


# 4. Large integers ------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.int32, np.uint32, np.int64, np.uint64])
def test_case4_large_integers_keep_their_values(dtype):
    stack = np.array([2_000_000_000, 0, 3, 3, 3], dtype=dtype).reshape(5, 1, 1)
    kw = dict(sigma=1, maxiters=2, cenfunc="mean")
    for method in ("mean", "median"):
        out, count = combine(stack, method=method, clip="pixel", return_count=True, **kw)
        check(out, astropy_route(stack, method, "pixel", **kw).combined)
        assert int(count[0, 0]) == 3
        check(combine(stack, method=method, clip="frame", **kw),
              astropy_route(stack, method, "frame", **kw).combined)


# 5. Huge floats -----------------------------------------------------------------


@pytest.mark.parametrize("values", [[-1e200, 1.0], [1.0, 2.0, 3.0, 2e154], [1e308, -1e308, 0.0]])
@pytest.mark.parametrize("clip", ["frame", "pixel"])
def test_case5_huge_floats(values, clip):
    stack = np.array(values).reshape(1, 1, -1) if clip == "frame" else np.array(values).reshape(-1, 1, 1)
    for method in ("mean", "median"):
        with np.errstate(over="ignore"):
            expected = astropy_route(stack, method, clip).combined
        if clip == "frame" and method == "median":
            # One value per pixel: its median is itself (np.nanmedian computes
            # (x + x) / 2, which overflows to inf for 1e308; combine does not).
            expected = np.where(np.isinf(expected), stack[0], expected)
        check(combine(stack, method=method, clip=clip), expected)


# 6. Cancelling outliers ---------------------------------------------------------


@pytest.mark.parametrize("stdfunc", ["mad_std", "std"])
def test_case6_cancelling_outliers(stdfunc):
    stack = np.array([0, 0, -1e30, 0, 1, 1e30, 0], dtype=np.float32).reshape(-1, 1, 1)
    kw = dict(sigma=1, maxiters=1, cenfunc="mean", stdfunc=stdfunc)
    for method in ("mean", "median"):
        out, mask = combine(stack, method=method, clip="pixel", return_mask=True, **kw)
        check(out, astropy_route(stack, method, "pixel", **kw).combined)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = sigma_clip(stack.astype(np.float64), axis=0, masked=True, **kw).mask
        np.testing.assert_array_equal(mask, ref)


# 7. Files, file names, memory limit, units --------------------------------------


def _good_file(path):
    fits.PrimaryHDU(np.full((4, 5), 817, dtype=np.uint16)).writeto(path)
    return path


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage", "no-data-block"])
def test_case7_bad_fits_files_are_named(tmp_path, damage):
    paths = [_good_file(tmp_path / f"b{i}.fits") for i in range(3)]
    bad = paths[1]
    raw = bad.read_bytes()
    bad.write_bytes({"truncated": raw[:2880 + 10], "empty": b"",
                     "garbage": b"not a FITS file at all" * 200,
                     "no-data-block": raw[:2880]}[damage])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(OSError, match="b1.fits") as info:
            combine(paths)
    assert "frame 1" in str(info.value)
    assert caught == []  # astropy's warnings are in the message, not printed before it


def test_case7_array_or_column_of_file_names(tmp_path):
    paths = [_good_file(tmp_path / f"b{i}.fits") for i in range(3)]
    names = np.array([str(p) for p in paths])
    np.testing.assert_array_equal(combine(names), 817)
    table = Table({"file": names})
    np.testing.assert_array_equal(combine(table["file"]), 817)


def test_case7_infinite_memory_limit():
    stack = np.arange(24, dtype=np.uint16).reshape(3, 2, 4)
    check(combine(stack, memory_limit=float("inf")), np.median(stack, axis=0))


def test_case7_quantity_keeps_its_unit():
    stack = np.arange(24, dtype=np.float32).reshape(3, 2, 4) * u.electron
    out = combine(stack, method="mean")
    assert out.unit == u.electron
    np.testing.assert_allclose(out.value, np.mean(stack.value, axis=0))
    frames = [np.full((2, 2), 1.0) * u.adu, np.full((2, 2), 3.0) * u.adu]
    out, count = combine(frames, method="mean", return_count=True)
    assert out.unit == u.adu and not hasattr(count, "unit")


def test_case7_mixed_or_missing_units_are_refused():
    with pytest.raises(ValueError, match="unit"):
        combine([np.ones((2, 2)) * u.adu, np.ones((2, 2)) * u.electron])
    with pytest.raises(ValueError, match="unit"):
        combine([np.ones((2, 2)) * u.adu, np.ones((2, 2))])
