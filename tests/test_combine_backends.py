"""course_utils.combine's two engines: choosing one, and getting the same results.

The numba kernels are used when numba can be imported; the numpy engine
otherwise, and for the few pixels the kernels cannot decide exactly.
tests/test_combine.py and tests/test_combine_io.py run every test on both
engines; this file checks the choice itself, the fallbacks, and that the
engines agree with each other on many more configurations.

Only public means are used: the ``backend`` argument, the environment
variable ``COURSE_UTILS_BACKEND``, :func:`prepare_kernels`, and the DEBUG
records of the logger ``course_utils.combine`` (attributes ``engine`` and
``settled``), which say how each call was computed. Situations that need
another numba (none, or a broken one) run in a fresh Python whose path
starts with a stand-in ``numba`` package.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.stats import sigma_clip

from engines import NUMBA, needs_numba

from course_utils import combine
from course_utils.combining import BACKEND_ENV, prepare_kernels

#: How a fresh Python reports what combine() did: one JSON line per call.
REPORTER = """
import json, logging, sys
import numpy as np
import course_utils
class _Report(logging.Handler):
    def emit(self, record):
        print(json.dumps({"engine": record.engine, "settled": record.settled}), flush=True)
_log = logging.getLogger("course_utils.combine")
_log.setLevel(logging.DEBUG)
_log.addHandler(_Report())
"""


@pytest.fixture(autouse=True)
def _no_backend_variable(monkeypatch):
    monkeypatch.delenv(BACKEND_ENV, raising=False)


@pytest.fixture
def engines(caplog):
    """The engines of the combine() calls made since the last ``engines.clear()``."""
    caplog.set_level(logging.DEBUG, logger="course_utils.combine")

    class Engines:
        def __eq__(self, other):
            return [r.engine for r in caplog.records if hasattr(r, "engine")] == other

        def __repr__(self):
            return repr([r.engine for r in caplog.records if hasattr(r, "engine")])

        def clear(self):
            caplog.clear()

    return Engines()


def settled_by_numpy(caplog, stack, method, **kw) -> int:
    """Pixels that the numba kernels handed to the numpy engine in one combine() call."""
    caplog.set_level(logging.DEBUG, logger="course_utils.combine")
    caplog.clear()
    combine(stack, method=method, clip="pixel", backend="numba", **kw)
    (record,) = [r for r in caplog.records if hasattr(r, "engine")]
    return record.settled


def fresh_python(code: str, tmp_path: Path | None = None, numba: str | None = None,
                 **variables: str) -> list:
    """Run ``code`` after :data:`REPORTER` in a new interpreter; its output lines, parsed as JSON.

    ``numba``: the source of a stand-in ``numba/__init__.py`` found first on
    the path (e.g. ``raise ImportError``), as on a machine without numba.
    """
    env = {k: v for k, v in os.environ.items() if k != BACKEND_ENV}
    env.update(variables)
    if numba is not None:
        (tmp_path / "numba").mkdir()
        (tmp_path / "numba" / "__init__.py").write_text(numba)
        env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-c", REPORTER + code], capture_output=True, text=True,
                         check=True, env=env).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def stack_of(rng, n, shape=(6, 9), dtype=np.uint16):
    return np.round(rng.normal(817, 4, size=(n,) + shape)).astype(dtype)


# ---------------------------------------------------------------------------
# Choosing the engine
# ---------------------------------------------------------------------------


def test_importing_course_utils_does_not_import_numba():
    code = ("print(json.dumps('numba' in sys.modules)); "
            "course_utils.combine(np.zeros((3, 2, 2)), backend='numpy'); "
            "print(json.dumps('numba' in sys.modules))")
    assert fresh_python(code) == [False, {"engine": "numpy", "settled": 0}, False]


@needs_numba
def test_auto_uses_the_numba_kernels_once_compiled(engines):
    assert prepare_kernels(np.uint16) == "numba"
    stack = stack_of(np.random.default_rng(0), 5)
    engines.clear()
    for clip in (None, "frame", "pixel"):
        combine(stack, clip=clip)
    assert engines == ["numba"] * 3
    engines.clear()
    combine(stack, clip="pixel", backend="numpy")
    combine(stack, clip="pixel", backend="numba")
    assert engines == ["numpy", "numba"]


@needs_numba
def test_mad_std_per_pixel_always_uses_the_numpy_engine(engines):
    stack = stack_of(np.random.default_rng(0), 5)
    combine(stack, clip="pixel", stdfunc="mad_std", backend="numba")
    combine(stack, clip="frame", stdfunc="mad_std", backend="numba")  # frame bounds: numpy
    assert engines == ["numpy", "numba"]


def test_mad_std_per_pixel_does_not_import_numba():
    code = ("course_utils.combine(np.zeros((3, 2, 2)), clip='pixel', stdfunc='mad_std'); "
            "print(json.dumps('numba' in sys.modules))")
    assert fresh_python(code) == [{"engine": "numpy", "settled": 0}, False]


@pytest.mark.parametrize("value", ["numpy", "NumPy ", "numba", "auto", ""])
def test_environment_variable_chooses_for_auto(monkeypatch, engines, value):
    if NUMBA:
        prepare_kernels(np.uint16)
    monkeypatch.setenv(BACKEND_ENV, value)
    stack = stack_of(np.random.default_rng(0), 5)
    engines.clear()
    combine(stack, clip="pixel")
    expected = "numpy" if value.strip().lower() == "numpy" or not NUMBA else "numba"
    assert engines == [expected]
    engines.clear()
    combine(stack, clip="pixel", backend="numpy")  # an explicit backend wins
    assert engines == ["numpy"]


def test_bad_backend_names(monkeypatch):
    stack = np.zeros((3, 2, 2))
    with pytest.raises(ValueError, match=r"backend='fast' is not supported.*'auto', 'numba', 'numpy'"):
        combine(stack, backend="fast")
    with pytest.raises(ValueError, match="backend=None"):
        combine(stack, backend=None)
    monkeypatch.setenv(BACKEND_ENV, "gpu")
    with pytest.raises(ValueError, match=r"COURSE_UTILS_BACKEND='gpu'"):
        combine(stack)


WITHOUT_NUMBA = """
rng = np.random.default_rng(1)
stack = np.round(rng.normal(817, 4, size=(7, 6, 9))).astype(np.uint16)
stack[3, 2, 2] = 9000
got = course_utils.combine(stack, clip="pixel", return_count=True)
expected = course_utils.combine(stack, clip="pixel", backend="numpy", return_count=True)
print(json.dumps(all(np.array_equal(a, b) for a, b in zip(got, expected))))
print(json.dumps(course_utils.combining.prepare_kernels()))
for backend in ("numba", "auto"):
    try:
        course_utils.combine(stack, backend=backend, clip="pixel", stdfunc="mad_std")
    except ImportError as exc:
        print(json.dumps(str(exc)))
"""


@pytest.mark.parametrize("numba", ["raise ImportError('No module named numba')",
                                   "def __getattr__(name):\n    raise RuntimeError('Numba needs NumPy 2.2 or less')\n"])
def test_without_a_usable_numba_auto_falls_back_to_numpy(tmp_path, numba):
    """No numba, or a numba built for another numpy (which fails on use, not with ImportError)."""
    report = fresh_python("import course_utils.combining\n" + WITHOUT_NUMBA, tmp_path, numba)
    numpy = {"engine": "numpy", "settled": 0}
    assert report[:4] == [numpy, numpy, True, "numpy"]
    # backend='numba' is a clear error, also for options the kernels leave to numpy.
    assert "backend='numba'" in report[4] and "needs numba" in report[4]
    assert "pip install numba" in report[4]
    assert ("RuntimeError: Numba needs NumPy" in report[4]) == ("RuntimeError" in numba)
    assert report[5] == numpy  # auto
    assert len(report) == 6


def test_the_variable_insists_like_backend_numba(tmp_path):
    code = ("try:\n    course_utils.combine(np.zeros((3, 2, 2)))\n"
            "except ImportError as exc:\n    print(json.dumps(str(exc)))\n")
    (message,) = fresh_python(code, tmp_path, "raise ImportError", COURSE_UTILS_BACKEND="numba")
    assert "COURSE_UTILS_BACKEND=numba" in message


# ---------------------------------------------------------------------------
# Compiling in the background
# ---------------------------------------------------------------------------

FRESH_PROCESS = """
import os
def processes():  # (state, parent) of every process
    for p in os.listdir("/proc"):
        try:
            yield open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[:2]
        except (OSError, IndexError):  # not a process, or gone meanwhile
            pass
def children():
    return [state for state, parent in processes() if parent == str(os.getpid())]
def zombies():
    return [state for state in children() if state == "Z"]
rng = np.random.default_rng(0)
u16 = np.round(rng.normal(817, 4, size=(9, 40, 50))).astype(np.uint16)
u16[3, 5, 5] = 9000
f32 = u16.astype(np.float32) - np.float32(800.5)
results = []
def run(data, **kwargs):
    results.append(course_utils.combine(data, **kwargs))
# Three kinds of kernel at once: at most one compiles at a time.
run(u16, clip="pixel"); run(u16, method="mean", clip="frame"); run(f32, clip="pixel")
print(json.dumps({"numba_imported": "numba" in sys.modules, "children": len(children())}))
run(f32, clip="pixel", backend="numba")  # waits for the background process
logging.getLogger("course_utils.combine").setLevel(logging.INFO)  # (prepare_kernels runs combine)
for dtype in (np.uint16, np.float32):
    course_utils.combining.prepare_kernels(dtype)
logging.getLogger("course_utils.combine").setLevel(logging.DEBUG)
print(json.dumps({"children": len(children()), "zombies": len(zombies())}))
readonly = u16.copy()
readonly.flags.writeable = False
run(u16, clip="pixel"); run(u16, method="mean", clip="frame"); run(f32, clip="pixel")
run(list(u16), clip="pixel"); run(readonly, clip="pixel"); run(u16.astype(np.int16), clip="pixel")
run(u16, method="median"); run(f32.astype(np.float16), clip="pixel")
print(json.dumps([bool(np.array_equal(results[i], results[j], equal_nan=True))
                  for i, j in [(0, 4), (1, 5), (2, 6), (3, 6)]]))
"""


@needs_numba
def test_first_calls_run_on_numpy_while_a_background_process_compiles(tmp_path):
    """A fresh process with an empty numba cache, as a student's new Colab runtime."""
    report = fresh_python("import course_utils.combining\n" + FRESH_PROCESS,
                          NUMBA_CACHE_DIR=str(tmp_path))
    numpy = {"engine": "numpy", "settled": 0}
    # The first calls wait for nothing: the numpy engine, numba not even
    # imported, one background process for the three kinds of kernel.
    assert report[:3] == [numpy] * 3
    assert report[3] == {"numba_imported": False, "children": 1}
    # backend='numba' waited for the background process; prepare_kernels
    # for the rest; no process is left, not even a zombie.
    assert report[4]["engine"] == "numba"
    assert report[5] == {"children": 0, "zombies": 0}
    # Then every call runs on the kernels: in place or staged, every input type.
    assert [r["engine"] for r in report[6:14]] == ["numba"] * 8
    assert report[14] == [True] * 4


WHILE_THE_FIRST_CALL_RUNS = """
import os
def children():
    return sum(1 for p in os.listdir("/proc") if p.isdigit() and open(f"/proc/{p}/stat").read()
               .rsplit(")", 1)[1].split()[1] == str(os.getpid()))
class Count(logging.Handler):
    def emit(self, record):  # (the record of the engine that ran: the call's work is done)
        print(json.dumps({"children while the call ran": children()}))
logging.getLogger("course_utils.combine").addHandler(Count())
course_utils.combine(np.zeros((5, 30, 40), dtype=np.uint16), clip="pixel")
print(json.dumps({"children after the call": children()}))
"""


@needs_numba
def test_the_background_compilation_starts_once_the_first_call_is_done(tmp_path):
    """A compiling process would share a 2-core machine with the first call: it starts after it."""
    report = fresh_python(WHILE_THE_FIRST_CALL_RUNS, NUMBA_CACHE_DIR=str(tmp_path))
    assert {"engine": "numpy", "settled": 0} in report
    assert {"children while the call ran": 0} in report
    assert report[-1] == {"children after the call": 1}


@needs_numba
def test_a_fresh_process_uses_kernels_cached_by_an_earlier_one_from_its_first_call(tmp_path):
    """numba's cache already holds the kernels: no background compilation, no numpy engine."""
    cache = str(tmp_path / "cache")
    logging_off = 'logging.getLogger("course_utils.combine").setLevel(logging.INFO)\n'
    fresh_python(logging_off + "course_utils.combining.prepare_kernels(np.uint16)\n"
                 "import course_utils.combining\n", NUMBA_CACHE_DIR=cache)
    code = """
import os
u16 = np.round(np.random.default_rng(1).normal(817, 4, size=(9, 40, 50))).astype(np.uint16)
course_utils.combine(u16, clip="pixel")
course_utils.combine(u16, method="mean", clip="frame")
children = [p for p in os.listdir("/proc") if p.isdigit()
            and open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1] == str(os.getpid())]
print(json.dumps({"children": len(children)}))
course_utils.combine(u16.astype(np.float32), clip="pixel")  # not cached: numpy, compiling
"""
    report = fresh_python(code, NUMBA_CACHE_DIR=cache)
    assert [r.get("engine") for r in report[:2]] == ["numba", "numba"]
    assert report[2] == {"children": 0}
    assert report[3]["engine"] == "numpy"
    # Another cache (another folder, or changed kernels): compiled again, in the background.
    report = fresh_python(code, NUMBA_CACHE_DIR=str(tmp_path / "other"))
    assert [r.get("engine") for r in report[:2]] == ["numpy", "numpy"]


@needs_numba
def test_prepare_kernels_returns_when_combine_runs_on_them(engines):
    assert prepare_kernels(np.int16) == "numba"
    engines.clear()
    stack = stack_of(np.random.default_rng(3), 7, dtype=np.int16)
    for clip in (None, "frame", "pixel"):
        combine(stack, clip=clip)
    assert engines == ["numba"] * 3


@pytest.mark.parametrize("dtype, message", [(bool, "not a type of numbers"), ("U5", "not a type of numbers"),
                                            ("no such type", "not a data type")])
def test_prepare_kernels_needs_a_numeric_type(dtype, message):
    with pytest.raises(ValueError, match=message):
        prepare_kernels(dtype)


# ---------------------------------------------------------------------------
# The two engines agree
# ---------------------------------------------------------------------------


def both(stack, frames=None, **kw):
    """combine() on both engines, with counts and masks, checked equal."""
    kw = dict(kw, return_count=True, return_mask=True)
    data = stack if frames is None else frames
    fast = combine(data, backend="numba", **kw)
    slow = combine(data, backend="numpy", **kw)
    np.testing.assert_allclose(fast[0], slow[0], rtol=1e-6, atol=0, equal_nan=True)
    assert fast[0].dtype == slow[0].dtype
    np.testing.assert_array_equal(fast[1], slow[1])
    np.testing.assert_array_equal(fast[2], slow[2])
    return fast


def random_stack(rng, n, shape, dtype):
    """Noise, small-integer ties, cosmic rays, NaN/inf, a constant pixel."""
    dtype = np.dtype(dtype)
    if rng.random() < 0.4:
        stack = rng.integers(0, int(rng.choice([2, 3, 5, 9])), size=(n,) + shape).astype(float)
    else:
        stack = rng.normal(100, 5, size=(n,) + shape)
        if dtype.kind in "ui" or rng.random() < 0.3:
            stack = np.round(stack)
    for _ in range(int(rng.integers(0, 4)) if n > 3 else 0):
        stack[rng.integers(n), rng.integers(shape[0]), rng.integers(shape[1])] += rng.uniform(200, 3000)
    if dtype.kind == "i":
        stack -= 100
    stack = stack.astype(dtype)
    if dtype.kind == "f" and n > 1:
        stack[rng.integers(n), 0, 0] = rng.choice([np.nan, np.inf, -np.inf])
        if rng.random() < 0.3:
            stack[:, -1, -1] = np.nan  # a pixel without values
    stack[:, 0, -1] = stack[0, 0, -1]  # a constant pixel: bounds on its values
    return stack


@needs_numba
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17, 33, 40, 41, 64, 100, 129, 300])
def test_engines_agree_on_random_stacks(n):
    rng = np.random.default_rng(n)
    dtypes = ["uint16", "int16", "uint8", "int8", "int32", "float16", "float32", "float64"]
    for trial in range(8):
        shape = (int(rng.integers(1, 7)), int(rng.integers(1, 13)))
        stack = random_stack(rng, n, shape, dtypes[trial % len(dtypes)])
        kw = {
            "sigma": float(rng.choice([3.0, 2.0, 1.5, 1.0, 0.5])),
            "maxiters": [1, 2, 5, None][int(rng.integers(4))],
            "cenfunc": str(rng.choice(["median", "mean"])),
        }
        if rng.random() < 0.3:
            kw["sigma_upper"] = float(rng.choice([1.0, 2.0, 4.0]))
        frames = list(stack) if rng.random() < 0.3 else None
        for method, clip in itertools.product(("median", "mean"), (None, "frame", "pixel")):
            both(stack, frames, method=method, clip=clip, **({} if clip is None else kw))


@needs_numba
def test_fully_clipped_pixels_agree():
    rng = np.random.default_rng(5)
    stack = rng.normal(size=(2, 6, 7))  # sigma 0.5: both values outside mean +- std / 2
    got, count, mask = both(stack, method="mean", clip="pixel", sigma=0.5)
    assert np.isnan(got).all() and (count == 0).all() and mask.all()
    stack = rng.normal(size=(4, 6, 7))
    stack[:, 0, 0] = [0, 0, 10, 10]  # two pairs: sigma 0.5 leaves nothing
    got, count, _ = both(stack, method="median", clip="pixel", sigma=0.5, cenfunc="mean")
    assert count[0, 0] == 0 and np.isnan(got[0, 0])


@needs_numba
@pytest.mark.parametrize("shape", [(1, 1), (1, 5000), (5000, 1), (3, 70000), (37, 1201)])
def test_engines_agree_on_frame_shapes_blocks_and_threads(shape):
    """Rows longer than a block, blocks of many rows, more blocks than threads."""
    rng = np.random.default_rng(6)
    stack = stack_of(rng, 9, shape)
    stack[rng.integers(9, size=50), rng.integers(shape[0], size=50), rng.integers(shape[1], size=50)] = 5000
    for clip in (None, "frame", "pixel"):
        both(stack, method="mean", clip=clip)
    both(stack, method="median", clip="pixel", memory_limit=4 * 2**20)
    # Mean of a mean-centred clip: the kernels sort only the pixels that clip.
    for maxiters in (1, None):
        both(stack, method="mean", clip="pixel", cenfunc="mean", maxiters=maxiters)


@needs_numba
def test_inputs_read_in_place_or_copied_agree():
    """The kernels read a C-contiguous stack of their type in place, anything else via a copy."""
    rng = np.random.default_rng(7)
    stack = stack_of(rng, 11, (20, 30))
    stack[4, 5, 6] = 7000
    expected = both(stack, clip="pixel")
    readonly = stack.copy()
    readonly.setflags(write=False)
    variants = [
        readonly,
        np.asfortranarray(stack),
        stack[:, ::-1][:, ::-1],
        list(stack),
        [np.asfortranarray(f) for f in stack],
        stack.astype(np.int32),
        stack.astype(">u2"),
    ]
    for data in variants:
        got = combine(data, clip="pixel", backend="numba", return_count=True, return_mask=True)
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="assignment destination is read-only"):
        readonly[0, 0, 0] = 1  # untouched
    np.testing.assert_array_equal(readonly, stack)


@needs_numba
@pytest.mark.parametrize("dtype", ["uint16", "int16", "uint8", "int8", "int32", "int64", "float16",
                                   "float32", "float64"])
def test_frame_clipping_agrees_for_every_type(dtype):
    rng = np.random.default_rng(8)
    stack = random_stack(rng, 12, (25, 33), dtype)
    for method in ("median", "mean"):
        both(stack, method=method, clip="frame")
        both(stack, [np.asfortranarray(f) for f in stack], method=method, clip="frame", maxiters=1)


# ---------------------------------------------------------------------------
# Values on a bound: the kernels hand them to the numpy engine
# ---------------------------------------------------------------------------


def astropy_pixel(stack, method, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clipped = sigma_clip(stack, axis=0, masked=False, **kw).astype(np.float64)
        combined = (np.nanmedian if method == "median" else np.nanmean)(clipped, axis=0)
    return combined, (~np.isnan(clipped)).sum(axis=0)


@needs_numba
def test_values_on_a_bound_are_settled_by_the_numpy_engine(caplog):
    # Pixel 0: values 2, 4, 4, 4, 4, 6: mean 4, std 4/3, sigma 1.5 puts the
    # bounds exactly on 2 and 6. Pixel 1: a constant (std 0: bounds on every
    # value). Pixel 2: mean -1.6, std 3.2, sigma 0.5 (the upper bound 0 is
    # exact only in exact arithmetic; astropy's depends on its rounding).
    # Pixel 3: noise, nothing on a bound. Pixel 4: pixel 2's values in
    # another order, for which astropy's upper bound rounds to 0 exactly.
    shuffled = [-4, 0, -5, -1, -2, -5, -5, 3, -3, -5, -5, -2, -3, 0, 1, 2, 4, 4, -3, -5,
                -2, 3, -5, -5, 2, -1, -3, 4, -5, -3, -4, -4, -5, 4, -5, -4, 1, 3, -3, 2]
    columns = [
        ([2, 4, 4, 4, 4, 6] * 7)[:40],
        [7] * 40,
        shuffled,
        list(np.round(np.random.default_rng(0).normal(0, 4, 40))),
        sorted(shuffled),
    ]
    stack = np.array(columns, dtype=np.int16).T[:, None, :]
    for kw in ({"sigma": 1.5, "maxiters": 1, "cenfunc": "mean"},
               {"sigma": 0.5, "maxiters": 1, "cenfunc": "mean"}, {"sigma": 1.5}, {"sigma": 3.0}):
        for method in ("median", "mean"):
            got, count = combine(stack, method=method, clip="pixel", backend="numba", return_count=True, **kw)
            expected, expected_count = astropy_pixel(stack, method, **kw)
            np.testing.assert_allclose(got, expected, rtol=1e-6, equal_nan=True)
            np.testing.assert_array_equal(count, expected_count)
            # The constant pixel is settled by the numpy engine, the noise is not.
            assert settled_by_numpy(caplog, stack[:, :, 1:2], method, **kw) == 1
            assert settled_by_numpy(caplog, stack[:, :, 3:4], method, **kw) == 0
    kw = dict(sigma=0.5, maxiters=1, cenfunc="mean")
    assert settled_by_numpy(caplog, stack, "mean", **kw) == 3
    assert [settled_by_numpy(caplog, stack[:, :, i:i + 1], "mean", **kw) for i in range(5)] == [0, 1, 1, 0, 1]
    got, count = combine(stack, method="mean", clip="pixel", backend="numba", return_count=True, **kw)
    assert count[0, 2] == 11 and count[0, 4] == 13  # the zeros rejected, then kept, as by astropy


@needs_numba
def test_one_or_two_values_are_exact_without_the_numpy_engine(caplog):
    """With one or two values the kernels repeat astropy's own operations."""
    rng = np.random.default_rng(9)
    stack = (rng.normal(size=(2, 8, 9)) * 50 + 100).astype(np.float32)
    for kw in ({"sigma": 1.0}, {"sigma": 1.0, "cenfunc": "mean"}, {"sigma": 0.999}, {"sigma": 1.001}):
        got, count = combine(stack, clip="pixel", backend="numba", return_count=True, **kw)
        expected, expected_count = astropy_pixel(stack, "median", **kw)
        np.testing.assert_allclose(got, expected, rtol=1e-6, equal_nan=True)
        np.testing.assert_array_equal(count, expected_count)
        assert settled_by_numpy(caplog, stack, "median", **kw) == 0


@needs_numba
def test_floats_next_to_a_bound(caplog):
    """A value moved one unit in the last place at a time across astropy's upper bound."""
    rng = np.random.default_rng(10)
    settled = 0
    for dtype in (np.float64, np.float32):
        base = rng.normal(817, 4, size=13).astype(dtype)
        kw = {"sigma": 2.0, "maxiters": 1, "cenfunc": "mean"}

        def gap(v):
            x = base.copy()
            x[-1] = v
            _, _, upper = sigma_clip(x.astype(np.float64), return_bounds=True, **kw)
            return v - float(upper)

        lo, hi = float(base[:-1].max()), float(base[:-1].max()) + 100
        while True:  # bisection to the crossing of v and upper(v)
            mid = float(dtype(0.5 * (lo + hi)))
            if mid in (lo, hi):
                break
            lo, hi = (mid, hi) if gap(mid) < 0 else (lo, mid)
        values = [dtype(lo)]
        for _ in range(3):
            down, up = np.nextafter(values[0], dtype(-np.inf)), np.nextafter(values[-1], dtype(np.inf))
            values = [down] + values + [up]
        stack = np.repeat(base[:, None], len(values), axis=1)[:, None, :]
        stack[-1, 0, :] = values
        for method in ("median", "mean"):
            got, count = combine(stack, method=method, clip="pixel", backend="numba", return_count=True, **kw)
            expected, expected_count = astropy_pixel(stack, method, **kw)
            np.testing.assert_allclose(got, expected, rtol=1e-6)
            np.testing.assert_array_equal(count, expected_count)
        assert expected_count.min() < expected_count.max()  # the value is kept, then not
        settled += settled_by_numpy(caplog, stack, "mean", **kw)
    assert settled > 0  # the values nearest to the bound were left to the numpy engine


