"""course_utils.combine equals the astropy route on random stacks (hypothesis).

The reference is what a student would write: ``sigma_clip`` with string
``cenfunc``/``stdfunc`` and the matching axis (0 per pixel, (1, 2) per
frame), ``masked=False``, then ``np.nanmedian``/``np.nanmean`` along the
stack, on the data as float64 with masked values as NaN. Stacks vary in
depth (1 to 60), type (7 integer and float types, both byte orders), values
(ties of small integers, noise, outliers, huge values, NaN and ±inf) and
masks; options cover every clip mode, ``sigma_lower``/``sigma_upper``,
``maxiters`` including None and both ``cenfunc``s and ``stdfunc``s. Both
engines are tested (``backend=``). Results agree to 1e-6 relative (a mean
of values that cancel, such as 1e30 and -1e30, to the rounding of its sums)
(exactly for the median of 16-bit integers); counts and masks exactly.
Further tests add extrema rejection and ``method='sum'`` (against the same
route on the stack without its extremes, and ``nansum``), and ``scale=``
and ``weights=`` (against the route on the scaled float64 stack, and
``np.ma.average`` of the values it keeps). Values near each type's limits
(``kind='limits'``: float64 and float32 values near their largest, integers
at their smallest and largest) and weights spanning 1e-300 to 1e300 are
among the examples; counts and masks agree exactly there too, and results
wherever a sum's overflow does not depend on the order of adding. One run
of the main property repeats in a subprocess with ``NUMBA_DISABLE_JIT=1``.

The number of examples is bounded (``max_examples``; the environment
variable ``COMBINE_PROPERTY_EXAMPLES`` lowers it for the subprocess run) so
that this module takes well under a minute on two cores; ``EXAMPLES``
counts them per engine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engines import astropy_route, needs_numba

from course_utils import combine

#: Examples run per engine (printed by test_examples_ran at the end).
EXAMPLES: Counter = Counter()

DTYPES = ["uint16", "int16", "int32", "uint32", "int64", "float32", "float64"]
HUGE = {"f4": 1e30, "f8": 1e200}
BIG = np.finfo(np.float64).max
#: Examples of the main property (fewer in the NUMBA_DISABLE_JIT subprocess).
MAIN_EXAMPLES = int(os.environ.get("COMBINE_PROPERTY_EXAMPLES", "200"))


@st.composite
def stacks(draw):
    """A (N, ny, nx) stack of one type and byte order, maybe masked."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES))).newbyteorder(draw(st.sampled_from("<>")))
    n = draw(st.integers(1, 60))
    shape = (n, draw(st.integers(1, 3)), draw(st.integers(1, 4)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["ties", "noise", "outliers", "huge", "limits"]))
    if kind == "ties":
        values = rng.integers(0, draw(st.integers(1, 4)), size=shape).astype(np.float64)
    else:
        values = np.round(rng.normal(817, 4, size=shape))
        if dtype.kind == "f":
            values = rng.normal(817, 4, size=shape)
    if kind == "limits":  # near the type's largest (floats) or its ends (integers)
        if dtype.kind == "f":
            top = float(np.finfo(dtype).max)
            values = rng.choice([-1, 1, 1], size=shape) * top * rng.uniform(0.2, 1, size=shape)
            values[rng.random(shape) < 0.3] = 817.0
        else:
            info = np.iinfo(dtype)
            ends = np.array([info.min, info.max], dtype=np.float64)
            values = ends[rng.integers(0, 2, size=shape)] + rng.integers(-2, 3, size=shape)
    elif kind in ("outliers", "huge") and n > 1:
        k = draw(st.integers(1, max(1, n // 3)))
        idx = tuple(rng.integers(0, s, size=k) for s in shape)
        if kind == "outliers":
            values[idx] += rng.choice([-1, 1], size=k) * rng.uniform(50, 5000, size=k)
        elif dtype.kind == "f":
            values[idx] = rng.choice([-1, 1], size=k) * HUGE[dtype.str[1:]]
        else:
            info = np.iinfo(dtype)
            values[idx] = rng.choice([info.min, info.max], size=k)
    if dtype.kind == "u":
        values = np.clip(values, 0, None)
    if dtype.kind in "ui":
        values = np.clip(values, np.iinfo(dtype).min, np.iinfo(dtype).max)
    with np.errstate(invalid="ignore"):  # float64(int64 max) rounds up: cast to int64 max
        stack = values.astype(dtype)
    if dtype.kind == "f" and draw(st.booleans()):
        k = draw(st.integers(1, 3))
        stack[tuple(rng.integers(0, s, size=k) for s in shape)] = rng.choice(
            [np.nan, np.inf, -np.inf], size=k)
    if draw(st.integers(0, 3)) == 0:
        stack = np.ma.masked_array(stack, mask=rng.random(shape) < 0.2)
    return stack


options = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["median", "mean"]),
        "clip": st.sampled_from([None, "frame", "pixel"]),
        "sigma": st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0]),
        "maxiters": st.sampled_from([1, 2, 5, None]),
        "cenfunc": st.sampled_from(["median", "mean"]),
        "stdfunc": st.sampled_from(["std", "mad_std"]),
    },
    optional={"sigma_lower": st.sampled_from([1.0, 2.0, 4.0]),
              "sigma_upper": st.sampled_from([1.0, 2.0, 4.0])},
)


@pytest.mark.parametrize("engine", [pytest.param("numba", marks=needs_numba), "numpy"])
@settings(max_examples=MAIN_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(stack=stacks(), opts=options)
def test_combine_equals_the_astropy_route(engine, stack, opts):
    method, clip = opts.pop("method"), opts.pop("clip")
    kw = opts if clip is not None else {}
    EXAMPLES[engine] += 1
    with np.errstate(all="ignore"):
        got, count, mask = combine(stack, method=method, clip=clip, backend=engine,
                                   return_count=True, return_mask=True, **kw)
    expected, expected_count, expected_mask, scale = astropy_route(stack, method, clip, **kw)
    np.testing.assert_array_equal(mask, expected_mask)
    np.testing.assert_array_equal(count, expected_count)
    small_ints = stack.dtype.kind in "ui" and stack.dtype.itemsize == 2 and method == "median"
    if small_ints:
        np.testing.assert_array_equal(got, expected.astype(got.dtype))
    else:
        slack = 1e-6 * np.abs(expected) + (1e-12 * len(stack) * scale if method == "mean" else 0)
        with np.errstate(invalid="ignore"):
            close = (np.abs(got - expected) <= slack) | (got == expected) | (np.isnan(got) & np.isnan(expected))
        close |= order_dependent(got, expected, scale, count, method)
        assert close.all(), (got[~close], expected[~close])


def order_dependent(got, expected, scale, count, method):
    """Where a result near float64's largest may be inf or finite depending on the order of adding.

    A mean whose values' magnitudes add up beyond float64's largest overflows
    in some orders and not in others; ``np.nanmedian`` of an odd count of
    values above half of it averages the middle value with itself (inf),
    where combine() takes that value.
    """
    with np.errstate(all="ignore"):
        if method == "mean":
            reach = scale * np.maximum(count, 1) >= BIG / 16
        else:
            reach = scale >= BIG / 4
        return reach & ~(np.isfinite(got) & np.isfinite(expected))


def extrema_rejected(stack, nlow, nhigh):
    """The stack as float64, masked values and ±inf NaN, each pixel's extreme finite values NaN.

    Of tied values, the earliest frames' lose to ``nlow`` and the latest
    frames' to ``nhigh`` (a stable sort), as in combine's mask.
    """
    data = np.ma.filled(np.ma.asarray(stack).astype(np.float64), np.nan)
    data = np.where(np.isfinite(data), data, np.nan)
    ranks = np.argsort(np.argsort(data, axis=0, kind="stable"), axis=0, kind="stable")
    valid = np.count_nonzero(~np.isnan(data), axis=0)
    return np.where((ranks < nlow) | (ranks >= valid - nhigh), np.nan, data)


@pytest.mark.parametrize("engine", [pytest.param("numba", marks=needs_numba), "numpy"])
@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(stack=stacks(), opts=options, nlow=st.integers(0, 3), nhigh=st.integers(0, 3),
       total=st.booleans())
def test_extrema_rejection_and_sum_equal_the_numpy_route(engine, stack, opts, nlow, nhigh, total):
    """nlow/nhigh: the astropy route on the stack without its extremes; 'sum': nansum of what is kept."""
    method, clip = opts.pop("method"), opts.pop("clip")
    kw = opts if clip is not None else {}
    EXAMPLES[engine + " (extrema, sum)"] += 1
    reference = extrema_rejected(stack, nlow, nhigh)
    expected, expected_count, expected_mask, scale = astropy_route(
        reference, "mean" if total else method, clip, **kw)
    if total:  # np.nansum of the kept values, bit for bit (an overflow: a named error)
        with np.errstate(all="ignore"):
            expected = np.where(expected_count > 0,
                                np.where(expected_mask, 0.0, reference).sum(axis=0), np.nan)
        if not np.isfinite(expected[expected_count > 0]).all():
            with pytest.raises(ValueError, match="overflows float64"):
                combine(stack, method="sum", clip=clip, backend=engine, nlow=nlow, nhigh=nhigh, **kw)
            return
    with np.errstate(all="ignore"):
        got, count, mask = combine(stack, method="sum" if total else method, clip=clip,
                                   backend=engine, nlow=nlow, nhigh=nhigh, return_count=True,
                                   return_mask=True, **kw)
    np.testing.assert_array_equal(mask, expected_mask)
    np.testing.assert_array_equal(count, expected_count)
    if total:
        np.testing.assert_array_equal(got, expected)
        return
    slack = 1e-6 * np.abs(expected) + 1e-12 * len(stack) * scale
    with np.errstate(invalid="ignore"):
        close = (np.abs(got - expected) <= slack) | (got == expected) | (np.isnan(got) & np.isnan(expected))
    close |= order_dependent(got, expected, scale, expected_count, method)
    assert close.all(), (got[~close], expected[~close])


@pytest.mark.parametrize("engine", [pytest.param("numba", marks=needs_numba), "numpy"])
@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(stack=stacks(), opts=options, data=st.data())
def test_scale_and_weights_equal_the_numpy_route(engine, stack, opts, data):
    """scale=: the astropy route on the scaled float64 stack; weights=: np.ma.average of what it keeps."""
    method, clip = opts.pop("method"), opts.pop("clip")
    kw = opts if clip is not None else {}
    n = len(stack)
    factors = np.array(data.draw(st.lists(st.sampled_from([0.25, 0.5, 1.0, 1 / 3, 3.0, 1e-3]),
                                          min_size=n, max_size=n)))
    weighted = data.draw(st.booleans())
    wide = weighted and data.draw(st.booleans())  # weights from 1e-300 to 1e300
    method = "mean" if weighted else method  # (weights are for means and sums)
    rng = np.random.default_rng(n)
    weights = None
    if weighted:
        weights = 10.0 ** rng.uniform(-300, 300, size=n) if wide else rng.uniform(0, 2, size=n)
    EXAMPLES[engine + " (scale)"] += 1
    EXAMPLES[engine + " (scale and weights)"] += weighted
    EXAMPLES[engine + " (weights 1e-300 to 1e300)"] += wide
    with np.errstate(over="ignore"):
        scaled = np.ma.filled(np.ma.asarray(stack).astype(np.float64), np.nan) * factors[:, None, None]
    limit = np.finfo(np.float64 if stack.dtype.str[1:] == "f8" else np.float32).max
    with np.errstate(invalid="ignore", over="ignore"):
        if (np.isfinite(np.ma.filled(np.ma.asarray(stack).astype(np.float64), np.nan))
                & ~(np.abs(scaled) <= limit)).any():  # scaled beyond the result's type
            with pytest.raises(ValueError, match="overflow"):
                combine(stack, method=method, clip=clip, backend=engine, scale=factors, **kw)
            return
    with np.errstate(all="ignore"):
        got, count, mask = combine(stack, method=method, clip=clip, backend=engine, scale=factors,
                                   weights=weights, return_count=True, return_mask=True, **kw)
    expected, expected_count, expected_mask, scale = astropy_route(scaled, method, clip, **kw)
    np.testing.assert_array_equal(mask, expected_mask)
    np.testing.assert_array_equal(count, expected_count)
    if weighted:
        kept = np.ma.masked_array(scaled, expected_mask)
        with np.errstate(all="ignore"):
            expected = np.ma.average(kept, weights=np.broadcast_to(weights[:, None, None], kept.shape),
                                     axis=0).filled(np.nan)
        if wide:  # np.ma.average's value wherever finite, else the exact weighted mean
            finite = np.isfinite(expected)  # (float32 results: rounded once, from float64)
            np.testing.assert_array_equal(got[finite], expected[finite].astype(got.dtype))
            exact = exact_means(np.where(expected_mask, 0.0, scaled), weights, expected_mask)
            rest = ~np.isfinite(expected) & (expected_count > 0)
            expected = np.where(rest, exact, expected)
            scale = scale * (1 + (count > 0))  # (the rest: the mean of what is kept, rounded)
        else:
            scale = scale * weights.max() / max(weights[weights > 0].min(initial=1.0), 1e-3)
    slack = 1e-6 * np.abs(expected) + (1e-12 * n * scale if method == "mean" else 0)
    with np.errstate(invalid="ignore"):
        close = (np.abs(got - expected) <= slack) | (got == expected) | (np.isnan(got) & np.isnan(expected))
    close |= order_dependent(got, expected, scale, expected_count, method)
    assert close.all(), (got[~close], expected[~close])


def exact_means(values, weights, rejected):
    """sum(w * x) / sum(w) over the kept values of each pixel, exactly, then rounded."""
    out = np.full(values.shape[1:], np.nan)
    for index in np.ndindex(*values.shape[1:]):
        keep = ~rejected[(slice(None),) + index]
        w = [Fraction(float(v)) for v in weights[keep]]
        x = [Fraction(float(v)) for v in values[(slice(None),) + index][keep]]
        if sum(w):
            out[index] = float(sum(a * b for a, b in zip(w, x)) / sum(w))
    return out


@needs_numba
def test_the_main_property_holds_with_numbas_jit_disabled(tmp_path):
    """NUMBA_DISABLE_JIT=1 (set to debug): the same results (the numba engine is not used).

    Only ``backend='numba'`` is run there: the numpy engine does not care.
    """
    engine = "numba"
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", COMBINE_PROPERTY_EXAMPLES="60",
               NUMBA_CACHE_DIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(Path(__file__)), "-q", "-p", "no:cacheprovider",
         "-k", f"test_combine_equals_the_astropy_route and {engine}"],
        capture_output=True, text=True, env=env, cwd=Path(__file__).parent, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout


def test_examples_ran():
    """Every engine ran examples (when its test ran in this session)."""
    print(f"\nhypothesis examples per engine: {dict(EXAMPLES)}")
    assert all(count > 0 for count in EXAMPLES.values())
