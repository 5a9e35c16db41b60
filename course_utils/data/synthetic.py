"""A realistic synthetic stand-in for the course's Magellan calibration frames.

:func:`generate` writes the whole dataset (40 IFU-M biases, 5 IFU-M darks,
18 IMACS dome flats, and the 26 synthetic-only frames of the photon transfer
sequence of :mod:`course_utils.data.ptc`) with the real frames' folder layout, file names, array
shapes, dtype (uint16 stored as BITPIX=16, BZERO=32768) and header keywords,
so that notebook code written for one runs unchanged on the other.

The model
---------
The fixed features and constants live in :mod:`course_utils.data.models`
(re-exported here); this module draws the frames from them and writes them.

*IFU-M, detector c1 (biases and darks)*, see :class:`IfumModel`:

* bias level ``817.4`` DU plus a stable fixed pattern of small amplitude
  (per pixel, per column, a faint gradient) and a row pattern in which a few
  per cent of the rows are 1-3 DU lower; the median of 40 biases mostly lies
  within 816.6-818.4 DU;
* read noise ``ENOISE / EGAIN = 2.7 / 0.68 = 3.97`` DU (Gaussian, then
  rounded to integers) everywhere, overscan and bias lines included; the
  overscan and the bias lines hold nothing else than the frame's bias level
  and read noise;
* hot pixels (tens, hundreds to thousands of DU) and two bad columns at fixed
  places in every frame;
* cosmic rays (short tracks and blobs, up to thousands of DU) at new random
  places in every frame: about 150 per frame at read-out, plus a rate
  proportional to the exposure time (about 3000 more in a 3600 s dark);
* in darks, dark current (4 DU per hour) and sensor glow brightest in the
  lower-left corner (row 0, column 0 -- lower left as ``show_image`` draws
  it; a student's seed draws any of the four corners, ``model.glow_corner``),
  about 150 DU there after an hour, both Poisson in electrons and linear
  in the exposure time (:func:`make_dark` makes a dark of any length).

*IMACS, detectors c2 and c3 (dome flats)*, see :class:`FlatModel`; positions
refer to ``data.T``, the orientation the notebooks use:

* bias level about 1140-1190 DU, different from IFU-M's 817: the flats must
  be corrected with their own overscan (``data.T[1024:]``);
* lamp level about 9000-10000 DU, drifting by a few per cent between
  exposures (the two detectors of one exposure share the drift), with
  photon noise drawn as Poisson in electrons and read noise;
* ``ift`` c2: strong smooth vignetting (0.7-1.1 after normalizing by the
  median) and a 1 % pixel-to-pixel sensitivity variation;
* ``iff`` c3: dust donuts (annuli tens of pixels across, 5-20 % deep), dead
  pixels and a partial bad column (below 0.6), milder vignetting; ``iff`` c2
  milder still, with some dust.

Fixed features repeat exactly in every frame of a detector. Random numbers
come from :class:`numpy.random.SeedSequence` streams keyed by the file name
(one per file) and by the detector (its fixed features), so a file's content
depends only on the seed, the preset and its name -- not on the order in
which files are made. The same seed gives byte-identical files.

Examples
--------
>>> from course_utils.data.synthetic import ifum_model, make_dark, PRESETS
>>> sorted(PRESETS)
['full', 'small']
>>> model = ifum_model("small")
>>> round(model.read_noise_du, 2), model.glow_corner
(3.97, (0, 0))
>>> dark = make_dark(3600.0, "small")
>>> dark.shape, dark.dtype.name
((289, 544), 'uint16')
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import identity, models, ptc, store
from .fitsfile import fits_bytes
from .headers import frame_header
from .identity import check_seed
from .layout import CAMERAS, DETECTORS, SYNTHETIC_FRAMES, FrameSpec, Preset, as_preset, file_size
from .models import (  # noqa: F401 - the model is part of this module's interface
    COSMICS_PER_READ,
    COSMICS_PER_SECOND,
    DEFAULT_SEED,
    FLAT_COSMICS_PER_READ,
    GENERATOR_VERSION,
    PRESETS,
    BadColumn,
    Donut,
    FlatModel,
    IfumModel,
    LEVEL_JITTER,
    detector_model,
    flat_model,
    ifum_model,
    lamp_factor,
    rng_for,
)
from .variation import GLOW_CORNERS, RANGES

# The model (models.py) is part of this module's interface.
__all__ = [*models.__all__, "make_dark", "make_frame", "frame_file_bytes", "add_cosmics", "to_uint16",
           "generate", "dataset_plan"]


# --- Frames --------------------------------------------------------------------


def add_cosmics(image: np.ndarray, rng: np.random.Generator, mean_events: float) -> int:
    """Add cosmic-ray hits to ``image`` (in place); return the number of events.

    Every synthetic frame with cosmic rays (calibration, photon-transfer and
    science frames) draws them here.

    An event is a blob (1-4 points, 0.6 px apart) or a short track (4-14 points,
    1 px apart, random direction); each point deposits a few hundred to a few
    thousand DU and spills 3-12 % into its four neighbours.
    """
    n = int(rng.poisson(mean_events))
    if n == 0:
        return 0
    rows, cols = image.shape
    track = rng.random(n) < 0.4
    points = np.where(track, rng.integers(4, 15, n), rng.integers(1, 5, n))
    step = np.where(track, 1.0, 0.6)
    theta = rng.uniform(0.0, 2.0 * np.pi, n)
    r0 = rng.uniform(0.0, rows, n)
    c0 = rng.uniform(0.0, cols, n)
    amplitude = np.minimum(np.exp(rng.normal(np.log(500.0), 0.8, n)), 15000.0)

    event = np.repeat(np.arange(n), points)
    k = np.arange(event.size) - np.repeat(np.cumsum(points) - points, points)
    r = np.floor(r0[event] + k * step[event] * np.sin(theta[event])).astype(np.int64)
    c = np.floor(c0[event] + k * step[event] * np.cos(theta[event])).astype(np.int64)
    value = amplitude[event] * rng.uniform(0.5, 1.0, event.size)
    spill = value * rng.uniform(0.03, 0.12, event.size)

    all_r = np.concatenate([r, r + 1, r - 1, r, r])
    all_c = np.concatenate([c, c, c, c + 1, c - 1])
    all_v = np.concatenate([value, spill, spill, spill, spill]).astype(np.float32)
    inside = (all_r >= 0) & (all_r < rows) & (all_c >= 0) & (all_c < cols)
    np.add.at(image, (all_r[inside], all_c[inside]), all_v[inside])
    return n


def to_uint16(image: np.ndarray) -> np.ndarray:
    """Digitize ``image`` (float, changed in place): round, clip to 0-65535, return it as uint16.

    Examples
    --------
    >>> to_uint16(np.array([-3.0, 1.4, 70000.0])).tolist()
    [0, 1, 65535]
    """
    np.rint(image, out=image)
    np.clip(image, 0, 65535, out=image)
    return image.astype(np.uint16)


def _ifum_frame(model: IfumModel, rng: np.random.Generator, exptime: float) -> np.ndarray:
    geometry = model.geometry
    level = model.bias_level + LEVEL_JITTER * rng.standard_normal()
    frame = rng.standard_normal(geometry.shape, dtype=np.float32)
    frame *= np.float32(model.read_noise_du)
    frame += np.float32(level)
    data = frame[:geometry.data_rows, :geometry.data_cols]
    data += model.pattern
    if exptime > 0:
        electrons = rng.poisson(model.dark_electrons(exptime))
        data += electrons.astype(np.float32) * np.float32(1.0 / model.gain)
        del electrons
    add_cosmics(data, rng, model.cosmic_events(exptime))
    return to_uint16(frame)


def _flat_frame(model: FlatModel, rng: np.random.Generator, lamp: float, exptime: float) -> np.ndarray:
    geometry = model.geometry
    shape_t = (geometry.data_cols + geometry.overscan_cols, geometry.data_rows)  # data.T
    level = model.bias_level + LEVEL_JITTER * rng.standard_normal()
    frame_t = rng.standard_normal(shape_t, dtype=np.float32)
    frame_t *= np.float32(model.read_noise_du)
    frame_t += np.float32(level)
    lit = frame_t[:geometry.data_cols]
    electrons = rng.poisson(model.sensitivity * np.float32(model.lamp_level * lamp * model.gain))
    lit += electrons.astype(np.float32) * np.float32(1.0 / model.gain)
    del electrons
    mean_events = (FLAT_COSMICS_PER_READ + COSMICS_PER_SECOND * exptime) * model.preset.area_fraction
    add_cosmics(lit, rng, mean_events)
    return to_uint16(frame_t).T


def make_dark(exptime: float, preset: str | Preset = "full", seed: int = DEFAULT_SEED,
              *, index: int = 0, model: IfumModel | None = None) -> np.ndarray:
    """Make one IFU-M c1 dark frame (raw uint16 array) of any exposure time.

    Dark current, glow and the cosmic-ray rate scale with ``exptime``;
    ``exptime=0`` gives a bias frame. Different ``index`` values give
    independent noise; the same arguments give the same array.

    Parameters
    ----------
    exptime : float
        Exposure time in seconds (>= 0).
    preset : {'full', 'small'}
    seed : int
    index : int
        Which realization (noise, cosmic rays) to draw.
    model : IfumModel, optional
        A model built with :func:`ifum_model` for the same preset and seed,
        to avoid rebuilding it.

    Returns
    -------
    numpy.ndarray
        uint16, shape ``PRESETS[preset].ifum.shape``.

    Examples
    --------
    >>> short, long = make_dark(600, "small"), make_dark(6000, "small")
    >>> bool(long[:20, :20].mean() > short[:20, :20].mean())   # the glow grows
    True
    """
    if not exptime >= 0:
        raise ValueError(f"exptime must be >= 0 seconds, got {exptime!r}")
    if model is None:
        model = ifum_model(preset, seed)
    rng = rng_for(model.seed, 3, "ifum-c1-dark", int(round(exptime * 1000)), int(index))
    return _ifum_frame(model, rng, float(exptime))


def _ptc_frame(model: ptc.PtcModel, rng: np.random.Generator, exptime: float) -> np.ndarray:
    frame = ptc.ptc_image(model, rng, exptime)
    add_cosmics(frame[:, :model.geometry.data_cols], rng, model.cosmic_events(exptime))
    return to_uint16(frame)


def _model_for(frame: FrameSpec, preset: Preset, seed: int, cache: dict):
    """The model that draws ``frame``, built once per detector (or sequence) in ``cache``."""
    key = (frame.camera, frame.detector)
    if key not in cache:
        cache[key] = detector_model(*key, preset, seed)
    if frame.frame_type != "ptc":
        return cache[key]
    if "ptc" not in cache:
        cache["ptc"] = ptc.ptc_model(preset, seed, ifum=cache[key])
    return cache["ptc"]


def make_frame(frame: FrameSpec, preset: str | Preset = "full", seed: int = DEFAULT_SEED,
               *, model: IfumModel | FlatModel | None = None) -> np.ndarray:
    """Make the raw uint16 data of one file of the dataset.

    The result depends only on ``frame``, ``preset`` and ``seed`` (not on what
    else was made before).

    Examples
    --------
    >>> from course_utils.data.layout import FRAMES
    >>> flat = [f for f in FRAMES if f.camera == "iff"][0]
    >>> make_frame(flat, "small").shape    # raw: long axis first; notebooks use .T
    (512, 272)
    """
    preset = as_preset(preset)
    seed = check_seed(seed)
    if frame.frame_type == "ptc":  # the synthetic-only photon transfer sequence
        if not isinstance(model, ptc.PtcModel):
            model = ptc.ptc_model(preset, seed, ifum=model if isinstance(model, IfumModel) else None)
        return _ptc_frame(model, rng_for(seed, 1, frame.name), frame.exptime)
    if model is None:
        model = detector_model(frame.camera, frame.detector, preset, seed)
    rng = rng_for(seed, 1, frame.name)
    if frame.camera == "ifum":
        return _ifum_frame(model, rng, frame.exptime)
    return _flat_frame(model, rng, lamp_factor(frame.camera, frame.number, seed), frame.exptime)


def frame_file_bytes(frame: FrameSpec, preset: Preset, seed: int, model) -> bytes:
    """The bytes of the FITS file of ``frame`` (data and header), drawn with ``model``.

    ``model`` is the frame's detector model (:func:`detector_model`), or the
    `~course_utils.data.ptc.PtcModel` for a photon-transfer frame.

    Examples
    --------
    >>> from course_utils.data.layout import FRAMES
    >>> small = PRESETS["small"]
    >>> content = frame_file_bytes(FRAMES[0], small, 1, ifum_model(small, 1))
    >>> len(content) % 2880, content[:6]
    (0, b'SIMPLE')
    """
    data = make_frame(frame, preset, seed, model=model)
    if frame.frame_type == "ptc":
        return fits_bytes(data, ptc.ptc_header(frame, model, GENERATOR_VERSION))
    header = frame_header(frame, preset, seed, GENERATOR_VERSION,
                          egain=model.gain, enoise=model.read_noise_e)
    return fits_bytes(data, header)


# --- The whole dataset ---------------------------------------------------------


def expected_info(preset: str | Preset = "full", seed: int = DEFAULT_SEED) -> dict:
    """What the marker of a synthetic dataset of ``preset`` and ``seed`` records
    (:func:`course_utils.data.identity.synthetic`)."""
    return identity.synthetic(preset, seed)


def dataset_plan(preset: Preset, seed: int) -> store.Plan:
    """The synthetic course dataset of ``preset`` and ``seed``, for :func:`course_utils.data.store.fill`."""
    by_path = {frame.path: frame for frame in SYNTHETIC_FRAMES}

    def make(paths: list[str]):
        models: dict = {}
        for path in paths:
            frame = by_path[path]
            yield path, frame_file_bytes(frame, preset, seed, _model_for(frame, preset, seed, models))

    return store.Plan(info=expected_info(preset, seed),
                     sizes={frame.path: file_size(frame, preset) for frame in SYNTHETIC_FRAMES},
                     make=make, what="the synthetic course dataset",
                     title=f"Generating the synthetic course dataset ({preset.name})")


def generate(out_dir: str | os.PathLike, preset: str = "full", seed: int = DEFAULT_SEED, *,
             progress: bool = True, overwrite: bool = False) -> Path:
    """Write the synthetic course dataset into ``out_dir``, or repair it there.

    ``out_dir`` receives ``calibration_frames/...`` (89 FITS files, written
    read-only: the 63 of the real set and the 26 synthetic-only
    photon-transfer frames) and the marker ``course_dataset.json``, which records the
    source, preset, seed, generator version and every file's size,
    modification time and SHA-256. The marker is written first, saying the
    dataset is incomplete, and again when every file is on disk: an
    interrupted generation never looks complete, and the next call resumes it.

    The work is done holding the folder's lock (:func:`course_utils.data.store.dataset_lock`):
    concurrent calls wait for each other and the later ones find the dataset
    complete. Files are written one by one, so a repair needs room for only
    the files it replaces; files that are not the dataset's (a student's
    notes) are never touched.

    Parameters
    ----------
    out_dir : path-like
        The dataset folder (the one that will contain ``calibration_frames``).
    preset : {'full', 'small'}
        ``'full'``: the real sizes (about 300 MB); ``'small'``: every
        dimension divided by 4 (about 20 MB), for tests.
    seed : int
        The same seed gives byte-identical files.
    progress : bool
        Show a progress bar (tqdm, on stderr). ``TQDM_DISABLE=1`` hides it too.
    overwrite : bool
        Remake every file, also of a *different* course dataset in ``out_dir``
        (one with another preset, seed or generator version). Without it such
        a folder is an error, and a dataset of this preset and seed is only
        completed and repaired (damaged files made again; a line on stderr
        names them). A folder holding anything else than a course dataset is
        never written into.

    Returns
    -------
    pathlib.Path
        ``out_dir``, absolute.

    Raises
    ------
    FileExistsError
        If ``out_dir`` holds something that may not be replaced.
    course_utils.data.store.NotWritableError
        If the parent folder cannot be written.
    course_utils.data.store.DiskFullError
        If the disk lacks room (before starting, or while writing).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     root = generate(Path(tmp) / "data", preset="small", progress=False)
    ...     print(sorted(p.name for p in root.iterdir()))
    ...     print(len(list(root.glob("calibration_frames/**/*.fits"))))
    ['calibration_frames', 'course_dataset.json']
    89
    """
    out_dir = Path(out_dir).expanduser().absolute()
    store.fill(out_dir, dataset_plan(as_preset(preset), check_seed(seed)), overwrite=overwrite, progress=progress)
    return out_dir


def _corner_name(corner: tuple[int, int]) -> str:
    choices = RANGES["ifum_glow_corner"].choices
    return choices[GLOW_CORNERS.index(tuple(corner))].replace(" ", "-")


def describe_model(preset: str = "full", seed: int = DEFAULT_SEED) -> str:
    """A few lines summarizing the true model (for ``python -m course_utils.data info``)."""
    ifum = ifum_model(preset, seed)
    lines = [
        f"IFU-M c1: bias {ifum.bias_level} DU, read noise {ifum.read_noise_du:.2f} DU "
        f"(ENOISE {ifum.read_noise_e} e- / EGAIN {ifum.gain} e-/DU), {ifum.hot_rows.size} hot pixels, "
        f"bad columns {[b.column for b in ifum.bad_columns]}, {ifum.low_rows.size} low rows, "
        f"dark current {ifum.dark_current * 3600 / ifum.gain:.1f} DU/h, "
        f"glow {float(ifum.glow[ifum.glow_corner]) * 3600 / ifum.gain:.0f} DU/h at the "
        f"{_corner_name(ifum.glow_corner)} corner",
    ]
    for camera, detector in DETECTORS[1:]:
        flat = flat_model(camera, detector, preset, seed)
        lines.append(
            f"{CAMERAS[camera].instrument} {detector}: bias {flat.bias_level} DU, gain {flat.gain} e-/DU, "
            f"lamp {flat.lamp_level:.0f} DU, vignetting brightest at (row, column) "
            f"{tuple(int(i) for i in np.unravel_index(np.argmax(flat.vignetting), flat.vignetting.shape))} "
            f"of data.T, sensitivity {float(flat.sensitivity.min()):.2f}-"
            f"{float(flat.sensitivity.max()):.2f}, {len(flat.donuts)} donuts, {flat.dead_rows.size} dead pixels"
        )
    light = ptc.ptc_model(preset, seed, ifum=ifum)  # the synthetic-only photon transfer sequence
    lines.append(
        f"IFU-M c1 photon transfer (synthetic only): sub-raster {light.subraster}, LEDs "
        f"{light.led_rate:.0f} DU/s, PRNU {100 * ptc.PTC_PRNU:.0f} %, full well "
        f"{light.full_well_e:.0f} e- ({light.full_well_du:.0f} DU)"
    )
    return "\n".join(lines)
