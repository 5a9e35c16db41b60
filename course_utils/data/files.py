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
import re
import secrets
import shutil
import stat
import sys
import tempfile
import time
import warnings
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator

from filelock import FileLock, Timeout

with warnings.catch_warnings():  # pooch imports tqdm.auto, which warns in a kernel without ipywidgets
    warnings.filterwarnings("ignore", message="IProgress not found")
    import pooch

from ..progress import progress_bar

__all__ = ["display_path", "ensure_writable", "write_text_atomic", "is_within", "NotWritableError",
           "DiskFullError", "free_bytes", "check_free_space", "write_readonly", "install_readonly", "unsealed",
           "dataset_lock",
           "leftovers", "remove_leftovers", "lock_path", "progress", "SPACE_ADVICE", "path_problem",
           "check_no_links", "UnsafePathError", "redact", "folders_of", "PAUSE_ENV", "cache_dir",
           "using_line", "import_pooch", "CACHE_ENV", "WORK_ENV", "work_folder"]

#: Where datasets are generated or downloaded (default: pooch's cache folder).
CACHE_ENV = "COURSE_CACHE_DIR"


def import_pooch():
    """pooch, imported without the warning its import can print in Jupyter (kept for callers)."""
    return pooch


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
    return Path(import_pooch().os_cache("course_utils")).absolute()


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
#: creates ``paused`` in it and waits until ``resume`` exists there (see :func:`write_text_atomic`).
PAUSE_ENV = "COURSE_TEST_PAUSE_BEFORE_MARKER"

#: Temporary files (``.NAME.tmp-XXXXXXXX``) and download folders (``.NAME.part-XXXXXXXX``) this
#: package makes beside a file NAME of a dataset, and the marker's own temporary file.
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?:tmp|part)-[0-9a-f]{8}$")
_MARKER_TEMPORARY = re.compile(r"^\.course_dataset\.json\.[a-z0-9_]{8}\.tmp$")


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


def _is_link(path: Path) -> bool:
    return os.path.islink(path)


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
    with contextlib.suppress(OSError, AttributeError):
        info = os.statvfs(_existing(folder))
        if info.f_files > 0 and info.f_favail < count:
            raise DiskFullError(
                f"The file system of {display_path(folder)} can hold only {info.f_favail} more files "
                f"(free inodes), and {what} needs about {count}. {SPACE_ADVICE}")


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
            raise disk_full(path.parent, what, len(content), path.name) from error
        raise
    return path.stat()


def _no_inodes(folder: Path) -> bool:
    """True if the file system of ``folder`` reports that it can hold no more files."""
    with contextlib.suppress(OSError, AttributeError):
        info = os.statvfs(_existing(folder))
        return info.f_files > 0 and info.f_favail == 0
    return False


def disk_full(folder: str | os.PathLike, what: str, size: int = 0, name: str = "") -> DiskFullError:
    """The :class:`DiskFullError` of a write that met a full disk (or a file system out of inodes)."""
    folder = Path(folder)
    if _no_inodes(folder):
        return DiskFullError(
            f"The file system of {display_path(folder)} can hold no more files (no free inodes, "
            f"although {_mb(free_bytes(folder))} are free) while writing {what}. {SPACE_ADVICE}")
    alone = f", {_mb(size)} needed for {name} alone" if name else ""
    return DiskFullError(f"The disk filled up while writing {what} in {display_path(folder)} "
                         f"(No space left on device; {_mb(free_bytes(folder))} free{alone}). {SPACE_ADVICE}")


def install_readonly(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Make the finished temporary file ``tmp`` read-only and rename it to ``path`` (atomic)."""
    os.chmod(tmp, 0o444)  # raw data: nobody writes into it after this
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
        if stat.S_ISDIR(mode) and not _is_link(folder):
            mode &= 0o7777
            os.chmod(folder, mode | 0o700 if writable else mode & ~0o222)


def _real_folders(top: Path) -> list[Path]:
    """``top`` and the folders below it, never entering or listing a link."""
    found, todo = [], [top]
    while todo:
        folder = todo.pop()
        if _is_link(folder) or not folder.is_dir():
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
    :func:`course_utils.data.marker.claim`). Only ``root`` and the folders on
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
    return any(_is_link(p) for p in (path, *path.parents) if p.is_relative_to(root))


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
    names: dict[Path, set[str]] = {root: set()}
    for path in paths:
        folder, _, name = ("/" + path).rpartition("/")
        names.setdefault(root / folder.lstrip("/"), set()).add(name)
    for folder, wanted in names.items():
        if _through_link(root, folder) or _kind(folder) != "folder":
            continue
        for entry in os.scandir(folder):
            match = _TEMPORARY.match(entry.name)
            if (match and match["name"] in wanted) or (folder == root and _MARKER_TEMPORARY.match(entry.name)):
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


def write_text_atomic(path: str | os.PathLike, text: str, *, pause: bool = False) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename.

    Readers never see a half-written file: either the old content, or the
    new. ``pause=True`` (the marker's writes) honours the test hook
    ``COURSE_TEST_PAUSE_BEFORE_MARKER`` just before the rename.
    """
    path = Path(path)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; this is an ordinary data file
        if pause:
            _pause_for_tests()
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path
