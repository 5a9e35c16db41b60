"""File hashes: SHA-256, and the git blob SHA-1 that identifies a file in git.

A git blob SHA-1 is the SHA-1 of ``b"blob <size>\\0"`` followed by the
file's bytes: it is what ``git hash-object FILE`` prints, and what the
reference list of the real frames records.

Examples
--------
>>> from course_utils.data.hashing import git_blob_sha1_bytes
>>> git_blob_sha1_bytes(b"")      # git's well-known empty blob
'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391'
>>> git_blob_sha1_bytes(b"hello\\n")
'ce013625030ba8dba906f756967f9e9ca394464a'
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Digests", "file_digests", "git_blob_sha1_bytes", "hash_problem"]

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
