"""The answer checks against a corpus of answers, exercise by exercise.

For every exercise a table lists answers with the verdict each must get:

* the reference solution and other *correct* answers written differently
  (``np.nanmedian``, astropy's ``sigma_clip``, float32, another valid
  threshold, ``CCDData`` or a masked array);
* classic *mistakes*, each with the words its message must contain;
* *odd* inputs (ragged list, None, string, dict, NaN-filled array, wrong
  shape, 3-D stack, int, masked array, ``CCDData``) that must get a verdict,
  never an exception.

Answers are built by the functions of the tables from the small synthetic
dataset, through public functions only; each is checked through the public
``check.exercise_N``. A check must also print nothing but its verdict: no
output on stdout or stderr, no warning.
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import CCDData
from astropy.stats import mad_std, sigma_clip, sigma_clipped_stats

from course_utils import checks as check
from course_utils import combine, fits_section, solutions
from data_fixtures import small_dataset


class Data:
    """The frames of the small dataset, read once, and answers made from them."""

    def __init__(self, root):
        self.root = root

    def _read(self, path):
        return fits.getdata(self.root / path)

    @functools.cached_property
    def img(self):
        return self._read(check.BIAS_FIRST)

    @functools.cached_property
    def img2(self):
        return self._read(check.BIAS_SECOND)

    @functools.cached_property
    def stats(self):
        return solutions.bias_statistics(self.img)

    @functools.cached_property
    def bias_header(self):
        return fits.getheader(self.root / check.BIAS_FIRST)

    @functools.cached_property
    def biases(self):
        return np.array([self._read(p) for p in check.BIAS_FRAMES])

    @functools.cached_property
    def master_bias(self):
        return solutions.master_bias(self.biases)

    @functools.cached_property
    def darks(self):
        return np.array([self._read(p) for p in check.DARK_FRAMES])

    @functools.cached_property
    def dark_header(self):
        return fits.getheader(self.root / check.DARK_FRAMES[0])

    @functools.cached_property
    def subtracted(self):
        return self.darks.astype(np.float32) - self.master_bias

    @functools.cached_property
    def master_dark(self):
        return solutions.master_dark(self.darks, self.master_bias, "median")

    def dark_with_bias(self, bias):
        return np.median(self.darks.astype(np.float32) - bias, axis=0)

    @functools.cached_property
    def flats(self):
        paths = [self.root / p for p in check.FLAT_FRAMES]
        header = fits.getheader(paths[0])
        return [fits.getdata(p) for p in paths], header["DATASEC"], header["BIASSEC"]

    @functools.cached_property
    def master_flat(self):
        return solutions.master_flat(*self.flats)

    def corrected_flats(self, level="overscan"):
        """Each flat minus a level, trimmed and transposed, as in the notebook."""
        raws, datasec, biassec = self.flats
        rows, cols = fits_section(datasec)
        frames = []
        for raw in raws:
            subtract = solutions.overscan_level(raw, biassec) if level == "overscan" else level
            frames.append((raw[rows, cols].astype(np.float64) - subtract).T)
        return frames


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return Data(small_dataset(tmp_path_factory))


def _norm(frame):
    return frame / np.median(frame)


def _run(exercise, answers, data):
    return getattr(check, f"exercise_{exercise}")(**answers, data_dir=data.root, namespace={})


# --- Exercise 1: statistics of a bias frame ----------------------------------------------


def _ex1(center, spread, count=None):
    def build(d):
        c, s = center(d), spread(d)
        n = count(d, c, s) if count else int(
            np.count_nonzero(np.abs(d.img.astype(float) - float(c)) > 5 * float(s)))
        return {"center": c, "spread": s, "n_outliers": n}
    return build


REF_CENTER = lambda d: d.stats.center  # noqa: E731 - short table entries
REF_SPREAD = lambda d: d.stats.spread  # noqa: E731

EXERCISE_1 = [
    ("reference", _ex1(REF_CENTER, REF_SPREAD), "correct", ["read noise"]),
    ("sigma_clipped_stats", _ex1(lambda d: sigma_clipped_stats(d.img, sigma=5)[1],
                                 lambda d: sigma_clipped_stats(d.img, sigma=5)[2]),
     "correct", ["read noise"]),
    ("mad_std", _ex1(lambda d: np.median(d.img), lambda d: mad_std(d.img)), "correct", []),
    ("nanmedian float32", _ex1(lambda d: np.nanmedian(d.img.astype(np.float32)),
                               lambda d: np.float32(d.stats.spread)), "correct", []),
    ("4-sigma clip", _ex1(REF_CENTER, lambda d: sigma_clipped_stats(d.img, sigma=4)[2]),
     "correct", []),
    ("mean as centre", _ex1(lambda d: d.img.mean(), REF_SPREAD), "correct", ["is the mean"]),
    # Mistakes
    ("raw int16", _ex1(lambda d: d.stats.center - 32768, REF_SPREAD, lambda *a: 0),
     "incorrect", ["BZERO"]),
    ("np.std", _ex1(REF_CENTER, lambda d: d.img.std()), "incorrect", ["inflated", "robust"]),
    ("variance", _ex1(REF_CENTER, lambda d: d.stats.spread**2, lambda *a: 0),
     "incorrect", ["variance"]),
    ("electrons", _ex1(REF_CENTER, lambda d: d.stats.spread * d.bias_header["EGAIN"],
                       lambda *a: 0), "incorrect", ["electrons"]),
    ("miscounted", _ex1(REF_CENTER, REF_SPREAD, lambda d, c, s: d.stats.n_outliers + 17),
     "incorrect", ["count_nonzero"]),
    ("header copied", _ex1(REF_CENTER, lambda d: d.bias_header["ENOISE"] / d.bias_header["EGAIN"]),
     "incorrect", ["ENOISE / EGAIN", "copied", "Measure"]),
    ("uint16 wrap", _ex1(lambda d: int(np.median(d.img)), REF_SPREAD,
                         lambda d, c, s: int(np.count_nonzero(np.abs(d.img - c) > 5 * s))),
     "incorrect", ["wraps", "astype(float)"]),
    ("NaN spread", _ex1(REF_CENTER, lambda d: np.nan, lambda *a: 3), "incorrect", ["NaN"]),
    ("array centre", _ex1(lambda d: np.median(d.img, axis=0), REF_SPREAD, lambda *a: 3),
     "incorrect", ["holds", "values", "np.median"]),
    ("text centre", _ex1(lambda d: "817", REF_SPREAD, lambda *a: 3),
     "incorrect", ["text", "without quotes"]),
]


# --- Exercise 2: two bias frames --------------------------------------------------------


def _ex2(difference, noise):
    def build(d):
        diff = difference(d)
        return {"difference": diff, "read_noise": noise(d, diff)}
    return build


REF_DIFF = lambda d: solutions.bias_difference(d.img, d.img2)  # noqa: E731
REF_NOISE = lambda d, diff: solutions.read_noise(d.img, d.img2)  # noqa: E731

EXERCISE_2 = [
    ("reference", _ex2(REF_DIFF, REF_NOISE), "correct", ["ENOISE"]),
    ("other sign", _ex2(lambda d: -REF_DIFF(d), REF_NOISE), "correct", []),
    ("mad_std", _ex2(REF_DIFF, lambda d, diff: mad_std(diff) / math.sqrt(2)), "correct", []),
    ("float32 and 3-sigma", _ex2(
        lambda d: d.img2.astype(np.float32) - d.img.astype(np.float32),
        lambda d, diff: sigma_clipped_stats(diff, sigma=3)[2] / np.sqrt(2)), "correct", []),
    ("CCDData", _ex2(lambda d: CCDData(REF_DIFF(d), unit="adu"), REF_NOISE), "correct", []),
    ("masked array", _ex2(lambda d: np.ma.masked_array(REF_DIFF(d)), REF_NOISE), "correct", []),
    # Mistakes
    ("uint16 wrap", _ex2(lambda d: d.img2 - d.img,
                         lambda d, diff: float(np.std(diff)) / math.sqrt(2)),
     "incorrect", ["wrapped around", "float", "far too large"]),
    ("forgot sqrt 2", _ex2(REF_DIFF, lambda d, diff: REF_NOISE(d, diff) * math.sqrt(2)),
     "incorrect", ["divide by √2"]),
    ("divided by 2", _ex2(REF_DIFF, lambda d, diff: REF_NOISE(d, diff) * math.sqrt(2) / 2),
     "incorrect", ["by 2", "quadrature"]),
    ("variance", _ex2(REF_DIFF, lambda d, diff: REF_NOISE(d, diff) ** 2),
     "incorrect", ["variance"]),
    ("electrons", _ex2(REF_DIFF, lambda d, diff: REF_NOISE(d, diff) * d.bias_header["EGAIN"]),
     "incorrect", ["electrons"]),
    ("unclipped std", _ex2(REF_DIFF, lambda d, diff: diff.std() / math.sqrt(2)),
     "incorrect", ["cosmic rays", "Clip"]),
    ("wrong frames", _ex2(lambda d: d.img.astype(float) - 817, REF_NOISE),
     "incorrect", ["is not `b0861c1 - b0860c1`"]),
    ("NaN read noise", _ex2(REF_DIFF, lambda d, diff: float("nan")),
     "incorrect", ["NaN"]),
    # IFU-M frames, not IMACS: the message names the swap, not a camera.
    ("transposed", _ex2(lambda d: REF_DIFF(d).T, REF_NOISE), "incorrect",
     ["the transpose of", "extra `.T`"]),
]


# --- Exercise 3: sigma clipping by hand --------------------------------------------------


def by_hand_recomputed(values, sigma=3.0, maxiters=5):
    """Correct, written the most common way: each round judges all values anew."""
    values = np.asarray(values, dtype=float)
    mask = np.zeros(values.shape, dtype=bool)
    for _ in range(maxiters):
        kept = values[~mask]
        new = np.abs(values - np.median(kept)) > sigma * np.std(kept)
        if np.array_equal(new, mask):
            break
        mask = new
    return mask


def by_hand_cumulative(values, sigma=3.0, maxiters=5):
    """Correct too: a rejected value stays rejected (`|=`), with a while loop."""
    values = np.asarray(values, dtype=float)
    mask = np.zeros(values.shape, dtype=bool)
    rounds = 0
    while rounds < maxiters:
        rounds += 1
        kept = values[~mask]
        new = mask | (np.abs(values - np.median(kept)) > sigma * np.std(kept))
        if new.sum() == mask.sum():
            break
        mask = new
    return mask


def by_astropy(values, sigma=3.0, maxiters=5):
    return sigma_clip(values, sigma=sigma, maxiters=maxiters).mask


def by_hand_ddof1(values, sigma=3.0, maxiters=5):
    values = np.asarray(values, dtype=float)
    mask = np.zeros(values.shape, dtype=bool)
    for _ in range(maxiters):
        kept = values[~mask]
        new = np.abs(values - np.median(kept)) > sigma * np.std(kept, ddof=1)
        if np.array_equal(new, mask):
            break
        mask = new
    return mask


def _variant(center=np.median, sides="both", survivors=True, limit=True, fixed_sigma=False,
             spread=np.std):
    """A sigma clip with one classic mistake, as a student might write it."""
    def clip(values, sigma=3.0, maxiters=5):
        values = np.asarray(values, dtype=float)
        sigma = 3.0 if fixed_sigma else sigma
        mask = np.zeros(values.shape, dtype=bool)
        rounds = 0
        while not limit or rounds < maxiters:
            rounds += 1
            kept = values[~mask] if survivors else values
            distance = values - center(kept)
            if sides == "both":
                distance = np.abs(distance)
            new = distance > sigma * spread(kept)
            if np.array_equal(new, mask):
                break
            mask = new
        return mask
    return clip


def _returns_kept(values, sigma=3.0, maxiters=5):
    return np.asarray(values)[~solutions.sigma_clip_by_hand(values, sigma, maxiters)]


def _returns_int(values, sigma=3.0, maxiters=5):
    return solutions.sigma_clip_by_hand(values, sigma, maxiters).astype(int)


def _returns_masked(values, sigma=3.0, maxiters=5):
    return sigma_clip(values, sigma=sigma, maxiters=maxiters)


def _forgets_return(values, sigma=3.0, maxiters=5):
    solutions.sigma_clip_by_hand(values, sigma, maxiters)


def _changes_input(values, sigma=3.0, maxiters=5):
    mask = solutions.sigma_clip_by_hand(values, sigma, maxiters)
    values[mask] = np.nan  # "removes" the outliers from the caller's array
    return mask


def _one_argument(values):
    return solutions.sigma_clip_by_hand(values)


def _never_stops(values, sigma=3.0, maxiters=5):
    while True:
        pass


def _prints(values, sigma=3.0, maxiters=5):
    print("debugging", values[:3])
    return solutions.sigma_clip_by_hand(values, sigma, maxiters)


def _flattens(values, sigma=3.0, maxiters=5):
    """Works on a flat copy and returns the mask flat: wrong for a 2-D image."""
    flat = np.ravel(np.asarray(values, dtype=float))
    return solutions.sigma_clip_by_hand(flat, sigma, maxiters)


def _ex3(function):
    return lambda d: {"sigma_clip_by_hand": function}


EXERCISE_3 = [
    ("reference", _ex3(solutions.sigma_clip_by_hand), "correct", ["agrees with astropy"]),
    ("recomputed each round", _ex3(by_hand_recomputed), "correct", []),
    ("cumulative with while", _ex3(by_hand_cumulative), "correct", []),
    ("astropy itself", _ex3(by_astropy), "correct", []),
    ("sample std (ddof=1)", _ex3(by_hand_ddof1), "correct", []),
    ("prints while working", _ex3(_prints), "correct", []),
    # Mistakes
    ("one round", _ex3(_variant(limit=False, survivors=False)), "incorrect", ["one round"]),
    ("statistics of all values", _ex3(_variant(survivors=False)), "incorrect",
     ["one round", "survivors"]),
    ("mean as centre", _ex3(_variant(center=np.mean)), "incorrect", ["mean", "median"]),
    ("inverted", _ex3(lambda v, s=3.0, m=5: ~solutions.sigma_clip_by_hand(v, s, m)),
     "incorrect", ["inverted", "rejected"]),
    ("high side only", _ex3(_variant(sides="high")), "incorrect", ["only the high side"]),
    ("ignores maxiters", _ex3(_variant(limit=False)), "incorrect", ["does not stop", "maxiters"]),
    ("ignores sigma", _ex3(_variant(fixed_sigma=True)), "incorrect", ["ignores its `sigma`"]),
    ("mad_std", _ex3(_variant(spread=mad_std)), "incorrect", ["mad_std"]),
    ("returns the survivors", _ex3(_returns_kept), "incorrect", ["values it kept", "mask"]),
    ("returns 0 and 1", _ex3(_returns_int), "incorrect", ["0 and 1", "boolean"]),
    ("returns a masked array", _ex3(_returns_masked), "incorrect",
     ["masked array", "getmaskarray"]),
    ("forgets return", _ex3(_forgets_return), "incorrect", ["returns None", "return mask"]),
    ("changes its input", _ex3(_changes_input), "incorrect", ["changes the array"]),
    ("one argument", _ex3(_one_argument), "incorrect", ["raised TypeError"]),
    ("never stops", _ex3(_never_stops), "incorrect", ["did not finish"]),
    ("flattened mask", _ex3(_flattens), "incorrect", ["flattened", "shape of `values`"]),
    ("not a function", _ex3(np.zeros(5, dtype=bool)), "incorrect", ["should be a function"]),
]


# --- Exercise 4: master dark ------------------------------------------------------------


def _ex4(build):
    return lambda d: {"master_dark": build(d)}


def _per_frame(d):
    return combine(d.subtracted, method="mean", clip="frame")


def _glow_removed(d):
    answer = d.master_dark.copy()
    typical = np.median(answer)
    glow = answer > typical + 0.5 * (np.percentile(answer, 99.9) - typical)
    answer[glow] = typical
    return answer


def _drop_max(d):
    stack = d.subtracted
    return (stack.sum(axis=0) - stack.max(axis=0)) / (len(stack) - 1)


def _data(d):
    return _data_of(d, d.master_dark)


def _data_of(d, frame):
    """The exposed pixels of a frame of IFU-M (its DATASEC)."""
    rows, cols = fits_section(d.dark_header["DATASEC"])
    return frame[rows, cols]


EXERCISE_4 = [
    ("reference", _ex4(lambda d: d.master_dark), "correct",
     ["cosmic rays rejected", "glowing corner", "true dark signal"]),
    ("clipped mad_std", _ex4(lambda d: solutions.master_dark(d.darks, d.master_bias, "clipped")),
     "correct", []),
    ("np.nanmedian float64", _ex4(lambda d: np.nanmedian(d.darks - d.master_bias.astype(float),
                                                         axis=0)), "correct", []),
    ("astropy sigma_clip mean", _ex4(lambda d: sigma_clip(
        d.subtracted, axis=0, sigma=3, stdfunc="mad_std").mean(axis=0)), "correct", []),
    ("CCDData", _ex4(lambda d: CCDData(d.master_dark, unit="adu")), "correct", []),
    ("median master bias", _ex4(lambda d: d.dark_with_bias(np.median(d.biases, axis=0))),
     "correct", []),
    ("trimmed to the data section", _ex4(lambda d: _data(d)), "correct", ["glowing corner"]),
    # Mistakes
    ("plain mean", _ex4(lambda d: solutions.master_dark(d.darks, d.master_bias, "mean")),
     "incorrect", ["plain mean", "every cosmic ray"]),
    ("std clip of five", _ex4(lambda d: combine(d.subtracted, method="mean", clip="pixel")),
     "incorrect", ["rejected nothing", "mad_std"]),
    ("bias not subtracted", _ex4(lambda d: np.median(d.darks, axis=0)),
     "incorrect", ["too high", "bias level"]),
    ("scalar bias", _ex4(lambda d: d.dark_with_bias(float(np.median(d.master_bias)))),
     "incorrect", ["bias pattern", "pixel by pixel"]),
    ("uint16 wrap", _ex4(lambda d: np.median(d.darks - d.master_bias.astype(np.uint16),
                                             axis=0).astype(np.uint16)),
     "incorrect", ["65535", "float"]),
    ("per-frame clip", _ex4(_per_frame), "incorrect", ["NaN", "glowing corner", "per pixel"]),
    ("glow removed", _ex4(_glow_removed), "incorrect", ["glowing corner", "must stay"]),
    ("plain-mean master bias", _ex4(lambda d: d.dark_with_bias(d.biases.mean(axis=0))),
     "incorrect", ["too low", "bias frames had cosmic rays", "master bias still holds them"]),
    ("one bias frame", _ex4(lambda d: d.dark_with_bias(d.biases[0].astype(np.float32))),
     "incorrect", ["too low", "b0860c1", "one bias frame is not a master bias"]),
    ("dark rate", _ex4(lambda d: d.master_dark / d.dark_header["EXPTIME"]),
     "incorrect", ["divided by the exposure time", "rate", "Exercise 5"]),
    ("bias subtracted twice", _ex4(lambda d: d.master_dark - d.master_bias),
     "incorrect", ["subtracted twice"]),
    ("drop the maximum", _ex4(_drop_max), "incorrect", ["highest value", "too low"]),
    ("sum of darks", _ex4(lambda d: d.subtracted.sum(axis=0)), "incorrect", ["sum"]),
    ("in electrons", _ex4(lambda d: d.master_dark * d.dark_header["EGAIN"]),
     "incorrect", ["electrons"]),
    ("wrong axis", _ex4(lambda d: np.median(d.subtracted, axis=1)), "incorrect", ["wrong axis"]),
    ("transposed", _ex4(lambda d: d.master_dark.T), "incorrect",
     ["the transpose of", "rows and columns"]),
    ("divided by the master bias", _ex4(lambda d: np.median(d.darks / d.master_bias, axis=0)),
     "incorrect", ["divided by the master bias", "subtract"]),
    ("one dark frame", _ex4(lambda d: d.subtracted[2]), "incorrect", ["single dark", "combine all"]),
    ("one dark, own bias", _ex4(lambda d: d.darks[0] - np.median(d.biases, axis=0)),
     "incorrect", ["single dark", "not a combination"]),
    ("trimmed, plain-mean bias",
     _ex4(lambda d: _data_of(d, d.dark_with_bias(d.biases.mean(axis=0)))),
     "incorrect", ["bias frames had cosmic rays"]),
]


# --- Exercise 5: dark current and a scaled dark ------------------------------------------


def _ex5(current, scaled):
    def build(d):
        gain, exptime = d.dark_header["EGAIN"], d.dark_header["EXPTIME"]
        return {"dark_current": current(d, gain, exptime), "dark_scaled": scaled(d, exptime)}
    return build


REF_CURRENT = lambda d, g, t: solutions.dark_current(d.master_dark, g, t)  # noqa: E731
REF_SCALED = lambda d, t: solutions.scaled_dark(d.master_dark, t)  # noqa: E731


EXERCISE_5 = [
    ("reference", _ex5(REF_CURRENT, REF_SCALED), "correct",
     ["e⁻ per pixel per hour", "true dark current", "600 s"]),
    ("data section only", _ex5(lambda d, g, t: np.median(_data(d)) * g / (t / 3600), REF_SCALED),
     "correct", []),
    ("far from the glow", _ex5(
        lambda d, g, t: solutions.dark_levels(_data(d)).typical * g * 3600 / t,
        lambda d, t: (d.master_dark * np.float32(600 / t)).astype(np.float32)), "correct", []),
    ("nanmedian of the clipped dark", _ex5(
        lambda d, g, t: np.nanmedian(solutions.master_dark(d.darks, d.master_bias)) * g / t * 3600,
        lambda d, t: solutions.master_dark(d.darks, d.master_bias) * 600 / t), "correct", []),
    ("trimmed and scaled", _ex5(REF_CURRENT, lambda d, t: _data(d) * 600 / t), "correct", []),
    ("own master dark, 2% lower", _ex5(lambda d, g, t: 0.98 * REF_CURRENT(d, g, t), REF_SCALED),
     "correct", ["DU in", "the median-combined master dark"]),
    ("CCDData scaled", _ex5(REF_CURRENT, lambda d, t: CCDData(d.master_dark * 600 / t, unit="adu")),
     "correct", []),
    # Mistakes in the dark current
    ("still in DU", _ex5(lambda d, g, t: np.median(d.master_dark) / (t / 3600), REF_SCALED),
     "incorrect", ["still in DU", "EGAIN"]),
    ("per second", _ex5(lambda d, g, t: np.median(d.master_dark) * g / t, REF_SCALED),
     "incorrect", ["per second", "3600"]),
    ("gain divided", _ex5(lambda d, g, t: np.median(d.master_dark) / g / (t / 3600), REF_SCALED),
     "incorrect", ["divided by EGAIN", "multiply"]),
    ("gain applied twice", _ex5(lambda d, g, t: np.median(d.master_dark) * g * g / (t / 3600),
                                REF_SCALED), "incorrect", ["multiplied by EGAIN twice"]),
    ("mean", _ex5(lambda d, g, t: np.mean(_data(d)) * g / (t / 3600), REF_SCALED),
     "incorrect", ["mean", "glowing corner"]),
    ("bias included", _ex5(lambda d, g, t: np.median(d.master_dark + d.master_bias) * g
                           / (t / 3600), REF_SCALED), "incorrect", ["bias"]),
    # Mistakes in the scaled dark
    ("scaled the wrong way", _ex5(REF_CURRENT, lambda d, t: d.master_dark * t / 600),
     "incorrect", ["wrong way"]),
    ("scaled the raw dark", _ex5(REF_CURRENT, lambda d, t: np.median(d.darks, axis=0) * 600 / t),
     "incorrect", ["still holds the bias", "does not grow"]),
    ("bias added back", _ex5(REF_CURRENT, lambda d, t: d.master_dark * 600 / t + d.master_bias),
     "incorrect", ["holds the bias", "raw 600 s"]),
    ("not scaled", _ex5(REF_CURRENT, lambda d, t: d.master_dark), "incorrect",
     ["master dark itself"]),
    ("forgot the exposure time", _ex5(REF_CURRENT, lambda d, t: d.master_dark * 600),
     "incorrect", ["600 times"]),
    ("NaN dark current", _ex5(lambda d, g, t: float("nan"), REF_SCALED), "incorrect", ["NaN"]),
]


# --- Exercise 6: master flat ------------------------------------------------------------


def _ex6(build):
    return lambda d: {"master_flat": build(d)}


def _median_of_normalized(frames, median=np.median):
    master = median(np.array([_norm(f) for f in frames]), axis=0)
    return master / np.median(master)


def _syllabus(d):
    master = np.median(np.array(d.corrected_flats()), axis=0)
    return master / np.median(master)


def _clipped_mean(d):
    stack = np.array([_norm(f) for f in d.corrected_flats()])
    master = sigma_clip(stack, axis=0, sigma=3, stdfunc="mad_std").mean(axis=0).filled(np.nan)
    return master / np.median(master)


def _transposed_overscan(d):
    raws, datasec, _ = d.flats
    rows, cols = fits_section(datasec)
    frames = [raw.T.astype(float)[:cols.stop, :rows.stop] - np.median(raw.T[:, cols.stop:])
              for raw in raws]
    return _median_of_normalized(frames)


def _with_cosmic_rays(d):
    master = d.master_flat.copy()
    master[5, 7] += 0.2  # cosmic rays a mean of the flats would keep
    master[40, 70] += 0.15
    return master


def _other_camera(d):
    """§4.1's loop run after §4.2 set camera = 'iff', detector = 'c3'."""
    frames = []
    for path in [p.replace("ift", "iff").replace("c2.fits", "c3.fits") for p in check.FLAT_FRAMES]:
        path = path.replace("iff0014", "iff0008").replace("iff0015", "iff0009").replace(
            "iff0016", "iff0010").replace("iff0017", "iff0011").replace(
            "iff0018", "iff0012").replace("iff0019", "iff0013")
        raw = fits.getdata(d.root / path)
        header = fits.getheader(d.root / path)
        rows, cols = fits_section(header["DATASEC"])
        frames.append((raw[rows, cols].astype(float)
                       - solutions.overscan_level(raw, header["BIASSEC"])).T)
    return _median_of_normalized(frames)


EXERCISE_6 = [
    ("reference", _ex6(lambda d: d.master_flat), "correct", ["overscan level", "true response"]),
    ("float64 nanmedian", _ex6(lambda d: _median_of_normalized(d.corrected_flats(), np.nanmedian)),
     "correct", []),
    ("syllabus: normalize after combining", _ex6(_syllabus), "correct",
     ["before normalizing", "drifted"]),
    ("astropy clipped mean", _ex6(_clipped_mean), "correct", []),
    ("CCDData float32", _ex6(lambda d: CCDData(d.master_flat.astype(np.float32), unit="")),
     "correct", []),
    ("masked array", _ex6(lambda d: np.ma.masked_array(d.master_flat, mask=False)), "correct", []),
    # Mistakes
    ("bias not subtracted", _ex6(lambda d: _median_of_normalized(d.corrected_flats(0.0))),
     "incorrect", ["bias level", "was not subtracted"]),
    ("IFU-M bias", _ex6(lambda d: _median_of_normalized(d.corrected_flats(817.0))),
     "incorrect", ["IFU-M", "overscan"]),
    ("not normalized", _ex6(lambda d: d.master_flat * 9000), "incorrect", ["not normalized"]),
    ("normalized by the mean", _ex6(lambda d: d.master_flat / np.mean(d.master_flat)),
     "incorrect", ["mean", "np.median"]),
    ("one flat", _ex6(lambda d: _norm(d.corrected_flats()[0])), "incorrect", ["alone", "combine"]),
    ("transposed", _ex6(lambda d: d.master_flat.T), "incorrect", ["transpose"]),
    ("overscan kept", _ex6(lambda d: d.flats[0][0].T.astype(float) / np.median(d.flats[0][0])),
     "incorrect", ["overscan strip"]),
    ("stack", _ex6(lambda d: np.array([d.master_flat] * 6)), "incorrect", ["stack of 6 frames"]),
    ("wrong axis", _ex6(lambda d: np.median(np.array([d.master_flat] * 6), axis=1)),
     "incorrect", ["wrong axis"]),
    ("cosmic rays", _ex6(_with_cosmic_rays), "incorrect", ["cosmic rays", "median-combine"]),
    ("the dusty camera's flats (§4.2's variables)", _ex6(_other_camera), "incorrect",
     ["another camera", "iff c3", "§4.2"]),
    ("overscan of the transposed frame", _ex6(_transposed_overscan), "incorrect",
     ["transposed", "raw[:, 1024:]"]),
]


CORPUS = {1: EXERCISE_1, 2: EXERCISE_2, 3: EXERCISE_3, 4: EXERCISE_4, 5: EXERCISE_5,
          6: EXERCISE_6}
ENTRIES = [pytest.param(n, build, status, words, id=f"ex{n}-{name}")
           for n, table in CORPUS.items() for name, build, status, words in table]


@pytest.mark.parametrize("exercise, build, status, words", ENTRIES)
def test_corpus_verdicts(exercise, build, status, words, data, capfd):
    answers = build(data)
    capfd.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        feedback = _run(exercise, answers, data)
    out, err = capfd.readouterr()
    assert (out, err, [str(w.message) for w in caught]) == ("", "", []), "the check printed"
    assert feedback.status == status, repr(feedback)
    text = repr(feedback)
    for word in words:
        assert word in text, f"{word!r} not in:\n{text}"


@pytest.mark.parametrize("exercise", sorted(CORPUS))
def test_corpus_is_complete(exercise):
    # The project's rule: the reference, 3+ other correct answers, 5+ classic mistakes.
    table = CORPUS[exercise]
    correct = [entry for entry in table if entry[2] == "correct"]
    wrong = [entry for entry in table if entry[2] == "incorrect"]
    assert table[0][0] == "reference" and len(correct) >= 4 and len(wrong) >= 5


# --- Odd inputs: a verdict, never an exception ----------------------------------------

ARGUMENTS = {1: ["center", "spread", "n_outliers"], 2: ["difference", "read_noise"],
             3: ["sigma_clip_by_hand"], 4: ["master_dark"], 5: ["dark_current", "dark_scaled"],
             6: ["master_flat"]}


def _odd_values(shape):
    nan = np.full(shape, np.nan)
    return {
        "ragged list": [[1.0, 2.0], [3.0]],
        "string": "817",
        "dict": {"value": 1},
        "int": 5,
        "NaN-filled": nan,
        "wrong shape": np.zeros((10, 10)),
        "3-D stack": np.zeros((3, *shape)),
        "masked array": np.ma.masked_all(shape),
        "CCDData": CCDData(np.zeros(shape), unit="adu"),
        "empty list": [],
        "complex": np.zeros(shape, dtype=complex),
        "inf": float("inf"),
        "bool": True,
    }


ODD = [(n, name) for n in ARGUMENTS for name in _odd_values((2, 2))]


@pytest.mark.parametrize("exercise, odd", ODD, ids=[f"ex{n}-{o}" for n, o in ODD])
def test_odd_inputs_get_a_verdict(exercise, odd, data, capfd):
    shape = {1: data.img.shape, 2: data.img.shape, 6: data.master_flat.shape}.get(
        exercise, data.master_dark.shape)
    value = _odd_values(shape)[odd]
    capfd.readouterr()
    for argument in ARGUMENTS[exercise]:
        feedback = _run(exercise, {argument: value, **{
            other: value for other in ARGUMENTS[exercise] if other != argument}}, data)
        assert feedback.status == "incorrect", repr(feedback)
        assert feedback.messages and "could not run" not in repr(feedback)
    assert capfd.readouterr() == ("", "")


@pytest.mark.parametrize("exercise", sorted(ARGUMENTS))
def test_none_means_not_attempted(exercise, data):
    feedback = _run(exercise, {name: None for name in ARGUMENTS[exercise]}, data)
    assert feedback.status == "not attempted" and "Define" in repr(feedback)


@pytest.mark.parametrize("value", [5, "nowhere", None, [1, 2]])
def test_overwritten_data_dir_gives_a_note_not_a_traceback(value, data, monkeypatch):
    # The notebook's `data_dir` was reassigned: the check falls back to the course's
    # dataset (here the test's, through COURSE_DATA_DIR) and says so.
    monkeypatch.setenv("COURSE_DATA_DIR", str(data.root))
    namespace = {"check": check, "data_dir": value, "center": data.stats.center,
                 "spread": data.stats.spread, "n_outliers": data.stats.n_outliers}
    exec("feedback = check.exercise_1()", namespace)
    feedback = namespace["feedback"]
    assert feedback.status == "correct", repr(feedback)
    if value is not None:
        assert "`data_dir` in your notebook is now" in feedback.messages[-1]


# --- Real data: no synthetic truth to compare with ------------------------------------


@pytest.fixture(scope="module")
def real_like(data, tmp_path_factory):
    """The small dataset as the real frames come: no synthetic marker, so no truth."""
    from data_fixtures import copy_dataset

    root = copy_dataset(data.root, tmp_path_factory.mktemp("real") / "magellan")
    (root / "course_dataset.json").unlink()
    return Data(root)


@pytest.mark.parametrize("exercise", sorted(CORPUS))
def test_checks_fall_back_to_the_reference_without_truth(exercise, data, real_like):
    # Answers made from the same frames; the real dataset only lacks the truth.
    name, build, status, _ = CORPUS[exercise][0]
    feedback = _run(exercise, build(data), real_like)
    assert feedback.status == "correct", repr(feedback)
    assert "synthetic" not in repr(feedback)
    mistake = next(entry for entry in CORPUS[exercise] if entry[2] == "incorrect")
    feedback = _run(exercise, mistake[1](data), real_like)
    assert feedback.status == "incorrect" and all(w in repr(feedback) for w in mistake[3])


@pytest.mark.parametrize("exercise", sorted(CORPUS))
def test_a_broken_dataset_gives_a_verdict_that_names_the_cause(exercise, data, tmp_path, capfd):
    # A dataset folder whose frames are missing: the check cannot run, and says why.
    (tmp_path / "calibration_frames").mkdir()
    answers = CORPUS[exercise][0][1](data)
    capfd.readouterr()
    feedback = getattr(check, f"exercise_{exercise}")(**answers, data_dir=tmp_path, namespace={})
    assert feedback.status == "not checked", repr(feedback)
    assert "could not run: FileNotFoundError" in repr(feedback)
    assert repr(feedback).startswith(f"⚠️ Exercise {exercise}")
    assert capfd.readouterr() == ("", "")


def _random_answer(rng, shape):
    """An array of a random shape, dtype and byte order, with NaN, inf and huge values."""
    shapes = [(), (1,), (7,), (3, 3), shape, shape[::-1], (2, *shape), (shape[0], 0)]
    dtypes = ["<u2", ">u2", "<i8", ">f8", "<f4", "?", "<c16", "O", "<f2"]
    chosen = shapes[int(rng.integers(len(shapes)))]
    values = rng.normal(0, 10.0 ** rng.integers(0, 300), chosen)
    if values.size:
        flat = values.reshape(-1)
        flat[rng.integers(0, values.size, 3)] = rng.choice([np.nan, np.inf, -np.inf, 1e308], 3)
    dtype = dtypes[int(rng.integers(len(dtypes)))]
    with np.errstate(all="ignore"):
        return values.astype(dtype) if dtype != "O" else values.astype(object)


@pytest.mark.parametrize("seed", range(12))
def test_random_arrays_of_any_dtype_and_byte_order_get_a_verdict(seed, data, capfd):
    rng = np.random.default_rng(seed)
    capfd.readouterr()
    for exercise, names in ARGUMENTS.items():
        shape = {1: data.img.shape, 2: data.img.shape, 6: data.master_flat.shape}.get(
            exercise, data.master_dark.shape)
        answers = {name: _random_answer(rng, shape) for name in names}
        feedback = _run(exercise, answers, data)
        assert feedback.status == "incorrect", repr(feedback)
    assert capfd.readouterr() == ("", "")
