"""Benchmark: the CPU time of each answer check on the full-size course dataset.

For every exercise (1-10) the script measures, as CPU seconds of the process
(user and system time of the calling thread, plus for Exercise 3 that of
the forked child that runs the student's function, so that other work on a
shared machine, the idle spinning of thread pools and the worker processes
the answer's own computation started do not count):

* the *first call* in a fresh Python process that has already made the
  answer (as a student's kernel has), which computes the check's references
  or reads them from the on-disk cache: ``cold`` with an empty reference cache
  (the median of ``--cold-runs`` fresh processes), ``warm`` with the cache the
  last cold run left, and ``cold, wrong``: the first call with an empty
  reference cache given the mistake, which also decides whether the answer
  was copied from the other datasets in the course's cache (issue 23; the
  datasets of other students there count, so make some first, e.g.
  ``dataset_dir(seed=student_seed("someone@uni.example"))``);
* the median of ``--rounds`` *later calls* with the reference answer
  (correct) and with a classic mistake (incorrect), references in memory.

Targets (issue 21): first call at most 1 s of CPU (with an empty reference cache
too, right or wrong), later calls at most 0.3 s. Peak memory is the largest resident set of the
child processes. The machine's other load shows in these times (memory
bandwidth, caches): on a shared machine, compare medians of several runs.

Usage::

    python benchmarks/bench_checks.py [--rounds 5] [--cold-runs 3] [--exercises 1 4 7]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

FIRST_TARGET_S = 1.0
LATER_TARGET_S = 0.3

CHILD = r"""
import json, os, sys, time
# The calling thread, and for Exercise 3 its forked child. Not the whole process:
# the threads of numba's or OpenMP's pool, started by the answer's own computation,
# spin for a while after their work, and worker processes it started may end
# during the check; neither is the check's work.
if {exercise} == 3:
    cpu = lambda: time.thread_time() + sum(os.times()[2:4])
else:
    cpu = time.thread_time
sys.path.insert(0, {bench!r})
import bench_checks
right, wrong = bench_checks.answers({exercise})
from course_utils import checks as check
run = getattr(check, "exercise_{exercise}")
start = cpu()
status = run(**(wrong if {first_wrong} else right)).status
first = cpu() - start
later_right, later_wrong, statuses = [], [], {{status}}
for _ in range({rounds}):
    start = cpu(); statuses.add(run(**right).status)
    later_right.append(cpu() - start)
    start = cpu(); statuses.add(run(**wrong).status)
    later_wrong.append(cpu() - start)
print(json.dumps({{"first": first, "right": later_right, "wrong": later_wrong,
                  "statuses": sorted(statuses)}}))
"""


def answers(exercise: int) -> tuple[dict, dict]:
    """A correct answer and a classic mistake of ``exercise``, as keyword arguments."""
    import numpy as np
    from astropy.io import fits

    from course_utils import checks as check
    from course_utils import solutions
    from course_utils.data import dataset_dir

    root = dataset_dir(verbose=False)
    common = {"data_dir": root, "namespace": {}}
    first, second = (fits.getdata(root / p) for p in (check.BIAS_FIRST, check.BIAS_SECOND))
    if exercise == 1:
        stats = solutions.bias_statistics(first)
        right = {"center": stats.center, "spread": stats.spread, "n_outliers": stats.n_outliers}
        return {**right, **common}, {**right, "spread": stats.std, **common}
    if exercise == 2:
        return ({"difference": solutions.bias_difference(first, second),
                 "read_noise": solutions.read_noise(first, second), **common},
                {"difference": second - first, "read_noise": float(np.std(second - first)),
                 **common})
    if exercise == 3:
        return ({"sigma_clip_by_hand": solutions.sigma_clip_by_hand, **common},
                {"sigma_clip_by_hand": lambda v, s=3.0, m=5: solutions.sigma_clip_by_hand(v, s, 1),
                 **common})
    if exercise in (4, 5):
        bias = solutions.master_bias([root / p for p in check.BIAS_FRAMES], progress=False)
        darks = np.array([fits.getdata(root / p) for p in check.DARK_FRAMES])
        dark = solutions.master_dark(darks, bias, "median")
        if exercise == 4:
            return ({"master_dark": dark, **common},
                    {"master_dark": np.median(darks.astype(np.float32) - bias.mean(), axis=0),
                     **common})
        header = fits.getheader(root / check.DARK_FRAMES[0])
        gain, exptime = header["EGAIN"], header["EXPTIME"]
        current = solutions.dark_current(dark, gain, exptime)
        return ({"dark_current": current, "dark_scaled": solutions.scaled_dark(dark, exptime),
                 **common},
                {"dark_current": current / gain, "dark_scaled": dark * exptime / 600, **common})
    if exercise == 6:
        paths = [root / p for p in check.FLAT_FRAMES]
        header = fits.getheader(paths[0])
        flat = solutions.master_flat([fits.getdata(p) for p in paths], header["DATASEC"],
                                     header["BIASSEC"])
        return {"master_flat": flat, **common}, {"master_flat": flat / np.mean(flat), **common}
    if exercise in (7, 8):
        from course_utils.data.science import FLAT_PATHS, SCIENCE_FRAMES, science_dir

        science = science_dir(verbose=False)
        namespace = {"science_root": science}
        if exercise == 8:  # the values notebook 5 prints; the time does not depend on them
            return ({"ratio_before": 0.7921, "ratio_after": 1.0003, "namespace": namespace},
                    {"ratio_before": 0.81, "ratio_after": 1.0003, "namespace": namespace})
        header = fits.getheader(science / SCIENCE_FRAMES[0].path)
        master = solutions.master_flat([fits.getdata(science / p) for p in FLAT_PATHS],
                                       header["DATASEC"], header["BIASSEC"])
        raws = [fits.getdata(science / f.path) for f in SCIENCE_FRAMES[:2]]
        right, other = (solutions.calibrate_frame(raw, master, header["DATASEC"],
                                                  header["BIASSEC"]) for raw in raws)
        return ({"calibrated": right, "namespace": namespace},
                {"calibrated": other, "namespace": namespace})
    # Exercises 9 and 10: the photon transfer curve.
    from course_utils.data.locate import dataset_dir_for
    from course_utils.data.layout import PTC_FRAMES

    ptc = dataset_dir_for([f.path for f in PTC_FRAMES], "Photon-transfer frames", verbose=False)
    header = fits.getheader(ptc / check.PTC_PAIRS[0][0])
    points = [solutions.pair_statistics(fits.getdata(ptc / a), fits.getdata(ptc / b),
                                        header["DATASEC"], header["BIASSEC"])
              for a, b in check.PTC_PAIRS]
    signal = np.array([p.signal for p in points])
    variance = np.array([p.variance for p in points])
    noise = float(np.sqrt(variance[0]))
    gain = solutions.fit_gain(signal, variance, noise).gain
    common = {"data_dir": ptc, "namespace": {}}
    if exercise == 9:
        return ({"signal": signal, "variance": variance, "gain": gain, **common},
                {"signal": signal, "variance": 2 * variance, "gain": gain / 2, **common})
    return ({"read_noise_du": noise, "read_noise_e": noise * gain, **common},
            {"read_noise_du": noise * 2**0.5, "read_noise_e": noise * gain, **common})


def run_child(exercise: int, rounds: int, env: dict, first_wrong: bool = False
              ) -> tuple[dict, float]:
    code = CHILD.format(bench=str(Path(__file__).parent), exercise=exercise, rounds=rounds,
                        first_wrong=first_wrong)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return json.loads(done.stdout.strip().splitlines()[-1]), peak_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--exercises", type=int, nargs="*", default=list(range(1, 11)))
    parser.add_argument("--cold-runs", type=int, default=1,
                        help="fresh processes with an empty reference cache (the median is shown)")
    args = parser.parse_args()
    references = Path(tempfile.mkdtemp(prefix="check-references-"))
    print(f"{'exercise':>8} {'first, cold':>12} {'cold, wrong':>12} {'first, warm':>12} "
          f"{'later ok':>9} {'later bad':>9}   statuses (CPU seconds)")
    worst_cold = worst_first = worst_later = peak = 0.0
    try:
        for exercise in args.exercises:
            # An empty reference cache for each cold run; the last one's is the warm run's.
            colds, colds_wrong = [], []
            for run in range(max(1, args.cold_runs)):
                env = {**os.environ, "TQDM_DISABLE": "1",
                       "COURSE_CHECK_CACHE_DIR": str(references / f"{exercise}-{run}-wrong")}
                cold, peak_wrong = run_child(exercise, 1, env, first_wrong=True)
                colds_wrong.append(cold["first"])
                env["COURSE_CHECK_CACHE_DIR"] = str(references / f"{exercise}-{run}")
                cold, peak_cold = run_child(exercise, 1, env)
                colds.append(cold["first"])
            cold = {"first": statistics.median(colds), "wrong": statistics.median(colds_wrong)}
            warm, peak_warm = run_child(exercise, args.rounds, env)
            later = statistics.median(warm["right"]), statistics.median(warm["wrong"])
            worst_cold = max(worst_cold, cold["first"], cold["wrong"])
            worst_first, worst_later = max(worst_first, warm["first"]), max(worst_later, *later)
            peak = max(peak, peak_cold, peak_wrong, peak_warm)
            print(f"{exercise:>8} {cold['first']:>11.2f}s {cold['wrong']:>11.2f}s "
                  f"{warm['first']:>11.2f}s {later[0]:>8.3f}s {later[1]:>8.3f}s   "
                  f"{', '.join(warm['statuses'])}")
    finally:
        shutil.rmtree(references, ignore_errors=True)
    verdict = lambda worst, target: "meets" if worst <= target else "MISSES"  # noqa: E731
    print(f"slowest first call: {worst_cold:.2f} s with an empty reference cache, "
          f"{verdict(worst_cold, FIRST_TARGET_S)} the {FIRST_TARGET_S:g} s target; "
          f"{worst_first:.2f} s (warm), {verdict(worst_first, FIRST_TARGET_S)} "
          f"the {FIRST_TARGET_S:g} s target; slowest later call: {worst_later:.3f} s, "
          f"{verdict(worst_later, LATER_TARGET_S)} the {LATER_TARGET_S:g} s target; "
          f"peak memory of a child {peak:.0f} MB")


if __name__ == "__main__":
    main()
