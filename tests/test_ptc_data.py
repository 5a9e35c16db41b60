"""The photon transfer sequence of the synthetic dataset: real physics, measured independently.

The gain and read noise are recovered here with numpy and astropy alone (not
with course_utils.solutions) and compared with the truth the frames were
made with: EGAIN = 0.68 e-/DU and ENOISE = 2.7 e-.
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.stats import sigma_clip

from course_utils import solutions
from course_utils.data import store, identity, locate
from course_utils.data.layout import FRAMES, PTC_EXPTIMES, PTC_FRAMES, SYNTHETIC_FRAMES
from course_utils.data.ptc import PTC_FULL_WELL, PTC_PRNU, ptc_header, ptc_model
from course_utils.data.synthetic import GENERATOR_VERSION, make_frame
from data_fixtures import copy_dataset, isolated_env, small_dataset

GAIN, READ_NOISE_E = 0.68, 2.7


def _clipped_var(values: np.ndarray) -> float:
    return float(np.var(sigma_clip(values, sigma=5, maxiters=10).compressed()))


@pytest.fixture(scope="module")
def curve():
    """Per level: exposure time, signal, half pair-difference variance, single-frame variance."""
    model = ptc_model("full")
    cols = model.geometry.data_cols
    rows = []
    for first, second in zip(PTC_FRAMES[::2], PTC_FRAMES[1::2]):
        frames = []
        for frame in (first, second):
            raw = make_frame(frame, "full", model=model).astype(np.float64)
            frames.append(raw[:, :cols] - np.median(raw[:, cols:]))
        signal = 0.5 * (frames[0].mean() + frames[1].mean())
        rows.append((first.exptime, signal, _clipped_var(frames[1] - frames[0]) / 2,
                     _clipped_var(frames[0])))
    return np.array(rows)


def _shot_part(curve):
    exptime, signal, variance, _ = curve.T
    return (exptime > 0) & (signal < 0.8 * signal.max())


def test_the_sequence_is_pairs_of_increasing_levels_up_to_saturation():
    assert len(PTC_FRAMES) == 2 * len(PTC_EXPTIMES) >= 20
    assert [f.exptime for f in PTC_FRAMES[::2]] == [f.exptime for f in PTC_FRAMES[1::2]]
    assert list(PTC_EXPTIMES) == sorted(PTC_EXPTIMES) and PTC_EXPTIMES[0] == 0
    assert set(SYNTHETIC_FRAMES) == set(FRAMES) | set(PTC_FRAMES)
    assert not {f.path for f in FRAMES} & {f.path for f in PTC_FRAMES}


def test_recovered_gain_matches_the_truth(curve):
    _, signal, variance, _ = curve.T
    used = _shot_part(curve)
    assert np.count_nonzero(used) >= 6
    slope, _ = np.polyfit(signal[used], variance[used], 1)
    assert abs(1 / slope - GAIN) < 0.02 * GAIN
    # per level too: signal / (variance - read-noise variance) is the gain
    per_level = signal[used] / (variance[used] - variance[0])
    assert np.all(np.abs(per_level / GAIN - 1) < 0.03)


def test_recovered_read_noise_matches_the_truth(curve):
    read_noise_du = np.sqrt(curve[0, 2])
    assert abs(read_noise_du - READ_NOISE_E / GAIN) < 0.05 * READ_NOISE_E / GAIN
    assert abs(read_noise_du * GAIN - READ_NOISE_E) < 0.05 * READ_NOISE_E


def test_levels_span_a_few_hundred_du_to_saturation(curve):
    _, signal, _, _ = curve.T
    assert 100 < signal[1] < 1000
    assert abs(signal[-1] - PTC_FULL_WELL / GAIN) < 0.02 * PTC_FULL_WELL / GAIN
    assert np.all(np.diff(signal) > 0)


def test_single_frames_carry_the_prnu_and_the_pair_difference_cancels_it(curve):
    _, signal, variance, single = curve.T
    used = _shot_part(curve)
    top = np.flatnonzero(used)[-1]  # brightest level on the shot-noise part
    shot = signal[top] / GAIN + variance[0]
    assert abs(variance[top] / shot - 1) < 0.03
    excess = single[top] - shot  # in a single frame: + (PRNU * signal)^2
    assert abs(excess / (PTC_PRNU * signal[top]) ** 2 - 1) < 0.15
    # at the lowest level the PRNU is negligible: both agree
    assert abs(single[1] / variance[1] - 1) < 0.05


def test_the_curve_turns_over_at_full_well(curve):
    _, signal, variance, _ = curve.T
    peak = int(np.argmax(variance))
    assert peak < len(variance) - 1
    assert variance[-1] < 0.05 * variance[peak]  # every well full: only read noise is left
    assert np.max(signal) < 65535 - 1000  # the well fills before the converter does


def test_frames_are_deterministic_and_headers_say_what_they_are():
    model = ptc_model("small")
    frame = PTC_FRAMES[7]
    first, again = make_frame(frame, "small", model=model), make_frame(frame, "small")
    assert np.array_equal(first, again) and first.dtype == np.uint16
    header = ptc_header(frame, model, GENERATOR_VERSION)
    assert first.shape == (header["NAXIS2"], header["NAXIS1"])
    assert header["EGAIN"] == GAIN and header["ENOISE"] == READ_NOISE_E
    assert header["EXPTIME"] == frame.exptime and header["LEDS"] == "On"
    assert header["SYNTHETC"] is True and header["INSTRUME"] == "IFUM"
    unlit = ptc_header(PTC_FRAMES[0], model, GENERATOR_VERSION)
    assert unlit["EXPTYPE"] == "Bias" and unlit["LEDS"] == "Off"


def test_the_subraster_has_the_bias_pattern_of_the_full_detector():
    from course_utils.data.models import ifum_model

    model, ifum = ptc_model("small"), ifum_model("small")
    row, col = model.origin
    rows, cols = model.pattern.shape
    assert np.array_equal(model.pattern, ifum.pattern[row:row + rows, col:col + cols])


def test_both_presets_hold_the_frames_in_the_generated_dataset(tmp_path_factory):
    root = small_dataset(tmp_path_factory)
    for frame in PTC_FRAMES:
        with fits.open(root / frame.path) as hdul:
            assert hdul[0].header["GENPRSET"] == "small"
            assert hdul[0].data.shape == (64, 160)


# --- Where the notebook finds the frames ---------------------------------------------------


def test_real_frames_chosen_the_ptc_frames_come_from_the_synthetic_dataset(
        monkeypatch, tmp_path, tmp_path_factory, capsys):
    cache = isolated_env(monkeypatch, tmp_path)
    source = small_dataset(tmp_path_factory)
    real_like = copy_dataset(source, tmp_path / "real")
    for frame in PTC_FRAMES:  # like the real set: no photon-transfer frames
        (real_like / frame.path).unlink()
    (real_like / "course_dataset.json").unlink()  # an instructor's folder: no marker
    monkeypatch.setenv("COURSE_DATA_DIR", str(real_like))
    paths = [f.path for f in PTC_FRAMES]
    root = locate.dataset_dir_for(paths, "Photon-transfer frames", preset="small")
    out = capsys.readouterr().out
    assert "Photon-transfer frames exist only in the synthetic dataset" in out
    assert root == cache / "synthetic-small" and all((root / p).is_file() for p in paths)
    assert not (real_like / paths[0]).exists()  # nothing written into the chosen data

    monkeypatch.delenv("COURSE_DATA_DIR")
    again = locate.dataset_dir_for(paths, "Photon-transfer frames", preset="small")
    assert again == root and "exist only" not in capsys.readouterr().out


# --- The reference fit, over widely varying detectors ----------------------------------------


# (hypothesis is not a dependency of this project yet: a seeded spread of detectors instead)
_DETECTORS = np.random.default_rng(14).uniform([0.2, 1.0, 5e3], [8.0, 30.0, 6e4], size=(40, 3))


@pytest.mark.parametrize("gain, read_noise_du, top", _DETECTORS.tolist())
def test_fit_gain_recovers_any_gain_from_an_ideal_curve(gain, read_noise_du, top):
    signal = np.geomspace(top / 300, top, 10)
    variance = signal / gain + read_noise_du**2
    signal = np.concatenate([[0.0], signal, [top * 1.05]])
    variance = np.concatenate([[read_noise_du**2], variance, [read_noise_du**2]])  # saturated
    shot_dominated = (variance >= 10 * read_noise_du**2) & (signal < 0.8 * signal.max())
    if np.count_nonzero(shot_dominated) < 2:  # a noisy, low-gain detector: nothing to fit
        with pytest.raises(ValueError, match="shot-noise part"):
            solutions.fit_gain(signal, variance, read_noise_du)
        return
    fit = solutions.fit_gain(signal, variance, read_noise_du)
    assert fit.gain == pytest.approx(gain, rel=1e-6)
    assert fit.used.tolist() == shot_dominated.tolist()
    assert not fit.used[-1] and not fit.used[0]


def test_magellan_chosen_but_not_downloaded_nothing_is_downloaded_for_them(monkeypatch, tmp_path, capsys):
    cache = isolated_env(monkeypatch, tmp_path)
    monkeypatch.setenv("COURSE_DATA_SOURCE", "magellan")
    root = locate.dataset_dir_for([f.path for f in PTC_FRAMES], "Photon-transfer frames",
                                  preset="small")
    out = capsys.readouterr().out
    assert "exist only in the synthetic dataset; the real Magellan frames" in out
    assert root == cache / "synthetic-small"
    assert not (cache / "magellan").exists()


# --- Made with the data layer's rules (lock, marker, repair file by file) ---------------------


def test_a_dataset_made_before_the_sequence_existed_is_completed_file_by_file(
        monkeypatch, tmp_path, tmp_path_factory, capsys):
    cache = isolated_env(monkeypatch, tmp_path)
    root = copy_dataset(small_dataset(tmp_path_factory), cache / "synthetic-small")
    with store.unsealed(root, [f.path for f in PTC_FRAMES]):  # an older dataset: the 63 real-set files only
        for frame in PTC_FRAMES:
            (root / frame.path).unlink()
        (root / PTC_FRAMES[0].path).parent.rmdir()
        records = [r for r in store.read_marker(root)["files"] if r["path"] in {f.path for f in FRAMES}]
        store.write_marker(root, identity.synthetic("small"), records)
    before = {f.path: (root / f.path).stat().st_mtime_ns for f in FRAMES}
    assert locate.dataset_dir(source="synthetic", preset="small", verbose=False) == root
    assert {f.path: (root / f.path).stat().st_mtime_ns for f in FRAMES} == before  # not rewritten
    assert store.full_check(root) == []
    assert len(store.read_marker(root)["files"]) == len(SYNTHETIC_FRAMES)
    for frame in PTC_FRAMES:
        assert not (root / frame.path).stat().st_mode & 0o222  # read-only, like every raw frame
        assert (root / frame.path).read_bytes() == (small_dataset(tmp_path_factory) / frame.path).read_bytes()
    assert "Repaired" not in capsys.readouterr().err  # new files, not damaged ones


def test_real_frames_chosen_a_foreign_synthetic_folder_is_left_alone(monkeypatch, tmp_path):
    cache = isolated_env(monkeypatch, tmp_path)
    monkeypatch.setenv("COURSE_DATA_SOURCE", "magellan")
    mine = cache / "synthetic-small"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("my work")
    with pytest.raises(FileExistsError, match="not a course dataset made by course_utils"):
        locate.dataset_dir_for([f.path for f in PTC_FRAMES], "Photon-transfer frames", preset="small",
                               verbose=False)
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    assert (mine / "notes.txt").read_text() == "my work"
