"""References kept on disk, so that a new kernel's first check is fast.

Private to :mod:`course_utils.checks`. The references that take a tenth of
a second of CPU or more at full size (the master bias of 40 frames and the
master darks, the master flat, the bias statistics, the photon transfer
curve) are saved as ``.npz`` files in a folder the course owns --
``COURSE_CHECK_CACHE_DIR`` if set, else ``check_references`` in the dataset
cache (:func:`course_utils.data.store.cache_dir`) -- never in the dataset
folder, which may be read-only and is never written to.

A cached file is named after what it holds and a key made of the dataset
folder and the size and modification time of every frame it was computed
from: a changed or regenerated dataset gets new references. The cache is
only an accelerator: a file that cannot be read is recomputed, and one
that cannot be written is skipped, silently.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from ..data.store import cache_dir, write_atomic

#: Raise when what the cached references hold or how they are computed changes.
CACHE_VERSION = 3
CACHE_ENV = "COURSE_CHECK_CACHE_DIR"


def cache_folder() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser().absolute()
    return cache_dir() / "check_references"


def _key(kind: str, root: str, inputs: list[str]) -> str:
    digest = hashlib.sha256(f"{CACHE_VERSION}\0{kind}\0{Path(root).absolute()}".encode())
    for relative in inputs:
        stat = os.stat(Path(root, relative))  # a missing frame raises FileNotFoundError here
        digest.update(f"\0{relative}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:24]


def cached_arrays(kind: str, root: str, inputs: list[str],
                  compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """``compute()``'s arrays, from the disk cache when it holds them for these inputs.

    Parameters
    ----------
    kind : str
        What the arrays are, e.g. ``"dark"``; part of the file name.
    root : str
        The dataset folder.
    inputs : list of str
        The frames the arrays are computed from, relative to ``root``.
    compute : callable
        Returns the arrays (a dict of numpy arrays, no objects).

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     os.environ[CACHE_ENV] = tmp
    ...     _ = open(os.path.join(tmp, "frame"), "w").close()
    ...     first = cached_arrays("demo", tmp, ["frame"], lambda: {"x": np.arange(3)})
    ...     again = cached_arrays("demo", tmp, ["frame"], lambda: {"x": np.zeros(3)})
    ...     del os.environ[CACHE_ENV]
    >>> again["x"].tolist()
    [0, 1, 2]
    """
    path = cache_folder() / f"{kind}-{_key(kind, root, inputs)}.npz"
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {name: stored[name] for name in stored.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        pass  # not cached yet, or unreadable: compute
    arrays = compute()
    _save(path, arrays)
    return arrays


def _save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` atomically (the store's :func:`write_atomic`); skip on failure."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, buffer.getvalue(), mode=0o644)  # (a cache: the next version replaces it)
    except OSError:
        pass  # (the cache only speeds checks up)
