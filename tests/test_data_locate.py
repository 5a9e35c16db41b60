"""dataset_dir's order of choice and its one printed line; work_dir's rules."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest

from course_utils.data import dataset_dir, locate, synthetic, work_dir
from course_utils.data import store
from course_utils.data.fetch import fetch_frames
from course_utils.data.layout import FRAMES

from data_fixtures import (  # noqa: F401 - fixtures by name
    cache,
    copy_dataset,
    FrameServer,
    isolated_env,
    make_manifest,
    names,
    source,
    tamper,
)

SYNTHETIC_LINE = ("Using the synthetic course dataset (preset 'small', seed 20230321, generator 1): "
                  "synthetic-small in the course's cache folder\n")


def _no_generation(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("dataset_dir generated a dataset it should have reused")

    monkeypatch.setattr(synthetic, "generate", fail)


def _no_download(monkeypatch):
    from course_utils.data import fetch

    def fail(*args, **kwargs):
        raise AssertionError("dataset_dir downloaded frames it should have reused")

    monkeypatch.setattr(fetch, "fetch_frames", fail)


# --- Generation, reuse and the printed line -----------------------------------------------------


def test_first_call_generates_later_calls_reuse_with_the_same_line(cache, capsys, monkeypatch, source):
    root = dataset_dir(preset="small")
    assert root == cache / "synthetic-small"
    first = capsys.readouterr().out
    assert first == SYNTHETIC_LINE
    for frame in FRAMES:  # identical to an independent generation
        assert (root / frame.path).read_bytes() == (source / frame.path).read_bytes()
    _no_generation(monkeypatch)
    assert dataset_dir(preset="small") == root
    assert dataset_dir("synthetic", "small") == root
    assert capsys.readouterr().out == first * 2


def test_the_line_shows_no_machine_path(cache, capsys, tmp_path, source):
    copy_dataset(source, cache / "synthetic-small")
    dataset_dir(preset="small")
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert str(tmp_path) not in out and os.path.expanduser("~") not in out.replace("~/", "")
    assert "synthetic-small in the course's cache folder" in out


def test_the_line_is_the_same_wherever_the_cache_is(cache, capsys, monkeypatch, tmp_path, source):
    # Stored notebook outputs print this line: it must not change with COURSE_CACHE_DIR.
    lines = []
    for folder in (cache, tmp_path / "elsewhere" / "cache"):
        monkeypatch.setenv("COURSE_CACHE_DIR", str(folder))
        copy_dataset(source, folder / "synthetic-small")
        dataset_dir(preset="small")
        lines.append(capsys.readouterr().out)
    assert lines[0] == lines[1] == SYNTHETIC_LINE


def test_verbose_false_prints_nothing(cache, capsys, source):
    copy_dataset(source, cache / "synthetic-small")
    dataset_dir(preset="small", verbose=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_default_cache_is_poochs_os_cache(monkeypatch, tmp_path):
    import pooch

    isolated_env(monkeypatch, tmp_path)
    monkeypatch.delenv("COURSE_CACHE_DIR")
    assert locate.cache_dir() == Path(pooch.os_cache("course_utils")).absolute()


@pytest.mark.parametrize("change", ["older generator", "other seed", "missing file", "short file",
                                    "same-size change", "header change"])
def test_a_mismatched_or_incomplete_dataset_is_regenerated(cache, capsys, source, change):
    root = copy_dataset(source, cache / "synthetic-small")
    marker_file = root / "course_dataset.json"
    content = json.loads(marker_file.read_text())
    victim = root / FRAMES[5].path
    if change == "older generator":
        content["generator_version"] = synthetic.GENERATOR_VERSION - 1
        marker_file.write_text(json.dumps(content))
    elif change == "other seed":
        content["seed"] = 1
        marker_file.write_text(json.dumps(content))
    elif change == "missing file":
        victim.unlink()
    elif change == "short file":
        tamper(victim, victim.read_bytes()[:-2880])
    elif change == "same-size change":  # case 4: a notebook read 32767 instead of 10029
        data = bytearray(victim.read_bytes())
        data[-4000:-3990] = b"\x7f\xff" * 5
        tamper(victim, bytes(data))
    else:  # case 4: header bytes flipped, same size ("No SIMPLE card found")
        tamper(victim, b"XIMPLE" + victim.read_bytes()[6:])
    assert dataset_dir(preset="small") == root
    assert capsys.readouterr().out == SYNTHETIC_LINE
    assert json.loads(marker_file.read_text())["generator_version"] == synthetic.GENERATOR_VERSION
    assert json.loads(marker_file.read_text())["seed"] == synthetic.DEFAULT_SEED
    assert victim.read_bytes() == (source / FRAMES[5].path).read_bytes()
    assert names(cache) == ["synthetic-small"]  # no leftovers (the lock file beside it stays)


def test_a_half_made_dataset_is_never_used(cache, capsys, source):
    partial = cache / f".synthetic-small.partial-{os.getpid()}-feedbeef"
    copy_dataset(source, partial)
    root = dataset_dir(preset="small")
    assert root == cache / "synthetic-small" and (root / "course_dataset.json").is_file()


def test_an_unwritable_cache_says_to_set_course_cache_dir(monkeypatch, tmp_path):
    isolated_env(monkeypatch, tmp_path)
    monkeypatch.setenv("COURSE_CACHE_DIR", "/sys/course_utils_test_cache")  # even root cannot write
    with pytest.raises(PermissionError, match="COURSE_CACHE_DIR"):
        dataset_dir(preset="small")


def test_bad_arguments_are_rejected(cache, monkeypatch):
    with pytest.raises(ValueError, match="source must be one of"):
        dataset_dir("hubble")
    with pytest.raises(ValueError, match="preset must be one of"):
        dataset_dir(preset="huge")
    monkeypatch.setenv("COURSE_DATA_SOURCE", "kepler")
    with pytest.raises(ValueError, match="COURSE_DATA_SOURCE"):
        dataset_dir()


# --- COURSE_DATA_DIR ------------------------------------------------------------------------------


def test_course_data_dir_comes_first(cache, capsys, monkeypatch, source, tmp_path):
    _no_generation(monkeypatch)
    _no_download(monkeypatch)
    monkeypatch.setenv("COURSE_DATA_DIR", str(source))
    for kwargs in ({}, {"source": "magellan"}, {"preset": "full"}):
        assert dataset_dir(**kwargs) == source
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and len(set(lines)) == 1
    assert lines[0].startswith("Using the synthetic course dataset (preset 'small'")
    assert lines[0].endswith("(set by COURSE_DATA_DIR)")


def test_course_data_dir_without_marker_is_used_but_said_unverified(cache, capsys, monkeypatch, source, tmp_path):
    own = copy_dataset(source, tmp_path / "own")
    (own / "course_dataset.json").unlink()
    monkeypatch.setenv("COURSE_DATA_DIR", str(own))
    assert dataset_dir() == own
    assert "not verified" in capsys.readouterr().out


def test_course_data_dir_missing_files_raise_with_the_fix(cache, monkeypatch, source, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("COURSE_DATA_DIR", str(empty))
    with pytest.raises(FileNotFoundError) as excinfo:
        dataset_dir()
    message = str(excinfo.value)
    assert "COURSE_DATA_DIR" in message and "63 of the 63" in message
    assert "calibration_frames/bias/b0860c1.fits" in message
    assert f"python -m course_utils.data generate --output {empty}" in message
    assert "fetch --output" in message

    partial = copy_dataset(source, tmp_path / "partial")
    (partial / "course_dataset.json").unlink()
    (partial / FRAMES[3].path).unlink()
    monkeypatch.setenv("COURSE_DATA_DIR", str(partial))
    with pytest.raises(FileNotFoundError, match=r"lacks 1 of the 63 files .*" + FRAMES[3].path):
        dataset_dir()


# --- The real frames -------------------------------------------------------------------------------


@pytest.fixture
def real_manifest(source, tmp_path, monkeypatch):
    """A manifest of real frames served from loopback, named in COURSE_DATA_MANIFEST."""
    with FrameServer(source) as server:
        manifest = make_manifest(source, [f.path for f in FRAMES], server.url("good"))
        path = tmp_path / "manifest.json"
        path.write_text(json.dumps(manifest))
        monkeypatch.setenv("COURSE_DATA_MANIFEST", str(path))
        yield server


def test_magellan_is_downloaded_when_asked_then_preferred(cache, capsys, monkeypatch, source, real_manifest):
    copy_dataset(source, cache / "synthetic-small")
    # source=None prefers nothing it does not have: the synthetic dataset
    assert dataset_dir(preset="small") == cache / "synthetic-small"
    root = dataset_dir("magellan")
    assert root == cache / "magellan"
    assert (root / FRAMES[0].path).read_bytes() == (source / FRAMES[0].path).read_bytes()
    requests = real_manifest.requests["good"]
    assert requests == len(FRAMES)
    # now present and verified: reused, and preferred by source=None
    _no_download(monkeypatch)
    _no_generation(monkeypatch)
    assert dataset_dir("magellan") == root
    assert dataset_dir(preset="small") == root
    assert dataset_dir("synthetic", "small") == cache / "synthetic-small"
    assert real_manifest.requests["good"] == requests
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == lines[2] == lines[3] == ("Using the real Magellan calibration frames (test/frames at 0000000): "
                                               "magellan in the course's cache folder")
    assert lines[4] == SYNTHETIC_LINE.strip()


def test_course_data_source_environment_variable(cache, capsys, monkeypatch, real_manifest):
    monkeypatch.setenv("COURSE_DATA_SOURCE", "magellan")
    assert dataset_dir() == cache / "magellan"
    assert "real Magellan" in capsys.readouterr().out


def test_a_partial_download_is_not_used(cache, monkeypatch, source, real_manifest):
    root = cache / "magellan"
    fetch_frames(root, progress=False)
    (root / FRAMES[7].path).unlink()
    before = real_manifest.requests["good"]
    assert dataset_dir("magellan") == root
    assert real_manifest.requests["good"] == before + 1  # only the missing file again
    assert (root / FRAMES[7].path).is_file()


# --- work_dir ----------------------------------------------------------------------------------------


def test_work_dir_default_env_and_explicit(cache, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert work_dir() == tmp_path / "course_work" and (tmp_path / "course_work").is_dir()
    monkeypatch.setenv("COURSE_WORK_DIR", str(tmp_path / "products"))
    assert work_dir() == tmp_path / "products"
    assert work_dir(tmp_path / "explicit" / "deep") == tmp_path / "explicit" / "deep"
    assert work_dir("relative") == tmp_path / "relative"


def test_work_dir_refuses_the_raw_data_folder(cache, monkeypatch, source, tmp_path):
    raw = copy_dataset(source, cache / "synthetic-small")
    for inside in (raw, raw / "calibration_frames", raw / "calibration_frames" / "bias" / "masters"):
        with pytest.raises(ValueError, match="raw data"):
            work_dir(inside)
    elsewhere = copy_dataset(source, tmp_path / "elsewhere")  # any folder with a marker
    with pytest.raises(ValueError, match="raw data"):
        work_dir(elsewhere / "calibration_frames")
    own = tmp_path / "own_frames"
    (own / "calibration_frames").mkdir(parents=True)
    monkeypatch.setenv("COURSE_DATA_DIR", str(own))
    with pytest.raises(ValueError, match="COURSE_WORK_DIR"):
        work_dir(own / "out")
    assert not (own / "out").exists()
    assert work_dir(tmp_path / "next_to_it") == tmp_path / "next_to_it"


def test_work_dir_not_writable_says_what_to_do(cache, monkeypatch, tmp_path):
    with pytest.raises(PermissionError, match="COURSE_WORK_DIR"):
        work_dir("/sys/course_utils_work")  # genuinely not writable, even by root

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    with monkeypatch.context() as patch:
        patch.setattr(store.tempfile, "mkstemp", denied)  # simulated
        with pytest.raises(PermissionError, match=r"Permission denied.*COURSE_WORK_DIR"):
            work_dir(tmp_path / "w")
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        with pytest.raises(PermissionError, match="COURSE_WORK_DIR"):
            work_dir(locked)
        shutil.rmtree(locked, ignore_errors=True)
