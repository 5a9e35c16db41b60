"""Which engine runs a combine() call (private).

``backend`` and the environment variable ``COURSE_UTILS_BACKEND`` choose;
with ``'auto'`` a kernel still compiling in the background (:mod:`.warmup`)
means the numpy engine for this call.
"""

from __future__ import annotations

import os

from . import warmup
from .clipping import ClipParams
from .numba_engine import jit_disabled, kernels_error, load_kernels

#: Environment variable read when backend="auto": auto, numba or numpy.
BACKEND_ENV = "COURSE_UTILS_BACKEND"
_BACKENDS = ("auto", "numba", "numpy")


def chosen_backend(backend) -> str:
    """The validated backend, with "auto" replaced by the environment's choice."""
    if not (isinstance(backend, str) and backend in _BACKENDS):
        raise ValueError(f"backend={backend!r} is not supported; use one of {_BACKENDS}")
    if backend == "auto":
        env = os.environ.get(BACKEND_ENV, "").strip().lower() or "auto"
        if env not in _BACKENDS:
            raise ValueError(
                f"The environment variable {BACKEND_ENV}={os.environ[BACKEND_ENV]!r} is not "
                f"one of {_BACKENDS}; unset it or correct it"
            )
        backend = env
    return backend


def _may_use_kernels(backend: str, clip, params: ClipParams) -> bool:
    """False where the numpy engine runs whatever numba's state: backend "numpy", mad_std
    per pixel with "auto" (numba is not even imported), or numba's JIT disabled
    (uncompiled kernels are not the kernels; combine logs it)."""
    return not (backend == "numpy" or (backend == "auto" and clip == "pixel" and params.use_mad_std)
                or jit_disabled())


def start_compiling(backend: str, clip, params: ClipParams, kind: tuple[str, str]) -> None:
    """After a call that ran on the numpy engine: compile its kernel in the background if none is.

    Started once the call is done rather than during it, so that the
    call has the machine to itself (a 2-core machine was shared with the
    compiling process, and the first call took up to 1.6 s instead of 1).
    """
    if backend == "auto" and _may_use_kernels(backend, clip, params):
        warmup.status(kind)  # (starts it, or does nothing: queued, compiling or ready)


def kernels_for(backend: str, clip, params: ClipParams, kind: tuple[str, str]):
    """The numba kernels to use (backend "auto" or "numba"), or None for the numpy engine.

    With "auto", a kernel that is not compiled yet means the numpy engine
    for this call; :func:`start_compiling` then compiles it in a background
    process (:mod:`course_utils.combining.warmup`). "numba" waits for such a
    process, then compiles (or loads from numba's cache) in this one.
    """
    if not _may_use_kernels(backend, clip, params):
        return None
    if backend == "auto" and warmup.status(kind, start=False) in ("compiling", "idle"):
        return None  # (start_compiling() starts it after this call: they would share the CPU)
    if backend == "numba":
        warmup.claim(kind)  # unqueue it, or wait for its background process
    kernels = load_kernels()
    if kernels is None and backend == "numba":
        error = kernels_error()
        raise ImportError(
            f"The numba engine of combine() (backend='numba', or {BACKEND_ENV}=numba) needs "
            f"numba, which could not be imported ({type(error).__name__}: {error}). Install it "
            "with `pip install numba` (or `pip install course_utils[fast]`), or use "
            "backend='auto' or 'numpy'."
        ) from error
    if clip == "pixel" and params.use_mad_std:
        return None
    return kernels
