"""Write a generated dataset into its folder, or complete and repair it there, safely.

One routine for every dataset the package draws itself (the synthetic course
dataset of :mod:`course_utils.data.synthetic`, the science frames of
:mod:`course_utils.data.science`), so that each follows the same rules:

* it writes only into a folder that is missing, empty, or has a marker that
  proves course_utils made it (:func:`course_utils.data.marker.claim`);
* it works under the folder's lock (:func:`course_utils.data.files.dataset_lock`):
  concurrent callers wait, and the later ones find the dataset complete;
* it checks the free space first (:func:`course_utils.data.files.check_free_space`);
* it writes the marker first as incomplete, then the files one by one,
  read-only (:func:`course_utils.data.files.write_readonly`), then the
  complete marker: an interrupted run never looks complete and the next
  call resumes it; a repair rewrites only the damaged files;
* files it did not make (a student's notes) are never touched.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> plan = Plan(info={"source": "example"}, sizes={"a.txt": 2},
...             make=lambda paths: ((p, b"hi") for p in paths), what="an example dataset")
>>> with tempfile.TemporaryDirectory() as tmp:
...     status = fill(Path(tmp) / "data", plan, progress=False)
...     print((Path(tmp) / "data" / "a.txt").read_bytes(), fill(Path(tmp) / "data", plan).ok)
b'hi' True
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import files, marker

__all__ = ["Plan", "fill"]


@dataclass(frozen=True)
class Plan:
    """What a generated dataset is, and how to make its files.

    Attributes
    ----------
    info : dict
        The dataset's identity, as its marker records it
        (:mod:`course_utils.data.identity`).
    sizes : dict
        ``{path: bytes}``: every file of the dataset (relative, ``/``-separated),
        in the order they are made, with about how many bytes each takes
        (for the disk-space check).
    make : callable
        ``make(paths)`` yields ``(path, bytes)`` for each of ``paths``, in that order.
    what : str
        What the dataset is, for messages (``"the synthetic course dataset"``).
    title : str, optional
        The progress bar's text (default: ``"Generating " + what``).
    """

    info: dict
    sizes: dict[str, int]
    make: Callable[[list[str]], Iterable[tuple[str, bytes]]]
    what: str
    title: str = ""


def _differs(content: dict | None, info: dict) -> bool:
    return content is not None and any(content.get(k) != v for k, v in info.items())


def _to_write(status: marker.Status, plan: Plan, overwrite: bool) -> list[str]:
    """The files to (re)write: all of them for another dataset or ``overwrite``, else the damaged."""
    if overwrite or status.content is None or _differs(status.content, plan.info):
        return list(plan.sizes)
    return [path for path in plan.sizes if path in status.damaged]


def _kept_records(out_dir: Path, status: marker.Status, plan: Plan, rewritten: set[str]) -> list[dict]:
    """Records of the listed files that stay, refreshed from disk (they were checked)."""
    if status.content is None:
        return []
    kept = []
    for record in status.content["files"]:
        path = record["path"]
        if path in rewritten or path in status.damaged:
            continue
        if path in plan.sizes:
            kept.append(marker.file_record(out_dir, path, sha256=record["sha256"]))
        else:  # a file of an older layout, listed in the marker (course_utils made it): remove it
            (out_dir / path).unlink(missing_ok=True)
    return kept


def _space_needed(out_dir: Path, paths: list[str], plan: Plan) -> int:
    """Bytes the disk needs: the new files, plus one file's temporary copy during a replacement."""
    sizes = [plan.sizes[path] for path in paths]
    new = sum(size for path, size in zip(paths, sizes) if not (out_dir / path).exists())
    return new + max(sizes, default=0) + (1 << 16)


def _write(out_dir: Path, plan: Plan, paths: list[str], progress: bool) -> list[dict]:
    """Write ``paths`` one by one (each read-only, through a rename); return their records."""
    records = []
    with files.progress(len(paths), plan.title or f"Generating {plan.what}", progress) as bar:
        made: Iterator[tuple[str, bytes]] = iter(plan.make(paths))
        for path, content in made:
            target = out_dir / path
            target.parent.mkdir(parents=True, exist_ok=True)
            files.write_readonly(target, content, what=plan.what)
            records.append(marker.file_record(out_dir, path, content))
            del content
            bar.update(1)
    return records


def _report_repairs(out_dir: Path, status: marker.Status) -> None:
    repaired = [path for path in status.damaged if "not listed" not in status.damaged[path]]
    if repaired:
        shown = "; ".join(f"{path} {status.damaged[path]}" for path in repaired[:3])
        more = f" and {len(repaired) - 3} more" if len(repaired) > 3 else ""
        print(f"Repaired {len(repaired)} damaged file(s) of the dataset in "
              f"{files.display_path(out_dir)}: {shown}{more}", file=sys.stderr)


def fill(out_dir: Path, plan: Plan, *, overwrite: bool = False, progress: bool = True) -> marker.Status:
    """Make ``plan``'s dataset complete and undamaged in ``out_dir`` (absolute); return what was found.

    Parameters
    ----------
    out_dir : pathlib.Path
        The dataset folder (absolute).
    plan : Plan
        The dataset.
    overwrite : bool
        Remake every file, also of a *different* course dataset in
        ``out_dir`` (another identity). Without it such a folder is an
        error, and a dataset of the same identity is only completed and
        repaired (a line on stderr names the damaged files made again).
    progress : bool
        Show a progress bar (``TQDM_DISABLE=1`` hides it too).

    Returns
    -------
    course_utils.data.marker.Status
        The state found under the lock, before writing.

    Raises
    ------
    FileExistsError
        If ``out_dir`` holds something that may not be replaced.
    course_utils.data.files.NotWritableError
        If the parent folder cannot be written.
    course_utils.data.files.DiskFullError
        If the disk lacks room (before starting, or while writing).
    """
    status = marker.check(out_dir, plan.info, plan.sizes)
    if status.ok and not overwrite:
        return status
    files.ensure_writable(out_dir.parent, plan.what,
                          "Set COURSE_CACHE_DIR (or pass another output folder) to a writable folder.")
    marker.claim(out_dir, status)
    with files.dataset_lock(out_dir):
        status = marker.check(out_dir, plan.info, plan.sizes)  # another process may have made it
        marker.claim(out_dir, status)
        if status.ok and not overwrite:
            return status
        if not overwrite and _differs(status.content, plan.info):
            raise FileExistsError(
                f"{out_dir} already holds a different course dataset ({status.problem}). Pass "
                "overwrite=True (command line: --force) to replace it, or choose another folder.")
        paths = _to_write(status, plan, overwrite)
        files.check_free_space(out_dir, _space_needed(out_dir, paths, plan), plan.what)
        with files.unsealed(out_dir):
            files.remove_leftovers(out_dir)
            kept = _kept_records(out_dir, status, plan, set(paths))
            out_dir.mkdir(parents=True, exist_ok=True)
            marker.write_marker(out_dir, plan.info, kept, complete=False)
            written = _write(out_dir, plan, paths, progress)
            marker.write_marker(out_dir, plan.info, kept + written)
    if status.content is not None and not overwrite:
        _report_repairs(out_dir, status)
    return status
