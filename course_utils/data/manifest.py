"""The data manifest: every file the notebooks read, what it is, where the real one is.

The manifest (``data_manifest/calibration_frames.json`` in the repository,
installed as package data ``course_utils.data_manifest``) lists one entry per
file, with its relative path, frame type, telescope, instrument, detector,
shape, dtype and exposure time, and for the real frames the commit-pinned
download address (``url``) and the git blob SHA-1 (``git_sha1``) that a
download is checked against. ``confirmed`` names the fields known to hold for
the real frames too; the others describe the synthetic stand-in.

This module reads and checks manifests, and writes manifest entries for an
instructor's own local frames (:func:`local_manifest`), so that a course can
swap in its own data. The course's own manifest is built from the reference
list of the real frames by a maintainer's tool, ``tools/build_manifest.py``.

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
import re
from importlib import resources
from pathlib import Path, PurePosixPath

from astropy.io import fits

from .store import file_digests

__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_RESOURCE",
    "load_manifest",
    "validate_manifest",
    "real_entries",
    "entry_url",
    "local_manifest",
    "dumps_manifest",
]

MANIFEST_FORMAT = 1
MANIFEST_RESOURCE = "calibration_frames.json"
#: Environment variable naming another manifest file to use instead of the packaged one.
MANIFEST_ENV = "COURSE_DATA_MANIFEST"

_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_FITS_SUFFIXES = (".fits", ".fit", ".fts")

#: Fields every entry has (values may be null where unknown).
ENTRY_FIELDS = ("path", "frame_type", "telescope", "instrument", "detector",
                "shape", "dtype", "exptime")


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
            raise FileNotFoundError(
                f"{MANIFEST_ENV} is set to {path}, which is not a file. Unset it to use the course's "
                "manifest, or point it at a manifest file (make one with `python -m course_utils.data "
                "manifest FOLDER --output FILE`). The synthetic dataset needs no manifest.")
    if path is None:
        where = f"course_utils.data_manifest/{MANIFEST_RESOURCE}"
        text = resources.files("course_utils.data_manifest").joinpath(MANIFEST_RESOURCE).read_text("utf-8")
    else:
        where = str(path)
        text = Path(path).expanduser().read_text(encoding="utf-8")
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"the manifest {where} is not valid JSON: {error}") from error
    validate_manifest(manifest, where)
    return manifest


def _check_relative(path, where: str) -> None:
    if not isinstance(path, str) or not path:
        raise ValueError(f"{where}: 'path' must be a non-empty string, got {path!r}")
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or "\\" in path or path != pure.as_posix():
        raise ValueError(
            f"{where}: 'path' must be relative, with '/' separators and no '..', got {path!r}"
        )


def validate_manifest(manifest: dict, where: str = "the manifest") -> None:
    """Raise ValueError if ``manifest`` is not a well-formed manifest.

    Checks the format number, that every entry has a safe relative path
    (no absolute path, no ``..``), unique paths, well-formed hashes (40 hex
    digits for ``git_sha1``, 64 for ``sha256``) and http(s) addresses.

    Examples
    --------
    >>> validate_manifest({"format": 1, "files": [{"path": "../x.fits"}]})
    Traceback (most recent call last):
    ...
    ValueError: the manifest, file 1: 'path' must be relative, with '/' separators and no '..', got '../x.fits'
    """
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"{where} is not a manifest of format {MANIFEST_FORMAT}")
    files = manifest.get("files")
    if not isinstance(files, list):
        raise ValueError(f"{where} has no list of 'files'")
    seen = set()
    for number, entry in enumerate(files, start=1):
        label = f"{where}, file {number}"
        if not isinstance(entry, dict):
            raise ValueError(f"{label}: an entry must be an object, got {entry!r}")
        _check_relative(entry.get("path"), label)
        label = f"{where}, {entry['path']}"
        if entry["path"] in seen:
            raise ValueError(f"{label}: listed twice")
        seen.add(entry["path"])
        git_sha1, sha256 = entry.get("git_sha1"), entry.get("sha256")
        if git_sha1 is not None and not (isinstance(git_sha1, str) and _HEX40.match(git_sha1)):
            raise ValueError(f"{label}: git_sha1 must be 40 lower-case hex digits, got {git_sha1!r}")
        if sha256 is not None and not (isinstance(sha256, str) and _HEX64.match(sha256)):
            raise ValueError(f"{label}: sha256 must be 64 lower-case hex digits, got {sha256!r}")
        url = entry.get("url")
        if url is not None and not (isinstance(url, str) and re.match(r"^https?://", url)):
            raise ValueError(f"{label}: url must be an http(s) address, got {url!r}")
        size = entry.get("size")
        if size is not None and not (isinstance(size, int) and size >= 0):
            raise ValueError(f"{label}: size must be a non-negative integer, got {size!r}")


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
    if base_url:
        return base_url.rstrip("/") + "/" + entry["path"]
    if entry.get("url"):
        return entry["url"]
    source_base = (manifest.get("source") or {}).get("base_url")
    if source_base:
        return source_base.rstrip("/") + "/" + entry["path"]
    raise ValueError(
        f"no download address for {entry['path']}: give the entry a 'url', set the manifest's "
        "source 'base_url', or pass a base URL (command line: --base-url)."
    )


# --- An instructor's own frames -----------------------------------------------------


_DTYPES = {8: "uint8", 16: "int16", 32: "int32", 64: "int64", -32: "float32", -64: "float64"}
_UNSIGNED = {16: ("uint16", 2**15), 32: ("uint32", 2**31), 64: ("uint64", 2**63)}


def _dtype_from_header(header) -> str:
    """The numpy dtype astropy reads the data as (from BITPIX, BSCALE, BZERO)."""
    bitpix = header.get("BITPIX")
    bscale, bzero = header.get("BSCALE", 1), header.get("BZERO", 0)
    if bitpix in _UNSIGNED and bscale == 1 and bzero == _UNSIGNED[bitpix][1]:
        return _UNSIGNED[bitpix][0]
    if bitpix == 8 and bscale == 1 and bzero == -128:
        return "int8"
    if bitpix > 0 and (bscale != 1 or bzero != 0):
        return "float64" if bitpix > 16 else "float32"
    return _DTYPES.get(bitpix, str(bitpix))


def _frame_type(header, parts: tuple[str, ...]) -> str:
    for key in ("EXPTYPE", "IMAGETYP", "OBSTYPE"):
        value = str(header.get(key, "")).strip().lower()
        for word, kind in (("bias", "bias"), ("zero", "bias"), ("dark", "dark"), ("flat", "flat")):
            if word in value:
                return kind
    for part in reversed(parts):
        part = part.lower()
        for kind in ("bias", "dark", "flat"):
            if part.startswith(kind):
                return kind
    value = str(header.get("EXPTYPE", header.get("IMAGETYP", ""))).strip().lower()
    return value or "unknown"


def _detector(header, stem: str) -> str | None:
    if header.get("CHIP") is not None:
        return f"c{header['CHIP']}"
    for key in ("DETECTOR", "CCDNAME", "CHIPNAME"):
        if header.get(key):
            return str(header[key]).strip()
    found = re.search(r"c(\d+)$", stem)
    return f"c{found.group(1)}" if found else None


def _first_image_header(path: Path):
    try:
        with fits.open(path, memmap=True) as hdul:
            for hdu in hdul:
                if hdu.header.get("NAXIS", 0) >= 1:
                    return hdu.header.copy()
            return hdul[0].header.copy()
    except (OSError, ValueError, IndexError) as error:
        raise ValueError(f"{path} cannot be read as a FITS file ({error}); fix or remove it, "
                         "then run the command again") from error


def local_entry(path: Path, root: Path) -> dict:
    """The manifest entry of one local FITS file (header read, file hashed)."""
    header = _first_image_header(path)
    relative = path.relative_to(root)
    naxis = header.get("NAXIS", 0)
    shape = [header.get(f"NAXIS{axis}") for axis in range(naxis, 0, -1)]
    exptime = header.get("EXPTIME", header.get("EXPOSURE"))
    digests = file_digests(path)
    return {
        "path": relative.as_posix(),
        "frame_type": _frame_type(header, relative.parts[:-1]),
        "telescope": header.get("TELESCOP"),
        "instrument": header.get("INSTRUME"),
        "detector": _detector(header, path.stem),
        "shape": shape,
        "dtype": _dtype_from_header(header),
        "exptime": float(exptime) if exptime is not None else None,
        "size": digests.size,
        "sha256": digests.sha256,
        "git_sha1": digests.git_sha1,
    }


def find_fits_files(folder: str | os.PathLike) -> list[Path]:
    """FITS files (``.fits``, ``.fit``, ``.fts``) under ``folder``, sorted, hidden ones skipped."""
    folder = Path(folder)
    found = []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and path.suffix.lower() in _FITS_SUFFIXES:
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def local_manifest(folder: str | os.PathLike, *, base_url: str | None = None) -> dict:
    """A manifest of the FITS files under ``folder`` (an instructor's own frames).

    Paths are relative to ``folder``: point it at the folder that contains
    ``calibration_frames/`` so that the paths match what the notebooks read.

    Parameters
    ----------
    folder : path-like
    base_url : str, optional
        Where the files will be served from (recorded as the source's
        ``base_url``; each file's address is then ``base_url/path``).

    Raises
    ------
    FileNotFoundError
        If ``folder`` does not exist or holds no FITS file.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> from astropy.io import fits
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     (Path(tmp) / "calibration_frames" / "bias").mkdir(parents=True)
    ...     hdu = fits.PrimaryHDU(np.zeros((4, 6), dtype=np.uint16))
    ...     hdu.header["EXPTIME"] = 0.0
    ...     hdu.writeto(Path(tmp) / "calibration_frames" / "bias" / "z001c1.fits")
    ...     entry = local_manifest(tmp)["files"][0]
    >>> entry["path"], entry["frame_type"], entry["detector"], entry["shape"], entry["dtype"]
    ('calibration_frames/bias/z001c1.fits', 'bias', 'c1', [4, 6], 'uint16')
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    paths = find_fits_files(folder)
    if not paths:
        raise FileNotFoundError(f"no FITS files (.fits, .fit, .fts) under {folder}")
    manifest = {
        "format": MANIFEST_FORMAT,
        "name": "Local calibration frames",
        "about": (
            "Written by `python -m course_utils.data manifest` from FITS files on disk; every "
            "field was read from the files. Set source.base_url to where the files are served, "
            "or give each entry a 'url'."
        ),
        "source": {"name": "local", "description": "An instructor's own frames",
                   "base_url": base_url},
        "files": [local_entry(path, folder) for path in paths],
    }
    validate_manifest(manifest, str(folder))
    return manifest


def dumps_manifest(manifest: dict) -> str:
    """The manifest as JSON text (indented by one space, ending with a newline).

    Examples
    --------
    >>> print(dumps_manifest({"format": 1, "files": []}), end="")
    {
     "format": 1,
     "files": []
    }
    """
    return json.dumps(manifest, indent=1, ensure_ascii=False) + "\n"
