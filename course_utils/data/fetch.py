"""Download the real calibration frames listed in the manifest, verified, through pooch, into the store.

:func:`magellan_plan` turns a manifest into a :class:`course_utils.data.store.Plan`
that carries each frame's size and hashes, and whose files are made by
downloading them; :func:`fetch_frames` hands it to the store
(:func:`course_utils.data.store.ensure`), which claims, locks, writes the
marker and repairs exactly as for a generated dataset. For each file:

1. pooch downloads it into a private folder ``.NAME.part-XXXXXXXX`` beside its
   target, through a downloader of its own (``requests`` within a deadline
   and above a minimum rate, :class:`DownloadLimits`, reading no more than
   the size the manifest records), retried a bounded number of times when
   the failure may pass;
2. pooch checks the SHA-256 the manifest records (``known_hash``);
3. the store checks the size and the git blob SHA-1 too, and only then
   renames the file into place (atomic), read-only.

On any failure -- no network, a server error, a transfer cut short, too slow
or too long, a hash mismatch, a folder that cannot be written, a full disk --
the private folder is removed and :class:`FetchError` says which file, from
which address (without any user name or password it holds), and what went
wrong. (A process killed outright cannot clean up: its private folders are
removed by the next run, under the lock.) Files already present are kept
only if they match the manifest; an interrupted download resumes.

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
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import requests
import urllib3

from . import identity, store
from .layout import file_size, frame_by_path
from .manifest import entry_url, load_manifest, real_entries
from .store import pooch, redact

__all__ = ["FetchError", "DownloadLimits", "fetch_frames", "magellan_plan", "check_base_url"]

_OFFLINE = "No network? The synthetic course dataset needs none: `python -m course_utils.data generate`."
_WRITE = "Set COURSE_CACHE_DIR to a writable folder (or pass --output DIR on the command line) and try again."
#: pooch's INFO lines name the address (with any user name and password in it) and would end up in
#: stored notebook outputs: only its warnings are shown.
pooch.get_logger().setLevel(logging.WARNING)


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
    stall: float = 60.0
    retries: int = 2
    backoff: float = 1.0


class FetchError(OSError):
    """A real frame could not be downloaded and verified; nothing corrupt was kept."""


class _TooSlow(Exception):
    """The download broke its deadline or minimum rate, or the server sent more bytes than it should."""


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
    if base_url is not None and not re.fullmatch(r"(?i)https?://[^/\s]+(/\S*)?", str(base_url)):
        raise ValueError("the base URL must be an http(s) address such as "
                         f"https://example.org/frames, got {redact(repr(base_url))}")
    return base_url


def _explain(error: BaseException) -> tuple[str, str, bool]:
    """(what went wrong, what to do, whether trying again may help) for an exception raised while downloading:
    the first row that matches. A refused connection or an unknown host is not retried, nor an HTTP 4xx."""
    web, wire, text = requests.exceptions, urllib3.exceptions, str(error).lower()
    cause = "connection refused" if "refused" in text else \
        "the host name could not be resolved" if "resol" in text or "not known" in text else None
    detail, status = cause or redact(str(error))[:200], getattr(getattr(error, "response", None), "status_code", 0)
    rows = [
        (_TooSlow, str(error), "The server is at fault or too slow, not your disk; try later, or --base-url.", False),
        (web.HTTPError, f"the server answered HTTP {status}", "Check the address (--base-url).", status >= 500),
        (web.ConnectionError, f"could not connect to the server ({detail})", _OFFLINE, not cause),
        ((web.RequestException, wire.HTTPError), f"it was cut short or timed out ({detail})", "Retry.", not cause),
        (OSError, f"writing the file failed ({getattr(error, 'strerror', None) or detail})", _WRITE, False),
    ]
    return next((r[1:] for r in rows if isinstance(error, r[0])), (f"{type(error).__name__}: {detail}", "", False))


def _downloader(limits: DownloadLimits, start: float, cap: int | None, what: str):
    """A pooch downloader: ``requests`` within ``limits`` (counted from ``start``), reading at most ``cap`` bytes.

    pooch calls it as ``downloader(url, output_file, pooch)``; it streams the
    body into ``output_file`` and raises when the deadline or the minimum
    rate is broken, or when the server sends more than ``cap`` bytes (``what``
    says whence that number comes: the size the manifest records, else what a
    frame of its shape can take), so that a server that never ends its body
    fails at once, before it fills the disk.
    """
    def download(url: str, output_file, pooch=None) -> None:
        wait = max(0.1, min(limits.stall, limits.deadline - (time.monotonic() - start)))
        with requests.get(url, stream=True, timeout=(wait, wait)) as response, open(output_file, "wb") as handle:
            response.raise_for_status()
            begun, received = time.monotonic(), 0
            # read1 (urllib3 >= 2.1) returns what has arrived (at most one read of the socket), so the
            # deadline is checked however slowly bytes trickle in.
            while True:
                want = 1 << 16 if cap is None else min(1 << 16, cap + 1 - received)
                chunk = response.raw.read1(want, decode_content=True)
                if not chunk:
                    return
                handle.write(chunk)
                received += len(chunk)
                if cap is not None and received > cap:  # it does not end the file where it should
                    raise _TooSlow(f"the server sent more than the {cap} bytes {what}")
                now = time.monotonic()
                if now - start > limits.deadline:
                    raise _TooSlow(f"the download did not finish within the deadline of {limits.deadline:g} s")
                if now - begun > limits.grace and (rate := received / (now - begun)) < limits.min_rate:
                    raise _TooSlow(f"the server sent only {rate:.0f} bytes/s, under {limits.min_rate:g} bytes/s")
    return download


def _size(entry: dict) -> tuple[int | None, bool]:
    """(bytes, recorded?): the manifest's size, else what a frame of its layout or shape takes (None: unknown)."""
    if entry.get("size") is not None:
        return entry["size"], True
    try:
        return file_size(frame_by_path(entry["path"]), "full"), False
    except KeyError:
        return (2 * math.prod(entry["shape"]) + 4 * 2880 if entry.get("shape") else None), False


def _download(url: str, staging: Path, entry: dict, limits: DownloadLimits) -> Path:
    """pooch.retrieve ``url`` into the folder ``staging`` (as the file's name), with the entry's SHA-256 as
    ``known_hash`` (pooch's INFO log is off, see the top of the module), retried within ``limits``;
    FetchError on failure (a SHA-256 mismatch: the store's Rejected). Without a recorded size, the body
    may take twice a frame's size plus 1 MB."""
    (size, recorded), start = _size(entry), time.monotonic()
    downloader = _downloader(limits, start, size and (size if recorded else 2 * size + (1 << 20)),
                             "the manifest records for this file" if recorded else "a frame of this shape can take")
    known = f"sha256:{entry['sha256']}" if entry.get("sha256") else None
    for attempt in range(limits.retries + 1):
        try:
            return Path(pooch.retrieve(url, known_hash=known, fname=PurePosixPath(entry["path"]).name,
                                       path=staging, downloader=downloader, progressbar=False))
        except Exception as error:  # noqa: BLE001 - retried if it may pass, else reported the same way
            what, advice, retry = _explain(error)
            delay, text = limits.backoff * 2 ** attempt, str(error)
            if attempt < limits.retries and retry and time.monotonic() - start + delay <= limits.deadline:
                time.sleep(delay)
                continue
            if isinstance(error, ValueError) and "does not match the known hash" in text:  # pooch's mismatch
                got = text.split("got ", 1)[1].split(".", 1)[0].removeprefix("sha256:") if "got " in text else "?"
                raise store.Rejected(entry["path"], f"SHA-256 mismatch: expected {entry['sha256']}, got {got}") \
                    from None
            message = f"Could not download {entry['path']} from {redact(url)}: {what}. Nothing was kept. {advice}"
            raise FetchError(message.rstrip()) from (None if redact(text) != text else error)


def magellan_plan(target: Path, manifest: dict, base_url: str | None = None,
                  limits: DownloadLimits = DownloadLimits()) -> store.Plan:
    """The real frames of ``manifest`` as the store's plan for the folder ``target``: sizes and hashes from
    the manifest; each file made by a download (from ``base_url/<path>`` if given) into a private folder
    beside it, which the store checks and renames into place."""
    entries = {entry["path"]: entry for entry in real_entries(manifest)}

    def make(paths: list[str]):
        for path in paths:
            file = store.check_no_links(target, path)
            staging = file.with_name(f".{file.name}.part-{secrets.token_hex(4)}")
            try:
                yield path, _download(entry_url(manifest, entries[path], base_url), staging, entries[path], limits)
            finally:
                shutil.rmtree(staging, ignore_errors=True)

    return store.Plan(info=identity.magellan(manifest), make=make, what=f"the real calibration frames of {target}",
                      sizes={path: _size(entry)[0] or 0 for path, entry in entries.items()},
                      title="Downloading the real calibration frames",
                      hashes={path: {key: entry[key] for key in ("size", "sha256", "git_sha1") if entry.get(key)}
                              for path, entry in entries.items()})


def fetch_frames(target, *, manifest: dict | None = None, base_url: str | None = None, progress: bool = True,
                 limits: DownloadLimits = DownloadLimits()) -> Path:
    """Download and verify every real frame of ``manifest`` into ``target``.

    Through the store (:func:`course_utils.data.store.ensure`): holding the
    folder's lock, it writes the marker ``course_dataset.json`` saying the
    dataset is incomplete, keeps the files already there that match the
    manifest (an interrupted download resumes), downloads the others one by
    one, and writes the marker again, complete, when every file is
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
    if not real_entries(manifest):
        raise FetchError("The manifest lists no real frames with a hash to check them against.")
    target = Path(target).expanduser().absolute()
    try:
        store.ensure(target, magellan_plan(target, manifest, base_url, limits), progress=progress)
    except store.Rejected as error:  # pooch's SHA-256 check, or the store's of the size and git blob SHA-1
        url = redact(entry_url(manifest, next(e for e in real_entries(manifest) if e["path"] == error.path), base_url))
        raise FetchError(f"Rejected {error.path} downloaded from {url}: {error.problem}. The corrupt copy was removed;"
                         " try again, and if it persists the manifest or the address is out of date.") from None
    except (store.NotWritableError, store.DiskFullError, FileExistsError) as error:
        raise FetchError(str(error)) from error
    return target
