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
``np.ma.average`` of the values it keeps).

The number of examples is bounded (``max_examples``) so that this module
takes well under a minute on two cores; ``EXAMPLES`` counts them per engine.
"""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
import pytest
from astropy.stats import sigma_clip
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engines import needs_numba

from course_utils import combine

#: Examples run per engine (printed by test_examples_ran at the end).
EXAMPLES: Counter = Counter()

DTYPES = ["uint16", "int16", "int32", "uint32", "int64", "float32", "float64"]
HUGE = {"f4": 1e30, "f8": 1e200}


@st.composite
def stacks(draw):
    """A (N, ny, nx) stack of one type and byte order, maybe masked."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES))).newbyteorder(draw(st.sampled_from("<>")))
    n = draw(st.integers(1, 60))
    shape = (n, draw(st.integers(1, 3)), draw(st.integers(1, 4)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["ties", "noise", "outliers", "huge"]))
    if kind == "ties":
        values = rng.integers(0, draw(st.integers(1, 4)), size=shape).astype(np.float64)
    else:
        values = np.round(rng.normal(817, 4, size=shape))
        if dtype.kind == "f":
            values = rng.normal(817, 4, size=shape)
    if kind in ("outliers", "huge") and n > 1:
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


def astropy_route(stack, method, clip, **kw):
    """Combined image, counts and rejection mask by the astropy route."""
    data = np.ma.filled(np.ma.asarray(stack).astype(np.float64), np.nan)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if clip is not None:
            data = sigma_clip(data, axis=0 if clip == "pixel" else (1, 2), masked=False, **kw)
        data = np.where(np.isfinite(data), data, np.nan)
        combined = (np.nanmedian if method == "median" else np.nanmean)(data, axis=0)
        # A mean of values that cancel (1e30 and -1e30) is known only to the
        # rounding of its sums: at most about N * eps * max|x| apart.
        scale = np.where(np.isnan(data), 0.0, np.abs(data)).max(axis=0)
    return combined, np.count_nonzero(~np.isnan(data), axis=0), np.isnan(data), scale


@pytest.mark.parametrize("engine", [pytest.param("numba", marks=needs_numba), "numpy"])
@settings(max_examples=200, deadline=None, derandomize=True, database=None,
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
        assert close.all(), (got[~close], expected[~close])


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
    with np.errstate(all="ignore"):
        got, count, mask = combine(stack, method="sum" if total else method, clip=clip,
                                   backend=engine, nlow=nlow, nhigh=nhigh, return_count=True,
                                   return_mask=True, **kw)
    reference = extrema_rejected(stack, nlow, nhigh)
    expected, expected_count, expected_mask, scale = astropy_route(
        reference, "mean" if total else method, clip, **kw)
    np.testing.assert_array_equal(mask, expected_mask)
    np.testing.assert_array_equal(count, expected_count)
    if total:
        kept = np.where(expected_mask, 0.0, reference)
        with np.errstate(all="ignore"):
            expected = np.where(expected_count > 0, kept.sum(axis=0), np.nan)
        scale = scale * expected_count
    slack = 1e-6 * np.abs(expected) + 1e-12 * len(stack) * scale
    with np.errstate(invalid="ignore"):
        close = (np.abs(got - expected) <= slack) | (got == expected) | (np.isnan(got) & np.isnan(expected))
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
    method = "mean" if weighted else method  # (weights are for means and sums)
    weights = np.random.default_rng(n).uniform(0, 2, size=n) if weighted else None
    EXAMPLES[engine + " (scale)"] += 1
    EXAMPLES[engine + " (scale and weights)"] += weighted
    with np.errstate(all="ignore"):
        got, count, mask = combine(stack, method=method, clip=clip, backend=engine, scale=factors,
                                   weights=weights, return_count=True, return_mask=True, **kw)
    scaled = np.ma.filled(np.ma.asarray(stack).astype(np.float64), np.nan) * factors[:, None, None]
    expected, expected_count, expected_mask, scale = astropy_route(scaled, method, clip, **kw)
    np.testing.assert_array_equal(mask, expected_mask)
    np.testing.assert_array_equal(count, expected_count)
    if weighted:
        kept = np.ma.masked_array(scaled, expected_mask)
        with np.errstate(all="ignore"):
            expected = np.ma.average(kept, weights=np.broadcast_to(weights[:, None, None], kept.shape),
                                     axis=0).filled(np.nan)
        scale = scale * weights.max() / max(weights[weights > 0].min(initial=1.0), 1e-3)
    slack = 1e-6 * np.abs(expected) + (1e-12 * n * scale if method == "mean" else 0)
    with np.errstate(invalid="ignore"):
        close = (np.abs(got - expected) <= slack) | (got == expected) | (np.isnan(got) & np.isnan(expected))
    assert close.all(), (got[~close], expected[~close])


def test_examples_ran():
    """Every engine ran examples (when its test ran in this session)."""
    print(f"\nhypothesis examples per engine: {dict(EXAMPLES)}")
    assert all(count > 0 for count in EXAMPLES.values())
