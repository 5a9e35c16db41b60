"""Small filesystem helpers: writability checks, atomic writes, tidy paths.

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

import errno
import os
import tempfile
from pathlib import Path

__all__ = ["display_path", "ensure_writable", "write_text_atomic", "is_within", "NotWritableError"]


class NotWritableError(PermissionError):
    """A folder the course needs to write into cannot be written."""


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
