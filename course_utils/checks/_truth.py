"""The true detector behind a synthetic dataset, for checks that compare with it.

Private to :mod:`course_utils.checks`. The synthetic dataset's marker
(``course_dataset.json``) records its preset and seed, from which
:mod:`course_utils.data.models` rebuilds the model the frames were drawn
from: the true read noise, dark signal and flat. The real Magellan frames
have no truth: every function here then returns None and the checks compare
with the reference solutions alone.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..data import models, store, variation
from ._copied import DATASETS_AT_ONCE


@functools.lru_cache(maxsize=DATASETS_AT_ONCE)
def _model_info(root: str) -> dict[str, Any] | None:
    try:
        info = store.read_marker(root)
    except ValueError:
        return None
    if (
        not info
        or info.get("source") != "synthetic"
        or info.get("generator_version") != models.GENERATOR_VERSION
        or info.get("preset") not in models.PRESETS
    ):
        return None
    return {"preset": info["preset"], "seed": int(info["seed"])}


@functools.lru_cache(maxsize=DATASETS_AT_ONCE)
def ifum(root: str) -> models.IfumModel | None:
    """The IFU-M c1 model (biases and darks) of the dataset in ``root``, or None."""
    info = _model_info(root)
    return None if info is None else models.ifum_model(info["preset"], info["seed"])


def glow_corner(root: str) -> tuple[int, int] | None:
    """Where the dataset in ``root`` glows (a corner of `course_utils.solutions.CORNERS`), or None."""
    model = ifum(root)
    return None if model is None else model.glow_corner


@functools.lru_cache(maxsize=DATASETS_AT_ONCE)
def dark_du(root: str, exptime: float) -> np.ndarray | None:
    """The true dark signal (DU) of the data section after ``exptime`` seconds, or None."""
    model = ifum(root)
    if model is None:
        return None
    return model.dark_electrons(exptime) / np.float32(model.gain)


@functools.lru_cache(maxsize=DATASETS_AT_ONCE)
def flat_sensitivity(root: str) -> np.ndarray | None:
    """The true normalized response of the ift c2 flats (notebook orientation), or None."""
    info = _model_info(root)
    if info is None:
        return None
    return models.flat_model("ift", "c2", info["preset"], info["seed"]).sensitivity


#: The IFU-M bias level of the real frames (and of the default synthetic dataset), DU.
REAL_IFUM_BIAS_LEVEL = models.IFUM_BIAS_LEVEL


def ifum_bias_level(root: str) -> float:
    """The IFU-M bias level (DU) of the dataset in ``root``; the real frames' without a truth."""
    info = _model_info(root)
    return REAL_IFUM_BIAS_LEVEL if info is None else variation.parameters(info["seed"]).ifum_bias_level


def ifum_bias_level_of_seed(seed: int) -> float:
    """The IFU-M bias level (DU) of the synthetic datasets of ``seed``."""
    return variation.parameters(seed).ifum_bias_level
