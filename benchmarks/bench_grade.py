"""Grading throughput: seconds per notebook with --jobs 1 and 2, against plain execution.

A class of 20 submissions of 2 to 6 notebooks each (``--students``) is built
in a temporary folder from the course's notebooks: by default the cut-down
notebooks of tests/test_grade.py (one exercise each, a few seconds to run),
with ``--full`` the whole student and solution notebooks (about a minute
each: hours for a class). The same notebooks are first executed plainly
(nbclient, one after the other, no grading); then the class is graded with
``--jobs 1`` and with ``--jobs 2``, each in a fresh output folder.

Reported: seconds per notebook for each route; the grading overhead,
measured per distinct notebook by alternating a plain run and a grading run
(:func:`~course_utils.grade.grade_notebook`) ``--repeat`` times, so that both
see the same load on a shared machine (target ≤ 15 %; the median over the
notebooks of the ratio of medians); and the speed-up of ``--jobs 2`` over
``--jobs 1`` on the whole class (target: at least 80 % of twice the 1-job
throughput, i.e. a speed-up ≥ 1.6).

Usage::

    .venv/bin/python benchmarks/bench_grade.py [--students 20] [--full] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import random
import stat
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_grade import (BIAS_ANSWERS, CHECK_1, CHECK_3, bias_notebook,  # noqa: E402
                        sigma_notebook, solution_cells)

from course_utils.grade import GradeOptions, Task, grade_folder, grade_notebook  # noqa: E402

OPTIONS = GradeOptions(cell_timeout=300, notebook_timeout=1800, memory_gb=8)


def pool(full: bool) -> list[bytes]:
    """The distinct notebooks submissions are drawn from."""
    if full:
        return [p.read_bytes() for p in sorted((ROOT / "notebooks").glob("0*.ipynb"))
                + sorted((ROOT / "notebooks" / "student").glob("0*.ipynb"))]
    bias = solution_cells("01_bias_frames.ipynb", *BIAS_ANSWERS)
    sigma = solution_cells("02_sigma_clipping.ipynb", "def sigma_clip_by_hand")
    wrong = nbformat.v4.new_code_cell("center = float(img.mean())\nspread = float(img.std())\n"
                                      "n_outliers = 0")
    return [bias_notebook(*bias, CHECK_1), bias_notebook(wrong, CHECK_1), bias_notebook(CHECK_1),
            sigma_notebook(*sigma, CHECK_3), sigma_notebook(CHECK_3)]


def build_class(folder: Path, notebooks: list[bytes], students: int) -> list[bytes]:
    """``students`` folders of 2-6 notebooks each; returns every submitted notebook."""
    chosen = []
    rng = random.Random(24)
    for number in range(students):
        student = folder / f"student{number:02d}"
        student.mkdir(parents=True)
        for index in range(rng.randint(2, 6)):
            data = rng.choice(notebooks)
            (student / f"notebook{index}.ipynb").write_bytes(data)
            chosen.append(data)
    return chosen


def plain_seconds(data: bytes, repeat: int) -> float:
    """Median wall time of executing ``data`` plainly in a fresh kernel."""
    times = []
    for _ in range(repeat):
        nb = nbformat.reads(data.decode(), as_version=4)
        with tempfile.TemporaryDirectory() as work:
            # Shut down at once, as the grader does: a graceful shutdown adds seconds
            # of waiting that are not execution.
            client = NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                                    shutdown_kernel="immediate",
                                    resources={"metadata": {"path": work}})
            start = time.perf_counter()
            client.execute()
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def paired_ratio(data: bytes, repeat: int) -> tuple[float, float]:
    """Median plain and grading seconds of ``data``, runs alternated."""
    plain, graded = [], []
    for _ in range(repeat):
        plain.append(plain_seconds(data, 1))
        start = time.perf_counter()
        grade_notebook(Task(data, "student", "notebook.ipynb", OPTIONS))
        graded.append(time.perf_counter() - start)
    return statistics.median(plain), statistics.median(graded)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--full", action="store_true", help="whole course notebooks")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        # Every student gets a dataset of their own (COURSE_STUDENT): made beforehand, in a
        # cache of the benchmark's, so that no timed run pays for generating one.
        os.environ["COURSE_CACHE_DIR"] = cache
        try:
            run(args)
        finally:
            for inside, dirs, _ in os.walk(cache):
                os.chmod(inside, stat.S_IRWXU)
                for name in dirs:
                    os.chmod(os.path.join(inside, name), stat.S_IRWXU)


def prepare_datasets(identities) -> None:
    """Generate each identity's dataset (and the default one) before anything is timed."""
    from course_utils.data import dataset_dir
    from course_utils.data.students import student_seed

    dataset_dir(verbose=False)
    for identity in identities:
        dataset_dir(seed=student_seed(identity), verbose=False)


def run(args) -> None:
    """The benchmark proper (see the module docstring)."""
    notebooks = pool(args.full)
    prepare_datasets(["student"] + [f"student{number:02d}" for number in range(args.students)])
    pairs = {data: paired_ratio(data, args.repeat) for data in notebooks}
    plain = {data: pair[0] for data, pair in pairs.items()}
    overhead = statistics.median(g / p for p, g in pairs.values()) - 1
    with tempfile.TemporaryDirectory() as tmp:
        submitted = build_class(Path(tmp) / "submissions", notebooks, args.students)
        n = len(submitted)
        expected_plain = sum(plain[d] for d in submitted) / n
        print(f"{args.students} students, {n} notebooks; plain execution "
              f"{expected_plain:.2f} s/notebook (median of {args.repeat} per notebook)",
              flush=True)
        per_notebook = {}
        for jobs in (1, 2):
            start = time.perf_counter()
            grade_folder(Path(tmp) / "submissions", Path(tmp) / f"out{jobs}", options=OPTIONS,
                         jobs=jobs, progress=False)
            per_notebook[jobs] = (time.perf_counter() - start) / n
    speedup = per_notebook[1] / per_notebook[2]
    print("| route | s / notebook | vs plain |")
    print("|---|---|---|")
    print(f"| plain nbclient, 1 at a time | {expected_plain:.2f} | 1.00 |")
    for jobs in (1, 2):
        print(f"| grade --jobs {jobs} | {per_notebook[jobs]:.2f} | "
              f"{per_notebook[jobs] / expected_plain:.2f} |")
    for p, g in pairs.values():
        print(f"paired: plain {p:.2f} s, graded {g:.2f} s, ratio {g / p:.2f}")
    print(f"grading overhead (paired, median over notebooks): {overhead:+.1%} "
          "(target <= +15%)")
    print(f"--jobs 2 speed-up: {speedup:.2f} (target >= 1.60)")


if __name__ == "__main__":
    main()
