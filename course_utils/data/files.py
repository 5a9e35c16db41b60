"""Filesystem helpers: writability, disk space, locks, read-only atomic writes, tidy paths.

Everything the data layer writes goes through here:

* :func:`dataset_lock` serializes every process that fills one dataset
  folder (a file lock beside it, so it works across processes, containers
  and PID namespaces that share the file system);
* :func:`check_free_space` refuses to start when the disk lacks room, and
  :func:`write_readonly` turns a full disk met while writing into the same
  :class:`DiskFullError`, naming the folder, the megabytes needed and
  ``COURSE_CACHE_DIR``;
* :func:`write_readonly` writes a frame through a temporary file and a
  rename, and leaves it read-only: raw data is never written by notebooks
  (root ignores file permissions, so there this is only a guard for others);
* :func:`remove_leftovers` deletes, under the lock, the temporary files and
  folders an interrupted run left (they can only be stale then).

Examples
--------
>>> from pathlib import Path
>>> from course_utils.data.files import display_path
>>> display_path(Path.home() / ".cache" / "course_utils")
'~/.cache/course_utils'
>>> display_path("/opt/data")
'/opt/data'
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Iterator

from ..progress import progress_bar

__all__ = ["display_path", "ensure_writable", "write_text_atomic", "is_within", "NotWritableError",
           "DiskFullError", "free_bytes", "check_free_space", "write_readonly", "install_readonly", "unsealed",
           "dataset_lock",
           "leftovers", "remove_leftovers", "lock_path", "progress", "SPACE_ADVICE"]

#: What to do when a disk is full or a folder cannot be written.
SPACE_ADVICE = ("Free some space there, or set COURSE_CACHE_DIR to a folder on a disk with room "
                "(command line: --output DIR).")

#: Names of the temporary files and folders this package makes (see `remove_leftovers`).
_TEMPORARY = (".*.tmp-*", ".*.part-*", ".course_dataset.json.*.tmp")


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
    folder = Path(folder).absolute()
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def _mb(size: int) -> str:
    return f"{size / 1e6:.0f} MB" if size >= 1e6 else f"{size / 1e6:.1f} MB"


def check_free_space(folder: str | os.PathLike, needed: int, what: str) -> None:
    """Raise :class:`DiskFullError` if ``folder``'s disk has less than ``needed`` bytes free.

    Examples
    --------
    >>> check_free_space(tempfile.gettempdir(), 0, "nothing")
    """
    free = free_bytes(folder)
    if free < needed:
        raise DiskFullError(
            f"Not enough disk space for {what} in {display_path(folder)}: it needs about "
            f"{_mb(needed)} more, and only {_mb(free)} are free. {SPACE_ADVICE}")


def write_readonly(path: str | os.PathLike, content: bytes, *, what: str = "the dataset") -> os.stat_result:
    """Write ``content`` to ``path`` through a temporary file and a rename; make it read-only.

    Readers never see a half-written file. On any failure the temporary file
    is removed; a full disk raises :class:`DiskFullError`.

    Returns
    -------
    os.stat_result
        The file's status once in place (size and modification time, for the marker).

    Examples
    --------
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     print(write_readonly(Path(tmp) / "a.fits", b"SIMPLE").st_size)
    6
    """
    path = Path(path)
    tmp = path.parent / f".{path.name}.tmp-{secrets.token_hex(4)}"
    try:
        with open(tmp, "xb") as file:
            file.write(content)
        install_readonly(tmp, path)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            raise DiskFullError(
                f"The disk filled up while writing {what} in {display_path(path.parent)} "
                f"({_mb(free_bytes(path.parent))} free, {_mb(len(content))} needed for "
                f"{path.name} alone). {SPACE_ADVICE}") from error
        raise
    return path.stat()


def install_readonly(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Make the finished temporary file ``tmp`` read-only and rename it to ``path`` (atomic)."""
    os.chmod(tmp, 0o444)  # raw data: nobody writes into it after this
    if os.name == "nt" and os.path.exists(path):  # Windows cannot replace a read-only file
        os.chmod(path, 0o644)
    os.replace(tmp, path)


def _set_writable(root: Path, writable: bool) -> None:
    for folder in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        mode = folder.stat().st_mode & 0o7777
        os.chmod(folder, mode | 0o700 if writable else mode & ~0o222)


@contextlib.contextmanager
def unsealed(root: str | os.PathLike) -> Iterator[None]:
    """Let the package write into its dataset ``root`` for a while; seal it again on success.

    A complete dataset's folders are read-only, like its frames, so that
    nothing can be added to or deleted from the raw data. Call this holding
    the dataset's lock, and only for a folder the package made (see
    :func:`course_utils.data.marker.claim`). After a failure the folders stay
    writable, so that the next run can clean up.

    Raises
    ------
    NotWritableError
        If the folders cannot be made writable (e.g. another user owns them).
    """
    root = Path(root)
    try:
        if root.is_dir():
            _set_writable(root, True)
    except OSError as error:
        raise NotWritableError(
            f"Cannot make {display_path(root)} writable to fill or repair it: "
            f"{error.strerror or error}. Set COURSE_CACHE_DIR to a folder you own "
            "(command line: --output DIR).") from error
    yield
    if root.is_dir():
        _set_writable(root, False)


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
    from filelock import FileLock, Timeout

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


def leftovers(root: str | os.PathLike) -> list[Path]:
    """What interrupted runs left of the dataset ``root`` (see :func:`remove_leftovers`)."""
    root = Path(root)
    found = [path for pattern in (f".{root.name}.partial-*", f".{root.name}.old-*")
             for path in root.parent.glob(pattern)]
    if root.is_dir():
        found += [path for pattern in _TEMPORARY for path in root.rglob(pattern) if path.is_file()]
    return found


def remove_leftovers(root: str | os.PathLike) -> list[Path]:
    """Delete what interrupted runs left of the dataset ``root``; call it holding its lock.

    Removes the sibling folders ``.NAME.partial-*`` and ``.NAME.old-*`` (made
    by older versions of this package) and, inside ``root``, temporary files
    of interrupted writes and downloads. Holding the lock proves that no
    process is still writing them, whatever process ids their names hold
    (another container's PIDs mean nothing here). Returns what was removed.
    """
    found = leftovers(root)
    for path in found:
        if path.is_dir():
            with contextlib.suppress(OSError):
                _set_writable(path, True)  # a copy of a sealed dataset
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    return found


def progress(total: int, desc: str, enabled: bool = True, unit: str = "file"):
    """The dataset layer's progress bar (see :func:`course_utils.progress.progress_bar`).

    ``enabled=False`` hides it; so does ``TQDM_DISABLE=1`` in the environment.
    """
    return progress_bar(total=total, desc=desc, unit=unit, enabled=enabled)


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


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename.

    Readers never see a half-written file: either the old content, or the new.
    """
    path = Path(path)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; this is an ordinary data file
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path
