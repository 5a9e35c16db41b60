"""The true model of the synthetic detectors: their fixed features and constants.

:func:`ifum_model` builds the IFU-M c1 detector (biases and darks) and
:func:`flat_model` an IMACS detector (dome flats), for a preset and a seed.
The models hold everything that is the same in every frame -- bias level and
pattern, hot pixels, bad columns, glow, vignetting, dust donuts, dead pixels
-- and the constants (gain, read noise, dark current, cosmic-ray rates).
Tests use them as the truth to compare the generated frames with;
:mod:`course_utils.data.synthetic` draws the frames from them.

Each detector's features come from their own random stream
(:class:`numpy.random.SeedSequence` keyed by the detector), so they do not
depend on anything else that is generated.

Examples
--------
>>> from course_utils.data.models import flat_model, ifum_model
>>> model = ifum_model("small")
>>> model.bias_level, round(model.read_noise_du, 2), model.glow_corner
(817.4, 3.97, (0, 0))
>>> flat = flat_model("iff", "c3", "small")
>>> flat.sensitivity.shape, len(flat.donuts)
((256, 512), 30)
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from .identity import DEFAULT_SEED, GENERATOR_VERSION, check_seed
from .layout import PRESETS, Preset, as_preset
from .variation import parameters

__all__ = [
    "GENERATOR_VERSION",
    "DEFAULT_SEED",
    "PRESETS",
    "IfumModel",
    "FlatModel",
    "Donut",
    "BadColumn",
    "ifum_model",
    "flat_model",
    "detector_model",
    "lamp_factor",
    "rng_for",
    "LEVEL_JITTER",
]

# The identity of a synthetic dataset (seed, generator version) is defined
# with the other identities, in identity.py; re-exported here.

# --- IFU-M (Magellan Clay), detector c1 --------------------------------------
# The default seed's values; every other seed draws its own within the ranges
# of course_utils.data.variation.RANGES.
IFUM_GAIN = 0.68  # electrons per DU (EGAIN)
IFUM_READ_NOISE_E = 2.7  # electrons (ENOISE)
IFUM_BIAS_LEVEL = 817.4  # DU
IFUM_DARK_CURRENT = 4.0 * IFUM_GAIN / 3600.0  # electrons/s/pixel: 4 DU per hour
IFUM_GLOW_PEAK = 150.0 * IFUM_GAIN / 3600.0  # electrons/s at the corner: 150 DU per hour
IFUM_GLOW_SCALE = (160.0, 250.0)  # e-folding lengths (rows, columns), full size
COSMICS_PER_READ = 150.0  # events per full-size IFU-M frame at read-out (any EXPTIME)
COSMICS_PER_SECOND = 0.8  # events per second on a full-size IFU-M data section

# --- IMACS (Magellan Baade) flats -------------------------------------------
# (gain e-/DU, read noise e-, bias level DU, lamp level DU at median sensitivity)
_IMACS_DETECTORS = {
    ("ift", "c2"): (0.93, 4.2, 1143.0, 10000.0),
    ("iff", "c2"): (0.96, 4.5, 1162.0, 9000.0),
    ("iff", "c3"): (0.91, 4.4, 1187.0, 9500.0),
}
# (centre column, centre row) as fractions of the illuminated area, quadratic
# fall-off per (distance / long side)^2, number of donuts, dead pixels at full
# size, partial bad column?, pixel-to-pixel sensitivity rms
_FLAT_FEATURES = {
    ("ift", "c2"): ((0.45, 0.55), 0.90, 0, 0, False, 0.010),
    ("iff", "c2"): ((0.50, 0.50), 0.30, 8, 20, False, 0.008),
    ("iff", "c3"): ((0.55, 0.45), 0.35, 30, 150, True, 0.008),
}
FLAT_COSMICS_PER_READ = 40.0  # events per full-size IMACS frame at read-out
LEVEL_JITTER = 0.15  # DU rms: the bias level changes a little from frame to frame


def rng_for(seed: int, stream: int, key: str, *extra: int) -> np.random.Generator:
    """A random generator for one purpose, independent of every other one.

    ``stream`` separates purposes (0: a detector's fixed features, 1: a file,
    2: lamp levels, 3: ad hoc darks); ``key`` names the detector or file.
    """
    spawn_key = (stream, zlib.crc32(key.encode()), *extra)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=spawn_key))


# --- Fixed features ------------------------------------------------------------


@dataclass(frozen=True)
class BadColumn:
    """A bad column of IFU-M: ``offset`` DU added from ``first_row`` to the top
    of the data section, in every frame."""

    column: int
    first_row: int
    offset: float


@dataclass(frozen=True)
class Donut:
    """A dust donut on an IMACS flat, in ``data.T`` coordinates (pixels).

    The response drops by ``depth`` in the annulus between ``r_inner`` and
    ``r_outer`` around (``row``, ``col``), and by a quarter of that inside.
    """

    row: float
    col: float
    r_inner: float
    r_outer: float
    depth: float


@dataclass(frozen=True, eq=False)
class IfumModel:
    """The true model of the IFU-M c1 detector (biases and darks).

    Arrays cover the data section ``data[:data_rows, :data_cols]``; rows and
    columns are 0-based numpy indices of the raw frame.

    Attributes
    ----------
    preset : Preset
    seed : int
    gain : float
        Electrons per DU (EGAIN).
    read_noise_e : float
        Read noise in electrons (ENOISE); `read_noise_du` in DU.
    bias_level : float
        Mean bias level in DU (overscan and bias lines hold this level).
    pattern : ndarray
        Fixed bias pattern in DU relative to `bias_level`: small per-pixel and
        per-column structure, the row pattern, hot pixels and bad columns.
    row_offsets : ndarray
        The row pattern alone (DU per row); `low_rows` are the visibly lower rows.
    hot_rows, hot_cols, hot_values : ndarray
        Hot pixels and their excess in DU.
    bad_columns : tuple of BadColumn
    dark_current : float
        Electrons per second per pixel.
    glow : ndarray
        Sensor glow in electrons per second per pixel, largest at `glow_corner`.
    glow_corner : (int, int)
        The (row, column) index of the data section's pixel where the glow is
        brightest, each 0 or -1: ``(0, 0)``, the lowest row and column, is
        the lower left as drawn with ``origin='lower'`` (the default seed's);
        each student's seed draws one of the four corners
        (`course_utils.data.variation.GLOW_CORNERS`).
    """

    preset: Preset
    seed: int
    gain: float
    read_noise_e: float
    bias_level: float
    pattern: np.ndarray = field(repr=False)
    row_offsets: np.ndarray = field(repr=False)
    low_rows: np.ndarray = field(repr=False)
    hot_rows: np.ndarray = field(repr=False)
    hot_cols: np.ndarray = field(repr=False)
    hot_values: np.ndarray = field(repr=False)
    bad_columns: tuple[BadColumn, ...]
    dark_current: float
    glow: np.ndarray = field(repr=False)
    glow_corner: tuple[int, int] = (0, 0)

    @property
    def read_noise_du(self) -> float:
        """Read noise in DU: ENOISE / EGAIN."""
        return self.read_noise_e / self.gain

    @property
    def geometry(self):
        """Layout of the raw frame (see `course_utils.data.layout.Geometry`)."""
        return self.preset.ifum

    def expected_bias(self) -> np.ndarray:
        """Expected value (DU) of the data section of a bias frame, float32."""
        return self.pattern + np.float32(self.bias_level)

    def dark_electrons(self, exptime: float) -> np.ndarray:
        """Expected dark signal (electrons) of the data section after ``exptime`` s.

        Dark current and glow are proportional to the exposure time; hot
        pixels gain half their bias excess per hour on top.
        """
        electrons = (self.glow + np.float32(self.dark_current)) * np.float32(exptime)
        electrons[self.hot_rows, self.hot_cols] += (
            0.5 * self.hot_values * self.gain * exptime / 3600.0
        ).astype(np.float32)
        return electrons

    def cosmic_events(self, exptime: float) -> float:
        """Mean number of cosmic-ray events in a frame of ``exptime`` s."""
        return (COSMICS_PER_READ + COSMICS_PER_SECOND * exptime) * self.preset.area_fraction


@dataclass(frozen=True, eq=False)
class FlatModel:
    """The true model of one IMACS detector (dome flats).

    Arrays and positions refer to the illuminated area in the orientation
    the notebooks use: ``data.T[:data_cols, :data_rows]`` (1024 x 2048 at
    full size).

    Attributes
    ----------
    camera, detector : str
        ``'ift'`` or ``'iff'``; ``'c2'`` or ``'c3'``.
    preset : Preset
    seed : int
    gain, read_noise_e : float
        EGAIN (electrons/DU) and ENOISE (electrons).
    bias_level : float
        Bias level in DU, also the level of the overscan ``data.T[1024:]``.
    lamp_level : float
        Signal in DU (above bias) where the sensitivity is 1, before the
        exposure's lamp drift (see `lamp_factor`).
    vignetting : ndarray
        The smooth illumination pattern, normalized to median 1.
    sensitivity : ndarray
        The whole response: vignetting x pixel-to-pixel variation x dust x
        dead pixels, normalized to median 1: what a normalized master flat
        should show.
    donuts : tuple of Donut
    dead_rows, dead_cols : ndarray
        Dead or low pixels (sensitivity below 0.5 of their surroundings).
    bad_segment : (int, int, int) or None
        A partial bad column of the CCD, ``(row, first_col, stop_col)`` in
        ``data.T`` coordinates: a raw column is a row of ``data.T``.
    """

    camera: str
    detector: str
    preset: Preset
    seed: int
    gain: float
    read_noise_e: float
    bias_level: float
    lamp_level: float
    vignetting: np.ndarray = field(repr=False)
    sensitivity: np.ndarray = field(repr=False)
    donuts: tuple[Donut, ...] = field(repr=False)
    dead_rows: np.ndarray = field(repr=False)
    dead_cols: np.ndarray = field(repr=False)
    bad_segment: tuple[int, int, int] | None = None

    @property
    def read_noise_du(self) -> float:
        """Read noise in DU: ENOISE / EGAIN."""
        return self.read_noise_e / self.gain

    @property
    def geometry(self):
        """Layout of the raw frame (see `course_utils.data.layout.Geometry`)."""
        return self.preset.imacs


def _smooth(values: np.ndarray, width: int) -> np.ndarray:
    width = max(1, width)
    kernel = np.ones(width) / width
    padded = np.pad(values, width, mode="reflect")
    return np.convolve(padded, kernel, mode="same")[width:-width]


def _row_offsets(rng: np.random.Generator, nrows: int) -> tuple[np.ndarray, np.ndarray]:
    offsets = rng.normal(0.0, 0.05, nrows)
    low = []
    n_runs = max(3, round(0.015 * nrows))
    starts = rng.choice(nrows, size=n_runs, replace=False)
    lengths = rng.integers(1, 4, size=n_runs)
    depths = rng.uniform(1.0, 3.0, size=n_runs)
    for start, length, depth in zip(starts, lengths, depths):
        rows = np.arange(start, min(start + length, nrows))
        offsets[rows] -= depth
        low.extend(rows.tolist())
    return offsets.astype(np.float32), np.unique(np.array(low, dtype=np.int64))


def ifum_model(preset: str | Preset = "full", seed: int = DEFAULT_SEED) -> IfumModel:
    """Build the true model of the IFU-M c1 detector for ``preset`` and ``seed``.

    Examples
    --------
    >>> model = ifum_model("small")            # the default seed: the real detector's values
    >>> model.pattern.shape, model.bias_level, len(model.bad_columns)
    ((257, 512), 817.4, 2)
    >>> 700 <= ifum_model("small", seed=1).bias_level <= 950   # any other seed draws its own
    True
    """
    preset = as_preset(preset)
    seed = check_seed(seed)
    geometry = preset.ifum
    rows, cols = geometry.data_rows, geometry.data_cols
    rng = rng_for(seed, 0, "ifum-c1")
    night = parameters(seed)

    pattern = rng.normal(0.0, 0.12, (rows, cols)).astype(np.float32)
    column_pattern = _smooth(rng.normal(0.0, 0.3, cols), 16 // preset.scale) + rng.normal(0, 0.06, cols)
    column_pattern += 0.2 * (np.arange(cols) / cols - 0.5)
    row_offsets, low_rows = _row_offsets(rng, rows)
    if night.ifum_pattern_scale != 1.0:  # the default seed's arrays stay bit for bit as they were
        column_pattern *= night.ifum_pattern_scale
        row_offsets *= np.float32(night.ifum_pattern_scale)
    pattern += column_pattern.astype(np.float32)[None, :]
    pattern += row_offsets[:, None]

    n_hot = max(6, round(int(night.ifum_hot_pixels) * preset.area_fraction))
    hot_rows = rng.integers(0, rows, n_hot)
    hot_cols = rng.integers(0, cols, n_hot)
    hot_values = np.exp(rng.uniform(np.log(200.0), np.log(3000.0), n_hot)).astype(np.float32)
    pattern[hot_rows, hot_cols] += hot_values

    bad_cols = rng.choice(np.arange(cols // 10, cols - cols // 10), size=2, replace=False)
    bad_columns = (
        BadColumn(int(bad_cols[0]), 0, float(night.ifum_bad_column_low)),
        BadColumn(int(bad_cols[1]), int(rng.integers(rows // 5, rows // 2)), float(night.ifum_bad_column_high)),
    )
    for bad in bad_columns:
        pattern[bad.first_row:, bad.column] += np.float32(bad.offset)

    gain = night.ifum_gain
    scale_rows, scale_cols = (s * night.ifum_glow_extent / preset.scale for s in IFUM_GLOW_SCALE)
    r = np.arange(rows, dtype=np.float32)[:, None] / np.float32(scale_rows)
    c = np.arange(cols, dtype=np.float32)[None, :] / np.float32(scale_cols)
    # The same expressions as IFUM_GLOW_PEAK and IFUM_DARK_CURRENT: the default seed's values are theirs.
    glow_peak = night.ifum_glow_du_per_hour * gain / 3600.0
    dark_current = night.ifum_dark_du_per_hour * gain / 3600.0
    glow = np.exp(-np.sqrt(r * r + c * c)) * np.float32(glow_peak)
    # Computed from the lower left and mirrored: at (0, 0) the default seed's array is unchanged.
    corner = night.glow_corner
    glow = glow[::-1 if corner[0] else 1, ::-1 if corner[1] else 1]

    return IfumModel(
        preset=preset, seed=seed, gain=gain, read_noise_e=night.ifum_read_noise_e,
        bias_level=night.ifum_bias_level, pattern=pattern, row_offsets=row_offsets,
        low_rows=low_rows, hot_rows=hot_rows, hot_cols=hot_cols, hot_values=hot_values,
        bad_columns=bad_columns, dark_current=dark_current,
        glow=np.ascontiguousarray(glow, dtype=np.float32), glow_corner=corner,
    )


def _donut_attenuation(rng, shape, n, scale) -> tuple[np.ndarray, tuple[Donut, ...]]:
    rows, cols = shape
    factor = np.ones(shape, dtype=np.float32)
    donuts = []
    edge = max(0.5, 1.5 / scale)
    for _ in range(n):
        r_outer = rng.uniform(12.0, 30.0) / scale
        r_inner = r_outer * rng.uniform(0.4, 0.6)
        depth = rng.uniform(0.05, 0.20)
        row = rng.uniform(r_outer, rows - r_outer)
        col = rng.uniform(r_outer, cols - r_outer)
        donuts.append(Donut(float(row), float(col), float(r_inner), float(r_outer), float(depth)))
        half = int(np.ceil(r_outer + 4 * edge))
        r0, r1 = max(0, int(row) - half), min(rows, int(row) + half + 1)
        c0, c1 = max(0, int(col) - half), min(cols, int(col) + half + 1)
        yy, xx = np.ogrid[r0:r1, c0:c1]
        radius = np.hypot(yy + 0.5 - row, xx + 0.5 - col)
        outer = 1.0 / (1.0 + np.exp((radius - r_outer) / edge))
        inner = 1.0 / (1.0 + np.exp((r_inner - radius) / edge))
        ring = outer * (inner + 0.25 * (1.0 - inner))
        factor[r0:r1, c0:c1] *= (1.0 - depth * ring).astype(np.float32)
    return factor, tuple(donuts)


def flat_model(camera: str, detector: str, preset: str | Preset = "full",
               seed: int = DEFAULT_SEED) -> FlatModel:
    """Build the true model of an IMACS detector (``'ift'``/``'iff'``, ``'c2'``/``'c3'``).

    Examples
    --------
    >>> model = flat_model("iff", "c3", "small", seed=1)
    >>> model.sensitivity.shape, len(model.donuts), bool(model.sensitivity.min() < 0.6)
    ((256, 512), 30, True)
    """
    key = (camera, detector)
    if key not in _IMACS_DETECTORS:
        raise ValueError(f"no IMACS flats for camera {camera!r}, detector {detector!r}; "
                         f"known: {sorted(_IMACS_DETECTORS)}")
    preset = as_preset(preset)
    seed = check_seed(seed)
    gain, read_noise, bias_level, lamp_level = _IMACS_DETECTORS[key]
    (cx, cy), fall_off, n_donuts, n_dead, bad_segment, prnu = _FLAT_FEATURES[key]
    night = parameters(seed)
    if seed != DEFAULT_SEED:  # the default seed keeps the real detectors' values exactly
        gain = round(gain * night.imacs_gain_factor, 3)
        read_noise = round(read_noise * night.imacs_noise_factor, 2)
        bias_level = round(bias_level + night.imacs_bias_shift, 1)
        lamp_level = lamp_level * night.lamp_scale
        cx, cy = cx + night.vignetting_dx, cy + night.vignetting_dy
        fall_off = fall_off * night.vignetting_strength
    geometry = preset.imacs
    rows, cols = geometry.data_cols, geometry.data_rows  # data.T orientation
    rng = rng_for(seed, 0, f"{camera}-{detector}")

    y = (np.arange(rows, dtype=np.float32)[:, None] + 0.5 - cy * rows) / cols
    x = (np.arange(cols, dtype=np.float32)[None, :] + 0.5 - cx * cols) / cols
    vignetting = 1.0 - np.float32(fall_off) * (x * x + y * y)
    vignetting /= np.median(vignetting)

    sensitivity = vignetting * (1.0 + rng.normal(0.0, prnu, (rows, cols))).astype(np.float32)
    dust, donuts = _donut_attenuation(rng, (rows, cols), n_donuts, preset.scale)
    sensitivity *= dust

    n_dead = max(4, round(n_dead * preset.area_fraction)) if n_dead else 0
    dead_rows = rng.integers(0, rows, n_dead)
    dead_cols = rng.integers(0, cols, n_dead)
    sensitivity[dead_rows, dead_cols] *= rng.uniform(0.0, 0.45, n_dead).astype(np.float32)
    segment = None
    if bad_segment:
        row = int(rng.integers(rows // 8, rows - rows // 8))
        first = int(rng.integers(0, cols // 3))
        stop = int(first + rng.integers(cols // 4, cols // 2))
        sensitivity[row, first:stop] *= np.float32(0.4)
        segment = (row, first, stop)
    sensitivity /= np.median(sensitivity)

    return FlatModel(
        camera=camera, detector=detector, preset=preset, seed=seed, gain=gain,
        read_noise_e=read_noise, bias_level=bias_level, lamp_level=lamp_level,
        vignetting=vignetting.astype(np.float32), sensitivity=sensitivity.astype(np.float32),
        donuts=donuts, dead_rows=dead_rows, dead_cols=dead_cols, bad_segment=segment,
    )


def detector_model(camera: str, detector: str, preset: str | Preset = "full",
                   seed: int = DEFAULT_SEED) -> IfumModel | FlatModel:
    """The true model of any detector of the dataset (IFU-M c1 or an IMACS one)."""
    if (camera, detector) == ("ifum", "c1"):
        return ifum_model(preset, seed)
    return flat_model(camera, detector, preset, seed)


def lamp_factor(camera: str, number: int, seed: int = DEFAULT_SEED) -> float:
    """Lamp drift of exposure ``number`` of ``camera``: a factor near 1 (a few %).

    Both detectors of one exposure see the same lamp.

    Examples
    --------
    >>> 0.94 <= lamp_factor("ift", 14) <= 1.06
    True
    """
    rng = rng_for(check_seed(seed), 2, f"{camera}{number:04d}")
    return float(np.clip(1.0 + 0.025 * rng.standard_normal(), 0.94, 1.06))
