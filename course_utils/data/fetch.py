"""Download the real calibration frames listed in the manifest, verified, through pooch.

:func:`fetch_frames` downloads every real frame of a manifest with
``pooch.retrieve`` and checks it *before* it takes the file's real name:

1. pooch downloads the file into a private folder ``.NAME.part-XXXXXXXX``
   beside its target, through :class:`LimitedDownloader` (``requests``
   within a deadline and above a minimum rate, :class:`DownloadLimits`,
   reading no more than the size the manifest records), retried a bounded
   number of times when the failure may pass;
2. pooch checks the SHA-256 the manifest records (``known_hash``); the git
   blob SHA-1 and the size are checked too;
3. only then is the file renamed into place (``os.replace``: atomic), read-only.

On any failure -- no network, a server error, a transfer cut short, too slow
or too long, a hash mismatch, a folder that cannot be written, a full disk --
the private folder is removed and :class:`FetchError` says which file, from
which address (without any user name or password it holds), and what went
wrong. (A process killed outright cannot clean up: its private folders are
removed by the next run, under the lock.)

Files already present are re-hashed and kept only if they match. The
dataset's marker ``course_dataset.json`` is written first, saying the
download is incomplete, and again when every file is verified: a later run
never mistakes a partial or corrupt copy for a good one, and resumes it.

Tests point ``base_url`` (or a manifest of their own) at a local server.

Examples
--------
>>> from course_utils.data.fetch import FetchError
>>> issubclass(FetchError, OSError)
True
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests
import urllib3

from ..progress import progress_bar
from . import identity, store
from .store import DiskFullError, NotWritableError, ensure_writable, file_digests, hash_problem, pooch, redact
from .layout import file_size, frame_by_path
from .manifest import entry_url, load_manifest, real_entries

__all__ = ["FetchError", "DownloadLimits", "LimitedDownloader", "fetch_frames", "download_file",
           "check_base_url"]

_OFFLINE_ADVICE = (
    "No network? The synthetic course dataset needs none: call dataset_dir() without "
    "source='magellan', or run `python -m course_utils.data generate`."
)
_WRITE_ADVICE = (
    "Set COURSE_CACHE_DIR to a writable folder (or pass --output DIR on the command line) "
    "and try again."
)
#: Seconds to wait for the server to connect or to send more data (see `DownloadLimits`).
TIMEOUT = 60


@dataclass(frozen=True)
class DownloadLimits:
    """How long one file's download may take before it is given up.

    Attributes
    ----------
    deadline : float
        Seconds for the whole file, retries included.
    min_rate : float
        Bytes per second, on average since the start, below which the
        download is given up (checked after ``grace`` seconds).
    grace : float
        Seconds before ``min_rate`` is enforced (connection set-up, slow start).
    stall : float
        Seconds without any byte (or to connect) before an attempt fails.
    retries : int
        Further attempts after a failure that may pass (a cut connection, a
        time-out, a server error 5xx); never after a refused connection, an
        HTTP 4xx or a wrong hash.
    backoff : float
        Seconds to wait before the first retry (doubled for each next one).
    """

    deadline: float = 600.0
    min_rate: float = 20_000.0
    grace: float = 20.0
    stall: float = TIMEOUT
    retries: int = 2
    backoff: float = 1.0


class FetchError(OSError):
    """A real frame could not be downloaded and verified; nothing corrupt was kept."""


class _TooSlow(Exception):
    """The download broke its deadline or minimum rate (the message says which)."""


class _TooLong(_TooSlow):
    """The server sent more bytes than the manifest records."""


def check_base_url(base_url: str | None) -> str | None:
    """``base_url`` if it is an http(s) address with a host (or None); else ValueError.

    Examples
    --------
    >>> check_base_url("http://127.0.0.1:8000/data")
    'http://127.0.0.1:8000/data'
    >>> check_base_url("not a url")
    Traceback (most recent call last):
    ...
    ValueError: the base URL must be an http(s) address such as https://example.org/frames, got 'not a url'
    """
    if base_url is None:
        return None
    parts = urlsplit(base_url) if isinstance(base_url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or " " in base_url:
        raise ValueError("the base URL must be an http(s) address such as "
                         f"https://example.org/frames, got {redact(repr(base_url))}")
    return base_url


def _explain(error: BaseException, limits: DownloadLimits) -> tuple[str, str]:
    """(what went wrong, what to do) for an exception raised while downloading."""
    if isinstance(error, _TooLong):
        return (str(error), "The server is at fault (or the address is wrong), not your disk; "
                            "try another address (--base-url) or later.")
    if isinstance(error, _TooSlow):
        return (str(error), "The server or the connection is too slow; try again later.")
    if isinstance(error, requests.exceptions.HTTPError):
        status = getattr(error.response, "status_code", "?")
        return (f"the server answered HTTP {status}",
                "The address in the manifest may be wrong or the file may have moved.")
    if isinstance(error, (requests.exceptions.ConnectTimeout,)):
        return ("the connection timed out", _OFFLINE_ADVICE)
    if isinstance(error, (requests.exceptions.Timeout, urllib3.exceptions.ReadTimeoutError)):
        return (f"the server stopped sending data for {limits.stall:g} s", "Try again later.")
    if isinstance(error, (requests.exceptions.ChunkedEncodingError, urllib3.exceptions.ProtocolError,
                          requests.exceptions.ContentDecodingError)):
        return (f"the transfer was cut short before the whole file arrived ({_short(error)})",
                "Try again; a flaky connection can do this.")
    if isinstance(error, requests.exceptions.ConnectionError):
        return (f"could not connect to the server ({_short(error)})", _OFFLINE_ADVICE)
    if isinstance(error, requests.exceptions.RequestException):
        return (f"the download failed ({_short(error)})", "Try again later.")
    if isinstance(error, OSError):
        return (f"writing the file failed ({error.strerror or error})", _WRITE_ADVICE)
    return (f"{type(error).__name__}: {error}", "")


def _retryable(error: BaseException) -> bool:
    if isinstance(error, _TooSlow):
        return False
    if isinstance(error, requests.exceptions.HTTPError):
        return getattr(error.response, "status_code", 0) >= 500
    if isinstance(error, requests.exceptions.ConnectionError) and "refused" in str(error).lower():
        return False
    if isinstance(error, requests.exceptions.ConnectionError) and "resol" in str(error).lower():
        return False
    return isinstance(error, (requests.exceptions.RequestException, urllib3.exceptions.HTTPError))


def _short(error: BaseException) -> str:
    text = str(error)
    if "refused" in text.lower():
        return "connection refused"
    if "name or service not known" in text.lower() or "name resolution" in text.lower():
        return "the host name could not be resolved"
    if "incompleteread" in text.lower() or "incomplete" in text.lower():
        return "connection closed early: fewer bytes than announced"
    text = redact(text)
    return text if len(text) < 200 else text[:197] + "..."


class LimitedDownloader:
    """A pooch downloader: ``requests`` within :class:`DownloadLimits`, stopping at ``size`` bytes.

    pooch calls it as ``downloader(url, output_file, pooch)``; it streams the
    body into ``output_file`` and raises when the deadline or the minimum
    rate is broken, or when the server sends more than ``size`` bytes (the
    size the manifest records; a server that never ends its body fails at
    once, before it fills the disk).
    """

    def __init__(self, limits: "DownloadLimits", start: float, size: int | None = None,
                 recorded: bool = True):
        self.limits, self.start, self.size, self.recorded = limits, start, size, recorded

    def __call__(self, url: str, output_file, pooch=None, check_only: bool = False) -> int:
        limits = self.limits
        remaining = limits.deadline - (time.monotonic() - self.start)
        wait = max(0.1, min(limits.stall, remaining))
        received = 0
        cap = (1 << 16) if self.size is None else self.size + 1
        with requests.get(url, stream=True, timeout=(wait, wait)) as response, open(output_file, "wb") as handle:
            response.raise_for_status()
            attempt_start = time.monotonic()
            # read1 returns what has arrived (at most one read of the socket), so the
            # deadline is checked however slowly bytes trickle in.
            read1 = getattr(response.raw, "read1", None)
            while True:
                want = min(1 << 16, cap - received) if self.size is not None else 1 << 16
                chunk = read1(want, decode_content=True) if read1 else \
                    response.raw.read(min(want, 1 << 12), decode_content=True)
                if not chunk:
                    break
                handle.write(chunk)
                received += len(chunk)
                if self.size is not None and received > self.size:
                    what = "the manifest records for this file" if self.recorded else \
                        "a frame of this shape can take"
                    raise _TooLong(f"the server sent more than the {self.size} bytes {what} "
                                   "(it does not end the file where it should)")
                self._check_time(received, attempt_start)
        return received

    def _check_time(self, received: int, attempt_start: float) -> None:
        limits, now = self.limits, time.monotonic()
        if now - self.start > limits.deadline:
            raise _TooSlow(f"the download did not finish within its deadline of "
                           f"{limits.deadline:g} s ({received} bytes received)")
        elapsed = now - attempt_start
        if elapsed > limits.grace and received / elapsed < limits.min_rate:
            raise _TooSlow(f"the server sent only {received / elapsed:.0f} bytes/s, below the "
                           f"minimum of {limits.min_rate:g} bytes/s")


def _retrieve(url: str, staging: Path, name: str, entry: dict, downloader: LimitedDownloader) -> Path:
    """pooch.retrieve into ``staging`` with the entry's SHA-256 as ``known_hash`` (pooch's log muted)."""
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)  # pooch would log the address (and any password in it)
    try:
        known = f"sha256:{entry['sha256']}" if entry.get("sha256") else None
        return Path(pooch.retrieve(url, known_hash=known, fname=name, path=staging,
                                   downloader=downloader, progressbar=False))
    finally:
        logger.setLevel(level)


def _pooch_mismatch(error: BaseException) -> str | None:
    """pooch's hash mismatch, as 'SHA-256 mismatch: expected ..., got ...', else None."""
    text = str(error)
    if not isinstance(error, ValueError) or "does not match the known hash" not in text:
        return None
    expected = text.split("expected ", 1)[1].split(",", 1)[0].removeprefix("sha256:")
    got = text.split("got ", 1)[1].split(".", 1)[0].removeprefix("sha256:") if "got " in text else "?"
    return f"SHA-256 mismatch: expected {expected}, got {got}"


def download_file(url: str, target: str | os.PathLike, entry: dict,
                  limits: DownloadLimits = DownloadLimits()) -> Path:
    """Download ``url`` to ``target`` through pooch, check it against ``entry``, keep it only if good.

    pooch downloads into a private folder ``.NAME.part-XXXXXXXX`` beside
    ``target`` and checks the entry's SHA-256 (``known_hash``); the size and
    git blob SHA-1 are checked too; only then does the file become
    ``target`` (read-only). The private folder is removed on any failure or
    interrupt. A failure that may pass is retried (``limits.retries``
    times), all within ``limits.deadline``.

    Parameters
    ----------
    url : str
    target : path-like
        Final path of the file. Its folder is created if needed.
    entry : dict
        A manifest entry with ``git_sha1`` and/or ``sha256`` (and optionally ``size``).
    limits : DownloadLimits
        The deadline, minimum rate and retries.

    Returns
    -------
    pathlib.Path
        ``target``.

    Raises
    ------
    FetchError
        With the file, the address (without credentials) and the reason; no file is left behind.
    """
    target = Path(target)
    name = entry.get("path", target.name)
    shown = redact(url)
    folder = target.parent
    try:
        ensure_writable(folder, f"the downloaded frame {name}", _WRITE_ADVICE)
    except NotWritableError as error:
        raise FetchError(f"Could not download {name} from {shown}: {error}") from error
    staging = folder / f".{target.name}.part-{secrets.token_hex(4)}"
    start = time.monotonic()
    downloader = LimitedDownloader(limits, start, *_size_cap(entry))
    try:
        for attempt in range(limits.retries + 1):
            try:
                staged = _retrieve(url, staging, target.name, entry, downloader)
                break
            except Exception as error:  # noqa: BLE001 - sorted out below
                delay = limits.backoff * 2 ** attempt
                last = attempt == limits.retries or not _retryable(error)
                if last or time.monotonic() - start + delay > limits.deadline:
                    raise
                time.sleep(delay)
        problem = hash_problem(file_digests(staged), entry)
        if problem:
            raise FetchError(_rejected(name, shown, problem))
        store.install(staged, target)
    except FetchError:
        raise
    except Exception as error:  # noqa: BLE001 - every failure is reported the same way
        mismatch = _pooch_mismatch(error)
        if mismatch:
            raise FetchError(_rejected(name, shown, mismatch)) from None
        what, advice = _explain(error, limits)
        message = f"Could not download {name} from {shown}: {what}. Nothing was kept. {advice}".rstrip()
        raise FetchError(message) from (None if redact(str(error)) != str(error) else error)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _rejected(name: str, shown: str, problem: str) -> str:
    return (f"Rejected {name} downloaded from {shown}: {problem}. The corrupt copy was "
            "removed. The file on the server differs from the one the manifest records; "
            "try again, and if it persists the manifest or the address is out of date.")


def _size_cap(entry: dict) -> tuple[int | None, bool]:
    """(bytes at most, recorded?): the manifest's size, else twice a frame's size from its shape."""
    if entry.get("size") is not None:
        return int(entry["size"]), True
    try:
        frame_by_path(entry["path"])
    except KeyError:
        if not entry.get("shape"):
            return None, False  # nothing to estimate from: the deadline and minimum rate still hold
    return 2 * _download_size([entry]) + (1 << 20), False


def _download_size(entries: list[dict]) -> int:
    """Bytes the files of ``entries`` take: their recorded sizes, else their layout's."""
    total = 0
    for entry in entries:
        if entry.get("size") is not None:
            total += int(entry["size"])
        else:
            try:
                total += file_size(frame_by_path(entry["path"]), "full")
            except KeyError:
                shape = entry.get("shape") or [0]
                total += 2 * math.prod(int(n) for n in shape) + 4 * 2880
    return total


def fetch_frames(target: str | os.PathLike, *, manifest: dict | None = None,
                 base_url: str | None = None, progress: bool = True,
                 limits: DownloadLimits = DownloadLimits()) -> Path:
    """Download and verify every real frame of ``manifest`` into ``target``.

    Holding the folder's lock, it writes the marker ``course_dataset.json``
    saying the dataset is incomplete, keeps the files already there that
    match their hash (an interrupted download resumes), downloads the others
    one by one, and writes the marker again, complete, when every file is
    verified. A folder holding other files and no marker is never written
    into.

    Parameters
    ----------
    target : path-like
        The dataset folder (it will contain ``calibration_frames/``).
    manifest : dict, optional
        A loaded manifest; default: :func:`course_utils.data.manifest.load_manifest`.
    base_url : str, optional
        Download from ``base_url/<path>`` instead of the manifest's addresses
        (e.g. a mirror, or a local test server). Must be an http(s) address.
    progress : bool
        Show a progress bar over the files (on stderr).
    limits : DownloadLimits
        Deadline, minimum rate and retries of each file's download.

    Returns
    -------
    pathlib.Path
        ``target``.

    Raises
    ------
    FetchError
        If a file cannot be downloaded and verified, ``target`` cannot be
        written or holds files that are not a course dataset, or the disk
        lacks room. Verified files stay; no corrupt or partial file does.
    ValueError
        If ``base_url`` is not an http(s) address.
    """
    check_base_url(base_url)
    manifest = load_manifest() if manifest is None else manifest
    entries = real_entries(manifest)
    if not entries:
        raise FetchError("The manifest lists no real frames with a hash to check them against.")
    target = Path(target).expanduser().absolute()
    info = identity.magellan(manifest)
    paths = [entry["path"] for entry in entries]
    try:
        # A broken marker may be replaced: every file is re-hashed against the manifest anyway.
        with store.claimed(target, info, paths, f"the real calibration frames of {target}", overwrite=True,
                           advice=_WRITE_ADVICE), store.opened(target, paths):
            ensure_writable(target, "the real calibration frames", _WRITE_ADVICE)
            try:
                _fetch_locked(target, manifest, entries, info, base_url, progress, limits)
            except BaseException:
                store.forget_if_empty(target, paths)
                raise
    except (NotWritableError, DiskFullError, FileExistsError) as error:
        raise FetchError(str(error)) from error
    return target


def _fetch_locked(target: Path, manifest: dict, entries: list[dict], info: dict,
                  base_url: str | None, progress: bool, limits: DownloadLimits) -> None:
    good, todo = [], []
    for entry in entries:
        path = store.check_no_links(target, entry["path"])
        digests = file_digests(path) if path.is_file() and not path.is_symlink() else None
        if digests is None or hash_problem(digests, entry):
            todo.append(entry)
        else:
            good.append(store.file_record(target, entry["path"], sha256=digests.sha256,
                                           git_sha1=digests.git_sha1))
    sizes = _download_size(todo)
    largest = max((_download_size([entry]) for entry in todo), default=0)
    new = _download_size([e for e in todo if not (target / e["path"]).exists()])
    store.check_free_space(target, min(sizes, new + largest) + (1 << 16), "the real calibration frames",
                           len(todo) + 8)
    store.write_marker(target, info, good, complete=False)
    with progress_bar(total=len(todo), desc="Downloading the real calibration frames", unit="file",
                      enabled=progress) as bar:
        for entry in todo:
            path = download_file(entry_url(manifest, entry, base_url), target / entry["path"],
                                 entry, limits)
            digests = file_digests(path)
            good.append(store.file_record(target, entry["path"], sha256=digests.sha256,
                                           git_sha1=digests.git_sha1))
            bar.update(1)
    store.write_marker(target, info, good)
