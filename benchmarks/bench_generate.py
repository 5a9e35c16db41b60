"""Benchmark: wall time and peak memory of generating the full-size synthetic dataset.

Each run generates the whole dataset (89 frames: the 63 of the real set and
the 26 photon-transfer frames, about 316 MB) with
``course_utils.data.synthetic.generate`` and the science folder of notebook 5
(``course_utils.data.science.generate_science``, about 55 MB) in a fresh Python process, into a
fresh temporary folder that is deleted afterwards. The peak memory is the
child's maximum resident set size, as the kernel reports it for that process
alone (``os.wait4``). The medians are the figures to quote: the machine may be
shared.

Target (issue 3): under 20 s and under 1.5 GB on the course's 2-core machine.

Usage::

    python benchmarks/bench_generate.py [--runs 3] [--preset full] [--student ID]

``--student ID`` generates that student's own dataset (issue 23: also under
20 s); each run uses the identity ``ID-<run>``, so no two runs share a seed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 20.0
TARGET_MB = 1500.0

CHILD = """
import sys, time
start = time.perf_counter()
from course_utils.data.synthetic import generate
from course_utils.data.science import generate_science
imported = time.perf_counter()
seed = int(sys.argv[3])
generate(sys.argv[1], sys.argv[2], seed, progress=False)
generate_science(sys.argv[1] + "-science", sys.argv[2], seed)  # notebook 5's folder
done = time.perf_counter()
print(f"{imported - start:.3f} {done - imported:.3f}")
"""


def run_once(preset: str, folder: Path, seed: int) -> dict:
    """Generate once in a child process; return its timings and peak memory."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(folder / "data"), preset, str(seed)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    out, err = child.stdout.read(), child.stderr.read()
    child.stdout.close()
    child.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"generation failed:\n{err}")
    import_s, generate_s = map(float, out.split())
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())  # both folders
    # ru_maxrss is in kilobytes on Linux, bytes on macOS
    peak_mb = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    return {"wall": wall, "import": import_s, "generate": generate_s, "peak_mb": peak_mb,
            "size_mb": size / 1e6}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="number of runs (default 3)")
    parser.add_argument("--preset", default="full", choices=["full", "small"])
    parser.add_argument("--student", metavar="ID", help="a student's own dataset (identity ID-<run>)")
    args = parser.parse_args(argv)
    from course_utils.data.identity import DEFAULT_SEED
    from course_utils.data.students import student_seed

    results = []
    print(f"Generating the {args.preset} synthetic dataset {args.runs} times, "
          f"each in a fresh process ({os.cpu_count()} cores)")
    print(f"{'run':>4} {'wall s':>8} {'import s':>9} {'generate s':>11} {'peak MB':>8} {'data MB':>8}")
    for number in range(1, args.runs + 1):
        folder = Path(tempfile.mkdtemp(prefix="bench-generate-"))
        try:
            seed = DEFAULT_SEED if args.student is None else student_seed(f"{args.student}-{number}")
            result = run_once(args.preset, folder, seed)
        finally:
            for path in folder.rglob("*"):  # the dataset's folders are read-only
                if path.is_dir():
                    path.chmod(0o755)
            shutil.rmtree(folder, ignore_errors=True)
        results.append(result)
        print(f"{number:>4} {result['wall']:>8.2f} {result['import']:>9.2f} {result['generate']:>11.2f} "
              f"{result['peak_mb']:>8.0f} {result['size_mb']:>8.0f}")
    wall = statistics.median(r["wall"] for r in results)
    peak = statistics.median(r["peak_mb"] for r in results)
    print(f"{'median':>4} {wall:>8.2f} {statistics.median(r['import'] for r in results):>9.2f} "
          f"{statistics.median(r['generate'] for r in results):>11.2f} {peak:>8.0f}")
    if args.preset == "full":
        verdict = "OK" if wall < TARGET_SECONDS and peak < TARGET_MB else "OVER TARGET"
        print(f"target: < {TARGET_SECONDS:.0f} s and < {TARGET_MB:.0f} MB -> {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
