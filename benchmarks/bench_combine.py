"""Benchmark: combining the 40 full-size bias frames, standard routes versus course_utils.combine.

Every route runs in a fresh Python process, so that its first call is cold
(as in a student's fresh kernel) and its memory is its own:

* ``import``: the time to import what the route needs;
* ``cold``: the first call (for course_utils this includes any one-time cost);
* ``warm``: the median of further calls in the same process;
* ``peak MB``: the process's peak resident memory (VmHWM) during the calls,
  and ``+MB`` its increase over the process's memory just before them (after
  the imports and, for routes that start from arrays, after reading the
  stack). The uint16 stack itself is 201 MB.

Routes that start from FITS files include reading them; routes that start
from the stack (a ``(40, 1156, 2176)`` uint16 array read beforehand) do not.
Each standard route is paired with the course_utils call that computes the
same thing, its results are compared (largest relative difference), and the
ratio of their warm times is reported.

Targets (issue 6): at least 40 times faster than ``ccdproc.combine`` and
than the astropy route; from FITS files within 3 times the time to just read
them; peak memory at most 1.5 times the uint16 stack.

Usage::

    python benchmarks/bench_combine.py            # everything (about 6 minutes)
    python benchmarks/bench_combine.py --quick    # skip the slow routes, fewer repeats
    python benchmarks/bench_combine.py --data DIR # frames b0*c1.fits in DIR instead

The table is printed as markdown and saved, with the raw numbers as JSON,
in ``benchmarks/results/`` (not in git).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STACK_SHAPE_NOTE = "40 x 1156 x 2176 uint16"
TARGET_SPEEDUP = 40.0
TARGET_READ_RATIO = 3.0
TARGET_MEMORY = 1.5

# ---------------------------------------------------------------------------
# Routes. Each is (setup, call): `setup` runs once before the timing (imports
# excluded, which are timed on their own) and may read the input; `call`
# returns the result array(s) to compare. `paths` is the list of FITS files.
# ---------------------------------------------------------------------------

IMPORTS = {
    "numpy": "import numpy as np",
    "astropy": "import numpy as np\nfrom astropy.io import fits\nfrom astropy.stats import sigma_clip",
    "ccdproc": "import numpy as np\nimport ccdproc",
    "course_utils": "import numpy as np\nfrom course_utils.combine import combine, read_stack",
}

READ_STACK = "from course_utils.combine import read_stack\nstack = read_stack(paths, progress=False)"
READ_CCDDATA = READ_STACK + "\nfrom astropy.nddata import CCDData\nccds = [CCDData(f, unit='adu') for f in stack]"

ROUTES = {
    # name: (imports, setup, call, slow)
    "read: fits.getdata, one by one": (
        "astropy", "",
        "frames = [fits.getdata(p) for p in paths]\nresult = None", False),
    "read: course_utils.read_stack": (
        "course_utils", "",
        "stack = read_stack(paths, progress=False)\nresult = None", False),
    "syllabus: per-frame 3σ clip to NaN, nanmedian + nanmean": (
        "astropy", "",
        """clipped = []
for p in paths:
    img = fits.open(p)[0].data.astype(float)
    med, std = np.median(img), np.std(img)
    flag = np.abs(img - med) > 3 * std
    img[flag] = np.nan
    clipped.append(img)
clipped = np.array(clipped)
result = [np.nanmedian(clipped, axis=0), np.nanmean(clipped, axis=0)]
del clipped""", True),
    "course_utils: same from files (read_stack + 2 × combine clip='frame', maxiters=1)": (
        "course_utils", "",
        """stack = read_stack(paths, progress=False)
result = [combine(stack, method='median', clip='frame', maxiters=1),
          combine(stack, method='mean', clip='frame', maxiters=1)]
del stack""", False),
    "astropy: sigma_clip(axis=0) + np.nanmedian": (
        "astropy", READ_STACK,
        """clipped = sigma_clip(stack, sigma=3, maxiters=5, cenfunc='median', stdfunc='std', axis=0, masked=False)
result = np.nanmedian(clipped, axis=0)
del clipped""", True),
    "course_utils: combine(method='median', clip='pixel')": (
        "course_utils", READ_STACK,
        "result = combine(stack, method='median', clip='pixel')", False),
    "ccdproc.combine: sigma-clipped average, default mem_limit": (
        "ccdproc", READ_CCDDATA,
        "result = ccdproc.combine(ccds, method='average', sigma_clip=True).data", True),
    "ccdproc.combine: sigma-clipped average, mem_limit=1e9": (
        "ccdproc", READ_CCDDATA,
        "result = ccdproc.combine(ccds, method='average', sigma_clip=True, mem_limit=1e9).data", True),
    "course_utils: same (combine(method='mean', clip='pixel', cenfunc='mean', maxiters=1))": (
        "course_utils", READ_STACK,
        "result = combine(stack, method='mean', clip='pixel', cenfunc='mean', maxiters=1)", False),
    "ccdproc.combine from files: sigma-clipped average, default mem_limit": (
        "ccdproc", "",
        "result = ccdproc.combine([str(p) for p in paths], method='average', sigma_clip=True, unit='adu').data",
        True),
    "course_utils: same from files (combine(paths, 'mean', clip='pixel', cenfunc='mean', maxiters=1))": (
        "course_utils", "",
        "result = combine(paths, method='mean', clip='pixel', cenfunc='mean', maxiters=1, progress=False)",
        False),
    "course_utils: combine(method='mean', clip='pixel')": (
        "course_utils", READ_STACK,
        "result = combine(stack, method='mean', clip='pixel')", False),
    "course_utils: combine(method='median', clip='frame')": (
        "course_utils", READ_STACK,
        "result = combine(stack, method='median', clip='frame')", False),
    "course_utils: combine(method='mean', clip='frame')": (
        "course_utils", READ_STACK,
        "result = combine(stack, method='mean', clip='frame')", False),
    "course_utils: combine(method='median') (no clipping)": (
        "course_utils", READ_STACK,
        "result = combine(stack, method='median')", False),
    "course_utils: combine(paths, method='median', clip='pixel')": (
        "course_utils", "",
        "result = combine(paths, method='median', clip='pixel', progress=False)", False),
    "course_utils: combine(paths, method='mean', clip='pixel')": (
        "course_utils", "",
        "result = combine(paths, method='mean', clip='pixel', progress=False)", False),
}

# Standard route -> the course_utils route computing the same thing.
PAIRS = {
    "syllabus: per-frame 3σ clip to NaN, nanmedian + nanmean":
        "course_utils: same from files (read_stack + 2 × combine clip='frame', maxiters=1)",
    "astropy: sigma_clip(axis=0) + np.nanmedian": "course_utils: combine(method='median', clip='pixel')",
    "ccdproc.combine: sigma-clipped average, default mem_limit":
        "course_utils: same (combine(method='mean', clip='pixel', cenfunc='mean', maxiters=1))",
    "ccdproc.combine: sigma-clipped average, mem_limit=1e9":
        "course_utils: same (combine(method='mean', clip='pixel', cenfunc='mean', maxiters=1))",
    "ccdproc.combine from files: sigma-clipped average, default mem_limit":
        "course_utils: same from files (combine(paths, 'mean', clip='pixel', cenfunc='mean', maxiters=1))",
}

CHILD = r'''
import json, os, sys, time

def rss(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return None

def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM (peak RSS) to the current RSS
        return True
    except OSError:
        return False

spec = json.loads(sys.argv[1])
paths = spec["paths"]
t0 = time.perf_counter()
exec(spec["imports"])
t_import = time.perf_counter() - t0
exec(spec["setup"])
before = rss("VmRSS")
resettable = reset_peak()
times = []
for i in range(spec["repeats"]):
    names = set(globals())
    t = time.perf_counter()
    exec(spec["call"])
    times.append(time.perf_counter() - t)
    if i == 0 and spec["save"] and result is not None:
        import numpy
        numpy.save(spec["save"], numpy.array(result, dtype=numpy.float64))
    for name in set(globals()) - names:  # free what the call made before the next one
        del globals()[name]
peak = rss("VmHWM")
if not resettable:  # no reset: VmHWM covers the whole process, setup included
    import resource
    peak = max(peak or 0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
print(json.dumps({"import": t_import, "times": times, "before": before, "peak": peak,
                  "peak_from_start": not resettable}))
'''


def run_route(name: str, paths: list[str], repeats: int, save: str | None) -> dict:
    imports, setup, call, _ = ROUTES[name]
    spec = {"paths": paths, "imports": IMPORTS[imports], "setup": setup, "call": call,
            "repeats": repeats, "save": save}
    env = dict(os.environ, TQDM_DISABLE="1")
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], capture_output=True,
                          text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"route {name!r} failed:\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    times = out["times"]
    out["cold"] = times[0]
    out["warm"] = statistics.median(times[1:]) if len(times) > 1 else times[0]
    return out


def one_call_from_files(name: str) -> bool:
    """A course_utils route that is one combine() call on FITS paths."""
    return name.startswith(("course_utils: combine(paths", "course_utils: same from files (combine("))


def find_paths(data: str | None) -> list[str]:
    if data:
        root = Path(data)
    else:
        from course_utils.data import dataset_dir

        root = dataset_dir() / "calibration_frames" / "bias"
    paths = sorted(root.glob("b0*c1.fits"))
    if not paths:
        sys.exit(f"No frames b0*c1.fits in {root}")
    return [str(p) for p in paths]


def compare(a: str, b: str) -> float | None:
    import numpy as np

    if not (os.path.exists(a) and os.path.exists(b)):
        return None
    x, y = np.load(a), np.load(b)
    if x.shape != y.shape:
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.abs(x - y) / np.abs(y)
    both_nan = np.isnan(x) & np.isnan(y)
    rel = np.where(both_nan, 0.0, rel)
    return float(np.nanmax(np.where(np.isnan(x) != np.isnan(y), np.inf, rel)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="skip the slow routes; fewer repeats")
    parser.add_argument("--data", help="folder with the frames b0*c1.fits (default: the course dataset)")
    parser.add_argument("--repeats", type=int, default=None, help="calls per fast route (default 6, quick 3)")
    args = parser.parse_args(argv)

    paths = find_paths(args.data)
    import numpy as np
    from astropy.io import fits

    first = fits.getdata(paths[0])
    stack_mb = len(paths) * first.size * 2 / 1e6
    fast_repeats = args.repeats or (3 if args.quick else 6)
    names = [n for n, r in ROUTES.items() if not (args.quick and r[3])]
    print(f"{len(paths)} frames {first.shape} from {Path(paths[0]).parent}; uint16 stack {stack_mb:.0f} MB",
          file=sys.stderr)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        saved = {}
        for name in names:
            slow = ROUTES[name][3]
            saved[name] = os.path.join(tmp, f"{len(saved)}.npy")
            print(f"  running {name} ...", file=sys.stderr, flush=True)
            started = time.perf_counter()
            rows[name] = run_route(name, paths, 2 if slow else fast_repeats, saved[name])
            print(f"    {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
        for std, ours in PAIRS.items():
            if std in rows and ours in rows:
                rows[std]["vs"] = ours
                rows[std]["ratio"] = rows[std]["warm"] / rows[ours]["warm"]
                rows[std]["ratio_cold"] = rows[std]["cold"] / rows[ours]["cold"]
                rows[std]["max_rel_diff"] = compare(saved[ours], saved[std])

    read = rows.get("read: course_utils.read_stack", {}).get("warm")
    lines = [
        f"Machine: {os.cpu_count()} cores; {len(paths)} frames {first.shape} "
        f"({STACK_SHAPE_NOTE if first.shape == (1156, 2176) else 'uint16'}, {stack_mb:.0f} MB); "
        f"numpy {np.__version__}.",
        "",
        "| route | input | import s | cold s | warm s | peak MB | +MB | × faster (warm / cold) | max rel. diff |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        source = "stack" if ROUTES[name][1] else "files"
        ratio = f"{r['ratio']:.0f} / {r['ratio_cold']:.0f}" if "ratio" in r else ""
        diff = r.get("max_rel_diff")
        diff = "" if diff is None else f"{diff:.1e}"
        if read and one_call_from_files(name):
            ratio = f"{r['warm'] / read:.1f}× read"
        lines.append(
            f"| {name} | {source} | {r['import']:.2f} | {r['cold']:.2f} | {r['warm']:.3f} | "
            f"{r['peak'] / 1e6:.0f} | {(r['peak'] - r['before']) / 1e6:+.0f} | {ratio} | {diff} |"
        )
    lines += ["", "Targets:"]
    for std, r in rows.items():
        if "ratio" in r:
            ok = "met" if r["ratio"] >= TARGET_SPEEDUP else "NOT met"
            lines.append(f"- {std}: {r['ratio']:.0f}× slower than course_utils (target ≥ {TARGET_SPEEDUP:.0f}×: {ok})")
    if read:
        for name, r in rows.items():
            if one_call_from_files(name):
                ok = "met" if r["warm"] <= TARGET_READ_RATIO * read else "NOT met"
                lines.append(f"- {name}: {r['warm'] / read:.1f}× the time to read the files "
                             f"(target ≤ {TARGET_READ_RATIO:.0f}×: {ok})")
    # Memory the operation holds at its peak: the stack (read before the call
    # or during it), the result and the working memory, without the
    # interpreter and its imports.
    for name, r in rows.items():
        if name.startswith("course_utils") and "read" not in name:
            held = (r["peak"] - r["before"]) / 1e6 + (stack_mb if ROUTES[name][1] else 0.0)
            ok = "met" if held <= TARGET_MEMORY * stack_mb else "NOT met"
            lines.append(f"- {name}: peak memory of stack + work + result {held:.0f} MB = "
                         f"{held / stack_mb:.2f}× the uint16 stack (target ≤ {TARGET_MEMORY}×: {ok})")
    table = "\n".join(lines)
    print(table)
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (results / f"combine-{stamp}.md").write_text(table + "\n")
    (results / f"combine-{stamp}.json").write_text(json.dumps(rows, indent=1))
    print(f"\nSaved in {results}/combine-{stamp}.md and .json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
