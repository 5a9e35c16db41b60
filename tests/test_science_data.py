"""The synthetic science frames: layout, physics against the truth, catalogue, folder.

Calibration here uses ccdproc (an independent implementation), never the
course's own solution, so that a shared mistake cannot hide.
"""

from __future__ import annotations

import ccdproc
import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.nddata import CCDData

from course_utils.data import identity, store
from course_utils.data.store import NotWritableError
from course_utils.data.layout import PRESETS, SCIENCE_FRAMES
from course_utils.data.models import flat_model
from course_utils.data.science import (
    CATALOGUE_PATH,
    FLAT_PATHS,
    dither,
    expected_signal,
    generate_science,
    make_science_frame,
    read_catalogue,
    science_dir,
    science_header,
    star_catalogue,
)
from course_utils.data.synthetic import generate

from data_fixtures import manifest_builder, names, tamper


@pytest.fixture(scope="module")
def science(tmp_path_factory):
    return generate_science(tmp_path_factory.mktemp("science") / "science", "small")


def _ccdproc_calibrated(path, flat_paths) -> np.ndarray:
    """Overscan-subtracted, trimmed, flat-fielded by ccdproc; transposed as the course shows it."""
    def reduce(file):
        header = fits.getheader(file)
        ccd = CCDData(fits.getdata(file).astype(np.float64), unit=u.adu, meta=header)
        ccd = ccdproc.subtract_overscan(ccd, fits_section=header["BIASSEC"], median=True,
                                        overscan_axis=1, model=None)
        return ccdproc.trim_image(ccd, fits_section=header["DATASEC"])

    flats = [reduce(p) for p in flat_paths]
    flats = [f.divide(np.median(f.data) * u.adu) for f in flats]
    master = ccdproc.combine(flats, method="median")
    calibrated = ccdproc.flat_correct(reduce(path), master, norm_value=np.median(master.data))
    return np.asarray(calibrated.data).T


# --- Layout and headers ---------------------------------------------------------------


@pytest.mark.parametrize("preset", ["full", "small"])
def test_frames_have_the_raw_layout_of_the_ift_flats(preset):
    geometry = PRESETS[preset].imacs
    raw = make_science_frame(SCIENCE_FRAMES[0], preset)
    assert raw.dtype == np.uint16 and raw.shape == geometry.shape
    header = science_header(SCIENCE_FRAMES[0], preset)
    assert (header["BIASSEC"], header["DATASEC"]) == (geometry.biassec, geometry.datasec)
    assert (header["INSTRUME"], header["CHIP"], header["FILTER"]) == ("IMACS Long-Camera", 2, "Sloan_i")
    assert header["EXPTYPE"] == "Object" and header["EXPTIME"] == 300.0


def test_headers_record_the_dither_and_three_frames_share_each_pointing():
    pointings = [science_header(f, "full")["POINTING"] for f in SCIENCE_FRAMES]
    assert pointings == [1, 1, 1, 2, 2, 2]
    dx, dy = dither(SCIENCE_FRAMES[5], "full")
    header = science_header(SCIENCE_FRAMES[5], "full")
    assert (header["DITHX"], header["DITHY"]) == (dx, dy)
    assert dx > 0.3 * 2048 and dy > 0.3 * 1024  # a good fraction of the field
    with pytest.raises(ValueError, match="not a science frame"):
        dither(SCIENCE_FRAMES[0].__class__("x.fits", "flat", "ift", "c2", 14, 0, 5.0))


def test_the_same_seed_gives_the_same_bytes_and_files_are_independent():
    a = make_science_frame(SCIENCE_FRAMES[1], "small", seed=3)
    b = make_science_frame(SCIENCE_FRAMES[1], "small", seed=3)
    c = make_science_frame(SCIENCE_FRAMES[2], "small", seed=3)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


# --- Physics against the truth ----------------------------------------------------------


def test_overscan_holds_the_bias_level_and_read_noise():
    model = flat_model("ift", "c2", "small")
    raw = make_science_frame(SCIENCE_FRAMES[0], "small").astype(float)
    overscan = raw[:, 256:]
    assert abs(np.median(overscan) - model.bias_level) < 1
    assert np.std(overscan) == pytest.approx(model.read_noise_du, rel=0.05)


def test_raw_sky_follows_the_detector_response():
    model = flat_model("ift", "c2", "small")
    raw = make_science_frame(SCIENCE_FRAMES[0], "small").astype(float)
    sky = (raw[:, :256] - np.median(raw[:, 256:])).T
    truth = expected_signal(SCIENCE_FRAMES[0], "small")
    ratio = np.median((sky / truth).reshape(16, 16, 32, 16), axis=(1, 3))
    response = model.sensitivity.reshape(16, 16, 32, 16).mean(axis=(1, 3))
    assert np.corrcoef(ratio.ravel(), response.ravel())[0, 1] > 0.95


def test_ccdproc_calibration_recovers_the_truth_within_the_photon_noise(science):
    model = flat_model("ift", "c2", "small")
    calibrated = _ccdproc_calibrated(science / SCIENCE_FRAMES[0].path,
                                     [science / p for p in FLAT_PATHS])
    truth = expected_signal(SCIENCE_FRAMES[0], "small").astype(float)
    noise = np.sqrt(truth * model.sensitivity * model.gain + model.read_noise_e ** 2) / (
        model.gain * model.sensitivity)
    normalized = (calibrated - truth) / noise
    assert abs(np.median(normalized)) < 0.05
    spread = 1.4826 * np.median(np.abs(normalized - np.median(normalized)))
    assert spread == pytest.approx(1.0, abs=0.08)  # Poisson in electrons, plus read noise


def test_catalogue_fluxes_are_the_stars_total_light_and_sit_where_listed():
    stars = star_catalogue("full")
    truth = expected_signal(SCIENCE_FRAMES[0], "full").astype(float) - 600.0
    x, y, flux = stars["x"][0], stars["y"][0], stars["flux_du"][0]
    r, c = int(round(y)), int(round(x))
    box = truth[r - 15:r + 16, c - 15:c + 16]
    assert box.sum() == pytest.approx(flux, rel=0.01)
    peak_r, peak_c = np.unravel_index(np.argmax(box), box.shape)
    assert (peak_r - 15, peak_c - 15) == (round(y) - r, round(x) - c)
    dx, dy = dither(SCIENCE_FRAMES[3], "full")
    shifted = expected_signal(SCIENCE_FRAMES[3], "full").astype(float) - 600.0
    box2 = shifted[r + dy - 15:r + dy + 16, c + dx - 15:c + dx + 16]
    assert box2.sum() == pytest.approx(flux, rel=0.01)


def test_star_one_is_near_the_centre_at_pointing_1_and_dimmed_at_pointing_2():
    model = flat_model("ift", "c2", "full")
    stars = star_catalogue("full")
    dx, dy = dither(SCIENCE_FRAMES[3], "full")
    x, y = int(stars["x"][0]), int(stars["y"][0])
    centre = model.vignetting[y, x]
    edge = model.vignetting[y + dy, x + dx]
    assert centre > np.percentile(model.vignetting, 95)
    assert edge / centre < 0.85
    assert stars["flux_e"][0] == stars["flux_e"][:8].max()


# --- Files and folders ------------------------------------------------------------------------


def test_folder_holds_frames_catalogue_matching_flats_and_a_marker(science, tmp_path):
    for frame in SCIENCE_FRAMES:
        assert fits.getdata(science / frame.path).shape == PRESETS["small"].imacs.shape
    stars = read_catalogue(science / CATALOGUE_PATH)
    expected = star_catalogue("small")
    assert np.array_equal(stars["star"], expected["star"])
    np.testing.assert_allclose(stars["x"], expected["x"], atol=1e-3)
    np.testing.assert_allclose(stars["flux_du"], expected["flux_du"], atol=0.05)
    problems = store.full_check(science)
    assert problems == []
    # the flats are the synthetic dataset's, byte for byte
    dataset = generate(tmp_path / "data", "small", progress=False)
    for path in FLAT_PATHS:
        assert (science / path).read_bytes() == (dataset / path).read_bytes()


def test_generation_keeps_a_complete_folder_and_never_replaces_a_foreign_one(science, tmp_path):
    before = (science / SCIENCE_FRAMES[0].path).stat().st_mtime_ns
    assert generate_science(science, "small") == science
    assert (science / SCIENCE_FRAMES[0].path).stat().st_mtime_ns == before
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("my work")
    with pytest.raises(FileExistsError, match="not a course dataset made by course_utils"):
        generate_science(foreign, "small")
    assert names(foreign) == ["notes.txt"] and (foreign / "notes.txt").read_text() == "my work"
    assert names(tmp_path) == ["mine"]  # no partial left


def test_an_unwritable_cache_is_a_clear_error(tmp_path):
    # A file where the cache folder should be: no folder can be made there, even by root.
    blocker = tmp_path / "cache"
    blocker.write_text("not a folder")
    with pytest.raises(NotWritableError, match="synthetic science frames"):
        generate_science(blocker / "science", "small")
    assert blocker.read_text() == "not a folder"


def test_an_interrupted_generation_leaves_no_folder_that_looks_complete(tmp_path, monkeypatch):
    # A full disk, simulated at the public boundary: writing the marker fails.
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(store, "write_marker", full_disk)
        with pytest.raises(OSError, match="No space left"):
            generate_science(tmp_path / "science", "small")
    plan_info = identity.science("small")
    assert not store.check(tmp_path / "science", plan_info, [CATALOGUE_PATH]).ok
    root = generate_science(tmp_path / "science", "small")  # the next call completes it
    assert store.check(root, plan_info, [CATALOGUE_PATH]).ok and store.full_check(root) == []


def test_science_dir_generates_once_and_replaces_a_stale_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    root = science_dir("small")
    assert root == tmp_path / "synthetic-science-small"
    assert "synthetic science frames (preset 'small'" in capsys.readouterr().out
    (root / SCIENCE_FRAMES[2].path).unlink()  # an incomplete folder in the cache
    assert science_dir("small", verbose=False) == root
    assert (root / SCIENCE_FRAMES[2].path).is_file()
    assert store.full_check(root) == []


def test_science_dir_prints_the_same_line_wherever_the_cache_is(tmp_path, monkeypatch, capsys):
    # Notebook 5 stores this line: it must not name the machine's cache folder.
    lines = []
    for folder in (tmp_path / "one", tmp_path / "elsewhere" / "two"):
        monkeypatch.setenv("COURSE_CACHE_DIR", str(folder))
        science_dir("small")
        lines.append(capsys.readouterr().out)
    assert lines[0] == lines[1]
    assert str(tmp_path) not in lines[0]
    assert "synthetic-science-small in the course's cache folder" in lines[0]


def test_science_dir_works_whichever_calibration_source_is_chosen(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("COURSE_DATA_SOURCE", "magellan")  # no network needed: nothing fetched
    root = science_dir("small", verbose=False)
    assert names(tmp_path) == ["synthetic-science-small"]
    assert all((root / p).is_file() for p in FLAT_PATHS)


def test_a_malformed_catalogue_names_the_file(tmp_path):
    bad = tmp_path / "stars.csv"
    bad.write_text("star,x\n1,2\n")
    with pytest.raises(ValueError, match="stars.csv"):
        read_catalogue(bad)


def test_the_shipped_manifest_describes_the_science_folder(science):
    from importlib import resources

    from course_utils.data.manifest import load_manifest
    from course_utils.data.science import MANIFEST_RESOURCE, science_manifest

    shipped = resources.files("course_utils.data_manifest").joinpath(MANIFEST_RESOURCE)
    assert shipped.read_text("utf-8") == manifest_builder().dumps_manifest(science_manifest()), (
        "regenerate it: python tools/build_manifest.py --science --output data_manifest/science_frames.json")
    manifest = load_manifest(str(shipped))  # a valid manifest
    listed = {entry["path"] for entry in manifest["files"]}
    present = {p.relative_to(science).as_posix() for p in science.rglob("*") if p.is_file()}
    assert present - {store.MARKER_NAME} == listed
    for entry in manifest["files"]:
        if entry["frame_type"] in ("science", "flat"):
            header = fits.getheader(science / entry["path"])
            assert [header["NAXIS2"] * 4, header["NAXIS1"] * 4] == entry["shape"]  # small = full / 4
            assert header["EXPTIME"] == entry["exptime"]


def test_science_frames_are_read_only_and_a_changed_one_is_made_again(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    root = science_dir("small", verbose=False)
    victim = root / SCIENCE_FRAMES[1].path
    original = victim.read_bytes()
    assert not victim.stat().st_mode & 0o222  # raw data: read-only
    tamper(victim, original[:-4] + b"XXXX")  # same size, other bytes
    assert science_dir("small", verbose=False) == root
    assert victim.read_bytes() == original
    assert "Repaired 1 damaged file" in capsys.readouterr().err


def test_two_first_calls_at_once_make_one_complete_science_folder(tmp_path):
    """Two notebooks opened together: the lock makes them wait for one another, not break each other."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = "from course_utils.data.science import science_dir; print(science_dir('small', verbose=False))"
    env = {**os.environ, "COURSE_CACHE_DIR": str(tmp_path), "TQDM_DISABLE": "1",
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    runs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [run.communicate(timeout=300) + (run.returncode,) for run in runs]
    root = tmp_path / "synthetic-science-small"
    for out, err, status in results:
        assert status == 0, err
        assert out.strip() == str(root)
    assert store.full_check(root) == [] and names(tmp_path) == ["synthetic-science-small"]
    assert not [p for p in root.rglob("*") if ".partial" in p.name or p.name.startswith(".")]
