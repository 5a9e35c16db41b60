"""An instructor's own frames, described as a manifest from their FITS headers.

:func:`local_manifest` (``python -m course_utils.data manifest FOLDER``) reads
every FITS file under a folder -- frame type, detector, shape, dtype and
exposure time from its header -- and hashes it, so that a course can swap in
its own data (see ``data_manifest/README.md``). Reading and checking
manifests is :mod:`course_utils.data.manifest`'s job.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from astropy.io import fits

from .manifest import MANIFEST_FORMAT, validate_manifest
from .store import file_digests

__all__ = ["local_manifest", "local_entry", "find_fits_files"]

_FITS_SUFFIXES = (".fits", ".fit", ".fts")

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
