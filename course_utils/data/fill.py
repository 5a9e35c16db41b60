"""Write a generated dataset into its folder, or complete and repair it there, safely.

One routine for every dataset the package draws itself (the synthetic course
dataset of :mod:`course_utils.data.synthetic`, the science frames of
:mod:`course_utils.data.science`), so that each follows the same rules:

* it takes the folder's lock (:func:`course_utils.data.files.dataset_lock`)
  *before* it looks at the folder to write into it: concurrent callers wait,
  and the later ones find the dataset complete;
* under the lock, it writes only into a folder that is missing, empty, or has
  a marker that proves course_utils made it (:func:`course_utils.data.marker.claim`);
* every path it writes, deletes or seals comes from the plan, and none goes
  through a symbolic link (:func:`course_utils.data.files.check_no_links`);
  nothing read from a marker is used as a path to change;
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

import errno
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import files, marker

__all__ = ["Plan", "fill", "maintain", "ensure"]


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
        # Files of an older layout stay on disk: a marker's paths are never used to delete.
        if path in plan.sizes and path not in rewritten and path not in status.damaged:
            kept.append(marker.file_record(out_dir, path, sha256=record["sha256"]))
    return kept


def _make_room(out_dir: Path, paths: list[str]) -> None:
    """Check each target's path (no link on the way); remove an empty folder in a file's place."""
    for path in paths:
        target = files.check_no_links(out_dir, path)
        if target.is_dir() and not target.is_symlink():
            try:
                target.rmdir()
            except OSError:
                raise files.UnsafePathError(
                    f"{files.display_path(target)} is a folder holding files, where the dataset needs "
                    f"a file; it is left alone. Move it out of the dataset and run "
                    f"`{files.regenerate_command(out_dir)}`.") from None


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
            target = files.check_no_links(out_dir, path)
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


def maintain(out_dir: Path, paths: list[str], status: marker.Status) -> None:
    """Tidy a complete dataset ``out_dir`` if its lock is free: leftovers, seals, time stamps.

    Removes what interrupted runs left (:func:`course_utils.data.files.remove_leftovers`),
    seals again the files of ``status.writable`` (with a line on stderr) and
    re-stamps the marker with the times of ``status.stale`` (files whose
    time changed but whose content was re-hashed and found right, e.g.
    after a backup was restored), so that they are not re-hashed again. A
    busy lock or a read-only folder leaves everything as it is.
    """
    if not (files.leftovers(out_dir, paths) or status.stale or status.writable):
        return
    try:
        with files.dataset_lock(out_dir, wait=False), files.unsealed(out_dir, paths):
            files.remove_leftovers(out_dir, paths)
            for path in status.writable:
                target = files.check_no_links(out_dir, path)
                if not target.is_symlink():
                    os.chmod(target, 0o444)
            if status.writable:
                print(f"Sealed again {len(status.writable)} file(s) of the dataset in "
                      f"{files.display_path(out_dir)} that had been made writable: "
                      f"{', '.join(status.writable[:3])}", file=sys.stderr)
            if status.stale and status.content is not None:
                fresh = marker.check(out_dir, {}, [])  # under the lock, as it is now
                if fresh.ok and fresh.content is not None:
                    stale = set(fresh.stale)
                    records = [{**r, **_stamp(out_dir, r["path"])} if r["path"] in stale else r
                               for r in fresh.content["files"]]
                    info = {k: v for k, v in fresh.content.items() if k not in ("format", "about", "complete", "files")}
                    marker.write_marker(out_dir, info, records)
    except (files.Timeout, OSError):  # busy (another process tidies) or read-only: leave it
        pass


def _stamp(out_dir: Path, path: str) -> dict:
    found = os.lstat(out_dir / path)
    return {"size": found.st_size, "mtime_ns": found.st_mtime_ns}


def ensure(out_dir: Path, plan: Plan, *, progress: bool = True) -> marker.Status:
    """Make sure ``plan``'s generated dataset is there, complete, in ``out_dir``: the one helper
    of every generated folder (the synthetic dataset, the science folder, the photon-transfer frames).

    A complete folder is only tidied (:func:`maintain`); a damaged or
    interrupted one is repaired; a course dataset of another identity (seed,
    generator version: decided under the lock) is replaced; anything else
    is left alone with an error that says what to do.
    """
    return fill(out_dir, plan, progress=progress, replace_other=True)


def fill(out_dir: Path, plan: Plan, *, overwrite: bool = False, progress: bool = True,
         replace_other: bool = False) -> marker.Status:
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
    replace_other : bool
        Replace a course dataset of another identity (see :func:`ensure`).

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
        maintain(out_dir, list(plan.sizes), status)
        return status
    files.ensure_writable(out_dir.parent, plan.what,
                          "Set COURSE_CACHE_DIR (or pass another output folder) to a writable folder.")
    with files.dataset_lock(out_dir):  # first the lock, then a look at the folder
        status = marker.check(out_dir, plan.info, plan.sizes)  # another process may have made it
        marker.claim(out_dir, status, overwrite=overwrite)
        if status.ok and not overwrite:
            return status
        overwrite = overwrite or (replace_other and _differs(status.content, plan.info))
        if not overwrite and _differs(status.content, plan.info):
            raise FileExistsError(
                f"{out_dir} already holds a different course dataset ({status.problem}). Pass "
                "overwrite=True (command line: --force) to replace it, or choose another folder.")
        paths = _to_write(status, plan, overwrite)
        files.check_free_space(out_dir, _space_needed(out_dir, paths, plan), plan.what, len(paths) + 8)
        with files.unsealed(out_dir, plan.sizes):
            try:
                files.remove_leftovers(out_dir, plan.sizes)
                kept = _kept_records(out_dir, status, plan, set(paths))
                _make_room(out_dir, paths)
                out_dir.mkdir(parents=True, exist_ok=True)
                marker.write_marker(out_dir, plan.info, kept, complete=False)
                written = _write(out_dir, plan, paths, progress)
                marker.write_marker(out_dir, plan.info, kept + written)
            except OSError as error:
                if error.errno == errno.ENOSPC and not isinstance(error, files.DiskFullError):
                    raise files.disk_full(out_dir, plan.what) from error
                raise
    if status.content is not None and not overwrite:
        _report_repairs(out_dir, status)
    return status
