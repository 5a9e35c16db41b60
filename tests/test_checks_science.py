"""Answer checks of notebook 5 against a corpus: correct answers written several
ways, classic mistakes with the words their message must contain, and odd
inputs that must never raise."""

from __future__ import annotations

import ccdproc
import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.nddata import CCDData

from course_utils import checks as check
from course_utils import combine, solutions
from course_utils.data.science import (
    CATALOGUE_PATH,
    FLAT_PATHS,
    SCIENCE_FRAMES,
    generate_science,
    read_catalogue,
)

RADIUS, SKY = 4, (6, 10)  # the small preset's stars are 1 pixel wide


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return generate_science(tmp_path_factory.mktemp("science") / "science", "small")


@pytest.fixture(scope="module")
def parts(root):
    header = fits.getheader(root / SCIENCE_FRAMES[0].path)
    raws = [fits.getdata(root / f.path) for f in SCIENCE_FRAMES]
    flats = [fits.getdata(root / p) for p in FLAT_PATHS]
    master = solutions.master_flat(flats, header["DATASEC"], header["BIASSEC"])
    rows, cols = solutions.fits_section(header["BIASSEC"])
    trimmed = [(r.astype(np.float64) - np.median(r[rows, cols])).T[:256, :512] for r in raws]
    return {"header": header, "raws": raws, "master": master, "trimmed": trimmed,
            "reference": solutions.calibrate_frame(raws[0], master, header["DATASEC"],
                                                   header["BIASSEC"])}


def _assert(feedback, status, *words):
    assert feedback.status == status, repr(feedback)
    text = repr(feedback)
    for word in words:
        assert word.lower() in text.lower(), f"{word!r} not in:\n{text}"


def _seven(root, answer):
    return check.exercise_7(namespace={"calibrated": answer, "science_root": root})


# --- Exercise 7: correct answers, several ways ---------------------------------------------


def _ccdproc_answer(root, parts):
    header = parts["header"]

    def reduce(data):
        ccd = CCDData(data.astype(np.float64), unit=u.adu)
        ccd = ccdproc.subtract_overscan(ccd, fits_section=header["BIASSEC"], median=True,
                                        overscan_axis=1, model=None)
        return ccdproc.trim_image(ccd, fits_section=header["DATASEC"])

    flats = [reduce(fits.getdata(root / p)) for p in FLAT_PATHS]
    master = ccdproc.combine([f.divide(np.median(f.data) * u.adu) for f in flats], method="median")
    out = ccdproc.flat_correct(reduce(parts["raws"][0]), master, norm_value=np.median(master.data))
    return np.asarray(out.data).T


CORRECT_7 = {
    "reference": lambda root, p: p["reference"],
    "numpy, overscan mean, float64": lambda root, p: (
        (p["raws"][0].astype(np.float64) - p["raws"][0][:, 256:].mean()).T[:256, :512] / p["master"]),
    "masked array, dead pixels masked": lambda root, p: np.ma.masked_less(
        p["trimmed"][0] / p["master"], -1e9),
    "some NaN pixels": lambda root, p: np.where(np.arange(512) % 251 == 0, np.nan,
                                                p["trimmed"][0] / p["master"]),
    "ccdproc": _ccdproc_answer,
    "float32": lambda root, p: (p["trimmed"][0] / p["master"]).astype(np.float32),
}


def _median_of_three(root, parts):
    return np.median(np.stack([t / parts["master"] for t in parts["trimmed"][:3]]), axis=0)


def _mean_of_three_pointing_one(root, parts):
    return combine(np.stack([t / parts["master"] for t in parts["trimmed"][:3]]), method="mean")


OTHER_EXPOSURE_7 = {
    # The same pointing and sky, another exposure's noise: right-looking, yet not ift0040c2.
    "the second exposure": (lambda root, p: p["trimmed"][1] / p["master"],
                            ["ift0041c2", "another exposure"]),
    "the third exposure, float32": (
        lambda root, p: (p["trimmed"][2] / p["master"]).astype(np.float32),
        ["ift0042c2", "another exposure"]),
    "median of the three": (_median_of_three, ["combination of several exposures",
                                               "single frame"]),
    "mean of the three": (_mean_of_three_pointing_one, ["combination", "ift0040c2"]),
}


@pytest.mark.parametrize("name", sorted(OTHER_EXPOSURE_7))
def test_exercise_7_names_another_exposure_or_a_combination(root, parts, name):
    build, words = OTHER_EXPOSURE_7[name]
    _assert(_seven(root, build(root, parts)), "incorrect", *words)


def test_exercise_7_wrong_shape_is_told_the_full_size_shape(root):
    _assert(_seven(root, np.zeros((100, 200))), "incorrect", "(1024, 2048)")


@pytest.mark.parametrize("name", sorted(CORRECT_7))
def test_exercise_7_accepts_correct_answers(root, parts, name):
    _assert(_seven(root, CORRECT_7[name](root, parts)), "correct", "true sky and stars")


def test_exercise_7_not_attempted_in_a_student_notebook():
    namespace = {"check": check}
    exec("feedback = check.exercise_7()", namespace)
    _assert(namespace["feedback"], "not attempted", "Define `calibrated`")


# --- Exercise 7: classic mistakes and their messages -------------------------------------------


MISTAKES_7 = {
    "no overscan subtracted": (
        lambda p: p["raws"][0].astype(float).T[:256, :512] / p["master"], ["overscan", "not subtracted"]),
    "IFU-M bias subtracted": (
        lambda p: (p["raws"][0].astype(float) - 817.4).T[:256, :512] / p["master"], ["IFU-M", "overscan"]),
    "flat not normalized": (
        lambda p: p["trimmed"][0] / (p["master"] * 9000.0), ["not normalized", "median"]),
    "flat applied by multiplication": (
        lambda p: p["trimmed"][0] * p["master"], ["multiplication"]),
    "not flat-fielded": (lambda p: p["trimmed"][0], ["vignetting", "not divided"]),
    "divided twice": (lambda p: p["trimmed"][0] / p["master"] ** 2, ["twice"]),
    "untrimmed, transposed": (
        lambda p: (p["raws"][0].astype(float) - 1143).T, ["untrimmed", "overscan strip"]),
    "untrimmed, not transposed": (
        lambda p: p["raws"][0].astype(float) - 1143, ["untrimmed"]),
    "transposition": (lambda p: p["reference"].T, ["transpose", ".T"]),
    "a dithered frame": (
        lambda p: p["trimmed"][3] / p["master"], ["stars", "another exposure"]),
    "flipped": (lambda p: p["reference"][::-1], ["stars", "flip"]),
    "a stack of frames": (
        lambda p: np.stack([t / p["master"] for t in p["trimmed"][:3]]), ["stack", "one frame"]),
}


@pytest.mark.parametrize("name", sorted(MISTAKES_7))
def test_exercise_7_names_the_mistake(root, parts, name):
    make, words = MISTAKES_7[name]
    _assert(_seven(root, make(parts)), "incorrect", *words)


ODD_7 = {
    "ragged list": [[1.0, 2.0], [3.0]],
    "string": "calibrated",
    "dict": {"a": 1},
    "NaN array": np.full((256, 512), np.nan),
    "inf array": np.full((256, 512), np.inf),
    "zeros": np.zeros((256, 512)),
    "wrong shape": np.ones((10, 10)),
    "1-D": np.ones(512),
    "3-D stack": np.ones((3, 4, 5)),
    "bool": np.ones((256, 512), dtype=bool),
    "complex": np.ones((256, 512), dtype=complex),
    "object array": np.array([object(), object()]),
    "scalar": 3.0,
    "huge": np.full((256, 512), 1e300),
    "big-endian": np.ones((256, 512), dtype=">f8") * 600,
    "uint16": np.full((256, 512), 600, dtype=np.uint16),
}


@pytest.mark.parametrize("name", sorted(ODD_7))
def test_exercise_7_never_raises_on_odd_inputs(root, name):
    feedback = _seven(root, ODD_7[name])
    assert feedback.status in ("incorrect", "correct")
    assert feedback.messages and all(isinstance(m, str) for m in feedback.messages)


def test_exercise_7_none_is_not_attempted(root):
    _assert(_seven(root, None), "not attempted", "calibrated")


# --- Exercise 8 ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def photometry(root, parts):
    stars = read_catalogue(root / CATALOGUE_PATH)
    header = fits.getheader(root / SCIENCE_FRAMES[3].path)
    x1, y1 = stars["x"][0], stars["y"][0]
    x2, y2 = x1 + header["DITHX"], y1 + header["DITHY"]
    flat = [t / parts["master"] for t in parts["trimmed"]]

    def ratio(frames):
        one = combine(np.stack(frames[:3]), method="median")
        two = combine(np.stack(frames[3:]), method="median")
        return (solutions.aperture_flux(two, x2, y2, RADIUS, SKY)[0]
                / solutions.aperture_flux(one, x1, y1, RADIUS, SKY)[0])

    def numpy_ratio(frames):
        # plain numpy sums on single frames: another correct way
        def flux(image, x, y):
            rr, cc = np.indices(image.shape)
            d = np.hypot(rr - y, cc - x)
            return image[d <= RADIUS].sum() - (d <= RADIUS).sum() * np.median(image[(d >= SKY[0]) & (d < SKY[1])])
        return flux(frames[3], x2, y2) / flux(frames[0], x1, y1)

    return {"before": ratio(parts["trimmed"]), "after": ratio(flat),
            "before_single": numpy_ratio(parts["trimmed"]), "after_single": numpy_ratio(flat)}


def _eight(root, before, after):
    return check.exercise_8(namespace={"ratio_before": before, "ratio_after": after,
                                       "science_root": root})


def test_the_photometry_shows_the_vignetting_before_and_none_after(photometry):
    assert photometry["before"] < 0.85
    assert photometry["after"] == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("way", ["combined", "single frames, numpy", "numpy scalars", "0-d arrays"])
def test_exercise_8_accepts_correct_answers(root, photometry, way):
    before, after = {
        "combined": (photometry["before"], photometry["after"]),
        "single frames, numpy": (photometry["before_single"], photometry["after_single"]),
        "numpy scalars": (np.float32(photometry["before"]), np.float64(photometry["after"])),
        "0-d arrays": (np.array(photometry["before"]), np.array([photometry["after"]])),
    }[way]
    _assert(_eight(root, before, after), "correct", "photon noise")


@pytest.mark.parametrize("mistake", ["not flat-fielded", "multiplied", "inverted", "before on flat",
                                     "NaN", "wrong star"])
def test_exercise_8_names_the_mistake(root, photometry, mistake):
    b, a = photometry["before"], photometry["after"]
    before, after, words = {
        "not flat-fielded": (b, b, ["before flat-fielding"]),
        "multiplied": (b, b * b, ["multiplication"]),
        "inverted": (1 / b, a, ["inverted"]),
        "before on flat": (a, a, ["not divided by the flat"]),
        "NaN": (b, float("nan"), ["NaN"]),
        "wrong star": (0.4, 0.6, ["DITHX"]),
    }[mistake]
    _assert(_eight(root, before, after), "incorrect", *words)


@pytest.fixture(scope="module")
def other_star(root, parts):
    """The ratios a student gets measuring another catalogue star than star 1."""
    stars = read_catalogue(root / CATALOGUE_PATH)
    header = fits.getheader(root / SCIENCE_FRAMES[3].path)
    one = combine(np.stack(parts["trimmed"][:3]), method="median")
    two = combine(np.stack(parts["trimmed"][3:]), method="median")
    flat_one = combine(np.stack([t / parts["master"] for t in parts["trimmed"][:3]]),
                       method="median")
    flat_two = combine(np.stack([t / parts["master"] for t in parts["trimmed"][3:]]),
                       method="median")
    first = solutions.aperture_flux(one, stars["x"][0], stars["y"][0], RADIUS, SKY)[0]
    second = solutions.aperture_flux(two, stars["x"][0] + header["DITHX"],
                                     stars["y"][0] + header["DITHY"], RADIUS, SKY)[0]
    star_one = second / first
    for k in np.argsort(-stars["flux_e"]):  # the brightest others first
        x1, y1 = stars["x"][k], stars["y"][k]
        x2, y2 = x1 + header["DITHX"], y1 + header["DITHY"]
        before = (solutions.aperture_flux(two, x2, y2, RADIUS, SKY)[0]
                  / solutions.aperture_flux(one, x1, y1, RADIUS, SKY)[0])
        after = (solutions.aperture_flux(flat_two, x2, y2, RADIUS, SKY)[0]
                 / solutions.aperture_flux(flat_one, x1, y1, RADIUS, SKY)[0])
        if stars["star"][k] != 1 and np.isfinite(before) and 0.05 < abs(before - star_one) < 0.2:
            return before, after
    pytest.fail("no other star with a clearly different ratio")


def test_exercise_8_names_another_star(root, other_star):
    before, after = other_star
    _assert(_eight(root, before, after), "incorrect", "another star", "catalogue")


@pytest.mark.parametrize("mistake", ["per cent", "difference", "swapped x and y"])
def test_exercise_8_names_units_and_positions(root, photometry, mistake):
    b, a = photometry["before"], photometry["after"]
    before, after, words = {
        "per cent": (100 * b, 100 * a, ["per cent", "without multiplying by 100"]),
        "difference": (-5231.7, 12.4, ["difference", "Divide the flux"]),
        # An aperture off the image: both fluxes are NaN, and both messages say why.
        "swapped x and y": (float("nan"), float("nan"), ["swapped", "x is the column"]),
    }[mistake]
    feedback = _eight(root, before, after)
    _assert(feedback, "incorrect", *words)
    assert len(feedback.messages) == 2
    if mistake != "difference":
        assert all(words[0] in m for m in feedback.messages), repr(feedback)


@pytest.mark.parametrize("odd", [[1, [2]], "0.8", {"r": 1}, np.full(3, np.nan), np.ones((2, 2, 2)),
                                 np.array([0.8, 1.0]), complex(1, 1), -1.0, 1e308, np.inf])
def test_exercise_8_never_raises_on_odd_inputs(root, odd):
    feedback = _eight(root, odd, odd)
    assert feedback.status == "incorrect"
    assert feedback.messages


def test_exercise_8_needs_both_ratios(root):
    _assert(check.exercise_8(namespace={"ratio_before": 0.8}), "not attempted", "ratio_after")


# --- The reference solutions the checks rely on --------------------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_aperture_flux_recovers_a_known_star_anywhere_on_any_sky(seed):
    # An independent construction: a Gaussian star rendered by sub-sampling, on a flat sky.
    rng = np.random.default_rng(seed)
    sky, flux, sigma = rng.uniform(0, 5000), rng.uniform(1e3, 1e7), rng.uniform(0.8, 3)
    x, y = rng.uniform(30, 70), rng.uniform(30, 50)
    fine = 8
    yy, xx = (np.mgrid[0:80 * fine, 0:100 * fine] + 0.5) / fine - 0.5
    star = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2))
    image = star.reshape(80, fine, 100, fine).sum(axis=(1, 3))
    image *= flux / image.sum()
    image += sky
    radius = 6 * sigma
    measured = solutions.aperture_flux(image, x, y, radius, (radius + 2, radius + 8))[0]
    assert measured == pytest.approx(flux, rel=1e-4)


def test_aperture_flux_is_nan_off_the_image_or_on_a_masked_pixel():
    image = np.ones((50, 50))
    assert np.isnan(solutions.aperture_flux(image, 2, 25, 3, (5, 8))[0])
    image[25, 25] = np.nan
    assert np.isnan(solutions.aperture_flux(image, 25, 25, 3, (5, 8))[0])
    assert solutions.aperture_flux(image, [12, 38], [12, 38], 3, (5, 8)).tolist() == [0.0, 0.0]


def test_calibrate_frame_rejects_a_flat_of_another_shape_and_masks_dead_pixels(parts):
    header = parts["header"]
    with pytest.raises(ValueError, match="master flat"):
        solutions.calibrate_frame(parts["raws"][0], parts["master"].T, header["DATASEC"], header["BIASSEC"])
    flat = parts["master"].copy()
    flat[10, 20] = 0.1
    flat[11, 21] = 0.0
    out = solutions.calibrate_frame(parts["raws"][0], flat, header["DATASEC"], header["BIASSEC"])
    assert np.isnan(out[10, 20]) and np.isnan(out[11, 21])
    assert np.count_nonzero(np.isnan(out)) == 2
