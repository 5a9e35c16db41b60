"""course_utils.combine's two engines: choosing one, and getting the same results.

The numba kernels (course_utils._kernels) are used when numba can be
imported; the numpy engine (course_utils._clip) otherwise, and for the few
pixels the kernels cannot decide exactly. tests/test_combine.py and
tests/test_combine_io.py run every test on both engines; this file checks
the choice itself, the fallbacks, and that the engines agree with each other
on many more configurations.
"""

from __future__ import annotations

import importlib
import itertools
import os
import subprocess
import sys
import types
import warnings

import numpy as np
import pytest
from astropy.stats import sigma_clip

from engines import NUMBA, needs_numba

from course_utils.combine import combine

C = importlib.import_module("course_utils.combine")
K = importlib.import_module("course_utils._kernels") if NUMBA else None
W = importlib.import_module("course_utils._warmup")
ALL_KINDS = [(entry, work) for entry in W._ENTRIES for work in W._WORK_TYPES]


@pytest.fixture(autouse=True)
def _no_backend_variable(monkeypatch):
    monkeypatch.delenv(C.BACKEND_ENV, raising=False)


@pytest.fixture(autouse=True)
def _kernels_compiled(monkeypatch):
    """backend='auto' finds every kernel compiled, as once the background compilations are done.

    (The tests of the background compilation itself start from a fresh state.)
    """
    monkeypatch.setattr(W, "_state", {kind: "ready" for kind in ALL_KINDS})


@pytest.fixture
def engines(monkeypatch):
    """Records which engine each combine() call used."""
    used = []
    run_numba, run_numpy = C._run_numba, C._run_numpy

    def numba_spy(*args, **kwargs):
        used.append("numba")
        return run_numba(*args, **kwargs)

    def numpy_spy(*args, **kwargs):
        used.append("numpy")
        return run_numpy(*args, **kwargs)

    monkeypatch.setattr(C, "_run_numba", numba_spy)
    monkeypatch.setattr(C, "_run_numpy", numpy_spy)
    return used


@pytest.fixture
def settled(monkeypatch):
    """Records the pixels the numba kernels hand to the numpy engine."""
    pixels = []
    settle = C._NumbaRun._settle

    def spy(self, flat_index):
        pixels.extend(flat_index.tolist())
        return settle(self, flat_index)

    monkeypatch.setattr(C._NumbaRun, "_settle", spy)
    return pixels


def without_numba(monkeypatch, module):
    """Make ``import numba`` give ``module`` (None: ImportError), as on a fresh install."""
    monkeypatch.setitem(sys.modules, "numba", module)
    monkeypatch.delitem(sys.modules, "course_utils._kernels", raising=False)
    monkeypatch.setattr(C, "_kernels_state", {})


def _fresh_python_prints(code: str, **variables: str) -> list[str]:
    """What ``code`` prints (split into words) in a new interpreter, with
    ``sys``, ``numpy as np`` and ``course_utils`` imported, no backend
    variable and these other environment ``variables``."""
    env = {k: v for k, v in os.environ.items() if k != C.BACKEND_ENV}
    env.update(variables)
    script = "import sys, numpy as np, course_utils; " + code
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, env=env).stdout.split()


def stack_of(rng, n, shape=(6, 9), dtype=np.uint16):
    return np.round(rng.normal(817, 4, size=(n,) + shape)).astype(dtype)


# ---------------------------------------------------------------------------
# Choosing the engine
# ---------------------------------------------------------------------------


def test_importing_course_utils_does_not_import_numba():
    code = (
        "print('numba' in sys.modules); "
        "course_utils.combine(np.zeros((3, 2, 2)), backend='numpy'); "
        "print('numba' in sys.modules)"
    )
    assert _fresh_python_prints(code) == ["False", "False"]


@needs_numba
def test_auto_uses_the_numba_kernels_once_compiled(engines):
    stack = stack_of(np.random.default_rng(0), 5)
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
    code = (
        "course_utils.combine(np.zeros((3, 2, 2)), clip='pixel', stdfunc='mad_std'); "
        "print('numba' in sys.modules)"
    )
    assert _fresh_python_prints(code) == ["False"]


@pytest.mark.parametrize("value", ["numpy", "NumPy ", "numba", "auto", ""])
def test_environment_variable_chooses_for_auto(monkeypatch, engines, value):
    monkeypatch.setenv(C.BACKEND_ENV, value)
    stack = stack_of(np.random.default_rng(0), 5)
    combine(stack, clip="pixel")
    expected = "numpy" if value.strip().lower() == "numpy" or K is None else "numba"
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
    monkeypatch.setenv(C.BACKEND_ENV, "gpu")
    with pytest.raises(ValueError, match=r"COURSE_UTILS_BACKEND='gpu'"):
        combine(stack)


def test_without_numba_auto_falls_back_to_numpy(monkeypatch, engines):
    stack = stack_of(np.random.default_rng(1), 7)
    stack[3, 2, 2] = 9000
    expected = combine(stack, clip="pixel", backend="numpy", return_count=True)
    engines.clear()
    without_numba(monkeypatch, None)
    _background(monkeypatch, "raise SystemExit(0)")
    got = combine(stack, clip="pixel", return_count=True)
    assert engines == ["numpy"]
    assert W._state == {("pixel", "uint16"): "in-process"}  # no background process either
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)
    monkeypatch.setenv(C.BACKEND_ENV, "numba")  # the variable insists, like backend='numba'
    with pytest.raises(ImportError, match="needs numba"):
        combine(stack, clip="pixel")


# ---------------------------------------------------------------------------
# Compiling in the background (course_utils._warmup)
# ---------------------------------------------------------------------------

FRESH_PROCESS = """
import json
C, W = sys.modules["course_utils.combine"], sys.modules["course_utils._warmup"]
used = []
def spy(name):
    run = getattr(C, "_run_" + name)
    def spied(*args, **kwargs):
        used.append(name)
        return run(*args, **kwargs)
    setattr(C, "_run_" + name, spied)
spy("numba"); spy("numpy")
engines, results = [], []
def run(data, **kwargs):  # the engine a call starts on (the numba one may hand pixels to numpy)
    del used[:]
    results.append(course_utils.combine(data, **kwargs))
    engines.append(used[0])
rng = np.random.default_rng(0)
u16 = np.round(rng.normal(817, 4, size=(9, 40, 50))).astype(np.uint16)
u16[3, 5, 5] = 9000
f32 = u16.astype(np.float32) - np.float32(800.5)
kinds = [("pixel", "uint16"), ("plain", "uint16"), ("pixel", "float32")]
run(u16, clip="pixel"); run(u16, method="mean", clip="frame"); run(f32, clip="pixel")
report = {"first": engines[:3], "numba_imported": "numba" in sys.modules,
          "states": [W.status(kind, start=False) for kind in kinds]}
run(f32, clip="pixel", backend="numba")  # waits for its background process
report["backend_numba"] = engines[3:]
report["waited"] = W.wait(timeout=300)
report["states_after"] = [W.status(kind, start=False) for kind in kinds]
readonly = u16.copy()
readonly.flags.writeable = False
run(u16, clip="pixel"); run(u16, method="mean", clip="frame"); run(f32, clip="pixel")
run(list(u16), clip="pixel"); run(readonly, clip="pixel"); run(u16.astype(np.int16), clip="pixel")
run(u16, method="median"); run(f32.astype(np.float16), clip="pixel")
report["after"] = engines[4:]
K = sys.modules["course_utils._kernels"]
names = ("combine_pixel", "combine_plain", "histogram16")
report["compiled_here"] = {n: sum(getattr(K, n).stats.cache_misses.values()) for n in names}
report["from_the_cache"] = {n: sum(getattr(K, n).stats.cache_hits.values()) for n in names}
report["same_results"] = [bool(np.array_equal(results[i], results[j], equal_nan=True))
                          for i, j in [(0, 4), (1, 5), (2, 6), (3, 6)]]
print(json.dumps(report).replace(" ", ""))
"""


@needs_numba
def test_first_calls_run_on_numpy_while_a_background_process_compiles(tmp_path):
    """A fresh process with an empty numba cache, as a student's new Colab runtime."""
    import json

    report = json.loads(_fresh_python_prints(FRESH_PROCESS, NUMBA_CACHE_DIR=str(tmp_path))[-1])
    # The first calls wait for nothing: the numpy engine, numba not even imported.
    assert report["first"] == ["numpy"] * 3
    assert report["numba_imported"] is False
    assert report["states"] == ["compiling"] * 3
    # backend='numba' waited for the background process instead of compiling again.
    assert report["backend_numba"] == ["numba"]
    assert report["waited"] is True
    assert report["states_after"] == ["ready"] * 3
    # Then every call runs on the kernels, all loaded from the cache that the
    # background processes filled: in place or staged, every input type.
    assert report["after"] == ["numba"] * 8
    assert report["compiled_here"] == {"combine_pixel": 0, "combine_plain": 0, "histogram16": 0}
    assert report["from_the_cache"] == {"combine_pixel": 2, "combine_plain": 1, "histogram16": 1}
    assert report["same_results"] == [True] * 4


def _background(monkeypatch, code: str | None) -> None:
    """Start from no background compilation; its process runs ``code`` (None: it cannot start)."""
    monkeypatch.setattr(W, "_state", {})
    if code is None:
        def refuse(*args, **kwargs):
            raise OSError("Resource temporarily unavailable")

        monkeypatch.setattr(W.subprocess, "Popen", refuse)
    else:
        monkeypatch.setattr(W, "_command", lambda kind: [sys.executable, "-c", code])


@needs_numba
def test_a_failed_background_compilation_is_done_here_instead(monkeypatch, engines):
    _background(monkeypatch, "import time; time.sleep(1); raise SystemExit(3)")
    stack = stack_of(np.random.default_rng(2), 5)
    expected = combine(stack, clip="pixel", backend="numpy")
    engines.clear()
    np.testing.assert_array_equal(combine(stack, clip="pixel"), expected)
    assert engines == ["numpy"]  # while the process runs
    assert W.wait(timeout=60)
    assert W.status(("pixel", "uint16")) == "in-process"
    np.testing.assert_array_equal(combine(stack, clip="pixel"), expected)
    assert engines == ["numpy", "numba"]


@needs_numba
def test_a_background_process_that_cannot_start_means_compiling_here(monkeypatch, engines):
    _background(monkeypatch, None)
    combine(stack_of(np.random.default_rng(2), 5), method="mean")
    assert engines == ["numba"]
    assert W.status(("plain", "uint16")) == "ready"


@needs_numba
def test_a_background_compilation_that_takes_too_long_is_stopped(monkeypatch, engines):
    _background(monkeypatch, "import time; time.sleep(120)")
    monkeypatch.setattr(W, "TIMEOUT", 0.5)
    stack = stack_of(np.random.default_rng(2), 5).astype(np.float32)
    combine(stack, clip="pixel")
    job = W._state[("pixel", "float32")]
    assert engines == ["numpy"]
    assert job.proc.poll() is None
    assert W.wait(timeout=30)
    assert job.proc.returncode is not None  # killed
    combine(stack, clip="pixel")
    assert engines == ["numpy", "numba"]


@needs_numba
def test_prepare_kernels_returns_when_combine_runs_on_them(monkeypatch, engines):
    monkeypatch.setattr(W, "_state", {})
    assert C.prepare_kernels(np.int16) == "numba"
    assert W.status(("pixel", "uint16"), start=False) == "ready"
    assert W.status(("plain", "uint16"), start=False) == "ready"
    assert W.status(("pixel", "float32"), start=False) == "idle"  # only what was asked for
    engines.clear()
    stack = stack_of(np.random.default_rng(3), 7, dtype=np.int16)
    for clip in (None, "frame", "pixel"):
        combine(stack, clip=clip)
    assert engines == ["numba"] * 3


def test_prepare_kernels_without_numba_says_numpy(monkeypatch):
    without_numba(monkeypatch, None)
    _background(monkeypatch, "raise SystemExit(0)")
    assert C.prepare_kernels() == "numpy"
    assert W._state == {}  # nothing started


@pytest.mark.parametrize("dtype, message", [(bool, "not a type of numbers"), ("U5", "not a type of numbers"),
                                            ("no such type", "not a data type")])
def test_prepare_kernels_needs_a_numeric_type(dtype, message):
    with pytest.raises(ValueError, match=message):
        C.prepare_kernels(dtype)


def test_unknown_kernel_kinds_are_refused():
    for kind in [("pixel", "int8"), ("median", "uint16"), "pixel", ("pixel",)]:
        with pytest.raises(ValueError, match="unknown kernel kind"):
            W.status(kind)


def test_backend_numba_without_numba_is_a_clear_error(monkeypatch):
    without_numba(monkeypatch, None)
    with pytest.raises(ImportError, match=r"backend='numba'.*COURSE_UTILS_BACKEND=numba.*needs numba.*"
                                          r"pip install numba"):
        combine(np.zeros((3, 2, 2)), backend="numba")
    # Also for options the kernels leave to numpy: the request itself is checked.
    with pytest.raises(ImportError, match="needs numba"):
        combine(np.zeros((3, 2, 2)), clip="pixel", stdfunc="mad_std", backend="numba")


def test_an_unusable_numba_falls_back_too(monkeypatch, engines):
    """A numba built for another numpy fails on import, not always with ImportError."""
    broken = types.ModuleType("numba")

    def __getattr__(name):
        raise RuntimeError("Numba needs NumPy 2.2 or less")

    broken.__getattr__ = __getattr__
    without_numba(monkeypatch, broken)
    result = combine(np.ones((3, 2, 2)), clip="pixel")
    np.testing.assert_array_equal(result, np.ones((2, 2), dtype=np.float32))
    assert engines == ["numpy"]
    with pytest.raises(ImportError, match=r"RuntimeError: Numba needs NumPy"):
        combine(np.ones((3, 2, 2)), backend="numba")


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
def test_values_on_a_bound_are_settled_by_the_numpy_engine(settled):
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
            settled.clear()
            got, count = combine(stack, method=method, clip="pixel", backend="numba", return_count=True, **kw)
            expected, expected_count = astropy_pixel(stack, method, **kw)
            np.testing.assert_allclose(got, expected, rtol=1e-6, equal_nan=True)
            np.testing.assert_array_equal(count, expected_count)
            assert 1 in settled and 3 not in settled
    settled.clear()
    got, count = combine(stack, method="mean", clip="pixel", backend="numba", return_count=True,
                         sigma=0.5, maxiters=1, cenfunc="mean")
    assert settled == [1, 2, 4]
    assert count[0, 2] == 11 and count[0, 4] == 13  # the zeros rejected, then kept, as by astropy


@needs_numba
def test_one_or_two_values_are_exact_without_the_numpy_engine(settled):
    """With one or two values the kernels repeat astropy's own operations."""
    rng = np.random.default_rng(9)
    stack = (rng.normal(size=(2, 8, 9)) * 50 + 100).astype(np.float32)
    for kw in ({"sigma": 1.0}, {"sigma": 1.0, "cenfunc": "mean"}, {"sigma": 0.999}, {"sigma": 1.001}):
        got, count = combine(stack, clip="pixel", backend="numba", return_count=True, **kw)
        expected, expected_count = astropy_pixel(stack, "median", **kw)
        np.testing.assert_allclose(got, expected, rtol=1e-6, equal_nan=True)
        np.testing.assert_array_equal(count, expected_count)
    assert settled == []


@needs_numba
def test_floats_next_to_a_bound(settled):
    """A value moved one unit in the last place at a time across astropy's upper bound."""
    rng = np.random.default_rng(10)
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
    assert settled  # the values nearest to the bound were left to the numpy engine


# ---------------------------------------------------------------------------
# The sorting network
# ---------------------------------------------------------------------------


def apply_network(values: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Apply compare-exchange pairs to the rows of ``values`` (one column per sample)."""
    x = values.copy()
    for i, j in pairs:
        low, high = np.minimum(x[i], x[j]), np.maximum(x[i], x[j])
        x[i], x[j] = low, high
    return x


@needs_numba
def test_sorting_networks_sort_everything():
    for n in range(1, 13):  # every 0-1 input: then every input (the 0-1 principle)
        pairs = K.batcher_pairs(n)
        assert ((pairs[:, 0] < pairs[:, 1]) & (pairs[:, 1] < n)).all() if n > 1 else pairs.size == 0
        bits = ((np.arange(2**n)[None, :] >> np.arange(n)[:, None]) & 1).astype(np.uint8)
        np.testing.assert_array_equal(apply_network(bits, pairs), np.sort(bits, axis=0))
    rng = np.random.default_rng(11)
    for n in (13, 31, 40, 41, 64, 100, 300):
        values = rng.integers(0, 50, size=(n, 200))
        np.testing.assert_array_equal(apply_network(values, K.batcher_pairs(n)), np.sort(values, axis=0))
    assert len(K.batcher_pairs(40)) < 40 * 10  # a few hundred steps, not n**2


@needs_numba
def test_extremes_network_finds_the_smallest_and_largest():
    rng = np.random.default_rng(12)
    for n in range(1, 70):
        pairs = K.extreme_pairs(n)
        assert len(pairs) <= 1.5 * n
        if n > 1:
            assert ((pairs[:, 0] < pairs[:, 1]) & (pairs[:, 1] < n)).all()
        values = rng.integers(0, int(rng.integers(2, 60)), size=(n, 300))
        got = apply_network(values, pairs)
        np.testing.assert_array_equal(got[0], values.min(axis=0))
        np.testing.assert_array_equal(got[-1], values.max(axis=0))
        np.testing.assert_array_equal(np.sort(got, axis=0), np.sort(values, axis=0))  # a permutation
