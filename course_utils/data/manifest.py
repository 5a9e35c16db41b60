"""The data manifest: every file the notebooks read, what it is, where the real one is.

The manifest (``data_manifest/calibration_frames.json`` in the repository,
installed as package data ``course_utils.data_manifest``) lists one entry per
file, with its relative path, frame type, telescope, instrument, detector,
shape, dtype and exposure time, and for the real frames the commit-pinned
download address (``url``) and the git blob SHA-1 (``git_sha1``) that a
download is checked against. ``confirmed`` names the fields known to hold for
the real frames too; the others describe the synthetic stand-in.

This module reads and checks manifests. The course's own manifest is built
from the reference list of the real frames, and an instructor's manifest of
their own frames from the frames' headers, by ``tools/build_manifest.py``.

Examples
--------
>>> from course_utils.data.manifest import load_manifest, real_entries
>>> manifest = load_manifest()
>>> len(manifest["files"])
63
>>> entry = manifest["files"][0]
>>> entry["path"], entry["frame_type"], entry["shape"], entry["dtype"]
('calibration_frames/bias/b0860c1.fits', 'bias', [1156, 2176], 'uint16')
>>> len(real_entries(manifest))
63
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

from .store import records_problem

__all__ = ["MANIFEST_FORMAT", "MANIFEST_RESOURCE", "MANIFEST_ENV", "load_manifest", "validate_manifest", "real_entries",
           "entry_url"]

MANIFEST_FORMAT = 1
MANIFEST_RESOURCE = "calibration_frames.json"
#: Environment variable naming another manifest file to use instead of the packaged one.
MANIFEST_ENV = "COURSE_DATA_MANIFEST"


# --- Reading and checking ---------------------------------------------------------


def load_manifest(path: str | os.PathLike | None = None) -> dict:
    """Load and check a manifest.

    Parameters
    ----------
    path : path-like, optional
        A manifest JSON file. Default: the file named by the environment
        variable ``COURSE_DATA_MANIFEST`` if set, else the course's packaged
        manifest.

    Raises
    ------
    ValueError
        If the manifest is not valid (the message says which entry and why).
    FileNotFoundError
        If ``path`` does not exist.
    """
    if path is None and os.environ.get(MANIFEST_ENV):
        path = os.environ[MANIFEST_ENV]
        if not Path(path).expanduser().is_file():
            raise FileNotFoundError(f"{MANIFEST_ENV} is set to {path}, which is not a file. Unset it to use the "
                                    "course's manifest, or point it at one (`python tools/build_manifest.py --local "
                                    "FOLDER --output FILE` makes one); the synthetic dataset needs none.")
    where = str(path) if path is not None else f"course_utils.data_manifest/{MANIFEST_RESOURCE}"
    source = resources.files("course_utils.data_manifest") / MANIFEST_RESOURCE if path is None else Path(path).expanduser()
    try:
        manifest = json.loads(source.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"the manifest {where} is not valid JSON: {error}") from error
    validate_manifest(manifest, where)
    return manifest


def validate_manifest(manifest: dict, where: str = "the manifest") -> None:
    """Raise ValueError if ``manifest`` is not a well-formed manifest.

    Checks the format number and that ``files`` is a list of well-formed
    records (:func:`course_utils.data.store.records_problem`: safe relative
    paths, each once, well-formed hashes and sizes, http(s) addresses).

    Examples
    --------
    >>> validate_manifest({"format": 1, "files": [{"path": "../x.fits"}]})
    Traceback (most recent call last):
    ...
    ValueError: the manifest is broken: its file record 1 has a 'path' that must be relative, inside the folder, with '/' separators, got '../x.fits'
    """
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"{where} is not a manifest of format {MANIFEST_FORMAT}")
    if problem := records_problem(manifest.get("files"), size_needed=False):
        raise ValueError(f"{where} is broken: {problem}")


def real_entries(manifest: dict) -> list[dict]:
    """The entries of real frames: those with a hash to check a copy against."""
    return [entry for entry in manifest["files"] if entry.get("git_sha1") or entry.get("sha256")]


def entry_url(manifest: dict, entry: dict, base_url: str | None = None) -> str:
    """The download address of ``entry``.

    ``base_url`` (if given) + the entry's path wins; then the entry's own
    ``url``; then the manifest source's ``base_url`` + path.

    Raises
    ------
    ValueError
        If no address is known.

    Examples
    --------
    >>> entry_url({}, {"path": "calibration_frames/bias/b0860c1.fits"}, "http://127.0.0.1:8000/data")
    'http://127.0.0.1:8000/data/calibration_frames/bias/b0860c1.fits'
    """
    if entry.get("url") and not base_url:
        return entry["url"]
    base = base_url or (manifest.get("source") or {}).get("base_url")
    if base:
        return base.rstrip("/") + "/" + entry["path"]
    raise ValueError(f"no download address for {entry['path']}: give the entry a 'url', set the manifest's "
                     "source 'base_url', or pass a base URL (command line: --base-url).")
