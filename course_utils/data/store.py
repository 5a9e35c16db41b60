"""A dataset folder you can trust: the one module that claims, locks, plans, writes, verifies, repairs and tidies.

Every dataset the course keeps on disk -- the synthetic course dataset, the
science frames of notebook 5, the real Magellan frames -- is a folder with a
marker, ``course_dataset.json``, that says the course made it, what it is
(its identity: :mod:`course_utils.data.identity`) and every file's relative
path, size, modification time and SHA-256. A :class:`Plan` says what a
dataset is: its files (the generator's or the manifest's), their known
hashes (a download's) and how to make them (bytes generated, or a file
downloaded beside its target). :func:`fill` alone writes into, deletes from
or changes the modes of such a folder, by these rules:

* **the lock first** (:func:`dataset_lock`, a file lock beside the folder, so
  it works across processes, containers and PID namespaces sharing a disk);
  only under it does :func:`fill` look at the folder and decide whether the
  course may write there (:func:`claim`: missing, empty, or marked);
* **paths from the plan only**: every path written, deleted or sealed is a
  plan's, checked by :func:`check_no_links` (relative, normalized, inside, no
  link on the way). Marker records are validated like manifest entries
  (:func:`records_problem`) and never used as a path to change; links are
  never followed, and files of any other name are never touched;
* **the marker first and last**: written incomplete before any file, and
  complete once every file is on disk (:func:`write_marker`), so an
  interrupted run never looks complete and the next call resumes it;
* **one write path**: a generated file goes through a temporary file and a
  rename (:func:`write_atomic`); a downloaded one is checked against the
  plan's size and hashes, then renamed into place (a mismatch raises
  :class:`Rejected`). Every file is read-only, and a complete dataset's
  folders are sealed (:func:`unsealed` opens them for a repair);
* **room first**: :func:`check_free_space` refuses to start without room (or
  inodes), and a disk filling up while writing gives :class:`DiskFullError`;
* **cheap checks**: :func:`check` (every ``dataset_dir()`` call) compares sizes
  and modification times and re-hashes only a file whose time changed;
  :func:`maintain` re-stamps such files, seals a file made writable again and
  removes what interrupted runs left; :func:`full_check` (``verify``) hashes all.

Every error message comes from one table, :data:`MESSAGES`: each names the
cause, the file and a command that works.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> plan = Plan(info={"source": "example"}, sizes={"a.txt": 2},
...             make=lambda paths: ((p, b"hi") for p in paths), what="an example dataset")
>>> with tempfile.TemporaryDirectory() as tmp:
...     status = fill(Path(tmp) / "data", plan, progress=False)
...     print((Path(tmp) / "data" / "a.txt").read_bytes(), fill(Path(tmp) / "data", plan).ok)
...     print(check(Path(tmp) / "data", {"source": "other"}, ["a.txt"]).first())
b'hi' True
the dataset has source 'example', not 'other'
>>> display_path(Path.home() / ".cache" / "course_utils")
'~/.cache/course_utils'
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from filelock import FileLock, Timeout

from ..progress import progress_bar

__all__ = ["Plan", "Status", "Rejected", "fill", "ensure", "maintain", "check", "full_check", "read_marker",
           "write_marker", "file_record", "records_problem", "dataset_lock", "unsealed", "some", "check_no_links",
           "free_bytes", "ensure_writable", "file_digests", "cache_dir", "work_folder", "using_line", "display_path",
           "redact", "regenerate_command", "DiskFullError", "NotWritableError", "UnsafePathError",
           "MARKER_NAME", "CACHE_ENV", "WORK_ENV", "PAUSE_ENV"]

with warnings.catch_warnings():  # pooch imports tqdm.auto, which warns in a kernel without ipywidgets
    warnings.filterwarnings("ignore", message="IProgress not found")
    import pooch

MARKER_NAME = "course_dataset.json"
#: Format 2 records each file's modification time and whether the dataset is complete.
MARKER_FORMAT = 2
#: Where datasets are generated or downloaded (default: pooch's cache folder).
CACHE_ENV = "COURSE_CACHE_DIR"
#: The work folder for derived products (default ``./course_work``).
WORK_ENV = "COURSE_WORK_DIR"
#: Tests only: a folder. Before a marker's temporary file is renamed into place, the writer
#: creates ``paused`` in it and waits until ``resume`` exists there (see :func:`write_atomic`).
PAUSE_ENV = "COURSE_TEST_PAUSE_BEFORE_MARKER"
#: Temporary files (``.NAME.tmp-XXXXXXXX``) and download folders (``.NAME.part-XXXXXXXX``) this
#: package makes beside a file NAME of a dataset (the marker's own temporary file included).
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?:tmp|part)-[0-9a-f]{8}$")
_HEX = {"sha256": 64, "git_sha1": 40}
#: What each field of a file record must be, if present: a pattern its JSON text matches, and in words.
_FIELDS = {"size": (r"\d+", "a non-negative integer"), "mtime_ns": (r"\d+", "a non-negative integer"),
           **{key: (f'"[0-9a-f]{{{digits}}}"', f"{digits} lower-case hex digits") for key, digits in _HEX.items()},
           "url": (r'"https?://[^"]*"', "an http(s) address")}
_ROOM = "Free some space there, or set COURSE_CACHE_DIR to a folder on a disk with room (command line: --output DIR)."
_OWN = "Set COURSE_CACHE_DIR to a folder you can write to (command line: --output DIR)."

#: Every error of a dataset folder: ``{at}`` is the path shown (home as ``~``), ``{raw}`` as given,
#: ``{root}`` the dataset and ``{fix}`` the command that makes it again (:func:`regenerate_command`).
MESSAGES = {
    "link": "{at} is a symbolic link inside the dataset {root}; the course never follows links there. Remove the "
            "link (the folder it points to is not touched) and run `{fix}`.",
    "file_in_way": "{at} is a file where the dataset {root} needs a folder (left alone). Move it out, run `{fix}`.",
    "folder_in_way": "{at}: a folder of files in a file's place (left alone). Move it out of the dataset, run `{fix}`.",
    "dangling": "{at} is a symbolic link to {to}, which does not exist; it is neither followed nor replaced. Remove "
                "the link (or make the folder it points to) and run the command again. " + _OWN,
    "not_folder": "{at} is a file, not a folder; it will not be replaced. Choose a new or empty folder (--output DIR).",
    "foreign": "{raw} is not empty and is not a course dataset made by course_utils (it holds files but no readable "
               f"{MARKER_NAME}); nothing is written into it and nothing in it is deleted. Move it elsewhere, or "
               "choose a new or empty folder: `COURSE_CACHE_DIR=~/course_data python -m course_utils.data generate`.",
    "other": "{raw} holds another course dataset ({problem}); replace it (--force, overwrite=True) or choose another.",
    "marker": "{at} {problem}. Make the dataset again with `{fix}`.",
    "space": "Not enough disk space for {what} in {at}: it needs about {needed} more, and only {free} are free. " + _ROOM,
    "inodes": "The file system of {at} can hold only {inodes} more files (free inodes); {what} needs {count}. " + _ROOM,
    "no_inodes": "The file system of {at} can hold no more files (no free inodes; {free} free) for {what}. " + _ROOM,
    "full": "The disk filled up while writing {what} in {at} (No space left on device; {free} free). " + _ROOM,
    "unseal": "Cannot make {at} writable to fill or repair it: {reason}. " + _OWN,
    "write": "Cannot write {what} into {raw}: {reason}. {advice}",
}


def _say(key: str, at: str | os.PathLike, root: str | os.PathLike | None = None, **fields) -> str:
    """The message ``key`` of :data:`MESSAGES` about the path ``at`` (in the dataset ``root``)."""
    if root is not None:
        fields.update(root=display_path(root), fix=regenerate_command(root))
    return MESSAGES[key].format(at=display_path(at), raw=at, **fields)


class UnsafePathError(FileExistsError):
    """A path of a dataset goes through a symbolic link or something else the course did not make."""


class NotWritableError(PermissionError):
    """A folder the course needs to write into cannot be written."""


class DiskFullError(OSError):
    """Not enough free space for the dataset (``errno.ENOSPC``); the message says how much, where, and what to do."""

    def __str__(self) -> str:
        return self.strerror


class Rejected(ValueError):
    """A downloaded file differs from the size or hashes its plan records (it was not kept)."""

    def __init__(self, path: str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = path, problem


# --- Hashes -------------------------------------------------------------------------------------


def file_digests(path: str | os.PathLike) -> dict:
    """Read ``path`` once and return its ``size``, ``sha256`` and ``git_sha1`` (git blob SHA-1), as a record has them.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     _ = f.write(b"hello\\n"); f.flush()
    ...     d = file_digests(f.name)
    >>> d["size"], d["git_sha1"]
    (6, 'ce013625030ba8dba906f756967f9e9ca394464a')
    """
    size = os.stat(path).st_size
    sha256, git_sha1 = hashlib.sha256(), hashlib.sha1(b"blob %d\0" % size)
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            sha256.update(chunk)
            git_sha1.update(chunk)
    return {"size": size, "sha256": sha256.hexdigest(), "git_sha1": git_sha1.hexdigest()}


def hash_problem(digests: dict, entry: dict) -> str | None:
    """What differs between ``digests`` and the ``size``, ``git_sha1`` and ``sha256`` an entry records, or None.

    At least one hash is needed.

    Examples
    --------
    >>> d = {"size": 6, "sha256": "ab" * 32, "git_sha1": "ce013625030ba8dba906f756967f9e9ca394464a"}
    >>> hash_problem(d, {"git_sha1": "ce013625030ba8dba906f756967f9e9ca394464a"}) is None
    True
    >>> hash_problem(d, {"git_sha1": "0" * 40})
    'git blob SHA-1 mismatch: expected 0000000000000000000000000000000000000000, got ce013625030ba8dba906f756967f9e9ca394464a'
    """
    for key, label in (("size", "size (bytes)"), ("git_sha1", "git blob SHA-1"), ("sha256", "SHA-256")):
        if entry.get(key) is not None and entry[key] != digests[key]:
            return f"{label} mismatch: expected {entry[key]}, got {digests[key]}"
    if not (entry.get("git_sha1") or entry.get("sha256")):
        return "no hash recorded (git_sha1 or sha256) to check the file against"
    return None


# --- Where datasets live, and how paths are shown --------------------------------------------------


def cache_dir() -> Path:
    """The folder where datasets are generated or downloaded (not created here).

    ``COURSE_CACHE_DIR`` if set, else ``pooch.os_cache("course_utils")``.

    Examples
    --------
    >>> cache_dir().is_absolute()
    True
    """
    return Path(os.environ.get(CACHE_ENV) or pooch.os_cache("course_utils")).expanduser().absolute()


def work_folder() -> Path:
    """The work folder's path (``COURSE_WORK_DIR``, else ``./course_work``), not created or checked."""
    return Path(os.environ.get(WORK_ENV) or Path.cwd() / "course_work").expanduser().absolute()


def display_path(path: str | os.PathLike) -> str:
    """``path`` as text, with the home folder shown as ``~``.

    Notebook outputs are stored and published, so they must not show the
    machine's user name or home folder.
    """
    path, home = Path(path), Path(os.path.expanduser("~"))
    with contextlib.suppress(OSError, RuntimeError):  # no home, or a broken path
        for base, candidate in ((home, path), (home.resolve(), path.resolve())):
            if candidate.is_relative_to(base):
                return "~" if candidate == base else "~/" + candidate.relative_to(base).as_posix()
    return str(path)


def using_line(description: str, root: Path, note: str = "") -> str:
    """The line ``dataset_dir`` prints: what data, and where.

    Notebook outputs are stored and published, so a dataset in the cache is
    named relative to the cache: where the cache is differs from machine to
    machine (``python -m course_utils.data info`` shows it).
    """
    cache, resolved = cache_dir().resolve(), root.resolve()
    if resolved.is_relative_to(cache) and resolved != cache:
        return f"Using {description}: {resolved.relative_to(cache).as_posix()} in the course's cache folder{note}"
    return f"Using {description} in {display_path(root)}{note}"


def redact(text: str) -> str:
    """``text`` with the user name and password of every address removed.

    Examples
    --------
    >>> redact("could not reach http://user:secret@example.org/frames")
    'could not reach http://example.org/frames'
    """
    return re.sub(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]*@", r"\1", str(text))


def some(items: list[str]) -> str:
    """The first three of ``items``, and how many more (for messages).

    Examples
    --------
    >>> some(["a", "b", "c", "d", "e"])
    'a; b; c and 2 more'
    """
    return "; ".join(items[:3]) + (f" and {len(items) - 3} more" if len(items) > 3 else "")


def regenerate_command(root: str | os.PathLike) -> str:
    """The command that makes the dataset in ``root`` again (by its folder's name, as the cache names it).

    Examples
    --------
    >>> regenerate_command("/data/magellan")
    'python -m course_utils.data fetch --output /data/magellan'
    >>> regenerate_command("/data/synthetic-science-small")
    'python -m course_utils.data generate --science --preset small --force --output /data/synthetic-science-small'
    """
    name, shown = Path(root).name, display_path(root)
    if name.startswith("magellan"):
        return f"python -m course_utils.data fetch --output {shown}"
    preset = " --preset small" if name.startswith(("synthetic-small", "synthetic-science-small")) else ""
    science = " --science" if name.startswith("synthetic-science") else ""
    return f"python -m course_utils.data generate{science}{preset} --force --output {shown}"


# --- Safe paths, free space, writes, seals, the lock, leftovers ------------------------------------


def path_problem(path) -> str | None:
    """Why ``path`` is not a safe path inside a dataset folder, or None.

    A safe path is a non-empty ``str``, relative, with ``/`` separators, no
    ``.`` or ``..`` parts, no empty parts and no NUL or backslash.

    Examples
    --------
    >>> path_problem("calibration_frames/bias/b0860c1.fits") is None
    True
    >>> path_problem("../outside.txt")
    "must be relative, inside the folder, with '/' separators, got '../outside.txt'"
    """
    if not isinstance(path, str) or not path:
        return f"must be a non-empty string, got {path!r}"
    if (path.startswith("/") or "\\" in path or "\0" in path or {".", ".."} & set(path.split("/"))
            or path != PurePosixPath(path).as_posix()):  # (which has no empty part)
        return f"must be relative, inside the folder, with '/' separators, got {path!r}"
    return None


def check_no_links(root: str | os.PathLike, path: str) -> Path:
    """``root/path`` for a safe ``path`` (:func:`path_problem`) whose existing folders below ``root`` are
    real folders, not links; else :class:`UnsafePathError`, naming the part and what to do."""
    root, parts = Path(root), str(path).split("/")
    if problem := path_problem(path):
        raise UnsafePathError(f"the dataset path {problem}")
    for number in range(1, len(parts)):
        current = root.joinpath(*parts[:number])
        if os.path.lexists(current) and _kind(current) != "folder":
            raise UnsafePathError(_say("link" if current.is_symlink() else "file_in_way", current, root))
    return root / path


def folders_of(root: Path, paths: Iterable[str]) -> list[Path]:
    """``root`` and every folder on the way to ``paths`` (from the plan), outermost first."""
    found = {root} | {root.joinpath(*path.split("/")[:n]) for path in paths for n in range(1, path.count("/") + 1)}
    return sorted(found, key=lambda folder: len(folder.parts))


def free_bytes(folder: str | os.PathLike) -> int:
    """Free bytes on the disk of the existing ``folder``: the one place the package asks the operating
    system for free space."""
    return shutil.disk_usage(folder).free


def _free_inodes(folder: str | os.PathLike) -> int | None:
    """Free inodes on the file system of ``folder``, or None where it does not count them."""
    with contextlib.suppress(OSError, AttributeError):  # (Windows has no statvfs)
        info = os.statvfs(folder)
        return info.f_favail if info.f_files > 0 else None
    return None


def _mb(size: int) -> str:
    return f"{size / 1e6:.0f} MB" if size >= 1e6 else f"{size / 1e6:.1f} MB"


def check_free_space(folder: str | os.PathLike, needed: int, what: str, count: int = 0) -> None:
    """Raise :class:`DiskFullError` if ``folder``'s disk has less than ``needed`` bytes free,
    or (where the file system counts them) fewer than ``count`` free inodes.

    Examples
    --------
    >>> check_free_space(tempfile.gettempdir(), 0, "nothing")
    """
    free, inodes = free_bytes(folder), _free_inodes(folder)
    if free < needed:
        raise DiskFullError(errno.ENOSPC, _say("space", folder, what=what, needed=_mb(needed), free=_mb(free)))
    if inodes is not None and inodes < count:
        raise DiskFullError(errno.ENOSPC, _say("inodes", folder, what=what, inodes=inodes, count=count))


def ensure_writable(folder: str | os.PathLike, what: str, advice: str = _OWN) -> Path:
    """Create ``folder`` if needed and check that a file can be written in it; return it.

    The check really creates (and removes) a file: permission bits alone do
    not tell (root ignores them; a read-only file system does not show in
    them). ``what`` (what the folder is for) and ``advice`` (what to do
    instead) go into the :class:`NotWritableError` message.

    Examples
    --------
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     ensure_writable(Path(tmp) / "new", "a test", "use another folder").is_dir()
    True
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".write-test-", dir=folder)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        reason = "read-only file system" if error.errno == errno.EROFS else error.strerror or str(error)
        raise NotWritableError(_say("write", folder, what=what, reason=reason, advice=advice)) from error
    return folder


def _install(tmp: str | os.PathLike, path: Path, mode: int = 0o444) -> None:
    """Give the finished file ``tmp`` its ``mode`` (read-only: raw data) and rename it to ``path`` (atomic)."""
    os.chmod(tmp, mode)
    if os.name == "nt" and os.path.exists(path):  # Windows cannot replace a read-only file
        os.chmod(path, 0o644)
    os.replace(tmp, path)


def write_atomic(path: str | os.PathLike, content: bytes | str, *, mode: int = 0o444, pause: bool = False) -> None:
    """Write ``content`` to ``path`` through a temporary file ``.NAME.tmp-XXXXXXXX`` and a rename.

    Readers never see a half-written file. The file gets ``mode`` (default
    read-only: raw data; root ignores it, so there it only guards others).
    On any failure the temporary file is removed. ``pause=True`` (the marker's writes) honours the
    test hook ``COURSE_TEST_PAUSE_BEFORE_MARKER`` just before the rename: the
    hook's folder gets ``paused``, and the writer waits (at most 120 s) until
    ``resume`` exists there.

    Examples
    --------
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     write_atomic(Path(tmp) / "a.fits", b"SIMPLE")
    ...     print((Path(tmp) / "a.fits").read_bytes())
    b'SIMPLE'
    """
    path = Path(path)
    tmp = path.parent / f".{path.name}.tmp-{secrets.token_hex(4)}"
    try:
        with open(tmp, "xb") as file:
            file.write(content.encode("utf-8") if isinstance(content, str) else content)
        if pause and (hook := os.environ.get(PAUSE_ENV)):
            Path(hook, "paused").touch()
            deadline = time.monotonic() + 120
            while not Path(hook, "resume").exists() and time.monotonic() < deadline:
                time.sleep(0.02)
        _install(tmp, path, mode)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _set_writable(folders: Iterable[str | os.PathLike], writable: bool) -> None:
    """Change the write bits of ``folders`` that are real folders (links and others are skipped)."""
    for folder in folders:
        with contextlib.suppress(FileNotFoundError):
            mode = os.lstat(folder).st_mode
            if stat.S_ISDIR(mode):
                os.chmod(folder, (mode & 0o7777) | 0o700 if writable else mode & 0o7777 & ~0o222)


@contextlib.contextmanager
def unsealed(root: str | os.PathLike, paths: Iterable[str]) -> Iterator[None]:
    """Let the package write into its dataset ``root`` for a while; seal it again on success.

    A complete dataset's folders are read-only, like its frames, so that
    nothing can be added to or deleted from the raw data. Call this holding
    the dataset's lock, and only for a folder the package made (see
    :func:`claim`). Only ``root`` and the folders on the way to ``paths``
    (the plan's files) are changed, never through a symbolic link. After a
    failure the folders stay writable, so that the next run can clean up.

    Raises
    ------
    NotWritableError
        If the folders cannot be made writable (e.g. another user owns them).
    """
    folders = folders_of(Path(root), list(paths))
    try:
        _set_writable(folders, True)
    except OSError as error:
        raise NotWritableError(_say("unseal", root, reason=error.strerror or error)) from error
    yield
    _set_writable(folders, False)


@contextlib.contextmanager
def dataset_lock(root: str | os.PathLike, *, wait: bool = True) -> Iterator[None]:
    """Hold the lock of the dataset folder ``root`` (``.NAME.lock`` beside it), waiting for it if needed.

    Every process that generates, downloads or repairs ``root`` holds this
    lock, so only one writes at a time; the others wait, then find the
    dataset complete. The lock is the operating system's (``filelock``): it
    is released when its holder ends, even if killed, and does not depend on
    process ids, so it works across containers that share a disk. With
    ``wait=False``, raise ``filelock.Timeout`` at once if another process
    holds it. The folder beside which the lock lies must exist and be
    writable (:func:`fill` checks it first).
    """
    lock = FileLock(Path(root).parent / f".{Path(root).name}.lock")
    try:
        held = lock.acquire(timeout=1 if wait else 0)
    except Timeout:
        if not wait:
            raise
        print(f"Waiting for another process that is preparing {display_path(root)} ...", file=sys.stderr, flush=True)
        held = lock.acquire()
    with held:  # released on leaving, whatever happens
        yield


def _kind(path: str | os.PathLike) -> str | None:
    with contextlib.suppress(OSError):
        mode = os.lstat(path).st_mode
        return "file" if stat.S_ISREG(mode) else "folder" if stat.S_ISDIR(mode) else None
    return None


def leftovers(root: str | os.PathLike, paths: Iterable[str]) -> list[Path]:
    """What interrupted runs left of the dataset ``root``: only names this package makes.

    ``.NAME.tmp-XXXXXXXX`` files and ``.NAME.part-XXXXXXXX`` download folders
    beside a file NAME of ``paths`` (the plan) or the marker. Links, and files
    of any other name, are never listed.
    """
    root, found, wanted = Path(root), [], {}
    for path in [MARKER_NAME, *paths]:
        folder, _, name = path.rpartition("/")
        wanted.setdefault(root / folder, set()).add(name)
    for folder, names in wanted.items():
        if _kind(folder) != "folder" or any(os.path.islink(p) for p in folder.parents if p.is_relative_to(root)):
            continue
        for entry in os.scandir(folder):
            match, kind = _TEMPORARY.match(entry.name), _kind(entry.path)
            if match and match["name"] in names and (kind == "file" or kind == "folder" and ".part-" in entry.name):
                found.append(Path(entry.path))
    return found


def _remove_leftovers(root: Path, paths: Iterable[str]) -> None:
    """Delete what :func:`leftovers` lists; only under the lock, which proves no process still writes them."""
    for path in leftovers(root, paths):
        if _kind(path) == "folder":
            shutil.rmtree(path, ignore_errors=True)  # rmtree removes links, never follows them
        else:
            path.unlink(missing_ok=True)


# --- The marker -------------------------------------------------------------------------------


def file_record(root: str | os.PathLike, path: str, **hashes: str) -> dict:
    """The marker's record of the file ``root/path`` as it is now on disk (size and time), with ``hashes``
    (``sha256=...``, ``git_sha1=...``)."""
    found = (Path(root) / path).stat()
    return {"path": path, **hashes, "size": found.st_size, "mtime_ns": found.st_mtime_ns}


def write_marker(root: str | os.PathLike, info: dict, records: Iterable[dict], *, complete: bool = True) -> None:
    """Write ``root/course_dataset.json`` (atomically) from an identity and file records.

    With ``complete=True``, call it only once every file is on disk: it
    checks that each has the recorded size, and raises ``RuntimeError``
    otherwise. No absolute paths are recorded.
    """
    root, records = Path(root), sorted(records, key=lambda record: record["path"])
    for record in records if complete else []:
        size = (root / record["path"]).stat().st_size
        if size != record["size"]:
            raise RuntimeError(f"{record['path']} has {size} bytes, not {record['size']}: the dataset is not complete")
    content = {"format": MARKER_FORMAT,
               "about": "Written by course_utils, which made this folder; 'complete' is true once every file "
                        "below was on disk. Check the files with: python -m course_utils.data verify",
               **info, "complete": complete, "files": records}
    write_atomic(root / MARKER_NAME, json.dumps(content, indent=1) + "\n", mode=0o644, pause=True)


def records_problem(records, *, size_needed: bool = True) -> str | None:
    """Why ``records`` (a marker's or a manifest's ``files``) is not a list of well-formed file records, or None.

    Each record's ``path`` must be safe (:func:`path_problem`) and listed
    once, its ``size`` (needed unless ``size_needed`` is false) and
    ``mtime_ns`` non-negative integers, its ``sha256`` and ``git_sha1``
    lower-case hex digits and its ``url`` an http(s) address.

    Examples
    --------
    >>> records_problem([{"path": "a.fits", "git_sha1": "abc"}], size_needed=False)
    "its file record 1 ('a.fits') has a 'git_sha1' that is not 40 lower-case hex digits: 'abc'"
    """
    if not isinstance(records, list):
        return "it has no list of 'files'"
    for number, record in enumerate(records, 1):
        where = f"its file record {number}"
        if not isinstance(record, dict):
            return f"{where} is not an object: {record!r}"
        if problem := path_problem(record.get("path")):
            return f"{where} has a 'path' that {problem}"
        for key, (pattern, words) in _FIELDS.items():
            value = record.get(key)
            if (value is not None or key == "size" and size_needed) and not re.fullmatch(pattern, json.dumps(value)):
                return f"{where} ({record['path']!r}) has a '{key}' that is not {words}: {value!r}"
    if len({record["path"] for record in records}) != len(records):
        return "it lists a file twice"
    return None


def read_marker(root: str | os.PathLike) -> dict | None:
    """The marker of ``root`` as a dict, or None if there is none.

    Every file record is checked (:func:`records_problem`) before anything
    read from the marker is used.

    Raises
    ------
    ValueError
        If the marker exists but cannot be read as a marker of this format
        (the message names it and the command that makes the dataset again;
        a marker of an older format is made again the same way).
    """
    path = Path(root) / MARKER_NAME
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:  # unreadable, not UTF-8, not JSON
        problem = f"cannot be read ({getattr(error, 'strerror', None) or error})"
        raise ValueError(_say("marker", path, root, problem=problem)) from error
    if not isinstance(content, dict) or content.get("format") != MARKER_FORMAT:
        raise ValueError(_say("marker", path, root, problem=f"is not a course dataset marker (format {MARKER_FORMAT})"))
    if problem := records_problem(content.get("files")):
        raise ValueError(_say("marker", path, root, problem=f"is broken: {problem}"))
    return content


# --- Checking --------------------------------------------------------------------------------


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
        ``generate --force``, or a download that checks every file, writes into such a folder).
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

    def first(self) -> str | None:
        """The first thing wrong, as a phrase, or None."""
        return self.problem or next((f"{path} {reason}" for path, reason in self.damaged.items()), None)


def _identity_problem(content: dict, info: dict) -> str | None:
    for key, value in info.items():
        if content.get(key) != value:
            return f"the dataset has {key.replace('_', ' ')} {content.get(key)!r}, not {value!r}"
    if content.get("complete") is not True:
        return "the dataset is incomplete (its making was interrupted)"
    return None


def _file_problem(file: Path, record: dict, status: Status, rehash: bool) -> str | None:
    """Why ``file`` differs from its record; re-hashes only a file whose time changed (all with ``rehash``)."""
    try:
        found = os.lstat(file)
    except OSError:
        return "is missing"
    if not stat.S_ISREG(found.st_mode):
        return "is not a file the course wrote (a folder or a link is in its place)"
    if record.get("size") not in (None, found.st_size):
        return f"has {found.st_size} bytes, not {record['size']}"
    if found.st_mode & 0o222:
        status.writable.append(record["path"])
    if found.st_mtime_ns == record.get("mtime_ns") and not rehash:
        return None
    if problem := hash_problem(file_digests(file), record):
        return f"changed since it was written ({problem})"
    if found.st_mtime_ns != record.get("mtime_ns"):
        status.stale.append(record["path"])
    return None


def check(root: str | os.PathLike, info: dict, expected_paths: Iterable[str] = (),
          expected_hashes: dict[str, dict] | None = None, *, rehash: bool = False, manifest: dict | None = None,
          progress: bool = False) -> Status:
    """Check that ``root`` holds the complete, undamaged dataset ``info``: cheaply, or hashing every file.

    ``expected_paths`` must be listed in the marker; ``expected_hashes``
    (``{path: {"sha256": ..., "git_sha1": ...}}``, a download's) must be the
    hashes it records, so that a changed manifest makes a fresh download.
    ``rehash`` hashes every file (``verify``); without a marker, the files of
    ``manifest`` (a manifest dict), if given, are checked against its hashes.
    """
    root = Path(root)
    try:
        content = read_marker(root)
    except ValueError as error:
        return Status(problem=str(error), broken=True)
    if content is None and manifest is None:
        return Status(problem=f"no {MARKER_NAME} (the folder was not made by course_utils)")
    status = Status(problem=content and _identity_problem(content, info), content=content)
    records = {record["path"]: record for record in (content or manifest)["files"]}
    status.damaged = {path: f"is not listed in {MARKER_NAME}" for path in expected_paths if path not in records}
    with progress_bar(total=len(records), desc="Verifying", unit="file", enabled=progress) as bar:
        for path, record in records.items():
            hashes = (expected_hashes or {}).get(path, {})
            if any(hashes.get(key) and record.get(key) != hashes[key] for key in _HEX):
                status.damaged[path] = "was recorded with other hashes than the manifest's"
            elif problem := _file_problem(root / path, record, status, rehash):
                status.damaged[path] = problem
            bar.update(1)
    return status


def full_check(root: str | os.PathLike, *, manifest: dict | None = None, progress: bool = False) -> list[str]:
    """Hash every file of the dataset in ``root`` and return the problems found (empty: all good).

    With a marker, every listed file must exist with the recorded size and
    hashes. Without one, the files of ``manifest`` (a manifest dict) are
    checked against its hashes (see :func:`check`).
    """
    status = check(root, {}, rehash=True, manifest=manifest, progress=progress)
    problems = [f"{path} {reason}" for path, reason in status.damaged.items()]
    if status.content is None and problems:  # every manifest file present and matching: no problem
        problems.insert(0, f"no {MARKER_NAME}: checked the files against the manifest instead")
    return ([status.problem] if status.problem else []) + problems


# --- Filling, repairing and tidying -----------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What a dataset is, and how to make its files.

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
        ``make(paths)``, a generator of ``(path, content)`` for each of ``paths``
        in that order: ``content`` is the file's bytes, or the path of a file
        made beside its target (a download), which is checked against
        ``hashes`` and renamed into place.
    what : str
        What the dataset is, for messages (``"the synthetic course dataset"``).
    title : str, optional
        The progress bar's text (default: ``"Generating " + what``).
    hashes : dict, optional
        ``{path: {"size": ..., "sha256": ..., "git_sha1": ...}}``: what each
        file must be (a manifest's). A file already there that matches is kept.
    """

    info: dict
    sizes: dict[str, int]
    make: Callable[[list[str]], Iterator[tuple[str, bytes | Path]]]
    what: str
    title: str = ""
    hashes: dict[str, dict] = field(default_factory=dict)


def claim(root: Path, status: Status, *, overwrite: bool = False) -> None:
    """Raise FileExistsError unless course_utils may write into ``root``; call it holding the lock.

    It may if ``root`` is missing, empty, or has a readable marker (course_utils
    made it) -- or, with ``overwrite``, a marker file that cannot be read.
    Anything else is someone's: the message says so, and what to do. A link
    in the dataset's place is never followed.
    """
    if root.is_symlink() and not root.exists():
        raise FileExistsError(_say("dangling", root, to=os.readlink(root)))
    if root.exists() and not root.is_dir():
        raise FileExistsError(_say("not_folder", root))
    if status.broken and not overwrite:
        raise FileExistsError(status.problem)
    if status.content is None and not status.broken and root.is_dir() and any(root.iterdir()):
        raise FileExistsError(_say("foreign", root))


def _sort(out_dir: Path, status: Status, plan: Plan, everything: bool) -> tuple[list[str], list[dict]]:
    """(the files to write, the records of those that stay): a listed, undamaged file stays, unless
    ``everything``; so does a file already there that matches the plan's hashes (a download). Every
    path is checked (no link on the way); an empty folder in the place of a file to write is removed."""
    listed = {} if everything or status.content is None else {r["path"]: r for r in status.content["files"]}
    todo, kept = [], []
    for path in plan.sizes:
        target = check_no_links(out_dir, path)
        record = None if path in status.damaged else listed.get(path)
        if record is None and plan.hashes.get(path) and _kind(target) == "file":
            found = file_digests(target)
            record = None if hash_problem(found, plan.hashes[path]) else found
        if record is not None:
            kept.append(file_record(out_dir, path, **{k: record[k] for k in _HEX if record.get(k)}))
            continue
        todo.append(path)
        if _kind(target) == "folder":
            try:
                target.rmdir()
            except OSError:
                raise UnsafePathError(_say("folder_in_way", target, out_dir)) from None
    return todo, kept


def _write(out_dir: Path, plan: Plan, paths: list[str], kept: list[dict], progress: bool) -> None:
    """Write ``paths`` one by one (each read-only, through a rename), then the complete marker."""
    records = []
    with progress_bar(total=len(paths), desc=plan.title or f"Generating {plan.what}", unit="file",
                      enabled=progress) as bar, contextlib.closing(plan.make(paths)) as made:
        for path, content in made:
            target = check_no_links(out_dir, path)
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, Path):  # a download beside its target: checked, then renamed into place
                hashes = file_digests(content)
                if problem := hash_problem(hashes, plan.hashes.get(path, {})):
                    raise Rejected(path, problem)
                _install(content, target)
            else:
                hashes = {"sha256": hashlib.sha256(content).hexdigest()}
                write_atomic(target, content)
            records.append(file_record(out_dir, path, **hashes))
            bar.update(1)
    write_marker(out_dir, plan.info, kept + records)


def _forget_if_empty(root: Path, paths: Iterable[str]) -> None:
    """After a failure before any of ``paths`` arrived: remove the incomplete marker and the plan's
    empty folders (a failed first download or generation leaves no folder behind)."""
    with contextlib.suppress(ValueError, OSError):
        content = read_marker(root)
        if content and not content["complete"] and not content["files"] \
                and not any(os.path.lexists(root / path) for path in paths):
            (root / MARKER_NAME).unlink()
            for folder in reversed(folders_of(root, paths)):
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only if empty; never a link


def maintain(out_dir: Path, paths: list[str], status: Status) -> None:
    """Tidy a complete dataset ``out_dir`` if its lock is free: leftovers, seals, time stamps.

    Removes what interrupted runs left (:func:`leftovers`), seals again the
    files of ``paths`` (the plan's) in ``status.writable`` (with a line on
    stderr) and re-stamps the marker with the times of ``status.stale``
    (files whose time changed but whose content was re-hashed and found
    right, e.g. after a backup was restored), so that they are not
    re-hashed again. A busy lock or a read-only folder leaves it as it is.
    """
    writable = [path for path in status.writable if path in set(paths)]
    if not (leftovers(out_dir, paths) or status.stale or writable):
        return
    with contextlib.suppress(OSError), dataset_lock(out_dir, wait=False), unsealed(out_dir, paths):
        _remove_leftovers(out_dir, paths)  # (a busy lock is a Timeout, an OSError: another process tidies)
        for path in writable:
            if _kind(check_no_links(out_dir, path)) == "file":
                os.chmod(out_dir / path, 0o444)
        if writable:
            print(f"Sealed again {len(writable)} file(s) of the dataset in {display_path(out_dir)} that had "
                  f"been made writable: {some(writable)}", file=sys.stderr)
        if status.stale and (fresh := check(out_dir, {})).ok:  # checked again under the lock, as it is now
            records = [{**r, **file_record(out_dir, r["path"])} if r["path"] in fresh.stale else r
                       for r in fresh.content["files"]]
            write_marker(out_dir, fresh.content, records)  # (its format, about, complete and files are written anew)


def ensure(out_dir: Path, plan: Plan, *, progress: bool = True) -> Status:
    """Make sure ``plan``'s dataset is there, complete, in ``out_dir``: the one helper of every dataset
    folder (the synthetic dataset, the science folder, the photon-transfer frames, the real frames).

    A complete folder is only tidied (:func:`maintain`); a damaged or
    interrupted one is repaired; a course dataset of another identity (seed,
    generator version: decided under the lock) is replaced; anything else
    is left alone with an error that says what to do.
    """
    return fill(out_dir, plan, progress=progress, replace_other=True)


def fill(out_dir: Path, plan: Plan, *, overwrite: bool = False, progress: bool = True,
         replace_other: bool = False) -> Status:
    """Make ``plan``'s dataset complete and undamaged in ``out_dir`` (absolute); return what was found.

    Parameters
    ----------
    out_dir : pathlib.Path
        The dataset folder (absolute).
    plan : Plan
        The dataset.
    overwrite : bool
        Remake every file, also of a *different* course dataset in
        ``out_dir`` (another identity), and replace a broken marker. Without
        it such a folder is an error, and a dataset of the same identity is
        only completed and repaired (a line on stderr names the damaged
        files made again). A plan with hashes may always replace a broken
        marker: every file is checked against them.
    progress : bool
        Show a progress bar (``TQDM_DISABLE=1`` hides it too).
    replace_other : bool
        Replace a course dataset of another identity (see :func:`ensure`).

    Returns
    -------
    course_utils.data.Status
        The state found under the lock, before writing.

    Raises
    ------
    FileExistsError
        If ``out_dir`` holds something that may not be replaced.
    course_utils.data.NotWritableError
        If the parent folder cannot be written.
    course_utils.data.DiskFullError
        If the disk lacks room (before starting, or while writing).
    Rejected
        If a downloaded file differs from the plan's hashes (it is not kept).
    """
    status = check(out_dir, plan.info, plan.sizes, plan.hashes)
    if status.ok and not overwrite:
        maintain(out_dir, list(plan.sizes), status)
        return status
    parent = ensure_writable(out_dir.parent, plan.what)
    with dataset_lock(out_dir):
        status = check(out_dir, plan.info, plan.sizes, plan.hashes)  # another process may have made it
        claim(out_dir, status, overwrite=overwrite or bool(plan.hashes))
        if status.ok and not overwrite:
            return status
        other = status.content is not None and any(status.content.get(k) != v for k, v in plan.info.items())
        if other and not (overwrite or replace_other):
            raise FileExistsError(_say("other", out_dir, problem=status.problem))
        overwrite = overwrite or other
        with unsealed(out_dir, plan.sizes):
            _remove_leftovers(out_dir, plan.sizes)
            paths, kept = _sort(out_dir, status, plan, overwrite)
            sizes = [plan.sizes[path] for path in paths]
            needed = sum(s for p, s in zip(paths, sizes) if not (out_dir / p).exists()) + max(sizes, default=0)
            check_free_space(parent, needed + (1 << 16), plan.what, len(paths) + 8)  # (+ a replaced file's copy)
            try:
                out_dir.mkdir(parents=True, exist_ok=True)
                write_marker(out_dir, plan.info, kept, complete=False)  # the marker first: see _forget_if_empty
                _write(out_dir, plan, paths, kept, progress)
            except BaseException as error:
                _forget_if_empty(out_dir, plan.sizes)
                if getattr(error, "errno", None) == errno.ENOSPC and not isinstance(error, DiskFullError):
                    key = "no_inodes" if _free_inodes(parent) == 0 else "full"  # a full disk, or no inodes
                    message = _say(key, parent, what=plan.what, free=_mb(free_bytes(parent)))
                    raise DiskFullError(errno.ENOSPC, message) from error
                raise
    repaired = [f"{path} {reason}" for path, reason in status.damaged.items() if "not listed" not in reason]
    if status.content is not None and not overwrite and repaired:
        print(f"Repaired {len(repaired)} damaged file(s) in {display_path(out_dir)}: {some(repaired)}", file=sys.stderr)
    return status
