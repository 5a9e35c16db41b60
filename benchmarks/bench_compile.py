"""Benchmark: where numba's compilation time goes when its cache is empty.

Each round runs a fresh Python process with a new, empty ``NUMBA_CACHE_DIR``
(as a fresh Colab runtime) and makes one combine() call with
``backend='numba'`` on a small uint16 stack, so that the call is almost all
numba's import and compilation (with the default backend, a background
process does that work while the first calls run on the numpy engine). It
prints, per route, the median over the rounds of:

* ``first call s``: the whole call (numba import included);
* one column per compiled function: numba's own pipeline time for it
  (type inference, lowering and LLVM; a kernel's time includes the helpers
  it compiles, which also have their own column).

Usage::

    python benchmarks/bench_compile.py              # 5 rounds per route
    python benchmarks/bench_compile.py --rounds 9

The issue's target for the first call is 3 s; ``bench_combine.py``
measures it, with the default backend, on the full stack.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROUTES = {
    "median, clip='pixel'": "dict(method='median', clip='pixel')",
    "ccdproc-equivalent: mean, clip='pixel', cenfunc='mean', maxiters=1":
        "dict(method='mean', clip='pixel', cenfunc='mean', maxiters=1)",
    "median, clip='frame'": "dict(method='median', clip='frame')",
    "median (no clipping)": "dict(method='median')",
}

FUNCTIONS = ("combine_pixel", "combine_plain", "_load", "_clip_sorted", "_bounds", "sort_columns",
             "histogram16")

CHILD = r'''
import json, sys, time
import numpy as np
from course_utils import combine
stack = np.random.default_rng(0).integers(800, 900, size=(40, 64, 64)).astype(np.uint16)
kw = eval(sys.argv[1])
t = time.perf_counter()
combine(stack, backend="numba", **kw)
first = time.perf_counter() - t
from course_utils.combining import kernels as _kernels
compiled = {}
for name in json.loads(sys.argv[2]):
    dispatcher = getattr(_kernels, name)
    total = 0.0
    for sig in dispatcher.signatures:
        times = dispatcher.get_metadata(sig).get("pipeline_times", {}).get("nopython", {})
        total += sum(v.init + v.run + v.finalize for v in times.values())
    if dispatcher.signatures:
        compiled[name] = total
print(json.dumps({"first": first, "compiled": compiled}))
'''


def one_round(kw: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, TQDM_DISABLE="1")
        env.pop("COURSE_UTILS_BACKEND", None)
        done = subprocess.run([sys.executable, "-c", CHILD, kw, json.dumps(FUNCTIONS)],
                              capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"combine(**{kw}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="fresh processes per route (default 5)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    rows = []
    for name, kw in ROUTES.items():
        runs = [one_round(kw) for _ in range(args.rounds)]
        first = [r["first"] for r in runs]
        compiled = {f: statistics.median(r["compiled"][f] for r in runs if f in r["compiled"])
                    for f in FUNCTIONS if any(f in r["compiled"] for r in runs)}
        rows.append((name, statistics.median(first), min(first), max(first), compiled))
        print(f"done: {name}", file=sys.stderr)
    print(f"First combine() call, empty numba cache, 40 x 64 x 64 uint16; medians of "
          f"{args.rounds} fresh processes. Per function: numba's pipeline time, s.\n")
    print("| route | first call s (min–max) | compiled functions, s |")
    print("|---|---|---|")
    for name, med, lo, hi, compiled in rows:
        parts = ", ".join(f"{f} {t:.2f}" for f, t in compiled.items())
        print(f"| {name} | {med:.2f} ({lo:.2f}–{hi:.2f}) | {parts} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
