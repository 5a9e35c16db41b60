"""Shared helpers of the data tests (imported explicitly; not a conftest).

* :func:`small_dataset`: the small synthetic dataset, generated once per test
  session into a temporary folder (read-only use!);
* :func:`isolated_env`: environment variables pointing the course at
  temporary folders;
* :class:`FrameServer`: a real HTTP server on 127.0.0.1 (ephemeral port) that
  serves files of a folder normally, corrupted, truncated or not at all;
* :func:`make_manifest`: a manifest of some of those files, with hashes
  computed here independently of course_utils;
* :func:`small_filesystem`: a real, small (or read-only) file system mounted
  in a temporary folder, for full-disk and read-only faults (needs root);
* :func:`names`: a folder's entries, without the lock files beside datasets;
* :func:`manifest_builder`: the maintainer's ``tools/build_manifest.py`` as a module;
* the fixtures :func:`source` (the small dataset, read-only use) and
  :func:`cache` (an isolated environment), and :func:`need_root` for fault
  tests that mount file systems: import them by name.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

_CACHE: dict[str, Path] = {}
ROOT = Path(__file__).resolve().parents[1]


def manifest_builder():
    """The maintainer's manifest builder, tools/build_manifest.py (not part of the package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("course_build_manifest", ROOT / "tools" / "build_manifest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def small_dataset(tmp_path_factory) -> Path:
    """The small synthetic dataset (default seed), made once per session."""
    if "small" not in _CACHE:
        from course_utils.data.synthetic import generate

        root = tmp_path_factory.mktemp("small-dataset") / "synthetic-small"
        _CACHE["small"] = generate(root, "small", progress=False)
    return _CACHE["small"]


def copy_dataset(source: Path, target: Path) -> Path:
    """A private copy of a dataset folder (times kept), for tests that change it."""
    shutil.copytree(source, target)
    return target


def tamper(path: Path, content: bytes, *, keep_time: bool = False) -> None:
    """Overwrite a (read-only) dataset file, as a careless user or a bad disk would."""
    status = path.stat()
    path.chmod(0o644)
    path.write_bytes(content)
    path.chmod(0o444)
    if keep_time:
        os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))


def names(folder: Path) -> list[str]:
    """The entries of ``folder``, sorted, without the ``.NAME.lock`` files of datasets."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock"))


def can_mount() -> bool:
    """Whether this process may mount a small file system (root, with the capability)."""
    return os.geteuid() == 0 and shutil.which("mount") is not None


@contextlib.contextmanager
def small_filesystem(folder: Path, size: str = "5m", *, read_only: bool = False):
    """Mount a tmpfs of ``size`` on ``folder`` (created), unmounted afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def isolated_env(monkeypatch, tmp_path: Path) -> Path:
    """Point HOME and the course's cache at ``tmp_path``; clear the other variables.

    Returns the cache folder (``~/cache`` under the fake home).
    """
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    cache = home / "cache"
    monkeypatch.setenv("COURSE_CACHE_DIR", str(cache))
    for name in ("COURSE_DATA_DIR", "COURSE_DATA_SOURCE", "COURSE_WORK_DIR", "COURSE_DATA_MANIFEST"):
        monkeypatch.delenv(name, raising=False)
    return cache


def git_blob_sha1(content: bytes) -> str:
    """Git blob SHA-1, computed here independently of course_utils."""
    return hashlib.sha1(b"blob " + str(len(content)).encode() + b"\x00" + content).hexdigest()


def make_manifest(root: Path, paths, base_url: str | None = None, *, sha256: bool = False) -> dict:
    """A manifest listing ``paths`` of the dataset in ``root`` (hashes computed here).

    With ``sha256=True`` each entry also records the file's size and SHA-256.
    """
    files = []
    for path in paths:
        content = (root / path).read_bytes()
        entry = {"path": path, "frame_type": path.split("/")[1], "git_sha1": git_blob_sha1(content)}
        if sha256:
            entry.update(size=len(content), sha256=hashlib.sha256(content).hexdigest())
        if base_url:
            entry["url"] = f"{base_url.rstrip('/')}/{path}"
        files.append(entry)
    return {"format": 1, "name": "test manifest",
            "source": {"name": "magellan", "repository": "test/frames", "commit": "0" * 40},
            "files": files}


def closed_port() -> int:
    """A local TCP port with nothing listening (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dead_pid() -> int:
    """The process id of a process that has exited."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


class FrameServer:
    """Serve the files under ``root`` on 127.0.0.1 in four modes, by URL prefix.

    ``/good/<path>``: the file as it is; ``/corrupt/<path>``: one byte changed;
    ``/truncated/<path>``: a Content-Length longer than the body, then the
    connection closes; ``/trickle/<path>``: one byte every ``trickle_delay``
    seconds, for ever (a server that never quite stalls); ``/endless/<path>``: the file, then
    zeros for ever, with no Content-Length (a body that never ends); anything else: 404. ``requests`` counts the requests
    served per mode.
    """

    def __init__(self, root: Path, trickle_delay: float = 0.2):
        self.root = Path(root)
        self.trickle_delay = trickle_delay
        self.requests: dict[str, int] = {}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep the test output clean
                pass

            def do_GET(self):  # noqa: N802 - the http.server API
                mode, _, path = self.path.lstrip("/").partition("/")
                server.requests[mode] = server.requests.get(mode, 0) + 1
                file = server.root / path
                if mode == "endless" and file.is_file():  # the file, then bytes for ever, no length
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    try:
                        self.wfile.write(file.read_bytes())
                        while True:
                            self.wfile.write(b"\0" * 65536)
                    except OSError:  # the client gave up
                        pass
                    self.close_connection = True
                    return
                if mode not in ("good", "corrupt", "truncated", "trickle") or not file.is_file():
                    self.send_error(404, "Not Found")
                    return
                body = file.read_bytes()
                if mode == "corrupt":
                    middle = len(body) // 2
                    body = body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1:]
                length = len(body)
                if mode == "truncated":
                    length += 1000
                    body = body[: len(body) // 2]
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(length))
                if mode == "truncated":
                    self.send_header("Connection", "close")
                self.end_headers()
                if mode == "trickle":
                    try:
                        for byte in body:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(server.trickle_delay)
                    except OSError:  # the client gave up
                        pass
                    return
                self.wfile.write(body)
                self.wfile.flush()
                if mode == "truncated":
                    self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def url(self, mode: str = "good") -> str:
        return f"http://127.0.0.1:{self.port}/{mode}"

    def __enter__(self) -> "FrameServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def remove_tree(folder: Path) -> None:
    """Delete a test's folder, datasets included (their files and folders are read-only)."""
    for inside, dirs, _ in os.walk(folder):
        os.chmod(inside, stat.S_IRWXU)
        for name in dirs:
            if not os.path.islink(os.path.join(inside, name)):
                os.chmod(os.path.join(inside, name), stat.S_IRWXU)
    shutil.rmtree(folder)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """The small synthetic dataset (:func:`small_dataset`); read-only use."""
    return small_dataset(tmp_path_factory)


@pytest.fixture
def cache(monkeypatch, tmp_path):
    """An isolated environment (:func:`isolated_env`); returns the cache folder."""
    return isolated_env(monkeypatch, tmp_path)


def need_root(what: str) -> None:
    """Fail (never skip) a fault test that needs root to mount a file system."""
    if not can_mount():
        pytest.fail(f"this fault test needs root ({what}); run the tests as root")
