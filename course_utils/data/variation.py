"""What differs from one student's detector and night to another's: the one table of ranges.

Every student's dataset (:mod:`course_utils.data.students`) is drawn from its
own seed. Besides what every seed changes anyway -- the noise, the places of
hot pixels, bad columns, dust and dead pixels, the star field and the cosmic
rays -- the seed draws the detector's parameters below, each uniformly within
its range (`RANGES`), or, for a row with ``choices`` (the glow's corner),
one of its choices with equal chances. The course's default seed keeps the
values of the real detectors (`DEFAULT`), so the default dataset stays what
the website shows.

The ranges are realistic for these CCDs and keep every notebook's teaching
point true (tested over many seeds in ``tests/test_students_variation.py``):

* the IFU-M bias level stays far below the IMACS ones (the flats need their
  own overscan);
* the glow of a one-hour dark is many times the read noise in its corner
  (whichever of the four it is) and falls below it far away;
* the photon transfer curve's knee (the full well, in DU) lies between the
  50 s and the 64 s exposures, below the digitizer's 65535;
* the flats' vignetting spans tens of per cent.

Examples
--------
>>> from course_utils.data.variation import DEFAULT, parameters
>>> parameters(20230321) == DEFAULT
True
>>> p = parameters(12345)
>>> low, high = RANGES["ifum_gain"].low, RANGES["ifum_gain"].high
>>> low <= p.ifum_gain <= high
True
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, fields

import numpy as np

from .identity import DEFAULT_SEED, check_seed

__all__ = ["Range", "RANGES", "GLOW_CORNERS", "Parameters", "DEFAULT", "parameters", "table"]


@dataclass(frozen=True)
class Range:
    """One varying parameter: its default value, its range, its unit and what it is.

    A row with ``choices`` is a choice, not a number: its values are the
    indices ``0 .. len(choices) - 1`` (``low`` and ``high``), each as likely.

    Examples
    --------
    >>> RANGES["ifum_glow_corner"].text(1), RANGES["ifum_glow_corner"].span
    ('lower right', 'lower left, lower right, upper left or upper right')
    """

    default: float
    low: float
    high: float
    unit: str
    what: str
    choices: tuple[str, ...] = ()

    def draw(self, u: float) -> float:
        """The value of a uniform draw ``u`` in [0, 1): within the range, or a choice's index."""
        if self.choices:
            return min(int(u * len(self.choices)), len(self.choices) - 1)
        return self.low + u * (self.high - self.low)

    def text(self, value: float) -> str:
        """A value as a person reads it: the choice's name, or the number."""
        return self.choices[int(value)] if self.choices else f"{value:.6g}"

    @property
    def span(self) -> str:
        """The range as text: ``low to high``, or the choices."""
        if self.choices:
            return ", ".join(self.choices[:-1]) + " or " + self.choices[-1]
        return f"{self.low:g} to {self.high:g}"


#: The parameters a student's seed draws, in the order they are drawn. Appending a
#: row keeps every earlier student's values; reordering or removing rows changes them
#: (bump GENERATOR_VERSION and SCIENCE_VERSION then).
RANGES: dict[str, Range] = {
    "ifum_bias_level": Range(817.4, 700.0, 950.0, "DU", "IFU-M bias level"),
    "ifum_pattern_scale": Range(1.0, 0.6, 1.6, "x", "IFU-M bias structure (columns, low rows)"),
    "ifum_gain": Range(0.68, 0.56, 0.72, "e-/DU", "IFU-M gain (EGAIN)"),
    "ifum_read_noise_e": Range(2.7, 2.2, 3.6, "e-", "IFU-M read noise (ENOISE)"),
    "ifum_dark_du_per_hour": Range(4.0, 2.0, 8.0, "DU/h", "IFU-M dark current"),
    "ifum_glow_du_per_hour": Range(150.0, 90.0, 260.0, "DU/h", "glow at its corner"),
    "ifum_glow_extent": Range(1.0, 0.7, 1.2, "x", "how far the glow reaches"),
    "ifum_hot_pixels": Range(30.0, 15.0, 60.0, "pixels", "hot pixels (full size)"),
    "ifum_bad_column_low": Range(12.0, 8.0, 20.0, "DU", "the fainter bad column's excess"),
    "ifum_bad_column_high": Range(45.0, 30.0, 80.0, "DU", "the brighter bad column's excess"),
    "ptc_full_well_du": Range(40000.0 / 0.68, 54000.0, 60000.0, "DU", "full well (PTC knee)"),
    "imacs_bias_shift": Range(0.0, -100.0, 150.0, "DU", "IMACS bias levels' shift"),
    "imacs_gain_factor": Range(1.0, 0.9, 1.1, "x", "IMACS gains' factor"),
    "imacs_noise_factor": Range(1.0, 0.85, 1.15, "x", "IMACS read noises' factor"),
    "lamp_scale": Range(1.0, 0.75, 1.25, "x", "dome-lamp levels' factor"),
    "vignetting_dx": Range(0.0, -0.1, 0.03, "field", "vignetting centre shift, columns"),
    "vignetting_dy": Range(0.0, -0.12, 0.0, "field", "vignetting centre shift, rows"),
    "vignetting_strength": Range(1.0, 0.8, 1.2, "x", "vignetting fall-off factor"),
    # Drawn last, so the rows above kept their values when it was added. The corners
    # are named as show_image draws a frame (row 0 at the bottom); see GLOW_CORNERS.
    "ifum_glow_corner": Range(0, 0, 3, "", "the glow's corner (near the amplifier)",
                              choices=("lower left", "lower right", "upper left", "upper right")),
}

#: Where the glow is brightest for each choice of ``ifum_glow_corner``: the
#: (row, column) index of that corner pixel of the data section, 0 or -1 each.
GLOW_CORNERS: tuple[tuple[int, int], ...] = ((0, 0), (0, -1), (-1, 0), (-1, -1))


@dataclass(frozen=True)
class Parameters:
    """One seed's detector parameters (the fields are the rows of `RANGES`)."""

    ifum_bias_level: float
    ifum_pattern_scale: float
    ifum_gain: float
    ifum_read_noise_e: float
    ifum_dark_du_per_hour: float
    ifum_glow_du_per_hour: float
    ifum_glow_extent: float
    ifum_hot_pixels: float
    ifum_bad_column_low: float
    ifum_bad_column_high: float
    ptc_full_well_du: float
    imacs_bias_shift: float
    imacs_gain_factor: float
    imacs_noise_factor: float
    lamp_scale: float
    vignetting_dx: float
    vignetting_dy: float
    vignetting_strength: float
    ifum_glow_corner: int

    @property
    def glow_corner(self) -> tuple[int, int]:
        """The (row, column) index of the glowing corner pixel: ``(0, 0)`` is the lower left."""
        return GLOW_CORNERS[int(self.ifum_glow_corner)]

    @property
    def ptc_full_well_e(self) -> float:
        """The mean full well in electrons."""
        if self == DEFAULT:
            return 40000.0  # exactly the default model's (not 40000/0.68*0.68)
        return self.ptc_full_well_du * self.ifum_gain


assert [f.name for f in fields(Parameters)] == list(RANGES), "Parameters and RANGES must agree"

#: The parameters of the course's default seed: the real detectors' values.
DEFAULT = Parameters(**{name: r.default for name, r in RANGES.items()})

# Values that are reported with this many decimals (what a header or a TA sees).
_ROUND = {"ifum_gain": 3, "ifum_read_noise_e": 2, "ifum_bias_level": 1, "ifum_hot_pixels": 0}


def parameters(seed: int = DEFAULT_SEED) -> Parameters:
    """The detector parameters of ``seed``: `DEFAULT` for the default seed, else drawn.

    Each parameter is uniform within its range (a choice: each choice as
    likely), from a random stream of its own (independent of every frame's
    and feature's stream); gain, read noise and bias level are rounded as a
    header would state them.

    Examples
    --------
    >>> parameters(1) == parameters(1), parameters(1) == parameters(2)
    (True, False)
    """
    seed = check_seed(seed)
    if seed == DEFAULT_SEED:
        return DEFAULT
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(5, zlib.crc32(b"parameters"))))
    draws = rng.uniform(size=len(RANGES))
    values = {}
    for (name, r), u in zip(RANGES.items(), draws):
        value = r.draw(float(u))
        values[name] = round(value, _ROUND[name]) if name in _ROUND else value
    return Parameters(**values)


def table(seed: int | None = None) -> str:
    """The table of ranges as text; with ``seed``, that seed's values too (for a TA).

    Examples
    --------
    >>> print(table().splitlines()[0])
    parameter                  default         range  unit    what
    """
    lines = [f"{'parameter':<26} {'default':>8} {'range':>13}  {'unit':<7} what"
             + ("" if seed is None else "   | this student")]
    chosen = None if seed is None else parameters(seed)
    for name, r in RANGES.items():
        span = f"{r.low:g}-{r.high:g}"
        what = r.what if not r.choices else f"{r.what}: " + ", ".join(
            f"{i} {choice}" for i, choice in enumerate(r.choices))
        line = f"{name:<26} {r.default:>8.6g} {span:>13}  {r.unit:<7} {what}"
        if chosen is not None:
            value = getattr(chosen, name)
            line += f"   | {value:.6g}" + (f" ({r.text(value)})" if r.choices else "")
        lines.append(line)
    return "\n".join(lines)
