"""The dataset under faults: each case of issue 12's "What was found", with the outcome now expected.

Real faults where the machine allows them: a second process in another PID
namespace (``unshare``), small and read-only file systems (tmpfs mounts), a
non-root user (``runuser``), a loopback server that trickles bytes, processes
killed outright. Every test works in temporary folders.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from astropy.io import fits

from course_utils.data import dataset_dir, store
from course_utils.data.fetch import DownloadLimits, FetchError, fetch_frames
from course_utils.data.store import DiskFullError, NotWritableError
from course_utils.data.layout import FRAMES, SYNTHETIC_FRAMES
from course_utils.data.synthetic import generate

from data_fixtures import (  # noqa: F401 - fixtures by name
    cache,
    can_mount,
    copy_dataset,
    FrameServer,
    make_manifest,
    names,
    need_root,
    small_filesystem,
    source,
    tamper,
)

ROOT = Path(__file__).resolve().parents[1]
SOME = ["calibration_frames/bias/b0860c1.fits", "calibration_frames/dark/b1212c1.fits"]
#: What the small dataset takes on disk (about 20 MB).
SMALL_MB = 21


def _course_python(code: str, *args: str, env: dict | None = None, prefix: tuple = ()) -> subprocess.Popen:
    """Start ``python -c code args`` with this interpreter, course_utils importable."""
    environment = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1"}
    return subprocess.Popen([*prefix, sys.executable, "-c", code, *args], env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# --- 1. A folder that is not a course dataset is never deleted ----------------------------------


def test_a_foreign_folder_in_the_cache_is_left_alone_with_a_clear_message(cache, capsys):
    foreign = cache / "synthetic-small"
    (foreign / "thesis").mkdir(parents=True)
    (foreign / "thesis" / "chapter1.tex").write_text("precious")
    with pytest.raises(FileExistsError) as excinfo:
        dataset_dir(preset="small")
    message = str(excinfo.value)
    assert str(foreign) in message and "not a course dataset made by course_utils" in message
    assert "nothing in it is deleted" in message and "COURSE_CACHE_DIR" in message
    assert (foreign / "thesis" / "chapter1.tex").read_text() == "precious"
    assert names(cache) == ["synthetic-small"]


# --- 2. A student's file survives; raw data is read-only ---------------------------------------


def test_a_students_file_inside_the_dataset_survives_regeneration(cache, capsys, source):
    root = copy_dataset(source, cache / "synthetic-small")
    notes = root / "calibration_frames" / "bias" / "my_master_bias.fits"
    notes.write_bytes(b"the student's work")
    content = json.loads((root / "course_dataset.json").read_text())
    content["generator_version"] -= 1  # an older dataset: every frame is made again
    (root / "course_dataset.json").write_text(json.dumps(content))
    assert dataset_dir(preset="small") == root
    assert notes.read_bytes() == b"the student's work"
    assert store.full_check(root) == []


def test_frames_and_their_folders_are_read_only(source):
    for frame in FRAMES[::9]:
        assert (source / frame.path).stat().st_mode & 0o222 == 0, frame.path
    for folder in [source, *[p for p in source.rglob("*") if p.is_dir()]]:
        assert folder.stat().st_mode & 0o222 == 0, folder


def test_a_user_cannot_write_into_the_raw_frames(source, tmp_path):
    """As an ordinary user (root ignores permissions), writing a frame fails at once."""
    need_root("it runs a command as another user")
    if subprocess.run(["id", "course-student"], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--no-create-home", "course-student"], capture_output=True)
    shared = Path(tempfile.mkdtemp(prefix="course-readonly-"))
    try:
        shared.chmod(0o755)
        data = copy_dataset(source, shared / "synthetic-small")
        frame = data / FRAMES[0].path
        code = ("import os, sys\n"
                "for what, act in (('write', lambda: open(sys.argv[1], 'r+b').write(b'x')),\n"
                "                  ('add', lambda: open(sys.argv[2], 'xb')),\n"
                "                  ('delete', lambda: os.remove(sys.argv[1]))):\n"
                "    try:\n        act()\n        print(what, 'allowed')\n"
                "    except PermissionError as error:\n        print(what, 'refused:', error.strerror)\n")
        done = subprocess.run(["runuser", "-u", "course-student", "--", "/usr/bin/python3", "-c",
                               code, str(frame), str(frame.parent / "master_bias.fits")],
                              capture_output=True, text=True, timeout=60)
        assert done.stdout.splitlines() == [f"{what} refused: Permission denied"
                                            for what in ("write", "add", "delete")], done.stderr
        assert frame.read_bytes() == (source / FRAMES[0].path).read_bytes()
    finally:
        shutil.rmtree(shared)


# --- 3. Two processes, one of them in another PID namespace -------------------------------------


def test_two_first_calls_in_different_pid_namespaces_make_one_complete_dataset(cache, tmp_path):
    """Each sees the other's PIDs as dead: only the lock keeps them from breaking each other's work.

    Deterministic: the first caller (in another PID namespace) is held, through the documented
    test hook ``COURSE_TEST_PAUSE_BEFORE_MARKER``, between its temporary marker and the rename;
    the second starts then, and must wait for the lock rather than judge the folder.
    """
    code = "from course_utils.data import dataset_dir; dataset_dir(preset='small')"
    env = {"COURSE_CACHE_DIR": str(cache), "HOME": os.environ["HOME"]}
    other_namespace = ("unshare", "--pid", "--fork") if can_mount() and shutil.which("unshare") else ()
    hook = tmp_path / "hook"
    hook.mkdir()
    first = _course_python(code, env={**env, store.PAUSE_ENV: str(hook)}, prefix=other_namespace)
    deadline = time.monotonic() + 120
    while not (hook / "paused").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (hook / "paused").exists(), "the first caller never wrote its temporary marker"
    log = tmp_path / "second.err"
    with log.open("w") as err_file:
        second = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=err_file,
                                  text=True, env={**os.environ, **env, "PYTHONPATH": str(ROOT),
                                                  "TQDM_DISABLE": "1"})
        while "Waiting for another process" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.02)
        (hook / "resume").touch()
        results = [process.communicate(timeout=300) + (process.returncode,) for process in (first, second)]
    for out, err, status in results:
        assert status == 0, (err, log.read_text())
        assert out.startswith("Using the synthetic course dataset (preset 'small'")
    assert "Waiting for another process" in log.read_text()
    root = cache / "synthetic-small"
    assert store.full_check(root) == []
    assert len(store.read_marker(root)["files"]) == len(SYNTHETIC_FRAMES)
    assert names(cache) == ["synthetic-small"]


# --- 4. Same-size changes are noticed by dataset_dir (see also test_data_locate) ----------------


def test_a_same_size_change_is_repaired_and_named(cache, capsys, source):
    root = copy_dataset(source, cache / "synthetic-small")
    victim = root / FRAMES[0].path
    original_max = int(fits.getdata(source / FRAMES[0].path).max())
    with fits.open(source / FRAMES[0].path) as hdul:
        offset = len(hdul[0].header.tostring())
    data = bytearray(victim.read_bytes())
    data[offset:offset + 2] = b"\x7f\xff"  # uint16 stored with BZERO: reads as 65535
    tamper(victim, bytes(data))
    assert dataset_dir(preset="small") == root
    err = capsys.readouterr().err
    assert "Repaired 1 damaged file" in err and FRAMES[0].path in err and "changed since" in err
    assert int(fits.getdata(victim).max()) == original_max


def test_a_same_size_change_in_course_data_dir_names_the_file_and_the_fix(cache, monkeypatch, source, tmp_path):
    own = copy_dataset(source, tmp_path / "own")
    victim = own / FRAMES[7].path
    tamper(victim, b"XIMPLE" + victim.read_bytes()[6:])
    monkeypatch.setenv("COURSE_DATA_DIR", str(own))
    with pytest.raises(FileNotFoundError) as excinfo:
        dataset_dir()
    message = str(excinfo.value)
    assert FRAMES[7].path in message and "changed since it was written" in message
    assert f"python -m course_utils.data generate --force --output {own}" in message


# --- 5. Disk space ------------------------------------------------------------------------------------


def test_a_disk_too_small_says_how_much_where_and_what_to_do(cache, monkeypatch, tmp_path):
    need_root("it mounts a small file system")
    with small_filesystem(tmp_path / "disk", "5m") as disk:
        monkeypatch.setenv("COURSE_CACHE_DIR", str(disk / "cache"))
        with pytest.raises(DiskFullError) as excinfo:
            dataset_dir(preset="small")
        message = str(excinfo.value)
        assert "Not enough disk space" in message and str(disk / "cache") in message
        assert "MB more" in message and "COURSE_CACHE_DIR" in message
        assert excinfo.value.errno == 28
        assert not list((disk / "cache").rglob("*.fits"))


def test_a_disk_that_fills_up_while_writing_gives_the_same_advice(cache, monkeypatch, tmp_path):
    """The free-space report (store.free_bytes, the documented hook) claims room; the disk has none."""
    need_root("it mounts a small file system")
    with small_filesystem(tmp_path / "disk", "3m") as disk:
        monkeypatch.setattr(store, "free_bytes", lambda folder: 10**12)
        monkeypatch.setenv("COURSE_CACHE_DIR", str(disk / "cache"))
        with pytest.raises(DiskFullError) as excinfo:
            dataset_dir(preset="small")
        message = str(excinfo.value)
        assert "The disk filled up while writing" in message and "COURSE_CACHE_DIR" in message
        root = disk / "cache" / "synthetic-small"
        assert not [p for p in root.rglob(".*") if ".tmp-" in p.name]  # no temporary file left
        assert store.read_marker(root)["complete"] is False


def test_a_damaged_dataset_is_repaired_on_a_disk_with_room_for_one_copy(cache, monkeypatch, tmp_path, source):
    need_root("it mounts a small file system")
    with small_filesystem(tmp_path / "disk", f"{SMALL_MB + 1}m") as disk:
        monkeypatch.setenv("COURSE_CACHE_DIR", str(disk / "cache"))
        root = dataset_dir(preset="small", verbose=False)
        for frame in FRAMES[:5]:
            tamper(root / frame.path, b"broken")
        assert dataset_dir(preset="small", verbose=False) == root
        assert store.full_check(root) == []


def test_two_first_calls_on_a_disk_with_room_for_one_copy_both_succeed(cache, tmp_path):
    need_root("it mounts a small file system")
    with small_filesystem(tmp_path / "disk", f"{SMALL_MB + 1}m") as disk:
        code = "from course_utils.data import dataset_dir; dataset_dir(preset='small')"
        env = {"COURSE_CACHE_DIR": str(disk / "cache"), "HOME": os.environ["HOME"]}
        processes = [_course_python(code, env=env) for _ in range(2)]
        for process in processes:
            out, err = process.communicate(timeout=300)
            assert process.returncode == 0, err
        assert store.full_check(disk / "cache" / "synthetic-small") == []


# --- 6. Deadlines and leftovers ---------------------------------------------------------------------


def _temporary_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if ".part-" in p.name or ".tmp-" in p.name]


def test_a_trickling_server_fails_within_the_deadline_and_leaves_nothing(source, tmp_path):
    manifest = make_manifest(source, SOME)
    limits = DownloadLimits(deadline=3.0, min_rate=1000.0, grace=1.0, stall=2.0, retries=2, backoff=0.1)
    with FrameServer(source, trickle_delay=0.1) as server:
        start = time.monotonic()
        with pytest.raises(FetchError) as excinfo:
            fetch_frames(tmp_path / "magellan", manifest=manifest, base_url=server.url("trickle"),
                         progress=False, limits=limits)
        elapsed = time.monotonic() - start
    message = str(excinfo.value)
    assert elapsed < 10, elapsed
    assert SOME[0] in message and ("bytes/s" in message or "deadline" in message)
    assert _temporary_files(tmp_path) == []
    assert not [p for p in (tmp_path / "magellan").rglob("*") if p.is_file()]


def test_the_deadline_holds_even_above_the_minimum_rate(source, tmp_path):
    manifest = make_manifest(source, SOME[:1])
    limits = DownloadLimits(deadline=1.5, min_rate=1.0, grace=0.5, stall=2.0)
    with FrameServer(source, trickle_delay=0.01) as server:
        with pytest.raises(FetchError, match="deadline of 1.5 s"):
            fetch_frames(tmp_path / "magellan", manifest=manifest, base_url=server.url("trickle"),
                         progress=False, limits=limits)
    assert _temporary_files(tmp_path) == []


def test_a_killed_download_leaves_a_temporary_file_that_the_next_run_removes(source, tmp_path):
    manifest_file = tmp_path / "manifest.json"
    manifest_file.write_text(json.dumps(make_manifest(source, SOME)))
    target = tmp_path / "magellan"
    with FrameServer(source, trickle_delay=0.05) as server:
        child = _course_python(
            "import sys, json\nfrom course_utils.data.fetch import fetch_frames\n"
            "fetch_frames(sys.argv[1], manifest=json.load(open(sys.argv[2])), base_url=sys.argv[3], "
            "progress=False)", str(target), str(manifest_file), server.url("trickle"))
        deadline = time.monotonic() + 60
        while not _temporary_files(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.communicate()
        assert _temporary_files(tmp_path)  # a process killed outright cannot clean up
        fetch_frames(target, manifest=json.loads(manifest_file.read_text()), base_url=server.url("good"),
                     progress=False)
    assert _temporary_files(tmp_path) == []
    assert store.full_check(target) == []


def test_leftovers_of_a_killed_generate_force_are_removed_by_dataset_dir(cache, capsys, source):
    root = copy_dataset(source, cache / "synthetic-small")
    stray = root / "calibration_frames" / "bias" / ".b0860c1.fits.tmp-1234abcd"
    stray.write_bytes(b"half a frame")
    assert dataset_dir(preset="small") == root
    assert not stray.exists()
    assert names(cache) == ["synthetic-small"]


def test_a_generate_force_killed_midway_is_completed_by_dataset_dir(cache, capsys, source):
    root = copy_dataset(source, cache / "synthetic-small")
    child = _course_python("from course_utils.data.__main__ import main; main()", "generate", "--preset",
                           "small", "--force", "--output", str(root), "--no-progress")
    deadline = time.monotonic() + 60
    while store.read_marker(root).get("complete") is not False and time.monotonic() < deadline:
        time.sleep(0.02)  # until it has begun to rewrite the files
    time.sleep(0.3)
    child.send_signal(signal.SIGKILL)
    child.communicate()
    assert dataset_dir(preset="small") == root
    assert store.full_check(root) == [] and _temporary_files(root) == []


# --- 7. Clear errors for the small cases -------------------------------------------------------------


@pytest.mark.parametrize("value", [1, 2.5, ["synthetic"]])
def test_a_source_that_is_not_text_is_a_clear_value_error(cache, value):
    with pytest.raises(ValueError, match=r"source must be one of \('synthetic', 'magellan'\)"):
        dataset_dir(source=value)


def test_a_read_only_cache_holding_an_unmarked_dataset_says_not_writable(cache, monkeypatch, tmp_path, source):
    need_root("it mounts a read-only file system")
    with small_filesystem(tmp_path / "ro", f"{SMALL_MB + 1}m") as disk:
        unmarked = copy_dataset(source, disk / "synthetic-small")
        (unmarked / "course_dataset.json").unlink()
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        monkeypatch.setenv("COURSE_CACHE_DIR", str(disk))
        with pytest.raises(NotWritableError) as excinfo:
            dataset_dir(preset="small")
        message = str(excinfo.value)
        assert "read-only file system" in message and "COURSE_CACHE_DIR" in message


def test_course_data_dir_set_to_a_file_says_so(cache, monkeypatch, tmp_path):
    galaxy = tmp_path / "galaxy.fits"
    galaxy.write_bytes(b"SIMPLE")
    monkeypatch.setenv("COURSE_DATA_DIR", str(galaxy))
    with pytest.raises(NotADirectoryError) as excinfo:
        dataset_dir()
    message = str(excinfo.value)
    assert "is a file, not a folder" in message and "generate --output DIR" in message
    assert "fetch --output" not in message


def test_course_data_dir_with_a_truncated_file_suggests_generate_force(cache, monkeypatch, source, tmp_path):
    own = copy_dataset(source, tmp_path / "own")
    victim = own / FRAMES[2].path
    tamper(victim, victim.read_bytes()[:100])
    monkeypatch.setenv("COURSE_DATA_DIR", str(own))
    with pytest.raises(FileNotFoundError) as excinfo:
        dataset_dir()
    message = str(excinfo.value)
    assert f"{FRAMES[2].path} has 100 bytes" in message
    assert f"python -m course_utils.data generate --force --output {own}" in message
    assert "NEW_EMPTY_FOLDER" not in message
    generate(own, "small", progress=False, overwrite=True)  # the advice works
    assert dataset_dir() == own


def test_no_complete_marker_unless_every_file_has_its_recorded_size(tmp_path):
    (tmp_path / "a.fits").write_bytes(b"SIMPLE")
    record = store.file_record(tmp_path, "a.fits", sha256=hashlib.sha256(b"SIMPLE").hexdigest())
    with pytest.raises(RuntimeError, match="a.fits has 6 bytes, not 2880"):
        store.write_marker(tmp_path, {"source": "synthetic"}, [{**record, "size": 2880}])
    assert not (tmp_path / store.MARKER_NAME).exists()
    store.write_marker(tmp_path, {"source": "synthetic"}, [{**record, "size": 2880}], complete=False)
    assert store.read_marker(tmp_path)["complete"] is False
