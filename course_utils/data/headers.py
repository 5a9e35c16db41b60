"""FITS headers of the synthetic frames, modelled on the real ones.

The IFU-M headers copy the keywords of the real bias frame ``b0860c1.fits``
shown in the course's syllabus; the IMACS headers carry the keywords the
course uses (TELESCOP, INSTRUME, CHIP, FILTER, EXPTYPE, EXPTIME, EGAIN,
ENOISE, BIASSEC, DATASEC, BINNING, ...). Every value is deterministic: the
observing times advance frame by frame from a fixed start (never the current
time), so the same seed always gives byte-identical files.

The IMACS flats say ``EXPTYPE = 'Flat'`` (real IMACS dome flats may say
``'Object'``; the course tells flats by their folder, ``calibration_frames/flat``).

Every synthetic header also says what it is: ``SYNTHETC = T``, the generator
version ``GENVERS``, the seed ``GENSEED``, the preset ``GENPRSET`` and a
COMMENT.

Examples
--------
>>> from course_utils.data.headers import frame_header
>>> from course_utils.data.layout import FRAMES, PRESETS
>>> header = frame_header(FRAMES[0], PRESETS["full"], seed=1, generator_version=1,
...                       egain=0.68, enoise=2.7)
>>> header["FILENAME"], header["EXPTYPE"], header["DATE-OBS"], header["SYNTHETC"]
('b0860c1', 'Bias', '2023-03-21T10:50:38', True)
"""

from __future__ import annotations

from datetime import datetime, timedelta

from astropy.io import fits

from .layout import CAMERAS, FrameSpec, Preset

__all__ = ["frame_header", "start_time", "mjd", "SEQUENCE_STARTS"]

_MJD_ZERO = datetime(1858, 11, 17)
_SITE_LONGITUDE = -70.69242  # degrees, Las Campanas Observatory
_SITE_LATITUDE = -29.01423
_LOCAL_OFFSET = timedelta(hours=-3)  # local time in March (as in the real header)

#: Start of each sequence (UT) and the time from one exposure's start to the
#: next one's, in seconds. The bias sequence starts when the real b0860c1 did.
SEQUENCE_STARTS: dict[tuple[str, str], tuple[datetime, float]] = {
    ("ifum", "bias"): (datetime(2023, 3, 21, 10, 50, 38), 47.0),
    ("ifum", "dark"): (datetime(2023, 3, 21, 18, 4, 12), 3652.0),
    ("ift", "flat"): (datetime(2023, 3, 20, 23, 2, 17), 41.0),
    ("iff", "flat"): (datetime(2023, 3, 20, 22, 31, 5), 38.0),
    ("ift", "science"): (datetime(2023, 3, 21, 1, 12, 40), 331.0),  # see data/science.py
    # the synthetic-only photon transfer sequence (course_utils.data.ptc)
    ("ifum", "ptc"): (datetime(2023, 3, 21, 16, 12, 40), 95.0),
}


def start_time(frame: FrameSpec) -> datetime:
    """UT start of ``frame``'s exposure (whole seconds)."""
    start, cadence = SEQUENCE_STARTS[(frame.camera, frame.frame_type)]
    return start + timedelta(seconds=round(frame.index * cadence))


def mjd(time: datetime) -> float:
    """Modified Julian day of a UT time."""
    return (time - _MJD_ZERO).total_seconds() / 86400.0


def _sidereal_seconds(time: datetime) -> float:
    """Local sidereal time at Las Campanas, in seconds (good to a second)."""
    days = mjd(time) + 2400000.5 - 2451545.0
    gmst_hours = 18.697374558 + 24.06570982441908 * days
    return ((gmst_hours + _SITE_LONGITUDE / 15.0) % 24.0) * 3600.0


def _hms(seconds: float) -> str:
    seconds = int(seconds) % 86400
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _epoch(time: datetime) -> float:
    year_start = datetime(time.year, 1, 1)
    year_length = (datetime(time.year + 1, 1, 1) - year_start).total_seconds()
    return round(time.year + (time - year_start).total_seconds() / year_length, 5)


def _time_cards(frame: FrameSpec) -> list[tuple]:
    start = start_time(frame)
    end = start + timedelta(seconds=frame.exptime + 1.0)
    local = start + _LOCAL_OFFSET
    night = (local - timedelta(hours=12)).strftime("%d%b%Y")
    ut_seconds = start.hour * 3600 + start.minute * 60 + start.second
    end_seconds = end.hour * 3600 + end.minute * 60 + end.second
    local_seconds = local.hour * 3600 + local.minute * 60 + local.second
    sidereal = _sidereal_seconds(start)
    return [
        ("DATE-OBS", start.strftime("%Y-%m-%dT%H:%M:%S"), "(start)"),
        ("UT-DATE", start.strftime("%Y-%m-%d"), "UT date (start)"),
        ("UT-TIME", start.strftime("%H:%M:%S"), f"UT time (start) {ut_seconds} seconds"),
        ("UT-END", end.strftime("%H:%M:%S"), f"UT time (end) {end_seconds} seconds"),
        ("LC-TIME", local.strftime("%H:%M:%S"), f"local time (start) {local_seconds} seconds"),
        ("NIGHT", night, "local night"),
        ("MJD", round(mjd(start), 5), "modified Julian day"),
        ("EPOCH", _epoch(start), "epoch (start)"),
        ("ST", round(sidereal, 1), f"sidereal time: {_hms(sidereal)} (start)"),
    ]


def _site_cards() -> list[tuple]:
    return [
        ("BUNIT", "DU/PIXEL"),
        ("ORIGIN", "LCO/OCIW"),
        ("OBSERVER", "synthetic", "observer name"),
    ]


def _site_location_cards() -> list[tuple]:
    return [
        ("SITENAME", "LCO"),
        ("SITEALT", 2405, "meters"),
        ("SITELAT", _SITE_LATITUDE),
        ("SITELONG", _SITE_LONGITUDE),
        ("TIMEZONE", 4),
    ]


def _generator_cards(frame: FrameSpec, preset: Preset, seed: int, version: int) -> list[tuple]:
    return [
        ("SYNTHETC", True, "synthetic frame, not a real observation"),
        ("GENVERS", version, "course_utils synthetic generator version"),
        ("GENSEED", seed, "seed of the synthetic generator"),
        ("GENPRSET", preset.name, "size preset of the synthetic generator"),
        ("COMMENT", "This is a SYNTHETIC frame made by course_utils.data.synthetic"),
        ("COMMENT", f"(generator {version}, seed {seed}, preset '{preset.name}'). It imitates"),
        ("COMMENT", f"a real {CAMERAS[frame.camera].description} frame;"),
        ("COMMENT", "it is not a real observation."),
    ]


def _ifum_cards(frame: FrameSpec, preset: Preset, egain: float, enoise: float) -> list[tuple]:
    geometry = preset.ifum
    is_dark = frame.frame_type == "dark"
    temp_ccd = round(-109.9 + 0.1 * ((frame.index * 2) % 3 - 1), 1)
    return [
        ("INSTRUME", "IFUM", "instrument name"),
        ("SCALE", 0.25, "arcsec/pixel"),
        ("EGAIN", egain, "electrons/DU"),
        ("ENOISE", enoise, "electrons/read"),
        ("NOPAMPS", 4, "# of op-amps"),
        ("OPAMP", 1, "this op-amp"),
        ("CHOFFX", 256.0, "x-offset [arcsec]"),
        ("CHOFFY", 257.0, "y-offset [arcsec]"),
        ("DISPAXIS", 1, "disperser axis"),
        ("RA", " 17:57:11.9", "right ascension"),
        ("RA-D", 269.2997917, "degrees"),
        ("DEC", "-28:59:59.0", "declination"),
        ("DEC-D", -28.9997222, "degrees"),
        ("EQUINOX", 2000.0, "of above coordinates"),
        ("AIRMASS", 1.0, "airmass (start)"),
        ("ROTANGLE", 273.69, "rotator offset angle"),
        ("TEL-AZIM", 90.0, "telescope azimuth"),
        ("TEL-ELEV", 90.0, "telescope elevation"),
        ("T-DOME", 13.9, "dome temperature [C]"),
        ("T-CELL", 12.4, "primary cell temperature [C]"),
        ("T-TRUSS", 8.7, "telescope truss temperature [C]"),
        ("WX-TEMP", 13.6, "weather station temperature [C]"),
        ("FILENAME", frame.name),
        ("OBJECT", "1x2 dark" if is_dark else "1x2 bias", "object name"),
        ("EXPTYPE", "Dark" if is_dark else "Bias", "exposure type"),
        ("EXPTIME", float(frame.exptime), "exposure time"),
        ("NLOOPS", 5 if is_dark else 250, "# of loops per sequence"),
        ("LOOP", frame.index + (1 if is_dark else 7), "# within this sequence"),
        ("BINNING", "1x2", "binning"),
        ("SPEED", "Slow", "readout speed"),
        ("NOVERSCN", geometry.overscan_cols, "overscan pixels"),
        ("NBIASLNS", geometry.bias_rows, "bias lines"),
        ("BIASSEC", geometry.biassec, "NOAO: bias section"),
        ("DATASEC", geometry.datasec, "NOAO: data section"),
        ("TRIMSEC", geometry.datasec, "NOAO: trim section"),
        ("SUBRASTR", "none", "full frame"),
        ("TEMPCCD", temp_ccd, "CCD temperature [C]"),
        ("SHOE", "B"),
        ("IFU", "LSB"),
        ("OCCULTOR", "Science Gap"),
        ("SLIDE", "LoRes"),
        ("FILTER", "BK7"),
        ("SLITNAME", "80"),
        ("LAMPS", "Off", "lamp combo"),
        ("LEDS", "Off", "LED combo"),
        ("DCU-LMPS", "Off", "DCU lamps"),
        ("FITSVERS", "0.070", "FITS header version"),
    ]


def _imacs_cards(frame: FrameSpec, preset: Preset, egain: float, enoise: float) -> list[tuple]:
    geometry = preset.imacs
    camera = CAMERAS[frame.camera]
    temp_ccd = round(-115.0 + 0.1 * ((frame.index * 2) % 3 - 1), 1)
    return [
        ("INSTRUME", camera.instrument, "instrument name"),
        ("SCALE", 0.111 if frame.camera == "ift" else 0.2, "arcsec/pixel"),
        ("EGAIN", egain, "electrons/DU"),
        ("ENOISE", enoise, "electrons/read"),
        ("CHIP", frame.chip, "chip number"),
        ("AIRMASS", 1.0, "airmass (start)"),
        ("TEL-AZIM", 90.0, "telescope azimuth"),
        ("TEL-ELEV", 15.0, "telescope elevation (dome screen)"),
        ("FILENAME", frame.name),
        ("OBJECT", "dome flat i", "object name"),
        ("EXPTYPE", "Flat", "exposure type"),
        ("EXPTIME", float(frame.exptime), "exposure time"),
        ("BINNING", "1x1", "binning"),
        ("SPEED", "Fast", "readout speed"),
        ("NOVERSCN", geometry.overscan_cols, "overscan pixels"),
        ("NBIASLNS", geometry.bias_rows, "bias lines"),
        ("BIASSEC", geometry.biassec, "NOAO: bias section"),
        ("DATASEC", geometry.datasec, "NOAO: data section"),
        ("TRIMSEC", geometry.datasec, "NOAO: trim section"),
        ("SUBRASTR", "none", "full frame"),
        ("TEMPCCD", temp_ccd, "CCD temperature [C]"),
        ("FILTER", "Sloan_i", "filter"),
        ("DISPERSR", "Mirror", "disperser"),
        ("SLITMASK", "none", "slit mask"),
        ("LAMPS", "Quartz", "dome screen lamps"),
    ]


def frame_header(
    frame: FrameSpec,
    preset: Preset,
    seed: int,
    generator_version: int,
    egain: float,
    enoise: float,
) -> fits.Header:
    """Return the FITS header of a synthetic ``frame``.

    The header holds the mandatory cards for a BITPIX=16 image stored with
    BZERO=32768 (read as uint16), in the order of the real IFU-M header, the
    camera's own keywords, and the generator cards.

    Parameters
    ----------
    frame : FrameSpec
        The file the header is for.
    preset : Preset
        The size preset (sets NAXIS1/NAXIS2 and the section keywords).
    seed, generator_version : int
        Recorded as GENSEED and GENVERS.
    egain, enoise : float
        Gain (electrons/DU) and read noise (electrons), as EGAIN and ENOISE.

    Returns
    -------
    astropy.io.fits.Header

    Examples
    --------
    >>> from course_utils.data.layout import FRAMES, PRESETS
    >>> flat = [f for f in FRAMES if f.camera == "ift"][0]
    >>> h = frame_header(flat, PRESETS["small"], 7, 1, egain=0.95, enoise=4.3)
    >>> h["NAXIS1"], h["NAXIS2"], h["BIASSEC"], h["CHIP"], h["GENPRSET"]
    (272, 512, '[257:272,1:512]', 2, 'small')
    """
    nrows, ncols = preset.geometry(frame.camera).shape
    camera = CAMERAS[frame.camera]
    cards: list[tuple] = [
        ("SIMPLE", True, "conforms to FITS standard"),
        ("BITPIX", 16, "array data type"),
        ("NAXIS", 2, "number of array dimensions"),
        ("NAXIS1", ncols),
        ("NAXIS2", nrows),
        ("BSCALE", 1.0, "real=bzero+bscale*value"),
        ("BZERO", 32768.0),
        *_site_cards(),
        ("TELESCOP", camera.telescope, "telescope"),
        *_site_location_cards(),
        *_time_cards(frame),
    ]
    if frame.camera == "ifum":
        cards += _ifum_cards(frame, preset, egain, enoise)
    else:
        cards += _imacs_cards(frame, preset, egain, enoise)
    cards += _generator_cards(frame, preset, seed, generator_version)
    return fits.Header(cards)
