"""The one guard all ten answer checks share.

Whatever a notebook hands a check -- an answer whose attribute access or
conversion raises, a ``namespace`` that is not a mapping, a ``data_dir``
that cannot be read, a function that never returns, catches every
exception or ends the process, a 1 GiB array -- the check returns a
verdict, prints nothing and never hangs.
"""

from __future__ import annotations

import os
import sys
import time
import tracemalloc

import numpy as np
import pytest

from course_utils import checks as check
from data_fixtures import small_dataset

#: Each check's answer names, as the notebooks define them.
ANSWERS = {
    1: ["center", "spread", "n_outliers"], 2: ["difference", "read_noise"],
    3: ["sigma_clip_by_hand"], 4: ["master_dark"], 5: ["dark_current", "dark_scaled"],
    6: ["master_flat"], 7: ["calibrated"], 8: ["ratio_before", "ratio_after"],
    9: ["signal", "variance", "gain"], 10: ["read_noise_du", "read_noise_e"],
}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return small_dataset(tmp_path_factory)


class Hostile:
    """An answer whose every attribute and conversion raises."""

    def __getattr__(self, name):
        raise RuntimeError(f"no {name} here")

    def __array__(self, *args, **kwargs):
        raise RuntimeError("no array here")

    def __len__(self):
        raise RuntimeError("no length here")

    def __float__(self):
        raise RuntimeError("no number here")


class ExitOnRead:
    """An answer that ends the process when numpy reads it."""

    def __array__(self, *args, **kwargs):
        sys.exit(3)


def _check(exercise, **kwargs):
    return getattr(check, f"exercise_{exercise}")(**kwargs)


@pytest.mark.parametrize("exercise", sorted(ANSWERS))
@pytest.mark.parametrize("make", [Hostile, ExitOnRead], ids=["raises", "sys.exit"])
def test_an_answer_that_cannot_be_read_is_named(exercise, make, root, capfd):
    capfd.readouterr()
    names = ANSWERS[exercise]
    feedback = _check(exercise, data_dir=root, namespace={n: make() for n in names})
    assert feedback.status == "incorrect", repr(feedback)
    assert f"`{names[0]}` could not be read" in repr(feedback)
    assert capfd.readouterr() == ("", "")


@pytest.mark.parametrize("exercise", sorted(ANSWERS))
@pytest.mark.parametrize("namespace", [5, "globals", [("center", 1)], object()])
def test_a_wrong_namespace_is_not_attempted_not_a_traceback(exercise, namespace, root):
    feedback = _check(exercise, data_dir=root, namespace=namespace)
    assert feedback.status == "not attempted", repr(feedback)


class RaisingMapping(dict):
    def get(self, key, default=None):
        raise RuntimeError("lookup failed")


@pytest.mark.parametrize("exercise", sorted(ANSWERS))
def test_a_namespace_whose_lookups_raise_gives_a_verdict(exercise, root):
    feedback = _check(exercise, data_dir=root, namespace=RaisingMapping())
    assert feedback.status == "not checked", repr(feedback)
    assert "RuntimeError: lookup failed" in repr(feedback)


def test_a_data_dir_whose_attribute_access_raises_gives_a_note(root, monkeypatch):
    # The notebook's `data_dir` was replaced by an object that raises on any access:
    # the check falls back to the course's dataset and says so.
    monkeypatch.setenv("COURSE_DATA_DIR", str(root))
    from course_utils import solutions
    from astropy.io import fits

    stats = solutions.bias_statistics(fits.getdata(root / check.BIAS_FIRST))
    namespace = {"data_dir": Hostile(), "center": stats.center, "spread": stats.spread,
                 "n_outliers": stats.n_outliers}
    feedback = check.exercise_1(namespace=namespace)
    assert feedback.status == "correct", repr(feedback)
    assert "`data_dir` in your notebook" in feedback.messages[-1]


# --- Exercise 3: the student's function runs in a child process ------------------------


def _catches_everything(values, sigma=3.0, maxiters=5):
    while True:
        try:
            time.sleep(0.01)
        except BaseException:  # noqa: BLE001 - what a student might write
            pass


def _exits(values, sigma=3.0, maxiters=5):
    sys.exit(0)


def _ends_process(values, sigma=3.0, maxiters=5):
    os._exit(0)


def _writes_to_fd(values, sigma=3.0, maxiters=5):
    os.write(1, b"debug\n")
    os.write(2, b"debug\n")
    return np.zeros(np.shape(values), dtype=bool)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the hard time limit needs fork (Unix)")
@pytest.mark.parametrize("function, words", [
    (_catches_everything, ["did not finish"]),
    (_exits, ["raised SystemExit"]),
    (_ends_process, ["ended the process"]),
    (_writes_to_fd, ["differs from astropy"]),
], ids=["catch-all loop", "sys.exit", "os._exit", "writes to fd 1 and 2"])
def test_exercise_3_student_code_cannot_hang_or_escape(function, words, root, capfd):
    capfd.readouterr()
    start = time.monotonic()
    feedback = check.exercise_3(function, data_dir=root, namespace={})
    assert time.monotonic() - start < 30
    assert feedback.status == "incorrect", repr(feedback)
    for word in words:
        assert word in repr(feedback), repr(feedback)
    assert capfd.readouterr() == ("", "")


# --- Odd answers are sized before they are converted -------------------------------------


@pytest.mark.parametrize("exercise", [1, 2, 4, 5, 6, 7, 8, 9, 10])
def test_a_huge_answer_is_never_converted(exercise, root):
    # 1 GiB of uint8: calloc'ed, so it costs no memory until something converts it.
    huge = np.zeros(2**30, dtype=np.uint8)
    tracemalloc.start()
    try:
        feedback = _check(exercise, data_dir=root,
                          namespace={name: huge for name in ANSWERS[exercise]})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert feedback.status == "incorrect", repr(feedback)
    assert peak < 200 * 2**20, f"{peak / 2**20:.0f} MiB allocated"


# --- References cached on disk, never in the dataset --------------------------------------


def _flat_answer(root):
    from astropy.io import fits
    from course_utils import solutions

    paths = [root / p for p in check.FLAT_FRAMES]
    header = fits.getheader(paths[0])
    return solutions.master_flat([fits.getdata(p) for p in paths], header["DATASEC"],
                                 header["BIASSEC"])


def test_references_are_cached_outside_a_read_only_dataset(root, tmp_path, monkeypatch):
    from data_fixtures import copy_dataset

    dataset = copy_dataset(root, tmp_path / "dataset")
    cache = tmp_path / "references"
    monkeypatch.setenv("COURSE_CHECK_CACHE_DIR", str(cache))
    for path in [dataset, *dataset.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    before = sorted(p.relative_to(dataset) for p in dataset.rglob("*"))
    answer = _flat_answer(dataset)
    try:
        feedback = check.exercise_6(answer, data_dir=dataset, namespace={})
    finally:
        for path in [dataset, *dataset.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert feedback.status == "correct", repr(feedback)
    assert sorted(p.relative_to(dataset) for p in dataset.rglob("*")) == before
    assert [p.name.split("-")[0] for p in cache.iterdir()] == ["flat"]


def test_a_corrupt_or_unwritable_cache_is_recomputed_not_an_error(root, tmp_path, monkeypatch):
    import subprocess

    from data_fixtures import copy_dataset

    answer = _flat_answer(root)
    np.save(tmp_path / "answer.npy", answer)
    cache = tmp_path / "references"
    monkeypatch.setenv("COURSE_CHECK_CACHE_DIR", str(cache))
    dataset = copy_dataset(root, tmp_path / "dataset")
    assert check.exercise_6(answer, data_dir=dataset, namespace={}).status == "correct"
    (stored,) = cache.iterdir()
    stored.write_bytes(b"not an npz file")
    # A new kernel reads the corrupt file, recomputes, and writes it anew.
    code = ("import numpy as np, sys; from course_utils import checks; "
            f"print(checks.exercise_6(np.load({str(tmp_path / 'answer.npy')!r}), "
            f"data_dir={str(dataset)!r}, namespace={{}}).status)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "TQDM_DISABLE": "1"}, check=True)
    assert (done.stdout, done.stderr) == ("correct\n", "")
    with np.load(stored) as arrays:
        assert "master" in arrays.files
    # A cache folder that cannot be made: the check runs without it.
    (tmp_path / "a-file").write_text("a file where the folder should be")
    monkeypatch.setenv("COURSE_CHECK_CACHE_DIR", str(tmp_path / "a-file"))
    other = copy_dataset(root, tmp_path / "other")
    assert check.exercise_6(answer, data_dir=other, namespace={}).status == "correct"


def test_a_changed_dataset_gets_new_references(root, tmp_path, monkeypatch):
    from data_fixtures import copy_dataset

    cache = tmp_path / "references"
    monkeypatch.setenv("COURSE_CHECK_CACHE_DIR", str(cache))
    dataset = copy_dataset(root, tmp_path / "dataset")
    answer = _flat_answer(dataset)
    check.exercise_6(answer, data_dir=dataset, namespace={})
    flat = dataset / check.FLAT_FRAMES[0]
    stat = flat.stat()
    os.utime(flat, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    other = copy_dataset(dataset, tmp_path / "changed")  # a new folder too: no memory cache
    check.exercise_6(answer, data_dir=other, namespace={})
    assert len(list(cache.iterdir())) == 2


def test_cached_references_equal_the_reference_solutions(root, tmp_path, monkeypatch):
    """The references take their own, faster route (each frame read once, each median
    computed once): what they cache must be exactly what the solutions give."""
    from astropy.io import fits
    from course_utils import solutions
    from data_fixtures import copy_dataset

    cache = tmp_path / "references"
    monkeypatch.setenv("COURSE_CHECK_CACHE_DIR", str(cache))
    dataset = copy_dataset(root, tmp_path / "dataset")  # a new folder: no memory cache
    flat = _flat_answer(dataset)
    assert check.exercise_6(flat, data_dir=dataset, namespace={}).status == "correct"
    bias_paths = [dataset / p for p in check.BIAS_FRAMES]
    bias = solutions.master_bias(bias_paths, progress=False)
    darks = np.array([fits.getdata(dataset / p) for p in check.DARK_FRAMES])
    dark = solutions.master_dark(darks, bias, "median")
    assert check.exercise_4(dark, data_dir=dataset, namespace={}).status == "correct"
    stored = {path.name.split("-")[0]: path for path in cache.iterdir()}
    header = fits.getheader(dataset / check.FLAT_FRAMES[0])
    rows, cols = solutions.fits_section(header["DATASEC"])
    corrected = []
    for path in check.FLAT_FRAMES:
        raw = fits.getdata(dataset / path)
        corrected.append(raw[rows, cols].astype(np.float32)
                         - solutions.overscan_level(raw, header["BIASSEC"]))
    syllabus = np.median(corrected, axis=0).T
    with np.load(stored["flat"]) as arrays:
        assert np.array_equal(arrays["master"], flat)
        assert np.array_equal(arrays["syllabus"], syllabus / np.median(syllabus))
    # Which bias frame a cosmic ray hit, frame by frame (the brightest hit, the first of equals).
    hit = np.full(bias.shape, -1, dtype=np.int16)
    brightest = np.zeros(bias.shape, dtype=np.float32)
    for index, path in enumerate(bias_paths):
        excess = fits.getdata(path).astype(np.float32) - bias
        new = (excess > 25) & (excess > brightest)
        hit[new], brightest[new] = index, excess[new]
    assert np.count_nonzero(hit >= 0) > 0
    with np.load(stored["dark"]) as arrays:
        assert np.array_equal(arrays["median"], dark)
        assert np.array_equal(arrays["mean"], solutions.master_dark(darks, bias, "mean"))
        assert np.array_equal(arrays["bias_cosmics"], hit)
        assert np.array_equal(arrays["bias_hot"], bias > np.median(bias) + 25)
        datasec = fits.getheader(dataset / check.DARK_FRAMES[0])["DATASEC"]
        rows, cols = solutions.fits_section(datasec)
        levels = solutions.dark_levels(dark, (rows.stop, cols.stop))
        assert tuple(arrays["levels"]) == tuple(levels)
