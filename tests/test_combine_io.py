"""course_utils.combine and read_stack: FITS input, progress bar, errors, memory.

Every test runs twice, on the numba kernels and on the numpy engine (the
``backend`` fixture sets ``COURSE_UTILS_BACKEND``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from engines import backend  # noqa: F401  (every test runs on both engines)

from course_utils import combine
from course_utils import read_stack


def write_frames(folder: Path, stack: np.ndarray, prefix: str = "b") -> list[Path]:
    paths = []
    for i, frame in enumerate(stack):
        paths.append(folder / f"{prefix}{i:04d}c1.fits")
        fits.PrimaryHDU(frame).writeto(paths[-1])
    return paths


def frames(n=12, shape=(6, 7), dtype=np.uint16, seed=0):
    rng = np.random.default_rng(seed)
    return np.round(rng.normal(817, 4, size=(n,) + shape)).astype(dtype)


# ---------------------------------------------------------------------------
# Reading FITS files
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.uint8, np.int32, np.float32, np.float64])
def test_read_stack_keeps_the_files_type(tmp_path, dtype):
    stack = frames(3, dtype=dtype)
    stack[0, 0, 0] = 60000 if dtype == np.uint16 else stack[0, 0, 0]
    paths = write_frames(tmp_path, stack)
    read = read_stack(paths)
    assert read.dtype == np.dtype(dtype) and read.dtype.isnative
    np.testing.assert_array_equal(read, stack)
    np.testing.assert_array_equal(read, np.array([fits.getdata(p) for p in paths]))


def test_read_stack_course_style_uint16_with_bzero(tmp_path):
    """The course's raw frames: BITPIX 16, BZERO 32768, read as uint16."""
    stack = frames(3)
    stack[1, 2, 3] = 65535
    stack[2, 0, 0] = 0
    paths = write_frames(tmp_path, stack)
    header = fits.getheader(paths[0])
    assert header["BITPIX"] == 16 and header["BZERO"] == 32768
    read = read_stack(paths)
    assert read.dtype == np.uint16
    np.testing.assert_array_equal(read, stack)


def test_read_stack_scaled_data(tmp_path):
    """BSCALE/BZERO other than the unsigned convention: astropy's scaled values."""
    paths = []
    for i in range(3):
        hdu = fits.PrimaryHDU(np.arange(12, dtype=np.int16).reshape(3, 4) + i)
        hdu.header["BSCALE"] = 0.5
        hdu.header["BZERO"] = 10.0
        paths.append(tmp_path / f"s{i}.fits")
        hdu.writeto(paths[-1])
    read = read_stack(paths)
    np.testing.assert_array_equal(read, np.array([fits.getdata(p) for p in paths]))
    assert read.dtype.kind == "f"


def test_read_stack_by_extension_name_and_index(tmp_path):
    paths = []
    for i in range(2):
        image = fits.ImageHDU(np.full((3, 4), i, dtype=np.float32), name="SCI")
        paths.append(tmp_path / f"e{i}.fits")
        fits.HDUList([fits.PrimaryHDU(), image]).writeto(paths[-1])
    np.testing.assert_array_equal(read_stack(paths, hdu="SCI")[:, 0, 0], [0, 1])
    np.testing.assert_array_equal(read_stack(paths, hdu=1)[:, 0, 0], [0, 1])
    np.testing.assert_array_equal(read_stack(paths)[:, 0, 0], [0, 1])  # the first image HDU
    with pytest.raises(ValueError, match=r"e0\.fits.*HDU 0.*no image data"):
        read_stack(paths, hdu=0)  # the primary HDU is empty
    empty = tmp_path / "empty.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(
        [fits.Column(name="a", format="E", array=np.zeros(2))])]).writeto(empty)
    with pytest.raises(ValueError, match=r"empty\.fits.*no image data in any of its 2 HDU"):
        read_stack([empty])
    with pytest.raises(ValueError, match=r"no HDU 'DARK'"):
        read_stack(paths, hdu="DARK")


def test_combine_from_paths_equals_combine_from_arrays(tmp_path):
    stack = frames(15, shape=(20, 25))
    stack[3, 4, 5] = 9000
    paths = write_frames(tmp_path, stack)
    for clip in (None, "pixel", "frame"):
        for method in ("median", "mean"):
            expected = combine(stack, method=method, clip=clip, return_count=True, return_mask=True)
            got = combine(paths, method=method, clip=clip, return_count=True, return_mask=True,
                          progress=False)
            for a, b in zip(got, expected):
                np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(combine([str(p) for p in paths], progress=False), combine(stack))


@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.uint8, np.float32, np.float64])
def test_combine_from_files_a_band_at_a_time_equals_combine_of_the_stack(tmp_path, dtype):
    """File names are read a band of rows at a time (the next band while one is combined)."""
    stack = frames(9, shape=(37, 11), dtype=dtype, seed=3)
    stack[2, 5, 6] = 200 if dtype == np.uint8 else 9000
    paths = write_frames(tmp_path, stack)
    weights = np.arange(1.0, 10.0)
    for kw in ({"clip": None, "method": "median"}, {"clip": "pixel", "method": "mean"},
               {"clip": "pixel", "method": "sum"}, {"clip": "pixel", "method": "mean", "weights": weights},
               {"clip": None, "method": "sum", "weights": weights}):
        for limit in (None, 4 * 2**20):
            expected = combine(read_stack(paths), return_count=True, return_mask=True,
                               memory_limit=limit, **kw)
            got = combine(paths, return_count=True, return_mask=True, memory_limit=limit,
                          progress=False, **kw)
            for a, b in zip(got, expected):
                np.testing.assert_array_equal(a, b)


def test_files_astropy_must_scale_or_of_several_types_are_read_as_read_stack_does(tmp_path):
    stack = frames(4, shape=(9, 8), dtype=np.int16)
    paths = write_frames(tmp_path, stack)
    small = tmp_path / "u8.fits"  # uint8 fits in the first file's int16
    fits.PrimaryHDU(np.full((9, 8), 200, dtype=np.uint8)).writeto(small)
    scaled = tmp_path / "scaled.fits"  # BSCALE: astropy scales it (float)
    hdu = fits.PrimaryHDU(np.full((9, 8), 400, dtype=np.int16))
    hdu.header["BSCALE"] = 2.0
    hdu.writeto(scaled)
    for names in (paths + [small], [scaled] + paths):
        expected = combine(read_stack(names), clip="pixel", return_mask=True)
        got = combine(names, clip="pixel", return_mask=True)
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match=r"Frame 4 \(.*scaled\.fits\) has data type float32.*int16"):
        combine(paths + [scaled])


# ---------------------------------------------------------------------------
# Progress bar
# ---------------------------------------------------------------------------


def _stderr_of(code: str, paths, *, tqdm_disable: bool) -> str:
    """Run ``code`` in a fresh interpreter (``paths`` as ``sys.argv[1:]``); return stderr.

    tqdm reads ``TQDM_DISABLE`` once, when it is imported, and the course's
    commands set it for the whole test run (progress bars would make notebook
    outputs vary). A fresh interpreter is the only honest way to see the bar a
    student sees.
    """
    env = {k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"}
    if tqdm_disable:
        env["TQDM_DISABLE"] = "1"
    script = "import sys\nfrom course_utils import combine, read_stack\n" + code
    result = subprocess.run([sys.executable, "-c", script, *map(str, paths)], env=env,
                            capture_output=True, text=True, check=True)
    return result.stderr


def test_progress_bar_for_ten_files_or_more(tmp_path):
    paths = write_frames(tmp_path, frames(10))
    err = _stderr_of("read_stack(sys.argv[1:])", paths, tqdm_disable=False)
    assert "Reading FITS files" in err and "10/10" in err
    err = _stderr_of("combine(sys.argv[1:])", paths, tqdm_disable=False)
    assert "10/10" in err


def test_no_progress_bar_when_asked_or_for_few_files(tmp_path):
    paths = write_frames(tmp_path, frames(10))
    code = ("read_stack(sys.argv[1:], progress=False)\n"
            "combine(sys.argv[1:], progress=False)\n"
            "read_stack(sys.argv[1:10])\n")
    assert _stderr_of(code, paths, tqdm_disable=False) == ""
    err = _stderr_of("read_stack(sys.argv[1:4], progress=True)", paths, tqdm_disable=False)
    assert "3/3" in err


def test_tqdm_disable_environment_variable_hides_it(tmp_path):
    paths = write_frames(tmp_path, frames(10))
    code = "read_stack(sys.argv[1:], progress=True)\nread_stack(sys.argv[1:])\n"
    err = _stderr_of(code, paths, tqdm_disable=True)
    assert "Reading" not in err and "10/10" not in err
    assert "10/10" in _stderr_of(code, paths, tqdm_disable=False)


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


def test_frames_of_different_shapes_name_the_frame_and_both_shapes():
    with pytest.raises(ValueError, match=r"Frame 2 has shape \(4, 5\), but frame 0 has shape \(4, 4\)"):
        combine([np.zeros((4, 4)), np.zeros((4, 4)), np.zeros((4, 5))])


def test_fits_file_of_another_shape_is_named(tmp_path):
    paths = write_frames(tmp_path, frames(3))
    odd = tmp_path / "odd.fits"
    fits.PrimaryHDU(np.zeros((6, 8), dtype=np.uint16)).writeto(odd)
    with pytest.raises(ValueError, match=r"Frame 3 \(.*odd\.fits\) has shape \(6, 8\).*\(6, 7\)"):
        combine(paths + [odd])


def test_missing_file_is_named(tmp_path):
    paths = write_frames(tmp_path, frames(2))
    with pytest.raises(FileNotFoundError, match="nothere.fits"):
        combine(paths + [tmp_path / "nothere.fits"])
    with pytest.raises(FileNotFoundError, match="nothere.fits"):
        read_stack([tmp_path / "nothere.fits"])


def test_fits_file_without_image(tmp_path):
    table = fits.BinTableHDU.from_columns([fits.Column(name="x", format="E", array=np.arange(3.0))])
    path = tmp_path / "table.fits"
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    with pytest.raises(ValueError, match=r"table\.fits.*no image data"):
        combine([path, path])
    with pytest.raises(ValueError, match=r"table\.fits.*HDU 1 \(BinTableHDU\).*no image data"):
        read_stack([path], hdu=1)


def test_file_of_another_type(tmp_path):
    paths = write_frames(tmp_path, frames(2))
    other = tmp_path / "float.fits"
    fits.PrimaryHDU(np.zeros((6, 7), dtype=np.float32)).writeto(other)
    with pytest.raises(TypeError, match=r"float\.fits.*float32.*uint16"):
        read_stack(paths + [other])


@pytest.mark.parametrize("empty", [[], (), np.zeros((0, 3, 4))])
def test_no_frames(empty):
    with pytest.raises(ValueError, match="No frames to combine"):
        combine(empty)
    if not isinstance(empty, np.ndarray):
        with pytest.raises(ValueError, match="at least one FITS file"):
            read_stack(empty)


@pytest.mark.parametrize("bad", [np.zeros((3, 2, 2), dtype=bool), np.zeros((3, 2, 2), dtype=complex),
                                 np.array([[["a"]]]), np.zeros((3, 2, 2), dtype=object)])
def test_non_numeric_data(bad):
    with pytest.raises(TypeError, match="integer or floating-point"):
        combine(bad)
    with pytest.raises(TypeError, match="integer or floating-point"):
        combine(list(bad))


def test_a_single_frame_where_a_stack_is_expected():
    with pytest.raises(ValueError, match=r"list of 2-D frames or a 3-D array"):
        combine(np.zeros((4, 5)))
    with pytest.raises(ValueError, match="4-D array"):
        combine(np.zeros((2, 3, 4, 5)))
    with pytest.raises(ValueError, match=r"Frame 1 has 1 dimension"):
        combine([np.zeros((2, 2)), np.zeros(4)])
    with pytest.raises(ValueError, match="single path"):
        combine("b0860c1.fits")


def test_mixed_paths_and_arrays():
    with pytest.raises(TypeError, match="mixes FITS paths"):
        combine(["a.fits", np.zeros((2, 2))])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "average"}, r"method='average'.*\('median', 'mean', 'sum'\)"),
        ({"method": None}, "method=None"),
        ({"clip": "pixels"}, r"clip='pixels'.*\(None, 'frame', 'pixel'\)"),
        ({"clip": True}, "clip=True"),
        ({"cenfunc": "mode"}, r"cenfunc='mode'"),
        ({"cenfunc": np.median}, "not a function"),
        ({"stdfunc": "mad"}, r"stdfunc='mad'.*'mad_std'"),
        ({"stdfunc": np.std}, "not a function"),
        ({"sigma": 0}, "sigma must be a positive"),
        ({"sigma": -1.0}, "sigma must be a positive"),
        ({"sigma": np.nan}, "sigma must be a positive"),
        ({"sigma": "3"}, "sigma must be a positive"),
        ({"sigma_lower": 0.0}, "sigma_lower must be a positive"),
        ({"sigma_upper": np.inf}, "sigma_upper must be a positive"),
        ({"maxiters": 0}, "maxiters must be"),
        ({"maxiters": 2.5}, "maxiters must be"),
        ({"maxiters": True}, "maxiters must be"),
        ({"memory_limit": 1000}, "memory_limit must be"),
        ({"memory_limit": "1GB"}, "memory_limit must be"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        combine(np.zeros((3, 2, 2)), **kwargs)


@pytest.mark.parametrize("kwargs", [{"return_count": 1}, {"return_mask": "yes"}, {"progress": "auto"}])
def test_bad_flags(kwargs):
    with pytest.raises(TypeError, match="must be True"):
        combine(np.zeros((3, 2, 2)), **kwargs)


# ---------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------


def peak_during(func):
    """Peak memory traced while ``func`` runs, beyond what was traced before."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        result = func()
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    return peak, result


@pytest.fixture(scope="module")
def big_stack():
    """40 frames of 512 x 512 uint16 (21 MB), with cosmic rays."""
    stack = frames(40, shape=(512, 512), seed=1)
    rng = np.random.default_rng(2)
    stack[rng.integers(0, 40, 4000), rng.integers(0, 512, 4000), rng.integers(0, 512, 4000)] = 20000
    return stack


@pytest.mark.parametrize("clip", [None, "pixel", "frame"])
@pytest.mark.parametrize("method", ["median", "mean"])
def test_extra_memory_is_at_most_half_the_uint16_stack(big_stack, clip, method):
    output = big_stack[0].size * 4  # the float32 result
    peak, _ = peak_during(lambda: combine(big_stack, method=method, clip=clip))
    assert peak - output <= 0.5 * big_stack.nbytes, f"{(peak - output) / 2**20:.1f} MiB"


@pytest.mark.parametrize("clip", [None, "pixel", "frame"])
def test_memory_limit_is_respected(big_stack, clip):
    limit = 6 * 2**20
    output = big_stack[0].size * (4 + 8)  # result and count
    peak, _ = peak_during(lambda: combine(list(big_stack), clip=clip, memory_limit=limit,
                                          return_count=True))
    assert peak - output <= limit, f"{(peak - output) / 2**20:.1f} MiB"


@pytest.mark.parametrize("clip", ["pixel", "frame"])
@pytest.mark.parametrize("options", [{"nlow": 1, "nhigh": 1}, {"nlow": 2, "scale": "flat"}])
def test_extrema_and_scale_work_a_band_at_a_time(big_stack, clip, options):
    """nlow/nhigh (with scale= or not): no whole float copy of the stack, at most the stack's size more."""
    options = dict(options)
    if options.get("scale") == "flat":
        options["scale"] = 1 / np.median(big_stack.reshape(len(big_stack), -1), axis=1)
    output = big_stack[0].size * 4
    peak, result = peak_during(lambda: combine(big_stack, clip=clip, **options))
    assert peak - output <= 1.0 * big_stack.nbytes, f"{(peak - output) / 2**20:.1f} MiB"


@pytest.mark.parametrize("method", ["median", "mean"])
def test_memory_from_fits_files(big_stack, tmp_path, method):
    """From files, no whole stack is read: bands of rows, and the engine, stay within the bound."""
    paths = write_frames(tmp_path, big_stack)
    output = big_stack[0].size * 4
    peak, result = peak_during(lambda: combine(paths, method=method, clip="pixel", progress=False))
    assert peak - output <= 0.5 * big_stack.nbytes, f"{(peak - output) / 2**20:.1f} MiB"
    np.testing.assert_array_equal(result, combine(big_stack, method=method, clip="pixel"))
