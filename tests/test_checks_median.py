"""The checks' fast median gives ``np.median``'s value bit for bit, whatever the values."""

import zlib

import numpy as np
import pytest

from course_utils.checks._references import MEDIAN_DIRECT, exact_median


def _values(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "normal":
        return rng.normal(1000.0, 5.0, n)
    if kind == "ties":  # a few distinct values: the middle sits inside a long run of equal values
        return rng.integers(0, 4, n).astype(np.float64)
    if kind == "skewed":  # most values far below the median's neighbourhood in a sparse sample
        return np.concatenate([np.zeros(n // 2 - 3), rng.exponential(1.0, n - n // 2 + 3)])
    if kind == "infinities":
        values = rng.normal(0.0, 1.0, n)
        values[rng.integers(0, n, 500)] = np.inf
        values[rng.integers(0, n, 300)] = -np.inf
        return values
    if kind == "nan":
        values = rng.normal(0.0, 1.0, n)
        values[rng.integers(0, n)] = np.nan
        return values
    if kind == "sorted":
        return np.sort(rng.normal(0.0, 1.0, n))
    if kind == "huge":  # the mean of the two middle values must not overflow differently
        return np.full(n, np.finfo(np.float64).max) * rng.choice([-1.0, 1.0], n)
    raise ValueError(kind)


@pytest.mark.filterwarnings("ignore:overflow encountered")  # np.median itself, on "huge"
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.dtype(">f8")])
@pytest.mark.parametrize("extra", [0, 1])  # even and odd counts
@pytest.mark.parametrize("kind", ["normal", "ties", "skewed", "infinities", "nan", "sorted", "huge"])
def test_exact_median_equals_numpy_median(kind, extra, dtype):
    rng = np.random.default_rng(zlib.crc32(f"{kind}-{extra}-{np.dtype(dtype).str}".encode()))
    values = _values(kind, 2 * MEDIAN_DIRECT + extra, rng).astype(dtype)
    expected = np.median(values)
    got = exact_median(values)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)  # NaN equals NaN, and every bit of the rest


def test_exact_median_of_a_transposed_image_and_of_integers():
    rng = np.random.default_rng(7)
    image = rng.normal(100.0, 3.0, (700, 900)).astype(np.float32)
    assert exact_median(image.T) == np.median(image.T)
    counts = rng.integers(0, 65535, (700, 900), dtype=np.uint16)
    assert exact_median(counts) == np.median(counts)
