"""Compiling the numba kernels in a background process (private).

numba compiles the kernels of :mod:`course_utils.combining.kernels` on their first
use, which takes 1.5 to 3 seconds of a 2-core machine, and a student pays
it again in every fresh Colab runtime (numba's on-disk cache starts empty
there). With ``backend='auto'``, :func:`course_utils.combine` does
not make the student wait: a call whose kernel is not compiled yet runs on
the numpy engine (same results, a few times slower) and, once it is done,
starts a separate Python process that compiles the kernel into numba's
cache. Once that
process has finished, later calls load the kernel from the cache (a few
tenths of a second, once) and run on it.

A fresh process whose numba cache already holds a kind's kernels (compiled
by an earlier process, which left a marker file next to numba's own:
:func:`cached`) loads them on its first call instead.

A kernel is identified by its *kind*: the entry point (``'pixel'`` for
``clip='pixel'``, ``'plain'`` otherwise) and the name of the working type
of the data (``'uint16'``, ``'float32'`` or ``'float64'``).

At most one background process runs at a time per Python process: the
other kinds wait in a queue (compiling several at once only made each
slower, and took a gigabyte). A reaper thread waits for the process, so
that it is reaped the moment it ends, and starts the next kind. The
process runs at a lower priority and is given :data:`TIMEOUT` seconds,
which it enforces itself (an alarm), even if its parent is gone. If it cannot start, fails (numba missing or
broken, no writable cache folder...) or takes too long, :func:`status`
says ``'in-process'``: combine() then does what ``backend='numba'`` does,
which compiles in the calling process or, without a usable numba, falls
back to the numpy engine.

Examples
--------
>>> from course_utils.combining import warmup as warmup
>>> kind = ("plain", "uint16")
>>> warmup.status(kind) in ("compiling", "ready", "in-process")  # starts it if needed
True
>>> warmup.wait(kind, timeout=120)  # True: no background compilation of it runs now
True
>>> warmup.status(kind) in ("ready", "in-process")
True
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

__all__ = ["TIMEOUT", "status", "claim", "wait", "mark_ready", "cached"]

#: Seconds after which a background compilation is given up (and killed).
TIMEOUT = 300.0

_ENTRIES = ("pixel", "plain")
_WORK_TYPES = ("uint16", "float32", "float64")
_READY, _IN_PROCESS = "ready", "in-process"

_lock = threading.Lock()
#: kind -> "queued", a running _Job, "ready" or "in-process".
_state: dict = {}
#: Kinds waiting for the one background process (FIFO).
_queue: list = []
_QUEUED = "queued"


def _cache_folder() -> Path | None:
    """The folder where numba caches the kernels of this package (None: one this module does not know).

    ``NUMBA_CACHE_DIR``'s subfolder for this package's folder, or the
    ``__pycache__`` folder next to it (numba's default when writable).
    """
    here = Path(__file__).resolve().parent
    base = os.environ.get("NUMBA_CACHE_DIR", "").strip()
    if base:  # numba's _UserProvidedCacheLocator: <dir>/<folder name>_<sha1 of the folder path>
        return Path(base).resolve() / f"{here.name}_{hashlib.sha1(str(here).encode()).hexdigest()}"
    folder = here / "__pycache__"
    return folder if os.access(folder if folder.is_dir() else here, os.W_OK) else None


def _stamp() -> str:
    """What a cached kernel depends on: the kernel sources, numba's and Python's versions, the CPU."""
    import platform
    from importlib import metadata

    here = Path(__file__).resolve().parent
    parts = [sys.version, platform.machine()]
    try:
        parts.append(metadata.version("numba"))
    except metadata.PackageNotFoundError:
        parts.append("no numba")
    for name in ("kernels.py", "model.py"):
        info = (here / name).stat()
        parts.append(f"{name}:{info.st_mtime_ns}:{info.st_size}")
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]


def _marker(kind: tuple[str, str]) -> Path | None:
    """The file that says numba's cache holds the kernels of ``kind`` (None: no known cache folder)."""
    folder = _cache_folder()
    if folder is None:
        return None
    return folder / f"course_utils-{kind[0]}-{kind[1]}-{_stamp()}.ready"


def cached(kind: tuple[str, str]) -> bool:
    """Whether numba's on-disk cache holds the compiled kernels of ``kind`` (as this module recorded).

    Then a fresh process loads them (a few tenths of a second) rather than
    compiling them, and combine() uses them from its first call.
    """
    try:
        marker = _marker(kind)
        return marker is not None and marker.is_file()
    except OSError:
        return False


def _record_cached(kind: tuple[str, str]) -> None:
    """Note that numba's cache now holds ``kind`` (quietly nothing if it cannot be written)."""
    try:
        marker = _marker(kind)
        if marker is not None and not marker.is_file() and marker.parent.is_dir():
            marker.touch()
    except OSError:
        pass


class _Job:
    """The background process compiling one kind of kernel, and its reaper thread.

    The reaper waits for the process (so that it never lingers as a zombie),
    kills it after :data:`TIMEOUT` seconds, records the outcome and starts
    the next queued kind: at most one compile process at a time.
    """

    def __init__(self, kind, proc: subprocess.Popen):
        self.kind, self.proc = kind, proc
        self.started = time.monotonic()
        threading.Thread(target=self._reap, name="course_utils-compile-reaper",
                         daemon=True).start()

    def _reap(self) -> None:
        try:
            code = self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        if code == 0:
            _record_cached(self.kind)
        with _lock:
            if _state.get(self.kind) is self:
                _state[self.kind] = _READY if code == 0 else _IN_PROCESS
            _start_next()


def _running() -> bool:
    return any(isinstance(v, _Job) for v in _state.values())


def _start_next() -> None:
    """Start the next queued kind if no background process runs (call with the lock held)."""
    while _queue and not _running():
        kind = _queue.pop(0)
        _state[kind] = _start(kind)


def _numba_findable() -> bool:
    """Whether ``import numba`` may work, without importing it (which takes time)."""
    try:
        return importlib.util.find_spec("numba") is not None
    except (ImportError, ValueError):  # a stand-in module without a spec: let the caller try
        return True


def _check(kind: tuple[str, str]) -> None:
    if not (isinstance(kind, tuple) and len(kind) == 2 and kind[0] in _ENTRIES
            and kind[1] in _WORK_TYPES):
        raise ValueError(f"unknown kernel kind {kind!r}: expected (one of {_ENTRIES}, "
                         f"one of {_WORK_TYPES})")


def _command(kind: tuple[str, str]) -> list[str]:
    """The command line of the background process that compiles ``kind``."""
    package = __package__ or "course_utils"
    # The folder this package is in goes first on the child's sys.path, so
    # that it compiles these very files (numba's cache is keyed by them).
    root = Path(__file__).resolve().parents[package.count(".") + 1]
    code = (f"import sys; sys.path.insert(0, sys.argv[1]); "
            f"from {package}.warmup import main; main(sys.argv[2], sys.argv[3])")
    return [sys.executable, "-c", code, str(root), *kind]


def _start(kind: tuple[str, str]):
    """Start compiling ``kind`` in the background: a _Job, or "in-process" if that cannot be done."""
    if not _numba_findable():
        return _IN_PROCESS  # combine() then finds that numba is missing, and uses numpy
    extra = {"start_new_session": True} if os.name == "posix" else {}  # not hit by Ctrl-C
    try:
        proc = subprocess.Popen(_command(kind), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                close_fds=True, **extra)
    except (OSError, ValueError, subprocess.SubprocessError):
        return _IN_PROCESS
    return _Job(kind, proc)


def status(kind: tuple[str, str], start: bool = True) -> str:
    """Where the kernel of ``kind`` stands in this process.

    Parameters
    ----------
    kind : tuple of str
        ``(entry, working type)``, e.g. ``("pixel", "uint16")``.
    start : bool, optional
        Start the background compilation if nothing has been done yet for
        ``kind`` (default).

    Returns
    -------
    str
        ``'ready'``: compiled (in the background, or already used in this
        process); the kernel loads from numba's cache. ``'compiling'``: a
        background process is at it; use the numpy engine meanwhile.
        ``'in-process'``: no background compilation (it could not start,
        failed or took too long): compile here, as ``backend='numba'``
        does. ``'idle'``: nothing started (only with ``start=False``).

    Examples
    --------
    >>> status(("pixel", "int8"))
    Traceback (most recent call last):
    ...
    ValueError: unknown kernel kind ('pixel', 'int8'): expected (one of ('pixel', 'plain'), ...
    """
    _check(kind)
    with _lock:
        state = _state.get(kind)
        if state is None and cached(kind):  # compiled by an earlier process: load it
            state = _state[kind] = _READY
        if state is None:
            if not start:
                return "idle"
            _state[kind] = _QUEUED
            _queue.append(kind)
            _start_next()
            state = _state[kind]
        return "compiling" if state == _QUEUED or isinstance(state, _Job) else state


def claim(kind: tuple[str, str]) -> None:
    """Before compiling ``kind`` in this process: take it out of the queue, or wait for its process.

    A kind still queued is not compiled in the background any more (this
    process does it); one being compiled there is waited for (its reaper
    records the outcome), rather than compiled twice at once.
    """
    _check(kind)
    with _lock:
        if _state.get(kind) == _QUEUED:
            _queue.remove(kind)
            _state[kind] = _IN_PROCESS
    wait(kind)


def wait(kind: tuple[str, str] | None = None, timeout: float | None = None) -> bool:
    """Wait until the background compilation of ``kind`` (default: all) is over.

    Parameters
    ----------
    kind : tuple of str, optional
        ``(entry, working type)``; None (default) waits for every kind.
    timeout : float, optional
        Seconds to wait at most (default: as long as it takes, at most
        :data:`TIMEOUT` per background process).

    Returns
    -------
    bool
        True if no background compilation (of ``kind``) is running any more.

    Examples
    --------
    >>> wait(("pixel", "float64"), timeout=120)
    True
    """
    if kind is not None:
        _check(kind)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        with _lock:
            states = [_state.get(kind)] if kind is not None else list(_state.values())
            busy = any(x == _QUEUED or isinstance(x, _Job) for x in states)
        if not busy:
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(0.05)  # the reaper threads record the outcomes


def mark_ready(kind: tuple[str, str]) -> None:
    """Record that this process has compiled (or loaded) the kernel of ``kind``."""
    _check(kind)
    with _lock:
        state = _state.get(kind)
        if isinstance(state, _Job):
            return  # its background process still runs; its reaper will say so
        if state == _QUEUED:
            _queue.remove(kind)
        _state[kind] = _READY
    if state != _READY:
        _record_cached(kind)


def main(entry: str, work: str) -> None:
    """Body of the background process: compile one kind of kernel into numba's cache.

    It stops itself after :data:`TIMEOUT` seconds (SIGALRM, whose default
    action ends the process even while compiled code runs), so that it
    cannot outlive a parent that is gone.
    """
    _check((entry, work))
    if hasattr(signal, "alarm"):
        signal.alarm(int(TIMEOUT) + 1)
    if hasattr(os, "nice"):
        try:
            os.nice(10)  # the student's own work comes first
        except OSError:
            pass
    from .numba_engine import compile_kind

    compile_kind((entry, work))
