"""combine() at the edges (issue 22's findings 1-7), on both engines.

1. numba's JIT switched off (``NUMBA_DISABLE_JIT=1``): exact results, on the
   numpy engine, and the log says so;
2. weights from 1e-300 to 1e300: ``np.ma.average``'s answer wherever it is
   finite;
3. means and sums of float64 values near its largest: the numpy engine's;
4. statistics that overflow float64: every value kept, as astropy does;
5. ``method='sum'``: ``np.nansum`` of the kept values, to the last bit;
6. FITS images in extension 1 (``CompImageHDU``), or chosen with ``hdu=``;
7. file names as bytes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from astropy.io import fits

from engines import astropy_route, backend  # noqa: F401  (every test runs on both engines)

from course_utils import combine, read_stack

BIG = np.finfo(np.float64).max


# ---------------------------------------------------------------------------
# 1. NUMBA_DISABLE_JIT
# ---------------------------------------------------------------------------

JIT_OFF = r"""
import json, logging, sys
import numpy as np
from course_utils import combine, prepare_kernels
records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append({"level": record.levelname, "engine": getattr(record, "engine", None),
                        "message": record.getMessage()})
log = logging.getLogger("course_utils.combine")
log.setLevel(logging.DEBUG)
log.addHandler(Keep())
stack = np.round(np.random.default_rng(5).normal(817, 40, size=(25, 40, 50))).astype(np.uint16)
stack[3, 4, 5] = 60000
results = {}
for name, kw in [("median", {}), ("mean", {"method": "mean"}),
                 ("pixel", {"method": "mean", "clip": "pixel", "cenfunc": "mean"}),
                 ("frame", {"clip": "frame"})]:
    for call in range(3):  # the first call, and the calls after a background compilation
        results.setdefault(name, []).append(combine(stack, **kw).tolist())
results["numba"] = combine(stack, backend="numba").tolist()
results["prepared"] = prepare_kernels()
print(json.dumps({"results": results, "records": records}))
"""


def test_numba_jit_disabled_gives_exact_results_on_the_numpy_engine(backend, tmp_path):
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", NUMBA_CACHE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", JIT_OFF], capture_output=True, text=True,
                          env=env, check=True, timeout=600)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    results = report["results"]
    stack = np.round(np.random.default_rng(5).normal(817, 40, size=(25, 40, 50))).astype(np.uint16)
    stack[3, 4, 5] = 60000
    expected = {
        "median": astropy_route(stack, "median")[0],
        "mean": astropy_route(stack, "mean")[0],
        "pixel": astropy_route(stack, "mean", "pixel", cenfunc="mean")[0],
        "frame": astropy_route(stack, "median", "frame")[0],
    }
    for name, reference in expected.items():
        for got in results[name]:
            np.testing.assert_allclose(got, reference.astype(np.float32), rtol=0, atol=0)
    np.testing.assert_array_equal(results["numba"], expected["median"].astype(np.float32))
    assert results["prepared"] == "numpy"
    engines = {r["engine"] for r in report["records"] if r["engine"] is not None}
    assert engines == {"numpy"}
    warned = [r for r in report["records"] if r["level"] == "WARNING"]
    if backend == "numba":  # (with the numpy backend nothing asked for numba)
        assert len(warned) == 1 and "NUMBA_DISABLE_JIT" in warned[0]["message"]
    debug = [r["message"] for r in report["records"] if r["engine"] is not None]
    assert any("NUMBA_DISABLE_JIT" in m for m in debug)


# ---------------------------------------------------------------------------
# 2. Weights of very different sizes
# ---------------------------------------------------------------------------


def exact_weighted_mean(values, weights):
    """sum(w * x) / sum(w) in rational arithmetic, correctly rounded (NaN if sum(w) is 0)."""
    den = sum(Fraction(float(w)) for w in weights)
    num = sum(Fraction(float(w)) * Fraction(float(x)) for w, x in zip(weights, values))
    return float(num / den) if den else np.nan


def test_weights_from_1e_minus_300_to_1e300_give_np_ma_average():
    rng = np.random.default_rng(3)
    stack = rng.normal(817, 4, size=(8, 6, 7))
    stack[1, 2, 3] = 9000.0  # clipped: its weight, the largest, no longer counts
    weights = 10.0 ** rng.uniform(-300, 300, size=stack.shape)
    weights[1, 2, 3] = 1e300
    weights[:, 2, 3] = np.where(np.arange(8) == 1, 1e300, 1e-300)  # kept: only weights of 1e-300
    got, mask = combine(stack, method="mean", clip="pixel", weights=weights, return_mask=True)
    assert mask[1, 2, 3] and mask.sum() == 1
    with np.errstate(all="ignore"):
        expected = np.ma.average(np.ma.masked_array(stack, mask), weights=weights, axis=0)
    assert np.isfinite(expected.filled(np.nan)).all()
    np.testing.assert_array_equal(got, expected.filled(np.nan))
    assert got[2, 3] == pytest.approx(np.mean(np.delete(stack[:, 2, 3], 1)), rel=1e-12)


def test_weights_np_ma_average_cannot_handle_give_the_exact_mean():
    """Where np.ma.average over- or underflows, the mean is still sum(w * x) / sum(w)."""
    stack = np.array([[[1e10, 0.5, 3e-300, 1e300]], [[3e10, 1.5, 1e-300, 1e-300]]])
    weights = np.array([[[1e300, 1e308, 1.0, 1e300]], [[1e300, 1e308, 3.0, 1e-300]]])
    got = combine(stack, method="mean", weights=weights)
    expected = [exact_weighted_mean(stack[:, 0, j], weights[:, 0, j]) for j in range(4)]
    np.testing.assert_allclose(got[0], expected, rtol=1e-15)
    with np.errstate(all="ignore"):
        average = np.average(stack, weights=weights, axis=0)
    assert not np.isfinite(average[0, :2]).any()  # (w * x and sum(w) overflow)


def test_weighted_sum_that_overflows_names_the_pixel():
    with pytest.raises(ValueError, match=r"pixel \(0, 1\) overflows"):
        combine(np.full((2, 1, 2), 1e10), method="sum", weights=[[[1.0, 1e300]], [[1.0, 1e300]]])


# ---------------------------------------------------------------------------
# 3 and 4. float64 near its largest value
# ---------------------------------------------------------------------------

EDGE = np.array([
    [[BIG, BIG / 2, BIG, -BIG]],
    [[-BIG, BIG / 2, BIG, BIG]],
    [[0.0, -BIG, -BIG, 1.0]],
])


@pytest.mark.parametrize("method", ["mean", "median"])
def test_means_near_float64_max_match_the_numpy_engine(method):
    """The kernels' shifted sums overflow there: those pixels are the numpy engine's."""
    got = combine(EDGE, method=method)
    np.testing.assert_array_equal(got, combine(EDGE, method=method, backend="numpy"))
    if method == "median":
        np.testing.assert_array_equal(got, np.median(EDGE, axis=0))
    else:  # (cancelling sums: exact only in some order; the mean of [max, -max] is 0)
        assert got[0, 0] == 0.0 and got[0, 1] == 0.0


def test_sums_near_float64_max_are_np_nansum_or_name_the_overflow():
    edge = EDGE[:, :, [0, 1, 3]]
    np.testing.assert_array_equal(combine(edge, method="sum"), np.nansum(edge, axis=0))
    with pytest.raises(ValueError, match=r"sum at pixel \(0, 2\) overflows float64"):
        combine(EDGE, method="sum")  # (max + max - max: np.nansum gives inf)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_means_near_the_type_limits_match_the_numpy_engine(dtype):
    top = np.finfo(dtype).max
    tiny = np.finfo(dtype).smallest_subnormal
    stack = np.array([[[top, top, -top, tiny, top / 3]], [[-top, top, -top, 3 * tiny, top / 3]],
                      [[top, top, top, 2 * tiny, top / 3]]], dtype=dtype)
    got = combine(stack, method="mean")
    np.testing.assert_array_equal(got, combine(stack, method="mean", backend="numpy"))
    if dtype == np.float32:  # (combined in float64: no overflow, then rounded)
        expected = np.mean(stack.astype(np.float64), axis=0).astype(np.float32)
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("clip", ["frame", "pixel"])
def test_statistics_that_overflow_keep_every_value_as_astropy(clip):
    stacks = [
        np.array([[[BIG, BIG], [1.0, 2.0]]] * 3),
        np.array([[[BIG, BIG], [BIG, BIG]], [[BIG, -BIG], [BIG, BIG]], [[1.0, 2], [3, 4]]]),
        np.array([[[BIG, BIG], [-BIG, -BIG]]] * 3),
    ]
    for stack in stacks:
        for cenfunc in ("mean", "median"):
            got, count = combine(stack, method="median", clip=clip, cenfunc=cenfunc,
                                 return_count=True)
            expected_count = astropy_route(stack, "median", clip, cenfunc=cenfunc)[1]
            np.testing.assert_array_equal(count, expected_count)
            np.testing.assert_array_equal(count, len(stack))  # every value kept
            # (np.nanmedian of three 1.8e308 is inf: it averages the middle value with itself)
            np.testing.assert_array_equal(got, np.median(stack, axis=0))


# ---------------------------------------------------------------------------
# 5. Sums exactly as np.nansum
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_sum_is_np_nansum_to_the_last_bit(dtype):
    rng = np.random.default_rng(11)
    stack = (rng.normal(817, 40, size=(30, 20, 24)) * rng.uniform(0.1, 10, size=(30, 1, 1)))
    stack[4, 5, 6] = 9e4
    stack = stack.astype(dtype)
    factors = rng.uniform(0.3, 3, size=30)
    for kw in ({}, {"clip": "pixel"}, {"clip": "pixel", "scale": factors}, {"clip": "frame"}):
        got, mask = combine(stack, method="sum", return_mask=True, **kw)
        data = stack.astype(np.float64) * (factors[:, None, None] if "scale" in kw else 1.0)
        expected = np.nansum(np.where(mask, np.nan, data), axis=0)
        np.testing.assert_array_equal(got, expected)


def test_sum_of_subnormal_values_is_exact():
    tiny = np.array([[[5e-324, 3e-310]], [[1e-320, 2e-311]], [[7e-323, 4e-309]]])
    got = combine(tiny, method="sum")
    np.testing.assert_array_equal(got, np.nansum(tiny, axis=0))
    np.testing.assert_array_equal(got, tiny.sum(axis=0))  # (subnormal sums are exact)


# ---------------------------------------------------------------------------
# 6 and 7. FITS extensions, compressed images, bytes paths
# ---------------------------------------------------------------------------


def test_combine_reads_compressed_images_in_extension_1(tmp_path):
    rng = np.random.default_rng(2)
    stack = np.round(rng.normal(817, 4, size=(5, 12, 15))).astype(np.int16)
    paths = []
    for i, frame in enumerate(stack):
        paths.append(tmp_path / f"c{i}.fits.fz")
        fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(frame, name="SCI")]).writeto(paths[-1])
    with fits.open(paths[0]) as hdul:
        assert isinstance(hdul[1], fits.CompImageHDU)
    expected = combine(stack, clip="pixel")
    np.testing.assert_array_equal(combine(paths, clip="pixel"), expected)
    np.testing.assert_array_equal(combine(paths, clip="pixel", hdu=1), expected)
    np.testing.assert_array_equal(combine(paths, clip="pixel", hdu="SCI"), expected)
    np.testing.assert_array_equal(read_stack(paths), stack)
    with pytest.raises(ValueError, match=r"c0\.fits\.fz.*HDU 0.*no image data"):
        combine(paths, hdu=0)
    with pytest.raises(ValueError, match=r"hdu=1 applies to FITS file names only"):
        combine(stack, hdu=1)


def test_bytes_paths_are_read_as_paths(tmp_path):
    stack = np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5)
    paths = []
    for i, frame in enumerate(stack):
        paths.append(tmp_path / f"b{i}.fits")
        fits.PrimaryHDU(frame).writeto(paths[-1])
    names = [os.fsencode(p) for p in paths]
    np.testing.assert_array_equal(combine(names, method="mean"), combine(stack, method="mean"))
    np.testing.assert_array_equal(combine(tuple(names)), combine(stack))
    np.testing.assert_array_equal(read_stack(names), stack)
    np.testing.assert_array_equal(combine(np.array(names)), combine(stack))
    with pytest.raises(ValueError, match="single path"):
        combine(names[0])
    with pytest.raises(TypeError, match="mixes FITS paths"):
        combine([names[0], stack[0]])


@pytest.mark.parametrize("cenfunc", ["mean", "median"])
def test_clipped_means_near_float64_max_match_the_numpy_engine(cenfunc):
    top = BIG
    stack = np.array([[[top, top / 3, -top, 5.0]], [[top, top / 3, -top, 5.0]],
                      [[top, top / 3, -top, 5.0]], [[top, top / 3, -top, 5.0]]])
    got, count = combine(stack, method="mean", clip="pixel", cenfunc=cenfunc, return_count=True)
    reference, expected_count = combine(stack, method="mean", clip="pixel", cenfunc=cenfunc,
                                        backend="numpy", return_count=True)
    np.testing.assert_array_equal(got, reference)
    np.testing.assert_array_equal(count, expected_count)
