"""The command line `python -m course_utils.data ...`, run as a student would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from course_utils.data.__main__ import main
from course_utils.data.layout import FRAMES

from data_fixtures import (  # noqa: F401 - fixtures by name
    closed_port,
    copy_dataset,
    FrameServer,
    make_manifest,
    manifest_builder,
    source,
)

ROOT = Path(__file__).resolve().parents[1]
BUILDER = manifest_builder()  # tools/build_manifest.py: --local FOLDER writes an instructor's manifest

COMMANDS = ["generate", "fetch", "verify", "info", "student"]


@pytest.fixture
def env(tmp_path):
    """The environment of a student's shell: a private home and cache, no TQDM_DISABLE."""
    home = tmp_path / "home"
    home.mkdir()
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("COURSE_", "TQDM_"))}
    environment.update(HOME=str(home), COURSE_CACHE_DIR=str(home / "cache"), MPLBACKEND="Agg")
    return environment


def run(env, *args, cwd=None):
    return subprocess.run([sys.executable, "-m", "course_utils.data", *map(str, args)],
                          env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_help_for_every_command(env, capsys):
    result = run(env, "--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout
    for command in COMMANDS:  # in this process: each start of Python costs a second
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0, command
        assert f"usage: python -m course_utils.data {command}" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2  # no command: a usage error


def test_generate_verify_and_refuse_to_overwrite(env, tmp_path, source, capsys):
    out = tmp_path / "data"
    result = run(env, "generate", "--preset", "small", "--output", out)
    assert result.returncode == 0, result.stderr
    assert "Wrote the synthetic course dataset (preset 'small', seed 20230321" in result.stdout
    assert "Generating the synthetic course dataset (small)" in result.stderr  # the progress bar
    assert "/89 [" in result.stderr  # 63 files of the real set + 26 photon-transfer frames
    for frame in FRAMES[::9]:
        assert (out / frame.path).read_bytes() == (source / frame.path).read_bytes()

    # (in this process from here on: each start of Python costs a second)
    assert main(["generate", "--preset", "small", "--output", str(out), "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "Already complete" in captured.out and captured.err == ""

    assert main(["generate", "--preset", "small", "--seed", "5", "--output", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and "--force" in err and "Traceback" not in err

    assert main(["verify", str(out), "--no-progress"]) == 0
    assert capsys.readouterr().out.startswith("OK")

    victim = out / FRAMES[2].path
    content = bytearray(victim.read_bytes())
    content[5000] ^= 0xFF
    victim.write_bytes(bytes(content))
    result = run(env, "verify", out, "--no-progress")
    assert result.returncode == 1
    assert "FAILED" in result.stdout and FRAMES[2].path in result.stdout and "mismatch" in result.stdout

    assert main(["generate", "--preset", "small", "--output", str(out), "--force", "--no-progress"]) == 0
    assert victim.read_bytes() == (source / FRAMES[2].path).read_bytes()


def test_generate_into_the_cache_then_info_and_verify(env, monkeypatch, capsys):
    cache = Path(env["COURSE_CACHE_DIR"])
    for key in ("HOME", "COURSE_CACHE_DIR"):
        monkeypatch.setenv(key, env[key])
    for key in ("COURSE_DATA_DIR", "COURSE_DATA_SOURCE", "COURSE_WORK_DIR", "COURSE_DATA_MANIFEST"):
        monkeypatch.delenv(key, raising=False)
    assert main(["verify"]) == 1
    assert "No dataset to verify" in capsys.readouterr().err
    assert main(["generate", "--preset", "small", "--no-progress"]) == 0
    assert "~/cache/synthetic-small" in capsys.readouterr().out
    assert (cache / "synthetic-small" / "course_dataset.json").is_file()
    info = run(env, "info", "--preset", "small", "--model")
    assert info.returncode == 0, info.stderr
    rows = dict(line.split(None, 1) for line in info.stdout.splitlines()
                if line.startswith("  ") and not line.strip().startswith("COURSE_"))
    assert rows["synthetic-small"] == "complete" and rows["magellan"] == "not present"
    assert rows["synthetic-science-small"] == "not present"
    assert "photon transfer (synthetic only)" in info.stdout
    assert "[ready]" in info.stdout and "IFU-M c1: bias 817.4 DU" in info.stdout
    assert main(["verify", "--no-progress"]) == 0
    assert "synthetic-small" in capsys.readouterr().out


def test_fetch_from_a_local_server_and_an_unreachable_one(env, tmp_path, source):
    with FrameServer(source) as server:
        manifest = tmp_path / "manifest.json"
        manifest.write_text(json.dumps(make_manifest(source, [f.path for f in FRAMES[:4]])))
        out = tmp_path / "real"
        result = run(env, "fetch", "--manifest", manifest, "--base-url", server.url("good"),
                     "--output", out)
        assert result.returncode == 0, result.stderr
        assert "Downloaded and verified 4 real frames" in result.stdout
        assert (out / FRAMES[0].path).read_bytes() == (source / FRAMES[0].path).read_bytes()
    result = run(env, "fetch", "--manifest", manifest, "--base-url",
                 f"http://127.0.0.1:{closed_port()}", "--output", tmp_path / "nope", "--no-progress")
    assert result.returncode == 1
    assert "could not connect" in result.stderr and "synthetic" in result.stderr
    assert "Traceback" not in result.stderr


def test_manifest_of_a_folder_to_stdout_and_to_a_file(env, tmp_path, source, capsys):
    folder = copy_dataset(source, tmp_path / "frames")
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "build_manifest.py"), "--local", str(folder)],
                            env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    manifest = json.loads(result.stdout)
    assert len(manifest["files"]) == 63 + 26  # with the synthetic-only photon-transfer frames
    assert {e["frame_type"] for e in manifest["files"]} == {"bias", "dark", "flat"}
    first = manifest["files"][0]
    assert first["path"] == "calibration_frames/bias/b0860c1.fits"
    assert len(first["sha256"]) == 64 and len(first["git_sha1"]) == 40
    assert first["shape"] == [289, 544] and first["dtype"] == "uint16"

    output = tmp_path / "mine.json"
    assert BUILDER.main(["--local", str(folder), "--output", str(output)]) == 0
    assert json.loads(output.read_text()) == manifest

    # the written manifest drives a fetch (an instructor swapping in their own frames)
    with FrameServer(folder) as server:
        assert main(["fetch", "--manifest", str(output), "--base-url", server.url("good"),
                     "--output", str(tmp_path / "swapped"), "--no-progress"]) == 0
    assert (tmp_path / "swapped" / first["path"]).read_bytes() == (folder / first["path"]).read_bytes()


def test_manifest_errors(capsys, tmp_path):
    assert BUILDER.main(["--local", str(tmp_path / "no_such_folder")]) == 1
    assert "not a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as excinfo:  # a usage error: status 2
        BUILDER.main(["--local"])
    assert excinfo.value.code == 2 and "FOLDER" in capsys.readouterr().err


def test_a_corrupt_fits_file_is_named_by_manifest(capsys, tmp_path):
    """Case 7: `manifest` on a corrupt .fits named the problem but not the file."""
    bad = tmp_path / "calibration_frames" / "bias" / "b0001c1.fits"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a FITS file at all" * 200)
    assert BUILDER.main(["--local", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "cannot be read as a FITS file" in err


def test_a_base_url_that_is_not_an_address_is_refused(capsys, tmp_path):
    """Case 7: `--base-url 'not a url'` was accepted."""
    assert main(["fetch", "--base-url", "not a url", "--output", str(tmp_path / "m"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "'not a url'" in err and "http(s) address" in err
    assert not (tmp_path / "m").exists()
    assert BUILDER.main(["--local", str(tmp_path), "--base-url", "ftp:/x"]) == 1
    assert "http(s) address" in capsys.readouterr().err
