"""A dataset folder you can trust: the one module that claims, locks, plans, writes, verifies, repairs and tidies.

Every dataset the course keeps on disk -- the synthetic course dataset, the
science frames of notebook 5, the real Magellan frames -- is a folder with a
marker, ``course_dataset.json``, that says the course made it, what it is
(its identity: :mod:`course_utils.data.identity`) and every file's relative
path, size, modification time and SHA-256. This module alone writes into,
deletes from or changes the modes of such a folder, by these rules:

* **the lock first** (:func:`dataset_lock`, a file lock beside the folder, so
  it works across processes, containers and PID namespaces sharing a disk);
  only under it does :func:`fill` look at the folder and decide whether the
  course may write there (:func:`claim`: missing, empty, or marked);
* **paths from the plan only**: every path written, deleted or sealed comes
  from a :class:`Plan` (the generator's) or a manifest, checked once by
  :func:`check_no_links` (relative, normalized, inside, no link on the way).
  Nothing read from a marker is used as a path to change; links are never
  followed, and files of any other name are never touched;
* **the marker first and last**: written incomplete before any file, and
  complete once every file is on disk (:func:`write_marker`), so an
  interrupted run never looks complete and the next call resumes it;
* **read-only raw data**: files are written through a temporary file and a
  rename (:func:`write_atomic`), and a complete dataset's folders are sealed
  (:func:`unsealed` opens them for a repair);
* **room first**: :func:`check_free_space` refuses to start without room (or
  inodes), and a disk filling up while writing gives :class:`DiskFullError`;
* **cheap checks**: :func:`check` (every ``dataset_dir()`` call) compares sizes
  and modification times and re-hashes only a file whose time changed;
  :func:`maintain` re-stamps such files, seals a file made writable again and
  removes what interrupted runs left; :func:`full_check` (``verify``) hashes all.

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
>>> git_blob_sha1_bytes(b"hello\\n")
'ce013625030ba8dba906f756967f9e9ca394464a'
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
from .identity import LABELS

__all__ = ["Plan", "Status", "fill", "ensure", "maintain", "claimed", "opened", "forget_if_empty", "claim", "check", "full_check",
           "read_marker", "write_marker", "file_record", "record_problem", "MARKER_NAME", "dataset_lock",
           "unsealed", "write_atomic", "install", "remove_leftovers", "leftovers", "check_no_links",
           "path_problem", "check_free_space", "free_bytes", "disk_full", "ensure_writable", "DiskFullError",
           "NotWritableError", "UnsafePathError", "file_digests", "hash_problem", "git_blob_sha1_bytes",
           "cache_dir", "work_folder", "using_line", "display_path", "is_within", "redact",
           "regenerate_command", "folders_of", "CACHE_ENV", "WORK_ENV", "PAUSE_ENV"]

with warnings.catch_warnings():  # pooch imports tqdm.auto, which warns in a kernel without ipywidgets
    warnings.filterwarnings("ignore", message="IProgress not found")
    import pooch


# --- Hashes -------------------------------------------------------------------------------------

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Digests:
    """Size and hashes of one file."""

    size: int
    sha256: str
    git_sha1: str


def git_blob_sha1_bytes(content: bytes) -> str:
    """Git blob SHA-1 of ``content``."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def file_digests(path: str | os.PathLike) -> Digests:
    """Read ``path`` once and return its size, SHA-256 and git blob SHA-1.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     _ = f.write(b"hello\\n"); f.flush()
    ...     d = file_digests(f.name)
    >>> d.size, d.git_sha1
    (6, 'ce013625030ba8dba906f756967f9e9ca394464a')
    """
    path = Path(path)
    size = path.stat().st_size
    sha256 = hashlib.sha256()
    git_sha1 = hashlib.sha1(b"blob %d\0" % size)
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            sha256.update(chunk)
            git_sha1.update(chunk)
    return Digests(size, sha256.hexdigest(), git_sha1.hexdigest())


def hash_problem(digests: Digests, entry: dict) -> str | None:
    """Compare ``digests`` with the hashes (and size) an entry records.

    ``entry`` may hold ``git_sha1``, ``sha256`` and ``size``; at least one hash
    is needed. Returns None when everything recorded matches, else a sentence
    saying what differs (expected versus got).

    Examples
    --------
    >>> d = Digests(6, "ab" * 32, "ce013625030ba8dba906f756967f9e9ca394464a")
    >>> hash_problem(d, {"git_sha1": "ce013625030ba8dba906f756967f9e9ca394464a"}) is None
    True
    >>> hash_problem(d, {"git_sha1": "0" * 40})
    'git blob SHA-1 mismatch: expected 0000000000000000000000000000000000000000, got ce013625030ba8dba906f756967f9e9ca394464a'
    """
    if entry.get("size") is not None and int(entry["size"]) != digests.size:
        return f"size mismatch: expected {entry['size']} bytes, got {digests.size}"
    checked = False
    for key, label in (("git_sha1", "git blob SHA-1"), ("sha256", "SHA-256")):
        expected = entry.get(key)
        if expected:
            checked = True
            got = getattr(digests, key)
            if expected.lower() != got:
                return f"{label} mismatch: expected {expected.lower()}, got {got}"
    if not checked:
        return "no hash recorded (git_sha1 or sha256) to check the file against"
    return None


# --- Where datasets live, safe paths, disk space, locks, atomic writes, tidying -----------------

#: Where datasets are generated or downloaded (default: pooch's cache folder).
CACHE_ENV = "COURSE_CACHE_DIR"


def cache_dir() -> Path:
    """The folder where datasets are generated or downloaded.

    ``COURSE_CACHE_DIR`` if set, else ``pooch.os_cache("course_utils")``.
    The folder is not created here.

    Examples
    --------
    >>> cache_dir().is_absolute()
    True
    """
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser().absolute()
    return Path(pooch.os_cache("course_utils")).absolute()


#: The work folder for derived products (default ``./course_work``).
WORK_ENV = "COURSE_WORK_DIR"


def work_folder() -> Path:
    """The work folder's path (``COURSE_WORK_DIR``, else ``./course_work``), not created or checked."""
    return Path(os.environ.get(WORK_ENV) or Path.cwd() / "course_work").expanduser().absolute()


def using_line(description: str, root: Path, note: str = "") -> str:
    """The line ``dataset_dir`` prints: what data, and where.

    Notebook outputs are stored and published, so a dataset in the cache is
    named relative to the cache: where the cache is differs from machine to
    machine (``python -m course_utils.data info`` shows it).
    """
    cache = cache_dir()
    if is_within(root, cache) and root.resolve() != cache.resolve():
        where = root.resolve().relative_to(cache.resolve()).as_posix()
        return f"Using {description}: {where} in the course's cache folder{note}"
    return f"Using {description} in {display_path(root)}{note}"

#: What to do when a disk is full or a folder cannot be written.
SPACE_ADVICE = ("Free some space there, or set COURSE_CACHE_DIR to a folder on a disk with room "
                "(command line: --output DIR).")

#: Tests only: a folder. Before a marker's temporary file is renamed into place, the writer
#: creates ``paused`` in it and waits until ``resume`` exists there (see :func:`write_atomic`).
PAUSE_ENV = "COURSE_TEST_PAUSE_BEFORE_MARKER"

#: Temporary files (``.NAME.tmp-XXXXXXXX``) and download folders (``.NAME.part-XXXXXXXX``) this
#: package makes beside a file NAME of a dataset, and the marker's own temporary file.
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?:tmp|part)-[0-9a-f]{8}$")


class UnsafePathError(FileExistsError):
    """A path of a dataset goes through a symbolic link or something else the course did not make."""


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
    pure = PurePosixPath(path)
    if (pure.is_absolute() or "\\" in path or "\0" in path or path != pure.as_posix()
            or any(part in (".", "..") for part in path.split("/"))):
        return f"must be relative, inside the folder, with '/' separators, got {path!r}"
    return None


def check_no_links(root: str | os.PathLike, path: str) -> Path:
    """``root/path``, after checking that no existing part of it below ``root`` is a link.

    The folders on the way must be real folders (or not exist yet); the file
    itself may be anything but a link to a folder or a non-empty folder.

    Raises
    ------
    UnsafePathError
        Naming the part and what to do. Nothing is followed or changed.
    """
    root = Path(root)
    problem = path_problem(path)
    if problem:
        raise UnsafePathError(f"the dataset path {problem}")
    current = root
    parts = path.split("/")
    for number, part in enumerate(parts, start=1):
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            break
        last = number == len(parts)
        if stat.S_ISLNK(mode) and not last:
            raise UnsafePathError(
                f"{display_path(current)} is a symbolic link inside the dataset {display_path(root)}; "
                "the course never follows links there. Remove the link (the folder it points to is "
                f"not touched) and run the command again, e.g. `{regenerate_command(root)}`.")
        if not last and not stat.S_ISDIR(mode):
            raise UnsafePathError(
                f"{display_path(current)} is a file where the dataset needs a folder; it is left alone. "
                f"Move it out of {display_path(root)} and run `{regenerate_command(root)}`.")
    return root / path


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


def folders_of(root: str | os.PathLike, paths: Iterable[str]) -> list[Path]:
    """``root`` and every folder on the way to ``paths`` (from the plan), outermost first."""
    root = Path(root)
    found = {root}
    for path in paths:
        parts = path.split("/")[:-1]
        found.update(root.joinpath(*parts[:n]) for n in range(1, len(parts) + 1))
    return sorted(found, key=lambda folder: len(folder.parts))


def redact(text: str) -> str:
    """``text`` with the user name and password of every address removed.

    Examples
    --------
    >>> redact("could not reach http://user:secret@example.org/frames")
    'could not reach http://example.org/frames'
    """
    return re.sub(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]*@", r"\1", str(text))


class NotWritableError(PermissionError):
    """A folder the course needs to write into cannot be written."""


class DiskFullError(OSError):
    """Not enough free space for the dataset; the message says how much, where, and what to do."""

    def __init__(self, message: str):
        super().__init__(errno.ENOSPC, message)

    def __str__(self) -> str:
        return self.strerror


def free_bytes(folder: str | os.PathLike) -> int:
    """Free bytes on the disk of ``folder`` (or of its nearest existing parent).

    This is the one place the package asks the operating system for free
    space: tests may replace it to simulate a full disk.
    """
    return shutil.disk_usage(_existing(folder)).free


def _existing(folder: str | os.PathLike) -> Path:
    folder = Path(folder).absolute()
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    return folder


def _mb(size: int) -> str:
    return f"{size / 1e6:.0f} MB" if size >= 1e6 else f"{size / 1e6:.1f} MB"


def check_free_space(folder: str | os.PathLike, needed: int, what: str, count: int = 0) -> None:
    """Raise :class:`DiskFullError` if ``folder``'s disk has less than ``needed`` bytes free,
    or (where the file system counts them) fewer than ``count`` free inodes.

    Examples
    --------
    >>> check_free_space(tempfile.gettempdir(), 0, "nothing")
    """
    free = free_bytes(folder)
    if free < needed:
        raise DiskFullError(
            f"Not enough disk space for {what} in {display_path(folder)}: it needs about "
            f"{_mb(needed)} more, and only {_mb(free)} are free. {SPACE_ADVICE}")
    inodes = _free_inodes(folder)
    if inodes is not None and inodes < count:
        raise DiskFullError(f"The file system of {display_path(folder)} can hold only {inodes} more files "
                            f"(free inodes), and {what} needs about {count}. {SPACE_ADVICE}")


def write_atomic(path: str | os.PathLike, content: bytes | str, *, mode: int = 0o444,
                 what: str = "the dataset", pause: bool = False) -> os.stat_result:
    """Write ``content`` to ``path`` through a temporary file ``.NAME.tmp-XXXXXXXX`` and a rename.

    Readers never see a half-written file. The file gets ``mode`` (default
    read-only: raw data; root ignores it, so there it only guards others).
    On any failure the temporary file is removed; a full disk raises
    :class:`DiskFullError`. ``pause=True`` (the marker's writes) honours the
    test hook ``COURSE_TEST_PAUSE_BEFORE_MARKER`` just before the rename.

    Returns
    -------
    os.stat_result
        The file's status once in place (size and modification time, for the marker).

    Examples
    --------
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     print(write_atomic(Path(tmp) / "a.fits", b"SIMPLE").st_size)
    6
    """
    path = Path(path)
    data = content.encode("utf-8") if isinstance(content, str) else content
    tmp = path.parent / f".{path.name}.tmp-{secrets.token_hex(4)}"
    try:
        with open(tmp, "xb") as file:
            file.write(data)
        os.chmod(tmp, mode)
        if pause:
            _pause_for_tests()
        install(tmp, path)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(error, OSError) and error.errno == errno.ENOSPC and not isinstance(error, DiskFullError):
            raise disk_full(path.parent, what, len(data), path.name) from error
        raise
    return path.stat()


def _free_inodes(folder: str | os.PathLike) -> int | None:
    """Free inodes on the file system of ``folder``, or None where it does not count them."""
    with contextlib.suppress(OSError, AttributeError):
        info = os.statvfs(_existing(folder))
        return info.f_favail if info.f_files > 0 else None
    return None


def disk_full(folder: str | os.PathLike, what: str, size: int = 0, name: str = "") -> DiskFullError:
    """The :class:`DiskFullError` of a write that met a full disk (or a file system out of inodes)."""
    folder = Path(folder)
    if _free_inodes(folder) == 0:
        return DiskFullError(
            f"The file system of {display_path(folder)} can hold no more files (no free inodes, "
            f"although {_mb(free_bytes(folder))} are free) while writing {what}. {SPACE_ADVICE}")
    alone = f", {_mb(size)} needed for {name} alone" if name else ""
    return DiskFullError(f"The disk filled up while writing {what} in {display_path(folder)} "
                         f"(No space left on device; {_mb(free_bytes(folder))} free{alone}). {SPACE_ADVICE}")


def install(tmp: str | os.PathLike, path: str | os.PathLike, mode: int = 0o444) -> None:
    """Give the finished temporary file ``tmp`` its ``mode`` (read-only) and rename it to ``path`` (atomic)."""
    os.chmod(tmp, mode)  # raw data: nobody writes into it after this
    if os.name == "nt" and os.path.exists(path):  # Windows cannot replace a read-only file
        os.chmod(path, 0o644)
    os.replace(tmp, path)


def _set_writable(folders: Iterable[Path], writable: bool) -> None:
    """Change the write bits of ``folders`` that are real folders (links and others are skipped)."""
    for folder in folders:
        try:
            mode = os.lstat(folder).st_mode
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(mode) and not os.path.islink(folder):
            mode &= 0o7777
            os.chmod(folder, mode | 0o700 if writable else mode & ~0o222)


def _real_folders(top: Path) -> list[Path]:
    """``top`` and the folders below it, never entering or listing a link."""
    found, todo = [], [top]
    while todo:
        folder = todo.pop()
        if os.path.islink(folder) or not folder.is_dir():
            continue
        found.append(folder)
        with os.scandir(folder) as entries:
            todo += [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False)]
    return found


@contextlib.contextmanager
def unsealed(root: str | os.PathLike, paths: Iterable[str]) -> Iterator[None]:
    """Let the package write into its dataset ``root`` for a while; seal it again on success.

    A complete dataset's folders are read-only, like its frames, so that
    nothing can be added to or deleted from the raw data. Call this holding
    the dataset's lock, and only for a folder the package made (see
    :func:`claim`). Only ``root`` and the folders on
    the way to ``paths`` (the plan's files) are changed, and never through a
    symbolic link. After a failure the folders stay writable, so that the
    next run can clean up.

    Raises
    ------
    NotWritableError
        If the folders cannot be made writable (e.g. another user owns them).
    """
    root = Path(root)
    folders = folders_of(root, list(paths))
    try:
        _set_writable(folders, True)
    except OSError as error:
        raise NotWritableError(
            f"Cannot make {display_path(root)} writable to fill or repair it: "
            f"{error.strerror or error}. Set COURSE_CACHE_DIR to a folder you own "
            "(command line: --output DIR).") from error
    yield
    _set_writable(folders, False)


def lock_path(root: str | os.PathLike) -> Path:
    """The lock file of the dataset folder ``root``: ``.NAME.lock`` beside it."""
    root = Path(root)
    return root.parent / f".{root.name}.lock"


@contextlib.contextmanager
def dataset_lock(root: str | os.PathLike, *, wait: bool = True) -> Iterator[None]:
    """Hold the lock of the dataset folder ``root`` (waiting for it if another process has it).

    Every process that generates, downloads or repairs ``root`` holds this
    lock, so only one writes at a time; the others wait, then find the
    dataset complete. The lock is the operating system's (``filelock``):
    it is released when its holder ends, even if killed, and does not
    depend on process ids, so it works across containers that share a disk.

    With ``wait=False``, raise ``filelock.Timeout`` at once if another process holds it.

    Raises
    ------
    NotWritableError
        If the lock file cannot be made (the folder is read-only).
    """
    root = Path(root)
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(lock_path(root))
        try:
            lock.acquire(timeout=1 if wait else 0)
        except Timeout:
            if not wait:
                raise
            print(f"Waiting for another process that is preparing {display_path(root)} ...",
                  file=sys.stderr, flush=True)
            lock.acquire()
    except OSError as error:
        if isinstance(error, (NotWritableError, Timeout)):
            raise
        raise NotWritableError(
            f"Cannot write the lock of {display_path(root)} into {display_path(root.parent)}: "
            f"{error.strerror or error}. Set COURSE_CACHE_DIR to a folder you can write to "
            "(command line: --output DIR).") from error
    try:
        yield
    finally:
        lock.release()


def _through_link(root: Path, path: Path) -> bool:
    """True if ``root`` or a folder between it and ``path`` (included) is a symbolic link."""
    return any(os.path.islink(p) for p in (path, *path.parents) if p.is_relative_to(root))


def _kind(path: Path) -> str | None:
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    return "file" if stat.S_ISREG(mode) else "folder" if stat.S_ISDIR(mode) else None


def leftovers(root: str | os.PathLike, paths: Iterable[str]) -> list[Path]:
    """What interrupted runs left of the dataset ``root`` (see :func:`remove_leftovers`).

    Only names this package makes for the files of ``paths`` (the plan):
    ``.NAME.tmp-XXXXXXXX`` files and ``.NAME.part-XXXXXXXX`` download folders
    beside a file NAME, the marker's temporary file, and the sibling folders
    ``.ROOT.partial-PID-XXXXXXXX`` / ``.ROOT.old-PID-XXXXXXXX`` of older versions.
    Links, and files of any other name, are never listed.
    """
    root = Path(root)
    sibling = re.compile(rf"^\.{re.escape(root.name)}\.(?:partial|old)-\d+-[0-9a-z]{{8}}$")
    found = [path for path in root.parent.glob(f".{root.name}.*")
             if sibling.match(path.name) and _kind(path) == "folder"]
    names: dict[Path, set[str]] = {root: {MARKER_NAME}}
    for path in paths:
        folder, _, name = ("/" + path).rpartition("/")
        names.setdefault(root / folder.lstrip("/"), set()).add(name)
    for folder, wanted in names.items():
        if _through_link(root, folder) or _kind(folder) != "folder":
            continue
        for entry in os.scandir(folder):
            match = _TEMPORARY.match(entry.name)
            if match and match["name"] in wanted:
                path = Path(entry.path)
                if _kind(path) == "file" or (_kind(path) == "folder" and ".part-" in entry.name):
                    found.append(path)
    return found


def remove_leftovers(root: str | os.PathLike, paths: Iterable[str]) -> list[Path]:
    """Delete what interrupted runs left of the dataset ``root``; call it holding its lock.

    Removes what :func:`leftovers` lists (never following a link). Holding
    the lock proves that no process is still writing them, whatever process
    ids their names hold (another container's PIDs mean nothing here).
    Returns what was removed.
    """
    found = leftovers(root, paths)
    for path in found:
        if _kind(path) == "folder":
            with contextlib.suppress(OSError):
                _set_writable(_real_folders(path), True)  # a copy of a sealed dataset
            shutil.rmtree(path, ignore_errors=True)  # rmtree removes links, never follows them
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    return found


def display_path(path: str | os.PathLike) -> str:
    """``path`` as text, with the home folder shown as ``~``.

    Notebook outputs are stored and published, so they must not show the
    machine's user name or home folder.
    """
    path = Path(path)
    try:
        home = Path(os.path.expanduser("~"))
        for base, candidate in ((home, path), (home.resolve(), path.resolve())):
            if candidate == base:
                return "~"
            if candidate.is_relative_to(base):
                return "~/" + candidate.relative_to(base).as_posix()
    except (OSError, RuntimeError):  # no home, or a broken path
        pass
    return str(path)


def is_within(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """True if ``path`` is ``folder`` or lies inside it (symbolic links resolved)."""
    return Path(path).resolve().is_relative_to(Path(folder).resolve())


def ensure_writable(folder: str | os.PathLike, what: str, advice: str) -> Path:
    """Create ``folder`` if needed and check that a file can be written in it.

    The check really creates (and removes) a file: permission bits alone do
    not tell (root ignores them; a read-only file system does not show in
    them).

    Parameters
    ----------
    folder : path-like
    what : str
        What the folder is for, for the message (e.g. ``"the data cache"``).
    advice : str
        What to do instead, for the message.

    Raises
    ------
    NotWritableError
        If the folder cannot be created or written.

    Examples
    --------
    >>> import tempfile
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
        reason = error.strerror or str(error)
        if error.errno in (errno.EROFS,):
            reason = "read-only file system"
        raise NotWritableError(f"Cannot write {what} into {folder}: {reason}. {advice}") from error
    return folder


def _pause_for_tests() -> None:
    """If ``COURSE_TEST_PAUSE_BEFORE_MARKER`` names a folder: say so there, wait for ``resume``.

    A documented hook for tests of concurrent first calls: it holds the
    window between a marker's temporary file and its rename open for as long
    as a test needs (at most 120 s).
    """
    folder = os.environ.get(PAUSE_ENV)
    if not folder:
        return
    Path(folder, "paused").touch()
    deadline = time.monotonic() + 120
    while not Path(folder, "resume").exists() and time.monotonic() < deadline:
        time.sleep(0.02)


# --- The marker -------------------------------------------------------------------------------

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
    write_atomic(root / MARKER_NAME, json.dumps(content, indent=1) + "\n", mode=0o644, pause=True)
    return root / MARKER_NAME


_HEX = {"sha256": 64, "git_sha1": 40}


def record_problem(record, *, size_needed: bool = True) -> str | None:
    """Why ``record`` is not a well-formed file record (of a marker or a manifest), or None.

    Its ``path`` must be safe (:func:`path_problem`), ``size`` and ``mtime_ns``
    non-negative integers, ``sha256`` and ``git_sha1`` lower-case hex digits.

    Examples
    --------
    >>> record_problem({"path": "a.fits", "git_sha1": "abc"}, size_needed=False)
    "('a.fits') has a malformed 'git_sha1' (not 40 lower-case hex digits): 'abc'"
    """
    if not isinstance(record, dict):
        return f"is not an object: {record!r}"
    problem = path_problem(record.get("path"))
    if problem:
        return f"has a 'path' that {problem}"
    for key in ("size", "mtime_ns"):
        value = record.get(key)
        if (value is not None or (key == "size" and size_needed)) and (type(value) is not int or value < 0):
            return f"({record['path']!r}) has a '{key}' that is not a non-negative integer: {value!r}"
    for key, digits in _HEX.items():
        value = record.get(key)
        if value is not None and not (isinstance(value, str) and re.fullmatch(f"[0-9a-f]{{{digits}}}", value)):
            return f"({record['path']!r}) has a malformed '{key}' (not {digits} lower-case hex digits): {value!r}"
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
        problem = record_problem(record)
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
    with progress_bar(total=len(records), desc="Verifying", unit="file", enabled=progress) as bar:
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


# --- The one way in: the lock, then the claim ------------------------------------------------------


@contextlib.contextmanager
def claimed(out_dir: Path, info: dict, paths: Iterable[str], what: str, *, overwrite: bool = False,
            advice: str = "Set COURSE_CACHE_DIR (or pass another output folder) to a writable folder."
            ) -> Iterator[Status]:
    """Hold the lock of the dataset folder ``out_dir``, claim it, and yield what is there, as found under the lock.

    The one way into a dataset folder, for the generator and the download
    alike: the lock first (:func:`dataset_lock`), then a look at the folder
    (another process may have made it meanwhile: :func:`check` against
    ``info`` and ``paths``), then the decision whether the course may write
    into it (:func:`claim`; ``overwrite`` also takes a folder whose marker is
    broken). Nothing is written yet: see :func:`opened`.

    Raises
    ------
    NotWritableError
        If the parent folder cannot be written (the message ends with ``advice``).
    FileExistsError
        If the folder is someone else's.
    """
    ensure_writable(out_dir.parent, what, advice)
    with dataset_lock(out_dir):
        status = check(out_dir, info, paths)
        claim(out_dir, status, overwrite=overwrite)
        yield status


@contextlib.contextmanager
def opened(out_dir: Path, paths: Iterable[str]) -> Iterator[None]:
    """Inside :func:`claimed`: ``out_dir``'s folders unsealed (:func:`unsealed`), what interrupted runs
    left of ``paths`` removed (:func:`remove_leftovers`), and sealed again on success."""
    with unsealed(out_dir, paths):
        remove_leftovers(out_dir, paths)
        yield


def forget_if_empty(root: Path, paths: Iterable[str]) -> None:
    """After a failure before any of ``paths`` arrived, remove the incomplete marker and the plan's empty
    folders (a failed first download leaves no folder behind); call it inside :func:`opened`."""
    try:
        content = read_marker(root)
    except ValueError:
        return
    paths = list(paths)
    arrived = any(os.path.lexists(root / path) for path in paths)
    if content is not None and not content.get("complete") and not content["files"] and not arrived:
        (root / MARKER_NAME).unlink()
        for folder in reversed(folders_of(root, paths)):
            if not folder.is_symlink():
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only if empty


# --- Filling, repairing and tidying a generated dataset -------------------------------------------


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


def _to_write(status: Status, plan: Plan, overwrite: bool) -> list[str]:
    """The files to (re)write: all of them for another dataset or ``overwrite``, else the damaged."""
    if overwrite or status.content is None or _differs(status.content, plan.info):
        return list(plan.sizes)
    return [path for path in plan.sizes if path in status.damaged]


def _kept_records(out_dir: Path, status: Status, plan: Plan, rewritten: set[str]) -> list[dict]:
    """Records of the listed files that stay, refreshed from disk (they were checked)."""
    if status.content is None:
        return []
    kept = []
    for record in status.content["files"]:
        path = record["path"]
        # Files of an older layout stay on disk: a marker's paths are never used to delete.
        if path in plan.sizes and path not in rewritten and path not in status.damaged:
            kept.append(file_record(out_dir, path, sha256=record["sha256"]))
    return kept


def _make_room(out_dir: Path, paths: list[str]) -> None:
    """Check each target's path (no link on the way); remove an empty folder in a file's place."""
    for path in paths:
        target = check_no_links(out_dir, path)
        if target.is_dir() and not target.is_symlink():
            try:
                target.rmdir()
            except OSError:
                raise UnsafePathError(
                    f"{display_path(target)} is a folder holding files, where the dataset needs "
                    f"a file; it is left alone. Move it out of the dataset and run "
                    f"`{regenerate_command(out_dir)}`.") from None


def _space_needed(out_dir: Path, paths: list[str], plan: Plan) -> int:
    """Bytes the disk needs: the new files, plus one file's temporary copy during a replacement."""
    sizes = [plan.sizes[path] for path in paths]
    new = sum(size for path, size in zip(paths, sizes) if not (out_dir / path).exists())
    return new + max(sizes, default=0) + (1 << 16)


def _write(out_dir: Path, plan: Plan, paths: list[str], progress: bool) -> list[dict]:
    """Write ``paths`` one by one (each read-only, through a rename); return their records."""
    records = []
    with progress_bar(total=len(paths), desc=plan.title or f"Generating {plan.what}", unit="file",
                      enabled=progress) as bar:
        made: Iterator[tuple[str, bytes]] = iter(plan.make(paths))
        for path, content in made:
            target = check_no_links(out_dir, path)
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, content, what=plan.what)
            records.append(file_record(out_dir, path, content))
            del content
            bar.update(1)
    return records


def _report_repairs(out_dir: Path, status: Status) -> None:
    repaired = [path for path in status.damaged if "not listed" not in status.damaged[path]]
    if repaired:
        shown = "; ".join(f"{path} {status.damaged[path]}" for path in repaired[:3])
        more = f" and {len(repaired) - 3} more" if len(repaired) > 3 else ""
        print(f"Repaired {len(repaired)} damaged file(s) of the dataset in "
              f"{display_path(out_dir)}: {shown}{more}", file=sys.stderr)


def maintain(out_dir: Path, paths: list[str], status: Status) -> None:
    """Tidy a complete dataset ``out_dir`` if its lock is free: leftovers, seals, time stamps.

    Removes what interrupted runs left (:func:`remove_leftovers`),
    seals again the files of ``status.writable`` (with a line on stderr) and
    re-stamps the marker with the times of ``status.stale`` (files whose
    time changed but whose content was re-hashed and found right, e.g.
    after a backup was restored), so that they are not re-hashed again. A
    busy lock or a read-only folder leaves everything as it is.
    """
    if not (leftovers(out_dir, paths) or status.stale or status.writable):
        return
    try:
        with dataset_lock(out_dir, wait=False), unsealed(out_dir, paths):
            remove_leftovers(out_dir, paths)
            for path in status.writable:
                target = check_no_links(out_dir, path)
                if not target.is_symlink():
                    os.chmod(target, 0o444)
            if status.writable:
                print(f"Sealed again {len(status.writable)} file(s) of the dataset in "
                      f"{display_path(out_dir)} that had been made writable: "
                      f"{', '.join(status.writable[:3])}", file=sys.stderr)
            if status.stale and status.content is not None:
                fresh = check(out_dir, {}, [])  # under the lock, as it is now
                if fresh.ok and fresh.content is not None:
                    stale = set(fresh.stale)
                    records = [{**r, **_stamp(out_dir, r["path"])} if r["path"] in stale else r
                               for r in fresh.content["files"]]
                    info = {k: v for k, v in fresh.content.items() if k not in ("format", "about", "complete", "files")}
                    write_marker(out_dir, info, records)
    except (Timeout, OSError):  # busy (another process tidies) or read-only: leave it
        pass


def _stamp(out_dir: Path, path: str) -> dict:
    found = os.lstat(out_dir / path)
    return {"size": found.st_size, "mtime_ns": found.st_mtime_ns}


def ensure(out_dir: Path, plan: Plan, *, progress: bool = True) -> Status:
    """Make sure ``plan``'s generated dataset is there, complete, in ``out_dir``: the one helper
    of every generated folder (the synthetic dataset, the science folder, the photon-transfer frames).

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
        ``out_dir`` (another identity). Without it such a folder is an
        error, and a dataset of the same identity is only completed and
        repaired (a line on stderr names the damaged files made again).
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
    """
    status = check(out_dir, plan.info, plan.sizes)
    if status.ok and not overwrite:
        maintain(out_dir, list(plan.sizes), status)
        return status
    with claimed(out_dir, plan.info, plan.sizes, plan.what, overwrite=overwrite) as status:
        if status.ok and not overwrite:
            return status
        overwrite = overwrite or (replace_other and _differs(status.content, plan.info))
        if not overwrite and _differs(status.content, plan.info):
            raise FileExistsError(
                f"{out_dir} already holds a different course dataset ({status.problem}). Pass "
                "overwrite=True (command line: --force) to replace it, or choose another folder.")
        paths = _to_write(status, plan, overwrite)
        check_free_space(out_dir, _space_needed(out_dir, paths, plan), plan.what, len(paths) + 8)
        with opened(out_dir, plan.sizes):
            try:
                kept = _kept_records(out_dir, status, plan, set(paths))
                _make_room(out_dir, paths)
                out_dir.mkdir(parents=True, exist_ok=True)
                write_marker(out_dir, plan.info, kept, complete=False)
                written = _write(out_dir, plan, paths, progress)
                write_marker(out_dir, plan.info, kept + written)
            except OSError as error:
                if error.errno == errno.ENOSPC and not isinstance(error, DiskFullError):
                    raise disk_full(out_dir, plan.what) from error
                raise
    if status.content is not None and not overwrite:
        _report_repairs(out_dir, status)
    return status
