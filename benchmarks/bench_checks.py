"""Benchmark: how long each answer check takes on the full-size course dataset.

For every exercise the script times, in one process:

* the first call, which also computes and caches the check's references
  (for Exercises 4 and 5: the master bias from 40 frames and the darks);
* then the median of ``--rounds`` calls with the reference answer (correct)
  and with a classic mistake (incorrect), the references already cached.

Target (issue 13): every cached call under 2 s. Peak memory of the process
is the kernel's maximum resident set size.

Usage::

    python benchmarks/bench_checks.py [--rounds 5] [--data DIR]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from pathlib import Path

import numpy as np
from astropy.io import fits

from course_utils import checks as check
from course_utils import solutions
from course_utils.data import dataset_dir

TARGET_SECONDS = 2.0


def answers(root: Path) -> dict[int, tuple[dict, dict]]:
    """For each exercise: (a correct answer, a classic mistake), as keyword arguments."""
    first, second = (fits.getdata(root / p) for p in (check.BIAS_FIRST, check.BIAS_SECOND))
    stats = solutions.bias_statistics(first)
    difference = solutions.bias_difference(first, second)
    bias = solutions.master_bias([root / p for p in check.BIAS_FRAMES], progress=False)
    darks = np.array([fits.getdata(root / p) for p in check.DARK_FRAMES])
    dark = solutions.master_dark(darks, bias, "median")
    header = fits.getheader(root / check.DARK_FRAMES[0])
    gain, exptime = header["EGAIN"], header["EXPTIME"]
    paths = [root / p for p in check.FLAT_FRAMES]
    flat_header = fits.getheader(paths[0])
    flat = solutions.master_flat([fits.getdata(p) for p in paths], flat_header["DATASEC"],
                                 flat_header["BIASSEC"])
    current = solutions.dark_current(dark, gain, exptime)
    scaled = solutions.scaled_dark(dark, exptime)
    return {
        1: ({"center": stats.center, "spread": stats.spread, "n_outliers": stats.n_outliers},
            {"center": stats.center, "spread": stats.std, "n_outliers": 3}),
        2: ({"difference": difference, "read_noise": solutions.read_noise(first, second)},
            {"difference": second - first, "read_noise": float(np.std(second - first))}),
        3: ({"sigma_clip_by_hand": solutions.sigma_clip_by_hand},
            {"sigma_clip_by_hand": lambda v, s=3.0, m=5: solutions.sigma_clip_by_hand(v, s, 1)}),
        4: ({"master_dark": dark},
            {"master_dark": np.median(darks.astype(np.float32) - bias.mean(), axis=0)}),
        5: ({"dark_current": current, "dark_scaled": scaled},
            {"dark_current": current / gain, "dark_scaled": dark * exptime / 600}),
        6: ({"master_flat": flat}, {"master_flat": flat / np.mean(flat)}),
    }


def timed(exercise: int, kwargs: dict, root: Path) -> tuple[float, str]:
    start = time.perf_counter()
    feedback = getattr(check, f"exercise_{exercise}")(**kwargs, data_dir=root, namespace={})
    return time.perf_counter() - start, feedback.status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--data", type=Path, default=None)
    args = parser.parse_args()
    root = args.data or dataset_dir(verbose=False)
    cases = answers(root)
    print(f"{'exercise':>8} {'first call':>11} {'correct':>9} {'mistake':>9}   statuses")
    worst = 0.0
    for exercise, (right, wrong) in cases.items():
        first, _ = timed(exercise, right, root)
        right_times, wrong_times, statuses = [], [], set()
        for _ in range(args.rounds):
            seconds, status = timed(exercise, right, root)
            right_times.append(seconds)
            statuses.add(status)
            seconds, status = timed(exercise, wrong, root)
            wrong_times.append(seconds)
            statuses.add(status)
        medians = statistics.median(right_times), statistics.median(wrong_times)
        worst = max(worst, *medians)
        print(f"{exercise:>8} {first:>10.2f}s {medians[0]:>8.3f}s {medians[1]:>8.3f}s   "
              f"{', '.join(sorted(statuses))}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    verdict = "meets" if worst < TARGET_SECONDS else "MISSES"
    print(f"slowest cached check: {worst:.3f} s ({verdict} the {TARGET_SECONDS:.0f} s target); "
          f"peak memory {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
