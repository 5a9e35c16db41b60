"""Synthetic science exposures of IMACS ift c2, their star catalogue and their folder.

The real Magellan calibration set has no science frames, so notebook 5 uses
synthetic ones, whichever calibration frames (synthetic or real) the other
notebooks use. :func:`science_dir` returns a folder of their own in the
cache (``synthetic-science-full`` or ``-small``), generated on first use in a
few seconds, that holds:

* ``science_frames/ift/ift0040c2.fits`` ... ``ift0045c2.fits``: six 300 s
  i-band exposures of one star field with the IMACS Long-Camera, detector
  c2 -- the camera and detector of the vignetted dome flats -- in the raw
  layout of those flats (long axis first, 64-column overscan, same header
  keywords). Exposures 40-42 are at pointing 1, 43-45 at pointing 2, dithered
  by 42 % of the field along the rows and 35 % along the columns of ``data.T``;
  the header keywords ``DITHX`` and ``DITHY`` give the shift of the star field
  in pixels (columns, rows of ``data.T``) relative to pointing 1;
* ``science_frames/ift/stars.csv``: the true stars -- ``star`` (number),
  ``x`` and ``y`` (column and row of ``data.T`` at pointing 1; the centre of
  pixel ``[r, c]`` is ``x = c, y = r``), ``flux_e`` (electrons per exposure
  reaching the detector) and ``flux_du`` (the same in DU: what a star's
  aperture sum is in a perfectly calibrated frame);
* ``calibration_frames/flat/ift/ift0014c2.fits`` ... ``ift0019c2.fits``: the
  synthetic dome flats of that detector, byte-identical to the ones of the
  synthetic course dataset, so that the science frames are calibrated with
  flats of the same (synthetic) detector even when the real calibration
  frames were chosen;
* ``course_dataset.json``: the marker (source ``synthetic-science``).

The model
---------
Sky (600 DU per pixel), stars (Gaussian images, integrated over each pixel)
and a dark current as small as IFU-M's are multiplied by the detector's
response (:attr:`FlatModel.sensitivity <course_utils.data.models.FlatModel>`:
the vignetting and pixel response the flats record) and drawn as Poisson
counts in electrons; then come the bias level and read noise of the detector
(:func:`course_utils.data.models.flat_model`), cosmic rays as in the flats
(plus the rate of a 300 s exposure), and rounding to uint16. Star 1 of the
catalogue is the brightest of a few bright stars placed near the centre of
the vignetting at pointing 1: at pointing 2 it lies near a corner.
:func:`expected_signal` is the truth a calibrated frame should match.

Examples
--------
>>> from course_utils.data.science import SCIENCE_FRAMES, dither, make_science_frame
>>> [f.name for f in SCIENCE_FRAMES][:2], dither(SCIENCE_FRAMES[3], "full")
(['ift0040c2', 'ift0041c2'], (860, 358))
>>> make_science_frame(SCIENCE_FRAMES[0], "small").shape   # raw: long axis first
(512, 272)
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import identity, store
from .store import NotWritableError, cache_dir, display_path, using_line, work_folder
from .fitsfile import fits_bytes
from .headers import frame_header
from .identity import SCIENCE_VERSION, check_seed
from .layout import CAMERAS, FRAMES, PRESETS, SCIENCE_FOLDER, SCIENCE_FRAMES, FrameSpec, Preset, as_preset, file_size, frame_paths
from .models import (
    COSMICS_PER_SECOND,
    DEFAULT_SEED,
    FLAT_COSMICS_PER_READ,
    IFUM_DARK_CURRENT,
    LEVEL_JITTER,
    FlatModel,
    flat_model,
    rng_for,
)
from .students import current_seed, folder_name
from .synthetic import add_cosmics, frame_file_bytes, to_uint16

if TYPE_CHECKING:
    from astropy.io import fits

__all__ = [
    "SCIENCE_FRAMES",
    "SCIENCE_VERSION",
    "CATALOGUE_PATH",
    "FLAT_PATHS",
    "ScienceModel",
    "science_model",
    "dither",
    "star_catalogue",
    "expected_signal",
    "make_science_frame",
    "science_header",
    "read_catalogue",
    "generate_science",
    "science_dir",
    "science_status",
    "science_manifest",
    "MANIFEST_RESOURCE",
]

#: The catalogue of true stars, relative to the folder of :func:`science_dir`.
CATALOGUE_PATH = f"{SCIENCE_FOLDER}/ift/stars.csv"
#: The ift c2 dome flats that come with the science frames (same paths as in the dataset).
FLAT_PATHS = tuple(frame_paths("flat", "ift"))

#: The manifest of the science folder, next to the calibration frames' in ``data_manifest/``.
MANIFEST_RESOURCE = "science_frames.json"

SKY_DU = 600.0  # sky per pixel and exposure, DU (i band, 300 s)
DITHER = (0.42, 0.35)  # shift of pointing 2: fraction of the columns and rows of data.T
PSF_SIGMA_FULL = 2.5  # pixels: 0.65" FWHM at 0.111"/pixel
N_FIELD_STARS = 240  # over both pointings
N_CENTRE_STARS = 8  # bright stars near the vignetting centre at pointing 1
FIELD_FLUX_E = (1e3, 5e5)  # electrons per exposure, log-uniform (full preset)
CENTRE_FLUX_E = (2e5, 1e6)
_CENTRE_BOX = 0.03  # centre stars lie within this fraction of the columns of the centre


@dataclass(frozen=True, eq=False)
class ScienceModel:
    """The truth behind the science frames of one preset and seed.

    Attributes
    ----------
    flat : FlatModel
        The ift c2 detector (gain, read noise, bias level, response).
    psf_sigma : float
        Gaussian sigma of the stars, pixels.
    sky_du : float
        Sky per pixel and exposure, DU (before the detector's response).
    stars : dict of ndarray
        The catalogue: ``star``, ``x``, ``y`` (pointing 1), ``flux_e``, ``flux_du``.
    """

    flat: FlatModel
    psf_sigma: float
    sky_du: float
    stars: dict = field(repr=False)


def dither(frame: FrameSpec, preset: str | Preset = "full") -> tuple[int, int]:
    """Shift ``(columns, rows)`` of the star field in ``frame`` relative to pointing 1.

    Examples
    --------
    >>> dither(SCIENCE_FRAMES[0], "small"), dither(SCIENCE_FRAMES[5], "small")
    ((0, 0), (215, 90))
    """
    if frame not in SCIENCE_FRAMES:
        raise ValueError(f"{frame.path} is not a science frame")
    if frame.index < 3:
        return (0, 0)
    geometry = as_preset(preset).imacs
    return (round(DITHER[0] * geometry.data_rows), round(DITHER[1] * geometry.data_cols))


def _psf_sigma(preset: Preset) -> float:
    # At 1/4 size the stars would be undersampled; keep them 1 pixel wide at least.
    return max(1.0, PSF_SIGMA_FULL / preset.scale)


def star_catalogue(preset: str | Preset = "full", seed: int = DEFAULT_SEED) -> dict[str, np.ndarray]:
    """The true stars: ``star``, ``x``, ``y`` (at pointing 1), ``flux_e``, ``flux_du``.

    Star 1 is the brightest of the bright stars near the vignetting centre.

    Examples
    --------
    >>> stars = star_catalogue("small")
    >>> int(stars["star"][0]), len(stars["x"]) > 200
    (1, True)
    """
    preset = as_preset(preset)
    seed = check_seed(seed)
    model = flat_model("ift", "c2", preset, seed)
    rows, cols = model.sensitivity.shape
    dx, dy = dither(SCIENCE_FRAMES[-1], preset)
    rng = rng_for(seed, 4, "science-stars")
    # Fluxes scale with the PSF area so that peaks (and saturation) are alike in both presets.
    area = (_psf_sigma(preset) / PSF_SIGMA_FULL) ** 2
    cx, cy = _vignetting_centre(model)
    half = _CENTRE_BOX * cols
    centre_x = rng.uniform(cx - half, cx + half, N_CENTRE_STARS)
    centre_y = rng.uniform(cy - half, cy + half, N_CENTRE_STARS)
    centre_flux = np.sort(np.exp(rng.uniform(*np.log(CENTRE_FLUX_E), N_CENTRE_STARS)))[::-1]
    field_x = rng.uniform(-dx, cols, N_FIELD_STARS)
    field_y = rng.uniform(-dy, rows, N_FIELD_STARS)
    field_flux = np.exp(rng.uniform(*np.log(FIELD_FLUX_E), N_FIELD_STARS))
    flux_e = np.round(np.concatenate([centre_flux, field_flux]) * area, 1)
    return {
        "star": np.arange(1, flux_e.size + 1),
        "x": np.round(np.concatenate([centre_x, field_x]), 3),
        "y": np.round(np.concatenate([centre_y, field_y]), 3),
        "flux_e": flux_e,
        "flux_du": np.round(flux_e / model.gain, 1),
    }


def _vignetting_centre(model: FlatModel) -> tuple[float, float]:
    """(column, row) where the vignetting is brightest."""
    row, col = np.unravel_index(np.argmax(model.vignetting), model.vignetting.shape)
    return float(col), float(row)


def science_model(preset: str | Preset = "full", seed: int = DEFAULT_SEED) -> ScienceModel:
    """The truth behind the science frames (see :class:`ScienceModel`)."""
    preset = as_preset(preset)
    seed = check_seed(seed)
    return ScienceModel(flat=flat_model("ift", "c2", preset, seed), psf_sigma=_psf_sigma(preset),
                        sky_du=SKY_DU, stars=star_catalogue(preset, seed))


def _pixel_fractions(centre: float, sigma: float, first: int, stop: int) -> np.ndarray:
    """Fraction of a 1-D Gaussian's light in each pixel ``first..stop-1``."""
    edges = (np.arange(first, stop + 1) - 0.5 - centre) / (sigma * math.sqrt(2.0))
    cumulative = 0.5 * np.array([math.erf(e) for e in edges])
    return np.diff(cumulative)


def _star_image(model: ScienceModel, shift: tuple[int, int]) -> np.ndarray:
    """The stars of one pointing, in DU, integrated over each pixel (data.T orientation)."""
    rows, cols = model.flat.sensitivity.shape
    image = np.zeros((rows, cols), dtype=np.float64)
    half = int(math.ceil(6 * model.psf_sigma))
    stars = model.stars
    for x, y, flux in zip(stars["x"] + shift[0], stars["y"] + shift[1], stars["flux_e"]):
        c0, c1 = max(0, int(x) - half), min(cols, int(x) + half + 2)
        r0, r1 = max(0, int(y) - half), min(rows, int(y) + half + 2)
        if c0 >= c1 or r0 >= r1:
            continue  # off this pointing's field
        stamp = np.outer(_pixel_fractions(y, model.psf_sigma, r0, r1),
                         _pixel_fractions(x, model.psf_sigma, c0, c1))
        image[r0:r1, c0:c1] += flux / model.flat.gain * stamp
    return image


def expected_signal(frame: FrameSpec, preset: str | Preset = "full", seed: int = DEFAULT_SEED,
                    *, model: ScienceModel | None = None) -> np.ndarray:
    """What the calibrated ``frame`` should show, in DU, before noise and cosmic rays.

    Sky plus stars plus the (negligible) dark current, as a detector with a
    uniform response of 1 would record them, in the ``data.T`` orientation,
    trimmed: shape ``(1024, 2048)`` at full size.

    Examples
    --------
    >>> truth = expected_signal(SCIENCE_FRAMES[0], "small")
    >>> truth.shape, bool(abs(np.median(truth) - 600) < 1)
    ((256, 512), True)
    """
    if model is None:
        model = science_model(preset, seed)
    image = _star_image(model, dither(frame, model.flat.preset))
    image += model.sky_du + IFUM_DARK_CURRENT * frame.exptime / model.flat.gain
    return image.astype(np.float32)


def make_science_frame(frame: FrameSpec, preset: str | Preset = "full", seed: int = DEFAULT_SEED,
                       *, model: ScienceModel | None = None) -> np.ndarray:
    """The raw uint16 data of one science exposure (long axis first, as stored).

    Examples
    --------
    >>> raw = make_science_frame(SCIENCE_FRAMES[0], "small")
    >>> raw.dtype.name, bool(1100 < np.median(raw[:, 256:]) < 1200)   # overscan: bias level
    ('uint16', True)
    """
    if model is None:
        model = science_model(preset, seed)
    flat = model.flat
    geometry = flat.geometry
    rng = rng_for(flat.seed, 1, frame.name)
    shape_t = (geometry.data_cols + geometry.overscan_cols, geometry.data_rows)  # data.T
    level = flat.bias_level + LEVEL_JITTER * rng.standard_normal()
    frame_t = rng.standard_normal(shape_t, dtype=np.float32)
    frame_t *= np.float32(flat.read_noise_du)
    frame_t += np.float32(level)
    electrons = expected_signal(frame, model=model) * flat.sensitivity * np.float32(flat.gain)
    lit = frame_t[:geometry.data_cols]
    lit += rng.poisson(electrons).astype(np.float32) * np.float32(1.0 / flat.gain)
    del electrons
    mean_events = (FLAT_COSMICS_PER_READ + COSMICS_PER_SECOND * frame.exptime) * flat.preset.area_fraction
    add_cosmics(lit, rng, mean_events)
    return to_uint16(frame_t).T


def science_header(frame: FrameSpec, preset: str | Preset = "full",
                   seed: int = DEFAULT_SEED) -> "fits.Header":
    """The FITS header of a science exposure: the flats' keywords, an object, the dither.

    Examples
    --------
    >>> h = science_header(SCIENCE_FRAMES[4], "small")
    >>> h["EXPTYPE"], h["EXPTIME"], h["DITHX"], h["DITHY"], h["FILTER"]
    ('Object', 300.0, 215, 90, 'Sloan_i')
    """
    preset = as_preset(preset)
    seed = check_seed(seed)
    model = flat_model("ift", "c2", preset, seed)
    header = frame_header(frame, preset, seed, SCIENCE_VERSION, egain=model.gain,
                          enoise=model.read_noise_e)
    dx, dy = dither(frame, preset)
    header["OBJECT"] = ("synthetic star field", "object name")
    header["EXPTYPE"] = ("Object", "exposure type")
    header["TEL-ELEV"] = (62.0, "telescope elevation")
    header["AIRMASS"] = (1.13, "airmass (start)")
    header["LAMPS"] = ("Off", "dome screen lamps")
    header.set("DITHX", dx, "star shift vs pointing 1, data.T columns", after="LAMPS")
    header.set("DITHY", dy, "star shift vs pointing 1, data.T rows", after="DITHX")
    header.set("POINTING", 1 if frame.index < 3 else 2, "dither position", after="DITHY")
    return header


def _catalogue_bytes(stars: dict) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["star", "x", "y", "flux_e", "flux_du"])
    for row in zip(*(stars[k] for k in ("star", "x", "y", "flux_e", "flux_du"))):
        writer.writerow([int(row[0]), *(f"{v:.3f}" for v in row[1:3]), *(f"{v:.1f}" for v in row[3:])])
    return text.getvalue().encode("ascii")


def read_catalogue(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read ``stars.csv`` into arrays (``star`` as int, the rest as float).

    Raises
    ------
    ValueError
        If the file lacks a column (the message names the file).
    """
    with open(path, newline="", encoding="ascii") as file:
        rows = list(csv.DictReader(file))
    columns = ("star", "x", "y", "flux_e", "flux_du")
    if not rows or any(c not in rows[0] for c in columns):
        raise ValueError(f"{path} is not a star catalogue with columns {columns}")
    out = {c: np.array([float(r[c]) for r in rows]) for c in columns}
    out["star"] = out["star"].astype(int)
    return out


def _plan(preset: Preset, seed: int) -> store.Plan:
    """The science folder of ``preset`` and ``seed``, for :func:`course_utils.data.store.fill`."""
    by_path = {frame.path: frame for frame in (*SCIENCE_FRAMES, *FRAMES)}

    def make(paths: list[str]):
        model = science_model(preset, seed)
        for path in paths:
            frame = by_path.get(path)
            if path == CATALOGUE_PATH:
                yield path, _catalogue_bytes(model.stars)
            elif frame.frame_type == "science":
                data = make_science_frame(frame, model=model)
                yield path, fits_bytes(data, science_header(frame, preset, seed))
            else:  # a dome flat, byte-identical to the synthetic dataset's
                yield path, frame_file_bytes(frame, preset, seed, model.flat)

    sizes = {frame.path: file_size(frame, preset) for frame in SCIENCE_FRAMES}
    sizes[CATALOGUE_PATH] = 1 << 16
    sizes.update((path, file_size(by_path[path], preset)) for path in FLAT_PATHS)
    return store.Plan(info=identity.science(preset, seed), sizes=sizes, make=make,
                     what="the synthetic science frames")


def generate_science(out_dir: str | os.PathLike, preset: str = "full", seed: int = DEFAULT_SEED, *,
                     overwrite: bool = False, progress: bool = False) -> Path:
    """Write the science folder (frames, catalogue, matching flats, marker) into ``out_dir``, or repair it.

    It follows the rules of every generated dataset
    (:func:`course_utils.data.store.fill`): under the folder's lock, after a
    free-space check, files written read-only one by one between an
    incomplete and a complete marker. A complete folder of the same preset,
    seed and version is kept and a damaged one repaired; a science folder of
    another seed or version is replaced only with ``overwrite``; a folder
    that course_utils did not make is never written into or deleted.

    Raises
    ------
    FileExistsError
        If ``out_dir`` holds something that may not be replaced.
    course_utils.data.store.DiskFullError
        If the disk lacks room.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     root = generate_science(Path(tmp) / "science", "small")
    ...     print(len(list(root.rglob("*.fits"))), (root / CATALOGUE_PATH).is_file())
    12 True
    """
    out_dir = Path(out_dir).expanduser().absolute()
    store.fill(out_dir, _plan(as_preset(preset), check_seed(seed)), overwrite=overwrite, progress=progress)
    return out_dir


def science_status(root: str | os.PathLike, preset: str | Preset = "full",
                   seed: int = DEFAULT_SEED) -> store.Status:
    """What :func:`course_utils.data.store.check` finds in the science folder ``root``.

    Examples
    --------
    >>> science_status("/nonexistent", "small").ok
    False
    """
    plan = _plan(as_preset(preset), check_seed(seed))
    return store.check(root, plan.info, plan.sizes)


def science_dir(preset: str = "full", seed: int | None = None, *, verbose: bool = True) -> Path:
    """The folder of the synthetic science frames, generated on first use (a few seconds).

    ``seed`` None: the current student's (``COURSE_STUDENT`` or
    :func:`course_utils.use_student`), else the course's default seed; a
    student's folder is ``synthetic-science-PRESET-<tag>``.

    It is ``synthetic-science-PRESET`` in the course cache (see
    :func:`course_utils.data.locate.cache_dir`), whatever calibration frames
    ``dataset_dir()`` chose: the real Magellan set has no science frames.
    A damaged file is made again; a science folder of an older version (its
    marker proves course_utils made it) is replaced; anything else found
    there is left alone, with an error that says what to do.

    When the cache cannot be written (a read-only shared cache) and lacks a
    complete science folder, the folder is made in the work folder instead
    (``COURSE_WORK_DIR``, default ``./course_work``), with a line saying so.

    Examples
    --------
    >>> root = science_dir()   # doctest: +SKIP
    Using the synthetic science frames (preset 'full', seed 20230321, version 1): synthetic-science-full in the course's cache folder
    """
    preset_obj = as_preset(preset)
    seed = current_seed() if seed is None else check_seed(seed)
    name = folder_name("synthetic-science", preset_obj.name, seed)
    root = cache_dir() / name
    plan = _plan(preset_obj, seed)
    try:
        store.ensure(root, plan, progress=False)
    except NotWritableError as error:
        fallback = work_folder() / name
        print(f"The course's cache folder cannot be written and has no science frames ({error}); "
              f"they are made in the work folder {display_path(fallback)} instead.")
        root = fallback
        store.ensure(root, plan, progress=False)
    if verbose:
        print(using_line(f"the synthetic science frames (preset {preset_obj.name!r}, seed {seed}, "
                         f"version {SCIENCE_VERSION})", root))
    return root


def science_manifest() -> dict:
    """The manifest of the science folder (``data_manifest/science_frames.json``).

    Entries have the fields of the calibration frames' manifest (path,
    frame_type, telescope, instrument, detector, shape, dtype, exptime; shapes
    of the ``full`` preset) plus each exposure's pointing and dither. There are
    no download addresses or hashes: these files exist only as synthetic data.

    Examples
    --------
    >>> manifest = science_manifest()
    >>> [e["path"] for e in manifest["files"]][:1], manifest["files"][3]["dither"]
    (['science_frames/ift/ift0040c2.fits'], [860, 358])
    """
    camera = CAMERAS["ift"]
    shape = list(PRESETS["full"].imacs.shape)
    common = {"telescope": camera.telescope, "instrument": camera.instrument, "detector": "c2"}
    files = [
        {"path": f.path, "frame_type": f.frame_type, **common, "shape": shape, "dtype": "uint16",
         "exptime": f.exptime, "pointing": 1 if f.index < 3 else 2, "dither": list(dither(f))}
        for f in SCIENCE_FRAMES
    ]
    files.append({"path": CATALOGUE_PATH, "frame_type": "catalogue", **common, "shape": None,
                  "dtype": None, "exptime": None,
                  "columns": ["star", "x", "y", "flux_e", "flux_du"]})
    files += [{"path": p, "frame_type": "flat", **common, "shape": shape, "dtype": "uint16",
               "exptime": f.exptime} for f in FRAMES for p in [f.path] if p in FLAT_PATHS]
    return {
        "format": 1,
        "about": ("Synthetic science frames of notebook 5, made by course_utils.data.science "
                  "(python: course_utils.data.science.science_dir()). The real Magellan set has "
                  "no science frames; this folder is made for either choice of calibration "
                  "frames. Shapes are those of the 'full' preset ('small': every dimension / 4). "
                  "dither: shift of the star field (columns, rows of data.T) relative to "
                  "pointing 1, as in the DITHX and DITHY header keywords. The flats are the "
                  "synthetic ones of the same detector, identical to the synthetic dataset's."),
        "files": files,
    }
