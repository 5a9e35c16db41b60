"""Reference answers the checks compare with, computed once per dataset.

Private to :mod:`course_utils.checks`.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from .. import solutions

# Frames each exercise is about (as in the notebooks).
BIAS_FIRST = "calibration_frames/bias/b0860c1.fits"
BIAS_SECOND = "calibration_frames/bias/b0861c1.fits"
BIAS_FRAMES = [f"calibration_frames/bias/b0{i}c1.fits" for i in range(860, 900)]
DARK_FRAMES = [f"calibration_frames/dark/b{i}c1.fits" for i in range(1212, 1217)]
FLAT_FRAMES = [f"calibration_frames/flat/ift/ift{i:04d}c2.fits" for i in range(14, 20)]


# --- Cached references (computed once per dataset) ----------------------------


@functools.lru_cache(maxsize=4)
def bias_pair(root: str) -> tuple[np.ndarray, np.ndarray]:
    return (
        fits.getdata(Path(root, BIAS_FIRST)),
        fits.getdata(Path(root, BIAS_SECOND)),
    )


@functools.lru_cache(maxsize=4)
def statistics(root: str) -> solutions.BiasStatistics:
    return solutions.bias_statistics(bias_pair(root)[0])


@functools.lru_cache(maxsize=4)
def read_noise(root: str) -> float:
    return solutions.read_noise(*bias_pair(root))


@functools.lru_cache(maxsize=2)
def flat_reference(root: str) -> dict[str, Any]:
    paths = [Path(root, p) for p in FLAT_FRAMES]
    header = fits.getheader(paths[0])
    raws = [fits.getdata(p) for p in paths]
    datasec, biassec = header["DATASEC"], header["BIASSEC"]
    rows, cols = solutions.fits_section(datasec)
    levels = [solutions.overscan_level(raw, biassec) for raw in raws]
    signal = float(np.median([np.median(raw[rows, cols] - lvl) for raw, lvl in zip(raws, levels)]))
    return {
        "master": solutions.master_flat(raws, datasec, biassec),
        "raw_shape": raws[0].shape,
        "n_frames": len(raws),
        "bias_level": float(np.median(levels)),
        "signal": signal,
    }


@functools.lru_cache(maxsize=2)
def dark_reference(root: str) -> dict[str, Any]:
    bias = solutions.master_bias([Path(root, p) for p in BIAS_FRAMES])
    darks = np.stack([fits.getdata(Path(root, p)) for p in DARK_FRAMES])
    median = solutions.master_dark(darks, bias, "median")
    # The glowing corner: where the reference dark signal is far above typical.
    typical = float(np.median(median))
    glow = median > typical + 0.5 * (np.percentile(median, 99.9) - typical)
    return {
        "bias": bias,
        "bias_level": float(np.median(bias)),
        "bias_hot": bias > np.median(bias) + 25,
        "median": median,
        "mean": solutions.master_dark(darks, bias, "mean"),
        "glow": glow,
        "n_frames": len(darks),
    }


