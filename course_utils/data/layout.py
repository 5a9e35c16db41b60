"""Which files make up the course dataset, and the array layout of each camera.

This module is the single description of the dataset's structure that the
synthetic generator, the manifest builder and the checks all share: the 63
file names the notebooks read, their frame type, camera and detector, and,
for each *preset*, the shape of the raw arrays and where the data section and
the overscan sit in them.

Two cameras are involved:

* **IFU-M** on the Magellan Clay telescope (detector ``c1``): bias and dark
  frames. A raw frame has the data section in rows ``0..1027`` and columns
  ``0..2047`` (0-based numpy indices), an overscan strip of 128 columns on
  the right and 128 *bias lines* at the top.
* **IMACS** on the Magellan Baade telescope (``ift`` = the Long-Camera and
  ``iff`` = the Short-Camera; detectors ``c2`` and ``c3``): dome flats. The
  raw array has the long axis first, so notebooks read ``data.T``; in it,
  ``data.T[:1024, :2048]`` is the illuminated area and ``data.T[1024:]``
  (i.e. ``data[:, 1024:]``) is a 64-column overscan strip.

The ``small`` preset divides every dimension by 4 (same files, same
structure), for fast tests.

Examples
--------
>>> from course_utils.data.layout import FRAMES, PRESETS
>>> len(FRAMES)
63
>>> FRAMES[0].path
'calibration_frames/bias/b0860c1.fits'
>>> PRESETS["full"].ifum.shape, PRESETS["small"].ifum.shape
((1156, 2176), (289, 544))
>>> PRESETS["full"].ifum.datasec, PRESETS["full"].ifum.biassec
('[1:2048,1:1028]', '[2049:2176,1029:1156]')
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Geometry",
    "Preset",
    "FrameSpec",
    "Camera",
    "PRESETS",
    "CAMERAS",
    "FRAMES",
    "DATA_FOLDER",
    "frame_by_path",
    "SCIENCE_FOLDER",
    "SCIENCE_FRAMES",
    "PTC_EXPTIMES",
    "PTC_FRAMES",
    "SYNTHETIC_FRAMES",
    "ptc_geometry",
]

#: The top folder of the dataset, inside the folder that ``dataset_dir()`` returns.
DATA_FOLDER = "calibration_frames"


@dataclass(frozen=True)
class Geometry:
    """Layout of a camera's raw frames (numpy order: rows, columns).

    The data section is ``data[:data_rows, :data_cols]``; the overscan is
    ``data[:, data_cols:]`` (``overscan_cols`` columns) and the bias lines
    are ``data[data_rows:, :]`` (``bias_rows`` rows, possibly none).
    """

    data_rows: int
    data_cols: int
    overscan_cols: int
    bias_rows: int

    @property
    def shape(self) -> tuple[int, int]:
        """Raw array shape ``(NAXIS2, NAXIS1)``."""
        return (self.data_rows + self.bias_rows, self.data_cols + self.overscan_cols)

    @property
    def datasec(self) -> str:
        """FITS (1-based, ``[x1:x2,y1:y2]``) data section, as in the DATASEC keyword."""
        return f"[1:{self.data_cols},1:{self.data_rows}]"

    @property
    def biassec(self) -> str:
        """FITS bias section: the overscan columns (above the data rows when
        there are bias lines, as in the real IFU-M header)."""
        nrows, ncols = self.shape
        first_row = self.data_rows + 1 if self.bias_rows else 1
        return f"[{self.data_cols + 1}:{ncols},{first_row}:{nrows}]"

    def scaled(self, factor: int) -> "Geometry":
        """The same layout with every dimension divided by ``factor``."""
        return Geometry(
            self.data_rows // factor,
            self.data_cols // factor,
            self.overscan_cols // factor,
            self.bias_rows // factor,
        )


@dataclass(frozen=True)
class Preset:
    """A size preset: ``scale`` is the factor every dimension is divided by."""

    name: str
    scale: int
    ifum: Geometry
    imacs: Geometry

    def geometry(self, camera: str) -> Geometry:
        """Geometry of ``camera`` (``'ifum'``, ``'ift'`` or ``'iff'``)."""
        return self.ifum if camera == "ifum" else self.imacs

    @property
    def area_fraction(self) -> float:
        """Pixel count relative to the full-size preset."""
        return 1.0 / self.scale**2


_IFUM_FULL = Geometry(data_rows=1028, data_cols=2048, overscan_cols=128, bias_rows=128)
_IMACS_FULL = Geometry(data_rows=2048, data_cols=1024, overscan_cols=64, bias_rows=0)

#: The size presets: ``full`` (the real sizes; default) and ``small`` (1/4 of
#: every dimension, for fast tests).
PRESETS: dict[str, Preset] = {
    "full": Preset("full", 1, _IFUM_FULL, _IMACS_FULL),
    "small": Preset("small", 4, _IFUM_FULL.scaled(4), _IMACS_FULL.scaled(4)),
}


@dataclass(frozen=True)
class Camera:
    """Fixed facts about one camera, as its FITS headers state them."""

    key: str
    telescope: str
    instrument: str
    description: str


CAMERAS: dict[str, Camera] = {
    "ifum": Camera("ifum", "Clay", "IFUM", "IFU-M on the Magellan Clay telescope"),
    "ift": Camera("ift", "Baade", "IMACS Long-Camera", "IMACS f/4 (Long-Camera) on Magellan Baade"),
    "iff": Camera("iff", "Baade", "IMACS Short-Camera", "IMACS f/2 (Short-Camera) on Magellan Baade"),
}


@dataclass(frozen=True)
class FrameSpec:
    """One file of the dataset.

    Attributes
    ----------
    path : str
        Path relative to the dataset folder, with ``/`` separators.
    frame_type : str
        ``'bias'``, ``'dark'``, ``'flat'``; ``'science'`` (`SCIENCE_FRAMES` only);
        ``'ptc'`` for the synthetic-only photon transfer sequence (`PTC_FRAMES`).
    camera : str
        ``'ifum'``, ``'ift'`` or ``'iff'`` (a key of `CAMERAS`).
    detector : str
        ``'c1'``, ``'c2'`` or ``'c3'``.
    number : int
        The exposure number in the file name (860 for ``b0860c1``).
    index : int
        Position of the exposure in its sequence (0 for the first).
    exptime : float
        Exposure time in seconds.
    """

    path: str
    frame_type: str
    camera: str
    detector: str
    number: int
    index: int
    exptime: float

    @property
    def name(self) -> str:
        """The file name without extension, as in the FILENAME keyword."""
        return self.path.rsplit("/", 1)[-1].removesuffix(".fits")

    @property
    def chip(self) -> int:
        """The detector number (``c2`` -> 2)."""
        return int(self.detector[1:])


#: Exposure times of the frames, in seconds.
BIAS_EXPTIME = 0.0
DARK_EXPTIME = 3600.0
FLAT_EXPTIME = {"ift": 5.0, "iff": 3.0}


def _frames() -> tuple[FrameSpec, ...]:
    frames = []
    for i, number in enumerate(range(860, 900)):
        frames.append(FrameSpec(f"{DATA_FOLDER}/bias/b{number:04d}c1.fits",
                                "bias", "ifum", "c1", number, i, BIAS_EXPTIME))
    for i, number in enumerate(range(1212, 1217)):
        frames.append(FrameSpec(f"{DATA_FOLDER}/dark/b{number:04d}c1.fits",
                                "dark", "ifum", "c1", number, i, DARK_EXPTIME))
    for i, number in enumerate(range(8, 14)):
        for detector in ("c2", "c3"):
            frames.append(FrameSpec(f"{DATA_FOLDER}/flat/iff/iff{number:04d}{detector}.fits",
                                    "flat", "iff", detector, number, i, FLAT_EXPTIME["iff"]))
    for i, number in enumerate(range(14, 20)):
        frames.append(FrameSpec(f"{DATA_FOLDER}/flat/ift/ift{number:04d}c2.fits",
                                "flat", "ift", "c2", number, i, FLAT_EXPTIME["ift"]))
    return tuple(sorted(frames, key=lambda f: f.path))


#: Every file the notebooks read, sorted by path.
FRAMES: tuple[FrameSpec, ...] = _frames()

#: The detectors that have frames: (camera, detector) pairs.
DETECTORS: tuple[tuple[str, str], ...] = (("ifum", "c1"), ("ift", "c2"), ("iff", "c2"), ("iff", "c3"))


def frame_by_path(path: str) -> FrameSpec:
    """Return the `FrameSpec` of ``path`` (relative, ``/``-separated).

    Raises
    ------
    KeyError
        If ``path`` is not one of the dataset's files.

    Examples
    --------
    >>> frame_by_path("calibration_frames/dark/b1212c1.fits").exptime
    3600.0
    """
    for frame in SYNTHETIC_FRAMES:
        if frame.path == path:
            return frame
    raise KeyError(f"{path!r} is not a file of the course dataset")


# --- Science frames (synthetic only; made by course_utils.data.science) ------------
# Not part of FRAMES: the real Magellan set has no science frames, so they live in
# their own folder (``science_frames/``) of their own dataset (see
# course_utils.data.science), whichever calibration frames are used.

#: The top folder of the science frames, inside the folder that ``science_dir()`` returns.
SCIENCE_FOLDER = "science_frames"
#: Exposure time of the science frames, in seconds.
SCIENCE_EXPTIME = 300.0


def _science_frames() -> tuple[FrameSpec, ...]:
    return tuple(
        FrameSpec(f"{SCIENCE_FOLDER}/ift/ift{number:04d}c2.fits", "science", "ift", "c2",
                  number, i, SCIENCE_EXPTIME)
        for i, number in enumerate(range(40, 46))
    )


#: The synthetic science exposures of IMACS ift c2 (i band), sorted by path.
SCIENCE_FRAMES: tuple[FrameSpec, ...] = _science_frames()


# --- Synthetic-only frames: the photon transfer sequence (notebook 6) ----------------
#
# The real Magellan set has no photon-transfer frames; only the synthetic dataset
# holds these. They come from the IFU-M c1 detector (the camera of the bias
# frames), read out as a sub-raster (SUBRASTR) of the middle of the detector with
# its overscan columns, and lit by the spectrograph's LEDs for increasing
# exposure times: two frames per exposure time, the first pair unlit (0 s).

#: Exposure times (s) of the photon transfer sequence, two frames each.
PTC_EXPTIMES = (0.0, 0.3, 0.6, 1.2, 2.5, 5.0, 10.0, 20.0, 35.0, 50.0, 57.0, 60.0, 64.0)

#: Layout of a photon-transfer sub-raster at full size (divided by the preset's scale).
PTC_GEOMETRY = Geometry(data_rows=256, data_cols=512, overscan_cols=128, bias_rows=0)

#: Where the sub-raster's first data pixel lies on the full IFU-M data section
#: (row, column; full size, divided by the preset's scale).
PTC_ORIGIN = (384, 768)


def ptc_geometry(preset: Preset) -> Geometry:
    """Layout of the photon-transfer sub-raster frames of ``preset``."""
    return PTC_GEOMETRY.scaled(preset.scale)


def _ptc_frames() -> tuple[FrameSpec, ...]:
    frames = []
    for i, exptime in enumerate(t for t in PTC_EXPTIMES for _ in range(2)):
        number = 1300 + i
        frames.append(FrameSpec(f"{DATA_FOLDER}/ptc/b{number:04d}c1.fits",
                                "ptc", "ifum", "c1", number, i, exptime))
    return tuple(frames)


#: The photon transfer sequence (synthetic only), in the order it was taken.
PTC_FRAMES: tuple[FrameSpec, ...] = _ptc_frames()

#: Every file of the synthetic dataset: the real set's files, then the
#: synthetic-only ones.
SYNTHETIC_FRAMES: tuple[FrameSpec, ...] = FRAMES + PTC_FRAMES
