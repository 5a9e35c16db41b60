"""Compiling the numba kernels in a background process (private).

numba compiles the kernels of :mod:`course_utils._kernels` on their first
use, which takes 1.5 to 3 seconds of a 2-core machine, and a student pays
it again in every fresh Colab runtime (numba's on-disk cache starts empty
there). With ``backend='auto'``, :func:`course_utils.combine.combine` does
not make the student wait: a call whose kernel is not compiled yet runs on
the numpy engine (same results, a few times slower) and starts a separate
Python process that compiles the kernel into numba's cache. Once that
process has finished, later calls load the kernel from the cache (a few
tenths of a second, once) and run on it.

A kernel is identified by its *kind*: the entry point (``'pixel'`` for
``clip='pixel'``, ``'plain'`` otherwise) and the name of the working type
of the data (``'uint16'``, ``'float32'`` or ``'float64'``).

The background process runs at a lower priority and is given
:data:`TIMEOUT` seconds. If it cannot start, fails (numba missing or
broken, no writable cache folder...) or takes too long, :func:`status`
says ``'in-process'``: combine() then does what ``backend='numba'`` does,
which compiles in the calling process or, without a usable numba, falls
back to the numpy engine.

Examples
--------
>>> from course_utils import _warmup
>>> kind = ("plain", "uint16")
>>> _warmup.status(kind) in ("compiling", "ready", "in-process")  # starts it if needed
True
>>> _warmup.wait(kind, timeout=120)  # True: no background compilation of it runs now
True
>>> _warmup.status(kind) in ("ready", "in-process")
True
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

__all__ = ["TIMEOUT", "status", "wait", "mark_ready", "compile_here"]

#: Seconds after which a background compilation is given up (and killed).
TIMEOUT = 300.0

_ENTRIES = ("pixel", "plain")
_WORK_TYPES = ("uint16", "float32", "float64")
_READY, _IN_PROCESS = "ready", "in-process"

_lock = threading.Lock()
#: kind -> a running _Job, "ready" or "in-process".
_state: dict = {}


class _Job:
    """A background process compiling one kind of kernel."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.started = time.monotonic()

    def poll(self) -> str | None:
        """"ready", "in-process" (failed or too slow), or None while it runs."""
        code = self.proc.poll()
        if code is None:
            if time.monotonic() - self.started < TIMEOUT:
                return None
            self.proc.kill()
            self.proc.wait()
            return _IN_PROCESS
        return _READY if code == 0 else _IN_PROCESS


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
            f"from {package}._warmup import _main; _main(sys.argv[2], sys.argv[3])")
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
    return _Job(proc)


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
        if state is None:
            if not start:
                return "idle"
            state = _state[kind] = _start(kind)
        if isinstance(state, _Job):
            done = state.poll()
            if done is None:
                return "compiling"
            state = _state[kind] = done
        return state


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
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        with _lock:
            if kind is not None:
                _check(kind)
            running = []
            for k in [kind] if kind is not None else list(_state):
                if isinstance(_state.get(k), _Job):
                    done = _state[k].poll()
                    if done is None:
                        running.append(_state[k])
                    else:
                        _state[k] = done
        if not running:
            return True
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return False
        try:  # outside the lock: other threads go on meanwhile
            running[0].proc.wait(timeout=0.05 if left is None else min(0.05, left))
        except subprocess.TimeoutExpired:
            pass


def mark_ready(kind: tuple[str, str]) -> None:
    """Record that this process has compiled (or loaded) the kernel of ``kind``."""
    _check(kind)
    with _lock:
        job = _state.get(kind)
        if isinstance(job, _Job) and job.proc.poll() is None:
            return  # its background process still runs; it will say so itself
        _state[kind] = _READY


def compile_here(kind: tuple[str, str]) -> None:
    """Compile the kernel of ``kind`` in this process (or load it from numba's cache).

    One tiny :func:`course_utils.combine.combine` call with
    ``backend='numba'``: it compiles exactly the kernel that calls on data of
    that working type need.
    """
    _check(kind)
    import numpy as np

    from .combine import combine

    # clip='frame' compiles what clip=None needs, and for 16-bit integers the histogram kernel too.
    combine(np.zeros((3, 2, 2), dtype=kind[1]), clip="pixel" if kind[0] == "pixel" else "frame",
            backend="numba")


def _main(entry: str, work: str) -> None:
    """Body of the background process: compile one kind of kernel into numba's cache."""
    _check((entry, work))
    if hasattr(os, "nice"):
        try:
            os.nice(10)  # the student's own work comes first
        except OSError:
            pass
    compile_here((entry, work))
