"""What a dataset *is*: the one place that builds and describes a dataset's identity.

A dataset's identity is a small dict that its marker (``course_dataset.json``)
records and that :func:`course_utils.data.dataset_dir` compares with what it
is asked for:

* the synthetic dataset: ``source``, ``preset``, ``seed`` and
  ``generator_version`` (:func:`synthetic`);
* the synthetic science frames of notebook 5: the same fields, with
  ``source`` ``'synthetic-science'`` (:func:`science`);
* the real Magellan frames: ``source`` and, from the manifest, the
  ``repository`` and ``commit`` they were published at (:func:`magellan`).

Examples
--------
>>> from course_utils.data import identity
>>> identity.describe(identity.synthetic("full"))
"the synthetic course dataset (preset 'full', seed 20230321, generator 1)"
>>> identity.describe(identity.magellan({"source": {"repository": "owner/repo", "commit": "a93cd3ba348d"}}))
'the real Magellan calibration frames (owner/repo at a93cd3b)'
"""

from __future__ import annotations

import numbers

from .layout import Preset, as_preset

__all__ = ["GENERATOR_VERSION", "SCIENCE_VERSION", "DEFAULT_SEED", "check_seed", "synthetic", "science",
           "magellan", "describe"]

#: Version of the synthetic generator's model. Bump it whenever any output
#: byte changes: datasets made by another version are regenerated, never reused.
GENERATOR_VERSION = 1

#: Version of the science frames' model (:mod:`course_utils.data.science`); bump
#: it whenever an output byte of the science folder changes.
SCIENCE_VERSION = 1

#: The seed of the course dataset (the date of the real bias frames).
DEFAULT_SEED = 20230321

def check_seed(seed) -> int:
    """``seed`` as an int, or ValueError if it is not a non-negative integer.

    Examples
    --------
    >>> check_seed(7)
    7
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def synthetic(preset: str | Preset = "full", seed: int = DEFAULT_SEED) -> dict:
    """The identity of the synthetic dataset of ``preset`` and ``seed``.

    Raises
    ------
    ValueError
        For an unknown preset or a bad seed.

    Examples
    --------
    >>> synthetic("small", 7)["seed"]
    7
    """
    return {"source": "synthetic", "preset": as_preset(preset).name, "seed": check_seed(seed),
            "generator_version": GENERATOR_VERSION}


def science(preset: str | Preset = "full", seed: int = DEFAULT_SEED) -> dict:
    """The identity of the folder of synthetic science frames of ``preset`` and ``seed``.

    Examples
    --------
    >>> science("small", 7)["source"]
    'synthetic-science'
    """
    return {**synthetic(preset, seed), "source": "synthetic-science", "generator_version": SCIENCE_VERSION}


def magellan(manifest: dict) -> dict:
    """The identity of a download of ``manifest``'s real frames.

    Examples
    --------
    >>> magellan({"source": {"repository": "o/r"}})
    {'source': 'magellan', 'repository': 'o/r'}
    """
    source = manifest.get("source") or {}
    return {"source": "magellan", **{key: source[key] for key in ("repository", "commit") if source.get(key)}}


def describe(content: dict) -> str:
    """A short phrase naming the dataset an identity (or a whole marker) describes.

    Examples
    --------
    >>> describe({"source": "elsewhere"})
    "a course dataset of source 'elsewhere'"
    """
    source, get = content.get("source"), content.get
    if source in ("synthetic", "synthetic-science"):
        what, version = ("course dataset", "generator") if source == "synthetic" else ("science frames", "version")
        return f"the synthetic {what} (preset {get('preset')!r}, seed {get('seed')}, {version} {get('generator_version')})"
    if source == "magellan" and get("repository"):
        at = f" at {get('commit')[:7]}" if get("commit") else ""
        return f"the real Magellan calibration frames ({get('repository')}{at})"
    if source == "magellan":
        return "the real calibration frames listed in the manifest"
    return f"a course dataset of source {source!r}"
