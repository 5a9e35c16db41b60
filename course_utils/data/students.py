"""Every student their own detector: a student's identity and the seed of their dataset.

A student's identity is any text that tells the students of a class apart,
usually their university e-mail address. It comes, in this order, from

1. :func:`use_student` called in a notebook (``course_utils.use_student("ada@uni.edu")``);
2. the environment variable ``COURSE_STUDENT`` (an instructor can set it for
   a whole JupyterHub, a TA for one shell);
3. nowhere: then the course's default dataset is used, the one the website
   and the stored notebook outputs show.

The identity becomes a seed through a stable hash: SHA-256 of the
normalised identity (surrounding spaces removed, inner runs of spaces made
one, letters case-folded, Unicode NFC), never Python's ``hash()``, which
changes from run to run. So ``" Ada@Uni.edu "`` and ``"ada@uni.edu"`` are the
same student, and the same identity gives the same seed -- and byte-identical
frames -- on every machine, Python and numpy version the course supports.

The seed is the first 48 bits of the digest: its 12 hexadecimal digits
(:func:`student_tag`) name the student's folders in the cache
(``synthetic-full-<tag>``), so the identity itself is never written to disk.

With the real Magellan frames (``COURSE_DATA_SOURCE=magellan``) there is
nothing to vary: every student sees the same real frames.

Examples
--------
>>> from course_utils.data.students import student_seed, student_tag
>>> student_tag("ada@uni.edu") == student_tag("  ADA@uni.edu ")
True
>>> student_seed("ada@uni.edu") == int(student_tag("ada@uni.edu"), 16)
True
"""

from __future__ import annotations

import hashlib
import os
import unicodedata

from .identity import DEFAULT_SEED

__all__ = ["STUDENT_ENV", "normalise", "student_seed", "student_tag", "seed_tag", "use_student",
           "current_student", "current_seed"]

#: The environment variable that names the student.
STUDENT_ENV = "COURSE_STUDENT"

_MAX_LENGTH = 200  # an identity is a name or an address, never a document


def normalise(identity: str) -> str:
    """The identity as it is hashed: NFC, case-folded, spaces trimmed and collapsed.

    Raises
    ------
    TypeError
        If ``identity`` is not text.
    ValueError
        If it is empty (after trimming) or longer than 200 characters.

    Examples
    --------
    >>> normalise("  Ada   Lovelace@Uni.EDU ")
    'ada lovelace@uni.edu'
    """
    if not isinstance(identity, str):
        raise TypeError(f"a student's identity must be text (e.g. their e-mail address), "
                        f"got {type(identity).__name__}")
    text = " ".join(unicodedata.normalize("NFC", identity).casefold().split())
    if not text:
        raise ValueError("a student's identity must not be empty: use e.g. your university e-mail address")
    if len(text) > _MAX_LENGTH:
        raise ValueError(f"a student's identity must be at most {_MAX_LENGTH} characters, got {len(text)}")
    return text


def _digest(identity: str) -> bytes:
    return hashlib.sha256(b"course_utils student\0" + normalise(identity).encode("utf-8")).digest()


def student_seed(identity: str) -> int:
    """The seed of ``identity``'s dataset: the first 48 bits of its SHA-256.

    Never the default seed (one identity in 2**48 would hit it; it is moved by one).

    Examples
    --------
    >>> student_seed("ada@uni.edu") != student_seed("alan@uni.edu")
    True
    """
    seed = int.from_bytes(_digest(identity)[:6], "big")
    return seed + 1 if seed == DEFAULT_SEED else seed


def seed_tag(seed: int) -> str:
    """The short name of a seed's folders: 12 hexadecimal digits (more for larger seeds).

    Examples
    --------
    >>> seed_tag(255)
    '0000000000ff'
    """
    return f"{int(seed):012x}"


def student_tag(identity: str) -> str:
    """The short name of ``identity``'s folders in the cache (12 hexadecimal digits)."""
    return seed_tag(student_seed(identity))


def use_student(identity: str | None, *, verbose: bool = True) -> int:
    """Work on ``identity``'s own dataset from now on (this kernel and what it starts).

    Call it once, right after the set-up cell, with your university e-mail
    address; every notebook that calls it with the same identity gets the
    same frames. ``None`` goes back to the course's default dataset.

    Returns
    -------
    int
        The seed of the dataset (the course's default seed for ``None``).

    Examples
    --------
    >>> seed = use_student("ada@uni.edu", verbose=False)
    >>> seed == current_seed()
    True
    >>> use_student(None, verbose=False) == DEFAULT_SEED
    True
    """
    if identity is None:
        os.environ.pop(STUDENT_ENV, None)
        if verbose:
            print("Using the course's default dataset (no student identity).")
        return DEFAULT_SEED
    seed = student_seed(identity)
    os.environ[STUDENT_ENV] = identity  # also seen by the checks and by processes this kernel starts
    if verbose:
        print(f"Using your own dataset (student {seed_tag(seed)}): your numbers differ from "
              "the website's and from your neighbours'.")
    return seed


def current_student() -> str | None:
    """The identity in ``COURSE_STUDENT`` (set directly or by :func:`use_student`), or None.

    An empty or blank value counts as unset.
    """
    value = os.environ.get(STUDENT_ENV)
    return value if value is not None and value.strip() else None


def current_seed() -> int:
    """The seed of the current student's dataset, or the course's default seed.

    Raises
    ------
    ValueError
        If ``COURSE_STUDENT`` holds an identity that cannot be used (too long).
    """
    identity = current_student()
    return DEFAULT_SEED if identity is None else student_seed(identity)


def folder_name(kind: str, preset: str, seed: int = DEFAULT_SEED) -> str:
    """The cache folder of a synthetic dataset: ``synthetic-full`` or, for a student, ``synthetic-full-<tag>``.

    ``kind`` is ``"synthetic"`` or ``"synthetic-science"``.

    Examples
    --------
    >>> folder_name("synthetic", "full"), folder_name("synthetic-science", "small", 255)
    ('synthetic-full', 'synthetic-science-small-0000000000ff')
    """
    base = f"{kind}-{preset}"
    return base if seed == DEFAULT_SEED else f"{base}-{seed_tag(seed)}"
