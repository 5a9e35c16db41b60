"""The marker file that says a dataset folder is course_utils' and complete: ``course_dataset.json``.

Whoever fills a dataset folder (the synthetic generator, the download of the
real frames) writes the marker *first*, saying ``"complete": false`` -- the
folder is then the package's, so an interrupted run can be resumed and
repaired, never mistaken for another's files -- and again *last*, with
``"complete": true``, once every file is on disk with its recorded size. It
records the dataset's identity (:mod:`course_utils.data.identity`) and every
file's relative path, size, modification time and SHA-256.

Two checks use it:

* :func:`check` (run by ``dataset_dir()`` every time): the marker matches
  what is asked, and every listed file has the recorded size and
  modification time; a file whose time changed is re-hashed and compared with
  its recorded SHA-256. Unchanged files are not read, so it takes milliseconds.
* :func:`full_check` (``python -m course_utils.data verify``): hashes every file.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from course_utils.data import identity, marker
>>> with tempfile.TemporaryDirectory() as tmp:
...     root = Path(tmp)
...     status = (root / "a.fits").write_bytes(b"SIMPLE")
...     info = identity.synthetic("small", 1)
...     _ = marker.write_marker(root, info, [marker.file_record(root, "a.fits", b"SIMPLE")])
...     print(marker.quick_check(root, info, ["a.fits"]))
...     print(marker.quick_check(root, identity.synthetic("small", 2), ["a.fits"]))
None
the dataset has seed 1, not 2
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from . import files
from .files import display_path, path_problem, regenerate_command, write_text_atomic
from .hashing import file_digests, hash_problem
from .identity import LABELS

__all__ = [
    "MARKER_NAME",
    "MARKER_FORMAT",
    "Status",
    "claim",
    "file_record",
    "write_marker",
    "read_marker",
    "check",
    "quick_check",
    "full_check",
]

MARKER_NAME = "course_dataset.json"
#: Format 2 records each file's modification time and whether the dataset is complete.
MARKER_FORMAT = 2
#: Formats this version can read (older ones are the package's but are made again).
_READABLE = (1, 2)


def file_record(root: str | os.PathLike, path: str, content: bytes | None = None,
                **hashes: str) -> dict:
    """The marker's record of the file ``root/path``, as it is now on disk.

    Size and modification time come from the file; the SHA-256 from
    ``content`` if given (the bytes just written), else from ``hashes``.
    """
    status = (Path(root) / path).stat()
    record = {"path": path, "size": status.st_size, "mtime_ns": status.st_mtime_ns}
    if content is not None:
        record["sha256"] = hashlib.sha256(content).hexdigest()
    record.update(hashes)
    return record


def write_marker(root: str | os.PathLike, info: dict, records: Iterable[dict], *,
                 complete: bool = True) -> Path:
    """Write ``root/course_dataset.json`` (atomically) from an identity and file records.

    With ``complete=True``, call it only once every file is on disk: it
    checks that each has the recorded size, and raises ``RuntimeError``
    otherwise. No absolute paths are recorded.
    """
    root = Path(root)
    records = sorted(records, key=lambda record: record["path"])
    if complete:
        for record in records:
            size = (root / record["path"]).stat().st_size
            if size != record["size"]:
                raise RuntimeError(f"{record['path']} has {size} bytes, not {record['size']}: "
                                   "the dataset is not complete")
    content = {
        "format": MARKER_FORMAT,
        "about": "Written by course_utils, which made this folder; 'complete' is true once every "
                 "file below was on disk. Check the files with: python -m course_utils.data verify",
        **info,
        "complete": complete,
        "files": records,
    }
    return write_text_atomic(root / MARKER_NAME, json.dumps(content, indent=1) + "\n", pause=True)


_HEX = {"sha256": re.compile(r"^[0-9a-f]{64}$"), "git_sha1": re.compile(r"^[0-9a-f]{40}$")}


def _record_problem(record) -> str | None:
    """Why ``record`` is not a well-formed file record of a marker, or None."""
    if not isinstance(record, dict):
        return f"is not an object: {record!r}"
    problem = path_problem(record.get("path"))
    if problem:
        return f"has a 'path' that {problem}"
    for key in ("size", "mtime_ns"):
        value = record.get(key)
        if (key == "size" or value is not None) and (type(value) is not int or value < 0):
            return f"({record['path']!r}) has a '{key}' that is not a non-negative integer: {value!r}"
    for key, pattern in _HEX.items():
        value = record.get(key)
        if value is not None and not (isinstance(value, str) and pattern.match(value)):
            return f"({record['path']!r}) has a malformed '{key}': {value!r}"
    return None


def read_marker(root: str | os.PathLike) -> dict | None:
    """The marker of ``root`` as a dict, or None if there is none.

    Every file record is checked (a safe relative path, sizes and hashes of
    the right form); nothing read from a marker is used before that.

    Raises
    ------
    ValueError
        If the marker exists but cannot be read as a marker (the message
        names it and the command that makes the dataset again).
    """
    path = Path(root) / MARKER_NAME
    fix = f" Make the dataset again with `{regenerate_command(root)}`."
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read {display_path(path)}: {getattr(error, 'strerror', None) or error}.{fix}") \
            from error
    try:
        content = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{display_path(path)} is not valid JSON ({error}).{fix}") from error
    if not isinstance(content, dict) or content.get("format") not in _READABLE \
            or not isinstance(content.get("files"), list):
        raise ValueError(f"{display_path(path)} is not a course dataset marker of format {MARKER_FORMAT}.{fix}")
    for number, record in enumerate(content["files"], start=1):
        problem = _record_problem(record)
        if problem:
            raise ValueError(f"{display_path(path)} is broken: its file record {number} {problem}.{fix}")
    if len({record["path"] for record in content["files"]}) != len(content["files"]):
        raise ValueError(f"{display_path(path)} is broken: it lists a file twice.{fix}")
    return content


@dataclass
class Status:
    """What :func:`check` found.

    Attributes
    ----------
    problem : str or None
        Why the folder is not the complete dataset asked for (no marker,
        another identity, not complete, a file not listed), else None.
    damaged : dict
        ``{path: reason}`` for listed files that are missing or changed.
    content : dict or None
        The marker, if there is a readable one.
    broken : bool
        True if there is a marker file that cannot be read (only
        ``generate --force`` writes into such a folder).
    stale : list of str
        Files whose time changed but whose content matches (re-stamp them).
    writable : list of str
        Files that were made writable (seal them again).
    """

    problem: str | None = None
    damaged: dict[str, str] = field(default_factory=dict)
    content: dict | None = None
    broken: bool = False
    stale: list[str] = field(default_factory=list)
    writable: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True if the dataset is complete and undamaged."""
        return self.problem is None and not self.damaged

    @property
    def owned(self) -> bool:
        """True if course_utils made the folder (it has a readable marker)."""
        return self.content is not None

    def first(self) -> str | None:
        """The first thing wrong, as a phrase, or None."""
        if self.problem:
            return self.problem
        for path, reason in self.damaged.items():
            return f"{path} {reason}"
        return None


def claim(root: str | os.PathLike, status: Status | None = None, *, overwrite: bool = False) -> None:
    """Raise FileExistsError unless course_utils may write into ``root``; call it holding the lock.

    It may if ``root`` is missing, empty, or has a readable marker (course_utils
    made it) -- or, with ``overwrite`` (``generate --force``), a marker file
    that cannot be read. Anything else is someone's: the message says so,
    and what to do. A link in the dataset's place is never followed.
    """
    root = Path(root)
    if root.is_symlink() and not root.exists():
        raise FileExistsError(
            f"{display_path(root)} is a symbolic link to {os.readlink(root)}, which does not exist; it "
            "is neither followed nor replaced. Remove the link (or make the folder it points to), "
            "or set COURSE_CACHE_DIR to another folder, and run the command again.")
    if root.exists() and not root.is_dir():
        raise FileExistsError(f"{display_path(root)} is a file, not a folder; it will not be replaced. "
                              "Choose a new or empty folder (command line: --output DIR).")
    if status is None:
        status = check(root, {}, [])
    owned = status.owned or (overwrite and status.broken)
    if status.broken and not owned:
        raise FileExistsError(f"{status.problem}")
    if not owned and root.is_dir() and any(root.iterdir()):
        raise FileExistsError(
            f"{root} is not empty and is not a course dataset made by course_utils (it holds "
            f"files but no readable {MARKER_NAME}); nothing is written into it and nothing in it "
            "is deleted. Move it elsewhere, or choose a new or empty folder (for the cache: set "
            "COURSE_CACHE_DIR, e.g. `COURSE_CACHE_DIR=~/course_data python -m course_utils.data "
            "generate`).")


def _identity_problem(content: dict, info: dict) -> str | None:
    for key, value in info.items():
        if content.get(key) != value:
            label = LABELS.get(key, key)
            return f"the dataset has {label} {content.get(key)!r}, not {value!r}" \
                if isinstance(value, str) else \
                f"the dataset has {label} {content.get(key)}, not {value}"
    if content.get("format") != MARKER_FORMAT:
        return f"the dataset was made by an older course_utils (marker format {content.get('format')})"
    if content.get("complete") is not True:
        return "the dataset is incomplete (its making was interrupted)"
    return None


def _file_problem(file: Path, record: dict, status: "Status") -> str | None:
    """Why ``file`` differs from its record; re-hashes only a file whose time changed."""
    try:
        found = os.lstat(file)
    except OSError:
        return "is missing"
    if not stat.S_ISREG(found.st_mode):
        return "is not a file the course wrote (a folder or a link is in its place)"
    if found.st_size != record["size"]:
        return f"has {found.st_size} bytes, not {record['size']}"
    if found.st_mode & 0o222:
        status.writable.append(record["path"])
    if found.st_mtime_ns == record.get("mtime_ns"):
        return None
    problem = hash_problem(file_digests(file), record)
    if problem is None:
        status.stale.append(record["path"])
        return None
    return f"changed since it was written ({problem})"


def check(root: str | os.PathLike, info: dict, expected_paths: Iterable[str],
          expected_hashes: dict[str, dict] | None = None) -> Status:
    """Check cheaply that ``root`` holds the complete, undamaged dataset ``info``.

    Parameters
    ----------
    root : path-like
        The dataset folder.
    info : dict
        The identity the marker must record (source, preset, ...).
    expected_paths : iterable of str
        Files that must be listed in the marker.
    expected_hashes : dict, optional
        ``{path: {"git_sha1": ...}}``: hashes the marker must record for those
        files (so that a changed manifest makes a fresh download).
    """
    root = Path(root)
    try:
        content = read_marker(root)
    except ValueError as error:
        return Status(problem=str(error), broken=True)
    if content is None:
        return Status(problem=f"no {MARKER_NAME} (the folder was not made by course_utils)")
    status = Status(content=content)
    records = {record["path"]: record for record in content["files"]}
    status.problem = _identity_problem(content, info)
    for path in expected_paths:
        if path not in records:
            status.damaged[path] = f"is not listed in {MARKER_NAME}"
    for path, hashes in (expected_hashes or {}).items():
        for key, value in hashes.items():
            if value and path in records and records[path].get(key) != value:
                status.damaged[path] = f"was recorded with another {key} than the manifest's"
    for path, record in records.items():
        if path not in status.damaged:
            problem = _file_problem(root / path, record, status)
            if problem:
                status.damaged[path] = problem
    return status


def quick_check(root: str | os.PathLike, info: dict, expected_paths: Iterable[str],
                expected_hashes: dict[str, dict] | None = None) -> str | None:
    """:func:`check`, as None if all is well, else the first problem found as a phrase."""
    return check(root, info, expected_paths, expected_hashes).first()


def full_check(root: str | os.PathLike, *, manifest: dict | None = None,
               progress: bool = False) -> list[str]:
    """Hash every file of the dataset in ``root`` and return the problems found.

    With a marker, every listed file must exist with the recorded size and
    SHA-256 (and git blob SHA-1 where recorded). Without one, the files of
    ``manifest`` (a manifest dict) present in ``root`` are checked against its
    hashes, and missing ones are reported.

    Returns
    -------
    list of str
        Empty when everything checks out.
    """
    root = Path(root)
    try:
        content = read_marker(root)
    except ValueError as error:
        return [str(error)]
    if content is not None:
        records = content["files"]
        problems = [] if content.get("complete", True) else ["the dataset is incomplete"]
    elif manifest is not None:
        records = manifest["files"]
        problems = [f"no {MARKER_NAME}: checked the files against the manifest instead"]
    else:
        return [f"no {MARKER_NAME} and no manifest to check the files against"]
    first = len(problems)
    with files.progress(len(records), "Verifying", progress) as bar:
        for record in records:
            path = root / record["path"]
            if not os.path.isfile(path) or os.path.islink(path):
                problems.append(f"{record['path']}: missing (or not a file the course wrote)")
            else:
                problem = hash_problem(file_digests(path), record)
                if problem:
                    problems.append(f"{record['path']}: {problem}")
            bar.update(1)
    if content is None and len(problems) == first:
        problems = []  # every manifest file present and matching
    return problems
