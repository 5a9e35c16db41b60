"""Benchmark: what a first combine() call in a fresh process spends its time on.

Issue 22 asks for a first call of at most 1 s with an empty numba cache and
0.3 s with a filled one. This splits such calls into the libraries they
load and the work itself, each in a fresh process (medians of ``--rounds``):

* empty numba cache (the default backend runs the numpy engine): the first
  ``combine(paths, method='median', clip='pixel')``, as it is and with
  ``astropy.io.fits`` imported beforehand (the notebooks import it before
  they combine anything), and the import of ``astropy.io.fits`` alone;
* numba cache filled: the first ``combine(stack, method='median',
  clip='pixel')``, as it is and after numba has been started (imported, and
  one cached kernel loaded by a call on a 3-frame stack), and that start-up
  alone.

The stack is the course dataset's 40 bias frames (1156 x 2176 uint16).

Usage::

    python benchmarks/bench_first_call.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

CHILD = r'''
import json, sys, time
spec = json.loads(sys.argv[1])
import numpy as np
from course_utils import combine, read_stack
paths = spec["paths"]
out = {}
if spec["before"] == "fits":
    t = time.perf_counter(); import astropy.io.fits; out["start-up"] = time.perf_counter() - t
frames = paths
if spec["input"] == "stack":
    frames = read_stack(paths, progress=False)
if spec["before"] == "numba":
    t = time.perf_counter()
    combine(np.zeros((3, 4, 4), dtype=np.uint16), clip="pixel")
    out["start-up"] = time.perf_counter() - t
t = time.perf_counter()
combine(frames, method="median", clip="pixel", progress=False)
out["first call"] = time.perf_counter() - t
print(json.dumps(out), flush=True)
from course_utils.combining import warmup
warmup.wait()  # (its background compilation, if any, ends before the next process starts)
'''


def child(paths: list[str], source: str, before: str, cache: str) -> dict:
    spec = {"paths": paths, "input": source, "before": before}
    env = dict(os.environ, TQDM_DISABLE="1", NUMBA_CACHE_DIR=cache, COURSE_UTILS_BACKEND="auto")
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], capture_output=True,
                          text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="fresh processes per case (default 5)")
    args = parser.parse_args(argv)
    from course_utils.data import dataset_dir

    paths = [str(p) for p in sorted((dataset_dir() / "calibration_frames" / "bias").glob("b0*c1.fits"))]
    cases = [("empty", "files", ""), ("empty", "files", "fits"),
             ("filled", "stack", ""), ("filled", "stack", "numba")]
    results = {case: [] for case in cases}
    with tempfile.TemporaryDirectory() as filled:
        subprocess.run([sys.executable, "-c", "import numpy as np; from course_utils.combining import "
                        "prepare_kernels; prepare_kernels(np.uint16)"],
                       check=True, env=dict(os.environ, NUMBA_CACHE_DIR=filled))
        for _ in range(args.rounds):
            for case in cases:
                if case[0] == "filled":
                    results[case].append(child(paths, case[1], case[2], filled))
                    continue
                with tempfile.TemporaryDirectory() as empty:
                    results[case].append(child(paths, case[1], case[2], empty))
    print(f"{os.cpu_count()} cores; {len(paths)} frames; medians of {args.rounds} fresh processes; "
          f"load average {os.getloadavg()[0]:.2f} at the end\n")
    print("| numba cache | input | loaded first | its start-up s | first call s |")
    print("|---|---|---|---|---|")
    names = {"": "nothing", "fits": "astropy.io.fits", "numba": "numba (a kernel from the cache)"}
    for (cache, source, before), runs in results.items():
        start = [r["start-up"] for r in runs if "start-up" in r]
        start_s = f"{statistics.median(start):.2f}" if start else ""
        first = statistics.median(r["first call"] for r in runs)
        print(f"| {cache} | {source} | {names[before]} | {start_s} | {first:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
