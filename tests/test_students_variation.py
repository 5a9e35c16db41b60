"""Every student's detector differs within the table's ranges, and every teaching point holds.

For a sample of seeds (students), on the small preset: the parameters lie in
their ranges and vary; the glow of a one-hour dark crosses the read noise,
in whichever corner the seed put it, and the course's code finds that corner;
the photon transfer curve has its knee and gives back the true gain; the
flats show their vignetting; the IFU-M and IMACS bias levels stay apart; the
brightest star still moves from the vignetting's centre to a darker place.
"""

from __future__ import annotations

import numpy as np
import pytest

from course_utils import solutions
from course_utils.data.identity import DEFAULT_SEED
from course_utils.data.layout import PTC_FRAMES, SCIENCE_FRAMES
from course_utils.data.models import flat_model, ifum_model
from course_utils.data.ptc import ptc_header, ptc_model
from course_utils.data.science import dither, science_model
from course_utils.data.students import student_seed
from course_utils.data.synthetic import make_dark, make_frame
from course_utils.data.variation import DEFAULT, GLOW_CORNERS, RANGES, parameters, table

# Students of a class: identities drawn once (any identity would do).
SEEDS = [student_seed(f"student{i:03d}@uni.example") for i in range(24)]
#: The default seed must teach the same (it is what the website shows).
SAMPLE = [DEFAULT_SEED, *SEEDS]


def test_the_default_seed_keeps_the_real_detectors_values():
    model = ifum_model("small", DEFAULT_SEED)
    assert parameters(DEFAULT_SEED) == DEFAULT
    assert (model.gain, model.read_noise_e, model.bias_level) == (0.68, 2.7, 817.4)
    assert ptc_model("small", DEFAULT_SEED).full_well_e == 40000.0


def test_every_parameter_lies_in_its_range_and_varies_between_students():
    drawn = [parameters(seed) for seed in SEEDS]
    for name, r in RANGES.items():
        values = np.array([getattr(p, name) for p in drawn])
        assert r.low <= r.default <= r.high, name
        assert np.all((values >= r.low - 1e-9) & (values <= r.high + 1e-9)), name
        if r.choices:  # a choice: every one of them is some student's
            assert r.low == 0 and r.high == len(r.choices) - 1, name
            assert set(values.tolist()) == set(range(len(r.choices))), f"{name}: a choice never drawn"
        else:
            assert np.unique(values).size > len(SEEDS) // 2, f"{name} hardly varies"


def test_the_glow_corners_are_named_alike_in_the_data_and_the_solutions():
    names = RANGES["ifum_glow_corner"].choices
    assert dict(zip(names, GLOW_CORNERS)) == solutions.CORNERS
    assert DEFAULT.glow_corner == solutions.CORNERS["lower left"]  # the real detector's


def test_the_table_lists_every_parameter_and_a_students_values():
    text = table(SEEDS[0])
    assert all(name in text for name in RANGES)
    assert f"{parameters(SEEDS[0]).ifum_gain:.6g}" in text
    corner = parameters(SEEDS[0]).ifum_glow_corner
    assert f"| {corner} ({RANGES['ifum_glow_corner'].choices[corner]})" in text


# The default seed and, after it, students with the glow in each of the four corners.
CORNER_SAMPLE = [DEFAULT_SEED] + [next(s for s in SEEDS if parameters(s).glow_corner == corner)
                                  for corner in GLOW_CORNERS]


@pytest.mark.parametrize("seed", list(dict.fromkeys(CORNER_SAMPLE + SAMPLE[:12])))
def test_the_glow_of_an_hour_crosses_the_read_noise(seed):
    model = ifum_model("small", seed)
    assert model.glow_corner == parameters(seed).glow_corner
    glow_du = model.glow * 3600.0 / model.gain  # one hour, DU
    noise = model.read_noise_du
    assert glow_du.max() > 10 * noise          # far above the noise in its corner
    assert glow_du.min() < 0.1 * noise         # and lost in the noise far from it
    assert glow_du[model.glow_corner] == glow_du.max()  # brightest at the seed's corner
    # The opposite corner is the darkest: the glow fades with the distance from its corner.
    assert glow_du[tuple(-1 - i for i in model.glow_corner)] == glow_du.min()
    # In a real (small) dark the corner stands out of the rest by the glow, and the
    # solutions (which the notebook's code follows) find that corner in the frame alone.
    dark = make_dark(3600.0, "small", seed, model=model).astype(float)
    rows, cols = model.geometry.data_rows, model.geometry.data_cols
    data = dark[:rows, :cols]
    side = rows // 20
    flipped = data[::-1 if model.glow_corner[0] else 1, ::-1 if model.glow_corner[1] else 1]
    corner = np.median(flipped[:side, :side])
    far = np.median(flipped[rows // 2:, cols // 2:])
    assert corner - far > 5 * noise
    assert solutions.glow_corner(dark, (rows, cols)) == model.glow_corner
    levels = solutions.dark_levels(dark, (rows, cols))
    assert levels.corner == pytest.approx(corner) and levels.corner - levels.typical > 5 * noise


@pytest.mark.parametrize("seed", SAMPLE[:8])
def test_the_photon_transfer_curve_has_its_knee_and_gives_the_true_gain(seed):
    model = ptc_model("small", seed)
    header = ptc_header(PTC_FRAMES[0], model, 1)
    frames = [make_frame(frame, "small", seed, model=model) for frame in PTC_FRAMES]
    points = [solutions.pair_statistics(a, b, header["DATASEC"], header["BIASSEC"])
              for a, b in zip(frames[::2], frames[1::2])]
    signal = np.array([p.signal for p in points])
    variance = np.array([p.variance for p in points])
    peak = int(np.argmax(variance))
    assert 0 < peak < len(points) - 1, "no knee: the variance never turns over"
    assert variance[-1] < 0.5 * variance[peak]          # beyond full well it collapses
    assert signal.max() + model.bias_level < 65535      # the digitizer never clips first
    read_noise_du = solutions.read_noise(frames[0], frames[1])
    fit = solutions.fit_gain(signal, variance, read_noise_du)
    assert np.count_nonzero(fit.used) >= 4
    assert fit.gain == pytest.approx(model.gain, rel=0.04)


@pytest.mark.parametrize("seed", SAMPLE)
def test_the_flats_show_vignetting_and_their_own_bias_level(seed):
    flat = flat_model("ift", "c2", "small", seed)
    low, high = np.percentile(flat.vignetting, [1, 99])
    assert high - low > 0.2                               # vignetting of tens of per cent
    rows, cols = flat.vignetting.shape
    row, col = np.unravel_index(np.argmax(flat.vignetting), flat.vignetting.shape)
    assert 0.2 * rows < row < 0.8 * rows and 0.2 * cols < col < 0.8 * cols
    ifum = parameters(seed).ifum_bias_level
    for camera, detector in (("ift", "c2"), ("iff", "c2"), ("iff", "c3")):
        assert flat_model(camera, detector, "small", seed).bias_level > ifum + 50


@pytest.mark.parametrize("seed", SAMPLE)
def test_the_brightest_star_moves_from_the_centre_to_a_darker_place(seed):
    model = science_model("small", seed)
    star = 0  # star 1
    x, y = model.stars["x"][star], model.stars["y"][star]
    dx, dy = dither(SCIENCE_FRAMES[-1], "small")
    vignetting = model.flat.vignetting
    rows, cols = vignetting.shape
    margin = 12  # the small preset's sky annulus reaches 10 pixels from the star
    for xc, yc in ((x, y), (x + dx, y + dy)):  # both pointings: the star and its annulus on the image
        assert margin <= xc <= cols - 1 - margin and margin <= yc <= rows - 1 - margin
    centre = vignetting[int(round(y)), int(round(x))]
    edge = vignetting[int(round(y + dy)), int(round(x + dx))]
    assert edge / centre < 0.9


@pytest.mark.parametrize("seed", SAMPLE)
def test_a_dark_current_left_in_du_never_looks_like_the_right_one(seed):
    # The dark check tells "the median in e-" from "a typical pixel still in DU" (x 1/EGAIN):
    # the ranges of gain, glow and dark current keep the two at least 8 % apart.
    model = ifum_model("small", seed)
    dark = (model.glow + np.float32(model.dark_current)) * 3600.0 / model.gain
    typical = solutions.dark_levels(dark, corner=model.glow_corner).typical
    assert typical / np.median(dark) / model.gain > 1.08


@pytest.mark.parametrize("seed", SAMPLE)
def test_outliers_inflate_the_standard_deviation_of_a_bias_frame(seed):
    # Notebook 2: "the kept pixels scatter by the read noise, a few DU, where all pixels,
    # outliers included, scattered more" (by 1.7 to 5 times on the small preset).
    from astropy.stats import sigma_clipped_stats

    from course_utils.data.layout import FRAMES

    frame = make_frame(FRAMES[0], "small", seed).astype(float)
    kept = sigma_clipped_stats(frame, sigma=3, maxiters=5, stdfunc="std")[2]
    assert 1 < kept < 10
    assert frame.std() > 1.3 * kept


@pytest.mark.parametrize("seed", SAMPLE)
def test_where_a_dark_correction_matters_reads_true(seed):
    # Notebook 3, section 3.5: below the read noise nearly everywhere in a minute; in ten
    # minutes above it only near the glowing corner; in an hour the dark current alone,
    # far from the corner, is about as large as the read noise.
    model = ifum_model("small", seed)
    noise = model.read_noise_du
    per_hour = (model.glow + np.float32(model.dark_current)) * 3600.0 / model.gain
    minute, ten, dark_du = per_hour / 60, per_hour / 6, model.dark_current * 3600.0 / model.gain
    assert np.mean(minute < noise) > 0.99
    assert ten.max() > 2 * noise and np.mean(ten < noise) > 0.8
    assert 0.3 < dark_du / noise < 3
    glow_hour = model.glow * 3600.0 / model.gain
    assert np.mean(glow_hour > noise) > 0.02   # well beyond its corner (51 x 51 px at full size)
