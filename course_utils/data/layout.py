"""Which files make up the course dataset, and the array layout of each camera.

This module is the single description of the dataset's structure that the
synthetic generator, the manifest builder and the checks all share
(`FRAME_GROUPS`): the 63 files of the real Magellan set (`FRAMES`), the 26
photon-transfer frames only the synthetic dataset has (`PTC_FRAMES`; both
together: `SYNTHETIC_FRAMES`), their frame type, camera and detector, and,
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
>>> from course_utils.data.layout import FRAMES, PRESETS, SYNTHETIC_FRAMES
>>> len(FRAMES), len(SYNTHETIC_FRAMES)
(63, 89)
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
    "FrameGroup",
    "FRAME_GROUPS",
    "DETECTORS",
    "frame_paths",
    "as_preset",
    "file_size",
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
    "frame_geometry",
    "PTC_GEOMETRY",
    "PTC_ORIGIN",
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


@dataclass(frozen=True)
class FrameGroup:
    """One group of files of the dataset: a kind of frame of one camera.

    The files of a group are ``calibration_frames/<folder>/<prefix><NNNN><detector>.fits``
    for each exposure number in ``numbers`` and each detector in ``detectors``.

    Attributes
    ----------
    frame_type : str
        ``'bias'``, ``'dark'``, ``'flat'``, ... (what the frames are).
    camera : str
        A key of `CAMERAS`.
    folder : str
        The folder under ``calibration_frames/``, with ``/`` separators.
    prefix : str
        The file name before the 4-digit exposure number.
    numbers : range
        The exposure numbers, in the order they were taken.
    detectors : tuple of str
        The detectors each exposure has a file for.
    exptime : float or tuple of float
        Exposure time in seconds: one for every exposure, or one per exposure
        (in the order of ``numbers``).
    real : bool
        Whether the real Magellan frames include this group (the manifest
        then needs its download addresses and hashes). ``False``: only the
        synthetic dataset has these files.
    geometry : Geometry, optional
        The full-size layout of the frames when it is not the camera's
        (a sub-raster); see `frame_geometry`.
    """

    frame_type: str
    camera: str
    folder: str
    prefix: str
    numbers: range
    detectors: tuple[str, ...]
    exptime: float | tuple[float, ...]
    real: bool = True
    geometry: Geometry | None = None

    def exptime_of(self, index: int) -> float:
        """Exposure time of the ``index``-th exposure of the group."""
        return float(self.exptime[index] if isinstance(self.exptime, tuple) else self.exptime)

    def frames(self) -> list[FrameSpec]:
        """The files of this group, exposure by exposure."""
        return [FrameSpec(f"{DATA_FOLDER}/{self.folder}/{self.prefix}{number:04d}{detector}.fits",
                          self.frame_type, self.camera, detector, number, index, self.exptime_of(index))
                for index, number in enumerate(self.numbers) for detector in self.detectors]


# --- The photon transfer sequence (notebook 6; synthetic only) -----------------------
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


#: Every group of files of the dataset. To add a kind of frame, add a row
#: here (and teach the generator to draw it); the file list, the manifest
#: builder (``tools/build_manifest.py``) and the checks follow from this table.
FRAME_GROUPS: tuple[FrameGroup, ...] = (
    FrameGroup("bias", "ifum", "bias", "b", range(860, 900), ("c1",), 0.0),
    FrameGroup("dark", "ifum", "dark", "b", range(1212, 1217), ("c1",), 3600.0),
    FrameGroup("flat", "ift", "flat/ift", "ift", range(14, 20), ("c2",), 5.0),
    FrameGroup("flat", "iff", "flat/iff", "iff", range(8, 14), ("c2", "c3"), 3.0),
    FrameGroup("ptc", "ifum", "ptc", "b", range(1300, 1300 + 2 * len(PTC_EXPTIMES)), ("c1",),
               tuple(t for t in PTC_EXPTIMES for _ in range(2)), real=False, geometry=PTC_GEOMETRY),
)


def _sorted_frames(real: bool) -> tuple[FrameSpec, ...]:
    return tuple(sorted((frame for group in FRAME_GROUPS if group.real == real for frame in group.frames()),
                        key=lambda f: f.path))


#: Every file of the real Magellan set (the groups with ``real=True``), sorted by path.
FRAMES: tuple[FrameSpec, ...] = _sorted_frames(real=True)

#: Every file of the synthetic dataset: the real set's files, then the
#: synthetic-only ones (``real=False``), each part sorted by path.
SYNTHETIC_FRAMES: tuple[FrameSpec, ...] = FRAMES + _sorted_frames(real=False)

#: The photon transfer sequence (synthetic only), in the order it was taken.
PTC_FRAMES: tuple[FrameSpec, ...] = tuple(f for g in FRAME_GROUPS if g.frame_type == "ptc" for f in g.frames())

#: The detectors that have frames: (camera, detector) pairs, in the order of `FRAME_GROUPS`.
DETECTORS: tuple[tuple[str, str], ...] = tuple(dict.fromkeys(
    (group.camera, detector) for group in FRAME_GROUPS for detector in group.detectors))


def frame_paths(frame_type: str, camera: str | None = None) -> list[str]:
    """The paths of the files of one frame type (and camera), in exposure order.

    Examples
    --------
    >>> frame_paths("flat", "ift")[0]
    'calibration_frames/flat/ift/ift0014c2.fits'
    >>> len(frame_paths("bias"))
    40
    """
    return [frame.path for group in FRAME_GROUPS for frame in group.frames()
            if group.frame_type == frame_type and camera in (None, group.camera)]


def as_preset(preset: "str | Preset") -> Preset:
    """The `Preset` named ``preset`` (a `Preset` is returned as it is).

    Raises
    ------
    ValueError
        For an unknown name.

    Examples
    --------
    >>> as_preset("small").scale
    4
    """
    if isinstance(preset, Preset):
        return preset
    if isinstance(preset, str) and preset in PRESETS:
        return PRESETS[preset]
    raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")


def file_size(frame: FrameSpec, preset: "str | Preset") -> int:
    """About how many bytes the file of ``frame`` takes (for disk-space checks).

    The uint16 data padded to FITS blocks of 2880 bytes, plus a header of at
    most four blocks.

    Examples
    --------
    >>> file_size(FRAMES[0], "full") > 1156 * 2176 * 2
    True
    """
    rows, cols = frame_geometry(frame, preset).shape
    return -(-rows * cols * 2 // 2880) * 2880 + 4 * 2880


def frame_geometry(frame: FrameSpec, preset: "str | Preset") -> Geometry:
    """The layout of ``frame``'s raw array in ``preset``: its group's sub-raster, else its camera's.

    Examples
    --------
    >>> frame_geometry(PTC_FRAMES[0], "small").shape, frame_geometry(FRAMES[0], "small").shape
    ((64, 160), (289, 544))
    """
    preset = as_preset(preset)
    for group in FRAME_GROUPS:
        if group.geometry is not None and (group.frame_type, group.camera) == (frame.frame_type, frame.camera):
            return group.geometry.scaled(preset.scale)
    return preset.geometry(frame.camera)


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
# (Its row is in FRAME_GROUPS, its constants above it.)


def ptc_geometry(preset: Preset) -> Geometry:
    """Layout of the photon-transfer sub-raster frames of ``preset``."""
    return PTC_GEOMETRY.scaled(as_preset(preset).scale)
