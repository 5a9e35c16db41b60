"""The dataset store under the faults of issue 20, each through public functions and real faults.

Real symbolic links, real concurrent processes (with a deterministic window
between one caller's temporary marker and its rename: the documented hook
``COURSE_TEST_PAUSE_BEFORE_MARKER``), a loopback server whose body never
ends, a tmpfs with few inodes, a read-only file system. Every test works in
temporary folders.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from course_utils.data import dataset_dir, store
from course_utils.data.__main__ import main
from course_utils.data.fetch import DownloadLimits, FetchError, fetch_frames
from course_utils.data.store import PAUSE_ENV, DiskFullError, UnsafePathError
from course_utils.data.layout import FRAMES, SYNTHETIC_FRAMES
from course_utils.data.science import science_dir

from data_fixtures import (  # noqa: F401 - fixtures by name
    cache,
    copy_dataset,
    FrameServer,
    git_blob_sha1,
    make_manifest,
    manifest_builder,
    names,
    need_root,
    small_filesystem,
    source,
    tamper,
)

ROOT = Path(__file__).resolve().parents[1]
SOME = ["calibration_frames/bias/b0860c1.fits", "calibration_frames/dark/b1212c1.fits"]
GENERATE_FORCE = "python -m course_utils.data generate --preset small --force --output"


def _edit_marker(root: Path, change) -> None:
    path = root / store.MARKER_NAME
    content = json.loads(path.read_text())
    change(content)
    root.chmod(0o755)
    path.chmod(0o644)
    path.write_text(json.dumps(content))


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


# --- Finding 1: marker paths never leave the dataset ---------------------------------------------


@pytest.mark.parametrize("kind", ["parent", "absolute"])
def test_finding1_a_marker_path_outside_the_dataset_never_deletes_the_outside_file(cache, capsys, source,
                                                                                  tmp_path, kind):
    root = copy_dataset(source, cache / "synthetic-small")
    outside = tmp_path / "outside.txt"
    outside.write_text("a user's file")
    path = "../../../outside.txt" if kind == "parent" else str(outside)
    _edit_marker(root, lambda c: c["files"].append(
        {"path": path, "size": 13, "sha256": hashlib.sha256(b"x").hexdigest()}))
    tamper(root / FRAMES[0].path, b"broken")
    with pytest.raises(FileExistsError) as excinfo:
        dataset_dir(preset="small")
    message = str(excinfo.value)
    assert "is broken" in message and "must be relative" in message
    assert f"{GENERATE_FORCE} ~/cache/synthetic-small" in message  # (HOME is the test's)
    assert outside.read_text() == "a user's file"
    # the way out the message names works, and still leaves the outside file alone
    assert main(["generate", "--preset", "small", "--force", "--output", str(root), "--no-progress"]) == 0
    assert outside.read_text() == "a user's file"
    assert store.full_check(root) == [] and dataset_dir(preset="small") == root


# --- Finding 2: malformed marker records give clear errors ---------------------------------------


@pytest.mark.parametrize("bad", [["a", "list"], 7, "", None, {"path": "a.fits", "size": "big"},
                                 ".", "./a.fits", "bias/./a.fits", "bias//a.fits", "bias/../../a.fits"])
def test_finding2_malformed_marker_records_give_clear_errors_everywhere(cache, capsys, source, bad):
    root = copy_dataset(source, cache / "synthetic-small")
    record = bad if isinstance(bad, dict) else {"path": bad, "size": 1}
    _edit_marker(root, lambda c: c["files"].append(record))
    with pytest.raises(FileExistsError) as excinfo:
        dataset_dir(preset="small")
    assert "is broken: its file record" in str(excinfo.value) and GENERATE_FORCE in str(excinfo.value)
    capsys.readouterr()
    assert main(["info", "--preset", "small"]) == 0
    assert "is broken" in capsys.readouterr().out
    assert main(["verify", str(root), "--no-progress"]) == 1
    out = capsys.readouterr()
    assert "is broken" in out.out and "generate --preset small --force --output" in out.err
    assert main(["generate", "--preset", "small", "--force", "--output", str(root), "--no-progress"]) == 0
    assert store.full_check(root) == []


# --- Finding 3: links are never followed; files the course did not write are left alone ----------


def test_finding3_a_link_to_a_users_folder_inside_the_dataset_is_never_chmodded(cache, capsys, source, tmp_path):
    root = copy_dataset(source, cache / "synthetic-small")
    mine = tmp_path / "my_folder"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    mine.chmod(0o755)
    bias = root / "calibration_frames" / "bias"
    bias.chmod(0o755)
    (bias / "shortcut").symlink_to(mine)
    (root / "calibration_frames" / "link_to_mine").symlink_to(mine)
    stray = bias / ".b0860c1.fits.tmp-1234abcd"
    stray.write_bytes(b"half a frame")  # a leftover: the tidy-up unseals and seals the folders
    tamper(root / FRAMES[0].path, b"broken")  # and a repair
    assert dataset_dir(preset="small") == root
    assert "Repaired 1 damaged file" in capsys.readouterr().err
    assert not stray.exists()
    assert _mode(mine) == 0o755 and (mine / "thesis.tex").read_text() == "precious"
    assert os.path.islink(bias / "shortcut") and os.path.islink(root / "calibration_frames" / "link_to_mine")


def test_finding3_a_link_in_place_of_a_dataset_folder_is_not_written_through(cache, source, tmp_path):
    root = copy_dataset(source, cache / "synthetic-small")
    mine = tmp_path / "my_darks"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    mine.chmod(0o755)
    frames = root / "calibration_frames"
    frames.chmod(0o755)
    dark = frames / "dark"
    dark.chmod(0o755)
    for child in dark.iterdir():
        child.unlink()
    dark.rmdir()
    dark.symlink_to(mine)
    with pytest.raises(UnsafePathError) as excinfo:
        dataset_dir(preset="small")
    message = str(excinfo.value)
    assert "is a symbolic link inside the dataset" in message and "Remove the link" in message
    assert GENERATE_FORCE in message
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"] and _mode(mine) == 0o755
    dark.unlink()  # the advice works
    assert main(["generate", "--preset", "small", "--force", "--output", str(root), "--no-progress"]) == 0
    assert store.full_check(root) == []


def test_finding3_files_named_like_leftovers_but_not_the_courses_are_left_alone(cache, source, tmp_path):
    root = copy_dataset(source, cache / "synthetic-small")
    bias = root / "calibration_frames" / "bias"
    bias.chmod(0o755)
    target = tmp_path / "target.txt"
    target.write_text("mine")
    keep = [bias / ".y.part-1", bias / ".b0860c1.fits.part-1", bias / ".notes.tmp-1234abcd"]
    for path in keep:
        path.write_text("a user's file")
    link = bias / ".b0860c1.fits.tmp-abcd1234"
    link.symlink_to(target)
    stale = bias / ".b0860c1.fits.tmp-0badf00d"
    stale.write_bytes(b"half a frame")
    assert dataset_dir(preset="small", verbose=False) == root
    assert not stale.exists()
    assert all(path.read_text() == "a user's file" for path in keep)
    assert os.path.islink(link) and target.read_text() == "mine"


def test_finding3_a_planted_marker_seals_only_the_datasets_own_folders(cache, source):
    root = cache / "synthetic-small"
    (root / "thesis").mkdir(parents=True)
    (root / "thesis" / "chapter1.tex").write_text("precious")
    (root / "thesis").chmod(0o755)
    (root / store.MARKER_NAME).write_text(json.dumps(
        {"format": 2, "source": "synthetic", "preset": "small", "seed": 1, "generator_version": 1,
         "complete": True, "files": []}))
    assert dataset_dir(preset="small", verbose=False) == root
    assert _mode(root / "thesis") == 0o755 and (root / "thesis" / "chapter1.tex").read_text() == "precious"
    assert store.full_check(root) == []


# --- Finding 4: the lock comes first; concurrent first calls all succeed --------------------------


def _start(code: str, env: dict, *, stderr, prefix: tuple = ()) -> subprocess.Popen:
    environment = {**os.environ, **env, "PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1"}
    return subprocess.Popen([*prefix, sys.executable, "-c", code], env=environment,
                            stdout=subprocess.PIPE, stderr=stderr, text=True)


def _wait_for(condition, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def _race(cache: Path, tmp_path: Path, prefix: tuple = (), others: int = 2) -> list:
    """One caller paused between its temporary marker and the rename; ``others`` callers start then."""
    code = "from course_utils.data import dataset_dir; dataset_dir(preset='small')"
    env = {"COURSE_CACHE_DIR": str(cache), "HOME": os.environ["HOME"]}
    hook = tmp_path / "hook"
    hook.mkdir()
    logs = [tmp_path / f"err{n}.txt" for n in range(others + 1)]
    first = _start(code, {**env, PAUSE_ENV: str(hook)}, stderr=logs[0].open("w"), prefix=prefix)
    _wait_for(lambda: (hook / "paused").exists(), "the first caller's temporary marker")
    root = cache / "synthetic-small"
    assert not (root / store.MARKER_NAME).exists()
    assert [p.name for p in root.iterdir() if p.name.startswith(".course_dataset.json.")]  # the window
    rest = [_start(code, env, stderr=log.open("w")) for log in logs[1:]]
    for process, log in zip(rest, logs[1:]):  # each later caller is waiting for the lock, not failing
        _wait_for(lambda: "Waiting for another process" in log.read_text() or process.poll() is not None,
                  "a caller waiting for the lock")
        assert process.poll() is None, f"a caller ended inside the window: {log.read_text()}"
    (hook / "resume").touch()
    results = []
    for process, log in zip([first, *rest], logs):
        out, _ = process.communicate(timeout=300)
        results.append((out, log.read_text(), process.returncode))
    return results


def test_finding4_concurrent_first_calls_wait_for_the_lock_in_the_marker_window(cache, tmp_path):
    for out, err, status in _race(cache, tmp_path, others=2):
        assert status == 0, err
        assert "not a course dataset" not in err
        assert out.startswith("Using the synthetic course dataset (preset 'small'")
    root = cache / "synthetic-small"
    assert store.full_check(root) == [] and len(store.read_marker(root)["files"]) == len(SYNTHETIC_FRAMES)
    assert names(cache) == ["synthetic-small"]


# --- Finding 5 and 6: downloads stop at the manifest's size; credentials are never printed -------


def test_finding5_a_body_that_never_ends_fails_quickly_blaming_the_server(source, tmp_path):
    manifest = make_manifest(source, SOME[:1], sha256=True)
    with FrameServer(source) as server:
        start = time.monotonic()
        with pytest.raises(FetchError) as excinfo:
            fetch_frames(tmp_path / "magellan", manifest=manifest, base_url=server.url("endless"),
                         progress=False)
        elapsed = time.monotonic() - start
    message = str(excinfo.value)
    assert elapsed < 10, elapsed
    assert "sent more than the" in message and "server" in message and "disk filled" not in message
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and not p.name.endswith(".lock")]


def test_finding5_without_a_recorded_size_a_frames_shape_bounds_the_body(source, tmp_path):
    manifest = make_manifest(source, SOME[:1])  # no size: the course's manifest records none yet
    with FrameServer(source) as server:
        start = time.monotonic()
        with pytest.raises(FetchError, match="bytes a frame of this shape can take") as excinfo:
            fetch_frames(tmp_path / "magellan", manifest=manifest, base_url=server.url("endless"),
                         progress=False)
    assert time.monotonic() - start < 20 and "disk" not in str(excinfo.value).split("Nothing was kept")[0]


def test_finding5_pooch_checks_the_sha256_of_the_manifest(source, tmp_path):
    manifest = make_manifest(source, SOME, sha256=True)
    wrong = "0" * 64
    manifest["files"][1]["sha256"] = wrong
    manifest["files"][1].pop("git_sha1")
    with FrameServer(source) as server:
        with pytest.raises(FetchError) as excinfo:
            fetch_frames(tmp_path / "magellan", manifest=manifest, base_url=server.url("good"), progress=False)
        message = str(excinfo.value)
        assert "SHA-256 mismatch" in message and wrong in message and SOME[1] in message
        manifest["files"][1]["sha256"] = hashlib.sha256((source / SOME[1]).read_bytes()).hexdigest()
        target = fetch_frames(tmp_path / "magellan", manifest=manifest, base_url=server.url("good"),
                              progress=False)
    assert store.full_check(target) == []


def test_finding6_credentials_are_stripped_from_every_printed_address(source, tmp_path, capsys):
    manifest = make_manifest(source, SOME[:1])
    with FrameServer(source) as server:
        url = server.url("gone").replace("http://", "http://student:hunter2@")
        with pytest.raises(FetchError) as excinfo:
            fetch_frames(tmp_path / "magellan", manifest=manifest, base_url=url, progress=False)
        assert main(["fetch", "--output", str(tmp_path / "m2"), "--base-url", url, "--no-progress",
                     "--manifest", str(_write(tmp_path / "m.json", manifest))]) == 1
    printed = str(excinfo.value) + "".join(capsys.readouterr())
    assert "HTTP 404" in printed and "127.0.0.1" in printed
    assert "hunter2" not in printed and "student" not in printed
    cause = excinfo.value.__cause__
    assert cause is None or "hunter2" not in str(cause)


def _write(path: Path, manifest: dict) -> Path:
    path.write_text(json.dumps(manifest))
    return path


def test_finding5_build_manifest_records_sha256_of_verified_copies(source, tmp_path):
    builder = manifest_builder()
    tsv = ROOT / "data_manifest" / "magellan_calibration_frames.tsv"
    comments = [line for line in tsv.read_text().splitlines() if line.startswith("#")]
    rows = [f"{git_blob_sha1((source / f.path).read_bytes())}\t{f.path}" for f in FRAMES]
    local = tmp_path / "list.tsv"
    local.write_text("\n".join([*comments, "git_blob_sha1\tpath", *rows]) + "\n")
    manifest = builder.build_course_manifest(local, source)
    for entry in manifest["files"]:
        content = (source / entry["path"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(content).hexdigest() and entry["size"] == len(content)
    tamper(copy_dataset(source, tmp_path / "copy") / FRAMES[3].path, b"not the frame")
    with pytest.raises(ValueError, match="is not the real frame"):
        builder.build_course_manifest(local, tmp_path / "copy")


# --- Finding 7: a way out of every state ---------------------------------------------------------


def test_finding7_a_directory_in_a_frames_place_is_repaired_or_named(cache, capsys, source):
    root = copy_dataset(source, cache / "synthetic-small")
    victim = root / FRAMES[4].path
    victim.parent.chmod(0o755)
    victim.unlink()
    victim.mkdir()
    assert dataset_dir(preset="small") == root  # an empty folder in its place: the frame is made again
    assert victim.is_file() and store.full_check(root) == []
    victim.parent.chmod(0o755)
    victim.chmod(0o644)
    victim.unlink()
    victim.mkdir()
    (victim / "mine.txt").write_text("mine")
    with pytest.raises(UnsafePathError, match="Move it out of the dataset"):
        dataset_dir(preset="small")
    assert main(["generate", "--preset", "small", "--force", "--output", str(root), "--no-progress"]) == 1
    assert (victim / "mine.txt").read_text() == "mine"
    assert "Move it out of the dataset" in capsys.readouterr().err
    (victim / "mine.txt").unlink()
    assert main(["generate", "--preset", "small", "--force", "--output", str(root), "--no-progress"]) == 0
    assert store.full_check(root) == []


@pytest.mark.parametrize("content", ["", "{not json", json.dumps({"format": 2})])
def test_finding7_a_broken_marker_verify_names_generate_force_which_works(cache, capsys, source, content):
    root = copy_dataset(source, cache / "synthetic-small")
    root.chmod(0o755)
    (root / store.MARKER_NAME).chmod(0o644)
    (root / store.MARKER_NAME).write_text(content)
    assert main(["verify", str(root), "--no-progress"]) == 1
    assert "generate --preset small --force --output" in capsys.readouterr().err
    assert main(["generate", "--preset", "small", "--force", "--output", str(root), "--no-progress"]) == 0
    assert store.full_check(root) == [] and dataset_dir(preset="small", verbose=False) == root


# --- Finding 8: smaller cases ------------------------------------------------------------------------


def test_finding8_after_a_restore_the_marker_is_restamped_and_files_are_hashed_once(cache, source):
    root = copy_dataset(source, cache / "synthetic-small")
    later = time.time_ns() + 10**9
    for frame in SYNTHETIC_FRAMES:
        os.utime(root / frame.path, ns=(later, later))  # a backup restore: every time changed
    assert dataset_dir(preset="small", verbose=False) == root
    records = {r["path"]: r for r in store.read_marker(root)["files"]}
    for frame in SYNTHETIC_FRAMES:
        assert records[frame.path]["mtime_ns"] == os.stat(root / frame.path).st_mtime_ns
    status = store.check(root, {}, [])
    assert status.ok and status.stale == []  # the next call hashes nothing


def test_finding8_a_frame_made_writable_is_reported_and_sealed_again(cache, capsys, source):
    root = copy_dataset(source, cache / "synthetic-small")
    frame = root / FRAMES[5].path
    frame.chmod(0o664)
    assert dataset_dir(preset="small") == root
    err = capsys.readouterr().err
    assert "Sealed again 1 file(s)" in err and FRAMES[5].path in err
    assert _mode(frame) == 0o444


@pytest.mark.parametrize("inodes", [40, 100])  # too few at the start; runs out while writing
def test_finding8_inode_exhaustion_is_named_not_the_disk(cache, monkeypatch, tmp_path, inodes):
    need_root("it mounts a tmpfs with few inodes")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size=50m,nr_inodes={inodes}", "tmpfs", str(disk)],
                   check=True)
    try:
        monkeypatch.setenv("COURSE_CACHE_DIR", str(disk / "cache"))
        with pytest.raises(DiskFullError) as excinfo:
            dataset_dir(preset="small")
        message = str(excinfo.value)
        assert "inodes" in message and "COURSE_CACHE_DIR" in message and "disk filled up" not in message
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_finding8_a_missing_manifest_override_is_named_and_spares_the_synthetic_path(cache, monkeypatch,
                                                                                   capsys, source):
    copy_dataset(source, cache / "synthetic-small")
    monkeypatch.setenv("COURSE_DATA_MANIFEST", "/nonexistent/manifest.json")
    assert dataset_dir(preset="small", verbose=False) == cache / "synthetic-small"
    with pytest.raises(FileNotFoundError) as excinfo:
        dataset_dir(source="magellan", preset="small")
    message = str(excinfo.value)
    assert "COURSE_DATA_MANIFEST is set to /nonexistent/manifest.json" in message and "Unset it" in message


def test_finding8_a_dangling_link_where_the_dataset_should_be_is_named(cache):
    cache.mkdir(parents=True)
    (cache / "synthetic-small").symlink_to(cache / "gone")
    with pytest.raises(FileExistsError) as excinfo:
        dataset_dir(preset="small")
    message = str(excinfo.value)
    assert "is a symbolic link to" in message and "which does not exist" in message
    assert "Remove the link" in message
    assert os.path.islink(cache / "synthetic-small") and not (cache / "gone").exists()


def test_finding8_a_read_only_shared_cache_without_science_frames_falls_back_to_the_work_folder(
        cache, monkeypatch, tmp_path, capsys):
    need_root("it mounts a read-only file system")
    with small_filesystem(tmp_path / "shared", "1m", read_only=True) as shared:
        monkeypatch.setenv("COURSE_CACHE_DIR", str(shared))
        monkeypatch.setenv("COURSE_WORK_DIR", str(tmp_path / "work"))
        root = science_dir("small")
        out = capsys.readouterr().out
    assert root == tmp_path / "work" / "synthetic-science-small"
    assert "cannot be written" in out and "made in the work folder" in out
    assert store.full_check(root) == []


# --- The seed is checked once, at the entry, and passed down ------------------------------------


def test_a_seed_is_checked_at_the_entry_and_gets_a_folder_of_its_own(cache, capsys):
    for bad in (-1, 1.5, "7", True):
        with pytest.raises(ValueError, match="seed must be a non-negative integer"):
            dataset_dir(preset="small", seed=bad)
    root = dataset_dir(source="synthetic", preset="small", seed=7)
    assert root == cache / "synthetic-small-000000000007"
    assert "seed 7" in capsys.readouterr().out
    assert store.read_marker(root)["seed"] == 7 and store.full_check(root) == []
    assert names(cache) == ["synthetic-small-000000000007"]


def test_finding7_a_broken_science_marker_names_the_command_that_remakes_it(cache, capsys):
    root = science_dir("small", verbose=False)
    root.chmod(0o755)
    (root / store.MARKER_NAME).chmod(0o644)
    (root / store.MARKER_NAME).write_text("")
    with pytest.raises(FileExistsError) as excinfo:
        science_dir("small")
    command = "python -m course_utils.data generate --science --preset small --force --output"
    assert command in str(excinfo.value)
    assert main(command.split()[3:] + [str(root), "--no-progress"]) == 0
    assert science_dir("small", verbose=False) == root and store.full_check(root) == []
