"""Download the real calibration frames listed in the manifest, verified.

:func:`fetch_frames` downloads every real frame of a manifest with pooch and
checks it against the manifest's hash (git blob SHA-1, or SHA-256) *before*
it takes the file's real name:

1. the file is downloaded to a temporary name in its target folder;
2. its hash is checked;
3. only then is it renamed into place (``os.replace``: atomic).

On any failure -- no network, a server error, a transfer cut short, a hash
mismatch, a folder that cannot be written -- the temporary file is removed
and :class:`FetchError` says which file, from which address, and what went
wrong. Files already present are re-hashed and kept only if they match, and
the dataset's marker ``course_dataset.json`` is written last, when every file
is verified: a later run never mistakes a partial or corrupt copy for a good
one.

Tests point ``base_url`` (or a manifest of their own) at a local server.

Examples
--------
>>> from course_utils.data.fetch import FetchError
>>> issubclass(FetchError, OSError)
True
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import sys
import warnings
from pathlib import Path

from . import marker
from .files import NotWritableError, ensure_writable
from .hashing import file_digests, hash_problem
from .manifest import entry_url, load_manifest, real_entries

__all__ = ["FetchError", "fetch_frames", "download_file", "magellan_info"]

_OFFLINE_ADVICE = (
    "No network? The synthetic course dataset needs none: call dataset_dir() without "
    "source='magellan', or run `python -m course_utils.data generate`."
)
_WRITE_ADVICE = (
    "Set COURSE_CACHE_DIR to a writable folder (or pass --output DIR on the command line) "
    "and try again."
)
#: Seconds to wait for the server to connect or to send more data.
TIMEOUT = 60


class FetchError(OSError):
    """A real frame could not be downloaded and verified; nothing corrupt was kept."""


def magellan_info(manifest: dict) -> dict:
    """The identifying fields of a download of ``manifest``'s real frames (for the marker)."""
    source = manifest.get("source") or {}
    info = {"source": "magellan"}
    for key in ("repository", "commit"):
        if source.get(key):
            info[key] = source[key]
    return info


def import_pooch():
    """Import pooch without the warning its import can print in Jupyter.

    pooch imports ``tqdm.auto`` when it loads, which warns "IProgress not
    found" in a Jupyter kernel without ipywidgets. The course never uses
    pooch's own progress bars, so that warning would only confuse students.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        import pooch
    return pooch


@contextlib.contextmanager
def _quiet_pooch():
    """Silence pooch's informative log lines (it logs every download at INFO)."""
    pooch = import_pooch()

    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _explain(error: BaseException) -> tuple[str, str]:
    """(what went wrong, what to do) for an exception raised while downloading."""
    import requests

    if isinstance(error, requests.exceptions.HTTPError):
        status = getattr(error.response, "status_code", "?")
        return (f"the server answered HTTP {status}",
                "The address in the manifest may be wrong or the file may have moved.")
    if isinstance(error, (requests.exceptions.ChunkedEncodingError,
                          requests.exceptions.ContentDecodingError)):
        return (f"the transfer was cut short before the whole file arrived ({_short(error)})",
                "Try again; a flaky connection can do this.")
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return ("the connection timed out", _OFFLINE_ADVICE)
    if isinstance(error, requests.exceptions.Timeout):
        return (f"the server stopped sending data for {TIMEOUT} s", "Try again later.")
    if isinstance(error, requests.exceptions.ConnectionError):
        return (f"could not connect to the server ({_short(error)})", _OFFLINE_ADVICE)
    if isinstance(error, requests.exceptions.RequestException):
        return (f"the download failed ({_short(error)})", "Try again later.")
    if isinstance(error, OSError):
        return (f"writing the file failed ({error.strerror or error})", _WRITE_ADVICE)
    return (f"{type(error).__name__}: {error}", "")


def _short(error: BaseException) -> str:
    text = str(error)
    if "refused" in text.lower():
        return "connection refused"
    if "name or service not known" in text.lower() or "name resolution" in text.lower():
        return "the host name could not be resolved"
    if "incompleteread" in text.lower() or "incomplete" in text.lower():
        return "connection closed early: fewer bytes than announced"
    return text if len(text) < 200 else text[:197] + "..."


def download_file(url: str, target: str | os.PathLike, entry: dict) -> Path:
    """Download ``url`` to ``target``, check it against ``entry``'s hashes, keep it only if good.

    Parameters
    ----------
    url : str
    target : path-like
        Final path of the file. Its folder is created if needed.
    entry : dict
        A manifest entry with ``git_sha1`` and/or ``sha256`` (and optionally ``size``).

    Returns
    -------
    pathlib.Path
        ``target``.

    Raises
    ------
    FetchError
        With the file, the address and the reason; no file is left behind.
    """
    pooch = import_pooch()

    target = Path(target)
    name = entry.get("path", target.name)
    folder = target.parent
    try:
        ensure_writable(folder, f"the downloaded frame {name}", _WRITE_ADVICE)
    except NotWritableError as error:
        raise FetchError(f"Could not download {name} from {url}: {error}") from error
    partial = folder / f".{target.name}.part-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        downloader = pooch.HTTPDownloader(progressbar=False, timeout=TIMEOUT)
        with _quiet_pooch():
            pooch.retrieve(url, known_hash=None, fname=partial.name, path=folder,
                           downloader=downloader)
        problem = hash_problem(file_digests(partial), entry)
        if problem:
            raise FetchError(
                f"Rejected {name} downloaded from {url}: {problem}. The corrupt copy was "
                "removed. The file on the server differs from the one the manifest records; "
                "try again, and if it persists the manifest or the address is out of date."
            )
        os.replace(partial, target)
    except FetchError:
        raise
    except Exception as error:  # noqa: BLE001 - every failure is reported the same way
        what, advice = _explain(error)
        raise FetchError(
            f"Could not download {name} from {url}: {what}. Nothing was kept. {advice}".rstrip()
        ) from error
    finally:
        _remove(partial)  # (pooch removes its own temporary file when a transfer fails)
    return target


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    options = dict(total=total, desc="Downloading the real calibration frames", unit="file",
                   file=sys.stderr, leave=False)
    if not enabled:
        options["disable"] = True
    return tqdm(**options)


def fetch_frames(target: str | os.PathLike, *, manifest: dict | None = None,
                 base_url: str | None = None, progress: bool = True) -> Path:
    """Download and verify every real frame of ``manifest`` into ``target``.

    Files already in ``target`` that match their hash are kept (so an
    interrupted download resumes); any other copy is replaced. When every
    file is verified, the marker ``course_dataset.json`` is written.

    Parameters
    ----------
    target : path-like
        The dataset folder (it will contain ``calibration_frames/``).
    manifest : dict, optional
        A loaded manifest; default: :func:`course_utils.data.manifest.load_manifest`.
    base_url : str, optional
        Download from ``base_url/<path>`` instead of the manifest's addresses
        (e.g. a mirror, or a local test server).
    progress : bool
        Show a progress bar over the files (on stderr).

    Returns
    -------
    pathlib.Path
        ``target``.

    Raises
    ------
    FetchError
        If a file cannot be downloaded and verified, or ``target`` cannot be
        written. Verified files stay; no corrupt or partial file does.
    """
    manifest = load_manifest() if manifest is None else manifest
    entries = real_entries(manifest)
    if not entries:
        raise FetchError("The manifest lists no real frames with a hash to check them against.")
    target = Path(target).expanduser().absolute()
    try:
        ensure_writable(target, "the real calibration frames", _WRITE_ADVICE)
    except NotWritableError as error:
        raise FetchError(str(error)) from error
    info = magellan_info(manifest)
    with contextlib.suppress(FileNotFoundError):
        (target / marker.MARKER_NAME).unlink()  # the folder is being changed: not complete
    records = []
    with _progress(len(entries), progress) as bar:
        for entry in entries:
            path = target / entry["path"]
            digests = file_digests(path) if path.is_file() else None
            if digests is None or hash_problem(digests, entry):
                download_file(entry_url(manifest, entry, base_url), path, entry)
                digests = file_digests(path)
            records.append({"path": entry["path"], "size": digests.size,
                            "sha256": digests.sha256, "git_sha1": digests.git_sha1})
            bar.update(1)
    marker.write_marker(target, info, records)
    return target
