"""``python -m course_utils.grade SUBMISSIONS --out OUT``: grade a class."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .execute import GradeOptions, network_isolation
from .run import grade_folder, read_roster


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.grade",
        description="Run each student's notebooks in a fresh kernel and grade them with the "
                    "course's checks: writes grades.csv, feedback/ and summary.html.")
    parser.add_argument("submissions", type=Path, help="one sub-folder per student")
    parser.add_argument("--out", type=Path, required=True, help="folder for the results")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="notebooks graded at once (default: the number of cores)")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds one cell may run (default 120)")
    parser.add_argument("--notebook-timeout", type=float, default=900.0,
                        help="seconds one notebook may run (default 900)")
    parser.add_argument("--memory", type=float, default=8.0,
                        help="memory limit of each kernel in GB (default 8; 0 for none)")
    parser.add_argument("--roster", type=Path, help="CSV with columns folder,student")
    parser.add_argument("--force", action="store_true", help="grade again what was graded")
    parser.add_argument("--scheduler", help="address of a Dask scheduler to grade on")
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.timeout <= 0 or args.notebook_timeout <= 0 or args.memory < 0:
        parser.error("--jobs, --timeout and --notebook-timeout must be positive")
    try:
        roster = read_roster(args.roster) if args.roster else None
        options = GradeOptions(cell_timeout=args.timeout, notebook_timeout=args.notebook_timeout,
                               memory_gb=args.memory)
        if network_isolation() is None and not args.scheduler:
            print("Note: kernels keep network access here (no usable `unshare`).",
                  file=sys.stderr)
        loose = sorted(p.name for p in args.submissions.glob("*.ipynb") if p.is_file())
        if loose:
            print(f"Note: {len(loose)} notebook(s) directly in {args.submissions} belong to no "
                  f"student and are not graded: {', '.join(loose[:5])}", file=sys.stderr)
        rows = grade_folder(args.submissions, args.out, options=options, jobs=args.jobs,
                            roster=roster, force=args.force, scheduler=args.scheduler)
    except (OSError, ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Graded {len(rows)} students: {args.out / 'grades.csv'}, "
          f"{args.out / 'summary.html'}, {args.out / 'feedback'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
