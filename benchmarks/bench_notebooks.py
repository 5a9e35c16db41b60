"""Wall time and peak memory of each course notebook, executed as a student would.

Each notebook runs top to bottom in a fresh kernel on the default dataset
(the full-size synthetic frames), from its own folder; its stored file is not
changed. Wall time includes starting the kernel; peak memory is the kernel
process's maximum resident set size, read by a cell appended to a copy of the
notebook. Targets (issue 4): under 60 s and 3 GB per notebook on a 2-core
machine.

Usage::

    .venv/bin/python benchmarks/bench_notebooks.py [--repeat N] [--student] [NOTEBOOK ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
MEMORY_CELL = (
    "import resource as _resource\n"
    "print('PEAK_RSS_KB', _resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss)"
)
TARGET_SECONDS, TARGET_GB = 60.0, 3.0


def run(path: Path) -> tuple[float, float]:
    """Execute a copy of ``path``; return (wall seconds, peak kernel memory in GB)."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(MEMORY_CELL))
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    kilobytes = int(text.split("PEAK_RSS_KB")[1].split()[0])
    return seconds, kilobytes / 1024**2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=3, help="runs per notebook (median)")
    parser.add_argument("--student", action="store_true", help="also the student versions")
    args = parser.parse_args()
    os.environ.setdefault("TQDM_DISABLE", "1")
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if args.student and not args.notebooks:
        paths += sorted((ROOT / "notebooks" / "student").glob("[0-9][0-9]_*.ipynb"))

    print(f"{os.cpu_count()} CPUs; median of {args.repeat} runs each (fresh kernel per run)\n")
    print("| notebook | wall time [s] (median, min-max) | peak kernel memory [GB] | within target |")
    print("|---|---|---|---|")
    ok = True
    for path in paths:
        runs = [run(path.resolve()) for _ in range(args.repeat)]
        times = [r[0] for r in runs]
        memory = max(r[1] for r in runs)
        median = statistics.median(times)
        within = median < TARGET_SECONDS and memory < TARGET_GB
        ok &= within
        name = path.resolve().relative_to(ROOT / "notebooks").as_posix()
        print(f"| {name} | {median:.1f} ({min(times):.1f}-{max(times):.1f}) | {memory:.2f} | "
              f"{'yes' if within else 'NO'} |", flush=True)
    print(f"\ntargets: under {TARGET_SECONDS:.0f} s and {TARGET_GB:.0f} GB per notebook")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
