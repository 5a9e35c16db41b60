"""Build the course's data manifest from the reference list of the real frames.

A maintainer runs this once, when the reference list
(``data_manifest/magellan_calibration_frames.tsv``) or the dataset layout
(``course_utils.data.layout.FRAME_GROUPS``) changes::

    python tools/build_manifest.py data_manifest/magellan_calibration_frames.tsv \\
        --output data_manifest/calibration_frames.json

With ``--frames DIR`` (a folder holding downloaded copies of the real frames,
e.g. ``~/.cache/course_utils/magellan``), each copy whose git blob SHA-1
matches the list also gives its entry ``size`` and ``sha256``: downloads are
then checked by pooch against that SHA-256 (``known_hash``) and stop at that
size. The git blob SHA-1 stays: it is what the reference list records and
what ``git hash-object`` prints.

With ``--local FOLDER`` it writes a manifest of an instructor's own frames
instead (:func:`local_manifest`: every FITS file under FOLDER, described from
its header and hashed), so that a course can swap in its own data (see
``data_manifest/README.md``)::

    python tools/build_manifest.py --local ~/my_frames --base-url https://example.org/frames \\
        --output my_manifest.json

The installed package only reads and checks manifests
(:mod:`course_utils.data.manifest`); building them lives here.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from astropy.io import fits

from course_utils.data.fetch import check_base_url
from course_utils.data.store import file_digests
from course_utils.data.layout import CAMERAS, FRAME_GROUPS, FRAMES, PRESETS, SYNTHETIC_FRAMES, FrameSpec, frame_geometry
from course_utils.data.manifest import MANIFEST_FORMAT, validate_manifest

__all__ = ["parse_reference_tsv", "build_course_manifest", "local_manifest", "local_entry", "find_fits_files",
           "dumps_manifest", "main"]


def parse_reference_tsv(path: str | os.PathLike) -> tuple[dict, list[dict]]:
    """Read the reference list of the real frames (a TSV with ``#`` comments).

    Returns
    -------
    meta : dict
        ``repository``, ``commit``, ``commit_date``, ``folder`` and
        ``url_pattern`` (with ``<commit>`` and ``<path>`` placeholders), read
        from the comment lines.
    rows : list of dict
        ``{"path": ..., "git_sha1": ...}`` per file.
    """
    meta: dict = {}
    rows: list[dict] = []
    header = None
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            text = line.lstrip("# ")
            found = re.search(r"repository (\S+/\S+) at commit ([0-9a-f]{40}) \(([\d-]+)\)", text)
            if found:
                meta["repository"], meta["commit"], meta["commit_date"] = found.groups()
            found = re.search(r"(https://raw\.githubusercontent\.com/\S*<commit>\S*<path>)", text)
            if found:
                meta["url_pattern"] = found.group(1)
            continue
        if not line.strip():
            continue
        cells = line.split("\t")
        if header is None:
            header = cells
            continue
        rows.append(dict(zip(header, cells)))
    missing = {"repository", "commit", "url_pattern"} - set(meta)
    if missing or header is None or not {"git_blob_sha1", "path"} <= set(header):
        raise ValueError(f"{path} does not look like the reference list of the real frames "
                         f"(could not find: {sorted(missing) or 'the git_blob_sha1/path columns'})")
    found = re.search(r"<commit>/(.+)/<path>", meta["url_pattern"])
    meta["folder"] = found.group(1) if found else None
    return meta, [{"path": row["path"], "git_sha1": row["git_blob_sha1"]} for row in rows]


#: Which fields the course's reference material confirms for the real frames.
_CONFIRMED = {
    "bias": ["path", "frame_type", "telescope", "instrument", "detector", "shape", "dtype",
             "exptime", "url", "git_sha1"],
    "dark": ["path", "frame_type", "detector", "exptime", "url", "git_sha1"],
    "flat": ["path", "frame_type", "detector", "url", "git_sha1"],
}


#: What the files only the synthetic dataset has are (by frame type).
_SYNTHETIC_ONLY = {
    "ptc": "photon transfer sequence (notebook 6): LED flats in pairs, read out as a sub-raster; "
           "synthetic only, the real set has no such frames",
}


def _frame_hashes(frames: Path | None, path: str, git_sha1: str) -> dict:
    """``size`` and ``sha256`` of the verified copy ``frames/path`` (empty without ``frames``)."""
    if frames is None:
        return {}
    digests = file_digests(frames / path)
    if digests["git_sha1"] != git_sha1:
        raise ValueError(f"{frames / path} is not the real frame: its git blob SHA-1 is "
                         f"{digests['git_sha1']}, the reference list records {git_sha1}")
    return {"size": digests["size"], "sha256": digests["sha256"]}


def _course_entry(frame: FrameSpec, meta: dict, git_sha1: str | None, frames: Path | None = None) -> dict:
    """The entry of one file; a file only the synthetic dataset has gets no address or hash."""
    camera = CAMERAS[frame.camera]
    shape = frame_geometry(frame, "full").shape
    entry = {
        "path": frame.path,
        "frame_type": frame.frame_type,
        "telescope": camera.telescope,
        "instrument": camera.instrument,
        "detector": frame.detector,
        "shape": list(shape),
        "dtype": "uint16",
        "exptime": frame.exptime,
    }
    if git_sha1 is None:  # no real counterpart: no address, no hash
        return {**entry, "about": _SYNTHETIC_ONLY.get(frame.frame_type, "synthetic only")}
    url = meta["url_pattern"].replace("<commit>", meta["commit"]).replace("<path>", frame.path)
    return {**entry, "url": url, "git_sha1": git_sha1, **_frame_hashes(frames, frame.path, git_sha1),
            "confirmed": _CONFIRMED.get(frame.frame_type, _CONFIRMED["flat"])}


def build_course_manifest(tsv_path: str | os.PathLike, frames: str | os.PathLike | None = None) -> dict:
    """Build the course's manifest from the reference list of the real frames.

    Every file of the dataset layout's real groups
    (`course_utils.data.layout.FRAME_GROUPS` with ``real=True``) must be in
    the list (they become ``files``); the groups with ``real=False`` become
    ``synthetic_only`` (no address, no hash); files of the list that the notebooks do not read (the
    old course's derived ``master_bias.fits``) go to ``excluded``.

    With ``frames`` (a folder of downloaded copies), every real entry also
    records its ``size`` and ``sha256``, read from the copy after its git
    blob SHA-1 was checked against the list.

    Raises
    ------
    ValueError
        If a dataset file is missing from the list, a hash is malformed, or a
        copy in ``frames`` is not the listed file.
    """
    meta, rows = parse_reference_tsv(tsv_path)
    frames = None if frames is None else Path(frames).expanduser()
    by_path = {row["path"]: row["git_sha1"] for row in rows}
    real = {frame.path for group in FRAME_GROUPS if group.real for frame in group.frames()}
    missing = [frame.path for frame in FRAMES if frame.path not in by_path]
    if missing:
        raise ValueError(f"{tsv_path} lacks {len(missing)} dataset file(s), e.g. {missing[:3]}")
    known = {frame.path for frame in SYNTHETIC_FRAMES}
    base_url = meta["url_pattern"].replace("<commit>", meta["commit"]).replace("<path>", "")
    manifest = {
        "format": MANIFEST_FORMAT,
        "name": "CCD calibration course dataset",
        "about": (
            "Every file the course notebooks read, relative to the folder that "
            "course_utils.data.dataset_dir() returns. 'shape', 'dtype' and 'exptime' "
            "describe the synthetic dataset (what notebook code relies on); 'confirmed' "
            "lists the fields known to hold for the real frames as well. Rebuild with: "
            "python tools/build_manifest.py TSV --output FILE. "
            "See README.md beside this file."
        ),
        "source": {
            "name": "magellan",
            "description": (
                "Real calibration frames of the Magellan telescopes at Las Campanas Observatory: "
                "IFU-M (Clay) biases and darks, IMACS (Baade) i-band dome flats, as published "
                "with the course notebook this course grows from."
            ),
            "repository": meta["repository"],
            "repository_url": f"https://github.com/{meta['repository']}",
            "commit": meta["commit"],
            "commit_date": meta.get("commit_date"),
            "folder": meta.get("folder"),
            "base_url": base_url,
            "hash": "git_sha1: SHA-1 of b'blob <size>' + NUL + content (what `git hash-object FILE` prints)"
                    + ("; sha256 and size: of verified copies, checked by pooch on download" if frames else ""),
            "credit": (
                f"Frames published in the public repository {meta['repository']} "
                "(commit above); credit that repository and the observers at Las Campanas "
                "Observatory when you use them."
            ),
            "licence": (
                "Not stated in the course's reference list: check the repository's terms "
                "before redistributing the frames. The course only downloads them."
            ),
        },
        "synthetic": {
            "description": (
                "The default dataset: made offline by course_utils.data.synthetic with the same "
                "files, shapes, dtypes and header keywords; headers say SYNTHETC = T."
            ),
            "command": "python -m course_utils.data generate",
            "presets": {
                name: {"ifum_shape": list(preset.ifum.shape), "imacs_shape": list(preset.imacs.shape)}
                for name, preset in PRESETS.items()
            },
        },
        "files": [_course_entry(frame, meta, by_path[frame.path], frames) for frame in FRAMES],
        "synthetic_only": [_course_entry(frame, meta, None) for frame in SYNTHETIC_FRAMES
                           if frame.path not in real],
        "excluded": [
            {"path": row["path"], "git_sha1": row["git_sha1"],
             "reason": "a derived product written by the old notebook, not raw data the "
                       "notebooks read; the course writes master frames to its work folder"}
            for row in rows if row["path"] not in known
        ],
    }
    validate_manifest(manifest, str(tsv_path))
    return manifest



# --- An instructor's own frames, described from their FITS headers ---------------------------

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
    return {
        "path": relative.as_posix(),
        "frame_type": _frame_type(header, relative.parts[:-1]),
        "telescope": header.get("TELESCOP"),
        "instrument": header.get("INSTRUME"),
        "detector": _detector(header, path.stem),
        "shape": shape,
        "dtype": _dtype_from_header(header),
        "exptime": float(exptime) if exptime is not None else None,
        **file_digests(path),  # size, sha256, git_sha1
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
            "Written by `python tools/build_manifest.py --local` from FITS files on disk; every "
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
    """The manifest as JSON text: indented, with short lists kept on one line.

    Examples
    --------
    >>> print(dumps_manifest({"format": 1, "files": [{"path": "a.fits", "shape": [2, 3]}]}), end="")
    {
     "format": 1,
     "files": [
      {
       "path": "a.fits",
       "shape": [2, 3]
      }
     ]
    }
    """
    text = json.dumps(manifest, indent=1, ensure_ascii=False)

    def inline(match: re.Match) -> str:
        items = [item.strip() for item in match.group(1).split(",\n")]
        return "[" + ", ".join(items) + "]"

    # lists of numbers or short strings, with no nested objects or lists
    return re.sub(r"\[\n((?:\s*(?:-?[\d.]+|\"[^\"\n]*\"),\n)*\s*(?:-?[\d.]+|\"[^\"\n]*\"))\n\s*\]",
                  inline, text) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the course manifest built from a reference list (or the science folder's); return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tsv", nargs="?", help="the reference list of the real frames")
    parser.add_argument("--science", action="store_true",
                        help="write the manifest of the synthetic science frames "
                             "(data_manifest/science_frames.json) instead; no TSV")
    parser.add_argument("--frames", metavar="DIR",
                        help="a folder of downloaded real frames: record each one's size and SHA-256")
    parser.add_argument("--local", metavar="FOLDER",
                        help="write a manifest of the FITS files under FOLDER (an instructor's own frames; "
                             "point it at the folder that contains calibration_frames/) instead; no TSV")
    parser.add_argument("--base-url", metavar="URL", help="with --local: record where the files will be served")
    parser.add_argument("--output", metavar="FILE", help="write here instead of standard output")
    args = parser.parse_args(argv)
    if bool(args.tsv) + args.science + bool(args.local) != 1:
        parser.error("give one of: the reference list (TSV), --science, --local FOLDER")
    try:
        if args.local:
            text = dumps_manifest(local_manifest(args.local, base_url=check_base_url(args.base_url)))
        elif args.science:
            from course_utils.data.science import science_manifest

            text = dumps_manifest(science_manifest())
        else:
            text = dumps_manifest(build_course_manifest(args.tsv, args.frames))
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
