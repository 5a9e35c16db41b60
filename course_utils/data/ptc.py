"""The photon transfer sequence of the synthetic dataset (notebook 6): model and frames.

The real Magellan set has no photon-transfer frames, so only the synthetic
dataset holds them: 26 frames of the IFU-M c1 detector (the camera of the
bias frames), read out as a sub-raster of the middle of the detector (header
``SUBRASTR``; 256 x 512 data pixels and the 128 overscan columns at full
size), lit by the spectrograph's LEDs for the exposure times of
:data:`course_utils.data.layout.PTC_EXPTIMES`, two frames each -- the first
pair unlit (0 s), the last ones beyond full well.

The physics, per pixel, in this order:

* the LEDs deliver ``led_rate`` DU per second at unit sensitivity, times a
  small per-exposure flicker (0.2 % rms): the two frames of a pair differ a
  little in level, as real ones do;
* the pixel's sensitivity varies by 1 % rms (pixel response non-uniformity,
  PRNU), the same in every frame: it adds a variance ``(0.01 S)^2`` to a
  single frame, which the difference of a pair cancels;
* the number of photo-electrons is Poisson (variance = mean, in electrons);
* a pixel holds at most its full well (40 000 e- on average for the default
  seed -- each student's seed draws its own, see :mod:`course_utils.data.variation`
  -- 2 % rms from pixel to pixel): beyond it the signal stops growing and its variance
  collapses, so the photon transfer curve turns over;
* electrons become DU through the gain (EGAIN = 0.68 e-/DU), on top of the
  detector's bias level and fixed bias pattern (the same as in the bias
  frames), plus Gaussian read noise (ENOISE = 2.7 e-) everywhere, overscan
  included; :mod:`course_utils.data.synthetic` then adds the read-out cosmic
  rays and rounds to uint16.

Dark current (4 DU per hour) is negligible in a minute and left out.

Examples
--------
>>> from course_utils.data.ptc import ptc_model
>>> model = ptc_model("small")
>>> model.gain, model.read_noise_e, model.sensitivity.shape
(0.68, 2.7, (64, 128))
>>> round(model.expected_signal(10.0))   # DU above bias after 10 s at unit sensitivity
10000
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from astropy.io import fits

from .headers import frame_header
from .identity import check_seed
from .variation import parameters
from .layout import PTC_ORIGIN, FrameSpec, Geometry, Preset, as_preset, ptc_geometry
from .models import (
    COSMICS_PER_READ,
    COSMICS_PER_SECOND,
    DEFAULT_SEED,
    LEVEL_JITTER,
    IfumModel,
    ifum_model,
    rng_for,
)

__all__ = [
    "PTC_LED_RATE",
    "PTC_PRNU",
    "PTC_FULL_WELL",
    "PtcModel",
    "ptc_model",
    "ptc_image",
    "ptc_header",
]

PTC_LED_RATE = 1000.0  # DU per second above bias, at unit sensitivity
PTC_LED_FLICKER = 0.002  # relative rms of the LED level from one exposure to the next
PTC_PRNU = 0.01  # relative rms of the pixel sensitivity
PTC_FULL_WELL = 40000.0  # electrons, mean over the pixels
PTC_FULL_WELL_SPREAD = 0.02  # relative rms of the full well from pixel to pixel


@dataclass(frozen=True, eq=False)
class PtcModel:
    """The true model of the photon-transfer sub-raster of IFU-M c1.

    Arrays cover the sub-raster's data section ``data[:, :geometry.data_cols]``.

    Attributes
    ----------
    preset : Preset
    seed : int
    gain, read_noise_e : float
        EGAIN (electrons/DU) and ENOISE (electrons), as for the bias frames.
    bias_level : float
        Mean bias level (DU), also the level of the overscan columns.
    led_rate : float
        DU per second above bias at unit sensitivity.
    sensitivity : ndarray
        Pixel response (mean 1, `PTC_PRNU` rms), float32.
    full_well : ndarray
        Each pixel's full well in electrons, float32.
    pattern : ndarray
        The fixed bias pattern of these pixels (DU, relative to `bias_level`),
        cut from the IFU-M model: hot pixels and column structure included.
    geometry : Geometry
        Layout of the sub-raster frames.
    origin : (int, int)
        Row and column of the first data pixel on the full detector.
    full_well_e : float
        The mean full well in electrons (`PTC_FULL_WELL` for the default seed;
        each student's seed draws its own, see `course_utils.data.variation`).
    """

    preset: Preset
    seed: int
    gain: float
    read_noise_e: float
    bias_level: float
    led_rate: float
    sensitivity: np.ndarray = field(repr=False)
    full_well: np.ndarray = field(repr=False)
    pattern: np.ndarray = field(repr=False)
    geometry: Geometry = field(repr=False)
    origin: tuple[int, int] = (0, 0)
    full_well_e: float = PTC_FULL_WELL

    @property
    def read_noise_du(self) -> float:
        """Read noise in DU: ENOISE / EGAIN."""
        return self.read_noise_e / self.gain

    @property
    def full_well_du(self) -> float:
        """The mean full well in DU above bias."""
        return self.full_well_e / self.gain

    def expected_signal(self, exptime: float) -> float:
        """Signal in DU above bias after ``exptime`` s at unit sensitivity, ignoring saturation."""
        return self.led_rate * float(exptime)

    def cosmic_events(self, exptime: float) -> float:
        """Mean number of cosmic-ray events in one sub-raster frame of ``exptime`` s."""
        full = self.preset.ifum
        area = self.geometry.data_rows * self.geometry.data_cols / (full.data_rows * full.data_cols)
        return (COSMICS_PER_READ + COSMICS_PER_SECOND * exptime) * self.preset.area_fraction * area

    @property
    def subraster(self) -> str:
        """The SUBRASTR header value: the sub-raster on the full detector, FITS ``[x1:x2,y1:y2]``."""
        row, col = self.origin
        return (f"[{col + 1}:{col + self.geometry.data_cols},"
                f"{row + 1}:{row + self.geometry.data_rows}]")


def ptc_model(preset: str | Preset = "full", seed: int = DEFAULT_SEED, *,
              ifum: IfumModel | None = None) -> PtcModel:
    """Build the true model of the photon-transfer sub-raster for ``preset`` and ``seed``.

    Parameters
    ----------
    preset : {'full', 'small'} or Preset
    seed : int
    ifum : IfumModel, optional
        The IFU-M model of the same preset and seed (its bias pattern is cut
        out), to avoid rebuilding it.

    Examples
    --------
    >>> model = ptc_model("small")
    >>> round(float(model.sensitivity.std()), 3), round(float(model.full_well.mean()), -2)
    (0.01, 40000.0)
    >>> other = ptc_model("small", seed=1)   # another seed: its own full well and gain
    >>> round(float(other.full_well.mean()) / other.full_well_e, 2)
    1.0
    """
    preset = as_preset(preset)
    seed = check_seed(seed)
    if ifum is None or ifum.preset != preset or ifum.seed != seed:
        ifum = ifum_model(preset, seed)
    geometry = ptc_geometry(preset)
    rows, cols = geometry.data_rows, geometry.data_cols
    row0, col0 = (value // preset.scale for value in PTC_ORIGIN)
    rng = rng_for(seed, 0, "ifum-c1-ptc")
    full_well_e = parameters(seed).ptc_full_well_e
    sensitivity = 1.0 + rng.normal(0.0, PTC_PRNU, (rows, cols))
    full_well = full_well_e * (1.0 + rng.normal(0.0, PTC_FULL_WELL_SPREAD, (rows, cols)))
    return PtcModel(
        preset=preset, seed=seed, gain=ifum.gain, read_noise_e=ifum.read_noise_e,
        bias_level=ifum.bias_level, led_rate=PTC_LED_RATE,
        sensitivity=sensitivity.astype(np.float32), full_well=full_well.astype(np.float32),
        pattern=ifum.pattern[row0:row0 + rows, col0:col0 + cols].copy(),
        geometry=geometry, origin=(row0, col0), full_well_e=full_well_e,
    )


def ptc_image(model: PtcModel, rng: np.random.Generator, exptime: float) -> np.ndarray:
    """One photon-transfer frame in DU (float32, before cosmic rays and digitizing).

    Returns the whole sub-raster: data columns, then overscan columns.

    Examples
    --------
    >>> import numpy as np
    >>> model = ptc_model("small")
    >>> image = ptc_image(model, np.random.default_rng(0), 5.0)
    >>> data, overscan = image[:, :128], image[:, 128:]
    >>> round(float(np.median(data) - np.median(overscan)), -2)
    5000.0
    """
    if not exptime >= 0:
        raise ValueError(f"exptime must be >= 0 seconds, got {exptime!r}")
    geometry = model.geometry
    level = model.bias_level + LEVEL_JITTER * rng.standard_normal()
    frame = rng.standard_normal(geometry.shape, dtype=np.float32)
    frame *= np.float32(model.read_noise_du)
    frame += np.float32(level)
    data = frame[:, :geometry.data_cols]
    data += model.pattern
    if exptime > 0:
        flicker = 1.0 + PTC_LED_FLICKER * rng.standard_normal()
        mean_electrons = model.sensitivity * np.float32(
            model.expected_signal(exptime) * flicker * model.gain)
        electrons = rng.poisson(mean_electrons).astype(np.float32)
        np.minimum(electrons, model.full_well, out=electrons)  # the well is full
        data += electrons * np.float32(1.0 / model.gain)
    return frame


def ptc_header(frame: FrameSpec, model: PtcModel, generator_version: int) -> fits.Header:
    """The FITS header of a photon-transfer frame: an IFU-M header for a sub-raster.

    Examples
    --------
    >>> from course_utils.data.layout import PTC_FRAMES
    >>> header = ptc_header(PTC_FRAMES[4], ptc_model("small"), 1)
    >>> header["EXPTYPE"], header["EXPTIME"], header["LEDS"], header["SUBRASTR"]
    ('Flat', 0.6, 'On', '[193:320,97:160]')
    >>> header["NAXIS1"], header["NAXIS2"], header["BIASSEC"]
    (160, 64, '[129:160,1:64]')
    """
    geometry = model.geometry
    header = frame_header(frame, model.preset, model.seed, generator_version,
                          egain=model.gain, enoise=model.read_noise_e)
    lit = frame.exptime > 0
    nrows, ncols = geometry.shape
    header["NAXIS1"], header["NAXIS2"] = ncols, nrows
    updates = {
        "OBJECT": "LED flat PTC" if lit else "LED flat PTC (dark)",
        "EXPTYPE": "Flat" if lit else "Bias",
        "NLOOPS": 2,
        "LOOP": frame.index % 2 + 1,
        "NOVERSCN": geometry.overscan_cols,
        "NBIASLNS": geometry.bias_rows,
        "BIASSEC": geometry.biassec,
        "DATASEC": geometry.datasec,
        "TRIMSEC": geometry.datasec,
        "SUBRASTR": model.subraster,
        "LEDS": "On" if lit else "Off",
    }
    for key, value in updates.items():
        header[key] = value
    header.set("SUBRASTR", model.subraster, "sub-raster [x1:x2,y1:y2] on the detector")
    header.add_comment("Photon transfer sequence: LED flats in pairs (synthetic only).")
    return header
