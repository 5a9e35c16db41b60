"""Checks of notebook 2 (sigma clipping): iterative sigma clipping by hand (Exercise 3).

The student writes ``sigma_clip_by_hand(values, sigma=3.0, maxiters=5)``,
returning a boolean mask that is True where a value is rejected. The check
calls it on a column of a real bias frame and on small arrays made to tell
the classic mistakes apart, and compares every result with astropy's
``sigma_clip(values, sigma=sigma, maxiters=maxiters, cenfunc="median",
stdfunc="std").mask``. Each classic mistake is itself an astropy call with
other settings (one round, the mean as centre, only the high side, ...), so
a wrong answer is recognized by the settings it agrees with.
"""

from __future__ import annotations

import functools
import os
import pickle
import select
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from astropy.io import fits
from astropy.stats import sigma_clip

from .. import solutions
from . import _references as ref_data
from ._common import (
    MISSING, Feedback, _text, answer_check, data_dir_of, gather, short_repr,
)
from ._copied import DATASETS_AT_ONCE

__all__ = ["exercise_3"]

TITLE_3 = "sigma clipping by hand"
NAME = "sigma_clip_by_hand"
#: A student's function that takes longer than this on all test arrays together is stopped.
TIME_LIMIT_S = 5.0


@dataclass(frozen=True)
class Case:
    """One call of the student's function: what it is given and what astropy says."""

    label: str
    values: np.ndarray
    sigma: float
    maxiters: int

    def clip(self, **settings) -> np.ndarray:
        """astropy's mask for this case, with ``settings`` overriding the rule."""
        kwargs = {"sigma": self.sigma, "maxiters": self.maxiters, "cenfunc": "median",
                  "stdfunc": "std", **settings}
        return np.ma.getmaskarray(sigma_clip(self.values, **kwargs))

    @functools.cached_property
    def expected(self) -> np.ndarray:
        return self.clip()


def _std_ddof1(values, axis=None):
    return np.std(values, axis=axis, ddof=1)


#: Other rules that are also right: the sample standard deviation (ddof=1).
ALSO_RIGHT: dict[str, dict] = {"ddof=1": {"stdfunc": _std_ddof1}}

#: Classic mistakes, each as astropy settings and the message that names it.
MISTAKES: list[tuple[dict | str, str]] = [
    ("inverted",
     "your mask is inverted: it is True where a value is kept. The mask must be True where "
     "a value is rejected, as astropy's is (`~mask` turns one into the other)."),
    ({"maxiters": 1},
     "your function stops after one round: your mask is what a single round of clipping "
     "gives. Either the loop ends after its first pass, or each round measures the median "
     "and standard deviation of all the values again instead of the survivors."),
    ({"maxiters": None},
     "your function does not stop at `maxiters`: on an array that needs more rounds to "
     "settle, it went on clipping. Stop when a round rejects nothing or after `maxiters` "
     "rounds, whichever comes first."),
    ({"cenfunc": "mean"},
     "your function uses the mean as the centre. The outliers pull the mean towards them; "
     "the median is the robust centre (astropy's `cenfunc='median'`)."),
    ({"sigma_lower": np.inf},
     "your function clips only the high side: values far below the median are outliers "
     "too. Compare the distance from the median, `np.abs(values - median)`, with "
     "`sigma * std`."),
    ({"sigma_upper": np.inf},
     "your function clips only the low side: compare `np.abs(values - median)` with "
     "`sigma * std`, so that both sides are clipped."),
    ({"stdfunc": "mad_std"},
     "your function measures the spread with the median absolute deviation (`mad_std`); "
     "this exercise uses the standard deviation of the survivors (`np.std`)."),
    ("fixed_sigma",
     "your function ignores its `sigma` argument (it always clips at 3 standard "
     "deviations): use the `sigma` it is given."),
]


# --- The test arrays ------------------------------------------------------------


def _staircase() -> np.ndarray:
    """Outliers that come to light one round at a time: seven rounds to settle."""
    rng = np.random.default_rng(3)
    base = rng.normal(100.0, 1.0, 40)
    return np.concatenate([base, [105.0, 109.0, 118.0, 140.0, 190.0, 320.0, 700.0]])


def _two_sided() -> np.ndarray:
    rng = np.random.default_rng(5)
    values = rng.normal(50.0, 2.0, 30)
    values[[4, 17]] = [20.0, 85.0]
    return values


def _skewed() -> np.ndarray:
    """A tail on one side, where mean and median differ."""
    rng = np.random.default_rng(7)
    return np.concatenate([rng.normal(10.0, 1.0, 40), rng.uniform(13.0, 16.0, 10)])


def _patch() -> np.ndarray:
    """A small image: the mask must keep its 2-D shape."""
    rng = np.random.default_rng(11)
    values = rng.normal(20.0, 1.0, (6, 8))
    values[1, 2], values[4, 6] = 40.0, 2.0
    return values


@functools.lru_cache(maxsize=DATASETS_AT_ONCE)
def bias_column(root: str) -> tuple[int, np.ndarray]:
    """A column of the bias frame b0860c1 with cosmic rays: its index and values.

    Among the columns with the brightest pixels, the first that takes more
    than one round to clip, so that the real data show the iteration too.
    """
    header = fits.getheader(Path(root, ref_data.BIAS_FIRST))
    rows, cols = solutions.fits_section(header["DATASEC"])
    data = ref_data.bias_pair(root)[0][rows, cols].astype(np.float64)
    order = np.argsort(data.max(axis=0), kind="stable")[::-1]
    for column in order[:50]:
        case = Case("", data[:, column], 3.0, 5)
        if not np.array_equal(case.expected, case.clip(maxiters=1)) and np.array_equal(
            case.expected, case.clip(stdfunc=_std_ddof1)
        ):
            return int(column), data[:, column]
    return int(order[0]), data[:, order[0]]


def cases(root: str) -> list[Case]:
    """The calls the check makes, a real column of pixels first."""
    column, values = bias_column(root)
    small = np.array([10.0, 11, 9, 10, 12, 10, 11, 9, 10, 30, 500])
    return [
        Case(f"column {column} of the bias frame b0860c1 ({values.size} pixels)", values, 3.0, 5),
        Case("[10, 11, 9, 10, 12, 10, 11, 9, 10, 30, 500]", small, 3.0, 5),
        Case("the same 11 values with maxiters=1", small, 3.0, 1),
        Case("40 values near 100 and 7 outliers that show one round at a time",
             _staircase(), 3.0, 5),
        Case("30 values near 50 with one low and one high outlier", _two_sided(), 2.5, 5),
        Case("50 values with a tail on the high side", _skewed(), 2.0, 10),
        Case("a 2-D patch of 6 x 8 values near 20 with two outliers", _patch(), 3.0, 5),
    ]


def _variant(case: Case, mistake: dict | str) -> np.ndarray:
    if mistake == "inverted":
        return ~case.expected
    if mistake == "fixed_sigma":
        return case.clip(sigma=3.0)
    return case.clip(**mistake)


# --- Calling the student's function ----------------------------------------------


def _call(function: Callable, case: Case):
    """The student's result for ``case``, given a copy of the values."""
    values = case.values.copy()
    return function(values, case.sigma, case.maxiters), values


def _run_guarded(function: Callable, all_cases: list[Case]) -> tuple[list, str | None]:
    """:func:`_run` in a child process with a hard time limit, where fork exists.

    The student's function runs in a forked copy of the kernel: whatever it
    does (a loop that never ends and catches every exception, ``sys.exit``,
    ``os._exit``, printing) cannot hang the check, end the kernel or reach
    the notebook. Only the masks and the verdict come back, through a pipe.
    Where there is no fork (Windows), the function runs in this process
    without a time limit.
    """
    if not hasattr(os, "fork"):
        return _run(function, all_cases)
    for case in all_cases:
        case.expected  # computed here, once, not in the child
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            os.close(reader)
            quiet_fd = os.open(os.devnull, os.O_WRONLY)
            os.dup2(quiet_fd, 1)
            os.dup2(quiet_fd, 2)
            try:
                outcome = _run(function, all_cases)
            except BaseException as error:  # noqa: BLE001 - anything the student's code does
                outcome = ([], _raised(error, all_cases[0]))
            _write_all(writer, pickle.dumps(outcome))
        finally:
            os._exit(0)
    os.close(writer)
    try:
        data, finished = _read_until(reader, time.monotonic() + TIME_LIMIT_S)
    finally:
        os.close(reader)
        if not finished:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    if not finished:
        return [], (f"`{NAME}` did not finish within {TIME_LIMIT_S:.0f} s: does its loop stop "
                    "when a round rejects nothing, or after `maxiters` rounds?")
    try:
        return pickle.loads(data)
    except Exception:  # the child ended before it could answer
        return [], (f"`{NAME}` ended the process it ran in (`sys.exit`, `os._exit` or a "
                    "crash) instead of returning a mask.")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_until(fd: int, deadline: float) -> tuple[bytes, bool]:
    """Everything written to ``fd`` until the writer closes it; False if the deadline passed."""
    chunks = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            return b"".join(chunks), False
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)


def _raised(error: BaseException, case: Case) -> str:
    return (f"`{NAME}(values, {case.sigma}, {case.maxiters})` raised "
            f"{type(error).__name__}: {_text(error)}, with `values` = {case.label}.")


def _as_mask(result, case: Case) -> tuple[np.ndarray | None, str | None]:
    """The student's result as a boolean mask, or None and what is wrong with it."""
    expected = case.expected
    if result is None:
        return None, f"`{NAME}` returns None: did you forget `return mask` at the end?"
    if np.ma.isMaskedArray(result):
        return None, (f"`{NAME}` returns a masked array; return its boolean mask, "
                      "`np.ma.getmaskarray(result)` (True where rejected).")
    if isinstance(result, (tuple, list)) and len(result) and not np.isscalar(result[0]):
        return None, (f"`{NAME}` returns {len(result)} things; return only the mask, one "
                      "boolean array.")
    try:
        array = np.asarray(result)
    except (TypeError, ValueError):
        array = np.asarray(None)
    if array.dtype.kind not in "biuf":
        return None, f"`{NAME}` should return a boolean array, not {short_repr(result)}."
    if array.shape != expected.shape:
        return None, _shape_message(array, case)
    if array.dtype != bool:
        if np.isin(array, (0, 1)).all():
            return None, (f"`{NAME}` returns numbers 0 and 1, not booleans. numpy treats an "
                          "integer array as positions, so `values[mask]` would pick elements "
                          "0 and 1 over and over: return a boolean array (a comparison such "
                          "as `np.abs(values - center) > sigma * std` is one).")
        if np.allclose(array, case.values, equal_nan=True):
            return None, (f"`{NAME}` returns the values themselves; return a boolean mask, "
                          "True where a value is rejected.")
        return None, f"`{NAME}` should return booleans (True where rejected), not numbers."
    return np.array(array, dtype=bool, subok=False), None


def _shape_message(array: np.ndarray, case: Case) -> str:
    expected = case.expected
    flat = array.ravel()
    for kept, what in [(~expected, "kept"), (expected, "rejected")]:
        if flat.size == np.count_nonzero(kept) and np.allclose(
            np.sort(flat.astype(np.float64)), np.sort(case.values[kept])
        ):
            return (f"`{NAME}` returns the values it {what}, not a mask. Return a boolean array "
                    "as long as `values`, True where a value is rejected: `values[~mask]` then "
                    "gives the survivors.")
    if array.size == expected.size and array.ndim < expected.ndim:
        return (f"`{NAME}` returns a flattened mask, shape {array.shape}, for values of shape "
                f"{expected.shape} ({case.label}): the mask must have the shape of `values`. "
                "Do not `ravel()` or `flatten()` them: `values[~mask]` works on any shape, "
                "and `np.abs(values - center) > sigma * std` keeps the shape.")
    return (f"`{NAME}` returns an array of shape {array.shape}; the mask should have the shape "
            f"of `values`, {expected.shape}.")


# --- The check -------------------------------------------------------------------


@answer_check(3, TITLE_3)
def exercise_3(sigma_clip_by_hand=MISSING, *, data_dir=None, namespace=None) -> Feedback:
    """Check Exercise 3: iterative sigma clipping written by hand.

    Parameters
    ----------
    sigma_clip_by_hand : callable
        ``sigma_clip_by_hand(values, sigma=3.0, maxiters=5)``, returning a
        boolean array shaped like ``values``, True where a value is rejected.
    data_dir, namespace
        As for :func:`course_utils.checks.exercise_1`.
    """
    namespace, answers = gather(
        3, TITLE_3, {NAME: sigma_clip_by_hand}, namespace,
        f"`{NAME}(values, sigma=3.0, maxiters=5)` is a function that returns a boolean mask.",
    )
    if isinstance(answers, Feedback):
        return answers
    function = answers[NAME]
    if not callable(function):
        return Feedback(3, TITLE_3, "incorrect", (
            f"`{NAME}` should be a function (`def {NAME}(values, sigma=3.0, maxiters=5): ...`), "
            f"not {short_repr(function)}.",))
    all_cases = cases(str(data_dir_of(namespace, data_dir)))
    masks, problem = _run_guarded(function, all_cases)
    if problem is None:
        problem = _compare(masks, all_cases)
    if problem is not None:
        return Feedback(3, TITLE_3, "incorrect", (problem,))
    column = all_cases[0]
    rounds = next(k for k in range(1, 50) if np.array_equal(column.clip(maxiters=k),
                                                            column.clip(maxiters=None)))
    return Feedback(3, TITLE_3, "correct", (
        f"`{NAME}` agrees with astropy's `sigma_clip` on all {len(all_cases)} test arrays. On "
        f"{column.label} it rejects {np.count_nonzero(column.expected)} values, cosmic rays "
        f"and hot pixels, and astropy needs {rounds} rounds to settle there.",))


def _run(function: Callable, all_cases: list[Case]) -> tuple[list, str | None]:
    masks = []
    for case in all_cases:
        try:
            result, given = _call(function, case)
        except (Exception, SystemExit) as error:
            return masks, _raised(error, case)
        if not np.array_equal(given, case.values, equal_nan=True):
            return masks, (f"`{NAME}` changes the array it is given (on {case.label}): work on "
                           "a copy, or build a new mask, so that the caller's data stay intact.")
        mask, problem = _as_mask(result, case)
        if problem:
            return masks, problem
        masks.append(mask)
    return masks, None


def _compare(masks: list[np.ndarray], all_cases: list[Case]) -> str | None:
    right = [
        np.array_equal(mask, case.expected)
        or any(np.array_equal(mask, case.clip(**rule)) for rule in ALSO_RIGHT.values())
        for mask, case in zip(masks, all_cases)
    ]
    if all(right):
        return None
    for mistake, message in MISTAKES:
        if all(np.array_equal(mask, _variant(case, mistake))
               for mask, case in zip(masks, all_cases)):
            return f"`{NAME}`: " + message
    index = right.index(False)
    case, mask = all_cases[index], masks[index]
    extra = case.values[mask & ~case.expected]
    missed = case.values[~mask & case.expected]
    parts = []
    if extra.size:
        parts.append(f"rejects {extra.size} values that astropy keeps (e.g. {extra[0]:g})")
    if missed.size:
        parts.append(f"keeps {missed.size} values that astropy rejects (e.g. {missed[0]:g})")
    return (f"`{NAME}` differs from astropy on {case.label} (sigma={case.sigma:g}, "
            f"maxiters={case.maxiters}): it " + " and ".join(parts) + ". Each round should "
            "measure the median and `np.std` of the values still kept, reject those more than "
            "`sigma` standard deviations from the median, and stop when nothing changes or "
            "after `maxiters` rounds.")
