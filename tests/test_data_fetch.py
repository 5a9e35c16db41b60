"""The manifest and the verified downloads of the real frames.

Downloads are tested against a real HTTP server on 127.0.0.1 (an ephemeral
port) serving generated small frames; hashes are computed here with hashlib,
independently of course_utils.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from course_utils.data import store
from course_utils.data.fetch import FetchError, fetch_frames
from course_utils.data.layout import FRAMES, SYNTHETIC_FRAMES
from course_utils.data.manifest import load_manifest, validate_manifest

from data_fixtures import (  # noqa: F401 - fixtures by name
    can_mount,
    closed_port,
    FrameServer,
    git_blob_sha1,
    make_manifest,
    manifest_builder,
    small_filesystem,
    source,
    tamper,
)

ROOT = Path(__file__).resolve().parents[1]
# The reference list of the real frames, kept in the repository; the project's
# shared reference folder holds the original, when it sits beside the checkout.
TSV = ROOT / "data_manifest" / "magellan_calibration_frames.tsv"
SHARED_TSV = ROOT.parent / "shared" / "reference" / "magellan_calibration_frames.tsv"


builder = manifest_builder()
local_manifest = builder.local_manifest  # an instructor's own frames: tools/build_manifest.py --local
SOME = ["calibration_frames/bias/b0860c1.fits", "calibration_frames/dark/b1212c1.fits",
        "calibration_frames/flat/iff/iff0008c3.fits"]


@pytest.fixture(scope="module")
def server(source):
    with FrameServer(source) as running:
        yield running


def _files_in(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


# --- The course manifest ---------------------------------------------------------------------


def test_packaged_manifest_lists_every_file_the_notebooks_read():
    manifest = load_manifest()
    paths = [entry["path"] for entry in manifest["files"]]
    assert paths == [frame.path for frame in FRAMES]
    assert len(paths) == 63
    for entry in manifest["files"]:
        for field in ("frame_type", "telescope", "instrument", "detector", "shape", "dtype", "exptime"):
            assert entry[field] is not None, (entry["path"], field)
        folder = entry["path"].split("/")[1]
        if folder == "ptc":  # photon-transfer pairs: EXPTYPE says Bias (unlit) or Flat
            assert entry["frame_type"] == ("flat" if entry["exptime"] > 0 else "bias")
        else:
            assert entry["frame_type"] == folder
        assert set(entry["confirmed"]) <= set(entry)


def test_every_real_frame_has_a_commit_pinned_address_and_a_hash():
    manifest = load_manifest()
    commit = manifest["source"]["commit"]
    assert re.fullmatch(r"[0-9a-f]{40}", commit)
    for entry in manifest["files"]:
        assert re.fullmatch(r"[0-9a-f]{40}", entry["git_sha1"]), entry["path"]
        match = re.fullmatch(
            r"https://raw\.githubusercontent\.com/([\w.-]+/[\w.-]+)/([0-9a-f]{40})/(.+)", entry["url"])
        assert match, entry["url"]
        repository, pinned, rest = match.groups()
        assert repository == manifest["source"]["repository"] == "AstroJacobLi/ObsAstGreene"
        assert pinned == commit
        assert rest == f"book/_static/ObsAstroData/{entry['path']}"


def test_manifest_matches_the_reference_list_and_rebuilds_identically():
    if SHARED_TSV.exists():  # the kept copy is the original, unchanged
        assert TSV.read_bytes() == SHARED_TSV.read_bytes()
    rows = {}
    for line in TSV.read_text().splitlines():
        if line and not line.startswith("#") and not line.startswith("git_blob_sha1"):
            sha, path = line.split("\t")
            rows[path] = sha
    manifest = load_manifest()
    for entry in manifest["files"]:
        assert entry["git_sha1"] == rows[entry["path"]]
    assert {e["path"] for e in manifest["excluded"]} == set(rows) - {e["path"] for e in manifest["files"]}
    committed = (ROOT / "data_manifest" / "calibration_frames.json").read_text()
    assert builder.dumps_manifest(builder.build_course_manifest(TSV)) == committed


def test_manifest_shapes_match_the_synthetic_files(source):
    for entry in load_manifest()["files"][::7]:
        with fits.open(source / entry["path"]) as hdul:
            header = hdul[0].header
            assert hdul[0].data.dtype.name == entry["dtype"]
            assert header["EXPTIME"] == entry["exptime"]
            assert header["TELESCOP"] == entry["telescope"]
            assert header["INSTRUME"] == entry["instrument"]
            # the small preset divides each dimension of the full-size shape by 4
            assert [4 * n for n in hdul[0].data.shape] == entry["shape"]


@pytest.mark.parametrize("entry, words", [
    ({"path": "/etc/passwd"}, "relative"),
    ({"path": "calibration_frames/../../x.fits"}, "relative"),
    ({"path": "a.fits", "git_sha1": "abc"}, "40 lower-case hex"),
    ({"path": "a.fits", "sha256": "ABC"}, "64 lower-case hex"),
    ({"path": "a.fits", "url": "ftp://x/a.fits"}, "http"),
])
def test_malformed_manifests_are_rejected(entry, words):
    with pytest.raises(ValueError, match=words):
        validate_manifest({"format": 1, "files": [entry]})
    with pytest.raises(ValueError, match="twice"):
        validate_manifest({"format": 1, "files": [{"path": "a"}, {"path": "a"}]})


def test_another_manifest_can_be_named_in_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"format": 1, "files": [{"path": "x/y.fits", "sha256": "0" * 64}]}))
    monkeypatch.setenv("COURSE_DATA_MANIFEST", str(path))
    assert load_manifest()["files"][0]["path"] == "x/y.fits"


# --- An instructor's own frames: build_manifest.py --local DIR ------------------------------------------------------


def test_local_manifest_hashes_and_describes_local_frames(source):
    manifest = local_manifest(source)
    validate_manifest(manifest)
    assert [e["path"] for e in manifest["files"]] == [f.path for f in SYNTHETIC_FRAMES]
    for entry in manifest["files"]:
        content = (source / entry["path"]).read_bytes()
        assert entry["size"] == len(content)
        assert entry["sha256"] == hashlib.sha256(content).hexdigest()
        assert entry["git_sha1"] == git_blob_sha1(content)
        with fits.open(source / entry["path"]) as hdul:
            assert entry["shape"] == list(hdul[0].data.shape)
            assert entry["dtype"] == hdul[0].data.dtype.name
            assert entry["exptime"] == hdul[0].header["EXPTIME"]
            assert entry["instrument"] == hdul[0].header["INSTRUME"]
        folder = entry["path"].split("/")[1]
        if folder == "ptc":  # photon-transfer pairs: EXPTYPE says Bias (unlit) or Flat
            assert entry["frame_type"] == ("flat" if entry["exptime"] > 0 else "bias")
        else:
            assert entry["frame_type"] == folder
        assert entry["detector"] == entry["path"][-7:-5]


def test_local_manifest_frame_type_and_dtype_rules(tmp_path):
    flat_dir = tmp_path / "calibration_frames" / "flat"
    flat_dir.mkdir(parents=True)
    hdu = fits.PrimaryHDU(np.zeros((3, 5), dtype=np.float32))
    hdu.header["EXPTYPE"] = "Object"  # e.g. IMACS dome flats: the folder decides
    hdu.header["CHIP"] = 7
    hdu.writeto(flat_dir / "x0001.fits")
    hdu = fits.PrimaryHDU(np.zeros((3, 5), dtype=np.int16))
    hdu.header["IMAGETYP"] = "zero"
    hdu.writeto(tmp_path / "calibration_frames" / "z0002c4.fit")
    (tmp_path / "notes.txt").write_text("not a frame")
    entries = {e["path"]: e for e in local_manifest(tmp_path)["files"]}
    assert set(entries) == {"calibration_frames/flat/x0001.fits", "calibration_frames/z0002c4.fit"}
    flat, zero = entries["calibration_frames/flat/x0001.fits"], entries["calibration_frames/z0002c4.fit"]
    assert (flat["frame_type"], flat["detector"], flat["dtype"], flat["exptime"]) == ("flat", "c7", "float32", None)
    assert (zero["frame_type"], zero["detector"], zero["dtype"]) == ("bias", "c4", "int16")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no FITS files"):
        local_manifest(empty)
    with pytest.raises(FileNotFoundError, match="not a folder"):
        local_manifest(tmp_path / "missing")


# --- Downloads ------------------------------------------------------------------------------------


def test_download_succeeds_and_is_verified(source, server, tmp_path):
    manifest = make_manifest(source, [f.path for f in FRAMES], server.url("good"))
    target = fetch_frames(tmp_path / "magellan", manifest=manifest, progress=False)
    assert _files_in(target) == sorted([f.path for f in FRAMES] + ["course_dataset.json"])
    for frame in FRAMES:
        assert (target / frame.path).read_bytes() == (source / frame.path).read_bytes()
    content = store.read_marker(target)
    assert content["source"] == "magellan" and content["commit"] == "0" * 40
    assert store.full_check(target) == []
    # a second fetch finds every file verified and downloads nothing
    before = server.requests.get("good", 0)
    fetch_frames(target, manifest=manifest, progress=False)
    assert server.requests.get("good", 0) == before


def test_base_url_overrides_the_manifest_addresses(source, server, tmp_path):
    manifest = make_manifest(source, SOME, "http://127.0.0.1:9/nowhere")
    fetch_frames(tmp_path / "t", manifest=manifest, base_url=server.url("good"), progress=False)
    assert (tmp_path / "t" / SOME[0]).read_bytes() == (source / SOME[0]).read_bytes()


def test_a_corrupted_file_is_rejected_and_removed(source, server, tmp_path):
    manifest = make_manifest(source, SOME, server.url("corrupt"))
    target = tmp_path / "magellan"
    with pytest.raises(FetchError) as excinfo:
        fetch_frames(target, manifest=manifest, progress=False)
    message = str(excinfo.value)
    assert SOME[0] in message and server.url("corrupt") in message
    assert "mismatch" in message and "expected" in message and "got" in message
    assert manifest["files"][0]["git_sha1"] in message
    assert _files_in(target) == []  # no corrupt copy, no partial file, no marker


def test_a_truncated_transfer_leaves_no_file(source, server, tmp_path):
    manifest = make_manifest(source, SOME, server.url("truncated"))
    target = tmp_path / "magellan"
    with pytest.raises(FetchError) as excinfo:
        fetch_frames(target, manifest=manifest, progress=False)
    message = str(excinfo.value)
    assert SOME[0] in message and "cut short" in message
    assert _files_in(target) == []


def test_an_unreachable_server_gives_a_clear_message(source, tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/data"
    manifest = make_manifest(source, SOME, url)
    with pytest.raises(FetchError) as excinfo:
        fetch_frames(tmp_path / "magellan", manifest=manifest, progress=False)
    message = str(excinfo.value)
    assert "could not connect" in message and "connection refused" in message
    assert SOME[0] in message and url in message
    assert "synthetic" in message  # what to do offline
    assert _files_in(tmp_path / "magellan") == []


def test_a_missing_file_on_the_server_names_the_http_status(source, server, tmp_path):
    manifest = make_manifest(source, SOME, server.url("gone"))
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch_frames(tmp_path / "magellan", manifest=manifest, progress=False)


def test_a_genuinely_read_only_target_gives_a_clear_error(source, server, tmp_path):
    manifest = make_manifest(source, SOME, server.url("good"))
    # /sys cannot be written even by root; a chmod-ed folder stops everyone else.
    targets = [Path("/sys/course_utils_test/magellan")]
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        targets.append(locked / "magellan")
    for target in targets:
        with pytest.raises(FetchError) as excinfo:
            fetch_frames(target, manifest=manifest, progress=False)
        message = str(excinfo.value)
        assert "Cannot write" in message and str(target) in message
        assert "COURSE_CACHE_DIR" in message
        assert not target.exists()


def test_a_read_only_file_system_is_reported_and_cleaned_up(source, server, tmp_path):
    """A genuinely read-only file system (a tmpfs mounted read-only; root cannot write it either)."""
    if not can_mount():
        pytest.fail("this fault test mounts a read-only file system: run it as root")
    manifest = make_manifest(source, SOME, server.url("good"))
    with small_filesystem(tmp_path / "ro", "1m", read_only=True) as folder:
        target = folder / "magellan"
        with pytest.raises(FetchError) as excinfo:
            fetch_frames(target, manifest=manifest, progress=False)
        message = str(excinfo.value)
        assert "read-only file system" in message and "COURSE_CACHE_DIR" in message
        assert str(target) in message
        assert not target.exists()


def test_a_folder_that_refuses_new_files_is_reported(source, server, tmp_path, monkeypatch):
    """The OS error of a folder without write permission, simulated at file creation."""
    manifest = make_manifest(source, SOME, server.url("good"))

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(store.tempfile, "mkstemp", denied)
    with pytest.raises(FetchError, match=r"Cannot write .*Permission denied.*COURSE_CACHE_DIR"):
        fetch_frames(tmp_path / "magellan", manifest=manifest, progress=False)
    assert _files_in(tmp_path / "magellan") == []


def test_a_corrupt_local_copy_is_replaced_never_trusted(source, server, tmp_path):
    manifest = make_manifest(source, SOME, server.url("good"))
    target = fetch_frames(tmp_path / "magellan", manifest=manifest, progress=False)
    bad = target / SOME[1]
    tamper(bad, b"SIMPLE  = garbage")
    fetch_frames(target, manifest=manifest, progress=False)
    assert bad.read_bytes() == (source / SOME[1]).read_bytes()


def test_a_folder_of_other_files_is_never_downloaded_into(source, server, tmp_path):
    manifest = make_manifest(source, SOME, server.url("good"))
    target = tmp_path / "mine"
    (target / "calibration_frames" / "bias").mkdir(parents=True)
    (target / SOME[0]).write_bytes(b"my own frame")
    with pytest.raises(FetchError, match="not a course dataset made by course_utils"):
        fetch_frames(target, manifest=manifest, progress=False)
    assert (target / SOME[0]).read_bytes() == b"my own frame"
    assert _files_in(target) == [SOME[0]]


def test_verify_finds_a_file_changed_after_download(source, server, tmp_path):
    manifest = make_manifest(source, SOME, server.url("good"))
    target = fetch_frames(tmp_path / "magellan", manifest=manifest, progress=False)
    file = target / SOME[2]
    content = bytearray(file.read_bytes())
    content[-100] ^= 0x01  # same size: only hashing notices
    tamper(file, bytes(content), keep_time=True)  # same size and time: only hashing notices
    problems = store.full_check(target)
    assert len(problems) == 1 and SOME[2] in problems[0] and "mismatch" in problems[0]


# --- Downloads are the store's plan: one write and verify path --------------------------------------


def test_a_broken_marker_of_a_download_is_replaced_keeping_the_verified_files(source, server, tmp_path):
    """A download's plan carries the manifest's hashes: files there that match them are kept, not fetched again."""
    manifest = make_manifest(source, SOME, server.url("good"), sha256=True)
    target = fetch_frames(tmp_path / "magellan", manifest=manifest, progress=False)
    target.chmod(0o755)
    (target / store.MARKER_NAME).chmod(0o644)
    (target / store.MARKER_NAME).write_text("{not json")
    bad = target / SOME[1]
    tamper(bad, b"SIMPLE  = garbage")
    before = server.requests.get("good", 0)
    fetch_frames(target, manifest=manifest, progress=False)
    assert server.requests.get("good", 0) == before + 1  # only the damaged file
    assert bad.read_bytes() == (source / SOME[1]).read_bytes()
    assert store.full_check(target) == [] and len(store.read_marker(target)["files"]) == len(SOME)
    assert all((target / path).stat().st_mode & 0o222 == 0 for path in SOME)  # read-only, as generated frames


def test_a_file_that_passes_pooch_but_not_the_git_sha1_is_rejected_by_the_store(source, server, tmp_path):
    """pooch checks the SHA-256; the store checks the size and the git blob SHA-1 before the rename."""
    manifest = make_manifest(source, SOME[:1], server.url("good"), sha256=True)
    manifest["files"][0]["git_sha1"] = "0" * 40
    with pytest.raises(FetchError) as excinfo:
        fetch_frames(tmp_path / "magellan", manifest=manifest, progress=False)
    message = str(excinfo.value)
    assert "Rejected" in message and SOME[0] in message and "git blob SHA-1 mismatch" in message
    assert server.url("good") in message and _files_in(tmp_path / "magellan") == []
