"""The marker file that says a dataset folder is complete: ``course_dataset.json``.

Whoever fills a dataset folder (the synthetic generator, the download of the
real frames) writes the marker *last*, once every file is complete. It
records where the data came from (source; for synthetic data the preset, seed
and generator version) and every file's relative path, size and SHA-256.

Two checks use it:

* :func:`quick_check` (run by ``dataset_dir()`` every time): the marker
  matches what is asked, and every listed file is present with the right
  size. It reads no file content, so it takes milliseconds.
* :func:`full_check` (``python -m course_utils.data verify``): also hashes
  every file.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from course_utils.data import marker
>>> with tempfile.TemporaryDirectory() as tmp:
...     root = Path(tmp)
...     _ = (root / "a.fits").write_bytes(b"SIMPLE")
...     info = marker.synthetic_info("small", 1, 1)
...     _ = marker.write_marker(root, info, [marker.file_record("a.fits", b"SIMPLE")])
...     print(marker.quick_check(root, info, ["a.fits"]))
...     print(marker.quick_check(root, marker.synthetic_info("small", 2, 1), ["a.fits"]))
None
the dataset has seed 1, not 2
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterable

from .files import write_text_atomic
from .hashing import file_digests, hash_problem

__all__ = [
    "MARKER_NAME",
    "MARKER_FORMAT",
    "synthetic_info",
    "file_record",
    "write_marker",
    "read_marker",
    "quick_check",
    "full_check",
    "describe",
]

MARKER_NAME = "course_dataset.json"
MARKER_FORMAT = 1

_LABELS = {"source": "source", "preset": "preset", "seed": "seed",
           "generator_version": "generator version", "commit": "commit"}


def synthetic_info(preset: str, seed: int, generator_version: int) -> dict:
    """The identifying fields of a synthetic dataset."""
    return {"source": "synthetic", "preset": preset, "seed": seed,
            "generator_version": generator_version}


def file_record(path: str, content: bytes) -> dict:
    """The marker's record of a file: relative path, size and SHA-256."""
    return {"path": path, "size": len(content), "sha256": hashlib.sha256(content).hexdigest()}


def write_marker(root: str | os.PathLike, info: dict, records: Iterable[dict]) -> Path:
    """Write ``root/course_dataset.json`` (atomically) from ``info`` and file records.

    Call it only after every file is complete. The content is deterministic:
    no time stamps, no absolute paths.
    """
    content = {
        "format": MARKER_FORMAT,
        "about": "Written by course_utils once every file below was complete. "
                 "Check the files with: python -m course_utils.data verify",
        **info,
        "files": sorted(records, key=lambda record: record["path"]),
    }
    return write_text_atomic(Path(root) / MARKER_NAME, json.dumps(content, indent=1) + "\n")


def read_marker(root: str | os.PathLike) -> dict | None:
    """The marker of ``root`` as a dict, or None if there is none.

    Raises
    ------
    ValueError
        If the marker exists but cannot be read as a marker.
    """
    path = Path(root) / MARKER_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error}") from error
    try:
        content = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error})") from error
    if not isinstance(content, dict) or content.get("format") != MARKER_FORMAT \
            or not isinstance(content.get("files"), list):
        raise ValueError(f"{path} is not a course dataset marker of format {MARKER_FORMAT}")
    return content


def quick_check(root: str | os.PathLike, info: dict, expected_paths: Iterable[str],
                expected_hashes: dict[str, dict] | None = None) -> str | None:
    """Check, without reading file content, that ``root`` holds the dataset asked for.

    Parameters
    ----------
    root : path-like
        The dataset folder.
    info : dict
        Fields the marker must have with these values (source, preset, ...).
    expected_paths : iterable of str
        Files that must be listed in the marker (and present).
    expected_hashes : dict, optional
        ``{path: {"git_sha1": ...}}``: hashes the marker must record for those
        files (so that a changed manifest makes a fresh download).

    Returns
    -------
    str or None
        None if all is well, else the first problem found, as a phrase.
    """
    root = Path(root)
    try:
        content = read_marker(root)
    except ValueError as error:
        return str(error)
    if content is None:
        return f"no {MARKER_NAME} (the dataset is incomplete or was not made by course_utils)"
    for key, value in info.items():
        if content.get(key) != value:
            label = _LABELS.get(key, key)
            return f"the dataset has {label} {content.get(key)!r}, not {value!r}" \
                if isinstance(value, str) else \
                f"the dataset has {label} {content.get(key)}, not {value}"
    records = {}
    for record in content["files"]:
        if not isinstance(record, dict) or "path" not in record or "size" not in record:
            return f"{MARKER_NAME} has a malformed file record: {record!r}"
        records[record["path"]] = record
    for path in expected_paths:
        if path not in records:
            return f"{path} is not listed in {MARKER_NAME}"
    for path, hashes in (expected_hashes or {}).items():
        for key, value in hashes.items():
            if value and records.get(path, {}).get(key) != value:
                return f"{path} was recorded with another {key} than the manifest's"
    for path, record in records.items():
        file = root / path
        try:
            size = file.stat().st_size
        except OSError:
            return f"{path} is missing"
        if size != record["size"]:
            return f"{path} has {size} bytes, not {record['size']}"
    return None


def full_check(root: str | os.PathLike, *, manifest: dict | None = None,
               progress: bool = False) -> list[str]:
    """Hash every file of the dataset in ``root`` and return the problems found.

    With a marker, every listed file must exist with the recorded size and
    SHA-256 (and git blob SHA-1 where recorded). Without one, the files of
    ``manifest`` (a manifest dict) present in ``root`` are checked against its
    hashes, and missing ones are reported.

    Returns
    -------
    list of str
        Empty when everything checks out.
    """
    root = Path(root)
    try:
        content = read_marker(root)
    except ValueError as error:
        return [str(error)]
    if content is not None:
        records = content["files"]
        problems = []
    elif manifest is not None:
        records = manifest["files"]
        problems = [f"no {MARKER_NAME}: checked the files against the manifest instead"]
    else:
        return [f"no {MARKER_NAME} and no manifest to check the files against"]
    from tqdm import tqdm

    options = {"disable": True} if not progress else {}
    for record in tqdm(records, desc="Verifying", unit="file", leave=False, **options):
        path = root / record["path"]
        if not path.is_file():
            problems.append(f"{record['path']}: missing")
            continue
        problem = hash_problem(file_digests(path), record)
        if problem:
            problems.append(f"{record['path']}: {problem}")
    if content is None and len(problems) == 1:
        problems = []  # every manifest file present and matching
    return problems


def describe(content: dict) -> str:
    """A short phrase naming the dataset a marker describes.

    Examples
    --------
    >>> describe(synthetic_info("full", 20230321, 1))
    "the synthetic course dataset (preset 'full', seed 20230321, generator 1)"
    >>> describe({"source": "magellan", "repository": "owner/repo", "commit": "a93cd3ba348d"})
    'the real Magellan calibration frames (owner/repo at a93cd3b)'
    """
    source = content.get("source")
    if source == "synthetic":
        return (f"the synthetic course dataset (preset {content.get('preset')!r}, "
                f"seed {content.get('seed')}, generator {content.get('generator_version')})")
    if source == "magellan":
        origin = content.get("repository")
        if not origin:
            return "the real calibration frames listed in the manifest"
        commit = content.get("commit")
        return f"the real Magellan calibration frames ({origin}" + \
            (f" at {commit[:7]})" if commit else ")")
    return f"a course dataset of source {source!r}"
