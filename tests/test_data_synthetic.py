"""The synthetic dataset: layout, headers, statistics, determinism, safe writing.

Statistics are measured on the generated files with astropy and numpy and
compared with the model's stated values (not with the generator's own code).
The small preset is used except where the real sizes are the point.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from astropy.io import fits
from astropy.stats import sigma_clip, sigma_clipped_stats

from course_utils.data import store, synthetic
from course_utils.data.fitsfile import fits_bytes
from course_utils.data.headers import frame_header
from course_utils.data.layout import FRAMES, PRESETS
from course_utils.data.synthetic import (
    DEFAULT_SEED,
    GENERATOR_VERSION,
    flat_model,
    generate,
    ifum_model,
    make_dark,
    make_frame,
)

from data_fixtures import dead_pid, names, small_dataset

READ_NOISE_DU = 2.7 / 0.68  # ENOISE / EGAIN = 3.97 DU
S = PRESETS["small"].scale  # 4


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return small_dataset(tmp_path_factory)


@pytest.fixture(scope="module")
def biases(root):
    return np.array([fits.getdata(root / f"calibration_frames/bias/b0{n}c1.fits") for n in range(860, 900)])


@pytest.fixture(scope="module")
def model():
    return ifum_model("small")


def _read(root, path):
    with fits.open(root / path) as hdul:
        return hdul[0].data.copy(), hdul[0].header.copy()


def _section(text):
    """FITS '[x1:x2,y1:y2]' (1-based, inclusive) -> numpy slices (rows, cols)."""
    x1, x2, y1, y2 = map(int, re.fullmatch(r"\[(\d+):(\d+),(\d+):(\d+)\]", text).groups())
    return slice(y1 - 1, y2), slice(x1 - 1, x2)


# --- Layout, shapes, dtypes, headers ----------------------------------------------------------


def test_every_file_is_there_with_the_real_names(root):
    found = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.fits"))
    expected = ([f"calibration_frames/bias/b{n:04d}c1.fits" for n in range(860, 900)]
                + [f"calibration_frames/dark/b{n:04d}c1.fits" for n in range(1212, 1217)]
                + [f"calibration_frames/flat/iff/iff{n:04d}{d}.fits" for n in range(8, 14) for d in ("c2", "c3")]
                + [f"calibration_frames/flat/ift/ift{n:04d}c2.fits" for n in range(14, 20)]
                # synthetic only: the photon transfer sequence of notebook 6
                + [f"calibration_frames/ptc/b{n:04d}c1.fits" for n in range(1300, 1326)])
    assert found == sorted(expected)
    assert len(found) == 63 + 26
    assert sorted(p.name for p in root.iterdir()) == ["calibration_frames", "course_dataset.json"]


def test_small_frames_read_back_as_uint16_with_the_scaled_layout(root):
    with fits.open(root / "calibration_frames/bias/b0860c1.fits") as hdul:
        info = hdul.info(output=False)[0]
        header, data = hdul[0].header, hdul[0].data
        hdul.verify("exception")
        assert "int16 (rescales to uint16)" in info
        assert data.dtype == np.uint16 and data.shape == (289, 544)
        assert (header["BITPIX"], header["BZERO"], header["BSCALE"]) == (16, 32768, 1)
        assert (header["NAXIS1"], header["NAXIS2"]) == (544, 289)
        assert (header["DATASEC"], header["BIASSEC"]) == ("[1:512,1:257]", "[513:544,258:289]")
        assert (header["NOVERSCN"], header["NBIASLNS"]) == (32, 32)
    flat, header = _read(root, "calibration_frames/flat/iff/iff0008c3.fits")
    assert flat.dtype == np.uint16 and flat.shape == (512, 272)
    assert flat.T[: 1024 // S, : 2048 // S].shape == (256, 512)
    assert header["BIASSEC"] == "[257:272,1:512]" and header["DATASEC"] == "[1:256,1:512]"


@pytest.mark.parametrize("path, shape, keys", [
    ("calibration_frames/bias/b0860c1.fits", (1156, 2176),
     {"TELESCOP": "Clay", "INSTRUME": "IFUM", "EXPTYPE": "Bias", "EXPTIME": 0.0,
      "BIASSEC": "[2049:2176,1029:1156]", "DATASEC": "[1:2048,1:1028]", "TRIMSEC": "[1:2048,1:1028]",
      "NOVERSCN": 128, "NBIASLNS": 128, "BINNING": "1x2", "SPEED": "Slow", "EGAIN": 0.68,
      "ENOISE": 2.7, "FILENAME": "b0860c1", "OBJECT": "1x2 bias", "DATE-OBS": "2023-03-21T10:50:38",
      "UT-DATE": "2023-03-21", "UT-TIME": "10:50:38", "MJD": 60024.45183}),
    ("calibration_frames/dark/b1214c1.fits", (1156, 2176),
     {"TELESCOP": "Clay", "INSTRUME": "IFUM", "EXPTYPE": "Dark", "EXPTIME": 3600.0,
      "FILENAME": "b1214c1"}),
    ("calibration_frames/flat/ift/ift0014c2.fits", (2048, 1088),
     {"TELESCOP": "Baade", "INSTRUME": "IMACS Long-Camera", "CHIP": 2, "EXPTYPE": "Flat",
      "BIASSEC": "[1025:1088,1:2048]", "DATASEC": "[1:1024,1:2048]", "NOVERSCN": 64}),
    ("calibration_frames/flat/iff/iff0013c3.fits", (2048, 1088),
     {"TELESCOP": "Baade", "INSTRUME": "IMACS Short-Camera", "CHIP": 3, "FILENAME": "iff0013c3"}),
])
def test_full_size_frames_have_the_real_shapes_and_headers(tmp_path, path, shape, keys):
    frame = next(f for f in FRAMES if f.path == path)
    model = synthetic.detector_model(frame.camera, frame.detector, "full")
    data = make_frame(frame, "full", model=model)
    header = frame_header(frame, PRESETS["full"], DEFAULT_SEED, GENERATOR_VERSION,
                          egain=model.gain, enoise=model.read_noise_e)
    file = tmp_path / "frame.fits"
    file.write_bytes(fits_bytes(data, header))
    with fits.open(file) as hdul:
        hdul.verify("exception")
        assert "int16 (rescales to uint16)" in hdul.info(output=False)[0]
        read, header = hdul[0].data, hdul[0].header
        assert read.dtype == np.uint16 and read.shape == shape
        np.testing.assert_array_equal(read, data)
        for key, value in keys.items():
            assert header[key] == value, key
        if frame.camera != "ifum":
            assert read.T[:1024, :2048].shape == (1024, 2048)
            assert header["FILTER"].lower().endswith("i")
            assert 0.9 <= header["EGAIN"] <= 1.0 and 2 <= header["ENOISE"] <= 6
            assert 1 <= header["EXPTIME"] <= 10
        # the section keywords describe this array
        rows, cols = _section(header["DATASEC"])
        assert read[rows, cols].size > 0.8 * read.size


def test_headers_record_the_generator_and_no_time_of_writing(root):
    for frame in FRAMES:
        _, header = _read(root, frame.path)
        assert header["SYNTHETC"] is True
        assert header["GENVERS"] == GENERATOR_VERSION
        assert header["GENSEED"] == DEFAULT_SEED
        assert header["GENPRSET"] == "small"
        assert header["FILENAME"] == frame.name
        assert any("SYNTHETIC" in str(c) for c in header["COMMENT"])
        for key in ("DATE", "CHECKSUM", "DATASUM", "EXTEND"):
            assert key not in header


def test_observing_times_advance_frame_by_frame(root):
    from datetime import datetime

    for kind, numbers in (("bias", range(860, 900)), ("dark", range(1212, 1217))):
        times, mjds = [], []
        for n in numbers:
            header = fits.getheader(root / f"calibration_frames/{kind}/b{n:04d}c1.fits")
            times.append(datetime.fromisoformat(header["DATE-OBS"]))
            mjds.append(header["MJD"])
            assert header["UT-DATE"] + "T" + header["UT-TIME"] == header["DATE-OBS"]
        steps = np.diff([t.timestamp() for t in times])
        assert np.all(steps > 0)
        if kind == "dark":
            assert np.all(steps >= 3600)
        mjd_from_date = [(t - datetime(1858, 11, 17)).total_seconds() / 86400 for t in times]
        np.testing.assert_allclose(mjds, mjd_from_date, atol=1e-5)


# --- Bias statistics ---------------------------------------------------------------------------


def test_median_bias_is_about_817_everywhere(biases):
    rows, cols = 1028 // S, 2048 // S
    assert abs(np.median(biases[0][:rows, :cols]) - 817) <= 1
    assert abs(np.median(biases[0][:, cols:]) - 817) <= 1  # overscan
    assert abs(np.median(biases[0][rows:, :]) - 817) <= 1  # bias lines
    assert biases.min() > 700  # never negative, nowhere near 0


def test_read_noise_from_a_frame_difference(biases):
    rows, cols = 1028 // S, 2048 // S
    diff = biases[0][:rows, :cols].astype(float) - biases[1][:rows, :cols].astype(float)
    _, _, std = sigma_clipped_stats(diff, sigma=5, maxiters=5)
    assert std / np.sqrt(2) == pytest.approx(READ_NOISE_DU, rel=0.05)


def test_overscan_and_bias_lines_hold_bias_and_read_noise_only(biases):
    rows, cols = 1028 // S, 2048 // S
    for frame in biases[:5]:
        for region in (frame[:, cols:], frame[rows:, :]):
            values = region.astype(float)
            assert np.std(values) == pytest.approx(READ_NOISE_DU, rel=0.08)
            # no cosmic ray, hot pixel or pattern: nothing beyond 6 sigma
            assert np.max(np.abs(values - np.mean(values))) < 6 * READ_NOISE_DU


def test_master_bias_mostly_within_the_syllabus_colour_range(biases, model):
    rows, cols = 1028 // S, 2048 // S
    master = np.median(biases, axis=0)[:rows, :cols]
    inside = np.mean((master >= 816.6) & (master <= 818.4))
    assert inside > 0.6
    # some rows are visibly lower (1-3 DU) in the stable pattern
    row_means = np.median(master, axis=1)
    assert len(model.low_rows) >= 3
    assert np.all(row_means[model.low_rows] < np.median(row_means) - 0.7)
    assert np.sum(row_means < np.median(row_means) - 0.7) >= 3


def test_hot_pixels_and_bad_columns_stay_in_place(biases, model):
    for frame in biases:
        assert np.all(frame[model.hot_rows, model.hot_cols] > 817 + 150)
    master = np.median(biases, axis=0)
    for bad in model.bad_columns:
        column = master[bad.first_row:1028 // S, bad.column]
        neighbours = master[bad.first_row:1028 // S, bad.column + 2]
        assert np.median(column - neighbours) == pytest.approx(bad.offset, abs=1.5)
    assert 6 <= model.hot_rows.size <= 60


def _fixed_bad_pixels(model):
    mask = np.zeros(model.pattern.shape, bool)
    mask[model.hot_rows, model.hot_cols] = True
    for bad in model.bad_columns:
        mask[bad.first_row:, bad.column] = True
    return mask


def test_cosmic_rays_move_and_vanish_from_the_median(biases, model):
    rows, cols = 1028 // S, 2048 // S
    fixed = _fixed_bad_pixels(model)
    flagged = []
    for frame in biases[:2]:
        mask = sigma_clip(frame[:rows, :cols].astype(float), sigma=5, maxiters=5).mask
        flagged.append(mask & ~fixed)
    first, second = flagged
    assert first.sum() >= 10 and second.sum() >= 10
    assert (first & second).sum() < 0.1 * min(first.sum(), second.sum())
    # the cosmic-ray pixels of frame 0 hold a normal value in the median of 40
    master = np.median(biases, axis=0)[:rows, :cols]
    expected = model.expected_bias()
    assert np.all(np.abs(master[first] - expected[first]) < 5 * 1.26 * READ_NOISE_DU / np.sqrt(40))
    # and the master has (almost) no outliers left apart from the fixed bad pixels
    residual = sigma_clip(master - expected, sigma=5, maxiters=5).mask & ~fixed
    assert residual.sum() <= 3


def test_cosmic_rays_are_tracks_and_blobs_up_to_thousands(biases):
    rows, cols = 1028 // S, 2048 // S
    excess = biases[:, :rows, :cols].astype(float) - 817
    assert excess.max() > 1000
    assert biases.max() <= 65535


# --- Darks ------------------------------------------------------------------------------------


def _dark_signal(frame, model, region):
    """Dark signal (DU) in ``region`` of the data section: data - fixed pattern - overscan level."""
    rows, cols = 1028 // S, 2048 // S
    data = frame[:rows, :cols].astype(float) - model.pattern
    overscan = sigma_clipped_stats(frame[:, cols:].astype(float))[0]
    return sigma_clipped_stats(data[region], sigma=4, maxiters=5)[0] - overscan


def test_dark_current_is_linear_in_exposure_time(model):
    times = np.array([0.0, 900.0, 1800.0, 3600.0, 7200.0])
    far = (slice(1028 // S // 2, 1028 // S), slice(2048 // S // 2, 2048 // S))
    signal = np.array([_dark_signal(make_dark(t, "small", model=model), model, far) for t in times])
    slope, intercept = np.polyfit(times, signal, 1)
    assert slope * 3600 == pytest.approx(4.0, rel=0.1)  # a few DU per hour
    assert abs(intercept) < 0.15
    assert np.max(np.abs(signal - (slope * times + intercept))) < 0.15
    corner = (slice(0, 3), slice(0, 3))
    glow = [_dark_signal(make_dark(t, "small", model=model, index=1), model, corner) for t in (1800.0, 3600.0, 7200.0)]
    assert glow[1] / glow[0] == pytest.approx(2, rel=0.15)
    assert glow[2] / glow[1] == pytest.approx(2, rel=0.15)


def test_lower_left_glow_exceeds_the_opposite_corner(root, model):
    rows, cols = 1028 // S, 2048 // S
    box = 3
    for n in range(1212, 1217):
        data, header = _read(root, f"calibration_frames/dark/b{n}c1.fits")
        assert header["EXPTIME"] == 3600
        level = np.median(data[:, cols:])
        lower_left = np.median(data[:box, :box]) - level
        upper_right = np.median(data[rows - box:rows, cols - box:cols]) - level
        assert 50 < lower_left < 300
        assert lower_left > upper_right + 50
        assert upper_right < 15


def test_darks_are_full_of_cosmic_rays(root, biases, model):
    rows, cols = 1028 // S, 2048 // S
    fixed = _fixed_bad_pixels(model)
    far = np.zeros((rows, cols), bool)
    far[rows // 2:, cols // 2:] = True  # away from the glow
    dark, _ = _read(root, "calibration_frames/dark/b1212c1.fits")
    dark_hits = (sigma_clip(dark[:rows, :cols].astype(float), sigma=5).mask & far & ~fixed).sum()
    bias_hits = (sigma_clip(biases[0][:rows, :cols].astype(float), sigma=5).mask & far & ~fixed).sum()
    assert dark_hits > 5 * max(bias_hits, 1)


# --- Flats ------------------------------------------------------------------------------------


def _flats(root, camera, detector, numbers):
    """Bias-corrected (own overscan), trimmed flats, as the syllabus reads them (transposed)."""
    frames, levels = [], []
    for n in numbers:
        raw = fits.getdata(root / f"calibration_frames/flat/{camera}/{camera}{n:04d}{detector}.fits").T
        level = np.median(raw[1024 // S:, :])
        levels.append(level)
        frames.append(raw[: 1024 // S, : 2048 // S].astype(float) - level)
    return np.array(frames), np.array(levels)


def _normalized_master(frames):
    master = np.median(frames, axis=0)
    return master / np.median(master)


def test_flat_overscan_holds_the_imacs_bias_level_not_ifums(root):
    for camera, detector, numbers in (("ift", "c2", range(14, 20)), ("iff", "c3", range(8, 14))):
        frames, levels = _flats(root, camera, detector, numbers)
        assert np.all((levels > 1100) & (levels < 1250))
        assert np.all(np.abs(levels - 817) > 250)
        raw = fits.getdata(root / f"calibration_frames/flat/{camera}/{camera}{numbers[0]:04d}{detector}.fits")
        overscan = raw[:, 1024 // S:].astype(float)
        assert np.std(overscan) < 6  # bias and read noise only
        medians = np.median(frames, axis=(1, 2))
        assert np.all((medians > 8000) & (medians < 12000))
        drift = (medians.max() - medians.min()) / medians.mean()
        assert 0.003 < drift < 0.12  # the lamp drifts by a few per cent


def test_ift_vignetting_spans_0p7_to_1p1(root):
    frames, _ = _flats(root, "ift", "c2", range(14, 19))
    norm = _normalized_master(frames)
    low, high = np.percentile(norm, [0.5, 99.5])
    assert 0.66 < low < 0.8  # corners and edges go down to about 0.7
    assert 1.04 < high < 1.12
    assert np.mean((norm > 0.85) & (norm < 1.1)) > 0.85
    assert np.sum(norm < 0.6) < 10  # ift is clean


def test_iff_c3_has_dust_donuts_and_dead_pixels_below_0p6(root):
    model = flat_model("iff", "c3", "small")
    frames, _ = _flats(root, "iff", "c3", range(8, 13))
    norm = _normalized_master(frames)
    assert np.sum(norm < 0.6) >= 5
    assert np.mean(norm[model.dead_rows, model.dead_cols] < 0.6) > 0.8
    assert 10 <= len(model.donuts) <= 60
    for donut in model.donuts:
        assert 5 <= 2 * donut.r_outer * S <= 70  # tens of pixels across at full size
        assert 0.05 <= donut.depth <= 0.2
    # the annuli are darker than their surroundings
    yy, xx = np.mgrid[: norm.shape[0], : norm.shape[1]]
    deep = [d for d in model.donuts if d.depth > 0.1]
    for donut in deep[:5]:
        radius = np.hypot(yy + 0.5 - donut.row, xx + 0.5 - donut.col)
        ring = (radius > donut.r_inner + 0.5) & (radius < donut.r_outer - 0.5)
        around = (radius > donut.r_outer + 2) & (radius < donut.r_outer + 5)
        assert np.median(norm[ring]) < np.median(norm[around]) - 0.04


def test_iff_c2_is_milder(root):
    c2, _ = _flats(root, "iff", "c2", range(8, 13))
    c3, _ = _flats(root, "iff", "c3", range(8, 13))
    assert np.sum(_normalized_master(c2) < 0.6) < np.sum(_normalized_master(c3) < 0.6)
    assert np.percentile(_normalized_master(c2), 1) > 0.85


def test_fixed_flat_features_repeat_in_every_frame(root):
    model = flat_model("iff", "c3", "small")
    frames, _ = _flats(root, "iff", "c3", range(8, 14))
    normalized = frames / np.median(frames, axis=(1, 2))[:, None, None]
    for frame in normalized:
        assert np.mean(frame[model.dead_rows, model.dead_cols] < 0.6) > 0.8
    # the ratio of two frames is flat: donuts, dead pixels and vignetting cancel exactly
    ratio = normalized[1] / normalized[0]
    yy, xx = np.mgrid[: ratio.shape[0], : ratio.shape[1]]
    for donut in model.donuts[:10]:
        ring = np.hypot(yy + 0.5 - donut.row, xx + 0.5 - donut.col) < donut.r_outer
        assert abs(np.median(ratio[ring]) - 1) < 0.01
    bright = normalized[0] > 0.7
    assert np.std(sigma_clip(ratio[bright], sigma=5)) < 0.03  # photon noise only


def test_flat_noise_is_poisson_in_electrons_with_the_header_gain(root):
    frames, _ = _flats(root, "ift", "c2", (14, 15))
    header = fits.getheader(root / "calibration_frames/flat/ift/ift0014c2.fits")
    centre = (slice(100 // S, 900 // S), slice(700 // S, 1300 // S))
    a, b = frames[0][centre], frames[1][centre]
    b = b * np.median(a) / np.median(b)
    _, _, std = sigma_clipped_stats(a - b, sigma=5)
    variance_du = std**2 / 2 - (header["ENOISE"] / header["EGAIN"]) ** 2
    gain = np.median((a + b) / 2) / variance_du
    assert gain == pytest.approx(header["EGAIN"], rel=0.1)


# --- Determinism and the model ------------------------------------------------------------------


def test_two_generations_are_byte_identical(root, tmp_path):
    again = generate(tmp_path / "again", "small", progress=False)
    for path in [f.path for f in FRAMES]:
        assert (again / path).read_bytes() == (root / path).read_bytes(), path

    def without_times(folder):  # the marker records each file's time, which differs
        content = json.loads((folder / "course_dataset.json").read_text())
        for record in content["files"]:
            assert record.pop("mtime_ns") == (folder / record["path"]).stat().st_mtime_ns
        return content

    assert without_times(again) == without_times(root)


def test_a_file_does_not_depend_on_what_was_made_before(root):
    for frame in (FRAMES[-1], FRAMES[20], FRAMES[0]):  # any order
        data = fits.getdata(root / frame.path)
        np.testing.assert_array_equal(make_frame(frame, "small"), data)


def test_another_seed_gives_other_noise_but_the_same_structure(root):
    frame = FRAMES[0]
    other = make_frame(frame, "small", seed=DEFAULT_SEED + 1)
    same = fits.getdata(root / frame.path)
    assert other.shape == same.shape and other.dtype == same.dtype
    assert not np.array_equal(other, same)


def test_model_constants():
    assert DEFAULT_SEED == 20230321 and isinstance(GENERATOR_VERSION, int)
    assert set(synthetic.PRESETS) == {"full", "small"}
    model = ifum_model("full")
    assert model.read_noise_du == pytest.approx(3.97, abs=0.01)
    assert model.gain == 0.68 and model.bias_level == pytest.approx(817, abs=1)
    assert model.glow_corner == (0, 0)
    assert 10 <= model.hot_rows.size <= 60
    assert model.glow[0, 0] > model.glow[-1, -1] * 100
    with pytest.raises(ValueError, match="preset"):
        ifum_model("medium")
    with pytest.raises(ValueError, match="seed"):
        ifum_model("small", seed=-1)
    with pytest.raises(ValueError, match="exptime"):
        make_dark(-5, "small")


# --- Writing safely -------------------------------------------------------------------------


def test_generate_keeps_a_complete_identical_dataset(root, tmp_path):
    from shutil import copytree

    copy = tmp_path / "copy"
    copytree(root, copy)
    before = {p: p.stat().st_mtime_ns for p in copy.rglob("*")}
    assert generate(copy, "small", progress=False) == copy.absolute()
    assert {p: p.stat().st_mtime_ns for p in copy.rglob("*")} == before


def test_generate_refuses_to_overwrite_another_dataset_unless_asked(root, tmp_path):
    from shutil import copytree

    copy = tmp_path / "copy"
    copytree(root, copy)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        generate(copy, "small", seed=7, progress=False)
    assert json.loads((copy / "course_dataset.json").read_text())["seed"] == DEFAULT_SEED
    generate(copy, "small", seed=7, progress=False, overwrite=True)
    assert json.loads((copy / "course_dataset.json").read_text())["seed"] == 7
    assert fits.getheader(copy / FRAMES[0].path)["GENSEED"] == 7
    assert names(tmp_path) == ["copy"]  # no leftovers (the lock file beside it stays)


def test_generate_never_replaces_a_folder_of_other_files(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("precious")
    for overwrite in (False, True):
        with pytest.raises(FileExistsError, match="not a course dataset"):
            generate(folder, "small", progress=False, overwrite=overwrite)
    assert (folder / "thesis.tex").read_text() == "precious"


def test_generate_fills_an_empty_folder(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    generate(folder, "small", progress=False)
    assert (folder / "course_dataset.json").is_file()


def test_a_killed_generation_looks_incomplete_and_is_resumed(tmp_path):
    """A generation killed outright (SIGKILL: no clean-up) is never taken for complete."""
    target = tmp_path / "data"
    code = ("import sys; from course_utils.data.synthetic import generate; "
            "generate(sys.argv[1], 'small', progress=False)")
    child = subprocess.Popen([sys.executable, "-c", code, str(target)])
    deadline = time.monotonic() + 60
    while len(list(target.glob("calibration_frames/**/*.fits"))) < 10 and child.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    child.kill()
    child.wait()
    content = json.loads((target / "course_dataset.json").read_text())
    assert content["complete"] is False
    problem = store.check(target, synthetic.expected_info("small"), [f.path for f in FRAMES]).first()
    assert "incomplete" in problem
    generate(target, "small", progress=False)  # resumes: course_utils made this folder
    assert store.full_check(target) == [] and store.read_marker(target)["complete"] is True


def test_older_versions_sibling_folders_are_neither_used_nor_touched(tmp_path):
    """Folders ``.NAME.partial-PID-XXXXXXXX`` of earlier versions are left to the user (see CHANGELOG)."""
    stale = tmp_path / f".data.partial-{dead_pid()}-abcd1234"
    (stale / "calibration_frames").mkdir(parents=True)
    generate(tmp_path / "data", "small", progress=False)
    assert stale.is_dir() and (stale / "calibration_frames").is_dir()
    assert (tmp_path / "data" / "course_dataset.json").is_file()
